r"""Kernel post-processing: sum, smoothing, scaling, masking, preconditioning, checks.

Pure functions on :class:`~seisgrad.model.Model` objects (kernels and gradients use the
same container as models). The migration workflow chains them as

.. code-block:: text

    event kernels --sum_kernels--> misfit kernel --smooth_gaussian / smooth_laplacian-->
    smoothed kernel --scale_by_model--> --precondition_illumination--> --apply_mask-->
    gradient

(summing, smoothing, scaling, preconditioning, masking; the illumination is smoothed
with the same smoother as the kernels)

and :func:`check_gradient` after each step turns an all-zero or non-finite result into a
:class:`~seisgrad.errors.GradientError` that names the step (:func:`postprocess_kernels`
and :func:`gradient_from_kernel` do exactly this).

Definitions (``docs/models.md`` has the long form)
--------------------------------------------------
* Kernels here are node kernels :math:`K_{ij} = \partial J/\partial m_{ij}` (what the
  solvers return). Their "integral" is the plain sum :math:`\sum_{ij} K_{ij}` (for a
  density :math:`k` it would be :math:`\sum_{ij} k_{ij}\,\Delta x\,\Delta z`; the two
  differ by the constant cell area, so conserving one conserves the other).
* Smoothing lengths ``smooth_h`` (along x) and ``smooth_v`` (along z) are in metres and
  are by default the **standard deviation** :math:`\sigma` of the Gaussian
  :math:`\exp(-x^2 / 2\sigma^2)`. That is what SPECFEM's ``xsmooth_sem`` takes as
  ``SIGMA_H``/``SIGMA_V`` and what SeisFlows calls the "half-width" ``smooth_h``/
  ``smooth_v``. Other conventions: ``convention="e_folding"`` (the width :math:`w` of
  :math:`\exp(-x^2/w^2)`, :math:`\sigma = w/\sqrt 2`) and ``convention="hwhm"``
  (half width at half maximum, :math:`\sigma = w/\sqrt{2\ln 2}`); see
  :func:`gaussian_sigma`.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seisgrad.config import is_positive_real
from seisgrad.errors import ConfigError, DataError, GradientError
from seisgrad.model import Model, _as_names, read_model

__all__ = [
    "SMOOTHERS",
    "CONVENTIONS",
    "sum_kernels",
    "gaussian_sigma",
    "smooth_gaussian",
    "smooth_laplacian",
    "smooth",
    "scale_by_model",
    "apply_mask",
    "mask_factors",
    "precondition_illumination",
    "check_gradient",
    "postprocess_kernels",
    "gradient_from_kernel",
]

#: Smoothing operators known to :func:`smooth`.
SMOOTHERS = ("gaussian", "laplacian")
#: Meanings of a smoothing length (see :func:`gaussian_sigma`).
CONVENTIONS = ("sigma", "e_folding", "hwhm")

#: Default water level of :func:`precondition_illumination` (relative to the
#: illumination's maximum); the migration workflow's ``illumination_water_level``
#: defaults to it too.
ILLUMINATION_WATER_LEVEL = 1e-2


def _same_grid(a: Model, b: Model, what: str) -> None:
    if not a.grid.matches(b.grid):
        raise DataError(
            f"{what}: grids differ ({a.grid} vs {b.grid}); interpolate one onto the other "
            "with seisgrad.model.interpolate"
        )


def _positive_real(value: Any, what: str) -> float:
    """``value`` as a positive finite float (any real number, numpy scalars included;
    not a bool or a string).

    Raises
    ------
    ConfigError
        Naming ``what`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{what} must be a positive number, got {value!r}")
    if not is_positive_real(value):
        raise ConfigError(f"{what} must be a positive finite number, got {value!r}")
    return float(value)


def _select(model: Model, names: str | Sequence[str] | None) -> list[str]:
    """The parameters ``names`` of ``model`` (all when ``None``; a single string is one
    name)."""
    names = _as_names(names)
    if names is None:
        return list(model)
    missing = [n for n in names if n not in model]
    if missing:
        raise DataError(
            f"no parameter(s) {', '.join(missing)} in the kernel "
            f"(it has: {', '.join(model) or 'none'})"
        )
    return list(names)


def _length(value: float, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected a length in metres, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ConfigError(f"{what}: expected a finite length >= 0 (metres), got {value!r}")
    return v


# ---------------------------------------------------------------------------------------
# Sum
# ---------------------------------------------------------------------------------------


def sum_kernels(kernels: Sequence[Model]) -> Model:
    r"""Sum event kernels: :math:`K = \sum_{e} K_e`, in the order given.

    The sum is accumulated in float64 in list order (so the result does not depend on
    the order in which tasks finished, only on the order of ``kernels``) and returned in
    the dtype of the first kernel. All kernels must share the grid and the parameter
    names; the result has the first kernel's parameter order.
    """
    ks = list(kernels)
    if not ks:
        raise DataError("sum_kernels: no kernels to sum (the list is empty)")
    first = ks[0]
    names = list(first)
    if not names:
        raise DataError("sum_kernels: the first kernel has no parameters")
    acc = {n: first[n].astype(np.float64) for n in names}
    for e, k in enumerate(ks[1:], start=1):
        _same_grid(first, k, f"sum_kernels: kernel {e}")
        if set(k) != set(names):
            raise DataError(
                f"sum_kernels: kernel {e} has parameters {', '.join(k)}, kernel 0 has "
                f"{', '.join(names)}"
            )
        for n in names:
            acc[n] += k[n]
    return Model(first.grid, {n: acc[n].astype(first[n].dtype) for n in names})


# ---------------------------------------------------------------------------------------
# Smoothing
# ---------------------------------------------------------------------------------------


def gaussian_sigma(width: float, convention: str = "sigma") -> float:
    r"""Standard deviation :math:`\sigma` (m) of a Gaussian of the given ``width``.

    * ``"sigma"``: ``width`` is :math:`\sigma` (SPECFEM ``xsmooth_sem``, SeisFlows
      ``smooth_h``/``smooth_v``);
    * ``"e_folding"``: the Gaussian is :math:`\exp(-x^2/w^2)` (falls to :math:`1/e` at
      :math:`w`): :math:`\sigma = w/\sqrt2`;
    * ``"hwhm"``: half width at half maximum: :math:`\sigma = w/\sqrt{2\ln 2}`
      (:math:`\approx w / 1.1774`).
    """
    w = _length(width, "smoothing width")
    if convention == "sigma":
        return w
    if convention == "e_folding":
        return w / math.sqrt(2.0)
    if convention == "hwhm":
        return w / math.sqrt(2.0 * math.log(2.0))
    raise ConfigError(
        f"smoothing length convention must be one of {CONVENTIONS}, got {convention!r}"
    )


def _flat_beyond(n: int, edge: str) -> float:
    """Gaussian width (in cells) beyond which smoothing ``n`` cells gives their mean:
    10 n with mirrored edges (the periodic extension's first Fourier term is then damped
    by exp(-2 pi^2 100 / 4), far below round-off), 1000 n with ``normalize`` (the
    kernel varies by (n / s)^2 / 2 = 5e-7 over the model)."""
    return (10.0 if edge == "reflect" else 1000.0) * n


def smooth_gaussian(
    model: Model,
    smooth_h: float,
    smooth_v: float,
    *,
    convention: str = "sigma",
    edge: str = "reflect",
    truncate: float = 4.0,
    names: str | Sequence[str] | None = None,
) -> Model:
    r"""Separable Gaussian smoothing with lengths in metres.

    .. math::
        \tilde K_{ij} = \sum_{i'j'} g^x_{i-i'}\, g^z_{j-j'}\, K_{i'j'}, \qquad
        g^x_n = \frac{e^{-(n\Delta x)^2/2\sigma_h^2}}
                     {\sum_{|n'| \le r_x} e^{-(n'\Delta x)^2/2\sigma_h^2}},\ |n| \le r_x,

    and the same along z with :math:`\sigma_v`, :math:`\Delta z`; the kernel is cut at
    :math:`r_x = \mathrm{round}(\mathtt{truncate}\cdot\sigma_h/\Delta x)` nodes and its
    weights sum to one, so away from the edges the sum (integral) of the field is
    conserved to round-off and a constant field is unchanged.

    Parameters
    ----------
    model
        Kernel (or any model) to smooth; the result has the same dtype (computed in
        float64).
    smooth_h, smooth_v
        Horizontal (x) and vertical (z) smoothing lengths in metres, in the meaning of
        ``convention`` (default: the standard deviation :math:`\sigma`, like SPECFEM's
        ``xsmooth_sem`` and SeisFlows' ``smooth_h``/``smooth_v``). ``0`` switches
        smoothing off in that direction.
    convention
        ``"sigma"``, ``"e_folding"`` or ``"hwhm"`` (see :func:`gaussian_sigma`).
    edge
        Handling of the model edges:

        * ``"reflect"`` (default): the field is mirrored about the outer cell faces
          (half a spacing beyond the edge nodes). The smoothing matrix is then symmetric
          with unit row and column sums, so the **total sum is conserved exactly**,
          including near the edges, and constants are preserved.
        * ``"normalize"``: weights outside the model are dropped and the remaining ones
          renormalised to sum to one (what SPECFEM's ``xsmooth_sem`` does). Constants are
          preserved, but near the edges the sum is not.
    truncate
        Cut-off of the Gaussian in standard deviations (default 4: the dropped tails
        hold 6e-5 of the weight before renormalisation). A Gaussian wider than 10 times
        the model along an axis (1000 times with ``"normalize"``) is flat over it: the
        result along that axis is the mean, what the uncut Gaussian gives to round-off
        (the cut kernel differs by about 1e-5), without building a kernel of
        ``truncate * sigma / spacing`` weights.
    names
        Parameters to smooth (default: all; others are copied unchanged).
    """
    from scipy.ndimage import gaussian_filter1d

    if edge not in ("reflect", "normalize"):
        raise ConfigError(f"edge must be 'reflect' or 'normalize', got {edge!r}")
    truncate = _positive_real(truncate, "truncate")
    sig_h = gaussian_sigma(smooth_h, convention)
    sig_v = gaussian_sigma(smooth_v, convention)
    g = model.grid
    sx = sig_h / g.dx
    sz = sig_v / g.dz
    keys = _select(model, names)
    out = {}
    for name, arr in model.items():
        if name not in keys or (sx == 0 and sz == 0):
            out[name] = arr.copy()
            continue
        a = arr.astype(np.float64)
        mode = "reflect" if edge == "reflect" else "constant"
        for axis, s in ((0, sx), (1, sz)):
            if s > _flat_beyond(a.shape[axis], edge):
                # a Gaussian this wide is flat over the model: the result is the mean
                # along the axis (mirrored copies: to round-off, exp(-2 pi^2 s^2 / (2n)^2)),
                # without a kernel of truncate * s weights (a length in km given in m
                # took minutes)
                a = np.broadcast_to(a.mean(axis=axis, keepdims=True), a.shape).copy()
            elif s > 0:
                a = gaussian_filter1d(a, s, axis=axis, mode=mode, cval=0.0, truncate=truncate)
        if edge == "normalize":
            wx = np.ones(g.nx)
            wz = np.ones(g.nz)
            if 0 < sx <= _flat_beyond(g.nx, edge):
                wx = gaussian_filter1d(wx, sx, mode="constant", cval=0.0, truncate=truncate)
            if 0 < sz <= _flat_beyond(g.nz, edge):
                wz = gaussian_filter1d(wz, sz, mode="constant", cval=0.0, truncate=truncate)
            a = a / np.outer(wx, wz)
        out[name] = a.astype(arr.dtype)
    return Model(g, out)


def smooth_laplacian(
    model: Model,
    smooth_h: float,
    smooth_v: float,
    *,
    passes: int = 2,
    convention: str = "sigma",
    names: str | Sequence[str] | None = None,
) -> Model:
    r"""Laplacian (PDE) smoothing: :math:`\tilde K = (I - L_h^2 D_{xx} - L_v^2 D_{zz})^{-p} K`.

    The SeisFlows "Laplacian" option (SPECFEM's ``xsmooth_laplacian_sem``) smooths by
    solving the screened-Poisson problem :math:`(1 - L_h^2\partial_x^2 - L_v^2
    \partial_z^2)\,s = m` with natural (zero normal derivative) boundaries, twice
    (``passes = 2``). Here :math:`D_{xx}` and :math:`D_{zz}` are the standard
    three-point second differences with mirror (Neumann) boundaries about the outer cell
    faces. That operator is diagonalised by the type-II discrete cosine transform, so
    the solve is exact and costs two FFT-sized transforms:

    .. math::
        \hat{\tilde K}_{kl} = \frac{\hat K_{kl}}
        {\left(1 + \frac{4L_h^2}{\Delta x^2}\sin^2\frac{\pi k}{2n_x}
               + \frac{4L_v^2}{\Delta z^2}\sin^2\frac{\pi l}{2n_z}\right)^{p}} .

    The :math:`k = l = 0` coefficient (the mean) is untouched, so the **sum is conserved
    exactly, at the edges too**, and constants are preserved. The impulse response has
    (on an unbounded grid) variance :math:`2pL^2` in each direction.

    Parameters
    ----------
    model
        Kernel to smooth (result in the same dtype; computed in float64).
    smooth_h, smooth_v
        Smoothing lengths in metres (``0``: none in that direction).
    passes
        Number of solves :math:`p` (SPECFEM/SeisFlows: 2).
    convention
        * ``"sigma"`` (default): the lengths are the standard deviation of the impulse
          response, as for :func:`smooth_gaussian`, so switching smoother keeps the
          smoothing scale: :math:`L = \sigma/\sqrt{2p}`.
        * ``"length"``: the lengths are :math:`L` itself (how ``xsmooth_laplacian_sem``
          uses its ``SIGMA_H``/``SIGMA_V`` arguments).
        * ``"e_folding"``, ``"hwhm"``: converted to :math:`\sigma` by
          :func:`gaussian_sigma`, then as ``"sigma"``.
    names
        Parameters to smooth (default: all).

    Notes
    -----
    Unlike a Gaussian, the response has exponential (not Gaussian) tails: it is
    :math:`\propto (r/L) K_1(r/L)` in 2-D for ``passes=2`` and isotropic lengths.
    """
    from scipy.fft import dctn, idctn

    if not isinstance(passes, numbers.Integral) or isinstance(passes, bool) or passes < 1:
        raise ConfigError(f"passes must be an integer >= 1, got {passes!r}")
    passes = int(passes)
    if convention == "length":
        lh = _length(smooth_h, "smooth_h")
        lv = _length(smooth_v, "smooth_v")
    else:
        lh = gaussian_sigma(smooth_h, convention) / math.sqrt(2.0 * passes)
        lv = gaussian_sigma(smooth_v, convention) / math.sqrt(2.0 * passes)
    g = model.grid
    keys = _select(model, names)
    lam_x = (2.0 * lh / g.dx) ** 2 * np.sin(np.pi * np.arange(g.nx) / (2.0 * g.nx)) ** 2
    lam_z = (2.0 * lv / g.dz) ** 2 * np.sin(np.pi * np.arange(g.nz) / (2.0 * g.nz)) ** 2
    response = (1.0 + lam_x[:, None] + lam_z[None, :]) ** (-float(passes))
    out = {}
    for name, arr in model.items():
        if name not in keys or (lh == 0 and lv == 0):
            out[name] = arr.copy()
            continue
        coef = dctn(arr.astype(np.float64), type=2, norm="ortho")
        a = idctn(coef * response, type=2, norm="ortho")
        out[name] = a.astype(arr.dtype)
    return Model(g, out)


def smooth(
    model: Model,
    smooth_h: float,
    smooth_v: float,
    method: str = "gaussian",
    *,
    convention: str = "sigma",
    edge: str = "reflect",
    names: str | Sequence[str] | None = None,
) -> Model:
    """Smooth with the operator named by ``method`` (``"gaussian"`` or ``"laplacian"``).

    Both read ``smooth_h``/``smooth_v`` as the standard deviation (m) of the impulse
    response by default, so the two methods smooth to the same scale; both conserve the
    sum (the Gaussian with its default ``edge="reflect"``). ``edge`` is the Gaussian's
    (see :func:`smooth_gaussian`); the Laplacian has natural boundaries, ``"reflect"``.
    """
    if method == "gaussian":
        return smooth_gaussian(
            model, smooth_h, smooth_v, convention=convention, edge=edge, names=names
        )
    if method == "laplacian":
        if edge != "reflect":
            raise ConfigError(
                f"edge {edge!r} is an option of the Gaussian smoothing; the Laplacian "
                "smoothing has natural (mirror) boundaries: use edge 'reflect'"
            )
        return smooth_laplacian(model, smooth_h, smooth_v, convention=convention, names=names)
    raise ConfigError(f"smoothing method must be one of {SMOOTHERS}, got {method!r}")


# ---------------------------------------------------------------------------------------
# Scaling, masking, preconditioning
# ---------------------------------------------------------------------------------------


def scale_by_model(kernels: Model, model: Model) -> Model:
    r"""Multiply each kernel by its model parameter: :math:`g_{ij} = K_{ij}\, m_{ij}`.

    With node kernels :math:`K = \partial J/\partial m` it gives
    :math:`g = m\,\partial J/\partial m = \partial J/\partial \ln m`, the gradient with
    respect to relative perturbations :math:`\delta m / m`, as SPECFEM's kernels are
    (Tromp et al. 2005). (SeisFlows' "log dm -> dm" step multiplies those, already
    relative, by the model again; see ``docs/models.md``.) The product is exact
    (element by element, in the kernel's dtype after a float64 product). Every kernel
    parameter must exist in ``model`` (same name, same grid); extra model parameters
    are ignored.
    """
    _same_grid(kernels, model, "scale_by_model")
    missing = [n for n in kernels if n not in model]
    if missing:
        raise DataError(
            f"scale_by_model: the model has no parameter(s) {', '.join(missing)} to scale "
            f"the kernel(s) by (model has: {', '.join(model)})"
        )
    return Model(
        kernels.grid,
        {
            n: (k.astype(np.float64) * model[n].astype(np.float64)).astype(k.dtype)
            for n, k in kernels.items()
        },
    )


def _factor_for(
    source: Model, names: Sequence[str], single: str, what: str
) -> dict[str, np.ndarray]:
    """Per-parameter arrays from ``source``: each parameter's own variable of the same
    name, and the variable ``single`` for the parameters that have none."""
    if all(n in source for n in names) or single in source:
        return {n: np.asarray(source[n] if n in source else source[single]) for n in names}
    missing = [n for n in names if n not in source]
    raise DataError(
        f"{what} has no parameter(s) {', '.join(missing)} and no single '{single}' "
        f"variable (it has: {', '.join(source) or 'none'}); give one array per gradient "
        f"parameter or one named '{single}'"
    )


def mask_factors(mask: Model, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The mask array of each gradient parameter in ``names`` (see :func:`apply_mask`).

    Raises
    ------
    DataError
        When ``mask`` has neither a variable for every parameter nor one named
        ``mask``, or when a mask array has values that are not finite.
    """
    factors = _factor_for(mask, list(names), "mask", "mask")
    for n, w in factors.items():
        if not np.all(np.isfinite(w)):
            var = n if n in mask else "mask"
            used = "" if var == n else f" (used for '{n}')"
            raise DataError(f"mask variable '{var}'{used} contains non-finite values")
    return factors


def apply_mask(gradient: Model, mask: Model | str | os.PathLike[str]) -> Model:
    r"""Multiply the gradient by a mask: :math:`g'_{ij} = g_{ij}\, w_{ij}`.

    ``mask`` is a model (or the path of a model file, like ``path_mask``) on the same
    grid. A gradient parameter with a variable of its own name in the mask is multiplied
    by it; a variable named ``mask`` multiplies the parameters that have none (all of
    them when it is the only one). Mask values are used as they are (typically 0 to mute,
    1 to keep, tapered in between); they must be finite. The product is elementwise and
    exact (float64 product, cast to the gradient's dtype).
    """
    if not isinstance(mask, Model):
        if not isinstance(mask, (str, os.PathLike)):
            raise ConfigError(
                f"apply_mask: mask must be a Model or the path of a model file, got "
                f"{type(mask).__name__} (wrap an array as Model(grid, {{'mask': array}}))"
            )
        mask = read_model(Path(mask))
    _same_grid(gradient, mask, "apply_mask")
    factors = mask_factors(mask, list(gradient))
    return Model(
        gradient.grid,
        {
            n: (g.astype(np.float64) * factors[n].astype(np.float64)).astype(g.dtype)
            for n, g in gradient.items()
        },
    )


#: Negative illumination values down to this fraction of the largest are round-off
#: (of smoothing), taken as zero by :func:`precondition_illumination`.
_ROUNDOFF = 1e-9


def precondition_illumination(
    gradient: Model,
    illumination: Model | np.ndarray,
    water_level: float = ILLUMINATION_WATER_LEVEL,
    power: float = 1.0,
) -> Model:
    r"""Divide the gradient by the (normalised) illumination.

    .. math::
        g'_{ij} = \frac{g_{ij}}{\left(E_{ij}/\max E + \epsilon\right)^{q}}

    with :math:`E \ge 0` the illumination, e.g. the forward-field energy
    :math:`\int \lVert \partial_t u \rVert^2 dt` or :math:`\int u^2 dt` at each node
    (the diagonal "pseudo-Hessian" of Shin et al. 2001), usually smoothed first (for
    instance with :func:`smooth_gaussian`), :math:`\epsilon` = ``water_level`` (keeps
    the division stable where the field is weak) and :math:`q` = ``power``. Normalising
    by :math:`\max E` makes :math:`\epsilon` relative and leaves well-lit regions
    nearly unscaled.

    ``illumination`` is an array ``(nx, nz)`` used for every parameter, or a model with
    one array per gradient parameter or a single variable named ``illumination``.
    """
    wl = _positive_real(water_level, "water_level")
    q = _positive_real(power, "power")
    names = list(gradient)
    if isinstance(illumination, Model):
        _same_grid(gradient, illumination, "precondition_illumination")
        arrays = _factor_for(illumination, names, "illumination", "illumination")
    else:
        e = np.asarray(illumination)
        if e.shape != gradient.grid.shape:
            raise DataError(
                f"illumination array has shape {e.shape}, the grid is {gradient.grid.shape}"
            )
        arrays = {n: e for n in names}
    out = {}
    for n, g in gradient.items():
        e = arrays[n].astype(np.float64)
        if not np.all(np.isfinite(e)):
            raise DataError(f"illumination for '{n}' must be finite and >= 0")
        # smoothing a field with exact zeros (where no wave arrived) leaves round-off
        # below zero (the spectral Laplacian smoother about -1e-14 of the maximum):
        # those are zeros; real negative values are an error
        low = float(e.min())
        if low < -_ROUNDOFF * float(np.abs(e).max()):
            raise DataError(
                f"illumination for '{n}' must be finite and >= 0 (its minimum is {low:.3g})"
            )
        e = np.maximum(e, 0.0)
        emax = float(e.max())
        if emax <= 0:
            raise DataError(f"illumination for '{n}' is zero everywhere")
        out[n] = (g.astype(np.float64) / (e / emax + wl) ** q).astype(g.dtype)
    return Model(gradient.grid, out)


# ---------------------------------------------------------------------------------------
# Checks and pipelines
# ---------------------------------------------------------------------------------------


def check_gradient(model: Model, step: str, per_parameter: bool = False) -> Model:
    """Raise :class:`~seisgrad.errors.GradientError` if a kernel/gradient is unusable.

    Unusable means: no parameters, any non-finite value (NaN or inf), or zero everywhere
    (all parameters together; with ``per_parameter=True`` any single parameter that is
    zero everywhere is an error too). The message starts with ``step``, the name of the
    processing step that produced ``model``. Returns ``model`` unchanged, for chaining.
    """
    if len(model) == 0:
        raise GradientError(f"{step}: the gradient has no parameters")
    zero = []
    for n, a in model.items():
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        if bad:
            raise GradientError(
                f"{step}: gradient parameter '{n}' has {bad} non-finite value(s) "
                f"(NaN or inf) out of {np.size(a)}"
            )
        if not np.any(a):
            zero.append(n)
    if len(zero) == len(model):
        raise GradientError(
            f"{step}: the gradient is zero everywhere (parameters {', '.join(zero)})"
        )
    if per_parameter and zero:
        raise GradientError(f"{step}: gradient parameter(s) {', '.join(zero)} are zero everywhere")
    return model


def postprocess_kernels(
    kernels: Sequence[Model],
    smooth_h: float = 0.0,
    smooth_v: float = 0.0,
    method: str = "gaussian",
    convention: str = "sigma",
) -> Model:
    """Sum event kernels and smooth the sum, checking the result after each step.

    Raises :class:`~seisgrad.errors.GradientError` naming ``"summing event kernels"`` or
    ``"smoothing (<method>)"`` when that step's output is all zero or not finite.
    """
    total = check_gradient(sum_kernels(kernels), "summing event kernels")
    if _length(smooth_h, "smooth_h") > 0 or _length(smooth_v, "smooth_v") > 0:
        total = check_gradient(
            smooth(total, smooth_h, smooth_v, method, convention=convention),
            f"smoothing ({method})",
        )
    return total


def gradient_from_kernel(
    kernel: Model,
    model: Model,
    mask: Model | str | os.PathLike[str] | None = None,
    illumination: Model | np.ndarray | None = None,
    water_level: float = ILLUMINATION_WATER_LEVEL,
    scale: bool = True,
) -> Model:
    """Turn a (summed, smoothed) misfit kernel into the gradient.

    Steps, each followed by :func:`check_gradient` with the step's name: the input
    (``"misfit kernel"``), :func:`scale_by_model` (``"scaling by the model"``, skipped
    when ``scale=False``), :func:`precondition_illumination` (``"illumination
    preconditioning"``, when ``illumination`` is given) and :func:`apply_mask`
    (``"masking"``, when ``mask`` is given), in this order (the order of the migration
    workflow).
    """
    _positive_real(water_level, "water_level")
    g = check_gradient(kernel, "misfit kernel")
    if scale:
        g = check_gradient(scale_by_model(g, model), "scaling by the model")
    if illumination is not None:
        g = check_gradient(
            precondition_illumination(g, illumination, water_level),
            "illumination preconditioning",
        )
    if mask is not None:
        g = check_gradient(apply_mask(g, mask), "masking")
    return g
