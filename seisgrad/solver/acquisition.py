"""Sources, source time functions and receivers (the acquisition geometry).

These are plain schema dataclasses, so the same classes validate the ``sources`` and
``receivers`` entries of a parameter file and are passed to solvers.

Units: positions in metres (``z`` up), time in seconds, frequencies in Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seisgrad.config import param
from seisgrad.errors import ConfigError

__all__ = [
    "SourceTimeFunction",
    "PointSource",
    "Event",
    "Receiver",
    "CHANNELS",
]

#: Channel codes of recorded traces: displacement, velocity (X and Z components) and
#: pressure. ``Trace.stats.component`` is the last letter (X, Z or P).
CHANNELS = {
    "UX": "displacement, x component",
    "UZ": "displacement, z component (up)",
    "VX": "particle velocity, x component",
    "VZ": "particle velocity, z component (up)",
    "P": "pressure",
}


@dataclass
class SourceTimeFunction:
    """Source time function ``s(t)``.

    * ``ricker``: :math:`(1 - 2a\\tau^2) e^{-a\\tau^2}`, :math:`a = (\\pi f_0)^2`,
      :math:`\\tau = t - t_0`.
    * ``gaussian``: :math:`e^{-a\\tau^2}`.
    * ``gaussian_derivative``: :math:`-2a\\tau e^{-a\\tau^2}` (first derivative of
      the Gaussian).
    * ``array``: user samples ``values`` at the simulation's time step, starting at
      the first time sample.

    ``t0`` defaults to ``1.2 / f0`` (the wavelet starts at zero within float32
    round-off).
    """

    kind: str = param(
        "ricker",
        "source time function",
        choices=("ricker", "gaussian", "gaussian_derivative", "array"),
    )
    f0: float = param(10.0, "dominant (centre) frequency in Hz", low=0.0)
    t0: float | None = param(None, "time shift of the wavelet centre in s (default 1.2/f0)")
    amplitude: float = param(1.0, "amplitude factor")
    values: list[float] | None = param(None, "samples for kind 'array'")

    def validate(self) -> None:
        if self.kind == "array" and not self.values:
            raise ConfigError("source time function kind 'array' needs 'values'")
        if self.kind != "array" and self.f0 <= 0:
            raise ConfigError(f"source time function '{self.kind}' needs f0 > 0")

    @property
    def delay(self) -> float:
        return 1.2 / self.f0 if self.t0 is None else self.t0

    def sample(self, nt: int, dt: float, t_start: float = 0.0) -> np.ndarray:
        """Samples at ``t_start + n*dt`` for ``n = 0..nt-1`` (float64)."""
        if self.kind == "array":
            vals = np.asarray(self.values, dtype=np.float64)
            out = np.zeros(nt)
            n = min(nt, vals.size)
            out[:n] = vals[:n]
            return self.amplitude * out
        t = t_start + dt * np.arange(nt) - self.delay
        a = (math.pi * self.f0) ** 2
        g = np.exp(-a * t * t)
        if self.kind == "ricker":
            w = (1.0 - 2.0 * a * t * t) * g
        elif self.kind == "gaussian":
            w = g
        else:
            w = -2.0 * a * t * g
        return self.amplitude * w

    def max_frequency(self, dt: float | None = None) -> float:
        """Highest significant frequency (spectrum above 1% of its peak), in Hz."""
        if self.kind == "ricker":
            return 2.8 * self.f0
        if self.kind == "gaussian":
            return 1.4 * self.f0
        if self.kind == "gaussian_derivative":
            return 1.8 * self.f0
        vals = np.asarray(self.values, dtype=np.float64)
        if dt is None or vals.size < 2:
            raise ConfigError("max_frequency of an 'array' source time function needs dt")
        spec = np.abs(np.fft.rfft(vals, n=max(1024, 4 * vals.size)))
        freqs = np.fft.rfftfreq(max(1024, 4 * vals.size), dt)
        above = np.nonzero(spec >= 0.01 * spec.max())[0]
        return float(freqs[above[-1]]) if above.size else 0.0


@dataclass
class PointSource:
    """A point source at ``(x, z)``.

    ``kind``:

    * ``pressure``: pressure (volume) injection, acoustic solver; ``amplitude`` scales.
    * ``explosion``: isotropic moment tensor ``Mxx = Mzz = amplitude`` (elastic) or a
      pressure source (acoustic).
    * ``force``: point force ``(fx, fz)`` (elastic; in the acoustic solver a force
      acts on the particle velocity).
    * ``moment_tensor``: ``(mxx, mzz, mxz)`` (elastic).
    """

    x: float = param(doc="x position (m)")
    z: float = param(doc="z position (m), up")
    kind: str = param(
        "explosion",
        "source type",
        choices=("pressure", "explosion", "force", "moment_tensor"),
    )
    amplitude: float = param(1.0, "scalar amplitude (pressure, explosion)")
    fx: float = param(0.0, "force x component (N/m)")
    fz: float = param(0.0, "force z component (N/m)")
    mxx: float = param(0.0, "moment tensor Mxx (N)")
    mzz: float = param(0.0, "moment tensor Mzz (N)")
    mxz: float = param(0.0, "moment tensor Mxz (N)")
    stf: SourceTimeFunction = param(
        default_factory=SourceTimeFunction, doc="source time function"
    )


@dataclass
class Event:
    """One simulation: one or more point sources fired together."""

    name: str = param(doc="event name (used for file names)")
    sources: list[PointSource] = param(doc="point sources fired together")

    def validate(self) -> None:
        if not self.sources:
            raise ConfigError(f"event '{self.name}' has no point sources")


@dataclass
class Receiver:
    """A receiver (station) at ``(x, z)``."""

    station: str = param(doc="station name")
    x: float = param(doc="x position (m)")
    z: float = param(doc="z position (m), up")
    network: str = param("XX", "network code")
