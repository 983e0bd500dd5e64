"""Plain-numpy baselines of the elastic (P-SV) staggered-grid time step.

:class:`ElasticStep` is seisgrad's elastic time step, C-PML layers included, written the
natural numpy way (array slices, in-place ufuncs into preallocated buffers) and run on a
propagator's own arrays: the same grid, coefficients, absorbing strips and memory
variables, so that it does the same work as the compiled loop. A test checks that its
steps equal ``ElasticPropagator.forward_steps`` to round-off (float64).
:func:`numpy_mcells_same_problem` times it on the benchmark's problem: this is the
baseline of ``benchmarks/solver.py --materials elastic``.

:func:`numpy_mcells` is the older, easier baseline: the interior update only, on the
model grid without absorbing layers (less work per model cell than the solver does);
the benchmark still prints it for comparison with earlier figures.
"""

from __future__ import annotations

import time

import numpy as np
from baselines.numpy_ops import derivative, memory_update

from seisgrad.solver.fd2d.common import fd_coefficients

__all__ = ["ElasticStep", "numpy_mcells", "numpy_mcells_same_problem", "numpy_step"]


class _Work:
    """Preallocated work arrays (no temporaries in the time loop)."""

    def __init__(self, shape: tuple[int, int], dtype: np.dtype | type) -> None:
        self.a = np.empty(shape, dtype)
        self.b = np.empty(shape, dtype)
        self.t = np.empty(shape, dtype)


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
    derivative(sxx, 0, True, c, s, a, t)
    derivative(sxz, 1, False, c, s, b, t)
    np.add(a, b, out=a)
    np.multiply(a, bx, out=a)
    np.add(vx[s], a, out=vx[s])
    # vz += bz (D-x sxz + D+z szz)
    derivative(sxz, 0, False, c, s, a, t)
    derivative(szz, 1, True, c, s, b, t)
    np.add(a, b, out=a)
    np.multiply(a, bz, out=a)
    np.add(vz[s], a, out=vz[s])
    # sxx += l2m exx + lam ezz, szz += lam exx + l2m ezz
    derivative(vx, 0, False, c, s, a, t)  # exx
    derivative(vz, 1, False, c, s, b, t)  # ezz
    np.multiply(l2m, a, out=t)
    np.add(sxx[s], t, out=sxx[s])
    np.multiply(lam, b, out=t)
    np.add(sxx[s], t, out=sxx[s])
    np.multiply(lam, a, out=t)
    np.add(szz[s], t, out=szz[s])
    np.multiply(l2m, b, out=t)
    np.add(szz[s], t, out=szz[s])
    # sxz += mu (D+z vx + D+x vz)
    derivative(vx, 1, True, c, s, a, t)
    derivative(vz, 0, True, c, s, b, t)
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


class ElasticStep:
    """Numpy version of one step of :class:`~seisgrad.solver.fd2d.elastic.ElasticPropagator`
    (no free surface), C-PML memory variables included, on the propagator's arrays
    (``mats``, ``cx``, ``cz``, ``prof``, ``strips``)::

        V:  vx += B (D+x sxx + D-z sxz),  vz += B (D-x sxz + D+z szz)
        S:  sxx += L2M D-x vx + LAM D-z vz,  szz += LAM D-x vx + L2M D-z vz,
            sxz += MU (D+z vx + D+x vz)

    with every derivative ``d`` in an absorbing strip replaced by ``d + psi``,
    ``psi <- b psi + a d``.
    """

    def __init__(self, prop: object) -> None:
        if prop.layout.free_surface:  # type: ignore[attr-defined]
            raise ValueError("the numpy baseline has no free surface")
        mats = prop.mats  # type: ignore[attr-defined]
        self.cx = [float(c) for c in prop.cx]  # type: ignore[attr-defined]
        self.cz = [float(c) for c in prop.cz]  # type: ignore[attr-defined]
        self.c = (self.cx, self.cz)  # per axis
        h = self.h = len(self.cx)
        nxe = self.nxe = int(prop.nxe)  # type: ignore[attr-defined]
        axn, bxn, axh, bxh, azn, bzn, azh, bzh = prop.prof  # type: ignore[attr-defined]
        xn, xh, zn, zh = (tuple(int(v) for v in s) for s in prop.strips)  # type: ignore[attr-defined]
        jn, jh = self.jn, self.jh = zn[3], zh[3]  # column ends: node and half points
        dtype = mats["bx"].dtype
        # regions: vx and sxz on rows [h, nxe - 1), the others on [h, nxe); node points
        # on columns [h, jn), half points on [h, jh)
        self.r_vx = (slice(h, nxe - 1), slice(h, jn))
        self.r_vz = (slice(h, nxe), slice(h, jh))
        self.r_nn = (slice(h, nxe), slice(h, jn))
        self.r_xz = (slice(h, nxe - 1), slice(h, jh))
        self.bx = mats["bx"][self.r_vx]
        self.bz = mats["bz"][self.r_vz]
        self.l2m = mats["l2m"][self.r_nn]
        self.lam = mats["lam"][self.r_nn]
        self.mu = mats["mu"][self.r_xz]
        big = (nxe - h, max(jn, jh) - h)
        self.buf = [np.empty(big, dtype) for _ in range(4)]
        prof = {
            "xn": (axn, bxn, xn),
            "xh": (axh, bxh, xh),
            "zn": (azn, bzn, zn),
            "zh": (azh, bzh, zh),
        }
        self.strips = {}
        for name, (a, b, st) in prof.items():
            parts = []
            for lo, hi in ((st[0], st[1]), (st[2], st[3])):
                if hi > lo:
                    if name[0] == "x":
                        parts.append((lo, hi, a[lo:hi, None], b[lo:hi, None]))
                    else:
                        parts.append((lo, hi, a[lo:hi], b[lo:hi]))
            self.strips[name] = parts

    def _view(self, k: int, region: tuple[slice, slice]) -> np.ndarray:
        """Contiguous work buffer ``k`` shaped as ``region``."""
        n0 = region[0].stop - region[0].start
        n1 = region[1].stop - region[1].start
        return self.buf[k].reshape(-1)[: n0 * n1].reshape(n0, n1)

    def _pml(
        self,
        st: dict,
        name: str,
        which: str,
        d: np.ndarray,
        region: tuple[slice, slice],
        t: np.ndarray,
    ) -> None:
        """``psi <- b psi + a d`` on the strips ``which`` of ``region``; ``d += psi``."""
        r, c = region
        for lo, hi, a, b in self.strips[which]:
            if which[0] == "x":
                hi = min(hi, r.stop)
                if hi <= lo:
                    continue
                m = st[name][lo:hi, c]
                dd = d[lo - r.start : hi - r.start]
                tt = t[: hi - lo]
                a, b = a[: hi - lo], b[: hi - lo]
            else:
                hi = min(hi, c.stop)
                if hi <= lo:
                    continue
                m = st[name][r, lo:hi]
                dd = d[:, lo - c.start : hi - c.start]
                tt = t[:, : hi - lo]
                a, b = a[: hi - lo], b[: hi - lo]
            memory_update(m, a, b, dd, tt)

    def step(self, st: dict[str, np.ndarray]) -> None:
        """Advance the state (fields and memory variables, full arrays) by one step."""
        vx, vz, sxx, szz, sxz = st["vx"], st["vz"], st["sxx"], st["szz"], st["sxz"]
        r_vx, r_vz, r_nn, r_xz = self.r_vx, self.r_vz, self.r_nn, self.r_xz
        # ---- V: vx += B (D+x sxx + D-z sxz), vz += B (D-x sxz + D+z szz)
        self._sum_update(
            st, vx, self.bx, r_vx, (sxx, 0, True, "mvxx", "xh"), (sxz, 1, False, "mvxz", "zn")
        )
        self._sum_update(
            st, vz, self.bz, r_vz, (sxz, 0, False, "mvzx", "xn"), (szz, 1, True, "mvzz", "zh")
        )
        # ---- S: sxx += L2M exx + LAM ezz, szz += LAM exx + L2M ezz
        gx, gz, t, u = (self._view(k, r_nn) for k in range(4))
        derivative(vx, 0, False, self.cx, r_nn, gx, t)
        self._pml(st, "mnx", "xn", gx, r_nn, t)
        derivative(vz, 1, False, self.cz, r_nn, gz, t)
        self._pml(st, "mnz", "zn", gz, r_nn, t)
        np.multiply(self.l2m, gx, out=t)
        np.multiply(self.lam, gz, out=u)
        np.add(t, u, out=t)
        np.add(sxx[r_nn], t, out=sxx[r_nn])
        np.multiply(self.lam, gx, out=t)
        np.multiply(self.l2m, gz, out=u)
        np.add(t, u, out=t)
        np.add(szz[r_nn], t, out=szz[r_nn])
        # sxz += MU (D+x vz + D+z vx)
        self._sum_update(
            st, sxz, self.mu, r_xz, (vz, 0, True, "msx", "xh"), (vx, 1, True, "msz", "zh")
        )

    def _sum_update(
        self,
        st: dict[str, np.ndarray],
        out: np.ndarray,
        coef: np.ndarray,
        region: tuple[slice, slice],
        *terms: tuple[np.ndarray, int, bool, str, str],
    ) -> None:
        """``out += coef (d1 + d2)`` on ``region``, each term ``(field, axis, plus,
        memory variable, strips)`` a derivative with its C-PML memory variable."""
        acc, d, t = self._view(0, region), self._view(1, region), self._view(2, region)
        for k, (f, axis, plus, name, strips) in enumerate(terms):
            dst = acc if k == 0 else d
            derivative(f, axis, plus, self.c[axis], region, dst, t)
            self._pml(st, name, strips, dst, region, t)
            if k > 0:
                np.add(acc, d, out=acc)
        np.multiply(acc, coef, out=acc)
        np.add(out[region], acc, out=out[region])


def numpy_mcells_same_problem(prop: object, nsteps: int) -> float:
    """Million model-cell updates per second of :class:`ElasticStep` on ``prop``'s
    problem (absorbing layers computed, not counted: as for the solver's figure), with
    the propagator's stress sources injected each step."""
    step = ElasticStep(prop)
    st = prop.new_state()  # type: ignore[attr-defined]
    ss_c, ss_q, ss_w, ss_k = prop.ss  # type: ignore[attr-defined]
    stf = prop.stf_s  # type: ignore[attr-defined]
    flat = [st[k].reshape(-1) for k in ("sxx", "szz", "sxz")]
    dtype = flat[0].dtype.type
    src = [(flat[int(c)], int(q), float(w), int(k)) for c, q, w, k in zip(ss_c, ss_q, ss_w, ss_k)]
    grid = prop.layout.grid  # type: ignore[attr-defined]
    start = time.perf_counter()
    for n in range(nsteps):
        step.step(st)
        for f, q, w, k in src:
            f[q] += dtype(w * stf[k, n])
    elapsed = time.perf_counter() - start
    return grid.nx * grid.nz * nsteps / elapsed / 1e6
