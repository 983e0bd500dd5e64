"""Floor of the velocity-pressure formulation: bare interior kernels, no layers.

Usage::

    python benchmarks/kernels.py            # 540 x 540 (the 500 x 500 benchmark with layers)
    python benchmarks/kernels.py --n 140    # a grid whose arrays fit in the L2 cache

The solver's gradient costs ``1 + recomputation + adjoint`` forward runs (see
``benchmarks/solver.py``). This script times the same staggered order-8 steps with
everything else removed (no C-PML, sources, receivers or free surface; float32, one
thread, rows in blocks of 16 as in the solver), to show how far any tuning of the
solver's loops can go and what another gradient algorithm would cost:

* ``fwd``: a forward step (velocities from ``D+ p``, pressure from ``D- v``);
* ``fwd_store``: a forward step that also writes ``p^n`` to a per-step buffer (the
  recomputation of a checkpoint segment);
* ``adj``: the transposed step alone, ``U += B D+ W``, ``W += K D- U``;
* ``adj_imaging``: the transposed step with the imaging conditions of the solver,
  ``G_x += U_x D+_x p^n``, ``G_z += U_z D+_z p^n``, ``G_K += p^n dW``, reading ``p^n``
  from per-step buffers that together exceed the cache (as a segment does);
* ``reverse_adj``: one sweep that runs the forward step backwards (leapfrog is
  reversible: ``p^n = p^{n+1} + K D- v^{n+1/2}``, ``v^{n-1/2} = v^{n+1/2} + B D+ p^n``)
  together with ``adj_imaging``, sharing ``D+ p^n``: the time-reversal gradient, which
  needs no recomputation and no per-step buffer (boundary values and absorbing layers,
  which a real solver must also handle, are left out).

It prints milliseconds per step and ratios to ``fwd``, and the gradient costs they
imply: checkpointing ``1 + fwd_store + adj_imaging`` and time reversal
``1 + reverse_adj`` (in forward steps). :func:`check` proves that the kernels compute
what they claim (dot-product test of ``adj`` against ``fwd``, exact reversal, the same
imaging from both adjoint kernels); ``tests/solver/test_benchmark.py`` runs it. The
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
from numba import njit

OPTS = {"fastmath": True, "boundscheck": False, "error_model": "numpy", "nogil": True}
U1, U2, U3, U4 = (np.uint64(k) for k in (1, 2, 3, 4))
#: first and last rows/columns kept at zero (the stencils reach four cells out)
EDGE = 8
BLOCK = 16


@njit(inline="always", **OPTS)
def _dp(a, q, s, c):  # pragma: no cover - compiled
    """Forward staggered difference ``D+`` with stride ``s`` (``S`` along x, the rows;
    1 along z, contiguous) at ``q + s/2``; ``D-`` at ``q - s/2`` is ``_dp(a, q - s, s)``."""
    s2, s3, s4 = s + s, s + s + s, s + s + s + s
    return (
        c[0] * (a[q + s] - a[q])
        + c[1] * (a[q + s2] - a[q - s])
        + c[2] * (a[q + s3] - a[q - s2])
        + c[3] * (a[q + s4] - a[q - s3])
    )


@njit(inline="always", **OPTS)
def _u_row(w, u, b, pn, g, v, b0, n, s, c):  # pragma: no cover - compiled
    """One row of ``U += B D+ W`` along stride ``s``; with ``pn`` (``p^n``, not None)
    also ``G += U D+ p^n``, and with ``v`` (not None) the reversed forward velocity
    ``v += B D+ p^n``."""
    for m in range(n):
        q = b0 + m
        x = u[q] + b[q] * _dp(w, q, s, c)
        u[q] = x
        if pn is not None:
            e = _dp(pn, q, s, c)
            g[q] += x * e
            if v is not None:
                v[q] += b[q] * e


@njit(inline="always", **OPTS)
def _w_row(ux, uz, k, w, pn, gk, b0, n, S, c):  # pragma: no cover - compiled
    """One row of ``W += K D- U``; with ``pn`` (not None) also ``G_K += p^n dW``."""
    for m in range(n):
        q = b0 + m
        inc = k[q] * (_dp(ux, q - S, S, c) + _dp(uz, q - U1, U1, c))
        w[q] += inc
        if pn is not None:
            gk[q] += pn[q] * inc


@njit(**OPTS)
def fwd(p, vx, vz, bx, bz, k, store, c, ncols, nrows):  # pragma: no cover - compiled
    """One forward step; with a ``store`` (not None) it first keeps ``p^n`` there."""
    S = np.uint64(ncols)
    n = np.uint64(ncols - 2 * EDGE)
    r = EDGE
    while r < nrows:
        for i in range(r, min(r + BLOCK, nrows - EDGE)):
            b0 = np.uint64(i) * S + np.uint64(EDGE)
            if store is not None:
                for m in range(n):
                    store[b0 + m] = p[b0 + m]
            for m in range(n):
                q = b0 + m
                vx[q] -= bx[q] * _dp(p, q, S, c)
            for m in range(n):
                q = b0 + m
                vz[q] -= bz[q] * _dp(p, q, U1, c)
        for i in range(max(r - 4, EDGE), min(r + BLOCK - 4, nrows - EDGE)):
            b0 = np.uint64(i) * S + np.uint64(EDGE)
            for m in range(n):
                q = b0 + m
                p[q] -= k[q] * (_dp(vx, q - S, S, c) + _dp(vz, q - U1, U1, c))
        r += BLOCK


@njit(**OPTS)
def adj(w, ux, uz, bx, bz, k, pn, gx, gz, gk, c, ncols, nrows):  # pragma: no cover
    """One transposed step ``U += B D+ W; W += K D- U``; with ``pn`` (``p^n``, not
    None) it also accumulates the imaging conditions into ``gx``, ``gz``, ``gk``."""
    S = np.uint64(ncols)
    n = np.uint64(ncols - 2 * EDGE)
    r = EDGE
    while r < nrows:
        for i in range(r, min(r + BLOCK, nrows - EDGE)):
            b0 = np.uint64(i) * S + np.uint64(EDGE)
            _u_row(w, ux, bx, pn, gx, None, b0, n, S, c)
            _u_row(w, uz, bz, pn, gz, None, b0, n, U1, c)
        for i in range(max(r - 4, EDGE), min(r + BLOCK - 4, nrows - EDGE)):
            _w_row(ux, uz, k, w, pn, gk, np.uint64(i) * S + np.uint64(EDGE), n, S, c)
        r += BLOCK


@njit(**OPTS)
def reverse_adj(p, vx, vz, w, ux, uz, bx, bz, k, gx, gz, gk, c, ncols, nrows):  # pragma: no cover
    """One step of the time-reversal gradient: the forward step run backwards (from
    ``p^{n+1}, v^{n+1/2}`` to ``p^n, v^{n-1/2}``) fused with :func:`adj` with imaging,
    ``D+ p^n`` computed once for both."""
    S = np.uint64(ncols)
    n = np.uint64(ncols - 2 * EDGE)
    r = EDGE
    while r < nrows + 8:
        for i in range(r, min(r + BLOCK, nrows - EDGE)):  # p^n
            b0 = np.uint64(i) * S + np.uint64(EDGE)
            for m in range(n):
                q = b0 + m
                p[q] += k[q] * (_dp(vx, q - S, S, c) + _dp(vz, q - U1, U1, c))
        for i in range(max(r - 4, EDGE), min(r + BLOCK - 4, nrows - EDGE)):
            b0 = np.uint64(i) * S + np.uint64(EDGE)
            _u_row(w, ux, bx, p, gx, vx, b0, n, S, c)
            _u_row(w, uz, bz, p, gz, vz, b0, n, U1, c)
        for i in range(max(r - 8, EDGE), min(r + BLOCK - 8, nrows - EDGE)):
            _w_row(ux, uz, k, w, p, gk, np.uint64(i) * S + np.uint64(EDGE), n, S, c)
        r += BLOCK


class Bare:
    """Arrays of one problem: ``n x n`` cells, interior ``[EDGE, n - EDGE)`` squared."""

    def __init__(self, n: int, dtype: type = np.float32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.dtype = dtype
        mask = np.zeros((n, n), bool)
        mask[EDGE : n - EDGE, EDGE : n - EDGE] = True
        self.mask = mask.reshape(-1)
        # order-8 staggered coefficients times dt/dx at a stable Courant number
        self.c = np.array([1.1962890625, -0.0797526042, 0.0095703125, -0.0006975447]) * 0.3
        self.c = self.c.astype(dtype)

        def coef() -> np.ndarray:
            return np.where(self.mask, 1.0 + 0.5 * rng.random(n * n), 0.0).astype(dtype)

        def field() -> np.ndarray:
            return np.where(self.mask, rng.standard_normal(n * n), 0.0).astype(dtype)

        self.coef = coef
        self.field = field
        self.bx, self.bz, self.k = coef(), coef(), coef()

    def fwd(self, s: list[np.ndarray], store: np.ndarray | None = None) -> None:
        fwd(*s, self.bx, self.bz, self.k, store, self.c, self.n, self.n)

    def adj(self, a: list[np.ndarray], pn=None, g=None) -> None:
        g = g if g is not None else [None, None, None]
        adj(*a, self.bx, self.bz, self.k, pn, *g, self.c, self.n, self.n)

    def reverse_adj(self, s: list[np.ndarray], a: list[np.ndarray], g) -> None:
        reverse_adj(*s, *a, self.bx, self.bz, self.k, *g, self.c, self.n, self.n)


def check(n: int = 64, steps: int = 5) -> dict[str, float]:
    """Prove the kernels, in float64; return the relative errors.

    * ``dot``: ``<F x, y> = <x, F^T y>`` for ``steps`` steps, ``F^T`` run by :func:`adj`
      on the scaled variables ``U = B v^``, ``W = K p^``;
    * ``reversal``: ``steps`` forward steps, then ``steps`` steps of
      :func:`reverse_adj`, give back the initial state;
    * ``imaging``: :func:`reverse_adj` accumulates the same imaging conditions as
      :func:`adj` given the stored ``p^n`` of each step.
    """
    b = Bare(n, np.float64, seed=1)
    x = [b.field() for _ in range(3)]  # p, vx, vz
    y = [b.field() for _ in range(3)]  # p^, vx^, vz^
    fx = [a.copy() for a in x]
    for _ in range(steps):
        b.fwd(fx)
    lhs = sum(float(np.dot(f, g)) for f, g in zip(fx, y))
    # adjoint variables scaled by the coefficients; (w, ux, uz)
    a = [b.k * y[0], b.bx * y[1], b.bz * y[2]]
    for _ in range(steps):
        b.adj(a)
    scale = [b.k, b.bx, b.bz]
    yt = [np.divide(ai, si, out=np.zeros_like(ai), where=si != 0) for ai, si in zip(a, scale)]
    rhs = sum(float(np.dot(f, g)) for f, g in zip(x, yt))
    dot = abs(lhs - rhs) / abs(lhs)

    # reversal and imaging
    s = [a.copy() for a in x]
    stored = []
    for _ in range(steps):
        buf = np.zeros_like(s[0])
        b.fwd(s, buf)
        stored.append(buf)
    a0 = [b.k * y[0], b.bx * y[1], b.bz * y[2]]
    a1 = [v.copy() for v in a0]
    g1 = [np.zeros_like(s[0]) for _ in range(3)]
    for pn in reversed(stored):
        b.adj(a1, pn, g1)
    a2 = [v.copy() for v in a0]
    g2 = [np.zeros_like(s[0]) for _ in range(3)]
    for _ in range(steps):
        b.reverse_adj(s, a2, g2)
    reversal = max(float(np.abs(u - v).max() / np.abs(v).max()) for u, v in zip(s, x))
    imaging = max(float(np.abs(u - v).max() / np.abs(v).max()) for u, v in zip(g2, g1))
    adjoint_fields = max(float(np.abs(u - v).max() / np.abs(v).max()) for u, v in zip(a2, a1))
    return {
        "dot": dot,
        "reversal": reversal,
        "imaging": max(imaging, adjoint_fields),
    }


def measure(n: int, steps: int = 50, repeat: int = 8) -> dict[str, float]:
    """Seconds per step of each kernel (float32, best of ``repeat`` alternated runs of
    ``steps`` steps)."""
    b = Bare(n)
    s = [b.field() * 1e-3 for _ in range(3)]
    a = [b.field() * 1e-3 for _ in range(3)]
    g = [np.zeros(n * n, np.float32) for _ in range(3)]
    # per-step buffers of p^n: a ring larger than the last-level cache, as in a segment
    nbuf = max(2, min(steps, math.ceil(64 * 2**20 / (4 * n * n))))
    bufs = [b.field() * 1e-3 for _ in range(nbuf)]
    runs = {
        "fwd": lambda it: b.fwd(s),
        "fwd_store": lambda it: b.fwd(s, bufs[it % nbuf]),
        "adj": lambda it: b.adj(a),
        "adj_imaging": lambda it: b.adj(a, bufs[it % nbuf], g),
        "reverse_adj": lambda it: b.reverse_adj(s, a, g),
    }
    best = dict.fromkeys(runs, math.inf)
    for run in runs.values():  # compile
        run(0)
    for _ in range(repeat):
        for name, run in runs.items():
            t = time.perf_counter()
            for it in range(steps):
                run(it)
            best[name] = min(best[name], (time.perf_counter() - t) / steps)
    return best


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=540, help="cells along each side (540)")
    ap.add_argument("--steps", type=int, default=50, help="steps per timed run (50)")
    ap.add_argument("--repeat", type=int, default=8, help="alternated runs (8)")
    args = ap.parse_args(argv)
    errors = check()
    print(
        "checks (float64): dot product {dot:.1e}, reversal {reversal:.1e}, "
        "imaging of the two adjoint kernels {imaging:.1e}".format(**errors)
    )
    best = measure(args.n, args.steps, args.repeat)
    f = best["fwd"]
    print(f"{args.n} x {args.n} cells, float32, one thread, best of {args.repeat} runs:")
    for name, t in best.items():
        print(f"  {name:12s} {t * 1e3:7.3f} ms/step  {t / f:5.2f} x fwd")
    ckpt = 1 + (best["fwd_store"] + best["adj_imaging"]) / f
    rev = 1 + best["reverse_adj"] / f
    print(
        f"gradient / forward implied by these kernels: checkpointing {ckpt:.2f} "
        f"(1 + fwd_store + adj_imaging), time reversal {rev:.2f} (1 + reverse_adj; "
        "boundary values and absorbing layers not counted)"
    )
    result = {"n": args.n, **{f"{k}_ms": round(v * 1e3, 4) for k, v in best.items()}}
    result |= {f"{k}_over_fwd": round(v / f, 3) for k, v in best.items() if k != "fwd"}
    result |= {"grad_over_fwd_checkpoint": round(ckpt, 3), "grad_over_fwd_reversal": round(rev, 3)}
    result |= {f"check_{k}": v for k, v in errors.items()}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
