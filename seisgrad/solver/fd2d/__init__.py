"""``solver: fd2d``: built-in 2D staggered-grid finite differences with exact adjoints.

Materials plug in through :class:`~seisgrad.solver.fd2d.propagator.Propagator`; the
acoustic propagator lives in :mod:`seisgrad.solver.fd2d.acoustic`, the elastic one in
:mod:`seisgrad.solver.fd2d.elastic` (both imported lazily).
"""

from seisgrad.solver.fd2d.propagator import Propagator
from seisgrad.solver.fd2d.solver import FD2D, FD2DParameters

__all__ = ["FD2D", "FD2DParameters", "Propagator"]
