"""Compiled passes of the elastic (P-SV) time step and its exact transpose.

Layout and staggering are those of :mod:`seisgrad.solver.fd2d.common` (array element
``[i, j]``; halo of :data:`~seisgrad.solver.fd2d.common.HALO` cells):

* ``sxx``, ``szz`` (normal stresses) at nodes ``(i, j)``;
* ``vx`` at ``(i + 1/2, j)``, ``vz`` at ``(i, j + 1/2)``;
* ``sxz`` at ``(i + 1/2, j + 1/2)``.

Forward step ``n`` (``sigma^n, v^{n-1/2} -> sigma^{n+1}, v^{n+1/2}``), with ``B = dt/rho``
at the velocity points, ``L2M = dt (lambda + 2 mu)``, ``LAM = dt lambda`` at the nodes and
``MU = dt mu`` at the shear points::

    V:  vx += B (D+x sxx + D-z sxz),  vz += B (D-x sxz + D+z szz)
    S:  sxx += L2M D-x vx + LAM D-z vz,  szz += LAM D-x vx + L2M D-z vz,
        sxz += MU (D+z vx + D+x vz)

Every derivative ``d`` inside an absorbing strip is replaced by ``d + psi`` with the C-PML
memory variable ``psi <- b psi + a d`` (output side).

Adjoint step (sub-steps transposed in reverse order), in the scaled variables
``U = B v^`` (adjoint velocity), ``E = sigma^`` (adjoint stress: it accumulates like a
strain) and ``T = C E`` (``C``: the stiffness of the S sub-step)::

    S^T: U += B (D+x Tmod_xx + D-z Tmod_xz),  ...      (the V pass with negated stencils)
    V^T: E_xx += -D-x Umod_x,  E_zz += -D-z Umod_z,  E_xz += -(D+z Umod_x + D+x Umod_z);
         T = C E

where inside the strips the adjoint memory variables ``Phi`` modify the *input* of each
transposed derivative: ``eta = Phi + f``, ``fmod = f + a eta``, ``Phi <- b eta``.

A free surface (top node row ``s``) keeps ``szz = 0`` on that row and zero values above
it; the z derivatives next to it are corrected to reduced-order / one-sided stencils by
small tables (``_top_fwd``, ``_top_fwd_v``), whose transposes are ``_top_adj_v`` and
``_top_adj_s`` (see :func:`seisgrad.solver.fd2d.elastic.surface_corrections`).
"""

from __future__ import annotations

from numba import njit, prange

from seisgrad.solver.fd2d.common import (
    FTZ_DAZ,
    HALO,
    NUMBA_OPTIONS,
    compile_variants,
    get_mxcsr,
    set_mxcsr,
)

__all__ = ["SERIAL", "PARALLEL", "STORE_FIELDS"]

H = HALO  # compile-time constant in the kernels

#: Per-step data kept for the gradient (``store[n, k]``): effective accelerations
#: ``ax``, ``az`` (V sub-step) and strain rates ``exx``, ``ezz``, ``exz`` (S sub-step).
STORE_FIELDS = ("ax", "az", "exx", "ezz", "exz")

# ============================================================================ loop helpers
# One vectorisable loop over k = 0..n-1 on 1-D views that are already shifted. An x
# derivative reads eight row views (x_{-3} .. x_4), a z derivative one row view ``zr``
# starting four (D-) or three (D+) cells before the first output. Arguments that may be
# None select a specialisation at compile time.


@njit(**NUMBA_OPTIONS)
def _upd(  # pragma: no cover
    xm3, xm2, xm1, x0, x1, x2, x3, x4, zr, o, w, st, n,
    c1, c2, c3, c4, d1, d2, d3, d4, mx, ax, bx, mz, az, bz,
):  # fmt: skip
    """``o += w (gx + gz)``: one velocity or shear-stress component."""
    for k in range(n):
        gx = c1 * (x1[k] - x0[k]) + c2 * (x2[k] - xm1[k]) + c3 * (x3[k] - xm2[k])
        gx = gx + c4 * (x4[k] - xm3[k])
        gz = d1 * (zr[k + 4] - zr[k + 3]) + d2 * (zr[k + 5] - zr[k + 2])
        gz = gz + d3 * (zr[k + 6] - zr[k + 1]) + d4 * (zr[k + 7] - zr[k])
        if mx is not None:
            t = bx * mx[k] + ax * gx
            mx[k] = t
            gx = gx + t
        if mz is not None:
            u = bz[k] * mz[k] + az[k] * gz
            mz[k] = u
            gz = gz + u
        g = gx + gz
        o[k] += w[k] * g
        if st is not None:
            st[k] = g


@njit(**NUMBA_OPTIONS)
def _upd_n(  # pragma: no cover
    xm3, xm2, xm1, x0, x1, x2, x3, x4, zr, sxx, szz, l2m, lam, st1, st2, n,
    c1, c2, c3, c4, d1, d2, d3, d4, mx, ax, bx, mz, az, bz,
):  # fmt: skip
    """Normal stresses from ``exx = D-x vx`` and ``ezz = D-z vz``."""
    for k in range(n):
        gx = c1 * (x1[k] - x0[k]) + c2 * (x2[k] - xm1[k]) + c3 * (x3[k] - xm2[k])
        gx = gx + c4 * (x4[k] - xm3[k])
        gz = d1 * (zr[k + 4] - zr[k + 3]) + d2 * (zr[k + 5] - zr[k + 2])
        gz = gz + d3 * (zr[k + 6] - zr[k + 1]) + d4 * (zr[k + 7] - zr[k])
        if mx is not None:
            t = bx * mx[k] + ax * gx
            mx[k] = t
            gx = gx + t
        if mz is not None:
            u = bz[k] * mz[k] + az[k] * gz
            mz[k] = u
            gz = gz + u
        sxx[k] += l2m[k] * gx + lam[k] * gz
        szz[k] += lam[k] * gx + l2m[k] * gz
        if st1 is not None:
            st1[k] = gx
            st2[k] = gz


@njit(**NUMBA_OPTIONS)
def _grad_n(exx, ezz, sxx, szz, gl2m, glam, n):  # pragma: no cover
    """``dJ/dL2M += exx E_xx + ezz E_zz``, ``dJ/dLAM += exx E_zz + ezz E_xx``."""
    for k in range(n):
        a = exx[k]
        b = ezz[k]
        p = sxx[k]
        q = szz[k]
        gl2m[k] += a * p + b * q
        glam[k] += a * q + b * p


@njit(**NUMBA_OPTIONS)
def _acc(g, a, b, n):  # pragma: no cover
    for k in range(n):
        g[k] += a[k] * b[k]


@njit(**NUMBA_OPTIONS)
def _adj_n(  # pragma: no cover
    xm3, xm2, xm1, x0, x1, x2, x3, x4, zr, sxx, szz, n, c1, c2, c3, c4, d1, d2, d3, d4,
):  # fmt: skip
    """``E_xx += gx``, ``E_zz += gz`` (coefficients already negated)."""
    for k in range(n):
        gx = c1 * (x1[k] - x0[k]) + c2 * (x2[k] - xm1[k]) + c3 * (x3[k] - xm2[k])
        gx = gx + c4 * (x4[k] - xm3[k])
        gz = d1 * (zr[k + 4] - zr[k + 3]) + d2 * (zr[k + 5] - zr[k + 2])
        gz = gz + d3 * (zr[k + 6] - zr[k + 1]) + d4 * (zr[k + 7] - zr[k])
        sxx[k] += gx
        szz[k] += gz


@njit(**NUMBA_OPTIONS)
def _adj_s(  # pragma: no cover
    xm3, xm2, xm1, x0, x1, x2, x3, x4, zr, sxz, n, c1, c2, c3, c4, d1, d2, d3, d4,
):  # fmt: skip
    """``E_xz += gx + gz`` (coefficients already negated)."""
    for k in range(n):
        gx = c1 * (x1[k] - x0[k]) + c2 * (x2[k] - xm1[k]) + c3 * (x3[k] - xm2[k])
        gx = gx + c4 * (x4[k] - xm3[k])
        gz = d1 * (zr[k + 4] - zr[k + 3]) + d2 * (zr[k + 5] - zr[k + 2])
        gz = gz + d3 * (zr[k + 6] - zr[k + 1]) + d4 * (zr[k + 7] - zr[k])
        sxz[k] += gx + gz


@njit(**NUMBA_OPTIONS)
def _stiff_n(sxx, szz, txx, tzz, l2m, lam, n):  # pragma: no cover
    """``T = C E`` for the normal components."""
    for k in range(n):
        p = sxx[k]
        q = szz[k]
        txx[k] = l2m[k] * p + lam[k] * q
        tzz[k] = lam[k] * p + l2m[k] * q


@njit(**NUMBA_OPTIONS)
def _scale(src, w, out, n):  # pragma: no cover
    for k in range(n):
        out[k] = w[k] * src[k]


@njit(**NUMBA_OPTIONS)
def _mod_s(src, phi, a, b, out, n):  # pragma: no cover
    """Adjoint C-PML input modification, scalar profile: ``eta = phi + src``,
    ``out = src + a eta``, ``phi <- b eta`` (``out`` may be ``src``)."""
    for k in range(n):
        s = src[k]
        e = phi[k] + s
        out[k] = s + a * e
        phi[k] = b * e


@njit(**NUMBA_OPTIONS)
def _mod_v(src, phi, a, b, out, n):  # pragma: no cover
    """As :func:`_mod_s` with profile arrays ``a[k]``, ``b[k]``."""
    for k in range(n):
        s = src[k]
        e = phi[k] + s
        out[k] = s + a[k] * e
        phi[k] = b[k] * e


@njit(**NUMBA_OPTIONS)
def _copy(src, dst, n):  # pragma: no cover
    for k in range(n):
        dst[k] = src[k]


@njit(**NUMBA_OPTIONS)
def _in(r, s):  # pragma: no cover
    return (r >= s[0] and r < s[1]) or (r >= s[2] and r < s[3])


@njit(**NUMBA_OPTIONS)
def _zero_column(f, top):  # pragma: no cover
    """``f[:, top] = 0`` (``szz`` on a free surface)."""
    for i in range(f.shape[0]):
        f[i, top] = 0.0


@njit(**NUMBA_OPTIONS)
def _zmod_row(src, dst, phi, a, b, zs, nza):  # pragma: no cover
    """Copy of one row near the z strips ``zs`` with the adjoint input modification."""
    lo = zs[1] > zs[0]
    hi = zs[3] > zs[2]
    if lo:
        _copy(src, dst, min(zs[1] + 2 * H, nza))
        _mod_v(src[zs[0] :], phi[zs[0] :], a[zs[0] :], b[zs[0] :], dst[zs[0] :], zs[1] - zs[0])
    if hi:
        b0 = max(zs[2] - 2 * H, 0)
        _copy(src[b0:], dst[b0:], nza - b0)
        _mod_v(src[zs[2] :], phi[zs[2] :], a[zs[2] :], b[zs[2] :], dst[zs[2] :], zs[3] - zs[2])


@njit(**NUMBA_OPTIONS)
def _top_fwd(
    vx, vz, sxx, szz, sxz, l2m, lam, mu, dzz, dxz, top, nxe, st_ezz, st_exz
):  # pragma: no cover
    """Reduced-order z derivatives of the velocities in the rows below a free surface.

    The S pass used full stencils with zero velocities above the surface; this adds
    ``Delta = D_reduced - D_full`` (tables ``dzz[m, r]``: node row ``top - 1 - m`` from
    ``vz[top - 1 - r]``; ``dxz[m, r]``: shear row ``top - 1 - m`` from ``vx[top - r]``).
    """
    nm = dzz.shape[0]
    nr = dzz.shape[1]
    for i in range(H, nxe):
        for m in range(nm):
            j = top - 1 - m
            d = 0.0
            for r in range(nr):
                d += dzz[m, r] * vz[i, top - 1 - r]
            sxx[i, j] += lam[i, j] * d
            szz[i, j] += l2m[i, j] * d
            if st_ezz is not None:
                st_ezz[i, j] += d
            if i < nxe - 1:
                e = 0.0
                for r in range(nr):
                    e += dxz[m, r] * vx[i, top - r]
                sxz[i, j] += mu[i, j] * e
                if st_exz is not None:
                    st_exz[i, j] += e


@njit(**NUMBA_OPTIONS)
def _top_adj_v(ux, uz, tzz, txz, bx, bz, dzz, dxz, top, nxe):  # pragma: no cover
    """Transpose of :func:`_top_fwd` acting on ``U``: ``U += B Delta^T T``."""
    nm = dzz.shape[0]
    nr = dzz.shape[1]
    for i in range(H, nxe):
        for r in range(nr):
            jz = top - 1 - r
            a = 0.0
            for m in range(nm):
                a += dzz[m, r] * tzz[i, top - 1 - m]
            uz[i, jz] += bz[i, jz] * a
            if i < nxe - 1:
                jx = top - r
                b = 0.0
                for m in range(nm):
                    b += dxz[m, r] * txz[i, top - 1 - m]
                ux[i, jx] += bx[i, jx] * b


@njit(**NUMBA_OPTIONS)
def _top_fwd_v(vx, vz, sxz, szz, bx, bz, dvx, dvz, top, nxe, st_ax, st_az):  # pragma: no cover
    """Reduced-order (one-sided on the surface row) z derivatives of the stresses for
    the velocities below a free surface: ``v += B Delta`` (``dvx[m, r]``: ``vx`` row
    ``top - m`` from ``sxz[top - 1 - r]``; ``dvz[m, r]``: ``vz`` row ``top - 1 - m`` from
    ``szz[top - r]``)."""
    nr = dvx.shape[1]
    for i in range(H, nxe):
        if i < nxe - 1:
            for m in range(dvx.shape[0]):
                j = top - m
                d = 0.0
                for r in range(nr):
                    d += dvx[m, r] * sxz[i, top - 1 - r]
                vx[i, j] += bx[i, j] * d
                if st_ax is not None:
                    st_ax[i, j] += d
        for m in range(dvz.shape[0]):
            j = top - 1 - m
            e = 0.0
            for r in range(nr):
                e += dvz[m, r] * szz[i, top - r]
            vz[i, j] += bz[i, j] * e
            if st_az is not None:
                st_az[i, j] += e


@njit(**NUMBA_OPTIONS)
def _top_adj_s(
    ux, uz, exx, ezz, exz, txx, tzz, txz, l2m, lam, mu, dvx, dvz, top, nxe
):  # pragma: no cover
    """Transpose of :func:`_top_fwd_v` acting on ``E`` (and ``T = C E``)."""
    nr = dvx.shape[1]
    for i in range(H, nxe):
        if i < nxe - 1:
            for r in range(nr):
                j = top - 1 - r
                a = 0.0
                for m in range(dvx.shape[0]):
                    a += dvx[m, r] * ux[i, top - m]
                exz[i, j] += a
                txz[i, j] += mu[i, j] * a
        for r in range(nr):
            j = top - r
            b = 0.0
            for m in range(dvz.shape[0]):
                b += dvz[m, r] * uz[i, top - 1 - m]
            ezz[i, j] += b
            txx[i, j] += lam[i, j] * b
            tzz[i, j] += l2m[i, j] * b


# ============================================================================ passes (prange)


def _fwd_v_pass(
    vx, vz, sxx, szz, sxz, mvxx, mvxz, mvzx, mvzz, bx, bz, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
    st_ax, st_az, ftz,
):  # fmt: skip  # pragma: no cover
    """V sub-step: ``vx`` (rows with ``x < nxe - 1``) and ``vz``, C-PML in the strips."""
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    for i in prange(H, nxe):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        # ---- vx at (i + 1/2, j): D+x sxx (x-half profile) + D-z sxz (z-node profile)
        if i < nxe - 1:
            inx = _in(i, xh)
            r = sxz[i]
            for part in range(3):
                ja, jb = zn[part], zn[part + 1]
                if jb <= ja:
                    continue
                s1 = None if st_ax is None else st_ax[i, ja:]
                x = sxx
                args = (
                    x[i - 3, ja:], x[i - 2, ja:], x[i - 1, ja:], x[i, ja:],
                    x[i + 1, ja:], x[i + 2, ja:], x[i + 3, ja:], x[i + 4, ja:],
                    r[ja - 4 :], vx[i, ja:], bx[i, ja:], s1, jb - ja,
                    c1, c2, c3, c4, d1, d2, d3, d4,
                )  # fmt: skip
                if part == 1:
                    if inx:
                        _upd(*args, mvxx[i, ja:], axh[i], bxh[i], None, None, None)
                    else:
                        _upd(*args, None, None, None, None, None, None)
                else:
                    if inx:
                        _upd(*args, mvxx[i, ja:], axh[i], bxh[i],
                             mvxz[i, ja:], azn[ja:], bzn[ja:])  # fmt: skip
                    else:
                        _upd(*args, None, None, None, mvxz[i, ja:], azn[ja:], bzn[ja:])
        # ---- vz at (i, j + 1/2): D-x sxz (x-node profile) + D+z szz (z-half profile)
        inx = _in(i, xn)
        r = szz[i]
        for part in range(3):
            ja, jb = zh[part], zh[part + 1]
            if jb <= ja:
                continue
            s2 = None if st_az is None else st_az[i, ja:]
            x = sxz
            args = (
                x[i - 4, ja:], x[i - 3, ja:], x[i - 2, ja:], x[i - 1, ja:],
                x[i, ja:], x[i + 1, ja:], x[i + 2, ja:], x[i + 3, ja:],
                r[ja - 3 :], vz[i, ja:], bz[i, ja:], s2, jb - ja,
                c1, c2, c3, c4, d1, d2, d3, d4,
            )  # fmt: skip
            if part == 1:
                if inx:
                    _upd(*args, mvzx[i, ja:], axn[i], bxn[i], None, None, None)
                else:
                    _upd(*args, None, None, None, None, None, None)
            else:
                if inx:
                    _upd(*args, mvzx[i, ja:], axn[i], bxn[i],
                         mvzz[i, ja:], azh[ja:], bzh[ja:])  # fmt: skip
                else:
                    _upd(*args, None, None, None, mvzz[i, ja:], azh[ja:], bzh[ja:])
        if ftz:
            set_mxcsr(old)


def _fwd_s_pass(
    vx, vz, sxx, szz, sxz, mnx, mnz, msx, msz, l2m, lam, mu, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
    st_exx, st_ezz, st_exz, ftz,
):  # fmt: skip  # pragma: no cover
    """S sub-step: normal stresses (nodes) and ``sxz`` (rows with ``x < nxe - 1``)."""
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    for i in prange(H, nxe):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        # ---- sxx, szz: D-x vx (x-node profile), D-z vz (z-node profile)
        inx = _in(i, xn)
        r = vz[i]
        for part in range(3):
            ja, jb = zn[part], zn[part + 1]
            if jb <= ja:
                continue
            e1 = None if st_exx is None else st_exx[i, ja:]
            e2 = None if st_ezz is None else st_ezz[i, ja:]
            x = vx
            args = (
                x[i - 4, ja:], x[i - 3, ja:], x[i - 2, ja:], x[i - 1, ja:],
                x[i, ja:], x[i + 1, ja:], x[i + 2, ja:], x[i + 3, ja:],
                r[ja - 4 :], sxx[i, ja:], szz[i, ja:], l2m[i, ja:], lam[i, ja:], e1, e2,
                jb - ja, c1, c2, c3, c4, d1, d2, d3, d4,
            )  # fmt: skip
            if part == 1:
                if inx:
                    _upd_n(*args, mnx[i, ja:], axn[i], bxn[i], None, None, None)
                else:
                    _upd_n(*args, None, None, None, None, None, None)
            else:
                if inx:
                    _upd_n(*args, mnx[i, ja:], axn[i], bxn[i],
                           mnz[i, ja:], azn[ja:], bzn[ja:])  # fmt: skip
                else:
                    _upd_n(*args, None, None, None, mnz[i, ja:], azn[ja:], bzn[ja:])
        # ---- sxz: D+z vx (z-half profile) + D+x vz (x-half profile)
        if i < nxe - 1:
            inx = _in(i, xh)
            r = vx[i]
            for part in range(3):
                ja, jb = zh[part], zh[part + 1]
                if jb <= ja:
                    continue
                e3 = None if st_exz is None else st_exz[i, ja:]
                x = vz
                args = (
                    x[i - 3, ja:], x[i - 2, ja:], x[i - 1, ja:], x[i, ja:],
                    x[i + 1, ja:], x[i + 2, ja:], x[i + 3, ja:], x[i + 4, ja:],
                    r[ja - 3 :], sxz[i, ja:], mu[i, ja:], e3, jb - ja,
                    c1, c2, c3, c4, d1, d2, d3, d4,
                )  # fmt: skip
                if part == 1:
                    if inx:
                        _upd(*args, msx[i, ja:], axh[i], bxh[i], None, None, None)
                    else:
                        _upd(*args, None, None, None, None, None, None)
                else:
                    if inx:
                        _upd(*args, msx[i, ja:], axh[i], bxh[i],
                             msz[i, ja:], azh[ja:], bzh[ja:])  # fmt: skip
                    else:
                        _upd(*args, None, None, None, msz[i, ja:], azh[ja:], bzh[ja:])
        if ftz:
            set_mxcsr(old)


def _adj_prex(src, phi, a, b, out, s, j0, j1, ftz):  # pragma: no cover
    """Adjoint input modification in the x strips ``s`` (rows), columns ``j0..j1-1``."""
    n = j1 - j0
    for i in prange(s[0], s[3]):
        if _in(i, s):
            old = get_mxcsr()
            if ftz:
                set_mxcsr(old | FTZ_DAZ)
            _mod_s(src[i, j0:], phi[i, j0:], a[i], b[i], out[i, j0:], n)
            if ftz:
                set_mxcsr(old)


def _adj_v_pass(
    ux, uz, txx, tzz, txz, txzx, zxz, pnz, psz, bx, bz, cx, cz,
    azn, bzn, azh, bzh, xh, zn, zh, nxe, ftz,
):  # fmt: skip  # pragma: no cover
    """Transpose of the S sub-step acting on ``U`` (the V pass with negated stencils).

    ``txx`` is already modified in the x strips (in place), ``txzx`` holds the modified
    ``txz`` rows of the x strips; here ``tzz`` is modified in place in the z strips and a
    modified copy of each ``txz`` row is built in ``zxz`` near the z strips.
    """
    c1, c2, c3, c4 = -cx[0], -cx[1], -cx[2], -cx[3]
    d1, d2, d3, d4 = -cz[0], -cz[1], -cz[2], -cz[3]
    nza = txx.shape[1]
    for i in prange(H, nxe):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        # ---- U_x from D+x txx and D-z txz (txz modified near the z-half strips)
        if i < nxe - 1:
            tr = txz[i]
            zr = zxz[i]
            _zmod_row(tr, zr, psz[i], azh, bzh, zh, nza)
            jlo = min(zh[1] + H, zn[3]) if zh[1] > zh[0] else zn[0]
            jhi = max(zh[2] - H, jlo) if zh[3] > zh[2] else zn[3]
            for part in range(3):
                if part == 0:
                    ja, jb, r = zn[0], jlo, zr
                elif part == 1:
                    ja, jb, r = jlo, jhi, tr
                else:
                    ja, jb, r = jhi, zn[3], zr
                if jb <= ja:
                    continue
                x = txx
                _upd(
                    x[i - 3, ja:], x[i - 2, ja:], x[i - 1, ja:], x[i, ja:],
                    x[i + 1, ja:], x[i + 2, ja:], x[i + 3, ja:], x[i + 4, ja:],
                    r[ja - 4 :], ux[i, ja:], bx[i, ja:], None, jb - ja,
                    c1, c2, c3, c4, d1, d2, d3, d4, None, None, None, None, None, None,
                )  # fmt: skip
        # ---- U_z from D-x txz (rows modified in the x-half strips) and D+z tzz
        zr = tzz[i]
        if zn[1] > zn[0]:
            _mod_v(zr[zn[0] :], pnz[i, zn[0] :], azn[zn[0] :], bzn[zn[0] :], zr[zn[0] :],
                   zn[1] - zn[0])  # fmt: skip
        if zn[3] > zn[2]:
            _mod_v(zr[zn[2] :], pnz[i, zn[2] :], azn[zn[2] :], bzn[zn[2] :], zr[zn[2] :],
                   zn[3] - zn[2])  # fmt: skip
        ja, jb = zh[0], zh[3]
        if jb > ja:
            x4 = txzx[i - 4, ja:] if _in(i - 4, xh) else txz[i - 4, ja:]
            x3 = txzx[i - 3, ja:] if _in(i - 3, xh) else txz[i - 3, ja:]
            x2 = txzx[i - 2, ja:] if _in(i - 2, xh) else txz[i - 2, ja:]
            x1 = txzx[i - 1, ja:] if _in(i - 1, xh) else txz[i - 1, ja:]
            y0 = txzx[i, ja:] if _in(i, xh) else txz[i, ja:]
            y1 = txzx[i + 1, ja:] if _in(i + 1, xh) else txz[i + 1, ja:]
            y2 = txzx[i + 2, ja:] if _in(i + 2, xh) else txz[i + 2, ja:]
            y3 = txzx[i + 3, ja:] if _in(i + 3, xh) else txz[i + 3, ja:]
            _upd(
                x4, x3, x2, x1, y0, y1, y2, y3, zr[ja - 3 :], uz[i, ja:], bz[i, ja:], None,
                jb - ja, c1, c2, c3, c4, d1, d2, d3, d4, None, None, None, None, None, None,
            )  # fmt: skip
        if ftz:
            set_mxcsr(old)


def _adj_s_pass(
    ux, uz, exx_a, ezz_a, exz_a, txx, tzz, txz, uxx, uzx, zux, zuz, pvxz, pvzz,
    l2m, lam, mu, cx, cz, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
    s_ax, s_az, s_exx, s_ezz, s_exz, gbx, gbz, gl2m, glam, gmu, ftz,
):  # fmt: skip  # pragma: no cover
    """Transpose of the V sub-step acting on ``E`` (adjoint stresses), then ``T = C E``.

    Accumulates the gradients of this step first (with ``E`` of ``sigma^{n+1}`` and ``U``
    of ``v^{n+1/2}``). ``uxx``/``uzx`` hold the rows of ``U`` modified in the x strips;
    modified copies of ``U`` rows near the z strips are built in ``zux``/``zuz``.
    """
    c1, c2, c3, c4 = -cx[0], -cx[1], -cx[2], -cx[3]
    d1, d2, d3, d4 = -cz[0], -cz[1], -cz[2], -cz[3]
    nza = ux.shape[1]
    for i in prange(H, nxe):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        j0 = H
        n = zn[3] - H
        # ---- gradients with the adjoint of the outputs of this step
        _grad_n(s_exx[i, j0:], s_ezz[i, j0:], exx_a[i, j0:], ezz_a[i, j0:],
                gl2m[i, j0:], glam[i, j0:], n)  # fmt: skip
        _acc(gbz[i, j0:], s_az[i, j0:], uz[i, j0:], n)
        if i < nxe - 1:
            _acc(gmu[i, j0:], s_exz[i, j0:], exz_a[i, j0:], n)
            _acc(gbx[i, j0:], s_ax[i, j0:], ux[i, j0:], n)
        # ---- E_xx, E_zz from -D-x Umod_x (x-half strips) and -D-z Umod_z (z-half strips)
        ur = uz[i]
        yr = zuz[i]
        _zmod_row(ur, yr, pvzz[i], azh, bzh, zh, nza)
        jlo = min(zh[1] + H, zn[3]) if zh[1] > zh[0] else zn[0]
        jhi = max(zh[2] - H, jlo) if zh[3] > zh[2] else zn[3]
        for part in range(3):
            if part == 0:
                ja, jb, r = zn[0], jlo, yr
            elif part == 1:
                ja, jb, r = jlo, jhi, ur
            else:
                ja, jb, r = jhi, zn[3], yr
            if jb <= ja:
                continue
            x4 = uxx[i - 4, ja:] if _in(i - 4, xh) else ux[i - 4, ja:]
            x3 = uxx[i - 3, ja:] if _in(i - 3, xh) else ux[i - 3, ja:]
            x2 = uxx[i - 2, ja:] if _in(i - 2, xh) else ux[i - 2, ja:]
            x1 = uxx[i - 1, ja:] if _in(i - 1, xh) else ux[i - 1, ja:]
            y0 = uxx[i, ja:] if _in(i, xh) else ux[i, ja:]
            y1 = uxx[i + 1, ja:] if _in(i + 1, xh) else ux[i + 1, ja:]
            y2 = uxx[i + 2, ja:] if _in(i + 2, xh) else ux[i + 2, ja:]
            y3 = uxx[i + 3, ja:] if _in(i + 3, xh) else ux[i + 3, ja:]
            _adj_n(
                x4, x3, x2, x1, y0, y1, y2, y3, r[ja - 4 :], exx_a[i, ja:], ezz_a[i, ja:],
                jb - ja, c1, c2, c3, c4, d1, d2, d3, d4,
            )  # fmt: skip
        _stiff_n(exx_a[i, j0:], ezz_a[i, j0:], txx[i, j0:], tzz[i, j0:],
                 l2m[i, j0:], lam[i, j0:], n)  # fmt: skip
        # ---- E_xz from -D+z Umod_x (z-node strips) - D+x Umod_z (x-node strips)
        if i < nxe - 1:
            ur = ux[i]
            yr = zux[i]
            _zmod_row(ur, yr, pvxz[i], azn, bzn, zn, nza)
            jlo = min(zn[1] + H, zh[3]) if zn[1] > zn[0] else zh[0]
            jhi = max(zn[2] - H, jlo) if zn[3] > zn[2] else zh[3]
            for part in range(3):
                if part == 0:
                    ja, jb, r = zh[0], jlo, yr
                elif part == 1:
                    ja, jb, r = jlo, jhi, ur
                else:
                    ja, jb, r = jhi, zh[3], yr
                if jb <= ja:
                    continue
                xm3 = uzx[i - 3, ja:] if _in(i - 3, xn) else uz[i - 3, ja:]
                xm2 = uzx[i - 2, ja:] if _in(i - 2, xn) else uz[i - 2, ja:]
                xm1 = uzx[i - 1, ja:] if _in(i - 1, xn) else uz[i - 1, ja:]
                x0 = uzx[i, ja:] if _in(i, xn) else uz[i, ja:]
                x1 = uzx[i + 1, ja:] if _in(i + 1, xn) else uz[i + 1, ja:]
                x2 = uzx[i + 2, ja:] if _in(i + 2, xn) else uz[i + 2, ja:]
                x3 = uzx[i + 3, ja:] if _in(i + 3, xn) else uz[i + 3, ja:]
                x4 = uzx[i + 4, ja:] if _in(i + 4, xn) else uz[i + 4, ja:]
                _adj_s(
                    xm3, xm2, xm1, x0, x1, x2, x3, x4, r[ja - 3 :], exz_a[i, ja:],
                    jb - ja, c1, c2, c3, c4, d1, d2, d3, d4,
                )  # fmt: skip
            _scale(exz_a[i, j0:], mu[i, j0:], txz[i, j0:], n)
        if ftz:
            set_mxcsr(old)


# ============================================================================ time loops


def _forward_loop(
    n0, n1, vx, vz, sxx, szz, sxz,
    mvxx, mvxz, mvzx, mvzz, mnx, mnz, msx, msz,
    bx, bz, l2m, lam, mu, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, top, fs,
    dzz, dxz, dvx, dvz,
    sv_c, sv_i, sv_j, sv_w, sv_a, sv_k, stf_v, ss_c, ss_i, ss_j, ss_w, ss_k, stf_s,
    r_c, r_t, r_i, r_j, r_w, raw, store, ftz,
):  # fmt: skip  # pragma: no cover
    """Forward steps ``n0 .. n1-1``.

    Sources: ``sv_*`` act on ``vx`` (``c = 0``) or ``vz`` (``c = 1``) with time function
    rows ``stf_v`` at ``t_n`` (weights ``sv_w``; ``sv_a`` the same without the buoyancy
    factor, added to the stored acceleration because the force term depends on the
    buoyancy too); ``ss_*`` on ``sxx``/``szz``/``sxz`` (``c = 0, 1, 2``) with
    ``stf_s`` at ``t_{n+1/2}``. Receiver entries ``r_c``: 0 ``sxx`` and 1 ``szz`` into
    raw channel 0 (``P`` at ``t_n``), 2 ``vx`` into 1 and 3 ``vz`` into 2 (at
    ``t_{n+1/2}``).
    """
    old = get_mxcsr()
    if ftz:
        set_mxcsr(old | FTZ_DAZ)
    if fs:
        _zero_column(szz, top)
    for n in range(n0, n1):
        slot = n - n0
        # pressure records at t_n
        for q in range(r_c.size):
            c = r_c[q]
            if c == 0:
                raw[0, r_t[q], n] += r_w[q] * sxx[r_i[q], r_j[q]]
            elif c == 1:
                raw[0, r_t[q], n] += r_w[q] * szz[r_i[q], r_j[q]]
        # forces at t_n
        for q in range(sv_c.size):
            val = sv_w[q] * stf_v[sv_k[q], n]
            if sv_c[q] == 0:
                vx[sv_i[q], sv_j[q]] += val
            else:
                vz[sv_i[q], sv_j[q]] += val
        if store is None:
            _fwd_v_pass(
                vx, vz, sxx, szz, sxz, mvxx, mvxz, mvzx, mvzz, bx, bz, cx, cz,
                axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
                None, None, ftz,
            )  # fmt: skip
            if fs:
                _top_fwd_v(vx, vz, sxz, szz, bx, bz, dvx, dvz, top, nxe, None, None)
        else:
            _fwd_v_pass(
                vx, vz, sxx, szz, sxz, mvxx, mvxz, mvzx, mvzz, bx, bz, cx, cz,
                axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
                store[slot, 0], store[slot, 1], ftz,
            )  # fmt: skip
            if fs:
                _top_fwd_v(vx, vz, sxz, szz, bx, bz, dvx, dvz, top, nxe,
                           store[slot, 0], store[slot, 1])  # fmt: skip
            for q in range(sv_c.size):
                store[slot, sv_c[q], sv_i[q], sv_j[q]] += sv_a[q] * stf_v[sv_k[q], n]
        # velocity records at t_{n+1/2}
        for q in range(r_c.size):
            c = r_c[q]
            if c == 2:
                raw[1, r_t[q], n] += r_w[q] * vx[r_i[q], r_j[q]]
            elif c == 3:
                raw[2, r_t[q], n] += r_w[q] * vz[r_i[q], r_j[q]]
        if store is None:
            _fwd_s_pass(
                vx, vz, sxx, szz, sxz, mnx, mnz, msx, msz, l2m, lam, mu, cx, cz,
                axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
                None, None, None, ftz,
            )  # fmt: skip
            if fs:
                _top_fwd(vx, vz, sxx, szz, sxz, l2m, lam, mu, dzz, dxz, top, nxe, None, None)
        else:
            _fwd_s_pass(
                vx, vz, sxx, szz, sxz, mnx, mnz, msx, msz, l2m, lam, mu, cx, cz,
                axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
                store[slot, 2], store[slot, 3], store[slot, 4], ftz,
            )  # fmt: skip
            if fs:
                _top_fwd(vx, vz, sxx, szz, sxz, l2m, lam, mu, dzz, dxz, top, nxe,
                         store[slot, 3], store[slot, 4])  # fmt: skip
        # moment-tensor sources at t_{n+1/2}
        for q in range(ss_c.size):
            val = ss_w[q] * stf_s[ss_k[q], n]
            c = ss_c[q]
            if c == 0:
                sxx[ss_i[q], ss_j[q]] += val
            elif c == 1:
                szz[ss_i[q], ss_j[q]] += val
            else:
                sxz[ss_i[q], ss_j[q]] += val
        if fs:
            _zero_column(szz, top)
    set_mxcsr(old)


def _adjoint_loop(
    n1, n0, ux, uz, exx_a, ezz_a, exz_a, txx, tzz, txz,
    pvxx, pvxz, pvzx, pvzz, pnx, pnz, psx, psz,
    txzx, zxz, uxx, uzx, zux, zuz,
    bx, bz, l2m, lam, mu, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, top, fs,
    dzz, dxz, dvx, dvz,
    r_c, r_t, r_i, r_j, r_wa, raw_adj, store, gbx, gbz, gl2m, glam, gmu, ftz,
):  # fmt: skip  # pragma: no cover
    """Adjoint steps ``n1-1 .. n0`` (see the module docstring).

    Receiver entries ``r_c`` as in :func:`_forward_loop`, with adjoint injection weights
    ``r_wa`` (the extraction weights scaled to the adjoint variables).
    """
    old = get_mxcsr()
    if ftz:
        set_mxcsr(old | FTZ_DAZ)
    j0 = H
    j1 = zn[3]
    for n in range(n1 - 1, n0 - 1, -1):
        slot = n - n0
        # ---- transpose of S: U += B (D+x Tmod_xx + D-z Tmod_xz), ...
        _adj_prex(txx, pnx, axn, bxn, txx, xn, j0, j1, ftz)
        _adj_prex(txz, psx, axh, bxh, txzx, xh, j0, j1, ftz)
        _adj_v_pass(
            ux, uz, txx, tzz, txz, txzx, zxz, pnz, psz, bx, bz, cx, cz,
            azn, bzn, azh, bzh, xh, zn, zh, nxe, ftz,
        )  # fmt: skip
        if fs:
            _top_adj_v(ux, uz, tzz, txz, bx, bz, dzz, dxz, top, nxe)
        # ---- adjoint of the velocity records (t_{n+1/2})
        for q in range(r_c.size):
            c = r_c[q]
            if c == 2:
                ux[r_i[q], r_j[q]] += r_wa[q] * raw_adj[1, r_t[q], n]
            elif c == 3:
                uz[r_i[q], r_j[q]] += r_wa[q] * raw_adj[2, r_t[q], n]
        # ---- transpose of V, gradients of step n, T = C E
        _adj_prex(ux, pvxx, axh, bxh, uxx, xh, j0, j1, ftz)
        _adj_prex(uz, pvzx, axn, bxn, uzx, xn, j0, j1, ftz)
        _adj_s_pass(
            ux, uz, exx_a, ezz_a, exz_a, txx, tzz, txz, uxx, uzx, zux, zuz, pvxz, pvzz,
            l2m, lam, mu, cx, cz, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
            store[slot, 0], store[slot, 1], store[slot, 2], store[slot, 3], store[slot, 4],
            gbx, gbz, gl2m, glam, gmu, ftz,
        )  # fmt: skip
        if fs:
            _top_adj_s(ux, uz, exx_a, ezz_a, exz_a, txx, tzz, txz, l2m, lam, mu, dvx, dvz,
                       top, nxe)  # fmt: skip
            _zero_column(ezz_a, top)
            _zero_column(tzz, top)
        # ---- adjoint of the pressure records (t_n): E += w f, T += C w f
        for q in range(r_c.size):
            c = r_c[q]
            if c == 0 or c == 1:
                i, j = r_i[q], r_j[q]
                val = r_wa[q] * raw_adj[0, r_t[q], n]
                if c == 0:
                    exx_a[i, j] += val
                    txx[i, j] += l2m[i, j] * val
                    tzz[i, j] += lam[i, j] * val
                else:
                    ezz_a[i, j] += val
                    txx[i, j] += lam[i, j] * val
                    tzz[i, j] += l2m[i, j] * val
    set_mxcsr(old)


SERIAL, PARALLEL = compile_variants(
    globals(),
    parallel=("_fwd_v_pass", "_fwd_s_pass", "_adj_prex", "_adj_v_pass", "_adj_s_pass"),
    drivers=("_forward_loop", "_adjoint_loop"),
)
