"""Processing steps with exact adjoints.

The traces of one event are a float64 array ``x`` of shape ``(ntraces, nt)`` on a
common time axis :math:`t_n = t_0 + n\\Delta t`. A :class:`Step` maps it to an array of
the same shape; a :class:`Chain` applies steps in order. The same chain is applied to
observed and synthetic data; for the synthetics the chain also provides the
vector-Jacobian product (the adjoint) ``vjp(x, g) = (\\partial y/\\partial x)^T g``, so
that the adjoint source of a misfit measured on processed traces is the exact
derivative with respect to the raw synthetic samples.

Linear steps (demean, detrend, taper, filters, mutes) have an explicit transpose,
checked with dot-product tests (:func:`seisgrad.preprocess.verify.dot_product_test`).
Normalizations are non-linear; their ``vjp`` is the exact derivative (for the
``max`` norms, almost everywhere: wherever the sample of largest magnitude is unique).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from seisgrad.errors import ConfigError, DataError

if TYPE_CHECKING:
    from obspy import Stream

    from seisgrad.solver.acquisition import PointSource, Receiver

__all__ = [
    "TraceContext",
    "Step",
    "LinearStep",
    "Demean",
    "Detrend",
    "Taper",
    "Filter",
    "Mute",
    "Normalize",
    "Chain",
    "hann_ramp",
]


@dataclass
class TraceContext:
    """What the steps may know about the traces of one event (never the samples).

    Attributes
    ----------
    dt
        Time step (s).
    nt
        Samples per trace.
    t0
        Time of the first sample (s after the simulation start).
    ids
        Trace ids (``NET.STA.LOC.CHA``), one per row.
    receivers
        The receiver of each trace (or ``None`` where unknown).
    sources
        Point sources of the event.
    observed
        Observed traces (processed), for the temporal-weights hook; optional.
    """

    dt: float
    nt: int
    t0: float = 0.0
    ids: list[str] = field(default_factory=list)
    receivers: list[Receiver | None] = field(default_factory=list)
    sources: list[PointSource] = field(default_factory=list)
    observed: Stream | None = None

    def __post_init__(self) -> None:
        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise DataError(f"time step must be a positive number, got dt={self.dt}")
        if self.nt < 2:
            raise DataError(f"traces need at least 2 samples, got nt={self.nt}")

    @classmethod
    def for_arrays(cls, ntraces: int, nt: int, dt: float, t0: float = 0.0) -> TraceContext:
        """A context for bare arrays (ids ``T0``, ``T1``, ...; no geometry)."""
        return cls(dt=dt, nt=nt, t0=t0, ids=[f"T{i}" for i in range(ntraces)])

    @property
    def times(self) -> np.ndarray:
        """Sample times :math:`t_0 + n\\Delta t` (s)."""
        return self.t0 + self.dt * np.arange(self.nt)

    def offsets(self) -> np.ndarray:
        """Distance (m) from each trace's receiver to the nearest source of the event."""
        if not self.sources:
            raise DataError("source-receiver offsets need the event's sources")
        if len(self.receivers) < len(self.ids):
            missing = self.ids[len(self.receivers)]
            raise DataError(f"trace {missing} has no receiver position, so it has no offset")
        out = np.empty(len(self.ids))
        for i, (tid, rec) in enumerate(zip(self.ids, self.receivers, strict=False)):
            if rec is None:
                raise DataError(f"trace {tid} has no receiver position, so it has no offset")
            out[i] = min(math.hypot(rec.x - s.x, rec.z - s.z) for s in self.sources)
        return out


def _check_shape(x: np.ndarray, ctx: TraceContext) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != ctx.nt:
        raise DataError(f"expected traces of shape (ntraces, {ctx.nt}), got {x.shape}")
    return x


class Step(ABC):
    """One processing step: ``forward(x, ctx)`` and its adjoint ``vjp(x, g, ctx)``."""

    #: ``True`` when the step is linear in ``x`` (its ``vjp`` ignores ``x``).
    linear: ClassVar[bool] = False

    @abstractmethod
    def forward(self, x: np.ndarray, ctx: TraceContext) -> np.ndarray:
        """Apply the step to traces ``x`` (shape ``(ntraces, nt)``)."""

    @abstractmethod
    def vjp(self, x: np.ndarray, g: np.ndarray, ctx: TraceContext) -> np.ndarray:
        """Adjoint: :math:`(\\partial y/\\partial x)^T g` at input ``x``."""

    def describe(self) -> str:
        """One-line description."""
        return repr(self)


class LinearStep(Step):
    """A linear step :math:`y = L x`; subclasses implement ``forward`` and
    ``transpose`` (:math:`L^T g`)."""

    linear: ClassVar[bool] = True

    @abstractmethod
    def transpose(self, g: np.ndarray, ctx: TraceContext) -> np.ndarray:
        """Apply :math:`L^T`."""

    def vjp(self, x: np.ndarray, g: np.ndarray, ctx: TraceContext) -> np.ndarray:
        return self.transpose(g, ctx)


class _Symmetric(LinearStep):
    """A linear step with :math:`L^T = L`."""

    def transpose(self, g: np.ndarray, ctx: TraceContext) -> np.ndarray:
        return self.forward(g, ctx)


class Demean(_Symmetric):
    """Remove the mean of each trace: :math:`y = x - \\bar x` (an orthogonal projector,
    so :math:`L^T = L`)."""

    def forward(self, x: np.ndarray, ctx: TraceContext) -> np.ndarray:
        x = _check_shape(x, ctx)
        return x - x.mean(axis=1, keepdims=True)

    def __repr__(self) -> str:
        return "Demean()"


class Detrend(_Symmetric):
    """Remove the least-squares straight line of each trace,
    :math:`y = (I - QQ^T)x` with :math:`Q` an orthonormal basis of
    :math:`\\{1, n\\}` (symmetric)."""

    def forward(self, x: np.ndarray, ctx: TraceContext) -> np.ndarray:
        x = _check_shape(x, ctx)
        n = ctx.nt
        q0 = np.full(n, 1.0 / math.sqrt(n))
        q1 = np.arange(n, dtype=np.float64) - 0.5 * (n - 1)
        q1 /= np.linalg.norm(q1)
        return x - np.outer(x @ q0, q0) - np.outer(x @ q1, q1)

    def __repr__(self) -> str:
        return "Detrend()"


def hann_ramp(n: int) -> np.ndarray:
    """Rising half-Hann ramp of ``n`` samples, from 0 (excluded) towards 1."""
    k = np.arange(1, n + 1, dtype=np.float64)
    return 0.5 * (1.0 - np.cos(math.pi * k / (n + 1)))


class _Diagonal(_Symmetric):
    """Multiplication by fixed weights :math:`y_{i,n} = w_{i,n} x_{i,n}`."""

    @abstractmethod
    def weights(self, ctx: TraceContext) -> np.ndarray:
        """Weights, broadcastable to ``(ntraces, nt)``."""

    def forward(self, x: np.ndarray, ctx: TraceContext) -> np.ndarray:
        return _check_shape(x, ctx) * self.weights(ctx)


class Taper(_Diagonal):
    """Hann taper over a fraction of the trace at both ends.

    Parameters
    ----------
    fraction
        Length of each ramp as a fraction of the trace length (0 to 0.5).
    """

    def __init__(self, fraction: float) -> None:
        if not 0.0 <= fraction <= 0.5:
            raise ConfigError(f"taper fraction must be within [0, 0.5], got {fraction}")
        self.fraction = float(fraction)

    def weights(self, ctx: TraceContext) -> np.ndarray:
        w = np.ones(ctx.nt)
        m = int(round(self.fraction * ctx.nt))
        if m > 0:
            ramp = hann_ramp(m)
            w[:m] = ramp
            w[ctx.nt - m :] = ramp[::-1]
        return w

    def __repr__(self) -> str:
        return f"Taper({self.fraction})"


class Filter(LinearStep):
    """Butterworth filter (second-order sections), causal or zero-phase.

    * causal: :math:`y = L x` with :math:`L` the recursive filter started from rest
      (lower-triangular Toeplitz); :math:`L^T g = R L R g` with :math:`R` time
      reversal.
    * zero-phase: :math:`y = R L R L x = L^T L x` (forward then backward pass from rest,
      as ObsPy's ``zerophase=True``); symmetric positive semi-definite, its own
      transpose.

    Parameters
    ----------
    kind
        ``"bandpass"``, ``"lowpass"`` or ``"highpass"``.
    freqmin, freqmax
        Corner frequencies in Hz (``freqmin`` for highpass and bandpass, ``freqmax`` for
        lowpass and bandpass).
    corners
        Filter order (number of poles) of each pass.
    zero_phase
        Zero-phase (two passes) or causal (one pass).
    """

    def __init__(
        self,
        kind: str,
        freqmin: float | None = None,
        freqmax: float | None = None,
        corners: int = 4,
        zero_phase: bool = True,
    ) -> None:
        if kind not in ("bandpass", "lowpass", "highpass"):
            raise ConfigError(
                f"filter kind '{kind}' is not one of 'bandpass', 'lowpass', 'highpass'"
            )
        need_min = kind in ("bandpass", "highpass")
        need_max = kind in ("bandpass", "lowpass")
        if need_min and not (freqmin is not None and freqmin > 0):
            raise ConfigError(f"a {kind} filter needs a minimum frequency > 0, got {freqmin}")
        if need_max and not (freqmax is not None and freqmax > 0):
            raise ConfigError(f"a {kind} filter needs a maximum frequency > 0, got {freqmax}")
        if kind == "bandpass" and not freqmin < freqmax:  # type: ignore[operator]
            raise ConfigError(
                f"bandpass needs min frequency < max frequency, got {freqmin} and {freqmax} Hz"
            )
        if not 1 <= int(corners) <= 12:
            raise ConfigError(f"filter corners (order) must be within 1..12, got {corners}")
        self.kind = kind
        self.freqmin = float(freqmin) if need_min else None  # type: ignore[arg-type]
        self.freqmax = float(freqmax) if need_max else None  # type: ignore[arg-type]
        self.corners = int(corners)
        self.zero_phase = bool(zero_phase)
        self._cache: dict[float, np.ndarray] = {}

    def sos(self, dt: float) -> np.ndarray:
        """Second-order sections for time step ``dt``."""
        if dt in self._cache:
            return self._cache[dt]
        nyq = 0.5 / dt
        for name, f in (("minimum", self.freqmin), ("maximum", self.freqmax)):
            if f is not None and not f < nyq:
                raise ConfigError(
                    f"filter {name} frequency {f} Hz is not below the Nyquist frequency "
                    f"{nyq:g} Hz (dt = {dt:g} s)"
                )
        if self.kind == "bandpass":
            wn: Any = [self.freqmin, self.freqmax]
        elif self.kind == "lowpass":
            wn = self.freqmax
        else:
            wn = self.freqmin
        from scipy import signal  # imported here: scipy.signal costs ~1 s at start-up

        sos = signal.butter(self.corners, wn, btype=self.kind, output="sos", fs=1.0 / dt)
        self._cache[dt] = sos
        return sos

    def _pass(self, x: np.ndarray, dt: float) -> np.ndarray:
        from scipy import signal

        return signal.sosfilt(self.sos(dt), x, axis=-1)

    def forward(self, x: np.ndarray, ctx: TraceContext) -> np.ndarray:
        x = _check_shape(x, ctx)
        y = self._pass(x, ctx.dt)
        if self.zero_phase:
            y = self._pass(y[:, ::-1], ctx.dt)[:, ::-1]
        return np.ascontiguousarray(y)

    def transpose(self, g: np.ndarray, ctx: TraceContext) -> np.ndarray:
        if self.zero_phase:
            return self.forward(g, ctx)
        g = _check_shape(g, ctx)
        return np.ascontiguousarray(self._pass(g[:, ::-1], ctx.dt)[:, ::-1])

    def __repr__(self) -> str:
        band = {"bandpass": f"{self.freqmin}-{self.freqmax} Hz"}.get(
            self.kind, f"{self.freqmin or self.freqmax} Hz"
        )
        phase = "zero-phase" if self.zero_phase else "causal"
        return f"Filter({self.kind} {band}, {self.corners} corners, {phase})"


class Mute(_Diagonal):
    """Mute before and/or after an arrival time, and by offset.

    The arrival time of a trace with offset :math:`x` (distance to the nearest source)
    is :math:`t = c + p\\,x` (intercept :math:`c` in s, slope :math:`p` in s/m, or
    :math:`p = 1/v` for a velocity :math:`v`). ``early`` zeroes the trace before
    :math:`t_e` with a Hann ramp of ``taper`` seconds ending at :math:`t_e`; ``late``
    zeroes it after :math:`t_l` with a ramp starting at :math:`t_l`. ``short_dist`` /
    ``long_dist`` zero whole traces with offset below / above them. The weights do not
    depend on the data, so the step is diagonal and symmetric.
    """

    def __init__(
        self,
        early: tuple[float, float] | None = None,
        late: tuple[float, float] | None = None,
        short_dist: float | None = None,
        long_dist: float | None = None,
        taper: float = 0.0,
    ) -> None:
        if taper < 0:
            raise ConfigError(f"mute taper must be >= 0 s, got {taper}")
        self.early = early  # (slope s/m, intercept s)
        self.late = late
        self.short_dist = short_dist
        self.long_dist = long_dist
        self.taper = float(taper)

    def needs_offsets(self) -> bool:
        """Whether the weights depend on offsets (a fixed-time mute does not)."""
        sloped = [m for m in (self.early, self.late) if m is not None and m[0] != 0.0]
        return bool(sloped) or self.short_dist is not None or self.long_dist is not None

    def weights(self, ctx: TraceContext) -> np.ndarray:
        offsets = ctx.offsets() if self.needs_offsets() else np.zeros(len(ctx.ids))
        t = ctx.times
        w = np.ones((len(ctx.ids), ctx.nt))
        for i, x in enumerate(offsets):
            if self.early is not None:
                w[i] *= _edge(t, self.early[1] + self.early[0] * x, self.taper, rising=True)
            if self.late is not None:
                w[i] *= _edge(t, self.late[1] + self.late[0] * x, self.taper, rising=False)
            if self.short_dist is not None and x < self.short_dist:
                w[i] = 0.0
            if self.long_dist is not None and x > self.long_dist:
                w[i] = 0.0
        return w

    def __repr__(self) -> str:
        return (
            f"Mute(early={self.early}, late={self.late}, short_dist={self.short_dist}, "
            f"long_dist={self.long_dist}, taper={self.taper})"
        )


def _edge(t: np.ndarray, t_edge: float, width: float, rising: bool) -> np.ndarray:
    """Weights 0 -> 1 rising to ``t_edge`` (ramp over ``[t_edge - width, t_edge]``) or
    1 -> 0 falling from ``t_edge`` (ramp over ``[t_edge, t_edge + width]``)."""
    if width > 0:
        if rising:
            u = np.clip((t - (t_edge - width)) / width, 0.0, 1.0)
        else:
            u = np.clip(((t_edge + width) - t) / width, 0.0, 1.0)
        return 0.5 * (1.0 - np.cos(math.pi * u))
    return (t >= t_edge).astype(np.float64) if rising else (t <= t_edge).astype(np.float64)


class Normalize(Step):
    """Divide traces by a norm (non-linear).

    * ``trace_max``: :math:`y_i = x_i / \\max_n |x_{i,n}|`;
    * ``trace_l2``: :math:`y_i = x_i / \\|x_i\\|_2`;
    * ``event``: all traces divided by the L2 norm of the whole event,
      :math:`y = x / \\|x\\|_F`;
    * ``event_max``: all traces divided by the event's largest magnitude.

    Adjoint, for :math:`y = x/\\nu(x)`:
    :math:`\\bar x = \\bar y/\\nu - \\langle \\bar y, x\\rangle\\,\\nabla\\nu/\\nu^2` with
    :math:`\\nabla\\|x\\| = x/\\|x\\|` and :math:`\\nabla\\max|x| = \\mathrm{sign}(x_k) e_k`
    (:math:`k` the position of the largest magnitude). A group whose norm is zero (a
    muted trace) stays zero and passes no gradient.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("trace_max", "trace_l2", "event", "event_max")

    def __init__(self, kind: str) -> None:
        if kind not in self.KINDS:
            raise ConfigError(
                f"normalization '{kind}' is not one of " + ", ".join(repr(k) for k in self.KINDS)
            )
        self.kind = kind

    def _groups(self, x: np.ndarray) -> np.ndarray:
        """View ``x`` as (groups, samples): one group per trace or one per event."""
        return x if self.kind.startswith("trace") else x.reshape(1, -1)

    def _norms(self, xg: np.ndarray) -> np.ndarray:
        if self.kind.endswith("max"):
            return np.max(np.abs(xg), axis=1)
        return np.sqrt(np.einsum("ij,ij->i", xg, xg))

    def forward(self, x: np.ndarray, ctx: TraceContext) -> np.ndarray:
        x = _check_shape(x, ctx)
        xg = self._groups(x)
        nu = self._norms(xg)
        scale = np.where(nu > 0, 1.0 / np.where(nu > 0, nu, 1.0), 0.0)
        return (xg * scale[:, None]).reshape(x.shape)

    def vjp(self, x: np.ndarray, g: np.ndarray, ctx: TraceContext) -> np.ndarray:
        x = _check_shape(x, ctx)
        g = _check_shape(g, ctx)
        xg, gg = self._groups(x), self._groups(g)
        nu = self._norms(xg)
        ok = nu > 0
        safe = np.where(ok, nu, 1.0)
        out = gg / safe[:, None]
        proj = np.einsum("ij,ij->i", gg, xg) / safe**2
        if self.kind.endswith("max"):
            k = np.argmax(np.abs(xg), axis=1)
            rows = np.arange(xg.shape[0])
            out[rows, k] -= proj * np.sign(xg[rows, k])
        else:
            out -= (proj / safe)[:, None] * xg
        out[~ok] = 0.0
        return out.reshape(x.shape)

    def __repr__(self) -> str:
        return f"Normalize('{self.kind}')"


class Chain:
    """Steps applied in order, with the adjoint of the whole chain.

    Parameters
    ----------
    steps
        Processing steps, applied first to last.
    """

    def __init__(self, steps: Sequence[Step] = ()) -> None:
        for s in steps:
            if not isinstance(s, Step):
                raise ConfigError(f"a processing chain takes Step objects, got {s!r}")
        self.steps = list(steps)

    @property
    def linear(self) -> bool:
        """``True`` when every step is linear."""
        return all(s.linear for s in self.steps)

    def forward(self, x: np.ndarray, ctx: TraceContext) -> np.ndarray:
        """Apply all steps."""
        y = _check_shape(x, ctx)
        for s in self.steps:
            y = s.forward(y, ctx)
        return y

    def forward_tape(self, x: np.ndarray, ctx: TraceContext) -> tuple[np.ndarray, list]:
        """Apply all steps and keep each step's input for :meth:`vjp`."""
        y = _check_shape(x, ctx)
        tape = []
        for s in self.steps:
            tape.append(y)
            y = s.forward(y, ctx)
        return y, tape

    def vjp(self, tape: list, g: np.ndarray, ctx: TraceContext) -> np.ndarray:
        """Adjoint of the chain at the inputs recorded by :meth:`forward_tape`."""
        g = _check_shape(g, ctx)
        for s, x in zip(reversed(self.steps), reversed(tape), strict=True):
            g = s.vjp(x, g, ctx)
        return g

    def describe(self) -> list[str]:
        """One line per step."""
        return [s.describe() for s in self.steps]

    def __repr__(self) -> str:
        return "Chain([" + ", ".join(repr(s) for s in self.steps) + "])"
