"""Exceptions raised by seisgrad.

Every error a user can cause derives from :class:`SeisgradError`. The command line
prints such an error as one line (``error: <message>``) and exits with status 2;
``--debug`` shows the traceback. Library code never calls ``sys.exit`` and never uses
bare ``assert`` for validation.
"""

from __future__ import annotations

__all__ = [
    "SeisgradError",
    "ConfigError",
    "RegistryError",
    "PathError",
    "StabilityError",
    "SolverError",
    "DataError",
    "StateError",
    "TaskError",
    "GradientError",
    "error_line",
]


class SeisgradError(Exception):
    """Base class of all errors that seisgrad reports to users."""


class ConfigError(SeisgradError):
    """A parameter file or a parameter value is invalid."""


class RegistryError(ConfigError):
    """A module name could not be resolved to a component class."""


class PathError(ConfigError):
    """One or more input paths are missing or unusable."""


class StabilityError(SeisgradError):
    """A simulation setup violates the CFL stability condition."""


class SolverError(SeisgradError):
    """A simulation could not be set up or run."""


class DataError(SeisgradError):
    """Waveform data is missing, malformed or inconsistent."""


class StateError(SeisgradError):
    """The workflow state file is inconsistent with the current parameters."""


class TaskError(SeisgradError):
    """One or more tasks (or per-source tasks) failed."""


class GradientError(SeisgradError):
    """A kernel or gradient is all zero or contains non-finite values."""


def error_line(exc: BaseException) -> str:
    """The message of ``exc`` as one line, as the command line prints it after ``error:``.

    Whitespace (newlines included) is collapsed; an :class:`OSError` reads
    ``<strerror>: <file>``. An error raised inside a task of a
    workflow carries the task's name (attribute ``task``, set by the workflow) and the
    line then starts with ``task NAME failed:`` unless the message names it already.

    Parameters
    ----------
    exc
        The exception.

    Returns
    -------
    str
        The one-line message (the class name when the message is empty).
    """
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        msg = f"{exc.strerror}{where}"
    else:
        msg = " ".join(str(exc).split()) or type(exc).__name__
    task = getattr(exc, "task", None)
    if task and not msg.startswith(f"task {task}"):
        msg = f"task {task} failed: {msg}"
    return msg
