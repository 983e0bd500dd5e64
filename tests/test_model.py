"""Tests of seisgrad.model: file I/O, builders, interpolation, SPECFEM2D GLL import."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from seisgrad.errors import ConfigError, DataError
from seisgrad.model import (
    Grid,
    Model,
    add_perturbation,
    checkerboard,
    checkerboard_pattern,
    gaussian_blob,
    homogeneous,
    interpolate,
    layered,
    read_fortran_records,
    read_model,
    read_specfem_gll,
    write_model,
)

DATA = Path(__file__).parent / "data" / "specfem2d"


def linear_field(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    return 1500.0 + 0.25 * x[:, None] - 0.75 * z[None, :]


@pytest.fixture
def grid() -> Grid:
    return Grid(nx=7, nz=5, dx=10.0, dz=20.0, x0=100.0, z0=-40.0)


# ---------------------------------------------------------------------------------------
# Grid
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((5.5, 5, 10.0, 10.0), "nx must be a whole number"),
        ((5, True, 10.0, 10.0), "nz must be a whole number"),
        ((5, 5, float("inf"), 10.0), "dx must be finite"),
        ((5, 5, 10.0, float("nan")), "dz must be finite"),
        ((5, 5, 10.0, 10.0, float("nan")), "x0 must be finite"),
        ((5, 5, 10.0, 10.0, 0.0, float("-inf")), "z0 must be finite"),
        ((5, 5, "10", 10.0), "dx must be a number"),
        ((5, 5, -1.0, 10.0), "positive"),
        ((1, 5, 10.0, 10.0), "at least 2x2"),
    ],
)
def test_grid_rejects_bad_values(args: tuple, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Grid(*args)


def test_grid_normalises_numbers() -> None:
    g = Grid(np.int64(7), 5.0, np.float32(2.5), 2, np.int32(-3))
    assert (g.nx, g.nz, g.dx, g.dz, g.x0) == (7, 5, 2.5, 2.0, -3.0)
    assert type(g.nx) is int and type(g.nz) is int and type(g.dz) is float
    assert g == Grid(7, 5, 2.5, 2.0, -3.0)
    with pytest.raises(ConfigError, match="spacing"):
        Grid.from_extent(0.0, 100.0, 0.0, 100.0, float("nan"))
    with pytest.raises(ConfigError, match="xmax"):
        Grid.from_extent(0.0, float("inf"), 0.0, 100.0, 10.0)


# ---------------------------------------------------------------------------------------
# File I/O
# ---------------------------------------------------------------------------------------


def test_write_read_round_trip(tmp_path: Path, grid: Grid) -> None:
    rng = np.random.default_rng(0)
    m = Model(
        grid,
        {
            "vp": rng.random(grid.shape).astype(np.float32),
            "rho": rng.random(grid.shape).astype(np.float64),
        },
    )
    p = m.write(tmp_path / "sub" / "m.h5", attrs={"kind": "model"})
    assert p == tmp_path / "sub" / "m.h5"
    assert [f.name for f in p.parent.iterdir()] == ["m.h5"]  # no temp file left
    back = Model.read(p)
    assert back.grid == grid
    assert set(back) == {"vp", "rho"}
    for k in m:
        assert back[k].dtype == m[k].dtype
        np.testing.assert_array_equal(back[k], m[k])
    with h5py.File(p) as f:
        assert f.attrs["kind"] == "model"
    only = read_model(p, ["vp"])
    assert list(only) == ["vp"]
    with pytest.raises(DataError, match="missing parameter"):
        read_model(p, ["vs"])


def test_xarray_opens_model_file(tmp_path: Path, grid: Grid) -> None:
    import xarray as xr

    vp = linear_field(grid.x, grid.z).astype(np.float32)
    p = write_model(tmp_path / "m.h5", Model(grid, {"vp": vp, "vs": vp / 2}))
    with xr.open_dataset(p, engine="h5netcdf") as ds:
        assert set(ds.data_vars) == {"vp", "vs"}
        assert ds["vp"].dims == ("x", "z")
        assert ds["vs"].dims == ("x", "z")
        np.testing.assert_array_equal(ds["x"].values, grid.x)
        np.testing.assert_array_equal(ds["z"].values, grid.z)
        np.testing.assert_array_equal(ds["vp"].values, vp)
        assert "x" in ds.coords and "z" in ds.coords


def test_read_file_written_by_xarray_transposed_and_descending(tmp_path: Path) -> None:
    """A file written by xarray with dims (z, x) and z decreasing is read correctly."""
    import xarray as xr

    g = Grid(6, 4, 5.0, 2.0, 0.0, 10.0)
    vp = linear_field(g.x, g.z)
    ds = xr.Dataset({"vp": (("z", "x"), vp.T[::-1, :])}, coords={"x": g.x, "z": g.z[::-1]})
    p = tmp_path / "xr.h5"
    ds.to_netcdf(p, engine="h5netcdf")
    m = read_model(p)
    assert m.grid == g
    np.testing.assert_allclose(m["vp"], vp)


def test_model_to_xarray(grid: Grid) -> None:
    import xarray  # noqa: F401 - the test needs the h5netcdf engine

    m = homogeneous(grid, vp=2000.0)
    ds = m.to_xarray()
    assert ds["vp"].dims == ("x", "z")
    np.testing.assert_array_equal(ds["x"].values, grid.x)


def test_write_rejects_coordinate_names(tmp_path: Path, grid: Grid) -> None:
    with pytest.raises(DataError, match="coordinate variables"):
        write_model(tmp_path / "m.h5", Model(grid, {"x": np.zeros(grid.shape)}))
    assert not list(tmp_path.iterdir())


def test_read_model_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_model(tmp_path / "nope.h5")
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        f["vp"] = np.zeros((2, 2))
    with pytest.raises(DataError, match="no 'x' and 'z'"):
        read_model(p)
    q = tmp_path / "irregular.h5"
    with h5py.File(q, "w") as f:
        f["x"] = np.array([0.0, 1.0, 3.0])
        f["z"] = np.array([0.0, 1.0])
        f["vp"] = np.zeros((3, 2))
    with pytest.raises(DataError, match="regularly spaced"):
        read_model(q)


# ---------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------


def test_homogeneous(grid: Grid) -> None:
    m = homogeneous(grid, vp=3000.0, rho=2000)
    assert set(m) == {"vp", "rho"}
    assert m["vp"].dtype == np.float32
    assert np.all(m["vp"] == 3000.0) and np.all(m["rho"] == 2000.0)
    assert homogeneous(grid, np.float64, vs=1.0)["vs"].dtype == np.float64
    with pytest.raises(ConfigError, match="at least one"):
        homogeneous(grid)
    with pytest.raises(ConfigError, match="finite"):
        homogeneous(grid, vp=float("nan"))


def test_layered_flat_and_boundaries() -> None:
    g = Grid(3, 11, 1.0, 10.0, 0.0, 0.0)  # z = 0, 10, ..., 100
    m = layered(g, [70.0, 30.0], {"vp": [1000.0, 2000.0, 3000.0], "rho": [1, 2, 3]})
    z = g.z
    expected = np.where(z >= 70.0, 1000.0, np.where(z >= 30.0, 2000.0, 3000.0))
    for i in range(g.nx):
        np.testing.assert_array_equal(m["vp"][i], expected)
    # nodes exactly on an interface belong to the layer above
    assert m["vp"][0, 7] == 1000.0 and m["vp"][0, 3] == 2000.0 and m["vp"][0, 2] == 3000.0
    assert m["rho"][0, 10] == 1.0


def test_layered_dipping_interface() -> None:
    g = Grid(5, 6, 1.0, 1.0)
    h = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    m = layered(g, [h], {"vp": [1.0, 2.0]})
    for i in range(g.nx):
        np.testing.assert_array_equal(m["vp"][i], np.where(g.z >= h[i], 1.0, 2.0))


def test_layered_errors(grid: Grid) -> None:
    with pytest.raises(ConfigError, match="top down"):
        layered(grid, [0.0, 10.0], {"vp": [1, 2, 3]})
    with pytest.raises(ConfigError, match="3 layers"):
        layered(grid, [10.0, 0.0], {"vp": [1, 2]})
    with pytest.raises(ConfigError, match="heights"):
        layered(grid, [[1.0, 2.0]], {"vp": [1, 2]})


def test_checkerboard_pattern_and_model() -> None:
    g = Grid(41, 21, 5.0, 5.0)
    p = checkerboard_pattern(g, (50.0, 25.0))
    expected = np.outer(np.sin(np.pi * g.x / 50.0), np.sin(np.pi * g.z / 25.0))
    np.testing.assert_allclose(p, expected, atol=1e-15)
    sq = checkerboard_pattern(g, 50.0, shape="square")
    assert set(np.unique(sq)) == {-1.0, 1.0}
    assert sq[0, 0] == 1.0 and sq[10, 0] == -1.0 and sq[10, 10] == 1.0 and sq[9, 9] == 1.0
    base = homogeneous(g, vp=3000.0, rho=2000.0)
    cb = checkerboard(g, base, (50.0, 25.0), {"vp": 0.1})
    np.testing.assert_allclose(cb["vp"], (3000.0 * (1 + 0.1 * expected)).astype(np.float32))
    np.testing.assert_array_equal(cb["rho"], base["rho"])
    both = checkerboard(g, base, 50.0, 0.05, shape="square")
    assert np.isclose(both["rho"].max(), 2100.0) and np.isclose(both["rho"].min(), 1900.0)
    with pytest.raises(DataError, match="does not have"):
        checkerboard(g, base, 50.0, {"vs": 0.1})
    with pytest.raises(ConfigError, match="positive"):
        checkerboard_pattern(g, 0.0)


def test_gaussian_blob_and_add_perturbation() -> None:
    g = Grid(31, 21, 10.0, 10.0)
    b = gaussian_blob(g, (150.0, 100.0), (30.0, 20.0), amplitude=-200.0)
    assert b.shape == g.shape
    assert b[15, 10] == -200.0
    assert np.isclose(b[18, 10], -200.0 * np.exp(-0.5))  # one sigma_x away
    assert np.isclose(b[15, 12], -200.0 * np.exp(-0.5))  # one sigma_z away
    m = homogeneous(g, vp=3000.0, vs=1500.0)
    m2 = add_perturbation(m, "vp", b)
    np.testing.assert_array_equal(m2["vp"], (m["vp"] + b).astype(np.float32))
    np.testing.assert_array_equal(m2["vs"], m["vs"])
    m3 = add_perturbation(m, "vs", gaussian_blob(g, (150.0, 100.0), 30.0, 0.1), relative=True)
    assert np.isclose(m3["vs"][15, 10], 1650.0)
    with pytest.raises(DataError, match="shape"):
        add_perturbation(m, "vp", np.zeros((2, 2)))


def test_add_perturbation_keeps_fluid_cells_fluid(caplog) -> None:
    """A blob added to vs of water over rock gave the water vs of 1e-42 to 0.04 m/s: a
    solid to the elastic solver (with a free surface, other records)."""
    g = Grid(31, 21, 10.0, 10.0)
    m = homogeneous(g, vp=3000.0, vs=1500.0)
    vs = m["vs"].copy()
    vs[:, 15:] = 0.0  # water on top
    m = m.with_values(vs=vs)
    blob = gaussian_blob(g, (150.0, 60.0), 30.0, 200.0)
    with caplog.at_level("WARNING", logger="seisgrad"):
        kept = add_perturbation(m, "vs", blob)
    assert "fluid cell(s) (vs = 0) kept fluid where the perturbation reaches" in caplog.text
    assert np.all(kept["vs"][:, 15:] == 0.0)
    caplog.clear()
    with caplog.at_level("WARNING", logger="seisgrad"):  # a far tail: nothing to say
        add_perturbation(m, "vs", gaussian_blob(g, (150.0, 0.0), 10.0, 200.0))
    assert caplog.text == ""
    np.testing.assert_array_equal(kept["vs"][:, :15], (vs + blob).astype(np.float32)[:, :15])
    # the blob is centred 90 m under the water: the water would get tens of m/s
    assert np.abs(np.where(vs == 0, blob, 0.0)).max() > 1e-3 * blob.max()
    solid = add_perturbation(m, "vs", blob, keep_fluid=False)
    assert np.all(solid["vs"][:, 15:] > 0.0)
    # only shear parameters: a zero elsewhere is just a value
    zero = m.with_values(rho=np.zeros(g.shape))
    np.testing.assert_array_equal(add_perturbation(zero, "rho", blob)["rho"], blob)


# ---------------------------------------------------------------------------------------
# Interpolation
# ---------------------------------------------------------------------------------------


def test_interpolate_model_reproduces_linear_field() -> None:
    src = Grid(21, 16, 10.0, 10.0, 0.0, 0.0)
    m = Model(src, {"vp": linear_field(src.x, src.z)})
    dst = Grid(17, 13, 7.3, 9.1, 12.0, 3.0)  # inside the source extent
    out = interpolate(m, dst)
    np.testing.assert_allclose(out["vp"], linear_field(dst.x, dst.z), rtol=1e-12)
    assert out["vp"].dtype == np.float64


def test_interpolate_outside_nearest_and_error() -> None:
    src = Grid(5, 5, 1.0, 1.0)
    m = Model(src, {"vp": linear_field(src.x, src.z).astype(np.float32)})
    dst = Grid(7, 3, 1.0, 2.0, -1.0, 0.0)  # x from -1 to 5: one node beyond each side
    out = interpolate(m, dst)
    assert out["vp"].dtype == np.float32
    np.testing.assert_allclose(out["vp"][0], m["vp"][0, ::2])  # clamped to x = 0
    np.testing.assert_allclose(out["vp"][-1], m["vp"][-1, ::2])  # clamped to x = 4
    with pytest.raises(DataError, match="does not contain the grid"):
        interpolate(m, dst, outside="error")


def test_interpolate_xarray_dataset() -> None:
    import xarray as xr

    xs = np.linspace(0.0, 1000.0, 11)
    zs = np.linspace(500.0, -500.0, 9)  # decreasing
    vp = linear_field(xs, zs)
    ds = xr.Dataset({"vp": (("z", "x"), vp.T), "note": (("x",), xs)}, coords={"x": xs, "z": zs})
    g = Grid(9, 7, 111.0, 150.0, 20.0, -450.0)
    out = interpolate(ds, g)
    assert list(out) == ["vp"]  # 1-D variable ignored
    np.testing.assert_allclose(out["vp"], linear_field(g.x, g.z), rtol=1e-12)
    near = interpolate(ds["vp"], g, method="nearest")
    assert set(np.unique(near["vp"])) <= set(np.unique(vp))
    with pytest.raises(DataError, match="coordinates 'x' and 'z'"):
        interpolate(xr.Dataset({"a": (("u", "v"), np.zeros((2, 2)))}), g)


def test_interpolate_scattered_points_linear_exact() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(0, 100, 400), [0, 100, 0, 100]])
    z = np.concatenate([rng.uniform(0, 50, 400), [0, 0, 50, 50]])
    vals = 3.0 + 2.0 * x - 0.5 * z
    g = Grid(11, 6, 10.0, 10.0)
    out = interpolate({"x": x, "z": z, "vp": vals}, g)
    np.testing.assert_allclose(out["vp"], 3.0 + 2.0 * g.x[:, None] - 0.5 * g.z[None, :])
    # rectilinear arrays in a mapping
    xs, zs = np.linspace(0, 100, 6), np.linspace(0, 50, 3)
    out2 = interpolate({"x": xs, "z": zs, "vp": linear_field(xs, zs)}, g)
    np.testing.assert_allclose(out2["vp"], linear_field(g.x, g.z))


def test_interpolate_bad_input(grid: Grid) -> None:
    with pytest.raises(ConfigError, match="method"):
        interpolate(homogeneous(grid, vp=1.0), grid, method="cubic")
    with pytest.raises(DataError, match="cannot interpolate"):
        interpolate([1, 2, 3], grid)
    with pytest.raises(DataError, match="no parameter"):
        interpolate(homogeneous(grid, vp=1.0), grid, names=["vs"])


# ---------------------------------------------------------------------------------------
# SPECFEM2D GLL import
# ---------------------------------------------------------------------------------------


def test_read_fortran_records_both_byte_orders(tmp_path: Path) -> None:
    vals = np.arange(6, dtype=np.float32)
    for bo in ("<", ">"):
        p = tmp_path / f"r{bo == '<'}.bin"
        n = np.array([24], dtype=bo + "i4").tobytes()
        p.write_bytes(
            n
            + vals.astype(bo + "f4").tobytes()
            + n
            + n
            + vals[::-1].astype(bo + "f4").tobytes()
            + n
        )
        recs = read_fortran_records(p)
        assert len(recs) == 2
        np.testing.assert_array_equal(recs[0], vals)
        np.testing.assert_array_equal(recs[1], vals[::-1])
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 3 + b"\x01" * 20)
    with pytest.raises(DataError, match="Fortran"):
        read_fortran_records(bad)


def test_specfem_gll_fixture_is_constant_5800() -> None:
    m = read_specfem_gll(DATA, names=("vp",), proc=0)
    g = m.grid
    assert g.extent == (0.0, 480000.0, 0.0, 480000.0)
    assert (g.nx, g.nz) == (161, 161)  # mean GLL spacing 3 km
    assert m["vp"].dtype == np.float32
    np.testing.assert_array_equal(m["vp"], np.full(g.shape, 5800.0, dtype=np.float32))
    # onto a user grid, nearest and linear
    user = Grid(25, 13, 20000.0, 40000.0, 0.0, 0.0)
    for method in ("linear", "nearest"):
        mm = read_specfem_gll(DATA, user, names=("vp",), method=method)
        np.testing.assert_array_equal(mm["vp"], 5800.0)


def test_specfem_gll_coordinates_reproduced(tmp_path: Path) -> None:
    """Importing the coordinate files as parameters gives back x and z exactly, also
    between the GLL points (linear fields are reproduced)."""
    for name in ("x", "z"):
        (tmp_path / f"proc000000_{name}.bin").write_bytes(
            (DATA / f"proc000000_{name}.bin").read_bytes()
        )
        (tmp_path / f"proc000000_c{name}.bin").write_bytes(
            (DATA / f"proc000000_{name}.bin").read_bytes()
        )
    g = Grid(31, 17, 15700.0, 29300.0, 3000.0, 1000.0)
    m = read_specfem_gll(tmp_path, g, names=("cx", "cz"))
    np.testing.assert_allclose(m["cx"], np.broadcast_to(g.x[:, None], g.shape), rtol=1e-6)
    np.testing.assert_allclose(m["cz"], np.broadcast_to(g.z[None, :], g.shape), rtol=1e-6)


def test_specfem_gll_kernels_with_coordinates_from_the_model_folder(tmp_path: Path) -> None:
    """SPECFEM2D writes no proc*_x.bin/_z.bin next to the kernels: ``coordinates=``
    names the folder of the same mesh's coordinate files."""
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    (kernels / "proc000000_beta_kernel.bin").write_bytes(
        (DATA / "proc000000_beta_kernel.bin").read_bytes()
    )
    with pytest.raises(DataError, match="no proc.*coordinates="):
        read_specfem_gll(kernels, names="beta_kernel")
    k = read_specfem_gll(kernels, names="beta_kernel", coordinates=DATA)
    ref = read_specfem_gll(DATA, names="beta_kernel")
    assert k.grid.matches(ref.grid)
    np.testing.assert_array_equal(k["beta_kernel"], ref["beta_kernel"])
    assert np.abs(k["beta_kernel"]).max() > 0
    with pytest.raises(DataError, match="coordinates folder not found"):
        read_specfem_gll(kernels, names="beta_kernel", coordinates=tmp_path / "nope")
    # coordinates of another mesh (other length): a DataError naming both files
    other = tmp_path / "other"
    other.mkdir()
    for name in ("x", "z"):
        _write_record(other / f"proc000000_{name}.bin", np.arange(10, dtype="<f4"))
    with pytest.raises(DataError, match=r"beta_kernel\.bin has 40000 values.*x\.bin have 10"):
        read_specfem_gll(kernels, names="beta_kernel", coordinates=other)


def test_specfem_gll_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="folder not found"):
        read_specfem_gll(tmp_path / "nope")
    with pytest.raises(DataError, match="no proc"):
        read_specfem_gll(tmp_path)
    with pytest.raises(DataError, match="not found"):
        read_specfem_gll(DATA, names=("vs",))
    with pytest.raises(ConfigError, match="precision"):
        read_specfem_gll(DATA, names=("vp",), precision="half")


def test_model_membership_and_get(grid: Grid) -> None:
    m = homogeneous(grid, vp=1.0)
    assert "vp" in m and "vs" not in m
    assert m.get("vs") is None and m.get("vp") is m["vp"]
    with pytest.raises(DataError, match="no parameter 'vs'"):
        m["vs"]


def test_interpolate_collinear_points_error() -> None:
    g = Grid(4, 3, 1.0, 1.0)
    x = np.array([0.0, 1.0, 2.0, 3.0, 1.5])
    pts = {"x": x, "z": np.full(5, 1.0), "vp": x}
    with pytest.raises(DataError, match="triangulate"):
        interpolate(pts, g)
    near = interpolate(pts, g, method="nearest")
    np.testing.assert_array_equal(near["vp"][:, 0], [0.0, 1.0, 2.0, 3.0])


def test_grid_contains_its_edges_up_to_round_off() -> None:
    g = Grid(11, 21, 0.1, 0.3, x0=0.7, z0=-6.0)
    top = 20 * 0.3 + -6.0  # not bit-equal to g.z[-1] in general
    assert g.contains(g.x[-1], top) and g.contains(0.7, -6.0)
    assert g.contains(0.7 + 10 * 0.1, g.z[0])
    assert not g.contains(0.7 - 1e-6, 0.0)
    assert not g.contains(1.0, g.z[-1] + 1e-6)


def test_grid_round_trips_exactly_through_a_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    grids = [Grid(13, 9, 12.5, 7.3, 1000.1, 0.7), Grid(7, 5, 0.1, 0.3, 0.3, -1.7)]
    for _ in range(100):
        grids.append(
            Grid(
                int(rng.integers(2, 40)),
                int(rng.integers(2, 40)),
                float(rng.uniform(0.01, 100)),
                float(rng.uniform(0.01, 100)),
                float(rng.uniform(-1e4, 1e4)),
                float(rng.uniform(-1e4, 1e4)),
            )
        )
    for g in grids:
        p = write_model(tmp_path / "m.h5", homogeneous(g, vp=1.0))
        assert read_model(p).grid == g


def test_old_files_without_grid_attributes_still_read(tmp_path: Path) -> None:
    g = Grid(13, 9, 12.5, 7.3, 1000.1, 0.7)
    p = write_model(tmp_path / "m.h5", homogeneous(g, vp=1.0))
    with h5py.File(p, "a") as f:
        for c in ("x", "z"):
            del f[c].attrs["origin"]
            del f[c].attrs["spacing"]
    back = read_model(p).grid
    assert back.shape == g.shape and back.matches(g)
    # attributes that disagree with the coordinates (e.g. a subset) are ignored
    p = write_model(tmp_path / "m.h5", homogeneous(g, vp=1.0))
    with h5py.File(p, "a") as f:
        f["x"].attrs["spacing"] = 99.0
    assert read_model(p).grid.matches(g)


def test_grid_matches_tolerates_round_off_only() -> None:
    g = Grid(13, 9, 12.5, 7.3, 1000.1, 0.7)
    assert g.matches(Grid(13, 9, 12.499999999999991, 7.3, 1000.1, 0.7))
    assert not g.matches(Grid(13, 9, 12.51, 7.3, 1000.1, 0.7))
    assert not g.matches(Grid(13, 9, 12.5, 7.3, 1000.2, 0.7))
    assert not g.matches(Grid(12, 9, 12.5, 7.3, 1000.1, 0.7))


def _write_record(path: Path, values: np.ndarray) -> None:
    n = np.array([values.nbytes], dtype="<i4").tobytes()
    path.write_bytes(n + values.tobytes() + n)


def test_specfem_gll_wrong_precision_is_detected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="precision='single'"):
        read_specfem_gll(DATA, names=("vp",), precision="double")
    # the same files in double precision, read as single
    for name in ("x", "z", "vp"):
        a = read_fortran_records(DATA / f"proc000000_{name}.bin")[0].astype("<f8")
        _write_record(tmp_path / f"proc000000_{name}.bin", a)
    with pytest.raises(DataError, match="precision='double'"):
        read_specfem_gll(tmp_path, names=("vp",))
    m = read_specfem_gll(tmp_path, names=("vp",), precision="double")
    np.testing.assert_allclose(m["vp"], 5800.0, rtol=1e-15)  # interpolated in float64
    # double-precision values stay double (they came back float32)
    a = np.full(a.shape, 5801.0000001234567)
    _write_record(tmp_path / "proc000000_vp.bin", a)
    m = read_specfem_gll(tmp_path, names=("vp",), precision="double")
    assert m["vp"].dtype == np.float64
    np.testing.assert_allclose(m["vp"], 5801.0000001234567, rtol=1e-15)


def test_interpolate_outside_error_checks_the_convex_hull() -> None:
    g = Grid(11, 11, 1.0, 1.0)
    pts = {
        "x": np.array([0.0, 10.0, 0.0, 3.0]),
        "z": np.array([0.0, 0.0, 10.0, 3.0]),
        "vp": np.ones(4),
    }
    for method in ("linear", "nearest"):
        with pytest.raises(DataError, match="convex hull"):
            interpolate(pts, g, method=method, outside="error")
    inside = Grid(6, 5, 1.0, 1.0)  # x + z <= 10 for every node
    out = interpolate(pts, inside, outside="error")
    np.testing.assert_allclose(out["vp"], 1.0)


def test_specfem_gll_validates_method_and_outside() -> None:
    for kw in ({"method": "foo"}, {"method": "cubic"}, {"outside": "foo"}):
        with pytest.raises(ConfigError, match="method|outside"):
            read_specfem_gll(DATA, names=("vp",), **kw)


def test_specfem_gll_deformed_mesh_gets_a_sane_default_grid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = read_fortran_records(DATA / "proc000000_x.bin")[0].astype(np.float64)
    z = read_fortran_records(DATA / "proc000000_z.bin")[0].astype(np.float64)
    xp = x + 100.0 * np.sin(z / 50000.0)  # deformed, not rectilinear
    for name, a in {"x": xp, "z": z, "vp": np.full(x.size, 5800.0)}.items():
        _write_record(tmp_path / f"proc000000_{name}.bin", a.astype("<f4"))
    m = read_specfem_gll(tmp_path, names=("vp",))
    assert 150 <= m.grid.nx <= 170 and 150 <= m.grid.nz <= 170  # about 3 km, as regular
    np.testing.assert_allclose(m["vp"], 5800.0)
    import seisgrad.model as sm

    monkeypatch.setattr(sm, "MAX_AUTO_NODES", 1000)
    with pytest.raises(DataError, match="grid="):
        read_specfem_gll(tmp_path, names=("vp",))


def test_write_model_to_an_unwritable_folder(tmp_path: Path, grid: Grid) -> None:
    import os

    from seisgrad.errors import PathError

    # a read-only folder stops everyone but root; /proc takes no new files even from
    # root (CI runs as root), so one of the two always runs
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    places = [Path("/proc")] if Path("/proc/self").exists() else []
    try:
        if not os.access(ro, os.W_OK):
            places.append(ro)
        assert places, "no unwritable folder to test with"
        for folder in places:
            with pytest.raises(PathError, match="cannot write model file"):
                write_model(folder / "m.h5", homogeneous(grid, vp=1.0))
            with pytest.raises(PathError, match="cannot write model file"):
                write_model(folder / "sub" / "m.h5", homogeneous(grid, vp=1.0))
    finally:
        ro.chmod(0o700)


def test_read_model_refuses_non_numeric_parameters(tmp_path: Path, grid: Grid) -> None:
    p = write_model(tmp_path / "m.h5", homogeneous(grid, vp=1.0))
    with h5py.File(p, "a") as f:
        f["name"] = np.full(grid.shape, b"abc")
    with pytest.raises(DataError, match="'name' holds .* not numbers"):
        read_model(p)
    assert set(read_model(p, ["vp"])) == {"vp"}


def test_a_single_string_is_one_name(tmp_path: Path, grid: Grid) -> None:
    m = homogeneous(grid, vp=1.0, vs=2.0)
    p = write_model(tmp_path / "m.h5", m)
    assert list(read_model(p, "vp")) == ["vp"]
    assert list(Model.read(p, "vs")) == ["vs"]
    assert list(interpolate(m, grid, names="vp")) == ["vp"]
    assert list(read_specfem_gll(DATA, names="vp")) == ["vp"]


def test_more_bad_input_is_a_seisgrad_error(tmp_path: Path, grid: Grid) -> None:
    with pytest.raises(ConfigError, match="extent"):
        Grid.from_extent(0, 0, 0, 100, 10)
    with pytest.raises(ConfigError, match="spacing"):
        Grid.from_extent(0, 1, 0, 100, 10)
    with pytest.raises(ConfigError, match="proc"):
        read_specfem_gll(DATA, names="vp", proc="abc")
    with pytest.raises(ConfigError, match="proc"):
        read_specfem_gll(DATA, names="vp", proc=[0, -1])
    assert list(read_specfem_gll(DATA, names="vp", proc=np.int64(0))) == ["vp"]
    with pytest.raises(DataError, match="rectangular"):
        Model(Grid(2, 2, 1.0, 1.0), {"vp": [[1.0, 2.0], [3.0]]})
    with pytest.raises(DataError, match="not numbers"):
        write_model(tmp_path / "s.h5", Model(grid, {"vp": np.full(grid.shape, "a")}))
    with pytest.raises(DataError, match="not numbers"):
        write_model(tmp_path / "o.h5", Model(grid, {"vp": np.full(grid.shape, None)}))
    with pytest.raises(DataError, match="named ''"):
        write_model(tmp_path / "e.h5", Model(grid, {"": np.ones(grid.shape)}))
    with pytest.raises(DataError, match="needs a Grid as its first argument, not NoneType"):
        Model(None, {"vp": np.ones(grid.shape)})  # type: ignore[arg-type]
    with pytest.raises(DataError, match="needs a mapping of parameter names"):
        Model(grid, np.ones(grid.shape))  # type: ignore[arg-type]
    with pytest.raises(DataError, match="names must be strings, not 1"):
        Model(grid, {1: np.ones(grid.shape)})  # type: ignore[dict-item]
    for build in (
        lambda: homogeneous(None, vp=1.0),
        lambda: layered(grid.shape, [0.0], {"vp": [1.0, 2.0]}),
        lambda: checkerboard_pattern("grid", 10.0),
        lambda: checkerboard(None, "vp", 10.0, 1.0),
        lambda: gaussian_blob(None, (0.0, 0.0), 10.0, 1.0),
        lambda: interpolate(Model(grid, {"vp": np.ones(grid.shape)}), None),
    ):
        with pytest.raises(ConfigError, match=r"\(\) needs a seisgrad.model.Grid, not"):
            build()
    assert not list(tmp_path.iterdir())


def test_read_model_bad_coordinate_datasets(tmp_path: Path) -> None:
    """x as a group, as strings or as a compound type: a DataError naming file and
    dataset (was a raw TypeError/ValueError)."""
    cases = {
        "group": lambda f: f.create_group("x"),
        "strings": lambda f: f.create_dataset("x", data=np.array([b"a", b"b", b"c"])),
        "compound": lambda f: f.create_dataset(
            "x", data=np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])
        ),
    }
    for label, make_x in cases.items():
        path = tmp_path / f"{label}.h5"
        with h5py.File(path, "w") as f:
            make_x(f)
            f.create_dataset("z", data=np.arange(4.0))
            f.create_dataset("vp", data=np.ones((3, 4)))
        with pytest.raises(DataError, match=rf"{label}\.h5: coordinate.*'x'"):
            read_model(path)


def test_interpolate_nan_coordinates_on_the_rectilinear_path() -> None:
    g = Grid(5, 4, 10.0, 10.0)
    src = {"x": [0.0, np.nan, 40.0], "z": [0.0, 30.0], "vp": np.ones((3, 2))}
    with pytest.raises(DataError, match="input grid: coordinates .* finite"):
        interpolate(src, g)
    src = {"x": [0.0, 20.0, 40.0], "z": [0.0, np.inf], "vp": np.ones((3, 2))}
    with pytest.raises(DataError, match="finite"):
        interpolate(src, g)


def test_float32_coordinates_and_odd_inputs(tmp_path: Path) -> None:
    """Regular coordinates stored as float32 (1000/143 m cells are 2e-5 of a cell off)
    are a regular grid; 5% jitter is not. A 1-D variable asked for by name is named as
    such; an attribute HDF5 cannot store is a DataError (was a bare TypeError)."""
    import h5py

    x = np.linspace(0.0, 1000.0, 144).astype(np.float32)
    with h5py.File(tmp_path / "f32.h5", "w") as f:
        f["x"], f["z"], f["vp"] = x, x, np.ones((144, 144))
    m = read_model(tmp_path / "f32.h5")
    assert m.grid.nx == 144 and m.grid.dx == pytest.approx(1000.0 / 143, rel=1e-12)
    bad = np.arange(50) * 1e-4
    bad[10] += 0.05e-4
    with h5py.File(tmp_path / "jitter.h5", "w") as f:
        f["x"], f["z"], f["vp"] = bad, np.arange(4.0), np.ones((50, 4))
    with pytest.raises(DataError, match="not regularly spaced"):
        read_model(tmp_path / "jitter.h5")
    with h5py.File(tmp_path / "onex.h5", "w") as f:
        f["x"], f["z"], f["vp"] = np.arange(5.0), np.arange(3.0), np.ones(5)
    with pytest.raises(DataError, match=r"not 2-D arrays: vp \(1-D\)"):
        read_model(tmp_path / "onex.h5", names="vp")
    with pytest.raises(DataError, match="attributes are strings"):
        write_model(tmp_path / "a.h5", m, {"a": None})
    assert not list(tmp_path.glob("a.h5*"))


def test_model_files_with_nan_coordinates_or_given_as_a_folder_are_refused(tmp_path):
    """A NaN in a model file's x coordinates was read as a regular grid; a folder given
    as a model file was 'not found' (bad-input sweep)."""
    import h5py
    import pytest

    from seisgrad.errors import DataError
    from seisgrad.model import Grid, homogeneous, read_model, write_model

    path = write_model(tmp_path / "m.h5", homogeneous(Grid(6, 5, 10.0, 10.0), vp=1500.0))
    with h5py.File(path, "r+") as f:
        for a in ("origin", "spacing"):
            del f["x"].attrs[a]
        x = f["x"][()]
        x[2] = np.nan
        f["x"][...] = x
    with pytest.raises(
        DataError, match=r"coordinate 'x' holds 1 non-finite value\(s\) \(nan at index 2\)"
    ):
        read_model(path)
    with pytest.raises(DataError, match="is a folder, not a model file"):
        read_model(tmp_path)
