"""Plain-numpy operations shared by the numpy baselines (in place, no temporaries)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["derivative", "memory_update"]


def derivative(
    f: np.ndarray,
    axis: int,
    plus: bool,
    coefs: Sequence[float],
    region: tuple[slice, slice],
    out: np.ndarray,
    tmp: np.ndarray,
) -> None:
    """``out = D+ f`` (``plus``: half-node output from nodes) or ``D- f`` along ``axis``
    on ``region`` (array rows and columns, both with explicit bounds)::

        D+ f[i] = sum_m c_m (f[i + m] - f[i + 1 - m])
        D- f[i] = sum_m c_m (f[i + m - 1] - f[i - m])

    ``coefs`` are ``c_1, c_2, ...`` (zero ones are skipped); ``tmp`` is a work buffer of
    the shape of ``out``.
    """
    r, c = region
    first = True
    for m, coef in enumerate(coefs, start=1):
        if coef == 0:
            continue
        hi, lo = (m, 1 - m) if plus else (m - 1, -m)
        if axis == 0:
            a, b = f[r.start + hi : r.stop + hi, c], f[r.start + lo : r.stop + lo, c]
        else:
            a, b = f[r, c.start + hi : c.stop + hi], f[r, c.start + lo : c.stop + lo]
        dst = out if first else tmp
        np.subtract(a, b, out=dst)
        np.multiply(dst, coef, out=dst)
        if not first:
            np.add(out, tmp, out=out)
        first = False


def memory_update(
    m: np.ndarray, a: np.ndarray, b: np.ndarray, d: np.ndarray, tmp: np.ndarray
) -> None:
    """C-PML memory variable of the derivative ``d``: ``m <- b m + a d``, then
    ``d += m`` (all in place; ``tmp`` a work buffer of the shape of ``d``)."""
    np.multiply(m, b, out=m)
    np.multiply(d, a, out=tmp)
    np.add(m, tmp, out=m)
    np.add(d, m, out=d)
