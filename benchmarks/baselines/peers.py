"""Deepwave and Devito on the benchmark problem of ``benchmarks/solver.py``, when importable.

Neither is a dependency of seisgrad: each function returns ``None`` when its package
cannot be imported. Both run on one thread, float32, with 20 absorbing cells per side, on
the same grid, time step, number of steps, source time function (Ricker), source point
and 100 ring receivers as seisgrad's run. Their equations differ slightly from seisgrad's
(documented per function), so compare throughput and cost ratios, not traces.

Each returns a dict with

* ``mcells``: forward throughput, million cell updates per second of the model grid
  (best of two runs, so that compilation is not timed),
* ``grad_over_fwd``: time of a gradient (forward keeping what the adjoint needs, then
  the adjoint with the imaging condition) over the time of a plain forward,
* ``note``: what was run.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Problem", "deepwave_peer", "devito_peer"]


class Problem:
    """The benchmark problem in plain arrays (SI units, grid indices)."""

    def __init__(
        self,
        materials: str,
        values: dict[str, np.ndarray],
        dx: float,
        dt: float,
        nt: int,
        f0: float,
        source: tuple[float, float],
        receivers: list[tuple[float, float]],
    ) -> None:
        self.materials = materials
        self.values = values
        self.dx, self.dt, self.nt, self.f0 = dx, dt, nt, f0
        self.source = source  # fractional grid indices (i, j)
        self.receivers = receivers
        self.shape = values["vp"].shape

    def ricker(self) -> np.ndarray:
        t = np.arange(self.nt) * self.dt - 1.2 / self.f0
        a = (math.pi * self.f0 * t) ** 2
        return ((1.0 - 2.0 * a) * np.exp(-a)).astype(np.float32)


def _best(fn: Callable[[], Any], repeat: int = 2) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def deepwave_peer(pb: Problem) -> dict[str, Any] | None:
    """Deepwave (PyTorch) ``scalar`` (acoustic) or ``elastic`` propagator, CPU, one thread.

    ``deepwave.scalar`` solves the constant-density second-order wave equation (order 8
    in space); ``deepwave.elastic`` the velocity-stress P-SV equations (order 4, the
    highest it offers). The gradient is PyTorch's backward pass through the propagator
    (it keeps the forward wavefield of every step).
    """
    try:
        import deepwave
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    nx, nz = pb.shape
    src_loc = torch.tensor([[[round(pb.source[0]), round(pb.source[1])]]], dtype=torch.long)
    # Deepwave takes grid nodes: the nearest one to each receiver
    nodes = [
        [min(max(round(i), 0), nx - 1), min(max(round(j), 0), nz - 1)] for i, j in pb.receivers
    ]
    rec_loc = torch.tensor([nodes], dtype=torch.long)
    amp = torch.from_numpy(pb.ricker()).reshape(1, 1, -1)
    if pb.materials == "acoustic":
        vp = torch.from_numpy(pb.values["vp"].astype(np.float32))
        params = [vp]

        def run() -> torch.Tensor:
            out = deepwave.scalar(
                vp,
                pb.dx,
                pb.dt,
                source_amplitudes=amp,
                source_locations=src_loc,
                receiver_locations=rec_loc,
                pml_width=20,
                pml_freq=pb.f0,
                accuracy=8,
            )
            return out[-1]

        note = "deepwave.scalar, accuracy 8"
    else:
        vp = pb.values["vp"].astype(np.float64)
        vs = pb.values["vs"].astype(np.float64)
        rho = pb.values["rho"].astype(np.float64)
        mu_np = rho * vs**2
        lamb = torch.from_numpy((rho * vp**2 - 2.0 * mu_np).astype(np.float32))
        mu = torch.from_numpy(mu_np.astype(np.float32))
        buoy = torch.from_numpy((1.0 / rho).astype(np.float32))
        params = [lamb, mu, buoy]

        def run() -> torch.Tensor:
            out = deepwave.elastic(
                lamb,
                mu,
                buoy,
                pb.dx,
                pb.dt,
                source_amplitudes_y=amp,
                source_locations_y=src_loc,
                receiver_locations_y=rec_loc,
                pml_width=20,
                pml_freq=pb.f0,
                accuracy=4,
            )
            return out[-2]  # receiver_amplitudes_y

        note = "deepwave.elastic, accuracy 4 (its highest)"

    with torch.no_grad():
        t_fwd = _best(run)

    def gradient() -> None:
        for p in params:
            p.requires_grad_(True)
            p.grad = None
        rec = run()
        (rec**2).sum().backward()
        for p in params:
            p.requires_grad_(False)

    t_grad = _best(gradient, repeat=1)  # nothing to compile; its history is large
    return {
        "mcells": nx * nz * pb.nt / t_fwd / 1e6,
        "grad_over_fwd": t_grad / t_fwd,
        "note": note,
    }


def devito_peer(pb: Problem) -> dict[str, Any] | None:
    """Devito's ``AcousticWaveSolver`` (from its ``examples.seismic``), acoustic only.

    Constant-density second-order wave equation, space order 8, damping layers, C code
    without OpenMP (one thread). The gradient is the example's ``forward(save=True)``
    (the whole history) plus ``jacobian_adjoint``. Devito works in km/s and ms.
    """
    if pb.materials != "acoustic":
        return None
    os.environ.setdefault("DEVITO_LANGUAGE", "C")
    os.environ.setdefault("DEVITO_LOGGING", "ERROR")
    try:
        from examples.seismic import AcquisitionGeometry, SeismicModel
        from examples.seismic.acoustic import AcousticWaveSolver
    except ImportError:  # (also when pytest is missing: the examples import it)
        return None
    nx, nz = pb.shape
    dt_ms = pb.dt * 1e3
    model = SeismicModel(
        origin=(0.0, 0.0),
        spacing=(pb.dx, pb.dx),
        shape=(nx, nz),
        space_order=8,
        vp=(pb.values["vp"] / 1000.0).astype(np.float32),
        nbl=20,
        bcs="damp",
        dt=dt_ms,
    )
    src = np.array([[pb.source[0] * pb.dx, pb.source[1] * pb.dx]])
    rec = np.array([[i * pb.dx, j * pb.dx] for i, j in pb.receivers])
    geometry = AcquisitionGeometry(
        model, rec, src, t0=0.0, tn=(pb.nt - 1) * dt_ms, f0=pb.f0 / 1000.0, src_type="Ricker"
    )
    solver = AcousticWaveSolver(model, geometry, space_order=8)
    nsteps = geometry.nt
    t_fwd = _best(lambda: solver.forward(dt=dt_ms))

    def gradient() -> None:
        d, u, _ = solver.forward(save=True, dt=dt_ms)
        solver.jacobian_adjoint(d, u, dt=dt_ms)

    t_grad = _best(gradient)
    return {
        "mcells": nx * nz * nsteps / t_fwd / 1e6,
        "grad_over_fwd": t_grad / t_fwd,
        "note": "devito examples.seismic AcousticWaveSolver, space order 8, language C",
    }
