"""Between ObsPy Streams and the ``(ntraces, nt)`` arrays the pipeline works on.

Trace matching rules (observed to synthetic): a synthetic trace ``NET.STA.LOC.CHA``
takes the observed trace with the same network, station and channel; failing that, the
one with the same network, station and component (last letter of the channel, so
SPECFEM's ``BXZ`` matches ``UZ``), provided that is unambiguous and that both do not say
they hold different quantities (:func:`quantity_of`: displacement ``UZ`` or a ``.semd``
file never matches velocity ``VZ``). Anything missing on either side is a
:class:`~seisgrad.errors.DataError` that names the traces.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from obspy import Stream, Trace, UTCDateTime
from obspy.core import AttribDict

from seisgrad.errors import DataError
from seisgrad.preprocess.processing import TraceContext
from seisgrad.solver.acquisition import Event, Receiver

__all__ = [
    "EPOCH",
    "trace_t0",
    "select_components",
    "check_common_axis",
    "match_traces",
    "quantity_of",
    "same_time_step",
    "samples",
    "stack",
    "context_for",
    "with_data",
    "header_of",
    "list_ids",
]

#: Time zero of the simulation (``UTCDateTime(0)``).
EPOCH = UTCDateTime(0)


def trace_t0(tr: Trace) -> float:
    """Time of the first sample in seconds after the simulation start."""
    return float(tr.stats.starttime - EPOCH)


def list_ids(ids: Sequence[str], limit: int = 12) -> str:
    """Comma-separated ids, shortened after ``limit``."""
    ids = list(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def _wants(channel: str, components: Sequence[str] | None) -> bool:
    if components is None:
        return True
    return channel in components or channel[-1:] in components


def select_components(stream: Stream, components: Sequence[str] | None) -> list[Trace]:
    """Traces whose channel (``"UX"``) or component (``"X"``) is in ``components``
    (all traces when ``None``)."""
    return [tr for tr in stream if _wants(tr.stats.channel, components)]


def check_common_axis(
    traces: Sequence[Trace], what: str = "synthetic"
) -> tuple[float, float, int]:
    """``(dt, t0, nt)`` shared by all traces, or a DataError naming the odd ones."""
    if not traces:
        raise DataError(f"no {what} traces")
    ref = traces[0]
    dt, t0, nt = float(ref.stats.delta), trace_t0(ref), int(ref.stats.npts)
    if not (math.isfinite(dt) and dt > 0):
        raise DataError(f"{what} trace {ref.id} has the time step {dt:g} s; it must be > 0")
    odd = [
        tr.id
        for tr in traces
        if int(tr.stats.npts) != nt
        or not math.isclose(float(tr.stats.delta), dt, rel_tol=1e-9)
        or abs(trace_t0(tr) - t0) > 1e-6 * dt
    ]
    if odd:
        raise DataError(
            f"{what} traces must share one time axis (dt={dt:g} s, t0={t0:g} s, nt={nt} "
            f"as {ref.id}); these differ: {list_ids(odd)}"
        )
    return dt, t0, nt


#: Quantities a trace can say it holds (:func:`quantity_of`).
QUANTITIES = {"U": "displacement", "V": "velocity", "A": "acceleration", "P": "pressure"}


def quantity_of(tr: Trace) -> str | None:
    """What ``tr`` holds, when it says so: ``"U"`` (displacement), ``"V"`` (velocity),
    ``"A"`` (acceleration), ``"P"`` (pressure), else ``None``.

    From ``tr.stats.quantity`` (set by the ASCII reader from SPECFEM's suffixes
    ``.semd``, ``.semv``, ``.sema``, ``.semp``), or from seisgrad's channel names
    (``UX``, ``VZ``, ``AX``, ``P``; also SPECFEM's SU files, read as such). SEED
    channels (``BXZ``, ``HHZ``) do not say.
    """
    q = tr.stats.get("quantity")
    if q in QUANTITIES:
        return str(q)
    cha = tr.stats.channel
    if cha == "P":
        return "P"
    if len(cha) == 2 and cha[0] in "UVA" and cha[1] in "XYZ":
        return cha[0]
    return None


def same_time_step(odt: float, dt: float, n: int) -> bool:
    """True when samples ``n`` steps of ``odt`` and of ``dt`` apart drift by less than
    1e-3 of a sample: a time step written as float32 (SAC, SU) and read back (1e-9 to
    6e-8 off) is the same step, and the samples are taken as they are."""
    return abs(odt - dt) * max(n, 1) <= 1e-3 * dt


def _component(tr: Trace) -> str:
    """What component matching compares: ``P`` for pressure (SPECFEM's ``PRE`` in a
    ``.semp`` file, seisgrad's ``P``), else the last letter of the channel."""
    return "P" if quantity_of(tr) == "P" else tr.stats.channel[-1:]


def match_traces(
    observed: Sequence[Trace], synthetic: Sequence[Trace], *, ignore_extra: bool = False
) -> list[Trace]:
    """Observed trace for each synthetic trace (same order).

    Raises
    ------
    DataError
        Naming the synthetic traces with no observed trace and (unless
        ``ignore_extra``) the observed traces with no synthetic trace.
    """
    by_channel: dict[tuple[str, str, str], list[Trace]] = {}
    by_comp: dict[tuple[str, str, str], list[Trace]] = {}
    for tr in observed:
        s = tr.stats
        by_channel.setdefault((s.network, s.station, s.channel), []).append(tr)
        by_comp.setdefault((s.network, s.station, _component(tr)), []).append(tr)
    out: list[Trace] = []
    used: set[int] = set()
    missing = []
    unlike = []
    for tr in synthetic:
        s = tr.stats
        cands = by_channel.get((s.network, s.station, s.channel))
        if not cands:
            cands = by_comp.get((s.network, s.station, _component(tr)))
            if cands and len(cands) > 1 and quantity_of(tr) is not None:
                # SPECFEM writes .semd and .semv side by side: the quantity picks one
                same = [c for c in cands if quantity_of(c) == quantity_of(tr)]
                cands = same or cands
            if cands and len(cands) == 1:
                qs, qo = quantity_of(tr), quantity_of(cands[0])
                if qs is not None and qo is not None and qs != qo:
                    unlike.append(
                        f"{tr.id} ({QUANTITIES[qs]}) with {cands[0].id} ({QUANTITIES[qo]})"
                    )
                    continue
        if not cands or len(cands) > 1:
            missing.append(tr.id + (" (ambiguous)" if cands else ""))
            continue
        if id(cands[0]) in used:
            missing.append(tr.id + " (observed trace already used)")
            continue
        used.add(id(cands[0]))
        out.append(cands[0])
    extra = [tr.id for tr in observed if id(tr) not in used]
    problems = []
    if unlike:
        problems.append(
            "observed and synthetic traces hold different quantities: "
            + list_ids(unlike, 4)
            + " (record the quantity of the data, e.g. the solver's 'record: [UX, UZ]' "
            "for displacement, or convert the data)"
        )
    if missing:
        problems.append("no observed data for synthetic traces " + list_ids(missing))
    if extra and not ignore_extra:
        problems.append("observed traces without synthetics " + list_ids(extra))
    if problems:
        raise DataError("; ".join(problems))
    return out


def samples(tr: Trace, what: str = "observed") -> np.ndarray:
    """The samples of ``tr`` as float64.

    Raises
    ------
    DataError
        When ``tr.data`` is a masked array with masked samples (gaps, e.g. from
        ``Stream.merge()``): masked samples hold arbitrary values and are never used as
        data. (A masked array with nothing masked is taken as it is.)
    """
    data = tr.data
    if np.ma.isMaskedArray(data):
        n = int(np.ma.count_masked(data))
        if n:
            raise DataError(
                f"{what} trace {tr.id} has {n} masked samples (gaps); fill them first "
                "(Stream.merge(fill_value=0.0) or tr.data = tr.data.filled(0.0)) or cut "
                "the trace: masked samples hold arbitrary values"
            )
        data = np.ma.getdata(data)
    return np.asarray(data, dtype=np.float64)


def stack(traces: Sequence[Trace], what: str = "synthetic") -> np.ndarray:
    """Samples as a float64 array of shape ``(ntraces, nt)`` (masked samples are an
    error, see :func:`samples`)."""
    return np.array([samples(tr, what) for tr in traces], dtype=np.float64)


def _receiver_of(tr: Trace, receivers: Sequence[Receiver] | None) -> Receiver | None:
    s = tr.stats
    if receivers:
        for r in receivers:
            if r.station == s.station and (r.network == s.network or not s.network):
                return r
    coords = s.get("coordinates")
    if coords is not None and "x" in coords and "z" in coords:
        return Receiver(
            station=s.station,
            x=float(coords["x"]),
            z=float(coords["z"]),
            network=s.network or "XX",
        )
    return None


def context_for(
    traces: Sequence[Trace],
    event: Event | None = None,
    receivers: Sequence[Receiver] | None = None,
) -> TraceContext:
    """Processing context of synthetic ``traces`` (which share one time axis)."""
    dt, t0, nt = check_common_axis(traces)
    return TraceContext(
        dt=dt,
        nt=nt,
        t0=t0,
        ids=[tr.id for tr in traces],
        receivers=[_receiver_of(tr, receivers) for tr in traces],
        sources=list(event.sources) if event is not None else [],
    )


def header_of(tr: Trace) -> dict:
    """The identifying header of ``tr`` (ids, time axis, coordinates), without
    format-specific entries; cheaper to copy than the whole ``stats``."""
    s = tr.stats
    head = {
        "network": s.network,
        "station": s.station,
        "location": s.location,
        "channel": s.channel,
        "delta": s.delta,
        "starttime": s.starttime,
    }
    c = s.get("coordinates")
    if c is not None:
        head["coordinates"] = AttribDict(dict(c))
    return head


def with_data(traces: Sequence[Trace], data: np.ndarray | Sequence[np.ndarray]) -> Stream:
    """Traces with the ids, time axis and coordinates of ``traces`` holding the rows of
    ``data`` (float64)."""
    return Stream(
        [
            Trace(np.array(row, dtype=np.float64), header=header_of(tr))
            for tr, row in zip(traces, data, strict=True)
        ]
    )


def align_trace(
    tr: Trace, dt: float, t0: float, nt: int, lanczos_a: int = 20, *, demean: bool = True
) -> np.ndarray:
    """Observed trace resampled and trimmed onto the axis ``t0 + n*dt`` (demeaned first
    when ``demean``).

    Same time step and a whole-sample offset: samples are copied. Otherwise the trace is
    low-passed at 80% of the new Nyquist frequency when it is downsampled (zero-phase
    Butterworth, 8 poles) and Lanczos-interpolated. Samples outside the observed time
    range are zero. Only observed data goes through this (it needs no adjoint).

    ``demean`` should follow the processing: :class:`~seisgrad.preprocess.default.Default`
    passes its ``demean`` parameter, so that an observed trace already on the
    synthetics' axis (which is not aligned) and one that is aligned are treated alike.

    Raises
    ------
    DataError
        When the observed trace does not overlap the time axis at all, or has masked
        samples (gaps).
    """
    from scipy import signal

    data = samples(tr, "observed")
    if data.size == 0:
        raise DataError(f"observed trace {tr.id} has no samples")
    bad = np.flatnonzero(~np.isfinite(data))
    if bad.size:
        raise DataError(
            f"observed trace {tr.id} holds {bad.size} non-finite samples ({data[bad[0]]} "
            f"at sample {bad[0]})"
        )
    if demean:
        data = data - data.mean()
    odt, ot0 = float(tr.stats.delta), trace_t0(tr)
    if not (math.isfinite(odt) and odt > 0):
        raise DataError(f"observed trace {tr.id} has the time step {odt:g} s; it must be > 0")
    if not (math.isfinite(dt) and dt > 0):
        raise DataError(f"time step of the synthetics' axis must be > 0, got {dt:g} s")
    oend = ot0 + odt * (data.size - 1)
    t = t0 + dt * np.arange(nt)
    # no observed sample within the axis (to round-off): nothing to align (within
    # half a sample, every sample was zero and the trace was measured as silent)
    if oend < t[0] - 1e-6 * dt or ot0 > t[-1] + 1e-6 * dt:
        raise DataError(
            f"observed trace {tr.id} ({ot0:g} to {oend:g} s) does not overlap the "
            f"synthetics' time axis ({t[0]:g} to {t[-1]:g} s)"
        )
    out = np.zeros(nt)
    shift = (ot0 - t0) / dt
    if same_time_step(odt, dt, max(data.size, nt)) and abs(shift - round(shift)) < 1e-6:
        k = int(round(shift))  # observed sample 0 sits at synthetic sample k
        lo, hi = max(0, k), min(nt, k + data.size)
        out[lo:hi] = data[lo - k : hi - k]
        return out
    if odt < dt:
        sos = signal.butter(8, 0.8 * 0.5 / dt, btype="lowpass", output="sos", fs=1.0 / odt)
        # scipy's edge padding (3 x (2 sections + 1) samples), or what a short trace has
        ntaps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
        padlen = min(3 * ntaps, data.size - 1)
        data = np.ascontiguousarray(signal.sosfiltfilt(sos, data, padlen=padlen))
    from obspy.signal.interpolation import lanczos_interpolation

    inside = np.nonzero((t >= ot0 - 1e-9 * odt) & (t <= oend + 1e-9 * odt))[0]
    if inside.size:
        first = float(max(t[inside[0]], ot0))
        vals = lanczos_interpolation(
            data, ot0, odt, first, dt, inside.size, a=lanczos_a, window="blackman"
        )
        out[inside] = vals
    return out
