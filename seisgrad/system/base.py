"""The System interface: where tasks run.

A System has two verbs:

* :meth:`System.submit` starts a workflow (in this process, under MPI, or as a batch
  job on a cluster);
* :meth:`System.run` runs one per-source task for the given event indices, by calling
  :meth:`seisgrad.workflow.base.Workflow.run_source` for each, wherever the System
  puts the work. It records nothing itself: ``run_source`` writes each source's
  state. When sources fail, the others still run; the workflow then reports the
  failures with their sources, ranks or job ids and log files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from seisgrad.workflow.base import Workflow

__all__ = ["System"]


class System(ABC):
    """Abstract system."""

    Parameters: ClassVar[type]

    def __init__(self, params: Any) -> None:
        self.params = params

    def launch(self, parameter_file: Path, logs: Path, stop_after: str | None = None) -> bool:
        """Start the whole run elsewhere, before this process builds the setup.

        ``seisgrad submit`` calls this first, with only the System built (see
        :func:`seisgrad.build.build_system`). A System whose work runs in other
        processes that build the setup themselves (the MPI ranks seisgrad starts)
        starts them here and returns ``True`` once the run is over; the default
        returns ``False`` and ``submit`` builds the setup and calls :meth:`submit`.
        """
        return False

    def submit(self, workflow: Workflow, stop_after: str | None = None) -> None:
        """Run ``workflow`` (the default: in this process)."""
        workflow.run(stop_after=stop_after)

    def busy(self, workflow: Workflow) -> str | None:
        """Why a run of ``workflow``'s working folder is in progress elsewhere (e.g. a
        Slurm main job queued or running), or ``None``. ``seisgrad submit`` and ``clean``
        refuse then, before they change anything. The default: never (a submit in
        progress holds the run lock, which they check too)."""
        return None

    def check(self) -> None:
        """Check what this System needs on this machine (``seisgrad check``); raise a
        :class:`~seisgrad.errors.ConfigError` when something is missing. The default
        checks nothing."""
        return None

    @abstractmethod
    def run(self, workflow: Workflow, task: str, indices: Sequence[int]) -> None:
        """Run per-source ``task`` of ``workflow`` for the events at ``indices``."""

    @property
    def solver_threads(self) -> int | None:
        """Solver threads per task that this System asks for (``None``: the solver's)."""
        return None
