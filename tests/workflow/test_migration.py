"""Forward and Migration workflows on the built-in solver."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from seisgrad.build import build_from_config
from seisgrad.config import param
from seisgrad.errors import DataError, GradientError
from seisgrad.model import (
    Grid,
    Model,
    add_perturbation,
    gaussian_blob,
    homogeneous,
    read_model,
    write_model,
)
from seisgrad.workflow import postprocess as pp
from seisgrad.workflow.base import TaskContext, per_source
from seisgrad.workflow.migration import Migration, MigrationParameters
from seisgrad.workflow.verify import gradient_check
from tests.conftest import start_submit


def small_setup(folder: Path, **extra: object) -> Path:
    """A 2-source acoustic migration on a 41x41 grid."""
    g = Grid.from_extent(-200.0, 200.0, -200.0, 200.0, 10.0)
    m = homogeneous(g, np.float64, vp=1500.0, rho=2000.0)
    write_model(folder / "init.h5", m)
    true = add_perturbation(m, "vp", gaussian_blob(g, (0.0, 0.0), 40.0, 150.0))
    write_model(
        folder / "true.h5",
        add_perturbation(true, "rho", gaussian_blob(g, (30.0, 0.0), 40.0, 100.0)),
    )
    params = {
        "workflow": "migration",
        "system": "workstation",
        "solver": "fd2d",
        "preprocess": "default",
        "materials": "acoustic",
        "nt": 250,
        "dt": 0.001,
        "order": 4,
        "pml_width": 8,
        "precision": "float64",
        "record": ["P"],
        "events": [
            {
                "name": "s000",
                "sources": [
                    {
                        "x": -120.0,
                        "z": -120.0,
                        "kind": "pressure",
                        "stf": {"kind": "ricker", "f0": 15.0},
                    }
                ],
            },
            {
                "name": "s001",
                "sources": [
                    {
                        "x": 125.0,
                        "z": -110.0,
                        "kind": "pressure",
                        "stf": {"kind": "ricker", "f0": 15.0},
                    }
                ],
            },
        ],
        "receivers": {
            "kind": "points",
            "points": [{"station": f"R{i}", "x": -120.0 + 60.0 * i, "z": 130.0} for i in range(5)],
        },
        "misfit": "waveform",
        "plot_figures": False,
        "path_model_init": "init.h5",
        "path_model_true": "true.h5",
    }
    params.update(extra)
    (folder / "parameters.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return folder / "parameters.yaml"


def test_raw_gradient_matches_finite_differences(tmp_path):
    pfile = small_setup(tmp_path, smooth_h=20.0, smooth_v=30.0, export_kernels=True)
    mask = homogeneous(read_model(tmp_path / "init.h5").grid, np.float64, mask=1.0)
    mask_arr = np.ones(mask.grid.shape)
    mask_arr[:, :5] = 0.0
    write_model(tmp_path / "mask.h5", mask.with_values(mask=mask_arr))
    with open(pfile, "a") as f:
        f.write("path_mask: mask.h5\n")
    setup = build_from_config(pfile)
    setup.workflow.run()
    out = tmp_path / "output"
    misfit = json.loads((out / "misfit.json").read_text())
    assert set(misfit["sources"]) == {"s000", "s001"}
    assert misfit["total"] == pytest.approx(
        sum(v["total"] for v in misfit["sources"].values()), rel=1e-15
    )
    assert misfit["total"] > 0
    # event kernels exported, their sum is the raw gradient
    k0, k1 = (read_model(out / "kernels" / f"s00{i}.h5") for i in (0, 1))
    raw = read_model(out / "kernels_raw.h5")
    for n in raw:
        np.testing.assert_array_equal(raw[n], k0[n] + k1[n])
    # the raw gradient is the derivative of the total misfit (float64)
    check = gradient_check(setup.workflow, h=1e-4, seed=3)
    assert check.misfit == pytest.approx(misfit["total"], rel=1e-12)
    assert check.relative_error < 1e-5, check
    # smoothing, scaling by the model and masking do exactly what the docs say
    grad = read_model(out / "gradient.h5")
    smooth = pp.smooth_gaussian(raw, 20.0, 30.0)
    init = read_model(tmp_path / "init.h5")
    for n in ("vp", "rho"):
        np.testing.assert_allclose(grad[n], smooth[n] * init[n] * mask_arr, rtol=1e-12, atol=0)
        assert np.all(grad[n][:, :5] == 0.0)


def test_forward_workflow_exports_traces_and_misfit(tmp_path, run_cli):
    small_setup(
        tmp_path, workflow="forward", export_traces=True, data_format="su", plot_figures=True
    )
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0, res.stderr
    misfit = json.loads((tmp_path / "output" / "misfit.json").read_text())
    assert misfit["total"] > 0
    s0 = misfit["sources"]["s000"]
    assert len(s0["traces"]) == 5
    assert set(s0["receivers"]) == {f"XX.R{i}" for i in range(5)}
    assert sum(s0["receivers"].values()) == pytest.approx(s0["total"], rel=1e-12)
    assert list((tmp_path / "output" / "traces" / "syn").iterdir())
    assert (tmp_path / "output" / "figures" / "traces_s000.png").stat().st_size > 1000
    res = run_cli("plot", "traces", "s001", "-o", "t.png")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_a_setup_warning_is_shown_once_and_kept_in_every_log(tmp_path, run_cli):
    # submit checks the setup (the warning shown at once), then every simulation
    # checks it again for its own log: the console shows it once
    small_setup(tmp_path, workflow="forward")  # 8-cell absorbing layers: a warning
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("warning: absorbing layers of 8 cells") == 1, res.stderr
    logs = sorted((tmp_path / "logs").rglob("*.log"))
    with_it = [p for p in logs if "absorbing layers of 8 cells" in p.read_text()]
    assert any(p.parent.name != "logs" for p in with_it), with_it  # a source's log
    assert any(p.name.startswith("run-") for p in with_it), with_it


def test_traveltime_residuals_are_in_misfit_json_with_their_sign(tmp_path, run_cli):
    # SeisFlows users read signed residuals; misfit.json held only T^2 / 2 per trace
    small_setup(tmp_path, workflow="forward", misfit="traveltime")
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0, res.stderr
    misfit = json.loads((tmp_path / "output" / "misfit.json").read_text())
    s0 = misfit["sources"]["s000"]
    assert set(s0["measurements"]) == set(s0["traces"])
    for tid, value in s0["traces"].items():
        (m,) = s0["measurements"][tid]
        assert 0.5 * m["shift"] ** 2 == pytest.approx(value, rel=1e-12)
    # the true model is faster (the vp blob): the observed arrivals come earlier
    # somewhere, and T > 0 means observed later (docs/preprocess.md)
    assert min(m[0]["shift"] for m in s0["measurements"].values()) < 0


def test_check_refuses_a_true_model_the_solver_would_refuse(tmp_path, run_cli):
    # the observed data are simulated in path_model_true: check found a bad one only
    # when prepare_observed_data failed for every source
    small_setup(tmp_path)
    init = read_model(tmp_path / "init.h5")
    bad = np.array(init["vp"])
    bad[3, 4] = -100.0
    write_model(tmp_path / "true.h5", init.with_values(vp=bad))
    res = run_cli("check")
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: path_model_true {tmp_path / 'true.h5'}: "), last
    # a true model fast enough to break the time step's stability limit
    write_model(tmp_path / "true.h5", init.with_values(vp=np.array(init["vp"]) * 4.5))
    res = run_cli("check")
    assert res.returncode == 2 and "path_model_true" in res.stderr, res.stderr
    # the initial model again: a warning before anything runs
    write_model(tmp_path / "true.h5", init)
    res = run_cli("check")
    assert res.returncode == 0, res.stderr
    assert "holds the same values as path_model_init" in res.stderr


def test_mseed_export_of_long_station_names_is_refused_by_check(tmp_path, run_cli):
    """MiniSEED holds stations of up to 5 characters: with SPECFEM's S000000 names the
    export failed after every simulation (found by an acceptance sweep); check says so
    before anything runs. Short names, or another format, pass."""
    points = [{"station": f"S{i:06d}", "x": -120.0 + 60.0 * i, "z": 130.0} for i in range(3)]
    long_names = {"kind": "points", "points": points}
    small_setup(
        tmp_path, workflow="forward", export_traces=True, data_format="mseed",
        receivers=long_names,
    )  # fmt: skip
    res = run_cli("check")
    assert res.returncode != 0, res.stderr
    assert "stations of up to 5" in res.stderr and "XX.S000000" in res.stderr
    small_setup(tmp_path, workflow="forward", export_traces=True, data_format="mseed")
    assert run_cli("check").returncode == 0
    small_setup(
        tmp_path, workflow="forward", export_traces=True, data_format="sac",
        receivers=long_names,
    )  # fmt: skip
    assert run_cli("check").returncode == 0


def test_zero_gradient_is_an_error_naming_the_step(tmp_path):
    pfile = small_setup(tmp_path, path_model_true="init.h5")  # no misfit at all
    setup = build_from_config(pfile)
    with pytest.raises(GradientError, match="^summing the event kernels: the gradient is zero"):
        setup.workflow.run()


@dataclass
class SlowMigrationParameters(MigrationParameters):
    slow_adjoint_source: str = param("", "source whose adjoint run waits", affects_results=False)


class SlowMigration(Migration):
    """Migration whose adjoint run of one source is slow (changes one task only)."""

    Parameters = SlowMigrationParameters

    @per_source
    def run_adjoint_simulations(self, ctx: TaskContext) -> None:
        if ctx.source == self.params.slow_adjoint_source:
            time.sleep(120)
        super().run_adjoint_simulations(ctx)


def test_killed_migration_resumes_with_the_same_gradient(tmp_path, run_cli):
    ref = tmp_path / "ref"
    ref.mkdir()
    small_setup(ref, precision="float32")
    assert run_cli("submit", cwd=ref, timeout=600).returncode == 0

    work = tmp_path / "work"
    work.mkdir()
    small_setup(
        work,
        precision="float32",
        workflow="tests.workflow.test_migration:SlowMigration",
        slow_adjoint_source="s001",
    )
    proc = start_submit(work)
    marker = work / "state" / "run_adjoint_simulations" / "s001.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if marker.exists() and json.loads(marker.read_text())["status"] == "running":
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("the adjoint run of s001 never started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done = json.loads((work / "state" / "run_adjoint_simulations" / "s000.json").read_text())
    assert done["status"] == "done"
    kernel0 = (work / "scratch" / "kernels" / "s000.h5").stat().st_mtime_ns

    data = yaml.safe_load((work / "parameters.yaml").read_text())
    data["slow_adjoint_source"] = ""
    (work / "parameters.yaml").write_text(yaml.safe_dump(data))
    res = run_cli("submit", cwd=work, timeout=600)
    assert res.returncode == 0, res.stderr
    assert (work / "scratch" / "kernels" / "s000.h5").stat().st_mtime_ns == kernel0
    a = read_model(work / "output" / "gradient.h5")
    b = read_model(ref / "output" / "gradient.h5")
    for n in b:
        np.testing.assert_array_equal(a[n], b[n])


@pytest.mark.parametrize("smooth_type", ["gaussian", "laplacian"])
def test_illumination_preconditioner_does_what_the_docs_say(tmp_path, smooth_type):
    # the illumination is smoothed with the kernels' smoother (smooth_type), not always
    # with the Gaussian
    pfile = small_setup(
        tmp_path,
        precondition="illumination",
        smooth_type=smooth_type,
        smooth_h=20.0,
        smooth_v=20.0,
        precision="float32",
    )
    setup = build_from_config(pfile)
    setup.workflow.run()
    out = tmp_path / "output"
    raw = read_model(out / "kernels_raw.h5")
    energy = pp.sum_kernels(
        [read_model(tmp_path / "scratch" / "illumination" / f"s00{i}.h5") for i in (0, 1)]
    )
    energy = pp.smooth(energy, 20.0, 20.0, smooth_type)
    np.testing.assert_allclose(
        read_model(out / "illumination.h5")["illumination"], energy["illumination"], rtol=1e-12
    )
    init = read_model(tmp_path / "init.h5")
    expected = pp.precondition_illumination(
        pp.smooth(pp.scale_by_model(raw, init), 20.0, 20.0, smooth_type), energy, 1e-2
    )
    grad = read_model(out / "gradient.h5")
    for n in ("vp", "rho"):
        np.testing.assert_allclose(grad[n], expected[n], rtol=1e-6)
    # it changes the gradient: weakly lit regions are boosted relative to bright ones
    plain = pp.smooth(pp.scale_by_model(raw, init), 20.0, 20.0, smooth_type)
    assert not np.allclose(grad["vp"], plain["vp"])


@pytest.mark.parametrize("edge", ["reflect", "normalize"])
def test_kernels_are_scaled_then_smoothed_as_seisflows_does(tmp_path, edge):
    # SeisFlows smooths SPECFEM's relative kernels: the gradient is S(m K), not m S(K);
    # the two differ where the model does (a layered initial model here)
    pfile = small_setup(tmp_path, smooth_h=30.0, smooth_v=30.0, smooth_edge=edge)
    init = read_model(tmp_path / "init.h5")
    layered = np.where(init.grid.z[None, :] > 0.0, 2200.0, 1500.0) * np.ones(init.grid.shape)
    write_model(tmp_path / "init.h5", init.with_values(vp=layered))
    build_from_config(pfile).workflow.run()
    out = tmp_path / "output"
    raw = read_model(out / "kernels_raw.h5")
    init = read_model(tmp_path / "init.h5")
    grad = read_model(out / "gradient.h5")
    expected = pp.smooth_gaussian(pp.scale_by_model(raw, init), 30.0, 30.0, edge=edge)
    other_order = pp.scale_by_model(pp.smooth_gaussian(raw, 30.0, 30.0, edge=edge), init)
    for n in ("vp", "rho"):
        np.testing.assert_allclose(grad[n], expected[n], rtol=1e-12, atol=0)
    diff = np.abs(other_order["vp"] - grad["vp"]).max() / np.abs(grad["vp"]).max()
    assert diff > 0.01, diff
    import h5py

    with h5py.File(out / "gradient.h5") as f:
        assert f.attrs["kind"] == "dJ/dln(m)"


def test_laplacian_smoothing_with_normalized_edges_is_refused(tmp_path, run_cli):
    small_setup(tmp_path, smooth_h=20.0, smooth_type="laplacian", smooth_edge="normalize")
    res = run_cli("check")
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith("error: smooth_edge: 'normalize' is an option of the Gaussian smoothing")
    ), res.stderr


def test_saved_forward_wavefield_is_used_then_removed_and_changes_nothing(tmp_path, caplog):
    grads = {}
    for save in (True, False):
        folder = tmp_path / f"save-{save}"
        folder.mkdir()
        pfile = small_setup(folder, save_forward=save)
        wf = build_from_config(pfile).workflow
        wf.run(stop_after="run_forward_simulations")
        saved = sorted(p.name for p in (folder / "scratch" / "forward").glob("*.snapshots"))
        assert saved == (["s000.snapshots", "s001.snapshots"] if save else [])
        caplog.clear()
        with caplog.at_level("INFO", logger="seisgrad"):
            wf.run()
        # used (no 'recomputing' message) and deleted once each kernel was written
        assert "recomput" not in caplog.text
        assert not list((folder / "scratch" / "forward").glob("*.snapshots"))
        grads[save] = read_model(folder / "output" / "gradient.h5")
    for name in grads[True]:
        assert np.any(grads[True][name])
        np.testing.assert_array_equal(grads[True][name], grads[False][name])


def _scratch_mtimes(folder: Path) -> dict[str, int]:
    files = (
        [f"traces/{kind}/s00{i}.h5" for kind in ("obs", "syn", "adj") for i in (0, 1)]
        + [f"kernels/s00{i}.h5" for i in (0, 1)]
        + ["kernels/smoothed.h5"]
    )
    return {f: (folder / "scratch" / f).stat().st_mtime_ns for f in files}


def test_fixed_parameters_keep_the_simulations_and_solver_changes_rerun_them(tmp_path, run_cli):
    pfile = small_setup(tmp_path, smooth_h=10.0, smooth_v=20.0)
    res = run_cli("submit", "--stop-after", "run_adjoint_simulations", timeout=600)
    assert res.returncode == 0, res.stderr
    state = json.loads((tmp_path / "state" / "workflow.json").read_text())["tasks"]
    assert state["run_adjoint_simulations"]["status"] == "done"
    assert state.get("postprocess_event_kernels", {}).get("status") != "done"
    sims = {
        f: (tmp_path / "scratch" / f).stat().st_mtime_ns
        for f in [f"traces/{k}/s00{i}.h5" for k in ("obs", "syn", "adj") for i in (0, 1)]
        + [f"kernels/s00{i}.h5" for i in (0, 1)]
    }

    # only the smoothing depends on smooth_h: the simulations are kept
    data = yaml.safe_load(pfile.read_text())
    data["smooth_h"] = 20.0
    pfile.write_text(yaml.safe_dump(data))
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0, res.stderr
    assert (
        "parameters changed: smooth_h (10.0 -> 20.0); kept: prepare_observed_data, "
        "run_forward_simulations, evaluate_objective_function, write_misfit, "
        "run_adjoint_simulations; to run: postprocess_event_kernels, "
        "evaluate_gradient_from_kernels"
    ) in res.stderr
    before = _scratch_mtimes(tmp_path)
    assert {f: before[f] for f in sims} == sims
    raw = read_model(tmp_path / "output" / "kernels_raw.h5")
    init = read_model(tmp_path / "init.h5")
    expected = pp.smooth_gaussian(pp.scale_by_model(raw, init), 20.0, 20.0)
    grad = read_model(tmp_path / "output" / "gradient.h5")
    for n in ("vp", "rho"):
        np.testing.assert_allclose(grad[n], expected[n], rtol=1e-12, atol=0)

    # a mask is applied in the last task only
    mask = np.ones(init.grid.shape)
    mask[:, :5] = 0.0
    write_model(tmp_path / "mask.h5", init.with_values(vp=mask, rho=mask))
    data["path_mask"] = "mask.h5"
    pfile.write_text(yaml.safe_dump(data))
    # the gradient of the old parameters leaves path_output as soon as its task is to
    # run again (a failed or stopped run left it beside the new results); it is kept in
    # path_output/previous
    res = run_cli("submit", "--stop-after", "postprocess_event_kernels", timeout=600)
    assert res.returncode == 0, res.stderr
    assert "; to run: evaluate_gradient_from_kernels" in res.stderr
    assert "moved to" in res.stderr and "gradient.h5" in res.stderr, res.stderr
    assert not (tmp_path / "output" / "gradient.h5").exists()
    old = read_model(tmp_path / "output" / "previous" / "gradient.h5")
    np.testing.assert_array_equal(old["vp"], grad["vp"])
    assert (tmp_path / "output" / "kernels_raw.h5").exists()  # its task is kept
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0, res.stderr
    assert _scratch_mtimes(tmp_path) == before
    grad = read_model(tmp_path / "output" / "gradient.h5")
    for n in ("vp", "rho"):
        np.testing.assert_allclose(grad[n], expected[n] * mask, rtol=1e-12, atol=0)

    # a solver parameter: every task runs again
    data["pml_width"] = 10
    pfile.write_text(yaml.safe_dump(data))
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0, res.stderr
    assert "parameters changed: pml_width (8 -> 10); kept: nothing; to run: " in res.stderr
    after = _scratch_mtimes(tmp_path)
    assert all(after[f] != before[f] for f in before)


def test_an_added_event_gives_the_gradient_of_a_run_from_scratch(tmp_path, run_cli):
    """Raising ntask simulates the new event alone, and the gradient equals that of a
    fresh run with every event (the kept event's kernels are reused)."""
    inc = tmp_path / "incremental"
    inc.mkdir()
    pfile = small_setup(inc, ntask=1)
    assert run_cli("submit", cwd=inc, timeout=600).returncode == 0
    kept = (inc / "scratch" / "kernels" / "s000.h5").stat().st_mtime_ns
    data = yaml.safe_load(pfile.read_text())
    data["ntask"] = 2
    pfile.write_text(yaml.safe_dump(data))
    res = run_cli("submit", cwd=inc, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "events: new s001" in res.stderr
    assert "to run: prepare_observed_data (s001), run_forward_simulations (s001)" in res.stderr
    assert (inc / "scratch" / "kernels" / "s000.h5").stat().st_mtime_ns == kept

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    small_setup(fresh)
    assert run_cli("submit", cwd=fresh, timeout=600).returncode == 0
    a, b = read_model(inc / "output" / "gradient.h5"), read_model(fresh / "output" / "gradient.h5")
    for n in ("vp", "rho"):
        np.testing.assert_allclose(a[n], b[n], rtol=1e-12, atol=0)
    misfit = [json.loads((d / "output" / "misfit.json").read_text()) for d in (inc, fresh)]
    assert misfit[0] == misfit[1]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("mask_grid", "mask.h5: grid Grid(nx=21, nz=21, dx=20.0, dz=20.0"),
        ("mask_names", "mask.h5: mask has no parameter(s) vp, rho"),
        ("nyquist", "lowpass filter: max_freq (or min_period) sets a corner of 900 Hz, not "),
        ("receiver", "receiver XX.FAR at (x=500.0, z=0.0) is outside the model"),
    ],
)
def test_check_finds_inputs_that_would_fail_after_the_simulations(
    tmp_path, run_cli, case, expected
):
    extra: dict[str, object] = {}
    if case.startswith("mask"):
        spacing = 20.0 if case == "mask_grid" else 10.0
        g = Grid.from_extent(-200.0, 200.0, -200.0, 200.0, spacing)
        write_model(tmp_path / "mask.h5", homogeneous(g, np.float64, taper=1.0))
        extra["path_mask"] = "mask.h5"
    elif case == "nyquist":
        extra = {"filter": "lowpass", "max_freq": 900.0}
    else:
        extra["receivers"] = {
            "kind": "points",
            "points": [
                {"station": "R0", "x": 0.0, "z": 130.0},
                {"station": "FAR", "x": 500.0, "z": 0.0},
            ],
        }
    small_setup(tmp_path, **extra)
    for cmd in ("check", "submit"):
        res = run_cli(cmd, timeout=600)
        assert res.returncode == 2, res.stderr
        line = res.stderr.strip().splitlines()[-1]
        assert line.startswith("error: ") and expected in line, line
        assert "Traceback" not in res.stderr
    assert not (tmp_path / "scratch").exists() and not (tmp_path / "state").exists()


def test_deleted_output_folder_is_made_again_from_the_kept_kernels(tmp_path, run_cli):
    small_setup(tmp_path)
    assert run_cli("submit", timeout=600).returncode == 0
    grad = read_model(tmp_path / "output" / "gradient.h5")
    kernels = _scratch_mtimes(tmp_path)
    for p in sorted((tmp_path / "output").rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0, res.stderr
    (line,) = [x for x in res.stderr.splitlines() if "their files are gone" in x]
    assert "gone: write_misfit" in line and "postprocess_event_kernels" in line
    assert "evaluate_gradient_from_kernels" in line
    assert "run_adjoint_simulations" not in line
    assert "task run_adjoint_simulations: done before, skipped" in res.stderr
    # no simulation ran again: the scratch files are those of the first run, but the
    # smoothed kernels (the post-processing's own file)
    after = _scratch_mtimes(tmp_path)
    assert {f: t for f, t in after.items() if "smoothed" not in f} == {
        f: t for f, t in kernels.items() if "smoothed" not in f
    }
    again = read_model(tmp_path / "output" / "gradient.h5")
    for n in grad:
        np.testing.assert_array_equal(again[n], grad[n])
    assert (tmp_path / "output" / "misfit.json").exists()


def test_scaling_uses_the_values_the_solver_used(tmp_path):
    """The gradient is scaled by the model the simulations read: an acoustic run in
    kappa reads kappa = rho vp^2 from a file that also holds vs (ignored by the
    acoustic solver); a kappa, rho model read in velocity gives vp = sqrt(kappa/rho).
    The gradient check perturbs the same values."""
    pfile = small_setup(tmp_path, parametrization="lame")
    init = read_model(tmp_path / "init.h5")
    write_model(tmp_path / "init.h5", init.with_values(vs=np.full(init.grid.shape, 1000.0)))
    setup = build_from_config(pfile)
    assert setup.workflow.check() is not None
    setup.workflow.run()
    raw = read_model(tmp_path / "output" / "kernels_raw.h5")
    grad = read_model(tmp_path / "output" / "gradient.h5")
    kappa = init["rho"] * init["vp"] ** 2  # 4.5e9, not rho (vp^2 - vs^2) = 2.5e9
    np.testing.assert_allclose(grad["kappa"], raw["kappa"] * kappa, rtol=1e-12)
    check = gradient_check(setup.workflow, h=1e-4, seed=2)
    assert check.relative_error < 1e-5, check

    # a kappa, rho model in the velocity parametrization
    other = tmp_path / "moduli"
    other.mkdir()
    pfile = small_setup(other)
    m = read_model(other / "init.h5")
    write_model(
        other / "init.h5", Model(m.grid, {"kappa": m["rho"] * m["vp"] ** 2, "rho": m["rho"]})
    )
    setup = build_from_config(pfile)
    setup.workflow.check()  # refused before: 'cannot scale kernel vp'
    values = setup.workflow.model_for_scaling(("vp", "rho"))
    np.testing.assert_allclose(values["vp"], m["vp"], rtol=1e-12)


@pytest.mark.parametrize(
    ("materials", "parametrization", "names"),
    [
        ("acoustic", "velocity", ("vp", "rho")),
        ("acoustic", "bulk", ("kappa", "rho")),
        ("elastic", "velocity", ("vp", "vs", "rho")),
        ("elastic", "lame", ("lambda", "mu", "rho")),
        ("elastic", "bulk", ("kappa", "mu", "rho")),
    ],
)
def test_solver_model_values_from_any_parameter_set(materials, parametrization, names):
    from seisgrad.config import from_mapping
    from seisgrad.solver.fd2d import FD2D

    g = Grid(6, 5, 10.0, 10.0)
    vp, vs, rho = 3000.0, 1500.0 if materials == "elastic" else 0.0, 2200.0
    mu, lam = rho * vs**2, rho * (vp**2 - 2 * vs**2)
    expected = {"vp": vp, "vs": vs, "rho": rho, "mu": mu, "lambda": lam, "kappa": lam + mu}
    solver = FD2D(
        from_mapping(FD2D.Parameters, {"materials": materials, "parametrization": parametrization})
    )
    for given in (("vp", "vs", "rho"), ("lambda", "mu", "rho"), ("kappa", "mu", "rho")):
        if materials == "acoustic" and "mu" in given:
            given = ("kappa", "rho")
        model = homogeneous(g, np.float64, **{n: expected[n] for n in given})
        values = solver.model_values(model)
        assert tuple(values) == names
        for n in names:
            np.testing.assert_allclose(values[n], expected[n], rtol=1e-12)


def test_turning_exports_on_after_a_run_makes_them_without_simulations(tmp_path, run_cli):
    pfile = small_setup(tmp_path)
    assert run_cli("submit", timeout=600).returncode == 0
    sims = _scratch_mtimes(tmp_path)
    data = yaml.safe_load(pfile.read_text())
    data.update(export_kernels=True, plot_figures=True)
    pfile.write_text(yaml.safe_dump(data))
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "output"
    assert (out / "kernels" / "s000.h5").exists() and (out / "kernels" / "s001.h5").exists()
    assert (out / "figures" / "gradient.png").exists()
    assert (out / "figures" / "traces_s001.png").exists()
    (out / "figures" / "model_true.png").unlink()
    assert run_cli("submit", timeout=600).returncode == 0
    assert (out / "figures" / "model_true.png").exists()
    after = _scratch_mtimes(tmp_path)
    assert {f: t for f, t in after.items() if "smoothed" not in f} == {
        f: t for f, t in sims.items() if "smoothed" not in f
    }


def test_check_refuses_masks_that_leave_nothing_or_hold_nan(tmp_path):
    """An all-zero mask passed check and failed after every simulation; a NaN in the
    single 'mask' variable was reported as 'mask for vp'."""
    pfile = small_setup(tmp_path)
    grid = read_model(tmp_path / "init.h5").grid
    with open(pfile, "a") as f:
        f.write("path_mask: mask.h5\n")
    write_model(tmp_path / "mask.h5", homogeneous(grid, np.float64, mask=0.0))
    with pytest.raises(DataError, match="zero everywhere for every parameter"):
        build_from_config(pfile).workflow.check()
    # one parameter muted, the other kept: a legitimate mask
    write_model(tmp_path / "mask.h5", homogeneous(grid, np.float64, vp=0.0, rho=1.0))
    build_from_config(pfile).workflow.check()
    bad = np.ones(grid.shape)
    bad[3, 3] = np.nan
    write_model(tmp_path / "mask.h5", Model(grid, {"mask": bad}))
    with pytest.raises(DataError, match=r"mask variable 'mask' \(used for 'vp'\)"):
        build_from_config(pfile).workflow.check()


def test_kernel_and_gradient_figures_use_plot_clip(tmp_path, monkeypatch):
    """The figures' colour scale spanned the spikes at the sources (in water, the vp and
    rho panels looked empty); plot_clip saturates them."""
    from seisgrad import plot

    seen = {}

    def spy(name, real):
        def draw(*args, **kwargs):
            seen[name] = kwargs.get("clip")
            return real(*args, **kwargs)

        return draw

    monkeypatch.setattr(plot, "plot_kernel", spy("kernel", plot.plot_kernel))
    monkeypatch.setattr(plot, "plot_gradient", spy("gradient", plot.plot_gradient))
    pfile = small_setup(tmp_path, plot_figures=True, plot_clip=95.0)
    wf = build_from_config(pfile).workflow
    assert "plot_clip" in wf.task_inputs["evaluate_gradient_from_kernels"].params
    wf.run()
    assert seen == {"kernel": 95.0, "gradient": 95.0}
    assert (tmp_path / "output" / "figures" / "gradient.png").exists()


def _digest(path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


def test_previous_keeps_the_last_finished_run_and_nothing_else(tmp_path, run_cli):
    """path_output/previous: a second change after an unfinished rerun emptied it and
    kept only the unfinished run's misfit (the finished gradient was lost); files of the
    user's own in it were deleted; --restart and exports mixed old and new results; a
    figure 'seisgrad plot' made of the gradient stayed beside the next run's."""
    pfile = small_setup(tmp_path, smooth_h=10.0, export_kernels=True)
    out, prev = tmp_path / "output", tmp_path / "output" / "previous"
    prev.mkdir(parents=True)
    (prev / "notes.txt").write_text("mine")
    assert run_cli("submit", timeout=600).returncode == 0
    # a figure of the gradient made by hand beside it goes with it
    assert run_cli("plot", "gradient", "output/gradient.h5").returncode == 0
    files = ("gradient.h5", "gradient.png", "kernels_raw.h5", "kernels/s000.h5")
    a = {f: _digest(out / f) for f in files}
    data = yaml.safe_load(pfile.read_text())

    # a change, and a rerun stopped before the gradient: the finished set moves aside
    data.update(smooth_h=20.0, export_kernels=False)  # the switch off in the same edit
    pfile.write_text(yaml.safe_dump(data))
    res = run_cli("submit", "--stop-after", "postprocess_event_kernels", timeout=600)
    assert res.returncode == 0, res.stderr
    assert {f: _digest(prev / f) for f in a} == a
    assert not (out / "gradient.h5").exists() and not (out / "kernels").exists()
    assert not (out / "gradient.png").exists()
    assert (out / "kernels_raw.h5").exists() and (out / "misfit.json").exists()

    # another change before that run finished: its results go, the finished set stays
    data["smooth_h"] = 30.0
    pfile.write_text(yaml.safe_dump(data))
    res = run_cli("submit", "--stop-after", "run_adjoint_simulations", timeout=600)
    assert res.returncode == 0, res.stderr
    assert "results of the unfinished run" in res.stderr and "kernels_raw.h5" in res.stderr
    assert not (out / "kernels_raw.h5").exists()
    assert {f: _digest(prev / f) for f in a} == a
    assert (prev / "notes.txt").read_text() == "mine"

    # finish, then start over: the new finished set replaces the old one in previous
    assert run_cli("submit", timeout=600).returncode == 0
    b = _digest(out / "gradient.h5")
    assert b != a["gradient.h5"]
    res = run_cli("submit", "--restart", "--stop-after", "prepare_observed_data", timeout=600)
    assert res.returncode == 0, res.stderr
    assert _digest(prev / "gradient.h5") == b and (prev / "misfit.json").exists()
    assert not (prev / "kernels").exists()  # the old set's exported kernels are replaced
    assert not (out / "gradient.h5").exists() and not (out / "misfit.json").exists()
    assert (prev / "notes.txt").read_text() == "mine"


def test_an_unfinished_run_gives_previous_what_it_had_not_rewritten(tmp_path, run_cli):
    """A second change after an unfinished rerun removed the last finished run's
    kernels (never recomputed) as results of the unfinished run."""
    pfile = small_setup(tmp_path, export_kernels=True)
    out, prev = tmp_path / "output", tmp_path / "output" / "previous"
    assert run_cli("submit", timeout=600).returncode == 0
    kernels = _digest(out / "kernels_raw.h5")
    data = yaml.safe_load(pfile.read_text())
    data["plot_clip"] = 95.0  # reruns the gradient task only
    pfile.write_text(yaml.safe_dump(data))
    res = run_cli("submit", "--stop-after", "postprocess_event_kernels", timeout=600)
    assert res.returncode == 0, res.stderr
    assert (prev / "gradient.h5").exists() and not (prev / "kernels_raw.h5").exists()
    data["smooth_h"] = 20.0  # reruns the summing too: its file is still the first run's
    pfile.write_text(yaml.safe_dump(data))
    res = run_cli("submit", "--stop-after", "run_adjoint_simulations", timeout=600)
    assert res.returncode == 0, res.stderr
    assert _digest(prev / "kernels_raw.h5") == kernels
    assert (prev / "kernels" / "s000.h5").exists() and (prev / "gradient.h5").exists()


def test_parameters_added_by_an_upgrade_do_not_rerun_finished_work(tmp_path, run_cli):
    """A fingerprint recorded before smooth_edge and receivers.start_angle existed: read
    with their defaults, the finished work is kept (every simulation ran again, and the
    results were set aside, although the user changed nothing)."""
    small_setup(tmp_path, receivers={"kind": "ring", "n": 5, "radius": 150.0})
    assert run_cli("submit", timeout=600).returncode == 0
    state = tmp_path / "state" / "workflow.json"
    data = json.loads(state.read_text())
    fp = data["fingerprint"]
    del fp["smooth_edge"]
    del fp["receivers"]["start_angle"]
    state.write_text(json.dumps(data))
    res = run_cli("status")
    assert "parameters changed" not in res.stdout, res.stdout
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0, res.stderr
    assert "parameters changed" not in res.stderr and "moved to" not in res.stderr
    assert "task run_forward_simulations: done before, skipped" in res.stderr, res.stderr
    # post-processed kernels of that older version (m S(K) was computed afterwards: they
    # hold S(K), no kind attribute) are made again when only the last task reruns
    out = tmp_path / "output"
    raw = read_model(out / "kernels_raw.h5")
    write_model(tmp_path / "scratch" / "kernels" / "smoothed.h5", raw)
    data = yaml.safe_load((tmp_path / "parameters.yaml").read_text())
    data["plot_clip"] = 98.0
    (tmp_path / "parameters.yaml").write_text(yaml.safe_dump(data))
    res = run_cli("submit", timeout=600)
    assert res.returncode == 0 and "of an older seisgrad: made again" in res.stderr
    expected = pp.scale_by_model(raw, read_model(tmp_path / "init.h5"))
    grad = read_model(out / "gradient.h5")
    for n in ("vp", "rho"):
        np.testing.assert_allclose(grad[n], expected[n], rtol=1e-6)
    # a real change is still one
    data = yaml.safe_load((tmp_path / "parameters.yaml").read_text())
    data["smooth_edge"] = "normalize"
    (tmp_path / "parameters.yaml").write_text(yaml.safe_dump(data))
    res = run_cli("submit", timeout=600)
    assert "parameters changed: smooth_edge ('reflect' -> 'normalize')" in res.stderr


def test_check_warns_about_smoothing_lengths_out_of_scale(tmp_path):
    """smooth_h: 40000 (kilometres typed as metres, or the other way round) ran without a
    word: the gradient came out as its mean, or unsmoothed."""
    pfile = small_setup(tmp_path, smooth_h=4e4, smooth_v=2.0)  # a 410 m model, 10 m cells
    warnings = build_from_config(pfile).workflow.check()
    (h,) = [w for w in warnings if w.startswith("smooth_h")]
    assert "more than the model's size along x (410 m)" in h and "almost its mean" in h
    (v,) = [w for w in warnings if w.startswith("smooth_v")]
    assert "less than 0.3 grid spacings along z (10 m)" in v
    pfile = small_setup(tmp_path, smooth_h=40.0, smooth_v=20.0)
    assert not [w for w in build_from_config(pfile).workflow.check() if "smooth_" in w]
