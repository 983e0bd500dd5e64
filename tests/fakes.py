"""Test doubles: a cheap workflow, solver and preprocess for testing the machinery.

Used through ``module:Class`` names in parameter files written by the tests, e.g.
``workflow: tests.fakes:ToyWorkflow`` (the repository root must be importable, which
``conftest.py`` arranges for subprocesses through ``PYTHONPATH``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seisgrad.config import param
from seisgrad.errors import DataError, SolverError
from seisgrad.model import Model
from seisgrad.preprocess.base import MisfitResult, Preprocess
from seisgrad.solver.acquisition import Event, Receiver
from seisgrad.solver.base import Solver
from seisgrad.workflow.base import (
    ACQUISITION,
    TaskContext,
    TaskInputs,
    Workflow,
    WorkflowParameters,
    per_source,
)
from seisgrad.workflow.state import write_json_atomic


@dataclass
class ToySolverParameters:
    toy_scale: float = param(1.0, "scale of the toy 'simulation'")


class ToySolver(Solver):
    """Not a wave solver: returns deterministic numbers for testing workflows."""

    Parameters = ToySolverParameters

    @property
    def model_parameters(self) -> tuple[str, ...]:
        return ()

    @property
    def kernel_parameters(self) -> tuple[str, ...]:
        return ()

    def forward(self, model: Model, event: Event, receivers: Sequence[Receiver], *, save=None):  # type: ignore[override]
        raise DataError("the toy solver has no forward simulation")

    def adjoint(self, model, event, receivers, adjoint_sources, *, saved=None):  # type: ignore[override]
        raise DataError("the toy solver has no adjoint simulation")

    def value(self, x: float) -> float:
        """The toy result of the event whose first source is at ``x``."""
        return self.params.toy_scale * float(np.sin(x + 1.0))


@dataclass
class ToyPreprocessParameters:
    toy_offset: float = param(0.0, "offset added to toy misfits")


class ToyPreprocess(Preprocess):
    Parameters = ToyPreprocessParameters

    def read_observed(self, path, event, synthetic):  # type: ignore[override]
        raise DataError("toy")

    def evaluate(self, observed, synthetic, event, receivers) -> MisfitResult:  # type: ignore[override]
        raise DataError("toy")

    def write_traces(self, stream, path: Path) -> Path:  # type: ignore[override]
        raise DataError("toy")

    def read_traces(self, path: Path):  # type: ignore[override]
        raise DataError("toy")


@dataclass
class ToyWorkflowParameters(WorkflowParameters):
    sleep: float = param(0.0, "seconds each per-source task sleeps", affects_results=False)
    slow_sources: list[str] = param(
        [], "sources that sleep 'slow_sleep' seconds", affects_results=False
    )
    slow_sleep: float = param(30.0, "sleep of the slow sources", affects_results=False)
    fail_sources: list[str] = param(
        [], "sources whose per-source task raises", affects_results=False
    )
    fail_error: str = param(
        "RuntimeError",
        "what the failing sources raise",
        choices=("RuntimeError", "SolverError", "SystemExit", "os._exit"),
        affects_results=False,
    )
    fail_reduce: bool = param(False, "the reduction raises a DataError", affects_results=False)
    fail_check_rank: int | None = param(
        None,
        "check() raises a ValueError on this MPI rank only (PMI_RANK: mpich's launcher)",
        affects_results=False,
    )


class ToyWorkflow(Workflow):
    """Two per-source tasks and a reduction, with files as outputs."""

    Parameters = ToyWorkflowParameters

    @property
    def task_list(self) -> list[Callable[..., None]]:
        return [self.prepare, self.simulate, self.square, self.reduce]

    def check(self) -> list[str]:
        rank = self.params.fail_check_rank
        if rank is not None and os.environ.get("PMI_RANK") == str(rank):
            raise ValueError(f"toy check failure on rank {rank}")
        return super().check()

    def prepare(self) -> None:
        """Make the scratch folder."""
        self.path.scratch.mkdir(parents=True, exist_ok=True)

    def _count(self, ctx: TaskContext) -> None:
        runs = self.path.scratch / "runs.log"
        with open(runs, "a") as f:
            f.write(f"{ctx.task} {ctx.source}\n")

    @per_source
    def simulate(self, ctx: TaskContext) -> None:
        """Per-source 'simulation'."""
        self._count(ctx)
        if ctx.source in self.params.slow_sources:
            time.sleep(self.params.slow_sleep)
        elif self.params.sleep:
            time.sleep(self.params.sleep)
        if ctx.source in self.params.fail_sources:
            if self.params.fail_error == "SystemExit":  # user code that calls sys.exit
                raise SystemExit(4)
            if self.params.fail_error == "os._exit":  # the process ends (array jobs only)
                os._exit(3)
            error = SolverError if self.params.fail_error == "SolverError" else RuntimeError
            raise error(f"toy failure in {ctx.source}")
        # from the event itself, not its position: per-source results are kept by event
        # name when the events change (see TaskContext)
        value = self.solver.value(self.events[ctx.index].sources[0].x)
        write_json_atomic(self.path.scratch / f"{ctx.source}.json", {"value": value})

    @per_source
    def square(self, ctx: TaskContext) -> None:
        """Per-source post-processing."""
        self._count(ctx)
        value = json.loads((self.path.scratch / f"{ctx.source}.json").read_text())["value"]
        write_json_atomic(self.path.scratch / f"{ctx.source}.sq.json", {"value": value**2})

    def reduce(self) -> None:
        """Sum over sources (fixed order) into the output."""
        if self.params.fail_reduce:
            raise DataError("toy reduction failed")
        total = sum(
            json.loads((self.path.scratch / f"{e.name}.sq.json").read_text())["value"]
            for e in self.events
        )
        write_json_atomic(self.path.output / "total.json", {"total": total})


def toy_parameter_text(n_events: int = 3, **extra: object) -> str:
    """A parameter file for the toy components."""
    import yaml

    events = [
        {"name": f"s{i:03d}", "sources": [{"x": float(i), "z": 0.0}]} for i in range(n_events)
    ]
    data: dict[str, object] = {
        "workflow": "tests.fakes:ToyWorkflow",
        "system": "workstation",
        "solver": "tests.fakes:ToySolver",
        "preprocess": "tests.fakes:ToyPreprocess",
        "events": events,
        "receivers": {"kind": "points", "points": [{"station": "R0", "x": 0.0, "z": 0.0}]},
    }
    data.update(extra)
    return yaml.safe_dump(data, sort_keys=False)


@dataclass
class OtherToySolverParameters:
    other_knob: int = param(3, "a knob only this solver has", low=0)


class OtherToySolver(ToySolver):
    """A second toy solver with different parameters (module-swap tests)."""

    Parameters = OtherToySolverParameters  # type: ignore[assignment]

    def value(self, x: float) -> float:
        return float(self.params.other_knob * (x + 1.0))


@dataclass
class DeclaredToyWorkflowParameters(ToyWorkflowParameters):
    reduce_scale: float = param(1.0, "factor of the reduced total (read by 'reduce' only)")
    square_offset: float = param(0.0, "added to each square (read by 'square' only)")


class DeclaredToyWorkflow(ToyWorkflow):
    """:class:`ToyWorkflow` that declares what each task depends on, and whose reduction
    fails on a negative total."""

    Parameters = DeclaredToyWorkflowParameters

    @property
    def task_inputs(self) -> dict[str, TaskInputs]:
        return {
            "prepare": TaskInputs(),
            "simulate": TaskInputs({"solver", *ACQUISITION}, {"prepare"}),
            "square": TaskInputs({"square_offset"}, {"simulate"}),
            "reduce": TaskInputs({"reduce_scale"}, {"square"}),
        }

    def task_outputs(self, task: str, source: str | None = None) -> list[Path]:
        files = {"simulate": f"{source}.json", "square": f"{source}.sq.json"}
        if task in files:
            return [self.path.scratch / files[task]]
        return [self.path.output / "total.json"] if task == "reduce" else []

    @per_source
    def square(self, ctx: TaskContext) -> None:
        """Per-source post-processing (plus ``square_offset``)."""
        self._count(ctx)
        value = json.loads((self.path.scratch / f"{ctx.source}.json").read_text())["value"]
        out = {"value": value**2 + self.params.square_offset}
        write_json_atomic(self.path.scratch / f"{ctx.source}.sq.json", out)

    def reduce(self) -> None:
        """Sum over sources times ``reduce_scale``; a negative total fails."""
        total = self.params.reduce_scale * sum(
            json.loads((self.path.scratch / f"{e.name}.sq.json").read_text())["value"]
            for e in self.events
        )
        if total < 0:
            raise DataError(f"the toy total is negative ({total:.3g})")
        write_json_atomic(self.path.output / "total.json", {"total": total})
