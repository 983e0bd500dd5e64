"""Task lists resume after failures and kills, re-running only unfinished sources
(under `system: workstation`; tests/system covers MPI and Slurm)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.fakes import toy_parameter_text


def _runs(folder: Path) -> list[str]:
    return (folder / "scratch" / "runs.log").read_text().splitlines()


def _edit(folder: Path, **values: object) -> None:
    p = folder / "parameters.yaml"
    data = yaml.safe_load(p.read_text())
    data.update(values)
    p.write_text(yaml.safe_dump(data))


def test_failed_source_is_reported_and_only_it_reruns(toy_dir, run_cli):
    _edit(toy_dir, fail_sources=["s001"])
    res = run_cli("submit")
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("error: task simulate: 1 source(s) failed: s001")
    assert "toy failure in s001" in line
    assert str(toy_dir / "logs" / "simulate" / "s001.log") in line
    log = (toy_dir / "logs" / "simulate" / "s001.log").read_text()
    assert "RuntimeError: toy failure in s001" in log  # the traceback is in the log
    assert _runs(toy_dir) == ["simulate s000", "simulate s001", "simulate s002"]
    status = run_cli("status").stdout
    assert "s001" in status and "failed" in status
    _edit(toy_dir, fail_sources=[])
    assert run_cli("submit").returncode == 0
    runs = _runs(toy_dir)
    assert [r for r in runs if r.startswith("simulate")] == [
        "simulate s000",
        "simulate s001",
        "simulate s002",
        "simulate s001",
    ]
    assert (toy_dir / "output" / "total.json").exists()


def test_sigkill_mid_task_resumes_identically(tmp_path, run_cli):
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "parameters.yaml").write_text(toy_parameter_text(5))
    assert run_cli("submit", cwd=ref).returncode == 0

    work = tmp_path / "work"
    work.mkdir()
    (work / "parameters.yaml").write_text(
        toy_parameter_text(5, slow_sources=["s002"], slow_sleep=120.0)
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "seisgrad.cli", "submit"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    running = work / "state" / "simulate" / "s002.json"
    deadline = time.time() + 60
    while time.time() < deadline:
        if running.exists() and json.loads(running.read_text())["status"] == "running":
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("source s002 never started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    status = run_cli("status", "--json", cwd=work)
    rows = {r["task"]: r for r in json.loads(status.stdout)}
    sources = {k: v["status"] for k, v in rows["simulate"]["sources"].items()}
    assert sources == {
        "s000": "done",
        "s001": "done",
        "s002": "running",
        "s003": "pending",
        "s004": "pending",
    }
    _edit(work, slow_sources=[])  # does not affect results: no parameter-change error
    res = run_cli("submit", cwd=work)
    assert res.returncode == 0, res.stderr
    sim = [r for r in _runs(work) if r.startswith("simulate")]
    assert sim == [f"simulate s00{i}" for i in (0, 1, 2, 2, 3, 4)]
    assert (work / "output" / "total.json").read_bytes() == (
        ref / "output" / "total.json"
    ).read_bytes()
