"""The Solver interface: a wave simulation and its adjoint.

Every solver implements the same verbs and passes the same correctness suite
(``tests/solver/test_solver_suite.py``):

* :meth:`Solver.forward` runs a simulation for one event and returns the synthetics
  recorded at the receivers as an ObsPy :class:`~obspy.Stream`.
* :meth:`Solver.adjoint` takes adjoint sources (one trace per recorded trace: the
  derivative of the misfit with respect to each recorded *sample*,
  :math:`f_n = \\partial J / \\partial d_n`) and returns the kernels
  :math:`K_m[i, j] = \\partial J / \\partial m[i, j]`, the exact gradient of the discrete
  forward problem with respect to each model value at each grid node.

Because :math:`J` depends on the model only through the recorded samples,
``adjoint`` computes :math:`(\\partial d / \\partial m)^T f` exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from seisgrad.model import Model, in_parametrization
from seisgrad.solver.acquisition import Event, Receiver

if TYPE_CHECKING:
    from obspy import Stream

__all__ = ["Solver"]


class Solver(ABC):
    """Abstract wave-equation solver."""

    #: Schema dataclass of this solver's parameters.
    Parameters: ClassVar[type]

    def __init__(self, params: Any) -> None:
        self.params = params

    @property
    @abstractmethod
    def model_parameters(self) -> tuple[str, ...]:
        """Names of the model parameters this solver reads (e.g. ``('vp', 'rho')``)."""

    @property
    @abstractmethod
    def kernel_parameters(self) -> tuple[str, ...]:
        """Names of the kernels :meth:`adjoint` returns (the chosen parametrization)."""

    def model_values(self, model: Model) -> Model:
        """``model`` in :attr:`kernel_parameters`, with the values the simulations use.

        What the kernels are derivatives with respect to, at this model: the workflows
        scale the kernels by it (``scale_by_model``) and the gradient check perturbs it.
        The default keeps the model's own values and derives the others from ``vp``,
        ``vs`` and ``rho`` (:func:`seisgrad.model.in_parametrization`); a solver that
        reads a model differently (ignores a parameter, prefers one of two sets)
        overrides it.
        """
        return in_parametrization(model, self.kernel_parameters)

    @abstractmethod
    def forward(
        self,
        model: Model,
        event: Event,
        receivers: Sequence[Receiver],
        *,
        save: Path | None = None,
    ) -> Stream:
        """Simulate ``event`` in ``model`` and return the recorded traces.

        With ``save`` (SPECFEM's ``SAVE_FORWARD``) the solver may write there what a
        later :meth:`adjoint` of the same simulation needs to skip recomputing the
        forward wavefield; a solver without such state writes nothing.
        """

    @abstractmethod
    def adjoint(
        self,
        model: Model,
        event: Event,
        receivers: Sequence[Receiver],
        adjoint_sources: Stream,
        *,
        saved: Path | None = None,
    ) -> Model:
        """Return the kernels (``dJ/dm`` per grid node) for the given adjoint sources.

        ``saved`` is a ``save`` path of an earlier :meth:`forward`; the solver uses it
        only when it holds this very simulation (otherwise, and when it is missing, it
        recomputes), so the kernels never depend on it.
        """

    def illumination(self, model: Model, event: Event, receivers: Sequence[Receiver]) -> Model:
        """Forward-field energy at each node (one parameter ``illumination``), for the
        illumination preconditioner. Optional: solvers without it raise SolverError."""
        from seisgrad.errors import SolverError

        raise SolverError(
            f"solver {type(self).__name__} does not compute illumination; set precondition: null"
        )

    def check(
        self, model: Model, event: Event, receivers: Sequence[Receiver] | None = None
    ) -> list[str]:
        """Check a setup before running; raise on errors, return warnings.

        Parameters
        ----------
        model
            The model the event is simulated in.
        event
            The event (its sources).
        receivers
            The receivers (``None``: not checked).

        Returns
        -------
        list of str
            Warnings (e.g. under-sampled wavelengths).
        """
        return []

    def sampling_interval(self) -> float | None:
        """Time step (s) of the synthetics :meth:`forward` returns, or ``None`` when it
        is only known after a simulation. Lets the preprocess check its filters
        before anything runs."""
        return None

    def recorded_channels(self) -> tuple[str, ...] | None:
        """Channels (``P``, ``VX``, ...) of the traces :meth:`forward` returns, or
        ``None`` when unknown before a simulation. Lets the preprocess check what it
        will measure before anything runs."""
        return None

    def precompile_needed(self, part: str) -> bool:
        """Whether compiling ``part`` for these parameters may take long (no record of it
        having been compiled on this machine). The workstation system then compiles it
        in a background process while earlier tasks run."""
        return False

    def precompile(
        self, model: Model, event: Event, receivers: Sequence[Receiver], parts: Sequence[str]
    ) -> None:
        """Compile (or load from a cache) the code of ``parts`` for this setup, without
        simulating. Solvers without compiled code do nothing."""
        return None
