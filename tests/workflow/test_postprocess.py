"""Tests of seisgrad.workflow.postprocess: sum, smoothing, scaling, mask, checks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from seisgrad.errors import ConfigError, DataError, GradientError
from seisgrad.model import Grid, Model, homogeneous, read_specfem_gll, write_model
from seisgrad.workflow.postprocess import (
    apply_mask,
    check_gradient,
    gaussian_sigma,
    gradient_from_kernel,
    postprocess_kernels,
    precondition_illumination,
    scale_by_model,
    smooth,
    smooth_gaussian,
    smooth_laplacian,
    sum_kernels,
)

DATA = Path(__file__).parents[1] / "data" / "specfem2d"


def random_model(grid: Grid, names=("vp", "vs"), seed=0, dtype=np.float64) -> Model:
    rng = np.random.default_rng(seed)
    return Model(grid, {n: rng.standard_normal(grid.shape).astype(dtype) for n in names})


def delta_model(grid: Grid, i: int, j: int) -> Model:
    a = np.zeros(grid.shape)
    a[i, j] = 1.0
    return Model(grid, {"k": a})


def second_moments(a: np.ndarray, grid: Grid) -> tuple[float, float]:
    w = a / a.sum()
    xc = float((w.sum(axis=1) * grid.x).sum())
    zc = float((w.sum(axis=0) * grid.z).sum())
    vx = float((w.sum(axis=1) * (grid.x - xc) ** 2).sum())
    vz = float((w.sum(axis=0) * (grid.z - zc) ** 2).sum())
    return vx, vz


# ---------------------------------------------------------------------------------------
# sum
# ---------------------------------------------------------------------------------------


def test_sum_kernels_in_order() -> None:
    g = Grid(6, 5, 1.0, 1.0)
    ks = [random_model(g, seed=s, dtype=np.float32) for s in range(4)]
    total = sum_kernels(ks)
    assert list(total) == ["vp", "vs"]
    assert total["vp"].dtype == np.float32
    expected = ks[0]["vp"].astype(np.float64)
    for k in ks[1:]:
        expected = expected + k["vp"]
    np.testing.assert_array_equal(total["vp"], expected.astype(np.float32))
    # deterministic: the same list gives bit-identical sums
    np.testing.assert_array_equal(sum_kernels(ks)["vs"], total["vs"])


def test_sum_kernels_errors() -> None:
    g = Grid(6, 5, 1.0, 1.0)
    with pytest.raises(DataError, match="empty"):
        sum_kernels([])
    with pytest.raises(DataError, match="grids differ"):
        sum_kernels([random_model(g), random_model(Grid(6, 5, 2.0, 1.0))])
    with pytest.raises(DataError, match="parameters"):
        sum_kernels([random_model(g), random_model(g, names=("vp",))])


# ---------------------------------------------------------------------------------------
# Gaussian smoothing
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("edge", ["reflect", "normalize"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_conserves_integral_away_from_edges(edge: str, dtype) -> None:
    g = Grid(160, 120, 10.0, 5.0)
    sh, sv = 60.0, 25.0  # 6 and 5 cells: the kernel reaches rx = 24 and rz = 20 nodes
    m = random_model(g, dtype=dtype)
    # "away from the edges": the field and its smoothed version stay where all weights
    # lie inside the model, i.e. the field is zero within 2 r + 1 nodes of the edges
    a = {n: m[n].copy() for n in m}
    for n in a:
        a[n][:49, :] = 0
        a[n][-49:, :] = 0
        a[n][:, :41] = 0
        a[n][:, -41:] = 0
    m = Model(g, a)
    s = smooth_gaussian(m, sh, sv, edge=edge)
    for n in m:
        assert s[n].dtype == dtype
        before = m[n].astype(np.float64).sum()
        after = s[n].astype(np.float64).sum()
        scale = np.abs(m[n].astype(np.float64)).sum()
        assert abs(after - before) <= 1e-6 * scale
        assert not np.allclose(s[n], m[n])  # it did smooth


def test_gaussian_reflect_conserves_integral_including_edges() -> None:
    g = Grid(40, 30, 10.0, 10.0)
    m = random_model(g)
    s = smooth_gaussian(m, 80.0, 50.0, edge="reflect")
    for n in m:
        assert abs(s[n].sum() - m[n].sum()) <= 1e-12 * np.abs(m[n]).sum()
    # constants are preserved by both edge treatments
    c = homogeneous(g, np.float64, vp=3.0)
    for edge in ("reflect", "normalize"):
        np.testing.assert_allclose(smooth_gaussian(c, 80.0, 50.0, edge=edge)["vp"], 3.0)


def test_gaussian_delta_gives_documented_gaussian() -> None:
    g = Grid(101, 81, 5.0, 4.0)
    sh, sv = 30.0, 20.0  # sigma: 6 and 5 cells
    s = smooth_gaussian(delta_model(g, 50, 40), sh, sv)["k"]
    # exact form: normalised samples of exp(-x^2 / 2 sigma^2), cut at 4 sigma
    nx = np.arange(-24, 25)
    nz = np.arange(-20, 21)
    gx = np.exp(-((nx * g.dx) ** 2) / (2 * sh**2))
    gz = np.exp(-((nz * g.dz) ** 2) / (2 * sv**2))
    expected = np.zeros(g.shape)
    expected[50 - 24 : 50 + 25, 40 - 20 : 40 + 21] = np.outer(gx / gx.sum(), gz / gz.sum())
    np.testing.assert_allclose(s, expected, rtol=0, atol=1e-15)
    # and its measured standard deviations are the requested ones (to the 4-sigma cut)
    vx, vz = second_moments(s, g)
    assert math.sqrt(vx) == pytest.approx(sh, rel=2e-3)
    assert math.sqrt(vz) == pytest.approx(sv, rel=2e-3)


def test_gaussian_width_conventions() -> None:
    g = Grid(101, 3, 5.0, 5.0)
    d = delta_model(g, 50, 1)
    # hwhm = 30 m: the response falls to half its peak 6 nodes from the centre
    s = smooth_gaussian(d, 30.0, 0.0, convention="hwhm")["k"][:, 1]
    assert s[56] / s[50] == pytest.approx(0.5, rel=1e-12)
    assert s[44] / s[50] == pytest.approx(0.5, rel=1e-12)
    # e-folding width w: exp(-x^2 / w^2) falls to 1/e at w
    s = smooth_gaussian(d, 30.0, 0.0, convention="e_folding")["k"][:, 1]
    assert s[56] / s[50] == pytest.approx(math.exp(-1.0), rel=1e-12)
    assert gaussian_sigma(10.0) == 10.0
    assert gaussian_sigma(10.0, "e_folding") == pytest.approx(10.0 / math.sqrt(2))
    with pytest.raises(ConfigError, match="convention"):
        gaussian_sigma(10.0, "fwhm")
    with pytest.raises(ConfigError, match=">= 0"):
        smooth_gaussian(d, -1.0, 0.0)


def test_gaussian_zero_length_and_names() -> None:
    g = Grid(20, 10, 1.0, 1.0)
    m = random_model(g)
    np.testing.assert_array_equal(smooth_gaussian(m, 0.0, 0.0)["vp"], m["vp"])
    only = smooth_gaussian(m, 3.0, 0.0, names=["vs"])
    np.testing.assert_array_equal(only["vp"], m["vp"])
    assert not np.allclose(only["vs"], m["vs"])
    # zero vertical length: each row (fixed z) is smoothed on its own
    np.testing.assert_allclose(only["vs"].sum(axis=0), m["vs"].sum(axis=0), atol=1e-12)
    with pytest.raises(DataError, match="no parameter"):
        smooth_gaussian(m, 3.0, 3.0, names=["rho"])
    with pytest.raises(ConfigError, match="edge"):
        smooth_gaussian(m, 3.0, 3.0, edge="wrap")


def test_gaussian_matches_specfem_xsmooth_sem() -> None:
    """SPECFEM2D's xsmooth_sem (sigma_h = sigma_v = 20 km, fixture) versus ours on the
    same kernel imported onto a 3 km grid: the sigma convention is the same."""
    m = read_specfem_gll(DATA, names=("beta_kernel", "beta_kernel_smooth"))
    raw = Model(m.grid, {"k": m["beta_kernel"].astype(np.float64)})
    ref = m["beta_kernel_smooth"].astype(np.float64)

    def misfit(sigma: float) -> float:
        s = smooth_gaussian(raw, sigma, sigma, edge="normalize")["k"]
        return float(np.linalg.norm(s - ref) / np.linalg.norm(ref))

    assert misfit(20000.0) < 1e-2
    # 10 % off in sigma is clearly worse: the test can tell the conventions apart
    assert misfit(18000.0) > 3e-2
    assert misfit(22000.0) > 3e-2
    # reading SPECFEM's 20 km as an e-folding width or a HWHM instead does not match
    assert misfit(gaussian_sigma(20000.0, "e_folding")) > 0.1
    assert misfit(gaussian_sigma(20000.0, "hwhm")) > 5e-2


# ---------------------------------------------------------------------------------------
# Laplacian smoothing
# ---------------------------------------------------------------------------------------


def neumann_second_difference(n: int, h: float) -> np.ndarray:
    d = np.zeros((n, n))
    for i in range(n):
        d[i, i] = -2.0
        if i > 0:
            d[i, i - 1] = 1.0
        if i < n - 1:
            d[i, i + 1] = 1.0
    d[0, 0] = d[-1, -1] = -1.0  # mirror about the outer cell faces
    return d / h**2


def test_laplacian_solves_the_documented_equation() -> None:
    g = Grid(23, 17, 10.0, 7.0)
    m = random_model(g, names=("vp",))
    lh, lv = 25.0, 12.0
    s = smooth_laplacian(m, lh, lv, convention="length", passes=2)["vp"]
    a = (
        np.kron(np.eye(g.nx), np.eye(g.nz))
        - lh**2 * np.kron(neumann_second_difference(g.nx, g.dx), np.eye(g.nz))
        - lv**2 * np.kron(np.eye(g.nx), neumann_second_difference(g.nz, g.dz))
    )
    recovered = a @ (a @ s.ravel())
    np.testing.assert_allclose(recovered, m["vp"].ravel(), atol=1e-10)


def test_laplacian_conserves_integral_and_constants() -> None:
    g = Grid(64, 48, 10.0, 10.0)
    m = random_model(g)
    s = smooth_laplacian(m, 60.0, 40.0)
    for n in m:
        assert abs(s[n].sum() - m[n].sum()) <= 1e-12 * np.abs(m[n]).sum()
    c = homogeneous(g, np.float32, vp=5.0)
    out = smooth_laplacian(c, 60.0, 40.0)["vp"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 5.0, rtol=1e-6)


def test_laplacian_delta_variance_is_sigma_squared() -> None:
    g = Grid(241, 201, 5.0, 5.0)
    sh, sv = 20.0, 15.0  # 4 and 3 cells: domain edges are > 30 L away
    s = smooth(delta_model(g, 120, 100), sh, sv, method="laplacian")["k"]
    vx, vz = second_moments(s, g)
    assert vx == pytest.approx(sh**2, rel=1e-6)
    assert vz == pytest.approx(sv**2, rel=1e-6)
    # passes=3 with the same sigma: same variance
    s3 = smooth_laplacian(delta_model(g, 120, 100), sh, sv, passes=3)["k"]
    assert second_moments(s3, g)[0] == pytest.approx(sh**2, rel=1e-6)
    # "length" convention: variance 2 p L^2
    sl = smooth_laplacian(delta_model(g, 120, 100), 10.0, 5.0, convention="length")["k"]
    assert second_moments(sl, g)[0] == pytest.approx(4 * 10.0**2, rel=1e-6)
    with pytest.raises(ConfigError, match="passes"):
        smooth_laplacian(delta_model(g, 1, 1), 1.0, 1.0, passes=0)
    with pytest.raises(ConfigError, match="method"):
        smooth(delta_model(g, 1, 1), 1.0, 1.0, method="median")


# ---------------------------------------------------------------------------------------
# scale, mask, illumination
# ---------------------------------------------------------------------------------------


def test_scale_by_model_is_elementwise_product() -> None:
    g = Grid(8, 6, 1.0, 1.0)
    k = random_model(g, dtype=np.float32)
    m = random_model(g, names=("vp", "vs", "rho"), seed=3, dtype=np.float32)
    out = scale_by_model(k, m)
    assert list(out) == ["vp", "vs"]
    for n in k:
        np.testing.assert_array_equal(
            out[n], (k[n].astype(np.float64) * m[n].astype(np.float64)).astype(np.float32)
        )
    with pytest.raises(DataError, match="no parameter"):
        scale_by_model(k, random_model(g, names=("vp",)))
    with pytest.raises(DataError, match="grids differ"):
        scale_by_model(k, random_model(Grid(8, 6, 2.0, 1.0)))


def test_apply_mask_per_parameter_single_and_file(tmp_path: Path) -> None:
    g = Grid(8, 6, 1.0, 1.0)
    grad = random_model(g)
    per = random_model(g, seed=5)
    out = apply_mask(grad, per)
    for n in grad:
        np.testing.assert_array_equal(out[n], grad[n] * per[n])
    w = np.zeros(g.shape)
    w[2:6, 1:4] = 1.0
    w[1, :] = 0.5
    single = Model(g, {"mask": w})
    out = apply_mask(grad, single)
    for n in grad:
        np.testing.assert_array_equal(out[n], grad[n] * w)
    p = write_model(tmp_path / "mask.h5", single)
    out_file = apply_mask(grad, p)
    np.testing.assert_array_equal(out_file["vs"], grad["vs"] * w)
    out_str = apply_mask(grad, str(p))
    np.testing.assert_array_equal(out_str["vp"], grad["vp"] * w)
    with pytest.raises(DataError, match="'mask'"):
        apply_mask(grad, Model(g, {"vp": w}))
    # a parameter's own mask wins over the single one, which masks the others
    mixed = apply_mask(grad, Model(g, {"vp": w, "mask": 0.5 * np.ones(g.shape)}))
    np.testing.assert_array_equal(mixed["vp"], grad["vp"] * w)
    np.testing.assert_array_equal(mixed["vs"], grad["vs"] * 0.5)
    with pytest.raises(DataError, match="non-finite"):
        apply_mask(grad, Model(g, {"mask": w * np.nan}))
    with pytest.raises(DataError, match="not found"):
        apply_mask(grad, tmp_path / "none.h5")


def test_precondition_illumination_formula() -> None:
    g = Grid(8, 6, 1.0, 1.0)
    grad = random_model(g)
    e = np.random.default_rng(2).random(g.shape) * 7.0
    out = precondition_illumination(grad, e, water_level=0.01, power=1.0)
    for n in grad:
        np.testing.assert_array_equal(out[n], grad[n] / (e / e.max() + 0.01))
    out2 = precondition_illumination(grad, Model(g, {"illumination": e}), 0.1, power=0.5)
    np.testing.assert_array_equal(out2["vs"], grad["vs"] / (e / e.max() + 0.1) ** 0.5)
    with pytest.raises(DataError, match=">= 0"):
        precondition_illumination(grad, -e)
    with pytest.raises(DataError, match="zero everywhere"):
        precondition_illumination(grad, np.zeros(g.shape))
    with pytest.raises(ConfigError, match="water_level"):
        precondition_illumination(grad, e, water_level=0.0)
    with pytest.raises(DataError, match="shape"):
        precondition_illumination(grad, np.ones((2, 2)))


def test_illumination_smoothed_by_the_laplacian_is_accepted() -> None:
    """An illumination with exact zeros (where no wave arrived), smoothed by the
    spectral Laplacian smoother, has round-off below zero: those are zeros, while a
    really negative illumination stays an error."""
    g = Grid(201, 201, 5.0, 5.0)
    r2 = (g.x[:, None] - 500.0) ** 2 + (g.z[None, :] - 500.0) ** 2
    e = np.where(r2 < 100.0**2, 1e3 * np.exp(-r2 / 50.0**2), 0.0)
    smoothed = smooth(Model(g, {"illumination": e}), 25.0, 25.0, "laplacian")
    assert smoothed["illumination"].min() < 0  # what made the workflow fail
    grad = random_model(g)
    out = precondition_illumination(grad, smoothed, water_level=0.01)
    clipped = np.maximum(smoothed["illumination"], 0.0)
    for n in grad:
        np.testing.assert_array_equal(out[n], grad[n] / (clipped / clipped.max() + 0.01))
    bad = e.copy()
    bad[0, 0] = -1e-6 * e.max()
    with pytest.raises(DataError, match="minimum is -"):
        precondition_illumination(grad, bad)


# ---------------------------------------------------------------------------------------
# checks and pipelines
# ---------------------------------------------------------------------------------------


def test_check_gradient_names_the_step() -> None:
    g = Grid(5, 4, 1.0, 1.0)
    good = random_model(g)
    assert check_gradient(good, "smoothing") is good
    bad = good.with_values(vs=np.where(np.arange(20).reshape(5, 4) == 3, np.nan, 1.0))
    with pytest.raises(GradientError, match=r"^smoothing: gradient parameter 'vs' has 1 non"):
        check_gradient(bad, "smoothing")
    inf = good.with_values(vp=np.full(g.shape, np.inf))
    with pytest.raises(GradientError, match=r"^masking: .*'vp'.* 20 non-finite"):
        check_gradient(inf, "masking")
    zero = Model(g, {"vp": np.zeros(g.shape), "vs": np.zeros(g.shape)})
    with pytest.raises(GradientError, match=r"^summing event kernels: .*zero everywhere"):
        check_gradient(zero, "summing event kernels")
    part = good.with_values(vs=np.zeros(g.shape))
    assert check_gradient(part, "x") is part
    with pytest.raises(GradientError, match=r"^scaling: .*vs.* zero everywhere"):
        check_gradient(part, "scaling", per_parameter=True)
    with pytest.raises(GradientError, match="no parameters"):
        check_gradient(Model(g, {}), "export")


def test_pipelines_report_the_failing_step(tmp_path: Path) -> None:
    g = Grid(30, 20, 10.0, 10.0)
    k = random_model(g)
    neg = Model(g, {n: -a for n, a in k.items()})
    with pytest.raises(GradientError, match=r"^summing event kernels:"):
        postprocess_kernels([k, neg])
    total = postprocess_kernels([k, k], 20.0, 20.0)
    np.testing.assert_allclose(total["vp"], smooth_gaussian(sum_kernels([k, k]), 20.0, 20.0)["vp"])
    lap = postprocess_kernels([k], 20.0, 20.0, method="laplacian")
    np.testing.assert_allclose(lap["vs"], smooth_laplacian(k, 20.0, 20.0)["vs"])
    model = homogeneous(g, np.float64, vp=3000.0, vs=1500.0)
    with pytest.raises(GradientError, match=r"^masking:"):
        gradient_from_kernel(k, model, mask=Model(g, {"mask": np.zeros(g.shape)}))
    with pytest.raises(GradientError, match=r"^scaling by the model:"):
        gradient_from_kernel(k, homogeneous(g, np.float64, vp=0.0, vs=0.0))
    with pytest.raises(GradientError, match=r"^misfit kernel:"):
        gradient_from_kernel(k.with_values(vp=k["vp"] * np.nan), model)
    w = np.ones(g.shape)
    w[:, -3:] = 0.0
    e = np.random.default_rng(4).random(g.shape)
    gr = gradient_from_kernel(k, model, mask=Model(g, {"mask": w}), illumination=e)
    expected = k["vp"] * 3000.0 * w / (e / e.max() + 1e-2)
    np.testing.assert_allclose(gr["vp"], expected, rtol=1e-15)
    # the order of the migration workflow: preconditioning runs before masking
    with pytest.raises(DataError, match="illumination for 'vp' is zero everywhere"):
        gradient_from_kernel(
            k, model, mask=Model(g, {"mask": np.zeros(g.shape)}), illumination=0.0 * e
        )


def test_apply_mask_accepts_a_mask_whose_grid_differs_by_round_off() -> None:
    from seisgrad.workflow.postprocess import apply_mask

    g = Grid(13, 9, 12.5, 7.3, 1000.1, 0.7)
    g2 = Grid(13, 9, 12.499999999999991, 7.3, 1000.1, 0.7)
    grad = homogeneous(g, vp=2.0)
    out = apply_mask(grad, Model(g2, {"mask": np.full(g.shape, 0.5)}))
    assert out.grid == g
    np.testing.assert_array_equal(out["vp"], 1.0)
    with pytest.raises(DataError, match="grids differ"):
        apply_mask(grad, Model(Grid(13, 9, 12.6, 7.3, 1000.1, 0.7), {"mask": np.ones(g.shape)}))


def test_water_level_and_power_of_the_wrong_type_are_config_errors() -> None:
    from seisgrad.workflow.postprocess import gradient_from_kernel, precondition_illumination

    g = Grid(5, 4, 10.0, 10.0)
    grad = homogeneous(g, vp=1.0, dtype=np.float64)
    e = np.ones(g.shape)
    for kw in (
        {"water_level": "x"},
        {"water_level": None},
        {"water_level": [1e-3]},
        {"power": "2"},
        {"power": True},
        {"power": float("inf")},
    ):
        with pytest.raises(ConfigError, match="water_level|power"):
            precondition_illumination(grad, e, **kw)
    with pytest.raises(ConfigError, match="water_level"):
        gradient_from_kernel(grad, grad, water_level="x")
    out = precondition_illumination(grad, e, water_level=np.float32(0.5), power=np.int64(1))
    np.testing.assert_allclose(out["vp"], 1.0 / 1.5)


def test_numpy_scalars_accepted_for_truncate_and_passes() -> None:
    from seisgrad.workflow.postprocess import smooth_gaussian, smooth_laplacian

    g = Grid(21, 21, 10.0, 10.0)
    a = np.zeros(g.shape)
    a[10, 10] = 1.0
    m = Model(g, {"k": a})
    np.testing.assert_allclose(
        smooth_gaussian(m, 30.0, 30.0, truncate=np.float32(4))["k"],
        smooth_gaussian(m, 30.0, 30.0, truncate=4.0)["k"],
    )
    np.testing.assert_allclose(
        smooth_laplacian(m, 30.0, 30.0, passes=np.int64(2))["k"],
        smooth_laplacian(m, 30.0, 30.0, passes=2)["k"],
    )
    for bad in (float("inf"), "4", True, 0.0):
        with pytest.raises(ConfigError, match="truncate"):
            smooth_gaussian(m, 30.0, 30.0, truncate=bad)


def test_smoothing_names_as_a_single_string() -> None:
    from seisgrad.workflow.postprocess import smooth_gaussian, smooth_laplacian

    g = Grid(11, 11, 10.0, 10.0)
    m = homogeneous(g, vp=1.0, vs=2.0, dtype=np.float64)
    for f in (smooth_gaussian, smooth_laplacian):
        out = f(m, 20.0, 20.0, names="vp")
        assert set(out) == {"vp", "vs"}


def test_apply_mask_with_an_array_is_a_config_error() -> None:
    from seisgrad.workflow.postprocess import apply_mask

    g = Grid(5, 4, 10.0, 10.0)
    with pytest.raises(ConfigError, match="mask must be a Model"):
        apply_mask(homogeneous(g, vp=1.0), np.ones(g.shape))


@pytest.mark.parametrize("edge", ["reflect", "normalize"])
def test_gaussian_far_wider_than_the_model_gives_the_mean(edge, monkeypatch) -> None:
    """A smoothing length in km written in m (1e8) built a kernel of 4e7 weights and
    took minutes; the result is the mean along the axis (and the sum is kept)."""
    import scipy.ndimage

    widths = []
    real = scipy.ndimage.gaussian_filter1d

    def spy(a, sigma, *args, **kwargs):
        widths.append(sigma)
        return real(a, sigma, *args, **kwargs)

    monkeypatch.setattr(scipy.ndimage, "gaussian_filter1d", spy)
    g = Grid(40, 30, 10.0, 10.0)
    m = random_model(g)
    out = smooth_gaussian(m, 1e8, 0.0, edge=edge)
    assert all(w < 1e5 for w in widths), widths  # no kernel of 4e7 weights was built
    for n in m:
        np.testing.assert_allclose(
            out[n], np.broadcast_to(m[n].mean(axis=0), g.shape), rtol=1e-12, atol=1e-14
        )
        assert out[n].sum() == pytest.approx(m[n].sum(), rel=1e-12, abs=1e-12)
