"""Correctness suite every ``fd2d`` configuration must pass, for every material.

Each case checks, in float64 on a small heterogeneous model with off-grid sources and
receivers: the dot-product test of the time loop and its adjoint, the Taylor test of the
gradient (``Solver.adjoint`` against ``Solver.forward``), and that checkpointing and
store-everything give the same gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

from seisgrad.errors import SolverError
from seisgrad.solver.fd2d.verify import dot_product_test, taylor_test, with_parameters

from .setups import (
    assert_saved_not_used,
    heterogeneous_model,
    off_grid_receivers,
    small_solver,
    two_source_event,
)

MATERIALS = ["acoustic", "elastic"]

CONFIGS = {
    "order8-pml": {"order": 8},
    "order4-free-surface": {"order": 4, "free_surface": True},
    "order2-two-sides": {"order": 2, "pml_sides": ["left", "bottom"]},
    "lame-free-surface": {"parametrization": "lame", "free_surface": True},
    "bulk-store": {"parametrization": "bulk", "checkpointing": "store"},
}


def _case(materials: str, config: str):
    elastic = materials == "elastic"
    model = heterogeneous_model(elastic=elastic)
    changes = dict(CONFIGS[config])
    solver = small_solver(model, materials=materials, nt=70, **changes)
    if elastic:
        solver = with_parameters(solver, record=["VX", "VZ", "P"])
    names = solver.kernel_parameters
    if not set(names) <= set(model):
        model = _convert(model, names)
    recs = off_grid_receivers(model, surface=bool(changes.get("free_surface")))
    return solver, model, two_source_event(model, elastic=elastic), recs


def _convert(model, names):
    """The model in the parameters of the chosen parametrization."""
    vp, rho = model["vp"], model["rho"]
    vs = model["vs"] if "vs" in model else None
    values = {"rho": rho}
    if vs is not None:
        mu = rho * vs**2
        if "mu" in names:
            values["mu"] = mu
        if "lambda" in names:
            values["lambda"] = rho * vp**2 - 2 * mu
        if "kappa" in names:
            values["kappa"] = rho * vp**2 - mu
    else:
        values["kappa"] = rho * vp**2
    return model.__class__(model.grid, values)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("materials", MATERIALS)
def test_dot_product(materials: str, config: str) -> None:
    solver, model, ev, recs = _case(materials, config)
    res = dot_product_test(solver, model, ev, recs, nsteps=40, seed=3)
    assert abs(res.lhs) > 0
    assert res.relative_error < 1e-10, res


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("materials", MATERIALS)
def test_taylor(materials: str, config: str) -> None:
    solver, model, ev, recs = _case(materials, config)
    res = taylor_test(solver, model, ev, recs, hs=(1.0, 0.1, 0.01, 1e-3), seed=4)
    assert res.best_relative_error < 1e-6, res.relative_errors
    orders = res.convergence_orders
    assert orders and 1.8 < orders[0] < 2.2, orders


@pytest.mark.parametrize("materials", MATERIALS)
def test_checkpoint_equals_store(materials: str) -> None:
    solver, model, ev, recs = _case(materials, "order8-pml")
    syn = solver.forward(model, ev, recs)
    store = with_parameters(solver, checkpointing="store").adjoint(model, ev, recs, syn)
    ckpt = with_parameters(solver, checkpointing="checkpoint", checkpoints=6).adjoint(
        model, ev, recs, syn
    )
    assert set(store) == set(solver.kernel_parameters)
    for name in store:
        scale = float(np.abs(store[name]).max())
        assert scale > 0
        np.testing.assert_allclose(ckpt[name], store[name], rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("config", ["order8-pml", "order4-free-surface"])
@pytest.mark.parametrize("materials", MATERIALS)
def test_saved_forward_gives_the_same_kernels_bit_for_bit(
    materials: str, config: str, tmp_path, caplog
) -> None:
    solver, model, ev, recs = _case(materials, config)
    solver = with_parameters(solver, checkpoints=5)
    path = tmp_path / "fwd.snapshots"
    syn = solver.forward(model, ev, recs, save=path)
    plain = solver.forward(model, ev, recs)
    for a, b in zip(syn, plain):  # saving does not change the synthetics, to the bit
        # (although the loop is split at the snapshots' steps)
        np.testing.assert_array_equal(a.data, b.data)
    fresh = solver.adjoint(model, ev, recs, syn)
    caplog.clear()  # (the set-up warnings, logged by the first simulation)
    with caplog.at_level("INFO", logger="seisgrad"):
        reused = solver.adjoint(model, ev, recs, syn, saved=path)
    assert not caplog.records  # the snapshots were used, nothing to say
    for name in fresh:
        assert np.any(fresh[name])
        np.testing.assert_array_equal(reused[name], fresh[name])

    # snapshots of another simulation (another model) are not used: same kernels as
    # a fresh run in that model, and a warning
    other = model.__class__(model.grid, {k: v * 1.01 for k, v in model.items()})
    assert_saved_not_used(solver, other, ev, recs, syn, path, caplog, "another simulation")
    # nor a damaged file, nor another checkpoint count
    path.write_bytes(b"not a zip file")
    assert_saved_not_used(solver, model, ev, recs, syn, path, caplog, "unreadable")
    # nor one damaged inside, its size unchanged (a gradient of 1e287 before the digest)
    solver.forward(model, ev, recs, save=path)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 800] = bytes(b ^ 0xFF for b in data[mid : mid + 800])
    path.write_bytes(bytes(data))
    assert_saved_not_used(solver, model, ev, recs, syn, path, caplog, "the file is damaged")
    solver.forward(model, ev, recs, save=path)
    caplog.clear()
    with caplog.at_level("WARNING", logger="seisgrad"):
        with_parameters(solver, checkpoints=4).adjoint(model, ev, recs, syn, saved=path)
    assert "another simulation" in caplog.text


def test_store_mode_saves_nothing_and_ignores_saved(tmp_path) -> None:
    solver, model, ev, recs = _case("acoustic", "bulk-store")
    path = tmp_path / "fwd.snapshots"
    syn = solver.forward(model, ev, recs, save=path)
    assert not path.exists()
    a = solver.adjoint(model, ev, recs, syn, saved=path)
    b = solver.adjoint(model, ev, recs, syn)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_simulation_key_is_the_same_in_another_process() -> None:
    """The forward task and the adjoint task may run in different processes (MPI ranks,
    Slurm jobs): the digest that guards saved snapshots must not depend on the process."""
    import subprocess
    import sys

    code = (
        "from tests.solver.test_solver_suite import _case\n"
        "s, m, ev, recs = _case('elastic', 'order8-pml')\n"
        "print(s.propagator(m, ev, recs).simulation_key())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()[-1]
    s, m, ev, recs = _case("elastic", "order8-pml")
    assert out == s.propagator(m, ev, recs).simulation_key()
    s2, *_ = _case("acoustic", "order8-pml")
    assert s2.propagator(*_case("acoustic", "order8-pml")[1:]).simulation_key() != out


def test_a_forward_wavefield_that_cannot_be_saved_is_a_warning(tmp_path, caplog) -> None:
    solver, model, ev, recs = _case("acoustic", "order8-pml")
    blocked = tmp_path / "file"
    blocked.write_text("a file where a folder should be")
    with caplog.at_level("WARNING", logger="seisgrad"):
        syn = solver.forward(model, ev, recs, save=blocked / "sub" / "fwd.snapshots")
    assert "could not save the forward wavefield" in caplog.text
    assert len(syn) > 0 and not list(tmp_path.glob("**/*.snapshots"))


def test_save_never_overwrites_a_file_that_is_not_a_snapshot_file(tmp_path) -> None:
    """forward(save=PATH) replaced whatever PATH was (a parameter file, in a sweep)."""
    from seisgrad.errors import DataError

    solver, model, ev, recs = _case("acoustic", "order8-pml")
    victim = tmp_path / "parameters.yaml"
    victim.write_text("nt: 100\n")
    with pytest.raises(DataError, match="is not a seisgrad snapshot file; it is not overwritten"):
        solver.forward(model, ev, recs, save=victim)
    assert victim.read_text() == "nt: 100\n"
    with pytest.raises(DataError, match="it is a folder"):
        solver.forward(model, ev, recs, save=tmp_path)
    path = tmp_path / "fwd.snapshots"
    solver.forward(model, ev, recs, save=path)
    solver.forward(model, ev, recs, save=path)  # an earlier snapshot file is replaced
    assert path.exists()


def test_snapshot_file_holds_the_states_at_the_segment_starts(tmp_path) -> None:
    """``forward(snapshot_sink=SnapshotFile(...))`` writes, while it runs, the complete
    states at the starts of the checkpointing segments; ``load_snapshots`` reads them
    back bit for bit, and the synthetics are those of a plain forward."""
    from seisgrad.solver.fd2d.checkpoint import segment_starts
    from seisgrad.solver.fd2d.propagator import SnapshotFile

    solver, model, ev, recs = _case("elastic", "order8-pml")
    prop = with_parameters(solver, checkpoints=5).propagator(model, ev, recs)
    path = tmp_path / "fwd.snapshots"
    with SnapshotFile(prop, path) as sink:
        streamed = prop.forward(snapshot_sink=sink)
    assert sink.error is None and sink.written == 5
    assert 1 <= sink._buffers <= SnapshotFile.POOL  # copies into a bounded set of buffers
    assert [p.name for p in tmp_path.iterdir()] == ["fwd.snapshots"]
    plain = prop.forward()
    for c in plain:  # the loop split at the snapshots' steps: the same records, to the bit
        np.testing.assert_array_equal(streamed[c], plain[c])
    loaded = prop.load_snapshots(path)
    assert loaded is not None and len(loaded) == 5
    state, raw, n = prop.new_state(), prop.new_raw(), 0
    for start, snap in zip(segment_starts(prop.nt, 5), loaded):
        prop.forward_steps(state, n, start, raw, None)
        n = start
        want = prop.snapshot(state)
        assert len(snap) == len(want)
        for a, b in zip(snap, want):
            np.testing.assert_array_equal(a, b)
    assert any(np.any(a) for a in loaded[-1])


def test_a_forward_that_fails_leaves_no_snapshot_file(tmp_path) -> None:
    """A simulation that stops half-way (here: its progress callback raises) leaves
    neither the snapshot file nor its temporary behind."""
    from seisgrad.solver.fd2d.propagator import SnapshotFile

    solver, model, ev, recs = _case("acoustic", "order8-pml")
    prop = with_parameters(solver, checkpoints=5).propagator(model, ev, recs)

    def stop(n: int) -> None:
        if n > prop.nt // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with SnapshotFile(prop, tmp_path / "fwd.snapshots") as sink:
            prop.forward(progress=stop, snapshot_sink=sink)
    assert 0 < sink.written < 5
    assert not list(tmp_path.iterdir())


def test_a_disk_that_fills_during_the_forward_is_a_warning(tmp_path, caplog, monkeypatch) -> None:
    """A write error half-way (here: every write goes to /dev/full, ENOSPC) stops the
    saving, not the simulation, and leaves no file behind."""
    import builtins

    from seisgrad.solver.fd2d import propagator

    monkeypatch.setattr(
        propagator, "open", lambda path, mode: builtins.open("/dev/full", mode), raising=False
    )
    solver, model, ev, recs = _case("acoustic", "order8-pml")
    path = tmp_path / "fwd.snapshots"
    with caplog.at_level("WARNING", logger="seisgrad"):
        syn = solver.forward(model, ev, recs, save=path)
    assert "could not save the forward wavefield" in caplog.text
    assert "No space left" in caplog.text
    assert not list(tmp_path.iterdir())  # neither the file nor its temporary
    for a, b in zip(syn, solver.forward(model, ev, recs)):
        np.testing.assert_array_equal(a.data, b.data)


def test_no_forward_wavefield_is_saved_where_it_would_fill_the_disk(
    tmp_path, caplog, monkeypatch
) -> None:
    import shutil

    from seisgrad.solver.fd2d import solver as fd2d_solver

    solver, model, ev, recs = _case("acoustic", "order8-pml")
    need = solver.propagator(model, ev, recs).snapshot_file_bytes()
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        fd2d_solver.shutil, "disk_usage", lambda p: usage._replace(free=int(1.5 * need))
    )
    path = tmp_path / "new" / "fwd.snapshots"  # the folder does not exist yet
    with caplog.at_level("WARNING", logger="seisgrad"):
        solver.forward(model, ev, recs, save=path)
    assert "not saving the forward wavefield" in caplog.text and not path.exists()
    monkeypatch.setattr(
        fd2d_solver.shutil, "disk_usage", lambda p: usage._replace(free=int(2.5 * need))
    )
    solver.forward(model, ev, recs, save=path)
    assert path.stat().st_size >= need


@pytest.mark.parametrize("materials", MATERIALS)
def test_grid_arrays_are_aligned_and_row_padding_stays_zero(materials) -> None:
    """Every array the time loops sweep starts each row's first computed node on a
    cache line (the loops' vector loads then never span two lines), and the columns
    that pad the rows to whole cache lines are never written."""
    from seisgrad.solver.fd2d.common import ALIGN_BYTES, HALO, ROW_MULTIPLE

    solver, model, ev, recs = _case(materials, "order4-free-surface")
    prop = solver.propagator(model, ev, recs)
    nrows, ncols = prop.layout.shape
    assert ncols % ROW_MULTIPLE == 0 and ncols >= prop.layout.NZ + 2 * HALO
    pad = np.s_[:, prop.layout.NZ + 2 * HALO :]
    state, raw = prop.new_state(), prop.new_raw()
    store = prop.new_store(prop.nt)
    prop.forward_steps(state, 0, prop.nt, raw, store)
    adj = prop.new_adjoint()
    prop.adjoint_steps(adj, prop.nt, 0, store, prop.traces_to_raw_adjoint(prop.raw_to_traces(raw)))
    if materials == "elastic":
        coefs = prop.mats
    else:
        coefs = {"k": prop.kdt, "bx": prop.bxdt, "bz": prop.bzdt}
    arrays = {**state, **adj, **coefs}
    assert len(arrays) >= 15
    for name, a in arrays.items():
        assert (a.ctypes.data + HALO * a.itemsize) % ALIGN_BYTES == 0, name
        assert a.shape[-1] == ncols, name
        if a.shape == prop.layout.shape:
            assert not a[pad].any(), name
    assert (store.ctypes.data + HALO * store.itemsize) % ALIGN_BYTES == 0
    assert store[0].size % ROW_MULTIPLE == 0
    # the runs did something (so the zero padding is not trivially zero)
    assert np.abs(state["vx"]).max() > 0
    assert sum(np.abs(kern).max() > 0 for kern in prop.kernels(adj).values()) == len(
        prop.kernel_names
    )


def test_a_writer_that_dies_never_hangs_the_forward(tmp_path) -> None:
    """Any exception in the writer thread (here a failing digest) stopped it silently;
    the forward then blocked for ever on the full queue."""
    import threading

    from seisgrad.solver.fd2d.propagator import SnapshotFile

    solver, model, ev, recs = _case("acoustic", "order8-pml")
    prop = with_parameters(solver, checkpoints=8).propagator(model, ev, recs)

    class Broken:
        def update(self, data) -> None:
            raise ValueError("broken digest")

    out: dict = {}

    def run() -> None:
        with SnapshotFile(prop, tmp_path / "fwd.snapshots") as sink:
            sink._digest = Broken()
            out["syn"] = prop.forward(snapshot_sink=sink)
        out["sink"] = sink

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout=120)
    assert not t.is_alive(), "the forward hung on a dead snapshot writer"
    assert "broken digest" in str(out["sink"].error)
    assert len(out["syn"]) > 0 and not list(tmp_path.iterdir())


def test_no_memory_for_the_snapshot_writer_is_a_warning(tmp_path, caplog, monkeypatch) -> None:
    """The writer's buffers (two snapshots) must fit in half the available memory, as
    the file must fit in half the free disk: saving is an optimisation."""
    from seisgrad.solver.fd2d import propagator

    solver, model, ev, recs = _case("acoustic", "order8-pml")
    monkeypatch.setattr(propagator, "available_memory", lambda: 2**30)
    monkeypatch.setattr(propagator.SnapshotFile, "POOL", 10**6)  # a huge writer
    with caplog.at_level("WARNING", logger="seisgrad"):
        syn = solver.forward(model, ev, recs, save=tmp_path / "fwd.snapshots")
    assert "its writer needs" in caplog.text and "of memory" in caplog.text
    assert len(syn) > 0 and not list(tmp_path.iterdir())


@pytest.mark.parametrize("mode", ["store", "checkpoint"])
def test_a_gradient_that_cannot_fit_in_memory_is_refused_before_it_runs(
    tmp_path, monkeypatch, mode
) -> None:
    """``checkpointing: store`` over a long run (or a huge ``checkpoints``) failed with a
    bare numpy ``MemoryError`` after the whole forward pass; it is now refused up front,
    with the remedy, also when the snapshots come from a saved forward run."""
    from seisgrad.solver.fd2d import propagator

    solver, model, ev, recs = _case("acoustic", "order8-pml")
    changes = {"checkpointing": "store"} if mode == "store" else {"checkpoints": 60}
    solver = with_parameters(solver, **changes)
    syn = solver.forward(model, ev, recs, save=tmp_path / "fwd.snapshots")
    prop = solver.propagator(model, ev, recs)
    need = prop.memory_estimate()
    monkeypatch.setattr(propagator, "available_memory", lambda: need - 1)
    ran = []
    monkeypatch.setattr(propagator, "gradient_sweep", lambda *a, **k: ran.append(1))
    with pytest.raises(SolverError, match="the gradient needs") as err:
        solver.adjoint(model, ev, recs, syn)
    assert ("use checkpointing: checkpoint" in str(err.value)) == (mode == "store")
    assert ("leave checkpoints at null" in str(err.value)) == (mode == "checkpoint")
    assert not ran
    if mode == "checkpoint":  # saved snapshots: only one segment of per-step data needed
        solver.adjoint(model, ev, recs, syn, saved=tmp_path / "fwd.snapshots")
        assert ran
