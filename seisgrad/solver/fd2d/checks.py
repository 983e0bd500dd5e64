"""Set-up checks of the ``fd2d`` solver whose messages suggest values to use.

A suggested value is rounded in the safe direction (a time step or a largest spacing
down, a smallest spacing up) and verified with the check itself, so that the number
printed in a message, copied as it is, passes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from seisgrad.errors import StabilityError
from seisgrad.solver.fd2d.common import fd_coefficients, max_stable_dt

__all__ = [
    "check_sampling",
    "check_stability",
    "distinct",
    "elastic_gershgorin_velocity",
    "elastic_spectral_velocity",
    "gershgorin_velocity",
    "safe_round",
    "spectral_velocity",
    "stability_velocity",
]

#: Significant digits of the values suggested in messages.
DIGITS = 6


def safe_round(
    x: float, up: bool, ok: Callable[[float], bool] | None = None, digits: int = DIGITS
) -> str:
    """``x`` rounded to ``digits`` significant digits towards the safe side, as text.

    Parameters
    ----------
    x
        Positive finite value.
    up
        Round up (``True``) or down (``False``).
    ok
        Optional test of the rounded value (as the float the text reads back as): while
        it fails, the value moves one unit of the last digit further in the rounding
        direction (against round-off in the quantity tested).
    digits
        Significant digits.

    Returns
    -------
    str
        The value in ``%g`` notation; ``float(text)`` is on the safe side of ``x``.
    """
    d = Decimal(x)  # exact value of the float
    step = Decimal(1).scaleb(d.adjusted() - digits + 1)
    r = d.quantize(step, rounding=ROUND_CEILING if up else ROUND_FLOOR)
    for _ in range(10):
        text = f"{float(r):.{digits}g}"
        if ok is None or ok(float(text)):
            break
        r = r + step if up else r - step
    return text


def distinct(a: float, b: float, digits: int = DIGITS) -> tuple[str, str]:
    """``a`` and ``b`` in ``%g`` notation with at least ``digits`` significant digits
    and enough more that the two texts differ (when the numbers do)."""
    for n in range(digits, 18):
        ta, tb = f"{a:.{n}g}", f"{b:.{n}g}"
        if ta != tb:
            break
    return ta, tb


#: Why an effective velocity exceeds the fastest wave speed (for messages).
DENSITY_CONTRASTS = "the model's density contrasts raise the scheme's largest frequency above it"


def check_stability(
    dt: float,
    vmax: float,
    dx: float,
    dz: float,
    order: int,
    v_fastest: float | None = None,
    reason: str = DENSITY_CONTRASTS,
) -> None:
    """Raise :class:`~seisgrad.errors.StabilityError` if ``dt`` violates the CFL condition.

    The message names the largest stable ``dt`` for this grid, rounded down, and the
    smallest grid spacing that would be stable with this ``dt`` (scaled like ``dx``,
    ``dz``), rounded up: either, copied from the message, passes this check.

    Parameters
    ----------
    dt
        Time step (s).
    vmax
        Velocity that sets the limit (m/s): the fastest wave speed of the model, or the
        larger effective velocity of :func:`stability_velocity`.
    dx, dz
        Grid spacing (m).
    order
        Spatial order of the differences (2, 4 or 8).
    v_fastest
        The model's fastest wave speed, when ``vmax`` is an effective velocity above it
        (the message then says why the limit is lower than the wave speed implies).
    reason
        Why the effective velocity is higher (for the message).
    """
    dt_max = max_stable_dt(vmax, dx, dz, order)
    if dt <= dt_max:
        return
    scale = dt / dt_max
    dt_text = safe_round(dt_max, up=False, ok=lambda v: v <= dt_max)
    # the spacing pair: both rounded up, then (if round-off in max_stable_dt says the
    # pair is still unstable) both moved up together
    dx_text = safe_round(dx * scale, up=True)
    dz_text = safe_round(dz * scale, up=True)
    for _ in range(10):
        if dt <= max_stable_dt(vmax, float(dx_text), float(dz_text), order):
            break
        dx_text = safe_round(math.nextafter(float(dx_text), math.inf), up=True)
        dz_text = safe_round(math.nextafter(float(dz_text), math.inf), up=True)
    shown, limit = distinct(dt, dt_max)
    speed = f"v_max = {vmax:.6g} m/s"
    if v_fastest is not None and vmax > v_fastest:
        speed = (
            f"an effective v_max = {vmax:.6g} m/s (the fastest wave speed is "
            f"{v_fastest:.6g} m/s; {reason})"
        )
    raise StabilityError(
        f"unstable setup: dt = {shown} s exceeds the CFL limit {limit} s for "
        f"{speed}, dx = {dx:.6g} m, dz = {dz:.6g} m and order {order}; "
        f"use dt <= {dt_text} s, or a grid spacing of at least "
        f"dx = {dx_text} m, dz = {dz_text} m"
    )


def check_sampling(
    vmin: float, fmax: float, dx: float, dz: float, ppw_min: float, what: str = "wave"
) -> list[str]:
    """Warnings when the grid has fewer than ``ppw_min`` points per minimum wavelength.

    ``vmin / fmax`` is the shortest wavelength (``fmax``: highest significant source
    frequency); the warning names the largest spacing that would be sufficient, rounded
    down. Nothing is checked when ``fmax`` or ``vmin`` is not positive (a silent source,
    or a warning threshold ``ppw_min`` of 0).

    Parameters
    ----------
    vmin
        Slowest wave speed (m/s).
    fmax
        Highest significant source frequency (Hz).
    dx, dz
        Grid spacing (m).
    ppw_min
        Warning threshold (points per minimum wavelength).
    what
        Name of the wave in the message.

    Returns
    -------
    list of str
        One warning, or none.
    """
    if fmax <= 0 or vmin <= 0:
        return []
    lam = vmin / fmax
    h = max(dx, dz)
    ppw = lam / h
    if not ppw < ppw_min:
        return []
    need = safe_round(lam / ppw_min, up=False, ok=lambda v: not lam / v < ppw_min, digits=4)
    return [
        f"under-sampled {what}: {ppw:.3g} grid points per minimum wavelength "
        f"({lam:.4g} m at {fmax:.4g} Hz, v_min = {vmin:.4g} m/s) is below "
        f"{ppw_min:.3g}; use a spacing of at most {need} m or lower frequencies"
    ]


# ----------------------------------------------------------------------------- stability
# The CFL limit ``v_max dt sqrt(1/dx^2 + 1/dz^2) sum|c| <= 1`` is exact for a homogeneous
# medium. With density contrasts it is not: the buoyancy at a velocity point is the
# average ``2 / (rho_i + rho_{i+1})``, so next to a sharp contrast a node's stiffness meets
# a buoyancy of the other side (a water node next to air sees about twice its own
# buoyancy), and the scheme's largest frequency exceeds the one of ``v_max`` (air over
# water: unstable from 0.88 of the limit, order 8). The functions below give the
# velocity that sets the true limit: ``v`` with ``lambda_max = v^2 (2 sum|c|)^2 (1/dx^2 +
# 1/dz^2)``, ``lambda_max`` the largest eigenvalue of the spatial operator
# ``L p = K (Dx- B Dx+ + Dz- B Dz+) p`` (the scheme is stable for ``dt^2 lambda_max <= 4``).


_REACH = 4  # stencil reach (cells)


def _along(axis: int, start: int, stop: int) -> tuple[slice, slice]:
    """The index of ``[start, stop)`` along ``axis`` of a 2-D array (all of the other)."""
    return tuple(slice(start, stop) if a == axis else slice(None) for a in range(2))  # type: ignore[return-value]


def _grad(q: np.ndarray, axis: int, step: float, c: np.ndarray, absolute: bool = False):
    """``D+`` of ``q`` (zero outside) at the ``n - 1`` half points along ``axis``
    (``absolute``: the stencil of ``|D+|``, for row sums)."""
    r = _REACH
    qp = np.pad(q, [(r, r) if a == axis else (0, 0) for a in range(2)])
    n = q.shape[axis]
    out = np.zeros(tuple(n - 1 if a == axis else q.shape[a] for a in range(2)))
    for m, cm in enumerate(c):
        if cm == 0.0:
            continue
        hi = qp[_along(axis, r + m + 1, r + m + n)]
        lo = qp[_along(axis, r - m, r - m + n - 1)]
        out += abs(cm) * (hi + lo) if absolute else cm * (hi - lo)
    return out / step


def _grad_t(
    g: np.ndarray, axis: int, step: float, n: int, c: np.ndarray, absolute: bool = False
) -> np.ndarray:
    """Transpose of :func:`_grad`: from the ``n - 1`` half points back to ``n`` nodes."""
    r = _REACH
    out = np.zeros(tuple(n if a == axis else g.shape[a] for a in range(2)))
    gp = np.pad(g, [(r + 1, r + 1) if a == axis else (0, 0) for a in range(2)])
    for m, cm in enumerate(c):
        if cm == 0.0:
            continue
        # node i receives +c g[i - m - 1] and -c g[i + m]
        plus = gp[_along(axis, r - m, r - m + n)]
        minus = gp[_along(axis, r + 1 + m, r + 1 + m + n)]
        out += abs(cm) * (plus + minus) if absolute else cm * (plus - minus)
    return out / step


def _largest_eigenvalue(matvec: Callable[[np.ndarray], np.ndarray], n: int) -> float | None:
    """Largest eigenvalue of a symmetric positive operator (Lanczos, ``eigsh``; the
    Ritz value, which approaches it from below); ``None`` when the iteration does not
    converge."""
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(0).standard_normal(n)
    try:
        # tol 1e-2: the Ritz value within 0.2% (about 1 s for 500 x 500 nodes next to
        # an air-water interface, whose modes cluster: 1e-3 took 3.5 s, 1e-6 100 s)
        lam = eigsh(op, k=1, which="LA", tol=1e-2, v0=v0, return_eigenvectors=False)[0]
    except ArpackNoConvergence:  # pragma: no cover - the caller keeps its bound
        return None
    return float(lam)


def _velocity_of(lam: float, dx: float, dz: float, order: int) -> float:
    """The velocity whose homogeneous operator has the largest eigenvalue ``lam``."""
    total = float(np.abs(fd_coefficients(order)).sum())
    return float(np.sqrt(max(lam, 0.0) / (4.0 * total**2 * (1.0 / dx**2 + 1.0 / dz**2))))


#: Row of ``|L|`` touches coefficients up to this many cells away (two stencils).
_ROW_REACH = 2 * _REACH

#: Cells of edge values around the model for the Gershgorin bounds (as the absorbing
#: layers extend it): every row within ``_ROW_REACH`` of the model, whose row differs
#: from those further out, then has its whole stencil.
_PAD = 2 * _ROW_REACH

#: Cells of edge values around the model for the Lanczos eigenvalues (zero beyond):
#: measured safe against long runs (0.1-2% above the measured limits).
_SPECTRAL_PAD = 8


def _stiff_buoyancy(
    stiffness: np.ndarray, rho: np.ndarray, pad: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stiffness at the nodes and the averaged buoyancies along x and z, on the grid
    extended by ``pad`` cells of edge values (as the absorbing layers extend it)."""
    k = np.pad(np.asarray(stiffness, np.float64), pad, mode="edge")
    r = np.pad(np.asarray(rho, np.float64), pad, mode="edge")
    bx = 2.0 / (r[:-1, :] + r[1:, :])
    bz = 2.0 / (r[:, :-1] + r[:, 1:])
    return k, bx, bz


#: An operator for :func:`_gershgorin` and :func:`_largest_eigenvalue`: its product and
#: the shapes of the arrays its vector holds, one after the other.
_Operator = tuple[Callable[[np.ndarray], np.ndarray], list[tuple[int, int]]]


def _acoustic_operator(
    stiffness: np.ndarray,
    rho: np.ndarray,
    dx: float,
    dz: float,
    c: np.ndarray,
    absolute: bool,
    pad: int = _PAD,
) -> _Operator:
    """The pressure operator of the acoustic scheme, ``p -> K D^T B D p``: in symmetric
    form (``sqrt(K) D^T B D sqrt(K)``) or, ``absolute``, with every stencil weight
    replaced by its magnitude (so that ``|L| 1`` gives row sums)."""
    k, bx, bz = _stiff_buoyancy(stiffness, rho, pad)
    nx, nz = k.shape
    pre = 1.0 if absolute else np.sqrt(k)
    post = k if absolute else pre
    a = absolute

    def matvec(x: np.ndarray) -> np.ndarray:
        q = pre * x.reshape(nx, nz)
        gx = bx * _grad(q, 0, dx, c, a)
        gz = bz * _grad(q, 1, dz, c, a)
        return (post * (_grad_t(gx, 0, dx, nx, c, a) + _grad_t(gz, 1, dz, nz, c, a))).ravel()

    return matvec, [(nx, nz)]


def _elastic_operator(
    lam: np.ndarray, mu: np.ndarray, rho: np.ndarray, dx: float, dz: float, c: np.ndarray,
    absolute: bool, pad: int = _PAD,
) -> _Operator:  # fmt: skip
    """The velocity operator of the elastic scheme, ``v -> B D^T C D v``, with
    ``lambda + 2 mu`` and ``lambda`` at the nodes and ``mu`` averaged over the four nodes
    of each shear point, as the solver has them: in symmetric form (``sqrt(B) D^T C D
    sqrt(B)``) or, ``absolute``, with every coefficient and stencil weight replaced by
    its magnitude (so that ``|L| 1`` gives row sums)."""
    l2m, bx, bz = _stiff_buoyancy(np.asarray(lam) + 2.0 * np.asarray(mu), rho, pad)
    lam, mu = (np.pad(np.asarray(v, np.float64), pad, mode="edge") for v in (lam, mu))
    muxz = 0.25 * (mu[:-1, :-1] + mu[1:, :-1] + mu[:-1, 1:] + mu[1:, 1:])
    nx, nz = l2m.shape
    nvx = (nx - 1) * nz
    if absolute:
        lam = np.abs(lam)
        pre_x = pre_z = 1.0
        post_x, post_z = bx, bz
    else:
        pre_x, pre_z = np.sqrt(bx), np.sqrt(bz)
        post_x, post_z = pre_x, pre_z
    a = absolute

    def matvec(x: np.ndarray) -> np.ndarray:
        ux = pre_x * x[:nvx].reshape(nx - 1, nz)
        uz = pre_z * x[nvx:].reshape(nx, nz - 1)
        exx = _grad_t(ux, 0, dx, nx, c, a)
        ezz = _grad_t(uz, 1, dz, nz, c, a)
        exz = _grad(ux, 1, dz, c, a) + _grad(uz, 0, dx, c, a)
        sxx = l2m * exx + lam * ezz
        szz = lam * exx + l2m * ezz
        sxz = muxz * exz
        yx = post_x * (_grad(sxx, 0, dx, c, a) + _grad_t(sxz, 1, dz, nz, c, a))
        yz = post_z * (_grad(szz, 1, dz, c, a) + _grad_t(sxz, 0, dx, nx, c, a))
        return np.concatenate([yx.ravel(), yz.ravel()])

    return matvec, [(nx - 1, nz), (nx, nz - 1)]


def _gershgorin(op: _Operator) -> float:
    """The largest row sum of magnitudes (``op`` in absolute form) over the model's
    points and the layer's points within reach of them (further out the rows repeat
    the edge's): an upper bound of every eigenvalue (Gershgorin's theorem)."""
    matvec, shapes = op
    sums = matvec(np.ones(sum(a * b for a, b in shapes)))
    best, k = 0.0, 0
    r = _PAD - _ROW_REACH
    for a, b in shapes:
        part = sums[k : k + a * b].reshape(a, b)[r:-r, r:-r]
        best = max(best, float(part.max()))
        k += a * b
    return best


def _spectral(op: _Operator) -> float | None:
    """The largest eigenvalue of ``op`` (symmetric form) by :func:`_largest_eigenvalue`."""
    matvec, shapes = op
    return _largest_eigenvalue(matvec, sum(a * b for a, b in shapes))


def gershgorin_velocity(
    stiffness: np.ndarray, rho: np.ndarray, dx: float, dz: float, order: int
) -> float:
    """Upper bound of the stability velocity (Gershgorin's theorem on ``L``).

    Row ``i`` of ``|L|`` sums to ``K_i 2 S (A_x / dx^2 + A_z / dz^2)`` with ``S = sum|c|``
    and ``A_x = sum_m |c_m| (B_{i+m+1/2} + B_{i-m-1/2})`` (likewise along z), so every
    eigenvalue is at most the largest such sum. In a homogeneous medium the bound is
    exact (``v = v_p``); it is cheap (a few array operations), and rigorous.

    Parameters
    ----------
    stiffness
        ``K`` at the nodes (the bulk modulus).
    rho
        Density at the nodes.
    dx, dz
        Grid spacing (m).
    order
        Spatial order (2, 4 or 8).
    """
    c = fd_coefficients(order)
    op = _acoustic_operator(stiffness, rho, dx, dz, c, absolute=True)
    return _velocity_of(_gershgorin(op), dx, dz, order)


def spectral_velocity(
    stiffness: np.ndarray, rho: np.ndarray, dx: float, dz: float, order: int
) -> float:
    """The stability velocity from the largest eigenvalue of ``L`` (Lanczos iteration).

    ``L`` is similar to the symmetric ``M = G^T G``, ``G p = (sqrt(B_x) Dx+ sqrt(K) p,
    sqrt(B_z) Dz+ sqrt(K) p)``, whose largest eigenvalue ``scipy.sparse.linalg.eigsh``
    finds in tens of products (about a second for 500 x 500 nodes). The grid is extended
    by 8 cells of edge values, with zero pressure beyond. The Ritz value approaches
    ``lambda_max`` from below (within 0.2%); :func:`stability_velocity` adds the margin.
    """
    c = fd_coefficients(order)
    op = _acoustic_operator(stiffness, rho, dx, dz, c, absolute=False, pad=_SPECTRAL_PAD)
    lam = _spectral(op)
    if lam is None:  # pragma: no cover
        return gershgorin_velocity(stiffness, rho, dx, dz, order)
    return _velocity_of(lam, dx, dz, order)


def elastic_gershgorin_velocity(
    lam: np.ndarray, mu: np.ndarray, rho: np.ndarray, dx: float, dz: float, order: int
) -> float:
    """Upper bound of the elastic scheme's stability velocity (Gershgorin's theorem on
    the velocity operator ``B D^T C D``: its largest row sum of magnitudes). Exact for
    a homogeneous medium with ``dx = dz`` (``v = v_p``); an interface between a solid
    and a light fluid raises it far above ``v_p``: the shear points that touch the solid
    keep a quarter of its ``mu`` next to the fluid's buoyancy."""
    c = fd_coefficients(order)
    op = _elastic_operator(lam, mu, rho, dx, dz, c, absolute=True)
    return _velocity_of(_gershgorin(op), dx, dz, order)


def elastic_spectral_velocity(
    lam: np.ndarray, mu: np.ndarray, rho: np.ndarray, dx: float, dz: float, order: int
) -> float:
    """The elastic scheme's stability velocity from the largest eigenvalue of its
    velocity operator (Lanczos on the symmetric form, as :func:`spectral_velocity`)."""
    c = fd_coefficients(order)
    op = _elastic_operator(lam, mu, rho, dx, dz, c, absolute=False, pad=_SPECTRAL_PAD)
    lam_max = _spectral(op)
    if lam_max is None:  # pragma: no cover
        return elastic_gershgorin_velocity(lam, mu, rho, dx, dz, order)
    return _velocity_of(lam_max, dx, dz, order)


def stability_velocity(
    dt: float,
    vmax: float,
    moduli: Mapping[str, np.ndarray],
    dx: float,
    dz: float,
    order: int,
) -> float:
    """The velocity that sets the CFL limit of this model for ``dt``: ``vmax`` when that
    is all it takes, else the larger effective velocity of the density contrasts.

    ``moduli``: ``kappa`` and ``rho`` (acoustic), or ``lambda``, ``mu`` and ``rho``
    (elastic) at the model's nodes. A homogeneous model returns ``vmax`` at once. Else
    the Gershgorin bound is computed first (cheap), and only when ``dt`` fails it the
    largest eigenvalue by a Lanczos iteration (both cached per model; also when ``dt`` fails
    ``vmax`` itself, so that the error message names the limit that holds). A Lanczos
    value above ``vmax`` is raised by :data:`LANCZOS_MARGIN` (the Ritz value approaches
    the eigenvalue from below); one below it gives ``vmax``.
    """
    elastic = "mu" in moduli
    names = ("lambda", "mu", "rho") if elastic else ("kappa", "rho")
    args = tuple(np.asarray(moduli[k], np.float64) for k in names)
    if all(np.ptp(a) == 0 for a in args):
        return vmax  # the homogeneous limit is the CFL formula's
    key = (elastic, *(_digest(a) for a in args), np.shape(args[0]), float(dx), float(dz), order)
    known = _KNOWN.get(key)
    if known is None:  # every simulation of a model checks it: once is enough
        if len(_KNOWN) >= 16:
            _KNOWN.pop(next(iter(_KNOWN)))
        gershgorin = elastic_gershgorin_velocity if elastic else gershgorin_velocity
        known = _KNOWN[key] = {"bound": gershgorin(*args, dx, dz, order)}  # type: ignore[operator]
    bound = known["bound"]
    if dt <= max_stable_dt(max(bound, vmax), dx, dz, order) or bound <= vmax:
        return vmax
    if "exact" not in known:
        exact = elastic_spectral_velocity if elastic else spectral_velocity
        known["exact"] = exact(*args, dx, dz, order)  # type: ignore[operator]
    v = known["exact"]
    return vmax if v <= vmax else min(bound, v * math.sqrt(1.0 + LANCZOS_MARGIN))


#: Relative margin added to a Lanczos eigenvalue (its Ritz value at ``tol = 1e-2``
#: was within 0.2% below the eigenvalue in every case measured).
LANCZOS_MARGIN = 0.005


def _digest(a: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(a, np.float64).data).hexdigest()


#: The Gershgorin bound (``bound``) and, once needed, the Lanczos value (``exact``) of
#: the last models checked, by digest (a few models, oldest dropped).
_KNOWN: dict[tuple, dict[str, float]] = {}
