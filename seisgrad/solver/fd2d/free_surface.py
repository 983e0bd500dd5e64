"""Summation-by-parts closure of the elastic solver's traction-free surface.

Near the free surface (node row ``s``, ``z`` up) the z derivatives of the staggered grid
use two operators: ``G`` from node rows to half rows (``D+z`` of ``vx`` for ``sxz`` and
of ``szz`` for ``vz``) and ``D`` from half rows to node rows (``D-z`` of ``sxz`` for
``vx`` and of ``vz`` for ``sxx``, ``szz``). Away from the surface both are the interior
staggered stencils of the chosen order. Next to it, ``G`` has closure rows and ``D`` is
defined from ``G`` and two diagonal weights, ``H_n`` on the node rows and ``H_h`` on the
half rows (1 away from the surface), by

.. math::

    H_n D = -(H_h G)^T ,

the discrete form of integrating by parts with a traction-free surface,
:math:`\\int v \\, \\partial_z \\sigma + \\int \\sigma \\, \\partial_z v = [v \\sigma] = 0`
(the surface values ``sxz = szz = 0`` are the boundary conditions: ``D`` needs no
boundary term). With the x derivatives, whose staggered stencils are antisymmetric on
each row, the semi-discrete energy

.. math::

    E = \\frac12 \\sum_{\\text{cells}} H \\left( \\rho |v|^2
        + \\sigma : C^{-1} \\sigma \\right)

(``H`` of each value's row; on the surface row ``C`` is the plane-stress modulus) is
conserved for *any* positive density and moduli, fluids included. This is a
summation-by-parts (SBP) pair on a staggered grid (O'Reilly, Lundquist, Dunham and
Nordstrom 2017), and it is why the closure stays stable under thin, slow or
high-``vp/vs`` surface layers, thin fluids and coastlines: the widest-centred-stencil
closure used before 2026-12-08 was not of this form and grew there (see
docs/solver-elastic.md).

The closure rows of ``G`` are exact for polynomials up to degree ``q`` (1, 2 and 3 at
orders 2, 4 and 8), and so is ``D``, by the choice of the weights (on the surface row for
functions that vanish on the surface, as ``sxz`` does). Order 2 is the classical closure
(``H_n = 1/2`` on the surface row). Order 4 is the unique closure of this size (rational
coefficients). Order 8 has free coefficients left after these conditions; they were
chosen by ``scripts/design_free_surface.py`` to keep the spectral radius of the
interior (so the time step is not reduced) and the phase velocity of Rayleigh waves close
to the continuum's. The weights are the scheme's inner product: point sources on these
rows are divided by them, so that the injection is the transpose of the receivers'
interpolation (reciprocity).

:func:`sbp_operators` builds ``G``, ``D`` and the weights on a depth range for tests and
analysis; :func:`surface_tables` gives what the kernels apply: the differences ``Delta``
between the closure and the interior stencils with zeros above the surface.
"""

from __future__ import annotations

import functools

import numpy as np

from seisgrad.errors import SolverError
from seisgrad.solver.fd2d.common import fd_coefficients

__all__ = [
    "INTERIOR_STENCILS",
    "closure_degree",
    "interior_operators",
    "sbp_defect",
    "sbp_operators",
    "surface_tables",
    "surface_weights",
]

#: Interior staggered first-derivative coefficients ``c_k`` (unit spacing), the solver's
#: own (:func:`seisgrad.solver.fd2d.common.fd_coefficients`):
#: ``f'(x) ~ sum_k c_k (f(x + k - 1/2) - f(x - k + 1/2))``.
INTERIOR_STENCILS: dict[int, tuple[float, ...]] = {
    order: tuple(float(c) for c in fd_coefficients(order)[: order // 2]) for order in (2, 4, 8)
}

# ----------------------------------------------------------------------------- closure data
# Per order: ``G`` closure rows (half row m + 1/2 cells under the surface, from node rows
# r cells under it; rows past the block are interior), ``H_n`` (node rows from the surface
# row down) and ``H_h`` (half rows from the first one down); weights past the lists are 1.
# Unit spacing, z up (a derivative is positive for a field that grows upwards).
_CLOSURES: dict[int, tuple[list[list[float]], list[float], list[float]]] = {
    2: ([], [0.5], []),
    4: (
        [
            [79 / 78, -27 / 26, 1 / 26, -1 / 78],
            [-2 / 21, 9 / 7, -9 / 7, 2 / 21],
            [-1 / 75, 0.0, 27 / 25, -83 / 75, 1 / 25],
        ],
        [7 / 18, 9 / 8, 1.0, 71 / 72],
        [13 / 12, 7 / 8, 25 / 24],
    ),
    8: ([], [], []),  # filled in below
}

# fmt: off
_ORDER8_G = [
    [
        0.9515447320684092, -0.9771646582443347, 0.10652329229107706,
        -0.010016969033809714, -0.05861906772835123, -0.053898761036856105,
        -0.016089264321446493, 0.015812347756383863, 0.053491088231743346,
        0.028113097530608217, -0.039695837513423406
    ],
    [
        0.03611297638268717, 1.4595565712553091, -2.0195051194882163,
        0.13425030216295364, 0.31950265520348053, 0.2755522983947783,
        0.08695633574678904, -0.07785113339682362, -0.27848092845186817,
        -0.13293757344677087, 0.1968436156377363
    ],
    [
        -0.07483732107603094, 0.20138040639722557, 0.7909663103168216,
        -0.8604210338113374, -0.034950063327086174, -0.040235310071119995,
        -0.015161735364843764, 0.005481839456515492, 0.04089878372506468,
        0.004447093287813534, -0.01756896953302975
    ],
    [
        -0.14510583903280552, 0.2062912693403594, 0.028768810634995937,
        1.0975811455499138, -1.2303899847481323, -0.025902553748377497,
        -0.03707717290304799, 0.03130782693200218, 0.09196117122353847,
        0.0635340079353496, -0.08096868118377963
    ],
    [
        0.03968856388369447, -0.05294636057264579, -0.06497836051736926,
        -0.12370940914235476, 1.6769903631892185, -1.6440345902026763,
        0.12178623807710424, 0.02521115028135889, 0.016514867206648735,
        0.02784698876463249, -0.022369450967601144
    ],
    [
        0.14097033823496805, -0.20309149214499, -0.06556781670887939,
        0.03740590122427894, 0.07757355145105382, 1.0808140555167625,
        -0.9739035394190527, 0.00017185165128863486, -0.11083470658815973,
        -0.07192229833516667, 0.08838415511789531
    ],
    [
        -0.08575267391689452, 0.11966739392576968, 0.04707718856423161,
        -0.014969990615628707, -0.05897436778301416, -0.14189030131205926,
        1.2228203386613432, -1.2086707603184144, 0.13966144691525473,
        0.027398365370307702, -0.046366639490895624
    ],
]
_ORDER8_HN: list[float] = [
    0.31961913096721484, 1.3482700247158017, 0.7761177979727636, 1.0010521666596792,
    1.0978210532450536, 0.9613270728655212, 0.9887976396332503, 1.0069951139408222
]
_ORDER8_HH: list[float] = [
    1.176149334632185, 0.5657104844509979, 1.3477839471499762, 1.0508212853562127,
    0.7114875970379457, 1.1896433978739323, 0.9584039534987423
]
# fmt: on
_CLOSURES[8] = (_ORDER8_G, _ORDER8_HN, _ORDER8_HH)


def closure_degree(order: int) -> int:
    """Degree of the polynomials the closure rows differentiate exactly."""
    return {2: 1, 4: 2, 8: 3}[order]


def interior_operators(order: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Interior stencils on ``n`` rows under the surface with zeros above it:
    ``G[m, r]`` (half row ``m`` from node row ``r``) and ``D = -G^T``."""
    g = np.zeros((n, n))
    for m in range(n):
        for k, c in enumerate(INTERIOR_STENCILS[order], start=1):
            if m - k + 1 >= 0:
                g[m, m - k + 1] += c
            if m + k < n:
                g[m, m + k] -= c
    return g, -g.T


def sbp_operators(order: int, n: int = 40) -> tuple[np.ndarray, ...]:
    """``G``, ``D``, ``H_n``, ``H_h`` of the closure on ``n`` rows under the surface
    (unit spacing; row ``n - 1`` and the last few rows of ``D`` see the end of the range,
    not the surface)."""
    if order not in _CLOSURES:
        raise SolverError(f"no free-surface closure for order {order}")
    rows, hn, hh = _CLOSURES[order]
    need = max([len(r) for r in rows] + [len(hn), len(hh), 1]) + 2 * len(INTERIOR_STENCILS[order])
    if n < need:
        raise SolverError(f"sbp_operators: n must be at least {need} at order {order}")
    g, _ = interior_operators(order, n)
    for m, row in enumerate(rows):
        g[m, :] = 0.0
        g[m, : len(row)] = row
    w_n = np.ones(n)
    w_h = np.ones(n)
    w_n[: len(hn)] = hn
    w_h[: len(hh)] = hh
    d = -(g.T * w_h[None, :]) / w_n[:, None]
    return g, d, w_n, w_h


def sbp_defect(order: int, n: int = 40) -> dict[str, float]:
    """How far the closure is from its defining properties (all round-off when it is
    right): ``accuracy_G``, ``accuracy_D`` (largest error of the closure rows on
    polynomials up to :func:`closure_degree`, in local coordinates), ``sbp`` (largest
    entry of ``H_n D + (H_h G)^T``) and ``min_weight``."""
    g, d, w_n, w_h = sbp_operators(order, n)
    q = closure_degree(order)
    zn = -np.arange(n, dtype=np.float64)
    zh = zn - 0.5
    inner = n - 2 * len(INTERIOR_STENCILS[order]) - 1
    err_g = 0.0
    err_d = 0.0
    for j in range(q + 1):
        exact = 1.0 if j == 1 else 0.0
        for m in range(inner):
            err_g = max(err_g, abs(g[m] @ (zn - zh[m]) ** j - exact))
        for r in range(1 if j == 0 else 0, inner):
            err_d = max(err_d, abs(d[r] @ (zh - zn[r]) ** j - exact))
    sbp = np.abs(w_n[:, None] * d + (w_h[:, None] * g).T).max()
    return {
        "accuracy_G": float(err_g),
        "accuracy_D": float(err_d),
        "sbp": float(sbp),
        "min_weight": float(min(w_n.min(), w_h.min())),
    }


def _trim(a: np.ndarray, tol: float = 1e-14) -> np.ndarray:
    big = np.abs(a) > tol
    rows = np.flatnonzero(big.any(axis=1))
    cols = np.flatnonzero(big.any(axis=0))
    if rows.size == 0:
        return np.zeros((1, 1))
    return a[: rows.max() + 1, : cols.max() + 1].copy()


@functools.lru_cache(maxsize=8)
def surface_tables(order: int) -> tuple[np.ndarray, ...]:
    """``Delta = closure - interior`` (interior stencils with zeros above the surface)
    for the kernels: ``dzz`` (``D`` on node rows 1, 2, ... for ``sxx``, ``szz`` from
    ``vz``), ``dxz`` (``G`` for ``sxz`` from ``vx``), ``dvx`` (``D`` on node rows 0, 1,
    ... for ``vx`` from ``sxz``), ``dvz`` (``G`` for ``vz`` from ``szz``; its first
    column meets ``szz = 0`` on the surface). Unit spacing; read-only arrays."""
    n = 48
    g, d, _, _ = sbp_operators(order, n)
    g0, d0 = interior_operators(order, n)
    dg = _trim(g - g0)
    dd = _trim(d - d0)
    out = (dd[1:] if dd.shape[0] > 1 else np.zeros((1, dd.shape[1])), dg, dd, dg.copy())
    for a in out:
        a.flags.writeable = False
    return out


@functools.lru_cache(maxsize=8)
def surface_weights(order: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``H_n``, ``H_h`` on the first ``rows`` node and half rows (the scheme's inner
    product; 1 below the closure)."""
    _, _, w_n, w_h = sbp_operators(order, max(rows, 40))
    a, b = w_n[:rows].copy(), w_h[:rows].copy()
    a.flags.writeable = False
    b.flags.writeable = False
    return a, b
