"""Wave-equation solvers (forward and adjoint simulations)."""

from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction
from seisgrad.solver.base import Solver

__all__ = ["Event", "PointSource", "Receiver", "Solver", "SourceTimeFunction"]
