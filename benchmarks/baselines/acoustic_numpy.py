"""Plain-numpy baseline of the acoustic staggered-grid time step (float32).

One step of the same scheme as ``seisgrad.solver.fd2d.acoustic`` (interior update:
velocity from the pressure gradient, pressure from the velocity divergence, order-``order``
staggered differences), written the natural numpy way with array slices. No absorbing
layers (they would only add work). Used by ``benchmarks/solver.py`` as the speed baseline.
"""

from __future__ import annotations

import time

import numpy as np

from seisgrad.solver.fd2d.common import fd_coefficients

__all__ = ["numpy_mcells", "numpy_step"]


class _Work:
    """Preallocated work arrays (no temporaries in the time loop)."""

    def __init__(self, shape: tuple[int, int], dtype: np.dtype | type) -> None:
        self.a = np.empty(shape, dtype)
        self.b = np.empty(shape, dtype)
        self.t = np.empty(shape, dtype)


def numpy_step(
    p: np.ndarray,
    vx: np.ndarray,
    vz: np.ndarray,
    bxdt: np.ndarray,
    bzdt: np.ndarray,
    kdt: np.ndarray,
    c: np.ndarray,
    h: int,
    work: _Work | None = None,
) -> None:
    """One leapfrog step on arrays with a halo of ``h`` cells (updated in place).

    Written with in-place ufuncs into preallocated buffers (``out=``), the fastest plain
    numpy form of the step we found.
    """
    nx, nz = p.shape
    i0, i1, j0, j1 = h, nx - h, h, nz - h
    if work is None:
        work = _Work((i1 - i0, j1 - j0), p.dtype)
    a, b, t = work.a, work.b, work.t
    order = [k for k in range(1, h + 1) if c[k - 1] != 0]
    # velocity x: a = D+x p
    for n, k in enumerate(order):
        dst = a if n == 0 else t
        np.subtract(p[i0 + k : i1 + k, j0:j1], p[i0 + 1 - k : i1 + 1 - k, j0:j1], out=dst)
        if n == 0:
            np.multiply(a, c[k - 1], out=a)
        else:
            np.multiply(t, c[k - 1], out=t)
            np.add(a, t, out=a)
    # velocity z: b = D+z p
    for n, k in enumerate(order):
        dst = b if n == 0 else t
        np.subtract(p[i0:i1, j0 + k : j1 + k], p[i0:i1, j0 + 1 - k : j1 + 1 - k], out=dst)
        if n == 0:
            np.multiply(b, c[k - 1], out=b)
        else:
            np.multiply(t, c[k - 1], out=t)
            np.add(b, t, out=b)
    np.multiply(a, bxdt[i0:i1, j0:j1], out=a)
    np.subtract(vx[i0:i1, j0:j1], a, out=vx[i0:i1, j0:j1])
    np.multiply(b, bzdt[i0:i1, j0:j1], out=b)
    np.subtract(vz[i0:i1, j0:j1], b, out=vz[i0:i1, j0:j1])
    # pressure: a = D-x vx + D-z vz
    for n, k in enumerate(order):
        dst = a if n == 0 else t
        np.subtract(vx[i0 + k - 1 : i1 + k - 1, j0:j1], vx[i0 - k : i1 - k, j0:j1], out=dst)
        np.subtract(vz[i0:i1, j0 + k - 1 : j1 + k - 1], vz[i0:i1, j0 - k : j1 - k], out=b)
        np.add(dst, b, out=dst)
        if n == 0:
            np.multiply(a, c[k - 1], out=a)
        else:
            np.multiply(t, c[k - 1], out=t)
            np.add(a, t, out=a)
    np.multiply(a, kdt[i0:i1, j0:j1], out=a)
    np.subtract(p[i0:i1, j0:j1], a, out=p[i0:i1, j0:j1])


def numpy_mcells(nx: int, nz: int, nsteps: int, order: int) -> float:
    """Million cell updates per second of :func:`numpy_step` (float32, one source)."""
    h = 4
    dtype = np.float32
    shape = (nx + 2 * h, nz + 2 * h)
    dx, dt, v = 10.0, 1e-3, 2000.0
    c = (fd_coefficients(order) / dx).astype(dtype)
    p = np.zeros(shape, dtype)
    vx = np.zeros(shape, dtype)
    vz = np.zeros(shape, dtype)
    bxdt = np.full(shape, dt / 1000.0, dtype)
    bzdt = bxdt.copy()
    kdt = np.full(shape, 1000.0 * v * v * dt, dtype)
    t = np.arange(nsteps) * dt - 0.05
    stf = ((1 - 2 * (np.pi * 25 * t) ** 2) * np.exp(-((np.pi * 25 * t) ** 2))).astype(dtype)
    src = (h + nx // 2, h + nz // 2)
    work = _Work((nx, nz), dtype)
    start = time.perf_counter()
    for n in range(nsteps):
        p[src] += kdt[src] * stf[n] / (dx * dx)
        numpy_step(p, vx, vz, bxdt, bzdt, kdt, c, h, work)
    elapsed = time.perf_counter() - start
    return nx * nz * nsteps / elapsed / 1e6
