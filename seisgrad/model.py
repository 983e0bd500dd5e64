"""Regular 2D grids and models, and their HDF5 files.

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
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from seisgrad.errors import ConfigError, DataError

__all__ = ["Grid", "Model", "read_model", "write_model", "atomic_path"]


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
        if self.nx < 2 or self.nz < 2:
            raise ConfigError(f"grid needs at least 2x2 nodes, got {self.nx}x{self.nz}")
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
        nx = int(round((xmax - xmin) / spacing)) + 1
        nz = int(round((zmax - zmin) / spacing)) + 1
        return cls(nx, nz, (xmax - xmin) / (nx - 1), (zmax - zmin) / (nz - 1), xmin, zmin)

    def contains(self, x: float, z: float) -> bool:
        xmin, xmax, zmin, zmax = self.extent
        return xmin <= x <= xmax and zmin <= z <= zmax


class Model(Mapping[str, np.ndarray]):
    """Named 2D arrays on a :class:`Grid` (read-only mapping ``name -> array``)."""

    def __init__(self, grid: Grid, values: Mapping[str, np.ndarray]) -> None:
        self.grid = grid
        self._values: dict[str, np.ndarray] = {}
        for name, arr in values.items():
            a = np.asarray(arr)
            if a.shape != grid.shape:
                raise DataError(
                    f"model parameter '{name}' has shape {a.shape}, grid is {grid.shape}"
                )
            self._values[name] = a

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._values[key]
        except KeyError:
            raise DataError(
                f"model has no parameter '{key}' (it has: {', '.join(self._values)})"
            ) from None

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


def atomic_path(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return ``(final, temporary)`` paths for an atomic write in the same folder."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    return final, Path(tmp)


def write_model(
    path: str | os.PathLike[str], model: Model, attrs: Mapping[str, object] | None = None
) -> Path:
    """Write ``model`` to an HDF5/netCDF-4 file atomically (temp file + rename)."""
    final, tmp = atomic_path(path)
    g = model.grid
    try:
        with h5py.File(tmp, "w") as f:
            x = f.create_dataset("x", data=g.x.astype(np.float64))
            z = f.create_dataset("z", data=g.z.astype(np.float64))
            x.make_scale("x")
            z.make_scale("z")
            x.attrs["units"] = "m"
            z.attrs["units"] = "m"
            z.attrs["positive"] = "up"
            for name, arr in model.items():
                d = f.create_dataset(name, data=np.asarray(arr))
                d.dims[0].attach_scale(x)
                d.dims[1].attach_scale(z)
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def read_model(path: str | os.PathLike[str], names: list[str] | None = None) -> Model:
    """Read a model written by :func:`write_model` (or any file with the same layout)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"model file not found: {p}")
    try:
        with h5py.File(p, "r") as f:
            if "x" not in f or "z" not in f:
                raise DataError(f"{p}: not a seisgrad model (no 'x' and 'z' coordinates)")
            x = np.asarray(f["x"][()], dtype=np.float64)
            z = np.asarray(f["z"][()], dtype=np.float64)
            grid = _grid_from_coords(x, z, p)
            keys = [
                k
                for k in f
                if k not in ("x", "z") and isinstance(f[k], h5py.Dataset) and f[k].ndim == 2
            ]
            if names is not None:
                missing = [n for n in names if n not in keys]
                if missing:
                    raise DataError(
                        f"{p}: missing parameter(s) {', '.join(missing)} "
                        f"(file has: {', '.join(keys) or 'none'})"
                    )
                keys = list(names)
            values = {k: np.asarray(f[k][()]) for k in keys}
    except OSError as exc:
        raise DataError(f"cannot read model file {p}: {exc}") from exc
    return Model(grid, values)


def _grid_from_coords(x: np.ndarray, z: np.ndarray, where: Path) -> Grid:
    if x.size < 2 or z.size < 2:
        raise DataError(f"{where}: coordinates need at least 2 points")
    dx = np.diff(x)
    dz = np.diff(z)
    if not (np.allclose(dx, dx[0], rtol=1e-6) and np.allclose(dz, dz[0], rtol=1e-6)):
        raise DataError(f"{where}: coordinates are not regularly spaced")
    return Grid(int(x.size), int(z.size), float(dx[0]), float(dz[0]), float(x[0]), float(z[0]))
