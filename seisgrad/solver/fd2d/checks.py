"""Set-up checks of the ``fd2d`` solver whose messages suggest values to use.

A suggested value is rounded in the safe direction (a time step or a largest spacing
down, a smallest spacing up) and verified with the check itself, so that the number
printed in a message, copied as it is, passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from seisgrad.errors import StabilityError
from seisgrad.solver.fd2d.common import max_stable_dt

__all__ = ["check_sampling", "check_stability", "distinct", "safe_round"]

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


def check_stability(dt: float, vmax: float, dx: float, dz: float, order: int) -> None:
    """Raise :class:`~seisgrad.errors.StabilityError` if ``dt`` violates the CFL condition.

    The message names the largest stable ``dt`` for this grid, rounded down, and the
    smallest grid spacing that would be stable with this ``dt`` (scaled like ``dx``,
    ``dz``), rounded up: either, copied from the message, passes this check.

    Parameters
    ----------
    dt
        Time step (s).
    vmax
        Fastest wave speed of the model (m/s).
    dx, dz
        Grid spacing (m).
    order
        Spatial order of the differences (2, 4 or 8).
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
    raise StabilityError(
        f"unstable setup: dt = {shown} s exceeds the CFL limit {limit} s for "
        f"v_max = {vmax:.6g} m/s, dx = {dx:.6g} m, dz = {dz:.6g} m and order {order}; "
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
