"""Plain-numpy baseline of the elastic (P-SV) staggered-grid time step (float32).

One step of the same scheme as ``seisgrad.solver.fd2d.elastic`` (interior update of the
Virieux grid: velocities from the stress divergence, then the three stresses from the
velocity gradients, order-``order`` staggered differences), written the natural numpy
way with array slices and in-place ufuncs into preallocated buffers. No absorbing layers
(they would only add work). Used by ``benchmarks/solver.py --materials elastic`` as the
speed baseline (:func:`numpy_mcells`).
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


def _derivative(
    f: np.ndarray,
    axis: int,
    plus: bool,
    c: np.ndarray,
    h: int,
    out: np.ndarray,
    tmp: np.ndarray,
) -> None:
    """``out = D+ f`` (``plus``: half-node output from nodes) or ``D- f`` along ``axis``
    over the interior ``[h, n - h)`` of a haloed array."""
    nx, nz = f.shape
    i0, i1, j0, j1 = h, nx - h, h, nz - h
    first = True
    for k in range(1, h + 1):
        if c[k - 1] == 0:
            continue
        hi, lo = (k, 1 - k) if plus else (k - 1, -k)
        if axis == 0:
            a, b = f[i0 + hi : i1 + hi, j0:j1], f[i0 + lo : i1 + lo, j0:j1]
        else:
            a, b = f[i0:i1, j0 + hi : j1 + hi], f[i0:i1, j0 + lo : j1 + lo]
        dst = out if first else tmp
        np.subtract(a, b, out=dst)
        np.multiply(dst, c[k - 1], out=dst)
        if not first:
            np.add(out, tmp, out=out)
        first = False


def numpy_step(
    vx: np.ndarray,
    vz: np.ndarray,
    sxx: np.ndarray,
    szz: np.ndarray,
    sxz: np.ndarray,
    bx: np.ndarray,
    bz: np.ndarray,
    l2m: np.ndarray,
    lam: np.ndarray,
    mu: np.ndarray,
    c: np.ndarray,
    h: int,
    work: _Work,
) -> None:
    """One leapfrog step (V then S sub-step) on arrays with a halo of ``h`` cells.

    ``bx``, ``bz`` are ``dt / rho`` at the velocity points, ``l2m``, ``lam`` are
    ``dt (lambda + 2 mu)`` and ``dt lambda`` at the nodes, ``mu`` is ``dt mu`` at the shear
    points (all interior-sized).
    """
    nx, nz = vx.shape
    s = (slice(h, nx - h), slice(h, nz - h))
    a, b, t = work.a, work.b, work.t
    # vx += bx (D+x sxx + D-z sxz)
    _derivative(sxx, 0, True, c, h, a, t)
    _derivative(sxz, 1, False, c, h, b, t)
    np.add(a, b, out=a)
    np.multiply(a, bx, out=a)
    np.add(vx[s], a, out=vx[s])
    # vz += bz (D-x sxz + D+z szz)
    _derivative(sxz, 0, False, c, h, a, t)
    _derivative(szz, 1, True, c, h, b, t)
    np.add(a, b, out=a)
    np.multiply(a, bz, out=a)
    np.add(vz[s], a, out=vz[s])
    # sxx += l2m exx + lam ezz, szz += lam exx + l2m ezz
    _derivative(vx, 0, False, c, h, a, t)  # exx
    _derivative(vz, 1, False, c, h, b, t)  # ezz
    np.multiply(l2m, a, out=t)
    np.add(sxx[s], t, out=sxx[s])
    np.multiply(lam, b, out=t)
    np.add(sxx[s], t, out=sxx[s])
    np.multiply(lam, a, out=t)
    np.add(szz[s], t, out=szz[s])
    np.multiply(l2m, b, out=t)
    np.add(szz[s], t, out=szz[s])
    # sxz += mu (D+z vx + D+x vz)
    _derivative(vx, 1, True, c, h, a, t)
    _derivative(vz, 0, True, c, h, b, t)
    np.add(a, b, out=a)
    np.multiply(a, mu, out=a)
    np.add(sxz[s], a, out=sxz[s])


def numpy_mcells(nx: int, nz: int, nsteps: int, order: int) -> float:
    """Million cell updates per second of :func:`numpy_step` (float32, one explosion)."""
    h = 4
    dtype = np.float32
    shape = (nx + 2 * h, nz + 2 * h)
    dx, dt = 10.0, 1e-3
    vp, vs, rho = 3000.0, 3000.0 / 1.8, 2000.0
    c = (fd_coefficients(order) / dx).astype(dtype)
    fields = [np.zeros(shape, dtype) for _ in range(5)]
    vx, vz, sxx, szz, sxz = fields
    inner = (nx, nz)
    bx = np.full(inner, dt / rho, dtype)
    bz = bx.copy()
    mu_ = rho * vs * vs
    l2m = np.full(inner, dt * rho * vp * vp, dtype)
    lam = np.full(inner, dt * (rho * vp * vp - 2 * mu_), dtype)
    mu = np.full(inner, dt * mu_, dtype)
    t = np.arange(nsteps) * dt - 0.05
    stf = ((1 - 2 * (np.pi * 25 * t) ** 2) * np.exp(-((np.pi * 25 * t) ** 2))).astype(dtype)
    src = (h + nx // 2, h + nz // 2)
    work = _Work(inner, dtype)
    start = time.perf_counter()
    for n in range(nsteps):
        amp = dtype(1e6 * dt / (dx * dx)) * stf[n]
        sxx[src] -= amp
        szz[src] -= amp
        numpy_step(vx, vz, sxx, szz, sxz, bx, bz, l2m, lam, mu, c, h, work)
    elapsed = time.perf_counter() - start
    return nx * nz * nsteps / elapsed / 1e6
