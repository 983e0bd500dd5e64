"""Shared numerics of the ``fd2d`` solver: grid layout, stencils, PML, sources and receivers.

Everything here is material independent; the acoustic and elastic propagators both use it.

Array layout
------------
The user's model grid (``nx`` x ``nz`` nodes, ``z`` up) is extended by ``pml_width`` cells
on every side that has an absorbing layer (the model is continued with its edge values).
The extended ("computational") grid has ``NX`` x ``NZ`` nodes. Every wavefield array has
the shape :attr:`Layout.shape` = ``(NX + 2*HALO, NZ + 2*HALO)``: a halo of
:data:`HALO` = 4 cells on each side holds zeros (or, above a free surface, the mirror
image of the field) so that order-8 stencils never leave the array. Node ``(ix, iz)`` of
the computational grid is array element ``[ix + HALO, iz + HALO]``.

Staggering (array element ``[i, j]``):

* node fields (pressure, normal stresses) sit at ``(i, j)``;
* x-staggered fields (``vx``) at ``(i + 1/2, j)``;
* z-staggered fields (``vz``) at ``(i, j + 1/2)``;
* xz-staggered fields (shear stress) at ``(i + 1/2, j + 1/2)``.

A field component is *state* only at positions inside the computational grid (for
staggered components: between two nodes of the grid). Elsewhere it stays zero, which makes
the truncated stencils exact negative transposes of each other (``<D+ p, v> = -<p, D- v>``).

Staggered derivatives (``c_k`` from :func:`fd_coefficients`, ``L = order/2``):

.. math::

    (D^+ f)_{i+1/2} = \\frac1h \\sum_{k=1}^{L} c_k (f_{i+k} - f_{i+1-k}), \\qquad
    (D^- g)_{i} = \\frac1h \\sum_{k=1}^{L} c_k (g_{i+k-1} - g_{i-k})

where ``g_i`` stands for the value at ``i + 1/2``. Kernels always use four coefficients
(zeros beyond ``L``), so one compiled kernel serves orders 2, 4 and 8.
"""

from __future__ import annotations

import functools
import hashlib
import math
import platform
import types as pytypes
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from seisgrad.errors import ConfigError, SolverError
from seisgrad.model import Grid
from seisgrad.solver.acquisition import Event, PointSource, Receiver

__all__ = [
    "HALO",
    "receiver_taps",
    "prefetch",
    "prefetch_strip",
    "PREFETCH_ROWS",
    "ReceiverTaps",
    "gather_rows",
    "scatter_rows",
    "row_range",
    "NO_RAW",
    "SEGMENT",
    "NUMBA_OPTIONS",
    "fd_coefficients",
    "Layout",
    "PMLProfiles",
    "pml_profiles",
    "multiaxial_profiles",
    "cfl_number",
    "max_stable_dt",
    "max_stable_velocity",
    "default_ppw",
    "kaiser_sinc_weights",
    "PointOperator",
    "point_operator",
    "point_key",
    "frozen_operator",
    "source_time_table",
    "velocity_to_trace",
    "velocity_to_trace_adjoint",
    "displacement_to_trace",
    "displacement_to_trace_adjoint",
    "build_stream",
    "stream_to_arrays",
    "get_mxcsr",
    "set_mxcsr",
    "FTZ_DAZ",
    "ftz_enabled",
    "compile_variants",
]

#: Halo width (cells) around the computational grid in every wavefield array.
HALO = 4

#: Options for every compiled time-loop kernel. ``fastmath`` only allows FMA contraction,
#: reciprocal approximation and ignoring the sign of zero: no reassociation, so results
#: are reproducible and the discrete adjoint stays exact to round-off.
NUMBA_OPTIONS: dict[str, object] = {
    "cache": True,
    "nogil": True,
    "boundscheck": False,
    "error_model": "numpy",
    "fastmath": {"contract", "arcp", "nsz"},
}

_TAYLOR_COEFFS = {
    2: (1.0,),
    4: (9.0 / 8.0, -1.0 / 24.0),
    8: (1225.0 / 1024.0, -245.0 / 3072.0, 49.0 / 5120.0, -5.0 / 7168.0),
}


def fd_coefficients(order: int) -> np.ndarray:
    """Staggered-grid first-derivative coefficients ``c_1..c_4`` (Taylor, zero padded).

    Parameters
    ----------
    order
        Spatial order of accuracy: 2, 4 or 8.

    Returns
    -------
    numpy.ndarray
        Four float64 coefficients; those beyond ``order/2`` are zero.
    """
    if order not in _TAYLOR_COEFFS:
        raise ConfigError(f"parameter 'order': {order!r} is not allowed; choose one of 2, 4, 8")
    c = np.zeros(4)
    c[: order // 2] = _TAYLOR_COEFFS[order]
    return c


# ----------------------------------------------------------------------------- layout

#: bytes of a cache line (and of an AVX-512 vector): the alignment of every grid row
ALIGN_BYTES = 64
#: grid rows are padded to a multiple of this many elements (64 bytes in float32)
ROW_MULTIPLE = 16
#: size of a transparent huge page (x86-64 and most arm64 Linux kernels)
HUGE_PAGE = 2 << 20


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``n``."""
    return -(-n // multiple) * multiple


def row_length(nz: int) -> int:
    """Length of a padded grid row holding ``nz`` computed nodes and the halos.

    A multiple of :data:`ROW_MULTIPLE`, with room after the first computed node (element
    :data:`HALO`) for whole vectors of :data:`ROW_MULTIPLE` elements over the computed
    nodes, and for the halo after them: the explicit-vector loops
    (:mod:`seisgrad.solver.fd2d.simd`) never write outside their own row.
    """
    return round_up(HALO + max(round_up(nz, ROW_MULTIPLE), nz + HALO), ROW_MULTIPLE)


def zeroed_buffer(nbytes: int) -> np.ndarray:
    """``nbytes`` zero bytes (``uint8``) for arrays the time loops sweep.

    From 1 MiB on, a slice that starts on a huge-page boundary of an ``np.empty``
    allocation of at least 4 MiB, which numpy advises for transparent huge pages on
    Linux (``madvise``; ``np.zeros`` is not advised): the dozen megabytes a step
    streams then use a few TLB entries instead of thousands (1-3% faster steps on the
    machine of ``docs/performance.md``). The allocation is numpy's, so ``tracemalloc``
    counts all of it (up to 2 MiB more than used, never touched). The memory is freed
    with the last array using it.
    """
    if nbytes < HUGE_PAGE // 2:
        return np.zeros(nbytes, np.uint8)
    whole = np.empty(max(nbytes + HUGE_PAGE, 2 * HUGE_PAGE), np.uint8)
    start = (-whole.ctypes.data) % HUGE_PAGE
    out = whole[start : start + nbytes]
    out.fill(0)
    return out


def aligned_arrays(shapes: Sequence[tuple[int, ...]], dtype: np.dtype | type) -> list[np.ndarray]:
    """Zero arrays of the given shapes, carved from one allocation, each with its flat
    element ``HALO`` (a row's first computed node) on a cache line.

    With rows padded to :data:`ROW_MULTIPLE` elements (:attr:`Layout.shape`) every
    row's first computed node is then aligned, and so are all the loads of a stencil
    across rows (they are whole rows apart): on the AMD Zen 4 machine of
    ``docs/performance.md`` a forward step ran about 11% faster than with rows of
    548 elements at numpy's default 16-byte alignment, where most 64-byte vector loads
    span two cache lines.

    One allocation (:func:`zeroed_buffer`, huge pages where it can) for all the arrays
    a time loop sweeps together: the wavefields, or the adjoint fields and gradients,
    or the coefficients. Each array keeps the allocation alive (``base``).
    """
    dtype = np.dtype(dtype)
    line = ALIGN_BYTES // dtype.itemsize
    sizes = [int(np.prod(s)) for s in shapes]
    spans = [round_up(n, line) for n in sizes]  # whole cache lines each
    buf = zeroed_buffer((sum(spans) + line) * dtype.itemsize).view(dtype)
    start = ((-(buf.ctypes.data + HALO * dtype.itemsize)) % ALIGN_BYTES) // dtype.itemsize
    out = []
    for shape, n, span in zip(shapes, sizes, spans):
        out.append(buf[start : start + n].reshape(shape))
        start += span
    return out


def aligned_zeros(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """One array as :func:`aligned_arrays` makes them."""
    return aligned_arrays([shape], dtype)[0]


def aligned_fields(
    names: Sequence[str], shape: tuple[int, ...], dtype: np.dtype | type
) -> dict[str, np.ndarray]:
    """``name -> array``: one zero array of ``shape`` per name, in one
    :func:`aligned_arrays` block (a time loop's wavefields, or its adjoint fields)."""
    return dict(zip(names, aligned_arrays([shape] * len(names), dtype)))


def aligned_copies(arrays: Sequence[np.ndarray], dtype: np.dtype | type) -> list[np.ndarray]:
    """Copies of ``arrays`` (converted to ``dtype``) in one :func:`aligned_arrays` block."""
    out = aligned_arrays([a.shape for a in arrays], dtype)
    for o, a in zip(out, arrays):
        o[...] = a
    return out


@dataclass(frozen=True)
class Layout:
    """Computational grid: the model grid plus absorbing layers, and the array layout.

    Parameters
    ----------
    grid
        The user's model grid.
    pml
        Absorbing-layer widths in cells, ``(left, right, bottom, top)``.
    free_surface
        Pressure-release (``p = 0``, traction-free) surface on the top row of nodes.
    """

    grid: Grid
    pml: tuple[int, int, int, int]
    free_surface: bool = False

    def __post_init__(self) -> None:
        if self.free_surface and self.pml[3] > 0:
            raise ConfigError(
                "a free surface sits on the top edge: remove 'top' from pml_sides "
                "or set free_surface: false"
            )

    @property
    def halo(self) -> int:
        return HALO

    @property
    def NX(self) -> int:  # noqa: N802
        """Nodes of the computational grid along x."""
        return self.grid.nx + self.pml[0] + self.pml[1]

    @property
    def NZ(self) -> int:  # noqa: N802
        """Nodes of the computational grid along z."""
        return self.grid.nz + self.pml[2] + self.pml[3]

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of every wavefield array (with halo).

        Rows (along z, contiguous) are padded to a multiple of :data:`ROW_MULTIPLE`
        elements, so that with :func:`aligned_zeros` every row's first computed node
        starts a cache line; the extra columns beyond the halo stay zero.
        """
        return (self.NX + 2 * HALO, row_length(self.NZ))

    @property
    def dx(self) -> float:
        return self.grid.dx

    @property
    def dz(self) -> float:
        return self.grid.dz

    @property
    def model_slice(self) -> tuple[slice, slice]:
        """Array slice of the user's model nodes (in a full wavefield array)."""
        i0 = HALO + self.pml[0]
        j0 = HALO + self.pml[2]
        return (slice(i0, i0 + self.grid.nx), slice(j0, j0 + self.grid.nz))

    @property
    def comp_slice(self) -> tuple[slice, slice]:
        """Array slice of the computational grid nodes (halo removed)."""
        return (slice(HALO, HALO + self.NX), slice(HALO, HALO + self.NZ))

    def pad(self, a: np.ndarray) -> np.ndarray:
        """Extend a model array ``(nx, nz)`` over the absorbing layers (edge values)."""
        left, right, bottom, top = self.pml
        return np.pad(np.asarray(a), ((left, right), (bottom, top)), mode="edge")

    def pad_adjoint(self, g: np.ndarray) -> np.ndarray:
        """Transpose of :meth:`pad`: fold a ``(NX, NZ)`` gradient back onto the model.

        Values in the absorbing layers are copies of edge values, so their gradient is
        added to the edge nodes; the result is the exact gradient with respect to the
        user's model.
        """
        left, right, bottom, top = self.pml
        g = np.asarray(g, dtype=np.float64)
        nx, nz = self.grid.nx, self.grid.nz
        # fold along x
        out = g[left : left + nx, :].copy()
        if left:
            out[0, :] += g[:left, :].sum(axis=0)
        if right:
            out[-1, :] += g[left + nx :, :].sum(axis=0)
        res = out[:, bottom : bottom + nz].copy()
        if bottom:
            res[:, 0] += out[:, :bottom].sum(axis=1)
        if top:
            res[:, -1] += out[:, bottom + nz :].sum(axis=1)
        return res

    def embed(self, a: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
        """Full array (with zero halo) holding ``a`` of shape ``(NX, NZ)``."""
        out = np.zeros(self.shape, dtype=dtype)
        out[self.comp_slice] = a
        return out

    def position(self, x: float, z: float) -> tuple[float, float]:
        """Fractional computational-grid node coordinates of the point ``(x, z)``."""
        g = self.grid
        return ((x - g.x0) / g.dx + self.pml[0], (z - g.z0) / g.dz + self.pml[2])

    def state_ranges(self, stagger: tuple[int, int]) -> tuple[int, int, int, int]:
        """Array index ranges ``(i0, i1, j0, j1)`` where a component is state.

        ``stagger`` is ``(sx, sz)`` with 1 for a half-cell shift along that axis. With a
        free surface, node fields on the top row are fixed to zero (not state), and
        z-staggered fields above the top row are mirror images (not state).
        """
        sx, sz = stagger
        i0, j0 = HALO, HALO
        i1 = HALO + self.NX - sx
        j1 = HALO + self.NZ - sz
        if self.free_surface and sz == 0:
            j1 = HALO + self.NZ - 1
        return i0, i1, j0, j1

    def state_mask(self, stagger: tuple[int, int]) -> np.ndarray:
        """Boolean array (full shape) that is true where a component is state."""
        i0, i1, j0, j1 = self.state_ranges(stagger)
        m = np.zeros(self.shape, dtype=bool)
        m[i0:i1, j0:j1] = True
        return m


# ----------------------------------------------------------------------------- PML


@dataclass(frozen=True)
class PMLProfiles:
    """C-PML recursion coefficients along each axis (full array length, zero outside).

    For a derivative ``d`` at a point inside a layer, the memory variable is updated as
    ``psi <- b*psi + a*d`` and the derivative used is ``d + psi`` (``kappa = 1``).

    ``ax_node[i]`` is for array row ``i`` at nodes, ``ax_half[i]`` at ``i + 1/2``, and the
    same along z (array column ``j``). ``x_rows_node`` etc. are the array index ranges
    ``((lo0, hi0), (lo1, hi1))`` of the two strips (empty ranges when a side has no layer).
    """

    ax_node: np.ndarray
    bx_node: np.ndarray
    ax_half: np.ndarray
    bx_half: np.ndarray
    az_node: np.ndarray
    bz_node: np.ndarray
    az_half: np.ndarray
    bz_half: np.ndarray
    x_node: tuple[int, int, int, int]
    x_half: tuple[int, int, int, int]
    z_node: tuple[int, int, int, int]
    z_half: tuple[int, int, int, int]


def _axis_profile(
    n: int,
    w_lo: int,
    w_hi: int,
    h: float,
    dt: float,
    vmax: float,
    f0: float,
    reflection: float,
    power: float,
    half: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` along one axis (array length ``n + 2*HALO``)."""
    a = np.zeros(n + 2 * HALO)
    b = np.zeros(n + 2 * HALO)
    pos = np.arange(n) + (0.5 if half else 0.0)
    dist = np.zeros(n)
    if w_lo > 0:
        lo = pos < w_lo
        dist[lo] = (w_lo - pos[lo]) / w_lo
    if w_hi > 0:
        edge = n - 1 - w_hi
        hi = pos > edge
        dist[hi] = (pos[hi] - edge) / w_hi
    inside = dist > 0
    if not inside.any():
        return a, b
    width = np.where(pos < n / 2, w_lo, w_hi) * h
    width = np.where(width > 0, width, 1.0)
    d0 = (power + 1.0) * vmax * math.log(1.0 / reflection) / (2.0 * width)
    d = d0 * dist**power
    alpha = math.pi * f0 * (1.0 - dist)
    bb = np.exp(-(d + alpha) * dt)
    aa = np.where(d + alpha > 0, d * (bb - 1.0) / np.where(d + alpha > 0, d + alpha, 1.0), 0.0)
    a[HALO : HALO + n] = np.where(inside, aa, 0.0)
    b[HALO : HALO + n] = np.where(inside, bb, 0.0)
    return a, b


def _strip_ranges(n: int, w_lo: int, w_hi: int, half: bool) -> tuple[int, int, int, int]:
    """Array index ranges ``(lo0, lo1, hi0, hi1)`` of the two absorbing strips."""
    if half:  # positions i + 1/2, i in [0, n - 1)
        return (HALO, HALO + w_lo, HALO + n - 1 - w_hi, HALO + n - 1)
    return (HALO, HALO + w_lo, HALO + n - w_hi, HALO + n)


#: Default strength of the C-PML per cell: ``R = exp(-PML_STRENGTH * width)``.
PML_STRENGTH = 0.9


def default_pml_reflection(width: int) -> float:
    """Theoretical reflection coefficient used when ``pml_reflection`` is null:
    ``exp(-0.9 W)`` for a layer of ``W`` cells (1.2e-4 for 10, 1.5e-8 for 20).

    ``ln(1/R) / W`` is the damping per cell, so the same value keeps the profile as
    smooth whatever the width, while a wider layer absorbs more. Measured (order 8,
    8 points per wavelength, 20 cells): waves at 70-80 degrees of incidence reflect
    0.07% at 0.99 of the CFL limit, against 9% with ``R = 1e-3`` (the default before
    2026-12-07), and normal incidence stays at 0.002-0.01% from 0.3 to 0.99 of it."""
    return math.exp(-PML_STRENGTH * max(int(width), 1))


def pml_profiles(
    layout: Layout,
    dt: float,
    vmax: float,
    f0: float,
    reflection: float = 1e-3,
    power: float = 2.0,
) -> PMLProfiles:
    """Convolutional PML coefficients (Komatitsch & Martin 2007, ``kappa = 1``).

    Damping ``d(s) = d0 s^N`` with ``s`` the normalised depth into the layer,
    ``d0 = (N + 1) v_max ln(1/R) / (2 W)``, frequency shift
    ``alpha(s) = pi f0 (1 - s)``; ``b = exp(-(d + alpha) dt)``,
    ``a = d (b - 1) / (d + alpha)``.

    Parameters
    ----------
    layout
        Computational grid.
    dt
        Time step (s).
    vmax
        Highest wave speed in the model (m/s).
    f0
        Dominant source frequency (Hz) for the frequency shift.
    reflection
        Theoretical normal-incidence reflection coefficient ``R``.
    power
        Profile exponent ``N``.
    """
    left, right, bottom, top = layout.pml
    NX, NZ = layout.NX, layout.NZ  # noqa: N806
    args = (dt, vmax, f0, reflection, power)
    ax_n, bx_n = _axis_profile(NX, left, right, layout.dx, *args, half=False)
    ax_h, bx_h = _axis_profile(NX, left, right, layout.dx, *args, half=True)
    az_n, bz_n = _axis_profile(NZ, bottom, top, layout.dz, *args, half=False)
    az_h, bz_h = _axis_profile(NZ, bottom, top, layout.dz, *args, half=True)
    return PMLProfiles(
        ax_n,
        bx_n,
        ax_h,
        bx_h,
        az_n,
        bz_n,
        az_h,
        bz_h,
        x_node=_strip_ranges(NX, left, right, False),
        x_half=_strip_ranges(NX, left, right, True),
        z_node=_strip_ranges(NZ, bottom, top, False),
        z_half=_strip_ranges(NZ, bottom, top, True),
    )


def multiaxial_profiles(
    layout: Layout,
    dt: float,
    vmax: float,
    f0: float,
    reflection: float,
    ratio: float,
    power: float = 2.0,
) -> np.ndarray:
    """Recursion coefficients of the multiaxial terms of the left and right layers
    (M-PML, Meza-Fajardo & Papageorgiou 2008), per array row (position along x).

    Inside those layers the z derivatives get a C-PML memory variable of their own, with
    the damping ``ratio * d_x(x)`` of the layer and its frequency shift (the profile of
    :func:`pml_profiles` for the reflection coefficient ``reflection ** ratio``).

    Returns
    -------
    numpy.ndarray
        ``(4, NX + 2 HALO)``: ``a``, ``b`` of the node rows, then ``a``, ``b`` of the half
        rows (zero outside the layers).
    """
    left, right, _, _ = layout.pml
    args = (dt, vmax, f0, reflection**ratio, power)
    an, bn = _axis_profile(layout.NX, left, right, layout.dx, *args, half=False)
    ah, bh = _axis_profile(layout.NX, left, right, layout.dx, *args, half=True)
    return np.stack([an, bn, ah, bh])


# ----------------------------------------------------------------------------- stability


def cfl_number(order: int) -> float:
    """Stability limit of ``v dt sqrt(1/dx^2 + 1/dz^2)`` for the staggered leapfrog scheme.

    The scheme is stable when ``v_max dt sqrt(1/dx^2 + 1/dz^2) sum_k |c_k| <= 1``.
    """
    return 1.0 / float(np.abs(fd_coefficients(order)).sum())


def max_stable_dt(vmax: float, dx: float, dz: float, order: int) -> float:
    """Largest stable time step (s) for wave speed ``vmax`` on spacing ``dx``, ``dz``."""
    return cfl_number(order) / (vmax * math.sqrt(1.0 / dx**2 + 1.0 / dz**2))


def max_stable_velocity(dt: float, dx: float, dz: float, order: int) -> float:
    """Fastest wave speed (m/s) that is stable with time step ``dt`` on this grid."""
    return cfl_number(order) / (dt * math.sqrt(1.0 / dx**2 + 1.0 / dz**2))


def default_ppw(order: int) -> float:
    """Default minimum grid points per minimum wavelength for a spatial order."""
    return {2: 12.0, 4: 7.0, 8: 5.0}[order]


# ----------------------------------------------------------------------------- sources / receivers

#: Kaiser window radius (grid cells) and shape for off-grid points (Hicks 2002, monopole,
#: accurate up to k = pi/2 per cell, i.e. 4 points per wavelength).
SINC_RADIUS = 4
SINC_BETA = 6.31


def _bessel_i0(x: np.ndarray) -> np.ndarray:
    """Modified Bessel function :math:`I_0(x) = \\sum_k (x^2/4)^k / (k!)^2` for
    ``0 <= x <= SINC_BETA`` (30 terms: round-off accuracy there).

    ``np.i0`` (a ``piecewise`` Chebyshev evaluation) costs about 0.2 ms a call, which
    made the receiver operators of a 50-receiver elastic run cost 0.2 s per simulation.
    """
    y = 0.25 * np.asarray(x, dtype=float) ** 2
    term = np.ones_like(y)
    total = np.ones_like(y)
    for k in range(1, 30):
        term = term * y / (k * k)
        total = total + term
    return total


_I0_BETA = float(_bessel_i0(np.array(SINC_BETA)))


def kaiser_sinc_weights(frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Kaiser-windowed sinc weights for a point at fractional node coordinate ``frac``.

    Returns ``(offsets, weights)`` with integer node indices (relative to index 0) and
    weights summing to about one. A point on a node gets weight 1 on that node only.
    """
    base = math.floor(frac)
    f = frac - base
    idx = np.arange(base - SINC_RADIUS + 1, base + SINC_RADIUS + 1)
    d = idx - frac
    if abs(f) < 1e-9 or abs(f - 1.0) < 1e-9:
        node = int(round(frac))
        return np.array([node]), np.array([1.0])
    win_arg = 1.0 - (d / SINC_RADIUS) ** 2
    win = np.where(
        win_arg > 0,
        _bessel_i0(SINC_BETA * np.sqrt(np.clip(win_arg, 0.0, None))) / _I0_BETA,
        0.0,
    )
    w = np.sinc(d) * win
    keep = w != 0
    return idx[keep], w[keep]


@dataclass
class PointOperator:
    """Sparse interpolation operator between point samples and one staggered field.

    Entry ``k`` links point ``point[k]`` with array element ``[i[k], j[k]]`` and weight
    ``w[k]``. Extraction is ``d[point] = sum_k w[k] f[i[k], j[k]]`` and injection (the
    exact transpose) is ``f[i[k], j[k]] += w[k] s[point]``.
    """

    point: np.ndarray
    i: np.ndarray
    j: np.ndarray
    w: np.ndarray
    npoints: int

    def extract(self, field: np.ndarray) -> np.ndarray:
        out = np.zeros(self.npoints)
        np.add.at(out, self.point, self.w * field[self.i, self.j])
        return out

    def inject(self, field: np.ndarray, values: np.ndarray) -> None:
        np.add.at(field, (self.i, self.j), (self.w * values[self.point]).astype(field.dtype))

    def as_arrays(self, dtype: np.dtype | type) -> tuple[np.ndarray, ...]:
        """``(point, i, j, w)`` arrays for compiled kernels."""
        return (
            self.point.astype(np.int64),
            self.i.astype(np.int64),
            self.j.astype(np.int64),
            self.w.astype(dtype),
        )


def frozen_operator(op: PointOperator) -> PointOperator:
    """``op`` with read-only arrays (operators are shared through a cache)."""
    for a in (op.point, op.i, op.j, op.w):
        a.setflags(write=False)
    return op


#: What the time loops get as their record array when nothing is recorded (their
#: receiver tables are empty then, so it is never indexed; writable, as the compiled
#: signatures expect).
NO_RAW = np.zeros((1, 1, 1))

#: Columns of one receiver segment: the taps of one record on one grid row, a window
#: of ``2 * SINC_RADIUS`` consecutive cells (zero weights where a tap is missing).
SEGMENT = 8


class ReceiverTaps(NamedTuple):
    """Receiver interpolation as row segments (see :func:`receiver_taps`)."""

    #: raw channel and trace of each record (*group*)
    g_c: np.ndarray
    g_t: np.ndarray
    #: ``(ncomponents, nrows + 1)`` offsets: the segments of component ``c`` on rows
    #: ``[i0, i1)`` are ``s_ptr[c, i0]:s_ptr[c, i1]``, sorted by row, then group
    s_ptr: np.ndarray
    #: flat index of the first cell, ``(nseg, SEGMENT)`` weights, group of each segment
    s_q: np.ndarray
    s_w: np.ndarray
    s_g: np.ndarray
    #: weights of the adjoint injection (the same as ``s_w`` unless given)
    s_wa: np.ndarray


def receiver_taps(
    component: Sequence[int],
    channel: Sequence[int],
    trace: Sequence[int],
    row: Sequence[int],
    col: Sequence[int],
    weight: Sequence[float],
    shape: tuple[int, int],
    ncomponents: int,
    weight_adjoint: Sequence[float] | None = None,
) -> ReceiverTaps:
    """Receiver interpolation taps as row segments, for recording inside the sweep.

    Each tap reads ``weight * field_c[row, col]`` (``c``: the component, a field of the
    time loop) into the record of one (raw channel, trace) pair, a *group*. The taps of
    one component and group on one row become segments of :data:`SEGMENT` consecutive
    cells (one segment for the sinc window of a receiver), so that the time loops read
    them as short contiguous dot products (:func:`gather_rows`). The loops read (and the
    adjoint loops inject, with ``weight_adjoint``) the segments of a block of rows while
    the sweep has those rows in cache: gathering 64 scattered taps per off-grid receiver
    after the sweep cost 10-15% of a forward step with 100 receivers.
    """
    i64 = np.int64
    nrows, ncols = shape
    if ncols < SEGMENT:
        raise SolverError(f"the padded grid has {ncols} columns, fewer than {SEGMENT}")
    comp = np.asarray(component, i64)
    c = np.asarray(channel, i64)
    t = np.asarray(trace, i64)
    i = np.asarray(row, i64)
    j = np.asarray(col, i64)
    w = np.asarray(weight, np.float64)
    wa = np.asarray(weight if weight_adjoint is None else weight_adjoint, np.float64)
    if c.size and (i.min() < 0 or i.max() >= nrows or j.min() < 0 or j.max() >= ncols):
        raise SolverError("receiver interpolation reaches outside the padded grid")
    # groups: the distinct (channel, trace) pairs, in sorted order
    width = int(t.max()) + 1 if t.size else 1
    pair_ids, g = np.unique(c * width + t, return_inverse=True)
    g = np.asarray(g, i64).reshape(-1)
    groups = np.stack([pair_ids // width, pair_ids % width], axis=1).astype(i64)
    # one tap per (component, row, group, column), weights of repeated taps summed,
    # sorted in that order
    order = np.lexsort((j, g, i, comp))
    key = np.stack([comp, i, g, j])[:, order]
    first = np.ones(key.shape[1], bool)
    first[1:] = (key[:, 1:] != key[:, :-1]).any(axis=0)
    at = np.flatnonzero(first)
    tw = np.add.reduceat(w[order], at) if at.size else np.zeros(0)
    twa = np.add.reduceat(wa[order], at) if at.size else np.zeros(0)
    key = key[:, at]
    # segments: a window of SEGMENT columns from the first column of each (component,
    # row, group) not yet covered (shifted inside the row at its end); a tap beyond
    # the window starts the next one
    start = np.ones(key.shape[1], bool)
    start[1:] = (key[:3, 1:] != key[:3, :-1]).any(axis=0)
    while True:
        seg = np.cumsum(start) - 1
        j0 = np.minimum(key[3, start], ncols - SEGMENT)
        off = key[3] - j0[seg] if seg.size else np.zeros(0, i64)
        beyond = off >= SEGMENT
        if not beyond.any():
            break
        # the first tap beyond its window starts a segment (a segment's first tap is
        # never beyond it, so the previous tap is in the same segment)
        prev = np.zeros_like(beyond)
        prev[1:] = beyond[:-1]
        start |= beyond & ~prev
    nseg = int(start.sum())
    s_w = np.zeros((nseg, SEGMENT))
    s_wa = np.zeros((nseg, SEGMENT))
    s_w[seg, off] = tw
    s_wa[seg, off] = twa
    kc, ki, kg = key[0, start], key[1, start], key[2, start]
    s_ptr = np.empty((ncomponents, nrows + 1), i64)
    for ch in range(ncomponents):
        s_ptr[ch] = np.searchsorted(kc * (nrows + 1) + ki, ch * (nrows + 1) + np.arange(nrows + 1))
    return ReceiverTaps(
        groups[:, 0].astype(i64).copy(),
        groups[:, 1].astype(i64).copy(),
        s_ptr,
        (ki * ncols + j0).astype(np.uint64),
        s_w,
        kg.astype(i64),
        s_wa,
    )


#: The receiver segments are compiled without fast-math (no contraction either): the
#: serial and parallel drivers must sum them alike (records equal bit for bit for any
#: thread count).
_EXACT = {**NUMBA_OPTIONS, "fastmath": False}
_V1, _V2, _V3, _V4, _V5, _V6, _V7 = (np.uint64(k) for k in range(1, 8))


@njit(inline="always", **_EXACT)
def _dot8(w, f, q):  # pragma: no cover - compiled
    """``sum_m w[m] f[q + m]``, ``m < SEGMENT = 8``, as a fixed tree (the same sum in
    every caller)."""
    a = (w[0] * f[q] + w[1] * f[q + _V1]) + (w[2] * f[q + _V2] + w[3] * f[q + _V3])
    b = (w[4] * f[q + _V4] + w[5] * f[q + _V5]) + (w[6] * f[q + _V6] + w[7] * f[q + _V7])
    return a + b


@njit(**_EXACT)
def gather_rows(f, ptr, sq, sw, sg, acc, i0, i1):  # pragma: no cover - compiled
    """Receiver segments of rows ``[i0, i1)`` (``ptr``: one component's offsets by row):
    ``acc[g] += sum w f``.

    Called while the rows are in cache (in the sweep). Each segment is summed on its own,
    then added to its record, in segment order: the sum does not depend on how the rows
    are split into blocks."""
    for s in range(ptr[i0], ptr[i1]):
        acc[sg[s]] += _dot8(sw[s], f, sq[s])


@njit(inline="always", **NUMBA_OPTIONS)
def inject(f0, f1, f2, c, q, rows, w, k, stf, n, i0, i1):  # pragma: no cover - compiled
    """Point sources of time index ``n`` on rows ``[i0, i1)``: ``f[q] += w stf[k, n]``
    with ``f`` = ``f0``, ``f1`` or ``f2`` for component ``c`` = 0, 1 or 2 (``rows``: the
    row of each point, ``q // ncols``)."""
    for s in range(c.size):
        if rows[s] >= i0 and rows[s] < i1:
            val = w[s] * stf[k[s], n]
            if c[s] == 0:
                f0[q[s]] += val
            elif c[s] == 1:
                f1[q[s]] += val
            else:
                f2[q[s]] += val


@njit(**_EXACT)
def scatter_rows(f, coef, ptr, sq, sw, sg, val, i0, i1):  # pragma: no cover - compiled
    """Transpose of :func:`gather_rows`: ``f[q] += coef[q] (w val[g])`` (``coef``
    None: ``f[q] += w val[g]``)."""
    for s in range(ptr[i0], ptr[i1]):
        v = val[sg[s]]
        q0 = sq[s]
        for m in range(SEGMENT):
            q = q0 + np.uint64(m)
            if coef is None:
                f[q] += sw[s, m] * v
            else:
                f[q] += coef[q] * (sw[s, m] * v)


@njit(**NUMBA_OPTIONS)
def sweep_rows(r, blk, k, nxe):  # pragma: no cover - compiled
    """Rows of step ``k`` of a sweep at block start ``r``: ``(v0, v1, s0, s1)``.

    A sweep over blocks of ``blk`` rows (``r = HALO, HALO + blk, ...`` while
    ``r < nxe + (2 m - 1) HALO`` for ``m`` steps) updates, at each block, the first
    sub-step (velocities) of step ``k`` on rows ``[v0, v1)``, ``2 k HALO`` rows behind
    ``r``, and its second sub-step (pressure or stresses) on rows ``[s0, s1)``, another
    ``HALO`` rows behind: each sub-step reads only rows its predecessor has finished
    (a stencil reaches ``HALO`` rows), and overwrites only rows no later sub-step of the
    previous step still reads. Rows outside ``[HALO, nxe)`` are left out."""
    lag = 2 * k * HALO
    v0, v1 = max(r - lag, HALO), min(r + blk - lag, nxe)
    s0, s1 = max(r - lag - HALO, HALO), min(r + blk - lag - HALO, nxe)
    return v0, v1, s0, s1


@njit(inline="always", **NUMBA_OPTIONS)
def sweep_adjoint_sources(inj2, raw_adj, g_c, g_t, n, nk):  # pragma: no cover - compiled
    """Adjoint sources of the steps ``n, n - 1, ..., n - nk + 1`` of an adjoint sweep
    (one per receiver segment ``g``: channel ``g_c[g]``, trace ``g_t[g]``) into
    ``inj2[k]``, the scratch row of the sweep's step ``k``."""
    for k in range(nk):
        for g in range(g_c.size):
            inj2[k, g] = raw_adj[g_c[g], g_t[g], n - k]


@njit(**NUMBA_OPTIONS)
def row_range(a, b, lo, hi, nrows):  # pragma: no cover - compiled
    """Rows ``[a, b)`` of a block, widened to the array edge for the first (``a == lo``)
    and last (``b == hi``) block: taps in halo rows are read with their neighbours."""
    return (0 if a == lo else a), (nrows if b == hi else b)


def point_key(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Hashable form of a list of point positions (for the operator caches)."""
    return tuple((float(x), float(z)) for x, z in points)


def point_operator(
    layout: Layout,
    points: Sequence[tuple[float, float]],
    stagger: tuple[int, int],
    parity: int = -1,
) -> PointOperator:
    """Interpolation operator of points ``(x, z)`` (metres) onto a staggered component.

    Cached per process (the same receivers on the same grid are used by every
    simulation of a workflow; building the operator costs milliseconds per point). See
    :func:`_point_operator` for the weights.
    """
    return _point_operator(layout, point_key(points), (int(stagger[0]), int(stagger[1])), parity)


@functools.lru_cache(maxsize=128)
def _point_operator(
    layout: Layout,
    points: tuple[tuple[float, float], ...],
    stagger: tuple[int, int],
    parity: int,
) -> PointOperator:
    """Interpolation operator of points ``(x, z)`` (metres) onto a staggered component.

    Off-grid positions use Kaiser-windowed sinc weights (radius 4 cells, Hicks 2002) along
    each axis, the product of both. Weights on array positions where the component is not
    state are handled exactly as the propagator treats those positions: outside the grid
    they are dropped (the field is zero there); above a free surface they are folded onto
    the mirror position with sign ``parity`` (-1: antisymmetric fields such as pressure and
    ``vx``, +1: symmetric fields such as ``vz``); weights on a pressure-release top row
    (field fixed at zero) are dropped.

    Parameters
    ----------
    layout
        Computational grid.
    points
        Point positions in metres.
    stagger
        ``(sx, sz)``: 1 where the component is shifted by half a cell along that axis.
    parity
        Mirror sign of the component at a free surface.
    """
    sx, sz = stagger
    i0, i1, j0, j1 = layout.state_ranges(stagger)
    top_node = HALO + layout.NZ - 1
    rows: list[int] = []
    cols: list[int] = []
    pts: list[int] = []
    ws: list[float] = []
    for k, (x, z) in enumerate(points):
        fx, fz = layout.position(x, z)
        ox, wx = kaiser_sinc_weights(fx - 0.5 * sx)
        oz, wz = kaiser_sinc_weights(fz - 0.5 * sz)
        acc: dict[tuple[int, int], float] = {}
        for a, wa in zip(ox + HALO, wx):
            if not (i0 <= a < i1):
                continue
            for c, wc in zip(oz + HALO, wz):
                w = wa * wc
                cc = int(c)
                if layout.free_surface:
                    pos = cc + 0.5 * sz  # position in array units
                    if pos > top_node:
                        mirror = 2 * top_node - pos - 0.5 * sz
                        cc = int(round(mirror))
                        w = parity * w
                if not (j0 <= cc < j1):
                    continue
                acc[(int(a), cc)] = acc.get((int(a), cc), 0.0) + w
        for (a, c), w in acc.items():
            if w != 0.0:
                rows.append(a)
                cols.append(c)
                pts.append(k)
                ws.append(w)
    return frozen_operator(
        PointOperator(
            np.asarray(pts, dtype=np.int64),
            np.asarray(rows, dtype=np.int64),
            np.asarray(cols, dtype=np.int64),
            np.asarray(ws, dtype=np.float64),
            len(points),
        )
    )


def check_positions(layout: Layout, event: Event, receivers: Sequence[Receiver]) -> None:
    """Raise :class:`~seisgrad.errors.SolverError` for sources or receivers off the model."""
    g = layout.grid
    xmin, xmax, zmin, zmax = g.extent
    for s in event.sources:
        if not g.contains(s.x, s.z):
            raise SolverError(
                f"event '{event.name}': source at (x={s.x}, z={s.z}) is outside the model "
                f"(x in [{xmin}, {xmax}], z in [{zmin}, {zmax}])"
            )
    out = [r for r in receivers if not g.contains(r.x, r.z)]
    if out:
        r = out[0]
        more = f" (and {len(out) - 1} more of {len(receivers)}: " if len(out) > 1 else ""
        if more:
            names = ", ".join(f"{q.network}.{q.station}" for q in out[1:4])
            more += names + (", ..." if len(out) > 4 else "") + ")"
        raise SolverError(
            f"receiver {r.network}.{r.station} at (x={r.x}, z={r.z}){more} is outside the "
            f"model (x in [{xmin}, {xmax}], z in [{zmin}, {zmax}])"
        )


def source_time_table(
    sources: Sequence[PointSource],
    nt: int,
    dt: float,
    half_step: bool,
    correct_dispersion: bool = False,
) -> np.ndarray:
    """Source time functions sampled where the time loop injects them, ``(nsrc, nt)``.

    Row ``k`` is ``amplitude * s_k(t)`` at ``t = n dt`` (``half_step=False``, sources
    acting on velocities) or ``t = (n + 1/2) dt`` (``half_step=True``, sources acting on
    pressure or stress). User arrays (kind ``array``, given at ``n dt``) are linearly
    interpolated to half steps.

    With ``correct_dispersion`` each row is instead the forward time-dispersion transform
    (:func:`~seisgrad.solver.fd2d.dispersion.forward_transform`) of ``s_k(n dt)``, at
    the same injection times: what the time loop must inject for its records, after the
    inverse transform, to be free of time-dispersion error.
    """
    out = np.zeros((len(sources), nt))
    if correct_dispersion:
        from seisgrad.solver.fd2d.dispersion import forward_transform

        for k, s in enumerate(sources):
            out[k] = s.stf.sample(nt, dt)
        return forward_transform(out, 0.5 if half_step else 0.0)
    for k, s in enumerate(sources):
        stf = s.stf
        if stf.kind == "array":
            v = stf.sample(nt + 1, dt)
            out[k] = 0.5 * (v[:-1] + v[1:]) if half_step else v[:-1]
        else:
            out[k] = stf.sample(nt, dt, t_start=0.5 * dt if half_step else 0.0)
    return out


def source_max_frequency(event: Event, dt: float) -> float:
    """Highest significant frequency of the event's source time functions (Hz)."""
    return max(s.stf.max_frequency(dt) for s in event.sources)


def source_dominant_frequency(event: Event, dt: float) -> float:
    """A representative (dominant) source frequency (Hz), for the PML frequency shift."""
    fs = []
    for s in event.sources:
        if s.stf.kind == "array":
            fs.append(s.stf.max_frequency(dt) / 2.8)
        else:
            fs.append(s.stf.f0)
    return max(fs)


# ----------------------------------------------------------------------------- traces


def velocity_to_trace(raw: np.ndarray) -> np.ndarray:
    """Velocity traces at ``n dt`` from velocities recorded at ``(n + 1/2) dt``.

    ``v(n dt) = (v[n - 1/2] + v[n + 1/2]) / 2`` with ``v[-1/2] = 0`` (last axis = time).
    """
    out = 0.5 * raw.copy()
    out[..., 1:] += 0.5 * raw[..., :-1]
    return out


def velocity_to_trace_adjoint(adj: np.ndarray) -> np.ndarray:
    """Transpose of :func:`velocity_to_trace`."""
    out = 0.5 * adj.copy()
    out[..., :-1] += 0.5 * adj[..., 1:]
    return out


def displacement_to_trace(raw: np.ndarray, dt: float) -> np.ndarray:
    """Displacement at ``n dt`` from velocities at ``(n + 1/2) dt`` (midpoint rule).

    ``u[n] = dt * sum_{m < n} v[m + 1/2]``, ``u[0] = 0``.
    """
    out = np.zeros_like(raw)
    out[..., 1:] = dt * np.cumsum(raw[..., :-1], axis=-1)
    return out


def displacement_to_trace_adjoint(adj: np.ndarray, dt: float) -> np.ndarray:
    """Transpose of :func:`displacement_to_trace`."""
    out = np.zeros_like(adj)
    rev = np.cumsum(adj[..., ::-1], axis=-1)[..., ::-1]  # rev[m] = sum_{n >= m} adj[n]
    out[..., :-1] = dt * rev[..., 1:]
    return out


def build_stream(
    records: Mapping[str, np.ndarray],
    receivers: Sequence[Receiver],
    dt: float,
    dtype: np.dtype | type,
):
    """ObsPy Stream from ``channel -> (nrec, nt)`` arrays.

    Each trace has ``network``/``station`` from the receiver, ``channel``, ``delta = dt``,
    ``starttime = UTCDateTime(0)`` (first sample at the simulation start) and
    ``stats.coordinates = AttribDict(x=..., z=...)``.
    """
    from obspy import Stream, Trace, UTCDateTime
    from obspy.core import AttribDict

    traces = []
    for k, r in enumerate(receivers):
        for ch, arr in records.items():
            tr = Trace(data=np.ascontiguousarray(arr[k], dtype=dtype))
            tr.stats.network = r.network
            tr.stats.station = r.station
            tr.stats.channel = ch
            tr.stats.delta = dt
            tr.stats.starttime = UTCDateTime(0)
            tr.stats.coordinates = AttribDict(x=float(r.x), z=float(r.z))
            traces.append(tr)
    return Stream(traces)


def stream_to_arrays(
    stream,
    receivers: Sequence[Receiver],
    channels: Sequence[str],
    nt: int,
    dt: float,
) -> dict[str, np.ndarray]:
    """Adjoint-source arrays ``channel -> (nrec, nt)`` (float64) from a Stream.

    Traces are matched by ``network``, ``station`` and ``channel``; missing traces are
    zero. Raises :class:`~seisgrad.errors.DataError` for a trace that matches no recorded
    trace, a trace given twice (two adjoint sources for one recorded trace are almost
    always a Stream appended twice; sum them first if meant), or a time axis that
    differs from the simulation's.
    """
    from seisgrad.errors import DataError

    index = {(r.network, r.station): k for k, r in enumerate(receivers)}
    out = {ch: np.zeros((len(receivers), nt)) for ch in channels}
    seen: set[tuple[str, str, str]] = set()
    for tr in stream:
        key = (tr.stats.network, tr.stats.station)
        ch = tr.stats.channel
        if key not in index or ch not in out:
            raise DataError(
                f"adjoint source {tr.id} matches no recorded trace (recorded channels: "
                f"{', '.join(channels)}; stations: {len(receivers)})"
            )
        if (*key, ch) in seen:
            raise DataError(
                f"adjoint source {tr.id} is given twice; give one trace per recorded "
                "trace (sum them first if both are meant)"
            )
        seen.add((*key, ch))
        # 1e-7: a time step stored in a file format's float32 (SAC) or sample rate
        # (MiniSEED) comes back within 6e-8; the samples are matched by index
        if tr.stats.npts != nt or abs(tr.stats.delta - dt) > 1e-7 * dt:
            raise DataError(
                f"adjoint source {tr.id} has npts={tr.stats.npts}, delta={tr.stats.delta}; "
                f"the simulation has nt={nt}, dt={dt}"
            )
        if abs(float(tr.stats.starttime.timestamp)) > 0.5 * dt:
            raise DataError(
                f"adjoint source {tr.id} starts at {tr.stats.starttime}; expected "
                "UTCDateTime(0) (the simulation start)"
            )
        out[ch][index[key]] += np.asarray(tr.data, dtype=np.float64)
    return out


# ----------------------------------------------------------------------------- prefetch


@functools.cache
def _prefetch_intrinsic() -> str | None:
    """Name of LLVM's prefetch intrinsic for an ``i8*`` argument, as this LLVM mangles it
    (``llvm.prefetch.p0`` with opaque pointers, LLVM >= 17; ``llvm.prefetch.p0i8``
    before), found by verifying a one-line module, once, when a kernel is first compiled
    (not at import, nor when kernels load from the cache); ``None`` if neither verifies
    (then :func:`prefetch` emits nothing)."""
    import llvmlite.binding as llb

    for name in ("llvm.prefetch.p0", "llvm.prefetch.p0i8"):
        text = (
            f"declare void @{name}(i8*, i32, i32, i32)\n"
            f"define void @probe(i8* %p) {{\n  call void @{name}(i8* %p, i32 1, i32 3, i32 1)\n"
            "  ret void\n}\n"
        )
        try:
            llb.parse_assembly(text).verify()
        except Exception:  # noqa: BLE001 - any LLVM complaint means: not this name
            continue
        return name
    return None


def _prefetch_codegen(write: int, locality: int):
    """Code generator of a ``llvm.prefetch`` of ``arr[idx]`` (data cache) with the given
    intent (1: write) and locality (3: keep in all levels ... 0: not at all)."""

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        name = _prefetch_intrinsic()
        if name is None:
            return context.get_dummy_value()
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        i8p = ir.PointerType(ir.IntType(8))
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(write), i32(locality), i32(1)])
        return context.get_dummy_value()

    return codegen


@intrinsic
def prefetch(typingctx, arr, idx):  # pragma: no cover - compiled
    """Hint the CPU to fetch ``arr[idx]`` into the cache (``llvm.prefetch``; no effect
    on results, and none on machines without prefetch instructions).

    The time loops use it for the C-PML memory variables of the z strips: a few cache
    lines per grid row, at the two ends of each row, that the hardware prefetchers do
    not predict. Fetched a few rows ahead, they stopped costing 23% of an elastic
    forward step (measured here). Write intent (the memory variables are updated), high
    locality."""
    return types.void(arr, idx), _prefetch_codegen(1, 3)


@intrinsic
def prefetch_read(typingctx, arr, idx):  # pragma: no cover - compiled
    """Like :func:`prefetch`, for data that is only read, once: read intent and low
    locality (``prefetcht2`` on x86), so that it does not push the arrays that the loop
    updates out of the nearer caches. The adjoint uses it for the per-step data of the
    forward field, which it reads back from main memory row by row (measured here, the
    acoustic adjoint step: 12-15% faster; the same prefetch with high locality gained
    about 5%)."""
    return types.void(arr, idx), _prefetch_codegen(0, 1)


@njit(inline="always", **NUMBA_OPTIONS)
def prefetch_rows(a, start, n):  # pragma: no cover - compiled
    """:func:`prefetch_read` of ``n`` values of ``a`` from ``start``: one hint per cache
    line (16 float32 values; float64 rows get every other line, which the line
    prefetchers complete)."""
    for k in range(n // _PF_STEP):
        prefetch_read(a, start + k * _PF_STEP)


@njit(inline="always", **NUMBA_OPTIONS)
def prefetch_strip(a, row, z):  # pragma: no cover - compiled
    """Prefetch the two z strips of ``a`` (starting at columns ``z[0]`` and ``z[2]``) in
    the flat row starting at ``row``: three cache lines from 4 cells before each strip
    start (where the adjoint's widened strip loops begin), the whole of a strip of up to
    about 40 float32 cells (the line prefetchers follow a wider one)."""
    for part in range(2):
        j = row + np.uint64(z[2 * part]) - _PF_LEAD
        prefetch(a, j)
        prefetch(a, j + _PF_STEP)
        prefetch(a, j + _PF_STEP + _PF_STEP)


#: Index step to the next cache line (16 float32 values = 64 bytes), and the cells
#: before a strip start that the adjoint strip loops read.
_PF_STEP = np.uint64(16)
_PF_LEAD = np.uint64(HALO)
#: Rows ahead at which the passes prefetch their z-strip memory variables.
PREFETCH_ROWS = 4
#: Rows ahead at which the adjoint prefetches the per-step data of the forward field.
STORE_PREFETCH_ROWS = 16


# ----------------------------------------------------------------------------- denormals

#: MXCSR bits: flush-to-zero (bit 15) and denormals-are-zero (bit 6).
FTZ_DAZ = np.uint32(0x8040)


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


if _is_x86():
    from llvmlite import ir

    @intrinsic
    def get_mxcsr(typingctx):  # pragma: no cover - compiled
        """Read the MXCSR register of the calling thread (x86; compiled code only)."""
        sig = types.uint32()

        def codegen(context, builder, signature, args):
            ptr = cgutils.alloca_once(builder, ir.IntType(32))
            fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.stmxcsr")
            builder.call(fn, [builder.bitcast(ptr, ir.IntType(8).as_pointer())])
            return builder.load(ptr)

        return sig, codegen

    @intrinsic
    def set_mxcsr(typingctx, value):  # pragma: no cover - compiled
        """Write the MXCSR register of the calling thread (x86; compiled code only)."""
        sig = types.void(types.uint32)

        def codegen(context, builder, signature, args):
            ptr = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(args[0], ptr)
            fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.ldmxcsr")
            builder.call(fn, [builder.bitcast(ptr, ir.IntType(8).as_pointer())])
            return context.get_dummy_value()

        return sig, codegen

    def ftz_enabled() -> bool:
        """Whether denormal flushing is available on this machine (x86: yes)."""
        return True

else:  # pragma: no cover - other architectures

    @intrinsic
    def get_mxcsr(typingctx):
        sig = types.uint32()

        def codegen(context, builder, signature, args):
            return context.get_constant(types.uint32, 0)

        return sig, codegen

    @intrinsic
    def set_mxcsr(typingctx, value):
        sig = types.void(types.uint32)

        def codegen(context, builder, signature, args):
            return context.get_dummy_value()

        return sig, codegen

    def ftz_enabled() -> bool:
        return False


# ----------------------------------------------------------------------------- compilation


#: Digest of this file and of ``simd.py``. numba checks a cached kernel only against the
#: timestamp of the kernel's own file, so a change here or there (the helpers and vector
#: row loops the kernels inline: receiver segments, prefetch) would leave stale kernels
#: in an existing cache; the digest in the kernels' names gives them new entries instead.
_HELPERS_TAG = hashlib.sha1(
    Path(__file__).read_bytes() + (Path(__file__).parent / "simd.py").read_bytes()
).hexdigest()[:10]


def _clone(fn: Callable[..., Any], suffix: str, glb: dict[str, Any]) -> Callable[..., Any]:
    new = pytypes.FunctionType(fn.__code__, glb, fn.__name__ + suffix, fn.__defaults__)
    new.__qualname__ = f"{fn.__qualname__}{suffix}_{_HELPERS_TAG}"
    new.__module__ = fn.__module__
    new.__doc__ = fn.__doc__
    return new


def compile_variants(
    module_globals: dict[str, Any],
    parallel: Sequence[str],
    drivers: Sequence[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Serial and parallel compiled versions of a module's time-loop functions.

    ``parallel`` names Python functions that contain ``prange`` loops (one pass over the
    grid); ``drivers`` names functions that call them (time loops). Each gets a serial
    and a parallel dispatcher with distinct names (so that numba's on-disk cache keeps
    both): the serial drivers call the serial passes, which avoids the thread-pool
    launch cost (about 50 us per pass here) when running on one thread. Helper functions
    without ``prange`` are shared, compiled once.

    Do not call ``ravel()``/``reshape`` inside a ``parallel=True`` function: numba's
    parallel transforms may turn them into copies, so writes are lost (seen here on the
    first call in a process). Ravel in the serial driver and pass flat arrays.

    Returns
    -------
    serial, parallel
        Namespaces ``name -> dispatcher`` for the two variants.
    """
    ser: dict[str, Any] = dict(module_globals)
    par: dict[str, Any] = dict(module_globals)
    for name in parallel:
        f = module_globals[name]
        ser[name] = njit(**NUMBA_OPTIONS)(_clone(f, "_serial", ser))
        par[name] = njit(parallel=True, **NUMBA_OPTIONS)(_clone(f, "_parallel", par))
    for name in drivers:
        f = module_globals[name]
        ser[name] = njit(**NUMBA_OPTIONS)(_clone(f, "_serial", ser))
        par[name] = njit(**NUMBA_OPTIONS)(_clone(f, "_parallel", par))
    return ser, par
