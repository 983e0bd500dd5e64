"""Pictures of models, kernels and gradients (PNG, matplotlib Agg backend).

One panel per parameter, ``x`` to the right and ``z`` up (as in the files), axes in km
when the model spans 10 km or more. Sources are drawn as stars and receivers as
triangles. Kernels and gradients use a diverging colour map with limits symmetric about
zero, so white is zero and the two signs are comparable. NaN values are drawn in
:data:`BAD_COLOR` (grey), never in a colour of the map, so they cannot be mistaken for
zero. Panels keep the true aspect ratio (``x`` and ``z`` to the same scale) unless the
model is more than :data:`MAX_PANEL_ASPECT` times taller than wide or wider than tall;
such thin models are stretched to that ratio so that they and their colour bars stay
readable. Files are written atomically (temporary file + rename).

The functions build figures with :class:`matplotlib.figure.Figure` directly (no pyplot
state, no display needed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seisgrad.errors import ConfigError, DataError, PathError
from seisgrad.model import Model, output_path, read_model

__all__ = [
    "plot_model",
    "plot_kernel",
    "plot_gradient",
    "plot_model_file",
    "make_figure",
    "color_limits",
    "positions",
    "KINDS",
    "BAD_COLOR",
    "MAX_PANEL_ASPECT",
]

#: Percentile of |values| that sets the colour scale of kernel and gradient figures by
#: default in workflows and ``seisgrad plot`` (``plot_clip``): spikes at sources and
#: receivers saturate instead of leaving the rest blank.
KERNEL_CLIP = 99.0

#: What can be plotted, and how: colour map and whether the scale is symmetric.
KINDS: dict[str, tuple[str, bool]] = {
    "model": ("viridis", False),
    "kernel": ("RdBu_r", True),
    "gradient": ("RdBu_r", True),
}

#: Colour of NaN values (matplotlib's "bad" colour of the map): grey, distinct from the
#: white of zero in the diverging maps and from every colour of ``viridis``.
BAD_COLOR = "#808080"

#: Largest ratio of a panel's height to its width (and of width to height): models
#: thinner than that are drawn stretched to it (``aspect="auto"``) instead of as a line.
MAX_PANEL_ASPECT = 4.0

_UNITS = {"vp": "m/s", "vs": "m/s", "rho": "kg/m$^3$"}


def positions(items: Any) -> list[tuple[float, float]]:
    """Normalise sources or receivers to a list of ``(x, z)`` tuples (metres).

    Accepts ``None``, one item or a sequence of items, where an item is an ``(x, z)``
    pair, an object with ``x`` and ``z`` attributes (:class:`~seisgrad.solver.acquisition.
    PointSource`, :class:`~seisgrad.solver.acquisition.Receiver`) or an object with a
    ``sources`` list (:class:`~seisgrad.solver.acquisition.Event`).
    """
    if items is None:
        return []
    if _is_point(items) or hasattr(items, "sources"):
        items = [items]
    out: list[tuple[float, float]] = []
    for it in items:
        if hasattr(it, "sources"):
            out.extend(positions(list(it.sources)))
        elif hasattr(it, "x") and hasattr(it, "z"):
            out.append((float(it.x), float(it.z)))
        elif _is_point(it):
            out.append((float(it[0]), float(it[1])))
        else:
            raise ConfigError(
                f"cannot draw {it!r}: give (x, z) pairs, PointSource/Receiver objects or Events"
            )
    return out


def _is_point(v: Any) -> bool:
    if hasattr(v, "x") and hasattr(v, "z"):
        return True
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence | np.ndarray):
        return False
    return len(v) == 2 and all(
        isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, bool) for c in v
    )


def _drawable(arr: np.ndarray, vmin: float, vmax: float) -> tuple[np.ndarray, float, float, int]:
    """``arr`` and its colour limits divided by ``10**power`` when their size is beyond
    what matplotlib draws (below 1e-200 a field plotted blank on a +-0.1 scale, above
    1e300 it failed); ``power`` 0 otherwise. The scale goes on the colour bar."""
    span = max(abs(vmin), abs(vmax))
    if span == 0.0 or 1e-200 <= span <= 1e200:
        return arr, vmin, vmax, 0
    power = math.floor(math.log10(span))
    half = -power // 2  # two factors: 10**-power alone overflows for subnormal fields
    f1, f2 = 10.0**half, 10.0 ** (-power - half)
    return arr * f1 * f2, vmin * f1 * f2, vmax * f1 * f2, power


def color_limits(values: np.ndarray, symmetric: bool, clip: float = 100.0) -> tuple[float, float]:
    """Colour limits for ``values``.

    Symmetric: ``(-v, v)`` with ``v`` the ``clip`` percentile of ``|values|`` (100 =
    the maximum; a lower percentile keeps a few extreme values, e.g. at a source, from
    washing out the rest). Otherwise the ``100 - clip`` and ``clip`` percentiles
    (min and max for ``clip=100``). Non-finite values are ignored; a constant or empty
    field gets a small range around its value.
    """
    if not (0.0 < clip <= 100.0):
        raise ConfigError(f"clip must be a percentile in (0, 100], got {clip!r}")
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return (-1.0, 1.0)
    if symmetric:
        v = float(np.percentile(np.abs(a), clip))
        if v == 0.0:
            v = 1.0
        return (-v, v)
    lo = float(np.percentile(a, 100.0 - clip))
    hi = float(np.percentile(a, clip))
    if hi <= lo:
        pad = abs(lo) * 1e-3 or 1.0
        lo, hi = lo - pad, hi + pad
    return (lo, hi)


def _colormap(cmap: Any) -> Any:
    """A copy of the colour map ``cmap`` (a name or a Colormap) with NaN in
    :data:`BAD_COLOR`.

    Raises
    ------
    ConfigError
        When ``cmap`` names no matplotlib colour map.
    """
    import matplotlib
    from matplotlib.colors import Colormap

    if isinstance(cmap, Colormap):
        cm = cmap
    else:
        try:
            cm = matplotlib.colormaps[cmap]
        except (KeyError, TypeError):
            raise ConfigError(f"unknown colour map {cmap!r} (e.g. 'viridis', 'RdBu_r')") from None
    return cm.with_extremes(bad=BAD_COLOR)


def make_figure(
    model: Model,
    kind: str = "model",
    sources: Any = None,
    receivers: Any = None,
    *,
    names: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str | None = None,
    clip: float = 100.0,
    ncols: int | None = None,
) -> Any:
    """Build (but do not save) the figure: one panel per parameter.

    ``kind`` is ``"model"``, ``"kernel"`` or ``"gradient"`` (see :data:`KINDS`). Returns
    a :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.figure import Figure
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    if kind not in KINDS:
        raise ConfigError(f"plot kind must be one of {', '.join(KINDS)}, got {kind!r}")
    default_cmap, symmetric = KINDS[kind]
    keys = list(model) if names is None else list(names)
    for n in keys:
        if n not in model:
            raise DataError(
                f"cannot plot '{n}': no such parameter (there are: {', '.join(model)})"
            )
    if not keys:
        raise DataError("nothing to plot: the model has no parameters")
    src = positions(sources)
    rec = positions(receivers)
    g = model.grid
    xmin, xmax, zmin, zmax = g.extent
    span = max(xmax - xmin, zmax - zmin)
    scale, unit = (1e-3, "km") if span >= 1e4 else (1.0, "m")
    extent = (
        (xmin - g.dx / 2) * scale,
        (xmax + g.dx / 2) * scale,
        (zmin - g.dz / 2) * scale,
        (zmax + g.dz / 2) * scale,
    )
    n = len(keys)
    cols = ncols or min(n, 3)
    rows = math.ceil(n / cols)
    aspect = (extent[3] - extent[2]) / max(extent[1] - extent[0], 1e-300)
    # thin models (e.g. 500 x 2 nodes) are stretched to at most MAX_PANEL_ASPECT
    box = min(max(aspect, 1.0 / MAX_PANEL_ASPECT), MAX_PANEL_ASPECT)
    stretched = box != aspect
    panel_w = 4.5
    panel_h = min(max(panel_w * box, 1.5), 9.0) + 0.8
    colormap = _colormap(cmap or default_cmap)
    fig = Figure(figsize=(panel_w * cols + 0.6, panel_h * rows + (0.4 if title else 0.0)))
    for k, name in enumerate(keys):
        ax = fig.add_subplot(rows, cols, k + 1)
        raw = np.asarray(model[name])
        if raw.dtype.kind not in "biuf":
            raise DataError(f"cannot plot '{name}': its values are {raw.dtype}, not numbers")
        arr = raw.astype(np.float64)
        vmin, vmax = color_limits(arr, symmetric, clip)
        arr, vmin, vmax, power = _drawable(arr, vmin, vmax)
        im = ax.imshow(
            arr.T,
            origin="lower",
            extent=extent,
            cmap=colormap,
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
            aspect="auto" if stretched else "equal",
        )
        if stretched:
            ax.set_box_aspect(box)
        cax = make_axes_locatable(ax).append_axes("right", size="4%", pad=0.08)
        cb = fig.colorbar(im, cax=cax)
        label = _UNITS.get(name, "") if kind == "model" else ""
        if power:
            label = f"{label} (x 1e{power})".strip()
        if label:
            cb.set_label(label)
        if src:
            s = np.asarray(src) * scale
            ax.scatter(
                s[:, 0],
                s[:, 1],
                marker="*",
                s=160,
                c="yellow",
                edgecolors="black",
                linewidths=0.8,
                zorder=3,
                clip_on=False,
                label="sources",
            )
        if rec:
            r = np.asarray(rec) * scale
            ax.scatter(
                r[:, 0],
                r[:, 1],
                marker="v",
                s=50,
                c="white",
                edgecolors="black",
                linewidths=0.8,
                zorder=3,
                clip_on=False,
                label="receivers",
            )
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(name)
        ax.set_xlabel(f"x ({unit})")
        ax.set_ylabel(f"z ({unit})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _save(fig: Any, path: str | os.PathLike[str], dpi: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    final, tmp = output_path(path, "plot")
    try:
        fig.savefig(tmp, format="png", dpi=dpi)
        os.replace(tmp, final)
    except OSError as exc:
        raise PathError(f"cannot write plot {final}: {exc}") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def _plot(
    kind: str,
    model: Model,
    path: str | os.PathLike[str],
    sources: Any,
    receivers: Any,
    names: Sequence[str] | None,
    title: str | None,
    cmap: str | None,
    clip: float,
    dpi: int,
) -> Path:
    fig = make_figure(
        model, kind, sources, receivers, names=names, title=title, cmap=cmap, clip=clip
    )
    return _save(fig, path, dpi)


def plot_model(
    model: Model,
    path: str | os.PathLike[str],
    sources: Any = None,
    receivers: Any = None,
    *,
    names: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str | None = None,
    clip: float = 100.0,
    dpi: int = 120,
) -> Path:
    """Plot a model to a PNG file (one panel per parameter); return the path.

    ``sources``/``receivers``: see :func:`positions`. ``clip``: see
    :func:`color_limits`.
    """
    return _plot("model", model, path, sources, receivers, names, title, cmap, clip, dpi)


def plot_kernel(
    kernel: Model,
    path: str | os.PathLike[str],
    sources: Any = None,
    receivers: Any = None,
    *,
    names: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str | None = None,
    clip: float = 100.0,
    dpi: int = 120,
) -> Path:
    """Plot kernels to a PNG file with colour limits symmetric about zero; return the
    path. ``clip`` below 100 saturates the largest values (see :func:`color_limits`)."""
    return _plot("kernel", kernel, path, sources, receivers, names, title, cmap, clip, dpi)


def plot_gradient(
    gradient: Model,
    path: str | os.PathLike[str],
    sources: Any = None,
    receivers: Any = None,
    *,
    names: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str | None = None,
    clip: float = 100.0,
    dpi: int = 120,
) -> Path:
    """Plot a gradient (symmetric colour limits, like :func:`plot_kernel`); return the
    path."""
    return _plot("gradient", gradient, path, sources, receivers, names, title, cmap, clip, dpi)


def plot_model_file(
    path: str | os.PathLike[str],
    kind: str = "model",
    output: str | os.PathLike[str] | None = None,
    sources: Iterable[Any] | None = None,
    receivers: Iterable[Any] | None = None,
    *,
    names: Sequence[str] | None = None,
    clip: float = 100.0,
    dpi: int = 120,
) -> Path:
    """Read a model/kernel/gradient file and plot it (for ``seisgrad plot KIND PATH``).

    The PNG goes to ``output`` (default: ``PATH`` with the suffix ``.png``); the title is
    the file name. Returns the PNG path.
    """
    p = Path(path)
    if kind not in KINDS:
        raise ConfigError(f"plot kind must be one of {', '.join(KINDS)}, got {kind!r}")
    model = read_model(p)
    out = Path(output) if output is not None else p.with_suffix(".png")
    return _plot(kind, model, out, sources, receivers, names, p.name, None, clip, dpi)
