"""Explicit-vector row loops (``fd2d.simd``): values, partial vectors, other widths."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from seisgrad.solver.fd2d.common import HALO, aligned_zeros, row_length
from seisgrad.solver.fd2d.simd import Row, dz_plus, row_kernel, vector_bytes

C = (1225.0 / 1024.0, -245.0 / 3072.0, 49.0 / 5120.0, -5.0 / 7168.0)


def _body(r: Row) -> None:
    """``out += coef (D+z a + D-x b) + d``; ``d`` has its own base (another row)."""
    c1, c2, c3, c4 = r.s
    gz = c1 * (r.z(0, 1) - r.z(0, 0)) + c2 * (r.z(0, 2) - r.z(0, -1))
    gz = gz + c3 * (r.z(0, 3) - r.z(0, -2)) + c4 * (r.z(0, 4) - r.z(0, -3))
    gx = c1 * (r.x(1, 0) - r.x(1, -1)) + c2 * (r.x(1, 1) - r.x(1, -2))
    gx = gx + c3 * (r.x(1, 2) - r.x(1, -3)) + c4 * (r.x(1, 3) - r.x(1, -4))
    r.store(2, r.load(2) + r.load(3) * (gz + gx) + r.load(4))


def _reference(a, b, out, coef, d, b0, n, S, od, c1, c2, c3, c4):
    """The same operations, one cell at a time."""
    for k in range(n):
        q = b0 + k
        gz = c1 * (a[q + 1] - a[q]) + c2 * (a[q + 2] - a[q - 1])
        gz = gz + c3 * (a[q + 3] - a[q - 2]) + c4 * (a[q + 4] - a[q - 3])
        gx = c1 * (b[q] - b[q - S]) + c2 * (b[q + S] - b[q - 2 * S])
        gx = gx + c3 * (b[q + 2 * S] - b[q - 3 * S]) + c4 * (b[q + 3 * S] - b[q - 4 * S])
        out[q] = out[q] + coef[q] * (gz + gx) + d[od + k]


_KERNELS = {w: row_kernel(5, 4, _body, own_base=(4,), width_bytes=w) for w in (16, 32, 64)}
_LOOPS = {}
for _w, _k in _KERNELS.items():

    def _loop(a, b, out, coef, d, rows, S, n, od, c1, c2, c3, c4, _k=_k):
        for i in rows:
            b0 = i * S + HALO
            _k(a, b, out, coef, d, b0, n, S, od + i * S, c1, c2, c3, c4)

    _LOOPS[_w] = njit(cache=False, fastmath={"contract", "arcp", "nsz"})(_loop)


def _arrays(n: int, dtype: type, seed: int = 0):
    nrows, S = 12, row_length(n)
    rng = np.random.default_rng(seed)
    arrs = aligned_zeros((5, nrows * S), dtype)
    for k in range(5):
        arrs[k] = rng.standard_normal(nrows * S)
    return arrs, nrows, S


@pytest.mark.parametrize("width", [16, 32, 64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 5, 8, 15, 16, 17, 31, 40])
def test_row_kernel_updates_exactly_the_row_cells(width: int, dtype: type, n: int) -> None:
    arrs, nrows, S = _arrays(n, dtype)
    a, b, out, coef, d = arrs
    rows = np.arange(HALO, nrows - HALO)
    want = out.copy()
    c = [dtype(v) for v in C]
    for i in rows:
        _reference(a, b, want, coef, d, i * S + HALO, n, S, i * S, *c)
    got = out.copy()
    _LOOPS[width](a, b, got, coef, d, rows, S, n, 0, *c)
    # nothing outside the computed cells of the rows changed (the last, partial vector
    # of a row writes only its cells)
    changed = got != out
    inside = np.zeros_like(changed)
    for i in rows:
        inside[i * S + HALO : i * S + HALO + n] = True
    assert not (changed & ~inside).any()
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
    assert changed[inside].mean() > 0.99  # and the cells were computed


def test_row_kernel_matches_a_numba_loop_of_the_same_operations_to_the_bit() -> None:
    """What the solver relies on: a body that mirrors a compiled loop gives its results
    bit for bit (same operations, order and fast-math flags), at the host's width."""
    n = 45
    ref = njit(cache=False, fastmath={"contract", "arcp", "nsz"})(_reference)
    for dtype in (np.float32, np.float64):
        arrs, nrows, S = _arrays(n, dtype, seed=1)
        a, b, out, coef, d = arrs
        rows = np.arange(HALO, nrows - HALO)
        want = out.copy()
        c = [dtype(v) for v in C]
        for i in rows:
            ref(a, b, want, coef, d, i * S + HALO, n, S, i * S, *c)
        got = out.copy()
        _LOOPS[vector_bytes()](a, b, got, coef, d, rows, S, n, 0, *c)
        assert np.array_equal(got, want)


def test_row_length_leaves_room_for_whole_vectors() -> None:
    for nz in range(1, 200):
        S = row_length(nz)
        assert S % 16 == 0
        assert S >= HALO + nz + HALO
        assert S >= HALO + -(-nz // 16) * 16


def _optional_body(r: Row) -> None:
    """``out += coef D+z a``, and ``data = D+z a`` when ``data`` is given."""
    g = dz_plus(r, 0, r.s)
    r.store(1, r.load(1) + r.load(2) * g)
    if r.has(3):
        r.store(3, g)


_OPTIONAL = row_kernel(4, 4, _optional_body, own_base=(3,))


@njit(cache=False, fastmath={"contract", "arcp", "nsz"})
def _optional_loop(a, out, coef, data, rows, S, n, c1, c2, c3, c4):
    for i in rows:
        _OPTIONAL(a, out, coef, data, i * S + HALO, n, S, i * S, c1, c2, c3, c4)


def test_row_kernel_array_given_as_none_selects_the_variant_without_it() -> None:
    n = 37
    arrs, nrows, S = _arrays(n, np.float64, seed=2)
    a, out, coef, data = arrs[:4]
    rows = np.arange(HALO, nrows - HALO)
    with_data, without = out.copy(), out.copy()
    kept = data.copy()
    _optional_loop(a, with_data, coef, kept, rows, S, n, *C)
    _optional_loop(a, without, coef, None, rows, S, n, *C)
    assert np.array_equal(with_data, without)
    assert not np.array_equal(with_data, out)
    for i in rows:  # data holds the derivative: (out - old) / coef
        cells = slice(i * S + HALO, i * S + HALO + n)
        np.testing.assert_allclose(
            kept[i * S : i * S + n] * coef[cells], with_data[cells] - out[cells], rtol=1e-12
        )


_TWO_ROWS = {
    w: row_kernel(5, 4, _body, own_base=(4,), width_bytes=w, rows=2) for w in (16, 32, 64)
}


def _pairs_loop(k2):
    def loop(a, b, out, coef, d, rows, S, n, od, c1, c2, c3, c4):
        for i in rows:  # first rows of the pairs
            b0 = i * S + HALO
            k2(a, b, out, coef, d, b0, n, S, od + i * S, c1, c2, c3, c4)

    return njit(cache=False, fastmath={"contract", "arcp", "nsz"})(loop)


_PAIRS = {w: _pairs_loop(k) for w, k in _TWO_ROWS.items()}


@pytest.mark.parametrize("width", [16, 32, 64])
@pytest.mark.parametrize("n", [3, 16, 29])
def test_two_row_kernel_gives_each_row_what_the_one_row_kernel_gives(width: int, n: int) -> None:
    """``rows=2``: the body runs for row ``i`` and ``i + 1`` (own bases shifted by a row
    too) with shared loads; every cell gets the same result to the bit."""
    for dtype in (np.float32, np.float64):
        arrs, nrows, S = _arrays(n, dtype, seed=3)
        a, b, out, coef, d = arrs
        rows = np.arange(HALO, nrows - HALO)  # 4 rows: two pairs
        c = [dtype(v) for v in C]
        one, two = out.copy(), out.copy()
        _LOOPS[width](a, b, one, coef, d, rows, S, n, 0, *c)
        _PAIRS[width](a, b, two, coef, d, rows[::2], S, n, 0, *c)
        assert not np.array_equal(one, out)
        assert np.array_equal(one, two)
