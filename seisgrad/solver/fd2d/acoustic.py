"""Acoustic (variable density) propagator of the ``fd2d`` solver.

Physics
-------
.. math::

    \\rho \\partial_t \\mathbf v = -\\nabla p + \\mathbf f, \\qquad
    \\partial_t p = -\\kappa \\nabla\\cdot\\mathbf v + \\kappa q

with bulk modulus :math:`\\kappa = \\rho v_p^2`. A ``pressure`` (or ``explosion``) source
is a volume-injection rate :math:`q(\\mathbf x, t) = A s(t) \\delta(\\mathbf x - \\mathbf x_s)`
(1/s); a ``force`` source is :math:`\\mathbf f = (f_x, f_z) s(t) \\delta` (N/m^3 in 2D).

Discretisation
--------------
Staggered grid (pressure at nodes, ``vx`` at ``(i+1/2, j)``, ``vz`` at ``(i, j+1/2)``),
leapfrog in time, step ``n`` (from ``p^n, v^{n-1/2}`` to ``p^{n+1}, v^{n+1/2}``)::

    V: psi_v <- b psi_v + a D+p ;  v <- v - B dt (D+p + psi_v) + B dt f(t_n)
    P: psi_p <- b psi_p + a D-v ;  p <- p - K dt (D-v + psi_p) + K dt q(t_{n+1/2})

with buoyancy ``B = 2 / (rho_i + rho_{i+1})`` at the velocity points and ``K = kappa`` at
the nodes; C-PML memory variables ``psi`` exist only in the absorbing strips.

Adjoint
-------
The adjoint step is the exact transpose of the forward step, sub-steps in reverse
order. With the scaled adjoint variables ``W = K dt p^`` and ``U = B dt v^`` (``p^``,
``v^``: adjoint pressure and velocity) and ``Phi`` the adjoint C-PML memory variables,
it reads::

    P^T: Z = W + a (W - Phi_p) ; Phi_p <- b (Phi_p - W) ;  U <- U + B dt D+ Z
    V^T: Y = U + a (U - Phi_v) ; Phi_v <- b (Phi_v - U) ;  W <- W + K dt D- Y

Outside the strips ``Z = W`` and ``Y = U``: the interior adjoint step costs the same as the
forward step (negated stencils). Gradients (sums over steps)::

    dJ/dK = sum_n W^{n+1} (p^{n+1} - p^n) / (K^2 dt)
    dJ/dB = sum_n U^{n+1/2} (v^{n+1/2} - v^{n-1/2}) / (B^2 dt)

so the forward run keeps only the per-step increments of ``p``, ``vx`` and ``vz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numba import njit, prange

from seisgrad.errors import DataError, SolverError
from seisgrad.model import Model
from seisgrad.solver.fd2d.common import (
    FTZ_DAZ,
    HALO,
    NUMBA_OPTIONS,
    compile_variants,
    ftz_enabled,
    get_mxcsr,
    point_operator,
    set_mxcsr,
    source_time_table,
)
from seisgrad.solver.fd2d.propagator import Propagator

__all__ = ["AcousticPropagator"]

H = HALO  # compile-time constant in the kernels

# ============================================================================ loop helpers
# Each helper runs one vectorisable loop over k = 0..n-1 on 1-D views that are already
# shifted, so every index is k (+ nothing): no negative-index handling, AVX loops.
# Arguments that may be None select a specialisation at compile time.


@njit(**NUMBA_OPTIONS)
def _f_plus(fm3, fm2, fm1, f0, f1, f2, f3, f4, o, w, st, n, c1, c2, c3, c4):  # pragma: no cover
    for k in range(n):
        g = c1 * (f1[k] - f0[k]) + c2 * (f2[k] - fm1[k]) + c3 * (f3[k] - fm2[k])
        g = g + c4 * (f4[k] - fm3[k])
        inc = -(w[k] * g)
        o[k] += inc
        if st is not None:
            st[k] = inc


@njit(**NUMBA_OPTIONS)
def _f_plus_ms(  # pragma: no cover
    fm3, fm2, fm1, f0, f1, f2, f3, f4, o, w, st, n, c1, c2, c3, c4, m, a, b
):
    for k in range(n):
        g = c1 * (f1[k] - f0[k]) + c2 * (f2[k] - fm1[k]) + c3 * (f3[k] - fm2[k])
        g = g + c4 * (f4[k] - fm3[k])
        t = b * m[k] + a * g
        m[k] = t
        inc = -(w[k] * (g + t))
        o[k] += inc
        if st is not None:
            st[k] = inc


@njit(**NUMBA_OPTIONS)
def _f_plus_mv(  # pragma: no cover
    fm3, fm2, fm1, f0, f1, f2, f3, f4, o, w, st, n, c1, c2, c3, c4, m, a, b
):
    for k in range(n):
        g = c1 * (f1[k] - f0[k]) + c2 * (f2[k] - fm1[k]) + c3 * (f3[k] - fm2[k])
        g = g + c4 * (f4[k] - fm3[k])
        t = b[k] * m[k] + a[k] * g
        m[k] = t
        inc = -(w[k] * (g + t))
        o[k] += inc
        if st is not None:
            st[k] = inc


@njit(**NUMBA_OPTIONS)
def _f_minus(  # pragma: no cover
    xm4, xm3, xm2, xm1, x0, x1, x2, x3,
    zm4, zm3, zm2, zm1, z0, z1, z2, z3,
    o, w, st, n, cx1, cx2, cx3, cx4, cz1, cz2, cz3, cz4,
    mx, ax, bx, mz, az, bz,
):  # fmt: skip
    for k in range(n):
        dx = cx1 * (x0[k] - xm1[k]) + cx2 * (x1[k] - xm2[k]) + cx3 * (x2[k] - xm3[k])
        dx = dx + cx4 * (x3[k] - xm4[k])
        dz = cz1 * (z0[k] - zm1[k]) + cz2 * (z1[k] - zm2[k]) + cz3 * (z2[k] - zm3[k])
        dz = dz + cz4 * (z3[k] - zm4[k])
        if mx is not None:
            t = bx * mx[k] + ax * dx
            mx[k] = t
            dx = dx + t
        if mz is not None:
            u = bz[k] * mz[k] + az[k] * dz
            mz[k] = u
            dz = dz + u
        inc = -(w[k] * (dx + dz))
        o[k] += inc
        if st is not None:
            st[k] = inc


@njit(**NUMBA_OPTIONS)
def _a_plus(fm3, fm2, fm1, f0, f1, f2, f3, f4, o, w, n, c1, c2, c3, c4, g, d):  # pragma: no cover
    for k in range(n):
        s = c1 * (f1[k] - f0[k]) + c2 * (f2[k] - fm1[k]) + c3 * (f3[k] - fm2[k])
        s = s + c4 * (f4[k] - fm3[k])
        u = o[k] + w[k] * s
        o[k] = u
        g[k] += u * d[k]


@njit(**NUMBA_OPTIONS)
def _a_minus(  # pragma: no cover
    xm4, xm3, xm2, xm1, x0, x1, x2, x3,
    zm4, zm3, zm2, zm1, z0, z1, z2, z3,
    o, w, n, cx1, cx2, cx3, cx4, cz1, cz2, cz3, cz4,
):  # fmt: skip
    for k in range(n):
        dx = cx1 * (x0[k] - xm1[k]) + cx2 * (x1[k] - xm2[k]) + cx3 * (x2[k] - xm3[k])
        dx = dx + cx4 * (x3[k] - xm4[k])
        dz = cz1 * (z0[k] - zm1[k]) + cz2 * (z1[k] - zm2[k]) + cz3 * (z2[k] - zm3[k])
        dz = dz + cz4 * (z3[k] - zm4[k])
        o[k] += w[k] * (dx + dz)


@njit(**NUMBA_OPTIONS)
def _mod_s(src, phi, a, b, out, n):  # pragma: no cover
    for k in range(n):
        s = src[k]
        ph = phi[k]
        out[k] = s + a * (s - ph)
        phi[k] = b * (ph - s)


@njit(**NUMBA_OPTIONS)
def _mod_v(src, phi, a, b, out, n):  # pragma: no cover
    for k in range(n):
        s = src[k]
        ph = phi[k]
        out[k] = s + a[k] * (s - ph)
        phi[k] = b[k] * (ph - s)


@njit(**NUMBA_OPTIONS)
def _acc(g, a, b, n):  # pragma: no cover
    for k in range(n):
        g[k] += a[k] * b[k]


@njit(**NUMBA_OPTIONS)
def _copy(src, dst, n):  # pragma: no cover
    for k in range(n):
        dst[k] = src[k]


@njit(**NUMBA_OPTIONS)
def _in(r, s):  # pragma: no cover
    return (r >= s[0] and r < s[1]) or (r >= s[2] and r < s[3])


@njit(**NUMBA_OPTIONS)
def _mirror_rows(f, top, sign, stagger):  # pragma: no cover
    """Mirror a field above the free surface (array column ``top``) in every row."""
    for i in range(f.shape[0]):
        r = f[i]
        if stagger == 0:
            for m in range(1, H + 1):
                r[top + m] = sign * r[top - m]
        else:
            for m in range(H):
                r[top + m] = sign * r[top - 1 - m]


# ============================================================================ passes (prange)


def _fwd_v_pass(
    p, vx, vz, mvx, mvz, bxdt, bzdt, cx, cz, axh, bxh, azh, bzh, xh, zh, nxe, pz1, fs,
    dvx, dvz, ftz,
):  # fmt: skip  # pragma: no cover
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    for i in prange(H, nxe):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        # ---- vx at (i + 1/2, j): x-derivative of p
        if i < nxe - 1:
            j0 = H
            n = pz1 - H
            s1 = None if dvx is None else dvx[i, j0:]
            if _in(i, xh):
                _f_plus_ms(
                    p[i - 3, j0:], p[i - 2, j0:], p[i - 1, j0:], p[i, j0:],
                    p[i + 1, j0:], p[i + 2, j0:], p[i + 3, j0:], p[i + 4, j0:],
                    vx[i, j0:], bxdt[i, j0:], s1, n, c1, c2, c3, c4,
                    mvx[i, j0:], axh[i], bxh[i],
                )  # fmt: skip
            else:
                _f_plus(
                    p[i - 3, j0:], p[i - 2, j0:], p[i - 1, j0:], p[i, j0:],
                    p[i + 1, j0:], p[i + 2, j0:], p[i + 3, j0:], p[i + 4, j0:],
                    vx[i, j0:], bxdt[i, j0:], s1, n, c1, c2, c3, c4,
                )  # fmt: skip
        # ---- vz at (i, j + 1/2): z-derivative of p, three column ranges
        r = p[i]
        for part in range(3):
            if part == 0:
                ja, jb = zh[0], zh[1]
            elif part == 1:
                ja, jb = zh[1], zh[2]
            else:
                ja, jb = zh[2], zh[3]
            if jb <= ja:
                continue
            s2 = None if dvz is None else dvz[i, ja:]
            if part == 1:
                _f_plus(
                    r[ja - 3 :], r[ja - 2 :], r[ja - 1 :], r[ja:],
                    r[ja + 1 :], r[ja + 2 :], r[ja + 3 :], r[ja + 4 :],
                    vz[i, ja:], bzdt[i, ja:], s2, jb - ja, d1, d2, d3, d4,
                )  # fmt: skip
            else:
                _f_plus_mv(
                    r[ja - 3 :], r[ja - 2 :], r[ja - 1 :], r[ja:],
                    r[ja + 1 :], r[ja + 2 :], r[ja + 3 :], r[ja + 4 :],
                    vz[i, ja:], bzdt[i, ja:], s2, jb - ja, d1, d2, d3, d4,
                    mvz[i, ja:], azh[ja:], bzh[ja:],
                )  # fmt: skip
        if fs:
            top = zh[3]  # first vz position above the surface
            vr = vz[i]
            for m in range(H):
                vr[top + m] = vr[top - 1 - m]
        if ftz:
            set_mxcsr(old)


def _fwd_p_pass(
    p, vx, vz, mpx, mpz, kdt, cx, cz, axn, bxn, azn, bzn, xn, zn, nxe, pz1, fs, dp, ftz,
):  # fmt: skip  # pragma: no cover
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    for i in prange(H, nxe):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        inx = _in(i, xn)
        r = vz[i]
        for part in range(3):
            if part == 0:
                ja, jb = zn[0], min(zn[1], pz1)
            elif part == 1:
                ja, jb = zn[1], min(zn[2], pz1)
            else:
                ja, jb = zn[2], pz1
            if jb <= ja:
                continue
            n = jb - ja
            st = None if dp is None else dp[i, ja:]
            x4, x3, x2, x1 = vx[i - 4, ja:], vx[i - 3, ja:], vx[i - 2, ja:], vx[i - 1, ja:]
            y0, y1, y2, y3 = vx[i, ja:], vx[i + 1, ja:], vx[i + 2, ja:], vx[i + 3, ja:]
            z4, z3, z2, z1 = r[ja - 4 :], r[ja - 3 :], r[ja - 2 :], r[ja - 1 :]
            w0, w1, w2, w3 = r[ja:], r[ja + 1 :], r[ja + 2 :], r[ja + 3 :]
            o = p[i, ja:]
            kk = kdt[i, ja:]
            if part == 1:
                if inx:
                    _f_minus(
                        x4, x3, x2, x1, y0, y1, y2, y3, z4, z3, z2, z1, w0, w1, w2, w3,
                        o, kk, st, n, c1, c2, c3, c4, d1, d2, d3, d4,
                        mpx[i, ja:], axn[i], bxn[i], None, None, None,
                    )  # fmt: skip
                else:
                    _f_minus(
                        x4, x3, x2, x1, y0, y1, y2, y3, z4, z3, z2, z1, w0, w1, w2, w3,
                        o, kk, st, n, c1, c2, c3, c4, d1, d2, d3, d4,
                        None, None, None, None, None, None,
                    )  # fmt: skip
            else:
                if inx:
                    _f_minus(
                        x4, x3, x2, x1, y0, y1, y2, y3, z4, z3, z2, z1, w0, w1, w2, w3,
                        o, kk, st, n, c1, c2, c3, c4, d1, d2, d3, d4,
                        mpx[i, ja:], axn[i], bxn[i], mpz[i, ja:], azn[ja:], bzn[ja:],
                    )  # fmt: skip
                else:
                    _f_minus(
                        x4, x3, x2, x1, y0, y1, y2, y3, z4, z3, z2, z1, w0, w1, w2, w3,
                        o, kk, st, n, c1, c2, c3, c4, d1, d2, d3, d4,
                        None, None, None, mpz[i, ja:], azn[ja:], bzn[ja:],
                    )  # fmt: skip
        if fs:
            top = pz1  # the surface row (never updated, stays zero)
            pr = p[i]
            for m in range(1, H + 1):
                pr[top + m] = -pr[top - m]
        if ftz:
            set_mxcsr(old)


def _adj_prex(src, phi, a, b, out, s, j0, j1, ftz):  # pragma: no cover
    """Modified fields in the x strips: ``out = src + a (src - phi)``, ``phi <- b (phi - src)``."""
    n = j1 - j0
    for i in prange(s[0], s[3]):
        if _in(i, s):
            old = get_mxcsr()
            if ftz:
                set_mxcsr(old | FTZ_DAZ)
            _mod_s(src[i, j0:], phi[i, j0:], a[i], b[i], out[i, j0:], n)
            if ftz:
                set_mxcsr(old)


def _adj_u_pass(
    W, ZX, ux, uz, phz, bxdt, bzdt, cx, cz, azn, bzn, xn, zn, nxe, pz1, fs,
    dP, dVX, dVZ, gK, gBx, gBz, ZZ, ftz,
):  # fmt: skip  # pragma: no cover
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    nza = W.shape[1]
    vz1 = zn[3] - 1 if not fs else pz1  # end of vz state columns (H + NZ - 1)
    lo = zn[1] > zn[0]
    hi = zn[3] > zn[2]
    for i in prange(H, nxe):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        j0 = H
        n = pz1 - H
        # ---- dJ/dK accumulation with the adjoint of p^{n+1}
        _acc(gK[i, j0:], W[i, j0:], dP[i, j0:], n)
        # ---- U_x += B dt D+ Z (rows from the modified field inside x strips)
        if i < nxe - 1:
            rm3 = ZX[i - 3, j0:] if _in(i - 3, xn) else W[i - 3, j0:]
            rm2 = ZX[i - 2, j0:] if _in(i - 2, xn) else W[i - 2, j0:]
            rm1 = ZX[i - 1, j0:] if _in(i - 1, xn) else W[i - 1, j0:]
            r0 = ZX[i, j0:] if _in(i, xn) else W[i, j0:]
            r1 = ZX[i + 1, j0:] if _in(i + 1, xn) else W[i + 1, j0:]
            r2 = ZX[i + 2, j0:] if _in(i + 2, xn) else W[i + 2, j0:]
            r3 = ZX[i + 3, j0:] if _in(i + 3, xn) else W[i + 3, j0:]
            r4 = ZX[i + 4, j0:] if _in(i + 4, xn) else W[i + 4, j0:]
            _a_plus(
                rm3, rm2, rm1, r0, r1, r2, r3, r4, ux[i, j0:], bxdt[i, j0:], n,
                c1, c2, c3, c4, gBx[i, j0:], dVX[i, j0:],
            )  # fmt: skip
        # ---- U_z += B dt D+ Z along z (modified row copy near the z strips)
        wr = W[i]
        zr = ZZ[i]
        if lo:
            e = min(zn[1] + 2 * H, nza)
            _copy(wr, zr, e)
        if hi:
            b0 = max(zn[2] - 2 * H, 0)
            _copy(wr[b0:], zr[b0:], nza - b0)
        if lo:
            _mod_v(wr[zn[0] :], phz[i, zn[0] :], azn[zn[0] :], bzn[zn[0] :], zr[zn[0] :],
                   zn[1] - zn[0])  # fmt: skip
        if hi:
            _mod_v(wr[zn[2] :], phz[i, zn[2] :], azn[zn[2] :], bzn[zn[2] :], zr[zn[2] :],
                   zn[3] - zn[2])  # fmt: skip
        jlo = min(zn[1] + H, vz1) if lo else H
        jhi = max(zn[2] - H, jlo) if hi else vz1
        for part in range(3):
            if part == 0:
                ja, jb = H, jlo
                r = zr
            elif part == 1:
                ja, jb = jlo, jhi
                r = wr
            else:
                ja, jb = jhi, vz1
                r = zr
            if jb <= ja:
                continue
            _a_plus(
                r[ja - 3 :], r[ja - 2 :], r[ja - 1 :], r[ja:],
                r[ja + 1 :], r[ja + 2 :], r[ja + 3 :], r[ja + 4 :],
                uz[i, ja:], bzdt[i, ja:], jb - ja, d1, d2, d3, d4, gBz[i, ja:], dVZ[i, ja:],
            )  # fmt: skip
        if fs:
            ur = uz[i]
            for m in range(H):
                ur[vz1 + m] = ur[vz1 - 1 - m]
        if ftz:
            set_mxcsr(old)


def _adj_w_pass(
    ux, YX, uz, phz, W, kdt, cx, cz, azh, bzh, xh, zh, nxe, pz1, fs, YZ, ftz,
):  # fmt: skip  # pragma: no cover
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    nza = W.shape[1]
    lo = zh[1] > zh[0]
    hi = zh[3] > zh[2]
    for i in prange(H, nxe):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        # modified vz row near the z strips
        ur = uz[i]
        yr = YZ[i]
        if lo:
            e = min(zh[1] + 2 * H, nza)
            _copy(ur, yr, e)
        if hi:
            b0 = max(zh[2] - 2 * H, 0)
            _copy(ur[b0:], yr[b0:], nza - b0)
        if lo:
            _mod_v(ur[zh[0] :], phz[i, zh[0] :], azh[zh[0] :], bzh[zh[0] :], yr[zh[0] :],
                   zh[1] - zh[0])  # fmt: skip
        if hi:
            _mod_v(ur[zh[2] :], phz[i, zh[2] :], azh[zh[2] :], bzh[zh[2] :], yr[zh[2] :],
                   zh[3] - zh[2])  # fmt: skip
        jlo = min(zh[1] + H, pz1) if lo else H
        jhi = max(zh[2] - H, jlo) if hi else pz1
        for part in range(3):
            if part == 0:
                ja, jb = H, jlo
                r = yr
            elif part == 1:
                ja, jb = jlo, jhi
                r = ur
            else:
                ja, jb = jhi, pz1
                r = yr
            if jb <= ja:
                continue
            x4 = YX[i - 4, ja:] if _in(i - 4, xh) else ux[i - 4, ja:]
            x3 = YX[i - 3, ja:] if _in(i - 3, xh) else ux[i - 3, ja:]
            x2 = YX[i - 2, ja:] if _in(i - 2, xh) else ux[i - 2, ja:]
            x1 = YX[i - 1, ja:] if _in(i - 1, xh) else ux[i - 1, ja:]
            y0 = YX[i, ja:] if _in(i, xh) else ux[i, ja:]
            y1 = YX[i + 1, ja:] if _in(i + 1, xh) else ux[i + 1, ja:]
            y2 = YX[i + 2, ja:] if _in(i + 2, xh) else ux[i + 2, ja:]
            y3 = YX[i + 3, ja:] if _in(i + 3, xh) else ux[i + 3, ja:]
            _a_minus(
                x4, x3, x2, x1, y0, y1, y2, y3,
                r[ja - 4 :], r[ja - 3 :], r[ja - 2 :], r[ja - 1 :],
                r[ja:], r[ja + 1 :], r[ja + 2 :], r[ja + 3 :],
                W[i, ja:], kdt[i, ja:], jb - ja, c1, c2, c3, c4, d1, d2, d3, d4,
            )  # fmt: skip
        if fs:
            top = pz1
            wr = W[i]
            for m in range(1, H + 1):
                wr[top + m] = -wr[top - m]
        if ftz:
            set_mxcsr(old)


# ============================================================================ time loops


def _forward_loop(
    n0, n1, p, vx, vz, mvx, mvz, mpx, mpz, kdt, bxdt, bzdt, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, pz1, fs,
    sp_i, sp_j, sp_w, sp_k, stf_p, sv_c, sv_i, sv_j, sv_w, sv_k, stf_v,
    r_c, r_t, r_i, r_j, r_w, raw, store, ftz,
):  # fmt: skip  # pragma: no cover
    old = get_mxcsr()
    if ftz:
        set_mxcsr(old | FTZ_DAZ)
    if fs:
        _mirror_rows(p, pz1, -1.0, 0)
        _mirror_rows(vz, pz1, 1.0, 1)
    for n in range(n0, n1):
        # pressure records at t_n
        for q in range(r_c.size):
            if r_c[q] == 0:
                raw[0, r_t[q], n] += r_w[q] * p[r_i[q], r_j[q]]
        # forces at t_n
        for q in range(sv_c.size):
            val = sv_w[q] * stf_v[sv_k[q], n]
            if sv_c[q] == 1:
                vx[sv_i[q], sv_j[q]] += val
            else:
                vz[sv_i[q], sv_j[q]] += val
        slot = n - n0
        if store is None:
            _fwd_v_pass(
                p, vx, vz, mvx, mvz, bxdt, bzdt, cx, cz, axh, bxh, azh, bzh, xh, zh,
                nxe, pz1, fs, None, None, ftz,
            )  # fmt: skip
        else:
            _fwd_v_pass(
                p, vx, vz, mvx, mvz, bxdt, bzdt, cx, cz, axh, bxh, azh, bzh, xh, zh,
                nxe, pz1, fs, store[slot, 1], store[slot, 2], ftz,
            )  # fmt: skip
            for q in range(sv_c.size):
                val = sv_w[q] * stf_v[sv_k[q], n]
                store[slot, sv_c[q], sv_i[q], sv_j[q]] += val
        # velocity records at t_{n+1/2}
        for q in range(r_c.size):
            c = r_c[q]
            if c == 1:
                raw[1, r_t[q], n] += r_w[q] * vx[r_i[q], r_j[q]]
            elif c == 2:
                raw[2, r_t[q], n] += r_w[q] * vz[r_i[q], r_j[q]]
        # pressure (volume) sources at t_{n+1/2}
        for q in range(sp_i.size):
            p[sp_i[q], sp_j[q]] += sp_w[q] * stf_p[sp_k[q], n]
        if store is None:
            _fwd_p_pass(
                p, vx, vz, mpx, mpz, kdt, cx, cz, axn, bxn, azn, bzn, xn, zn, nxe, pz1, fs,
                None, ftz,
            )  # fmt: skip
        else:
            _fwd_p_pass(
                p, vx, vz, mpx, mpz, kdt, cx, cz, axn, bxn, azn, bzn, xn, zn, nxe, pz1, fs,
                store[slot, 0], ftz,
            )  # fmt: skip
            for q in range(sp_i.size):
                store[slot, 0, sp_i[q], sp_j[q]] += sp_w[q] * stf_p[sp_k[q], n]
    set_mxcsr(old)


def _adjoint_loop(
    n1, n0, W, ux, uz, phvx, phvz, phpx, phpz, ZX, YX, ZZ, YZ, kdt, bxdt, bzdt, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, pz1, fs,
    r_c, r_t, r_i, r_j, r_w, raw_adj, store, gK, gBx, gBz, ftz,
):  # fmt: skip  # pragma: no cover
    old = get_mxcsr()
    if ftz:
        set_mxcsr(old | FTZ_DAZ)
    if fs:
        _mirror_rows(W, pz1, -1.0, 0)
        _mirror_rows(uz, pz1, 1.0, 1)
    for n in range(n1 - 1, n0 - 1, -1):
        slot = n - n0
        for q in range(r_c.size):
            c = r_c[q]
            if c == 1:
                i, j = r_i[q], r_j[q]
                ux[i, j] += bxdt[i, j] * (r_w[q] * raw_adj[1, r_t[q], n])
            elif c == 2:
                i, j = r_i[q], r_j[q]
                uz[i, j] += bzdt[i, j] * (r_w[q] * raw_adj[2, r_t[q], n])
        _adj_prex(W, phpx, axn, bxn, ZX, xn, H, pz1, ftz)
        _adj_u_pass(
            W, ZX, ux, uz, phpz, bxdt, bzdt, cx, cz, azn, bzn, xn, zn, nxe, pz1, fs,
            store[slot, 0], store[slot, 1], store[slot, 2], gK, gBx, gBz, ZZ, ftz,
        )  # fmt: skip
        for q in range(r_c.size):
            if r_c[q] == 0:
                i, j = r_i[q], r_j[q]
                W[i, j] += kdt[i, j] * (r_w[q] * raw_adj[0, r_t[q], n])
        _adj_prex(ux, phvx, axh, bxh, YX, xh, H, pz1, ftz)
        _adj_w_pass(ux, YX, uz, phvz, W, kdt, cx, cz, azh, bzh, xh, zh, nxe, pz1, fs, YZ, ftz)
    set_mxcsr(old)


_SERIAL, _PARALLEL = compile_variants(
    globals(),
    parallel=("_fwd_v_pass", "_fwd_p_pass", "_adj_prex", "_adj_u_pass", "_adj_w_pass"),
    drivers=("_forward_loop", "_adjoint_loop"),
)


# ============================================================================ propagator

_SOURCE_KINDS = ("pressure", "explosion", "force")


class AcousticPropagator(Propagator):
    """Variable-density acoustic propagator (see the module docstring)."""

    material: ClassVar[str] = "acoustic"
    parametrizations: ClassVar[dict[str, tuple[str, ...]]] = {
        "velocity": ("vp", "rho"),
        "lame": ("kappa", "rho"),
        "bulk": ("kappa", "rho"),
    }
    raw_channels: ClassVar[tuple[str, ...]] = ("P", "VX", "VZ")
    channel_staggers: ClassVar[dict[str, tuple[tuple[int, int], int]]] = {
        "P": ((0, 0), -1),
        "VX": ((1, 0), -1),
        "VZ": ((0, 1), 1),
    }
    default_record: ClassVar[tuple[str, ...]] = ("P", "VX", "VZ")

    # ------------------------------------------------------------------ model

    def internal_model(self, model: Model) -> dict[str, np.ndarray]:
        names = set(model)
        if "rho" not in names or not ({"vp", "kappa"} & names):
            raise DataError(
                "the acoustic solver needs 'vp' and 'rho' (or 'kappa' and 'rho') in the model; "
                f"it has: {', '.join(model) or 'nothing'}"
            )
        rho = np.asarray(model["rho"], dtype=np.float64)
        if "vp" in names:
            vp = np.asarray(model["vp"], dtype=np.float64)
            kappa = rho * vp * vp
        else:
            kappa = np.asarray(model["kappa"], dtype=np.float64)
            vp = np.sqrt(np.abs(kappa) / np.where(rho > 0, rho, 1.0))
        for name, a in (("rho", rho), ("vp" if "vp" in names else "kappa", vp)):
            if not np.all(np.isfinite(a)) or not np.all(a > 0):
                raise DataError(f"model parameter '{name}' must be finite and positive everywhere")
        if not np.all(kappa > 0):
            raise DataError("model parameter 'kappa' must be positive everywhere")
        return {"vp": vp, "rho": rho, "kappa": kappa}

    def wave_speeds(self, internal: Mapping[str, np.ndarray]) -> tuple[float, float]:
        vp = internal["vp"]
        return float(vp.min()), float(vp.max())

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        lay = self.layout
        dt, dtype = self.dt, self.dtype
        NX, NZ = lay.NX, lay.NZ  # noqa: N806
        self.rho_pad = lay.pad(self.internal["rho"])
        self.vp_pad = lay.pad(self.internal["vp"])
        self.kappa_pad = lay.pad(self.internal["kappa"])
        kmask = lay.state_mask((0, 0))
        self.kdt = np.where(kmask, lay.embed(self.kappa_pad * dt, np.float64), 0.0).astype(dtype)
        bx = np.zeros((NX, NZ))
        bx[:-1, :] = 2.0 / (self.rho_pad[:-1, :] + self.rho_pad[1:, :])
        bz = np.zeros((NX, NZ))
        bz[:, :-1] = 2.0 / (self.rho_pad[:, :-1] + self.rho_pad[:, 1:])
        self.bxdt = np.where(lay.state_mask((1, 0)), lay.embed(bx * dt, np.float64), 0.0)
        self.bzdt = np.where(lay.state_mask((0, 1)), lay.embed(bz * dt, np.float64), 0.0)
        self.bxdt = self.bxdt.astype(dtype)
        self.bzdt = self.bzdt.astype(dtype)
        self.cx = (self.coef / lay.dx).astype(dtype)
        self.cz = (self.coef / lay.dz).astype(dtype)
        pr = self.profiles
        self.prof = tuple(
            a.astype(dtype)
            for a in (
                pr.ax_node, pr.bx_node, pr.ax_half, pr.bx_half,
                pr.az_node, pr.bz_node, pr.az_half, pr.bz_half,
            )
        )  # fmt: skip
        self.strips = tuple(
            np.asarray(s, dtype=np.int64) for s in (pr.x_node, pr.x_half, pr.z_node, pr.z_half)
        )
        self.nxe = HALO + NX
        self.pz1 = HALO + NZ - 1 if lay.free_surface else HALO + NZ
        self._setup_sources()
        self._setup_receivers()

    def _setup_sources(self) -> None:
        lay = self.layout
        cell = lay.dx * lay.dz
        p_srcs, v_srcs = [], []
        for s in self.event.sources:
            if s.kind not in _SOURCE_KINDS:
                raise SolverError(
                    f"event '{self.event.name}': source kind '{s.kind}' needs materials: "
                    f"elastic; the acoustic solver accepts {', '.join(_SOURCE_KINDS)}"
                )
            if s.kind == "force":
                v_srcs.append(s)
            else:
                p_srcs.append(s)
        # pressure sources (t_{n+1/2})
        pi, pj, pw, pk = [], [], [], []
        for k, s in enumerate(p_srcs):
            op = point_operator(lay, [(s.x, s.z)], (0, 0), -1)
            for i, j, w in zip(op.i, op.j, op.w):
                pi.append(i)
                pj.append(j)
                pw.append(w * s.amplitude * float(self.kdt[i, j]) / cell)
                pk.append(k)
        vc, vi, vj, vw, vk = [], [], [], [], []
        for k, s in enumerate(v_srcs):
            for comp, stag, parity, amp, b in (
                (1, (1, 0), -1, s.fx, self.bxdt),
                (2, (0, 1), 1, s.fz, self.bzdt),
            ):
                if amp == 0.0:
                    continue
                op = point_operator(lay, [(s.x, s.z)], stag, parity)
                for i, j, w in zip(op.i, op.j, op.w):
                    vc.append(comp)
                    vi.append(i)
                    vj.append(j)
                    vw.append(w * amp * float(b[i, j]) / cell)
                    vk.append(k)
        self._p_src_list = p_srcs
        self._v_src_list = v_srcs
        i64 = np.int64
        self.sp = (np.asarray(pi, i64), np.asarray(pj, i64), np.asarray(pw), np.asarray(pk, i64))
        self.sv = (
            np.asarray(vc, i64),
            np.asarray(vi, i64),
            np.asarray(vj, i64),
            np.asarray(vw),
            np.asarray(vk, i64),
        )
        nt = self.nt
        self.stf_p = source_time_table(p_srcs, nt, self.dt, half_step=True)
        self.stf_v = source_time_table(v_srcs, nt, self.dt, half_step=False)
        if not p_srcs:
            self.stf_p = np.zeros((1, nt))
        if not v_srcs:
            self.stf_v = np.zeros((1, nt))

    def _setup_receivers(self) -> None:
        rc, rt, ri, rj, rw = [], [], [], [], []
        for c, ch in enumerate(self.raw_channels):
            op = self.receiver_ops[ch]
            rc.extend([c] * op.point.size)
            rt.extend(op.point.tolist())
            ri.extend(op.i.tolist())
            rj.extend(op.j.tolist())
            rw.extend(op.w.tolist())
        i64 = np.int64
        self.rec = (
            np.asarray(rc, i64),
            np.asarray(rt, i64),
            np.asarray(ri, i64),
            np.asarray(rj, i64),
            np.asarray(rw, np.float64),
        )

    # ------------------------------------------------------------------ state

    def new_state(self) -> dict[str, np.ndarray]:
        shape, dtype = self.layout.shape, self.dtype
        return {k: np.zeros(shape, dtype) for k in ("p", "vx", "vz", "mvx", "mvz", "mpx", "mpz")}

    def _strip_masks(self) -> dict[str, np.ndarray]:
        shape = self.layout.shape
        xn, xh, zn, zh = (tuple(int(v) for v in s) for s in self.strips)

        def rows(s: tuple[int, ...]) -> np.ndarray:
            m = np.zeros(shape, bool)
            m[s[0] : s[1], :] = True
            m[s[2] : s[3], :] = True
            return m

        def cols(s: tuple[int, ...]) -> np.ndarray:
            m = np.zeros(shape, bool)
            m[:, s[0] : s[1]] = True
            m[:, s[2] : s[3]] = True
            return m

        return {"mvx": rows(xh), "mvz": cols(zh), "mpx": rows(xn), "mpz": cols(zn)}

    def state_masks(self) -> dict[str, np.ndarray]:
        lay = self.layout
        mp = lay.state_mask((0, 0))
        mx = lay.state_mask((1, 0))
        if lay.free_surface:
            mx[:, self.pz1] = False  # vx on the surface row stays zero
        mz = lay.state_mask((0, 1))
        sm = self._strip_masks()
        return {
            "p": mp,
            "vx": mx,
            "vz": mz,
            "mvx": sm["mvx"] & mx,
            "mvz": sm["mvz"] & mz,
            "mpx": sm["mpx"] & mp,
            "mpz": sm["mpz"] & mp,
        }

    def snapshot_regions(self) -> dict[str, list[tuple[slice, slice]]]:
        xn, xh, zn, zh = (tuple(int(v) for v in s) for s in self.strips)
        full = (slice(None), slice(None))

        def rows(s: tuple[int, ...]) -> list[tuple[slice, slice]]:
            return [r for r in ((slice(s[0], s[1]), slice(None)), (slice(s[2], s[3]), slice(None)))
                    if r[0].stop > r[0].start]  # fmt: skip

        def cols(s: tuple[int, ...]) -> list[tuple[slice, slice]]:
            return [r for r in ((slice(None), slice(s[0], s[1])), (slice(None), slice(s[2], s[3])))
                    if r[1].stop > r[1].start]  # fmt: skip

        return {
            "p": [full],
            "vx": [full],
            "vz": [full],
            "mvx": rows(xh),
            "mvz": cols(zh),
            "mpx": rows(xn),
            "mpz": cols(zn),
        }

    def store_shape(self) -> tuple[int, ...]:
        return (3, *self.layout.shape)

    def _ns(self) -> dict[str, Any]:
        return _SERIAL if self.params.threads <= 1 else _PARALLEL

    def _ftz(self) -> bool:
        return bool(self.params.flush_denormals and ftz_enabled())

    # ------------------------------------------------------------------ time loops

    def forward_steps(
        self,
        state: dict[str, np.ndarray],
        n0: int,
        n1: int,
        raw: np.ndarray,
        store: np.ndarray | None,
    ) -> None:
        dtype = self.dtype
        s = self.source_scale
        sp_i, sp_j, sp_w, sp_k = self.sp
        sv_c, sv_i, sv_j, sv_w, sv_k = self.sv
        xn, xh, zn, zh = self.strips
        self._ns()["_forward_loop"](
            n0, n1, state["p"], state["vx"], state["vz"], state["mvx"], state["mvz"],
            state["mpx"], state["mpz"], self.kdt, self.bxdt, self.bzdt, self.cx, self.cz,
            *self.prof, xn, xh, zn, zh, self.nxe, self.pz1, self.layout.free_surface,
            sp_i, sp_j, (sp_w * s).astype(dtype), sp_k, self.stf_p.astype(dtype),
            sv_c, sv_i, sv_j, (sv_w * s).astype(dtype), sv_k, self.stf_v.astype(dtype),
            *self.rec, raw, store, self._ftz(),
        )  # fmt: skip

    def new_adjoint(self) -> dict[str, np.ndarray]:
        shape, dtype = self.layout.shape, self.dtype
        names = ("W", "ux", "uz", "phvx", "phvz", "phpx", "phpz", "ZX", "YX", "ZZ", "YZ")
        adj = {k: np.zeros(shape, dtype) for k in names}
        for g in ("gK", "gBx", "gBz"):
            adj[g] = np.zeros(shape, dtype)
        return adj

    def adjoint_steps(
        self,
        adj: dict[str, np.ndarray],
        n1: int,
        n0: int,
        store: np.ndarray,
        raw_adj: np.ndarray,
    ) -> None:
        xn, xh, zn, zh = self.strips
        self._ns()["_adjoint_loop"](
            n1, n0, adj["W"], adj["ux"], adj["uz"], adj["phvx"], adj["phvz"], adj["phpx"],
            adj["phpz"], adj["ZX"], adj["YX"], adj["ZZ"], adj["YZ"], self.kdt, self.bxdt,
            self.bzdt, self.cx, self.cz, *self.prof, xn, xh, zn, zh, self.nxe, self.pz1,
            self.layout.free_surface, *self.rec, raw_adj, store, adj["gK"], adj["gBx"],
            adj["gBz"], self._ftz(),
        )  # fmt: skip

    # ------------------------------------------------------------------ adjoint variables

    def _scales(self) -> dict[str, np.ndarray]:
        return {"p": self.kdt, "vx": self.bxdt, "vz": self.bzdt}

    def adjoint_to_plain(self, adj: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        masks = self.state_masks()
        out: dict[str, np.ndarray] = {}
        for name, key in (("p", "W"), ("vx", "ux"), ("vz", "uz")):
            scale = self._scales()[name].astype(np.float64)
            a = np.zeros(self.layout.shape)
            m = masks[name]
            a[m] = adj[key][m] / scale[m]
            out[name] = a
        for name, key in (("mvx", "phvx"), ("mvz", "phvz"), ("mpx", "phpx"), ("mpz", "phpz")):
            out[name] = np.where(masks[name], adj[key], 0.0)
        return out

    def plain_to_adjoint(
        self, plain: Mapping[str, np.ndarray], adj: dict[str, np.ndarray]
    ) -> None:
        masks = self.state_masks()
        for name, key in (("p", "W"), ("vx", "ux"), ("vz", "uz")):
            scale = self._scales()[name].astype(np.float64)
            adj[key][...] = np.where(masks[name], plain[name] * scale, 0.0)
        for name, key in (("mvx", "phvx"), ("mvz", "phvz"), ("mpx", "phpx"), ("mpz", "phpz")):
            adj[key][...] = np.where(masks[name], plain[name], 0.0)

    # ------------------------------------------------------------------ kernels

    def kernels(self, adj: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        lay = self.layout
        dt = self.dt
        sl = lay.comp_slice
        gk = adj["gK"][sl].astype(np.float64)
        gbx = adj["gBx"][sl].astype(np.float64)
        gbz = adj["gBz"][sl].astype(np.float64)
        dkappa = gk / (self.kappa_pad**2 * dt)
        drho = np.zeros_like(gk)
        hx = -gbx[:-1, :] / (2.0 * dt)
        drho[:-1, :] += hx
        drho[1:, :] += hx
        hz = -gbz[:, :-1] / (2.0 * dt)
        drho[:, :-1] += hz
        drho[:, 1:] += hz
        if self.params.parametrization == "velocity":
            return {
                "vp": dkappa * 2.0 * self.rho_pad * self.vp_pad,
                "rho": drho + dkappa * self.vp_pad**2,
            }
        return {"kappa": dkappa, "rho": drho}
