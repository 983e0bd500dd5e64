"""seisgrad: seismic adjoint gradients and waveform-imaging workflows."""

from __future__ import annotations

__version__ = "0.1.0"

from seisgrad.errors import SeisgradError  # noqa: E402

__all__ = ["SeisgradError", "__version__"]
