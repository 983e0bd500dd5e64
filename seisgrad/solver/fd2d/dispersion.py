"""Time-dispersion transforms: synthetics free of the time stepping's dispersion error.

Why
---
The leapfrog time stepping of ``fd2d`` is second order: a mode that the exact wave
equation would oscillate at the angular frequency :math:`\\nu` oscillates in the time loop
at :math:`\\omega` with

.. math::

    \\nu = \\frac{2}{\\Delta t} \\sin\\frac{\\omega \\Delta t}{2}
    \\quad\\Longleftrightarrow\\quad
    \\omega = \\frac{2}{\\Delta t} \\arcsin\\frac{\\nu \\Delta t}{2} .

The error does not depend on the medium or the position: every wave is delayed by a
fraction :math:`\\approx (\\nu \\Delta t)^2 / 24` of its travel time, so it grows with the
propagation distance (about 1.5% of the direct wave 3.5 wavelengths from a source at half
the CFL limit, against 0.3% for the spatial error at 8 points per wavelength, order 8).
Because it is a pure warping of the frequency axis, it can be undone exactly on the
traces (Stork 2013; Koene et al. 2018, *Eliminating time dispersion from seismic wave
modeling*, GJI 213):

* :func:`forward_transform` (FTDT) turns a source time function into the sequence whose
  discrete spectrum at :math:`\\theta = \\omega \\Delta t` is the exact spectrum at
  :math:`\\nu(\\theta)`:
  :math:`s_d[n] = \\frac{1}{2\\pi}\\int_{-\\pi}^{\\pi}
  \\hat s\\big(2 \\sin(\\theta/2)\\big)\\, e^{i \\theta (n + a)}\\, d\\theta`,
  :math:`\\hat s(\\varphi) = \\sum_m s(m \\Delta t) e^{-i m \\varphi}`;
* :func:`inverse_transform` (ITDT) maps what the time loop recorded back to the exact
  time axis:
  :math:`y[k] = \\frac{1}{2\\pi}\\int_{-2}^{2} X\\big(2 \\arcsin(\\varphi/2)\\big)\\,
  e^{i k \\varphi}\\, d\\varphi`, :math:`X(\\theta) = \\sum_n x[n] e^{-i\\theta (n + a)}`.

``a`` is the time of sample ``n`` in steps minus ``n``: 0 for quantities at ``n dt``
(pressure, stress, forces), 1/2 for those at ``(n + 1/2) dt`` (velocities, pressure and
moment-tensor sources). The relation holds for every staggered quantity: a difference
over one step is :math:`2 i \\sin(\\theta/2) = i \\nu \\Delta t` in the discrete
spectrum, exactly :math:`i \\nu \\Delta t` times the continuous one. The running sum that
turns velocities into displacements is therefore an exact integration on the warped axis.

Numerics
--------
Both transforms are linear maps on traces of ``nt`` samples: a zero-padded FFT of length
``N`` (at least :data:`OVERSAMPLING` ``nt``), a Lagrange interpolation of
:data:`LAGRANGE_POINTS` points from that uniform frequency grid to the warped one (a
sparse matrix, built once per ``nt`` and ``a``), and an inverse FFT. The interpolation
error is below ``1e-9`` of the trace (checked in the tests). :func:`inverse_transform_adjoint`
is the exact transpose of :func:`inverse_transform` (same sparse matrix, FFTs are
symmetric matrices), so gradients through the correction stay exact: the solver applies it
to the adjoint sources.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
import scipy.sparse

__all__ = [
    "OVERSAMPLING",
    "LAGRANGE_POINTS",
    "forward_transform",
    "inverse_transform",
    "inverse_transform_adjoint",
    "warped_frequency",
]

#: Zero padding of the FFTs (the uniform frequency grid is this much finer than ``2 pi /
#: nt``).
OVERSAMPLING = 6

#: Points of the Lagrange interpolation from the uniform to the warped frequency grid.
LAGRANGE_POINTS = 16

#: Length of the smooth continuation of each trace past its end, as a fraction of ``nt``
#: (see :func:`_tail`).
TAIL = 0.25

#: Band of the taper of the transforms, as fractions of the Nyquist frequency: content
#: below the first passes unchanged, above the second is removed (see :func:`_taper`).
TAPER = (0.5, 0.9)

#: Complex values of the work arrays of one batch of traces (about 64 MB in complex128).
_BATCH_VALUES = 1 << 22


def _chunk(n: int) -> int:
    """Traces transformed at once with FFTs of length ``n``."""
    return max(1, min(64, _BATCH_VALUES // max(n, 1)))


def warped_frequency(omega_dt: np.ndarray | float) -> np.ndarray:
    """``nu dt = 2 sin(omega dt / 2)``: the exact frequency (times ``dt``) of a mode the
    time loop oscillates at ``omega``."""
    return 2.0 * np.sin(0.5 * np.asarray(omega_dt, dtype=np.float64))


def _tail_length(nt: int) -> int:
    """Samples of the smooth continuation appended to each trace before the transforms
    (:func:`_tail`)."""
    return max(int(TAIL * nt), 8)


def _fft_size(nt: int) -> int:
    return int(scipy.fft.next_fast_len(OVERSAMPLING * (max(int(nt), 1) + _tail_length(nt))))


@functools.lru_cache(maxsize=16)
def _tail(nt: int) -> np.ndarray:
    """Weights ``w_j`` (``j = 1 .. m``) of the continuation ``x[nt - 1 + j] = w_j
    x[nt - 1]`` of a trace past its end: a half cosine from 1 to 0.

    A trace that ends while a wave still passes (or a displacement that keeps a static
    offset) would otherwise end with a jump to the zero padding, whose broadband content
    the transforms spread over the whole trace as ringing (about 1e-3 of the jump). The
    continuation turns the jump into a slow decay that the warping hardly changes.
    """
    m = _tail_length(nt)
    j = np.arange(1, m + 1, dtype=np.float64)
    return 0.5 * (1.0 + np.cos(np.pi * j / (m + 1)))


def _taper(theta: np.ndarray) -> np.ndarray:
    """1 for ``|theta| <= TAPER[0] pi``, a half cosine down to 0 at ``TAPER[1] pi``.

    Near ``theta = pi`` the warping's Jacobian is singular (``d theta / d phi`` grows
    without bound), so content there (only round-off and the ends of cut traces: no
    setup that passes the solver's sampling check has waves above a quarter of Nyquist)
    would make the transforms depend on their grids; it is faded out instead."""
    x = np.abs(np.asarray(theta, dtype=np.float64)) / np.pi
    lo, hi = TAPER
    r = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * r))


def _grid_angles(n: int) -> np.ndarray:
    """Angles ``2 pi l / n`` in FFT order, in ``[-pi, pi)``."""
    return 2.0 * np.pi * np.fft.fftfreq(n)


def _lagrange_matrix(
    targets: np.ndarray, n: int, offset: int | None = None, ncols: int | None = None
) -> scipy.sparse.csr_matrix:
    """Sparse ``(targets.size, n)`` matrix interpolating a smooth ``2 pi``-periodic
    function, given at the angles ``2 pi j / n``, at ``targets`` (radians).

    With ``offset``, column ``c`` holds the value at ``j = c - offset`` (no wrapping;
    ``ncols`` columns) instead of ``j mod n``."""
    L = LAGRANGE_POINTS
    h = 2.0 * np.pi / n
    u = np.asarray(targets, dtype=np.float64) / h  # position in grid steps
    j0 = np.floor(u).astype(np.int64) - (L // 2 - 1)  # first of the L points
    x = u - j0  # offset of the target from point 0, in [L/2 - 1, L/2)
    nodes = np.arange(L, dtype=np.float64)
    # barycentric-free product form: w_l = prod_{m != l} (x - m) / (l - m)
    diff = x[:, None] - nodes[None, :]  # (T, L)
    w = np.empty_like(diff)
    for ll in range(L):
        others = np.delete(nodes, ll)
        w[:, ll] = np.prod(diff[:, others.astype(int)], axis=1) / np.prod(ll - others)
    cols = j0[:, None] + nodes[None, :].astype(np.int64)
    cols = cols % n if offset is None else cols + offset
    rows = np.repeat(np.arange(u.size), L)
    shape = (u.size, n if ncols is None else ncols)
    return scipy.sparse.csr_matrix((w.ravel(), (rows, cols.ravel())), shape=shape)


@functools.lru_cache(maxsize=16)
def _inverse_plan(
    nt: int, a: float, precision: str = "float64"
) -> tuple[int, scipy.sparse.csr_matrix, np.ndarray]:
    """For :func:`inverse_transform`: the FFT size ``N``, the interpolation matrix from
    the uniform angles to ``theta(phi_l) = 2 arcsin(phi_l / 2)`` for the output angles
    ``|phi_l| < 2`` (rows of the others are empty) and the phase ``exp(-i theta a)``."""
    n = _fft_size(nt)
    phi = _grid_angles(n)
    inside = np.abs(phi) < 2.0
    theta = np.zeros(n)
    theta[inside] = 2.0 * np.arcsin(0.5 * phi[inside])
    m = _lagrange_matrix(theta, n)
    m = scipy.sparse.diags(inside.astype(np.float64)) @ m
    phase = np.where(inside, np.exp(-1j * theta * a) * _taper(theta), 0.0)
    return n, _cast(m.tocsr(), precision), _cast(phase, precision)


@functools.lru_cache(maxsize=16)
def _transposed(nt: int, a: float, precision: str) -> scipy.sparse.csr_matrix:
    return _inverse_plan(nt, a, precision)[1].T.tocsr()


def _cast(a, precision: str):
    """Real arrays and matrices to ``precision``, complex ones to its complex type."""
    real = np.dtype(precision)
    cplx = np.result_type(real, np.complex64)
    return a.astype(cplx if np.iscomplexobj(a) else real)


@functools.lru_cache(maxsize=16)
def _inverse_half_plan(
    nt: int, a: float, precision: str = "float64"
) -> tuple[int, np.ndarray, scipy.sparse.csr_matrix, np.ndarray]:
    """:func:`_inverse_plan` on the half spectrum (real traces have Hermitian spectra):
    the FFT size ``N``, the indices that extend ``rfft`` output (``j = 0 .. N/2``) to
    ``j = -P .. N/2 + P`` (negative: to be conjugated), the interpolation matrix from
    that extension to ``phi_l >= 0`` and the phase. The same linear map as the full
    spectrum, for half the work."""
    n = _fft_size(nt)
    half = n // 2 + 1
    pad = LAGRANGE_POINTS
    j = np.arange(-pad, half + pad)
    src = np.where(j < 0, -j, np.where(j >= half, n - j, j))
    src = np.where((j < 0) | (j >= half), -src, src)  # negative: conjugate of -src
    phi = 2.0 * np.pi * np.arange(half) / n
    inside = phi < 2.0
    theta = np.zeros(half)
    theta[inside] = 2.0 * np.arcsin(0.5 * phi[inside])
    m = _lagrange_matrix(theta, n, offset=pad, ncols=half + 2 * pad)
    m = (scipy.sparse.diags(inside.astype(np.float64)) @ m).tocsr()
    phase = np.where(inside, np.exp(-1j * theta * a) * _taper(theta), 0.0)
    return n, src, _cast(m, precision), _cast(phase, precision)


@functools.lru_cache(maxsize=16)
def _forward_plan(
    nt: int, a: float, precision: str = "float64"
) -> tuple[int, scipy.sparse.csr_matrix, np.ndarray]:
    """For :func:`forward_transform`: the FFT size, the interpolation matrix from the
    uniform angles to ``phi(theta_l) = 2 sin(theta_l / 2)`` and the phase
    ``exp(i theta_l a)``."""
    n = _fft_size(nt)
    theta = _grid_angles(n)
    m = _lagrange_matrix(2.0 * np.sin(0.5 * theta), n)
    return n, _cast(m, precision), _cast(np.exp(1j * theta * a) * _taper(theta), precision)


def _rows(x: np.ndarray, precision: str) -> tuple[np.ndarray, tuple[int, ...]]:
    if precision not in ("float32", "float64"):
        raise ValueError(f"precision must be float32 or float64, got {precision!r}")
    arr = np.asarray(x, dtype=precision)
    return arr.reshape(-1, arr.shape[-1]), arr.shape


def _extend(rows: np.ndarray) -> np.ndarray:
    """Traces followed by their continuation (:func:`_tail`)."""
    nt = rows.shape[-1]
    tail = rows[:, -1:] * _tail(nt).astype(rows.dtype)[None, :]
    return np.concatenate([rows, tail], axis=-1)


def _extend_adjoint(full: np.ndarray, nt: int) -> np.ndarray:
    """Transpose of :func:`_extend` (``full``: at least ``nt + m`` samples)."""
    m = _tail_length(nt)
    out = full[:, :nt].copy()
    out[:, -1] += full[:, nt : nt + m] @ _tail(nt).astype(full.dtype)
    return out


def _check_offset(a: float) -> float:
    a = float(a)
    if not math.isfinite(a):
        raise ValueError(f"sample offset must be finite, got {a}")
    return a


def inverse_transform(x: np.ndarray, a: float = 0.0, precision: str = "float64") -> np.ndarray:
    """ITDT: traces recorded by the time loop to the exact time axis.

    Parameters
    ----------
    x
        Traces (last axis: ``nt`` time samples), sample ``n`` at time ``(n + a) dt``.
    a
        Sample offset in steps (0 or 1/2).
    precision
        Arithmetic of the transform: ``float32`` (about twice as fast; the relative
        round-off of a float32 simulation) or ``float64``.

    Returns
    -------
    numpy.ndarray
        Same shape (float64): the traces at times ``k dt`` as the exact (time-continuous)
        wave equation would give them.
    """
    rows, shape = _rows(x, precision)
    nt = shape[-1]
    n, src, m, phase = _inverse_half_plan(nt, _check_offset(a), precision)
    conj = src < 0
    src = np.abs(src)
    out = np.empty_like(rows)
    step = _chunk(n)
    for c in range(0, rows.shape[0], step):
        spec = scipy.fft.rfft(_extend(rows[c : c + step]), n=n, axis=-1)  # F(theta_j)
        ext = spec[:, src]
        ext[:, conj] = np.conj(ext[:, conj])
        q = (m @ ext.T).T * phase  # X(theta(phi_l)), phi_l >= 0
        out[c : c + step] = scipy.fft.irfft(q, n=n, axis=-1)[:, :nt]
    return out.reshape(shape)


def inverse_transform_adjoint(
    y: np.ndarray, a: float = 0.0, precision: str = "float64"
) -> np.ndarray:
    """Exact transpose of :func:`inverse_transform` (for adjoint sources):
    ``<inverse_transform(x), y> = <x, inverse_transform_adjoint(y)>`` to round-off."""
    rows, shape = _rows(y, precision)
    nt = shape[-1]
    n, m, phase = _inverse_plan(nt, _check_offset(a), precision)
    mt = _transposed(nt, _check_offset(a), precision)
    out = np.empty_like(rows)
    step = _chunk(n)
    for c in range(0, rows.shape[0], step):
        # transposes: crop -> zero pad, ifft -> ifft (symmetric), diag -> diag, M -> M^T,
        # fft -> fft (symmetric), zero pad -> crop
        g = scipy.fft.ifft(rows[c : c + step], n=n, axis=-1) * phase
        spec = (mt @ g.T).T
        out[c : c + step] = _extend_adjoint(scipy.fft.fft(spec, axis=-1).real, nt)
    return out.reshape(shape)


def forward_transform(s: np.ndarray, a: float = 0.0, precision: str = "float64") -> np.ndarray:
    """FTDT: a source time function to the sequence the time loop should inject.

    Parameters
    ----------
    s
        Samples ``s(m dt)``, ``m = 0 .. nt - 1`` (last axis), of the source time function
        of the exact wave equation.
    a
        Offset of the injection times in steps: the result's sample ``n`` is injected at
        ``(n + a) dt`` (1/2 for sources acting on pressure or stress).
    precision
        As for :func:`inverse_transform`.

    Returns
    -------
    numpy.ndarray
        The ``nt`` values to inject (float64). With them and :func:`inverse_transform` on
        the records, the synthetics carry no time-dispersion error.
    """
    rows, shape = _rows(s, precision)
    nt = shape[-1]
    n, m, phase = _forward_plan(nt, _check_offset(a), precision)
    out = np.empty_like(rows)
    step = _chunk(n)
    for c in range(0, rows.shape[0], step):
        spec = scipy.fft.fft(_extend(rows[c : c + step]), n=n, axis=-1)  # S(phi_j)
        q = (m @ spec.T).T * phase  # S(phi(theta_l)) e^{i theta_l a}
        out[c : c + step] = scipy.fft.ifft(q, axis=-1)[:, :nt].real
    return out.reshape(shape)
