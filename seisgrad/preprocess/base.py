"""The Preprocess interface: data I/O, processing, misfit and adjoint sources.

:meth:`Preprocess.evaluate` returns the misfit *and* the adjoint sources together, so
they cannot disagree: the adjoint source of each synthetic trace is the exact
derivative of the reported total misfit with respect to that trace's samples,
:math:`f_n = \\partial J / \\partial s_n`, through whatever processing is applied to the
synthetics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from seisgrad.solver.acquisition import Event, Receiver

if TYPE_CHECKING:
    from obspy import Stream

__all__ = ["MisfitResult", "Preprocess"]


@dataclass
class MisfitResult:
    """Misfit of one event.

    Attributes
    ----------
    value
        Total misfit :math:`J` of the event (full float64 precision).
    per_trace
        Misfit of each trace, keyed by trace id (``NET.STA.LOC.CHA``).
    adjoint
        Adjoint sources, one trace per synthetic trace (same ids, same time axis).
    """

    value: float
    per_trace: dict[str, float]
    adjoint: Stream
    extra: dict[str, Any] = field(default_factory=dict)


class Preprocess(ABC):
    """Abstract preprocessing module."""

    Parameters: ClassVar[type]

    def __init__(self, params: Any, base: Path | None = None) -> None:
        """``base``: folder against which relative paths in the parameters are taken
        (the parameter file's folder; default: the current folder)."""
        self.params = params
        self.base = base

    @abstractmethod
    def read_observed(self, path: Path, event: Event, synthetic: Stream) -> Stream:
        """Read the observed data of ``event`` under ``path`` and put it onto the time
        axis of ``synthetic`` (missing stations or components are an error naming
        them)."""

    def observed_data_paths(self, path: Path, event: Event) -> list[Path]:
        """The files and folders in the folder ``path`` that :meth:`read_observed` reads
        the data of ``event`` from (the workflows digest them to notice changed data).

        Default: the folder ``<event>`` and every ``<event>.*`` entry. A subclass that
        knows its layout lists exactly what it reads: with event names that contain a
        dot (``s0`` and ``s0.b``) the default also counts ``s0.b.su`` for ``s0``.
        """
        name = event.name
        return sorted(p for p in path.iterdir() if p.name == name or p.name.startswith(f"{name}."))

    @abstractmethod
    def evaluate(
        self,
        observed: Stream,
        synthetic: Stream,
        event: Event,
        receivers: Sequence[Receiver],
    ) -> MisfitResult:
        """Process both streams, measure the misfit and return it with the adjoint
        sources."""

    def check_channels(self, channels: Sequence[str]) -> list[str]:
        """Warnings about measuring the solver's recorded ``channels`` (``P``, ``VX``,
        ...) with this processing, before anything runs (default: none)."""
        return []

    def check(self, dt: float | None) -> list[str]:
        """Check the processing before anything runs; raise on errors, return warnings.

        Parameters
        ----------
        dt
            Time step (s) of the synthetics, the time axis the traces are processed on
            (``None``: unknown before a simulation).

        Returns
        -------
        list of str
            Warnings.
        """
        return []

    @abstractmethod
    def write_traces(self, stream: Stream, path: Path) -> Path:
        """Write traces of one event (format set by the parameters); return the path."""

    @abstractmethod
    def read_traces(self, path: Path) -> Stream:
        """Read traces written by :meth:`write_traces`."""
