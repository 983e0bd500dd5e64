"""A CPU-bound toy workflow for the parallel benchmark's ``--toy`` mode and its test.

``burn`` per-source work is a fixed amount of single-threaded numpy arithmetic (no
sleeping), so a parallel speed-up is a real one; each source writes a deterministic
"kernel" and ``sum_kernels`` adds them in event order to ``output/gradient.npy``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seisgrad.config import param
from seisgrad.workflow.base import TaskContext, Workflow, WorkflowParameters, per_source


@dataclass
class BurnWorkflowParameters(WorkflowParameters):
    burn: int = param(200, "iterations of numpy work per source", low=1)
    burn_size: int = param(200_000, "array size of the numpy work", low=1)


class BurnWorkflow(Workflow):
    """Per-source CPU work and a fixed-order sum."""

    Parameters = BurnWorkflowParameters

    @property
    def task_list(self) -> list[Callable[..., None]]:
        return [self.simulate, self.sum_kernels]

    @per_source
    def simulate(self, ctx: TaskContext) -> None:
        """Deterministic CPU-bound 'simulation' of one source."""
        rng = np.random.default_rng(ctx.index)
        x = rng.standard_normal(self.params.burn_size)
        for _ in range(self.params.burn):
            x = np.sin(x) * 1.0001 + 1e-3
        out = self.path.scratch / "kernels" / f"{ctx.source}.npy"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.npy")
        np.save(tmp, x)
        tmp.replace(out)

    def sum_kernels(self) -> None:
        """Sum the event kernels in event order."""
        total = np.zeros(self.params.burn_size)
        for e in self.events:
            total += np.load(self.path.scratch / "kernels" / f"{e.name}.npy")
        self.path.output.mkdir(parents=True, exist_ok=True)
        tmp = self.path.output / "gradient.tmp.npy"
        np.save(tmp, total)
        tmp.replace(self.path.output / "gradient.npy")
