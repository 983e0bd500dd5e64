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

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seisgrad.errors import ConfigError
from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, Receiver
from seisgrad.solver.base import Solver

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
    """``lhs = <F x, y>``, ``rhs = <x, F^T y>`` and their relative mismatch."""

    lhs: float
    rhs: float
    nsteps: int

    @property
    def relative_error(self) -> float:
        scale = max(abs(self.lhs), abs(self.rhs), 1e-300)
        return abs(self.lhs - self.rhs) / scale


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

    ``F`` maps a random initial state ``x`` (every wavefield component and every C-PML
    memory variable) to the state after ``nsteps`` steps and the raw receiver records;
    ``F^T`` is the adjoint time loop (the one that computes gradients). With ``y`` random
    too, ``<F x, y>`` must equal ``<x, F^T y>`` to round-off: about ``1e-15`` relative in
    float64 (use ``precision: float64``); float32 gives about ``1e-6``.

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
    y1 = prop.random_state(rng)
    raw_adj = rng.standard_normal(raw.shape)
    for c, ch in enumerate(prop.raw_channels):
        if ch not in prop.raw_needed:
            raw_adj[c] = 0.0
    raw_adj[:, :, n1:] = 0.0
    lhs = prop.state_dot(x1, y1) + float(np.sum(raw * raw_adj))
    x0_adj = prop.propagate_adjoint(y1, raw_adj, n1, 0)
    rhs = prop.state_dot(x0, x0_adj)
    return DotProductResult(lhs, rhs, n1)


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


def _misfit(syn, obs) -> tuple[float, Any]:
    res = syn.copy()
    total = 0.0
    for tr, to in zip(res, obs):
        r = tr.data.astype(np.float64) - to.data.astype(np.float64)
        total += 0.5 * float(np.dot(r, r))
        tr.data = r
    return total, res


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

    The misfit is ``J(m) = 1/2 sum (d(m) - d_obs)^2`` over all samples of all traces, with
    ``d_obs`` the synthetics of ``model`` plus random noise (so the residual is of the
    size of the data). For ``h`` in ``hs`` it evaluates ``J(m +- h dm)`` and compares the
    central difference with ``<g, dm>`` from the adjoint gradient ``g``; the first-order
    remainder ``J(m + h dm) - J(m) - h <g, dm>`` must fall as ``h^2``. With an exact
    gradient in float64 the best relative error is ``1e-8`` or smaller.

    Parameters
    ----------
    solver
        Any solver.
    model
        Must hold the solver's ``kernel_parameters``.
    perturbation
        ``dm`` per kernel parameter (default: smooth random fields of
        ``relative_size`` times the mean of each parameter, zero where the parameter is
        zero, so that a fluid region of an elastic model stays fluid).
    hs
        Step lengths, decreasing.
    """
    names = solver.kernel_parameters
    missing = [n for n in names if n not in model]
    if missing:
        raise ConfigError(
            f"taylor_test: the model lacks {', '.join(missing)} (the solver's kernel "
            f"parameters are {', '.join(names)})"
        )
    rng = np.random.default_rng(seed)
    if perturbation is None:
        # zero where the parameter is zero: a fluid region (vs = 0, mu = 0) stays fluid
        perturbation = {
            n: relative_size
            * float(np.abs(model[n]).mean())
            * _smooth_random(model.grid.shape, rng)
            * (np.asarray(model[n]) != 0)
            for n in names
        }
    syn0 = solver.forward(model, event, receivers)
    obs = syn0.copy()
    for tr in obs:
        amp = float(np.abs(tr.data).max()) or 1.0
        tr.data = tr.data + 0.5 * amp * rng.standard_normal(tr.stats.npts).astype(tr.data.dtype)
    j0, residual = _misfit(syn0, obs)
    grad = solver.adjoint(model, event, receivers, residual)
    gdm = sum(float(np.sum(np.asarray(grad[n], np.float64) * perturbation[n])) for n in names)

    def shifted(h: float) -> Model:
        return model.with_values(
            **{n: np.asarray(model[n], np.float64) + h * perturbation[n] for n in names}
        )

    central, rem = [], []
    for h in hs:
        jp, _ = _misfit(solver.forward(shifted(h), event, receivers), obs)
        jm, _ = _misfit(solver.forward(shifted(-h), event, receivers), obs)
        central.append((jp - jm) / (2 * h))
        rem.append(abs(jp - j0 - h * gdm))
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
        Per trace id: ``||d - a|| / N`` over the window, with ``N`` the largest norm of
        the exact solution among the compared traces of the same channel.
    synthetics, analytic
        Per trace id: the windowed synthetic and exact traces.
    skipped
        Trace id -> reason, for the traces of a channel whose exact solution is zero at
        every compared receiver (``P`` and ``VX`` on a free surface): no relative error
        can be measured there. They are not in ``errors``.
    """

    errors: dict[str, float]
    synthetics: dict[str, np.ndarray] = field(repr=False)
    analytic: dict[str, np.ndarray] = field(repr=False)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values())


#: A channel is skipped when the largest norm of its exact solution (source and image)
#: is below this fraction of the largest norm of the direct wave alone (cancellation).
_NEGLIGIBLE = 1e-6


def compare_with_analytic(
    solver: Any,
    model: Model,
    event: Event,
    receivers: Sequence[Receiver],
    *,
    window_periods: float = 3.0,
) -> AnalyticResult:
    """Compare acoustic synthetics with :func:`acoustic_greens_function`.

    The model must be homogeneous (``vp``, ``rho``) and the event a single ``pressure``
    or ``explosion`` point source. Traces ``P``, ``VX`` and ``VZ`` are compared over the
    direct wave: from ``t = 0`` to ``window_periods / f0`` after the arrival of the
    wavelet's centre (``r / vp + t0``). With ``free_surface`` the exact solution includes
    the (negative) image of the source above the top edge of the model, and the window
    extends past the reflection.

    Each error is ``||d - a|| / N`` over that window, where ``N`` is the largest norm of
    the exact solution ``a`` among the compared traces of the same channel: a trace whose
    exact solution is zero or tiny by symmetry (``VZ`` level with the source) gets an
    error on the scale of the others instead of a division by (almost) zero; the error
    of a weak (distant) trace is relative to the strongest of its channel. A channel
    whose exact solution vanishes at every compared receiver (``P`` and ``VX`` on a free
    surface, where source and image cancel; below :data:`_NEGLIGIBLE` of the direct
    wave alone) is left out of ``errors`` and listed in ``skipped``.

    At 8 points per minimum wavelength and order 8 the error is about 0.1% at any ``dt``
    up to the CFL limit with ``correct_time_dispersion`` (the default). Without it the
    second-order time stepping dominates and grows with ``dt`` and distance: about 0.3%
    at 30% of the CFL limit, 1.5% at 50% and 5% at 90% for waves 3.5 wavelengths out.

    Raises
    ------
    ConfigError
        For a model that is not homogeneous, an event other than one pressure source, or
        when no trace has a non-zero exact solution to compare with.
    """
    vp = np.asarray(model["vp"], np.float64)
    rho = np.asarray(model["rho"], np.float64)
    if np.ptp(vp) > 1e-9 * vp.max() or np.ptp(rho) > 1e-9 * rho.max():
        raise ConfigError("compare_with_analytic needs a homogeneous model")
    if len(event.sources) != 1 or event.sources[0].kind not in ("pressure", "explosion"):
        raise ConfigError("compare_with_analytic needs one pressure (explosion) point source")
    src = event.sources[0]
    p = solver.params
    nt, dt = p.nt, p.dt
    stf = src.stf.sample(nt, dt) * src.amplitude
    f0 = src.stf.dominant_frequency(dt)
    if src.stf.is_silent() or not f0 > 0:
        raise ConfigError("compare_with_analytic: the source time function is zero everywhere")
    c, r0 = float(vp.flat[0]), float(rho.flat[0])
    st = solver.forward(model, event, receivers)
    # with a free surface on top, the exact solution adds a negative image source
    images = [(src.x, src.z, 1.0)]
    if getattr(p, "free_surface", False):
        z_top = model.grid.extent[3]
        images.append((src.x, 2.0 * z_top - src.z, -1.0))
    syn, ana, channel = {}, {}, {}
    norm: dict[str, float] = {}
    direct: dict[str, float] = {}
    for tr in st:
        x, z = tr.stats.coordinates.x, tr.stats.coordinates.z
        ch = tr.stats.channel
        if ch not in ("P", "VX", "VZ"):
            continue
        parts = []
        for xs, zs, sign in images:
            d_img = math.hypot(x - xs, z - zs)
            if ch == "P":
                parts.append(sign * acoustic_greens_function(d_img, c, r0, stf, dt, "P"))
            else:
                vr = acoustic_greens_function(d_img, c, r0, stf, dt, "VR")
                parts.append(sign * vr * ((x - xs) if ch == "VX" else (z - zs)) / d_img)
        dist = max(math.hypot(x - xs, z - zs) for xs, zs, _ in images)
        t_end = dist / c + src.stf.delay + window_periods / f0
        n_end = min(nt, int(t_end / dt) + 1)
        a = np.sum(parts, axis=0)[:n_end]
        syn[tr.id] = tr.data.astype(np.float64)[:n_end]
        ana[tr.id] = a
        channel[tr.id] = ch
        norm[ch] = max(norm.get(ch, 0.0), float(np.linalg.norm(a)))
        direct[ch] = max(direct.get(ch, 0.0), float(np.linalg.norm(parts[0][:n_end])))
    errors, skipped = {}, {}
    for tid, ch in channel.items():
        if norm[ch] <= _NEGLIGIBLE * direct[ch]:
            skipped[tid] = f"the exact {ch} is zero at every compared receiver"
            continue
        errors[tid] = float(np.linalg.norm(syn[tid] - ana[tid]) / norm[ch])
    if not errors:
        raise ConfigError(
            "compare_with_analytic: no trace to compare; the exact solution is zero at "
            f"every receiver for the recorded channels ({', '.join(sorted(norm)) or 'none'}"
            " of P, VX, VZ)"
        )
    return AnalyticResult(errors, syn, ana, skipped)


# ----------------------------------------------------------------------------- PML


@dataclass
class PMLResult:
    """Largest reflected amplitude relative to the largest incident amplitude.

    ``per_trace[id]`` is the largest difference on that trace divided by the largest
    reference amplitude among the traces of the same channel.
    """

    reflection: float
    per_trace: dict[str, float]


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
    layers reflected; it is compared with the largest amplitude of the reference trace.
    """
    p = solver.params
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
    ref = solver.forward(Model(big, values), event, receivers)
    syn = solver.forward(model, event, receivers)
    # normalise by the largest incident amplitude of each channel (a single trace can be
    # near zero by symmetry, e.g. VZ level with the source)
    peak: dict[str, float] = {}
    for b in ref:
        ch = b.stats.channel
        peak[ch] = max(peak.get(ch, 0.0), float(np.abs(b.data).max()))
    per = {}
    worst = 0.0
    for a, b in zip(syn, ref):
        inc = peak[b.stats.channel] or 1e-300
        r = float(np.abs(a.data.astype(np.float64) - b.data).max()) / inc
        per[a.id] = r
        worst = max(worst, r)
    return PMLResult(worst, per)
