"""Several time steps per sweep (``SERIAL_FUSE``) give the same results, to the bit.

A serial forward run advances ``SERIAL_FUSE`` steps per sweep over the rows, each step
lagging the previous one by a few rows (see the comment above the time loops of
``fd2d.acoustic`` and ``fd2d.elastic_kernels``). Sources act on each block of rows as it
is swept and receivers are read per block and per step, so a mistake in that schedule
changes the traces or the per-step data of the gradient: these tests compare them,
bit for bit, with one step per sweep.
"""

from __future__ import annotations

import numpy as np
import pytest

from seisgrad.solver.acquisition import Event, PointSource, SourceTimeFunction
from seisgrad.solver.fd2d import acoustic, elastic
from seisgrad.solver.fd2d.common import HALO, sweep_rows

from .setups import heterogeneous_model, off_grid_receivers, small_solver, two_source_event

MODULES = {"acoustic": acoustic, "elastic": elastic}


def _event(model, materials: str) -> Event:
    """The two sources of ``two_source_event`` and, for elastic, a moment tensor, in
    different blocks of rows (a block is 5 rows in these tests)."""
    ev = two_source_event(model, elastic=materials == "elastic")
    if materials == "elastic":
        xmin, xmax, zmin, zmax = model.grid.extent
        mt = PointSource(
            x=xmin + 0.83 * (xmax - xmin), z=zmin + 0.4 * (zmax - zmin), kind="moment_tensor",
            mxx=2e5, mzz=-1e5, mxz=3e5, stf=SourceTimeFunction(f0=16.0),
        )  # fmt: skip
        ev = Event(name=ev.name, sources=[*ev.sources, mt])
    return ev


def _run(monkeypatch, materials: str, fuse: int, free_surface: bool, n0: int, n1: int):
    """Records and per-step data of steps ``n0 .. n1 - 1`` (after ``n0`` plain steps)."""
    mod = MODULES[materials]
    monkeypatch.setattr(mod, "SERIAL_BLOCK", 5)
    monkeypatch.setattr(mod, "SERIAL_FUSE", fuse)
    model = heterogeneous_model(nx=44, elastic=materials == "elastic")
    solver = small_solver(model, materials=materials, nt=n1, free_surface=free_surface)
    prop = solver.propagator(
        model, _event(model, materials), off_grid_receivers(model, surface=free_surface)
    )
    state = prop.new_state()
    raw = prop.new_raw()
    prop.forward_steps(state, 0, n0, raw, None)
    store = prop.new_store(n1 - n0)
    prop.forward_steps(state, n0, n1, raw, store)
    return raw, store, state


@pytest.mark.parametrize("materials", ["acoustic", "elastic"])
@pytest.mark.parametrize("free_surface", [False, True])
@pytest.mark.parametrize("fuse", [2, 3, 16])
def test_fused_sweeps_match_one_step_per_sweep(monkeypatch, materials, free_surface, fuse):
    # 23 steps then 17 more: odd counts, so the last sweep of each call has fewer steps
    ref = _run(monkeypatch, materials, 1, free_surface, 23, 40)
    got = _run(monkeypatch, materials, fuse, free_surface, 23, 40)
    raw_ref, store_ref, state_ref = ref
    raw, store, state = got
    assert np.abs(raw_ref).max() > 0  # the sources reached the receivers
    assert np.abs(store_ref).max() > 0
    np.testing.assert_array_equal(raw, raw_ref)
    np.testing.assert_array_equal(store, store_ref)
    for k in state_ref:
        np.testing.assert_array_equal(state[k], state_ref[k], err_msg=k)


@pytest.mark.parametrize("materials", ["acoustic", "elastic"])
def test_serial_runs_fuse_steps(materials):
    """The default serial run does fuse steps (else the tests above test nothing)."""
    model = heterogeneous_model(elastic=materials == "elastic")
    prop = small_solver(model, materials=materials).propagator(
        model, two_source_event(model, elastic=materials == "elastic"), off_grid_receivers(model)
    )
    assert prop._fuse() >= 2
    par = small_solver(model, materials=materials, threads=2).propagator(
        model, two_source_event(model, elastic=materials == "elastic"), off_grid_receivers(model)
    )
    assert par._fuse() == 1


@pytest.mark.parametrize("nxe", [HALO + 1, 20, 37])
@pytest.mark.parametrize("blk", [1, 5, 16, 100])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_sweep_rows_update_every_row_once_after_what_it_reads(nxe, blk, steps):
    """The schedule of a sweep: each sub-step updates every row of ``[HALO, nxe)`` once,
    after the sub-step before it has finished every row within a stencil's reach."""
    when: dict[tuple[int, int], int] = {}  # (sub-step, row) -> order
    r = HALO
    while r < nxe + (2 * steps - 1) * HALO:
        for k in range(steps):
            v0, v1, s0, s1 = sweep_rows.py_func(r, blk, k, nxe)
            for sub, (a, b) in ((2 * k, (v0, v1)), (2 * k + 1, (s0, s1))):
                for i in range(a, b):
                    assert (sub, i) not in when
                    when[(sub, i)] = len(when)
        r += blk
    rows = range(HALO, nxe)
    assert set(when) == {(sub, i) for sub in range(2 * steps) for i in rows}
    for sub in range(1, 2 * steps):
        for i in rows:
            reach = [j for j in range(i - HALO, i + HALO + 1) if HALO <= j < nxe]
            assert all(when[(sub - 1, j)] < when[(sub, i)] for j in reach)


@pytest.mark.parametrize("materials", ["acoustic", "elastic"])
@pytest.mark.parametrize("free_surface", [False, True])
def test_forward_with_and_without_per_step_data_agree(materials, free_surface):
    """A plain forward (which updates two rows per kernel call where it can) and the
    recomputation that keeps the per-step data (one row per call) reach the same state
    and records, bit for bit: the gradient replays exactly the forward it adjoins."""
    model = heterogeneous_model(nx=44, elastic=materials == "elastic")
    solver = small_solver(model, materials=materials, nt=40, free_surface=free_surface)
    prop = solver.propagator(
        model, _event(model, materials), off_grid_receivers(model, surface=free_surface)
    )
    out = []
    for keep in (False, True):
        state, raw = prop.new_state(), prop.new_raw()
        prop.forward_steps(state, 0, 40, raw, prop.new_store(40) if keep else None)
        out.append((state, raw))
    (s0, r0), (s1, r1) = out
    assert np.abs(r0).max() > 0
    np.testing.assert_array_equal(r0, r1)
    for k in s0:
        np.testing.assert_array_equal(s0[k], s1[k], err_msg=k)


def _gradient(monkeypatch, materials: str, fuse: int, free_surface: bool, checkpointing: str):
    """Kernels of a gradient with ``fuse`` steps per sweep (elastic: the forward, the
    recomputation and the adjoint; acoustic: the adjoint), 5-row blocks."""
    mod = MODULES[materials]
    monkeypatch.setattr(mod, "SERIAL_BLOCK", 5)
    monkeypatch.setattr(
        mod, "SERIAL_FUSE" if materials == "elastic" else "SERIAL_ADJOINT_FUSE", fuse
    )
    model = heterogeneous_model(nx=44, elastic=materials == "elastic")
    solver = small_solver(
        model, materials=materials, nt=47, free_surface=free_surface,
        checkpointing=checkpointing,
    )  # fmt: skip
    prop = solver.propagator(
        model, _event(model, materials), off_grid_receivers(model, surface=free_surface)
    )
    data = prop.forward()
    rng = np.random.default_rng(7)
    adjoint = {c: rng.standard_normal(d.shape) for c, d in data.items()}
    return prop.gradient(adjoint)


@pytest.mark.parametrize("materials", ["acoustic", "elastic"])
@pytest.mark.parametrize("free_surface", [False, True])
@pytest.mark.parametrize("checkpointing", ["checkpoint", "store"])
@pytest.mark.parametrize("fuse", [3, 16])
def test_fused_adjoint_sweeps_give_the_same_kernels(
    monkeypatch, materials, free_surface, checkpointing, fuse
):
    """The adjoint sweeps several steps too (each lagging the one before, the x strips'
    input change of the pressure or stress adjoint made per block, receivers and forces
    per block); its kernels equal those of one step per sweep to the bit (47 steps: the
    last sweep of a segment has fewer steps)."""
    ref = _gradient(monkeypatch, materials, 1, free_surface, checkpointing)
    got = _gradient(monkeypatch, materials, fuse, free_surface, checkpointing)
    assert all(np.abs(ref[k]).max() > 0 for k in ref)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
