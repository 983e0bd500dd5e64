"""Data I/O, processing, misfit functions and adjoint sources."""

from seisgrad.preprocess.base import MisfitResult, Preprocess

__all__ = ["MisfitResult", "Preprocess"]
