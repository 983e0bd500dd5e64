"""Files written atomically get the usual mode for new files (0o666 less the umask)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from seisgrad.model import Grid, Model, atomic_path, atomic_write, write_model
from seisgrad.parfile import write_text_atomic
from seisgrad.solver.acquisition import Receiver, write_stations
from seisgrad.workflow.state import write_json_atomic


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_atomic_files_get_the_mode_of_new_files(tmp_path, umask):
    expected = 0o666 & ~umask
    grid = Grid(nx=3, nz=2, dx=1.0, dz=1.0)
    model = Model(grid, {"vp": np.ones(grid.shape)})
    written = [
        write_model(tmp_path / "m.h5", model),
        write_json_atomic(tmp_path / "s.json", {"a": 1}),
        write_text_atomic(tmp_path / "p.yaml", "a: 1\n"),
        write_stations(tmp_path / "STATIONS", [Receiver(station="R", x=0.0, z=0.0)]),
        atomic_write(tmp_path / "t.bin", lambda p: p.write_bytes(b"x")),
    ]
    from seisgrad.plot import plot_model

    written.append(plot_model(model, tmp_path / "m.png", dpi=20))
    for p in written:
        assert _mode(Path(p)) == expected, p
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left


def test_temporary_names_are_unique(tmp_path):
    final, a = atomic_path(tmp_path / "x")
    _, b = atomic_path(tmp_path / "x")
    assert a != b and a.parent == b.parent == tmp_path and final == tmp_path / "x"
    assert a.exists() and b.exists()


def test_parameter_file_edits_keep_its_mode(tmp_path):
    p = tmp_path / "parameters.yaml"
    write_text_atomic(p, "a: 1\n")
    p.chmod(0o600)
    write_text_atomic(p, "a: 2\n")
    assert _mode(p) == 0o600 and p.read_text() == "a: 2\n"
