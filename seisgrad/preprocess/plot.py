"""Trace figures: observed, synthetic and adjoint source, measurement windows shaded.

* :func:`plot_traces`: one PNG per receiver (a row per component: observed and
  synthetic on top, the adjoint source below).
* :func:`plot_record_section`: one PNG per event (a column per component; traces at
  their offset, or x position; the adjoint sources in a second panel).
* :func:`plot_event`: runs the preprocess on an event and plots what it measured
  (processed traces, adjoint sources, the windows of its parameters).

``windows`` is ``None``, a list ``[(t_start, t_end), ...]`` for every trace, or a
mapping from trace id to such a list (as ``MisfitResult.extra["windows"]``).
Figures are made with Matplotlib's Agg canvas (no display needed, no global backend
change) and written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seisgrad.errors import DataError
from seisgrad.preprocess.streams import trace_t0

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from obspy import Stream, Trace

    from seisgrad.preprocess.base import Preprocess
    from seisgrad.solver.acquisition import Event, Receiver

__all__ = [
    "trace_figure",
    "plot_traces",
    "record_section_figure",
    "plot_record_section",
    "plot_event",
    "save_figure",
]

Windows = Sequence[Sequence[float]] | Mapping[str, Sequence[Sequence[float]]] | None

OBS_STYLE = {"color": "k", "lw": 1.0, "label": "observed"}
SYN_STYLE = {"color": "tab:red", "lw": 1.0, "label": "synthetic"}
ADJ_STYLE = {"color": "tab:blue", "lw": 1.0, "label": "adjoint source"}
WIN_STYLE = {"color": "gold", "alpha": 0.3, "lw": 0}


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write ``fig`` as PNG atomically; return the path."""
    from seisgrad.preprocess.io import atomic_write

    return atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=dpi))


def _times(tr: Trace) -> np.ndarray:
    return trace_t0(tr) + float(tr.stats.delta) * np.arange(tr.stats.npts)


def _windows_of(windows: Windows, trace_id: str) -> list[tuple[float, float]]:
    if windows is None:
        return []
    if isinstance(windows, Mapping):
        parts = trace_id.split(".")
        for key in (trace_id, ".".join(parts[:2]), parts[1] if len(parts) > 1 else "", "*"):
            if key in windows:
                return [(float(a), float(b)) for a, b in windows[key]]
        return []
    return [(float(a), float(b)) for a, b in windows]


def _by_id(stream: Stream | None) -> dict[str, Trace]:
    return {tr.id: tr for tr in stream} if stream is not None else {}


def _check(synthetic: Stream) -> None:
    if synthetic is None or len(synthetic) == 0:
        raise DataError("nothing to plot: no synthetic traces")


def _receiver_key(tr: Trace) -> str:
    return f"{tr.stats.network}.{tr.stats.station}"


def trace_figure(
    observed: Stream | None,
    synthetic: Stream,
    adjoint: Stream | None = None,
    windows: Windows = None,
    *,
    receiver: str | None = None,
    title: str | None = None,
) -> Figure:
    """Figure of one receiver (``NET.STA``; default the first of ``synthetic``): per
    component, observed and synthetic traces, and the adjoint source below them."""
    _check(synthetic)
    key = receiver or _receiver_key(synthetic[0])
    traces = [tr for tr in synthetic if _receiver_key(tr) == key]
    if not traces:
        raise DataError(f"no synthetic traces of receiver {key}")
    obs, adj = _by_id(observed), _by_id(adjoint)
    rows = len(traces) * (2 if adjoint is not None else 1)
    fig = _new_figure(9.0, 1.9 * rows + 0.6)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    for k, tr in enumerate(traces):
        ax = axes[k * (2 if adjoint is not None else 1)]
        t = _times(tr)
        if tr.id in obs:
            ax.plot(_times(obs[tr.id]), obs[tr.id].data, **OBS_STYLE)
        ax.plot(t, tr.data, **SYN_STYLE)
        ax.set_ylabel(tr.stats.channel)
        ax.set_title(tr.id, fontsize=9, loc="left")
        wins = _windows_of(windows, tr.id)
        for a, b in wins:
            ax.axvspan(a, b, **WIN_STYLE)
        if k == 0:
            ax.legend(loc="upper right", fontsize=8)
        if adjoint is not None:
            axa = axes[k * 2 + 1]
            if tr.id in adj:
                axa.plot(_times(adj[tr.id]), adj[tr.id].data, **ADJ_STYLE)
            for a, b in wins:
                axa.axvspan(a, b, **WIN_STYLE)
            axa.set_ylabel(f"adj {tr.stats.channel}")
            if k == 0:
                axa.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title or key)
    return fig


def plot_traces(
    observed: Stream | None,
    synthetic: Stream,
    adjoint: Stream | None = None,
    windows: Windows = None,
    path: str | os.PathLike[str] = ".",
    *,
    receivers: Sequence[str] | None = None,
    prefix: str = "",
    title: str | None = None,
    dpi: int = 100,
) -> list[Path]:
    """One PNG per receiver, ``<path>/<prefix>NET.STA.png``; return the paths.

    ``receivers`` limits the plot to these ``NET.STA`` keys (or station names).
    """
    _check(synthetic)
    keys: list[str] = []
    for tr in synthetic:
        k = _receiver_key(tr)
        if k not in keys and (
            receivers is None or k in receivers or tr.stats.station in receivers
        ):
            keys.append(k)
    if not keys:
        raise DataError(f"none of the receivers {list(receivers or [])} is in the synthetics")
    folder = Path(path)
    out = []
    for k in keys:
        fig = trace_figure(
            observed,
            synthetic,
            adjoint,
            windows,
            receiver=k,
            title=f"{title}: {k}" if title else k,
        )
        out.append(save_figure(fig, folder / f"{prefix}{k}.png", dpi))
    return out


def _positions(traces: Sequence[Trace], event: Event | None) -> tuple[np.ndarray, str]:
    coords = [tr.stats.get("coordinates") for tr in traces]
    have = all(c is not None and "x" in c and "z" in c for c in coords)
    if have and event is not None and event.sources:
        pos = [min(math.hypot(c["x"] - s.x, c["z"] - s.z) for s in event.sources) for c in coords]
        return np.asarray(pos, dtype=np.float64), "offset (m)"
    if have:
        return np.array([float(c["x"]) for c in coords]), "receiver x (m)"
    return np.arange(len(traces), dtype=np.float64), "trace"


def record_section_figure(
    observed: Stream | None,
    synthetic: Stream,
    adjoint: Stream | None = None,
    windows: Windows = None,
    *,
    event: Event | None = None,
    title: str | None = None,
) -> Figure:
    """Record section: a column per component, traces at their offset (with ``event``),
    x position or index; observed and synthetic normalized together per trace; adjoint
    sources (in a second row) normalized by their largest value over the event."""
    _check(synthetic)
    comps: list[str] = []
    for tr in synthetic:
        if tr.stats.channel not in comps:
            comps.append(tr.stats.channel)
    obs, adj = _by_id(observed), _by_id(adjoint)
    nrow = 2 if adjoint is not None else 1
    fig = _new_figure(4.5 * len(comps) + 1.0, 5.0 * nrow)
    axes = fig.subplots(nrow, len(comps), squeeze=False, sharex=True)
    adj_max = max((float(np.max(np.abs(t.data))) for t in adj.values() if t.stats.npts), default=0)
    for j, ch in enumerate(comps):
        traces = [tr for tr in synthetic if tr.stats.channel == ch]
        pos, label = _positions(traces, event)
        order = np.argsort(pos, kind="stable")
        # mean spacing (not the smallest gap: on a ring, pairs of receivers share
        # almost the same offset and would squash every trace to a line)
        span = float(np.ptp(pos)) if len(pos) > 1 else 0.0
        step = span / (len(pos) - 1) if span > 0 else 1.0
        ax = axes[0, j]
        first = True
        for i in order:
            tr = traces[i]
            t = _times(tr)
            o = obs.get(tr.id)
            norm = float(np.max(np.abs(tr.data))) if tr.stats.npts else 0.0
            if o is not None and o.stats.npts:
                norm = max(norm, float(np.max(np.abs(o.data))))
            norm = norm or 1.0
            y = pos[i]
            for a, b in _windows_of(windows, tr.id):
                for axx in axes[:, j]:
                    axx.fill_between([a, b], y - 0.45 * step, y + 0.45 * step, **WIN_STYLE)
            if o is not None:
                ax.plot(
                    _times(o),
                    y + 0.45 * step * o.data / norm,
                    **(OBS_STYLE if first else {**OBS_STYLE, "label": None}),
                )
            ax.plot(
                t,
                y + 0.45 * step * tr.data / norm,
                **(SYN_STYLE if first else {**SYN_STYLE, "label": None}),
            )
            if adjoint is not None and tr.id in adj:
                a_tr = adj[tr.id]
                axes[1, j].plot(
                    _times(a_tr),
                    y + 0.45 * step * a_tr.data / (adj_max or 1.0),
                    **(ADJ_STYLE if first else {**ADJ_STYLE, "label": None}),
                )
            first = False
        ax.set_title(ch)
        for axx in axes[:, j]:
            axx.set_ylabel(label)
        axes[-1, j].set_xlabel("time (s)")
        ax.legend(loc="upper right", fontsize=8)
        if adjoint is not None:
            axes[1, j].set_title(f"adjoint sources {ch}")
            axes[1, j].legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_record_section(
    observed: Stream | None,
    synthetic: Stream,
    adjoint: Stream | None,
    path: str | os.PathLike[str],
    *,
    windows: Windows = None,
    event: Event | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Write the record section of one event as PNG; return the path."""
    fig = record_section_figure(observed, synthetic, adjoint, windows, event=event, title=title)
    return save_figure(fig, path, dpi)


def plot_event(
    preprocess: Preprocess,
    observed: Stream,
    synthetic: Stream,
    event: Event,
    receivers: Sequence[Receiver],
    path: str | os.PathLike[str],
    *,
    per_receiver: bool = False,
    processed: bool = True,
    dpi: int = 100,
) -> list[Path]:
    """Evaluate the misfit of ``event`` and plot what was measured.

    With ``processed`` the processed traces are drawn (``extra["processed_observed"]``
    and ``["processed_synthetic"]``), else the raw ones. ``path`` is the PNG of the
    record section, or the folder of the per-receiver PNGs (``per_receiver``).
    """
    res = preprocess.evaluate(observed, synthetic, event, receivers)
    obs = res.extra.get("processed_observed", observed) if processed else observed
    syn = res.extra.get("processed_synthetic", synthetic) if processed else synthetic
    windows: Any = res.extra.get("windows")
    title = f"{event.name}: misfit {res.value:.6g}"
    if per_receiver:
        return plot_traces(
            obs,
            syn,
            res.adjoint,
            windows,
            path,
            prefix=f"{event.name}_",
            title=event.name,
            dpi=dpi,
        )
    return [
        plot_record_section(
            obs, syn, res.adjoint, path, windows=windows, event=event, title=title, dpi=dpi
        )
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m seisgrad.preprocess.plot``: plot trace files.

    Reads observed, synthetic and (optionally) adjoint traces of one event in any
    supported format and writes a record section or one PNG per receiver.
    """
    import argparse

    from seisgrad.preprocess import io

    ap = argparse.ArgumentParser(
        prog="python -m seisgrad.preprocess.plot", description=main.__doc__
    )
    ap.add_argument("--synthetic", required=True, help="synthetic traces (file or folder)")
    ap.add_argument("--observed", help="observed traces (file or folder)")
    ap.add_argument("--adjoint", help="adjoint sources (file or folder)")
    ap.add_argument("--format", default="hdf5", choices=io.FORMATS, help="trace format")
    ap.add_argument(
        "--window",
        action="append",
        nargs=2,
        type=float,
        metavar=("T0", "T1"),
        help="window to shade (repeatable)",
    )
    ap.add_argument("--per-receiver", action="store_true", help="one PNG per receiver")
    ap.add_argument("-o", "--out", required=True, help="PNG file, or folder with --per-receiver")
    ap.add_argument("--title", default=None)
    args = ap.parse_args(argv)
    syn = io.read_traces(args.synthetic, args.format)
    obs = io.read_traces(args.observed, args.format) if args.observed else None
    adj = io.read_traces(args.adjoint, args.format) if args.adjoint else None
    wins = [tuple(w) for w in args.window] if args.window else None
    if args.per_receiver:
        paths = plot_traces(obs, syn, adj, wins, args.out, title=args.title)
    else:
        paths = [plot_record_section(obs, syn, adj, args.out, windows=wins, title=args.title)]
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":  # pragma: no cover
    main()
