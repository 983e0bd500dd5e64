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

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numba import njit, prange

from seisgrad.errors import DataError, SolverError
from seisgrad.model import Model
from seisgrad.solver.fd2d.common import (
    ALIGN_BYTES,
    FTZ_DAZ,
    HALO,
    NO_RAW,
    NUMBA_OPTIONS,
    PREFETCH_ROWS,
    ROW_MULTIPLE,
    SEGMENT,
    STORE_PREFETCH_ROWS,
    aligned_arrays,
    aligned_copies,
    aligned_fields,
    compile_variants,
    ftz_enabled,
    gather_rows,
    get_mxcsr,
    inject,
    point_operator,
    prefetch_rows,
    prefetch_strip,
    receiver_taps,
    round_up,
    row_range,
    scatter_rows,
    set_mxcsr,
    source_time_table,
    sweep_adjoint_sources,
    sweep_rows,
)
from seisgrad.solver.fd2d.propagator import Propagator
from seisgrad.solver.fd2d.simd import Row, dx_minus, dx_plus, dz_minus, dz_plus, row_kernel

__all__ = ["AcousticPropagator", "surface_source_amplitude"]

H = HALO  # compile-time constant in the kernels

# ============================================================================ helpers

# Unsigned index constant: flat indices are np.uint64 so that numba emits no
# negative-index (wrap-around) code and LLVM vectorises the loops.
_UH = np.uint64(H)


@njit(**NUMBA_OPTIONS)
def _in(r, s):  # pragma: no cover
    """Whether array row/column ``r`` lies in one of the two strips ``s``."""
    return (r >= s[0] and r < s[1]) or (r >= s[2] and r < s[3])


@njit(**NUMBA_OPTIONS)
def _strip_index(r, s):  # pragma: no cover
    """Position of row/column ``r`` in the concatenation of the two strips ``s``."""
    return r - s[0] if r < s[1] else (s[1] - s[0]) + (r - s[2])


@njit(**NUMBA_OPTIONS)
def _near(i, s, lo, hi):  # pragma: no cover
    """Whether rows ``i - lo .. i + hi`` touch one of the strips ``s``."""
    return (i + hi >= s[0] and i - lo < s[1]) or (i + hi >= s[2] and i - lo < s[3])


# ============================================================================ vector row loops
# The interior loops with a z derivative, as explicit vector code (see
# :mod:`seisgrad.solver.fd2d.simd`: aligned loads and shuffles instead of split loads).
# Each body is the numba loop it replaces, operation for operation: the results are the
# same to the bit.


def _vx_body(r: Row, strip: bool = False) -> None:
    # arrays: p, vx, bx, [psi]; scalars: c1..c4, [a, b] (x strip row)
    #   vx -= bx D+x p   (strip: psi <- b psi + a D+x p;  vx -= bx (D+x p + psi))
    g = dx_plus(r, 0, tuple(r.s[:4]))
    if strip:
        t = r.s[5] * r.load(3) + r.s[4] * g
        r.store(3, t)
        r.store(1, r.load(1) - r.load(2) * (g + t))
    else:
        r.store(1, r.load(1) - r.load(2) * g)


def _vx_strip_body(r: Row) -> None:
    _vx_body(r, strip=True)


def _vz_body(r: Row) -> None:
    # arrays: p, vz, bz; scalars: d1..d4.   vz -= bz D+z p
    g = dz_plus(r, 0, tuple(r.s))
    r.store(1, r.load(1) - r.load(2) * g)


def _p_body(r: Row) -> None:
    # arrays: p, vx, vz, K; scalars: c1..c4, d1..d4.   p -= K (D-x vx + D-z vz)
    dx = dx_minus(r, 1, tuple(r.s[:4]))
    dz = dz_minus(r, 2, tuple(r.s[4:]))
    r.store(0, r.load(0) - r.load(3) * (dx + dz))


def _p_strip_body(r: Row) -> None:
    # arrays: p, vx, vz, K, psi; scalars: c1..c4, d1..d4, a, b (x strip row)
    #   psi <- b psi + a D-x vx;  p -= K (D-x vx + psi + D-z vz)
    a, b = r.s[8], r.s[9]
    dx = dx_minus(r, 1, tuple(r.s[:4]))
    t = b * r.load(4) + a * dx
    r.store(4, t)
    dz = dz_minus(r, 2, tuple(r.s[4:8]))
    r.store(0, r.load(0) - r.load(3) * (dx + t + dz))


def _adj_ux_body(r: Row, near: bool = False) -> None:
    # arrays: W, ux, bx, p^n (per-step data), Gx, [DX]; scalars c1..c4
    #   ux += bx (D+x W [+ D+x DX]);  Gx += ux D+x p^n
    c = tuple(r.s)
    g = dx_plus(r, 0, c)
    if near:
        g = g + dx_plus(r, 5, c)
    u = r.load(1) + r.load(2) * g
    r.store(1, u)
    e = dx_plus(r, 3, c)
    r.store(4, r.load(4) + u * e)


def _adj_ux_near_body(r: Row) -> None:
    _adj_ux_body(r, near=True)


def _adj_uz_body(r: Row) -> None:
    # arrays: Z (scratch row), uz, bz, p^n (per-step data), Gz; scalars d1..d4
    #   uz += bz D+z Z;  Gz += uz D+z p^n
    d = tuple(r.s)
    g = dz_plus(r, 0, d)
    u = r.load(1) + r.load(2) * g
    r.store(1, u)
    e = dz_plus(r, 3, d)
    r.store(4, r.load(4) + u * e)


def _adj_w_body(r: Row, strip: bool = False) -> None:
    # arrays: ux, Y (scratch row), K, W, gK, p^n, [DX]; scalars c1..c4, d1..d4
    #   inc = K (D-x ux [+ D-x DX] + D-z Y);  W += inc;  gK += p^n inc
    c, d = tuple(r.s[:4]), tuple(r.s[4:])
    dx = dx_minus(r, 0, c)
    if strip:
        dx = dx + dx_minus(r, 6, c)
    dz = dz_minus(r, 1, d)
    inc = r.load(2) * (dx + dz)
    r.store(3, r.load(3) + inc)
    r.store(4, r.load(4) + r.load(5) * inc)


def _adj_w_strip_body(r: Row) -> None:
    _adj_w_body(r, strip=True)


def _zstrip_body(dz, pressure: bool):
    """C-PML of a z strip: ``psi <- bz psi + az dz(A)``, ``out -= C psi`` (and ``data =
    psi`` when given, velocity only). Arrays: A, psi, out, C, az, bz, [data]; ``az``,
    ``bz`` (profiles) and ``data`` have their own bases; scalars d1..d4."""

    def body(r: Row) -> None:
        g = dz(r, 0, tuple(r.s))
        t = r.load(5) * r.load(1) + r.load(4) * g
        r.store(1, t)
        r.store(2, r.load(2) - r.load(3) * t)
        if not pressure and r.has(6):
            r.store(6, t)

    return body


# vz strips: p (D+z), psi_vz, vz, bz;  p strips: vz (D-z), psi_pz, p, K
_vz_zstrip = row_kernel(7, 4, _zstrip_body(dz_plus, False), own_base=(4, 5, 6))
_p_zstrip = row_kernel(6, 4, _zstrip_body(dz_minus, True), own_base=(4, 5))


def _stream_body(r: Row) -> None:
    # arrays: field, data (own base): data = field, past the caches
    r.store(1, r.load(0), stream=True)


_stream_row = row_kernel(2, 0, _stream_body, own_base=(1,))
_vx_row = row_kernel(3, 4, _vx_body)
_vx_rows2 = row_kernel(3, 4, _vx_body, rows=2)  # two rows: the x stencil's loads shared
_vx_strip_row = row_kernel(4, 6, _vx_strip_body)
_vz_row = row_kernel(3, 4, _vz_body)
_adj_ux_row = row_kernel(5, 4, _adj_ux_body, own_base=(3,))
_adj_ux_rows2 = row_kernel(5, 4, _adj_ux_body, own_base=(3,), rows=2)
_adj_ux_near_row = row_kernel(6, 4, _adj_ux_near_body, own_base=(3,))
_adj_uz_row = row_kernel(5, 4, _adj_uz_body, own_base=(0, 3))
_adj_w_row = row_kernel(6, 8, _adj_w_body, own_base=(1, 5))
_adj_w_strip_row = row_kernel(7, 8, _adj_w_strip_body, own_base=(1, 5))
_p_row = row_kernel(4, 8, _p_body)
_p_strip_row = row_kernel(5, 10, _p_strip_body)


# ============================================================================ passes (prange)
# Loop form that LLVM vectorises (measured here: about 7x faster than 2-D indexing, and
# without the per-row cost of creating array views): every array is passed as its flat
# view (ravelled once, in the serial drivers: ``ravel`` inside a parallel function may
# return a copy) and indexed with np.uint64 ``q = row_start + k``, k = 0, 1, ...; the
# neighbours of ``q`` are ``q +- 1..4`` along z and ``q +- 1..4 * S`` along x (``S`` = row
# length). Interior loops cover whole rows; the C-PML terms are added by short correction
# loops over the strips (the same linear operator, summed in another order). Arguments
# that may be None (``dvx``: per-step data) select a specialisation at compile time.


def _fwd_v_pass(
    pf, vxf, vzf, mxf, mzf, bxf, bzf, cx, cz, axh, bxh, azh, bzh, xh, zh, nxe, pz1, fs,
    sf, op, ox, oz, nsz, S, r0, r1, ftz,
):  # fmt: skip  # pragma: no cover
    """Velocity sub-step on rows ``[r0, r1)``, two rows per iteration (the x stencil of
    ``vx`` loads the rows of ``p`` once for both when neither is in an x strip).

    With per-step data ``sf`` it also keeps, for the gradient, the pressure of this
    step (``sf[op:]``, whole rows) and the updated C-PML memory variables of the
    velocities (x strips at ``sf[ox:]``, z strips at ``sf[oz:]``, ``nsz`` per row).
    """
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    vz1 = zh[3]
    n = np.uint64(pz1 - H)
    nv = np.uint64(vz1 - H)
    for ii in prange((r1 - r0 + 1) // 2):
        i0 = r0 + 2 * ii
        i1 = min(i0 + 2, r1)
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        if sf is not None:  # whole vectors from each row's first node (aligned: see setup)
            for i in range(i0, i1):
                b0 = np.uint64(i) * S + _UH
                _stream_row(pf, sf, b0, S, S, op + b0)
        # ---- vx at (i + 1/2, j) from the x-derivative of p
        pair = i1 == i0 + 2 and i0 + 1 < nxe - 1 and not _in(i0, xh) and not _in(i0 + 1, xh)
        if pair:
            _vx_rows2(pf, vxf, bxf, np.uint64(i0) * S + _UH, n, S, c1, c2, c3, c4)
        for i in range(i0, i1):
            row = np.uint64(i) * S
            b0 = row + _UH
            if i + PREFETCH_ROWS < nxe:  # z-strip memory variables of a later row
                prefetch_strip(mzf, row + np.uint64(PREFETCH_ROWS) * S, zh)
            if not pair and i < nxe - 1:
                if _in(i, xh):
                    _vx_strip_row(pf, vxf, bxf, mxf, b0, n, S, c1, c2, c3, c4, axh[i], bxh[i])
                    if sf is not None:
                        base = ox + np.uint64(_strip_index(i, xh)) * S
                        for k in range(S):
                            sf[base + k] = mxf[row + k]
                else:
                    _vx_row(pf, vxf, bxf, b0, n, S, c1, c2, c3, c4)
            # ---- vz at (i, j + 1/2) from the z-derivative of p
            _vz_row(pf, vzf, bzf, b0, nv, S, d1, d2, d3, d4)
            for part in range(2):
                ja = np.uint64(zh[0] if part == 0 else zh[2])
                jb = np.uint64(zh[1] if part == 0 else zh[3])
                zo = np.uint64(0 if part == 0 else zh[1] - zh[0])
                if jb > ja:
                    q = row + ja
                    _vz_zstrip(
                        pf, mzf, vzf, bzf, azh, bzh, sf, q, jb - ja, S, ja, ja,
                        oz + np.uint64(i) * nsz + zo, d1, d2, d3, d4,
                    )  # fmt: skip
            if fs:
                for mm in range(H):
                    vzf[row + np.uint64(vz1 + mm)] = vzf[row + np.uint64(vz1 - 1 - mm)]
        if ftz:
            set_mxcsr(old)


def _fwd_p_pass(
    pf, vxf, vzf, mxf, mzf, kf, cx, cz, axn, bxn, azn, bzn, xn, zn, nxe, pz1, fs, S, r0, r1,
    ftz,
):  # fmt: skip  # pragma: no cover
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    n = np.uint64(pz1 - H)
    for i in prange(r0, r1):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        row = np.uint64(i) * S
        b0 = row + _UH
        if i + PREFETCH_ROWS < nxe:  # z-strip memory variables of a later row
            prefetch_strip(mzf, row + np.uint64(PREFETCH_ROWS) * S, zn)
        if _in(i, xn):
            _p_strip_row(
                pf, vxf, vzf, kf, mxf, b0, n, S, c1, c2, c3, c4, d1, d2, d3, d4, axn[i], bxn[i]
            )
        else:
            _p_row(pf, vxf, vzf, kf, b0, n, S, c1, c2, c3, c4, d1, d2, d3, d4)
        for part in range(2):
            ja = zn[0] if part == 0 else zn[2]
            jb = min(zn[1], pz1) if part == 0 else min(zn[3], pz1)
            if jb > ja:
                q = row + np.uint64(ja)
                _p_zstrip(
                    vzf, mzf, pf, kf, azn, bzn, q, np.uint64(jb - ja), S, np.uint64(ja),
                    np.uint64(ja), d1, d2, d3, d4,
                )  # fmt: skip
        if fs:
            for mm in range(1, H + 1):
                pf[row + np.uint64(pz1 + mm)] = -pf[row + np.uint64(pz1 - mm)]
        if ftz:
            set_mxcsr(old)


def _adj_prex(sf, hf, a, b, of, s, j1, S, r0, r1, ftz):  # pragma: no cover
    """x strips: ``out = a (src - phi)`` (the change of the differentiated field) and
    ``phi <- b (phi - src)``, on the rows of the strips ``s``, columns ``[H, j1)``."""
    n = np.uint64(j1 - H)
    for i in prange(r0, r1):
        if _in(i, s):
            old = get_mxcsr()
            if ftz:
                set_mxcsr(old | FTZ_DAZ)
            ai = a[i]
            bi = b[i]
            b0 = np.uint64(i) * S + _UH
            for k in range(n):
                q = b0 + k
                x = sf[q]
                y = hf[q]
                of[q] = ai * (x - y)
                hf[q] = bi * (y - x)
            if ftz:
                set_mxcsr(old)


@njit(inline="always", **NUMBA_OPTIONS)
def _scratch_row(f, phi, a, b, z, out, row, orow, S):  # pragma: no cover
    """The row of ``f`` starting at ``row`` into the scratch row at ``orow``, with
    ``f + a (f - Phi)`` in the z strips ``z``, and ``Phi <- b (Phi - f)`` there: the
    input of an adjoint z derivative (see the module docstring)."""
    for k in range(S):
        out[orow + k] = f[row + k]
    for part in range(2):
        sa = np.uint64(z[0] if part == 0 else z[2])
        sb = np.uint64(z[1] if part == 0 else z[3])
        for k in range(sb - sa):
            j = sa + k
            q = row + j
            x = f[q]
            y = phi[q]
            out[orow + j] = x + a[j] * (x - y)
            phi[q] = b[j] * (y - x)


def _adj_u_pass(
    wf, ef, uxf, uzf, hf, zzf, bxf, bzf, cx, cz, azn, bzn, xn, zn, xh, zh, nxe, pz1, fs,
    sf, op, ox, oz, nsz, gxf, gzf, R, S, r0, r1, ftz,
):  # fmt: skip  # pragma: no cover
    """Transpose of the pressure sub-step: ``U += B dt D+ Z`` with ``Z = W + delta``.

    ``delta = a (W - Phi)`` is non-zero only in the strips: along x it was stored in
    ``DX`` by :func:`_adj_prex` (added as a second stencil on rows near the strips); along
    z each row of ``Z`` is built in the scratch row ``zzf`` before ``Phi`` is updated.

    With the updated ``U`` it accumulates the buoyancy terms ``G += U (D+ p^n + psi^n)``
    (``p^n`` and the forward C-PML memory ``psi^n`` from the per-step data ``sf``); the
    velocity increment of step n is ``-B dt (D+ p^n + psi^n)`` plus forces.
    """
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    vz1 = zn[3] - 1
    n = np.uint64(pz1 - H)
    nv = np.uint64(vz1 - H)
    for ii in prange((r1 - r0 + 1) // 2):
        i0 = r0 + 2 * ii
        i1 = min(i0 + 2, r1)
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        # ux of two rows at once (their x stencils share the loaded rows) unless near
        # an x strip
        pair = i1 == i0 + 2 and i0 + 1 < nxe - 1
        pair = pair and not _near(i0, xn, 3, 4) and not _near(i0 + 1, xn, 3, 4)
        if pair:
            b0 = np.uint64(i0) * S + _UH
            _adj_ux_rows2(wf, uxf, bxf, sf, gxf, b0, n, S, op + b0, c1, c2, c3, c4)
        for i in range(i0, i1):
            row = np.uint64(i) * S
            b0 = row + _UH
            if i + PREFETCH_ROWS < nxe:  # z-strip memory variables of a later row
                prefetch_strip(hf, row + np.uint64(PREFETCH_ROWS) * S, zn)
            if i + STORE_PREFETCH_ROWS < nxe:  # the stored pressure of a later row
                prefetch_rows(sf, op + np.uint64(i + STORE_PREFETCH_ROWS) * S, S)
            p0 = op + b0  # the stored pressure of this row
            if i < nxe - 1:
                if pair:
                    pass  # updated above
                elif _near(i, xn, 3, 4):
                    _adj_ux_near_row(wf, uxf, bxf, sf, gxf, ef, b0, n, S, p0, c1, c2, c3, c4)
                else:
                    _adj_ux_row(wf, uxf, bxf, sf, gxf, b0, n, S, p0, c1, c2, c3, c4)
                if _in(i, xh):
                    base = ox + np.uint64(_strip_index(i, xh)) * S + _UH
                    for k in range(n):
                        gxf[b0 + k] += uxf[b0 + k] * sf[base + k]
            # z derivative of Z = W + delta: a copy of the row of W in a scratch row (of the
            # R rows of zzf: one per row in flight), modified in the z strips
            zr = np.uint64(i % R + 1) * S  # (row 0 of zzf is a margin)
            _scratch_row(wf, hf, azn, bzn, zn, zzf, row, zr, S)
            _adj_uz_row(zzf, uzf, bzf, sf, gzf, b0, nv, S, zr + _UH, p0, d1, d2, d3, d4)
            for part in range(2):
                ja = np.uint64(zh[0] if part == 0 else zh[2])
                jb = np.uint64(zh[1] if part == 0 else zh[3])
                base = oz + np.uint64(i) * nsz + np.uint64(0 if part == 0 else zh[1] - zh[0])
                for k in range(jb - ja):
                    q = row + ja + k
                    gzf[q] += uzf[q] * sf[base + k]
            if fs:
                for mm in range(H):
                    uzf[row + np.uint64(vz1 + mm)] = uzf[row + np.uint64(vz1 - 1 - mm)]
        if ftz:
            set_mxcsr(old)


def _adj_w_pass(
    uxf, ef, uzf, hf, yzf, wf, kf, cx, cz, azh, bzh, xh, zh, nxe, pz1, fs, sf, op, gkf,
    R, S, r0, r1, ftz,
):  # fmt: skip  # pragma: no cover
    """Transpose of the velocity sub-step: ``W += K dt D- Y`` with ``Y = U + delta``.

    Also accumulates ``gK += p^n dW`` (``dW`` = this increment; summed over the steps
    this equals ``sum W^{n+1} (p^{n+1} - p^n)``, by parts).
    """
    c1, c2, c3, c4 = cx[0], cx[1], cx[2], cx[3]
    d1, d2, d3, d4 = cz[0], cz[1], cz[2], cz[3]
    n = np.uint64(pz1 - H)
    for i in prange(r0, r1):
        old = get_mxcsr()
        if ftz:
            set_mxcsr(old | FTZ_DAZ)
        row = np.uint64(i) * S
        b0 = row + _UH
        if i + PREFETCH_ROWS < nxe:  # z-strip memory variables of a later row
            prefetch_strip(hf, row + np.uint64(PREFETCH_ROWS) * S, zh)
        p0 = op + b0
        # z derivative of Y = U + delta: a copy of the row of uz in a scratch row (as in
        # the U pass), modified in the z strips
        yr = np.uint64(i % R + 1) * S  # (row 0 of yzf is a margin)
        _scratch_row(uzf, hf, azh, bzh, zh, yzf, row, yr, S)
        ym = yr + _UH
        if _near(i, xh, 4, 3):
            _adj_w_strip_row(
                uxf, yzf, kf, wf, gkf, sf, ef, b0, n, S, ym, p0, c1, c2, c3, c4, d1, d2, d3, d4
            )
        else:
            _adj_w_row(uxf, yzf, kf, wf, gkf, sf, b0, n, S, ym, p0, c1, c2, c3, c4, d1, d2, d3, d4)
        if fs:
            for mm in range(1, H + 1):
                wf[row + np.uint64(pz1 + mm)] = -wf[row + np.uint64(pz1 - mm)]
        if ftz:
            set_mxcsr(old)


# ============================================================================ time loops
# One sweep per step over blocks of ``blk`` rows: the velocity update of rows
# [r, r + blk) is followed by the pressure update of rows [r - 4, r + blk - 4), which only
# needs velocities already updated and pressures no later velocity update reads. With a
# small block (serial runs) the rows are still in cache when the second update reads
# them: each array crosses the memory bus once per step instead of twice. With a block
# covering the grid (parallel runs) this is the plain two-pass step.
#
# A forward sweep may advance several steps (``fuse``; serial runs): step ``n + k``'s
# velocity and pressure updates follow ``2 k H`` and ``(2 k + 1) H`` rows behind the
# first velocity update (a wavefront in time), so each array crosses the memory bus once
# per sweep. Sources act on the rows of a block as the block is swept, after the last
# sub-step that reads their old values: every cell sees the same operations in the same
# order as with one step per sweep.
#
# The drivers take flat (ravelled) arrays prepared in Python, and point positions as
# flat indices: ``ravel`` inside compiled code that calls parallel passes lost writes
# here (numba 0.6x), so no view is created in compiled code.
#
# Per-step data (one slot of ``L`` values per step, see ``AcousticPropagator.setup``):
# the pressure p^n (``ncell`` values, whole arrays), then the velocity C-PML memory
# variables of the x strips (``nsx`` rows) and of the z strips (``nsz`` per row).


@njit(**NUMBA_OPTIONS)
def _slot_offsets(slot, slot_len, ncell, nxs):  # pragma: no cover
    """Flat offsets of the per-step data of step ``slot`` in the store: the pressure
    (``ncell`` values), the x strips' memory variables (``nxs`` values), the z strips'."""
    op = np.uint64(slot * slot_len)
    ox = op + np.uint64(ncell)
    return op, ox, ox + np.uint64(nxs)


@njit(**NUMBA_OPTIONS)
def _mirror_flat(f, r0, r1, S, top, sign, stagger):  # pragma: no cover
    """Mirror rows ``[r0, r1)`` of a flat field above the free surface (column ``top``)."""
    for i in range(r0, r1):
        row = i * S
        if stagger == 0:
            for m in range(1, H + 1):
                f[row + top + m] = sign * f[row + top - m]
        else:
            for m in range(H):
                f[row + top + m] = sign * f[row + top - 1 - m]


def _forward_loop(
    n0, n1, pf, vxf, vzf, mvxf, mvzf, mpxf, mpzf, kf, bxf, bzf, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, pz1, fs, ncols, nrows,
    sp_q, sp_w, sp_k, stf_p, sv_c, sv_q, sv_w, sv_k, stf_v,
    g_c, g_t, s_ptr, s_q, s_w, s_g, acc, raw, sfl, slot_len, nsx, nsz, blk, fuse, ftz,
):  # fmt: skip  # pragma: no cover
    old = get_mxcsr()
    if ftz:
        set_mxcsr(old | FTZ_DAZ)
    if fs:
        _mirror_flat(pf, 0, nrows, ncols, pz1, -1.0, 0)
        _mirror_flat(vzf, 0, nrows, ncols, pz1, 1.0, 1)
    S = np.uint64(ncols)
    ncell = ncols * nrows
    usz = np.uint64(nsz)
    sv_r = sv_q // ncols  # rows of the source points
    sp_r = sp_q // ncols
    n = n0
    while n < n1:
        nk = min(fuse, n1 - n)  # steps in this sweep
        r = np.int64(H)  # not Literal[int]: one compiled callee signature
        while r < nxe + (2 * nk - 1) * H:
            for k in range(nk):
                op, ox, oz = _slot_offsets(n + k - n0, slot_len, ncell, nsx * ncols)
                v0, v1, q0, q1 = sweep_rows(r, blk, k, nxe)
                if v1 > v0:
                    i0, i1 = row_range(v0, v1, H, nxe, nrows)
                    # forces at t_{n+k} on these rows, before their velocity update
                    inject(vzf, vxf, vzf, sv_c, sv_q, sv_r, sv_w, sv_k, stf_v, n + k, i0, i1)
                    # records of these rows while they are in cache: pressure at t_n
                    # before the velocity update reads it, velocities at t_{n+1/2} after it
                    gather_rows(pf, s_ptr[0], s_q, s_w, s_g, acc[k], i0, i1)
                    _fwd_v_pass(
                        pf, vxf, vzf, mvxf, mvzf, bxf, bzf, cx, cz, axh, bxh, azh, bzh, xh, zh,
                        nxe, pz1, fs, sfl, op, ox, oz, usz, S, v0, v1, ftz,
                    )  # fmt: skip
                    gather_rows(vxf, s_ptr[1], s_q, s_w, s_g, acc[k], i0, i1)
                    gather_rows(vzf, s_ptr[2], s_q, s_w, s_g, acc[k], i0, i1)
                if q1 > q0:
                    _fwd_p_pass(
                        pf, vxf, vzf, mpxf, mpzf, kf, cx, cz, axn, bxn, azn, bzn, xn, zn, nxe,
                        pz1, fs, S, q0, q1, ftz,
                    )  # fmt: skip
                    # pressure (volume) sources at t_{n+k+1/2} on these rows, after their
                    # update; refresh the image of the touched rows
                    i0, i1 = row_range(q0, q1, H, nxe, nrows)
                    for q in range(sp_q.size):
                        if sp_r[q] >= i0 and sp_r[q] < i1:
                            pf[sp_q[q]] += sp_w[q] * stf_p[sp_k[q], n + k]
                            if fs:
                                i = sp_r[q]
                                _mirror_flat(pf, i, i + 1, ncols, pz1, -1.0, 0)
            r += blk
        for k in range(nk):
            for g in range(g_c.size):
                raw[g_c[g], g_t[g], n + k] += acc[k, g]
                acc[k, g] = 0.0
        n += nk
    set_mxcsr(old)


def _adjoint_loop(
    n1, n0, wf, uxf, uzf, hvxf, hvzf, hpxf, hpzf, zxf, yxf, zzf, yzf, kf, bxf, bzf, cx, cz,
    axn, bxn, axh, bxh, azn, bzn, azh, bzh, xn, xh, zn, zh, nxe, pz1, fs, ncols, nrows,
    sv_c, sv_q, sv_f, sv_k, stf_v, g_c, g_t, s_ptr, s_q, s_w, s_g, inj2, raw_adj,
    sfl, slot_len, nsx, nsz, gkf, gxf, gzf, blk, fuse, ftz,
):  # fmt: skip  # pragma: no cover
    """Adjoint steps ``n1-1 .. n0``. One sweep over the rows takes ``fuse`` steps
    (``n, n - 1, ...``), each lagging the one before as in the forward sweeps
    (:func:`sweep_rows`). The x-strip input change of W (``_adj_prex``, row-local) is
    made for the first step of a sweep before it, and for each later step on the rows
    the W transpose of the step before has just finished (the U transpose of that step
    has read them by then, and the next step's reads them only after). Receiver
    injections (``inj2``: ``(fuse, ng)`` scratch) and force terms act on each block of
    rows as it is swept; every cell sees the same operations in the same order as with
    one step per sweep, so the results are the same to the bit."""
    old = get_mxcsr()
    if ftz:
        set_mxcsr(old | FTZ_DAZ)
    if fs:
        _mirror_flat(wf, 0, nrows, ncols, pz1, -1.0, 0)
        _mirror_flat(uzf, 0, nrows, ncols, pz1, 1.0, 1)
    S = np.uint64(ncols)
    R = zzf.size // ncols - 2  # scratch rows: 1 (serial) or one per row (parallel)
    ncell = ncols * nrows
    usz = np.uint64(nsz)
    sv_r = sv_q // ncols  # rows of the force points
    n = n1 - 1
    while n >= n0:
        nk = min(fuse, n - n0 + 1)  # steps n, n - 1, ..., n - nk + 1 in this sweep
        sweep_adjoint_sources(inj2, raw_adj, g_c, g_t, n, nk)
        # x strips of the pressure adjoint (read by the U updates) of the sweep's first
        # step, before it
        _adj_prex(wf, hpxf, axn, bxn, zxf, xn, pz1, S, xn[0], xn[3], ftz)
        r = np.int64(H)  # not Literal[int]: one compiled callee signature
        while r < nxe + (2 * nk - 1) * H:
            for k in range(nk):
                m = n - k  # the step
                inj = inj2[k]
                op, ox, oz = _slot_offsets(m - n0, slot_len, ncell, nsx * ncols)
                v0, v1, q0, q1 = sweep_rows(r, blk, k, nxe)
                if v1 > v0:
                    # adjoint of the velocity records at t_{m+1/2} (before anything reads
                    # these rows of U)
                    i0, i1 = row_range(v0, v1, H, nxe, nrows)
                    scatter_rows(uxf, bxf, s_ptr[1], s_q, s_w, s_g, inj, i0, i1)
                    scatter_rows(uzf, bzf, s_ptr[2], s_q, s_w, s_g, inj, i0, i1)
                    _adj_u_pass(
                        wf, zxf, uxf, uzf, hpzf, zzf, bxf, bzf, cx, cz, azn, bzn, xn, zn, xh,
                        zh, nxe, pz1, fs, sfl, op, ox, oz, usz, gxf, gzf, R, S, v0, v1, ftz,
                    )  # fmt: skip
                    _adj_prex(uxf, hvxf, axh, bxh, yxf, xh, pz1, S, v0, v1, ftz)
                    # forces are part of the velocity increment: G holds
                    # U (D+ p + psi - f), with U of step m (final on these rows now)
                    for q in range(sv_c.size):
                        if sv_r[q] >= i0 and sv_r[q] < i1:
                            kq = sv_q[q]
                            val = sv_f[q] * stf_v[sv_k[q], m]
                            if sv_c[q] == 1:
                                gxf[kq] -= uxf[kq] * val
                            else:
                                gzf[kq] -= uzf[kq] * val
                if q1 > q0:
                    _adj_w_pass(
                        uxf, yxf, uzf, hvzf, yzf, wf, kf, cx, cz, azh, bzh, xh, zh, nxe, pz1,
                        fs, sfl, op, gkf, R, S, q0, q1, ftz,
                    )  # fmt: skip
                    # adjoint of the pressure records at t_m (after the W update of these
                    # rows: the U updates needed the adjoint of p^{m+1} without it)
                    i0, i1 = row_range(q0, q1, H, nxe, nrows)
                    for i in range(i0, i1):
                        k0, k1 = s_ptr[0, i], s_ptr[0, i + 1]
                        for kk in range(k0, k1):
                            v = inj[s_g[kk]]
                            for mm in range(SEGMENT):
                                q = s_q[kk] + np.uint64(mm)
                                inc = kf[q] * (s_w[kk, mm] * v)
                                wf[q] += inc
                                gkf[q] += sfl[op + q] * inc
                        if fs and k1 > k0:
                            _mirror_flat(wf, i, i + 1, ncols, pz1, -1.0, 0)
                    if k < nk - 1:  # the next step's x-strip input change, on these rows
                        _adj_prex(wf, hpxf, axn, bxn, zxf, xn, pz1, S, q0, q1, ftz)
            r += blk
        n -= nk
    set_mxcsr(old)


_SERIAL, _PARALLEL = compile_variants(
    globals(),
    parallel=("_fwd_v_pass", "_fwd_p_pass", "_adj_prex", "_adj_u_pass", "_adj_w_pass"),
    drivers=("_forward_loop", "_adjoint_loop"),
)

#: Rows per block of the fused sweep in serial runs (parallel runs use one block).
SERIAL_BLOCK = 16

#: Time steps per sweep of a serial forward run (parallel runs: one).
SERIAL_FUSE = 2

#: Time steps per sweep of a serial adjoint run (parallel runs: one).
SERIAL_ADJOINT_FUSE = 16


# ============================================================================ propagator

_SOURCE_KINDS = ("pressure", "explosion", "force")

#: A pressure source under the free surface is reported when it radiates less than
#: this fraction of a deep source's amplitude (:func:`surface_source_amplitude`).
SURFACE_SOURCE_MIN_AMPLITUDE = 0.5


def image_cancelled(prop: Any, source: Any, depth: float) -> tuple[float, float, float] | None:
    """``(amplitude, depth needed, frequency)`` when ``source``, ``depth`` metres under
    a pressure-release free surface, radiates at most :data:`SURFACE_SOURCE_MIN_AMPLITUDE`
    of a deep source (:func:`surface_source_amplitude` at its dominant frequency and the
    ``vp`` of its nearest node in ``prop.internal``); else ``None``, also for a silent
    source (reported as such) and a force without a horizontal part (a vertical force's
    image adds to it)."""
    if source.stf.is_silent() or (source.kind == "force" and not source.fx):
        return None
    g = prop.layout.grid
    f = source.stf.dominant_frequency(prop.dt)
    i = min(max(round((source.x - g.x0) / g.dx), 0), g.nx - 1)
    j = min(max(round((source.z - g.z0) / g.dz), 0), g.nz - 1)
    wavelength = float(prop.internal["vp"][i, j]) / f
    amp = surface_source_amplitude(max(depth, 0.0), wavelength)
    if amp >= SURFACE_SOURCE_MIN_AMPLITUDE:
        return None
    need = wavelength * math.asin(SURFACE_SOURCE_MIN_AMPLITUDE / 2) / (2 * math.pi)
    return amp, need, f


def surface_source_amplitude(depth: float, wavelength: float) -> float:
    """Largest far-field amplitude of a pressure source ``depth`` under a
    pressure-release surface, relative to the same source far from it.

    With its negative image ``2 depth`` above it, the source radiates
    ``|2 sin(k depth cos(theta))|`` times the free-space amplitude (``k = 2 pi /
    wavelength``, ``theta`` from the vertical): at most ``2 sin(k depth)`` (straight
    down) while ``k depth <= pi/2``, 2 beyond, and 0 for a source on the surface.

    Parameters
    ----------
    depth
        Distance of the source below the surface (m), >= 0.
    wavelength
        Wavelength at the source's dominant frequency (m), > 0.

    Returns
    -------
    float
        The amplitude ratio, in ``[0, 2]``.
    """
    kd = 2.0 * math.pi * depth / wavelength
    return 2.0 * math.sin(min(kd, 0.5 * math.pi))


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

    @classmethod
    def internal_values(cls, model: Model, parametrization: str) -> dict[str, np.ndarray]:
        """``vp``, ``rho`` and ``kappa`` (float64) from the model.

        The model holds ``vp`` and ``rho`` or ``kappa`` and ``rho``; when it holds both
        ``vp`` and ``kappa``, the one of the chosen parametrization is used (``vp`` for
        ``velocity``, ``kappa`` for ``lame`` and ``bulk``) and the other is ignored (as in
        the elastic solver): the kernels are derivatives with respect to the values used.
        """
        names = set(model)
        if "rho" not in names or not ({"vp", "kappa"} & names):
            raise DataError(
                "the acoustic solver needs 'vp' and 'rho' (or 'kappa' and 'rho') in the model; "
                f"it has: {', '.join(model) or 'nothing'}"
            )
        wanted = cls.parametrizations[parametrization][0]
        use = wanted if wanted in names else ({"vp", "kappa"} - {wanted}).pop()
        rho = np.asarray(model["rho"], dtype=np.float64)
        value = np.asarray(model[use], dtype=np.float64)
        for name, a in (("rho", rho), (use, value)):
            if not np.all(np.isfinite(a)) or not np.all(a > 0):
                raise DataError(f"model parameter '{name}' must be finite and positive everywhere")
        if use == "vp":
            vp, kappa = value, rho * value * value
        else:
            vp, kappa = np.sqrt(value / rho), value
        return {"vp": vp, "rho": rho, "kappa": kappa}

    def check(self) -> list[str]:
        """The checks of every solver, and a warning for each pressure (explosion) source
        so close under the pressure-release free surface that its negative image cancels
        most of what it radiates (see :func:`surface_source_amplitude`); likewise for the
        horizontal part of a force, whose image is the opposite force (a vertical force's
        image is the same force: it radiates up to twice as much)."""
        out = super().check()
        if not self.layout.free_surface:
            return out
        g = self.layout.grid
        for k, s in enumerate(self.event.sources):
            depth = max(g.z[-1] - s.z, 0.0)
            weak = image_cancelled(self, s, depth)
            if weak is not None:
                amp, need, f = weak
                what = "its negative image cancels it, so it radiates"
                advice = "or use a vertical force (fz)"
                if s.kind == "force":
                    what = (
                        "the image of its horizontal part (fx) cancels that part, which radiates"
                    )
                    advice = "or make it vertical (fz: its image adds to it)"
                out.append(
                    f"event '{self.event.name}': source {k} ({s.kind} at x={s.x:g}, "
                    f"z={s.z:g}) is {depth:.3g} m ({depth / g.dz:.2g} cells) under the "
                    f"pressure-release free surface: {what} at most {amp:.0%} of the "
                    f"amplitude of a deep source at {f:.3g} Hz (nothing on the surface); "
                    f"place it at least {need:.3g} m down, {advice}"
                )
        return out

    def stability_moduli(self) -> dict[str, np.ndarray]:
        return {k: self.internal[k] for k in ("kappa", "rho")}

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
        kdt = np.where(kmask, lay.embed(self.kappa_pad * dt, np.float64), 0.0)
        bx = np.zeros((NX, NZ))
        bx[:-1, :] = 2.0 / (self.rho_pad[:-1, :] + self.rho_pad[1:, :])
        bz = np.zeros((NX, NZ))
        bz[:, :-1] = 2.0 / (self.rho_pad[:, :-1] + self.rho_pad[:, 1:])
        bxdt = np.where(lay.state_mask((1, 0)), lay.embed(bx * dt, np.float64), 0.0)
        bzdt = np.where(lay.state_mask((0, 1)), lay.embed(bz * dt, np.float64), 0.0)
        self.kdt, self.bxdt, self.bzdt = aligned_copies([kdt, bxdt, bzdt], dtype)
        self.setup_stencil_tables()
        self.pz1 = HALO + NZ - 1 if lay.free_surface else HALO + NZ
        # per-step data for the gradient: p^n (whole array), then the velocity C-PML
        # memory of the x strips (nsx rows) and of the z strips (nsz values per row)
        xh, zh = self.profiles.x_half, self.profiles.z_half
        self.nsx = (xh[1] - xh[0]) + (xh[3] - xh[2])
        self.nsz = (zh[1] - zh[0]) + (zh[3] - zh[2])
        nrows, ncols = lay.shape
        slot = nrows * ncols + self.nsx * ncols + nrows * self.nsz
        self.slot_len = round_up(slot, ROW_MULTIPLE)  # every slot aligned
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
        ncols = self.layout.shape[1]
        flat = lambda i, j: np.asarray(i, i64) * ncols + np.asarray(j, i64)  # noqa: E731
        # flat array indices, weights (float64, times kappa dt or b dt), time-function rows
        self.sp = (flat(pi, pj), np.asarray(pw), np.asarray(pk, i64))
        self.sv = (np.asarray(vc, i64), flat(vi, vj), np.asarray(vw), np.asarray(vk, i64))
        # the same weights without the factor b dt (for the adjoint's force terms)
        self.sv_f = np.zeros(0)
        if vc:
            q = self.sv[1]
            bq = np.where(
                self.sv[0] == 1, self.bxdt.reshape(-1)[q], self.bzdt.reshape(-1)[q]
            ).astype(np.float64)
            self.sv_f = np.asarray(vw) / bq
        nt = self.nt
        fix = self.params.correct_time_dispersion
        self.stf_p = source_time_table(p_srcs, nt, self.dt, half_step=True, correct_dispersion=fix)
        self.stf_v = source_time_table(
            v_srcs, nt, self.dt, half_step=False, correct_dispersion=fix
        )
        if not p_srcs:
            self.stf_p = np.zeros((1, nt))
        if not v_srcs:
            self.stf_v = np.zeros((1, nt))

    def _setup_receivers(self) -> None:
        ops = [self.receiver_ops[ch] for ch in self.raw_channels]
        rc = np.concatenate([np.full(op.point.size, c) for c, op in enumerate(ops)])
        rt, ri, rj, rw = (
            np.concatenate([getattr(op, a) for op in ops]) for a in ("point", "i", "j", "w")
        )
        nch = len(self.raw_channels)
        self.rec = receiver_taps(rc, rc, rt, ri, rj, rw, self.layout.shape, nch)
        self.no_rec = receiver_taps([], [], [], [], [], [], self.layout.shape, nch)

    # ------------------------------------------------------------------ state

    def source_tables(self) -> list[np.ndarray]:
        return [self.stf_p, self.stf_v]

    def new_state(self) -> dict[str, np.ndarray]:
        shape, dtype = self.layout.shape, self.dtype
        return aligned_fields(("p", "vx", "vz", "mvx", "mvz", "mpx", "mpz"), shape, dtype)

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
        return (self.slot_len,)

    def _ns(self) -> dict[str, Any]:
        return _SERIAL if self.params.threads <= 1 else _PARALLEL

    def _block(self) -> int:
        return SERIAL_BLOCK if self.params.threads <= 1 else self.layout.shape[0]

    def _fuse(self) -> int:
        return SERIAL_FUSE if self.params.threads <= 1 else 1

    def _adjoint_fuse(self) -> int:
        return SERIAL_ADJOINT_FUSE if self.params.threads <= 1 else 1

    def _ftz(self) -> bool:
        return bool(self.params.flush_denormals and ftz_enabled())

    # ------------------------------------------------------------------ time loops

    def forward_steps(
        self,
        state: dict[str, np.ndarray],
        n0: int,
        n1: int,
        raw: np.ndarray | None,
        store: np.ndarray | None,
    ) -> None:
        dtype = self.dtype
        if store is not None and (store.ctypes.data + HALO * store.itemsize) % ALIGN_BYTES:
            # the pressure is streamed into it in whole aligned vectors
            raise SolverError("per-step data must be allocated by new_store (aligned rows)")
        rec = self.rec if raw is not None else self.no_rec
        raw = raw if raw is not None else NO_RAW
        s = self.source_scale
        sp_q, sp_w, sp_k = self.sp
        sv_c, sv_q, sv_w, sv_k = self.sv
        xn, xh, zn, zh = self.strips
        f = {k: state[k].reshape(-1) for k in ("p", "vx", "vz", "mvx", "mvz", "mpx", "mpz")}
        nrows, ncols = self.layout.shape
        self._ns()["_forward_loop"](
            n0, n1, f["p"], f["vx"], f["vz"], f["mvx"], f["mvz"], f["mpx"], f["mpz"],
            self.kdt.reshape(-1), self.bxdt.reshape(-1), self.bzdt.reshape(-1), self.cx,
            self.cz, *self.prof, xn, xh, zn, zh, self.nxe, self.pz1, self.layout.free_surface,
            ncols, nrows, sp_q, (sp_w * s).astype(dtype), sp_k, self.stf_p.astype(dtype),
            sv_c, sv_q, (sv_w * s).astype(dtype), sv_k, self.stf_v.astype(dtype), *rec[:6],
            np.zeros((self._fuse(), rec.g_c.size)), raw,
            None if store is None else store.reshape(-1), self.slot_len, self.nsx, self.nsz,
            self._block(), self._fuse(), self._ftz(),
        )  # fmt: skip

    def new_adjoint(self) -> dict[str, np.ndarray]:
        shape, dtype = self.layout.shape, self.dtype
        names = ("W", "ux", "uz", "phvx", "phvz", "phpx", "phpz", "ZX", "YX")
        # scratch rows of the z derivatives: one per row processed at the same time
        # (and a row of margin before and after them: the vector loops load whole
        # aligned vectors around a row's cells)
        rows = 1 if self.params.threads <= 1 else shape[0]
        names = (*names, "ZZ", "YZ", "gK", "Gx", "Gz")
        shapes = [shape] * 9 + [(rows + 2, shape[1])] * 2 + [shape] * 3
        return dict(zip(names, aligned_arrays(shapes, dtype)))

    def adjoint_steps(
        self,
        adj: dict[str, np.ndarray],
        n1: int,
        n0: int,
        store: np.ndarray,
        raw_adj: np.ndarray,
    ) -> None:
        xn, xh, zn, zh = self.strips
        sv_c, sv_q, _, sv_k = self.sv
        dtype = self.dtype
        f = {k: v.reshape(-1) for k, v in adj.items()}
        nrows, ncols = self.layout.shape
        self._ns()["_adjoint_loop"](
            n1, n0, f["W"], f["ux"], f["uz"], f["phvx"], f["phvz"], f["phpx"], f["phpz"],
            f["ZX"], f["YX"], f["ZZ"], f["YZ"], self.kdt.reshape(-1), self.bxdt.reshape(-1),
            self.bzdt.reshape(-1), self.cx, self.cz, *self.prof, xn, xh, zn, zh, self.nxe,
            self.pz1, self.layout.free_surface, ncols, nrows, sv_c, sv_q,
            (self.sv_f * self.source_scale).astype(dtype), sv_k, self.stf_v.astype(dtype),
            *self.rec[:6], np.zeros((self._adjoint_fuse(), self.rec.g_c.size)), raw_adj,
            store.reshape(-1), self.slot_len, self.nsx, self.nsz, f["gK"], f["Gx"], f["Gz"],
            self._block(), self._adjoint_fuse(), self._ftz(),
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
        dkappa = gk / (self.kappa_pad**2 * dt)
        # velocity increment dv = -b dt (D+ p + psi - f): dJ/db = -sum U (D+ p + psi - f) / b;
        # b = 2 / (rho_i + rho_i+1) has db/drho = -b^2 / 2: each velocity point adds
        # b G / 2 to the density gradient of its two nodes
        hx = 0.5 * self.bxdt[sl].astype(np.float64) / dt * adj["Gx"][sl].astype(np.float64)
        hz = 0.5 * self.bzdt[sl].astype(np.float64) / dt * adj["Gz"][sl].astype(np.float64)
        drho = np.zeros_like(gk)
        drho[:-1, :] += hx[:-1, :]
        drho[1:, :] += hx[:-1, :]
        drho[:, :-1] += hz[:, :-1]
        drho[:, 1:] += hz[:, :-1]
        if self.params.parametrization == "velocity":
            return {
                "vp": dkappa * 2.0 * self.rho_pad * self.vp_pad,
                "rho": drho + dkappa * self.vp_pad**2,
            }
        return {"kappa": dkappa, "rho": drho}
