"""End-to-end test of the linear RPCA phase transition (tiny preset) and its config checks."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hidden_talents import io
from hidden_talents.experiments import rpca_phase_transition
from launch.configs.rpca_phase_transition import get_config


def test_tiny_end_to_end(tmp_path):
  config = get_config("tiny")
  workdir = str(tmp_path / "run")
  summary = rpca_phase_transition.run(config, workdir)
  for name in ("config.json", "results.npz", "summary.json", "rpca_success.png", "rpca_nmse.png"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0
  res = io.load_npz(os.path.join(workdir, "results.npz"))
  assert res["rel_error"].shape == (2, 2, 2, 2)  # λ factors × ranks × ν × seeds
  assert np.all(np.isfinite(res["rel_error"]))
  np.testing.assert_allclose(res["nmse"], res["rel_error"] ** 2, rtol=1e-4)
  # Easy cell (rank 1, 2 % outliers, default λ) succeeds; hard cell (rank 8, 40 %) fails.
  assert res["success_fraction"][0, 0, 0] == 1.0
  assert res["success_fraction"][0, 1, 1] == 0.0
  assert res["converged"].all()
  with open(os.path.join(workdir, "summary.json")) as f:
    assert json.load(f) == summary
  assert summary["num_matrices"] == 16
  assert 0.0 < summary["success_fraction"] < 1.0


@pytest.mark.parametrize(
    "field, value",
    [("num_rows", 0), ("ranks", ()), ("ranks", (0,)), ("ranks", (50,)),
     ("corruptions", (1.0,)), ("corruptions", (-0.1,)), ("lam_factors", (0.0,)),
     ("num_seeds", 0), ("chunk_size", 0), ("tol", 0.0), ("max_iter", 0), ("rho", 1.0),
     ("success_threshold", 0.0), ("outliers", "uniform")],
)
def test_bad_config_raises(tmp_path, field, value):
  config = get_config("tiny")
  config[field] = value
  workdir = str(tmp_path / "bad")
  with pytest.raises(ValueError, match=field.rstrip("s").split("_")[0]):
    rpca_phase_transition.run(config, workdir)
  assert not os.path.exists(workdir)


def test_presets():
  for preset in ("quick", "paper", "fig1", "tiny"):
    rpca_phase_transition.validate(get_config(preset))
  with pytest.raises(ValueError):
    get_config("nope")
