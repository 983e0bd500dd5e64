"""Make the models of the blob example (the Salvus gradient tutorial's setup).

* ``model_init.h5``: homogeneous elastic medium, vp 1500 m/s, vs 1000 m/s, rho 2000
  kg/m3, on a 1000 m x 1000 m grid centred on (0, 0).
* ``model_true.h5``: the same with a Gaussian vs blob (+250 m/s, sigma 100 m) at the
  centre.

Run in this folder: ``python make_models.py [--spacing 5]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seisgrad.model import Grid, add_perturbation, gaussian_blob, homogeneous, write_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, default=5.0, help="grid spacing (m)")
    parser.add_argument("--out", default=".", help="output folder")
    args = parser.parse_args(argv)
    grid = Grid.from_extent(-500.0, 500.0, -500.0, 500.0, args.spacing)
    init = homogeneous(grid, vp=1500.0, vs=1000.0, rho=2000.0)
    true = add_perturbation(init, "vs", gaussian_blob(grid, (0.0, 0.0), 100.0, 250.0))
    out = Path(args.out)
    write_model(out / "model_init.h5", init)
    write_model(out / "model_true.h5", true)
    print(f"wrote {out / 'model_init.h5'} and {out / 'model_true.h5'} ({grid.nx}x{grid.nz})")


if __name__ == "__main__":
    main()
