"""Check a workflow's gradient against finite differences of its total misfit.

:func:`total_misfit` evaluates :math:`J(m) = \\sum_s J_s(m)` with the workflow's own
solver, preprocess, sources and receivers (observed data as the workflow reads them).
:func:`gradient_check` compares the directional derivative :math:`\\langle g, \\delta m
\\rangle` of a gradient (by default the raw summed kernels the Migration workflow
exported, ``path_output/kernels_raw.h5``) with the central difference

.. math::
    \\frac{J(m + h\\,\\delta m) - J(m - h\\,\\delta m)}{2h}

along a random smooth direction :math:`\\delta m`. Run it in float64 (``precision:
float64``) to see agreement to about 1e-7; in float32 expect about 1e-3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from seisgrad.errors import DataError
from seisgrad.model import Model, read_model

__all__ = ["GradientCheck", "total_misfit", "gradient_check"]


@dataclass
class GradientCheck:
    """Directional derivative from the gradient and from finite differences."""

    directional: float
    finite_difference: float
    h: float
    misfit: float

    @property
    def relative_error(self) -> float:
        scale = max(abs(self.directional), abs(self.finite_difference), 1e-300)
        return abs(self.directional - self.finite_difference) / scale


def total_misfit(workflow: Any, model: Model) -> float:
    """Total misfit of ``model`` over the workflow's events (observed data as in the
    run: simulated in the true model, or read from ``path_data``)."""
    values = []
    for event in workflow.events:
        syn = workflow.solver.forward(model, event, workflow.receivers)
        if workflow.path.data is None and not workflow.trace_file("obs", event.name).exists():
            obs = workflow.solver.forward(workflow.model("true"), event, workflow.receivers)
        else:
            obs = workflow.observed(event, syn)
        values.append(workflow.preprocess.evaluate(obs, syn, event, workflow.receivers).value)
    return math.fsum(values)


def _direction(model: Model, names: tuple[str, ...], seed: int) -> dict[str, np.ndarray]:
    """A smooth random direction, scaled by each parameter's magnitude."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    out = {}
    for n in names:
        r = gaussian_filter(rng.standard_normal(model.grid.shape), 2.0)
        r /= np.max(np.abs(r))
        out[n] = r * float(np.max(np.abs(model[n])))
    return out


def gradient_check(
    workflow: Any,
    gradient: Model | None = None,
    *,
    h: float = 1e-4,
    seed: int = 0,
) -> GradientCheck:
    """Compare ``<gradient, dm>`` with a central difference of the total misfit.

    Parameters
    ----------
    workflow
        A built Migration workflow (``build_from_config(...).workflow``) that has run.
    gradient
        :math:`\\partial J/\\partial m` per node; default: ``path_output/kernels_raw.h5``.
    h
        Relative step along the direction (the direction is scaled to the size of
        each parameter).
    """
    if gradient is None:
        path = workflow.path.output / "kernels_raw.h5"
        if not path.exists():
            raise DataError(f"no raw gradient at {path}: run the migration workflow first")
        gradient = read_model(path)
    names = tuple(gradient)
    base = workflow.model_for_scaling(names)  # the point the kernels were taken at
    base = Model(base.grid, {n: np.asarray(base[n], dtype=np.float64) for n in names})
    dm = _direction(base, names, seed)
    directional = math.fsum(float(np.sum(gradient[n] * dm[n])) for n in names)
    plus = Model(base.grid, {n: base[n] + h * dm[n] for n in names})
    minus = Model(base.grid, {n: base[n] - h * dm[n] for n in names})
    jp = total_misfit(workflow, plus)
    jm = total_misfit(workflow, minus)
    fd = (jp - jm) / (2 * h)
    return GradientCheck(directional, fd, h, total_misfit(workflow, base))
