"""Tests of seisgrad.plot: PNG files, markers, symmetric colour limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seisgrad.errors import ConfigError, DataError
from seisgrad.model import Grid, Model, gaussian_blob, homogeneous, write_model
from seisgrad.plot import (
    BAD_COLOR,
    MAX_PANEL_ASPECT,
    color_limits,
    make_figure,
    plot_gradient,
    plot_kernel,
    plot_model,
    plot_model_file,
    positions,
)
from seisgrad.solver.acquisition import Event, PointSource, Receiver

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def grid() -> Grid:
    return Grid(41, 21, 500.0, 500.0)  # 20 km x 10 km: axes in km


@pytest.fixture
def kernel(grid: Grid) -> Model:
    a = gaussian_blob(grid, (5000.0, 5000.0), 1500.0, 3.0) - gaussian_blob(
        grid, (14000.0, 4000.0), 1000.0, 1.0
    )
    return Model(grid, {"vp": a, "vs": 0.5 * a})


def read_png(path: Path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    return matplotlib.image.imread(path)


def panels(fig) -> list:
    return [ax for ax in fig.axes if ax.images]


def markers(fig, marker_paths: int) -> list:
    return [c for ax in fig.axes for c in ax.collections if len(c.get_offsets()) == marker_paths]


def test_positions_normalises_everything() -> None:
    ps = PointSource(x=1.0, z=2.0)
    ev = Event(name="e1", sources=[ps, PointSource(x=3.0, z=4.0)])
    rec = Receiver(station="S1", x=5.0, z=6.0)
    assert positions(None) == []
    assert positions((1, 2)) == [(1.0, 2.0)]
    assert positions([(1, 2), (3.5, 4)]) == [(1.0, 2.0), (3.5, 4.0)]
    assert positions(ps) == [(1.0, 2.0)]
    assert positions(ev) == [(1.0, 2.0), (3.0, 4.0)]
    assert positions([ev, rec]) == [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]
    assert positions(np.array([[1.0, 2.0], [3.0, 4.0]])) == [(1.0, 2.0), (3.0, 4.0)]
    with pytest.raises(ConfigError, match="cannot draw"):
        positions(["abc"])


def test_color_limits() -> None:
    a = np.array([-1.0, 0.5, 3.0, np.nan])
    assert color_limits(a, symmetric=True) == (-3.0, 3.0)
    assert color_limits(a, symmetric=False) == (-1.0, 3.0)
    b = np.concatenate([np.linspace(-1, 1, 999), [1000.0]])
    lo, hi = color_limits(b, True, clip=99.0)
    assert lo == -hi and hi < 2.0
    assert color_limits(np.zeros(4), True) == (-1.0, 1.0)
    lo, hi = color_limits(np.full(4, 5.0), False)
    assert lo < 5.0 < hi
    with pytest.raises(ConfigError, match="clip"):
        color_limits(a, True, clip=0.0)


def test_plot_kernel_symmetric_with_markers(tmp_path: Path, grid: Grid, kernel: Model) -> None:
    srcs = [PointSource(x=2000.0, z=8000.0), PointSource(x=6000.0, z=8000.0)]
    recs = [Receiver(station=f"S{i}", x=1000.0 * i, z=9500.0) for i in range(1, 6)]
    fig = make_figure(kernel, "kernel", srcs, recs)
    assert len(fig.axes) == 4  # two panels + two colour bars
    assert len(panels(fig)) == 2
    for ax in panels(fig):
        lo, hi = ax.images[0].get_clim()
        assert lo == -hi
        assert ax.get_xlabel() == "x (km)"
    assert panels(fig)[0].images[0].get_clim()[1] == pytest.approx(np.abs(kernel["vp"]).max())
    stars = markers(fig, 2)
    tris = markers(fig, 5)
    assert len(stars) == 2 and len(tris) == 2  # one set per panel
    np.testing.assert_allclose(stars[0].get_offsets(), [[2.0, 8.0], [6.0, 8.0]])
    out = plot_kernel(kernel, tmp_path / "k" / "kernel.png", srcs, recs)
    assert out == tmp_path / "k" / "kernel.png"
    img = read_png(out)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert [p.name for p in out.parent.iterdir()] == ["kernel.png"]  # atomic, no temp left


def test_plot_model_and_gradient(tmp_path: Path, grid: Grid, kernel: Model) -> None:
    m = homogeneous(grid, vp=3000.0, vs=1700.0, rho=2200.0)
    fig = make_figure(m, "model", [(5000.0, 5000.0)])
    lo, hi = panels(fig)[0].images[0].get_clim()
    assert lo < 3000.0 < hi and lo != -hi
    assert plot_model(m, tmp_path / "m.png", [(5000.0, 5000.0)]).is_file()
    g = plot_gradient(kernel, tmp_path / "g.png", names=["vs"], title="gradient")
    read_png(g)
    fig = make_figure(kernel, "gradient", names=["vs"])
    lo, hi = panels(fig)[0].images[0].get_clim()
    assert lo == -hi
    assert hi == pytest.approx(np.abs(kernel["vs"]).max())


def test_small_model_axes_in_metres(tmp_path: Path) -> None:
    g = Grid(11, 6, 10.0, 10.0)
    fig = make_figure(homogeneous(g, vp=1.0), "model")
    assert panels(fig)[0].get_xlabel() == "x (m)"


def test_plot_model_file(tmp_path: Path, kernel: Model) -> None:
    p = write_model(tmp_path / "gradient.h5", kernel)
    out = plot_model_file(p, "gradient", receivers=[(1000.0, 9000.0)])
    assert out == tmp_path / "gradient.png"
    read_png(out)
    out2 = plot_model_file(p, "kernel", tmp_path / "pics" / "k.png")
    assert out2.is_file()


def test_plot_errors(tmp_path: Path, kernel: Model) -> None:
    with pytest.raises(ConfigError, match="plot kind"):
        make_figure(kernel, "traces")
    with pytest.raises(DataError, match="no such parameter"):
        plot_kernel(kernel, tmp_path / "x.png", names=["rho"])
    with pytest.raises(DataError, match="not found"):
        plot_model_file(tmp_path / "missing.h5")
    assert not (tmp_path / "x.png").exists()


def test_plot_to_unusable_paths_is_a_path_error(tmp_path: Path, kernel: Model) -> None:
    from seisgrad.errors import PathError

    (tmp_path / "afile").write_text("x")
    for out, match in (
        (tmp_path, "is a folder"),
        (tmp_path / "afile" / "k.png", "is a file, not a folder"),
    ):
        with pytest.raises(PathError, match=match):
            plot_kernel(kernel, out)
        with pytest.raises(PathError, match=match):
            write_model(out, kernel)


def test_plot_huge_tiny_or_non_numeric_values(tmp_path: Path) -> None:
    """Fields of 1e308 (refused before) and of 1e-300 or subnormal (drawn blank on a
    +-0.1 scale before) are drawn divided by a power of ten, named on the colour bar;
    values that are not numbers are a DataError."""
    g = Grid(5, 4, 10.0, 10.0)
    for peak, power, mantissa in (
        (1e308, 308, 1.0), (-1e300, 300, 1.0), (1e-300, -300, 1.0), (5e-320, -320, 5.0)
    ):  # fmt: skip
        a = np.zeros(g.shape)
        a[0, 0] = peak
        a[1, 0] = peak / 2
        for kind in ("model", "kernel"):
            fig = make_figure(Model(g, {"vp": a}), kind)
            image = fig.axes[0].images[0]
            data = image.get_array()
            # (a subnormal peak holds few digits)
            assert np.nanmax(np.abs(data)) == pytest.approx(mantissa, rel=1e-4)
            lo, hi = image.get_clim()
            assert 0.5 <= max(abs(lo), abs(hi)) < 10.5
            assert f"(x 1e{power})" in fig.axes[1].get_ylabel()
    with pytest.raises(DataError, match="not numbers"):
        make_figure(Model(g, {"vp": np.full(g.shape, "a")}), "model")


def test_nan_is_grey_not_white_in_kernel_plots(tmp_path: Path, grid: Grid, kernel: Model) -> None:
    """In the diverging map white is zero: NaN must be drawn in another colour."""
    from matplotlib.colors import to_rgba

    a = kernel["vp"].copy()
    a[5, 5] = np.nan
    fig = make_figure(Model(grid, {"vp": a}), "kernel")
    cm = panels(fig)[0].images[0].get_cmap()
    assert cm.get_bad() == pytest.approx(to_rgba(BAD_COLOR))
    assert cm.get_bad() != pytest.approx(cm(0.5))  # zero's colour
    for kind in ("model", "gradient"):
        img = panels(make_figure(Model(grid, {"vp": a}), kind))[0].images[0]
        assert img.get_cmap().get_bad() == pytest.approx(to_rgba(BAD_COLOR))
    with pytest.raises(ConfigError, match="unknown colour map 'nope'"):
        make_figure(kernel, "kernel", cmap="nope")


def test_thin_models_stay_readable(tmp_path: Path, grid: Grid, kernel: Model) -> None:
    """A 500 x 2 model is not drawn as a single line: its panel is stretched to a
    height/width ratio of 1/MAX_PANEL_ASPECT (a 2 x 3000 model to MAX_PANEL_ASPECT), and
    the colour bar is more than an inch tall."""
    rng = np.random.default_rng(0)
    for shape, spacing, ratio in (
        ((500, 2), (10.0, 10.0), 1 / MAX_PANEL_ASPECT),
        ((2, 3000), (10.0, 1.0), MAX_PANEL_ASPECT),
    ):
        g = Grid(*shape, *spacing)
        fig = make_figure(Model(g, {"vp": rng.standard_normal(shape)}), "kernel")
        ax = panels(fig)[0]
        assert ax.get_aspect() == "auto"
        assert ax.get_box_aspect() == pytest.approx(ratio)
        fig.canvas.draw()
        cbar = [a for a in fig.axes if a is not ax][0]
        assert cbar.get_position().height * fig.get_size_inches()[1] > 1.0
    # ordinary models keep x and z to the same scale
    ax = panels(make_figure(kernel, "kernel"))[0]
    assert ax.get_aspect() == 1.0 and ax.get_box_aspect() is None
    thin = Model(Grid(500, 2, 10.0, 10.0), {"vp": rng.standard_normal((500, 2))})
    assert read_png(plot_kernel(thin, tmp_path / "thin.png")).shape[0] > 150
