"""Shipped parameter files and generated docs stay valid."""

from __future__ import annotations

import subprocess
import sys

from seisgrad.build import load_parameter_file, validate
from tests.conftest import ROOT


def test_parameter_reference_is_up_to_date():
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_parameter_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_shipped_parameter_files_validate():
    for path in (ROOT / "parameters.yaml", ROOT / "examples" / "blob" / "parameters.yaml"):
        classes, params = validate(load_parameter_file(path))
        assert params["solver"].materials == "elastic"
        assert params["workflow"].receivers.n == 50


def test_reference_parameter_file_lists_every_parameter(tmp_path):
    """``seisgrad configure`` on the shipped reference file adds nothing."""
    import shutil

    import yaml

    from seisgrad.cli import main

    shutil.copy(ROOT / "parameters.yaml", tmp_path / "parameters.yaml")
    assert main(["configure", "-p", str(tmp_path / "parameters.yaml")]) == 0
    before = yaml.safe_load((ROOT / "parameters.yaml").read_text())
    after = yaml.safe_load((tmp_path / "parameters.yaml").read_text())
    assert sorted(after) == sorted(before)


def test_parameter_reference_shows_exclusive_bounds_and_null():
    text = (ROOT / "docs" / "parameters.md").read_text()
    assert "| `pml_velocity` | float or null | `null` | > 0.0 |" in text
    assert "| `precondition` | str or null | `null` | `null`, `illumination` |" in text


def test_python_api_example_runs_and_its_checks_hold():
    """examples/python_api.py, the Python page of docs/solver.md, works as shown."""
    import re

    res = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python_api.py")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "kernels: vp, vs, rho" in out and "warning" not in out, out
    fd = float(re.search(r"relative difference (\S+)", out).group(1))
    dot = float(re.search(r"relative mismatch (\S+)", out).group(1))
    taylor = float(re.search(r"best relative error (\S+),", out).group(1))
    assert fd < 1e-6 and dot < 1e-12 and taylor < 1e-6, out
    orders = [float(x) for x in out.split("remainder orders ")[1].split(",")]
    assert orders and all(abs(o - 2.0) < 0.1 for o in orders), out
