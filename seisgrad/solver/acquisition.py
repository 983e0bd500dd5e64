"""Sources, source time functions and receivers (the acquisition geometry).

These are plain schema dataclasses, so the same classes validate the ``sources`` and
``receivers`` entries of a parameter file and are passed to solvers.

Units: positions in metres (``z`` up), time in seconds, frequencies in Hz.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seisgrad.config import Schema, param
from seisgrad.errors import ConfigError, DataError

__all__ = [
    "SourceTimeFunction",
    "PointSource",
    "Event",
    "Receiver",
    "CHANNELS",
    "QUIET_START",
    "ring",
    "line",
    "read_stations",
    "write_stations",
]

#: Largest :meth:`SourceTimeFunction.start_fraction` of a source that starts quietly:
#: ``check`` warns above it, and the analytic comparisons refuse (a Ricker wavelet with
#: ``t0 = 0.8 / f0`` starts at 2% of its peak and its synthetics were 1.3% off the exact
#: solution; ``t0 = 0.5 / f0``, 23%; the default ``1.2 / f0`` starts at 2e-5).
QUIET_START = 1e-3

#: ``array`` samples after the end of a simulation at most this fraction of the largest
#: sample are not reported as cut (:meth:`SourceTimeFunction.cut_samples`): below
#: float32's resolution of the wavelet.
NEGLIGIBLE_SAMPLE = 1e-7

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
class SourceTimeFunction(Schema):
    """Source time function ``s(t)``.

    * ``ricker``: :math:`(1 - 2a\\tau^2) e^{-a\\tau^2}`, :math:`a = (\\pi f_0)^2`,
      :math:`\\tau = t - t_0`.
    * ``gaussian``: :math:`e^{-a\\tau^2}`.
    * ``gaussian_derivative``: :math:`-2a\\tau e^{-a\\tau^2}` (first derivative of
      the Gaussian).
    * ``array``: user samples ``values`` (a list or a 1-D numpy array of finite
      numbers) at the simulation's time step, starting at the first time sample. A
      simulation of ``nt`` steps uses the samples at ``n dt`` for ``n = 0..nt``: fewer
      samples are continued with zeros (the source has stopped), more are cut off at
      the end of the simulation (the solver's ``check`` warns when a significant sample is
      cut off). ``values`` is only allowed with this kind.

    ``t0`` defaults to ``1.2 / f0``: the wavelet starts within 2e-5 of its peak of zero
    (``ricker`` 1.8e-5, ``gaussian_derivative`` 6e-6, ``gaussian`` 7e-7), which
    :meth:`FD2D.check` does not report; a larger ``t0`` starts it closer. ``f0``,
    ``t0``, ``amplitude`` and every sample must be finite.
    """

    kind: str = param(
        "ricker",
        "source time function",
        choices=("ricker", "gaussian", "gaussian_derivative", "array"),
    )
    f0: float = param(10.0, "dominant (centre) frequency in Hz", low=0.0, high=1e12)
    t0: float | None = param(
        None, "time shift of the wavelet centre in s (default 1.2/f0)", low=-1e12, high=1e12
    )
    amplitude: float = param(1.0, "amplitude factor")
    values: list[float] | None = param(None, "samples for kind 'array'")

    def __post_init__(self) -> None:
        """Take ``values`` given as a numpy array (1-D, real numbers) as a list, then
        check every field (:class:`~seisgrad.config.Schema`)."""
        if isinstance(self.values, np.ndarray):
            a = self.values
            if a.ndim != 1:
                raise ConfigError(
                    "source time function 'values': expected a 1-D array of samples, "
                    f"got an array of shape {a.shape}"
                )
            if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
                raise ConfigError(
                    "source time function 'values': expected real numbers, got an array "
                    f"of dtype {a.dtype}"
                )
            self.values = a.astype(np.float64).tolist()
        super().__post_init__()

    def validate(self) -> None:
        """Check the combination of fields (run when the object is built).

        Raises
        ------
        ConfigError
            For ``f0 <= 0`` for an analytic wavelet, or ``values`` missing for ``array``
            or given for another kind (non-finite numbers and samples are refused by the
            schema, :func:`seisgrad.config.from_mapping`, before this runs).
        """
        what = f"source time function '{self.kind}'"
        if self.kind == "array" and not self.values:
            raise ConfigError("source time function kind 'array' needs 'values'")
        if self.kind != "array" and self.values is not None:
            raise ConfigError(
                f"{what}: 'values' is only used with kind 'array'; remove it or set kind: array"
            )
        if self.kind != "array" and not self.f0 > 0:
            raise ConfigError(f"{what} needs f0 > 0")

    @property
    def delay(self) -> float:
        return 1.2 / self.f0 if self.t0 is None else self.t0

    def sample(self, nt: int, dt: float, t_start: float = 0.0) -> np.ndarray:
        """Samples at ``t_start + n*dt`` for ``n = 0..nt-1`` (float64).

        For ``array`` (``t_start`` is not used): the first ``nt`` values, continued with
        zeros when there are fewer.

        Raises
        ------
        ConfigError
            When ``nt`` is not a whole number >= 0, or ``dt`` not a positive number.
        """
        if isinstance(nt, bool) or not isinstance(nt, (int, np.integer)) or nt < 0:
            raise ConfigError(f"source time function: nt must be a whole number >= 0, got {nt!r}")
        if (
            isinstance(dt, bool)
            or not isinstance(dt, (int, float, np.number))
            or not (math.isfinite(dt) and dt > 0)
        ):
            raise ConfigError(f"source time function: dt must be a positive number, got {dt!r}")
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

    def is_silent(self) -> bool:
        """Whether the function is zero everywhere (zero amplitude, or ``array`` samples
        that are all zero)."""
        if self.amplitude == 0:
            return True
        return self.kind == "array" and not np.any(np.asarray(self.values, dtype=np.float64))

    def start_fraction(self, dt: float) -> float:
        """``|s(0)|`` relative to the largest ``|s|`` (0 for a silent function): how
        abruptly the function starts. A simulation starts at rest, so a jump at
        ``t = 0`` is injected as a broadband step that the grid cannot carry (see
        :data:`QUIET_START`).

        ``s(0)`` is the sample at ``t = 0``; the largest ``|s|`` is taken over every
        sample of an ``array``, and for a wavelet over 2049 points from ``t0 - 4 / f0``
        to ``t0 + 4 / f0`` (its largest value, bounded work whatever ``t0 / dt``; ``dt``
        is not used).
        """
        if self.kind == "array":
            vals = self.amplitude * np.asarray(self.values, dtype=np.float64)
            peak = float(np.abs(vals).max()) if vals.size else 0.0
            return abs(float(vals[0])) / peak if peak > 0 else 0.0
        first = abs(float(self.sample(1, dt)[0]))
        start = self.delay - 4.0 / self.f0
        window = self.sample(2049, 8.0 / self.f0 / 2048, t_start=start)
        peak = max(float(np.abs(window).max()), first)
        return first / peak if peak > 0 else 0.0

    def cut_samples(self, nt: int) -> int:
        """Significant ``array`` samples that a simulation of ``nt`` steps does not use
        (those after ``t = nt dt`` larger than :data:`NEGLIGIBLE_SAMPLE` of the largest
        sample: the tail of a wavelet sampled past the record, 1e-210, is not worth a
        warning); 0 for the other kinds."""
        if self.kind != "array":
            return 0
        vals = np.abs(np.asarray(self.values, dtype=np.float64))
        if vals.size == 0:
            return 0
        return int(np.count_nonzero(vals[nt + 1 :] > NEGLIGIBLE_SAMPLE * vals.max()))

    def max_frequency(self, dt: float | None = None) -> float:
        """Highest significant frequency (spectrum above 1% of its peak), in Hz.

        The amplitude spectra are :math:`f^2 e^{-f^2/f_0^2}` (Ricker),
        :math:`e^{-f^2/f_0^2}` (Gaussian) and :math:`f e^{-f^2/f_0^2}` (its derivative),
        which fall to 1% of their peaks at 2.76, 2.15 and 2.53 :math:`f_0`; the values
        returned are rounded up (2.8, 2.15, 2.55). For ``array`` the spectrum of the
        samples (time step ``dt``) is searched; samples that are all zero have no
        frequency content: 0 is returned (no sampling check is possible or needed).
        """
        if self.kind == "ricker":
            return 2.8 * self.f0
        if self.kind == "gaussian":
            return 2.15 * self.f0
        if self.kind == "gaussian_derivative":
            return 2.55 * self.f0
        vals = np.asarray(self.values, dtype=np.float64)
        if dt is None:
            raise ConfigError("max_frequency of an 'array' source time function needs dt")
        if vals.size < 2:
            raise ConfigError(
                f"source time function kind 'array' needs at least 2 samples, got {vals.size}"
            )
        spec = np.abs(np.fft.rfft(vals, n=max(1024, 4 * vals.size)))
        if not spec.max() > 0:
            return 0.0
        freqs = np.fft.rfftfreq(max(1024, 4 * vals.size), dt)
        above = np.nonzero(spec >= 0.01 * spec.max())[0]
        return float(freqs[above[-1]]) if above.size else 0.0

    def dominant_frequency(self, dt: float | None = None) -> float:
        """A representative frequency (Hz): ``f0``, or for ``array`` the highest
        significant frequency (:meth:`max_frequency`) divided by 2.8 (as for a Ricker);
        0 for all-zero samples."""
        if self.kind != "array":
            return self.f0
        return self.max_frequency(dt) / 2.8


@dataclass
class PointSource(Schema):
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
    stf: SourceTimeFunction = param(default_factory=SourceTimeFunction, doc="source time function")

    def strength(self) -> float:
        """The largest magnitude of the source's own strength: ``amplitude`` for
        ``pressure`` and ``explosion``, ``(fx, fz)`` for ``force``, ``(mxx, mzz, mxz)``
        for ``moment_tensor`` (the other fields are not used by its kind)."""
        if self.kind == "force":
            values: tuple[float, ...] = (self.fx, self.fz)
        elif self.kind == "moment_tensor":
            values = (self.mxx, self.mzz, self.mxz)
        else:
            values = (self.amplitude,)
        return max(abs(float(v)) for v in values)

    def strength_is_zero(self) -> bool:
        """Whether the source's own strength (:meth:`strength`) is zero."""
        return self.strength() == 0


#: Longest event name (bytes, UTF-8): file names such as ``.traces_<event>.png.<hex>.tmp``
#: must stay within the usual 255-byte limit.
MAX_EVENT_NAME_BYTES = 160


@dataclass
class Event(Schema):
    """One simulation: one or more point sources fired together.

    An event with no sources is allowed as an object (preprocessing may not know the
    sources); a simulation, and a workflow's list of events, refuse one.
    """

    name: str = param(doc="event name (used for file names)")
    sources: list[PointSource] = param(doc="point sources fired together")

    def validate(self) -> None:
        """The name becomes a file name (``scratch/<name>.h5``, ``state/<name>.json``,
        ...): non-empty, without path separators or control characters, and not starting
        with a dot (``..`` wrote files outside the run's folders)."""
        n = self.name
        if (
            not n
            or n != n.strip()
            or n.startswith(".")
            or any(c in n for c in "/\\")
            or not n.isprintable()
        ):
            raise ConfigError(
                f"event name {n!r}: must be non-empty, without '/' or '\\', control "
                "characters or blanks at either end, and not start with '.' (it becomes a "
                "file name)"
            )
        if len(n.encode()) > MAX_EVENT_NAME_BYTES:
            raise ConfigError(
                f"event name {n[:40]!r}...: {len(n.encode())} bytes, at most "
                f"{MAX_EVENT_NAME_BYTES} (it becomes part of file names, which the file "
                "system limits to 255 bytes with their prefixes and suffixes)"
            )


@dataclass
class Receiver(Schema):
    """A receiver (station) at ``(x, z)``."""

    station: str = param(doc="station name")
    x: float = param(doc="x position (m)")
    z: float = param(doc="z position (m), up")
    network: str = param("XX", "network code")

    def validate(self) -> None:
        """Station and network codes become parts of ObsPy trace ids
        (``NET.STA..CHA``): they must be non-empty and free of dots and blanks."""
        for what, code in (("station", self.station), ("network", self.network)):
            if not code or any(c in code for c in ". \t\n"):
                raise ConfigError(
                    f"receiver {what} code {code!r}: must be non-empty, without dots or "
                    "blanks (it is part of the trace id NET.STA..CHA)"
                )


def _names(n: int) -> list[str]:
    width = max(3, len(str(n - 1)))
    return [f"{k:0{width}d}" for k in range(n)]


def _count(what: str, n: object) -> int:
    """``n`` as a receiver count (an integer of at least 1), or a ConfigError."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ConfigError(f"{what}: n must be a whole number of receivers, got {n!r}")
    if n < 1:
        raise ConfigError(f"{what}: need at least one receiver, got n={n}")
    return int(n)


def _point(what: str, name: str, p: object) -> tuple[float, float]:
    """``p`` as an ``(x, z)`` pair of finite numbers, or a ConfigError."""
    try:
        x, z = (float(c) for c in p)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: {name} must be an (x, z) pair of numbers, got {p!r}") from None
    if not (math.isfinite(x) and math.isfinite(z)):
        raise ConfigError(f"{what}: {name} must be finite, got {p!r}")
    return x, z


def ring(
    n: int,
    radius: float,
    center: tuple[float, float] = (0.0, 0.0),
    *,
    start_angle: float = 0.0,
    network: str = "XX",
) -> list[Receiver]:
    """``n`` receivers evenly spaced on a circle (like Salvus' ``RingPoint2D``).

    Receiver ``k`` sits at angle ``start_angle + 360 k / n`` degrees, counted
    counter-clockwise from the +x axis (``z`` up); stations are named ``000``, ``001``, ...

    Parameters
    ----------
    n
        Number of receivers (at least 1).
    radius
        Ring radius (m), positive.
    center
        ``(x, z)`` of the centre (m).
    start_angle
        Angle of the first receiver (degrees).
    network
        Network code of every receiver.
    """
    n = _count("ring", n)
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise ConfigError(f"ring: radius must be a number, got {radius!r}") from None
    if not (radius > 0 and math.isfinite(radius)):
        raise ConfigError(f"ring: radius must be positive, got {radius}")
    cx, cz = _point("ring", "center", center)
    out = []
    for k, name in enumerate(_names(n)):
        a = math.radians(start_angle + 360.0 * k / n)
        out.append(
            Receiver(
                station=name,
                x=cx + radius * math.cos(a),
                z=cz + radius * math.sin(a),
                network=network,
            )
        )
    return out


def line(
    n: int,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    network: str = "XX",
) -> list[Receiver]:
    """``n`` receivers evenly spaced from ``start`` to ``end`` (both included).

    With ``n = 1`` the single receiver sits at ``start``. Stations are named ``000``, ...
    """
    n = _count("line", n)
    (x0, z0), (x1, z1) = _point("line", "start", start), _point("line", "end", end)
    out = []
    for k, name in enumerate(_names(n)):
        f = k / (n - 1) if n > 1 else 0.0
        out.append(
            Receiver(
                station=name,
                x=float(x0) + f * (float(x1) - float(x0)),
                z=float(z0) + f * (float(z1) - float(z0)),
                network=network,
            )
        )
    return out


def read_stations(path: str | os.PathLike[str]) -> list[Receiver]:
    """Read a SPECFEM2D ``STATIONS`` file.

    One station per line: ``station network x z elevation burial``; positions are
    ``(x, z)``. The elevation column is not used (as in SPECFEM2D); a burial other
    than 0 is refused, as SPECFEM2D refuses it (give the depth in ``z``): read as
    ``(x, z)`` it would put the receiver elsewhere than meant. Blank lines and lines
    starting with ``#`` are skipped.

    Raises
    ------
    DataError
        When the file is missing, a line has fewer than four columns or a coordinate is
        not a number (the message names the line), a burial is not 0, or a station is
        repeated.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"STATIONS file not found: {p}")
    out: list[Receiver] = []
    seen: set[tuple[str, str]] = set()
    # utf-8-sig: a byte-order mark (from some editors) would become part of the first
    # station's name, which then matches no data file
    try:
        content = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{p}: not a text STATIONS file (byte {exc.start} is not UTF-8 text)"
        ) from None
    for lineno, text in enumerate(content.splitlines(), start=1):
        t = text.strip()
        if not t or t.startswith("#"):
            continue
        cols = t.split()
        if len(cols) < 4:
            raise DataError(
                f"{p}:{lineno}: expected 'station network x z [elevation burial]', got {t!r}"
            )
        try:
            x, z = float(cols[2]), float(cols[3])
        except ValueError:
            raise DataError(f"{p}:{lineno}: x and z must be numbers, got {t!r}") from None
        if len(cols) >= 6:
            try:
                burial = float(cols[5])
            except ValueError:
                raise DataError(f"{p}:{lineno}: burial must be a number, got {t!r}") from None
            if burial != 0.0:
                raise DataError(
                    f"{p}:{lineno}: station {cols[1]}.{cols[0]} has burial {cols[5]}; "
                    "seisgrad (like SPECFEM2D) places receivers at (x, z) only: give the "
                    "depth in the z column and burial 0"
                )
        key = (cols[1], cols[0])
        if key in seen:
            raise DataError(f"{p}:{lineno}: station {cols[1]}.{cols[0]} is repeated")
        seen.add(key)
        try:
            out.append(Receiver(station=cols[0], x=x, z=z, network=cols[1]))
        except ConfigError as exc:  # a name or position Receiver refuses
            raise DataError(f"{p}:{lineno}: {exc}") from None
    if not out:
        raise DataError(f"{p}: no stations")
    return out


def write_stations(path: str | os.PathLike[str], receivers: Sequence[Receiver]) -> Path:
    """Write receivers as a SPECFEM2D ``STATIONS`` file (atomically).

    Columns: ``station network x z elevation burial`` with elevation and burial 0.
    """
    from seisgrad.model import atomic_path

    final, tmp = atomic_path(path)
    lines = [
        f"{r.station:<10s} {r.network:<6s} {r.x:20.7f} {r.z:20.7f} {0.0:10.1f} {0.0:10.1f}\n"
        for r in receivers
    ]
    try:
        tmp.write_text("".join(lines))
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final
