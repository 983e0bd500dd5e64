"""The parallel benchmark runs end to end (toy mode) and reports what it promises.

No wall-clock time is asserted here: speed goals live in the benchmark's printout.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.system.util import REPO, env

pytestmark = pytest.mark.mpi


def run_benchmark(*args: str, timeout: float = 300) -> dict:
    """Run ``benchmarks/parallel.py`` with ``args``; return its last-line JSON."""
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "parallel.py"), *args],
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_parallel_benchmark_toy_prints_json_with_agreeing_gradients() -> None:
    result = run_benchmark("--toy", "--no-slurm", "--events", "3", "--burn", "5")
    assert result["gradients_agree"] is True
    assert result["gradients_bitwise_identical"] is True
    assert result["mpi2_speedup"] > 0
    assert result["slurm"].startswith("left out")


def test_parallel_benchmark_migration_small_case_agrees() -> None:
    result = run_benchmark(
        "--no-slurm",
        *("--events", "2", "--spacing", "10", "--nt", "400", "--dt", "0.001"),
        *("--repeat", "1"),
        timeout=900,
    )
    assert "nt 400, dt 0.001" in result["what"] and "2 sources" in result["what"]
    assert result["gradients_agree"] is True
    assert result["repeat"] == 1 and len(result["all_times_s"]["mpi2"]) == 1
    assert result["mpi2_speedup"] > 0
