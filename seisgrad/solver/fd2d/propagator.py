"""The propagator interface of the ``fd2d`` solver: how a material plugs in.

A *propagator* runs the time loop of one material (acoustic, elastic) for one event in
one model, forward and adjoint. :class:`Propagator` does all the material-independent
work; a material subclass provides the compiled time loop and the model parametrization.

What the base class does (in ``__init__``)
------------------------------------------
* ``self.layout`` (:class:`~seisgrad.solver.fd2d.common.Layout`): the model grid extended
  by the absorbing layers, array shape, state ranges, padding and its transpose.
* ``self.internal``: ``self.internal_model(model)`` (the material's own parameters as
  float64 ``(nx, nz)`` arrays), then the CFL check (raises
  :class:`~seisgrad.errors.StabilityError`) and the sampling check (``self.warnings``)
  with the wave speeds from ``self.wave_speeds(internal)``.
* ``self.profiles`` (:class:`~seisgrad.solver.fd2d.common.PMLProfiles`): C-PML
  coefficients at nodes and half nodes along x and z, with the strip index ranges.
* ``self.coef``: the four staggered-derivative coefficients of the chosen order.
* ``self.receiver_ops``: for each raw channel this material records (``raw_channels``),
  a :class:`~seisgrad.solver.fd2d.common.PointOperator` built with the stagger and the
  free-surface parity from ``channel_staggers`` (only channels that are needed).
* ``self.record`` (requested trace channels) and ``self.raw_needed``.
* Finally ``self.setup()`` (material hook).

Raw records and traces
----------------------
The compiled loop writes *raw* samples into ``raw[c, r, n]`` (``c`` indexes
``raw_channels``): ``"P"`` (pressure) at ``t = n dt`` (before step ``n``), ``"VX"``/``"VZ"``
(particle velocity) at ``t = (n + 1/2) dt`` (after the velocity update of step ``n``). The
base class turns them into traces (``P``; ``VX``/``VZ`` at ``n dt``; ``UX``/``UZ``
integrated; with ``correct_time_dispersion`` through the inverse time-dispersion
transform, and cut to ``nt_record`` samples) and applies the exact transposes to adjoint
sources.

Hooks a material implements
---------------------------
``internal_model(model)``, ``wave_speeds(internal)``, ``setup()``,
``new_state()`` (dict of zero arrays: wavefields and PML memory variables),
``state_masks()`` (where each state array holds state, for dot-product tests),
``snapshot_regions()`` (optional: parts of each state array a checkpoint must keep),
``forward_steps(state, n0, n1, raw, store)``, ``store_shape()`` (per-step data for the
gradient), ``new_adjoint()``, ``adjoint_steps(adj, n1, n0, store, raw_adj)``,
``adjoint_to_plain(adj)`` / ``plain_to_adjoint(plain, adj)`` (conversion between the
material's scaled adjoint variables and the plain adjoint ``dJ/dstate``), and
``kernels(adj)`` (gradients on the computational grid, ``(NX, NZ)`` arrays, in the chosen
parametrization). Everything else (checkpointing, threads, traces) is shared.

The adjoint state must carry over between ``adjoint_steps`` calls (it lives in ``adj``);
``forward_steps`` must be deterministic so that recomputed segments are bit-identical.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import pickle
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numba
import numpy as np

from seisgrad.errors import ConfigError, DataError, SolverError, StabilityError
from seisgrad.logs import logger
from seisgrad.model import Model, atomic_path
from seisgrad.solver.acquisition import QUIET_START, Event, Receiver
from seisgrad.solver.fd2d.checkpoint import (
    default_checkpoints,
    gradient_sweep,
    segment_starts,
    sweep_memory,
)
from seisgrad.solver.fd2d.checks import (
    DENSITY_CONTRASTS,
    check_sampling,
    check_stability,
    stability_velocity,
)
from seisgrad.solver.fd2d.common import (
    HALO,
    Layout,
    PointOperator,
    aligned_zeros,
    check_positions,
    default_pml_reflection,
    default_ppw,
    displacement_to_trace,
    displacement_to_trace_adjoint,
    fd_coefficients,
    max_stable_velocity,
    pml_profiles,
    point_operator,
    source_dominant_frequency,
    source_max_frequency,
    velocity_to_trace,
    velocity_to_trace_adjoint,
)
from seisgrad.solver.fd2d.dispersion import (
    EARLY_SOURCE_LOSS,
    early_source_loss,
    extra_steps,
    inverse_transform,
    inverse_transform_adjoint,
)

__all__ = ["COMPILE_PARTS", "Propagator", "SIDES", "SnapshotFile", "numba_threads"]

#: Warn when the C-PML reference velocity (by default the fastest speed stable with
#: ``dt``) exceeds the model's fastest wave speed this many times: the layers are then
#: too steep (10-cell layer at 0.05 of the CFL limit: 2.5% reflected, against 0.035%
#: with ``pml_velocity`` at the model's speed).
PML_OVERDAMPED = 4.0

#: Warn when a ``pml_velocity`` set by the user is below this fraction of the model's
#: fastest wave speed: the layers then damp the fastest waves too weakly (a 20-cell
#: layer, 8 points per wavelength: 0.009% reflected at half the model's speed, 0.19% at
#: 0.35, 1.2% at a quarter, against 0.002% at the model's speed).
PML_UNDERDAMPED = 0.5

#: ``check`` warns about absorbing layers thinner than this many cells: they absorb
#: waves at grazing incidence poorly (an acceptance sweep: receivers along an absorbing
#: edge, 16 wavelengths from the source, order 8, close to the CFL limit: 12% reflected
#: with 10 cells, 3.1% with 15, 0.43% with 20; at half the limit 1.7% with 10 cells).
PML_THIN = 20

#: Zeros after each C-PML profile (``prof``): room for a whole vector past its end.
_PROFILE_PAD = 64

#: First line of a snapshot file (:class:`SnapshotFile`, :meth:`Propagator.snapshot_header`).
_SNAP_PREFIX = b"seisgrad-snapshots "
_SNAP_MAGIC = _SNAP_PREFIX + b"1\n"


def is_snapshot_file(path: Path) -> bool:
    """Whether ``path`` starts as a seisgrad snapshot file does (any version)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(_SNAP_PREFIX)) == _SNAP_PREFIX
    except OSError:
        return False


#: Bytes of the BLAKE2b digest at the end of a snapshot file.
_SNAP_DIGEST_BYTES = 16


def _snapshot_trailer(hexdigest: str) -> bytes:
    """The line after the values of a snapshot file: their digest."""
    return b"\n#blake2b:" + hexdigest.encode() + b"\n"


#: Length of that line.
_SNAP_TRAILER_LEN = len(_snapshot_trailer("0" * 2 * _SNAP_DIGEST_BYTES))

#: Sides of the model, in the order used for absorbing-layer widths.
SIDES = ("left", "right", "bottom", "top")

#: Parts of the compiled time loops (:meth:`Propagator.compile_kernels`).
COMPILE_PARTS = ("forward", "replay", "adjoint")

#: Raw channel that each trace channel is made from.
_TRACE_SOURCE = {"P": "P", "VX": "VX", "VZ": "VZ", "UX": "VX", "UZ": "VZ"}


class SnapshotFile:
    """Write the checkpoint snapshots of a forward run to a file while it runs.

    Use as a context manager around :meth:`Propagator.forward` with
    ``snapshot_sink=``. Each snapshot is copied from the live state arrays and handed to
    a writer thread, which writes and digests it while the time loop goes on (the
    compiled loop releases the GIL). The copies go into :attr:`POOL` buffers allocated
    once, so the saving holds at most that many snapshots' worth of memory, and a slow
    disk holds the run back instead of filling the memory. A writer
    that fails (or dies) stops the saving, never the run; an interrupted run skips the
    queued snapshots and leaves no file behind. The file: the header of
    :meth:`Propagator.snapshot_header`, then the raw values of every snapshot, array by
    array in the order of :meth:`Propagator.snapshot_shapes`, then a trailer holding a
    BLAKE2b digest of those values (:meth:`Propagator.load_snapshots` reads it back and
    refuses a file whose values do not match it). The file appears at ``path``
    (atomically) only when every snapshot was written and the run ended without an
    exception. A write error (disk full, say) is not raised: it is kept in
    :attr:`error`, the rest is not written and the run goes on, since a saved forward
    wavefield is an optimisation (the adjoint recomputes).
    """

    #: Snapshot buffers (each a copy of one state) shared by the loop and the writer.
    POOL = 2

    def __init__(self, prop: Propagator, path: str | os.PathLike[str]) -> None:
        self.prop = prop
        self.path = Path(path)
        self.expected = prop.snapshot_count()
        self.written = 0
        self.error: OSError | None = None
        self._file: Any = None
        self._tmp: Path | None = None
        self._digest = hashlib.blake2b(digest_size=_SNAP_DIGEST_BYTES)
        self._queue: queue.Queue[list[np.ndarray] | None] | None = None
        self._free: queue.Queue[list[np.ndarray]] = queue.Queue()
        self._buffers = 0
        self._thread: threading.Thread | None = None
        self._failed = threading.Event()

    def __enter__(self) -> SnapshotFile:
        try:
            final, self._tmp = atomic_path(self.path)
            self.path = final
            self._file = open(self._tmp, "wb")  # noqa: SIM115 (closed in __exit__)
            self._file.write(self.prop.snapshot_header(self.expected))
        except OSError as exc:
            self._fail(exc)
            return self
        self._queue = queue.Queue(maxsize=self.POOL)
        self._thread = threading.Thread(
            target=self._write_all, args=(self._queue,), name="seisgrad-snapshots", daemon=True
        )
        self._thread.start()
        return self

    def __call__(self, views: list[np.ndarray]) -> None:
        if self._queue is None or self._failed.is_set():
            return
        bufs = self._buffer(views)
        if bufs is None:
            return
        for b, a in zip(bufs, views):
            np.copyto(b, a)
        self._put(bufs)

    def _buffer(self, views: list[np.ndarray]) -> list[np.ndarray] | None:
        """A free buffer set (allocated while fewer than :attr:`POOL` exist), or
        ``None`` when the writer has ended."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        if self._buffers < self.POOL:
            self._buffers += 1
            return [np.empty(a.shape, a.dtype) for a in views]
        return self._while_writing(self._free.get)

    def _put(self, item: list[np.ndarray] | None) -> None:
        """Queue ``item`` for the writer (see :meth:`_while_writing`)."""
        if self._queue is not None:
            self._while_writing(functools.partial(self._queue.put, item))

    def _while_writing(self, wait: Callable[..., Any]) -> Any:
        """``wait(timeout=...)`` (a get or put on one of the writer's queues), retried
        while the writer runs; ``None`` and the saving stops when it has ended: the loop
        never blocks for ever on a thread that died."""
        while self._thread is not None:
            try:
                return wait(timeout=0.5)
            except (queue.Empty, queue.Full):
                if not self._thread.is_alive():
                    break
        self._failed.set()
        return None

    def _write_all(self, waiting: queue.Queue[list[np.ndarray] | None]) -> None:
        """The writer thread: write and digest each queued snapshot until ``None``."""
        while True:
            arrays = waiting.get()
            if arrays is None:
                return
            if not self._failed.is_set():  # else drain: the run goes on without saving
                try:
                    for b in arrays:
                        b.tofile(self._file)
                        self._digest.update(b.data)
                    self.written += 1
                except OSError as exc:
                    self._fail(exc)
                except BaseException as exc:  # noqa: BLE001 - never end while items may come
                    self._fail(OSError(f"the snapshot writer failed: {exc!r}"))
            self._free.put(arrays)

    def _fail(self, exc: OSError) -> None:
        self.error = exc
        self._failed.set()
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def _stop_writer(self) -> None:
        """Let the writer finish what is queued (after a failure: skip it), then end it."""
        if self._thread is not None and self._queue is not None:
            self._put(None)
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        self._thread = None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self._failed.set()  # the run failed: the queued snapshots are not written
        try:
            self._stop_writer()
            done = self._file is not None and exc_type is None and self.written == self.expected
            if done:
                try:
                    self._file.write(_snapshot_trailer(self._digest.hexdigest()))
                    self._file.close()
                    self._file = None
                    os.replace(self._tmp, self.path)  # type: ignore[arg-type]
                except OSError as err:
                    self.error = err
        finally:  # also when interrupted again while the writer finishes
            self._failed.set()
            self._close()
            if self._tmp is not None and self._tmp.exists():
                with contextlib.suppress(OSError):
                    self._tmp.unlink()
        if not done and self.error is None and exc_type is None:
            self.error = OSError(
                f"{self.written} of {self.expected} snapshots written; file not kept"
            )


@contextlib.contextmanager
def numba_threads(n: int) -> Iterator[int]:
    """Run compiled parallel loops with ``n`` threads (clamped to numba's maximum)."""
    n_max = numba.config.NUMBA_NUM_THREADS
    use = max(1, min(int(n), n_max))
    old = numba.get_num_threads()
    numba.set_num_threads(use)
    try:
        yield use
    finally:
        numba.set_num_threads(old)


def check_arguments(model: Any, event: Any, receivers: Any) -> list[Receiver]:
    """Raise a clear error when the arguments of a simulation have the wrong types.

    Returns
    -------
    list of Receiver
        The receivers, as a list.

    Raises
    ------
    DataError
        When ``model`` is not a :class:`~seisgrad.model.Model`.
    ConfigError
        When ``event`` is not an :class:`~seisgrad.solver.acquisition.Event` or
        ``receivers`` is not a sequence of
        :class:`~seisgrad.solver.acquisition.Receiver`.
    """
    if not isinstance(model, Model):
        raise DataError(
            f"the model must be a seisgrad.model.Model (a Grid and named arrays), got "
            f"{type(model).__name__}; build one with Model(grid, {{'vp': ..., 'rho': ...}}) "
            "or read_model(path)"
        )
    if not isinstance(event, Event):
        raise ConfigError(
            f"the event must be a seisgrad.solver.acquisition.Event, got {type(event).__name__}"
        )
    if isinstance(receivers, (str, bytes, Receiver)) or not isinstance(receivers, Iterable):
        raise ConfigError(
            "receivers must be a list of seisgrad.solver.acquisition.Receiver, got "
            f"{type(receivers).__name__}"
        )
    out = list(receivers)
    for k, r in enumerate(out):
        if not isinstance(r, Receiver):
            raise ConfigError(f"receivers[{k}] must be a Receiver, got {type(r).__name__}")
    return out


#: Full-size float64 arrays that every material's set-up and time loop hold at least
#: (wavefields, memory variables, material coefficients), for :func:`check_memory`.
_MIN_FULL_ARRAYS = 16


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (``MemAvailable`` of
    ``/proc/meminfo``, else free physical pages), or ``None`` when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_memory(layout: Layout, pml: tuple[int, ...]) -> None:
    """Raise :class:`~seisgrad.errors.SolverError` when the arrays of a simulation on
    ``layout`` cannot fit in the available memory.

    The estimate is a lower bound (:data:`_MIN_FULL_ARRAYS` float64 arrays of the
    computational grid with its absorbing layers), so a setup refused here would have
    failed allocating (an absurd ``pml_width`` would otherwise be a bare numpy
    ``MemoryError`` asking for hundreds of GiB).
    """
    need = _MIN_FULL_ARRAYS * 8 * int(np.prod(layout.shape, dtype=np.float64))
    free = available_memory()
    if free is None or need <= free:
        return
    g = layout.grid
    raise SolverError(
        f"the computational grid of {layout.NX} x {layout.NZ} nodes (the model's "
        f"{g.nx} x {g.nz} plus absorbing layers of {max(pml)} cells) needs at least "
        f"{need / 2**30:.3g} GiB of memory and {free / 2**30:.3g} GiB are available; "
        "reduce pml_width (20 cells absorb well) or the grid"
    )


#: The growth watch of :meth:`Propagator.forward`: after the sources have stopped
#: (each below ``SOURCE_QUIET`` of its own largest sample), a largest particle velocity
#: ``GROWTH_LIMIT`` times the one seen when they stopped is an instability (waves that
#: focus, or enter a soft layer, gain a factor of ten or so; the unstable modes found
#: so far reached 1e7 to 1e77 without a NaN in float64). About ``GROWTH_CHECKS`` looks.
GROWTH_LIMIT = 1e4
SOURCE_QUIET = 1e-3
GROWTH_CHECKS = 16


class _GrowthWatch:
    """Raises :class:`~seisgrad.errors.StabilityError` when the wavefield of a forward
    run grows :data:`GROWTH_LIMIT` times after the sources stopped (step ``quiet``)."""

    def __init__(self, prop: Propagator, quiet: int) -> None:
        self.prop, self.quiet = prop, quiet
        self.ref: float | None = None
        self.ref_step = 0

    def check(self, state: Mapping[str, np.ndarray], step: int) -> None:
        if step < self.quiet or self.quiet >= self.prop.nt:
            return
        # (no temporary array: two reductions of each field)
        v = max(max(float(state[k].max()), -float(state[k].min())) for k in ("vx", "vz"))
        if self.ref is None:
            if v > 0.0:
                self.ref, self.ref_step = v, step
            return
        if v > GROWTH_LIMIT * self.ref:  # NaN compares False: check_finite reports it
            p = self.prop
            raise StabilityError(
                f"the simulation became unstable: the largest particle velocity grew "
                f"{v / self.ref:.3g} times after the sources stopped ({self.ref:.3g} m/s at "
                f"t = {self.ref_step * p.dt:.4g} s, {v:.3g} m/s at t = {step * p.dt:.4g} s), "
                "although "
                f"dt = {p.dt:.6g} s passed the CFL check (v_max = {p.vmax:.6g} m/s, order "
                f"{p.params.order}); try a smaller dt (for example {0.8 * p.dt:.6g} s), and "
                f"see the warnings of 'check' ({p.growth_advice()})"
            )


class Propagator(ABC):
    """Time loop of one material for one event (see the module docstring).

    Parameters
    ----------
    model
        Model on the user's grid.
    params
        ``FD2D.Parameters``.
    event
        Sources fired together.
    receivers
        Receivers recording ``params.record`` channels.
    """

    #: Material name (``params.materials``).
    material: ClassVar[str]
    #: Kernel (and model) parameter names per parametrization.
    parametrizations: ClassVar[dict[str, tuple[str, ...]]]
    #: Raw channels the compiled loop can record, in ``raw`` array order.
    raw_channels: ClassVar[tuple[str, ...]]
    #: ``raw channel -> ((sx, sz) stagger, free-surface parity)``.
    channel_staggers: ClassVar[dict[str, tuple[tuple[int, int], int]]]
    #: Trace channels recorded when ``params.record`` is null.
    default_record: ClassVar[tuple[str, ...]]

    def __init__(
        self, model: Model, params: Any, event: Event, receivers: Sequence[Receiver]
    ) -> None:
        self.receivers = check_arguments(model, event, receivers)
        self.params = params
        self.event = event
        if not self.receivers:
            raise SolverError("no receivers: give at least one receiver")
        if not event.sources:
            raise SolverError(f"event '{event.name}' has no point sources")
        seen: dict[tuple[str, str], int] = {}
        for k, r in enumerate(self.receivers):
            key = (r.network, r.station)
            if key in seen:
                raise SolverError(
                    f"receivers {seen[key]} and {k} share the id {r.network}.{r.station}: "
                    "traces and adjoint sources are matched by network and station, so "
                    "each receiver needs its own (e.g. ring(..., network='RG') and "
                    "line(..., network='LN'))"
                )
            seen[key] = k
        self.dtype = np.dtype(params.precision)
        #: samples of the traces (``params.nt``)
        self.nt_record = int(params.nt)
        #: time steps run: with the time-dispersion correction a few more than the
        #: record, so that the inverse transform of the record's last samples has the
        #: samples after them (:func:`~seisgrad.solver.fd2d.dispersion.extra_steps`)
        self.nt = self.nt_record + (
            extra_steps(self.nt_record) if params.correct_time_dispersion else 0
        )
        self.dt = float(params.dt)
        pml = tuple(params.pml_width if s in params.pml_sides else 0 for s in SIDES)
        self.layout = Layout(model.grid, pml, bool(params.free_surface))  # type: ignore[arg-type]
        check_memory(self.layout, pml)
        if params.free_surface and "bottom" in params.pml_sides and model.grid.nz < HALO:
            # the images above the surface would reach the bottom layer's memory variables
            raise SolverError(
                f"the model has {model.grid.nz} rows along z; with a free surface and an "
                f"absorbing bottom it needs at least {HALO}"
            )
        check_positions(self.layout, event, self.receivers)
        self.record = self._record_channels()
        raw = {_TRACE_SOURCE[c] for c in self.record}
        self.raw_needed = tuple(c for c in self.raw_channels if c in raw)
        self.internal = self.internal_model(model)
        self.vmin, self.vmax = self.wave_speeds(self.internal)
        self.warnings = self.check()
        # 0 is a valid frequency shift (none: a classical PML), not "unset"
        f0 = params.pml_frequency
        if f0 is None:
            f0 = source_dominant_frequency(event, self.dt)
        # The layers must not depend on the model (the gradient would miss that
        # dependence): by default they are tuned to the fastest stable wave speed.
        vref = params.pml_velocity
        if vref is None:
            vref = max_stable_velocity(self.dt, self.layout.dx, self.layout.dz, params.order)
        self.pml_velocity = vref
        refl = params.pml_reflection
        if refl is None:
            refl = default_pml_reflection(params.pml_width)
        self.profiles = pml_profiles(self.layout, self.dt, vref, f0, refl)
        self.pml_design = (vref, f0, refl)  # for material-specific terms (multiaxial)
        if params.pml_velocity is None and any(self.layout.pml):
            over = vref / self.vmax
            if over > PML_OVERDAMPED:
                self.warnings.append(
                    f"the absorbing layers are tuned to {vref:.4g} m/s, the fastest speed "
                    f"stable with dt = {self.dt:.4g} s ({over:.3g} times the model's fastest "
                    f"wave speed, {self.vmax:.4g} m/s), so they damp too steeply and reflect "
                    f"more (thin layers most); set pml_velocity to about {self.vmax:.4g} "
                    "(a value fixed for every model of a run keeps the gradient exact), or use "
                    "a larger dt"
                )
        if any(self.layout.pml) and params.pml_width < PML_THIN:
            self.warnings.append(
                f"absorbing layers of {params.pml_width} cells reflect more than 1% of "
                "waves that run along an absorbing edge (grazing incidence: receivers "
                "along that edge 16 wavelengths from the source saw 1.7-12% with 10 cells, "
                f"3% with 15, 0.4% with 20); use pml_width {PML_THIN} or more for such "
                "records"
            )
        if (
            any(self.layout.pml)
            and params.pml_velocity is not None
            and (vref < PML_UNDERDAMPED * self.vmax)
        ):
            self.warnings.append(
                f"pml_velocity ({vref:.4g} m/s) is {vref / self.vmax:.2g} times the model's "
                f"fastest wave speed ({self.vmax:.4g} m/s): the absorbing layers damp the "
                f"fastest waves too weakly and reflect more (1.2% at a quarter of it); set "
                f"pml_velocity to about {self.vmax:.4g}, or null"
            )
        n_max = numba.config.NUMBA_NUM_THREADS
        if params.threads > n_max:
            self.warnings.append(
                f"threads: {params.threads} is more than the {n_max} thread(s) numba may "
                f"use on this machine (NUMBA_NUM_THREADS, by default the number of cores); "
                f"the loops run with {n_max}"
            )
        self.coef = fd_coefficients(params.order)
        #: Multiplies every source (0 makes the loop a linear map of its initial state).
        self.source_scale = 1.0
        pts = [(r.x, r.z) for r in self.receivers]
        self.receiver_ops: dict[str, PointOperator] = {}
        for ch in self.raw_channels:
            stagger, parity = self.channel_staggers[ch]
            if ch in self.raw_needed:
                self.receiver_ops[ch] = point_operator(self.layout, pts, stagger, parity)
            else:
                self.receiver_ops[ch] = point_operator(self.layout, [], stagger, parity)
        self.setup()

    # ------------------------------------------------------------------ public API

    @property
    def kernel_names(self) -> tuple[str, ...]:
        return self.parametrizations[self.params.parametrization]

    def check(self) -> list[str]:
        """CFL check (raises), then warnings: under-sampling, silent sources (a source
        time function that is zero everywhere) and ``array`` samples cut off by the end
        of the simulation."""
        p = self.params
        lay = self.layout
        moduli = self.stability_moduli()
        v = stability_velocity(self.dt, self.vmax, moduli, lay.dx, lay.dz, p.order)
        reason = DENSITY_CONTRASTS
        factor, why = self.stability_factor()
        if self.vmax / factor > v:
            v, reason = self.vmax / factor, why
        check_stability(self.dt, v, lay.dx, lay.dz, p.order, v_fastest=self.vmax, reason=reason)
        fmax = source_max_frequency(self.event, self.dt)
        ppw = p.min_points_per_wavelength
        if ppw is None:
            ppw = default_ppw(p.order)  # and 0 never warns
        out = check_sampling(self.vmin, fmax, self.layout.dx, self.layout.dz, ppw)
        for k, s in enumerate(self.event.sources):
            where = f"event '{self.event.name}': source {k} ({s.kind} at x={s.x:g}, z={s.z:g})"
            samples = s.stf.sample(self.nt, self.dt)
            self._check_source_range(s, samples, where)
            if s.stf.is_silent():
                out.append(
                    f"{where} is silent: its source time function is zero everywhere "
                    "(all samples zero, or amplitude 0)"
                )
            elif s.strength_is_zero():
                what = {
                    "force": "fx = fz = 0",
                    "moment_tensor": "mxx = mzz = mxz = 0 (set at least one component)",
                }.get(s.kind, "amplitude = 0")
                out.append(f"{where} is silent: {what}")
            cut = s.stf.cut_samples(self.nt)
            if cut:
                extra = self.nt - self.nt_record
                steps = f"nt = {self.nt_record}" + (
                    f" and the {extra} steps the time-dispersion correction runs after it"
                    if extra
                    else ""
                )
                out.append(
                    f"{where}: {cut} significant sample(s) of its 'array' source time function "
                    f"({len(s.stf.values)} samples) come after the end of the simulation and "
                    f"are not used ({steps} {'use' if extra else 'uses'} samples "
                    f"0..{self.nt})"
                )
            start = s.stf.start_fraction(self.dt)
            lost = 0.0
            if p.correct_time_dispersion:
                a = 0.5 if self.source_at_half_steps(s) else 0.0
                lost = early_source_loss(samples, a)
            spread = (
                f"; the time-dispersion correction also spreads it over a few tens of "
                f"steps, and {100 * lost:.2g}% of its amplitude would fall before t = 0, "
                "where it is lost"
                if lost > EARLY_SOURCE_LOSS
                else ""
            )
            if start > QUIET_START:
                out.append(
                    f"{where}: its source time function starts abruptly, at {start:.2g} of "
                    "its peak at t = 0 (a simulation starts at rest): the jump is a "
                    "broadband step the grid cannot carry, which adds noise and dispersion "
                    f"to every trace{spread}; delay it (a larger t0, or leading zeros in an "
                    "'array')"
                )
            elif lost > EARLY_SOURCE_LOSS:
                out.append(
                    f"{where}: its source time function is not quiet at the start: the "
                    "time-dispersion correction spreads it over a few tens of steps, and "
                    f"{100 * lost:.2g}% of its amplitude would fall before t = 0, where it is "
                    "lost; delay it (a larger t0, or leading zeros in an 'array') or set "
                    "correct_time_dispersion: false"
                )
        return out

    #: Largest source value (amplitude times source time function) accepted, as a
    #: fraction of the precision's largest number: the wavefield near a source grows
    #: past it by the grid's factors (``dt / (rho dx dz)``, ...), and an overflow then
    #: read as an instability that the CFL check had missed.
    SOURCE_RANGE = 1e-12

    def _check_source_range(self, source: Any, samples: np.ndarray, where: str) -> None:
        """Raise :class:`~seisgrad.errors.ConfigError` when ``source``'s ``samples`` (its
        source time function over the run) times its strength are not finite or too
        large for the precision (``amplitude: 1e300`` in float32)."""
        values = np.asarray(samples, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            peak = float(np.max(np.abs(values), initial=0.0)) * source.strength()
        limit = self.SOURCE_RANGE * float(np.finfo(self.dtype).max)
        if not np.all(np.isfinite(values)) or not math.isfinite(peak):
            raise ConfigError(
                f"{where}: its samples (amplitude times source time function) are not "
                "finite; check amplitude, f0 and t0"
            )
        if peak > limit:
            raise ConfigError(
                f"{where}: its largest sample, {peak:.3g}, is too large for "
                f"{np.dtype(self.dtype).name} (at most {limit:.3g} here: the wavefield near "
                "the source grows past it); scale the amplitudes down (the kernels scale "
                "with them), or use precision: float64"
            )

    def source_at_half_steps(self, source: Any) -> bool:
        """Whether the time loop injects ``source`` at ``(n + 1/2) dt`` (on pressure or
        stress) rather than at ``n dt`` (forces, on velocities)."""
        return source.kind != "force"

    def forward(
        self,
        progress: Callable[[int], None] | None = None,
        illumination_stride: int = 0,
        snapshot_sink: Callable[[list[np.ndarray]], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run the simulation; return ``channel -> (nrec, nt)`` float64 traces.

        ``progress(n)`` is called after step ``n`` every ``nt/100`` steps (the compiled
        loop runs in chunks; results are identical to one call). With
        ``illumination_stride > 0`` the particle-velocity energy
        :math:`E = \\Delta t \\, s \\sum_k (v_x^2 + v_z^2)(t_{ks})` at the model nodes is
        accumulated every ``s`` steps into :attr:`illumination` (``(nx, nz)``). A
        ``snapshot_sink`` (such as a :class:`SnapshotFile`) is handed the states at the
        starts of the checkpointing segments, as views of the live arrays
        (:meth:`snapshot_views`) that it must consume (or copy) before it returns.
        """
        raw = self.new_raw()
        state = self.new_state()
        chunk = self.nt
        if illumination_stride > 0:
            chunk = int(illumination_stride)
        elif progress is not None:
            chunk = max(1, -(-self.nt // 100))
        # the growth watch looks at the wavefield about GROWTH_CHECKS times (in whole
        # sweeps of 16 steps); the chunks give the same results as one call
        quiet = self.sources_end()
        if quiet < self.nt and illumination_stride <= 0:  # (the stride is the sampling)
            chunk = min(chunk, 16 * max(1, -(-self.nt // (16 * GROWTH_CHECKS))))
        watch = _GrowthWatch(self, quiet)
        energy = np.zeros(self.layout.grid.shape) if illumination_stride > 0 else None
        view = self.layout.model_slice
        starts = []
        if snapshot_sink is not None:
            starts = segment_starts(self.nt, self.checkpoint_count())
        with numba_threads(self.params.threads):
            n = 0
            while n < self.nt:
                m = min(self.nt, n + chunk)
                if starts:
                    if starts[0] == n:
                        snapshot_sink(self.snapshot_views(state))
                        starts.pop(0)
                    if starts:
                        m = min(m, starts[0])
                self.forward_steps(state, n, m, raw, None)
                watch.check(state, m)
                if energy is not None:
                    for key in ("vx", "vz"):
                        v = np.asarray(state[key][view], dtype=np.float64)
                        energy += v * v
                if progress is not None:
                    progress(m)
                n = m
        if energy is not None:
            self.illumination = energy * (self.dt * chunk)
        self.check_finite(state, raw)
        return self.raw_to_traces(raw)

    def source_tables(self) -> list[np.ndarray]:
        """The source samples the time loop injects, ``(nsrc, nt)`` per table (none by
        default: then the growth watch of :meth:`forward` is off)."""
        return []

    def sources_end(self) -> int:
        """The first step after which every source stays below ``SOURCE_QUIET`` of its
        own largest sample (``nt`` when a source acts to the end, or all are silent).
        Each source on its own scale: a pressure source and a force are in other units."""
        last = -1
        for table in self.source_tables():
            for row in np.abs(np.atleast_2d(table)):
                peak = float(row.max(initial=0.0))
                if peak > 0.0:
                    last = max(last, int(np.flatnonzero(row > SOURCE_QUIET * peak)[-1]))
        return self.nt if last < 0 else min(self.nt, last + 1)

    def growth_advice(self) -> str:
        """What the growth watch's error says besides a smaller ``dt``: the setups that
        grow whatever the ``dt`` (material hook)."""
        return "it names setups that grow whatever the dt"

    def check_finite(self, state: Mapping[str, np.ndarray], raw: np.ndarray) -> None:
        """Raise :class:`~seisgrad.errors.StabilityError` when a forward run ended with
        non-finite values (NaN or inf) in its wavefields or records: the scheme was
        unstable although the CFL check passed (see :meth:`check`), and the synthetics
        would be meaningless."""
        bad = [k for k, v in state.items() if not np.isfinite(v).all()]
        if not np.isfinite(raw).all():
            bad.append("records")
        if not bad:
            return
        p = self.params
        raise StabilityError(
            f"the simulation became unstable: non-finite values (NaN or inf) in "
            f"{', '.join(bad)} after {self.nt} steps, although dt = {self.dt:.6g} s passed "
            f"the CFL check (v_max = {self.vmax:.6g} m/s, order {p.order}); use a smaller "
            f"dt (for example {0.8 * self.dt:.6g} s)"
        )

    def gradient(
        self,
        adjoint: Mapping[str, np.ndarray],
        progress: Callable[[int], None] | None = None,
        snapshots: list[list[np.ndarray]] | None = None,
    ) -> dict[str, np.ndarray]:
        """Kernels ``name -> (nx, nz)`` for adjoint sources ``channel -> (nrec, nt)``.

        ``adjoint[c][r, n]`` is ``dJ/dd[c][r, n]``; missing channels are zero. The result
        is the exact gradient of ``J`` through the discrete forward problem.
        ``progress(k)`` is called with the number of adjoint steps done after each
        checkpoint segment. ``snapshots`` (checkpointing only) are those an earlier
        :meth:`forward` of this simulation gave its ``snapshot_sink`` (as
        :meth:`load_snapshots` returns them): the gradient then skips its own first
        forward pass (same result, bit for bit).
        """
        self.check_gradient_memory(saved=snapshots is not None)
        raw_adj = self.traces_to_raw_adjoint(adjoint)
        adj = self.new_adjoint()
        with numba_threads(self.params.threads):
            gradient_sweep(
                self.nt,
                self.params.checkpointing,
                self.checkpoint_count(),
                self.new_state,
                lambda st, a, b, store: self.forward_steps(st, a, b, None, store),
                self.snapshot,
                self.restore,
                self.new_store,
                lambda b, a, store: self._adjoint_segment(adj, b, a, store, raw_adj, progress),
                snapshots if self.params.checkpointing == "checkpoint" else None,
            )
        grads = self.kernels(adj)
        return {name: self.layout.pad_adjoint(g) for name, g in grads.items()}

    def check_gradient_memory(self, saved: bool = False) -> None:
        """Raise :class:`~seisgrad.errors.SolverError` when the snapshots and per-step
        data of a gradient run (:meth:`memory_estimate`; with ``saved`` snapshots, already
        in memory, only the per-step data) cannot fit in the available memory, before
        anything is allocated: ``checkpointing: store`` over a long run, or a huge
        ``checkpoints``, would otherwise fail with a bare ``MemoryError`` (or be killed)
        after the forward pass."""
        p = self.params
        count = self.checkpoint_count()
        need = self.memory_estimate(saved=saved)
        free = available_memory()
        if free is None or need <= free:
            return
        if p.checkpointing == "store":
            what = f"checkpointing 'store' keeps all {self.nt} steps"
            fix = "use checkpointing: checkpoint (recomputes, bounded memory)"
        else:
            what = f"{count} checkpoint snapshots and one segment of per-step data"
            best = default_checkpoints(self.nt, self.snapshot_bytes(), self.step_bytes())
            fix = f"leave checkpoints at null (the default: {best} snapshots, the least memory)"
        raise SolverError(
            f"the gradient needs {need / 2**30:.3g} GiB ({what}) and "
            f"{free / 2**30:.3g} GiB are available; {fix}, or reduce nt or the grid"
        )

    def _adjoint_segment(
        self,
        adj: dict[str, np.ndarray],
        n1: int,
        n0: int,
        store: np.ndarray,
        raw_adj: np.ndarray,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.adjoint_steps(adj, n1, n0, store, raw_adj)
        if progress is not None:
            progress(self.nt - n0)

    def compile_kernels(self, parts: Sequence[str]) -> None:
        """Compile (or load from numba's cache) the time loops of ``parts`` without
        running a step: ``forward`` (a plain simulation), ``replay`` (the forward
        recomputation that keeps per-step data for the gradient) and ``adjoint``."""
        unknown = sorted(set(parts) - set(COMPILE_PARTS))
        if unknown:
            raise SolverError(
                f"unknown compile part(s) {', '.join(unknown)}; valid: {', '.join(COMPILE_PARTS)}"
            )
        with numba_threads(self.params.threads):
            for part in parts:
                if part == "forward":
                    self.forward_steps(self.new_state(), 0, 0, self.new_raw(), None)
                elif part == "replay":
                    store = self.new_store(1)
                    self.forward_steps(self.new_state(), 0, 0, self.new_raw(), store)
                else:
                    raw_adj = self.traces_to_raw_adjoint({})
                    self.adjoint_steps(self.new_adjoint(), 0, 0, self.new_store(1), raw_adj)

    def checkpoint_count(self) -> int:
        """Number of snapshots of the checkpointing schedule."""
        if self.params.checkpoints is not None:
            return int(self.params.checkpoints)
        return default_checkpoints(self.nt, self.snapshot_bytes(), self.step_bytes())

    def simulation_key(self) -> str:
        """Digest of everything the forward wavefield depends on (solver parameters,
        material arrays, sources, receivers). Saved snapshots are used only by a
        simulation with the same key."""
        h = hashlib.sha256(type(self).__name__.encode())
        # the steps run (more than nt with the time-dispersion correction): snapshots of
        # a run with another count were taken at other steps
        h.update(f"steps {self.nt}".encode())
        params = dataclasses.asdict(self.params)
        h.update(json.dumps(params, sort_keys=True, default=repr).encode())
        h.update(pickle.dumps((self.event, self.receivers), protocol=4))
        for name in sorted(self.internal):
            a = np.ascontiguousarray(self.internal[name])
            h.update(f"{name} {a.dtype.str} {a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    def snapshot_header(self, count: int) -> bytes:
        """First two lines of a snapshot file of ``count`` snapshots (see
        :class:`SnapshotFile`): a text line ``seisgrad-snapshots 1`` and a JSON line with
        :meth:`simulation_key`, the shape ``(snapshots, values)`` and the dtype."""
        size = sum(int(np.prod(sh)) for sh in self.snapshot_shapes())
        header = {"key": self.simulation_key(), "shape": [count, size], "dtype": self.dtype.str}
        return _SNAP_MAGIC + json.dumps(header).encode() + b"\n"

    def snapshot_count(self) -> int:
        """Snapshots a :meth:`forward` hands its ``snapshot_sink``: one per segment."""
        return len(segment_starts(self.nt, self.checkpoint_count()))

    def snapshot_file_bytes(self) -> int:
        """Size of a snapshot file (:class:`SnapshotFile`) without its header."""
        return self.snapshot_count() * self.snapshot_bytes()

    def load_snapshots(self, path: str | os.PathLike[str]) -> list[list[np.ndarray]] | None:
        """Snapshots saved by a :class:`SnapshotFile` for this very simulation, or
        ``None`` (with the reason logged) when the file is missing, unreadable or from
        another simulation: the gradient then runs its own forward pass.

        The arrays are read-only views of a memory map of the file: the file must not
        be changed while they are in use."""
        path = Path(path)
        if not path.is_file():
            logger.info("no saved forward wavefield at %s: the adjoint recomputes it", path)
            return None
        count = self.snapshot_count()
        shapes = self.snapshot_shapes()
        size = sum(int(np.prod(sh)) for sh in shapes)
        try:
            with open(path, "rb") as f:
                if f.readline() != _SNAP_MAGIC:
                    raise ValueError("not a seisgrad snapshot file")
                header = json.loads(f.readline())
                same = (
                    header.get("key") == self.simulation_key()
                    and header.get("shape") == [count, size]
                    and header.get("dtype") == self.dtype.str
                )
                if not same:
                    logger.warning(
                        "saved forward wavefield %s is from another simulation: recomputing",
                        path,
                    )
                    return None
                offset = f.tell()
                nbytes = count * size * self.dtype.itemsize
                extra = path.stat().st_size - offset - nbytes - _SNAP_TRAILER_LEN
                if extra:
                    raise ValueError(
                        f"{extra:+d} bytes against a file of {count * size} values and a digest"
                    )
                f.seek(offset + nbytes)
                trailer = f.read(_SNAP_TRAILER_LEN)
            # mapped, not read into the process's memory: each snapshot is read from the
            # page cache when the gradient restores it
            flat = np.memmap(
                path, dtype=self.dtype, mode="r", offset=offset, shape=(count * size,)
            )
            digest = hashlib.blake2b(digest_size=_SNAP_DIGEST_BYTES)
            step = max(1, (64 << 20) // self.dtype.itemsize)
            for k in range(0, flat.size, step):
                digest.update(np.ascontiguousarray(flat[k : k + step]).data)
            if trailer != _snapshot_trailer(digest.hexdigest()):
                raise ValueError("its values do not match their digest: the file is damaged")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            logger.warning("saved forward wavefield %s is unreadable (%s): recomputing", path, exc)
            return None
        out = []
        for row in flat.reshape(count, size):
            parts, k = [], 0
            for sh in shapes:
                n = int(np.prod(sh))
                parts.append(row[k : k + n].reshape(sh))
                k += n
            out.append(parts)
        return out

    def memory_estimate(self, saved: bool = False) -> int:
        """Bytes of snapshots and per-step data held by a gradient run (``saved``: its
        snapshots come from an earlier forward run, already in memory: not counted)."""
        return sweep_memory(
            self.nt,
            self.params.checkpointing,
            self.checkpoint_count(),
            0 if saved else self.snapshot_bytes(),
            self.step_bytes(),
        )

    # ------------------------------------------------------------------ linear-map API

    def propagate(
        self, state: dict[str, np.ndarray], n0: int, n1: int
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Advance a copy of ``state`` over steps ``n0..n1-1``; return it and raw records.

        With ``source_scale = 0`` this is a linear map (used by dot-product tests).
        """
        st = {k: v.copy() for k, v in state.items()}
        raw = self.new_raw()
        with numba_threads(self.params.threads):
            self.forward_steps(st, n0, n1, raw, None)
        return st, raw

    def propagate_adjoint(
        self, plain: dict[str, np.ndarray], raw_adj: np.ndarray, n1: int, n0: int
    ) -> dict[str, np.ndarray]:
        """Transpose of :meth:`propagate` (without sources): plain adjoint state at ``n0``.

        ``plain`` is ``dJ/dstate`` at step ``n1`` (same keys as the state) and
        ``raw_adj`` is ``dJ/draw``.
        """
        adj = self.new_adjoint()
        self.plain_to_adjoint(plain, adj)
        store = self.new_store(max(n1 - n0, 1))
        with numba_threads(self.params.threads):
            self.adjoint_steps(adj, n1, n0, store, np.asarray(raw_adj, dtype=np.float64))
        return self.adjoint_to_plain(adj)

    def random_state(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Random values on every state entry (zero elsewhere)."""
        out = {}
        for name, mask in self.state_masks().items():
            a = np.zeros(mask.shape, dtype=self.dtype)
            a[mask] = rng.standard_normal(int(mask.sum()))
            out[name] = a
        return out

    def state_dot(self, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
        """Inner product of two states over the state entries (float64)."""
        total = 0.0
        for name, mask in self.state_masks().items():
            total += float(np.dot(a[name][mask].astype(np.float64), b[name][mask]))
        return total

    # ------------------------------------------------------------------ shared helpers

    def _record_channels(self) -> tuple[str, ...]:
        rec = self.params.record
        if rec is None:
            return tuple(self.default_record)
        allowed = [c for c, src in _TRACE_SOURCE.items() if src in self.raw_channels]
        bad = [c for c in rec if c not in allowed]
        if bad:
            raise ConfigError(
                f"parameter 'record': channel(s) {', '.join(bad)} cannot be recorded by the "
                f"{self.material} solver; choose from {', '.join(allowed)}"
            )
        if not rec:
            raise ConfigError("parameter 'record': give at least one channel (or null)")
        return tuple(dict.fromkeys(rec))

    def new_raw(self) -> np.ndarray:
        """Zero raw record array ``(len(raw_channels), nrec, nt)`` (float64)."""
        return np.zeros((len(self.raw_channels), len(self.receivers), self.nt))

    def raw_to_traces(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        """Traces at ``n dt`` from the raw records (pressure at ``n dt``, velocities at
        ``(n + 1/2) dt``). With ``correct_time_dispersion`` each goes through the inverse
        time-dispersion transform (:mod:`~seisgrad.solver.fd2d.dispersion`), which also
        moves the velocities to ``n dt`` exactly; otherwise velocities are averaged over
        the two half steps around ``n dt``. Displacements are the running sum of the
        velocities (exact integration on the warped frequency axis)."""
        fix = self.params.correct_time_dispersion
        prec = self.params.precision
        n = self.nt_record
        out = {}
        for ch in self.record:
            r = raw[self.raw_channels.index(_TRACE_SOURCE[ch])]
            if ch == "P":
                out[ch] = inverse_transform(r, 0.0, prec)[..., :n] if fix else r.copy()
            elif ch in ("VX", "VZ"):
                out[ch] = inverse_transform(r, 0.5, prec)[..., :n] if fix else velocity_to_trace(r)
            else:
                u = displacement_to_trace(r, self.dt)
                out[ch] = inverse_transform(u, 0.0, prec)[..., :n] if fix else u
        return out

    def traces_to_raw_adjoint(self, adjoint: Mapping[str, np.ndarray]) -> np.ndarray:
        raw = self.new_raw()
        fix = self.params.correct_time_dispersion
        prec = self.params.precision
        for ch, arr in adjoint.items():
            if ch not in self.record:
                raise DataError(
                    f"adjoint source for channel {ch!r}, which is not recorded "
                    f"(recorded: {', '.join(self.record)})"
                )
            a = np.asarray(arr, dtype=np.float64)
            if a.shape != (len(self.receivers), self.nt_record):
                raise DataError(
                    f"adjoint source of channel {ch}: shape {a.shape}, expected "
                    f"{(len(self.receivers), self.nt_record)} (receivers, time steps)"
                )
            if not np.isfinite(a).all():
                rows = np.flatnonzero(~np.isfinite(a).all(axis=1))
                names = ", ".join(self.receivers[int(r)].station for r in rows[:5])
                raise DataError(
                    f"adjoint source of channel {ch}: non-finite values (NaN or inf) at "
                    f"{rows.size} receiver(s) ({names}{', ...' if rows.size > 5 else ''})"
                )
            c = self.raw_channels.index(_TRACE_SOURCE[ch])
            # the transpose of cutting the record to nt_record samples
            a = np.pad(a, ((0, 0), (0, self.nt - self.nt_record)))
            if ch == "P":
                raw[c] += inverse_transform_adjoint(a, 0.0, prec) if fix else a
            elif ch in ("VX", "VZ"):
                raw[c] += (
                    inverse_transform_adjoint(a, 0.5, prec)
                    if fix
                    else velocity_to_trace_adjoint(a)
                )
            else:
                if fix:
                    a = inverse_transform_adjoint(a, 0.0, prec)
                raw[c] += displacement_to_trace_adjoint(a, self.dt)
        return raw

    def snapshot_regions(self) -> dict[str, list[tuple[slice, slice]]]:
        """Parts of each state array that a checkpoint keeps (default: everything)."""
        return {name: [(slice(None), slice(None))] for name in self.state_masks()}

    def snapshot_views(self, state: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Views of the complete state (the regions of :meth:`snapshot_regions`), in
        the order of :meth:`snapshot_shapes`."""
        return [state[name][reg] for name, regs in self.snapshot_regions().items() for reg in regs]

    def snapshot(self, state: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Copy of the complete state (as given by :meth:`snapshot_regions`)."""
        return [v.copy() for v in self.snapshot_views(state)]

    def restore(self, state: dict[str, np.ndarray], snap: list[np.ndarray]) -> None:
        """Put a :meth:`snapshot` back (state arrays outside the regions are zeroed)."""
        it = iter(snap)
        for name, regions in self.snapshot_regions().items():
            state[name][...] = 0
            for reg in regions:
                state[name][reg] = next(it)

    def snapshot_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the arrays of one :meth:`snapshot`, in order."""
        grid = np.empty(self.layout.shape, dtype=np.uint8)
        regions = self.snapshot_regions().values()
        return [grid[reg].shape for regs in regions for reg in regs]

    def snapshot_bytes(self) -> int:
        return sum(int(np.prod(sh)) for sh in self.snapshot_shapes()) * self.dtype.itemsize

    def step_bytes(self) -> int:
        return int(np.prod(self.store_shape())) * self.dtype.itemsize

    def new_store(self, nsteps: int) -> np.ndarray:
        """Per-step data for ``nsteps`` steps (zeros: entries a material never writes,
        such as halos, must read as zero).

        Allocated by :func:`~seisgrad.solver.fd2d.common.zeroed_buffer` (transparent
        huge pages where it can: with 4 KiB pages, first-touch faults made writing a
        2.7 GB store-everything history several times slower than the forward run),
        with the alignment of the wavefields (every slot is a multiple of
        ``ROW_MULTIPLE`` elements long).
        """
        return aligned_zeros((nsteps, *self.store_shape()), self.dtype)

    # ------------------------------------------------------------------ material hooks

    def internal_model(self, model: Model) -> dict[str, np.ndarray]:
        """Validate ``model`` and return the material parameters (float64, ``(nx, nz)``)
        of this simulation's parametrization (:meth:`internal_values`)."""
        return self.internal_values(model, self.params.parametrization)

    @classmethod
    @abstractmethod
    def internal_values(cls, model: Model, parametrization: str) -> dict[str, np.ndarray]:
        """Validate ``model`` and return the material parameters (float64, ``(nx, nz)``)
        that a simulation in ``parametrization`` uses: those of the parametrization's
        names the model holds, the others derived from them (e.g. ``kappa = rho vp^2``;
        a model that holds several sets is read in the parametrization's own)."""

    @abstractmethod
    def stability_moduli(self) -> dict[str, np.ndarray]:
        """The moduli and density at the model's nodes for the stability check with
        density contrasts (:func:`~seisgrad.solver.fd2d.checks.stability_velocity`):
        ``kappa`` and ``rho``, or ``lambda``, ``mu`` and ``rho``."""

    def stability_factor(self) -> tuple[float, str]:
        """The fraction of the CFL limit up to which the scheme is stable (1 unless a
        boundary closure is less stable than the interior), and why, for messages."""
        return 1.0, ""

    @abstractmethod
    def wave_speeds(self, internal: Mapping[str, np.ndarray]) -> tuple[float, float]:
        """``(v_min, v_max)``: slowest (for sampling) and fastest (for CFL) wave speed."""

    @abstractmethod
    def setup(self) -> None:
        """Precompute material arrays, source operators and time functions."""

    def setup_stencil_tables(self) -> None:
        """Material-independent tables of the compiled loops, in the working dtype:
        stencil coefficients per unit length (``cx``, ``cz``), the C-PML recursion
        profiles (``prof``), the strip bounds of the absorbing layers (``strips``) and
        the end of the x range (``nxe``). Call from :meth:`setup`."""
        lay, dtype = self.layout, self.dtype
        self.cx = (self.coef / lay.dx).astype(dtype)
        self.cz = (self.coef / lay.dz).astype(dtype)
        pr = self.profiles
        # padded with zeros: the vector loops over the z strips load whole vectors of
        # the z profiles from the strip start (the lanes past the strip are not used)
        self.prof = tuple(
            np.concatenate([a, np.zeros(_PROFILE_PAD)]).astype(dtype)
            for a in (
                pr.ax_node, pr.bx_node, pr.ax_half, pr.bx_half,
                pr.az_node, pr.bz_node, pr.az_half, pr.bz_half,
            )
        )  # fmt: skip
        self.strips = tuple(
            np.asarray(s, dtype=np.int64) for s in (pr.x_node, pr.x_half, pr.z_node, pr.z_half)
        )
        self.nxe = HALO + lay.NX

    @abstractmethod
    def new_state(self) -> dict[str, np.ndarray]:
        """Zero forward state (wavefields and PML memory variables, full array shape)."""

    @abstractmethod
    def state_masks(self) -> dict[str, np.ndarray]:
        """``name -> bool array``: where each state array holds state."""

    @abstractmethod
    def store_shape(self) -> tuple[int, ...]:
        """Shape of the per-step data the gradient needs (one time step)."""

    @abstractmethod
    def forward_steps(
        self,
        state: dict[str, np.ndarray],
        n0: int,
        n1: int,
        raw: np.ndarray | None,
        store: np.ndarray | None,
    ) -> None:
        """Advance ``state`` over steps ``n0..n1-1``, adding raw records into ``raw``
        (``None``: record nothing, as the gradient's forward passes do); with ``store``,
        write the data of step ``n`` to ``store[n - n0]``."""

    @abstractmethod
    def new_adjoint(self) -> dict[str, np.ndarray]:
        """Zero adjoint state and gradient accumulators."""

    @abstractmethod
    def adjoint_steps(
        self,
        adj: dict[str, np.ndarray],
        n1: int,
        n0: int,
        store: np.ndarray,
        raw_adj: np.ndarray,
    ) -> None:
        """Adjoint steps ``n1-1 .. n0``: inject ``raw_adj``, update ``adj`` and the
        gradient accumulators using ``store[n - n0]``."""

    @abstractmethod
    def adjoint_to_plain(self, adj: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Plain adjoint state ``dJ/dstate`` (keys as :meth:`new_state`)."""

    @abstractmethod
    def plain_to_adjoint(
        self, plain: Mapping[str, np.ndarray], adj: dict[str, np.ndarray]
    ) -> None:
        """Set the adjoint state in ``adj`` from plain values ``dJ/dstate``."""

    @abstractmethod
    def kernels(self, adj: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Gradients ``name -> (NX, NZ)`` on the computational grid (chosen
        parametrization), from the accumulators in ``adj``."""
