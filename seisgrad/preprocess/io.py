"""Reading and writing traces: SU, SAC, MiniSEED, SPECFEM ASCII and HDF5.

All readers return ObsPy Streams whose ``starttime`` counts from ``UTCDateTime(0)`` =
the simulation start, with ``stats.coordinates = AttribDict(x=..., z=...)`` where the
format stores positions. All writers write atomically (temporary file +
``os.replace``).

Layouts (``path`` given to :func:`write_traces` is the event's folder, or a file for
the single-file formats):

* ``su``: one Seismic Unix file per channel, named as SPECFEM2D names them:
  ``U{x,y,z}_file_single_d.su`` (displacement ``UX``...), ``..._v.su`` (velocity
  ``VX``...), ``..._a.su`` (acceleration), ``Up_file_single_p.su`` (pressure ``P``);
  other channels ``<CHANNEL>.su``. Traces in receiver order. SU stores no names:
  traces read back are called ``S000000``, ``S000001``, ... in file order (SPECFEM's
  convention) and observed SU data is matched to the synthetics by order. The 16-bit
  ``dt`` header holds microseconds, but SPECFEM2D writes milliseconds when
  ``dt * 1e6`` does not fit its signed header (dt > 32.767 ms); seisgrad writes
  microseconds as unsigned 16 bits (ObsPy's SU writer; at most 65535 samples and
  dt <= 65.535 ms, larger is an error) and also stores ``d1 = dt`` and ``f1 = t0``
  (float32, SU's own fields), and the reader picks the unit that agrees with ``d1`` or
  with the expected time step.
* ``sac``: one file per trace, ``NET.STA.LOC.CHA.sac``; ``x``, ``z`` in ``user0``,
  ``user1``. Samples are float32 (the SAC format).
* ``mseed``: one file, ``traces.mseed`` (float64 samples kept); no coordinates.
* ``ascii``: SPECFEM two-column files ``NET.STA.CHA.semd`` (``NET.STA.LOC.CHA.semd``
  with a location code; ``.semv``, ``.sema``, ``.semp`` by channel), time and value;
  adjoint sources ``NET.STA.CHA.adj``.
* ``hdf5``: one file per event (``traces.h5`` in the folder, or the given ``.h5``
  file), a dataset per trace with its header as attributes; dtypes kept.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from obspy import Stream, Trace, UTCDateTime
from obspy.core import AttribDict

from seisgrad.errors import DataError
from seisgrad.model import atomic_write
from seisgrad.preprocess.streams import EPOCH, header_of, trace_t0

log = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "atomic_write",
    "read_traces",
    "write_traces",
    "find_event_data",
    "read_su",
    "write_su",
    "su_file_name",
    "su_channel",
    "float32_time_step",
    "read_sac",
    "write_sac",
    "read_mseed",
    "write_mseed",
    "read_ascii",
    "write_ascii",
    "ascii_file_name",
    "write_adjoint_ascii",
    "read_hdf5",
    "write_hdf5",
]

FORMATS = ("su", "sac", "mseed", "ascii", "hdf5")

_SINGLE_FILE = {
    "hdf5": ("traces.h5", (".h5", ".hdf5")),
    "mseed": ("traces.mseed", (".mseed", ".miniseed", ".ms")),
}
_EXTS = {
    "su": (".su",),
    "sac": (".sac", ".SAC"),
    "ascii": (".semd", ".semv", ".sema", ".semp", ".adj"),
}


def _coords(tr: Trace) -> tuple[float, float] | None:
    c = tr.stats.get("coordinates")
    if c is not None and "x" in c and "z" in c:
        return float(c["x"]), float(c["z"])
    return None


def _set_coords(tr: Trace, x: float, z: float) -> None:
    tr.stats.coordinates = AttribDict(x=float(x), z=float(z))


def _check_writable(stream: Stream, fmt: str) -> None:
    """Refuse traces that no format can write faithfully: masked samples (gaps) and
    traces without samples."""
    for tr in stream:
        if tr.stats.npts == 0:
            raise DataError(
                f"cannot write trace {tr.id} as {fmt}: it has no samples (remove it from "
                "the stream)"
            )
        data = tr.data
        if np.ma.isMaskedArray(data) and np.ma.count_masked(data):
            raise DataError(
                f"cannot write trace {tr.id} as {fmt}: it has {np.ma.count_masked(data)} "
                "masked samples (gaps), whose values are arbitrary; fill them first "
                "(Stream.merge(fill_value=0.0) or tr.data = tr.data.filled(0.0))"
            )


def float32_time_step(value: float, hint: float | None = None) -> float:
    """A time step that a file stores as float32 (SAC ``delta``, SU ``d1``).

    ``hint`` (the time step the data should have, e.g. the synthetics') when it rounds to
    the same float32, else the shortest decimal number that does (``0.002``, not
    ``0.0020000000949949026``): exact for the usual decimal steps, within float32
    precision (6e-8 relative) otherwise.
    """
    v = np.float32(value)
    if hint is not None and np.float32(hint) == v:
        return float(hint)
    return float(str(v))


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise DataError(f"unknown data format '{fmt}'; valid formats: {', '.join(FORMATS)}")
    return fmt


# --------------------------------------------------------------------------- SU
_SU_CH = {"d": "U", "v": "V", "a": "A"}
_SU_MAX_NS = 65535  # ns and dt are unsigned 16-bit header fields
_SU_RE = re.compile(r"^U([xyzp])_file_single_([dvap])\.su$", re.IGNORECASE)


def su_file_name(channel: str) -> str:
    """SPECFEM2D-style SU file name of a channel (``UX`` -> ``Ux_file_single_d.su``)."""
    if channel == "P":
        return "Up_file_single_p.su"
    if len(channel) == 2 and channel[0] in "UVA" and channel[1] in "XYZ":
        q = {"U": "d", "V": "v", "A": "a"}[channel[0]]
        return f"U{channel[1].lower()}_file_single_{q}.su"
    return f"{channel}.su"


def su_channel(name: str) -> str:
    """Channel of an SU file name (inverse of :func:`su_file_name`)."""
    m = _SU_RE.match(name)
    if m:
        comp, q = m.group(1).lower(), m.group(2).lower()
        if comp == "p" or q == "p":
            return "P"
        return _SU_CH[q] + comp.upper()
    return Path(name).stem.upper()


def _f32(bits: int) -> float:
    return float(np.array(bits, dtype=np.int64).astype(np.uint32).view(np.float32))


def _bits(value: float) -> int:
    return int(np.array(value, dtype=np.float32).view(np.int32))


def _su_dt(header: int, d1: float, dt: float | None, hint: float | None, where: str) -> float:
    """Time step from the 16-bit dt header (us, or ms as SPECFEM2D writes on overflow).

    ``dt`` (given by the user) is authoritative but must agree with the header in one
    of the units; ``d1`` (written by seisgrad) picks the unit; ``hint`` (the synthetics'
    time step) picks the unit closest to it; otherwise the header is microseconds.
    """
    cands = [header * 1e-6, header * 1e-3]
    if dt is not None:
        if header in (0, int(round(dt * 1e6)), int(round(dt * 1e3))):
            return float(dt)
        raise DataError(
            f"{where}: SU dt header {header} means {cands[0]:g} s (microseconds) or "
            f"{cands[1]:g} s (milliseconds, SPECFEM2D), not the given time step {dt:g} s"
        )
    if d1 > 0:
        return float32_time_step(d1, hint)
    if header == 0:
        if hint is not None:
            return float(hint)
        raise DataError(f"{where}: SU dt header is 0; give the time step (su_dt)")
    if hint is not None:
        if header in (int(round(hint * 1e6)), int(round(hint * 1e3))):
            return float(hint)
        return float(min(cands, key=lambda c: abs(np.log(c / hint))))
    return float(cands[0])


def read_su(
    path: str | os.PathLike[str],
    dt: float | None = None,
    channel: str | None = None,
    dt_hint: float | None = None,
) -> Stream:
    """Read one SU file.

    Parameters
    ----------
    dt
        The time step, when known: resolves SPECFEM2D's millisecond fallback of the dt
        header (which must agree with it in one unit) and is used as the exact value.
    channel
        Channel of the traces (default: from the file name, see :func:`su_channel`).
    dt_hint
        A time step the data probably has (e.g. the synthetics'): without ``dt`` and
        without seisgrad's ``d1`` field, the header unit (us or ms) closest to it is
        taken.
    """
    from obspy import read

    path = Path(path)
    if not path.is_file():
        raise DataError(f"SU file {path} does not exist")
    size = path.stat().st_size
    if size < 240:  # not even one trace header
        raise DataError(
            f"{path} is not a readable SU file: it holds {size} bytes, less than one "
            "240-byte trace header"
        )
    try:
        st = read(str(path), format="SU")
    except Exception:  # obspy's endianness detection can fail on odd headers
        try:
            st = read(str(path), format="SU", byteorder="<")
        except Exception as exc:
            raise DataError(f"{path} is not a readable SU file: {exc}") from exc
    cha = channel or su_channel(path.name)
    out = []
    for i, tr in enumerate(st):
        h = tr.stats.su.trace_header
        d1 = _f32(h.x_coordinate_of_ensemble_position_of_this_trace)
        f1 = _f32(h.y_coordinate_of_ensemble_position_of_this_trace)
        delta = _su_dt(
            int(h.sample_interval_in_ms_for_this_trace), d1, dt, dt_hint, f"{path} trace {i + 1}"
        )
        t0 = f1 if f1 != 0.0 else 1e-3 * h.delay_recording_time
        new = Trace(np.asarray(tr.data, dtype=np.float32))
        new.stats.station = f"S{i:06d}"
        new.stats.channel = cha
        new.stats.delta = delta
        new.stats.starttime = EPOCH + float(t0)
        scal = h.scalar_to_be_applied_to_all_coordinates or 1
        factor = float(scal) if scal > 0 else 1.0 / float(-scal)
        gx, gz = h.group_coordinate_x, h.group_coordinate_y
        if gx or gz:
            _set_coords(new, gx * factor, gz * factor)
        out.append(new)
    return Stream(out)


def write_su(stream: Stream, folder: str | os.PathLike[str]) -> list[Path]:
    """Write one SU file per channel into ``folder`` (float32 samples).

    Raises
    ------
    DataError
        For a trace with more than 65535 samples or a time step above 0.065535 s
        (SU's 16-bit ``ns`` and ``dt`` headers cannot hold them), masked samples or no
        samples.
    """
    _check_writable(stream, "SU")
    for tr in stream:
        if tr.stats.npts > _SU_MAX_NS:
            raise DataError(
                f"cannot write trace {tr.id} as SU: it has {tr.stats.npts} samples, but SU "
                f"stores the number of samples in a 16-bit header (at most {_SU_MAX_NS}); "
                "use data_format 'hdf5', 'mseed', 'sac' or 'ascii'"
            )
        if int(round(float(tr.stats.delta) * 1e6)) > _SU_MAX_NS:
            raise DataError(
                f"cannot write trace {tr.id} as SU: its time step {tr.stats.delta:g} s does "
                "not fit SU's 16-bit dt header of microseconds (at most 0.065535 s, which "
                "ObsPy's SU writer enforces); use data_format 'hdf5', 'mseed', 'sac' or "
                "'ascii'"
            )
    from obspy.io.segy.segy import SEGYTraceHeader

    folder = Path(folder)
    by_channel: dict[str, list[Trace]] = {}
    for tr in stream:
        by_channel.setdefault(tr.stats.channel, []).append(tr)
    paths = []
    for cha, traces in by_channel.items():
        out = []
        for i, tr in enumerate(traces):
            dt = float(tr.stats.delta)
            us = int(round(dt * 1e6))
            h = SEGYTraceHeader()
            h.trace_sequence_number_within_line = i + 1
            h.trace_sequence_number_within_segy_file = i + 1
            h.number_of_samples_in_this_trace = tr.stats.npts
            h.sample_interval_in_ms_for_this_trace = us  # ObsPy writes this, unsigned
            h.x_coordinate_of_ensemble_position_of_this_trace = _bits(dt)
            t0 = trace_t0(tr)
            h.y_coordinate_of_ensemble_position_of_this_trace = _bits(t0)
            ms = int(round(t0 * 1e3))
            h.delay_recording_time = ms if -32768 <= ms <= 32767 else 0
            xz = _coords(tr)
            if xz is not None:
                h.scalar_to_be_applied_to_all_coordinates = -100
                h.group_coordinate_x = int(round(xz[0] * 100))
                h.group_coordinate_y = int(round(xz[1] * 100))
            new = Trace(np.asarray(tr.data, dtype=np.float32))
            new.stats.delta = dt
            new.stats.su = AttribDict(trace_header=h)
            out.append(new)
        st = Stream(out)
        paths.append(
            atomic_write(
                folder / su_file_name(cha),
                lambda p, st=st: st.write(str(p), format="SU", byteorder="<"),
            )
        )
    return paths


# --------------------------------------------------------------------------- SAC
_SAC_UNDEF = -12345.0


def read_sac(path: str | os.PathLike[str], dt_hint: float | None = None) -> Stream:
    """Read SAC file(s): one file, or every ``*.sac`` file of a folder.

    SAC stores the time step as float32; it is read as :func:`float32_time_step` gives
    it (``dt_hint``, e.g. the synthetics' time step, when it agrees to float32
    precision), not rounded to whole microseconds as ObsPy does.

    Raises
    ------
    DataError
        For an unreadable file or a time step that is not positive.
    """
    from obspy import read

    files = _files(Path(path), _EXTS["sac"])
    out = Stream()
    for f in files:
        try:
            # no rounding of delta to whole microseconds (5e-7 s became 0): the float32
            # value is resolved below (ObsPy still computes 1 / rounded delta)
            with np.errstate(divide="ignore"):
                st = read(str(f), format="SAC", round_sampling_interval=False)
        except Exception as exc:
            raise DataError(f"{f} is not a readable SAC file: {exc}") from exc
        for tr in st:
            sac = tr.stats.sac
            delta = float(sac.get("delta", 0.0))
            if not (math.isfinite(delta) and delta > 0):
                raise DataError(f"{f}: SAC time step delta = {delta:g} s is not positive")
            tr.stats.delta = float32_time_step(delta, dt_hint)
            x, z = sac.get("user0", _SAC_UNDEF), sac.get("user1", _SAC_UNDEF)
            if x != _SAC_UNDEF and z != _SAC_UNDEF:
                _set_coords(tr, x, z)
            tr.data = np.asarray(tr.data, dtype=np.float32)
            out.append(tr)
    return out


def write_sac(stream: Stream, folder: str | os.PathLike[str]) -> list[Path]:
    """Write one SAC file per trace, ``NET.STA.LOC.CHA.sac`` (float32 samples)."""
    _check_writable(stream, "SAC")
    folder = Path(folder)
    lossy = {
        float(tr.stats.delta)
        for tr in stream
        if float32_time_step(tr.stats.delta) != float(tr.stats.delta)
    }
    if lossy:
        log.warning(
            "SAC stores the time step as float32: %s s is read back as %s s unless the "
            "synthetics' time step gives it (read_observed does; use hdf5 to keep it "
            "exactly: MiniSEED stores a sample rate, within about 1e-8)",
            ", ".join(f"{v!r}" for v in sorted(lossy)),
            ", ".join(f"{float32_time_step(v)!r}" for v in sorted(lossy)),
        )
    paths = []
    for tr in stream:
        new = Trace(np.asarray(tr.data, dtype=np.float32), header=_plain_stats(tr))
        xz = _coords(tr)
        if xz is not None:
            new.stats.sac = AttribDict(user0=xz[0], user1=xz[1])
        paths.append(
            atomic_write(folder / f"{tr.id}.sac", lambda p, t=new: t.write(str(p), format="SAC"))
        )
    return paths


def _plain_stats(tr: Trace) -> dict:
    """Ids and time axis only: ObsPy's SAC writer reads ``coordinates`` as latitude and
    longitude, so x/z stay out."""
    head = header_of(tr)
    head.pop("coordinates", None)
    return head


# --------------------------------------------------------------------------- MiniSEED
def read_mseed(path: str | os.PathLike[str]) -> Stream:
    """Read a MiniSEED file (or every MiniSEED file of a folder)."""
    from obspy import read

    out = Stream()
    for f in _files(Path(path), _SINGLE_FILE["mseed"][1]):
        try:
            out += read(str(f), format="MSEED")
        except Exception as exc:
            raise DataError(f"{f} is not a readable MiniSEED file: {exc}") from exc
    return out


#: Longest codes a MiniSEED record holds.
MSEED_CODE_LENGTHS = {"network": 2, "station": 5, "location": 2, "channel": 3}
#: Those limits, for messages.
MSEED_LIMITS_TEXT = "network codes of up to 2 characters, stations of up to 5"


def mseed_codes_fit(network: str, station: str, location: str = "", channel: str = "") -> bool:
    """Whether MiniSEED can hold these codes (:data:`MSEED_CODE_LENGTHS`)."""
    codes = {"network": network, "station": station, "location": location, "channel": channel}
    return all(len(codes[k]) <= n for k, n in MSEED_CODE_LENGTHS.items())


def write_mseed(stream: Stream, path: str | os.PathLike[str]) -> Path:
    """Write all traces to one MiniSEED file (float64 or float32 samples kept).

    Raises
    ------
    DataError
        For an empty stream (MiniSEED cannot hold one), a trace without samples or with
        masked samples, or ids longer than MiniSEED's codes.
    """
    if len(stream) == 0:
        raise DataError(f"cannot write {path} as MiniSEED: the stream holds no traces")
    _check_writable(stream, "MiniSEED")
    too_long = [
        tr.id
        for tr in stream
        if not mseed_codes_fit(
            tr.stats.network, tr.stats.station, tr.stats.location, tr.stats.channel
        )
    ]
    if too_long:
        raise DataError(
            f"MiniSEED holds {MSEED_LIMITS_TEXT} and channels of up to 3; these ids do not "
            "fit: "
            + ", ".join(too_long[:10])
            + " (use data_format 'hdf5', 'sac', 'ascii' or 'su')"
        )
    out = Stream()
    for tr in stream:
        data = np.asarray(tr.data)
        dtype = np.float64 if data.dtype == np.float64 else np.float32
        out.append(Trace(np.ascontiguousarray(data, dtype=dtype), header=_plain_stats(tr)))
    return atomic_write(Path(path), lambda p: out.write(str(p), format="MSEED"))


# --------------------------------------------------------------------------- ASCII
def _ascii_suffix(channel: str) -> str:
    first = channel[:1]
    if channel == "P" or channel.endswith("P") and len(channel) == 1:
        return "semp"
    return {"U": "semd", "V": "semv", "A": "sema"}.get(first, "semd")


#: The comment line :func:`write_ascii` writes first: the time column of the file is
#: seisgrad's (0 = simulation start), taken as written whatever ``specfem_time`` says.
ASCII_OWN_TIME = "seisgrad time: simulation start"


def _ascii_comments(f: Path) -> dict[str, str]:
    """The ``# key: value`` lines at the top of an ASCII trace file (``delta``, see
    :func:`write_ascii`; ``seisgrad time``, :data:`ASCII_OWN_TIME`)."""
    out: dict[str, str] = {}
    with open(f) as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            key, _, value = line[1:].partition(":")
            out[key.strip()] = value.strip()
    return out


def _ascii_delta(f: Path, comments: Mapping[str, str]) -> float | None:
    """The ``# delta: <dt>`` comment that :func:`write_ascii` writes above a one-sample
    trace (whose time column cannot give the time step)."""
    if "delta" not in comments:
        return None
    try:
        return float(comments["delta"])
    except ValueError:
        raise DataError(f"{f}: '# delta: {comments['delta']}' does not give a time step") from None


#: What SPECFEM's ASCII suffixes say a trace holds (``Trace.stats.quantity``, see
#: :func:`seisgrad.preprocess.streams.quantity_of`).
_ASCII_QUANTITY = {".semd": "U", ".semv": "V", ".sema": "A", ".semp": "P"}


def read_ascii(path: str | os.PathLike[str], specfem_time: bool = True) -> Stream:
    """Read SPECFEM two-column ASCII traces (a file, or all of a folder).

    ``NET.STA.CHA.ext`` (SPECFEM's names) or ``NET.STA.LOC.CHA.ext`` (a location code)
    gives the ids; the first column gives the time axis (uniform spacing required; a
    one-sample trace takes its time step from a ``# delta: <dt>`` comment line).

    SPECFEM writes the time relative to the source's reference time: its first sample,
    the simulation's first step, is at ``-t0`` (``-1.2/f0`` for a Ricker), where
    seisgrad's time zero is the simulation start. With ``specfem_time`` (default) a
    time column that starts below zero is read so: the trace starts at 0 and
    ``tr.stats.specfem_t0`` keeps the offset ``-t[0]`` (the SU files of the same run,
    which hold no start time, are read the same way). seisgrad's own files (their first
    line is :data:`ASCII_OWN_TIME`) are read as they are.
    """
    out = Stream()
    for f in _files(Path(path), _EXTS["ascii"]):
        parts = f.name.split(".")
        if len(parts) == 4:
            net, sta, loc, cha = parts[0], parts[1], "", parts[2]
        elif len(parts) == 5:
            net, sta, loc, cha = parts[:4]
        else:
            raise DataError(f"{f}: expected a file name NET.STA.CHA.ext or NET.STA.LOC.CHA.ext")
        try:
            table = np.loadtxt(f, dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise DataError(f"{f} is not a two-column ASCII trace: {exc}") from exc
        if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] != 2:
            raise DataError(f"{f}: expected two columns (time, value), got shape {table.shape}")
        t = table[:, 0]
        comments = _ascii_comments(f)
        if t.size == 1:
            dt = _ascii_delta(f, comments)
            if dt is None or not (math.isfinite(dt) and dt > 0):
                raise DataError(
                    f"{f}: a single sample does not give the time step; add a line "
                    "'# delta: <dt>' above it"
                )
        else:
            dt = (t[-1] - t[0]) / (t.size - 1)
            if not dt > 0 or np.max(np.abs(np.diff(t) - dt)) > 1e-3 * dt:
                raise DataError(f"{f}: the time column is not uniformly increasing")
        tr = Trace(np.ascontiguousarray(table[:, 1]))
        tr.stats.network, tr.stats.station, tr.stats.channel = net, sta, cha
        tr.stats.location = loc
        quantity = _ASCII_QUANTITY.get(f.suffix)
        if quantity is not None:  # SPECFEM's channels (BXZ) do not say it, the suffix does
            tr.stats.quantity = quantity
        tr.stats.delta = float(dt)
        start = float(t[0])
        own = comments.get("seisgrad time") == ASCII_OWN_TIME.partition(":")[2].strip()
        if specfem_time and not own and start < -0.5 * dt:
            tr.stats.specfem_t0 = -start
            start = 0.0
        tr.stats.starttime = EPOCH + start
        out.append(tr)
    return out


def ascii_file_name(tr: Trace, suffix: str | None = None) -> str:
    """``NET.STA.CHA.<suffix>`` (SPECFEM's name), or ``NET.STA.LOC.CHA.<suffix>`` for a
    trace with a location code; suffix by channel when ``None``."""
    s = tr.stats
    loc = f"{s.location}." if s.location else ""
    return f"{s.network}.{s.station}.{loc}{s.channel}.{suffix or _ascii_suffix(s.channel)}"


def write_ascii(
    stream: Stream,
    folder: str | os.PathLike[str],
    suffix: str | None = None,
    *,
    marker: bool = True,
) -> list[Path]:
    """Write SPECFEM two-column files (full float64 precision), named by
    :func:`ascii_file_name`: ``NET.STA.CHA.<suffix>``, with the location code
    ``NET.STA.LOC.CHA.<suffix>`` (suffix by channel when ``None``: ``semd``, ``semv``,
    ``sema``, ``semp``). The first line, ``# seisgrad time: simulation start``
    (:data:`ASCII_OWN_TIME`), tells :func:`read_ascii` that the time column is
    seisgrad's (a negative start time is kept, not read as SPECFEM's ``-t0``; left out
    with ``marker=False``, for files SPECFEM reads); a one-sample trace gets a
    ``# delta: <dt>`` line below it.

    Raises
    ------
    DataError
        When two traces would get the same file name (the same id twice), or for a
        trace without samples or with masked samples.
    """
    _check_writable(stream, "ASCII")
    names: dict[str, str] = {}
    for tr in stream:
        name = ascii_file_name(tr, suffix)
        if name in names:
            raise DataError(
                f"traces {names[name]} and {tr.id} would both be written to {name}; "
                "trace ids must be unique"
            )
        names[name] = tr.id
    folder = Path(folder)
    paths = []
    for tr in stream:
        s = tr.stats
        t = trace_t0(tr) + float(s.delta) * np.arange(s.npts)
        table = np.column_stack([t, np.asarray(tr.data, dtype=np.float64)])
        lines = [ASCII_OWN_TIME] if marker else []
        if s.npts == 1:
            lines.append(f"delta: {float(s.delta)!r}")
        head = "\n".join(lines)
        paths.append(
            atomic_write(
                folder / ascii_file_name(tr, suffix),
                lambda p, a=table, h=head: np.savetxt(
                    p, a, fmt=["%.12f", "%.17e"], header=h, comments="# "
                ),
            )
        )
    return paths


def write_adjoint_ascii(stream: Stream, folder: str | os.PathLike[str]) -> list[Path]:
    r"""Write adjoint sources as SPECFEM ``NET.STA.CHA.adj`` files (``NET.STA.LOC.CHA.adj``
    for a trace with a location code, which SPECFEM itself does not use).

    seisgrad's adjoint sources (``MisfitResult.adjoint``) hold
    :math:`\partial J / \partial s_n` per synthetic sample, which is what its solver
    injects. SPECFEM (and SeisFlows' files) read an adjoint source as a function of time,
    :math:`f(t)` with :math:`\delta J = \int f\,\delta s\,dt`, so the files hold
    :math:`f_n = (\partial J / \partial s_n) / \Delta t`: each trace is divided by its
    sample interval here (the files of the SPECFEM fixtures are 1/dt times seisgrad's
    adjoint source of the same measurement).
    """
    per_time = Stream()
    for tr in stream:
        out = tr.copy()
        out.data = np.asarray(tr.data, dtype=np.float64) / float(tr.stats.delta)
        per_time.append(out)
    # no comment line: SPECFEM's Fortran reader takes every line as two numbers
    return write_ascii(per_time, folder, suffix="adj", marker=False)


# --------------------------------------------------------------------------- HDF5
_HEADER_TEXT = ("network", "station", "location", "channel")


def _header_table(stream: Stream) -> np.ndarray:
    """One row per trace: the text headers as UTF-8 bytes, delta, start, coordinates."""
    text = {k: [str(tr.stats[k]).encode("utf-8") for tr in stream] for k in _HEADER_TEXT}
    fields: list[tuple[str, Any]] = [
        (k, f"S{max([len(v) for v in text[k]], default=0) or 1}") for k in _HEADER_TEXT
    ]
    fields += [("delta", "f8"), ("starttime_ns", "i8"), ("x", "f8"), ("z", "f8")]
    table = np.zeros(len(stream), dtype=fields)
    for k in _HEADER_TEXT:
        table[k] = text[k]
    for i, tr in enumerate(stream):
        xz = _coords(tr)
        table[i]["delta"] = float(tr.stats.delta)
        table[i]["starttime_ns"] = tr.stats.starttime.ns
        table[i]["x"], table[i]["z"] = xz if xz is not None else (np.nan, np.nan)
    return table


def write_hdf5(stream: Stream, path: str | os.PathLike[str]) -> Path:
    """Write the traces of one event to one HDF5 file (dtypes and headers kept).

    Layout (``version`` 2): group ``traces`` with a dataset ``header`` (one row per
    trace: ``network``, ``station``, ``location``, ``channel``, ``delta``,
    ``starttime_ns``, ``x``, ``z``; NaN coordinates when unknown) and the samples in one
    2-D dataset ``data`` (traces x samples) when all traces have the same length and
    dtype, else one dataset per trace (``000000``, ``000001``, ...). Files of version 1
    (one dataset per trace with attributes) are still read.
    """
    _check_writable(stream, "HDF5")
    table = _header_table(stream)
    arrays = [np.asarray(tr.data) for tr in stream]
    same = len({(a.shape, a.dtype.str) for a in arrays}) == 1

    def write(p: Path) -> None:
        with h5py.File(p, "w") as f:
            f.attrs["format"] = "seisgrad-traces"
            f.attrs["version"] = 2
            grp = f.create_group("traces")
            grp.create_dataset("header", data=table)
            if same:
                grp.create_dataset("data", data=np.stack(arrays))
            else:
                for i, a in enumerate(arrays):
                    grp.create_dataset(f"{i:06d}", data=a)

    return atomic_write(Path(path), write)


def _trace(data: np.ndarray, head: dict[str, Any]) -> Trace:
    tr = Trace(data)
    for k in _HEADER_TEXT:
        tr.stats[k] = head[k]
    tr.stats.delta = head["delta"]
    tr.stats.starttime = UTCDateTime(ns=head["starttime_ns"])
    if head.get("x") is not None and head.get("z") is not None:
        _set_coords(tr, head["x"], head["z"])
    return tr


def read_hdf5(path: str | os.PathLike[str]) -> Stream:
    """Read traces written by :func:`write_hdf5` (versions 1 and 2).

    Raises
    ------
    DataError
        Naming the file and what is missing or malformed (a group, dataset, header
        field or attribute, an unknown version).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"trace file {path} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path} is not an HDF5 file: {exc}") from exc
    with f:
        try:
            return _read_hdf5(f, path)
        except (KeyError, ValueError, TypeError, IndexError, OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path} is not a readable seisgrad trace file: {exc}") from exc


_HEADER_FIELDS = (*_HEADER_TEXT, "delta", "starttime_ns")


def _read_hdf5(f: h5py.File, path: Path) -> Stream:
    out = Stream()
    version = f.attrs.get("version")
    if version is not None and int(version) not in (1, 2):
        raise DataError(f"{path}: unknown seisgrad trace file version {version} (known: 1, 2)")
    if "traces" not in f:
        raise DataError(f"{path} holds no 'traces' group (not a seisgrad trace file)")
    grp = f["traces"]
    if "header" in grp:  # version 2
        table = grp["header"][()]
        names = table.dtype.names or ()
        missing = [k for k in _HEADER_FIELDS if k not in names]
        if missing:
            raise DataError(f"{path}: traces/header lacks the field(s) {', '.join(missing)}")
        data = grp["data"][()] if "data" in grp else None
        if data is not None and (data.ndim != 2 or data.shape[0] != len(table)):
            raise DataError(
                f"{path}: traces/data has shape {data.shape}, not one row for each of the "
                f"{len(table)} traces in traces/header"
            )
        for i, row in enumerate(table):
            head: dict[str, Any] = {k: row[k].decode("utf-8") for k in _HEADER_TEXT}
            head["delta"] = float(row["delta"])
            head["starttime_ns"] = int(row["starttime_ns"])
            x = float(row["x"]) if "x" in names else math.nan
            z = float(row["z"]) if "z" in names else math.nan
            if not (math.isnan(x) or math.isnan(z)):
                head["x"], head["z"] = x, z
            if data is not None:
                samples = data[i].copy()
            elif f"{i:06d}" in grp:
                samples = grp[f"{i:06d}"][()]
            else:
                raise DataError(
                    f"{path}: no samples for trace {i} ({head['network']}.{head['station']}."
                    f"{head['location']}.{head['channel']}): neither traces/data nor "
                    f"traces/{i:06d} exists"
                )
            if not (math.isfinite(head["delta"]) and head["delta"] > 0):
                raise DataError(
                    f"{path}: trace {i} ({head['network']}.{head['station']}."
                    f"{head['location']}.{head['channel']}) has the time step "
                    f"{head['delta']!r}; it must be a positive number"
                )
            out.append(_trace(samples, head))
        return out
    for name in sorted(grp):  # version 1: a dataset with attributes per trace
        ds = grp[name]
        if not isinstance(ds, h5py.Dataset):
            raise DataError(f"{path}: traces/{name} is not a dataset")
        a = ds.attrs
        missing = [k for k in _HEADER_FIELDS if k not in a]
        if missing:
            raise DataError(
                f"{path}: dataset traces/{name} lacks the attribute(s) {', '.join(missing)} "
                "(and there is no traces/header table)"
            )
        head = {k: str(a[k]) for k in _HEADER_TEXT}
        head["delta"] = float(a["delta"])
        head["starttime_ns"] = int(a["starttime_ns"])
        if "x" in a and "z" in a:
            head["x"], head["z"] = float(a["x"]), float(a["z"])
        out.append(_trace(np.asarray(ds[()]), head))
    return out


# --------------------------------------------------------------------------- dispatch
def _files(path: Path, exts: Sequence[str]) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in exts)
        if not files:
            raise DataError(f"no {'/'.join(exts)} files in {path}")
        return files
    raise DataError(f"{path} does not exist")


def read_traces(
    path: str | os.PathLike[str],
    fmt: str,
    dt: float | None = None,
    dt_hint: float | None = None,
    specfem_time: bool = True,
) -> Stream:
    """Read the traces of one event from a file or folder in format ``fmt``.

    ``dt`` and ``dt_hint`` resolve the unit of SU dt headers (see :func:`read_su`);
    ``dt_hint`` also restores a time step that SAC and SU files store as float32 (see
    :func:`float32_time_step`); ``specfem_time``: how ASCII time columns that start
    below zero are read (see :func:`read_ascii`).
    """
    _check_format(fmt)
    path = Path(path)
    if fmt == "hdf5":
        if path.is_dir():
            return Stream(
                [tr for f in _files(path, _SINGLE_FILE["hdf5"][1]) for tr in read_hdf5(f)]
            )
        return read_hdf5(path)
    if fmt == "mseed":
        return read_mseed(path)
    if fmt == "sac":
        return read_sac(path, dt_hint=dt_hint)
    if fmt == "ascii":
        return read_ascii(path, specfem_time=specfem_time)
    out = Stream()
    for f in _files(path, _EXTS["su"]):
        out += read_su(f, dt=dt, dt_hint=dt_hint)
    return out


def write_traces(stream: Stream, path: str | os.PathLike[str], fmt: str) -> Path:
    """Write the traces of one event; return the file or folder written.

    ``path`` is the event's folder; for ``hdf5`` and ``mseed`` a path with the
    format's suffix is taken as the file itself.
    """
    _check_format(fmt)
    path = Path(path)
    if fmt in _SINGLE_FILE:
        default, exts = _SINGLE_FILE[fmt]
        target = path if path.suffix in exts else path / default
        return write_hdf5(stream, target) if fmt == "hdf5" else write_mseed(stream, target)
    path.mkdir(parents=True, exist_ok=True)
    if fmt == "su":
        write_su(stream, path)
    elif fmt == "sac":
        write_sac(stream, path)
    else:
        write_ascii(stream, path)
    return path


def find_event_data(root: str | os.PathLike[str], event: str, fmt: str) -> Path:
    """Where the data of ``event`` lies under ``root``.

    Tried in order: the folder ``root/<event>``, a file ``root/<event><ext>`` with an
    extension of the format, and ``root`` itself when it is a file.
    """
    _check_format(fmt)
    root = Path(root)
    exts = _SINGLE_FILE[fmt][1] if fmt in _SINGLE_FILE else _EXTS[fmt]
    tried = [root / event]
    if (root / event).is_dir():
        return root / event
    for ext in exts:
        cand = root / f"{event}{ext}"
        tried.append(cand)
        if cand.is_file():
            return cand
    if root.is_file():
        return root
    raise DataError(
        f"no observed data for event '{event}' in format '{fmt}': tried "
        + ", ".join(str(p) for p in tried)
    )
