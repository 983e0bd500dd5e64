"""Shared fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli_env() -> dict[str, str]:
    """The environment of a ``seisgrad`` subprocess: this checkout first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_submit(
    cwd: Path,
    *args: str,
    stderr: int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    new_session: bool = False,
) -> subprocess.Popen:
    """``seisgrad submit ARGS`` started in ``cwd`` in the background (for tests that
    interrupt or kill a run); its standard error is ``stderr`` (text when piped), its
    environment ``env`` (default :func:`cli_env`); ``new_session`` puts it in a process
    group of its own (so a test can signal it alone, or kill the whole group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "seisgrad.cli", "submit", *args],
        cwd=cwd,
        env=cli_env() if env is None else env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        start_new_session=new_session,
    )


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run ``seisgrad ARGS`` in a subprocess in ``tmp_path``; return the result."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 120, **kw):
        return subprocess.run(
            [sys.executable, "-m", "seisgrad.cli", *args],
            cwd=cwd or tmp_path,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **kw,
        )

    return run


@pytest.fixture
def toy_dir(tmp_path: Path) -> Path:
    """A folder with a toy-workflow parameter file."""
    from tests.fakes import toy_parameter_text

    (tmp_path / "parameters.yaml").write_text(toy_parameter_text())
    return tmp_path
