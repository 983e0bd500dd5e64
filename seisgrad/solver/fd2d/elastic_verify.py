"""Proofs for the elastic (P-SV) mode of ``solver: fd2d``, as public functions.

* :func:`elastic_greens_function`: exact 2D (plane-strain) response of a homogeneous
  isotropic full space to a point force or a moment tensor.
* :func:`compare_elastic_with_analytic`: synthetics against it, with separate relative L2
  errors for the P and the S arrival of every trace.
* :func:`rayleigh_velocity` and :func:`lamb_test`: Lamb's problem (a vertical force on the
  free surface of a half space): arrival time of the Rayleigh wave and the sense of its
  particle motion (retrograde ellipse).

The generic checks (dot-product test of the time loop, Taylor test of the kernels, PML
reflections) are in :mod:`seisgrad.solver.fd2d.verify` and work for this mode too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seisgrad.errors import ConfigError
from seisgrad.model import Model
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction
from seisgrad.solver.fd2d.comparison import (
    MIN_SOURCE_DISTANCE,
    check_comparable_source,
    check_window,
    near_field,
    reflected,
    reflecting_sides,
)

__all__ = [
    "elastic_greens_function",
    "ElasticAnalyticResult",
    "compare_elastic_with_analytic",
    "rayleigh_velocity",
    "rayleigh_ellipticity",
    "LambResult",
    "lamb_test",
    "wavelet_centre",
]


def _displacement_spectrum(
    x: float, z: float, vp: float, vs: float, rho: float, w: np.ndarray,
    fx: float, fz: float,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Displacement spectra ``(Ux, Uz)`` per unit force spectrum at offset ``(x, z)``.

    ``u_i = [k_s^2 g_s delta_ij + d_i d_j (g_s - g_p)] F_j / (rho w^2)`` with the 2D
    Helmholtz Green's function ``g = -i H0^(2)(k r) / 4`` (``exp(+i w t)``).
    """
    from scipy.special import hankel2

    r = math.hypot(x, z)
    ex, ez = x / r, z / r
    ks = w / vs
    kp = w / vp

    def parts(k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kr = k * r
        h0 = hankel2(0, kr)
        h1 = hankel2(1, kr)
        g = -0.25j * h0
        g1 = 0.25j * k * h1  # dg/dr
        g2 = 0.25j * k * k * (h0 - h1 / kr)  # d2g/dr2
        return g, g1, g2

    gs, gs1, gs2 = parts(ks)
    _, gp1, gp2 = parts(kp)
    a = gs2 - gp2  # radial-radial part of d_i d_j (g_s - g_p)
    b = (gs1 - gp1) / r  # transverse part
    fr = fx * ex + fz * ez
    # d_i d_j h F_j = h'' e_i (e.F) + h'/r (F_i - e_i (e.F))
    ux = ks * ks * gs * fx + a * ex * fr + b * (fx - ex * fr)
    uz = ks * ks * gs * fz + a * ez * fr + b * (fz - ez * fr)
    scale = 1.0 / (rho * w * w)
    return ux * scale, uz * scale


def elastic_greens_function(
    x: float,
    z: float,
    vp: float,
    vs: float,
    rho: float,
    stf: np.ndarray,
    dt: float,
    source: PointSource,
    quantity: str = "V",
    pad: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact 2D plane-strain response of a homogeneous elastic full space.

    The medium obeys ``rho d_t v = div sigma + f`` (see
    :mod:`seisgrad.solver.fd2d.elastic`). For a ``force`` source
    ``f = (fx, fz) s(t) delta``; for a moment tensor (``moment_tensor``, ``explosion``,
    ``pressure``) the stress glut ``d_t sigma = ... - M s(t) delta`` (``s``: moment rate),
    whose displacement is ``u_i = -M_jk d_k G_ij * m`` (``m``: moment, ``dm/dt = s``).
    ``G`` is evaluated in the frequency domain from Hankel functions; the moment-tensor
    derivatives by central differences in space (relative step ``1e-4``).

    Parameters
    ----------
    x, z
        Receiver position relative to the source (m), not both zero.
    vp, vs, rho
        P and S velocities (m/s, ``vs > 0``) and density (kg/m^3).
    stf
        ``amplitude * s(n dt)``, starting at ``t = 0``.
    dt
        Sampling interval (s).
    source
        The point source (its ``kind``, ``fx``/``fz``, ``mxx``/``mzz``/``mxz`` or
        ``amplitude`` are used; its position and time function are not).
    quantity
        ``"V"`` particle velocity or ``"U"`` displacement. The displacement is the exact
        time integral of the velocity from ``t = 0`` (the source is at rest before):
        its zero-frequency part (the static offset of a moment source whose time
        function has a non-zero mean, the slow tail of a force's) is included.
    pad
        Zero-padding factor against wrap-around; ``None``: 8 for ``"V"``, 32 for
        ``"U"``. The slow tail of the 2D displacement (a force's decays as ``1/t``)
        wraps around as a drift that falls as ``1 / pad^2``: about 0.5% of a force's
        displacement at 8, 0.03% at 32.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        x and z components at ``n dt``.
    """
    r = math.hypot(x, z)
    if r <= 0:
        raise ConfigError("elastic_greens_function: the receiver sits on the source")
    if not (vs > 0 and vp > vs and rho > 0):
        raise ConfigError("elastic_greens_function needs vp > vs > 0 and rho > 0")
    if quantity not in ("V", "U"):
        raise ConfigError(
            f"elastic_greens_function: quantity must be 'V' or 'U', got {quantity!r}"
        )
    if pad is None:
        pad = 8 if quantity == "V" else 32
    if not pad >= 1:
        raise ConfigError(f"elastic_greens_function: pad must be >= 1, got {pad}")
    nt = len(stf)
    nfft = 1 << int(math.ceil(math.log2(pad * nt)))
    spec = np.fft.rfft(np.asarray(stf, np.float64), nfft)
    w = 2 * math.pi * np.fft.rfftfreq(nfft, dt)
    nz = w > 0
    wn = w[nz]
    # velocity spectra per component: V(w) = i w U(w)
    vel: list[np.ndarray] = []
    if source.kind == "force":
        # force time function s: U = G S, V = i w G S (-> 0 at w = 0: G ~ log w)
        gx, gz = _displacement_spectrum(x, z, vp, vs, rho, wn, source.fx, source.fz)
        for g in (gx, gz):
            v = np.zeros(w.size, complex)
            v[nz] = 1j * wn * g * spec[nz]
            vel.append(v)
    else:
        if source.kind == "moment_tensor":
            m = np.array([[source.mxx, source.mxz], [source.mxz, source.mzz]])
        else:
            m = source.amplitude * np.eye(2)
        h = 1e-4 * r
        tot_x = np.zeros(wn.size, complex)
        tot_z = np.zeros(wn.size, complex)
        for j in range(2):
            fj = (1.0, 0.0) if j == 0 else (0.0, 1.0)
            for k in range(2):
                if m[j, k] == 0.0:
                    continue
                d = (h, 0.0) if k == 0 else (0.0, h)
                px, pz = _displacement_spectrum(x + d[0], z + d[1], vp, vs, rho, wn, *fj)
                mx, mz = _displacement_spectrum(x - d[0], z - d[1], vp, vs, rho, wn, *fj)
                tot_x -= m[j, k] * (px - mx) / (2 * h)
                tot_z -= m[j, k] * (pz - mz) / (2 * h)
        for dg in (tot_x, tot_z):
            # moment m = integral of s: U = (d G) S / (i w), V = (d G) S
            v = np.zeros(w.size, complex)
            v[nz] = dg * spec[nz]
            # w -> 0: (d G)(0) S(0), finite and non-zero for a source with a non-zero
            # mean (a Gaussian); taken at the lowest computed frequency (``pad`` makes
            # it small)
            v[0] = dg[0] * spec[0]
            vel.append(v)
    out = []
    for v in vel:
        if quantity == "V":
            out.append(np.fft.irfft(v, nfft)[:nt])
            continue
        # displacement: the exact time integral of the velocity from t = 0,
        # u(t) = mean(v) t + I(t) - I(0) with I the periodic antiderivative of v - mean(v)
        # (I = irfft(V / (i w)) for w > 0). Leaving out the mean (the zero-frequency
        # term) and I(0) was 45-125% off for sources with a non-zero mean.
        anti = np.zeros(w.size, complex)
        anti[nz] = v[nz] / (1j * wn)
        i_t = np.fft.irfft(anti, nfft)[:nt]
        mean = float(v[0].real) / nfft
        out.append(i_t - i_t[0] + mean * dt * np.arange(nt))
    return out[0], out[1]
    return out[0], out[1]


#: A trace whose analytic peak is at most this fraction of the largest of its channel
#: is not compared (:func:`compare_elastic_with_analytic`).
NEGLIGIBLE_TRACE = 1e-3


@dataclass
class ElasticAnalyticResult:
    """Relative L2 errors of the P and S arrivals per trace id.

    ``p_errors[id]`` (``s_errors[id]``) is ``||d - a|| / N`` over a window of
    ``+- window_periods / f0`` around the P (S) arrival of the wavelet centre, with ``N``
    the norm of the exact wave (both components) at that receiver over the window. Windows
    where the analytic trace is negligible (below 5% of the trace's peak, e.g. the P
    wave of a component transverse to the ray) are left out, and so are whole traces
    whose analytic peak is below :data:`NEGLIGIBLE_TRACE` of the largest of their
    channel (a component that vanishes by symmetry at that receiver: nothing to
    compare), windows whose wave's centre arrives after the end of the record, traces
    of receivers closer than
    :data:`MIN_SOURCE_DISTANCE` cells to the source and windows that a P wave reflected
    by an edge without absorbing layer reaches: ``skipped[id]`` says why (a trace whose
    P window was compared and whose S window a reflection reached is in both
    ``p_errors`` and ``skipped``). An explosion has no S errors (it radiates no S
    wave).
    :func:`compare_elastic_with_analytic` refuses a comparison without a P window (and
    without an S window for a source that radiates S waves), so ``max_s_error`` is 0
    only for a source without S waves (an explosion).
    """

    p_errors: dict[str, float]
    s_errors: dict[str, float]
    synthetics: dict[str, np.ndarray] = field(repr=False)
    analytic: dict[str, np.ndarray] = field(repr=False)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def max_p_error(self) -> float:
        return max(self.p_errors.values(), default=0.0)

    @property
    def max_s_error(self) -> float:
        return max(self.s_errors.values(), default=0.0)

    @property
    def max_error(self) -> float:
        return max(self.max_p_error, self.max_s_error)


#: Channels compared per ``quantity`` of :func:`compare_elastic_with_analytic`.
_COMPONENTS = {"V": ("VX", "VZ"), "U": ("UX", "UZ")}


def wavelet_centre(stf: SourceTimeFunction, nt: int, dt: float) -> float:
    """Time of the centre of a source time function as it is sampled from ``t = 0``.

    The centroid ``sum t s(t)^2 / sum s(t)^2`` of the samples at ``n dt`` from ``n = 0``
    over the whole wavelet (also past ``nt``, so that a record shorter than the wavelet
    does not pull the centre in): the actual timing of the samples for ``array`` (whose
    ``t0`` and ``f0`` are not used); ``t0`` for the analytic wavelets (symmetric or
    antisymmetric about it), or later when ``t0 < 3 / f0`` cuts part of it off at
    ``t = 0``.

    Parameters
    ----------
    stf
        The source time function.
    nt, dt
        Number of time steps and time step (s) of the simulation.

    Returns
    -------
    float
        The centre (s).

    Raises
    ------
    ConfigError
        When the samples are all zero.
    """
    if stf.kind == "array":
        n = max(nt, len(stf.values or ()))
    elif stf.delay >= 3.0 / stf.f0:
        return float(stf.delay)  # no energy before t = 0 (below exp(-88))
    else:
        n = max(nt, int(math.ceil((stf.delay + 3.0 / stf.f0) / dt)) + 1)
    s = stf.sample(n, dt)
    energy = s * s
    total = float(energy.sum())
    if not total > 0:
        raise ConfigError(
            f"the source time function ('{stf.kind}') is zero at every sample: it has no centre"
        )
    return float(dt * np.dot(np.arange(n), energy) / total)


def _homogeneous_medium(
    solver: Any, model: Model, event: Event, receivers: Sequence[Receiver], who: str
) -> tuple[Any, float, float, float]:
    """The simulation's propagator and its ``(vp, vs, rho)``, from the material
    parameters it actually uses (any parametrization of the model).

    Raises
    ------
    ConfigError
        For a solver other than the elastic ``fd2d``, a model that is not homogeneous,
        or a fluid (``vs = 0``).
    """
    if getattr(getattr(solver, "params", None), "materials", None) != "elastic":
        raise ConfigError(f"{who} needs the elastic fd2d solver (materials: elastic)")
    prop = solver.propagator(model, event, receivers)
    values = []
    for name in ("vp", "vs", "rho"):
        a = np.asarray(prop.internal[name], np.float64)
        if np.ptp(a) > 1e-9 * np.abs(a).max():
            raise ConfigError(
                f"{who} needs a homogeneous model; {name} (as the simulation uses it) "
                f"ranges from {a.min():.6g} to {a.max():.6g}"
            )
        values.append(float(a.flat[0]))
    vp, vs, rho = values
    if not vs > 0:
        raise ConfigError(f"{who} needs a solid (vs > 0); the model has vs = {vs:.6g} m/s")
    return prop, vp, vs, rho


def _radiates_s(source: PointSource) -> bool:
    """Whether a point source radiates S waves (a force, or a moment tensor with a
    deviatoric part)."""
    if source.kind == "force":
        return source.fx != 0.0 or source.fz != 0.0
    if source.kind == "moment_tensor":
        return source.mxx != source.mzz or source.mxz != 0.0
    return False


def compare_elastic_with_analytic(
    solver: Any,
    model: Model,
    event: Event,
    receivers: Sequence[Receiver],
    *,
    window_periods: float = 1.5,
    quantity: str = "V",
) -> ElasticAnalyticResult:
    """Compare elastic synthetics with :func:`elastic_greens_function`.

    The model must be homogeneous (in any parametrization the solver accepts: the
    ``vp``, ``vs``, ``rho`` the simulation derives from it are used; ``vs > 0``) and the
    event a single point source; the solver must record ``VX`` and/or ``VZ``
    (``quantity="V"``) or ``UX`` and/or ``UZ`` (``"U"``). Receivers must be far enough
    from the boundaries that no reflection arrives within the S window.

    The P and S errors are taken over windows of ``+- window_periods / f0`` around each
    arrival of the wavelet's centre (the centroid of ``s(t)^2`` of the wavelet sampled
    from ``t = 0``: the actual timing of the samples, also for an ``array`` time
    function, whose ``t0`` and ``f0`` are not used; ``f0``: the time function's
    :meth:`~seisgrad.solver.acquisition.SourceTimeFunction.dominant_frequency`); they
    measure the two waves apart only when the arrivals are further apart than that
    (``r (1/vs - 1/vp) > 2 window_periods / f0``); closer to the source the two windows
    overlap and the two errors are nearly the same.

    Raises
    ------
    ConfigError
        For an unknown ``quantity``, a ``window_periods`` that is not a number > 0, a
        solver with a free surface (no image solution here: see :func:`lamb_test`), a
        model that is not homogeneous or fluid, an event other than one point source, a
        source of zero amplitude or whose time function is zero or does not start at
        rest (more than :data:`~seisgrad.solver.acquisition.QUIET_START` of its peak at
        ``t = 0``), a solver that
        records none of the channels of ``quantity``, and a comparison without any P
        window (or without any S window for a source that radiates S waves: a force or
        a moment tensor with a deviatoric part), e.g. when the arrivals come after the
        end of the record: nothing compared is never reported as no error.
    """
    who = "compare_elastic_with_analytic"
    check_window(window_periods, who)
    if quantity not in _COMPONENTS:
        raise ConfigError(f"{who}: quantity must be 'V' or 'U', got {quantity!r}")
    if len(event.sources) != 1:
        raise ConfigError(f"{who} needs an event with one point source")
    src = event.sources[0]
    comps = _COMPONENTS[quantity]
    if getattr(solver.params, "free_surface", False):
        raise ConfigError(
            f"{who} compares with the full-space solution, which has no free surface: set "
            "free_surface to false (for the free surface, lamb_test compares with Lamb's "
            "problem)"
        )
    prop, a_vp, a_vs, a_rho = _homogeneous_medium(solver, model, event, receivers, who)
    recorded = tuple(prop.record)
    if not set(comps) & set(recorded):
        other = "U" if quantity == "V" else "V"
        hint = f", or use quantity={other!r}" if set(_COMPONENTS[other]) & set(recorded) else ""
        raise ConfigError(
            f"{who}(quantity={quantity!r}) compares the channels {' or '.join(comps)}, but "
            f"the solver records {', '.join(recorded)}: add {', '.join(comps)} to its "
            f"'record' parameter{hint}"
        )
    p = solver.params
    nt, dt = p.nt, p.dt
    stf = src.stf.sample(nt, dt)
    f0 = src.stf.dominant_frequency(dt)
    check_comparable_source(src, stf, dt, who)
    centre = wavelet_centre(src.stf, nt, dt)
    st = solver.forward(model, event, receivers)
    reflecting = reflecting_sides(p, free_surface_modelled=False)
    perr: dict[str, float] = {}
    serr: dict[str, float] = {}
    syn: dict[str, np.ndarray] = {}
    ana: dict[str, np.ndarray] = {}
    cache: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}
    traces = []
    skipped: dict[str, str] = {}
    for tr in st:
        ch = tr.stats.channel
        if ch not in comps:
            continue
        why = near_field(model.grid, src, tr.stats.coordinates.x, tr.stats.coordinates.z)
        if why is not None:
            skipped[tr.id] = why
            continue
        x = tr.stats.coordinates.x - src.x
        z = tr.stats.coordinates.z - src.z
        if (x, z) not in cache:
            cache[(x, z)] = elastic_greens_function(
                x, z, a_vp, a_vs, a_rho, stf, dt, src, quantity
            )
        traces.append((tr, x, z, cache[(x, z)][0 if ch == comps[0] else 1]))
    largest: dict[str, float] = {}
    for tr, _, _, a in traces:
        ch = tr.stats.channel
        largest[ch] = max(largest.get(ch, 0.0), float(np.abs(a).max()))
    # per wave: windows after the end of the record, windows where the wave is negligible,
    # windows a reflection from an edge without absorbing layer reaches
    late = {"P": 0, "S": 0}
    weak = {"P": 0, "S": 0}
    bounced = {"P": 0, "S": 0}
    symmetric = 0
    waves = [("P", a_vp, perr)] + ([("S", a_vs, serr)] if _radiates_s(src) else [])
    for tr, x, z, a in traces:
        d = tr.data.astype(np.float64)
        dist = math.hypot(x, z)
        peak = float(np.abs(a).max())
        syn[tr.id] = d
        ana[tr.id] = a
        if not peak > NEGLIGIBLE_TRACE * largest[tr.stats.channel]:
            symmetric += 1
            skipped[tr.id] = (
                f"the exact {tr.stats.channel} here is {peak:.3g}, negligible against "
                f"the largest of the channel ({largest[tr.stats.channel]:.3g})"
            )
            continue
        for wave, speed, errs in waves:
            tc = dist / speed + centre
            n0 = max(0, int((tc - window_periods / f0) / dt))
            n1 = min(nt, int((tc + window_periods / f0) / dt) + 1)
            if tc > nt * dt:  # the wave's centre arrives after the end of the record
                late[wave] += 1
                skipped.setdefault(
                    tr.id,
                    f"{wave} window: the record ends ({nt * dt:.4g} s) before the wave's "
                    f"centre arrives ({tc:.4g} s)",
                )
                continue
            # the reflected P wave, the first to come back
            why = reflected(
                model.grid, reflecting, src, tr.stats.coordinates.x,
                tr.stats.coordinates.z, a_vp, centre, f0, n1 * dt,
            )  # fmt: skip
            if why is not None:
                bounced[wave] += 1
                skipped.setdefault(tr.id, f"{wave} window: {why}")
                continue
            aw = a[n0:n1]
            if float(np.abs(aw).max()) < 0.05 * peak:
                weak[wave] += 1
                continue
            # relative to the exact wave at this receiver (both components): a component
            # small by the radiation pattern (VX level with a near-vertical force, 1e-3 of
            # its channel) measured on its own norm read 25% for a right solver
            ax, az = cache[(x, z)]
            scale = math.sqrt(float(np.dot(ax[n0:n1], ax[n0:n1]) + np.dot(az[n0:n1], az[n0:n1])))
            errs[tr.id] = float(np.linalg.norm(d[n0:n1] - aw) / scale)
    for wave, errs, needed in (("P", perr, True), ("S", serr, _radiates_s(src))):
        if errs or not needed:
            continue
        total = sum(1 for tr in st if tr.stats.channel in comps)
        raise ConfigError(
            f"{who}: no {wave} arrival was compared, so the comparison would say nothing "
            f"about it. Of {total} trace(s) of {', '.join(comps)}: {total - len(traces)} "
            f"closer than {MIN_SOURCE_DISTANCE:g} cells to the source, {symmetric} "
            f"negligible by symmetry, {late[wave]} with the {wave} window "
            f"(centre at distance / {wave.lower()} velocity + {centre:.4g} s, "
            f"+- {window_periods / f0:.4g} s) after the end of the record "
            f"({nt} steps, {nt * dt:.4g} s), {weak[wave]} where the exact {wave} wave is "
            f"negligible, {bounced[wave]} reached by a reflection from an edge without "
            "absorbing layer; lengthen nt, add absorbing layers or move the receivers"
        )
    return ElasticAnalyticResult(perr, serr, syn, ana, skipped)


# ----------------------------------------------------------------------------- Lamb


def rayleigh_velocity(vp: float, vs: float) -> float:
    """Rayleigh-wave velocity of a homogeneous half space (root of the Rayleigh equation
    ``(2 - c^2/vs^2)^2 = 4 sqrt(1 - c^2/vp^2) sqrt(1 - c^2/vs^2)`` below ``vs``)."""
    from scipy.optimize import brentq

    if not (vs > 0 and vp > vs):
        raise ConfigError("rayleigh_velocity needs vp > vs > 0")

    def f(c: float) -> float:
        a = c * c / (vs * vs)
        return (2.0 - a) ** 2 - 4.0 * math.sqrt(1.0 - c * c / (vp * vp)) * math.sqrt(1.0 - a)

    return float(brentq(f, 1e-6 * vs, vs * (1.0 - 1e-12)))


@dataclass
class LambResult:
    """Outcome of :func:`lamb_test`.

    Attributes
    ----------
    expected_velocity
        Rayleigh velocity of the model (m/s).
    measured_velocity
        From the arrival-time move-out of the vertical-velocity envelope peak between
        the receivers (m/s).
    arrival_errors
        Per receiver: ``|t_measured - t_expected| / t_expected`` of the Rayleigh arrival
        (envelope peak of ``VZ`` minus the source delay, against ``distance / c_R``).
    retrograde
        Per receiver: whether the particle motion of the Rayleigh pulse is retrograde.
        For a wave travelling in +x (``z`` up) a retrograde ellipse turns
        counter-clockwise: the signed area ``1/2 sum (ux duz - uz dux)`` is positive.
    ellipticity
        Per receiver: RMS of ``uz`` over RMS of ``ux`` in the Rayleigh window (the two
        components are a Hilbert pair, so this is :func:`rayleigh_ellipticity`: about
        1.47 for a Poisson solid).
    skipped
        Receivers left out (station -> reason): those within
        :data:`LAMB_MIN_DISTANCE` Rayleigh wavelengths of the source. The lists above
        hold the other receivers, in the order of ``distances``.
    """

    expected_velocity: float
    measured_velocity: float
    arrival_errors: list[float]
    retrograde: list[bool]
    ellipticity: list[float]
    distances: list[float]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def velocity_error(self) -> float:
        return abs(self.measured_velocity - self.expected_velocity) / self.expected_velocity


def rayleigh_ellipticity(vp: float, vs: float) -> float:
    """``|uz / ux|`` of a Rayleigh wave on the surface of a homogeneous half space.

    With ``q = sqrt(1 - c^2/vp^2)``, ``s = sqrt(1 - c^2/vs^2)`` (``c``: Rayleigh
    velocity), the traction-free conditions give
    ``|uz / ux| = q (1 - s^2) / (1 + s^2 - 2 q s)`` (about 1.47 for a Poisson solid).
    """
    c = rayleigh_velocity(vp, vs)
    q = math.sqrt(1.0 - c * c / (vp * vp))
    s = math.sqrt(1.0 - c * c / (vs * vs))
    return q * (1.0 - s * s) / (1.0 + s * s - 2.0 * q * s)


#: Deepest source :func:`lamb_test` accepts, in Rayleigh wavelengths (``c_R / f0``): a
#: vertical force a third of a wavelength deep still gave arrivals within 1%; an
#: explosion half a wavelength deep measured a "Rayleigh" velocity of 2.4 ``vs``.
LAMB_MAX_DEPTH = 0.35

#: Nearest receiver :func:`lamb_test` judges, in Rayleigh wavelengths from the source:
#: closer, the P and S waves overlap the Rayleigh window (a vertical surface force,
#: arrival errors 3.5-5.5% at one wavelength, 1.0-2.0% at 1.4-2, 0.4-0.7% at 2.4 for
#: ``vp/vs`` 1.73 and 2.5; such receivers had pulled the move-out velocity 0.9% high).
LAMB_MIN_DISTANCE = 2.5


def lamb_test(
    solver: Any,
    model: Model,
    event: Event,
    receivers: Sequence[Receiver],
) -> LambResult:
    """Lamb's problem: Rayleigh arrival time and particle motion on the free surface.

    The solver must have ``free_surface: true`` and record ``VX`` and ``VZ`` (velocity)
    at receivers on (or near) the surface, on either side of the source; the model
    homogeneous (in any parametrization the solver accepts: the ``vp``, ``vs`` the
    simulation derives from it are used); the event one point source on or near the
    surface (classically a vertical ``force``). Arrival time: peak of the envelope of
    ``VZ`` in a window of ``+- 1.5 / f0`` around the expected Rayleigh arrival
    (``|x - x_source| / c_R`` plus the wavelet's centre: the centroid of ``s(t)^2`` of
    the wavelet sampled from ``t = 0``, the actual timing of the samples also for an
    ``array`` time function; ``f0``: the time function's dominant frequency).
    Particle motion: displacement ``(ux, uz)`` from the velocities over that window; a
    retrograde ellipse turns counter-clockwise in the ``(x, z-up)`` plane for a wave
    travelling in +x (signed area ``1/2 sum (ux duz - uz dux)`` positive) and clockwise
    for a wave travelling in -x. The measured velocity is the inverse slope of the arrival
    times against the distances (with two or more receivers).

    Valid where the Rayleigh wave dominates the surface records: the classical setup is
    a vertical force on the surface (measured: arrival and velocity within 1%, up to a
    source a third of a Rayleigh wavelength deep). Receivers closer to the source than
    :data:`LAMB_MIN_DISTANCE` Rayleigh wavelengths (``c_R / f0``) are left out and listed
    in ``skipped``: the P and S waves still overlap the Rayleigh window there (3.5-5.5%
    arrival errors at one wavelength). An explosion, a moment tensor or a
    horizontal force radiate P waves that reach the Rayleigh window of receivers closer
    than about five S wavelengths (ellipticity 0.7-1.3 against 1.47 at two S
    wavelengths); a horizontal force more than a cell deep excites little Rayleigh
    energy (arrival errors of 40%). Sources deeper than :data:`LAMB_MAX_DEPTH` Rayleigh
    wavelengths are refused: body waves dominate there (an explosion half a wavelength
    deep measured 2.4 ``vs``).

    Raises
    ------
    ConfigError
        Without ``free_surface``, ``VX`` and ``VZ`` recorded, or one point source; for a
        model that is not homogeneous or fluid, a source of zero strength or whose time
        function is zero or does not start at rest
        (:func:`~seisgrad.solver.fd2d.comparison.check_comparable_source`), a source
        deeper than :data:`LAMB_MAX_DEPTH` Rayleigh wavelengths, a receiver above the
        source, a Rayleigh window after the end of the record, or when every receiver
        is within :data:`LAMB_MIN_DISTANCE` Rayleigh wavelengths of the source.
    """
    from scipy.signal import hilbert

    who = "lamb_test"
    if not getattr(getattr(solver, "params", None), "free_surface", False):
        raise ConfigError("lamb_test needs free_surface: true")
    if len(event.sources) != 1:
        raise ConfigError("lamb_test needs an event with one point source")
    src = event.sources[0]
    prop, vp, vs, _ = _homogeneous_medium(solver, model, event, receivers, who)
    missing = [c for c in ("VX", "VZ") if c not in prop.record]
    if missing:
        raise ConfigError(
            f"lamb_test needs VX and VZ recorded; the solver records "
            f"{', '.join(prop.record)} (add {', '.join(missing)} to its 'record' parameter)"
        )
    cr = rayleigh_velocity(vp, vs)
    nt, dt = solver.params.nt, solver.params.dt
    f0 = src.stf.dominant_frequency(dt)
    check_comparable_source(src, src.stf.sample(nt, dt), dt, who)
    centre = wavelet_centre(src.stf, nt, dt)
    depth = float(model.grid.extent[3]) - src.z
    wavelength = cr / f0
    if depth > LAMB_MAX_DEPTH * wavelength:
        raise ConfigError(
            f"lamb_test: the source is {depth:.4g} m under the surface, "
            f"{depth / wavelength:.2g} Rayleigh wavelengths ({wavelength:.4g} m at "
            f"{f0:.4g} Hz): body waves, not the Rayleigh wave, dominate the surface records "
            f"there; place it within {LAMB_MAX_DEPTH:g} wavelengths of the surface "
            "(classically a vertical force on it)"
        )
    st = solver.forward(model, event, receivers)
    by_sta: dict[str, dict[str, np.ndarray]] = {}
    coords: dict[str, float] = {}
    for tr in st:
        by_sta.setdefault(tr.stats.station, {})[tr.stats.channel] = tr.data.astype(np.float64)
        coords[tr.stats.station] = float(tr.stats.coordinates.x)
    dists, times, errs, retro, ell = [], [], [], [], []
    skipped: dict[str, str] = {}
    for sta, chans in by_sta.items():
        if "VX" not in chans or "VZ" not in chans:
            raise ConfigError("lamb_test needs VX and VZ recorded")
        signed = coords[sta] - src.x
        dist = abs(signed)
        if dist <= 0:
            raise ConfigError(f"lamb_test: receiver {sta} is above the source (x = x_source)")
        if dist < LAMB_MIN_DISTANCE * wavelength:
            skipped[sta] = (
                f"{dist:.4g} m from the source, {dist / wavelength:.2g} Rayleigh "
                f"wavelengths: the body waves overlap the Rayleigh window within "
                f"{LAMB_MIN_DISTANCE:g}"
            )
            continue
        vx, vz = chans["VX"], chans["VZ"]
        t = dt * np.arange(vz.size)
        t_exp = dist / cr + centre
        win = (t > t_exp - 1.5 / f0) & (t < t_exp + 1.5 / f0)
        if not np.any(win):
            raise ConfigError(
                f"lamb_test: the Rayleigh window of receiver {sta} ({t_exp - 1.5 / f0:.4g} "
                f"to {t_exp + 1.5 / f0:.4g} s) is after the end of the record "
                f"({vz.size} samples, {vz.size * dt:.4g} s); lengthen nt"
            )
        env = np.abs(hilbert(vz))
        k = int(np.argmax(np.where(win, env, 0.0)))
        # parabolic refinement of the envelope peak
        if 0 < k < env.size - 1:
            y0, y1, y2 = env[k - 1], env[k], env[k + 1]
            den = y0 - 2 * y1 + y2
            frac = 0.5 * (y0 - y2) / den if den != 0 else 0.0
        else:
            frac = 0.0
        t_peak = (k + frac) * dt
        dists.append(dist)
        times.append(t_peak)
        errs.append(abs(t_peak - t_exp) / (dist / cr))
        ux = np.cumsum(vx) * dt
        uz = np.cumsum(vz) * dt
        ux, uz = ux[win], uz[win]
        area = 0.5 * float(np.sum(ux[:-1] * np.diff(uz) - uz[:-1] * np.diff(ux)))
        retro.append(area > 0 if signed > 0 else area < 0)
        ell.append(
            float(np.linalg.norm(uz - uz.mean()) / (np.linalg.norm(ux - ux.mean()) or 1e-300))
        )
    if not dists:
        raise ConfigError(
            f"lamb_test: every receiver is within {LAMB_MIN_DISTANCE:g} Rayleigh "
            f"wavelengths ({LAMB_MIN_DISTANCE * wavelength:.4g} m at {f0:.4g} Hz) of the "
            "source, where the body waves overlap the Rayleigh window; place receivers "
            "farther out"
        )
    if len(set(dists)) >= 2:
        slope = np.polyfit(dists, times, 1)[0]
        measured = 1.0 / slope
    else:
        measured = dists[0] / (times[0] - centre)
    return LambResult(cr, float(measured), errs, retro, ell, dists, skipped)
