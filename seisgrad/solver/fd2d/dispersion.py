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

The error does not depend on the medium or the position: every wave arrives early by a
fraction :math:`\\approx (\\nu \\Delta t)^2 / 24` of its travel time (high frequencies lead),
so it grows with the propagation distance (about 1.5% of the direct wave 3.5 wavelengths
from a source at half the CFL limit, against about 0.1% for the spatial error at 8 points
per wavelength, order 8).
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
Both transforms are linear maps on traces of ``nt`` samples, computed on the half
spectrum: a zero-padded real FFT of length ``N`` (:data:`OVERSAMPLING` times ``nt`` and
its continuation past the end), a Lagrange interpolation of :data:`LAGRANGE_POINTS`
points from that uniform frequency grid to the warped one (a sparse matrix, built once per
``nt`` and ``a``) and an inverse real FFT. The interpolation error is below about 1e-7 of
the trace (white noise, the hardest input; the tests check 1e-6 on band-limited noise).
:func:`inverse_transform_adjoint` is the exact transpose of :func:`inverse_transform`
(each step transposed; ``<T x, y> = <x, T^T y>`` to 1e-15), so gradients through the
correction stay exact: the solver applies it to the adjoint sources.

The transform of a sample needs the samples around it (a few tens). So the solver runs
:func:`extra_steps` more steps than the record and cuts them off after the inverse
transform (the last samples of a record cut at its end would otherwise be off by up to a
few percent where a wave still passes), and :func:`early_source_loss` measures what a
source that is not quiet at ``t = 0`` loses (the solver warns above
:data:`EARLY_SOURCE_LOSS`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
import scipy.sparse

__all__ = [
    "EARLY_SOURCE_LOSS",
    "early_source_loss",
    "extra_steps",
    "OVERSAMPLING",
    "LAGRANGE_POINTS",
    "forward_transform",
    "inverse_transform",
    "inverse_transform_adjoint",
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

#: Bytes of one batch's half spectrum (the complex work arrays of the transforms). Small
#: batches keep the work arrays in the caches: in a process that had not yet used that
#: much memory, 300 float32 traces of 2047 samples took 80-85 ms in batches of 64 and
#: 35-37 ms in batches of 1 MB (17 traces); in a solver that has run before, about 50 ms
#: either way. The results are the same to the bit (the transpose's to round-off).
_BATCH_BYTES = 1 << 20


def _chunk(n: int, precision: str) -> int:
    """Traces transformed at once with FFTs of length ``n`` in ``precision``."""
    complex_bytes = 2 * np.dtype(precision).itemsize
    return max(1, min(64, _BATCH_BYTES // max((n // 2 + 1) * complex_bytes, 1)))


def extra_steps(nt: int) -> int:
    """Time steps run after a record of ``nt`` samples when the traces are corrected:
    the inverse transform of a sample needs the samples around it, so a record cut at
    its last sample would be wrong over its last 10-20 samples (up to a few percent of
    the trace where a wave still passes). With these steps run and cut off after the
    transform, the whole record is right to about 1e-7 (measured on band-limited noise
    filling records of 200 to 20 000 samples)."""
    return 32 + int(nt) // 128


#: Largest :func:`early_source_loss` the solver accepts without a warning.
EARLY_SOURCE_LOSS = 1e-3


def early_source_loss(samples: np.ndarray, a: float = 0.0) -> float:
    """Largest value of the forward transform of a source time function that falls
    before ``t = 0``, relative to its largest value in the record.

    The transform spreads a source in time, more the later and the more broadband it is
    (the warping shifts each frequency by a fraction of its time); what falls before the
    start of the simulation is not injected, so a source time function that is not quiet
    at ``t = 0`` (a spike there, a Ricker wavelet with a too small ``t0``) loses part of
    it. Measured on the transform itself (its negative times wrap to the end of the FFT
    buffer), for a source injected at ``(n + a) dt``.
    """
    s = np.asarray(samples, dtype=np.float64).reshape(-1)
    if s.size == 0 or not np.any(s):
        return 0.0
    nt = s.size
    plan = _plan(nt, _check_offset(a), "float64", False)
    y = plan.apply_full(s[None, :])[0]
    lead = max(64, nt // 4)  # the negative times, at the end of the buffer
    peak = float(np.abs(y[:nt]).max())
    return float(np.abs(y[y.size - lead :]).max() / peak) if peak > 0 else 0.0


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


def _lagrange_matrix(
    targets: np.ndarray, n: int, offset: int, ncols: int
) -> scipy.sparse.csr_matrix:
    """Sparse ``(targets.size, ncols)`` matrix interpolating a smooth function, given at
    the angles ``2 pi j / n``, at ``targets`` (radians): column ``c`` holds the value at
    ``j = c - offset``."""
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
    cols = j0[:, None] + nodes[None, :].astype(np.int64) + offset
    rows = np.repeat(np.arange(u.size), L)
    return scipy.sparse.csr_matrix((w.ravel(), (rows, cols.ravel())), shape=(u.size, ncols))


def _cast(a, precision: str):
    """Real arrays and matrices to ``precision``, complex ones to its complex type."""
    real = np.dtype(precision)
    cplx = np.result_type(real, np.complex64)
    return a.astype(cplx if np.iscomplexobj(a) else real)


class _Plan:
    """One transform on the half spectrum (real traces have Hermitian spectra).

    ``rfft`` of the zero-padded trace gives ``F(t_j)`` at ``t_j = 2 pi j / N``, ``j = 0
    .. N/2``; ``src`` extends it to ``j = -P .. N/2 + P`` (``conj``: by symmetry), the
    sparse ``m`` interpolates that at the warped angles of the output bins ``l = 0 ..
    N/2`` and ``phase`` applies the sample offset and the taper; ``irfft`` gives the
    result. ``scatter`` (and ``scatter_conj``) put values of the extension back on the
    bins they came from (for the transpose).
    """

    def __init__(self, nt: int, a: float, precision: str, inverse: bool) -> None:
        n = _fft_size(nt)
        half = n // 2 + 1
        pad = LAGRANGE_POINTS
        j = np.arange(-pad, half + pad)
        conj = (j < 0) | (j >= half)
        src = np.where(j < 0, -j, np.where(j >= half, n - j, j))
        out = 2.0 * np.pi * np.arange(half) / n  # the output bins' angles, >= 0
        if inverse:  # output phi_l; read X at theta(phi_l) = 2 arcsin(phi_l / 2), |phi| < 2
            inside = out < 2.0
            theta = np.zeros(half)
            theta[inside] = 2.0 * np.arcsin(0.5 * out[inside])
            targets = theta
            phase = np.where(inside, np.exp(-1j * theta * a) * _taper(theta), 0.0)
        else:  # output theta_l; read S at phi(theta_l) = 2 sin(theta_l / 2)
            inside = np.ones(half, dtype=bool)
            targets = 2.0 * np.sin(0.5 * out)
            phase = np.exp(1j * out * a) * _taper(out)
        m = _lagrange_matrix(targets, n, offset=pad, ncols=half + 2 * pad)
        m = (scipy.sparse.diags(inside.astype(np.float64)) @ m).tocsr()
        ones = np.ones(j.size)
        cols = np.arange(j.size)
        self.n, self.nt = n, nt
        self.src, self.conj = src, conj
        self.m = _cast(m, precision)
        self.mt = self.m.T.tocsr()
        self.phase = _cast(phase, precision)
        shape = (half, j.size)
        self.scatter = _cast(
            scipy.sparse.csr_matrix((ones[~conj], (src[~conj], cols[~conj])), shape=shape),
            precision,
        )
        self.scatter_conj = _cast(
            scipy.sparse.csr_matrix((ones[conj], (src[conj], cols[conj])), shape=shape),
            precision,
        )
        # irfft(Z) = (1/N) [Z_0 + Z_{N/2} (-1)^k + 2 Re sum_{0<l<N/2} Z_l e^{...}]: the
        # weights c_l of its transpose, rfft(y) c / N
        c = np.full(half, 2.0)
        c[0] = 1.0
        if n % 2 == 0:
            c[-1] = 1.0
        self.c_over_n = _cast(c / n, precision)
        self.w = _cast(1.0 / c, precision)

    def apply_full(self, rows: np.ndarray) -> np.ndarray:
        """The whole FFT buffer of the result (negative times wrapped to its end)."""
        spec = scipy.fft.rfft(_extend(rows), n=self.n, axis=-1)
        ext = spec[:, self.src]
        ext[:, self.conj] = np.conj(ext[:, self.conj])
        q = (self.m @ ext.T).T * self.phase
        return scipy.fft.irfft(q, n=self.n, axis=-1)

    def apply(self, rows: np.ndarray) -> np.ndarray:
        return self.apply_full(rows)[:, : self.nt]

    def apply_transpose(self, rows: np.ndarray) -> np.ndarray:
        """The transpose of :meth:`apply` (for the real inner product)."""
        a = scipy.fft.rfft(rows, n=self.n, axis=-1) * self.c_over_n  # irfft, crop
        b = (self.mt @ (a * np.conj(self.phase)).T).T  # phase and interpolation
        f = (self.scatter @ b.T + self.scatter_conj @ np.conj(b).T).T  # the extension
        # rfft: e_n = Re sum_{l <= N/2} F_l e^{i t_l n} = N irfft(F w), w = 1 / c
        e = scipy.fft.irfft(f * self.w, n=self.n, axis=-1) * self.n
        return _extend_adjoint(e, self.nt)


@functools.lru_cache(maxsize=8)
def _plan(nt: int, a: float, precision: str, inverse: bool) -> _Plan:
    return _Plan(nt, a, precision, inverse)


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
        Same shape (in ``precision``): the traces at times ``k dt`` as the exact
        (time-continuous) wave equation would give them.
    """
    rows, shape = _rows(x, precision)
    plan = _plan(shape[-1], _check_offset(a), precision, True)
    return _run(plan, plan.apply, rows, shape)


def inverse_transform_adjoint(
    y: np.ndarray, a: float = 0.0, precision: str = "float64"
) -> np.ndarray:
    """Exact transpose of :func:`inverse_transform` (for adjoint sources):
    ``<inverse_transform(x), y> = <x, inverse_transform_adjoint(y)>`` to round-off."""
    rows, shape = _rows(y, precision)
    plan = _plan(shape[-1], _check_offset(a), precision, True)
    return _run(plan, plan.apply_transpose, rows, shape)


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
        The ``nt`` values to inject (in ``precision``). With them and
        :func:`inverse_transform` on the records, the synthetics carry no time-dispersion
        error.
    """
    rows, shape = _rows(s, precision)
    plan = _plan(shape[-1], _check_offset(a), precision, False)
    return _run(plan, plan.apply, rows, shape)


def _run(plan: _Plan, fn, rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``fn`` (a method of ``plan``) on batches of rows (bounded work arrays), reshaped
    to ``shape``."""
    out = np.empty_like(rows)
    step = _chunk(plan.n, rows.dtype.name)
    for c in range(0, rows.shape[0], step):
        out[c : c + step] = fn(rows[c : c + step])
    return out.reshape(shape)
