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
it; the z derivatives next to it are corrected to the summation-by-parts closure of
:mod:`seisgrad.solver.fd2d.free_surface` by small tables (``_top_fwd_s``,
``_top_fwd_v``), whose transposes are ``_top_adj_v`` and ``_top_adj_s`` (see
:func:`seisgrad.solver.fd2d.elastic.surface_corrections`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from seisgrad.solver.fd2d.common import (
    FTZ_DAZ,
    HALO,
    NUMBA_OPTIONS,
    PREFETCH_ROWS,
    SEGMENT,
    compile_variants,
    gather_rows,
    get_mxcsr,
    inject,
    prefetch_strip,
    row_range,
    scatter_rows,
    set_mxcsr,
    sweep_adjoint_sources,
    sweep_rows,
)
from seisgrad.solver.fd2d.simd import Row, dx_minus, dx_plus, dz_minus, dz_plus, row_kernel

__all__ = ["SERIAL", "PARALLEL", "STORE_FIELDS", "SERIAL_BLOCK", "SERIAL_FUSE"]

H = HALO  # compile-time constant in the kernels
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
_UH = np.uint64(H)

#: Per-step data kept for the gradient (``store[n, k]``): effective accelerations
#: ``ax``, ``az`` (V sub-step) and strain rates ``exx``, ``ezz``, ``exz`` (S sub-step).
STORE_FIELDS = ("ax", "az", "exx", "ezz", "exz")

#: Rows per block of the serial sweeps (the S update of a block follows the V update of
#: the next rows while they are still in cache).
SERIAL_BLOCK = 16

#: Time steps per sweep of a serial forward run (see the time loops below). Each step
#: lags the one before by a few rows, so a sweep keeps about ``8 * SERIAL_FUSE`` rows
#: of the five fields in flight and every array crosses the memory bus once per
#: ``SERIAL_FUSE`` steps. 16 (measured 2026-12-07 on the benchmark's 540 x 540 grid,
#: alternated in one process on a busy VM: 0.68 ms a step against 0.87 with 2, the
#: recomputation keeping per-step data 1.12 against 1.35; 24 and 32 no better).
SERIAL_FUSE = 16

# ============================================================================ conventions
# Every array is passed flat (ravelled in Python: no view is created in compiled code)
# and indexed with np.uint64 ``q = row_start + k``, k = 0, 1, ... (LLVM vectorises these
# loops); the neighbours of ``q`` are ``q +- 1..4`` along z and ``q +- 1..4 * S`` along x
# (``S`` = row length). Interior loops cover whole rows; C-PML terms in the z strips are
# added by short correction loops, x strips select a loop variant per row. Arguments that
# may be None (``sfl``: per-step data) select a specialisation at compile time.


@njit(**NUMBA_OPTIONS)
def _in(r, s):  # pragma: no cover
    return (r >= s[0] and r < s[1]) or (r >= s[2] and r < s[3])


@njit(**NUMBA_OPTIONS)
def _near(i, s, lo, hi):  # pragma: no cover
    """Whether rows ``i - lo .. i + hi`` touch one of the strips ``s``."""
    return (i + hi >= s[0] and i - lo < s[1]) or (i + hi >= s[2] and i - lo < s[3])


@njit(**NUMBA_OPTIONS)
def _slot_offsets(slot, ncell):  # pragma: no cover
    """Flat offsets of the five per-step data arrays (``STORE_FIELDS``) of step ``slot``
    in the store: ``ax, az, exx, ezz, exz``."""
    o = np.uint64(5 * slot * ncell)
    n = np.uint64(ncell)
    return o, o + n, o + np.uint64(2) * n, o + np.uint64(3) * n, o + np.uint64(4) * n


@njit(**NUMBA_OPTIONS)
def _pair(i0, i1, s, end):  # pragma: no cover
    """Whether a forward pass updates rows ``i0`` and ``i0 + 1`` with one two-row kernel
    call: both in the block (``i1 == i0 + 2``), below ``end`` and outside the strips
    ``s`` (an x-strip row has its own kernel)."""
    return i1 == i0 + 2 and i0 + 1 < end and not _in(i0, s) and not _in(i0 + 1, s)


@njit(**NUMBA_OPTIONS)
def _dz(f, q, plus, d1, d2, d3, d4):  # pragma: no cover
    """``D+z f`` (``plus``: output at half points from nodes) or ``D-z f`` at flat index
    ``q`` (the z neighbours of ``q`` are ``q +- 1..4``)."""
    if plus:
        return (
            d1 * (f[q + _U1] - f[q]) + d2 * (f[q + _U2] - f[q - _U1])
            + d3 * (f[q + _U3] - f[q - _U2]) + d4 * (f[q + _U4] - f[q - _U3])
        )  # fmt: skip
    return (
        d1 * (f[q] - f[q - _U1]) + d2 * (f[q + _U1] - f[q - _U2])
        + d3 * (f[q + _U2] - f[q - _U3]) + d4 * (f[q + _U3] - f[q - _U4])
    )  # fmt: skip


@njit(**NUMBA_OPTIONS)
def _mpml_fwd(
    src, mem, out, coef, out2, coef2, sfl, od, row, c0, c1, a, b, d1, d2, d3, d4, plus
):  # fmt: skip  # pragma: no cover
    """Multiaxial term of one x-strip row on the columns ``[c0, c1)`` (those outside
    the z strips): the z derivative ``g = dz(src)`` gets its own memory variable with
    the row's profile, ``mem <- b mem + a g``; then ``out += coef mem`` (and ``out2 +=
    coef2 mem``), and the per-step data at ``sfl[od + q]`` (when given) ``+= mem``."""
    for j in range(c0, c1):
        q = row + np.uint64(j)
        m = b * mem[q] + a * _dz(src, q, plus, d1, d2, d3, d4)
        mem[q] = m
        out[q] += coef[q] * m
        if out2 is not None:
            out2[q] += coef2[q] * m
        if sfl is not None:
            sfl[od + q] += m


@njit(**NUMBA_OPTIONS)
def _mpml_adj(
    t, phi, u, coef, row, c0, c1, u0, u1, a, b, d1, d2, d3, d4, plus, fs, tab, top, uo, eo
):  # fmt: skip  # pragma: no cover
    """Transpose of :func:`_mpml_fwd` on one x-strip row: with ``eta = phi + t`` on the
    columns ``[c0, c1)`` (zero elsewhere; ``t`` is the adjoint input of the derivative's
    output points), ``u += [coef] a dz(eta)`` on the columns ``[u0, u1)`` (``dz`` with
    the adjoint's negated coefficients), with a free surface (``fs``) also the
    transpose of its table's share (``u[top + uo - r] += [coef] a sum_m tab[m, r]
    eta[top + eo - m]``, see :func:`_top_fwd_v`), then ``phi <- b eta``."""
    for j in range(c0, c1):
        q = row + np.uint64(j)
        phi[q] += t[q]
    lo = max(u0, c0 - H)
    hi = min(u1, c1 + H)
    for j in range(lo, hi):
        q = row + np.uint64(j)
        g = _dz(phi, q, plus, d1, d2, d3, d4)
        if coef is None:
            u[q] += a * g
        else:
            u[q] += coef[q] * (a * g)
    if fs:
        for r in range(tab.shape[1]):
            q = row + np.uint64(top + uo - r)
            acc = 0.0
            for m in range(tab.shape[0]):
                acc += tab[m, r] * phi[row + np.uint64(top + eo - m)]
            if coef is None:
                u[q] += a * acc
            else:
                u[q] += coef[q] * (a * acc)
    for j in range(c0, c1):
        q = row + np.uint64(j)
        phi[q] *= b


@njit(**NUMBA_OPTIONS)
def _mpml_top(mem, out, coef, out2, coef2, sfl, od, q, ad):  # pragma: no cover
    """A free surface's share ``ad = a Delta`` of a multiaxial term at ``q`` (see
    :func:`_top_fwd_v`): ``mem += ad``, ``out += coef ad`` (and ``out2 += coef2 ad``),
    the per-step data at ``sfl[od + q]`` (when given) ``+= ad``."""
    mem[q] += ad
    out[q] += coef[q] * ad
    if out2 is not None:
        out2[q] += coef2[q] * ad
    if sfl is not None:
        sfl[od + q] += ad


# ============================================================================ vector row loops
# The interior loops of the forward passes as explicit vector code (see
# :mod:`seisgrad.solver.fd2d.simd`: aligned loads and shuffles for the z derivatives
# instead of loads that span two cache lines). Each body is the numba loop it replaced,
# operation for operation (the results are the same to the bit). Arguments: the arrays
# (listed per kernel below), then ``b0, n, S``, the bases of the per-step data, and the
# scalars ``c1..c4, d1..d4`` (and ``a, b`` of an x-strip row).


def _velocity_body(dx, dz, strip: bool):
    """``v += B g`` with ``g = dx(A0) [+ psi] + dz(A1)``, and ``data = g`` when the
    per-step data is given. Arrays: A0, A1, v, B, [psi], data; scalars c, d, [a, b]."""

    def body(r: Row) -> None:
        c, d = tuple(r.s[:4]), tuple(r.s[4:8])
        gx = dx(r, 0, c)
        k = 4
        if strip:
            t = r.s[9] * r.load(k) + r.s[8] * gx
            r.store(k, t)
            k += 1
        gz = dz(r, 1, d)
        g = gx + t + gz if strip else gx + gz
        r.store(2, r.load(2) + r.load(3) * g)
        if r.has(k):
            r.store(k, g)

    return body


def _normal_body(strip: bool):
    """``sxx += L2M gx + LAM gz``, ``szz += LAM gx + L2M gz`` with ``gx = D-x vx [+ psi]``,
    ``gz = D-z vz`` (kept as per-step data when given). Arrays: vx, vz, sxx, szz, L2M,
    LAM, [psi], data xx, data zz."""

    def body(r: Row) -> None:
        c, d = tuple(r.s[:4]), tuple(r.s[4:8])
        gx = dx_minus(r, 0, c)
        k = 6
        if strip:
            t = r.s[9] * r.load(k) + r.s[8] * gx
            r.store(k, t)
            gx = gx + t
            k += 1
        gz = dz_minus(r, 1, d)
        l2m, lam = r.load(4), r.load(5)
        r.store(2, r.load(2) + (l2m * gx + lam * gz))
        r.store(3, r.load(3) + (lam * gx + l2m * gz))
        if r.has(k):
            r.store(k, gx)
            r.store(k + 1, gz)

    return body


def _kernels(make, narr: int, nstore: int = 1) -> tuple:
    """The three variants (plain, x strip, plain on two rows) of one interior loop. The
    per-step data arrays come last (``None`` in a plain forward run), each with its own
    base index."""
    out = []
    for strip in (False, True):
        n = narr + (1 if strip else 0)
        own = tuple(range(n, n + nstore))
        out.append(row_kernel(n + nstore, 8 + (2 if strip else 0), make(strip), own_base=own))
    own = tuple(range(narr, narr + nstore))
    out.append(row_kernel(narr + nstore, 8, make(False), own_base=own, rows=2))
    return tuple(out)


# vx: sxx, sxz, vx, bx   (D+x sxx, D-z sxz)
_vx_plain, _vx_strip, _vx_plain2 = _kernels(
    lambda strip: _velocity_body(dx_plus, dz_minus, strip), 4
)
# vz: sxz, szz, vz, bz   (D-x sxz, D+z szz)
_vz_plain, _vz_strip, _vz_plain2 = _kernels(
    lambda strip: _velocity_body(dx_minus, dz_plus, strip), 4
)
# sxz: vz, vx, sxz, mu   (D+x vz, D+z vx)
_xz_plain, _xz_strip, _xz_plain2 = _kernels(
    lambda strip: _velocity_body(dx_plus, dz_plus, strip), 4
)
# sxx, szz: vx, vz, sxx, szz, l2m, lam
_nn_plain, _nn_strip, _nn_plain2 = _kernels(_normal_body, 6, nstore=2)


def _zstrip_body(dz, normal: bool):
    """C-PML of a z strip (``n`` cells from ``b0``): ``psi <- bz psi + az dz(A)``, then
    ``out += C psi`` (``normal``: ``sxx += LAM psi``, ``szz += L2M psi``) and ``data +=
    psi`` when given. Arrays: A, psi, out, C, az, bz, [data] (``normal``: A, psi, sxx,
    szz, LAM, L2M, az, bz, [data]); ``az``, ``bz`` (profiles) and ``data`` have their own
    bases; scalars d1..d4."""

    def body(r: Row) -> None:
        gz = dz(r, 0, tuple(r.s))
        k = 6 if normal else 4
        u = r.load(k + 1) * r.load(1) + r.load(k) * gz
        r.store(1, u)
        if normal:
            r.store(2, r.load(2) + r.load(4) * u)
            r.store(3, r.load(3) + r.load(5) * u)
        else:
            r.store(2, r.load(2) + r.load(3) * u)
        if r.has(k + 2):
            r.store(k + 2, r.load(k + 2) + u)

    return body


# vx: sxz (D-z), vz: szz (D+z), sxz: vx (D+z); sxx, szz: vz (D-z)
_vx_zstrip = row_kernel(7, 4, _zstrip_body(dz_minus, False), own_base=(4, 5, 6))
_vz_zstrip = row_kernel(7, 4, _zstrip_body(dz_plus, False), own_base=(4, 5, 6))
_xz_zstrip = row_kernel(7, 4, _zstrip_body(dz_plus, False), own_base=(4, 5, 6))
_nn_zstrip = row_kernel(9, 4, _zstrip_body(dz_minus, True), own_base=(6, 7, 8))


def _adjoint_body(dx, dz, near: bool, scaled: bool):
    """Transposed sub-steps: ``U += B (dx(X) [+ dx(DX)] + dz(Z))`` (``scaled``; arrays X,
    Z, U, B, [DX]) or ``E += dx(X) [+ dx(DX)] + dz(Z)`` (arrays X, Z, E, [DX])."""

    def body(r: Row) -> None:
        c, d = tuple(r.s[:4]), tuple(r.s[4:8])
        gx = dx(r, 0, c)
        if near:
            gx = gx + dx(r, 4 if scaled else 3, c)
        g = gx + dz(r, 1, d)
        r.store(2, r.load(2) + r.load(3) * g if scaled else r.load(2) + g)

    return body


def _strain_body(near: bool):
    """``E_xx += D-x Ux [+ D-x DUX]``, ``E_zz += D-z Uz``; arrays Ux, Uz, Exx, Ezz, [DUX]."""

    def body(r: Row) -> None:
        c, d = tuple(r.s[:4]), tuple(r.s[4:8])
        gx = dx_minus(r, 0, c)
        if near:
            gx = gx + dx_minus(r, 4, c)
        gz = dz_minus(r, 1, d)
        r.store(2, r.load(2) + gx)
        r.store(3, r.load(3) + gz)

    return body


# S^T, vx: txx, txz, ux, bx, [dxx]
_aux_plain = row_kernel(4, 8, _adjoint_body(dx_plus, dz_minus, False, True))
_aux_near = row_kernel(5, 8, _adjoint_body(dx_plus, dz_minus, True, True))
# S^T, vz: txz, tzz, uz, bz, [dxz]
_auz_plain = row_kernel(4, 8, _adjoint_body(dx_minus, dz_plus, False, True))
_auz_near = row_kernel(5, 8, _adjoint_body(dx_minus, dz_plus, True, True))
# V^T, exz: uz, ux, exz, [duz]
_exz_plain = row_kernel(3, 8, _adjoint_body(dx_plus, dz_plus, False, False))
_exz_near = row_kernel(4, 8, _adjoint_body(dx_plus, dz_plus, True, False))
# V^T, exx, ezz: ux, uz, exx, ezz, [dux]
_enn_plain = row_kernel(4, 8, _strain_body(False))
_enn_near = row_kernel(5, 8, _strain_body(True))


# ============================================================================ forward passes


def _fwd_v_pass(
    sxx, szz, sxz, vx, vz, mvxx, mvxz, mvzx, mvzz, bx, bz, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
    sfl, oax, oaz, S, r0, r1, ftz, mp, mc, m2vx, m2vz,
):  # fmt: skip  # pragma: no cover
    """V sub-step on rows ``[r0, r1)``: ``vx`` (rows below ``nxe - 1``) and ``vz``.
    ``mp`` (or None): the multiaxial profiles of the x strips (``a, b`` of the node rows,
    then of the half rows), ``mc`` the columns they act on (``[mc[0], mc[1])`` for
    points at z nodes, ``[mc[2], mc[3])`` at z half points: outside the z strips and
    up to a free surface, whose corrections :func:`_top_fwd_v` adds to the terms),
    ``m2vx``, ``m2vz`` their memory variables."""
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    nvx = np.uint64(zn[3] - H)
    nvz = np.uint64(zh[3] - H)
    for ii in prange((r1 - r0 + 1) // 2):
        i0 = r0 + 2 * ii
        i1 = min(i0 + 2, r1)
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        # two rows at once (their x stencils share the loaded rows) when neither is in
        # an x strip
        pvx = sfl is None and _pair(i0, i1, xh, nxe - 1)  # vx: rows below nxe - 1
        pvz = sfl is None and _pair(i0, i1, xn, nxe)
        if pvx:
            b0 = np.uint64(i0) * S + _UH
            _vx_plain2(sxx, sxz, vx, bx, sfl, b0, nvx, S, oax + b0, c1, c2, c3, c4, d1, d2, d3, d4)
        if pvz:
            b0 = np.uint64(i0) * S + _UH
            _vz_plain2(sxz, szz, vz, bz, sfl, b0, nvz, S, oaz + b0, c1, c2, c3, c4, d1, d2, d3, d4)
        for i in range(i0, i1):
            row = np.uint64(i) * S
            b0 = row + _UH
            if i + PREFETCH_ROWS < nxe:  # z-strip memory variables of a later row
                ahead = row + np.uint64(PREFETCH_ROWS) * S
                prefetch_strip(mvxz, ahead, zn)
                prefetch_strip(mvzz, ahead, zh)
            # ---- vx at (i + 1/2, j): D+x sxx (x-half profile) + D-z sxz (z-node profile)
            if i < nxe - 1:
                if pvx:
                    pass  # updated above
                elif _in(i, xh):
                    _vx_strip(
                    sxx, sxz, vx, bx, mvxx, sfl, b0, nvx, S, oax + b0,
                    c1, c2, c3, c4, d1, d2, d3, d4, axh[i], bxh[i],
                )  # fmt: skip
                else:
                    _vx_plain(
                        sxx, sxz, vx, bx, sfl, b0, nvx, S, oax + b0, c1, c2, c3, c4, d1, d2, d3, d4
                    )
                for part in range(2):
                    ja = np.uint64(zn[0] if part == 0 else zn[2])
                    jb = np.uint64(zn[1] if part == 0 else zn[3])
                    if jb > ja:
                        q = row + ja
                        _vx_zstrip(
                        sxz, mvxz, vx, bx, azn, bzn, sfl, q, jb - ja, S, ja, ja, oax + q,
                        d1, d2, d3, d4,
                    )  # fmt: skip
                if mp is not None and _in(i, xh):
                    _mpml_fwd(
                        sxz, m2vx, vx, bx, None, bx, sfl, oax, row, mc[0], mc[1], mp[2, i],
                        mp[3, i], d1, d2, d3, d4, False,
                    )  # fmt: skip
            # ---- vz at (i, j + 1/2): D-x sxz (x-node profile) + D+z szz (z-half profile)
            if pvz:
                pass  # updated above
            elif _in(i, xn):
                _vz_strip(
                sxz, szz, vz, bz, mvzx, sfl, b0, nvz, S, oaz + b0,
                c1, c2, c3, c4, d1, d2, d3, d4, axn[i], bxn[i],
            )  # fmt: skip
            else:
                _vz_plain(
                    sxz, szz, vz, bz, sfl, b0, nvz, S, oaz + b0, c1, c2, c3, c4, d1, d2, d3, d4
                )
            for part in range(2):
                ja = np.uint64(zh[0] if part == 0 else zh[2])
                jb = np.uint64(zh[1] if part == 0 else zh[3])
                if jb > ja:
                    q = row + ja
                    _vz_zstrip(
                    szz, mvzz, vz, bz, azh, bzh, sfl, q, jb - ja, S, ja, ja, oaz + q,
                    d1, d2, d3, d4,
                )  # fmt: skip
            if mp is not None and _in(i, xn):
                _mpml_fwd(
                    szz, m2vz, vz, bz, None, bz, sfl, oaz, row, mc[2], mc[3], mp[0, i],
                    mp[1, i], d1, d2, d3, d4, True,
                )  # fmt: skip
        if ftz:
            set_mxcsr(old)


def _fwd_s_pass(
    vx, vz, sxx, szz, sxz, mnx, mnz, msx, msz, l2m, lam, mu, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
    sfl, oxx, ozz, oxz, S, r0, r1, ftz, mp, mc, m2nn, m2xz,
):  # fmt: skip  # pragma: no cover
    """S sub-step on rows ``[r0, r1)``: normal stresses and ``sxz`` (below ``nxe - 1``);
    ``mp``, ``m2nn``, ``m2xz``: the multiaxial terms as in :func:`_fwd_v_pass`."""
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    nn = np.uint64(zn[3] - H)
    ns = np.uint64(zh[3] - H)
    for ii in prange((r1 - r0 + 1) // 2):
        i0 = r0 + 2 * ii
        i1 = min(i0 + 2, r1)
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        pnn = sfl is None and _pair(i0, i1, xn, nxe)
        pxz = sfl is None and _pair(i0, i1, xh, nxe - 1)  # sxz: rows below nxe - 1
        if pnn:
            b0 = np.uint64(i0) * S + _UH
            _nn_plain2(
                vx, vz, sxx, szz, l2m, lam, sfl, sfl, b0, nn, S, oxx + b0, ozz + b0,
                c1, c2, c3, c4, d1, d2, d3, d4,
            )  # fmt: skip
        if pxz:
            b0 = np.uint64(i0) * S + _UH
            _xz_plain2(vz, vx, sxz, mu, sfl, b0, ns, S, oxz + b0, c1, c2, c3, c4, d1, d2, d3, d4)
        for i in range(i0, i1):
            row = np.uint64(i) * S
            b0 = row + _UH
            if i + PREFETCH_ROWS < nxe:  # z-strip memory variables of a later row
                ahead = row + np.uint64(PREFETCH_ROWS) * S
                prefetch_strip(mnz, ahead, zn)
                prefetch_strip(msz, ahead, zh)
            # ---- sxx, szz: D-x vx (x-node profile), D-z vz (z-node profile)
            if pnn:
                pass  # updated above
            elif _in(i, xn):
                _nn_strip(
                vx, vz, sxx, szz, l2m, lam, mnx, sfl, sfl, b0, nn, S, oxx + b0, ozz + b0,
                c1, c2, c3, c4, d1, d2, d3, d4, axn[i], bxn[i],
            )  # fmt: skip
            else:
                _nn_plain(
                vx, vz, sxx, szz, l2m, lam, sfl, sfl, b0, nn, S, oxx + b0, ozz + b0,
                c1, c2, c3, c4, d1, d2, d3, d4,
            )  # fmt: skip
            for part in range(2):
                ja = np.uint64(zn[0] if part == 0 else zn[2])
                jb = np.uint64(zn[1] if part == 0 else zn[3])
                if jb > ja:
                    q = row + ja
                    _nn_zstrip(
                    vz, mnz, sxx, szz, lam, l2m, azn, bzn, sfl, q, jb - ja, S, ja, ja,
                    ozz + q, d1, d2, d3, d4,
                )  # fmt: skip
            if mp is not None and _in(i, xn):
                _mpml_fwd(
                    vz, m2nn, sxx, lam, szz, l2m, sfl, ozz, row, mc[0], mc[1], mp[0, i],
                    mp[1, i], d1, d2, d3, d4, False,
                )  # fmt: skip
            # ---- sxz: D+z vx (z-half profile) + D+x vz (x-half profile)
            if i < nxe - 1:
                if pxz:
                    pass  # updated above
                elif _in(i, xh):
                    _xz_strip(
                    vz, vx, sxz, mu, msx, sfl, b0, ns, S, oxz + b0,
                    c1, c2, c3, c4, d1, d2, d3, d4, axh[i], bxh[i],
                )  # fmt: skip
                else:
                    _xz_plain(
                        vz, vx, sxz, mu, sfl, b0, ns, S, oxz + b0, c1, c2, c3, c4, d1, d2, d3, d4
                    )
                for part in range(2):
                    ja = np.uint64(zh[0] if part == 0 else zh[2])
                    jb = np.uint64(zh[1] if part == 0 else zh[3])
                    if jb > ja:
                        q = row + ja
                        _xz_zstrip(
                        vx, msz, sxz, mu, azh, bzh, sfl, q, jb - ja, S, ja, ja, oxz + q,
                        d1, d2, d3, d4,
                    )  # fmt: skip
                if mp is not None and _in(i, xh):
                    _mpml_fwd(
                        vx, m2xz, sxz, mu, None, mu, sfl, oxz, row, mc[2], mc[3], mp[2, i],
                        mp[3, i], d1, d2, d3, d4, True,
                    )  # fmt: skip
        if ftz:
            set_mxcsr(old)


# ============================================================================ adjoint passes


def _adj_prex(src, phi, a, b, out, s, j0, j1, S, r0, r1, ftz):  # pragma: no cover
    """Adjoint C-PML input change in the x strips ``s`` (rows in ``[r0, r1)``, columns
    ``[j0, j1)``): ``eta = phi + src``, ``out = a eta``, ``phi <- b eta``."""
    n = np.uint64(j1 - j0)
    for i in prange(r0, r1):
        if _in(i, s):
            old = get_mxcsr()
            if ftz:
                set_mxcsr(old | FTZ_DAZ)
            ai = a[i]
            bi = b[i]
            b0 = np.uint64(i) * S + np.uint64(j0)
            for k in range(n):
                q = b0 + k
                e = phi[q] + src[q]
                out[q] = ai * e
                phi[q] = bi * e
            if ftz:
                set_mxcsr(old)


def _adj_v_pass(
    txx, tzz, txz, dxx, dxz, ux, uz, pnz, psz, bx, bz, cx, cz,
    azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, S, r0, r1, ftz, mp, mc, p2nn, p2xz,
    fs, top, tzzt, txzt,
):  # fmt: skip  # pragma: no cover
    """Transpose of the S sub-step acting on ``U`` (rows ``[r0, r1)``).

    ``U += B (D+x (Txx + dxx) + D-z (Txz + dz))`` for ``vx`` and
    ``U += B (D-x (Txz + dxz) + D+z (Tzz + dz))`` for ``vz``, with the coefficients
    already negated: ``dxx``, ``dxz`` hold the input changes of the x strips (from
    :func:`_adj_prex`), the z-strip changes ``dz = a (Phi + T)`` are formed here.
    """
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    jn = zn[3]
    jh = zh[3]
    nvx = np.uint64(jn - H)
    nvz = np.uint64(jh - H)
    for i in prange(r0, r1):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        row = np.uint64(i) * S
        b0 = row + _UH
        if i + PREFETCH_ROWS < nxe:  # z-strip memory variables of a later row
            ahead = row + np.uint64(PREFETCH_ROWS) * S
            prefetch_strip(psz, ahead, zh)
            prefetch_strip(pnz, ahead, zn)
        if i < nxe - 1:
            if _near(i, xn, 3, 4):
                _aux_near(txx, txz, ux, bx, dxx, b0, nvx, S, c1, c2, c3, c4, d1, d2, d3, d4)
            else:
                _aux_plain(txx, txz, ux, bx, b0, nvx, S, c1, c2, c3, c4, d1, d2, d3, d4)
            # z strips of txz (z-half profile): D- of a (Phi + T) near them
            jdone = np.int64(H)  # the strips' ranges may meet: each j once
            for part in range(2):
                sa = zh[0] if part == 0 else zh[2]
                sb = zh[1] if part == 0 else zh[3]
                if sb <= sa:
                    continue
                ja = max(sa - 3, H, jdone)
                jb = min(sb + 4, jn)
                jdone = max(jdone, jb)
                ua = np.uint64(ja)
                for k in range(np.uint64(max(jb - ja, 0))):
                    j = ua + k
                    q = row + j
                    e0 = azh[j] * (psz[q] + txz[q])
                    e1 = azh[j + _U1] * (psz[q + _U1] + txz[q + _U1])
                    e2 = azh[j + _U2] * (psz[q + _U2] + txz[q + _U2])
                    e3 = azh[j + _U3] * (psz[q + _U3] + txz[q + _U3])
                    f1 = azh[j - _U1] * (psz[q - _U1] + txz[q - _U1])
                    f2 = azh[j - _U2] * (psz[q - _U2] + txz[q - _U2])
                    f3 = azh[j - _U3] * (psz[q - _U3] + txz[q - _U3])
                    f4 = azh[j - _U4] * (psz[q - _U4] + txz[q - _U4])
                    g = d1 * (e0 - f1) + d2 * (e1 - f2) + d3 * (e2 - f3) + d4 * (e3 - f4)
                    ux[q] += bx[q] * g
        if _near(i, xh, 4, 3):
            _auz_near(txz, tzz, uz, bz, dxz, b0, nvz, S, c1, c2, c3, c4, d1, d2, d3, d4)
        else:
            _auz_plain(txz, tzz, uz, bz, b0, nvz, S, c1, c2, c3, c4, d1, d2, d3, d4)
        # z strips of tzz (z-node profile): D+ of a (Phi + T) near them
        jdone = np.int64(H)  # the strips' ranges may meet: each j once
        for part in range(2):
            sa = zn[0] if part == 0 else zn[2]
            sb = zn[1] if part == 0 else zn[3]
            if sb <= sa:
                continue
            ja = max(sa - 4, H, jdone)
            jb = min(sb + 3, jh)
            jdone = max(jdone, jb)
            ua = np.uint64(ja)
            for k in range(np.uint64(max(jb - ja, 0))):
                j = ua + k
                q = row + j
                e1 = azn[j + _U1] * (pnz[q + _U1] + tzz[q + _U1])
                e2 = azn[j + _U2] * (pnz[q + _U2] + tzz[q + _U2])
                e3 = azn[j + _U3] * (pnz[q + _U3] + tzz[q + _U3])
                e4 = azn[j + _U4] * (pnz[q + _U4] + tzz[q + _U4])
                e0 = azn[j] * (pnz[q] + tzz[q])
                f1 = azn[j - _U1] * (pnz[q - _U1] + tzz[q - _U1])
                f2 = azn[j - _U2] * (pnz[q - _U2] + tzz[q - _U2])
                f3 = azn[j - _U3] * (pnz[q - _U3] + tzz[q - _U3])
                g = d1 * (e1 - e0) + d2 * (e2 - f1) + d3 * (e3 - f2) + d4 * (e4 - f3)
                uz[q] += bz[q] * g
        if mp is not None:  # multiaxial terms of sxz (half rows) and sxx, szz (node rows)
            if i < nxe - 1 and _in(i, xh):
                _mpml_adj(
                    txz, p2xz, ux, bx, row, mc[2], mc[3], H, jn, mp[2, i], mp[3, i],
                    d1, d2, d3, d4, False, fs, txzt, top, 0, -1,
                )  # fmt: skip
            if _in(i, xn):
                _mpml_adj(
                    tzz, p2nn, uz, bz, row, mc[0], mc[1], H, jh, mp[0, i], mp[1, i],
                    d1, d2, d3, d4, True, fs, tzzt[i], top, -1, -1,
                )  # fmt: skip
        # memory updates (after every read of this row)
        for part in range(2):
            ja = zh[0] if part == 0 else zh[2]
            jb = zh[1] if part == 0 else zh[3]
            ua = np.uint64(ja)
            for k in range(np.uint64(max(jb - ja, 0))):
                j = ua + k
                q = row + j
                psz[q] = bzh[j] * (psz[q] + txz[q])
            ja = zn[0] if part == 0 else zn[2]
            jb = zn[1] if part == 0 else zn[3]
            ua = np.uint64(ja)
            for k in range(np.uint64(max(jb - ja, 0))):
                j = ua + k
                q = row + j
                pnz[q] = bzn[j] * (pnz[q] + tzz[q])
        if ftz:
            set_mxcsr(old)


def _adj_s_pass(
    ux, uz, dux, duz, exx, ezz, exz, txx, tzz, txz, pvxz, pvzz, l2m, lam, mu, cx, cz,
    azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, sfl, oax, oaz, oxx, ozz, oxz,
    gbx, gbz, gl2m, glam, gmu, S, r0, r1, ftz, mp, mc, p2vx, p2vz, fs, top, dvx, dvz,
):  # fmt: skip  # pragma: no cover
    """Transpose of the V sub-step acting on ``E`` (rows ``[r0, r1)``), then ``T = C E``.

    First the gradients of this step (``E`` of ``sigma^{n+1}``, ``U`` of ``v^{n+1/2}``),
    then ``E_xx += D-x (Ux + dux)``, ``E_zz += D-z (Uz + dz)``,
    ``E_xz += D+z (Ux + dz) + D+x (Uz + duz)`` (coefficients already negated).
    """
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    jn = zn[3]
    jh = zh[3]
    nn = np.uint64(jn - H)
    ns = np.uint64(jh - H)
    for i in prange(r0, r1):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        row = np.uint64(i) * S
        b0 = row + _UH
        if i + PREFETCH_ROWS < nxe:  # z-strip memory variables of a later row
            ahead = row + np.uint64(PREFETCH_ROWS) * S
            prefetch_strip(pvzz, ahead, zh)
            prefetch_strip(pvxz, ahead, zn)
        # ---- gradients of step n
        for k in range(nn):
            q = b0 + k
            a = sfl[oxx + q]
            b = sfl[ozz + q]
            p = exx[q]
            r = ezz[q]
            gl2m[q] += a * p + b * r
            glam[q] += a * r + b * p
        for k in range(ns):
            q = b0 + k
            gbz[q] += sfl[oaz + q] * uz[q]
        if i < nxe - 1:
            for k in range(nn):
                q = b0 + k
                gbx[q] += sfl[oax + q] * ux[q]
            for k in range(ns):
                q = b0 + k
                gmu[q] += sfl[oxz + q] * exz[q]
        # ---- E_xx, E_zz
        if _near(i, xh, 4, 3):
            _enn_near(ux, uz, exx, ezz, dux, b0, nn, S, c1, c2, c3, c4, d1, d2, d3, d4)
        else:
            _enn_plain(ux, uz, exx, ezz, b0, nn, S, c1, c2, c3, c4, d1, d2, d3, d4)
        # z strips of uz (z-half profile): D- of a (Phi + U) near them
        jdone = np.int64(H)  # the strips' ranges may meet: each j once
        for part in range(2):
            sa = zh[0] if part == 0 else zh[2]
            sb = zh[1] if part == 0 else zh[3]
            if sb <= sa:
                continue
            ja = max(sa - 3, H, jdone)
            jb = min(sb + 4, jn)
            jdone = max(jdone, jb)
            ua = np.uint64(ja)
            for k in range(np.uint64(max(jb - ja, 0))):
                j = ua + k
                q = row + j
                e0 = azh[j] * (pvzz[q] + uz[q])
                e1 = azh[j + _U1] * (pvzz[q + _U1] + uz[q + _U1])
                e2 = azh[j + _U2] * (pvzz[q + _U2] + uz[q + _U2])
                e3 = azh[j + _U3] * (pvzz[q + _U3] + uz[q + _U3])
                f1 = azh[j - _U1] * (pvzz[q - _U1] + uz[q - _U1])
                f2 = azh[j - _U2] * (pvzz[q - _U2] + uz[q - _U2])
                f3 = azh[j - _U3] * (pvzz[q - _U3] + uz[q - _U3])
                f4 = azh[j - _U4] * (pvzz[q - _U4] + uz[q - _U4])
                ezz[q] += d1 * (e0 - f1) + d2 * (e1 - f2) + d3 * (e2 - f3) + d4 * (e3 - f4)
        if mp is not None and _in(i, xn):  # multiaxial term of vz (D+z szz)
            _mpml_adj(
                uz, p2vz, ezz, None, row, mc[2], mc[3], H, jn, mp[0, i], mp[1, i],
                d1, d2, d3, d4, False, fs, dvz[i], top, 0, -1,
            )  # fmt: skip
        for k in range(nn):
            q = b0 + k
            p = exx[q]
            r = ezz[q]
            txx[q] = l2m[q] * p + lam[q] * r
            tzz[q] = lam[q] * p + l2m[q] * r
        # ---- E_xz
        if i < nxe - 1:
            if _near(i, xn, 3, 4):
                _exz_near(uz, ux, exz, duz, b0, ns, S, c1, c2, c3, c4, d1, d2, d3, d4)
            else:
                _exz_plain(uz, ux, exz, b0, ns, S, c1, c2, c3, c4, d1, d2, d3, d4)
            # z strips of ux (z-node profile): D+ of a (Phi + U) near them
            jdone = np.int64(H)  # the strips' ranges may meet: each j once
            for part in range(2):
                sa = zn[0] if part == 0 else zn[2]
                sb = zn[1] if part == 0 else zn[3]
                if sb <= sa:
                    continue
                ja = max(sa - 4, H, jdone)
                jb = min(sb + 3, jh)
                jdone = max(jdone, jb)
                ua = np.uint64(ja)
                for k in range(np.uint64(max(jb - ja, 0))):
                    j = ua + k
                    q = row + j
                    e1 = azn[j + _U1] * (pvxz[q + _U1] + ux[q + _U1])
                    e2 = azn[j + _U2] * (pvxz[q + _U2] + ux[q + _U2])
                    e3 = azn[j + _U3] * (pvxz[q + _U3] + ux[q + _U3])
                    e4 = azn[j + _U4] * (pvxz[q + _U4] + ux[q + _U4])
                    e0 = azn[j] * (pvxz[q] + ux[q])
                    f1 = azn[j - _U1] * (pvxz[q - _U1] + ux[q - _U1])
                    f2 = azn[j - _U2] * (pvxz[q - _U2] + ux[q - _U2])
                    f3 = azn[j - _U3] * (pvxz[q - _U3] + ux[q - _U3])
                    exz[q] += d1 * (e1 - e0) + d2 * (e2 - f1) + d3 * (e3 - f2) + d4 * (e4 - f3)
            if mp is not None and _in(i, xh):  # multiaxial term of vx (D-z sxz)
                _mpml_adj(
                    ux, p2vx, exz, None, row, mc[0], mc[1], H, jh, mp[2, i], mp[3, i],
                    d1, d2, d3, d4, True, fs, dvx, top, -1, 0,
                )  # fmt: skip
            for k in range(ns):
                q = b0 + k
                txz[q] = mu[q] * exz[q]
        # memory updates (after every read of this row)
        for part in range(2):
            ja = zh[0] if part == 0 else zh[2]
            jb = zh[1] if part == 0 else zh[3]
            ua = np.uint64(ja)
            for k in range(np.uint64(max(jb - ja, 0))):
                j = ua + k
                q = row + j
                pvzz[q] = bzh[j] * (pvzz[q] + uz[q])
            if i < nxe - 1:
                ja = zn[0] if part == 0 else zn[2]
                jb = zn[1] if part == 0 else zn[3]
                ua = np.uint64(ja)
                for k in range(np.uint64(max(jb - ja, 0))):
                    j = ua + k
                    q = row + j
                    pvxz[q] = bzn[j] * (pvxz[q] + ux[q])
        if ftz:
            set_mxcsr(old)


# ============================================================================ free surface


@njit(**NUMBA_OPTIONS)
def _top_fwd_v(
    sxz, szz, vx, vz, bx, bz, dvx, dvz, top, S, r0, r1, nxe, sfl, oax, oaz,
    mp, mc, xn, xh, m2vx, m2vz,
):  # fmt: skip  # pragma: no cover
    """Surface corrections of the V sub-step (rows ``[r0, r1)``): ``v += B Delta``
    (``dvx[m, r]``: ``vx`` row ``top - m`` from ``sxz[top - 1 - r]``; ``dvz[i, m, r]``:
    ``vz`` row ``top - 1 - m`` of array row ``i`` from ``szz[top - r]``; the table of a
    fluid surface where ``i`` is one). A multiaxial term (``mp``, see
    :func:`_fwd_v_pass`) takes the corrected derivative: its memory variable gets
    ``a Delta`` too (and ``v``, the per-step data, what that adds)."""
    nr = dvx.shape[1]
    ox = np.int64(oax)
    oz = np.int64(oaz)
    for i in range(r0, r1):
        row = i * S
        if i < nxe - 1:
            for m in range(dvx.shape[0]):
                q = row + top - m
                d = 0.0
                for r in range(nr):
                    d += dvx[m, r] * sxz[row + top - 1 - r]
                vx[q] += bx[q] * d
                if sfl is not None:
                    sfl[ox + q] += d
                if mp is not None and _in(i, xh) and mc[0] <= top - m < mc[1]:
                    _mpml_top(m2vx, vx, bx, None, bx, sfl, ox, q, mp[2, i] * d)
        for m in range(dvz.shape[1]):
            q = row + top - 1 - m
            e = 0.0
            for r in range(dvz.shape[2]):
                e += dvz[i, m, r] * szz[row + top - r]
            vz[q] += bz[q] * e
            if sfl is not None:
                sfl[oz + q] += e
            if mp is not None and _in(i, xn) and mc[2] <= top - 1 - m < mc[3]:
                _mpml_top(m2vz, vz, bz, None, bz, sfl, oz, q, mp[0, i] * e)


@njit(**NUMBA_OPTIONS)
def _top_fwd_s(
    vx, vz, sxx, szz, sxz, l2m, lam, mu, dzz, dxz, top, S, r0, r1, nxe, sfl, ozz, oxz,
    mp, mc, xn, xh, m2nn, m2xz,
):  # fmt: skip  # pragma: no cover
    """Surface corrections of the S sub-step (rows ``[r0, r1)``), then ``szz = 0`` on the
    surface (``dzz[i, m, r]``: node row ``top - 1 - m`` of array row ``i`` from
    ``vz[top - 1 - r]``; ``dxz[m, r]``: shear row ``top - 1 - m`` from ``vx[top - r]``)."""
    nr = dxz.shape[1]
    oz = np.int64(ozz)
    ox = np.int64(oxz)
    for i in range(r0, r1):
        row = i * S
        for m in range(dzz.shape[1]):
            q = row + top - 1 - m
            d = 0.0
            for r in range(dzz.shape[2]):
                d += dzz[i, m, r] * vz[row + top - 1 - r]
            sxx[q] += lam[q] * d
            szz[q] += l2m[q] * d
            if sfl is not None:
                sfl[oz + q] += d
            if mp is not None and _in(i, xn) and mc[0] <= top - 1 - m < mc[1]:
                _mpml_top(m2nn, sxx, lam, szz, l2m, sfl, oz, q, mp[0, i] * d)
        if i < nxe - 1:
            for m in range(dxz.shape[0]):
                q = row + top - 1 - m
                e = 0.0
                for r in range(nr):
                    e += dxz[m, r] * vx[row + top - r]
                sxz[q] += mu[q] * e
                if sfl is not None:
                    sfl[ox + q] += e
                if mp is not None and _in(i, xh) and mc[2] <= top - 1 - m < mc[3]:
                    _mpml_top(m2xz, sxz, mu, None, mu, sfl, ox, q, mp[2, i] * e)
        szz[row + top] = 0.0


@njit(**NUMBA_OPTIONS)
def _top_adj_v(txz, tzz, ux, uz, bx, bz, dzz, dxz, top, S, r0, r1, nxe):  # pragma: no cover
    """Transpose of :func:`_top_fwd_s` acting on ``U``: ``U += B Delta^T T``."""
    nr = dxz.shape[1]
    for i in range(r0, r1):
        row = i * S
        for r in range(dzz.shape[2]):
            q = row + top - 1 - r
            a = 0.0
            for m in range(dzz.shape[1]):
                a += dzz[i, m, r] * tzz[row + top - 1 - m]
            uz[q] += bz[q] * a
        if i < nxe - 1:
            for r in range(nr):
                q = row + top - r
                b = 0.0
                for m in range(dxz.shape[0]):
                    b += dxz[m, r] * txz[row + top - 1 - m]
                ux[q] += bx[q] * b


@njit(**NUMBA_OPTIONS)
def _top_adj_s(
    ux, uz, exx, ezz, exz, txx, tzz, txz, l2m, lam, mu, dvx, dvz, top, S, r0, r1, nxe,
):  # fmt: skip  # pragma: no cover
    """Transpose of :func:`_top_fwd_v` acting on ``E`` (and ``T = C E``); then the
    surface value of ``szz`` (not state) is dropped: ``E_zz = T_zz = 0`` there."""
    nr = dvx.shape[1]
    for i in range(r0, r1):
        row = i * S
        if i < nxe - 1:
            for r in range(nr):
                q = row + top - 1 - r
                a = 0.0
                for m in range(dvx.shape[0]):
                    a += dvx[m, r] * ux[row + top - m]
                exz[q] += a
                txz[q] += mu[q] * a
        for r in range(dvz.shape[2]):
            q = row + top - r
            b = 0.0
            for m in range(dvz.shape[1]):
                b += dvz[i, m, r] * uz[row + top - 1 - m]
            ezz[q] += b
            txx[q] += lam[q] * b
            tzz[q] += l2m[q] * b
        ezz[row + top] = 0.0
        tzz[row + top] = 0.0


# ============================================================================ time loops
# One sweep per step over blocks of ``blk`` rows: the V update of rows [r, r + blk) is
# followed by the S update of rows [r - 4, r + blk - 4), which only needs velocities
# already updated and stresses no later V update reads (and the same for the adjoint).
# With a small block (serial runs) the rows are still in cache when the second update
# reads them; with a block covering the grid (parallel runs) this is the plain two-pass
# step.
#
# A forward sweep may advance several steps (``fuse``; serial runs): step ``n + k``'s V
# and S updates follow ``2 k H`` and ``(2 k + 1) H`` rows behind the first V update, so
# each sub-step only reads rows its predecessor has finished and no later sub-step of
# the previous step still reads (a wavefront in time). The rows of all the steps of a
# sweep stay in cache between them: each array crosses the memory bus once per sweep.
# Every cell sees the same operations in the same order as with one step per sweep.


def _forward_loop(
    n0, n1, vx, vz, sxx, szz, sxz, mvxx, mvxz, mvzx, mvzz, mnx, mnz, msx, msz,
    bx, bz, l2m, lam, mu, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, top, fs,
    dzz, dxz, dvx, dvz, ncols, nrows,
    sv_c, sv_q, sv_w, sv_a, sv_k, stf_v, ss_c, ss_q, ss_w, ss_k, stf_s,
    g_c, g_t, s_ptr, s_q, s_w, s_g, acc, raw, sfl, blk, fuse, ftz, mp, mc, m2vx, m2vz, m2nn, m2xz,
):  # fmt: skip  # pragma: no cover
    """Forward steps ``n0 .. n1-1`` (flat arrays, flat point indices).

    Sources: ``sv_*`` act on ``vx`` (``c = 0``) or ``vz`` (``c = 1``) with time function
    rows ``stf_v`` at ``t_n`` (weights ``sv_w``; ``sv_a`` the same without the buoyancy
    factor, added to the stored acceleration because the force term depends on the
    buoyancy too); ``ss_*`` on ``sxx``/``szz``/``sxz`` (``c = 0, 1, 2``) with ``stf_s`` at
    ``t_{n+1/2}``. Receivers: row segments (:func:`~seisgrad.solver.fd2d.common.receiver_taps`)
    of the components ``sxx``, ``szz`` (0, 1: raw channel 0, ``P`` at ``t_n``, read before
    the velocity update of their rows), ``vx``, ``vz`` (2, 3: raw channels 1, 2 at
    ``t_{n+1/2}``, read after it), summed per record into ``acc[2 k]`` (``k``: the step
    of the sweep), except ``szz`` into ``acc[2 k + 1]``, then ``acc[2 k] + acc[2 k + 1]``
    into ``raw``. Each accumulator sums its segments in row order whatever the blocks of
    the sweep, so the records do not depend on how the steps are grouped into sweeps (one
    accumulator for ``sxx`` and ``szz`` would interleave them by block).

    One sweep over the rows advances ``fuse`` steps (see the comment above): the
    sources of each step act on the rows of a block as the block is swept, after the
    last sub-step that reads their old values.
    """
    old = get_mxcsr()
    if ftz:
        set_mxcsr(old | FTZ_DAZ)
    S = np.uint64(ncols)
    ncell = ncols * nrows
    if fs:
        for i in range(nrows):
            szz[i * ncols + top] = 0.0
    sv_r = sv_q // ncols  # rows of the source points
    ss_r = ss_q // ncols
    n = n0
    while n < n1:
        nk = min(fuse, n1 - n)  # steps in this sweep
        r = np.int64(H)  # not Literal[int]: one compiled callee signature
        while r < nxe + (2 * nk - 1) * H:
            for k in range(nk):
                slot = n + k - n0
                oax, oaz, oxx, ozz, oxz = _slot_offsets(slot, ncell)
                v0, v1, q0, q1 = sweep_rows(r, blk, k, nxe)
                if v1 > v0:
                    i0, i1 = row_range(v0, v1, H, nxe, nrows)
                    # forces at t_{n+k} on these rows, before their velocity update
                    inject(vx, vz, vz, sv_c, sv_q, sv_r, sv_w, sv_k, stf_v, n + k, i0, i1)
                    # records of these rows while they are in cache: pressure at t_n
                    # before the velocity update, velocities at t_{n+1/2} after it
                    gather_rows(sxx, s_ptr[0], s_q, s_w, s_g, acc[2 * k], i0, i1)
                    gather_rows(szz, s_ptr[1], s_q, s_w, s_g, acc[2 * k + 1], i0, i1)
                    _fwd_v_pass(
                        sxx, szz, sxz, vx, vz, mvxx, mvxz, mvzx, mvzz, bx, bz, cx, cz,
                        axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
                        sfl, oax, oaz, S, v0, v1, ftz, mp, mc, m2vx, m2vz,
                    )  # fmt: skip
                    if fs:
                        _top_fwd_v(
                            sxz, szz, vx, vz, bx, bz, dvx, dvz, top, ncols, v0, v1, nxe,
                            sfl, oax, oaz, mp, mc, xn, xh, m2vx, m2vz,
                        )  # fmt: skip
                    gather_rows(vx, s_ptr[2], s_q, s_w, s_g, acc[2 * k], i0, i1)
                    gather_rows(vz, s_ptr[3], s_q, s_w, s_g, acc[2 * k], i0, i1)
                if q1 > q0:
                    _fwd_s_pass(
                        vx, vz, sxx, szz, sxz, mnx, mnz, msx, msz, l2m, lam, mu, cx, cz,
                        axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
                        sfl, oxx, ozz, oxz, S, q0, q1, ftz, mp, mc, m2nn, m2xz,
                    )  # fmt: skip
                    if fs:
                        _top_fwd_s(
                            vx, vz, sxx, szz, sxz, l2m, lam, mu, dzz, dxz, top, ncols, q0, q1,
                            nxe, sfl, ozz, oxz, mp, mc, xn, xh, m2nn, m2xz,
                        )  # fmt: skip
                    # moment-tensor sources at t_{n+k+1/2} on these rows, after their
                    # stress update (never on the surface value of szz)
                    i0, i1 = row_range(q0, q1, H, nxe, nrows)
                    inject(sxx, szz, sxz, ss_c, ss_q, ss_r, ss_w, ss_k, stf_s, n + k, i0, i1)
            r += blk
        for k in range(nk):
            if sfl is not None:
                slot = n + k - n0
                for q in range(sv_c.size):
                    sfl[(5 * slot + sv_c[q]) * ncell + sv_q[q]] += sv_a[q] * stf_v[sv_k[q], n + k]
            for g in range(g_c.size):
                raw[g_c[g], g_t[g], n + k] += acc[2 * k, g] + acc[2 * k + 1, g]
                acc[2 * k, g] = 0.0
                acc[2 * k + 1, g] = 0.0
        n += nk
    set_mxcsr(old)


def _adjoint_loop(
    n1, n0, ux, uz, exx, ezz, exz, txx, tzz, txz,
    pvxx, pvxz, pvzx, pvzz, pnx, pnz, psx, psz, dxx, dxz_, dux, duz,
    bx, bz, l2m, lam, mu, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, top, fs,
    dzz, dxz, dvx, dvz, ncols, nrows,
    g_c, g_t, s_ptr, s_q, s_wa, s_g, inj2, raw_adj, sfl, gbx, gbz, gl2m, glam, gmu, blk, fuse,
    ftz, mp, mc, p2vx, p2vz, p2nn, p2xz,
):  # fmt: skip  # pragma: no cover
    """Adjoint steps ``n1-1 .. n0`` (see the module docstring); ``cx``, ``cz`` are the
    forward coefficients (negated here). Receiver segments as in :func:`_forward_loop`,
    with injection weights ``s_wa`` scaled to the adjoint variables, injected while the
    sweep has their rows in cache (``inj2``: ``(fuse, ng)`` scratch).

    One sweep over the rows takes ``fuse`` steps (``n, n - 1, ...``), each lagging the
    one before as in the forward sweeps (:func:`sweep_rows`): the U and T transposes read
    each other's rows within a stencil's reach, like the forward's V and S sub-steps.
    The x-strip input change of T (``_adj_prex``, row-local) is made for the first step
    of a sweep before it, and for each later step on the rows the T transpose of the
    step before has just finished: the U transpose of that step has read those rows of
    its own input change by then (it leads by ``HALO`` rows), and the next step's reads
    them only after (it lags by ``HALO``). Each cell's gradient sums its steps in the
    same order as one step per sweep, so the results are the same to the bit."""
    old = get_mxcsr()
    if ftz:
        set_mxcsr(old | FTZ_DAZ)
    S = np.uint64(ncols)
    ncell = ncols * nrows
    ncx = -cx
    ncz = -cz
    j0 = np.int64(H)
    j1 = zn[3]
    n = n1 - 1
    while n >= n0:
        nk = min(fuse, n - n0 + 1)  # steps n, n - 1, ..., n - nk + 1 in this sweep
        sweep_adjoint_sources(inj2, raw_adj, g_c, g_t, n, nk)
        # x strips of T (read by the U updates) of the sweep's first step, before it
        _adj_prex(txx, pnx, axn, bxn, dxx, xn, j0, j1, S, xn[0], xn[3], ftz)
        _adj_prex(txz, psx, axh, bxh, dxz_, xh, j0, j1, S, xh[0], xh[3], ftz)
        r = np.int64(H)  # not Literal[int]: one compiled callee signature
        while r < nxe + (2 * nk - 1) * H:
            for k in range(nk):
                slot = n - k - n0
                inj = inj2[k]
                oax, oaz, oxx, ozz, oxz = _slot_offsets(slot, ncell)
                v0, v1, q0, q1 = sweep_rows(r, blk, k, nxe)
                more = k < nk - 1  # a later step of this sweep follows
                if v1 > v0:
                    # adjoint of the velocity records (t_{n+1/2}), before anything reads
                    # these rows of U (it commutes with the S transpose)
                    i0, i1 = row_range(v0, v1, H, nxe, nrows)
                    scatter_rows(ux, None, s_ptr[2], s_q, s_wa, s_g, inj, i0, i1)
                    scatter_rows(uz, None, s_ptr[3], s_q, s_wa, s_g, inj, i0, i1)
                    _adj_v_pass(
                        txx, tzz, txz, dxx, dxz_, ux, uz, pnz, psz, bx, bz, ncx, ncz,
                        azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, S, v0, v1, ftz, mp, mc,
                        p2nn, p2xz, fs, top, dzz, dxz,
                    )  # fmt: skip
                    if fs:
                        _top_adj_v(
                            txz, tzz, ux, uz, bx, bz, dzz, dxz, top, ncols, v0, v1, nxe
                        )  # fmt: skip
                    _adj_prex(ux, pvxx, axh, bxh, dux, xh, j0, j1, S, v0, v1, ftz)
                    _adj_prex(uz, pvzx, axn, bxn, duz, xn, j0, j1, S, v0, v1, ftz)
                if q1 > q0:
                    _adj_s_pass(
                        ux, uz, dux, duz, exx, ezz, exz, txx, tzz, txz, pvxz, pvzz, l2m, lam,
                        mu, ncx, ncz, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe,
                        sfl, oax, oaz, oxx, ozz, oxz, gbx, gbz, gl2m, glam, gmu, S, q0, q1,
                        ftz, mp, mc, p2vx, p2vz, fs, top, dvx, dvz,
                    )  # fmt: skip
                    if fs:
                        _top_adj_s(
                            ux, uz, exx, ezz, exz, txx, tzz, txz, l2m, lam, mu, dvx, dvz, top,
                            ncols, q0, q1, nxe,
                        )  # fmt: skip
                    # adjoint of the pressure records (t_n), after the S transpose of
                    # these rows (nothing later in the sweep reads them): E += w f,
                    # T += C w f
                    i0, i1 = row_range(q0, q1, H, nxe, nrows)
                    for c in range(2):
                        e = exx if c == 0 else ezz
                        ta = l2m if c == 0 else lam
                        tb = lam if c == 0 else l2m
                        for s in range(s_ptr[c, i0], s_ptr[c, i1]):
                            v = inj[s_g[s]]
                            for m in range(SEGMENT):
                                qm = s_q[s] + np.uint64(m)
                                val = s_wa[s, m] * v
                                e[qm] += val
                                txx[qm] += ta[qm] * val
                                tzz[qm] += tb[qm] * val
                    if more:  # the next step's x-strip input change of T, on these rows
                        _adj_prex(txx, pnx, axn, bxn, dxx, xn, j0, j1, S, q0, q1, ftz)
                        _adj_prex(txz, psx, axh, bxh, dxz_, xh, j0, j1, S, q0, q1, ftz)
            r += blk
        n -= nk
    set_mxcsr(old)


SERIAL, PARALLEL = compile_variants(
    globals(),
    parallel=("_fwd_v_pass", "_fwd_s_pass", "_adj_prex", "_adj_v_pass", "_adj_s_pass"),
    drivers=("_forward_loop", "_adjoint_loop"),
)
