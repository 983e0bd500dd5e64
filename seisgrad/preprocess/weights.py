"""Measurement windows and the temporal-weights hook.

A *measurement* is a misfit evaluated on weighted traces :math:`w\\,s` and
:math:`w\\,d`. Each trace can carry several measurements (several windows, several
weight functions); the trace's misfit is their sum and its adjoint source
:math:`\\sum_k w_k f_k(w_k s, w_k d)`. Weights never depend on the synthetics, so the
adjoint stays exact.

Two sources of weights, multiplied together when both are given:

* explicit time windows (:class:`Windows`): ``[[t_start, t_end], ...]`` for every trace,
  or a mapping from trace id / ``NET.STA`` / station name (or ``"*"``) to such a list;
  each window is a boxcar with Hann ramps inside its ends;
* a user function (:class:`WeightsHook`), ``weights(stream, receiver, sources)``,
  called once per receiver with that receiver's processed observed traces, which
  returns for each component one weight array or a list of them (as the Salvus
  ``[{"values": array}, ...]`` lists, which are accepted too).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seisgrad.errors import ConfigError, DataError
from seisgrad.preprocess.processing import TraceContext, hann_ramp

__all__ = [
    "Windows",
    "window_function",
    "WeightsHook",
    "load_weights_function",
    "measurement_weights",
    "weight_intervals",
]

WindowList = Sequence[Sequence[float]]


def window_function(times: np.ndarray, t_start: float, t_end: float, taper: float) -> np.ndarray:
    """Boxcar on ``[t_start, t_end]`` with Hann ramps of ``taper`` times its length
    inside each end (``taper = 0``: a plain boxcar)."""
    w = ((times >= t_start) & (times <= t_end)).astype(np.float64)
    inside = np.nonzero(w)[0]
    m = int(round(taper * inside.size))
    if m > 0:
        ramp = hann_ramp(m)
        w[inside[:m]] = ramp
        w[inside[inside.size - m :]] = ramp[::-1]
    return w


def _window_ends(w: Any) -> tuple[float, float] | None:
    """``(t_start, t_end)`` of ``[t_start, t_end]`` (numbers, or strings that are numbers
    as YAML reads ``1e-3``), else ``None``."""
    if isinstance(w, (str, bytes)) or not isinstance(w, Sequence) or len(w) != 2:
        return None
    out = []
    for v in w:
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, float, np.integer, np.floating)):
            out.append(float(v))
        elif isinstance(v, str):
            try:
                out.append(float(v))
            except ValueError:
                return None
        else:
            return None
    return out[0], out[1]


def _trace_keys(trace_id: str) -> list[str]:
    parts = trace_id.split(".")
    keys = [trace_id]
    if len(parts) == 4:
        keys += [f"{parts[0]}.{parts[1]}.{parts[3]}", f"{parts[0]}.{parts[1]}", parts[1]]
    keys.append("*")
    return keys


class Windows:
    """Explicit time windows.

    Parameters
    ----------
    spec
        ``[[t_start, t_end], ...]`` (seconds, same time axis as the synthetics) for
        every trace, or a mapping whose keys are trace ids ``NET.STA.LOC.CHA``,
        ``NET.STA.CHA``, ``NET.STA``, station names or ``"*"`` (the first that matches
        is used). An empty list in a mapping means the trace is not measured; an empty
        top-level list, or a mapping without any window, is an error (nothing would be
        measured).
    taper
        Hann ramp length inside each window end, as a fraction of the window length.
    """

    def __init__(self, spec: WindowList | Mapping[str, WindowList], taper: float = 0.1) -> None:
        if not 0.0 <= taper <= 0.5:
            raise ConfigError(f"window taper must be within [0, 0.5], got {taper}")
        self.taper = float(taper)
        if isinstance(spec, Mapping):
            self.mapping: dict[str, list[tuple[float, float]]] | None = {
                str(k): self._check(v, f"windows['{k}']") for k, v in spec.items()
            }
            self.common: list[tuple[float, float]] | None = None
            if not any(self.mapping.values()):
                raise ConfigError(
                    "windows: no entry holds a window, so nothing would be measured (the "
                    "misfit would be 0); give windows, or null to measure whole traces"
                )
        else:
            self.mapping = None
            self.common = self._check(spec, "windows")
            if not self.common:
                raise ConfigError(
                    "windows: an empty list measures nothing (the misfit would be 0); give "
                    "windows [[t_start, t_end], ...], or null to measure whole traces"
                )

    @staticmethod
    def _check(value: Any, where: str) -> list[tuple[float, float]]:
        out = []
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{where}: expected a list of [t_start, t_end], got {value!r}")
        for w in value:
            ends = _window_ends(w)
            if ends is None:
                raise ConfigError(f"{where}: each window must be [t_start, t_end], got {w!r}")
            a, b = ends
            if not (math.isfinite(a) and math.isfinite(b) and a < b):
                raise ConfigError(f"{where}: window [{a}, {b}] needs t_start < t_end")
            out.append((a, b))
        return out

    def intervals(self, trace_id: str) -> list[tuple[float, float]]:
        """Windows of one trace."""
        if self.mapping is None:
            return list(self.common or [])
        for key in _trace_keys(trace_id):
            if key in self.mapping:
                return self.mapping[key]
        raise DataError(
            f"no windows given for trace {trace_id}; add its id, NET.STA, station name "
            "or a '*' entry to 'windows' (an empty list means: not measured)"
        )

    def weights(self, ctx: TraceContext) -> list[list[np.ndarray]]:
        """Window functions of every trace."""
        t = ctx.times
        out = []
        for tid in ctx.ids:
            ws = []
            for a, b in self.intervals(tid):
                w = window_function(t, a, b, self.taper)
                if not np.any(w):
                    if b < t[0] or a > t[-1]:
                        raise DataError(
                            f"window [{a}, {b}] s of trace {tid} lies outside its time axis "
                            f"[{t[0]:g}, {t[-1]:g}] s"
                        )
                    raise DataError(
                        f"window [{a}, {b}] s of trace {tid} holds no sample: it lies "
                        f"between two samples (time step {ctx.dt:g} s); widen it"
                    )
                ws.append(w)
            out.append(ws)
        return out

    def __repr__(self) -> str:
        return f"Windows({self.mapping if self.mapping is not None else self.common})"


def load_weights_function(spec: str | Callable[..., Any], base: Path | None = None) -> Callable:
    """Load a user function from ``"path/to/file.py:function"`` or
    ``"package.module:function"`` (a callable is passed through).

    Relative file paths are taken from ``base`` (default: the current folder).
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str) or spec.count(":") != 1 or spec.endswith(":"):
        raise ConfigError(
            f"weights function {spec!r}: expected 'path/to/file.py:function' or "
            "'package.module:function'"
        )
    target, name = spec.rsplit(":", 1)
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        if not path.is_file():
            raise ConfigError(f"weights function file {path} does not exist")
        mod_name = f"seisgrad_user_weights_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"weights function file {path} cannot be imported")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        try:
            module_spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # user code: any failure is a config error
            raise ConfigError(f"weights function file {path} failed to import: {exc}") from exc
    else:
        try:
            module = importlib.import_module(target)
        except (Exception, SystemExit) as exc:  # user code: a syntax error, sys.exit, ...
            raise ConfigError(
                f"weights function module '{target}' cannot be imported: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    func = getattr(module, name, None)
    if not callable(func):
        raise ConfigError(f"'{name}' is not a function defined in {target}")
    return func


class WeightsHook:
    """Temporal weights from a user function.

    The function is called once per receiver as ``func(stream, receiver, sources)``:

    * ``stream``: ObsPy Stream with that receiver's *processed observed* traces (on the
      synthetics' time axis; ``tr.times("timestamp")`` are seconds after the
      simulation start, while ObsPy's ``tr.times()`` counts from the first sample, at
      the synthetics' ``t0``);
    * ``receiver``: its :class:`~seisgrad.solver.acquisition.Receiver` (``None`` when
      unknown);
    * ``sources``: the event's list of
      :class:`~seisgrad.solver.acquisition.PointSource`.

    It returns a mapping from component (``"X"``, ``"Z"``, ``"P"``, or the full channel
    ``"UX"``) to one weight array (``nt`` samples), a list of arrays, a list of
    ``{"values": array}`` dicts, or ``None`` / ``[]`` (component not measured). A
    component of the stream missing from the mapping is an error.
    """

    def __init__(self, func: Callable[..., Any] | str, base: Path | None = None) -> None:
        self.func = load_weights_function(func, base)

    def weights(self, ctx: TraceContext, observed: np.ndarray) -> list[list[np.ndarray]]:
        """Weights of every trace, from the processed observed traces ``observed``."""
        from obspy import Stream, Trace, UTCDateTime

        groups: dict[str, list[int]] = {}
        for i, tid in enumerate(ctx.ids):
            parts = tid.split(".")
            key = ".".join(parts[:2]) if len(parts) == 4 else tid
            groups.setdefault(key, []).append(i)
        out: list[list[np.ndarray]] = [[] for _ in ctx.ids]
        for key, rows in groups.items():
            traces = []
            for i in rows:
                tr = Trace(np.array(observed[i], dtype=np.float64))
                parts = ctx.ids[i].split(".")
                if len(parts) == 4:
                    net, sta, loc, cha = parts
                    tr.stats.network, tr.stats.station = net, sta
                    tr.stats.location, tr.stats.channel = loc, cha
                else:
                    tr.stats.station = ctx.ids[i]
                tr.stats.delta = ctx.dt
                tr.stats.starttime = UTCDateTime(0) + ctx.t0
                traces.append(tr)
            receiver = ctx.receivers[rows[0]] if rows[0] < len(ctx.receivers) else None
            try:
                result = self.func(Stream(traces), receiver, list(ctx.sources))
            except Exception as exc:  # user code
                raise DataError(f"weights function failed for receiver {key}: {exc}") from exc
            if not isinstance(result, Mapping):
                raise DataError(
                    f"weights function returned {type(result).__name__} for receiver {key}; "
                    "expected a mapping from component to weight arrays"
                )
            for i, tr in zip(rows, traces, strict=True):
                cha = tr.stats.channel or ""
                if cha in result:
                    value = result[cha]
                elif cha[-1:] in result:
                    value = result[cha[-1:]]
                else:
                    raise DataError(
                        f"weights function gave no weights for component '{cha[-1:]}' of "
                        f"{ctx.ids[i]} (keys: {sorted(map(str, result))}); return None or [] "
                        "for a component that is not measured"
                    )
                out[i] = _weight_list(value, ctx.nt, ctx.ids[i])
        return out


def _weight_list(value: Any, nt: int, tid: str) -> list[np.ndarray]:
    if value is None:
        return []
    if isinstance(value, np.ndarray) and value.ndim == 2:
        items: list[Any] = list(value)
    elif isinstance(value, np.ndarray) or (
        isinstance(value, Sequence) and value and isinstance(value[0], (int, float))
    ):
        items = [value]
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = list(value)
    else:
        raise DataError(f"weights of {tid}: expected arrays, got {type(value).__name__}")
    out = []
    for item in items:
        arr = item.get("values") if isinstance(item, Mapping) else item
        try:
            w = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"weights of {tid}: not a numeric array ({exc})") from exc
        if w.shape != (nt,) or not np.all(np.isfinite(w)):
            raise DataError(
                f"weights of {tid}: expected {nt} finite samples, got shape {w.shape}"
                + ("" if w.shape != (nt,) else " with non-finite values")
            )
        out.append(w)
    return out


def measurement_weights(
    ctx: TraceContext,
    observed: np.ndarray,
    windows: Windows | None = None,
    hook: WeightsHook | None = None,
) -> list[list[np.ndarray]] | None:
    """Weights of every measurement of every trace (``None``: one unweighted
    measurement per trace). With both windows and a hook, every window is multiplied by
    every hook weight."""
    if windows is None and hook is None:
        return None
    win = windows.weights(ctx) if windows is not None else None
    hk = hook.weights(ctx, observed) if hook is not None else None
    if win is None:
        return hk
    if hk is None:
        return win
    return [[a * b for a in wa for b in wb] for wa, wb in zip(win, hk, strict=True)]


def weight_intervals(
    weights: Sequence[np.ndarray], times: np.ndarray, level: float = 1e-3
) -> list[tuple[float, float]]:
    """Time intervals where each weight exceeds ``level`` times its maximum (for plots)."""
    out = []
    for w in weights:
        peak = float(np.max(np.abs(w))) if w.size else 0.0
        if peak == 0.0:
            continue
        on = np.abs(w) > level * peak
        edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
        starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - 1
        out += [(float(times[a]), float(times[b])) for a, b in zip(starts, ends, strict=True)]
    return out
