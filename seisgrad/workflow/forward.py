"""``workflow: forward``: synthetics, observed data and misfits for every source.

Tasks (``seisgrad print tasks``):

1. ``prepare_observed_data`` (per source): simulate observed data in
   ``path_model_true`` when ``path_data`` is not given (otherwise nothing to do: the
   data are read in step 3).
2. ``run_forward_simulations`` (per source): synthetics in ``path_model_init``.
3. ``evaluate_objective_function`` (per source): process observed and synthetic
   traces, measure the misfit, write the adjoint sources.
4. ``write_misfit``: misfit per source, per trace and in total to
   ``path_output/misfit.json`` (full float64 precision); traces exported when
   ``export_traces`` is set; figures when ``plot_figures`` is set.

Scratch layout (``path_scratch``)::

    traces/obs/<event>.h5   observed data simulated in the true model
    traces/syn/<event>.h5   synthetics
    traces/adj/<event>.h5   adjoint sources (dJ/ds for every synthetic sample)
    misfit/<event>.json     misfit of the event, per trace and in total
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seisgrad.config import param
from seisgrad.errors import ConfigError, DataError, SeisgradError
from seisgrad.logs import logger
from seisgrad.model import Model, atomic_path, read_model
from seisgrad.preprocess.io import MSEED_LIMITS_TEXT, mseed_codes_fit, read_hdf5, write_hdf5
from seisgrad.solver.acquisition import Event
from seisgrad.workflow.base import (
    ACQUISITION,
    TaskContext,
    TaskInputs,
    Workflow,
    WorkflowParameters,
    per_source,
)
from seisgrad.workflow.state import write_json_atomic

__all__ = ["Forward", "ForwardParameters"]


@dataclass
class ForwardParameters(WorkflowParameters):
    """Parameters of the Forward workflow."""

    export_traces: bool = param(
        False,
        "copy observed and synthetic traces (and adjoint sources) to path_output/traces",
        affects_results=False,
    )
    plot_figures: bool = param(
        True, "write PNG figures to path_output/figures", affects_results=False
    )


class Forward(Workflow):
    """Forward simulations and misfits for every source."""

    Parameters = ForwardParameters
    required_paths = ("path_model_init",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._models: dict[str, Model] = {}

    @property
    def task_list(self) -> list[Callable[..., None]]:
        return [
            self.prepare_observed_data,
            self.run_forward_simulations,
            self.evaluate_objective_function,
            self.write_misfit,
        ]

    @property
    def task_inputs(self) -> dict[str, TaskInputs]:
        """Simulations depend on the solver, the models and the acquisition; misfits
        and adjoint sources on the preprocess, the data and the simulated traces."""
        return {
            "prepare_observed_data": TaskInputs(
                {"solver", "path_model_true", "path_data", *ACQUISITION}
            ),
            "run_forward_simulations": TaskInputs({"solver", "path_model_init", *ACQUISITION}),
            "evaluate_objective_function": TaskInputs(
                {"preprocess", "path_data", *ACQUISITION},
                {"prepare_observed_data", "run_forward_simulations"},
            ),
            # the preprocess writes the exported traces
            "write_misfit": TaskInputs({"preprocess"}, {"evaluate_objective_function"}),
        }

    def result_paths(self, task: str) -> list[Path]:
        """:meth:`task_outputs`, and for ``write_misfit`` the exported traces (the whole
        ``path_output/traces`` folder) and every source's figure, whatever
        ``export_traces`` and ``plot_figures`` say now."""
        if task == "write_misfit":
            figures = self.path.output / "figures"
            drawn = {figures / f"traces_{e.name}.png" for e in self.events}
            drawn |= set(figures.glob("traces_*.png"))  # removed events' too
            return [self.path.output / "misfit.json", self.path.output / "traces", *sorted(drawn)]
        return super().result_paths(task)

    def task_outputs(self, task: str, source: str | None = None) -> list[Path]:
        """Traces of each source in the scratch folder; the total misfit and the trace
        figures in path_output (exported traces are not checked: their names depend on
        the data format)."""
        if source is not None:
            files = {
                "prepare_observed_data": [] if self.path.data is not None else ["obs"],
                "run_forward_simulations": ["syn"],
                "evaluate_objective_function": ["adj"],
            }
            out = [self.trace_file(kind, source) for kind in files.get(task, [])]
            if task == "evaluate_objective_function":
                out.append(self.misfit_file(source))
            return out
        if task == "write_misfit":
            files = [self.path.output / "misfit.json"]
            if self.params.plot_figures:
                figures = self.path.output / "figures"
                files += [figures / f"traces_{e.name}.png" for e in self.events]
            return files
        return super().task_outputs(task, source)

    # -- inputs --------------------------------------------------------------------
    def model(self, which: str = "init") -> Model:
        """The initial (``'init'``) or true (``'true'``) model, read once per process."""
        if which not in self._models:
            path = self.path.model_init if which == "init" else self.path.model_true
            if path is None:
                raise ConfigError(f"path_model_{which} is not set")
            self._models[which] = read_model(path)
        return self._models[which]

    def precompile(self, parts: Sequence[str]) -> None:
        """Compile the solver code of ``parts`` for the initial model (no simulation)."""
        self.solver.precompile(self.model("init"), self.events[0], self.receivers, parts)

    def input_problems(self) -> list[str]:
        problems = super().input_problems()
        if self.path.model_true is None and self.path.data is None:
            problems.append(
                "observed data: set path_data (a folder of data) or path_model_true "
                "(a model to simulate them in)"
            )
        return problems

    def check(self) -> list[str]:
        warnings = super().check()
        init = self.model("init")
        if self.path.model_true is not None:
            true = self.model("true")
            if true.grid != init.grid:
                raise DataError(
                    f"path_model_true grid {true.grid} differs from path_model_init grid "
                    f"{init.grid}"
                )
        found = []
        for i, event in enumerate(self.events):
            # the receivers are the same for every event: checked with the first
            found += self.solver.check(init, event, self.receivers if i == 0 else None)
        if self.path.model_true is not None and self.path.data is None:
            found += self._check_true_model(init, found)
        found += self.preprocess.check(self.solver.sampling_interval())
        channels = self.solver.recorded_channels()
        if channels:
            found += self.preprocess.check_channels(channels)
        self._check_export_names()
        for w in found:
            if w not in warnings:
                warnings.append(w)
        return warnings

    def _check_true_model(self, init: Model, found: Sequence[str]) -> list[str]:
        """Check the model that ``prepare_observed_data`` simulates in (its values: a
        faster true model can break the time step's stability limit); return its
        warnings that the initial model's check did not give already."""
        true = self.model("true")
        try:
            own = self.solver.check(true, self.events[0], None)
        except SeisgradError as exc:
            raise type(exc)(f"path_model_true {self.path.model_true}: {exc}") from exc
        warnings = [f"path_model_true: {w}" for w in own if w not in found]
        if all(
            n in true and np.array_equal(np.asarray(true[n]), np.asarray(init[n])) for n in init
        ):
            warnings.append(
                f"path_model_true {self.path.model_true} holds the same values as "
                "path_model_init: the observed data will equal the synthetics, so the "
                "misfit and the gradient will be zero"
            )
        return warnings

    def _check_export_names(self) -> None:
        """Raise :class:`~seisgrad.errors.ConfigError` when ``export_traces`` would write
        MiniSEED (``data_format: mseed``) for receivers whose codes it cannot hold
        (network up to 2 characters, station up to 5): the export, after every
        simulation, would fail (SPECFEM's ``S000000`` names are 7)."""
        fmt = getattr(getattr(self.preprocess, "params", None), "data_format", None)
        if fmt != "mseed" or not self.params.export_traces:
            return
        bad = [
            f"{r.network}.{r.station}"
            for r in self.receivers
            if not mseed_codes_fit(r.network, r.station)
        ]
        if bad:
            raise ConfigError(
                f"export_traces writes data_format 'mseed', which holds {MSEED_LIMITS_TEXT}; "
                "these receivers do not fit: "
                + ", ".join(bad[:10])
                + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
                + " (use data_format 'hdf5', 'sac', 'ascii' or 'su', or shorter names)"
            )

    # -- file names ----------------------------------------------------------------
    def trace_file(self, kind: str, event: str) -> Path:
        """Scratch file of ``kind`` ('obs', 'syn' or 'adj') traces of ``event``."""
        return self.path.scratch / "traces" / kind / f"{event}.h5"

    def misfit_file(self, event: str) -> Path:
        return self.path.scratch / "misfit" / f"{event}.json"

    def event(self, ctx: TaskContext) -> Event:
        return self.events[ctx.index]

    # -- tasks ---------------------------------------------------------------------
    @per_source
    def prepare_observed_data(self, ctx: TaskContext) -> None:
        """Simulate observed data in the true model (unless path_data is given)."""
        if self.path.data is not None:
            logger.info("observed data of %s will be read from %s", ctx.source, self.path.data)
            return
        stream = self.solver.forward(self.model("true"), self.event(ctx), self.receivers)
        write_hdf5(stream, self.trace_file("obs", ctx.source))

    @per_source
    def run_forward_simulations(self, ctx: TaskContext) -> None:
        """Synthetics in the initial model."""
        stream = self.solver.forward(
            self.model("init"),
            self.event(ctx),
            self.receivers,
            save=self.forward_save_file(ctx.source),
        )
        write_hdf5(stream, self.trace_file("syn", ctx.source))

    def forward_save_file(self, event: str) -> Path | None:
        """Where :meth:`run_forward_simulations` asks the solver to save the forward
        wavefield of ``event`` for a later adjoint simulation (``None``: nothing is
        saved; the Forward workflow runs no adjoint)."""
        return None

    def observed(self, event: Event, synthetic: Any) -> Any:
        """Observed data of ``event`` on the synthetics' time axis: read from
        ``path_data``, or the traces simulated in the true model."""
        if self.path.data is not None:
            return self.preprocess.read_observed(self.path.data, event, synthetic)
        return read_hdf5(self.trace_file("obs", event.name))

    @per_source
    def evaluate_objective_function(self, ctx: TaskContext) -> None:
        """Misfit and adjoint sources of one source."""
        syn = read_hdf5(self.trace_file("syn", ctx.source))
        obs = self.observed(self.event(ctx), syn)
        result = self.preprocess.evaluate(obs, syn, self.event(ctx), self.receivers)
        if not math.isfinite(result.value):
            raise DataError(f"misfit of source {ctx.source} is not finite ({result.value})")
        write_hdf5(result.adjoint, self.trace_file("adj", ctx.source))
        data: dict[str, Any] = {
            "total": float(result.value),
            "traces": {k: float(v) for k, v in result.per_trace.items()},
        }
        measured = _measurements(result.extra.get("measurements"))
        if measured:  # the signed residuals (SeisFlows' residuals files)
            data["measurements"] = measured
        write_json_atomic(self.misfit_file(ctx.source), data)
        logger.info("misfit of %s: %.17g", ctx.source, result.value)

    def write_misfit(self) -> None:
        """Total misfit, and per source, receiver (``NET.STA``) and trace, to
        path_output/misfit.json."""
        per_source = {}
        for e in self.events:
            data = json.loads(self.misfit_file(e.name).read_text())
            receivers: dict[str, list[float]] = {}
            for tid, value in data["traces"].items():
                receivers.setdefault(".".join(tid.split(".")[:2]), []).append(value)
            data["receivers"] = {k: math.fsum(v) for k, v in receivers.items()}
            per_source[e.name] = data
        total = math.fsum(v["total"] for v in per_source.values())
        out = self.path.output / "misfit.json"
        write_json_atomic(out, {"total": total, "sources": per_source})
        logger.info("total misfit %.17g written to %s", total, out)
        if self.params.export_traces:
            self.export_traces()
        if self.params.plot_figures:
            self.plot_traces()

    # -- exports -------------------------------------------------------------------
    def export_traces(self) -> None:
        """Copy traces to path_output/traces/{obs,syn,adj} in the data format."""
        for kind in ("obs", "syn", "adj"):
            for e in self.events:
                src = self.trace_file(kind, e.name)
                if not src.exists():
                    continue
                folder = self.path.output / "traces" / kind
                folder.mkdir(parents=True, exist_ok=True)
                self.preprocess.write_traces(read_hdf5(src), folder / e.name)

    def plot_traces(self) -> None:
        """One record-section PNG per source (observed, synthetic, adjoint source, with
        the measured windows shaded)."""
        from seisgrad.workflow.plots import plot_event_traces

        for e in self.events:
            plot_event_traces(self, e.name, None)

    def copy_to_output(self, src: Path, name: str) -> Path:
        """Copy ``src`` to ``path_output/name`` atomically."""
        dst, tmp = atomic_path(self.path.output / name)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        finally:
            if tmp.exists():
                tmp.unlink()
        return dst


def _measurements(info: Any) -> dict[str, list[dict[str, Any]]]:
    """Per trace id, the measured quantities of each window (``{"shift": T}`` for
    ``misfit: traveltime``, ``dlnA`` for amplitude, ``cc`` for correlation, ``skipped``
    with its reason), as JSON values; traces with nothing measured are left out."""
    if not isinstance(info, Mapping):
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for tid, items in info.items():
        rows = []
        for item in items if isinstance(items, (list, tuple)) else []:
            row = {
                str(k): (float(v) if isinstance(v, (int, float, np.floating)) else str(v))
                for k, v in dict(item).items()
                if not isinstance(v, bool)
            }
            rows.append(row)
        if any(rows):
            out[str(tid)] = rows
    return out
