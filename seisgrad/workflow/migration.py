"""``workflow: migration``: Forward + adjoint simulations + post-processed gradient.

Tasks after those of :class:`~seisgrad.workflow.forward.Forward`:

5. ``run_adjoint_simulations`` (per source): event kernels
   :math:`K_m = \\partial J_s / \\partial m` to ``path_scratch/kernels/<event>.h5``.
6. ``postprocess_event_kernels``: sum over sources in event order (the result does not
   depend on which rank or job ran what), kept as ``path_output/kernels_raw.h5``; event
   kernels copied to ``path_output/kernels/`` when ``export_kernels`` is set; then
   scaling by the model (``scale_by_model``: :math:`g = m \\, K`, the gradient with
   respect to :math:`\\ln m`) and smoothing (``smooth_h``/``smooth_v``, Gaussian or
   Laplacian), in that order, as SeisFlows smooths SPECFEM's relative kernels.
7. ``evaluate_gradient_from_kernels``: the optional illumination preconditioner
   (``precondition: illumination``: division by the summed forward-field energy,
   smoothed like the kernels), the mask from ``path_mask``, and export to
   ``path_output/gradient.h5`` with figures.

A gradient that is all zero or not finite is an error naming the step that made it.
Subclass and override one task to change it::

    class MyMigration(Migration):
        def postprocess_event_kernels(self):
            ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seisgrad.config import param
from seisgrad.errors import ConfigError, DataError, GradientError
from seisgrad.logs import logger
from seisgrad.model import Grid, Model, in_parametrization, read_model, write_model
from seisgrad.plot import KERNEL_CLIP
from seisgrad.preprocess.io import read_hdf5
from seisgrad.workflow import postprocess as pp
from seisgrad.workflow.base import ACQUISITION, TaskContext, TaskInputs, per_source
from seisgrad.workflow.forward import Forward, ForwardParameters

__all__ = ["Migration", "MigrationParameters"]


@dataclass
class MigrationParameters(ForwardParameters):
    """Parameters of the Migration workflow."""

    export_kernels: bool = param(
        False, "copy event kernels to path_output/kernels", affects_results=False
    )
    smooth_type: str = param(
        "gaussian", "kernel smoothing operator", choices=("gaussian", "laplacian")
    )
    smooth_h: float = param(
        0.0, "horizontal smoothing: Gaussian standard deviation (m); 0 = none", low=0.0
    )
    smooth_v: float = param(
        0.0, "vertical smoothing: Gaussian standard deviation (m); 0 = none", low=0.0
    )
    smooth_edge: str = param(
        "reflect",
        "edges of the Gaussian smoothing: 'reflect' (mirrored at the model's edges: the "
        "sum is conserved) or 'normalize' (weights outside dropped and the rest "
        "rescaled, as SPECFEM's xsmooth_sem)",
        choices=("reflect", "normalize"),
    )
    scale_by_model: bool = param(
        True, "multiply kernels by the model: gradient with respect to ln m (relative)"
    )
    precondition: str | None = param(
        None,
        "gradient preconditioner: null, or 'illumination' (divide by the summed, smoothed "
        "forward-field energy; costs one extra forward run per source)",
        choices=(None, "illumination"),
    )
    plot_clip: float = param(
        KERNEL_CLIP,
        "percentile of |values| that sets the colour scale of the kernel and gradient "
        "figures (100: the largest value; the default saturates the spikes at sources "
        "and receivers)",
        low=0.0,
        low_exclusive=True,
        high=100.0,
    )
    illumination_water_level: float = param(
        pp.ILLUMINATION_WATER_LEVEL,
        "water level of the illumination preconditioner (relative to its maximum)",
        low=1e-12,
    )
    save_forward: bool = param(
        True,
        "keep what the forward simulation of each source computed for its adjoint "
        "(fd2d: the checkpoint snapshots, in path_scratch/forward, deleted once the "
        "kernel is written) so that the adjoint skips one forward pass; costs disk",
        affects_results=False,
    )


class Migration(Forward):
    """Gradient of the total misfit with respect to the model."""

    Parameters = MigrationParameters

    @property
    def task_list(self) -> list[Callable[..., None]]:
        return super().task_list + [
            self.run_adjoint_simulations,
            self.postprocess_event_kernels,
            self.evaluate_gradient_from_kernels,
        ]

    @property
    def task_inputs(self) -> dict[str, TaskInputs]:
        """Adjoint simulations depend on the solver, the initial model and the adjoint
        sources (and compute the illumination); the post-processing on its own
        parameters (smoothing; scaling, preconditioner and mask)."""
        return {
            **super().task_inputs,
            "run_adjoint_simulations": TaskInputs(
                {"solver", "path_model_init", "precondition", *ACQUISITION},
                {"evaluate_objective_function"},
            ),
            "postprocess_event_kernels": TaskInputs(
                {
                    "scale_by_model",
                    "path_model_init",  # the scaling's model
                    "smooth_type",
                    "smooth_h",
                    "smooth_v",
                    "smooth_edge",
                },
                {"run_adjoint_simulations"},
            ),
            "evaluate_gradient_from_kernels": TaskInputs(
                {
                    "scale_by_model",
                    "precondition",
                    "illumination_water_level",
                    "smooth_type",  # the illumination is smoothed here, like the kernels
                    "smooth_h",
                    "smooth_v",
                    "smooth_edge",
                    "path_mask",
                    "path_model_init",
                    "path_model_true",  # its figure
                    "plot_clip",  # the figures are drawn here
                },
                {"run_adjoint_simulations", "postprocess_event_kernels"},
            ),
        }

    def check(self) -> list[str]:
        warnings = super().check()
        if self.path.mask is not None:
            self.check_mask(read_model(self.path.mask))
        if self.params.scale_by_model:
            # what the kernels are scaled by: fail now, not after the simulations
            self.model_for_scaling(self.solver.kernel_parameters)
        p = self.params
        smoothing = p.smooth_h > 0 or p.smooth_v > 0
        if smoothing and p.smooth_type == "laplacian" and p.smooth_edge != "reflect":
            raise ConfigError(
                f"smooth_edge: {p.smooth_edge!r} is an option of the Gaussian "
                "smoothing; smooth_type laplacian has natural (mirror) boundaries: use "
                "smooth_edge: reflect"
            )
        if smoothing and self.path.model_init is not None:
            warnings += self._smoothing_warnings(self.model("init").grid)
        return warnings

    def _smoothing_warnings(self, grid: Grid) -> list[str]:
        """Smoothing lengths that make the gradient (almost) its mean along an axis, or
        that change (almost) nothing (a Gaussian of 0.3 cells moves a one-cell spike by
        0.7%, of 0.49 cells by 20%): a typo in the units, most likely."""
        p, out = self.params, []
        width, height = grid.nx * grid.dx, grid.nz * grid.dz
        for name, length, size, axis, step in (
            ("smooth_h", p.smooth_h, width, "x", grid.dx),
            ("smooth_v", p.smooth_v, height, "z", grid.dz),
        ):
            if length > size:
                out.append(
                    f"{name} = {length:g} m is more than the model's size along {axis} "
                    f"({size:g} m): the smoothed gradient is almost its mean along {axis} "
                    "(smoothing lengths are in metres)"
                )
            elif 0 < length < 0.3 * step:
                out.append(
                    f"{name} = {length:g} m is less than 0.3 grid spacings along {axis} "
                    f"({step:g} m): the smoothing changes almost nothing (a one-cell spike "
                    "by under 1%; smoothing lengths are in metres)"
                )
        return out

    def check_mask(self, mask: Model) -> None:
        """Raise :class:`~seisgrad.errors.DataError` when ``mask`` (``path_mask``)
        cannot be applied to the gradient: another grid than the initial model, no
        variable for a kernel and no single ``mask`` variable, values that are not
        finite, or zero everywhere for every parameter."""
        init = self.model("init")
        if not mask.grid.matches(init.grid):
            raise DataError(
                f"path_mask {self.path.mask}: grid {mask.grid} differs from the "
                f"path_model_init grid {init.grid} (the gradient's); interpolate it with "
                "seisgrad.model.interpolate"
            )
        names = self.solver.kernel_parameters
        try:
            factors = pp.mask_factors(mask, names)
        except DataError as exc:
            raise DataError(f"path_mask {self.path.mask}: {exc}") from exc
        if not any(np.any(w != 0) for w in factors.values()):
            raise DataError(
                f"path_mask {self.path.mask}: the mask is zero everywhere for every "
                f"parameter ({', '.join(names)}), so the gradient would be zero; 1 keeps "
                "a cell, 0 mutes it"
            )

    #: The figures of ``evaluate_gradient_from_kernels`` (:meth:`plot_models`), as
    #: ``path_output/figures/<name>.png``; ``model_true`` only with a true model.
    FIGURES = ("gradient", "kernels_raw", "model_init", "model_true")

    def result_paths(self, task: str) -> list[Path]:
        """:meth:`task_outputs`, and whatever ``export_kernels``, ``plot_figures`` and
        ``precondition`` say now: the exported kernels (the whole ``path_output/kernels``
        folder), the illumination and every figure of the gradient task."""
        out = self.path.output
        if task == "postprocess_event_kernels":
            return [out / "kernels_raw.h5", out / "kernels"]
        if task == "evaluate_gradient_from_kernels":
            return [
                out / "gradient.h5",
                out / "illumination.h5",
                *(out / "figures" / f"{n}.png" for n in self.FIGURES),
            ]
        return super().result_paths(task)

    def task_outputs(self, task: str, source: str | None = None) -> list[Path]:
        """Event kernels (and illuminations) in the scratch folder; the summed kernels,
        the gradient, the exported event kernels and the figures in path_output (so
        turning ``export_kernels`` or ``plot_figures`` on after a run makes them)."""
        illumination = self.params.precondition == "illumination"
        out = self.path.output
        if task == "run_adjoint_simulations" and source is not None:
            files = [self.kernel_file(source)]
            return files + [self.illumination_file(source)] if illumination else files
        if task == "postprocess_event_kernels":
            files = [out / "kernels_raw.h5", self.smoothed_file]
            if self.params.export_kernels:
                files += [out / "kernels" / f"{e.name}.h5" for e in self.events]
            return files
        if task == "evaluate_gradient_from_kernels":
            files = [out / "gradient.h5"]
            if illumination:
                files.append(out / "illumination.h5")
            if self.params.plot_figures:  # what plot_models draws
                true = self.path.model_true is not None
                names = [n for n in self.FIGURES if n != "model_true" or true]
                files += [out / "figures" / f"{n}.png" for n in names]
            return files
        return super().task_outputs(task, source)

    def kernel_file(self, event: str) -> Path:
        return self.path.scratch / "kernels" / f"{event}.h5"

    def forward_save_file(self, event: str) -> Path | None:
        if not self.params.save_forward:
            return None
        return self.path.scratch / "forward" / f"{event}.snapshots"

    @property
    def smoothed_file(self) -> Path:
        return self.path.scratch / "kernels" / "smoothed.h5"

    def precompile_plan(self) -> dict[str, tuple[str, ...]]:
        # the forward tasks compile the plain forward loop; the adjoint task needs the
        # forward recomputation that keeps per-step data and the adjoint loop
        return {"run_adjoint_simulations": ("adjoint", "replay")}

    @per_source
    def run_adjoint_simulations(self, ctx: TaskContext) -> None:
        """Event kernels from the adjoint sources of one source."""
        adj = read_hdf5(self.trace_file("adj", ctx.source))
        saved = self.forward_save_file(ctx.source)
        kernels = self.solver.adjoint(
            self.model("init"), self.event(ctx), self.receivers, adj, saved=saved
        )
        step = f"the adjoint simulation of source {ctx.source}"
        bad = [n for n in kernels if not np.all(np.isfinite(kernels[n]))]
        if bad:
            raise GradientError(f"{step}: kernel(s) {', '.join(bad)} contain NaN or Inf")
        if all(not np.any(kernels[n]) for n in kernels):
            logger.warning("%s: the event kernels are zero (no misfit for this source?)", step)
        write_model(self.kernel_file(ctx.source), kernels, {"source": ctx.source, "kind": "dJ/dm"})
        if saved is not None:
            saved.unlink(missing_ok=True)  # used: the kernel is written
        if self.params.precondition == "illumination":
            energy = self.solver.illumination(self.model("init"), self.event(ctx), self.receivers)
            write_model(
                self.illumination_file(ctx.source),
                energy,
                {"source": ctx.source, "kind": "forward-field energy"},
            )

    def illumination_file(self, event: str) -> Path:
        return self.path.scratch / "illumination" / f"{event}.h5"

    def postprocess_event_kernels(self) -> None:
        """Sum event kernels (fixed order), export, scale by the model, smooth.

        Scaling comes first, as in SeisFlows (which smooths SPECFEM's relative kernels):
        the smoothed gradient is :math:`S(m K)`, smooth across model discontinuities,
        not :math:`m S(K)`, which keeps them.
        """
        kernels = [read_model(self.kernel_file(e.name)) for e in self.events]
        total = pp.sum_kernels(kernels)
        pp.check_gradient(total, "summing the event kernels")
        write_model(self.path.output / "kernels_raw.h5", total, {"kind": "dJ/dm"})
        if self.params.export_kernels:
            for e in self.events:
                self.copy_to_output(self.kernel_file(e.name), f"kernels/{e.name}.h5")
        p = self.params
        if p.scale_by_model:
            total = pp.scale_by_model(total, self.model_for_scaling(total))
            pp.check_gradient(total, "scaling by the model")
        if p.smooth_h > 0 or p.smooth_v > 0:
            total = pp.smooth(total, p.smooth_h, p.smooth_v, p.smooth_type, edge=p.smooth_edge)
            pp.check_gradient(total, f"{p.smooth_type} smoothing")
        write_model(self.smoothed_file, total, self.gradient_attrs())

    def evaluate_gradient_from_kernels(self) -> None:
        """Precondition, apply the mask, export the gradient."""
        if self._smoothed_kind() != self.gradient_attrs()["kind"]:
            # written before the kernels were scaled ahead of the smoothing (no "kind"
            # attribute: m S(K) was computed here), or for the other scale_by_model
            logger.info("post-processed kernels of an older seisgrad: made again")
            self.postprocess_event_kernels()
        g = read_model(self.smoothed_file)
        if self.params.precondition == "illumination":
            energy = pp.sum_kernels(
                [read_model(self.illumination_file(e.name)) for e in self.events]
            )
            p = self.params
            if p.smooth_h > 0 or p.smooth_v > 0:
                # the same smoother as the kernels (smooth_type), not always the Gaussian
                energy = pp.smooth(
                    energy, p.smooth_h, p.smooth_v, p.smooth_type, edge=p.smooth_edge
                )
            write_model(self.path.output / "illumination.h5", energy)
            g = pp.precondition_illumination(g, energy, p.illumination_water_level)
            pp.check_gradient(g, "the illumination preconditioner")
        if self.path.mask is not None:
            g = pp.apply_mask(g, read_model(self.path.mask))
            pp.check_gradient(g, f"masking with {self.path.mask}")
        out = write_model(self.path.output / "gradient.h5", g, self.gradient_attrs())
        logger.info("gradient written to %s", out)
        if self.params.plot_figures:
            self.plot_models()

    def _smoothed_kind(self) -> str | None:
        """The ``kind`` attribute of the post-processed kernels (``None``: none)."""
        import h5py

        try:
            with h5py.File(self.smoothed_file, "r") as f:
                kind = f.attrs.get("kind")
        except OSError:
            return None
        return kind.decode() if isinstance(kind, bytes) else (str(kind) if kind else None)

    def gradient_attrs(self) -> dict[str, str]:
        kind = "dJ/dln(m)" if self.params.scale_by_model else "dJ/dm"
        return {"kind": kind, "workflow": type(self).__name__}

    def model_for_scaling(self, kernels: Model | Sequence[str]) -> Model:
        """The initial model in the parameters of ``kernels`` (e.g. vp, vs, rho), with
        the values the simulations used (:meth:`Solver.model_values`)."""
        values = self.solver.model_values(self.model("init"))
        missing = [n for n in kernels if n not in values]
        if missing:
            raise DataError(
                f"the kernels have {', '.join(missing)}, but the solver's model values are "
                f"{', '.join(values)}"
            )
        return Model(values.grid, {n: values[n] for n in kernels})

    def plot_models(self) -> None:
        from seisgrad import plot

        folder = self.path.output / "figures"
        sources = [s for e in self.events for s in e.sources]
        rec = self.receivers
        plot.plot_model(self.model("init"), folder / "model_init.png", sources, rec)
        if self.path.model_true is not None:
            plot.plot_model(self.model("true"), folder / "model_true.png", sources, rec)
        clip = self.params.plot_clip
        plot.plot_kernel(
            read_model(self.path.output / "kernels_raw.h5"),
            folder / "kernels_raw.png",
            sources,
            rec,
            clip=clip,
        )
        plot.plot_gradient(
            read_model(self.path.output / "gradient.h5"),
            folder / "gradient.png",
            sources,
            rec,
            clip=clip,
        )


#: Kept for code that imports it from here (see :func:`seisgrad.model.in_parametrization`).
model_in_parametrization = in_parametrization
