"""Regular 2D grids and models, their HDF5 files, model builders and model import.

Conventions
-----------
* A grid has ``nx`` x ``nz`` nodes with spacings ``dx``, ``dz`` (metres) and origin
  ``(x0, z0)``: ``x[i] = x0 + i*dx``, ``z[j] = z0 + j*dz``. ``z`` points **up** (as in
  SPECFEM2D), so ``j = nz - 1`` is the top of the model (where a free surface sits).
* A model is a set of named 2D arrays of shape ``(nx, nz)`` (dimensions ``("x", "z")``),
  e.g. ``vp``, ``vs``, ``rho``. Kernels and gradients use the same container and names.
* Files are HDF5 with netCDF-4 dimension scales: coordinate variables ``x`` and ``z`` and
  one variable per parameter with dimensions ``("x", "z")``. h5py reads them, and
  ``xarray.open_dataset(path, engine="h5netcdf")`` opens them as a Dataset.

Builders
--------
:func:`homogeneous`, :func:`layered` and :func:`checkerboard` make models;
:func:`gaussian_blob` and :func:`checkerboard_pattern` make perturbation arrays that
:func:`add_perturbation` adds to one parameter. :func:`interpolate` puts a model given on
another grid, an xarray Dataset or scattered points onto a grid, and
:func:`read_specfem_gll` imports SPECFEM2D binary GLL model (or kernel) files.
See ``docs/models.md``.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from seisgrad.errors import ConfigError, DataError, PathError
from seisgrad.logs import logger

__all__ = [
    "Grid",
    "Model",
    "read_model",
    "write_model",
    "atomic_path",
    "atomic_write",
    "homogeneous",
    "layered",
    "checkerboard",
    "checkerboard_pattern",
    "gaussian_blob",
    "add_perturbation",
    "interpolate",
    "read_specfem_gll",
    "read_fortran_records",
    "in_parametrization",
]

#: Names that cannot be model parameters (they are the coordinate variables).
RESERVED_NAMES = ("x", "z")


@dataclass(frozen=True)
class Grid:
    """A regular 2D grid (``z`` up)."""

    nx: int
    nz: int
    dx: float
    dz: float
    x0: float = 0.0
    z0: float = 0.0

    def __post_init__(self) -> None:
        """Check and normalise the fields: ``nx``, ``nz`` integers >= 2 (integral floats
        and numpy integers become ``int``), ``dx``, ``dz`` positive and finite, ``x0``,
        ``z0`` finite (all become ``float``).

        Raises
        ------
        ConfigError
            Naming the field and its value.
        """
        for name in ("nx", "nz"):
            value = getattr(self, name)
            whole = isinstance(value, numbers.Integral) or (
                isinstance(value, numbers.Real) and float(value).is_integer()
            )
            if isinstance(value, bool) or not whole:
                raise ConfigError(f"grid: {name} must be a whole number of nodes, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.nx < 2 or self.nz < 2:
            raise ConfigError(f"grid needs at least 2x2 nodes, got {self.nx}x{self.nz}")
        for name in ("dx", "dz", "x0", "z0"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(f"grid: {name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"grid: {name} must be finite, got {value!r}")
        if not (self.dx > 0 and self.dz > 0):
            raise ConfigError(f"grid spacings must be positive, got dx={self.dx}, dz={self.dz}")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nx, self.nz)

    @property
    def x(self) -> np.ndarray:
        """Node x coordinates (m)."""
        return self.x0 + self.dx * np.arange(self.nx)

    @property
    def z(self) -> np.ndarray:
        """Node z coordinates (m), increasing upwards."""
        return self.z0 + self.dz * np.arange(self.nz)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, zmin, zmax)`` of the nodes."""
        return (
            self.x0,
            self.x0 + (self.nx - 1) * self.dx,
            self.z0,
            self.z0 + (self.nz - 1) * self.dz,
        )

    @classmethod
    def from_extent(
        cls, xmin: float, xmax: float, zmin: float, zmax: float, spacing: float
    ) -> Grid:
        """Grid covering ``[xmin, xmax] x [zmin, zmax]`` with (about) ``spacing``."""
        for name, value in (("xmin", xmin), ("xmax", xmax), ("zmin", zmin), ("zmax", zmax)):
            _finite_number(value, f"grid: {name}")
        if not _finite_number(spacing, "grid: spacing") > 0:
            raise ConfigError(f"grid: spacing must be positive, got {spacing!r}")
        if not (xmax > xmin and zmax > zmin):
            raise ConfigError(
                f"grid: extent must have xmax > xmin and zmax > zmin, got x {xmin!r}..{xmax!r}, "
                f"z {zmin!r}..{zmax!r}"
            )
        nx = int(round((xmax - xmin) / spacing)) + 1
        nz = int(round((zmax - zmin) / spacing)) + 1
        if nx < 2 or nz < 2:
            raise ConfigError(
                f"grid: spacing {spacing!r} is larger than the extent "
                f"({xmax - xmin!r} x {zmax - zmin!r}); use a smaller spacing"
            )
        return cls(nx, nz, (xmax - xmin) / (nx - 1), (zmax - zmin) / (nz - 1), xmin, zmin)

    def matches(self, other: Grid, rtol: float = 1e-9) -> bool:
        """Whether ``other`` has the same nodes as this grid, up to round-off.

        Grids match when they have the same ``nx`` and ``nz`` and every node lies within
        ``rtol`` spacings of the corresponding node of ``other`` (so a grid rebuilt from
        coordinates written by another tool, e.g. ``dx = 12.499999999999991`` for
        ``12.5``, matches).

        Parameters
        ----------
        other
            The grid to compare with.
        rtol
            Tolerance in units of the spacing (default ``1e-9``).

        Returns
        -------
        bool
            ``True`` when the grids match.
        """
        if not isinstance(other, Grid):
            return False
        if self.shape != other.shape:
            return False
        for d0, d1, o0, o1, n in (
            (self.dx, other.dx, self.x0, other.x0, self.nx),
            (self.dz, other.dz, self.z0, other.z0, self.nz),
        ):
            tol = rtol * min(d0, d1)
            if abs(o0 - o1) > tol or abs(d0 - d1) * (n - 1) > tol:
                return False
        return True

    def contains(self, x: float, z: float) -> bool:
        """Whether ``(x, z)`` lies in the grid's extent, edges included (within a
        round-off of 1e-9 spacings, so that ``20 * dz`` is on the top row ``z0 + 20 dz``)."""
        xmin, xmax, zmin, zmax = self.extent
        tx, tz = 1e-9 * self.dx, 1e-9 * self.dz
        return xmin - tx <= x <= xmax + tx and zmin - tz <= z <= zmax + tz


class Model(Mapping[str, np.ndarray]):
    """Named 2D arrays on a :class:`Grid` (read-only mapping ``name -> array``)."""

    def __init__(self, grid: Grid, values: Mapping[str, np.ndarray]) -> None:
        if not isinstance(grid, Grid):
            raise DataError(f"Model needs a Grid as its first argument, not {type(grid).__name__}")
        if not isinstance(values, Mapping):
            raise DataError(
                "Model needs a mapping of parameter names to arrays (e.g. {'vp': array}), "
                f"not {type(values).__name__}"
            )
        self.grid = grid
        self._values: dict[str, np.ndarray] = {}
        for name, arr in values.items():
            if not isinstance(name, str):
                raise DataError(f"model parameter names must be strings, not {name!r}")
            try:
                a = np.asarray(arr)
            except ValueError as exc:
                raise DataError(
                    f"model parameter '{name}' is not a rectangular array (ragged lists?)"
                ) from exc
            if a.shape != grid.shape:
                raise DataError(
                    f"model parameter '{name}' has shape {a.shape}, grid is {grid.shape}"
                )
            if a.dtype.kind not in "biuf":
                raise DataError(
                    f"model parameter '{name}' holds {a.dtype} values, not numbers (a model "
                    "parameter must hold real integer or floating-point values)"
                )
            self._values[name] = a

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._values[key]
        except KeyError:
            raise DataError(
                f"model has no parameter '{key}' (it has: {', '.join(self._values)})"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: str, default: Any = None) -> Any:
        """The array of parameter ``key``, or ``default`` when there is none."""
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Model({self.grid}, parameters={list(self._values)})"

    def copy(self) -> Model:
        return Model(self.grid, {k: v.copy() for k, v in self._values.items()})

    def with_values(self, **values: np.ndarray) -> Model:
        """New model with some parameters replaced or added."""
        new = dict(self._values)
        new.update(values)
        return Model(self.grid, new)

    def astype(self, dtype: np.dtype | type) -> Model:
        return Model(self.grid, {k: v.astype(dtype) for k, v in self._values.items()})

    def write(
        self, path: str | os.PathLike[str], attrs: Mapping[str, object] | None = None
    ) -> Path:
        """Write this model to ``path`` (see :func:`write_model`); return the path."""
        return write_model(path, self, attrs)

    @classmethod
    def read(cls, path: str | os.PathLike[str], names: str | Sequence[str] | None = None) -> Model:
        """Read a model file (see :func:`read_model`)."""
        return read_model(path, names)

    def to_xarray(self) -> Any:
        """Return the model as an :class:`xarray.Dataset` (dims ``("x", "z")``, coordinates
        in metres). Needs the optional ``xarray`` package."""
        try:
            import xarray as xr
        except ImportError as exc:  # pragma: no cover - xarray is a test dependency
            raise DataError(
                "Model.to_xarray needs the optional package xarray (pip install xarray)"
            ) from exc
        g = self.grid
        return xr.Dataset(
            {k: (("x", "z"), v) for k, v in self._values.items()},
            coords={
                "x": ("x", g.x, {"units": "m"}),
                "z": ("z", g.z, {"units": "m", "positive": "up"}),
            },
        )


def atomic_path(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return ``(final, temporary)`` paths for an atomic write in the same folder.

    The temporary file is created empty, with a unique name, and with the mode of any
    new file (``0o666`` less the process's umask, and a folder's default ACL), so the
    renamed result has the usual permissions (``tempfile.mkstemp`` would make it
    ``0o600``). Write into it (truncating) and ``os.replace`` it onto ``final``.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = final.parent / f".{final.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        os.close(fd)
        return final, tmp
    raise FileExistsError(f"no free temporary name beside {final}")  # pragma: no cover


def output_path(path: str | os.PathLike[str], what: str) -> tuple[Path, Path]:
    """Like :func:`atomic_path`, for a file a user named: an unusable path is a
    :class:`~seisgrad.errors.PathError` instead of a raw ``OSError``.

    Parameters
    ----------
    path
        The file to write.
    what
        What the file is (``"model file"``, ``"plot"``), for the message.

    Returns
    -------
    tuple of Path
        ``(final, temporary)``, as :func:`atomic_path`.

    Raises
    ------
    PathError
        When ``path`` is a folder, a parent is a file, or the folder cannot be created
        or written.
    """
    final = Path(path)
    if final.is_dir():
        raise PathError(f"cannot write {what} {final}: it is a folder; give a file name")
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PathError(f"cannot write {what} {final}: {parent} is a file, not a folder")
            break
    try:
        return atomic_path(final)
    except OSError as exc:
        raise PathError(
            f"cannot write {what} {final}: {exc.strerror or exc} ({exc.filename or final.parent})"
        ) from exc


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to
    ``path`` (so readers never see a partial file); return ``path``."""
    final, tmp = atomic_path(path)
    try:
        write(tmp)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def write_model(
    path: str | os.PathLike[str], model: Model, attrs: Mapping[str, object] | None = None
) -> Path:
    """Write ``model`` to an HDF5/netCDF-4 file atomically (temp file + rename).

    The file has coordinate variables ``x`` and ``z`` (float64, metres, HDF5 dimension
    scales) and one variable per parameter with dimensions ``("x", "z")``, so both h5py
    and ``xarray.open_dataset(path, engine="h5netcdf")`` read it. ``attrs`` become global
    attributes. Returns the final path.
    """
    for n, a in model.items():
        if not isinstance(n, str) or not n or "/" in n or n == ".":
            raise DataError(f"cannot write a model parameter named {n!r}: use a name like 'vp'")
        if np.asarray(a).dtype.kind not in "biuf":
            raise DataError(
                f"cannot write model parameter '{n}': its values are {np.asarray(a).dtype}, "
                "not numbers"
            )
    bad = [n for n in model if n in RESERVED_NAMES]
    if bad:
        raise DataError(
            f"cannot write a model parameter named {', '.join(repr(b) for b in bad)}: "
            "'x' and 'z' are the coordinate variables; rename the parameter"
        )
    final, tmp = output_path(path, "model file")
    try:
        _write_h5(tmp, model, attrs)
        os.replace(tmp, final)
    except OSError as exc:
        raise PathError(f"cannot write model file {final}: {exc}") from exc
    except TypeError as exc:  # an attribute HDF5 cannot store (None, objects)
        raise DataError(
            f"cannot write model file {final}: attributes are strings, numbers or arrays "
            f"of them ({exc})"
        ) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def _write_h5(tmp: Path, model: Model, attrs: Mapping[str, object] | None) -> None:
    """Write ``model`` in the file layout of :func:`write_model` to ``tmp``."""
    g = model.grid
    with h5py.File(tmp, "w") as f:
        x = f.create_dataset("x", data=g.x.astype(np.float64))
        z = f.create_dataset("z", data=g.z.astype(np.float64))
        x.make_scale("x")
        z.make_scale("z")
        x.attrs["units"] = "m"
        z.attrs["units"] = "m"
        # the exact grid (the coordinates alone give dx up to round-off)
        x.attrs["origin"] = g.x0
        x.attrs["spacing"] = g.dx
        z.attrs["origin"] = g.z0
        z.attrs["spacing"] = g.dz
        z.attrs["positive"] = "up"
        for name, arr in model.items():
            d = f.create_dataset(name, data=np.asarray(arr))
            d.dims[0].attach_scale(x)
            d.dims[1].attach_scale(z)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v


def read_model(path: str | os.PathLike[str], names: str | Sequence[str] | None = None) -> Model:
    """Read a model written by :func:`write_model` (or any file with the same layout).

    Also accepted: variables stored with dimensions ``("z", "x")`` (transposed on
    reading, recognised by their attached dimension scales, as xarray writes them) and
    decreasing coordinates (the arrays are flipped so that ``x`` and ``z`` increase).

    Raises
    ------
    DataError
        When the file is missing or unreadable, has no ``x``/``z`` coordinates, irregular
        coordinates, or lacks one of ``names``.
    """
    names = _as_names(names)
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{p} is a folder, not a model file")
    if not p.is_file():
        raise DataError(f"model file not found: {p}")
    try:
        with h5py.File(p, "r") as f:
            if "x" not in f or "z" not in f:
                raise DataError(f"{p}: not a seisgrad model (no 'x' and 'z' coordinates)")
            x = _read_coordinate(f, "x", p)
            z = _read_coordinate(f, "z", p)
            if x.ndim != 1 or z.ndim != 1:
                raise DataError(f"{p}: coordinates 'x' and 'z' must be 1-D")
            flip_x = x.size > 1 and x[1] < x[0]
            flip_z = z.size > 1 and z[1] < z[0]
            grid = _grid_from_coords(
                x[::-1] if flip_x else x,
                z[::-1] if flip_z else z,
                p,
                (f["x"].dtype, f["z"].dtype),
            )
            if not (flip_x or flip_z):
                grid = _exact_grid(grid, f["x"], f["z"])
            keys = [
                k
                for k in f
                if k not in RESERVED_NAMES and isinstance(f[k], h5py.Dataset) and f[k].ndim == 2
            ]
            if names is not None:
                missing = [n for n in names if n not in keys]
                if missing:
                    other = [
                        f"{n} ({f[n].ndim}-D)"
                        for n in missing
                        if n in f and isinstance(f[n], h5py.Dataset)
                    ]
                    note = f"; not 2-D arrays: {', '.join(other)}" if other else ""
                    raise DataError(
                        f"{p}: missing parameter(s) {', '.join(missing)} "
                        f"(file has: {', '.join(keys) or 'none'}{note})"
                    )
                keys = list(names)
            values = {}
            for k in keys:
                d = f[k]
                if d.dtype.kind not in "biuf":
                    raise DataError(
                        f"{p}: parameter '{k}' holds {d.dtype} values, not numbers "
                        "(a model parameter must be integer or floating point)"
                    )
                arr = np.asarray(d[()])
                if _dim_names(d) == ("z", "x"):
                    arr = arr.T
                if arr.shape != (x.size, z.size):
                    raise DataError(
                        f"{p}: parameter '{k}' has shape {arr.shape}, expected "
                        f"(nx, nz) = ({x.size}, {z.size}) with dimensions ('x', 'z')"
                    )
                if flip_x:
                    arr = arr[::-1, :]
                if flip_z:
                    arr = arr[:, ::-1]
                values[k] = np.ascontiguousarray(arr)
    except OSError as exc:
        raise DataError(f"cannot read model file {p}: {exc}") from exc
    return Model(grid, values)


def _read_coordinate(f: h5py.File, name: str, where: Path) -> np.ndarray:
    """The coordinate dataset ``name`` of an open model file as float64.

    Raises
    ------
    DataError
        When ``name`` is a group or holds anything but integer or floating-point numbers
        (strings, compound or other types), or values that are not finite, naming the
        file and the dataset.
    """
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise DataError(
            f"{where}: coordinate '{name}' is an HDF5 {type(obj).__name__.lower()}, "
            "not a dataset of numbers"
        )
    if obj.dtype.kind not in "iuf":
        raise DataError(
            f"{where}: coordinate dataset '{name}' holds {obj.dtype} values, not numbers "
            "(coordinates must be integer or floating point)"
        )
    values = np.asarray(obj[()], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(
            f"{where}: coordinate '{name}' holds {bad.size} non-finite value(s) "
            f"({values.flat[bad[0]]} at index {bad[0]})"
        )
    return values


def _as_names(names: str | Sequence[str] | None) -> list[str] | None:
    """``names`` as a list: a single string is one name (not its characters).

    Raises
    ------
    ConfigError
        When an entry is not a string.
    """
    if names is None:
        return None
    out = [names] if isinstance(names, str) else list(names)
    bad = [n for n in out if not isinstance(n, str)]
    if bad:
        raise ConfigError(f"parameter names must be strings, got {bad[0]!r}")
    return out


def _dim_names(dset: h5py.Dataset) -> tuple[str | None, ...]:
    """Names of the dimension scales attached to ``dset`` (``None`` where none is)."""
    out: list[str | None] = []
    for dim in dset.dims:
        try:
            scale = dim[0] if len(dim) else None
        except (KeyError, RuntimeError, OSError):  # pragma: no cover - broken scale
            scale = None
        out.append(scale.name.rsplit("/", 1)[-1] if scale is not None else None)
    return tuple(out)


def _grid_from_coords(
    x: np.ndarray, z: np.ndarray, where: Path, stored: tuple[Any, Any] | None = None
) -> Grid:
    """The grid of regular coordinates ``x``, ``z`` (``stored``: the types they were
    stored as, whose round-off is allowed)."""
    if x.size < 2 or z.size < 2:
        raise DataError(f"{where}: coordinates need at least 2 points")
    for c, kind in zip((x, z), stored or (x.dtype, z.dtype), strict=True):
        a = np.asarray(c, dtype=np.float64)
        step = (a[-1] - a[0]) / (a.size - 1)
        if not step > 0 or np.any(np.diff(a) <= 0):
            raise DataError(f"{where}: coordinates must be strictly monotonic")
        # within 1e-6 of a step of a regular axis, or the round-off of the stored type
        # (float32 coordinates of 1000/143 m cells are 2e-5 of a step off)
        eps = np.finfo(kind).eps if np.issubdtype(kind, np.floating) else 0.0
        tol = max(1e-6 * step, 4.0 * eps * float(np.max(np.abs(a))))
        if np.max(np.abs(a - (a[0] + step * np.arange(a.size)))) > tol:
            raise DataError(f"{where}: coordinates are not regularly spaced")
    return Grid(
        int(x.size),
        int(z.size),
        float((x[-1] - x[0]) / (x.size - 1)),
        float((z[-1] - z[0]) / (z.size - 1)),
        float(x[0]),
        float(z[0]),
    )


def _exact_grid(grid: Grid, xd: h5py.Dataset, zd: h5py.Dataset) -> Grid:
    """``grid`` with the exact origins and spacings stored by :func:`write_model` (the
    ``origin`` and ``spacing`` attributes of ``x`` and ``z``), when they are there and
    agree with the coordinates; else ``grid`` (files from other tools)."""
    found = []
    for d in (xd, zd):
        try:
            o = np.asarray(d.attrs.get("origin"), dtype=np.float64)
            s = np.asarray(d.attrs.get("spacing"), dtype=np.float64)
        except (TypeError, ValueError, OSError):
            return grid
        if o.shape != () or s.shape != () or not (np.isfinite(o) and np.isfinite(s) and s > 0):
            return grid
        found.append((float(o), float(s)))
    try:
        exact = Grid(grid.nx, grid.nz, found[0][1], found[1][1], found[0][0], found[1][0])
    except ConfigError:
        return grid
    return exact if exact.matches(grid, rtol=1e-6) else grid


# ---------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_NAMES:
        raise ConfigError(
            f"invalid model parameter name {name!r}: use an identifier such as 'vp', "
            "other than 'x' and 'z'"
        )


def _check_grid(grid: Any, what: str) -> None:
    if not isinstance(grid, Grid):
        raise ConfigError(
            f"{what} needs a seisgrad.model.Grid, not {type(grid).__name__} (build one with "
            "Grid(nx=..., nz=..., dx=..., dz=...) or Grid.from_extent(...))"
        )


def _finite_number(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ConfigError(f"{what}: expected a finite number, got {value!r}")
    return v


def _pair(value: float | Sequence[float], what: str) -> tuple[float, float]:
    """A positive length or a pair of positive lengths ``(along x, along z)``."""
    if isinstance(value, (int, float, np.floating, np.integer)):
        a = b = _finite_number(value, what)
    else:
        vals = list(value)
        if len(vals) != 2:
            raise ConfigError(f"{what}: expected one number or two (x, z), got {value!r}")
        a = _finite_number(vals[0], what)
        b = _finite_number(vals[1], what)
    if a <= 0 or b <= 0:
        raise ConfigError(f"{what}: lengths must be positive, got {value!r}")
    return a, b


def homogeneous(grid: Grid, dtype: np.dtype | type = np.float32, **values: float) -> Model:
    """Model with constant parameters, e.g. ``homogeneous(grid, vp=3000, rho=2000)``.

    Parameters
    ----------
    grid
        The grid.
    dtype
        Floating-point type of the arrays (float32 by default).
    **values
        One constant per parameter name.
    """
    _check_grid(grid, "homogeneous()")
    if not values:
        raise ConfigError("homogeneous() needs at least one parameter, e.g. vp=3000.0")
    out = {}
    for name, v in values.items():
        _check_name(name)
        out[name] = np.full(grid.shape, _finite_number(v, f"parameter '{name}'"), dtype=dtype)
    return Model(grid, out)


def layered(
    grid: Grid,
    interfaces_z: Sequence[float | Sequence[float]],
    values_per_layer: Mapping[str, Sequence[float]],
    dtype: np.dtype | type = np.float32,
) -> Model:
    r"""Model made of layers separated by interfaces.

    Parameters
    ----------
    grid
        The grid.
    interfaces_z
        ``z`` (m, up) of each interface, listed **from the top down** (decreasing).
        Each entry is a number (a flat interface) or ``nx`` numbers (the interface
        height at each grid column ``x[i]``). Interfaces may touch but not cross.
    values_per_layer
        For each parameter, ``len(interfaces_z) + 1`` values, **top layer first**.
    dtype
        Floating-point type of the arrays.

    Notes
    -----
    Layer ``k`` (``k = 0`` is the top) holds the nodes with
    ``interface[k-1] > z >= interface[k]``: a node exactly on an interface belongs to the
    layer above it. In formulas, the layer index of node ``(i, j)`` is the number of
    interfaces strictly above it, :math:`k_{ij} = \#\{n : h_n(x_i) > z_j\}`.
    """
    _check_grid(grid, "layered()")
    n_if = len(interfaces_z)
    heights = np.empty((n_if, grid.nx))
    for n, h in enumerate(interfaces_z):
        if isinstance(h, (int, float, np.floating, np.integer)):
            heights[n, :] = _finite_number(h, f"interfaces_z[{n}]")
        else:
            arr = np.asarray(h, dtype=np.float64)
            if arr.shape != (grid.nx,):
                raise ConfigError(
                    f"interfaces_z[{n}]: expected a number or {grid.nx} heights "
                    f"(one per grid column), got shape {arr.shape}"
                )
            if not np.all(np.isfinite(arr)):
                raise ConfigError(f"interfaces_z[{n}]: heights must be finite")
            heights[n, :] = arr
    if n_if > 1 and np.any(np.diff(heights, axis=0) > 0):
        raise ConfigError(
            "interfaces_z must be listed from the top down (decreasing z) and must not "
            "cross; got " + repr(list(interfaces_z))
        )
    if not values_per_layer:
        raise ConfigError("layered() needs values for at least one parameter")
    # layer index = number of interfaces strictly above the node
    zz = grid.z[None, None, :]
    index = np.sum(heights[:, :, None] > zz, axis=0)  # (nx, nz)
    out = {}
    for name, vals in values_per_layer.items():
        _check_name(name)
        v = [_finite_number(a, f"layer value of '{name}'") for a in vals]
        if len(v) != n_if + 1:
            raise ConfigError(
                f"parameter '{name}': {n_if} interface(s) make {n_if + 1} layers, "
                f"got {len(v)} value(s) (list them top layer first)"
            )
        out[name] = np.asarray(v, dtype=dtype)[index]
    return Model(grid, out)


def checkerboard_pattern(
    grid: Grid,
    size: float | Sequence[float],
    shape: str = "sine",
    origin: Sequence[float] | None = None,
) -> np.ndarray:
    """Checkerboard pattern :math:`p(x, z)` in ``[-1, 1]`` (float64, shape ``(nx, nz)``).

    ``size`` is the side of one checker in metres (or ``(size_x, size_z)``); the first
    checker, starting at ``origin`` (default: the grid origin), is positive.

    * ``shape="sine"``: :math:`p = \\sin(\\pi (x-x_0)/s_x)\\,\\sin(\\pi (z-z_0)/s_z)`
      (smooth; zero on the checker edges).
    * ``shape="square"``: :math:`p = (-1)^{\\lfloor (x-x_0)/s_x \\rfloor +
      \\lfloor (z-z_0)/s_z \\rfloor}` (piecewise constant, values +-1).
    """
    _check_grid(grid, "checkerboard_pattern()")
    sx, sz = _pair(size, "checkerboard size")
    if origin is None:
        ox, oz = grid.x0, grid.z0
    else:
        o = list(origin)
        if len(o) != 2:
            raise ConfigError(f"checkerboard origin must be (x, z), got {origin!r}")
        ox, oz = (_finite_number(a, "checkerboard origin") for a in o)
    u = (grid.x - ox) / sx
    w = (grid.z - oz) / sz
    if shape == "sine":
        return np.outer(np.sin(np.pi * u), np.sin(np.pi * w))
    if shape == "square":
        su = 1.0 - 2.0 * (np.floor(u) % 2)
        sw = 1.0 - 2.0 * (np.floor(w) % 2)
        return np.outer(su, sw)
    raise ConfigError(f"checkerboard shape must be 'sine' or 'square', got {shape!r}")


def checkerboard(
    grid: Grid,
    base: Model,
    size: float | Sequence[float],
    amplitude: float | Mapping[str, float],
    shape: str = "sine",
    origin: Sequence[float] | None = None,
) -> Model:
    r"""Base model times a checkerboard: :math:`m'(x,z) = m(x,z)\,(1 + a\,p(x,z))`.

    Parameters
    ----------
    grid
        The grid (must be ``base.grid``).
    base
        The background model.
    size
        Checker side in metres, or ``(size_x, size_z)``.
    amplitude
        Relative amplitude ``a`` (``0.05`` means +-5 %), one for every parameter or a
        mapping ``name -> a``; parameters not in the mapping are copied unchanged.
    shape, origin
        See :func:`checkerboard_pattern`.
    """
    _check_grid(grid, "checkerboard()")
    if base.grid != grid:
        raise DataError(f"checkerboard: base model grid {base.grid} differs from {grid}")
    p = checkerboard_pattern(grid, size, shape, origin)
    if isinstance(amplitude, Mapping):
        amps = {k: _finite_number(v, f"amplitude of '{k}'") for k, v in amplitude.items()}
        unknown = [k for k in amps if k not in base]
        if unknown:
            raise DataError(
                f"checkerboard amplitude given for {', '.join(unknown)}, which the base "
                f"model does not have (it has: {', '.join(base)})"
            )
    else:
        a = _finite_number(amplitude, "checkerboard amplitude")
        amps = {k: a for k in base}
    out = {}
    for name, arr in base.items():
        if name in amps:
            out[name] = (arr * (1.0 + amps[name] * p)).astype(arr.dtype)
        else:
            out[name] = arr.copy()
    return Model(grid, out)


def gaussian_blob(
    grid: Grid,
    center: Sequence[float],
    sigma: float | Sequence[float],
    amplitude: float = 1.0,
) -> np.ndarray:
    """Gaussian perturbation array (float64, shape ``(nx, nz)``).

    .. math::
        b(x, z) = A \\exp\\left(-\\frac{(x-x_c)^2}{2\\sigma_x^2}
        - \\frac{(z-z_c)^2}{2\\sigma_z^2}\\right)

    ``sigma`` is the standard deviation in metres (one value or ``(sigma_x, sigma_z)``).
    Add it to a parameter with :func:`add_perturbation`.
    """
    _check_grid(grid, "gaussian_blob()")
    c = list(center)
    if len(c) != 2:
        raise ConfigError(f"gaussian_blob center must be (x, z), got {center!r}")
    xc, zc = (_finite_number(a, "gaussian_blob center") for a in c)
    sx, sz = _pair(sigma, "gaussian_blob sigma")
    amp = _finite_number(amplitude, "gaussian_blob amplitude")
    gx = np.exp(-0.5 * ((grid.x - xc) / sx) ** 2)
    gz = np.exp(-0.5 * ((grid.z - zc) / sz) ** 2)
    return amp * np.outer(gx, gz)


#: Shear parameters: zero marks a fluid.
SHEAR_PARAMETERS = ("vs", "mu")


def add_perturbation(
    model: Model,
    name: str,
    perturbation: np.ndarray,
    relative: bool = False,
    keep_fluid: bool = True,
) -> Model:
    r"""New model with ``perturbation`` added to parameter ``name``.

    ``relative=False``: :math:`m' = m + \delta`; ``relative=True``:
    :math:`m' = m\,(1 + \delta)` (``delta = 0.1`` is +10 %). Other parameters are shared
    with ``model`` (not copied); the result keeps the parameter's dtype.

    With ``keep_fluid`` (the default), cells where a shear parameter (``vs``, ``mu``) is
    0, i.e. fluid, stay 0: the tail of a smooth perturbation (a Gaussian blob is never
    exactly 0) would otherwise give the water a ``vs`` of 1e-40 m/s, which the elastic
    solver treats as a solid. Pass ``keep_fluid=False`` to turn fluid into solid.
    """
    arr = model[name]
    d = np.asarray(perturbation, dtype=np.float64)
    if d.shape != model.grid.shape:
        raise DataError(f"perturbation has shape {d.shape}, the model grid is {model.grid.shape}")
    new = arr * (1.0 + d) if relative else arr + d
    if keep_fluid and name in SHEAR_PARAMETERS:
        fluid = np.asarray(arr) == 0
        dropped = float(np.abs(np.where(fluid, new, 0.0)).max(initial=0.0))
        if dropped > 1e-3 * float(np.abs(new).max(initial=0.0)):
            logger.warning(
                "add_perturbation: %d fluid cell(s) (%s = 0) kept fluid where the "
                "perturbation reaches %.3g; pass keep_fluid=False to make them solid",
                int(fluid.sum()),
                name,
                dropped,
            )
        new = np.where(fluid, arr, new)
    return model.with_values(**{name: new.astype(arr.dtype)})


# ---------------------------------------------------------------------------------------
# Interpolation
# ---------------------------------------------------------------------------------------

_METHODS = ("linear", "nearest")
_OUTSIDE = ("nearest", "error")


def _float_dtype(arr: np.ndarray, dtype: np.dtype | type | None) -> np.dtype:
    if dtype is not None:
        return np.dtype(dtype)
    if np.issubdtype(arr.dtype, np.floating):
        return arr.dtype
    return np.dtype(np.float32)


def _check_outside(xs: np.ndarray, zs: np.ndarray, grid: Grid, outside: str, what: str) -> None:
    if outside != "error":
        return
    xmin, xmax, zmin, zmax = grid.extent
    span = max(xmax - xmin, zmax - zmin, float(np.ptp(xs)), float(np.ptp(zs)))
    tol = 1e-6 * span
    if (
        xmin < xs.min() - tol
        or xmax > xs.max() + tol
        or zmin < zs.min() - tol
        or zmax > zs.max() + tol
    ):
        raise DataError(
            f"{what} covers x {xs.min():g}..{xs.max():g} m, z {zs.min():g}..{zs.max():g} m, "
            f"which does not contain the grid (x {xmin:g}..{xmax:g} m, z {zmin:g}..{zmax:g} "
            "m); extend the input or use outside='nearest'"
        )


def _interp_rectilinear(
    xs: np.ndarray,
    zs: np.ndarray,
    values: Mapping[str, np.ndarray],
    grid: Grid,
    method: str,
    outside: str,
    dtype: np.dtype | type | None,
    what: str,
) -> Model:
    """Interpolate arrays ``(len(xs), len(zs))`` on a rectilinear grid onto ``grid``."""
    from scipy.interpolate import RegularGridInterpolator

    xs = np.asarray(xs, dtype=np.float64)
    zs = np.asarray(zs, dtype=np.float64)
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(zs))):
        raise DataError(f"{what}: coordinates 'x' and 'z' must be finite (no NaN or inf)")
    ox = np.argsort(xs)
    oz = np.argsort(zs)
    xs, zs = xs[ox], zs[oz]
    if xs.size < 2 or zs.size < 2 or np.any(np.diff(xs) <= 0) or np.any(np.diff(zs) <= 0):
        raise DataError(f"{what}: coordinates must have >= 2 distinct, non-repeated values")
    _check_outside(xs, zs, grid, outside, what)
    qx = np.clip(grid.x, xs[0], xs[-1])
    qz = np.clip(grid.z, zs[0], zs[-1])
    out = {}
    for name, arr in values.items():
        a = np.asarray(arr)
        if a.shape != (xs.size, zs.size):
            raise DataError(
                f"{what}: parameter '{name}' has shape {a.shape}, expected "
                f"({xs.size}, {zs.size}) for dimensions ('x', 'z')"
            )
        a64 = a[ox][:, oz].astype(np.float64)
        itp = RegularGridInterpolator((xs, zs), a64, method=method)
        res = itp((qx[:, None], qz[None, :]))
        out[name] = res.astype(_float_dtype(a, dtype))
    return Model(grid, out)


def _check_hull(pts: np.ndarray, q: np.ndarray, what: str) -> None:
    """Raise :class:`DataError` when a query point of ``q`` lies outside the convex hull
    of ``pts`` (beyond a round-off of 1e-9 in barycentric coordinates)."""
    from scipy.spatial import Delaunay, QhullError

    try:
        tri = Delaunay(pts)
    except QhullError as exc:
        raise DataError(
            f"{what}: cannot triangulate the points (are they all on one line?); "
            "use method='nearest' with outside='nearest'"
        ) from exc
    out = tri.find_simplex(q, tol=1e-9) < 0
    if np.any(out):
        first = q[np.argmax(out)]
        raise DataError(
            f"{what}: {int(out.sum())} grid node(s) lie outside the convex hull of the "
            f"points (first at x={first[0]:g} m, z={first[1]:g} m); shrink the grid or use "
            "outside='nearest'"
        )


def _interp_scattered(
    x: np.ndarray,
    z: np.ndarray,
    values: Mapping[str, np.ndarray],
    grid: Grid,
    method: str,
    outside: str,
    dtype: np.dtype | type | None,
    what: str,
) -> Model:
    """Interpolate values at scattered points ``(x[n], z[n])`` onto ``grid``.

    Repeated points are merged (their values averaged). Points that form a full
    rectilinear grid are handled by bilinear interpolation; otherwise ``linear`` uses a
    Delaunay triangulation (piecewise-linear), and grid nodes outside the points' convex
    hull take the nearest point's value (``outside='nearest'``).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    z = np.asarray(z, dtype=np.float64).ravel()
    if x.size != z.size or x.size < 3:
        raise DataError(f"{what}: need x and z of equal length >= 3, got {x.size}, {z.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(z))):
        raise DataError(f"{what}: point coordinates must be finite")
    vals = {}
    for name, v in values.items():
        a = np.asarray(v).ravel()
        if a.size != x.size:
            raise DataError(f"{what}: parameter '{name}' has {a.size} values for {x.size} points")
        vals[name] = a
    # merge repeated points (GLL points on element edges appear 2-4 times)
    span = max(float(np.ptp(x)), float(np.ptp(z)), 1e-300)
    tol = 1e-6 * span
    kx = np.round((x - x.min()) / tol).astype(np.int64)
    kz = np.round((z - z.min()) / tol).astype(np.int64)
    keys = np.stack([kx, kz], axis=1)
    uniq, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    px = np.bincount(inverse, weights=x) / counts
    pz = np.bincount(inverse, weights=z) / counts
    merged = {
        k: np.bincount(inverse, weights=a.astype(np.float64)) / counts for k, a in vals.items()
    }
    ux, ix = np.unique(uniq[:, 0], return_inverse=True)
    uz, iz = np.unique(uniq[:, 1], return_inverse=True)
    if ux.size * uz.size == uniq.shape[0] and ux.size >= 2 and uz.size >= 2:
        # rectilinear: scatter into 2-D arrays, then bilinear
        xs = np.zeros(ux.size)
        zs = np.zeros(uz.size)
        xs[ix.ravel()] = px
        zs[iz.ravel()] = pz
        arrays = {}
        for k, a in merged.items():
            arr = np.empty((ux.size, uz.size))
            arr[ix.ravel(), iz.ravel()] = a
            arrays[k] = arr
        m = _interp_rectilinear(xs, zs, arrays, grid, method, outside, np.float64, what)
        return Model(grid, {k: m[k].astype(_float_dtype(vals[k], dtype)) for k in m})
    _check_outside(px, pz, grid, outside, what)
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    pts = np.stack([px, pz], axis=1)
    stack = np.stack([merged[k] for k in merged], axis=1)
    gx, gz = np.meshgrid(grid.x, grid.z, indexing="ij")
    q = np.stack([gx.ravel(), gz.ravel()], axis=1)
    if outside == "error":
        _check_hull(pts, q, what)
    nearest = NearestNDInterpolator(pts, stack)(q)
    if method == "nearest":
        res = nearest
    else:
        from scipy.spatial import QhullError

        try:
            res = LinearNDInterpolator(pts, stack)(q)
        except QhullError as exc:
            raise DataError(
                f"{what}: cannot triangulate the points (are they all on one line?); "
                "use method='nearest'"
            ) from exc
        bad = ~np.isfinite(res)
        res[bad] = nearest[bad]
    out = {}
    for n, k in enumerate(merged):
        out[k] = res[:, n].reshape(grid.shape).astype(_float_dtype(vals[k], dtype))
    return Model(grid, out)


def interpolate(
    source: Any,
    grid: Grid,
    method: str = "linear",
    names: str | Sequence[str] | None = None,
    outside: str = "nearest",
    dtype: np.dtype | type | None = None,
) -> Model:
    """Interpolate a model onto ``grid``.

    Parameters
    ----------
    source
        One of

        * a :class:`Model` on another grid;
        * an :class:`xarray.Dataset` (or named ``DataArray``) with coordinates ``x`` and
          ``z`` in metres (``z`` up, any order, increasing or decreasing); every variable
          with dimensions ``x`` and ``z`` (in either order) is interpolated;
        * a mapping with 1-D ``x`` and ``z`` and, per parameter, either a 2-D array of
          shape ``(len(x), len(z))`` (values on the rectilinear grid ``x`` by ``z``) or
          a 1-D array with one value per point ``(x[n], z[n])`` (scattered points).
    grid
        The target grid (for example the solver grid).
    method
        ``"linear"`` (bilinear on rectilinear input, piecewise-linear on a Delaunay
        triangulation of scattered points; reproduces linear fields exactly) or
        ``"nearest"``.
    names
        Parameters to take (default: all).
    outside
        Grid nodes outside the input: ``"nearest"`` (take the value of the nearest input
        edge / point) or ``"error"`` (raise :class:`~seisgrad.errors.DataError`; for
        scattered points "outside" means outside their convex hull, not only outside
        their bounding box).
    dtype
        Output dtype (default: the input's floating dtype, float32 for integer input).
    """
    _check_grid(grid, "interpolate()")
    if method not in _METHODS:
        raise ConfigError(f"interpolation method must be one of {_METHODS}, got {method!r}")
    if outside not in _OUTSIDE:
        raise ConfigError(f"outside must be one of {_OUTSIDE}, got {outside!r}")

    wanted = _as_names(names)

    def pick(available: Sequence[str]) -> list[str]:
        names = wanted
        if names is None:
            return list(available)
        missing = [n for n in names if n not in available]
        if missing:
            raise DataError(
                f"input has no parameter(s) {', '.join(missing)} "
                f"(it has: {', '.join(available) or 'none'})"
            )
        return list(names)

    if isinstance(source, Model):
        g = source.grid
        keys = pick(list(source))
        return _interp_rectilinear(
            g.x, g.z, {k: source[k] for k in keys}, grid, method, outside, dtype, "input model"
        )
    if (
        hasattr(source, "dims")
        and hasattr(source, "to_dataset")
        and not hasattr(source, "data_vars")
    ):
        source = source.to_dataset(name=source.name if source.name is not None else "value")
    if hasattr(source, "data_vars") and hasattr(source, "coords"):
        coords = list(source.coords)
        if "x" not in source.coords or "z" not in source.coords:
            raise DataError(
                "xarray Dataset needs coordinates 'x' and 'z' in metres (z up); it has: "
                + (", ".join(map(str, coords)) or "none")
            )
        two_d = [str(k) for k, v in source.data_vars.items() if set(v.dims) == {"x", "z"}]
        keys = pick(two_d)
        arrays = {k: np.asarray(source[k].transpose("x", "z").values) for k in keys}
        if not arrays:
            raise DataError("xarray Dataset has no variable with dimensions ('x', 'z')")
        xs = np.asarray(source["x"].values, dtype=np.float64)
        zs = np.asarray(source["z"].values, dtype=np.float64)
        return _interp_rectilinear(xs, zs, arrays, grid, method, outside, dtype, "Dataset")
    if isinstance(source, Mapping):
        if "x" not in source or "z" not in source:
            raise DataError("a mapping to interpolate needs 1-D 'x' and 'z' arrays")
        xs = np.asarray(source["x"], dtype=np.float64)
        zs = np.asarray(source["z"], dtype=np.float64)
        keys = pick([k for k in source if k not in RESERVED_NAMES])
        if not keys:
            raise DataError("a mapping to interpolate needs at least one parameter")
        arrays = {k: np.asarray(source[k]) for k in keys}
        if all(a.ndim == 2 for a in arrays.values()):
            return _interp_rectilinear(xs, zs, arrays, grid, method, outside, dtype, "input grid")
        return _interp_scattered(xs, zs, arrays, grid, method, outside, dtype, "input points")
    raise DataError(
        f"cannot interpolate a {type(source).__name__}: give a Model, an xarray Dataset "
        "or a mapping with 'x', 'z' and parameter arrays"
    )


# ---------------------------------------------------------------------------------------
# SPECFEM2D binary GLL files
# ---------------------------------------------------------------------------------------


def read_fortran_records(
    path: str | os.PathLike[str], dtype: np.dtype | str = "f4"
) -> list[np.ndarray]:
    """Read a Fortran unformatted sequential file: a list of records.

    Each record is ``int32 nbytes | payload | int32 nbytes``. The byte order is detected
    from the first record marker; every payload is read as ``dtype`` (in that byte order).
    Returns 1-D arrays.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc}") from exc
    if len(raw) < 8:
        raise DataError(f"{p}: too short for a Fortran record ({len(raw)} bytes)")
    order = None
    for bo in ("<", ">"):
        n = int(np.frombuffer(raw[:4], dtype=bo + "i4")[0])
        if 0 <= n <= len(raw) - 8:
            end = int(np.frombuffer(raw[4 + n : 8 + n], dtype=bo + "i4")[0])
            if end == n:
                order = bo
                break
    if order is None:
        raise DataError(
            f"{p}: not a Fortran unformatted sequential file (record markers do not match)"
        )
    dt = np.dtype(dtype).newbyteorder(order)
    out = []
    pos = 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise DataError(f"{p}: truncated record marker at byte {pos}")
        n = int(np.frombuffer(raw[pos : pos + 4], dtype=order + "i4")[0])
        if n < 0 or pos + 8 + n > len(raw):
            raise DataError(f"{p}: record at byte {pos} claims {n} bytes, file is shorter")
        end = int(np.frombuffer(raw[pos + 4 + n : pos + 8 + n], dtype=order + "i4")[0])
        if end != n:
            raise DataError(f"{p}: record at byte {pos}: end marker {end} != {n}")
        if n % dt.itemsize:
            raise DataError(
                f"{p}: record of {n} bytes is not a whole number of {dt.itemsize}-byte values"
            )
        out.append(
            np.frombuffer(raw[pos + 4 : pos + 4 + n], dtype=dt).astype(dt.newbyteorder("="))
        )
        pos += 8 + n
    return out


def _read_gll_array(path: Path, dtype: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"SPECFEM GLL file not found: {path}")
    recs = read_fortran_records(path, dtype)
    if len(recs) != 1:
        raise DataError(f"{path}: expected one record, found {len(recs)}")
    return recs[0]


#: Most nodes of a grid that :func:`read_specfem_gll` makes by itself (``grid=None``).
MAX_AUTO_NODES = 20_000_000


def _auto_gll_grid(x: np.ndarray, z: np.ndarray, where: Path) -> Grid:
    """The default grid of :func:`read_specfem_gll`: the points' extent with their mean
    spacing.

    Rectilinear points (every distinct ``x`` with every distinct ``z``, as SPECFEM2D's
    internal mesher makes): ``(xmax - xmin) / (number of distinct x - 1)``, the smaller
    of x and z. Other (deformed, unstructured) meshes: ``sqrt(hull area / number of
    distinct points)``, the mean spacing of points spread evenly over their convex hull.

    Raises
    ------
    DataError
        When the points span no area or the grid would have more than
        ``MAX_AUTO_NODES`` nodes.
    """
    span = max(float(np.ptp(x)), float(np.ptp(z)))
    if not span > 0:
        raise DataError(f"{where}: GLL points do not span an area")
    tol = 1e-6 * span
    kx = np.round((x - x.min()) / tol).astype(np.int64)
    kz = np.round((z - z.min()) / tol).astype(np.int64)
    nux = np.unique(kx).size
    nuz = np.unique(kz).size
    npts = np.unique(np.stack([kx, kz], axis=1), axis=0).shape[0]
    if nux < 2 or nuz < 2:
        raise DataError(f"{where}: GLL points do not span an area")
    if nux * nuz == npts:
        spacing = min(float(np.ptp(x)) / (nux - 1), float(np.ptp(z)) / (nuz - 1))
    else:
        from scipy.spatial import ConvexHull, QhullError

        try:
            area = float(ConvexHull(np.stack([x, z], axis=1)).volume)
        except QhullError as exc:
            raise DataError(f"{where}: GLL points do not span an area") from exc
        spacing = math.sqrt(area / npts)
    grid = Grid.from_extent(
        float(x.min()), float(x.max()), float(z.min()), float(z.max()), spacing
    )
    if grid.nx * grid.nz > MAX_AUTO_NODES:
        raise DataError(
            f"{where}: the automatic grid would have {grid.nx} x {grid.nz} = "
            f"{grid.nx * grid.nz:,} nodes (spacing {spacing:.3g} m), more than "
            f"{MAX_AUTO_NODES:,}; pass grid= (e.g. Grid.from_extent(..., spacing=...))"
        )
    return grid


#: Largest plausible |coordinate| (m) of a SPECFEM2D mesh; beyond it, the precision is wrong.
_MAX_COORD = 1e10


def _coords_plausible(a: np.ndarray) -> bool:
    """Whether GLL coordinates look like metres (finite, below ``_MAX_COORD`` and no
    denormal-sized non-zero values): reading a file in the wrong precision gives values
    like 1e43 or 1e-315."""
    if a.size == 0 or not np.all(np.isfinite(a)):
        return False
    mag = np.abs(a)
    return float(mag.max()) <= _MAX_COORD and not np.any((mag > 0) & (mag < 1e-30))


def _check_precision(path: Path, coords: np.ndarray, precision: str) -> None:
    """Raise :class:`DataError` when ``coords`` (read from ``path`` in ``precision``)
    are not plausible coordinates, suggesting the other precision when that reads well."""
    if _coords_plausible(coords):
        return
    other = "double" if precision == "single" else "single"
    try:
        alt = _read_gll_array(path, "f8" if other == "double" else "f4")
        hint = (
            f"; read as {other} precision they look right: pass precision={other!r}"
            if _coords_plausible(alt)
            else f" (nor as {other} precision)"
        )
    except DataError:
        hint = ""
    finite = coords[np.isfinite(coords)]
    span = f"{float(np.abs(finite).max()):.3g}" if finite.size else "nan"
    raise DataError(
        f"{path}: read as {precision} precision the coordinates are not plausible "
        f"(non-finite or |x| up to {span} m){hint}"
    )


def read_specfem_gll(
    folder: str | os.PathLike[str],
    grid: Grid | None = None,
    names: str | Sequence[str] = ("vp", "vs", "rho"),
    proc: int | Sequence[int] | None = None,
    method: str = "linear",
    precision: str = "single",
    outside: str = "nearest",
    coordinates: str | os.PathLike[str] | None = None,
) -> Model:
    r"""Import SPECFEM2D binary GLL files ``proc{NNNNNN}_{name}.bin`` onto a regular grid.

    SPECFEM2D (``SAVE_MODEL = binary``, and the kernels of an adjoint run) stores one
    value per GLL point of each element, as a single Fortran unformatted record of
    ``NGLLX*NGLLZ*NSPEC`` reals; ``proc{NNNNNN}_x.bin`` and ``_z.bin`` hold the point
    coordinates (m, ``z`` up). Points shared by neighbouring elements are merged
    (values averaged). When the points form a rectilinear grid (SPECFEM2D's internal
    mesher) they are interpolated bilinearly, otherwise piecewise-linearly on a Delaunay
    triangulation (``method="nearest"``: the nearest GLL point).

    Parameters
    ----------
    folder
        Folder with the ``.bin`` files.
    grid
        Target grid; default: the GLL points' extent with the mean GLL spacing:
        ``(xmax - xmin) / (number of distinct x - 1)``, the smaller of x and z, for
        rectilinear points; ``sqrt(hull area / number of distinct points)`` for deformed
        meshes. A default grid of more than ``MAX_AUTO_NODES`` (20 million) nodes is a
        :class:`~seisgrad.errors.DataError`.
    names
        File name parts to read (``vp``, ``vs``, ``rho``, ``beta_kernel``, ...); they
        become the model's parameter names.
    proc
        Processor number(s) to read; default: every ``proc*_x.bin`` in ``folder``.
    method
        ``"linear"`` or ``"nearest"`` (see :func:`interpolate`); anything else is a
        :class:`~seisgrad.errors.ConfigError`.
    outside
        ``"nearest"`` or ``"error"`` (see :func:`interpolate`).
    precision
        ``"single"`` (CUSTOM_REAL = 4 bytes, SPECFEM's default) or ``"double"``. The
        files do not record it: coordinates that are not plausible in the given
        precision (non-finite, beyond 1e10 m, or denormal) raise
        :class:`~seisgrad.errors.DataError` naming the other precision when that fits.
    coordinates
        Folder with the ``proc{NNNNNN}_x.bin``/``_z.bin`` coordinate files of the same
        mesh; default: ``folder``. SPECFEM2D writes no coordinate files next to the
        kernels of an adjoint run, so kernels are read with ``coordinates=`` the
        model folder (e.g. ``DATA/`` or ``OUTPUT_FILES_INIT/``). A coordinate file whose
        length differs from the data file's is a :class:`~seisgrad.errors.DataError`.

    Notes
    -----
    Kernel files hold a density (misfit per relative perturbation per unit area); the
    node kernels of seisgrad's solvers are :math:`\partial J/\partial m_{ij}` per node,
    i.e. approximately density times the cell area ``dx*dz`` (and divided by ``m`` for
    SPECFEM's relative kernels).
    """
    if precision not in ("single", "double"):
        raise ConfigError(f"precision must be 'single' or 'double', got {precision!r}")
    if method not in _METHODS:
        raise ConfigError(f"interpolation method must be one of {_METHODS}, got {method!r}")
    if outside not in _OUTSIDE:
        raise ConfigError(f"outside must be one of {_OUTSIDE}, got {outside!r}")
    dtype = "f4" if precision == "single" else "f8"
    names = _as_names(names) or []
    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"SPECFEM GLL folder not found: {d}")
    c = d if coordinates is None else Path(coordinates)
    if not c.is_dir():
        raise DataError(f"SPECFEM GLL coordinates folder not found: {c}")
    if not names:
        raise ConfigError("read_specfem_gll needs at least one name (e.g. 'vp')")
    for n in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) or n in RESERVED_NAMES:
            raise ConfigError(f"invalid GLL file name part {n!r}")
    if proc is None:
        procs = sorted(
            int(m.group(1))
            for f in c.iterdir()
            if (m := re.fullmatch(r"proc(\d{6})_x\.bin", f.name))
        )
        if not procs:
            hint = (
                " (kernel folders have none: pass coordinates= the folder of the model's"
                " proc*_x.bin/proc*_z.bin)"
                if coordinates is None
                else ""
            )
            raise DataError(f"{c}: no proc??????_x.bin files (SPECFEM2D GLL coordinates){hint}")
    else:
        items = [proc] if isinstance(proc, (numbers.Integral, str)) else proc
        try:
            items = list(items)
        except TypeError:
            items = [proc]
        bad = [
            p
            for p in items
            if isinstance(p, bool) or not isinstance(p, numbers.Integral) or not 0 <= p < 10**6
        ]
        if bad or not items:
            raise ConfigError(
                f"proc must be a processor number >= 0 or a list of them, got {proc!r}"
            )
        procs = [int(p) for p in items]
    xs, zs = [], []
    vals: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for p in procs:
        pre = d / f"proc{p:06d}_"
        cpre = c / f"proc{p:06d}_"
        x = _read_gll_array(Path(f"{cpre}x.bin"), dtype)
        z = _read_gll_array(Path(f"{cpre}z.bin"), dtype)
        _check_precision(Path(f"{cpre}x.bin"), x, precision)
        _check_precision(Path(f"{cpre}z.bin"), z, precision)
        if x.size != z.size:
            raise DataError(f"{cpre}x.bin and z.bin differ in length ({x.size}, {z.size})")
        xs.append(x)
        zs.append(z)
        for n in names:
            a = _read_gll_array(Path(f"{pre}{n}.bin"), dtype)
            if a.size != x.size:
                raise DataError(
                    f"{pre}{n}.bin has {a.size} values, the coordinates {cpre}x.bin have {x.size}"
                )
            vals[n].append(a)
    x = np.concatenate(xs).astype(np.float64)
    z = np.concatenate(zs).astype(np.float64)
    values = {n: np.concatenate(v) for n, v in vals.items()}
    if grid is None:
        grid = _auto_gll_grid(x, z, d)
    out_dtype = np.float32 if precision == "single" else np.float64
    return _interp_scattered(
        x, z, values, grid, method, outside, out_dtype, f"SPECFEM GLL points in {d}"
    )


def in_parametrization(model: Model, names: Sequence[str]) -> Model:
    """Express ``model`` in the parameters ``names`` (those it has are kept).

    From velocities and density (2-D plane strain):
    :math:`\\mu = \\rho v_s^2`, :math:`\\lambda = \\rho (v_p^2 - 2 v_s^2)`,
    :math:`\\kappa = \\lambda + \\mu = \\rho (v_p^2 - v_s^2)` (acoustic: :math:`v_s = 0`).
    """
    have = dict(model.items())
    rho = have.get("rho")
    vp = have.get("vp")
    vs = have.get("vs", np.zeros_like(vp) if vp is not None else None)
    derived = {}
    if rho is not None and vp is not None:
        derived = {
            "mu": rho * vs**2,
            "lambda": rho * (vp**2 - 2 * vs**2),
            "kappa": rho * (vp**2 - vs**2),
        }
    out = {}
    for n in names:
        if n in have:
            out[n] = have[n]
        elif n in derived:
            out[n] = derived[n]
        else:
            raise DataError(
                f"cannot express the model in '{n}': it has {', '.join(have) or 'nothing'}"
            )
    return Model(model.grid, out)
