"""Proofs that a solver setup is right, as functions users can run on their own setups.

* :func:`dot_product_test`: the time loop (wavefields, PML memory variables, free surface,
  receivers) and its adjoint are exact transposes: ``<F x, y> = <x, F^T y>``.
* :func:`taylor_test`: the gradient returned by ``Solver.adjoint`` is the derivative of the
  misfit computed from ``Solver.forward`` (central differences agree, the first-order
  Taylor remainder falls as ``h^2``). Works for any :class:`~seisgrad.solver.base.Solver`.
* :func:`acoustic_greens_function` and :func:`compare_with_analytic`: synthetics against
  the exact 2D Green's function of a homogeneous acoustic medium.
* :func:`pml_reflection`: amplitude of what the absorbing layers send back, measured
  against a simulation on a grid so large that nothing comes back.

The first and the last work with every material of ``solver: fd2d`` (they only use the
:class:`~seisgrad.solver.fd2d.propagator.Propagator` interface).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seisgrad.config import is_positive_real
from seisgrad.errors import ConfigError, DataError, StabilityError
from seisgrad.logs import logger
from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, Receiver
from seisgrad.solver.base import Solver
from seisgrad.solver.fd2d.checks import safe_round
from seisgrad.solver.fd2d.common import max_stable_velocity, source_dominant_frequency
from seisgrad.solver.fd2d.comparison import (
    MIN_SOURCE_DISTANCE,
    check_comparable_source,
    check_window,
    near_field,
    reflected,
    reflecting_sides,
)
from seisgrad.solver.fd2d.elastic_verify import wavelet_centre

__all__ = [
    "DotProductResult",
    "TaylorResult",
    "AnalyticResult",
    "PMLResult",
    "with_parameters",
    "dot_product_test",
    "taylor_test",
    "acoustic_greens_function",
    "compare_with_analytic",
    "pml_reflection",
]


def with_parameters(solver: Any, **changes: Any) -> Any:
    """A new solver of the same class with some parameters replaced."""
    params = dataclasses.replace(solver.params, **changes)
    return type(solver)(params)


# ----------------------------------------------------------------------------- dot product


@dataclass
class DotProductResult:
    """``lhs = <F x, y>``, ``rhs = <x, F^T y>`` and their relative mismatch.

    The mismatch is relative to the larger of ``|lhs|``, ``|rhs|`` and ``scale``, the
    largest contribution of one block (state array or record channel) to either side:
    random blocks of alike weight can cancel in the sums (a sum of 0.05 from blocks of
    about 1 read as a mismatch of 1e-12), and round-off is relative to the terms.
    ``checks`` holds the ``(lhs, rhs, scale)`` of each test made (see
    :func:`dot_product_test`); ``lhs``, ``rhs`` and ``scale`` are those of the one with
    the largest mismatch."""

    lhs: float
    rhs: float
    nsteps: int
    checks: list[tuple[float, float, float]] = field(default_factory=list)
    scale: float = 0.0

    @property
    def relative_error(self) -> float:
        return _mismatch(self.lhs, self.rhs, self.scale)


def _mismatch(lhs: float, rhs: float, scale: float = 0.0) -> float:
    return abs(lhs - rhs) / max(abs(lhs), abs(rhs), scale, 1e-300)


def _block_dots(
    prop: Any, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]
) -> list[float]:
    """``<a_k, b_k>`` of each state array (over its state entries), in float64."""
    return [
        float(np.dot(a[k][m].astype(np.float64), b[k][m])) for k, m in prop.state_masks().items()
    ]


#: Largest ratio between the scales of two blocks of a balanced random vector
#: (:func:`_scaled_random`): a block that is round-off is not blown up to the others'
#: size by ``1 / rms`` beyond it.
_MAX_BLOCK_RATIO = 1e12


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64)))) if a.size else 0.0


def _inverse_scales(rms: Mapping[Any, float]) -> dict[Any, float]:
    """``1 / rms`` per block, at least :data:`_MAX_BLOCK_RATIO` times less than the
    largest; a block that is zero gets the largest (all 1 when every block is zero)."""
    inv = {k: 1.0 / r for k, r in rms.items() if r > 0.0 and math.isfinite(r)}
    if not inv:
        return dict.fromkeys(rms, 1.0)
    top = max(inv.values())
    return {k: max(inv.get(k, top), top / _MAX_BLOCK_RATIO) for k in rms}


def _scaled_random(
    prop: Any, rng: np.random.Generator, like: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """A random state whose block ``k`` has the scale ``1 / rms(like[k])``, so that every
    block weighs alike in ``<like, result>``."""
    masks = prop.state_masks()
    scale = _inverse_scales({k: _rms(like[k][m]) for k, m in masks.items()})
    out = prop.random_state(rng)
    for k, m in masks.items():
        out[k][m] *= out[k].dtype.type(scale[k])
    return out


def dot_product_test(
    solver: Any,
    model: Model,
    event: Event,
    receivers: Sequence[Receiver],
    *,
    nsteps: int | None = None,
    seed: int = 0,
) -> DotProductResult:
    """Dot-product test of the time loop of an ``fd2d`` solver and its adjoint.

    ``F`` maps an initial state ``x`` (every wavefield component and every C-PML memory
    variable) to the state after ``nsteps`` steps and the raw receiver records; ``F^T``
    is the adjoint time loop (the one that computes gradients). ``<F x, y>`` must equal
    ``<x, F^T y>`` to round-off: ``1e-16`` to ``1e-14`` relative in float64 (use
    ``precision: float64``); float32 gives ``5e-7`` to ``2e-5``.

    The blocks of the state (pressure or stresses, velocities, memory variables) and the
    record channels differ in size by orders of magnitude (pressure is about ``rho c``
    times velocity), so with plain random vectors the largest would hide an error in the
    others (a 0.1% error in the velocity records' transpose changed the mismatch by
    5e-11). The vectors are balanced instead: ``x`` random, then ``y`` random with each
    block (and record channel) at the inverse of the scale of that block of ``F x``, and
    a second ``x`` with each block at the inverse scale of ``F^T y``. Two tests come out
    of one adjoint run: the first ``x`` with ``y`` (every output block weighs alike) and
    the second ``x`` with ``y`` (every input block weighs alike); the result is the one
    with the larger mismatch, relative to the largest contribution of one block (see
    :class:`DotProductResult`).

    Parameters
    ----------
    solver
        An ``FD2D`` solver (any material).
    model, event, receivers
        The setup to test (the event's sources are switched off: ``F`` is linear).
    nsteps
        Number of time steps (default: ``params.nt``); 1 tests a single step.
    seed
        Random seed.
    """
    prop = solver.propagator(model, event, receivers)
    prop.source_scale = 0.0
    n1 = prop.nt_record if nsteps is None else int(nsteps)
    if not 1 <= n1 <= prop.nt:
        raise ConfigError(f"dot_product_test: nsteps must be in [1, {prop.nt}], got {n1}")
    rng = np.random.default_rng(seed)
    x0 = prop.random_state(rng)
    x1, raw = prop.propagate(x0, 0, n1)
    y1 = _scaled_random(prop, rng, x1)
    needed = [c for c, ch in enumerate(prop.raw_channels) if ch in prop.raw_needed]
    channel_scale = _inverse_scales({c: _rms(raw[c, :, :n1]) for c in needed})
    raw_adj = np.zeros(raw.shape)
    for c in needed:
        raw_adj[c, :, :n1] = rng.standard_normal(raw[c, :, :n1].shape) * channel_scale[c]
    x0_adj = prop.propagate_adjoint(y1, raw_adj, n1, 0)
    checks = []
    for x in (x0, _scaled_random(prop, rng, x0_adj)):
        if x is not x0:
            x1, raw = prop.propagate(x, 0, n1)
        left = _block_dots(prop, x1, y1) + [float(np.sum(raw[c] * raw_adj[c])) for c in needed]
        right = _block_dots(prop, x, x0_adj)
        scale = max(abs(v) for v in (*left, *right))
        checks.append((math.fsum(left), math.fsum(right), scale))
    # a check that is not finite (an overflow) is the result: max() cannot rank NaN
    bad = [c for c in checks if not all(math.isfinite(v) for v in c)]
    lhs, rhs, scale = bad[0] if bad else max(checks, key=lambda c: _mismatch(*c))
    return DotProductResult(lhs, rhs, n1, checks, scale)


# ----------------------------------------------------------------------------- Taylor test


@dataclass
class TaylorResult:
    """Outcome of :func:`taylor_test`.

    Attributes
    ----------
    hs
        Step lengths ``h`` (relative to the perturbation).
    directional
        ``<g, dm>`` from the adjoint gradient.
    central
        Central differences ``(J(m + h dm) - J(m - h dm)) / 2h`` per ``h``.
    remainders
        ``|J(m + h dm) - J(m) - h <g, dm>|`` per ``h``.
    misfit
        ``J(m)``.
    """

    hs: list[float]
    directional: float
    central: list[float]
    remainders: list[float]
    misfit: float
    gradient: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def relative_errors(self) -> list[float]:
        d = abs(self.directional) or 1e-300
        return [abs(c - self.directional) / d for c in self.central]

    @property
    def best_relative_error(self) -> float:
        return min(self.relative_errors)

    @property
    def convergence_orders(self) -> list[float]:
        """Observed orders ``log(r_k / r_{k+1}) / log(h_k / h_{k+1})`` of the remainders
        between consecutive ``h`` where the remainder is still above round-off."""
        out = []
        floor = 1e-11 * max(abs(self.misfit), 1e-300)
        for k in range(len(self.hs) - 1):
            r0, r1 = self.remainders[k], self.remainders[k + 1]
            if r0 > floor and r1 > floor:
                out.append(math.log(r0 / r1) / math.log(self.hs[k] / self.hs[k + 1]))
        return out


def _smooth_random(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    r = gaussian_filter(rng.standard_normal(shape), sigma=1.5, mode="nearest")
    return r / (np.abs(r).max() or 1.0)


def _misfit(syn: Any, obs: Any, weights: Sequence[float]) -> tuple[float, Any]:
    """``J = 1/2 sum_k w_k ||syn_k - obs_k||^2`` and its adjoint sources
    ``w_k (syn_k - obs_k)``."""
    res = syn.copy()
    total = 0.0
    for tr, to, w in zip(res, obs, weights, strict=True):
        r = tr.data.astype(np.float64) - to.data.astype(np.float64)
        total += 0.5 * w * float(np.dot(r, r))
        tr.data = w * r
    return total, res


def _trace_weights(syn: Any, factors: Mapping[str, float]) -> list[float]:
    """Weight ``(f_c / V)^2`` of each trace: its channel's factor ``f_c`` to particle
    velocity (``factors``; 1 for a channel not in it) over ``V``, the largest peak of all
    traces as particle velocities. So the misfit of :func:`taylor_test` compares the
    channels in one unit: unweighted, pressure in Pa (about ``rho c`` times velocity in
    m/s) hid the velocity channels' part of the gradient. Weights per channel by its own
    peak instead gave a channel that is round-off by symmetry (``VX`` on the axis of a
    symmetric model, 1e-22 against 1e-3) a weight of 1e42, and the perturbation's own
    ``VX`` made the central differences 1e14 off."""
    top = 0.0
    for tr in syn:
        amp = float(np.abs(tr.data).max()) if tr.stats.npts else 0.0
        top = max(top, amp * factors.get(tr.stats.channel, 1.0))
    if not top > 0.0:
        return [1.0] * len(syn)
    return [(factors.get(tr.stats.channel, 1.0) / top) ** 2 for tr in syn]


#: A trace gets no noise in the observed data of :func:`taylor_test` when its peak is at
#: most this fraction of the largest peak of its channel (zero, or round-off).
_NOISE_FLOOR = 1e-12


def _add_noise(obs: Any, rng: np.random.Generator) -> None:
    """Add Gaussian noise of standard deviation half the trace's own peak to each trace
    of ``obs`` (in place), except to traces at most :data:`_NOISE_FLOOR` of the largest
    peak of their channel (a random draw is consumed for every trace all the same)."""
    peaks = [float(np.abs(tr.data).max()) if tr.stats.npts else 0.0 for tr in obs]
    strongest: dict[str, float] = {}
    for tr, amp in zip(obs, peaks):
        ch = tr.stats.channel
        strongest[ch] = max(strongest.get(ch, 0.0), amp)
    for tr, amp in zip(obs, peaks):
        noise = rng.standard_normal(tr.stats.npts).astype(tr.data.dtype)
        if amp > _NOISE_FLOOR * strongest[tr.stats.channel]:
            tr.data = tr.data + 0.5 * amp * noise


def _check_perturbed_models(
    solver: Any,
    model: Model,
    event: Event,
    receivers: Sequence[Receiver],
    shifted: Callable[[float], Model],
    hs: Sequence[float],
    relative_size: float | None,
) -> Any:
    """Raise :class:`~seisgrad.errors.ConfigError` when a model ``shifted(+-h)`` of the
    Taylor test is unstable at the solver's ``dt`` (or invalid), naming a stable
    ``relative_size`` (``None``: a perturbation given by the user; then the largest
    stable ``h``). Only for solvers with a ``propagator`` method (``fd2d``), whose
    construction runs the same checks as a simulation; return the propagator of the
    unperturbed setup (``None`` for another solver)."""
    make = getattr(solver, "propagator", None)
    if not callable(make):
        return None
    base = make(model, event, receivers)  # the user's own model: its own errors
    steps = sorted({abs(float(h)) for h in hs}, reverse=True)

    def failure(scale: float) -> tuple[float, Exception] | None:
        for h in steps:
            for signed in (h * scale, -h * scale):
                try:
                    make(shifted(signed), event, receivers)
                except (StabilityError, DataError) as exc:
                    return signed, exc
        return None

    first = failure(1.0)
    if first is None:
        return base
    h, exc = first
    if relative_size is None:
        what = f"the model m {'+' if h >= 0 else '-'} h dm with h = {abs(h):g} (dm as given)"
    else:
        what = (
            f"the model perturbed by h = {abs(h):g} x relative_size = {relative_size:g} "
            f"(m {'+' if h >= 0 else '-'} h dm)"
        )
    # the largest stable scale of every step: halve until stable, then bisect
    lo, hi = 0.0, 1.0
    for _ in range(20):
        if failure(0.5 * hi) is None:
            lo = 0.5 * hi
            break
        hi *= 0.5
    if lo > 0.0:
        for _ in range(8):
            mid = 0.5 * (lo + hi)
            if failure(mid) is None:
                lo = mid
            else:
                hi = mid
    invalid = isinstance(exc, DataError)
    or_dt = "" if invalid else " or a smaller dt"
    if lo == 0.0:
        advice = (
            "even 1e-6 of this perturbation fails: the model itself is at the limit"
            if invalid
            else "the model itself is at the stability limit: use a smaller dt"
        )
    elif relative_size is None:
        largest = safe_round(
            steps[0] * lo, up=False, digits=2, ok=lambda v: failure(v / steps[0]) is None
        )
        advice = f"use steps h <= {largest} (or a smaller perturbation){or_dt}"
    else:
        rs = relative_size
        size = safe_round(rs * lo, up=False, digits=2, ok=lambda v: failure(v / rs) is None)
        advice = f"use relative_size <= {size}{or_dt}"
    if invalid:
        raise ConfigError(f"taylor_test: {what} is not a valid model ({exc}); {advice}")
    p = base.params
    dx, dz = base.layout.dx, base.layout.dz
    vmax = base.wave_speeds(base.internal_model(shifted(h)))[1]
    limit = max_stable_velocity(base.dt, dx, dz, p.order)
    if vmax > limit:
        raise ConfigError(
            f"taylor_test: {what} reaches v_max = {vmax:.6g} m/s, unstable for "
            f"dt = {base.dt:.6g} s (limit v_max = {limit:.6g} m/s with dx = {dx:g} m, "
            f"dz = {dz:g} m, order {p.order}); {advice}"
        )
    raise ConfigError(f"taylor_test: {what} is unstable ({exc}); {advice}")


def _steps(hs: Sequence[float]) -> list[float]:
    """The Taylor test's step lengths, checked: numbers > 0, at least one."""
    try:
        out = list(hs)
    except TypeError:
        raise ConfigError(f"taylor_test: hs must be a list of step lengths, got {hs!r}") from None
    if not out or not all(is_positive_real(h) for h in out):
        raise ConfigError(f"taylor_test: hs must be one or more step lengths > 0, got {hs!r}")
    return [float(h) for h in out]


def _given_perturbation(
    perturbation: Mapping[str, Any], names: Sequence[str], shape: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """A user's ``dm``, checked: finite arrays of the grid's shape for kernel parameters
    only; a parameter left out is not perturbed (zeros)."""
    if not isinstance(perturbation, Mapping):
        raise ConfigError(
            f"taylor_test: perturbation must map kernel parameters ({', '.join(names)}) to "
            f"arrays, got {type(perturbation).__name__}"
        )
    unknown = [str(k) for k in perturbation if k not in names]
    if unknown:
        raise ConfigError(
            f"taylor_test: the perturbation has {', '.join(unknown)}, which the solver has "
            f"no kernel for (its kernel parameters are {', '.join(names)})"
        )
    out = {}
    for n in names:
        if n not in perturbation:
            out[n] = np.zeros(shape)
            continue
        raw = np.asarray(perturbation[n])
        if np.iscomplexobj(raw) or not np.issubdtype(raw.dtype, np.number):
            raise ConfigError(
                f"taylor_test: the perturbation of {n} must hold real numbers, got {raw.dtype}"
            )
        a = raw.astype(np.float64)
        if a.shape != shape:
            raise ConfigError(
                f"taylor_test: the perturbation of {n} has shape {a.shape}, the grid is {shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ConfigError(f"taylor_test: the perturbation of {n} is not finite everywhere")
        out[n] = a
    return out


class _DropSetupWarnings(logging.Filter):
    """Drops the set-up warnings a solver logs (``"warning: ..."``) in this thread."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        mine = record.thread == self.thread
        return not (mine and isinstance(record.msg, str) and record.msg.startswith("warning: "))


@contextlib.contextmanager
def _setup_warnings_shown_once(solver: Any) -> Iterator[None]:
    """The simulations of the perturbed models repeat the base model's set-up warnings
    with slightly other figures (the slowest wave speed, say): 8 more lines of each
    for the default steps. The base model's simulations have shown them. A solver that
    logs each warning once (``_warned``) forgets the dropped ones again."""
    drop = _DropSetupWarnings()
    warned = getattr(solver, "_warned", None)
    before = set(warned) if isinstance(warned, set) else None
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
        if before is not None:
            warned.intersection_update(before)


def taylor_test(
    solver: Solver,
    model: Model,
    event: Event,
    receivers: Sequence[Receiver],
    *,
    perturbation: dict[str, np.ndarray] | None = None,
    relative_size: float = 0.01,
    hs: Sequence[float] = (1.0, 0.1, 0.01, 0.001),
    seed: int = 0,
) -> TaylorResult:
    """Taylor test of ``Solver.adjoint`` against ``Solver.forward``.

    The misfit is ``J(m) = 1/2 sum_k w_k ||d_k(m) - d_obs,k||^2`` over all samples of all
    traces ``k``, with ``d_obs`` the synthetics of ``model`` plus, on each trace, Gaussian
    noise of standard deviation half that trace's peak amplitude (so the residual is of
    the size of the trace), and ``w_k`` the square of trace ``k``'s factor to particle
    velocity (1 for ``VX``, ``VZ``; ``1 / (rho vp)`` for ``P``; ``2 pi f0`` for ``UX``,
    ``UZ``; for an ``fd2d`` solver), over the largest peak as particle velocity: the
    channels are compared in one unit (unweighted, pressure in Pa, about ``rho c`` times
    velocity in m/s, hid the velocity channels). A
    trace whose peak is zero, or at most ``1e-12`` of the largest peak of its channel
    (``P`` and ``VX`` on a free surface), gets no noise: noise that no model can change
    would only make ``J`` large and cost the differences their digits. For
    ``h`` in ``hs`` it evaluates ``J(m +- h dm)`` and compares the central difference
    with ``<g, dm>`` from the adjoint gradient ``g``; the first-order remainder
    ``J(m + h dm) - J(m) - h <g, dm>`` must fall as ``h^2``. With an exact gradient in
    float64 the best relative error is ``1e-8`` or smaller in most setups (6e-8
    seen at order 2 with four sources), when the waves reach the
    receivers: records the waves barely reach (60 steps, the first arrival at the
    receivers' edge) carry the round-off of the whole wavefield, and their central
    differences agreed to 3e-6 at best although the remainder fell as ``h^2`` down to
    that floor. Run longer or move the receivers closer.

    Parameters
    ----------
    solver
        Any solver.
    model
        Must hold the solver's ``kernel_parameters``.
    event, receivers
        The setup to test.
    perturbation
        ``dm`` per kernel parameter, arrays of the grid's shape; a parameter left out is
        not perturbed (default: smooth random fields of ``relative_size`` times each
        cell's value of the parameter, so zero where the parameter is zero and a fluid
        region of an elastic model stays fluid).
    relative_size
        Size of the default perturbation relative to each cell's value (> 0).
    hs
        Step lengths (> 0), decreasing.
    seed
        Random seed of the perturbation and the noise.

    Raises
    ------
    ConfigError
        When the model lacks a kernel parameter, for a perturbation of another
        parameter, shape, non-finite, complex or non-numeric values, steps or a
        ``relative_size`` that are not positive numbers, when the misfit does not change
        at all along the perturbation
        (nothing to judge: every central difference zero), or
        (``fd2d`` solvers, checked before any simulation) when a perturbed model
        ``m +- h dm`` is unstable at the solver's ``dt`` or invalid (e.g. a negative
        density): the message names a ``relative_size`` (or, for a given
        ``perturbation``, the largest ``h``) that is stable.
    """
    names = solver.kernel_parameters
    missing = [n for n in names if n not in model]
    if missing:
        raise ConfigError(
            f"taylor_test: the model lacks {', '.join(missing)} (the solver's kernel "
            f"parameters are {', '.join(names)})"
        )
    if getattr(getattr(solver, "params", None), "precision", None) == "float32":
        logger.warning(
            "taylor_test with a float32 solver: the central differences carry float32 "
            "round-off (relative errors of 1e-3 to 1 at small h are round-off, not a "
            "wrong gradient); use precision: float64 to check a gradient"
        )
    hs = _steps(hs)
    rng = np.random.default_rng(seed)
    given = perturbation is not None
    if given:
        perturbation = _given_perturbation(perturbation, names, model.grid.shape)
    elif not is_positive_real(relative_size):
        raise ConfigError(
            f"taylor_test: relative_size must be a number > 0, got {relative_size!r}"
        )
    if perturbation is None:
        # relative to each cell's own value (zero where the parameter is zero: a fluid
        # region, vs = 0 or mu = 0, stays fluid); relative to the mean, air (rho 1.2)
        # over water (1000) was perturbed by 30% of the air's density at relative_size
        # 0.01, and the misfit's curvature cost the default steps their digits
        perturbation = {
            n: relative_size
            * np.abs(np.asarray(model[n], np.float64))
            * _smooth_random(model.grid.shape, rng)
            for n in names
        }
    dm = perturbation

    def shifted(h: float) -> Model:
        return model.with_values(
            **{n: np.asarray(model[n], np.float64) + h * dm[n] for n in names}
        )

    base = _check_perturbed_models(
        solver, model, event, receivers, shifted, hs, None if given else relative_size
    )
    # fd2d: the channels compared as particle velocities; another solver's as they are
    factors = {} if base is None else _velocity_factors(base, event)
    syn0 = solver.forward(model, event, receivers)
    obs = syn0.copy()
    _add_noise(obs, rng)
    weights = _trace_weights(syn0, factors)
    j0, residual = _misfit(syn0, obs, weights)
    grad = solver.adjoint(model, event, receivers, residual)
    gdm = sum(float(np.sum(np.asarray(grad[n], np.float64) * dm[n])) for n in names)

    central, rem = [], []
    with _setup_warnings_shown_once(solver):
        for h in hs:
            jp, _ = _misfit(solver.forward(shifted(h), event, receivers), obs, weights)
            jm, _ = _misfit(solver.forward(shifted(-h), event, receivers), obs, weights)
            central.append((jp - jm) / (2 * h))
            rem.append(abs(jp - j0 - h * gdm))
    if not any(central):
        raise ConfigError(
            "taylor_test: the misfit does not change along the perturbation "
            f"(J(m + h dm) = J(m - h dm) for every h; <g, dm> = {gdm:.3g}), so the test "
            "cannot judge the gradient; check that the waves reach the receivers within nt "
            "steps and that the perturbation is not zero where they travel"
        )
    return TaylorResult(list(hs), gdm, central, rem, j0, {n: np.asarray(grad[n]) for n in names})


# ----------------------------------------------------------------------------- analytic


def acoustic_greens_function(
    distance: float,
    vp: float,
    rho: float,
    stf: np.ndarray,
    dt: float,
    quantity: str = "P",
    pad: int = 8,
) -> np.ndarray:
    """Exact 2D acoustic response to a volume-injection source in a homogeneous medium.

    The source is ``d_t p = -kappa div v + kappa s(t) delta(x)``: with
    ``G = H(t - r/c) / (2 pi sqrt(t^2 - r^2/c^2))`` (the 2D Green's function of the wave
    equation), the pressure is ``p = rho d_t (G * s)``. In the frequency domain
    (``exp(+i w t)`` convention) ``P = rho w S H0^(2)(w r / c) / 4`` and the radial
    particle velocity is ``V_r = -i S k H1^(2)(k r) / 4`` with ``k = w / c``.

    Parameters
    ----------
    distance
        Source-receiver distance (m), positive.
    vp, rho
        Velocity (m/s) and density (kg/m^3).
    stf
        Source samples ``s(n dt)`` (volume-injection rate, 1/s), starting at ``t = 0``.
    dt
        Sampling interval (s).
    quantity
        ``"P"`` (pressure) or ``"VR"`` (radial particle velocity, away from the source).
    pad
        Zero padding factor against wrap-around.

    Returns
    -------
    numpy.ndarray
        Samples at ``n dt``, same length as ``stf``.
    """
    from scipy.special import hankel2

    if distance <= 0:
        raise ConfigError("acoustic_greens_function: distance must be positive")
    nt = len(stf)
    nfft = 1 << int(math.ceil(math.log2(pad * nt)))
    spec = np.fft.rfft(np.asarray(stf, np.float64), nfft)
    w = 2 * math.pi * np.fft.rfftfreq(nfft, dt)
    k = w / vp
    out = np.zeros_like(spec)
    nz = w > 0
    if quantity == "P":
        out[nz] = rho * w[nz] * spec[nz] * hankel2(0, k[nz] * distance) / 4.0
    elif quantity == "VR":
        out[nz] = -1j * spec[nz] * k[nz] * hankel2(1, k[nz] * distance) / 4.0
        # w -> 0: k H1^(2)(k r) -> 2i / (pi r): the steady outflow of a source with a
        # non-zero mean (a Gaussian), S(0) / (2 pi r)
        out[0] = spec[0] / (2.0 * math.pi * distance)
    else:
        raise ConfigError(
            f"acoustic_greens_function: quantity must be 'P' or 'VR', got {quantity!r}"
        )
    return np.fft.irfft(out, nfft)[:nt]


@dataclass
class AnalyticResult:
    """Outcome of :func:`compare_with_analytic`.

    Attributes
    ----------
    errors
        Per trace id: ``||d - a|| / N`` over the window, with ``N`` the norm of the exact
        direct wave at that receiver (of ``P`` for ``P``, of the velocity vector for
        ``VX`` and ``VZ``).
    synthetics, analytic
        Per trace id: the windowed synthetic and exact traces.
    skipped
        Trace id -> reason, for the traces not compared: those of a channel whose exact
        solution is zero at every compared receiver (``P`` and ``VX`` on a free surface:
        no relative error can be measured there), those of receivers closer to the
        source than ``MIN_SOURCE_DISTANCE`` cells, those where the last wave compared
        (the direct wave, or its free-surface reflection) arrives after the end of the
        record (its wavelet's centre) and those a reflection from an edge without
        absorbing layer reaches within the window.
        They are not in ``errors``.
    """

    errors: dict[str, float]
    synthetics: dict[str, np.ndarray] = field(repr=False)
    analytic: dict[str, np.ndarray] = field(repr=False)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values())


#: A channel is skipped when the largest norm of its exact solution (source and image)
#: is below this fraction of the largest norm of the direct wave alone (cancellation);
#: in :func:`pml_reflection`, when its reference peak is below this fraction of the
#: strongest channel's.
_NEGLIGIBLE = 1e-6

#: Channels :func:`compare_with_analytic` compares.
_ACOUSTIC = ("P", "VX", "VZ")


def compare_with_analytic(
    solver: Any,
    model: Model,
    event: Event,
    receivers: Sequence[Receiver],
    *,
    window_periods: float = 3.0,
) -> AnalyticResult:
    """Compare acoustic synthetics with :func:`acoustic_greens_function`.

    The model must be homogeneous and acoustic (no ``vs > 0``) and the event a single
    ``pressure`` or ``explosion`` point source. The exact solution uses the velocity and
    density the simulation uses (the solver's internal model): with ``kappa`` and
    ``rho`` it is ``vp = sqrt(kappa / rho)``, and with a model that holds both ``vp``
    and ``kappa`` the one of the solver's parametrization.

    Traces ``P``, ``VX`` and ``VZ`` are compared over the direct wave: from ``t = 0`` to
    ``window_periods / f0`` after the arrival of the wavelet's centre (``r / vp + t0``).
    With ``free_surface`` the exact solution includes the (negative) image of the source
    above the top edge of the model, and the window extends past the reflection.

    Each error is ``||d - a|| / N`` over that window, where ``N`` is the norm of the
    exact direct wave at the same receiver: of ``P`` for a ``P`` trace, of the velocity
    vector for ``VX`` and ``VZ``. So a component zero or tiny by symmetry (``VZ`` level
    with the source) or by the image's cancellation is measured on the scale of the wave
    that passes there, and every receiver on its own (a scale shared by a channel let a
    strong receiver near the source hide the errors of the others). A channel whose
    exact solution vanishes at every compared receiver (``P`` and ``VX`` on a free
    surface, where source and image cancel; below :data:`_NEGLIGIBLE` of the direct
    wave alone) is left out of ``errors`` and listed in ``skipped``, as are receivers
    closer than :data:`~seisgrad.solver.fd2d.comparison.MIN_SOURCE_DISTANCE` cells
    to the source (its near field, which no grid represents), those where the last wave
    compared (the direct wave, or with a free surface its reflection there) arrives
    after the end of the record (its wavelet's centre; records cut before the wave
    came read 3-100%) and those a wave reflected by an edge without absorbing layer
    reaches before the end of the window. A window that reaches past the record is cut
    there.

    At 8 points per minimum wavelength and order 8 the error is about 0.1% at any ``dt``
    up to the CFL limit with ``correct_time_dispersion`` (the default). Without it the
    second-order time stepping dominates and grows with ``dt`` and distance: about 0.55%
    at 30% of the CFL limit, 1.5% at 50% and 4.8% at 90% for waves 3.5 wavelengths out.

    Raises
    ------
    ConfigError
        For a model that is not homogeneous or not acoustic, an event other than one
        pressure source, a source of zero amplitude or one that does not start at rest
        (more than :data:`~seisgrad.solver.acquisition.QUIET_START` of its peak at
        ``t = 0``), ``window_periods`` not a
        finite number > 0, a solver that records none of ``P``, ``VX``, ``VZ``, a
        pressure source on the free surface, or when no trace is left to compare (every
        receiver near the source, reached by the wave only after the end of the record
        or reached by a reflection, or an exact solution that is zero at every
        receiver).
    """
    if len(event.sources) != 1 or event.sources[0].kind not in ("pressure", "explosion"):
        raise ConfigError("compare_with_analytic needs one pressure (explosion) point source")
    check_window(window_periods, "compare_with_analytic")
    # the values the simulation uses, whatever the parametrization (vp or kappa) and
    # whichever the model holds besides
    prop = solver.propagator(model, event, receivers)
    used = prop.internal
    if "vs" in used and not np.any(np.asarray(used["vs"]) > 0):
        # an elastic solver on a fluid: its explosion is a moment (kappa times the
        # acoustic source's volume rate), so the acoustic exact solution does not apply
        raise ConfigError(
            "compare_with_analytic compares the acoustic solver (materials: acoustic); "
            "this solver is elastic (here on a fluid, vs = 0, whose explosion amplitude "
            "is a moment, not a volume rate): use materials: acoustic, or "
            "seisgrad.solver.fd2d.elastic_verify.compare_elastic_with_analytic on a solid"
        )
    if np.any(np.asarray(used.get("vs", 0.0)) > 0):
        raise ConfigError(
            "compare_with_analytic needs an acoustic medium (the model has vs > 0); use "
            "seisgrad.solver.fd2d.elastic_verify.compare_elastic_with_analytic"
        )
    vp = np.asarray(used["vp"], np.float64)
    rho = np.asarray(used["rho"], np.float64)
    if np.ptp(vp) > 1e-9 * vp.max() or np.ptp(rho) > 1e-9 * rho.max():
        raise ConfigError("compare_with_analytic needs a homogeneous model")
    src = event.sources[0]
    p = solver.params
    if not set(prop.record) & set(_ACOUSTIC):
        raise ConfigError(
            "compare_with_analytic compares the channels P, VX and VZ, but the solver "
            f"records {', '.join(prop.record)}: add one of them to its 'record' parameter"
        )
    nt, dt = p.nt, p.dt
    stf = src.stf.sample(nt, dt) * src.amplitude
    f0 = src.stf.dominant_frequency(dt)
    check_comparable_source(src, stf, dt, "compare_with_analytic")
    centre = wavelet_centre(src.stf, nt, dt)  # the samples' timing (also for 'array')
    c, r0 = float(vp.flat[0]), float(rho.flat[0])
    if getattr(p, "free_surface", False) and model.grid.extent[3] - src.z <= 1e-6 * model.grid.dz:
        raise ConfigError(
            "compare_with_analytic: the source is on the free surface, where the pressure "
            "is zero: its negative image cancels it and it radiates nothing; place it under "
            "the surface"
        )
    st = solver.forward(model, event, receivers)
    # with a free surface on top, the exact solution adds a negative image source
    images = [(src.x, src.z, 1.0)]
    if getattr(p, "free_surface", False):
        z_top = model.grid.extent[3]
        images.append((src.x, 2.0 * z_top - src.z, -1.0))
    syn, ana, channel = {}, {}, {}
    norm: dict[str, float] = {}
    direct: dict[str, float] = {}
    scale: dict[str, float] = {}  # per trace: the direct wave's norm at its receiver
    skipped: dict[str, str] = {}
    reflecting = reflecting_sides(p, free_surface_modelled=True)
    left_out = {"near": 0, "late": 0, "reflected": 0}
    for tr in st:
        x, z = tr.stats.coordinates.x, tr.stats.coordinates.z
        ch = tr.stats.channel
        if ch not in _ACOUSTIC:
            continue
        why = near_field(model.grid, src, x, z)
        if why is not None:
            skipped[tr.id] = why
            left_out["near"] += 1
            continue
        dist = max(math.hypot(x - xs, z - zs) for xs, zs, _ in images)
        arrival = dist / c + centre  # of the last wave compared, its wavelet's centre
        if arrival > nt * dt:
            skipped[tr.id] = (
                f"the record ends ({nt} steps, {nt * dt:.4g} s) before the wave's centre "
                f"arrives ({arrival:.4g} s)"
            )
            left_out["late"] += 1
            continue
        t_end = dist / c + centre + window_periods / f0
        n_end = min(nt, int(t_end / dt) + 1)
        why = reflected(model.grid, reflecting, src, x, z, c, centre, f0, n_end * dt)
        if why is not None:
            skipped[tr.id] = why
            left_out["reflected"] += 1
            continue
        parts, speed = [], None
        for xs, zs, sign in images:
            d_img = math.hypot(x - xs, z - zs)
            if ch == "P":
                parts.append(sign * acoustic_greens_function(d_img, c, r0, stf, dt, "P"))
            else:
                vr = acoustic_greens_function(d_img, c, r0, stf, dt, "VR")
                speed = vr if speed is None else speed
                parts.append(sign * vr * ((x - xs) if ch == "VX" else (z - zs)) / d_img)
        a = np.sum(parts, axis=0)[:n_end]
        syn[tr.id] = tr.data.astype(np.float64)[:n_end]
        ana[tr.id] = a
        channel[tr.id] = ch
        # the direct wave alone: P, or the radial velocity (the velocity vector's norm)
        wave = parts[0] if speed is None else speed
        scale[tr.id] = float(np.linalg.norm(wave[:n_end]))
        norm[ch] = max(norm.get(ch, 0.0), float(np.linalg.norm(a)))
        direct[ch] = max(direct.get(ch, 0.0), float(np.linalg.norm(parts[0][:n_end])))
    errors = {}
    for tid, ch in channel.items():
        if norm[ch] <= _NEGLIGIBLE * direct[ch]:
            skipped[tid] = f"the exact {ch} is zero at every compared receiver"
            continue
        if not scale[tid] > 0.0:
            skipped[tid] = "the exact direct wave is zero at this receiver"
            continue
        errors[tid] = float(np.linalg.norm(syn[tid] - ana[tid]) / scale[tid])
    if not errors:
        if not channel:
            raise ConfigError(
                f"compare_with_analytic: no trace to compare: of {sum(left_out.values())} "
                f"trace(s), {left_out['near']} closer than {MIN_SOURCE_DISTANCE:g} cells to "
                f"the source, {left_out['late']} that the wave reaches after the end of the "
                f"record ({nt * dt:.4g} s), {left_out['reflected']} reached by a "
                "reflection from an edge without absorbing layer within the window; move "
                "the receivers, lengthen nt, add absorbing layers or shorten window_periods"
            )
        raise ConfigError(
            "compare_with_analytic: no trace to compare; the exact solution is zero at "
            f"every receiver for the recorded channels {', '.join(sorted(norm))}"
        )
    return AnalyticResult(errors, syn, ana, skipped)


# ----------------------------------------------------------------------------- PML


@dataclass
class PMLResult:
    """Largest reflected amplitude relative to the largest incident amplitude.

    Attributes
    ----------
    reflection
        The largest of ``per_trace``.
    per_trace
        Per trace id: the largest difference on that trace divided by the incident
        amplitude at its receiver (the largest reference amplitude of the receiver's
        channels, compared as particle velocities).
    skipped
        Channels left out (their traces are not in ``per_trace``): those whose reference
        is negligible compared with the strongest channel (``VZ`` on a line level with
        the source, ``P`` and ``VX`` on a free surface), so that no relative reflection
        can be measured on them.
    unreached
        Receivers (trace ids without the channel) left out because the reference wave
        there is negligible on every channel (nothing reaches them within the record).
    """

    reflection: float
    per_trace: dict[str, float]
    skipped: list[str] = field(default_factory=list)
    unreached: list[str] = field(default_factory=list)


def _velocity_factors(prop: Any, event: Event) -> dict[str, float]:
    """Factors that turn the peak of each trace channel into a particle velocity (m/s),
    to compare channels of different units: 1 for ``VX``, ``VZ``; ``1 / (rho vp)`` for
    ``P`` (a plane wave's ``|v| = |p| / (rho vp)``, with the smallest impedance of the
    model); ``2 pi f0`` for ``UX``, ``UZ`` (``f0``: the dominant source frequency)."""
    used = prop.internal
    impedance = float(np.min(np.asarray(used["rho"]) * np.asarray(used["vp"])))
    omega = 2.0 * math.pi * source_dominant_frequency(event, prop.dt)
    return {"P": 1.0 / impedance, "VX": 1.0, "VZ": 1.0, "UX": omega, "UZ": omega}


def pml_reflection(
    solver: Any,
    model: Model,
    event: Event,
    receivers: Sequence[Receiver],
) -> PMLResult:
    """Measure what the absorbing layers reflect.

    Runs the setup, then the same setup on a grid extended (with the model's edge values)
    by enough cells on every absorbing side that nothing from the new boundaries returns
    before the end of the simulation. The difference of the two is what the absorbing
    layers reflected; on each trace its largest value is divided by the incident
    amplitude at the same receiver: the largest amplitude of the reference over the
    receiver's channels, compared as particle velocities (below). So a component small
    by symmetry (``VZ`` level with the source) is measured on the scale of the wave that
    passes there (it was divided by its own small peak, reporting reflections of 30% to
    1200% where ``VX`` showed 1e-5), and each receiver on its own.

    A recorded channel whose reference is negligible is left out and listed in
    ``skipped``: at most :data:`_NEGLIGIBLE` of the strongest channel of the reference
    (which records ``P``, ``VX`` and ``VZ`` besides the recorded channels for this),
    compared as particle velocities: ``P`` divided by the smallest impedance ``rho vp``
    of the model, ``UX``, ``UZ`` times ``2 pi f0``. Such a channel is zero (or round-off)
    by symmetry, as ``VZ`` on a line level with the source or ``P`` and ``VX`` on a free
    surface, and dividing by it would report round-off as a huge reflection.

    Raises
    ------
    ConfigError
        For a solver without absorbing layers (``pml_sides`` empty or ``pml_width`` 0:
        nothing to measure), and when the reference is negligible on every recorded
        channel (nothing reaches the receivers).
    """
    p = solver.params
    if not p.pml_sides or not p.pml_width > 0:
        raise ConfigError(
            "pml_reflection: the solver has no absorbing layer (pml_sides is empty or "
            "pml_width is 0), so there is nothing to measure: every boundary reflects; "
            "name the sides in 'pml_sides' and give 'pml_width'"
        )
    prop = solver.propagator(model, event, receivers)
    vmax = prop.vmax
    g = model.grid
    t_total = prop.nt * p.dt  # the steps run (more than nt with the correction)
    ext_x = int(math.ceil(vmax * t_total / 2 / g.dx)) + 4
    ext_z = int(math.ceil(vmax * t_total / 2 / g.dz)) + 4
    left = ext_x if "left" in p.pml_sides else 0
    right = ext_x if "right" in p.pml_sides else 0
    bottom = ext_z if "bottom" in p.pml_sides else 0
    top = ext_z if "top" in p.pml_sides else 0
    big = Grid(
        g.nx + left + right,
        g.nz + bottom + top,
        g.dx,
        g.dz,
        g.x0 - left * g.dx,
        g.z0 - bottom * g.dz,
    )
    values = {
        k: np.pad(np.asarray(v), ((left, right), (bottom, top)), mode="edge")
        for k, v in model.items()
    }
    # the reference records every channel, so that a recorded channel that is zero by
    # symmetry is negligible compared with the others even when it is all that is recorded
    channels = list(dict.fromkeys([*prop.record, *prop.raw_channels]))
    ref_solver = (
        solver if channels == list(prop.record) else with_parameters(solver, record=channels)
    )
    ref = {tr.id: tr for tr in ref_solver.forward(Model(big, values), event, receivers)}
    syn = solver.forward(model, event, receivers)
    # normalise by the incident amplitude at each receiver, over its channels as
    # particle velocities (a single component can be near zero by symmetry, e.g. VZ level
    # with the source), and leave out channels that are negligible everywhere
    factor = _velocity_factors(prop, event)
    peak: dict[str, float] = {}  # per channel
    incident: dict[str, float] = {}  # per receiver (trace id without the channel)
    for b in ref.values():
        ch, rec = b.stats.channel, b.id.rsplit(".", 1)[0]
        v = float(np.abs(b.data).max()) * factor.get(ch, 1.0)
        peak[ch] = max(peak.get(ch, 0.0), v)
        incident[rec] = max(incident.get(rec, 0.0), v)
    strongest = max(peak.values(), default=0.0)
    skipped = [ch for ch in prop.record if peak[ch] <= _NEGLIGIBLE * strongest]
    if len(skipped) == len(prop.record):
        raise ConfigError(
            "pml_reflection: the reference is zero (or negligible) at every receiver for "
            f"every recorded channel ({', '.join(skipped)}): nothing to measure reflections "
            "against; move the receivers (off the symmetry line of the source, or off a "
            "free surface) or record other channels"
        )
    per = {}
    worst = 0.0
    unreached: list[str] = []
    for a in syn:
        ch, rec = a.stats.channel, a.id.rsplit(".", 1)[0]
        if ch in skipped:
            continue
        scale = incident[rec]
        if scale <= _NEGLIGIBLE * strongest:  # nothing reaches this receiver
            if rec not in unreached:
                unreached.append(rec)
            continue
        diff = float(np.abs(a.data.astype(np.float64) - ref[a.id].data).max())
        r = diff * factor.get(ch, 1.0) / scale
        per[a.id] = r
        worst = max(worst, r)
    return PMLResult(worst, per, skipped, unreached)
