"""The default preprocess (``preprocess: default``).

Processing, applied identically to observed and synthetic traces, in this order:
demean, detrend, taper, filter, mute, normalize; then the misfit is measured in the
time windows and/or with the user weights. The adjoint source returned with the misfit
is its exact derivative with respect to the raw synthetic samples (see
:mod:`seisgrad.preprocess.pipeline`); :func:`seisgrad.preprocess.verify.check_adjoint_source`
checks it on any data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from obspy import Stream, Trace

from seisgrad.config import Schema, param, show
from seisgrad.errors import ConfigError, DataError
from seisgrad.preprocess import io
from seisgrad.preprocess.base import MisfitResult, Preprocess
from seisgrad.preprocess.misfit import Misfit, get_misfit, misfit_class
from seisgrad.preprocess.pipeline import NEGLIGIBLE, Pipeline
from seisgrad.preprocess.processing import (
    Chain,
    Demean,
    Detrend,
    Filter,
    Mute,
    Normalize,
    Step,
    Taper,
)
from seisgrad.preprocess.streams import (
    align_trace,
    check_common_axis,
    context_for,
    list_ids,
    match_traces,
    same_time_step,
    samples,
    select_components,
    stack,
    with_data,
)
from seisgrad.preprocess.weights import WeightsHook, Windows, weight_intervals
from seisgrad.solver.acquisition import Event, Receiver

__all__ = ["Default", "DefaultParameters"]

log = logging.getLogger(__name__)


@dataclass
class DefaultParameters(Schema):
    """Parameters of the default preprocess (SeisFlows names where they exist)."""

    misfit: str = param(
        "waveform",
        "misfit function: waveform, traveltime, amplitude, envelope, instantaneous_phase, "
        "exponentiated_phase, "
        "correlation, or a user class 'package.module:ClassName'",
    )
    traveltime_max_shift: float | None = param(
        None, "largest time shift (s) the traveltime misfit searches; null = any", low=0.0
    )
    data_format: str = param(
        "su", "format of observed data and exported traces", choices=io.FORMATS
    )
    su_dt: float | None = param(
        None,
        "time step (s) of SU data files; null = from the dt header (SPECFEM2D writes it in "
        "ms when dt > 32.767 ms: the unit closest to the synthetics' time step is taken)",
        low=0.0,
    )
    ascii_time: str = param(
        "specfem",
        "time column of ASCII data: specfem (SPECFEM's: a column that starts below 0 is "
        "relative to the source, its first sample is the simulation start) or file (the "
        "times as written, 0 = simulation start)",
        choices=("specfem", "file"),
    )
    components: list[str] | None = param(
        None, "channels (UX, UZ, VX, VZ, P) or components (X, Z, P) measured; null = all"
    )
    demean: bool = param(True, "remove the mean of each trace")
    detrend: bool = param(False, "remove the least-squares straight line of each trace")
    taper: float = param(
        0.0, "Hann taper at both trace ends, as a fraction of the trace", low=0.0, high=0.5
    )
    filter: str = param(
        "none", "frequency filter", choices=("none", "bandpass", "lowpass", "highpass")
    )
    min_freq: float | None = param(None, "filter lower corner (Hz)", low=0.0)
    max_freq: float | None = param(None, "filter upper corner (Hz)", low=0.0)
    min_period: float | None = param(None, "filter shortest period (s) = 1/max_freq", low=0.0)
    max_period: float | None = param(None, "filter longest period (s) = 1/min_freq", low=0.0)
    filter_corners: int = param(4, "Butterworth order of each filter pass", low=1, high=12)
    zero_phase: bool = param(True, "zero-phase (forward and backward) or causal filter")
    normalize: str | None = param(
        None,
        "normalization: trace_max, trace_l2 (each trace), event (L2 norm of all traces), "
        "event_max; null = none",
        choices=(None, *Normalize.KINDS),
    )
    mute: list[str] = param(
        [],
        "mutes: early (before t = early_const + offset*early_slope), late, short, long",
        choices=("early", "late", "short", "long"),
    )
    early_slope: float | None = param(None, "early mute slope (s/m)", low=0.0)
    early_velocity: float | None = param(
        None, "early mute velocity (m/s), instead of early_slope", low=0.0
    )
    early_const: float = param(0.0, "early mute intercept (s)")
    late_slope: float | None = param(None, "late mute slope (s/m)", low=0.0)
    late_velocity: float | None = param(
        None, "late mute velocity (m/s), instead of late_slope", low=0.0
    )
    late_const: float = param(0.0, "late mute intercept (s)")
    short_dist: float = param(0.0, "'short' mute removes traces with offset below (m)", low=0.0)
    long_dist: float | None = param(
        None, "'long' mute removes traces with offset above (m)", low=0.0
    )
    mute_taper: float = param(0.0, "length of the mute ramps (s)", low=0.0)
    # the mapping's values are checked by Windows, whose messages name the faulty entry
    windows: list[list[float]] | dict[str, Any] | None = param(
        None,
        "measurement windows [[t_start, t_end], ...] (s), or a mapping from trace id, "
        "NET.STA, station or '*' to such lists; null = whole traces",
    )
    window_taper: float = param(
        0.1, "Hann ramps inside each window, as a fraction of its length", low=0.0, high=0.5
    )
    weights_function: str | None = param(
        None,
        "temporal weights: 'path/to/file.py:function' called as "
        "function(stream, receiver, sources); null = none",
    )
    negligible: float = param(
        NEGLIGIBLE,
        "skip traces (raw) and measurements (processed, windowed) whose observed and "
        "synthetic samples stay below this fraction of their channel's largest in the "
        "event: round-off on symmetry axes; 0 = measure all",
        low=0.0,
        high=0.01,
    )

    def validate(self) -> None:
        misfit_class(self.misfit)  # unknown names are refused, listing the valid ones
        if self.filter != "none":
            fmin = _one_of(self.min_freq, self.max_period, "min_freq", "max_period")
            fmax = _one_of(self.max_freq, self.min_period, "max_freq", "min_period")
            if self.filter in ("bandpass", "highpass") and fmin is None:
                raise ConfigError(f"filter '{self.filter}' needs min_freq or max_period")
            if self.filter in ("bandpass", "lowpass") and fmax is None:
                raise ConfigError(f"filter '{self.filter}' needs max_freq or min_period")
            if self.filter == "bandpass" and not fmin < fmax:  # type: ignore[operator]
                raise ConfigError(
                    f"bandpass needs its lower corner below its upper corner, got {fmin} and "
                    f"{fmax} Hz"
                )
        for which in ("early", "late"):
            slope = getattr(self, f"{which}_slope")
            vel = getattr(self, f"{which}_velocity")
            if slope is not None and vel is not None:
                raise ConfigError(f"give {which}_slope or {which}_velocity, not both")
            if vel is not None and vel <= 0:
                raise ConfigError(f"{which}_velocity must be > 0 m/s, got {vel}")
        for which in ("early", "late"):
            if which in self.mute and getattr(self, f"{which}_slope") is None:
                if getattr(self, f"{which}_velocity") is None:
                    raise ConfigError(
                        f"mute '{which}' needs {which}_velocity (m/s) or {which}_slope (s/m; "
                        f"0 for a mute at the fixed time {which}_const)"
                    )
        if "short" in self.mute and not self.short_dist > 0:
            raise ConfigError(
                f"mute 'short' needs short_dist > 0 m (traces with a smaller offset are "
                f"muted), got {self.short_dist}"
            )
        if "long" in self.mute and self.long_dist is None:
            raise ConfigError("mute 'long' needs long_dist")
        if (
            "short" in self.mute
            and "long" in self.mute
            and self.long_dist is not None
            and not self.short_dist < self.long_dist
        ):
            raise ConfigError(
                f"mutes 'short' and 'long' together remove every trace unless short_dist < "
                f"long_dist, got short_dist {self.short_dist} m and long_dist "
                f"{self.long_dist} m"
            )
        if self.su_dt is not None and not self.su_dt > 0:
            raise ConfigError(f"su_dt must be > 0 s (or null: from the headers), got {self.su_dt}")
        if self.misfit == "amplitude" and self.normalize == "trace_l2":
            raise ConfigError(
                "misfit 'amplitude' after normalize 'trace_l2' is always zero (every trace has "
                "unit norm); use normalize 'event' or none"
            )
        if self.traveltime_max_shift is not None and self.misfit != "traveltime":
            raise ConfigError("traveltime_max_shift only applies to misfit 'traveltime'")
        if self.windows is not None:
            Windows(self.windows, self.window_taper)  # validates the layout
        if self.components is not None and not self.components:
            raise ConfigError("components: give at least one channel or null for all")


def _one_of(freq: float | None, period: float | None, fname: str, pname: str) -> float | None:
    if freq is not None and period is not None:
        raise ConfigError(f"give {fname} or {pname}, not both")
    if period is not None:
        if period <= 0:
            raise ConfigError(f"{pname} must be > 0 s, got {period}")
        return 1.0 / period
    if freq is not None and freq <= 0:
        raise ConfigError(f"{fname} must be > 0 Hz, got {freq}")
    return freq


class Default(Preprocess):
    """Default preprocess: ObsPy I/O, processing with exact adjoints, misfits.

    Parameters
    ----------
    params
        :class:`DefaultParameters` (or ``None`` for the defaults).
    base
        Folder that relative paths (``weights_function``) are taken from.
    """

    Parameters = DefaultParameters

    def __init__(self, params: DefaultParameters | None = None, base: Path | None = None) -> None:
        params = params if params is not None else DefaultParameters()
        if not isinstance(params, DefaultParameters):
            raise ConfigError(
                f"Default preprocess takes DefaultParameters, got {type(params).__name__}"
            )
        params.validate()
        super().__init__(params)
        windows = params.windows
        hook = params.weights_function
        self.pipeline = Pipeline(
            self.build_chain(),
            self.build_misfit(),
            Windows(windows, params.window_taper) if windows is not None else None,
            WeightsHook(hook, base) if hook is not None else None,
            params.negligible,
        )

    # -- construction --------------------------------------------------------------
    def build_misfit(self) -> Misfit:
        """The misfit set by the parameters."""
        p = self.params
        if p.misfit == "traveltime":
            return get_misfit("traveltime", max_shift=p.traveltime_max_shift)
        return get_misfit(p.misfit)

    def build_chain(self) -> Chain:
        """The processing chain set by the parameters."""
        p = self.params
        steps: list[Step] = []
        if p.demean:
            steps.append(Demean())
        if p.detrend:
            steps.append(Detrend())
        if p.taper > 0:
            steps.append(Taper(p.taper))
        if p.filter != "none":
            fmin = _one_of(p.min_freq, p.max_period, "min_freq", "max_period")
            fmax = _one_of(p.max_freq, p.min_period, "max_freq", "min_period")
            steps.append(Filter(p.filter, fmin, fmax, p.filter_corners, p.zero_phase))
        if p.mute:
            early = late = None
            if "early" in p.mute:
                slope = 1.0 / p.early_velocity if p.early_velocity else (p.early_slope or 0.0)
                early = (slope, p.early_const)
            if "late" in p.mute:
                slope = 1.0 / p.late_velocity if p.late_velocity else (p.late_slope or 0.0)
                late = (slope, p.late_const)
            steps.append(
                Mute(
                    early=early,
                    late=late,
                    short_dist=p.short_dist if "short" in p.mute else None,
                    long_dist=p.long_dist if "long" in p.mute else None,
                    taper=p.mute_taper,
                )
            )
        if p.normalize is not None:
            steps.append(Normalize(p.normalize))
        return Chain(steps)

    #: Misfits whose value grows with the traces' amplitude (in their units squared):
    #: channels of different units are not comparable in them.
    UNIT_SENSITIVE = ("waveform", "envelope")

    def check_channels(self, channels: Sequence[str]) -> list[str]:
        """A :class:`~seisgrad.errors.ConfigError` when ``components`` selects none of
        the recorded ``channels``; a warning when an amplitude-sensitive misfit
        (:attr:`UNIT_SENSITIVE`) sums channels of different units without a per-trace
        normalization or a ``weights_function``: pressure (Pa) is about ``rho vp``
        (1e6-1e7) times a particle velocity (m/s), so the velocity traces would hardly
        count."""
        p = self.params
        if p.components is not None and not any(
            c in p.components or c[-1:] in p.components for c in channels
        ):
            raise ConfigError(
                f"parameter 'components': {show(p.components)} selects none of the recorded "
                f"channels {', '.join(channels)} (a channel such as VZ, or a component X "
                "or Z; null: all)"
            )
        if (
            p.misfit not in self.UNIT_SENSITIVE
            or p.normalize in ("trace_max", "trace_l2")
            or p.weights_function is not None  # it may weigh the channels
        ):
            return []
        units = {"P": "Pa", "VX": "m/s", "VZ": "m/s", "UX": "m", "UZ": "m"}
        groups: dict[str, list[str]] = {}
        for c in channels:
            chosen = p.components is None or c in p.components or c[-1:] in p.components
            if chosen and c in units:
                groups.setdefault(units[c], []).append(c)
        if len(groups) < 2:
            return []
        parts = ", ".join(f"{' '.join(cs)} ({u})" for u, cs in groups.items())
        return [
            f"misfit '{p.misfit}' sums the channels {parts} as they are: pressure is about "
            "rho vp (1e6-1e7) times a particle velocity, so the smaller units hardly count; "
            "choose them with 'components', or normalize each trace (normalize: trace_l2 "
            "or trace_max), or weigh the channels with a weights_function"
        ]

    def check(self, dt: float | None) -> list[str]:
        """Raise :class:`~seisgrad.errors.ConfigError` for a filter corner at or above
        the Nyquist frequency of the synthetics' time step ``dt`` (which the misfit
        would otherwise only meet after the simulations)."""
        if dt is None or not dt > 0:
            return []
        nyquist = 0.5 / dt
        for step in self.pipeline.chain.steps:
            if not isinstance(step, Filter):
                continue
            for f, keys in (
                (step.freqmin, "min_freq (or max_period)"),
                (step.freqmax, "max_freq (or min_period)"),
            ):
                if f is not None and not f < nyquist:
                    raise ConfigError(
                        f"{self.params.filter} filter: {keys} sets a corner of {f:g} Hz, "
                        f"not below the Nyquist frequency {nyquist:g} Hz of the synthetics "
                        f"(time step {dt:g} s)"
                    )
        return []

    # -- data ----------------------------------------------------------------------
    def _selected(self, synthetic: Stream) -> list[Trace]:
        if len(synthetic) == 0:
            raise DataError("the synthetic Stream holds no traces")
        sel = select_components(synthetic, self.params.components)
        if not sel:
            chans = sorted({tr.stats.channel for tr in synthetic})
            raise DataError(
                f"components {show(self.params.components)} select none of the synthetic "
                f"channels {', '.join(chans)}"
            )
        return sel

    def read_observed(self, path: Path, event: Event, synthetic: Stream) -> Stream:
        """Observed traces of ``event`` on the synthetics' time axis, one per selected
        synthetic trace (same ids and order).

        Data lies in ``path/<event>/`` (a folder), ``path/<event>.<ext>`` or ``path``
        itself (see :func:`seisgrad.preprocess.io.find_event_data`).
        """
        fmt = self.params.data_format
        syn = self._selected(synthetic)
        dt, t0, nt = check_common_axis(syn)
        where = io.find_event_data(path, event.name, fmt)
        obs = self.read_traces(where, dt_hint=dt)
        if fmt == "su":
            obs = self._name_su_traces(obs, syn, where)
        _check_specfem_t0(obs, event, where)
        obs_sel = select_components(obs, self.params.components)
        matched = match_traces(obs_sel, syn)
        demean = self.params.demean
        return with_data(syn, [align_trace(o, dt, t0, nt, demean=demean) for o in matched])

    def observed_data_paths(self, path: Path, event: Event) -> list[Path]:
        """What :meth:`read_observed` reads for ``event`` in the folder ``path``: the
        folder ``<event>`` or the first file ``<event><ext>`` of ``data_format``
        (:func:`seisgrad.preprocess.io.find_event_data`); nothing when there is none."""
        try:
            where = io.find_event_data(path, event.name, self.params.data_format)
        except DataError:
            return []
        return [] if where == Path(path) else [where]

    @staticmethod
    def _name_su_traces(obs: Stream, syn: Sequence[Trace], where: Path) -> Stream:
        """SU traces carry no names: give them the synthetics' ids, by order per channel
        (one SU file per channel: ``Uz_file_single_d.su`` to the ``UZ`` synthetics;
        a file whose channel no synthetic has, to the synthetics of its component that
        no other file takes), comparing positions where the file has them."""
        syn_channel: dict[str, list[Trace]] = {}
        syn_comp: dict[str, list[Trace]] = {}
        for tr in syn:
            syn_channel.setdefault(tr.stats.channel, []).append(tr)
            syn_comp.setdefault(tr.stats.channel[-1:], []).append(tr)
        obs_by: dict[str, list[Trace]] = {}
        for tr in obs:
            obs_by.setdefault(tr.stats.channel, []).append(tr)
        taken = {cha for cha in obs_by if cha in syn_channel}
        problems = []
        for cha, otr in obs_by.items():
            strs = syn_channel.get(cha)
            if strs is None:  # another name of the component (SPECFEM's BXZ)
                strs = [s for s in syn_comp.get(cha[-1:], []) if s.stats.channel not in taken]
            if strs and len(otr) != len(strs):
                problems.append(
                    f"channel {cha}: {len(otr)} observed SU traces in {where} but "
                    f"{len(strs)} synthetic traces ({list_ids([t.id for t in strs])})"
                )
                continue
            for o, s in zip(otr, strs, strict=False):
                oc, sc = o.stats.get("coordinates"), s.stats.get("coordinates")
                if oc is not None and sc is not None:
                    if abs(oc["x"] - sc["x"]) > 1.0 or abs(oc["z"] - sc["z"]) > 1.0:
                        problems.append(
                            f"observed SU trace {o.stats.station} at ({oc['x']:g}, "
                            f"{oc['z']:g}) m does not sit at {s.id} ({sc['x']:g}, "
                            f"{sc['z']:g}) m"
                        )
                        continue
                o.stats.network, o.stats.station = s.stats.network, s.stats.station
                o.stats.location = s.stats.location
        if problems:
            raise DataError("; ".join(problems))
        return obs

    def write_traces(self, stream: Stream, path: Path) -> Path:
        """Write one event's traces in ``data_format`` (``path``: the event's folder)."""
        return io.write_traces(stream, path, self.params.data_format)

    def read_traces(self, path: Path, dt_hint: float | None = None) -> Stream:
        """Read traces written by :meth:`write_traces` (or observed data: ``dt_hint``,
        the synthetics' time step, see :func:`seisgrad.preprocess.io.read_traces`)."""
        specfem = self.params.ascii_time == "specfem"
        return io.read_traces(
            path,
            self.params.data_format,
            dt=self.params.su_dt,
            dt_hint=dt_hint,
            specfem_time=specfem,
        )

    # -- misfit --------------------------------------------------------------------
    def evaluate(
        self,
        observed: Stream,
        synthetic: Stream,
        event: Event,
        receivers: Sequence[Receiver],
    ) -> MisfitResult:
        """Misfit of one event and its adjoint sources.

        Observed traces not yet on the synthetics' time axis are aligned first. The
        adjoint Stream has one trace per synthetic trace (zeros for components that are
        not measured), float64, the exact :math:`\\partial J/\\partial s_n`.

        ``extra`` holds ``windows`` (per trace id, the measured time intervals),
        ``measurements`` (per trace id, each measurement's info, e.g. traveltime
        ``shift``), ``processed_observed`` and ``processed_synthetic`` (Streams).
        """
        all_syn = list(synthetic)
        syn = self._selected(synthetic)
        dt, t0, nt = check_common_axis(syn)
        obs_sel = select_components(observed, self.params.components)
        matched = match_traces(obs_sel, syn)
        obs_rows = []
        for o in matched:
            same = (
                o.stats.npts == nt
                and same_time_step(float(o.stats.delta), dt, nt)
                and abs(float(o.stats.starttime - syn[0].stats.starttime)) <= 1e-6 * dt
            )
            obs_rows.append(
                samples(o, "observed")
                if same
                else align_trace(o, dt, t0, nt, demean=self.params.demean)
            )
        ctx = context_for(syn, event, receivers)
        res = self.pipeline.evaluate(np.array(obs_rows), stack(syn), ctx)
        rows = {tr.id: row for tr, row in zip(syn, res.adjoint, strict=True)}
        adjoint = with_data(all_syn, [rows.get(tr.id, np.zeros(tr.stats.npts)) for tr in all_syn])
        per_trace = {tr.id: float(v) for tr, v in zip(syn, res.per_trace, strict=True)}
        times = ctx.times
        if res.weights is None:
            windows = {tr.id: [(float(times[0]), float(times[-1]))] for tr in syn}
        else:
            windows = {
                tr.id: weight_intervals(ws, times) for tr, ws in zip(syn, res.weights, strict=True)
            }
        extra: dict[str, Any] = {
            "misfit": self.params.misfit,
            "windows": windows,
            "measurements": {tr.id: info for tr, info in zip(syn, res.info, strict=True)},
            "processed_observed": with_data(syn, res.processed_observed),
            "processed_synthetic": with_data(syn, res.processed_synthetic),
        }
        return MisfitResult(value=res.value, per_trace=per_trace, adjoint=adjoint, extra=extra)


def _check_specfem_t0(obs: Stream, event: Event, where: Path) -> None:
    """Warn when SPECFEM ASCII data (read with their first sample at the simulation
    start, see :func:`seisgrad.preprocess.io.read_ascii`) were made with another ``t0``
    than the event's sources: data and synthetics are then that far apart."""
    offsets = {round(float(tr.stats.specfem_t0), 9) for tr in obs if "specfem_t0" in tr.stats}
    delays = {round(s.stf.delay, 9) for s in event.sources if s.stf.kind != "array"}
    if not offsets or not delays:
        return
    dt = float(obs[0].stats.delta)
    t0 = min(offsets)
    if all(abs(t0 - d) > 0.5 * dt for d in delays):
        log.warning(
            "the SPECFEM traces of %s in %s start at -%g s (SPECFEM's time zero, "
            "its source's reference time, is %g s after its first step); they are read "
            "with their first sample at the simulation start, but the sources of %s "
            "peak at t0 = %s s: data and synthetics are %g s apart. Set the sources' t0 "
            "to %g (or f0 to match)",
            event.name, where, t0, t0, event.name,
            ", ".join(f"{d:g}" for d in sorted(delays)), abs(t0 - min(delays)), t0,
        )  # fmt: skip
