"""``benchmarks/solver.py`` runs end to end and prints what it promises.

No wall-clock time is asserted: the speed goals live in the benchmark's printout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("materials", ["acoustic", "elastic"])
def test_solver_benchmark_prints_the_promised_json(materials: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, str(REPO / "benchmarks" / "solver.py"), "--materials", materials]
    cmd += ["--nt", "30", "--numpy-steps", "3"]
    if materials == "elastic":  # the store-everything runs once, acoustic, is enough
        cmd += ["--no-store"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    for key in (
        "fwd_mcells",
        "numpy_mcells",
        "grad_over_fwd",
        "grad_peak_mb",
        "grad_saved_over_fwd",
        "step_replay_over_fwd",
        "step_adjoint_over_fwd",
    ):
        assert result[key] > 0, key
    assert result["materials"] == materials and result["nt"] == 30
    if materials == "acoustic":  # two store-everything runs: best and first reported
        assert "store everything, run 2" in r.stdout
        best, first = result["grad_over_fwd_store"], result["grad_over_fwd_store_first"]
        assert 0 < best <= first
    else:
        assert "grad_over_fwd_store" not in result
    for peer in ("deepwave", "devito"):
        if importlib.util.find_spec(peer) is None:
            assert f"{peer}: not installed (skipped)" in r.stdout
            assert f"{peer}_mcells" not in result


def test_a_failing_peer_is_reported_and_the_others_still_run(monkeypatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("solver")
    peers = importlib.import_module("baselines.peers")

    def broken(pb: peers.Problem) -> None:
        raise RuntimeError("no GPU here")

    def fake(pb: peers.Problem) -> dict:
        # the problem handed to peers is the benchmark's, in grid indices
        assert pb.shape == (60, 50) and len(pb.receivers) == 100
        assert pb.source == pytest.approx((30.0, 25.0))
        return {"mcells": 100.0, "grad_over_fwd": 4.0, "note": "fake"}

    monkeypatch.setattr(peers, "deepwave_peer", broken)
    monkeypatch.setattr(peers, "devito_peer", fake)
    solver, model, ev, recs = bench.problem("acoustic", 60, 50, 10, 1, "checkpoint")
    out = bench.peers(solver, model, ev, recs)
    assert "deepwave: failed (RuntimeError: no GPU here)" in capsys.readouterr().out
    assert out == {"devito": {"mcells": 100.0, "grad_over_fwd": 4.0, "note": "fake"}}


def test_histories_that_do_not_fit_are_skipped_not_attempted(monkeypatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("solver")
    monkeypatch.setattr(bench, "available_memory", lambda: 10 * 2**20)  # 10 MiB

    def no_peers(*args: object) -> dict:
        raise AssertionError("peers must not run when a history does not fit")

    monkeypatch.setattr(bench, "peers", no_peers)
    result = bench.main(["--nt", "30", "--numpy-steps", "2"])
    out = capsys.readouterr().out
    assert "store-everything, Deepwave and Devito are skipped" in out
    assert "grad_over_fwd_store" not in result and result["history_mb"] > 10
    assert result["grad_over_fwd"] > 0


@pytest.mark.parametrize("materials", ["acoustic", "elastic"])
def test_numpy_baseline_is_the_solvers_time_step(materials: str, monkeypatch) -> None:
    """The speed baseline does the solver's work: its steps, C-PML memory variables
    included, equal the compiled ``forward_steps`` to round-off (float64)."""
    import dataclasses

    import numpy as np

    from seisgrad.solver.fd2d import FD2D

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    bench = importlib.import_module("solver")
    base = importlib.import_module(f"baselines.{materials}_numpy")
    solver, model, ev, recs = bench.problem(materials, 61, 47, 20, 1, "checkpoint")
    assert set(solver.params.pml_sides) == {"left", "right", "top", "bottom"}
    prop = FD2D(dataclasses.replace(solver.params, precision="float64")).propagator(
        model, ev, recs
    )
    rng = np.random.default_rng(7)
    masks = prop.state_masks()
    start = {k: np.where(masks[k], rng.standard_normal(v.shape), 0.0) for k, v in masks.items()}
    n = 12
    # the compiled steps from the random state, minus their source response (linearity)
    ref = {k: v.copy() for k, v in start.items()}
    prop.forward_steps(ref, 0, n, prop.new_raw(), None)
    src = prop.new_state()
    prop.forward_steps(src, 0, n, prop.new_raw(), None)
    step = (base.AcousticStep if materials == "acoustic" else base.ElasticStep)(prop)
    got = {k: v.copy() for k, v in start.items()}
    for _ in range(n):
        step.step(got)
    for k in ref:
        want = ref[k] - src[k]
        assert np.abs(want).max() > 0, k
        err = np.abs(got[k] - want).max() / np.abs(want).max()
        assert err < 1e-12, (k, err)
    assert base.numpy_mcells_same_problem(prop, 3) > 0


def test_bare_kernels_compute_what_they_claim(monkeypatch) -> None:
    """``benchmarks/kernels.py``: the adjoint kernel is the transpose of the forward
    step, the reversed step gives back the initial state and both adjoint kernels
    accumulate the same imaging conditions (float64)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    kernels = importlib.import_module("kernels")
    errors = kernels.check(n=40, steps=4)
    assert errors["dot"] < 1e-12
    assert errors["reversal"] < 1e-12
    assert errors["imaging"] < 1e-12


def test_bare_kernel_benchmark_prints_its_json(monkeypatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    kernels = importlib.import_module("kernels")
    result = kernels.main(["--n", "48", "--steps", "2", "--repeat", "1"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    for key in ("fwd_ms", "adj_imaging_over_fwd", "reverse_adj_over_fwd"):
        assert result[key] > 0, key
    assert result["grad_over_fwd_reversal"] > 1 and result["grad_over_fwd_checkpoint"] > 1
