"""seisgrad from Python, without a parameter file: an elastic vs kernel as in the Salvus
gradient tutorial (a shear-velocity blob, a moment-tensor source, displacement on a ring
of receivers), checked against a finite difference of the misfit, then the library's
own proofs (dot-product and Taylor tests) on the same setup.

Run:  python examples/python_api.py        (about 20 s; float64 throughout)
"""

from __future__ import annotations

import numpy as np

from seisgrad.model import Grid, add_perturbation, gaussian_blob, homogeneous
from seisgrad.preprocess.default import Default, DefaultParameters
from seisgrad.solver.acquisition import Event, PointSource, SourceTimeFunction, ring
from seisgrad.solver.fd2d import FD2D, FD2DParameters
from seisgrad.solver.fd2d.verify import dot_product_test, taylor_test


def main() -> None:
    # models: 600 m x 600 m, 5 m cells; the true model has a +200 m/s vs blob
    grid = Grid.from_extent(-300.0, 300.0, -300.0, 300.0, 5.0)
    init = homogeneous(grid, np.float64, vp=1500.0, vs=1000.0, rho=2000.0)
    blob = gaussian_blob(grid, (0.0, 0.0), 50.0, 200.0)
    true = add_perturbation(init, "vs", blob)

    # the solver: every parameter of docs/parameters.md (fd2d) is a keyword here
    solver = FD2D(
        FD2DParameters(
            materials="elastic",
            nt=600,
            dt=1e-3,
            order=8,
            record=["UX", "UZ"],
            precision="float64",  # float32 (the default) for production runs
        )
    )
    source = PointSource(
        x=-180.0,
        z=-170.0,
        kind="moment_tensor",
        mxx=1e9,
        mzz=-6e8,
        mxz=4e8,
        stf=SourceTimeFunction(kind="ricker", f0=12.0),
    )
    event = Event(name="s000", sources=[source])
    receivers = ring(24, 130.0, (0.0, 0.0))
    for warning in solver.check(init, event, receivers):
        print("warning:", warning)

    # synthetics are ObsPy Streams (XX.000..UX, XX.000..UZ, ...)
    observed = solver.forward(true, event, receivers)
    synthetic = solver.forward(init, event, receivers)

    # the misfit and its adjoint source come from one object (docs/preprocess.md)
    preprocess = Default(DefaultParameters(misfit="waveform"))
    result = preprocess.evaluate(observed, synthetic, event, receivers)
    kernels = solver.adjoint(init, event, receivers, result.adjoint)  # dJ/dvp, dJ/dvs, dJ/drho
    print(f"misfit {result.value:.6e}; kernels: {', '.join(kernels)}")

    # the kernel against a central difference along the blob's shape
    shape = blob / blob.max()
    predicted = float(np.sum(kernels["vs"] * shape))

    def misfit(model):
        return preprocess.evaluate(
            observed, solver.forward(model, event, receivers), event, receivers
        ).value

    h = 0.1  # m/s at the blob's centre
    central = (
        misfit(add_perturbation(init, "vs", h * shape))
        - misfit(add_perturbation(init, "vs", -h * shape))
    ) / (2.0 * h)
    print(
        f"vs kernel along the blob: adjoint {predicted:.8e}, finite difference "
        f"{central:.8e}, relative difference {abs(central - predicted) / abs(predicted):.1e}"
    )

    # the library's proofs on this setup (docs/solver.md, "Proofs you can run")
    dot = dot_product_test(solver, init, event, receivers, nsteps=200)
    print(f"dot-product test: relative mismatch {dot.relative_error:.1e}")
    taylor = taylor_test(solver, init, event, receivers)
    print(
        f"Taylor test: best relative error {taylor.best_relative_error:.1e}, "
        f"remainder orders {', '.join(f'{r:.2f}' for r in taylor.convergence_orders)}"
    )


if __name__ == "__main__":
    main()
