"""Speed of the built-in ``fd2d`` solver: forward throughput, gradient cost and memory.

Usage::

    python benchmarks/solver.py --materials acoustic          # 500x500, 2000 steps
    python benchmarks/solver.py --materials elastic --large   # 1000x1000, 4000 steps

Problem: ``nx`` x ``nz`` grid (10 m), order 8, float32, ``nt`` steps, one Ricker source,
100 receivers on a ring, C-PML (20 cells) on all sides, ``--threads`` threads (1). Prints

* forward throughput in million cell updates per second (cells of the model grid; the
  absorbing layers are extra work not counted; best of two runs),
* the same for a plain-numpy implementation of the same time step on the same problem
  (C-PML layers included; ``baselines/*_numpy.py``, tested to give the solver's steps
  to round-off), run in the same process, alternating with the forward runs (best of
  two), and the ratio; then, for comparison with earlier figures, the older numpy
  baseline that updates the interior only, without absorbing layers
  (``numpy_interior_mcells``),
* the time of a gradient run (forward + adjoint, as ``FD2D.adjoint`` does it) over the
  time of a forward run, with checkpointing (best of two runs; one with ``--large``)
  and in store-everything mode (best of two runs, and the first: it pays for touching
  gigabytes of fresh memory; one run with ``--large``), and the times of a forward that saves its
  checkpoint snapshots and of the gradient that starts from them
  (``fwd_save_over_fwd``, ``grad_saved_over_fwd``: what the Migration workflow's
  forward and adjoint tasks cost with ``save_forward``). Every ratio divides by a
  forward run made just before the measured run (:class:`ForwardClock`): this VM's
  speed drifts by 10-20% within minutes,
* where a checkpointed gradient's time goes, per time step (:func:`time_steps`): a
  forward step, a forward step keeping the adjoint's per-step data (the recomputation
  from a checkpoint; ``step_replay_over_fwd``) and an adjoint step with the imaging
  conditions (``step_adjoint_over_fwd``), as ratios to the forward step,
* the peak memory of the gradient run: numpy allocations traced by ``tracemalloc``
  during the run (the wavefield data), and the process's peak resident size,
* last (so that their memory does not count in ours), Deepwave and Devito on the same
  problem when they are importable (never dependencies; ``--no-peers`` skips them):
  their forward throughput, seisgrad's ratio to it and their gradient/forward time
  (see ``baselines/peers.py`` for what exactly runs).

Runs that keep a whole forward history are skipped, with a message, when it would not
fit in the available memory (``--large`` elastic: about 80 GB).

The last line is one JSON object with the figures (``fwd_mcells``, ``numpy_mcells``,
``grad_over_fwd``, ``grad_peak_mb``, ...).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seisgrad.model import Grid, Model  # noqa: E402
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction  # noqa: E402
from seisgrad.solver.fd2d import FD2D, FD2DParameters  # noqa: E402
from seisgrad.solver.fd2d.propagator import available_memory as propagator_available_memory  # noqa: E402


def ring(n: int, radius: float, cx: float, cz: float) -> list[Receiver]:
    out = []
    for k in range(n):
        a = 2 * math.pi * k / n
        out.append(
            Receiver(station=f"R{k:03d}", x=cx + radius * math.cos(a), z=cz + radius * math.sin(a))
        )
    return out


def problem(materials: str, nx: int, nz: int, nt: int, threads: int, mode: str):
    dx = 10.0
    g = Grid(nx, nz, dx, dx)
    vp = np.full(g.shape, 3000.0)
    vp[:, nz // 2 :] = 2500.0
    rho = np.full(g.shape, 2000.0)
    values = {"vp": vp, "rho": rho}
    if materials == "elastic":
        values["vs"] = vp / 1.8
    model = Model(g, values)
    # 12 points per minimum wavelength at 2.8 f0
    vmin = float((values["vs"] if materials == "elastic" else vp).min())
    f0 = vmin / (12 * dx) / 2.8
    dt = 0.5 * dx / (3000.0 * math.sqrt(2) * 1.29)
    kind = "explosion"
    cx, cz = g.x[nx // 2], g.z[nz // 2]
    ev = Event(
        name="bench",
        sources=[PointSource(x=cx, z=cz, kind=kind, stf=SourceTimeFunction(f0=f0))],
    )
    recs = ring(100, 0.4 * min(nx, nz) * dx, cx, cz)
    params = FD2DParameters(
        materials=materials,
        nt=nt,
        dt=dt,
        order=8,
        precision="float32",
        threads=threads,
        checkpointing=mode,
    )
    return FD2D(params), model, ev, recs


def available_memory() -> int:
    """Bytes of memory available to new allocations (the solver's own estimate,
    :func:`seisgrad.solver.fd2d.propagator.available_memory`; else the total)."""
    free = propagator_available_memory()
    if free is None:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return free


def warm_up(materials: str, threads: int) -> None:
    """Compile every kernel variant outside the timed runs."""
    for mode in ("checkpoint", "store"):
        s, m, ev, recs = problem(materials, 60, 50, 30, threads, mode)
        prop = s.propagator(m, ev, recs)
        d = prop.forward()
        prop.gradient(d)


class ForwardClock:
    """Times the forward run beside every other measurement.

    The speed of a shared VM drifts by 10-20% within minutes, so each ratio divides the
    measured run by a forward run made just before it (:func:`beside`), not by one made
    minutes earlier.
    """

    def __init__(self, solver, model, ev, recs) -> None:
        self.prop = solver.propagator(model, ev, recs)

    def run(self) -> float:
        t = time.perf_counter()
        self.prop.forward()
        return time.perf_counter() - t


def beside(clock: ForwardClock, measure, repeat: int) -> tuple[float, list]:
    """Alternate ``repeat`` forward runs with ``repeat`` calls of ``measure()``; return
    the best forward time and the list of what ``measure`` returned."""
    fwd, out = [], []
    for _ in range(repeat):
        fwd.append(clock.run())
        out.append(measure())
    return min(fwd), out


def time_gradient(solver, model, ev, recs) -> tuple[float, float]:
    """Wall time of one gradient run and its peak of traced memory (MiB)."""
    prop = solver.propagator(model, ev, recs)
    d = prop.forward()
    adj = {k: v.astype(np.float64) for k, v in d.items()}
    tracemalloc.start()
    tracemalloc.reset_peak()
    t = time.perf_counter()
    prop.gradient(adj)
    elapsed = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20


def time_saved_forward(solver, model, ev, recs) -> tuple[float, float]:
    """A forward that saves its checkpoint snapshots to disk, then the gradient that
    starts from them (``FD2D.forward(save=)`` / ``adjoint(saved=)``, what the Migration
    workflow does with ``save_forward``); return both wall times."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forward.snapshots"
        t = time.perf_counter()
        syn = solver.forward(model, ev, recs, save=path)
        t_fwd = time.perf_counter() - t
        t = time.perf_counter()
        solver.adjoint(model, ev, recs, syn, saved=path)
        return t_fwd, time.perf_counter() - t


def time_steps(prop, nsteps: int, repeat: int = 3) -> tuple[float, float, float]:
    """Seconds per time step of the three parts of a checkpointed gradient, each the best
    of ``repeat`` alternated runs of ``nsteps`` steps from the middle of the simulation:
    a plain forward step, a forward step that keeps the per-step data of the adjoint
    (what the recomputation from a checkpoint does) and an adjoint step with the
    imaging conditions (reading that data)."""
    n0 = max(0, min(prop.nt // 2, prop.nt - nsteps))
    n1 = n0 + nsteps
    state = prop.new_state()
    raw = prop.new_raw()
    prop.forward_steps(state, 0, n0, raw, None)
    start = {k: v.copy() for k, v in state.items()}
    # the traces of the measured steps are the adjoint sources of the adjoint steps
    prop.forward_steps(state, n0, n1, raw, None)
    raw_adj = prop.traces_to_raw_adjoint(prop.raw_to_traces(raw))
    store = prop.new_store(nsteps)
    adj = prop.new_adjoint()
    best = [math.inf] * 3
    # the forward records (into an array already touched, as a forward run's is after
    # its first steps); the recomputation, like the gradient's, records nothing
    for _ in range(repeat):
        for part, data, rec in ((0, None, raw), (1, store, None)):
            for k, v in start.items():
                state[k][...] = v
            t = time.perf_counter()
            prop.forward_steps(state, n0, n1, rec, data)
            best[part] = min(best[part], time.perf_counter() - t)
        t = time.perf_counter()
        prop.adjoint_steps(adj, n1, n0, store, raw_adj)
        best[2] = min(best[2], time.perf_counter() - t)
    fwd, replay, adjoint = (b / nsteps for b in best)
    return fwd, replay, adjoint


def peers(solver: FD2D, model: Model, ev: Event, recs: list[Receiver]) -> dict[str, dict]:
    """Deepwave / Devito on the same problem, when importable (see ``baselines.peers``)."""
    from baselines.peers import Problem, deepwave_peer, devito_peer

    g = model.grid
    src = ev.sources[0]
    pb = Problem(
        solver.params.materials,
        {k: np.asarray(v) for k, v in model.items()},
        g.dx,
        solver.params.dt,
        solver.params.nt,
        src.stf.f0,
        ((src.x - g.x[0]) / g.dx, (src.z - g.z[0]) / g.dz),
        [((r.x - g.x[0]) / g.dx, (r.z - g.z[0]) / g.dz) for r in recs],
    )
    out: dict[str, dict] = {}
    for name, fn in (("deepwave", deepwave_peer), ("devito", devito_peer)):
        try:
            res = fn(pb)
        except Exception as exc:  # a peer's own failure must not lose our figures
            print(f"{name}: failed ({type(exc).__name__}: {exc}); skipped")
            continue
        if res is None:
            why = "not installed" if importlib.util.find_spec(name) is None else "no such mode"
            print(f"{name}: {why} (skipped)")
            continue
        out[name] = res
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--materials", choices=("acoustic", "elastic"), default="acoustic")
    ap.add_argument("--large", action="store_true", help="1000 x 1000 grid instead of 500 x 500")
    ap.add_argument("--nt", type=int, default=None, help="time steps (2000; 4000 with --large)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-store", action="store_true", help="skip the store-everything run")
    ap.add_argument("--no-peers", action="store_true", help="skip Deepwave and Devito")
    ap.add_argument(
        "--numpy-steps", type=int, default=None, help="steps for numpy (nt; 400 with --large)"
    )
    args = ap.parse_args(argv)
    n = 1000 if args.large else 500
    nx = nz = n
    nt = args.nt or (4000 if args.large else 2000)
    if args.large and args.numpy_steps is None:
        args.numpy_steps = 400  # its throughput per step is steady; 4000 would take minutes
    mach = f"{platform.machine()} {platform.processor() or ''}".strip()
    print(f"machine: {mach}, python {platform.python_version()}")
    print(
        f"problem: {args.materials}, {nx}x{nz}, {nt} steps, order 8, float32, "
        f"{args.threads} thread(s), 1 source, 100 receivers"
    )
    t0 = time.perf_counter()
    warm_up(args.materials, args.threads)
    print(f"warm-up (compile or load cached kernels): {time.perf_counter() - t0:.1f} s")

    solver, model, ev, recs = problem(args.materials, nx, nz, nt, args.threads, "checkpoint")
    clock = ForwardClock(solver, model, ev, recs)
    base = importlib.import_module(f"baselines.{args.materials}_numpy")
    nsteps = args.numpy_steps or nt
    solver_np, *_ = problem(args.materials, nx, nz, nsteps, args.threads, "checkpoint")
    np_prop = solver_np.propagator(model, ev, recs)
    # forward and numpy alternate, best of two runs each
    t_fwd, np_runs = beside(clock, lambda: base.numpy_mcells_same_problem(np_prop, nsteps), 2)
    fwd_mcells = nx * nz * nt / t_fwd / 1e6
    np_mcells = max(np_runs)
    print(f"forward: {t_fwd:.2f} s, {fwd_mcells:.0f} Mcells/s (best of two runs)")
    print(
        f"numpy baseline, the same time step on the same problem (C-PML included; "
        f"{nsteps} steps, best of two runs, each after a forward run): {np_mcells:.1f} "
        f"Mcells/s; ratio {fwd_mcells / np_mcells:.1f}x"
    )
    np_interior = base.numpy_mcells(nx, nz, nsteps, 8)
    print(
        f"numpy interior update only (no absorbing layers; the baseline before "
        f"2026-12-06): {np_interior:.1f} Mcells/s; ratio {fwd_mcells / np_interior:.1f}x"
    )
    est_mb = clock.prop.memory_estimate() / 2**20
    t_fwd_g, grads = beside(
        clock, lambda: time_gradient(solver, model, ev, recs), 1 if args.large else 2
    )
    t_grad = min(t for t, _ in grads)
    peak_mb = max(m for _, m in grads)
    print(
        f"gradient (checkpoint, {clock.prop.checkpoint_count()} "
        f"snapshots): {t_grad:.2f} s = {t_grad / t_fwd_g:.2f} x the forward run beside it "
        f"({t_fwd_g:.2f} s); peak traced memory {peak_mb:.0f} MB (schedule estimate "
        f"{est_mb:.0f} MB)"
    )
    t_fwd_s, saved = beside(clock, lambda: time_saved_forward(solver, model, ev, recs), 1)
    t_fwd_save, t_grad_saved = saved[0]
    print(
        f"forward saving its snapshots {t_fwd_save:.2f} s, then the gradient from them "
        f"{t_grad_saved:.2f} s: forward + gradient = "
        f"{(t_fwd_save + t_grad_saved) / t_fwd_s:.2f} x the forward run beside them "
        f"({t_fwd_s:.2f} s; the Migration workflow with save_forward)"
    )
    # one checkpoint segment: the per-step data the gradient itself holds at a time
    nsteps_parts = max(1, min(100, nt // max(1, clock.prop.checkpoint_count())))
    s_fwd, s_replay, s_adj = time_steps(clock.prop, nsteps_parts)
    print(
        f"where a checkpointed gradient's time goes, per time step ({nsteps_parts} steps, "
        f"one checkpoint segment, from the middle of the run, best of three): "
        f"forward {s_fwd * 1e3:.3f} ms; "
        f"forward keeping the per-step data (the recomputation from a checkpoint) "
        f"{s_replay * 1e3:.3f} ms = {s_replay / s_fwd:.2f} x; adjoint with the imaging "
        f"conditions {s_adj * 1e3:.3f} ms = {s_adj / s_fwd:.2f} x; so a gradient costs "
        f"about 1 + {s_replay / s_fwd:.2f} + {s_adj / s_fwd:.2f} = "
        f"{1 + (s_replay + s_adj) / s_fwd:.2f} forwards"
    )
    result = {
        "materials": args.materials,
        "nx": nx,
        "nz": nz,
        "nt": nt,
        "threads": args.threads,
        "fwd_seconds": round(t_fwd, 3),
        "fwd_mcells": round(fwd_mcells, 1),
        "numpy_mcells": round(np_mcells, 1),
        "fwd_over_numpy": round(fwd_mcells / np_mcells, 2),
        "numpy_interior_mcells": round(np_interior, 1),
        "fwd_over_numpy_interior": round(fwd_mcells / np_interior, 2),
        "grad_over_fwd": round(t_grad / t_fwd_g, 3),
        "grad_peak_mb": round(peak_mb, 1),
        "fwd_save_over_fwd": round(t_fwd_save / t_fwd_s, 3),
        "grad_saved_over_fwd": round(t_grad_saved / t_fwd_s, 3),
        "step_replay_over_fwd": round(s_replay / s_fwd, 3),
        "step_adjoint_over_fwd": round(s_adj / s_fwd, 3),
    }
    # A whole forward history (store-everything mode, and what Deepwave and Devito keep)
    # is only attempted when it fits: an out-of-memory kill would lose every figure.
    solver_s, *_ = problem(args.materials, nx, nz, nt, args.threads, "store")
    history = solver_s.propagator(model, ev, recs).memory_estimate()
    avail = available_memory()
    fits = history < 0.8 * avail
    result["history_mb"] = round(history / 2**20, 1)
    if not fits:
        print(
            f"a whole forward history would hold {history / 2**30:.1f} GiB and "
            f"{avail / 2**30:.1f} GiB are available: store-everything, Deepwave and Devito "
            "are skipped"
        )
    if not args.no_store and fits:
        # Two runs, each beside its own forward: the first writes a history into memory
        # the process has never touched (on a VM, the host's first-touch cost; see
        # docs/performance.md), the second reuses it, as every later source of a
        # workflow run does.
        ratios, peak_s = [], 0.0
        for k in range(1 if args.large else 2):
            t_fwd_st, stored = beside(clock, lambda: time_gradient(solver_s, model, ev, recs), 1)
            t_store, peak = stored[0]
            peak_s = max(peak_s, peak)
            ratios.append(t_store / t_fwd_st)
            print(
                f"gradient (store everything, run {k + 1}): {t_store:.2f} s = "
                f"{ratios[-1]:.2f} x the forward run beside it ({t_fwd_st:.2f} s); peak "
                f"traced memory {peak:.0f} MB"
            )
        result["grad_over_fwd_store"] = round(min(ratios), 3)
        result["grad_over_fwd_store_first"] = round(ratios[0], 3)
        result["grad_store_peak_mb"] = round(peak_s, 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak resident memory: {rss:.0f} MB")
    result["max_rss_mb"] = round(rss, 1)
    if not args.no_peers and fits:  # last: their memory must not count in ours
        for name, res in peers(solver, model, ev, recs).items():
            print(
                f"{name} ({res['note']}): {res['mcells']:.0f} Mcells/s, seisgrad/{name} "
                f"{fwd_mcells / res['mcells']:.2f}x; gradient/forward {res['grad_over_fwd']:.2f}"
            )
            result[f"{name}_mcells"] = round(res["mcells"], 1)
            result[f"fwd_over_{name}"] = round(fwd_mcells / res["mcells"], 2)
            result[f"{name}_grad_over_fwd"] = round(res["grad_over_fwd"], 3)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
