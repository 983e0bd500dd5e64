"""Receiver generators and SPECFEM STATIONS files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from seisgrad.errors import ConfigError, DataError
from seisgrad.solver.acquisition import (
    Event,
    PointSource,
    Receiver,
    SourceTimeFunction,
    line,
    read_stations,
    ring,
    write_stations,
)


def test_ring() -> None:
    recs = ring(8, 100.0, center=(10.0, -20.0), network="AB")
    assert len(recs) == 8
    assert [r.station for r in recs[:3]] == ["000", "001", "002"]
    assert all(r.network == "AB" for r in recs)
    for k, r in enumerate(recs):
        assert math.hypot(r.x - 10.0, r.z + 20.0) == pytest.approx(100.0)
        assert math.atan2(r.z + 20.0, r.x - 10.0) % (2 * math.pi) == pytest.approx(
            2 * math.pi * k / 8, abs=1e-12
        )
    with pytest.raises(ConfigError, match="radius"):
        ring(4, 0.0)
    with pytest.raises(ConfigError, match="at least one"):
        ring(0, 1.0)


def test_line() -> None:
    recs = line(5, (0.0, 10.0), (100.0, 30.0))
    assert (recs[0].x, recs[0].z) == (0.0, 10.0)
    assert (recs[-1].x, recs[-1].z) == (100.0, 30.0)
    assert recs[2].x == pytest.approx(50.0) and recs[2].z == pytest.approx(20.0)
    assert line(1, (3.0, 4.0), (9.0, 9.0))[0].x == 3.0


def test_stations_round_trip(tmp_path: Path) -> None:
    recs = ring(12, 250.5, center=(1000.0, 500.0), network="XY")
    path = write_stations(tmp_path / "DATA" / "STATIONS", recs)
    back = read_stations(path)
    assert [(r.network, r.station) for r in back] == [(r.network, r.station) for r in recs]
    for a, b in zip(back, recs):
        assert a.x == pytest.approx(b.x, abs=1e-6) and a.z == pytest.approx(b.z, abs=1e-6)
    assert not list(path.parent.glob(".*tmp"))


def test_read_specfem_stations(tmp_path: Path) -> None:
    p = tmp_path / "STATIONS"
    p.write_text(
        "# a comment\n"
        "S0001    AA          300.0000000         2000.0000000       0.0         0.0\n"
        "\n"
        "S0002    AA          400.0000000         2000.0000000       0.0         0.0\n"
    )
    recs = read_stations(p)
    assert [(r.station, r.network, r.x, r.z) for r in recs] == [
        ("S0001", "AA", 300.0, 2000.0),
        ("S0002", "AA", 400.0, 2000.0),
    ]


def test_a_byte_order_mark_is_not_part_of_the_first_station_name(tmp_path: Path) -> None:
    """Some editors start a file with a UTF-8 byte-order mark: it became part of the
    first station's name, which then matched no data file (acceptance sweep)."""
    p = tmp_path / "STATIONS"
    p.write_text("\ufeffS000000 AA 100.0 200.0 0.0 0.0\n", encoding="utf-8")
    (r,) = read_stations(p)
    assert (r.network, r.station) == ("AA", "S000000")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("S1 AA 1.0\n", "expected 'station network x z"),
        ("S1 AA one 2.0 0 0\n", "must be numbers"),
        ("S1 AA 1 2 0 0\nS1 AA 3 4 0 0\n", "repeated"),
        ("S1 AA 200 400 0.0 50.0\n", "AA.S1 has burial 50.0; .*give the depth in the z"),
        ("S1 AA 200 400 0.0 deep\n", "burial must be a number"),
        ("# nothing\n", "no stations"),
        # a name or position the Receiver refuses: with the file and line too
        ("S1 AA 1 2 0 0\nS.01 AA 3 4 0 0\n", r"STATIONS:2: receiver station code 'S\.01'"),
        ("S1 AA nan 2 0 0\n", r"STATIONS:1: parameter 'Receiver\.x': \.nan"),
    ],
)
def test_bad_stations_files(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "STATIONS"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        read_stations(p)
    with pytest.raises(DataError, match="not found"):
        read_stations(tmp_path / "missing")


@pytest.mark.parametrize("kind", ["ricker", "gaussian", "gaussian_derivative"])
def test_max_frequency_is_where_the_spectrum_falls_to_one_percent(kind: str) -> None:
    """The closed-form highest frequency matches the 1%-of-peak rule applied to the
    sampled wavelet (which ``array`` sources use), rounded up by at most 3%."""
    stf = SourceTimeFunction(kind=kind, f0=10.0)
    dt = 1e-4
    sampled = SourceTimeFunction(kind="array", values=list(stf.sample(8000, dt)))
    measured = sampled.max_frequency(dt)
    assert measured <= stf.max_frequency() <= 1.03 * measured


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"t0": float("nan")}, "'SourceTimeFunction.t0': .nan is not allowed"),
        ({"amplitude": float("nan")}, "'SourceTimeFunction.amplitude': .nan is not allowed"),
        ({"amplitude": float("inf")}, "'SourceTimeFunction.amplitude': .inf is not allowed"),
        ({"f0": float("inf")}, "'SourceTimeFunction.f0': .inf is not allowed"),
        ({"kind": "array", "f0": float("nan"), "values": [0.0, 1.0]}, "'SourceTimeFunction.f0'"),
        ({"kind": "array", "values": [0.0, 1.0, float("inf")]}, "values': .inf is not allowed"),
    ],
)
def test_source_time_function_rejects_non_finite_numbers(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SourceTimeFunction(**kwargs)


@pytest.mark.parametrize("name", ["x", "z", "amplitude", "fx", "fz", "mxx", "mzz", "mxz"])
def test_point_source_rejects_non_finite_numbers(name: str) -> None:
    kwargs = {"x": 1.0, "z": 2.0, "kind": "force", name: float("nan")}
    with pytest.raises(ConfigError, match=f"'PointSource.{name}': .nan is not allowed"):
        PointSource(**kwargs)
    kwargs[name] = float("-inf")
    with pytest.raises(ConfigError, match=r"-\.inf is not allowed"):
        PointSource(**kwargs)


def test_receiver_rejects_non_finite_position() -> None:
    with pytest.raises(ConfigError, match="'Receiver.z': .inf is not allowed"):
        Receiver(station="A", x=0.0, z=float("inf"))


def test_array_source_time_function_accepts_a_numpy_array() -> None:
    samples = np.sin(np.linspace(0.0, 3.0, 5000))
    stf = SourceTimeFunction(kind="array", values=samples)
    assert isinstance(stf.values, list) and len(stf.values) == 5000
    np.testing.assert_array_equal(stf.sample(5000, 1e-3), samples)
    ints = SourceTimeFunction(kind="array", values=np.array([0, 2, 1], dtype=np.int32))
    assert ints.values == [0.0, 2.0, 1.0]


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (np.ones((2, 3000)), r"1-D array of samples, got an array of shape \(2, 3000\)"),
        (np.array(["a"] * 3000), "expected real numbers"),
        ([[0.5] * 3000, [1.0] * 3000], r"\(list of length 2\)"),
        ("x" * 3000, r"\(str of length 3000\)"),
    ],
)
def test_bad_array_source_time_function_is_named_briefly(values, match: str) -> None:
    """The message names the problem in one short line, never the whole array."""
    with pytest.raises(ConfigError, match=match) as err:
        SourceTimeFunction(kind="array", values=values)
    assert len(str(err.value)) < 200 and "\n" not in str(err.value)


def test_values_with_an_analytic_kind_are_an_error() -> None:
    with pytest.raises(ConfigError, match="only used with kind 'array'"):
        SourceTimeFunction(kind="ricker", values=[0.0, 1.0, 0.0])
    assert SourceTimeFunction(kind="ricker", values=None).values is None


def test_array_samples_shorter_are_continued_with_zeros_longer_are_cut() -> None:
    stf = SourceTimeFunction(kind="array", values=[1.0, 2.0, 3.0, 0.0, 4.0, 0.0], amplitude=2.0)
    np.testing.assert_array_equal(stf.sample(8, 0.1), [2, 4, 6, 0, 8, 0, 0, 0])
    np.testing.assert_array_equal(stf.sample(3, 0.1), [2, 4, 6])
    # a simulation of nt steps uses the samples 0..nt: the non-zero ones after are cut
    assert [stf.cut_samples(nt) for nt in (1, 2, 3, 4, 5)] == [2, 1, 1, 0, 0]
    assert SourceTimeFunction().cut_samples(1) == 0
    # a wavelet sampled past the record: its negligible tail is not reported
    ricker = SourceTimeFunction(f0=10.0).sample(400, 1e-3)
    tail = SourceTimeFunction(kind="array", values=list(ricker))
    assert np.abs(ricker[301:]).max() > 0 and tail.cut_samples(300) == 0
    assert tail.cut_samples(150) > 0


def test_all_zero_array_has_no_frequency_content() -> None:
    """Before: the 1%-of-peak search on a zero spectrum returned the Nyquist frequency
    (a spurious under-sampling warning, absorbing layers tuned to Nyquist / 2.8)."""
    silent = SourceTimeFunction(kind="array", values=np.zeros(200))
    assert silent.max_frequency(1e-3) == 0.0
    assert silent.dominant_frequency(1e-3) == 0.0
    assert silent.is_silent()
    assert SourceTimeFunction(amplitude=0.0).is_silent()
    assert not SourceTimeFunction().is_silent()
    assert SourceTimeFunction(f0=7.0).dominant_frequency() == 7.0


@pytest.mark.parametrize(
    "name",
    ["../../init", "2020/evA", "a\\b", "", ".hidden", " ev", "e\x00", "a\u2028b", "x" * 161],
)
def test_event_names_that_are_not_plain_file_names_are_refused(name: str) -> None:
    """An event name becomes a file name: '../../init' wrote the traces, state and
    misfit files outside scratch/ and state/ (beside the initial model) and ended in a
    traceback."""
    with pytest.raises(ConfigError, match="event name"):
        Event(name=name, sources=[])


def test_event_names_with_blanks_and_dashes_are_fine() -> None:
    assert Event(name="shot 12-b_x", sources=[]).name == "shot 12-b_x"


def test_sampling_a_source_time_function_refuses_nonsense_steps() -> None:
    """nt = -1 or dt = 0, negative or NaN gave empty or NaN samples (bad-input sweep)."""
    import math

    import pytest

    from seisgrad.errors import ConfigError
    from seisgrad.solver.acquisition import SourceTimeFunction

    stf = SourceTimeFunction(f0=10.0)
    assert stf.sample(0, 1e-3).size == 0
    for nt, dt in ((-1, 1e-3), (10, 0.0), (10, -1e-3), (10, math.nan), ("10", 1e-3)):
        with pytest.raises(ConfigError, match="source time function"):
            stf.sample(nt, dt)
