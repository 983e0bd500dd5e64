"""What the analytic comparisons of ``fd2d`` leave out or refuse, in one place.

Shared by :func:`seisgrad.solver.fd2d.verify.compare_with_analytic` (acoustic),
:func:`seisgrad.solver.fd2d.elastic_verify.compare_elastic_with_analytic` and
:func:`seisgrad.solver.fd2d.elastic_verify.lamb_test`:

* receivers in the source's near field (:data:`MIN_SOURCE_DISTANCE`), which no grid
  represents (:func:`near_field`);
* windows that a wave reflected by an edge without absorbing layer reaches
  (:func:`reflected`);
* sources that radiate nothing or do not start at rest, and comparison windows that are
  not a number > 0 (:func:`check_comparable_source`, :func:`check_window`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from seisgrad.config import is_positive_real
from seisgrad.errors import ConfigError
from seisgrad.model import Grid
from seisgrad.solver.acquisition import QUIET_START, PointSource

__all__ = [
    "MIN_SOURCE_DISTANCE",
    "REFLECTION_LEAD_PERIODS",
    "check_comparable_source",
    "check_window",
    "edge_reflection",
    "near_field",
    "reflected",
    "reflecting_sides",
    "source_distance_cells",
]

#: Receivers closer to the source than this many cells (distance in cells, ``dx`` along
#: x and ``dz`` along z) are left out of the analytic comparisons: there the
#: interpolation stencils of source and receiver overlap and a grid cannot represent a
#: point source's near field (acoustic, order 8, 8 points per wavelength: 21% at 1 cell,
#: 5.5% at 2, 1.15% at 4, 0.06% at 6; elastic: 15% at 1 cell, 3.9% at 2).
MIN_SOURCE_DISTANCE = 6.0

#: A reflected wave counts from its wavelet's centre less this many periods of the
#: dominant frequency (a Ricker wavelet is below 1e-3 of its peak there).
REFLECTION_LEAD_PERIODS = 1.0

_SIDES = ("left", "right", "bottom", "top")


def source_distance_cells(grid: Grid, source: PointSource, x: float, z: float) -> float:
    """Distance of ``(x, z)`` from ``source`` in cells (``dx`` along x, ``dz`` along z)."""
    return math.hypot((x - source.x) / grid.dx, (z - source.z) / grid.dz)


def near_field(grid: Grid, source: PointSource, x: float, z: float) -> str | None:
    """Why a receiver at ``(x, z)`` is left out as in the near field of ``source``
    (closer than :data:`MIN_SOURCE_DISTANCE` cells), or ``None``."""
    cells = source_distance_cells(grid, source, x, z)
    if cells >= MIN_SOURCE_DISTANCE:
        return None
    return (
        f"{cells:.3g} cells from the source (its near field; at least "
        f"{MIN_SOURCE_DISTANCE:g} compared)"
    )


def check_comparable_source(source: PointSource, stf: np.ndarray, dt: float, who: str) -> None:
    """Refuse a source an analytic comparison cannot judge.

    Parameters
    ----------
    source
        The event's point source.
    stf
        Its time function sampled at the simulation's steps.
    dt
        Time step (s).
    who
        Name of the comparison, for the messages.

    Raises
    ------
    ConfigError
        For a source of zero strength (:meth:`PointSource.strength_is_zero`: the
        comparison then blamed the receivers), a time function that is zero, and one
        that does not start at rest (more than :data:`QUIET_START` of its peak at
        ``t = 0``; the exact solution is that of a source at rest before ``t = 0``).
    """
    if source.strength_is_zero():
        raise ConfigError(f"{who}: the source has zero amplitude: it radiates nothing")
    f0 = source.stf.dominant_frequency(dt)
    if source.stf.is_silent() or not f0 > 0 or not np.any(stf):
        raise ConfigError(f"{who}: the source time function is zero everywhere")
    start = source.stf.start_fraction(dt)
    if start > QUIET_START:
        raise ConfigError(
            f"{who}: the source time function is at {start:.2g} of its peak at t = 0; the "
            "exact solution is that of a source at rest before t = 0: delay it (t0 of at "
            "least about 1 / f0 for a Ricker wavelet)"
        )


def check_window(window_periods: Any, who: str) -> None:
    """Refuse a comparison window (in periods) that is not a finite number > 0."""
    if not is_positive_real(window_periods):
        raise ConfigError(f"{who}: window_periods must be a number > 0, got {window_periods!r}")


def reflecting_sides(params: Any, free_surface_modelled: bool) -> list[str]:
    """The model edges that reflect waves in a simulation with ``params``: those without
    an absorbing layer (all of them when ``pml_width`` is 0), less the free surface when
    the comparison models it (the acoustic one adds the source's image)."""
    absorbing = set(params.pml_sides) if params.pml_width > 0 else set()
    out = [s for s in _SIDES if s not in absorbing]
    if free_surface_modelled and getattr(params, "free_surface", False):
        out = [s for s in out if s != "top"]
    return out


def edge_reflection(
    grid: Grid, reflecting: Sequence[str], source: PointSource, x: float, z: float
) -> tuple[float, str]:
    """The shortest path from ``source`` to ``(x, z)`` by way of one of the edges
    ``reflecting`` (the distance from the source's mirror image in that edge), and that
    edge; ``(inf, "")`` when there is none."""
    x0, x1, z0, z1 = grid.extent
    images = {
        "left": (2 * x0 - source.x, source.z),
        "right": (2 * x1 - source.x, source.z),
        "bottom": (source.x, 2 * z0 - source.z),
        "top": (source.x, 2 * z1 - source.z),
    }
    best, side = math.inf, ""
    for name in reflecting:
        xi, zi = images[name]
        d = math.hypot(x - xi, z - zi)
        if d < best:
            best, side = d, name
    return best, side


def reflected(
    grid: Grid,
    reflecting: Sequence[str],
    source: PointSource,
    x: float,
    z: float,
    speed: float,
    centre: float,
    f0: float,
    t_end: float,
) -> str | None:
    """Why a window ending at ``t_end`` at ``(x, z)`` is left out because a wave of
    ``speed`` reflected by an edge without absorbing layer reaches it (from its
    wavelet's ``centre`` less :data:`REFLECTION_LEAD_PERIODS` periods of ``f0``), or
    ``None``."""
    path, side = edge_reflection(grid, reflecting, source, x, z)
    onset = path / speed + centre - REFLECTION_LEAD_PERIODS / f0
    if onset >= t_end:
        return None
    return (
        f"the wave reflected by the {side} edge (no absorbing layer) arrives from "
        f"{onset:.4g} s, before the end of the window"
    )
