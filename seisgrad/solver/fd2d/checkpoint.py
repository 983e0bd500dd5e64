"""Checkpointing: rebuild the forward wavefield during the adjoint run with bounded memory.

The adjoint (gradient) run needs, at every time step ``n`` going backwards, some data of
the forward step ``n`` (for the acoustic solver: the increments of pressure and velocity).
Two schedules are provided, both driven by the same callables, so that they produce the
same gradient (bit for bit: the same compiled kernels recompute the same states):

``store``
    run the forward once and keep the per-step data of all ``nt`` steps
    (memory ``nt`` x per-step data).
``checkpoint``
    run the forward once keeping only full snapshots of the state (wavefields *and* PML
    memory variables) at the start of ``c`` segments; then, for the segments in reverse
    order, restore the snapshot, recompute the segment keeping its per-step data, and run
    the adjoint over it. The last segment's data is kept during the first forward run, so
    ``nt - nt/c`` steps are recomputed. Memory is ``c`` snapshots plus one segment
    (``nt/c`` steps) of per-step data; the default ``c ~ sqrt(nt)`` (scaled by the relative
    sizes of a snapshot and of one step's data) balances the two.

A material plugs in by providing the callables of :func:`gradient_sweep` (see
:class:`seisgrad.solver.fd2d.propagator.Propagator`, which wires them up).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from seisgrad.errors import ConfigError, SolverError

__all__ = [
    "default_checkpoints",
    "segments",
    "segment_starts",
    "gradient_sweep",
    "sweep_memory",
]


def default_checkpoints(nt: int, snapshot_bytes: int = 1, step_bytes: int = 1) -> int:
    """Default number of snapshots: minimises ``c*snapshot + (nt/c)*step`` memory.

    With equal sizes this is ``round(sqrt(nt))``.
    """
    if nt <= 1:
        return 1
    c = math.sqrt(nt * max(step_bytes, 1) / max(snapshot_bytes, 1))
    return int(min(nt, max(1, round(c))))


def segments(nt: int, count: int) -> list[tuple[int, int]]:
    """Split the steps ``[0, nt)`` into ``count`` contiguous segments of nearly equal length."""
    if count < 1:
        raise ConfigError(f"parameter 'checkpoints': need at least 1, got {count}")
    count = min(count, nt)
    bounds = np.linspace(0, nt, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def segment_starts(nt: int, count: int) -> list[int]:
    """First step of each segment of the ``"checkpoint"`` schedule: where a forward run
    takes the snapshots that :func:`gradient_sweep` can start from."""
    return [a for a, _ in segments(nt, count)]


def sweep_memory(nt: int, mode: str, count: int, snapshot_bytes: int, step_bytes: int) -> int:
    """Bytes held by the schedule (snapshots plus per-step data), for reporting."""
    if mode == "store":
        return nt * step_bytes
    segs = segments(nt, count)
    longest = max(b - a for a, b in segs)
    return len(segs) * snapshot_bytes + longest * step_bytes


def gradient_sweep(
    nt: int,
    mode: str,
    count: int | None,
    new_state: Callable[[], Any],
    forward: Callable[[Any, int, int, np.ndarray | None], None],
    snapshot: Callable[[Any], Any],
    restore: Callable[[Any, Any], None],
    new_store: Callable[[int], np.ndarray],
    adjoint: Callable[[int, int, np.ndarray], None],
    snapshots: list[Any] | None = None,
) -> None:
    """Run the forward and adjoint passes of a gradient computation.

    Parameters
    ----------
    nt
        Number of time steps.
    mode
        ``"store"`` or ``"checkpoint"``.
    count
        Number of snapshots (segments) for ``"checkpoint"``; ``None`` for ``sqrt(nt)``.
    new_state
        Returns a zero forward state.
    forward
        ``forward(state, n0, n1, store)`` advances ``state`` over steps ``n0 .. n1-1``;
        when ``store`` is not ``None`` it writes the per-step data of step ``n`` into
        ``store[n - n0]``.
    snapshot, restore
        Copy the complete state out (``snapshot(state) -> snap``) and back in.
    new_store
        ``new_store(k)`` allocates per-step data for ``k`` steps.
    adjoint
        ``adjoint(n1, n0, store)`` runs the adjoint steps ``n1-1 .. n0`` (in that order)
        with ``store[n - n0]`` holding the data of forward step ``n``; the adjoint state
        lives in the caller and carries over from one call to the next.
    snapshots
        ``"checkpoint"`` only: the snapshots at the starts of the ``count`` segments,
        taken by an earlier forward run of the same simulation (see
        :func:`segment_starts`). The first forward pass is then skipped and every
        segment, the last one included, is recomputed from its snapshot; the gradient
        is bit for bit the same.
    """
    if mode == "store":
        state = new_state()
        store = new_store(nt)
        forward(state, 0, nt, store)
        del state
        adjoint(nt, 0, store)
        return
    if mode != "checkpoint":
        raise ConfigError(
            f"parameter 'checkpointing': {mode!r} is not allowed; choose 'checkpoint' or 'store'"
        )
    segs = segments(nt, count if count is not None else default_checkpoints(nt))
    longest = max(b - a for a, b in segs)
    state = new_state()
    store = new_store(longest)
    if snapshots is not None:  # taken by an earlier forward run: every segment replays
        if len(snapshots) != len(segs):
            raise SolverError(
                f"{len(snapshots)} saved snapshots for a schedule of {len(segs)} segments"
            )
        snaps = list(snapshots)
        replay = segs
    else:
        snaps = []
        for k, (a, b) in enumerate(segs):
            if k == len(segs) - 1:
                forward(state, a, b, store)  # keep the last segment: no recomputation
            else:
                snaps.append(snapshot(state))
                forward(state, a, b, None)
        adjoint(segs[-1][1], segs[-1][0], store)
        replay = segs[:-1]
    for a, b in reversed(replay):
        snap = snaps.pop()  # free each snapshot once used
        restore(state, snap)
        del snap
        forward(state, a, b, store)
        adjoint(b, a, store)
