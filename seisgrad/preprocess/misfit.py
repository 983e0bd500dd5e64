"""Misfit functions that return the misfit value and its adjoint source together.

A misfit is a class whose ``__call__(synthetic, observed, dt)`` returns a
:class:`MisfitValue`: the value :math:`\\chi` of one measurement (one trace, or one
window or weighting of a trace) and the exact derivative
:math:`f_n = \\partial\\chi/\\partial s_n` with respect to each synthetic *sample*. The
two are computed by the same code from the same numbers, so they cannot be configured
apart. Everything is float64.

Adding a misfit means writing one subclass of :class:`Misfit` with a class attribute
``name``; it registers itself (see :data:`MISFITS`, :func:`get_misfit`)::

    class L1Smooth(Misfit):
        name = "l1_smooth"
        def __call__(self, synthetic, observed, dt):
            r = synthetic - observed
            a = np.sqrt(r * r + 1e-12)
            return MisfitValue(float(np.sum(a) * dt), r / a * dt)

Notation below: :math:`s_n`, :math:`d_n` synthetic and observed samples
(:math:`n = 0 \\dots N-1`), :math:`\\Delta t` the time step, :math:`\\mathcal H` the
discrete (FFT) Hilbert transform, :math:`\\langle a, b\\rangle = \\sum_n a_n b_n`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from seisgrad.config import closest
from seisgrad.errors import ConfigError, DataError

__all__ = [
    "MisfitValue",
    "Misfit",
    "MISFITS",
    "misfit_names",
    "get_misfit",
    "misfit_class",
    "check_inputs",
    "hilbert",
    "hilbert_transpose",
    "Waveform",
    "Traveltime",
    "Amplitude",
    "Envelope",
    "InstantaneousPhase",
    "ExponentiatedPhase",
    "Correlation",
]


@dataclass
class MisfitValue:
    """Result of one measurement.

    Attributes
    ----------
    value
        Misfit :math:`\\chi` (float64).
    adjoint
        :math:`\\partial\\chi/\\partial s_n` for every synthetic sample (float64).
    info
        Measured quantities (e.g. ``{"shift": T}`` for the traveltime misfit).
    """

    value: float
    adjoint: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


#: Registry of misfit classes by name (filled by :meth:`Misfit.__init_subclass__`).
MISFITS: dict[str, type[Misfit]] = {}


class Misfit(ABC):
    """Base class of misfit functions.

    Subclasses set ``name`` (registry key) and implement :meth:`__call__`. Every
    subclass's ``__call__`` is wrapped so that its inputs are checked before it runs
    (:func:`check_inputs`): two 1-D real arrays of equal length with at least 2 samples,
    all finite (converted to float64), and a finite time step ``dt > 0``; anything else
    is a :class:`~seisgrad.errors.DataError` naming the misfit and what is wrong.
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "_checks_inputs", False):
            cls.__call__ = _checking_inputs(call)  # type: ignore[method-assign]
        name = cls.__dict__.get("name", "")
        if name:
            if name in MISFITS and MISFITS[name] is not cls:
                raise ConfigError(f"misfit name '{name}' is registered twice")
            MISFITS[name] = cls

    @abstractmethod
    def __call__(self, synthetic: np.ndarray, observed: np.ndarray, dt: float) -> MisfitValue:
        """Measure ``synthetic`` against ``observed`` (1-D float64 arrays, same length)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def check_inputs(
    misfit: str, synthetic: Any, observed: Any, dt: Any
) -> tuple[np.ndarray, np.ndarray, float]:
    """Check and convert the inputs of a misfit (see :class:`Misfit`).

    Returns
    -------
    tuple
        ``(synthetic, observed, dt)`` as float64 arrays and a float.

    Raises
    ------
    DataError
        Naming the misfit and the input at fault.
    """
    where = f"misfit '{misfit}'"
    if (
        isinstance(dt, (bool, np.bool_))
        or not isinstance(dt, (int, float, np.integer, np.floating))
        or not (math.isfinite(float(dt)) and float(dt) > 0)
    ):
        raise DataError(f"{where}: the time step dt must be a finite number > 0, got {dt!r}")
    arrays = []
    for label, x in (("synthetic", synthetic), ("observed", observed)):
        if np.iscomplexobj(x):
            raise DataError(f"{where}: the {label} trace must be real, got complex samples")
        try:
            a = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{where}: the {label} trace is not numeric ({exc})") from exc
        arrays.append(a)
    s, d = arrays
    if s.ndim != 1 or s.shape != d.shape:
        raise DataError(
            f"{where} needs two 1-D traces of equal length, got shapes {s.shape} and {d.shape}"
        )
    if s.size < 2:
        raise DataError(f"{where} needs at least 2 samples, got {s.size}")
    for label, a in (("synthetic", s), ("observed", d)):
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise DataError(
                f"{where}: the {label} trace holds {bad.size} non-finite samples "
                f"({a[bad[0]]} at sample {bad[0]})"
            )
    return s, d, float(dt)


def _checking_inputs(call: Any) -> Any:
    """Wrap a misfit's ``__call__`` with :func:`check_inputs`."""

    @functools.wraps(call)
    def checked(self: Misfit, synthetic: Any, observed: Any, dt: Any) -> MisfitValue:
        name = self.name or type(self).__name__
        s, d, step = check_inputs(name, synthetic, observed, dt)
        out = call(self, s, d, step)
        if isinstance(out, MisfitValue) and not (
            math.isfinite(out.value) and np.all(np.isfinite(out.adjoint))
        ):
            big = max(float(np.max(np.abs(s))), float(np.max(np.abs(d))))
            raise DataError(
                f"misfit '{name}': the value or the adjoint source is not finite (samples "
                f"up to {big:g} in magnitude overflow float64 here); rescale the traces"
            )
        return out

    checked._checks_inputs = True  # type: ignore[attr-defined]
    return checked


def misfit_names() -> tuple[str, ...]:
    """Names of all registered misfits."""
    return tuple(MISFITS)


def misfit_class(name: str) -> type[Misfit]:
    """The misfit class registered as ``name``, or named ``"package.module:ClassName"``
    (imported, which also registers it).

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the valid names) or a class that is not
        a :class:`Misfit`.
    """
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (Exception, SystemExit) as exc:  # user code: a syntax error, sys.exit, ...
            raise ConfigError(
                f"misfit '{name}' cannot be imported: {type(exc).__name__}: {exc}"
            ) from exc
        if not (isinstance(obj, type) and issubclass(obj, Misfit)):
            raise ConfigError(f"misfit '{name}' is not a subclass of seisgrad Misfit")
        return obj
    if name not in MISFITS:
        near = closest(str(name), list(MISFITS))
        hint = f" (did you mean '{near}'?)" if near else ""
        raise ConfigError(
            f"unknown misfit '{name}'{hint}; valid misfits: "
            + ", ".join(sorted(MISFITS))
            + " (or 'package.module:ClassName')"
        )
    return MISFITS[name]


def get_misfit(name: str | Misfit | type[Misfit], **options: Any) -> Misfit:
    """Return a misfit instance by registry name or ``"package.module:ClassName"`` (an
    instance is passed through, a class is instantiated).

    Raises
    ------
    ConfigError
        For an unknown name; the message lists the valid names.
    """
    if isinstance(name, Misfit):
        if options:
            raise ConfigError("misfit options can only be given with a misfit name")
        return name
    cls = name if isinstance(name, type) and issubclass(name, Misfit) else None
    if cls is None:
        cls = misfit_class(str(name))
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise ConfigError(
            f"misfit '{cls.name or cls.__name__}' is abstract: it does not define {missing}"
        )
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(
            f"misfit '{cls.name or cls.__name__}': invalid options {sorted(options)}: {exc}"
        ) from exc


def _as_pair(synthetic: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(synthetic, dtype=np.float64)
    d = np.asarray(observed, dtype=np.float64)
    if s.ndim != 1 or s.shape != d.shape:
        raise DataError(
            f"a misfit needs two 1-D traces of equal length, got shapes {s.shape} and {d.shape}"
        )
    if s.size < 2:
        raise DataError(f"a misfit needs at least 2 samples, got {s.size}")
    return s, d


def _norm(x: np.ndarray) -> float:
    """L2 norm without overflow or underflow (samples of 1e160 or 1e-170)."""
    peak = float(np.max(np.abs(x)))
    return peak * float(np.linalg.norm(x / peak)) if peak > 0 else 0.0


def _skip(n: int, reason: str) -> MisfitValue:
    """A measurement that is not defined (an all-zero trace): value 0, no adjoint."""
    return MisfitValue(0.0, np.zeros(n), {"skipped": reason})


# --------------------------------------------------------------------------------------
# Hilbert transform
# --------------------------------------------------------------------------------------


def hilbert(x: np.ndarray) -> np.ndarray:
    """Discrete Hilbert transform :math:`\\mathcal H x` along the last axis.

    The imaginary part of the FFT analytic signal (as :func:`scipy.signal.hilbert`):
    multiply the spectrum by :math:`-i\\,\\mathrm{sign}(k)` (zero at ``k = 0`` and at
    Nyquist). Its kernel is real and odd, so :math:`\\mathcal H^T = -\\mathcal H`.
    """
    import scipy.fft as sfft  # lazily: saves start-up time of every process and rank

    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    spec = sfft.rfft(x, axis=-1)
    mult = np.full(spec.shape[-1], -1j)
    mult[0] = 0.0
    if n % 2 == 0:
        mult[-1] = 0.0
    return sfft.irfft(spec * mult, n=n, axis=-1)


def hilbert_transpose(y: np.ndarray) -> np.ndarray:
    """Transpose of :func:`hilbert`: :math:`\\mathcal H^T y = -\\mathcal H y`."""
    return -hilbert(y)


# --------------------------------------------------------------------------------------
# Misfits
# --------------------------------------------------------------------------------------


class Waveform(Misfit):
    """L2 waveform difference.

    .. math:: \\chi = \\tfrac12 \\sum_n (s_n - d_n)^2 \\Delta t, \\qquad
              f_n = (s_n - d_n)\\,\\Delta t.
    """

    name = "waveform"

    def __call__(self, synthetic: np.ndarray, observed: np.ndarray, dt: float) -> MisfitValue:
        s, d = _as_pair(synthetic, observed)
        r = s - d
        return MisfitValue(0.5 * float(np.dot(r, r)) * dt, r * dt)


def _odd_fast_len(n: int) -> int:
    import scipy.fft as sfft

    m = sfft.next_fast_len(n)
    while m % 2 == 0:
        m = sfft.next_fast_len(m + 1)
    return m


class Traveltime(Misfit):
    """Cross-correlation traveltime difference.

    The shift :math:`T` maximizes the cross-correlation of the band-limited
    (trigonometric, zero-padded) interpolants,

    .. math:: C(\\tau) = \\sum_n d_n\\, \\tilde s(t_n - \\tau), \\qquad
              T = \\arg\\max_\\tau C(\\tau), \\qquad \\chi = \\tfrac12 T^2,

    found as the discrete maximum refined to machine precision by root finding on
    :math:`C'(\\tau) = 0` (where no interior maximum lies within four samples of the
    discrete one, :math:`T` is the discrete lag and its derivative is zero). Only lags at
    which the non-zero parts of the two traces overlap, and with ``max_shift`` only
    :math:`|\\tau| \\le` ``max_shift``, are searched; a maximum beyond ``max_shift``
    gives :math:`T = \\pm` ``max_shift`` (derivative zero). When no searched lag
    correlates positively (opposite polarity, or nothing to align), the shift is not
    defined and the measurement is skipped (value 0, adjoint 0, ``info["skipped"]``,
    logged as a warning by the pipeline). :math:`T > 0` when the observed arrival is later than the
    synthetic one (:math:`d(t) = s(t - T)` gives exactly :math:`T`). The adjoint source is
    the exact derivative of this :math:`T` (implicit function theorem on
    :math:`C'(T) = 0`):

    .. math:: \\frac{\\partial T}{\\partial s_n} = -\\frac{\\tilde d'(t_n + T)}{C''(T)},
              \\qquad f_n = T\\,\\frac{\\partial T}{\\partial s_n},

    which for :math:`d(t) = s(t - T)` is Tromp et al. (2005)'s
    :math:`f = T\\,\\dot s / \\sum_n \\dot s_n^2` (in samples, no :math:`\\Delta t`).

    Parameters
    ----------
    max_shift
        Largest shift searched, in seconds (``None``: any shift shorter than the trace).
    """

    name = "traveltime"

    def __init__(self, max_shift: float | None = None) -> None:
        if max_shift is not None and not max_shift > 0:
            raise ConfigError(f"traveltime max_shift must be > 0 s, got {max_shift}")
        self.max_shift = max_shift

    def __repr__(self) -> str:
        return f"Traveltime(max_shift={self.max_shift})"

    def __call__(self, synthetic: np.ndarray, observed: np.ndarray, dt: float) -> MisfitValue:
        s, d = _as_pair(synthetic, observed)
        if not np.any(s) or not np.any(d):
            return _skip(s.size, "all-zero trace")
        # T does not change when s or d is scaled: measure unit-peak traces (no overflow
        # or underflow at any amplitude); dT/ds = (dT/ds~) / peak
        ps, pd = float(np.max(np.abs(s))), float(np.max(np.abs(d)))
        found = self._measure(s / ps, d / pd, dt)
        if isinstance(found, str):
            return _skip(s.size, found)
        shift, grad = found
        return MisfitValue(0.5 * shift * shift, shift * grad / ps, {"shift": shift})

    def measure(self, s: np.ndarray, d: np.ndarray, dt: float) -> tuple[float, np.ndarray]:
        """Return the shift :math:`T` (s) and :math:`\\partial T/\\partial s_n`.

        Raises
        ------
        DataError
            When the shift is not defined: an all-zero trace, or no searched lag with a
            positive correlation (see the class description).
        """
        s, d, dt = check_inputs(self.name, s, d, dt)
        if not np.any(s) or not np.any(d):
            raise DataError("traveltime shift of an all-zero trace is not defined")
        ps, pd = float(np.max(np.abs(s))), float(np.max(np.abs(d)))
        found = self._measure(s / ps, d / pd, dt)
        if isinstance(found, str):
            raise DataError(f"traveltime shift not defined: {found}")
        return found[0], found[1] / ps

    #: Smallest accepted correlation, relative to ``||s|| ||d||``: below it the discrete
    #: correlation is FFT round-off, not a measurement.
    MIN_CORRELATION = 1e-8

    def _measure(self, s: np.ndarray, d: np.ndarray, dt: float) -> tuple[float, np.ndarray] | str:
        """The shift and its derivative, or why the shift is not defined."""
        import scipy.fft as sfft
        from scipy.optimize import brentq

        n = s.size
        m = _odd_fast_len(2 * n + 1)
        spec_d = sfft.rfft(d, m)
        spec_s = sfft.rfft(s, m)
        prod = spec_d * np.conj(spec_s)
        omega = 2.0 * math.pi * np.arange(prod.size) / (m * dt)
        # discrete correlation c[L] = sum_n d[n] s[n - L], L = -(n-1) .. n-1
        corr = sfft.irfft(prod, m)
        lags = np.arange(-(n - 1), n)
        values = corr[lags % m]
        # only lags at which the non-zero parts overlap: elsewhere c[L] is exactly zero
        # and the FFT gives round-off of either sign
        nz_s, nz_d = np.flatnonzero(s), np.flatnonzero(d)
        keep = (lags >= nz_d[0] - nz_s[-1]) & (lags <= nz_d[-1] - nz_s[0])
        within = ""
        if self.max_shift is not None:
            keep &= np.abs(lags) * dt <= self.max_shift * (1.0 + 1e-12)
            within = f" within max_shift {self.max_shift:g} s"
        if not np.any(keep):
            return f"the non-zero parts of the traces do not overlap at any shift{within}"
        lags, values = lags[keep], values[keep]
        best = int(np.argmax(values))
        floor = self.MIN_CORRELATION * float(np.linalg.norm(s) * np.linalg.norm(d))
        if not values[best] > floor:
            return (
                f"no positive cross-correlation at any shift{within} where the traces "
                "overlap (opposite polarity?)"
            )
        k0 = int(lags[best])

        def dc(tau: float) -> float:  # C'(tau)
            ph = np.exp(1j * omega * tau)
            return float(2.0 / m * np.real(np.sum(1j * omega * prod * ph)))

        def ddc(tau: float) -> float:  # C''(tau)
            ph = np.exp(1j * omega * tau)
            return float(-2.0 / m * np.real(np.sum(omega * omega * prod * ph)))

        tau0 = k0 * dt
        if self.max_shift is not None and abs(tau0) > self.max_shift:  # round-off only
            tau0 = math.copysign(self.max_shift, tau0)
        tau = None
        for width in (1.0, 2.0, 4.0):
            a, b = tau0 - width * dt, tau0 + width * dt
            if dc(a) > 0.0 > dc(b):
                tau = brentq(dc, a, b, xtol=1e-14 * dt, rtol=4.0 * np.finfo(float).eps)
                break
        if tau is None:
            # no interior maximum near the best lag (e.g. at the edge of the searched
            # range): the shift is that lag, piecewise constant, with zero derivative
            return float(tau0), np.zeros(n)
        # Newton polish: C'(T) = 0 to round-off, so the implicit derivative is exact
        for _ in range(3):
            h2 = ddc(tau)
            if h2 >= 0.0:
                break
            step = dc(tau) / h2
            if not abs(step) < dt:
                break
            tau -= step
        curv = ddc(tau)
        if not curv < 0.0:  # converged on a minimum between two maxima: as above
            return float(tau0), np.zeros(n)
        if self.max_shift is not None and abs(tau) > self.max_shift:
            # the maximum lies beyond the bound: the largest correlation within it is at
            # the bound, which stays there under small changes of s
            return math.copysign(self.max_shift, tau), np.zeros(n)
        spec = 1j * omega * spec_d * np.exp(1j * omega * tau)
        dprime = sfft.irfft(spec, m)[:n]  # d~'(t_n + T)
        return float(tau), -dprime / curv


class Amplitude(Misfit):
    """Logarithmic amplitude (energy) ratio.

    .. math:: \\Delta\\ln A = \\tfrac12 \\ln\\frac{\\langle s, s\\rangle}{\\langle d, d\\rangle},
              \\qquad \\chi = \\tfrac12 (\\Delta\\ln A)^2, \\qquad
              f_n = \\Delta\\ln A\\, \\frac{s_n}{\\langle s, s\\rangle}.
    """

    name = "amplitude"

    def __call__(self, synthetic: np.ndarray, observed: np.ndarray, dt: float) -> MisfitValue:
        s, d = _as_pair(synthetic, observed)
        if not np.any(s) or not np.any(d):
            return _skip(s.size, "all-zero trace")
        # norms without overflow or underflow (<s, s> of 1e160 samples is inf)
        ns, nd = _norm(s), _norm(d)
        dlna = math.log(ns) - math.log(nd)
        return MisfitValue(0.5 * dlna * dlna, dlna * (s / ns) / ns, {"dlnA": dlna})


class Envelope(Misfit):
    """Envelope difference (Bozdag et al. 2011).

    .. math:: E_s = \\sqrt{s^2 + (\\mathcal H s)^2}, \\quad
              \\chi = \\tfrac12 \\sum_n (E_{s,n} - E_{d,n})^2 \\Delta t,

    .. math:: f = r\\,\\frac{s}{E_s} + \\mathcal H^T\\!\\Big(r\\,\\frac{\\mathcal H s}{E_s}\\Big),
              \\quad r = (E_s - E_d)\\,\\Delta t

    (the ratios are taken as 0 where :math:`E_s = 0`).
    """

    name = "envelope"

    def __call__(self, synthetic: np.ndarray, observed: np.ndarray, dt: float) -> MisfitValue:
        s, d = _as_pair(synthetic, observed)
        hs, hd = hilbert(s), hilbert(d)
        es = np.hypot(s, hs)
        ed = np.hypot(d, hd)
        r = (es - ed) * dt
        safe = np.where(es > 0.0, es, 1.0)
        a = np.where(es > 0.0, r / safe, 0.0)
        adj = a * s + hilbert_transpose(a * hs)
        return MisfitValue(0.5 * float(np.dot(es - ed, es - ed)) * dt, adj)


class InstantaneousPhase(Misfit):
    """Instantaneous phase difference (Bozdag et al. 2011), weighted by the envelopes.

    With analytic signals :math:`a_s = s + i\\mathcal H s`, :math:`a_d = d + i\\mathcal H d`,
    the phase difference (wrapped to :math:`(-\\pi, \\pi]`) is

    .. math:: \\Delta\\phi = \\operatorname{atan2}(v, u), \\quad
              u = s\\,d + \\mathcal H s\\,\\mathcal H d, \\quad
              v = \\mathcal H s\\, d - s\\,\\mathcal H d.

    The phase is undefined where an envelope vanishes, and meaningless where it is
    round-off (Hilbert tails outside windows, muted or padded samples): there
    :math:`\\Delta\\phi` jumps between 0 and :math:`\\pm\\pi`. Each sample is therefore
    weighted by a smooth factor of the squared envelopes
    :math:`P_s = s^2 + (\\mathcal H s)^2`, :math:`P_d = d^2 + (\\mathcal H d)^2`,

    .. math:: \\rho_n = \\frac{P_{s,n}}{P_{s,n} + \\epsilon_s}\\,
              \\frac{P_{d,n}}{P_{d,n} + \\epsilon_d}\\,[d_n \\ne 0], \\qquad
              \\epsilon_s = \\lambda\\,\\overline{P_s}, \\quad
              \\epsilon_d = \\lambda\\,\\overline{P_d},

    (:math:`\\lambda` the ``water_level``, :math:`\\overline{P}` the mean over the trace),
    which goes to zero with either envelope; samples where the observed trace is exactly
    zero (outside windows and weights, muted, padded) do not contribute. Then

    .. math:: \\chi = \\tfrac12 \\sum_n \\rho_n\\,\\Delta\\phi_n^2\\,\\Delta t,

    continuous in :math:`s`, and its exact derivative is

    .. math:: f = r A + 2 k\\,s + \\mathcal H^T(r B + 2 k\\,\\mathcal H s), \\quad
              r = \\rho\\,\\Delta\\phi\\,\\Delta t,

    with :math:`A = -(u\\,\\mathcal H d + v\\,d)/(u^2+v^2)`,
    :math:`B = (u\\,d - v\\,\\mathcal H d)/(u^2+v^2)` (0 where :math:`\\rho = 0`),
    :math:`a_n = \\tfrac12 \\Delta t\\,c_n \\Delta\\phi_n^2` (:math:`c` the observed factor
    of :math:`\\rho`) and
    :math:`k_n = a_n\\epsilon_s/(P_{s,n}+\\epsilon_s)^2
    - \\frac{\\lambda}{N}\\sum_m a_m P_{s,m}/(P_{s,m}+\\epsilon_s)^2`.
    Not defined for an all-zero trace (skipped).

    Parameters
    ----------
    water_level
        :math:`\\lambda`: a sample whose squared envelope is :math:`\\lambda` times the
        trace's mean squared envelope gets half weight (> 0; default 1e-3, an envelope
        of about 3 % of its RMS value).
    """

    name = "instantaneous_phase"

    def __init__(self, water_level: float = 1e-3) -> None:
        if (
            isinstance(water_level, bool)
            or not isinstance(water_level, (int, float))
            or not (math.isfinite(water_level) and water_level > 0)
        ):
            raise ConfigError(
                f"instantaneous_phase water_level must be a number > 0, got {water_level!r}"
            )
        self.water_level = float(water_level)

    def __repr__(self) -> str:
        return f"InstantaneousPhase(water_level={self.water_level:g})"

    def __call__(self, synthetic: np.ndarray, observed: np.ndarray, dt: float) -> MisfitValue:
        s, d = _as_pair(synthetic, observed)
        if not np.any(s) or not np.any(d):
            return _skip(s.size, "all-zero trace")
        # the measurement does not change when s or d is scaled: use unit-peak traces
        # (no underflow or overflow of the squared envelopes); df/ds = (df/ds~) / peak
        peak = float(np.max(np.abs(s)))
        s, d = s / peak, d / float(np.max(np.abs(d)))
        lam = self.water_level
        hs, hd = hilbert(s), hilbert(d)
        ps = s * s + hs * hs
        pd = d * d + hd * hd
        eps_s = lam * float(np.mean(ps))
        eps_d = lam * float(np.mean(pd))
        gs = ps / (ps + eps_s)
        cd = np.where(d != 0.0, pd / (pd + eps_d), 0.0)
        rho = gs * cd
        on = rho > 0.0  # there u^2 + v^2 = P_s P_d > 0
        u = s * d + hs * hd
        v = hs * d - s * hd
        dphi = np.where(on, np.arctan2(v, u), 0.0)
        g, dg = self._penalty(dphi)
        q = np.where(on, u * u + v * v, 1.0)
        r = rho * dg * dt
        a = np.where(on, -(u * hd + v * d) / q, 0.0)
        b = np.where(on, (u * d - v * hd) / q, 0.0)
        # derivative of the envelope factor P_s / (P_s + eps_s), eps_s = lam mean(P_s)
        half = dt * cd * g
        den = (ps + eps_s) ** 2
        k = half * eps_s / den - lam / s.size * float(np.sum(half * ps / den))
        adj = r * a + 2.0 * k * s + hilbert_transpose(r * b + 2.0 * k * hs)
        return MisfitValue(float(np.sum(rho * g)) * dt, adj / peak)

    @staticmethod
    def _penalty(dphi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The penalty ``g`` of a phase difference and its derivative: ``dphi^2 / 2``."""
        return 0.5 * dphi * dphi, dphi


class ExponentiatedPhase(InstantaneousPhase):
    r"""Exponentiated phase (Bozdag et al. 2011): :class:`InstantaneousPhase` with the
    penalty :math:`1 - \cos\Delta\phi` instead of :math:`\tfrac12\Delta\phi^2`.

    .. math:: \chi = \sum_n \rho_n \left(1 - \cos\Delta\phi_n\right)\Delta t
              = \tfrac12 \sum_n \rho_n\,
              \bigl|e^{i\phi_{s,n}} - e^{i\phi_{d,n}}\bigr|^2 \Delta t,

    the difference of the unit phasors: the same as the instantaneous phase for small
    phase differences, and smooth everywhere, also where the phase difference wraps at
    :math:`\pm\pi` (there the instantaneous phase has a corner, which can happen where
    only weak tails of two isolated pulses overlap). The adjoint source is that of
    :class:`InstantaneousPhase` with :math:`\sin\Delta\phi` for :math:`\Delta\phi`.
    """

    name = "exponentiated_phase"

    def __repr__(self) -> str:
        return f"ExponentiatedPhase(water_level={self.water_level:g})"

    @staticmethod
    def _penalty(dphi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``1 - cos(dphi)`` and its derivative ``sin(dphi)``."""
        return 1.0 - np.cos(dphi), np.sin(dphi)


class Correlation(Misfit):
    """One minus the normalized zero-lag cross-correlation.

    .. math:: \\chi = 1 - \\frac{\\langle s, d\\rangle}{\\|s\\|\\,\\|d\\|}, \\qquad
              f = -\\frac{d}{\\|s\\|\\|d\\|}
                  + \\frac{\\langle s, d\\rangle}{\\|s\\|^3\\|d\\|}\\, s.
    """

    name = "correlation"

    def __call__(self, synthetic: np.ndarray, observed: np.ndarray, dt: float) -> MisfitValue:
        s, d = _as_pair(synthetic, observed)
        if not np.any(s) or not np.any(d):
            return _skip(s.size, "all-zero trace")
        ns, nd = _norm(s), _norm(d)
        us, ud = s / ns, d / nd  # unit traces: no overflow or underflow
        cc = float(np.dot(us, ud))
        adj = (cc * us - ud) / ns
        return MisfitValue(1.0 - cc, adj, {"cc": cc})
