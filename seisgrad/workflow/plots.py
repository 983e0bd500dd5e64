"""``seisgrad plot model|kernel|gradient|traces PATH``.

Models, kernels and gradients are plotted from their HDF5 files; when a parameter
file is present, its sources and receivers are drawn on top. ``traces`` takes an
event name and plots that source's observed and synthetic traces and adjoint sources
from the scratch folder of the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seisgrad.errors import ConfigError, SeisgradError
from seisgrad.plot import KERNEL_CLIP

__all__ = ["plot_command"]


def _setup_or_none(parameter_file: str | os.PathLike[str]) -> Any:
    from seisgrad.build import build_from_config

    if not Path(parameter_file).is_file():
        return None
    try:
        return build_from_config(parameter_file)
    except SeisgradError:
        return None


def plot_command(
    parameter_file: str | os.PathLike[str],
    what: str,
    path: str,
    out: str | None,
    clip: float | None = None,
) -> list[Path]:
    """Write the PNG(s) for ``seisgrad plot`` and return their paths. ``clip``: the
    percentile of |values| for the colour scale (``None``: 100 for a model; for a kernel
    or gradient the run's ``plot_clip``, as in its own figures, else 99)."""
    setup = _setup_or_none(parameter_file)
    if what == "traces":
        if setup is None:
            raise ConfigError(
                f"plot traces needs a valid parameter file ({parameter_file}) of a run"
            )
        return [plot_event_traces(setup.workflow, path, out)]
    from seisgrad.plot import plot_model_file

    sources = receivers = None
    if setup is not None:
        try:
            wf = setup.workflow
            sources = [s for e in wf.events for s in e.sources]
            receivers = wf.receivers
        except SeisgradError:
            sources = receivers = None
    if clip is None:
        clip = 100.0
        if what in ("kernel", "gradient"):
            params = getattr(setup.workflow, "params", None) if setup is not None else None
            clip = float(getattr(params, "plot_clip", KERNEL_CLIP))
    return [plot_model_file(path, what, out, sources, receivers, clip=clip)]


def plot_event_traces(workflow: Any, event: str, out: str | None) -> Path:
    """Record section of one event: processed observed and synthetic traces and the
    adjoint source, measured windows shaded."""
    from seisgrad.preprocess.io import read_hdf5
    from seisgrad.preprocess.plot import plot_event

    names = [e.name for e in workflow.events]
    if event not in names:
        raise ConfigError(f"no event '{event}'; events are: {', '.join(names)}")
    syn_file = workflow.trace_file("syn", event)
    if not syn_file.exists():
        raise ConfigError(
            f"no synthetics for {event} yet ({syn_file}); run 'seisgrad submit' first"
        )
    syn = read_hdf5(syn_file)
    ev = workflow.events[names.index(event)]
    obs = workflow.observed(ev, syn)
    dest = Path(out) if out else workflow.path.output / "figures" / f"traces_{event}.png"
    return plot_event(workflow.preprocess, obs, syn, ev, workflow.receivers, dest)[0]
