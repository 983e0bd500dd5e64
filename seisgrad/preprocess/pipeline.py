"""Processing chain + measurement weights + misfit, with the exact adjoint source.

For raw synthetic traces :math:`s` and observed traces :math:`d` (arrays of shape
``(ntraces, nt)``), :class:`Pipeline` computes

.. math:: J(s) = \\sum_i \\sum_k \\chi\\big(w_{ik}\\, P(s)_i,\\; w_{ik}\\, P(d)_i\\big)

with :math:`P` the processing chain and :math:`w_{ik}` the measurement weights
(windows, user weights), and the adjoint source
:math:`\\partial J/\\partial s = P'(s)^T \\big[\\sum_k w_{ik}\\, f_{ik}\\big]_i`, where
:math:`f_{ik}` is the misfit's own adjoint source. Value and adjoint come from one call,
so they always belong together.

Traces whose raw samples (observed and synthetic) stay below ``negligible`` times the
largest raw sample of their channel in the event, and measurements whose two traces
(processed and weighted) stay below that fraction of the channel's largest processed
sample, are skipped (value 0, no adjoint): on a symmetry axis a component holds only
round-off (1e-19 of the event's peak in fd2d), and misfits that do not depend on the
amplitude (traveltime, phase, correlation) would measure that noise at full weight,
with adjoint sources 1e10 times larger than the real ones. Channels (``UZ``, ``P``)
are compared with themselves only: their units differ. The raw test is taken before
the processing, so a per-trace normalization cannot lift round-off to full size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seisgrad.errors import ConfigError, DataError
from seisgrad.preprocess.misfit import Misfit, get_misfit
from seisgrad.preprocess.processing import Chain, Step, TraceContext
from seisgrad.preprocess.weights import WeightsHook, Windows, measurement_weights

__all__ = ["Pipeline", "PipelineResult", "PreparedObserved", "NEGLIGIBLE"]

#: Default fraction of the event's largest sample below which a measurement is skipped.
NEGLIGIBLE = 1e-10

log = logging.getLogger(__name__)


@dataclass
class PreparedObserved:
    """Processed observed traces and the measurement weights derived from them."""

    processed: np.ndarray
    weights: list[list[np.ndarray]] | None
    #: Largest absolute raw sample of each observed trace (before the processing).
    peaks: np.ndarray | None = None


@dataclass
class PipelineResult:
    """Misfit of one event and its adjoint source.

    Attributes
    ----------
    value
        Total misfit :math:`J`.
    per_trace
        Misfit of each trace (sums to ``value``).
    adjoint
        :math:`\\partial J/\\partial s_{i,n}`, shape ``(ntraces, nt)``.
    processed_observed, processed_synthetic
        The traces the misfit was measured on (before the measurement weights).
    weights
        Measurement weights of each trace (``None``: one unweighted measurement each).
    info
        Per trace, the ``info`` dict of each measurement (e.g. traveltime shifts).
    """

    value: float
    per_trace: np.ndarray
    adjoint: np.ndarray
    processed_observed: np.ndarray
    processed_synthetic: np.ndarray
    weights: list[list[np.ndarray]] | None
    info: list[list[dict[str, Any]]] = field(default_factory=list)


class Pipeline:
    """A processing chain, measurement weights and a misfit.

    Parameters
    ----------
    chain
        Processing applied identically to observed and synthetic traces (a
        :class:`~seisgrad.preprocess.processing.Chain`, a step, a list of steps, or
        ``None``).
    misfit
        A :class:`~seisgrad.preprocess.misfit.Misfit` or a registered misfit name.
    windows
        Explicit time windows (:class:`~seisgrad.preprocess.weights.Windows`, or the
        list / mapping that builds one).
    weights_function
        Temporal-weights hook (a callable, ``"file.py:function"``, or a
        :class:`~seisgrad.preprocess.weights.WeightsHook`).
    negligible
        Measurements whose two traces stay below this fraction of the event's largest
        processed sample (observed or synthetic) are skipped; 0 measures everything.
    """

    def __init__(
        self,
        chain: Chain | Step | Sequence[Step] | None = None,
        misfit: Misfit | str = "waveform",
        windows: Windows | Sequence[Sequence[float]] | dict | None = None,
        weights_function: WeightsHook | Callable[..., Any] | str | None = None,
        negligible: float = NEGLIGIBLE,
    ) -> None:
        if isinstance(chain, Step):
            chain = [chain]
        self.chain = chain if isinstance(chain, Chain) else Chain(list(chain or []))
        self.misfit = get_misfit(misfit)
        if windows is not None and not isinstance(windows, Windows):
            windows = Windows(windows)
        self.windows = windows
        if weights_function is not None and not isinstance(weights_function, WeightsHook):
            weights_function = WeightsHook(weights_function)
        self.hook = weights_function
        if not (isinstance(negligible, (int, float)) and 0.0 <= negligible < 1.0):
            raise ConfigError(f"negligible must be a number in [0, 1), got {negligible!r}")
        self.negligible = float(negligible)

    def __repr__(self) -> str:
        return (
            f"Pipeline({self.chain!r}, misfit={self.misfit!r}, windows={self.windows!r}, "
            f"weights_function={'yes' if self.hook else None})"
        )

    def prepare(self, observed: np.ndarray, ctx: TraceContext) -> PreparedObserved:
        """Process the observed traces and compute the measurement weights."""
        obs = np.asarray(observed, dtype=np.float64)
        if obs.ndim != 2 or obs.shape != (len(ctx.ids), ctx.nt):
            raise DataError(
                f"observed traces have shape {obs.shape}; expected {(len(ctx.ids), ctx.nt)}"
            )
        if not np.all(np.isfinite(obs)):
            bad = [ctx.ids[i] for i in np.nonzero(~np.all(np.isfinite(obs), axis=1))[0]]
            raise DataError("observed traces contain non-finite values: " + ", ".join(bad))
        processed = self.chain.forward(obs, ctx)
        weights = measurement_weights(ctx, processed, self.windows, self.hook)
        return PreparedObserved(processed, weights, np.max(np.abs(obs), axis=1, initial=0.0))

    def evaluate(
        self,
        observed: np.ndarray | None,
        synthetic: np.ndarray,
        ctx: TraceContext,
        prepared: PreparedObserved | None = None,
    ) -> PipelineResult:
        """Misfit and adjoint source of raw ``synthetic`` against raw ``observed``.

        ``prepared`` (from :meth:`prepare`) skips re-processing the observed traces.
        """
        if prepared is None:
            if observed is None:
                raise DataError("evaluate needs observed traces or prepared observed data")
            prepared = self.prepare(observed, ctx)
        syn = np.asarray(synthetic, dtype=np.float64)
        if syn.shape != prepared.processed.shape:
            raise DataError(
                f"synthetic traces have shape {syn.shape}; observed {prepared.processed.shape}"
            )
        if not np.all(np.isfinite(syn)):
            bad = [ctx.ids[i] for i in np.nonzero(~np.all(np.isfinite(syn), axis=1))[0]]
            raise DataError("synthetic traces contain non-finite values: " + ", ".join(bad))
        ps, tape = self.chain.forward_tape(syn, ctx)
        pd = prepared.processed
        grad = np.zeros_like(ps)
        per_trace = np.zeros(ps.shape[0])
        info: list[list[dict[str, Any]]] = []
        raw_floor, floor = self._floors(syn, ps, pd, prepared, ctx)
        by_reason: dict[str, list[str]] = {}  # skipped measurements: reason -> trace ids
        for i in range(ps.shape[0]):
            ws = prepared.weights[i] if prepared.weights is not None else None
            infos = []
            for w in [None] if ws is None else ws:
                s, d = (ps[i], pd[i]) if w is None else (w * ps[i], w * pd[i])
                if raw_floor[i] or (
                    floor[i] > 0 and max(np.max(np.abs(s)), np.max(np.abs(d))) < floor[i]
                ):
                    reason = f"round-off, below {self.negligible:g} of its channel's peak"
                    infos.append({"skipped": reason})
                    continue
                mv = self.misfit(s, d, ctx.dt)
                per_trace[i] += mv.value
                grad[i] += mv.adjoint if w is None else w * mv.adjoint
                infos.append(mv.info)
            for x in infos:
                if "skipped" in x:
                    by_reason.setdefault(x["skipped"].split(":")[0], []).append(ctx.ids[i])
            info.append(infos)
        for reason, ids in by_reason.items():  # one line per reason, not one per trace
            names = list(dict.fromkeys(ids))
            shown = ", ".join(names[:5]) + (
                f" and {len(names) - 5} more" if len(names) > 5 else ""
            )
            log.warning("%d measurement(s) skipped (%s): %s", len(ids), reason, shown)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            adjoint = self.chain.vjp(tape, grad, ctx)  # checked just below
        bad = [ctx.ids[i] for i in np.nonzero(~np.all(np.isfinite(adjoint), axis=1))[0]]
        if bad or not np.isfinite(per_trace.sum()):
            big = float(np.max(np.abs(syn)))
            raise DataError(
                "the misfit or the adjoint source is not finite after the processing "
                f"({', '.join(bad[:5]) or 'the total'}; samples up to {big:g} in magnitude "
                "overflow or underflow float64 in the normalization); rescale the traces"
            )
        return PipelineResult(
            value=float(np.sum(per_trace)),
            per_trace=per_trace,
            adjoint=adjoint,
            processed_observed=pd,
            processed_synthetic=ps,
            weights=prepared.weights,
            info=info,
        )

    def _floors(
        self,
        syn: np.ndarray,
        ps: np.ndarray,
        pd: np.ndarray,
        prepared: PreparedObserved,
        ctx: TraceContext,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per trace: whether its raw samples are round-off, and the floor of its
        processed measurements (``negligible`` times its channel's peaks)."""
        n = ps.shape[0]
        if self.negligible == 0:
            return np.zeros(n, dtype=bool), np.zeros(n)
        raw = np.max(np.abs(syn), axis=1, initial=0.0)
        if prepared.peaks is not None:
            raw = np.maximum(raw, prepared.peaks)
        done = np.maximum(np.max(np.abs(ps), axis=1, initial=0.0), np.max(np.abs(pd), axis=1))
        channels = [i.rsplit(".", 1)[1] if "." in i else "" for i in ctx.ids[:n]]
        channels += [""] * (n - len(channels))
        raw_peak = {c: 0.0 for c in channels}
        done_peak = dict(raw_peak)
        for c, r, p in zip(channels, raw, done, strict=True):
            raw_peak[c] = max(raw_peak[c], float(r))
            done_peak[c] = max(done_peak[c], float(p))
        raw_floor = np.array([r < self.negligible * raw_peak[c] for c, r in zip(channels, raw)])
        floor = np.array([self.negligible * done_peak[c] for c in channels])
        return raw_floor, floor

    def value(self, synthetic: np.ndarray, ctx: TraceContext, prepared: PreparedObserved) -> float:
        """Misfit only (the same code path as :meth:`evaluate`)."""
        return self.evaluate(None, synthetic, ctx, prepared).value
