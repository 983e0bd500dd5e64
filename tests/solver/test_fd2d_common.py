"""Shared numerics of fd2d: stencils, layout, interpolation, trace transforms, schedules."""

from __future__ import annotations

import numpy as np
import pytest

from seisgrad.errors import ConfigError, DataError, SolverError, StabilityError
from seisgrad.model import Grid
from seisgrad.solver.acquisition import Receiver
from seisgrad.solver.fd2d.checkpoint import default_checkpoints, gradient_sweep, segments
from seisgrad.solver.fd2d.checks import check_sampling, check_stability
from seisgrad.solver.fd2d.common import (
    ALIGN_BYTES,
    HALO,
    SEGMENT,
    SINC_BETA,
    Layout,
    _bessel_i0,
    aligned_arrays,
    aligned_copies,
    aligned_zeros,
    build_stream,
    displacement_to_trace,
    displacement_to_trace_adjoint,
    fd_coefficients,
    kaiser_sinc_weights,
    max_stable_dt,
    pml_profiles,
    point_operator,
    receiver_taps,
    stream_to_arrays,
    velocity_to_trace,
    velocity_to_trace_adjoint,
)


@pytest.mark.parametrize("order", [2, 4, 8])
def test_staggered_coefficients_are_of_the_stated_order(order: int) -> None:
    c = fd_coefficients(order)[: order // 2]
    k = 2 * np.arange(1, order // 2 + 1) - 1  # half-distances 1/2, 3/2, ... times 2
    assert np.sum(c * k) == pytest.approx(1.0)  # first derivative
    for m in range(1, order // 2):
        assert np.sum(c * k ** (2 * m + 1)) == pytest.approx(0.0, abs=1e-12)
    # the derivative of a sampled sine converges at the stated order
    errs = []
    for h in (0.4, 0.2):
        x = 0.3 + h / 2
        d = sum(
            ck * (np.sin(x + (kk - 0.5) * h) - np.sin(x - (kk - 0.5) * h))
            for kk, ck in enumerate(c, 1)
        )
        errs.append(abs(d / h - np.cos(x)))
    assert np.log2(errs[0] / errs[1]) == pytest.approx(order, abs=0.5)


def test_bad_order_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="order"):
        fd_coefficients(6)


def test_pad_adjoint_is_the_transpose_of_pad() -> None:
    layout = Layout(Grid(7, 5, 1.0, 1.0), (3, 2, 1, 4))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 5))
    g = rng.standard_normal((layout.NX, layout.NZ))
    assert np.sum(layout.pad(a) * g) == pytest.approx(np.sum(a * layout.pad_adjoint(g)))
    # rows (along z) are padded to whole cache lines
    assert layout.shape == (7 + 5 + 2 * HALO, 32)
    assert layout.comp_slice == (slice(HALO, HALO + 12), slice(HALO, HALO + 10))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 16), (5, 560), (2, 7, 32)])
def test_aligned_arrays_start_the_first_computed_node_on_a_cache_line(dtype, shape) -> None:
    for _ in range(5):  # whatever offset the allocator gives
        a = aligned_zeros(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
        assert not a.any()
        assert (a.ctypes.data + HALO * a.itemsize) % ALIGN_BYTES == 0
    # several arrays from one allocation: each aligned, zero, none overlapping
    shapes = [shape, (3, 5), shape, (1,)]
    block = aligned_arrays(shapes, dtype)
    assert [b.shape for b in block] == shapes
    for k, b in enumerate(block):
        assert (b.ctypes.data + HALO * b.itemsize) % ALIGN_BYTES == 0 and not b.any()
        b[...] = k + 1
    for k, b in enumerate(block):
        assert np.all(b == k + 1)
    src = [np.arange(np.prod(s), dtype=np.float64).reshape(s) for s in shapes]
    for b, a in zip(aligned_copies(src, dtype), src):
        assert b.dtype == dtype and np.array_equal(b, a)
        assert (b.ctypes.data + HALO * b.itemsize) % ALIGN_BYTES == 0


def test_free_surface_with_a_top_layer_is_refused() -> None:
    with pytest.raises(ConfigError, match="top"):
        Layout(Grid(7, 5, 1.0, 1.0), (1, 1, 1, 1), free_surface=True)


def test_sinc_weights_on_and_off_the_grid() -> None:
    idx, w = kaiser_sinc_weights(5.0)
    assert idx.tolist() == [5] and w.tolist() == [1.0]
    idx, w = kaiser_sinc_weights(5.3)
    assert idx.min() == 2 and idx.max() == 9
    assert w.sum() == pytest.approx(1.0, abs=2e-3)


def test_bessel_series_matches_numpy_i0_on_the_window_range() -> None:
    x = np.linspace(0.0, SINC_BETA, 1001)
    np.testing.assert_allclose(_bessel_i0(x), np.i0(x), rtol=1e-14)


def test_point_operators_are_cached_and_read_only() -> None:
    layout = Layout(Grid(30, 20, 1.0, 1.0), (4, 4, 4, 4))
    pts = [(3.3, 4.4), (10.0, 12.5)]
    op = point_operator(layout, pts, (1, 0))
    # the same points (list, tuple or numpy floats) give the same shared object ...
    assert point_operator(layout, tuple(np.array(pts)), (1, 0)) is op
    with pytest.raises(ValueError):
        op.w[0] = 2.0  # ... which nobody can change in place
    # another component, parity or layout gives another operator
    assert point_operator(layout, pts, (0, 1)) is not op
    other = Layout(Grid(30, 20, 1.0, 1.0), (4, 4, 4, 3))
    assert point_operator(other, pts, (1, 0)) is not op


def test_point_operator_interpolates_smooth_fields() -> None:
    layout = Layout(Grid(60, 50, 2.0, 2.0, x0=-10.0, z0=5.0), (5, 5, 5, 5))
    ii, jj = np.meshgrid(np.arange(layout.shape[0]), np.arange(layout.shape[1]), indexing="ij")
    x = layout.grid.x0 + (ii - HALO - 5) * layout.dx
    z = layout.grid.z0 + (jj - HALO - 5) * layout.dz
    k = 2 * np.pi / (6 * 2.0)  # 6 points per wavelength
    field = np.cos(k * x + 0.3) * np.sin(0.7 * k * z + 0.1)
    pts = [(13.37, 41.1), (40.0, 60.0), (71.9, 88.2)]
    op = point_operator(layout, pts, (0, 0))
    exact = [np.cos(k * px + 0.3) * np.sin(0.7 * k * pz + 0.1) for px, pz in pts]
    np.testing.assert_allclose(op.extract(field), exact, atol=2e-3)
    # staggered: the same field sampled at half nodes along x
    xs = x + 0.5 * layout.dx
    fx = np.cos(k * xs + 0.3) * np.sin(0.7 * k * z + 0.1)
    np.testing.assert_allclose(point_operator(layout, pts, (1, 0)).extract(fx), exact, atol=2e-3)


def test_injection_is_the_transpose_of_extraction() -> None:
    layout = Layout(Grid(30, 20, 1.0, 1.0), (0, 4, 4, 0), free_surface=True)
    rng = np.random.default_rng(1)
    pts = [(0.2, 3.3), (14.5, 19.0), (29.0, 18.6), (7.7, 0.0)]
    for stagger, parity in (((0, 0), -1), ((1, 0), -1), ((0, 1), 1)):
        op = point_operator(layout, pts, stagger, parity)
        f = rng.standard_normal(layout.shape)
        s = rng.standard_normal(len(pts))
        inj = np.zeros(layout.shape)
        op.inject(inj, s)
        assert np.sum(inj * f) == pytest.approx(np.sum(s * op.extract(f)))
        # nothing is injected where the component is not state
        mask = layout.state_mask(stagger)
        assert np.all(inj[~mask] == 0)


def test_receiver_segments_hold_every_tap_once() -> None:
    """Row segments of receiver taps: same weights per cell (repeated cells summed),
    windows inside the row, spans wider than a segment split, sorted for the sweep."""
    rng = np.random.default_rng(3)
    shape = (12, 30)
    taps = []
    for c, t in ((0, 0), (0, 1), (2, 0)):  # (raw channel, trace)
        for i in range(3, 7):
            for j in (0, 1, 5, 9, 9, 29):  # column 9 twice; 0..9 spans more than 8
                taps.append((c, t, i, j, float(rng.standard_normal())))
    c, t, i, j, w = map(list, zip(*taps))
    wa = [2.0 * x for x in w]
    g_c, g_t, s_ptr, s_q, s_w, s_g, s_wa = receiver_taps(c, c, t, i, j, w, shape, 3, wa)
    np.testing.assert_array_equal(s_wa, 2.0 * s_w)
    want: dict[tuple[int, int, int], float] = {}
    for ck, tk, ik, jk, wk in taps:
        key = (ck * 10 + tk, ik, jk)
        want[key] = want.get(key, 0.0) + wk
    got: dict[tuple[int, int, int], float] = {}
    for ch in range(3):
        for row in range(shape[0]):
            for s in range(s_ptr[ch, row], s_ptr[ch, row + 1]):
                q0 = int(s_q[s])
                assert q0 // shape[1] == row and q0 % shape[1] + SEGMENT <= shape[1]
                assert g_c[s_g[s]] == ch
                for m in range(SEGMENT):
                    if s_w[s, m] != 0.0:
                        key = (int(g_c[s_g[s]]) * 10 + int(g_t[s_g[s]]), row, q0 % shape[1] + m)
                        assert key not in got
                        got[key] = float(s_w[s, m])
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-15)
    assert s_ptr[1, 0] == s_ptr[1, -1]  # no taps on channel 1
    with pytest.raises(SolverError, match="outside the padded grid"):
        receiver_taps([0], [0], [0], [12], [0], [1.0], shape, 1)


def _greedy_segments(comp, group, row, col, weight, ncols):
    """Reference for :func:`receiver_taps`: the greedy windows, one tap at a time."""
    seg: dict = {}
    for key, jk, wk in zip(zip(comp, row, group), col, weight):
        cells = seg.setdefault(key, {})
        cells[jk] = cells.get(jk, 0.0) + wk
    out = []
    for (ck, ik, gk), cells in sorted(seg.items()):
        cols = sorted(cells)
        k = 0
        while k < len(cols):
            j0 = min(cols[k], ncols - SEGMENT)
            ws = np.zeros(SEGMENT)
            while k < len(cols) and cols[k] < j0 + SEGMENT:
                ws[cols[k] - j0] = cells[cols[k]]
                k += 1
            out.append((ck, ik * ncols + j0, gk, ws))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_receiver_segments_match_the_greedy_windows(seed) -> None:
    """The vectorised segmentation gives exactly the windows of a tap-by-tap greedy
    pass (random taps: clusters, repeated cells, wide spans, row ends)."""
    rng = np.random.default_rng(seed)
    shape = (9, 40)
    n = int(rng.integers(1, 400))
    comp = rng.integers(0, 3, n)
    chan = rng.integers(0, 2, n)
    trace = rng.integers(0, 5, n)
    row = rng.integers(0, shape[0], n)
    centre = rng.integers(0, shape[1], n)
    col = np.clip(centre + rng.integers(-12, 13, n) * rng.integers(0, 2, n), 0, shape[1] - 1)
    w = rng.standard_normal(n)
    taps = receiver_taps(comp, chan, trace, row, col, w, shape, 3)
    pairs = sorted(set(zip(chan.tolist(), trace.tolist())))
    assert list(zip(taps.g_c.tolist(), taps.g_t.tolist())) == pairs
    group = [pairs.index(p) for p in zip(chan.tolist(), trace.tolist())]
    want = _greedy_segments(comp.tolist(), group, row.tolist(), col.tolist(), w.tolist(), shape[1])
    assert len(want) == taps.s_q.size
    for k, (ck, q, gk, ws) in enumerate(want):
        assert (int(taps.s_q[k]), int(taps.s_g[k])) == (q, gk)
        assert taps.s_ptr[ck, q // shape[1]] <= k < taps.s_ptr[ck, q // shape[1] + 1]
        np.testing.assert_allclose(taps.s_w[k], ws, rtol=1e-14, atol=1e-15)


def test_free_surface_folding() -> None:
    """Pressure on the free surface is zero; just below it the weights above the surface
    are folded back with the opposite sign (antisymmetric image)."""
    layout = Layout(Grid(20, 20, 1.0, 1.0), (0, 0, 0, 0), free_surface=True)
    on_surface = point_operator(layout, [(10.0, 19.0)], (0, 0), -1)
    assert on_surface.w.size == 0
    below = point_operator(layout, [(10.0, 18.6)], (0, 0), -1)
    top = HALO + 19
    assert below.j.max() < top
    sym = point_operator(layout, [(10.0, 18.6)], (0, 1), 1)
    assert sym.w.sum() == pytest.approx(1.0, abs=0.05)


def test_trace_transforms_and_their_transposes() -> None:
    rng = np.random.default_rng(2)
    raw = rng.standard_normal((3, 50))
    adj = rng.standard_normal((3, 50))
    dt = 0.01
    assert np.sum(velocity_to_trace(raw) * adj) == pytest.approx(
        np.sum(raw * velocity_to_trace_adjoint(adj))
    )
    assert np.sum(displacement_to_trace(raw, dt) * adj) == pytest.approx(
        np.sum(raw * displacement_to_trace_adjoint(adj, dt))
    )


def test_cfl_check_names_a_stable_dt() -> None:
    dt_max = max_stable_dt(3000.0, 10.0, 10.0, 8)
    check_stability(0.99 * dt_max, 3000.0, 10.0, 10.0, 8)
    with pytest.raises(StabilityError, match=f"dt <= {dt_max:.6g}"):
        check_stability(1.01 * dt_max, 3000.0, 10.0, 10.0, 8)
    # and the spacing that would be stable with that dt
    with pytest.raises(StabilityError, match="dx = 10.1"):
        check_stability(1.01 * dt_max, 3000.0, 10.0, 10.0, 8)


def test_sampling_warning_names_a_spacing() -> None:
    assert check_sampling(2000.0, 20.0, 10.0, 10.0, 5.0) == []
    (w,) = check_sampling(2000.0, 50.0, 10.0, 10.0, 5.0)
    assert "4 grid points per minimum wavelength" in w and "8 m" in w


def test_pml_profiles() -> None:
    layout = Layout(Grid(30, 20, 5.0, 5.0), (6, 0, 6, 6))
    pr = pml_profiles(layout, 1e-3, 3000.0, 10.0)
    assert np.all(pr.ax_node <= 0) and np.all((pr.bx_node >= 0) & (pr.bx_node < 1))
    inner = slice(HALO + 6, HALO + layout.NX)
    assert np.all(pr.ax_node[inner] == 0)  # no right layer, nothing in the interior
    assert pr.ax_node[HALO] < pr.ax_node[HALO + 5] < 0  # strongest at the outer edge
    assert pr.x_node[2] == pr.x_node[3]  # empty right strip


def test_segments_and_schedule() -> None:
    for nt, c in ((100, 10), (7, 3), (5, 9)):
        segs = segments(nt, c)
        assert segs[0][0] == 0 and segs[-1][1] == nt
        assert all(a[1] == b[0] for a, b in zip(segs[:-1], segs[1:]))
    assert default_checkpoints(400) == 20
    with pytest.raises(ConfigError, match="checkpoints"):
        segments(10, 0)


def test_gradient_sweep_visits_every_step_once_in_reverse() -> None:
    """With a toy 'state' (the step counter) both schedules run the adjoint over every
    step exactly once, in reverse order, with the forward data of that step."""
    for mode, count in (("store", None), ("checkpoint", 4), ("checkpoint", None)):
        seen: list[int] = []

        def forward(state, a, b, store):
            assert state[0] == a
            for n in range(a, b):
                if store is not None:
                    store[n - a] = n
                state[0] += 1

        def adjoint(b, a, store, seen=seen):
            for n in range(b - 1, a - 1, -1):
                assert store[n - a] == n
                seen.append(n)

        gradient_sweep(
            23,
            mode,
            count,
            lambda: [0],
            forward,
            lambda st: list(st),
            lambda st, snap: st.__setitem__(0, snap[0]),
            lambda k: np.zeros(k, dtype=int),
            adjoint,
        )
        assert seen == list(range(22, -1, -1)), mode


def test_streams_round_trip() -> None:
    recs = [Receiver(station="A", x=1.0, z=2.0), Receiver(station="B", x=3.0, z=4.0, network="N")]
    data = {"P": np.arange(10.0).reshape(2, 5), "VX": -np.arange(10.0).reshape(2, 5)}
    st = build_stream(data, recs, 0.5, np.float32)
    assert [tr.id for tr in st] == ["XX.A..P", "XX.A..VX", "N.B..P", "N.B..VX"]
    assert st[2].stats.coordinates.z == 4.0
    back = stream_to_arrays(st, recs, ["P", "VX"], 5, 0.5)
    np.testing.assert_array_equal(back["VX"], data["VX"])
    with pytest.raises(DataError, match="delta"):
        stream_to_arrays(st, recs, ["P", "VX"], 5, 0.25)
    with pytest.raises(DataError, match="matches no recorded trace"):
        stream_to_arrays(st, recs, ["P"], 5, 0.5)


def test_prefetch_compiles_and_changes_nothing() -> None:
    """The prefetch hint (used for the z-strip memory variables) compiles for float32 and
    float64 arrays, reads nothing back and writes nothing."""
    from numba import njit

    from seisgrad.solver.fd2d.common import _prefetch_intrinsic, prefetch, prefetch_strip

    # this LLVM mangles the intrinsic one of the two known ways (else it is a no-op: slower)
    assert _prefetch_intrinsic() in ("llvm.prefetch.p0", "llvm.prefetch.p0i8")

    @njit
    def touch(a, z, ncols):
        for i in range(a.size // ncols):
            prefetch_strip(a, np.uint64(i * ncols), z)
            prefetch(a, np.uint64(i))
        return a.sum()

    z = np.array([4, 24, 60, 80], np.int64)
    for dtype in (np.float32, np.float64):
        a = np.arange(12 * 100, dtype=dtype)
        before = a.copy()
        assert touch(a, z, 100) == before.sum()
        np.testing.assert_array_equal(a, before)


def test_kernel_cache_names_carry_the_helpers_digest() -> None:
    """numba checks a cached kernel against its own file only: the kernels' names carry
    a digest of common.py and simd.py, so editing the helpers they inline (or the vector
    row loops) gives new cache entries."""
    import hashlib
    from pathlib import Path

    from seisgrad.solver.fd2d import acoustic, common, elastic_kernels, simd

    data = Path(common.__file__).read_bytes() + Path(simd.__file__).read_bytes()
    tag = hashlib.sha1(data).hexdigest()[:10]
    assert common._HELPERS_TAG == tag
    for ns in (acoustic._SERIAL, acoustic._PARALLEL, elastic_kernels.SERIAL):
        assert ns["_forward_loop"].py_func.__qualname__.endswith("_" + tag)
