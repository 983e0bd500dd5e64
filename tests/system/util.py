"""Helpers for the system tests: toy parameter files, subprocess runs, state reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from seisgrad.build import build_from_config
from tests.fakes import toy_parameter_text

REPO = Path(__file__).resolve().parents[2]
MPIEXEC = str(Path(sys.executable).parent / "mpiexec")


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for subprocesses: the repository importable (``tests.fakes``)."""
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO) + (
        os.pathsep + out["PYTHONPATH"] if out.get("PYTHONPATH") else ""
    )
    for key in ("PMI_RANK", "PMI_SIZE", "PMI_FD", "PMIX_RANK", "HYDI_CONTROL_FD"):
        out.pop(key, None)
    out.update(extra or {})
    return out


def write_params(folder: Path, n_events: int, **extra: Any) -> Path:
    """Write a toy parameter file into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "parameters.yaml"
    p.write_text(toy_parameter_text(n_events, **extra))
    return p


def update_params(pfile: Path, **changes: Any) -> None:
    """Change (or with value ``None`` remove) keys of a parameter file."""
    data = yaml.safe_load(pfile.read_text())
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    pfile.write_text(yaml.safe_dump(data, sort_keys=False))


def cli(
    args: list[str],
    cwd: Path,
    launcher: list[str] | None = None,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m seisgrad.cli ARGS`` (optionally under a launcher) in ``cwd``."""
    cmd = [*(launcher or []), sys.executable, "-m", "seisgrad.cli", *args]
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def reference_run(folder: Path, n_events: int, **extra: Any) -> dict[str, bytes]:
    """Run the toy workflow with the workstation system in this process; return its
    result files."""
    extra = {k: v for k, v in extra.items() if k not in ("system",)}
    pfile = write_params(folder, n_events, system="workstation", **extra)
    setup = build_from_config(pfile)
    setup.system.submit(setup.workflow)
    return results(folder)


def results(folder: Path) -> dict[str, bytes]:
    """All result files of a toy run (per-source scratch files and the output)."""
    files = sorted((folder / "scratch").glob("s*.json")) + [folder / "output" / "total.json"]
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in files}


def runs(folder: Path) -> Counter[str]:
    """How often each ``task source`` ran (from the toy's runs.log)."""
    log = folder / "scratch" / "runs.log"
    return Counter(log.read_text().splitlines()) if log.exists() else Counter()


def source_state(folder: Path, task: str, source: str) -> dict[str, Any]:
    p = folder / "state" / task / f"{source}.json"
    return json.loads(p.read_text()) if p.exists() else {"status": "pending"}


def wait_for(test: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Wait until ``test()`` is true; fail the test with ``what`` after ``timeout``."""
    t0 = time.monotonic()
    while True:
        out = test()
        if out:
            return out
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
