"""``solver: fd2d``: the built-in 2D staggered-grid finite-difference solver."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from seisgrad.config import Schema, check_schema, param
from seisgrad.errors import ConfigError, DataError
from seisgrad.logs import logger, time_loop_progress
from seisgrad.model import Model
from seisgrad.solver.acquisition import CHANNELS, Event, Receiver
from seisgrad.solver.base import Solver
from seisgrad.solver.fd2d import propagator as propagator_module
from seisgrad.solver.fd2d.common import build_stream, stream_to_arrays
from seisgrad.solver.fd2d.propagator import SIDES, Propagator, SnapshotFile, check_arguments

if TYPE_CHECKING:
    from obspy import Stream

__all__ = ["FD2D", "FD2DParameters", "PROPAGATORS", "check_adjoint_sources"]

#: ``materials`` value -> ``"module:Class"`` of its propagator (imported lazily).
PROPAGATORS = {
    "acoustic": "seisgrad.solver.fd2d.acoustic:AcousticPropagator",
    "elastic": "seisgrad.solver.fd2d.elastic:ElasticPropagator",
}

_PARAMETRIZATIONS = {
    ("acoustic", "velocity"): ("vp", "rho"),
    ("acoustic", "lame"): ("kappa", "rho"),
    ("acoustic", "bulk"): ("kappa", "rho"),
    ("elastic", "velocity"): ("vp", "vs", "rho"),
    ("elastic", "lame"): ("lambda", "mu", "rho"),
    ("elastic", "bulk"): ("kappa", "mu", "rho"),
}


@dataclass
class FD2DParameters(Schema):
    """Parameters of ``solver: fd2d``."""

    materials: str = param("acoustic", "wave physics", choices=("acoustic", "elastic"))
    nt: int = param(
        1000,
        "number of time steps (samples of the traces; with correct_time_dispersion the "
        "loop runs 32 + nt // 128 more)",
        low=2,
        high=10**9,
    )
    dt: float = param(1e-3, "time step (s)", low=1e-15, high=1e6)
    order: int = param(8, "spatial order of the staggered differences", choices=(2, 4, 8))
    pml_width: int = param(20, "absorbing-layer (C-PML) width in cells", low=0, high=10**6)
    pml_sides: list[str] = param(
        ["left", "right", "bottom", "top"],
        "sides with an absorbing layer (added outside the model)",
        choices=SIDES,
    )
    pml_reflection: float | None = param(
        None,
        "theoretical C-PML reflection coefficient (null: exp(-0.9 pml_width), 1.5e-8 for 20 "
        "cells and 1.2e-4 for 10: the strength per cell stays the same, and thicker layers "
        "absorb waves at grazing incidence better)",
        low=1e-300,
        high=0.5,
    )
    pml_velocity: float | None = param(
        None,
        "C-PML reference velocity in m/s (null: the fastest speed stable for dt and the "
        "grid, so that the absorbing layers do not depend on the model)",
        low=0.0,
        low_exclusive=True,
    )
    pml_frequency: float | None = param(
        None,
        "C-PML frequency shift in Hz (null: dominant source frequency; 0: no shift, a "
        "classical PML)",
        low=0.0,
    )
    pml_multiaxial: float = param(
        0.0,
        "elastic only: multiaxial damping ratio of the left and right absorbing layers "
        "(M-PML; 0: plain C-PML). Their z derivatives get this fraction of the layer's "
        "damping: 0.5 stops the growth where a fluid-solid interface enters them (and that "
        "of some slow surface layers), at the cost of about 2% reflections at oblique "
        "incidence (10-30% for sources and receivers within a wavelength of them; see "
        "docs/solver-elastic.md)",
        low=0.0,
        high=1.0,
    )
    free_surface: bool = param(False, "free surface (p = 0, traction free) on the top edge")
    correct_time_dispersion: bool = param(
        True,
        "remove the time stepping's dispersion error from the synthetics (time-dispersion "
        "transforms of the sources and traces; exact gradients either way)",
    )
    precision: str = param("float32", "floating-point precision", choices=("float32", "float64"))
    threads: int = param(1, "threads of the compiled time loop", low=1, affects_results=False)
    checkpointing: str = param(
        "checkpoint",
        "forward wavefield for the gradient: 'checkpoint' (recompute) or 'store' (keep all)",
        choices=("checkpoint", "store"),
    )
    checkpoints: int | None = param(
        None, "number of snapshots for 'checkpoint' (null: about sqrt(nt))", low=1
    )
    record: list[str] | None = param(
        None,
        "recorded channels (null: P, VX, VZ acoustic; VX, VZ elastic)",
        choices=tuple(CHANNELS),
    )
    parametrization: str = param(
        "velocity",
        "model and kernel parameters: velocity (vp, [vs,] rho), lame, bulk",
        choices=("velocity", "lame", "bulk"),
    )
    min_points_per_wavelength: float | None = param(
        None,
        "warn below this many points per minimum wavelength (null: 12/7/5 for order 2/4/8; "
        "0: never)",
        low=0.0,
    )
    flush_denormals: bool = param(
        True,
        "flush subnormal numbers to zero in the time loop (x86; much faster)",
        affects_results=False,
    )

    def validate(self) -> None:
        if self.free_surface and "top" in self.pml_sides:
            raise ConfigError(
                "parameter 'pml_sides': 'top' cannot have an absorbing layer when "
                "free_surface is true; remove 'top' or set free_surface: false"
            )
        if len(set(self.pml_sides)) != len(self.pml_sides):
            raise ConfigError(f"parameter 'pml_sides': repeated side in {self.pml_sides}")
        if self.checkpoints is not None and self.checkpoints > self.nt:
            raise ConfigError(
                f"parameter 'checkpoints': {self.checkpoints} snapshots for nt = {self.nt} "
                "steps; at most one per step (null: about sqrt(nt))"
            )
        if self.pml_multiaxial > 0 and self.materials != "elastic":
            raise ConfigError(
                "parameter 'pml_multiaxial': only the elastic solver has multiaxial layers "
                "(the acoustic C-PML has no growing modes to damp); set it to 0 or use "
                "materials: elastic"
            )
        nyquist = 0.5 / self.dt
        if self.pml_frequency is not None and self.pml_frequency > nyquist:
            raise ConfigError(
                f"parameter 'pml_frequency': {self.pml_frequency:g} Hz is above the time "
                f"step's Nyquist frequency ({nyquist:g} Hz); the source's dominant "
                "frequency, or a few times it, is the useful range (null: that frequency)"
            )


def _room_for(path: Path, nbytes: int) -> bool:
    """Whether ``nbytes`` fit in half the free space of the file system of ``path``
    (its nearest existing folder); if not, say so. A saved forward wavefield is an
    optimisation and must not fill a scratch disk or a quota."""
    folder = Path(path).resolve().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return True  # unknown: try, and warn if writing fails
    if nbytes <= 0.5 * free:
        return True
    logger.warning(
        "not saving the forward wavefield to %s: it needs %.1f GiB and %.1f GiB are free "
        "there; the adjoint will recompute it",
        path,
        nbytes / 2**30,
        free / 2**30,
    )
    return False


def _memory_for(path: Path, prop: Propagator) -> bool:
    """Whether the snapshot writer's buffers (:attr:`SnapshotFile.POOL` snapshots) fit
    in half the available memory; if not, say so (saving is an optimisation)."""
    free = propagator_module.available_memory()
    nbytes = SnapshotFile.POOL * prop.snapshot_file_bytes() / max(prop.snapshot_count(), 1)
    if free is None or nbytes <= 0.5 * free:
        return True
    logger.warning(
        "not saving the forward wavefield to %s: its writer needs %.1f GiB of memory and "
        "%.1f GiB are available; the adjoint will recompute it",
        path,
        nbytes / 2**30,
        free / 2**30,
    )
    return False


def check_adjoint_sources(adjoint_sources: object) -> None:
    """Raise :class:`~seisgrad.errors.DataError` unless ``adjoint_sources`` is an ObsPy
    Stream (or a list of Traces) of one-dimensional, finite, real samples.

    A NaN or an infinity in one adjoint source would make every kernel NaN.
    """
    from obspy import Stream, Trace

    if not isinstance(adjoint_sources, (Stream, list, tuple)) or not all(
        isinstance(tr, Trace) for tr in adjoint_sources
    ):
        raise DataError(
            "the adjoint sources must be an obspy Stream (traces matching the recorded "
            f"ones), got {type(adjoint_sources).__name__}"
        )
    for tr in adjoint_sources:
        data = np.asarray(tr.data)
        if data.ndim != 1 or not (
            np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)
        ):
            raise DataError(
                f"adjoint source {tr.id}: expected one-dimensional real samples, got an "
                f"array of shape {data.shape} and dtype {data.dtype}"
            )
        bad = np.flatnonzero(~np.isfinite(data))
        if bad.size:
            raise DataError(
                f"adjoint source {tr.id} has {bad.size} non-finite sample(s) (NaN or "
                f"infinity), the first at sample {bad[0]}; the kernels would be NaN"
            )


class FD2D(Solver):
    """Built-in 2D finite-difference solver (acoustic or elastic), with exact adjoints.

    See ``docs/solver.md`` for the physics, the discretisation and the parameters.
    """

    Parameters: ClassVar[type] = FD2DParameters

    def __init__(self, params: FD2DParameters | None = None) -> None:
        if params is None:
            params = FD2DParameters()
        if not isinstance(params, FD2DParameters):
            raise ConfigError(
                f"FD2D needs FD2D.Parameters, got {type(params).__name__}; build them with "
                "seisgrad.config.from_mapping(FD2D.Parameters, mapping)"
            )
        params.validate()
        super().__init__(params)
        #: Warnings of :meth:`check` already logged by a simulation of this solver.
        self._warned: set[str] = set()

    @property
    def model_parameters(self) -> tuple[str, ...]:
        return _PARAMETRIZATIONS[(self.params.materials, self.params.parametrization)]

    @property
    def kernel_parameters(self) -> tuple[str, ...]:
        return self.model_parameters

    def model_values(self, model: Model) -> Model:
        """The model as the simulations read it, in the kernels' parameters: an acoustic
        model that also holds ``vs`` has ``kappa = rho vp^2`` (``vs`` is not used), a
        ``kappa, rho`` model read in ``velocity`` has ``vp = sqrt(kappa / rho)``;
        elastic ``kappa = lambda + mu``. Invalid models raise as a simulation would."""
        values = self.propagator_class().internal_values(model, self.params.parametrization)
        if "kappa" not in values:
            values["kappa"] = values["lambda"] + values["mu"]
        return Model(model.grid, {n: values[n] for n in self.kernel_parameters})

    def recorded_channels(self) -> tuple[str, ...]:
        rec = self.params.record
        return tuple(dict.fromkeys(rec)) if rec else tuple(self.propagator_class().default_record)

    def propagator_class(self) -> type[Propagator]:
        """The propagator class of ``params.materials`` (imported on first use)."""
        target = PROPAGATORS[self.params.materials]
        mod, cls = target.split(":")
        return getattr(importlib.import_module(mod), cls)

    def propagator(self, model: Model, event: Event, receivers: Sequence[Receiver]) -> Propagator:
        """Set up (and check) one simulation; see :class:`Propagator`.

        The parameters are validated again first: ``params`` is a plain dataclass, and a
        field changed after construction (``solver.params.nt = -5``) must be refused
        like one read from a file."""
        check_schema(self.params)
        return self.propagator_class()(model, self.params, event, receivers)

    def check(
        self, model: Model, event: Event, receivers: Sequence[Receiver] | None = None
    ) -> list[str]:
        """Raise :class:`~seisgrad.errors.StabilityError` for an unstable ``dt`` and
        :class:`~seisgrad.errors.SolverError` for sources or ``receivers`` outside the
        model (receivers are not checked when ``None``); return warnings
        (under-sampling, silent sources, ...)."""
        check_arguments(model, event, [] if receivers is None else receivers)
        if receivers is None:
            receivers = [Receiver(station="CHECK", x=model.grid.x0, z=model.grid.z0)]
        return list(self.propagator(model, event, receivers).warnings)

    def sampling_interval(self) -> float:
        """The time step ``dt``: the synthetics have one sample per time step."""
        return float(self.params.dt)

    def _report(self, prop: Propagator) -> None:
        """Log the set-up warnings of a simulation (those :meth:`check` returns: under-
        sampling, silent sources, ...) on the ``seisgrad`` logger, each once per solver
        object however many simulations repeat it."""
        for w in prop.warnings:
            self._warn_once(w)

    def _warn_once(self, w: str) -> None:
        """Log warning ``w`` on the ``seisgrad`` logger unless this solver object did."""
        if w not in self._warned:
            self._warned.add(w)
            logger.warning("warning: %s", w)

    def compile_marker(self, part: str) -> Path:
        """File recording that ``part`` was compiled for these parameters (materials,
        precision, serial or threaded loops) with this version of the kernel sources,
        numba, Python and ``NUMBA_CACHE_DIR`` (in ``NUMBA_CACHE_DIR`` when set, else in
        ``~/.cache/seisgrad/compiled``)."""
        import numba

        here = Path(__file__).resolve().parent
        files = [
            (f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in sorted(here.glob("*.py"))
        ]
        key = [
            part, self.params.materials, self.params.precision, self.params.threads > 1,
            str(here), files, numba.__version__, sys.version,
            os.environ.get("NUMBA_CACHE_DIR", ""),
        ]  # fmt: skip
        digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:20]
        name = f"fd2d-{self.params.materials}-{part}-{digest}"
        if os.environ.get("NUMBA_CACHE_DIR"):
            return Path(os.environ["NUMBA_CACHE_DIR"]) / "seisgrad-compiled" / name
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return base / "seisgrad" / "compiled" / name

    def precompile_needed(self, part: str) -> bool:
        return not self.compile_marker(part).exists()

    def precompile(
        self, model: Model, event: Event, receivers: Sequence[Receiver], parts: Sequence[str]
    ) -> None:
        """Compile (or load from numba's on-disk cache) the time loops of ``parts`` (see
        :meth:`Propagator.compile_kernels`) and record that in :meth:`compile_marker`."""
        self.propagator(model, event, receivers).compile_kernels(parts)
        for part in parts:
            marker = self.compile_marker(part)
            with contextlib.suppress(OSError):
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()

    def forward(
        self,
        model: Model,
        event: Event,
        receivers: Sequence[Receiver],
        *,
        save: Path | None = None,
    ) -> Stream:
        """Forward simulation. With ``save`` and ``checkpointing: checkpoint`` the
        checkpoint snapshots (states at the starts of the segments; about
        ``checkpoints x`` the wavefield state on disk) are written there, so that
        :meth:`adjoint` with ``saved`` skips its first forward pass."""
        if save is not None:
            _refuse_to_overwrite(Path(save))
        prop = self.propagator(model, event, receivers)
        self._report(prop)
        target = save if self.params.checkpointing == "checkpoint" else None
        if target is not None and not _room_for(target, prop.snapshot_file_bytes()):
            target = None
        if target is not None and not _memory_for(target, prop):
            target = None
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(SnapshotFile(prop, target)) if target is not None else None
            progress = stack.enter_context(time_loop_progress(prop.nt, f"forward {event.name}"))
            traces = prop.forward(progress=progress, snapshot_sink=sink)
        if sink is not None and sink.error is not None:
            # an optimisation only: the adjoint will recompute
            logger.warning("could not save the forward wavefield to %s: %s", save, sink.error)
        self._report_silent_records(event, traces)
        return build_stream(traces, prop.receivers, prop.dt, prop.dtype)

    def _report_silent_records(self, event: Event, traces: dict[str, np.ndarray]) -> None:
        """Warn (once per event name) when every record is exactly zero although a
        source radiates: the waves do not reach the receivers within ``nt`` steps, or
        (float32) their amplitudes fall below the smallest normal number and are
        flushed to zero."""
        radiates = any(
            not src.strength_is_zero() and not src.stf.is_silent() for src in event.sources
        )
        if not radiates or any(np.any(v) for v in traces.values()):
            return
        w = (
            f"every record of event '{event.name}' is zero although its sources radiate: the "
            f"waves do not reach the receivers within nt = {self.params.nt} steps, or their "
            f"amplitudes are below {self.params.precision}'s smallest normal number "
            f"({np.finfo(self.params.precision).tiny:.3g}) and were flushed to zero; "
            "lengthen nt, move the receivers or raise the source amplitudes"
        )
        self._warn_once(w)

    def illumination(
        self, model: Model, event: Event, receivers: Sequence[Receiver], stride: int = 4
    ) -> Model:
        """Forward-field energy :math:`E(x) = \\int |v(x, t)|^2 dt` of ``event`` at each
        node (sampled every ``stride`` steps), as a model with one parameter
        ``illumination``; used by the illumination preconditioner."""
        prop = self.propagator(model, event, receivers)
        self._report(prop)
        prop.forward(illumination_stride=max(1, int(stride)))
        return Model(model.grid, {"illumination": prop.illumination})

    def adjoint(
        self,
        model: Model,
        event: Event,
        receivers: Sequence[Receiver],
        adjoint_sources: Stream,
        *,
        saved: Path | None = None,
    ) -> Model:
        """Kernels by the adjoint-state method (see :meth:`Propagator.gradient`); with
        ``saved`` (from ``forward(save=...)`` of the same simulation) the forward pass
        that takes the checkpoint snapshots is skipped. Same kernels either way."""
        prop = self.propagator(model, event, receivers)
        self._report(prop)
        check_adjoint_sources(adjoint_sources)
        adj = stream_to_arrays(
            adjoint_sources, prop.receivers, prop.record, prop.nt_record, prop.dt
        )
        snaps = None
        if saved is not None and self.params.checkpointing == "checkpoint":
            prop.check_gradient_memory(saved=True)  # before loading the snapshots
            snaps = prop.load_snapshots(saved)
        with time_loop_progress(prop.nt, f"adjoint {event.name}") as progress:
            grads = prop.gradient(adj, progress=progress, snapshots=snaps)
        dtype = np.dtype(self.params.precision)
        return Model(model.grid, {k: v.astype(dtype) for k, v in grads.items()})


def _refuse_to_overwrite(path: Path) -> None:
    """A :class:`~seisgrad.errors.DataError` when ``path`` (``forward(save=...)``) is an
    existing folder, or a file that is not a snapshot file of seisgrad's (by its first
    line, or its ``.snapshots`` name: a damaged one is replaced): it would be replaced
    (a parameter file was, in a sweep)."""
    from seisgrad.solver.fd2d.propagator import is_snapshot_file

    if path.is_dir():
        raise DataError(f"forward(save={str(path)!r}): it is a folder; give a file name")
    if path.exists() and path.suffix != ".snapshots" and not is_snapshot_file(path):
        raise DataError(
            f"forward(save={str(path)!r}): the file exists and is not a seisgrad snapshot "
            "file; it is not overwritten (give a new name, or remove it)"
        )
