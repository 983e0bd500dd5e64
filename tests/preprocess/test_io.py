"""Trace I/O: every format round trip, SPECFEM2D SU/ASCII fixtures, alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from obspy import Stream, Trace
from obspy.core import AttribDict

from seisgrad.config import from_mapping
from seisgrad.errors import DataError
from seisgrad.preprocess import io
from seisgrad.preprocess.default import DefaultParameters
from seisgrad.preprocess.misfit import Traveltime
from seisgrad.preprocess.streams import EPOCH, align_trace, trace_t0
from seisgrad.solver.acquisition import Event

DATA = Path(__file__).resolve().parents[1] / "data" / "specfem2d"
SU_FILE = DATA / "su" / "Uy_file_single_d.su"
SYN_SEMD = DATA / "traces_syn" / "AA.S000000.BXY.semd"
OBS_SEMD = DATA / "traces_obs" / "AA.S000000.BXY.semd"
ADJ = DATA / "traces_adj" / "AA.S000000.BXY.adj"


def make_stream(dtype=np.float64, dt=0.004, t0=0.0, nt=250, stations=("A01", "A02")):
    rng = np.random.default_rng(7)
    out = []
    for k, sta in enumerate(stations):
        for ch in ("UX", "UZ"):
            tr = Trace(rng.standard_normal(nt).astype(dtype))
            tr.stats.network, tr.stats.station, tr.stats.channel = "XX", sta, ch
            tr.stats.delta = dt
            tr.stats.starttime = EPOCH + t0
            tr.stats.coordinates = AttribDict(x=1000.0 + 250.5 * k, z=-12.25)
            out.append(tr)
    return Stream(out)


# ----------------------------------------------------------------------- SPECFEM2D SU
def test_specfem2d_su_dt_header_falls_back_to_milliseconds():
    # the header holds 60: 0.06 s * 1e6 overflows int16, SPECFEM2D wrote milliseconds
    st = io.read_su(SU_FILE, dt=0.06)
    assert len(st) == 5
    assert all(tr.stats.delta == 0.06 and tr.stats.npts == 5000 for tr in st)
    assert [tr.stats.station for tr in st] == [f"S{i:06d}" for i in range(5)]
    assert st[0].stats.channel == "UY"
    assert (st[0].stats.coordinates.x, st[0].stats.coordinates.z) == (243610.0, 278904.0)
    assert (st[3].stats.coordinates.x, st[3].stats.coordinates.z) == (92225.0, 368887.0)
    assert np.max(np.abs(st[0].data)) == pytest.approx(0.024539, abs=1e-6)
    # same samples as the ASCII output of the same run (float32 rounding)
    semd = io.read_ascii(SYN_SEMD)[0]
    assert np.max(np.abs(semd.data - st[0].data)) < 2e-9
    # and on the same time axis: SPECFEM's ASCII time column starts at -t0 (its source
    # time is 0), the SU file has no start time; both start at the simulation start
    assert trace_t0(semd) == trace_t0(st[0]) == 0.0
    assert semd.stats.specfem_t0 == pytest.approx(48.0)
    obs = Stream([semd])
    obs[0].stats.channel = "UY"
    got = align_trace(obs[0], 0.06, 0.0, 5000, demean=False)
    np.testing.assert_allclose(got, st[0].data, rtol=0, atol=2e-9)


def test_specfem2d_su_dt_must_match_one_unit():
    with pytest.raises(DataError, match="milliseconds, SPECFEM2D"):
        io.read_su(SU_FILE, dt=0.05)
    # a hint picks the unit closest to it
    assert io.read_su(SU_FILE, dt_hint=0.02)[0].stats.delta == 0.06
    assert io.read_su(SU_FILE, dt_hint=1e-4)[0].stats.delta == pytest.approx(60e-6)
    # microseconds reading (the SU standard) without an expected time step
    assert io.read_su(SU_FILE)[0].stats.delta == pytest.approx(60e-6)


def test_specfem2d_ascii_traces_and_adjoint_source():
    syn = io.read_ascii(SYN_SEMD)[0]
    assert syn.id == "AA.S000000..BXY"
    assert syn.stats.delta == pytest.approx(0.06, rel=1e-12)
    assert trace_t0(syn) == 0.0 and syn.stats.specfem_t0 == pytest.approx(48.0)
    assert trace_t0(io.read_ascii(SYN_SEMD, specfem_time=False)[0]) == pytest.approx(-48.0)
    assert syn.stats.npts == 5000
    adj = io.read_ascii(ADJ)[0]
    assert adj.stats.channel == "BXY" and adj.stats.npts == 5000
    folder = io.read_ascii(DATA / "traces_obs")
    assert [tr.id for tr in folder] == ["AA.S000000..BXY"]


def test_traveltime_on_specfem2d_traces_agrees_with_seisflows():
    """SeisFlows measured dT = -1.02 s (integer lag, dt = 0.06 s) for S000000; the
    sub-sample measurement lies within half a sample of it and the exact adjoint source
    is, up to the ratio of the shifts, SeisFlows' Tromp adjoint source times dt."""
    obs = io.read_ascii(OBS_SEMD)[0]
    syn = io.read_ascii(SYN_SEMD)[0]
    ref = io.read_ascii(ADJ)[0].data * syn.stats.delta
    res = Traveltime()(syn.data, obs.data, syn.stats.delta)
    shift = res.info["shift"]
    assert abs(shift - (-1.02)) < 0.5 * 0.06
    cc = np.dot(ref, res.adjoint) / np.linalg.norm(ref) / np.linalg.norm(res.adjoint)
    assert cc > 0.999
    ratio = np.dot(ref, res.adjoint) / np.dot(ref, ref)
    assert ratio == pytest.approx(shift / -1.02, rel=0.01)


def test_adjoint_files_for_specfem_match_seisflows_files(tmp_path):
    """``write_adjoint_ascii`` wrote seisgrad's per-sample adjoint source: SPECFEM reads
    one per unit time, and SeisFlows' file of the same measurement is 1/dt (16.7) times
    larger (found by an acceptance sweep). Written now, it matches that file to the ratio
    of the two shift measurements."""
    obs = io.read_ascii(OBS_SEMD)[0]
    syn = io.read_ascii(SYN_SEMD)[0]
    res = Traveltime()(syn.data, obs.data, syn.stats.delta)
    adj = syn.copy()
    adj.data = res.adjoint
    (path,) = io.write_adjoint_ascii(Stream([adj]), tmp_path)
    # two numbers on every line, as SPECFEM's Fortran reader reads them (no comment
    # line: the marker of seisgrad's own ASCII files is left out here)
    lines = path.read_text().splitlines()
    assert all(len(line.split()) == 2 and not line.startswith("#") for line in lines)
    written = np.loadtxt(path)[:, 1]
    ref = io.read_ascii(ADJ)[0].data
    ratio = np.dot(ref, written) / np.dot(ref, ref)
    assert ratio == pytest.approx(res.info["shift"] / -1.02, rel=0.01)


# ----------------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", ["hdf5", "ascii", "sac", "su", "mseed"])
def test_round_trip(fmt, tmp_path):
    stations = ("A01", "A02") if fmt == "mseed" else ("A01", "STATION2")
    st = make_stream(dt=0.004, t0=0.0, stations=stations)
    where = io.write_traces(st, tmp_path / "ev1", fmt)
    back = io.read_traces(where, fmt)
    assert len(back) == len(st)
    exact = fmt in ("hdf5", "ascii", "mseed")
    by_id = {tr.id: tr for tr in back}
    for tr in st:
        if fmt == "su":  # SU keeps no names: traces come back by order per channel
            chan = [t for t in st if t.stats.channel == tr.stats.channel]
            k = chan.index(tr)
            got = [t for t in back if t.stats.channel == tr.stats.channel][k]
        else:
            got = by_id[tr.id]
        assert got.stats.delta == pytest.approx(tr.stats.delta, rel=1e-12)
        assert trace_t0(got) == pytest.approx(0.0, abs=1e-9)
        if exact:
            np.testing.assert_array_equal(got.data, tr.data)
        else:
            np.testing.assert_array_equal(got.data, tr.data.astype(np.float32))
        if fmt in ("hdf5", "sac", "su"):
            assert got.stats.coordinates.x == pytest.approx(tr.stats.coordinates.x, abs=0.01)
            assert got.stats.coordinates.z == pytest.approx(tr.stats.coordinates.z, abs=0.01)


def test_hdf5_keeps_dtype_and_start(tmp_path):
    st = make_stream(dtype=np.float32, t0=-1.5)
    path = io.write_hdf5(st, tmp_path / "a" / "ev.h5")
    back = io.read_hdf5(path)
    assert back[0].data.dtype == np.float32
    assert back[0].stats.starttime == st[0].stats.starttime
    assert [tr.id for tr in back] == [tr.id for tr in st]
    assert not list(path.parent.glob(".*.tmp"))  # the temporary file is gone


def test_hdf5_ragged_traces_unicode_names_and_missing_coordinates(tmp_path):
    st = make_stream(dtype=np.float64)
    st[0].data = st[0].data[:7].copy()  # another length: one dataset per trace
    st[1].stats.station = "Ä1"
    del st[1].stats["coordinates"]
    back = io.read_hdf5(io.write_hdf5(st, tmp_path / "ev.h5"))
    assert [tr.id for tr in back] == [tr.id for tr in st]
    for a, b in zip(back, st):
        np.testing.assert_array_equal(a.data, b.data)
        assert a.stats.delta == b.stats.delta and a.stats.starttime == b.stats.starttime
    assert "coordinates" not in back[1].stats
    assert back[0].stats.coordinates.x == st[0].stats.coordinates.x
    # an empty stream round-trips too
    assert len(io.read_hdf5(io.write_hdf5(Stream(), tmp_path / "empty.h5"))) == 0


def test_hdf5_reads_version_1_files(tmp_path):
    """Files of the first layout (one dataset per trace, headers as attributes)."""
    import h5py

    st = make_stream(dtype=np.float32, t0=-1.5)
    with h5py.File(tmp_path / "v1.h5", "w") as f:
        f.attrs["format"], f.attrs["version"] = "seisgrad-traces", 1
        grp = f.create_group("traces")
        for i, tr in enumerate(st):
            ds = grp.create_dataset(f"{i:06d}", data=tr.data)
            for k in ("network", "station", "location", "channel"):
                ds.attrs[k] = tr.stats[k]
            ds.attrs["delta"] = tr.stats.delta
            ds.attrs["starttime_ns"] = np.int64(tr.stats.starttime.ns)
            ds.attrs["x"] = tr.stats.coordinates.x
            ds.attrs["z"] = tr.stats.coordinates.z
    back = io.read_hdf5(tmp_path / "v1.h5")
    assert [tr.id for tr in back] == [tr.id for tr in st]
    np.testing.assert_array_equal(back[-1].data, st[-1].data)
    assert back[0].stats.starttime == st[0].stats.starttime
    assert back[0].stats.coordinates.z == st[0].stats.coordinates.z


def test_su_keeps_large_dt_and_negative_start(tmp_path):
    st = make_stream(dt=0.06, t0=-48.0, nt=100)
    io.write_su(st, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "Ux_file_single_d.su",
        "Uz_file_single_d.su",
    ]
    back = io.read_su(tmp_path / "Ux_file_single_d.su")
    assert back[0].stats.channel == "UX"
    assert back[0].stats.delta == 0.06  # from the ms header, confirmed by d1
    assert trace_t0(back[0]) == pytest.approx(-48.0)


def test_su_names():
    assert io.su_file_name("UX") == "Ux_file_single_d.su"
    assert io.su_file_name("VZ") == "Uz_file_single_v.su"
    assert io.su_file_name("P") == "Up_file_single_p.su"
    for ch in ("UX", "UZ", "VX", "VZ", "P", "UY"):
        assert io.su_channel(io.su_file_name(ch)) == ch


def test_ascii_adjoint_names(tmp_path):
    st = make_stream()
    paths = io.write_adjoint_ascii(st, tmp_path)
    assert paths[0].name == "XX.A01.UX.adj"
    back = io.read_ascii(tmp_path)
    # SPECFEM's adjoint source is per unit time: seisgrad's per-sample one over dt
    # (found by an acceptance sweep against SPECFEM's own .adj files)
    np.testing.assert_allclose(
        back.select(station="A01", channel="UX")[0].data,
        st[0].data / st[0].stats.delta,
        rtol=1e-15,
    )


def test_mseed_rejects_long_names(tmp_path):
    with pytest.raises(DataError, match="STATION2"):
        io.write_mseed(make_stream(stations=("STATION2",)), tmp_path / "x.mseed")


def test_read_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        io.read_hdf5(tmp_path / "nope.h5")
    with pytest.raises(DataError, match="unknown data format 'segy'"):
        io.read_traces(tmp_path, "segy")
    (tmp_path / "XX.A.UX.semd").write_text("0 1 2\n1 2 3\n")
    with pytest.raises(DataError, match="two columns"):
        io.read_ascii(tmp_path / "XX.A.UX.semd")
    with pytest.raises(DataError, match="no observed data for event 'ev9'"):
        io.find_event_data(tmp_path, "ev9", "hdf5")


def test_find_event_data(tmp_path):
    st = make_stream()
    io.write_traces(st, tmp_path / "ev1", "sac")
    io.write_hdf5(st, tmp_path / "ev2.h5")
    assert io.find_event_data(tmp_path, "ev1", "sac") == tmp_path / "ev1"
    assert io.find_event_data(tmp_path, "ev2", "hdf5") == tmp_path / "ev2.h5"
    assert io.find_event_data(tmp_path / "ev2.h5", "anything", "hdf5") == tmp_path / "ev2.h5"


# ----------------------------------------------------------------------- alignment
def _pulse(t):
    return np.exp(-(((t - 1.2) / 0.1) ** 2)) * np.sin(2 * np.pi * 3 * t)


@pytest.mark.parametrize(
    ("odt", "ot0", "dt", "t0", "tol"),
    [
        (0.01, 0.0, 0.01, 0.0, 0.0),  # same axis
        (0.01, -0.5, 0.01, 0.0, 0.0),  # whole-sample offset: trimmed
        (0.002, -0.5, 0.01, 0.0, 1e-9),  # downsampled
        (0.004, 0.013, 0.0013, 0.1, 1e-6),  # upsampled, fractional offset
    ],
)
def test_align_trace(odt, ot0, dt, t0, tol):
    t_obs = ot0 + odt * np.arange(int(3.0 / odt))
    tr = Trace(_pulse(t_obs) + 0.3)
    tr.stats.delta = odt
    tr.stats.starttime = EPOCH + ot0
    nt = 250
    out = align_trace(tr, dt, t0, nt)
    expect = _pulse(t0 + dt * np.arange(nt)) + 0.3 - np.mean(_pulse(t_obs) + 0.3)
    assert np.max(np.abs(out - expect)) <= tol + 1e-12


def test_align_pads_zeros_and_rejects_no_overlap():
    tr = Trace(np.ones(50))
    tr.stats.delta = 0.01
    tr.stats.starttime = EPOCH + 1.0
    out = align_trace(tr, 0.01, 0.0, 200)
    assert np.all(out[:100] == 0) and np.all(out[150:] == 0)
    tr.stats.starttime = EPOCH + 10.0
    with pytest.raises(DataError, match="does not overlap"):
        align_trace(tr, 0.01, 0.0, 200)
    # missing the axis by less than half a sample: nothing to align either (the trace
    # came out all zeros and was measured); the resampling path (another step) too
    for delta, start in ((0.01, -0.49 - 0.004), (0.013, 1.99 + 0.004)):
        tr.stats.delta = delta
        tr.stats.starttime = EPOCH + start
        with pytest.raises(DataError, match="does not overlap"):
            align_trace(tr, 0.01, 0.0, 200)


@pytest.mark.parametrize("fmt", io.FORMATS)
def test_writers_refuse_masked_samples(fmt, tmp_path):
    tr = Trace(np.ma.masked_array(np.arange(10.0), mask=np.arange(10) > 6))
    tr.stats.network, tr.stats.station, tr.stats.channel = "XX", "S1", "UZ"
    with pytest.raises(DataError, match=r"cannot write trace XX\.S1\.\.UZ .* 3 masked"):
        io.write_traces(Stream([tr]), tmp_path / "ev", fmt)


@pytest.mark.parametrize("dt", [1.0 / 3000.0, 1.25e-5, 5e-7, 0.002])
@pytest.mark.parametrize("fmt", ["sac", "su"])
def test_float32_time_step_is_kept(fmt, dt, tmp_path, caplog):
    """SAC delta was rounded to whole microseconds (1/3000 s -> 0.000333 s, 5e-7 s -> 0,
    then a ZeroDivisionError); SU's float32 d1 was taken as it is. Both store float32:
    the synthetics' time step is recovered when it agrees, else the shortest decimal."""
    tr = Trace(np.sin(np.arange(40.0)))
    tr.stats.network, tr.stats.station, tr.stats.channel = "XX", "S1", "UZ"
    tr.stats.delta = dt
    io.write_traces(Stream([tr]), tmp_path, fmt)
    hinted = io.read_traces(tmp_path, fmt, dt_hint=dt)[0].stats.delta
    assert hinted == dt
    plain = io.read_traces(tmp_path, fmt)[0].stats.delta
    assert plain == pytest.approx(dt, rel=1e-7)
    if dt in (1.25e-5, 5e-7, 0.002):  # decimal steps come back exactly
        assert plain == dt
    if fmt == "sac" and dt == 1.0 / 3000.0:
        assert "float32" in caplog.text


def test_observed_sac_data_on_the_synthetic_axis_with_a_fine_time_step(tmp_path):
    """5e-7 s read back as 0 s and stopped read_observed with a ZeroDivisionError."""
    from seisgrad.preprocess.default import Default

    dt = 5e-7
    tr = Trace(np.sin(0.1 * np.arange(100.0)))
    tr.stats.network, tr.stats.station, tr.stats.channel = "XX", "S1", "UZ"
    tr.stats.delta = dt
    io.write_traces(Stream([tr]), tmp_path / "ev", "sac")
    pre = Default(from_mapping(DefaultParameters, {"data_format": "sac", "demean": False}))
    got = pre.read_observed(tmp_path, Event("ev", []), Stream([tr]))
    np.testing.assert_allclose(got[0].data, tr.data, rtol=1e-6, atol=1e-7)
    tr0 = tr.copy()
    tr0.stats.delta = 0.0
    with pytest.raises(DataError, match=r"XX\.S1\.\.UZ has the time step 0 s"):
        align_trace(tr0, dt, 0.0, 100)


@pytest.mark.parametrize("n", [1, 2, 20, 27, 28])
def test_align_short_finely_sampled_trace(n):
    """Fewer than 28 samples on a finer step stopped the anti-alias filter with a raw
    scipy 'padlen' ValueError."""
    tr = Trace(np.cos(0.3 * np.arange(n)))
    tr.stats.delta = 0.001
    tr.stats.starttime = EPOCH + 0.1
    out = align_trace(tr, 0.003, 0.0, 100, demean=False)
    inside = (np.arange(100) * 0.003 >= 0.1) & (np.arange(100) * 0.003 <= 0.1 + 0.001 * (n - 1))
    assert np.all(np.isfinite(out)) and not np.any(out[~inside])
    assert np.count_nonzero(inside) == 0 or np.any(out[inside])


def _named(data: np.ndarray, station: str = "S1") -> Trace:
    tr = Trace(data)
    tr.stats.network, tr.stats.station, tr.stats.channel = "XX", station, "UZ"
    tr.stats.delta = 0.001
    return tr


def test_su_refuses_more_samples_than_its_header_holds(tmp_path):
    """npts > 65535 stopped with a raw struct.error."""
    io.write_traces(Stream([_named(np.zeros(65535))]), tmp_path / "ok", "su")
    with pytest.raises(DataError, match=r"XX\.S1\.\.UZ .* 70000 samples.*at most 65535.*hdf5"):
        io.write_traces(Stream([_named(np.zeros(70000))]), tmp_path / "big", "su")
    slow = _named(np.zeros(10))
    slow.stats.delta = 0.07  # was a raw SEGYSampleIntervalError
    with pytest.raises(DataError, match=r"0\.065535 s"):
        io.write_traces(Stream([slow]), tmp_path / "slow", "su")


@pytest.mark.parametrize("fmt", io.FORMATS)
def test_writers_refuse_traces_without_samples(fmt, tmp_path):
    """MiniSEED dropped an empty trace silently; SU and ASCII wrote unreadable files."""
    st = Stream([_named(np.ones(5)), _named(np.array([]), "S2")])
    with pytest.raises(DataError, match=r"cannot write trace XX\.S2\.\.UZ .* no samples"):
        io.write_traces(st, tmp_path / "ev", fmt)


def test_mseed_refuses_an_empty_stream(tmp_path):
    """An empty stream was a raw ObsPyException."""
    with pytest.raises(DataError, match="MiniSEED: the stream holds no traces"):
        io.write_traces(Stream(), tmp_path / "ev", "mseed")


def test_malformed_hdf5_files_are_named_with_what_is_missing(tmp_path):
    """A missing dataset or attribute was a raw KeyError."""
    import h5py

    head = np.zeros(
        2,
        dtype=[
            ("network", "S2"),
            ("station", "S2"),
            ("location", "S1"),
            ("channel", "S2"),
            ("delta", "f8"),
            ("starttime_ns", "i8"),
            ("x", "f8"),
            ("z", "f8"),
        ],
    )

    def make(name, fill, version=2):
        p = tmp_path / name
        with h5py.File(p, "w") as f:
            f.attrs["format"] = "seisgrad-traces"
            f.attrs["version"] = version
            fill(f.create_group("traces"))
        return p

    cases = {
        "no_data.h5": (lambda g: g.create_dataset("header", data=head), "neither traces/data"),
        "no_field.h5": (
            lambda g: g.create_dataset("header", data=head[["network", "station", "delta"]]),
            "lacks the field.*location, channel, starttime_ns",
        ),
        "bad_rows.h5": (
            lambda g: (
                g.create_dataset("header", data=head),
                g.create_dataset("data", data=np.zeros((3, 5))),
            ),
            r"traces/data has shape \(3, 5\)",
        ),
        "v1_attrs.h5": (
            lambda g: g.create_dataset("000000", data=np.zeros(3)),
            "traces/000000 lacks the attribute.*network",
        ),
    }
    for name, (fill, message) in cases.items():
        with pytest.raises(DataError, match=rf"{name}.*{message}"):
            io.read_hdf5(make(name, fill))
    with pytest.raises(DataError, match="unknown seisgrad trace file version 9"):
        io.read_hdf5(make("v9.h5", lambda g: None, version=9))


def test_ascii_keeps_location_codes_and_single_samples(tmp_path):
    """XX.R00.00.UX was written as XX.R00.UX.semd (read back as XX.R00..UX), so traces
    that differ only by location overwrote each other; a one-sample trace could not be
    read back."""
    a, b = _named(np.arange(5.0)), _named(np.arange(5.0) + 10)
    b.stats.location = "00"
    one = _named(np.array([3.5]), "S2")
    one.stats.delta = 0.004
    one.stats.starttime = EPOCH - 0.2
    io.write_traces(Stream([a, b, one]), tmp_path, "ascii")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "XX.S1.00.UZ.semd",
        "XX.S1.UZ.semd",
        "XX.S2.UZ.semd",
    ]
    back = {tr.id: tr for tr in io.read_traces(tmp_path, "ascii", specfem_time=False)}
    assert sorted(back) == ["XX.S1..UZ", "XX.S1.00.UZ", "XX.S2..UZ"]
    np.testing.assert_array_equal(back["XX.S1.00.UZ"].data, b.data)
    np.testing.assert_array_equal(back["XX.S1..UZ"].data, a.data)
    s2 = back["XX.S2..UZ"]
    assert s2.stats.delta == 0.004 and s2.data.tolist() == [3.5]
    assert trace_t0(s2) == pytest.approx(-0.2, abs=1e-12)
    with pytest.raises(DataError, match="would both be written to XX.S1.UZ.semd"):
        io.write_traces(Stream([a, a.copy()]), tmp_path / "dup", "ascii")
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "XX.S3.UZ.semd").write_text("0.0 1.0\n")
    with pytest.raises(DataError, match="single sample does not give the time step"):
        io.read_traces(tmp_path / "bare", "ascii")


def test_observed_data_of_another_quantity_is_refused(tmp_path):
    """Matching by component (SPECFEM's BXZ to UZ) must not pair displacement with
    velocity: a .semd file, an SU displacement file and a UZ trace all say what they
    hold, and a velocity synthetic is refused naming both."""
    from seisgrad.preprocess.streams import match_traces, quantity_of

    def trace(cha: str) -> Trace:
        tr = Trace(np.sin(np.arange(200) * 0.1))
        tr.stats.network, tr.stats.station, tr.stats.channel = "XX", "S1", cha
        tr.stats.delta = 1e-3
        return tr

    syn_v = trace("VZ")
    io.write_ascii(Stream([trace("BXZ")]), tmp_path / "asc", suffix="semd")
    semd = io.read_ascii(tmp_path / "asc")
    assert quantity_of(semd[0]) == "U"
    io.write_su(Stream([trace("UZ")]), tmp_path / "su")
    su = io.read_su(tmp_path / "su" / "Uz_file_single_d.su")
    su[0].stats.network, su[0].stats.station = "XX", "S1"
    for observed in (semd, su, [trace("UZ")]):
        with pytest.raises(DataError, match=r"different quantities: XX\.S1\.\.VZ \(velocity\)"):
            match_traces(list(observed), [syn_v])
    # the same quantity, or data that do not say (SEED channels), still match
    assert match_traces(list(semd), [trace("UZ")])[0] is semd[0]
    assert match_traces([trace("BHZ")], [syn_v])[0].stats.channel == "BHZ"
    semv = tmp_path / "semv"
    io.write_ascii(Stream([trace("BXZ")]), semv, suffix="semv")
    assert match_traces(list(io.read_ascii(semv)), [syn_v])[0].stats.quantity == "V"


@pytest.mark.parametrize("fmt", ["sac", "su"])
def test_time_step_written_as_float32_is_the_same_step(fmt, tmp_path):
    """dt = 1/3000 written as float32 comes back 1e-9 off: the observed samples are
    taken as they are (identical traces: misfit 0), not low-passed and resampled."""
    from seisgrad.preprocess.default import Default

    dt = 1.0 / 3000.0
    tr = Trace(np.random.default_rng(3).standard_normal(3000))
    tr.stats.network, tr.stats.station, tr.stats.channel = "XX", "S1", "VZ"
    tr.stats.delta = dt
    tr.stats.starttime = EPOCH
    io.write_traces(Stream([tr]), tmp_path / "obs", fmt)
    back = io.read_traces(tmp_path / "obs", fmt)
    back[0].stats.network, back[0].stats.station = "XX", "S1"
    assert back[0].stats.delta != dt  # the float32 step
    pre = Default(from_mapping(DefaultParameters, {"demean": False}))
    res = pre.evaluate(back, Stream([tr]), None, None)
    assert res.value < 1e-12 * np.sum(tr.data**2) * dt


def test_specfem_pressure_and_both_quantities_are_matched(tmp_path):
    """SPECFEM2D names pressure NET.STA.PRE.semp and writes .semd and .semv side by
    side (seismotype 1,2): the suffix says the quantity, and matching uses it."""
    from seisgrad.preprocess.streams import match_traces

    def trace(cha: str, value: float) -> Trace:
        tr = Trace(np.full(10, value))
        tr.stats.network, tr.stats.station, tr.stats.channel = "AA", "S1", cha
        tr.stats.delta = 0.01
        return tr

    io.write_ascii(Stream([trace("PRE", 1.0)]), tmp_path / "p", suffix="semp")
    io.write_ascii(Stream([trace("BXZ", 2.0)]), tmp_path / "uv", suffix="semd")
    io.write_ascii(Stream([trace("BXZ", 3.0)]), tmp_path / "uv", suffix="semv")
    pre = io.read_ascii(tmp_path / "p")
    assert match_traces(list(pre), [trace("P", 0.0)])[0].stats.channel == "PRE"
    both = list(io.read_ascii(tmp_path / "uv"))
    assert match_traces(both, [trace("VZ", 0.0)], ignore_extra=True)[0].data[0] == 3.0
    assert match_traces(both, [trace("UZ", 0.0)], ignore_extra=True)[0].data[0] == 2.0


def test_own_ascii_files_keep_a_negative_start_time(tmp_path):
    """seisgrad's own ASCII traces starting before 0 were read as SPECFEM's (moved to
    start at 0) by the default ascii_time: specfem; their first line now says whose
    time column it is. A SPECFEM file (no such line) is still read as SPECFEM's."""
    tr = Trace(np.sin(0.1 * np.arange(100)))
    tr.stats.network, tr.stats.station, tr.stats.channel = "XX", "S1", "UZ"
    tr.stats.delta = 0.004
    tr.stats.starttime = EPOCH - 0.05
    io.write_traces(Stream([tr]), tmp_path / "own", "ascii")
    (path,) = (tmp_path / "own").iterdir()
    assert path.read_text().splitlines()[0] == "# " + io.ASCII_OWN_TIME
    for specfem_time in (True, False):
        (back,) = io.read_ascii(tmp_path / "own", specfem_time=specfem_time)
        assert back.stats.starttime - EPOCH == pytest.approx(-0.05, abs=1e-12)
        np.testing.assert_array_equal(back.data, tr.data)
        assert "specfem_t0" not in back.stats
    spec = tmp_path / "spec"
    spec.mkdir()
    lines = path.read_text().splitlines()[1:]  # SPECFEM writes no comment line
    (spec / path.name).write_text("\n".join(lines) + "\n")
    (back,) = io.read_ascii(spec)
    assert back.stats.starttime == EPOCH and back.stats.specfem_t0 == pytest.approx(0.05)


def test_empty_su_files_and_bad_hdf5_time_steps_are_named(tmp_path):
    """An empty SU file read as 'list index out of range'; a NaN time step in an HDF5
    trace header as 'cannot convert float NaN to integer' (bad-input sweep)."""
    import h5py

    (tmp_path / "empty.su").write_bytes(b"")
    with pytest.raises(DataError, match="holds 0 bytes, less than one 240-byte trace header"):
        io.read_su(tmp_path / "empty.su")
    st = make_stream(dt=0.004, t0=0.0, stations=("A01",))
    path = io.write_hdf5(st, tmp_path / "ev.h5")
    with h5py.File(path, "r+") as f:
        head = f["traces"]["header"][()]
        head["delta"] = np.nan
        f["traces"]["header"][...] = head
    with pytest.raises(DataError, match=r"has the time step nan; it must be a positive number"):
        io.read_hdf5(path)
