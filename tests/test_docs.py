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
