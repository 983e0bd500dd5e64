"""Plain-numpy baselines of the acoustic staggered-grid time step.

:class:`AcousticStep` is seisgrad's acoustic time step, C-PML layers included, written
the natural numpy way (array slices, in-place ufuncs into preallocated buffers) and run
on a propagator's own arrays: the same grid, coefficients, absorbing strips and memory
variables, so that it does the same work as the compiled loop. A test checks that its
steps equal ``AcousticPropagator.forward_steps`` to round-off (float64).
:func:`numpy_mcells_same_problem` times it on the benchmark's problem: this is the
baseline of ``benchmarks/solver.py``.

:func:`numpy_mcells` is the older, easier baseline: the interior update only, on the
model grid without absorbing layers (less work per model cell than the solver does);
the benchmark still prints it for comparison with earlier figures.
"""

from __future__ import annotations

import time

import numpy as np
from baselines.numpy_ops import derivative, memory_update

from seisgrad.solver.fd2d.common import fd_coefficients

__all__ = ["AcousticStep", "numpy_mcells", "numpy_mcells_same_problem", "numpy_step"]


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
    inner = (slice(i0, i1), slice(j0, j1))
    derivative(p, 0, True, c, inner, a, t)  # velocity x: a = D+x p
    derivative(p, 1, True, c, inner, b, t)  # velocity z: b = D+z p
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


class AcousticStep:
    """Numpy version of one step of :class:`~seisgrad.solver.fd2d.acoustic.AcousticPropagator`
    (no free surface): velocity sub-step, then pressure sub-step, each with the C-PML
    memory variables of its strips, on the propagator's arrays (``kdt``, ``bxdt``,
    ``bzdt``, ``cx``, ``cz``, ``prof``, ``strips``)::

        psi_v <- b psi_v + a D+p ;  v <- v - B dt (D+p + psi_v)
        psi_p <- b psi_p + a D-v ;  p <- p - K dt (D-v + psi_p)

    Written as :func:`numpy_step` (in-place ufuncs, preallocated contiguous buffers; the
    pressure divergence summed term by term), plus the memory-variable updates on the
    strips: the same arithmetic as the compiled loop, which also adds the C-PML terms
    in strip-only passes.
    """

    def __init__(self, prop: object) -> None:
        if prop.layout.free_surface:  # type: ignore[attr-defined]
            raise ValueError("the numpy baseline has no free surface")
        self.k = prop.kdt  # type: ignore[attr-defined]
        self.bx = prop.bxdt  # type: ignore[attr-defined]
        self.bz = prop.bzdt  # type: ignore[attr-defined]
        cx = [float(c) for c in prop.cx]  # type: ignore[attr-defined]
        cz = [float(c) for c in prop.cz]  # type: ignore[attr-defined]
        self.cx, self.cz = cx, cz
        self.c = (cx, cz)  # per axis
        h = self.h = len(cx)
        nxe = self.nxe = int(prop.nxe)  # type: ignore[attr-defined]
        pz1 = self.pz1 = int(prop.pz1)  # type: ignore[attr-defined]
        axn, bxn, axh, bxh, azn, bzn, azh, bzh = prop.prof  # type: ignore[attr-defined]
        xn, xh, zn, zh = (tuple(int(v) for v in s) for s in prop.strips)  # type: ignore[attr-defined]
        dtype = self.k.dtype
        vz1 = self.vz1 = zh[3]
        # contiguous work buffers, shaped as the regions they update
        self.gx = np.empty((nxe - 1 - h, pz1 - h), dtype)  # D+x p -> vx rows [h, nxe - 1)
        self.tx = np.empty_like(self.gx)
        self.gz = np.empty((nxe - h, vz1 - h), dtype)  # D+z p -> vz columns [h, vz1)
        self.tz = np.empty_like(self.gz)
        self.a = np.empty((nxe - h, pz1 - h), dtype)  # D-x vx + D-z vz -> p
        self.b = np.empty_like(self.a)
        self.t = np.empty_like(self.a)
        self.k_in = self.k[h:nxe, h:pz1]
        self.bx_in = self.bx[h : nxe - 1, h:pz1]
        self.bz_in = self.bz[h:nxe, h:vz1]

        def rows(s: tuple[int, ...], a: np.ndarray, b: np.ndarray, n: int) -> list[tuple]:
            out = []
            for r0, r1 in ((s[0], s[1]), (s[2], s[3])):
                if r1 > r0:
                    buf = (np.empty((r1 - r0, n), dtype), np.empty((r1 - r0, n), dtype))
                    out.append((r0, r1, a[r0:r1, None], b[r0:r1, None], buf))
            return out

        def cols(s: tuple[int, ...], a: np.ndarray, b: np.ndarray, end: int) -> list[tuple]:
            out = []
            for c0, c1 in ((s[0], min(s[1], end)), (s[2], min(s[3], end))):
                if c1 > c0:
                    buf = (
                        np.empty((nxe - h, c1 - c0), dtype),
                        np.empty((nxe - h, c1 - c0), dtype),
                    )
                    out.append((c0, c1, a[c0:c1], b[c0:c1], buf))
            return out

        self.sx_h = rows(xh, axh, bxh, pz1 - h)
        self.sz_h = cols(zh, azh, bzh, vz1)
        self.sx_n = rows(xn, axn, bxn, pz1 - h)
        self.sz_n = cols(zn, azn, bzn, pz1)

    def _d(
        self,
        f: np.ndarray,
        axis: int,
        plus: bool,
        r0: int,
        c0: int,
        out: np.ndarray,
        t: np.ndarray,
    ) -> None:
        """``out = D+ f`` (``plus``) or ``D- f`` along ``axis`` on the region of ``out``
        at row ``r0``, column ``c0``."""
        region = (slice(r0, r0 + out.shape[0]), slice(c0, c0 + out.shape[1]))
        derivative(f, axis, plus, self.c[axis], region, out, t)

    def step(self, st: dict[str, np.ndarray]) -> None:
        """Advance the state ``p, vx, vz, mvx, mvz, mpx, mpz`` (full arrays) by one step."""
        h, nxe, pz1, vz1 = self.h, self.nxe, self.pz1, self.vz1
        p, vx, vz = st["p"], st["vx"], st["vz"]
        gx, gz, a, b, t = self.gx, self.gz, self.a, self.b, self.t
        # ---- velocities: v -= B dt (D+p + psi_v)
        self._d(p, 0, True, h, h, gx, self.tx)
        for r0, r1, pa, pb, (buf, _) in self.sx_h:
            memory_update(st["mvx"][r0:r1, h:pz1], pa, pb, gx[r0 - h : r1 - h], buf)
        self._d(p, 1, True, h, h, gz, self.tz)
        for c0, c1, pa, pb, (buf, _) in self.sz_h:
            memory_update(st["mvz"][h:nxe, c0:c1], pa, pb, gz[:, c0 - h : c1 - h], buf)
        np.multiply(gx, self.bx_in, out=gx)
        np.subtract(vx[h : nxe - 1, h:pz1], gx, out=vx[h : nxe - 1, h:pz1])
        np.multiply(gz, self.bz_in, out=gz)
        np.subtract(vz[h:nxe, h:vz1], gz, out=vz[h:nxe, h:vz1])
        # ---- pressure: p -= K dt (D-x vx + D-z vz + psi_p); the divergence summed term
        # by term (cx == cz on a square grid is not assumed), the C-PML terms added on
        # the strips from their own derivatives
        for m, (c, d) in enumerate(zip(self.cx, self.cz), start=1):
            dst = a if m == 1 else t
            np.subtract(vx[h + m - 1 : nxe + m - 1, h:pz1], vx[h - m : nxe - m, h:pz1], out=dst)
            np.multiply(dst, c, out=dst)
            np.subtract(vz[h:nxe, h + m - 1 : pz1 + m - 1], vz[h:nxe, h - m : pz1 - m], out=b)
            np.multiply(b, d, out=b)
            np.add(dst, b, out=dst)
            if m > 1:
                np.add(a, t, out=a)
        for r0, r1, pa, pb, (buf, d) in self.sx_n:
            self._d(vx, 0, False, r0, h, d, buf)
            memory_update(st["mpx"][r0:r1, h:pz1], pa, pb, d, buf)
            np.add(a[r0 - h : r1 - h], st["mpx"][r0:r1, h:pz1], out=a[r0 - h : r1 - h])
        for c0, c1, pa, pb, (buf, d) in self.sz_n:
            self._d(vz, 1, False, h, c0, d, buf)
            memory_update(st["mpz"][h:nxe, c0:c1], pa, pb, d, buf)
            np.add(a[:, c0 - h : c1 - h], st["mpz"][h:nxe, c0:c1], out=a[:, c0 - h : c1 - h])
        np.multiply(a, self.k_in, out=a)
        np.subtract(p[h:nxe, h:pz1], a, out=p[h:nxe, h:pz1])


def numpy_mcells_same_problem(prop: object, nsteps: int) -> float:
    """Million model-cell updates per second of :class:`AcousticStep` on ``prop``'s
    problem (absorbing layers computed, not counted: as for the solver's figure), with
    the propagator's first pressure source injected at its node each step."""
    step = AcousticStep(prop)
    st = prop.new_state()  # type: ignore[attr-defined]
    sp_q, sp_w, sp_k = prop.sp  # type: ignore[attr-defined]
    stf = prop.stf_p  # type: ignore[attr-defined]
    p = st["p"].reshape(-1)
    q, w, k = int(sp_q[0]), p.dtype.type(sp_w[0]), int(sp_k[0])
    grid = prop.layout.grid  # type: ignore[attr-defined]
    cells = grid.nx * grid.nz
    start = time.perf_counter()
    for n in range(nsteps):
        step.step(st)
        p[q] += w * p.dtype.type(stf[k, n])
    elapsed = time.perf_counter() - start
    return cells * nsteps / elapsed / 1e6
