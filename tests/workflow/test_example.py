"""The README's main example (examples/blob) runs end to end and finds the blob."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import numpy as np

from seisgrad.build import build_from_config
from seisgrad.model import read_model
from tests.conftest import ROOT


def test_blob_example_gradient_points_at_the_blob(tmp_path, run_cli):
    work = tmp_path / "blob"
    shutil.copytree(ROOT / "examples" / "blob", work)
    subprocess.run([sys.executable, "make_models.py"], cwd=work, check=True)
    assert run_cli("check", cwd=work).returncode == 0
    res = run_cli("submit", cwd=work, timeout=900)
    assert res.returncode == 0, res.stderr
    out = work / "output"
    for name in ("gradient.h5", "kernels_raw.h5", "misfit.json"):
        assert (out / name).is_file()
    for name in ("model_init", "model_true", "kernels_raw", "gradient", "traces_s000"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    assert json.loads((out / "misfit.json").read_text())["total"] > 0

    setup = build_from_config(work / "parameters.yaml")
    wf = setup.workflow
    g = read_model(out / "gradient.h5")
    assert set(g) == {"vp", "vs", "rho"}
    vs = np.asarray(g["vs"], dtype=np.float64)
    x, z = np.meshgrid(g.grid.x, g.grid.z, indexing="ij")
    points = [(s.x, s.z) for e in wf.events for s in e.sources]
    points += [(r.x, r.z) for r in wf.receivers]
    away = np.ones(vs.shape, bool)
    for px, pz in points:
        away &= np.hypot(x - px, z - pz) > 50.0
    i = np.unravel_index(np.argmax(np.where(away, np.abs(vs), 0.0)), vs.shape)
    # the largest vs gradient away from sources and receivers lies within 100 m of
    # the blob's centre ...
    assert math.hypot(x[i], z[i]) <= 100.0, (x[i], z[i])
    # ... and stepping against the gradient raises vs there (the blob is faster)
    disc = np.hypot(x, z) <= 100.0
    assert vs[disc].mean() < 0.0
