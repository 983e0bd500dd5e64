"""The shared rules of the analytic comparisons (:mod:`seisgrad.solver.fd2d.comparison`)
and :meth:`SourceTimeFunction.start_fraction`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seisgrad.errors import ConfigError
from seisgrad.model import Grid
from seisgrad.solver.acquisition import PointSource, SourceTimeFunction
from seisgrad.solver.fd2d import FD2DParameters
from seisgrad.solver.fd2d.comparison import (
    check_comparable_source,
    check_window,
    edge_reflection,
    near_field,
    reflected,
    reflecting_sides,
    source_distance_cells,
)


def test_start_fraction_of_wavelets_and_arrays() -> None:
    assert SourceTimeFunction(f0=10.0).start_fraction(1e-3) < 1e-4  # default t0 = 1.2 / f0
    assert SourceTimeFunction(f0=10.0, t0=0.0).start_fraction(1e-3) == pytest.approx(1.0)
    late = SourceTimeFunction(f0=10.0, t0=0.05).start_fraction(1e-3)
    assert 0.1 < late < 1.0
    # a wavelet over before t = 0: what is left at t = 0 is nothing next to its peak
    assert SourceTimeFunction(f0=10.0, t0=-0.5).start_fraction(1e-3) < 1e-30
    # bounded work: a t0 in the wrong unit does not sample 1e9 points
    assert SourceTimeFunction(f0=10.0, t0=1e5).start_fraction(1e-4) == 0.0
    arr = SourceTimeFunction(kind="array", values=[0.5, 2.0, -1.0])
    assert arr.start_fraction(1e-3) == pytest.approx(0.25)
    assert SourceTimeFunction(kind="array", values=[0.0, 0.0]).start_fraction(1e-3) == 0.0


def test_distances_and_reflections_on_an_anisotropic_grid() -> None:
    g = Grid(101, 51, 10.0, 5.0)  # x 0..1000 m, z 0..250 m
    src = PointSource(x=300.0, z=100.0, kind="pressure")
    assert source_distance_cells(g, src, 330.0, 100.0) == pytest.approx(3.0)
    assert source_distance_cells(g, src, 300.0, 115.0) == pytest.approx(3.0)
    assert near_field(g, src, 330.0, 100.0) is not None
    assert near_field(g, src, 360.0, 100.0) is None
    # the bottom edge (z = 0) is nearest: the image of the source at z = -100
    path, side = edge_reflection(g, ["left", "bottom"], src, 300.0, 50.0)
    assert side == "bottom" and path == pytest.approx(150.0)
    assert edge_reflection(g, [], src, 300.0, 50.0) == (math.inf, "")
    # a window ending before the reflected wave (150 m at 1500 m/s: 0.1 s + centre less
    # a period) is kept, one ending after it is not
    args = (g, ["bottom"], src, 300.0, 50.0, 1500.0, 0.12, 10.0)
    assert reflected(*args, 0.11) is None
    assert "bottom edge" in reflected(*args, 0.13)


def test_reflecting_sides() -> None:
    p = FD2DParameters(pml_sides=["left", "right"])
    assert reflecting_sides(p, free_surface_modelled=False) == ["bottom", "top"]
    assert reflecting_sides(FD2DParameters(pml_width=0), False) == [
        "left", "right", "bottom", "top",
    ]  # fmt: skip
    fs = FD2DParameters(free_surface=True, pml_sides=["left", "right", "bottom"])
    assert reflecting_sides(fs, free_surface_modelled=True) == []
    assert reflecting_sides(fs, free_surface_modelled=False) == ["top"]


def test_sources_and_windows_refused() -> None:
    stf = SourceTimeFunction(f0=10.0)
    samples = stf.sample(400, 1e-3)
    ok = PointSource(x=0.0, z=0.0, kind="force", fz=1.0, stf=stf)
    check_comparable_source(ok, samples, 1e-3, "t")
    with pytest.raises(ConfigError, match="zero amplitude"):
        zero = PointSource(x=0.0, z=0.0, kind="force", stf=stf)
        check_comparable_source(zero, samples, 1e-3, "t")
    abrupt = PointSource(x=0.0, z=0.0, kind="force", fz=1.0, stf=SourceTimeFunction(t0=0.0))
    with pytest.raises(ConfigError, match="at rest before t = 0"):
        check_comparable_source(abrupt, abrupt.stf.sample(400, 1e-3), 1e-3, "t")
    with pytest.raises(ConfigError, match="zero everywhere"):
        check_comparable_source(ok, np.zeros(400), 1e-3, "t")
    check_window(1.5, "t")
    for bad in (0, -1.0, float("nan"), float("inf"), "2", None):
        with pytest.raises(ConfigError, match="window_periods must be a number > 0"):
            check_window(bad, "t")
