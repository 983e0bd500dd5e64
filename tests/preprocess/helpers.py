"""Helpers for the preprocess tests: random traces and a small geometry."""

from __future__ import annotations

import numpy as np

from seisgrad.preprocess.processing import Filter, TraceContext
from seisgrad.solver.acquisition import PointSource, Receiver

NTR, NT, DT = 3, 300, 0.01

#: the built-in misfits, each tested by every misfit test
BUILTIN_MISFITS = (
    "waveform",
    "traveltime",
    "amplitude",
    "envelope",
    "instantaneous_phase",
    "exponentiated_phase",
    "correlation",
)


def make_context(ntr: int = NTR, nt: int = NT, dt: float = DT) -> TraceContext:
    ctx = TraceContext.for_arrays(ntr, nt, dt)
    ctx.ids = [f"XX.S{i:03d}..UZ" for i in range(ntr)]
    ctx.receivers = [Receiver(f"S{i:03d}", 200.0 + 300.0 * i, 0.0) for i in range(ntr)]
    ctx.sources = [PointSource(x=0.0, z=-50.0)]
    return ctx


def random_traces(rng: np.random.Generator, ctx: TraceContext) -> np.ndarray:
    """Random band-limited traces plus a little white noise (float64)."""
    x = rng.standard_normal((len(ctx.ids), ctx.nt))
    smooth = Filter("lowpass", freqmax=0.3 / ctx.dt, zero_phase=True).forward(x, ctx)
    smooth /= np.max(np.abs(smooth))
    return smooth + 0.05 * rng.standard_normal(smooth.shape)
