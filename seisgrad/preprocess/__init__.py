"""Data I/O, processing, misfit functions and adjoint sources.

The interface is :class:`Preprocess`; the built-in implementation is
:class:`~seisgrad.preprocess.default.Default` (``preprocess: default``). The modules
are imported on first use, so ``import seisgrad.preprocess`` stays cheap:

* :mod:`~seisgrad.preprocess.misfit`: misfit classes and their registry;
* :mod:`~seisgrad.preprocess.processing`: processing steps with exact adjoints;
* :mod:`~seisgrad.preprocess.weights`: windows and the temporal-weights hook;
* :mod:`~seisgrad.preprocess.pipeline`: chain + weights + misfit;
* :mod:`~seisgrad.preprocess.verify`: finite-difference and dot-product checks;
* :mod:`~seisgrad.preprocess.io`: SU, SAC, MiniSEED, SPECFEM ASCII and HDF5 files;
* :mod:`~seisgrad.preprocess.plot`: trace figures.
"""

from __future__ import annotations

import importlib
from typing import Any

from seisgrad.preprocess.base import MisfitResult, Preprocess

__all__ = [
    "MisfitResult",
    "Preprocess",
    "Default",
    "Pipeline",
    "check_adjoint_source",
    "get_misfit",
]

_LAZY = {
    "Default": "seisgrad.preprocess.default",
    "Pipeline": "seisgrad.preprocess.pipeline",
    "check_adjoint_source": "seisgrad.preprocess.verify",
    "get_misfit": "seisgrad.preprocess.misfit",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seisgrad.preprocess' has no attribute '{name}'")
