"""``system: workstation``: tasks run one after another in the current process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seisgrad.config import Schema, param
from seisgrad.logs import FILES_ONLY, is_terminal, logger
from seisgrad.system.base import System

if TYPE_CHECKING:
    from seisgrad.workflow.base import Workflow

__all__ = ["Workstation"]


@dataclass
class WorkstationParameters(Schema):
    """Parameters of the workstation system."""

    stop_on_error: bool = param(
        False,
        "stop a per-source task at its first failed source (default: run the others)",
        affects_results=False,
    )
    background_compile: bool = param(
        True,
        "compile solver code that later tasks need (the adjoint) in background processes "
        "while the first tasks run; only the first run on a machine compiles",
        affects_results=False,
    )


class Workstation(System):
    """Serial execution in this process (the reference behaviour)."""

    Parameters = WorkstationParameters

    def submit(self, workflow: Workflow, stop_after: str | None = None) -> None:
        """Run ``workflow`` here (with background compiles, see
        :mod:`seisgrad.workflow.precompile`)."""
        if not self.params.background_compile:
            workflow.run(stop_after=stop_after)
            return
        from seisgrad.workflow.precompile import BackgroundCompile

        with BackgroundCompile(workflow):
            workflow.run(stop_after=stop_after)

    def run(self, workflow: Workflow, task: str, indices: Sequence[int]) -> None:
        items = list(indices)
        bar = None
        if is_terminal():
            from tqdm import tqdm

            bar = tqdm(total=len(items), desc=task, unit="source", leave=False)
        try:
            for n, i in enumerate(items):
                name = workflow.events[i].name
                if bar is None:
                    logger.info("%s: source %s (%d/%d)", task, name, n + 1, len(items))
                try:
                    workflow.run_source(task, i)
                # recorded by run_source; the others go on (sys.exit in user code too)
                except (Exception, SystemExit) as exc:
                    logger.error("%s: source %s failed: %s", task, name, exc, extra=FILES_ONLY)
                    if self.params.stop_on_error:
                        break
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
