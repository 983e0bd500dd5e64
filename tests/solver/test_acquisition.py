"""Receiver generators and SPECFEM STATIONS files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from seisgrad.errors import ConfigError, DataError
from seisgrad.solver.acquisition import (
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


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("S1 AA 1.0\n", "expected 'station network x z"),
        ("S1 AA one 2.0 0 0\n", "must be numbers"),
        ("S1 AA 1 2 0 0\nS1 AA 3 4 0 0\n", "repeated"),
        ("# nothing\n", "no stations"),
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
