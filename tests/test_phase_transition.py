"""End to end: the phase-transition experiment at the tiny preset, and its input checks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hidden_talents.experiments import phase_transition
from launch.configs.phase_transition import get_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny(**overrides):
  c = get_config("tiny")
  c.models = ("vae", "ae_l2", "ae_l1")
  c.gt_check.num_steps = 20
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def test_tiny_run_writes_figures_results_and_summary(tmp_path):
  wd = str(tmp_path)
  summary = phase_transition.run(_tiny(), wd)
  for f in ("config.json", "results.npz", "summary.json", "fig1_nmse.png",
            "fig3_sigma_z_hist.png", "fig4_sigma_z_sorted.png"):
    assert os.path.exists(os.path.join(wd, f)), f
  with open(os.path.join(wd, "summary.json")) as f:
    on_disk = json.load(f)
  assert set(on_disk["median_nmse"]) == {"vae", "ae_l2", "ae_l1"}
  assert set(on_disk["frac_cells_below_0.1"]) == {"vae", "ae_l2", "ae_l1"}
  assert on_disk["failed_cells"] == [] and on_disk["wall_seconds"] > 0
  r = np.load(os.path.join(wd, "results.npz"))
  assert r["vae_nmse"].shape == (2, 2) and r["ae_l2_nmse_by_c2"].shape == (1, 2, 2)
  assert np.all(np.isfinite(r["vae_nmse"]))
  assert r["fig3_hists"].shape[:2] == (2, 2)
  assert r["gt_encoder_rel_error"].shape == (2,)
  assert summary["median_nmse"]["vae"] == pytest.approx(np.median(r["vae_nmse"]))


@pytest.mark.parametrize("field,value,match", [
    ("nus", (0.1, 1.0), "outlier ratio"),
    ("nus", (-0.1,), "outlier ratio"),
    ("num_steps", 0, "num_steps"),
    ("batch_size", -5, "batch_size"),
    ("models", ("vae", "pca"), "models"),
    ("learning_rate", float("nan"), "learning_rate"),
    ("kappas", (0, 2), "κ"),
])
def test_bad_config_is_rejected_before_any_output(tmp_path, field, value, match):
  with pytest.raises(ValueError, match=match):
    phase_transition.run(_tiny(**{field: value}), str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd")


def test_launch_script_reports_bad_flag_clearly(tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "launch.phase_transition",
       "--config=launch/configs/phase_transition.py:tiny", "--config.nus=(0.2,1.5)",
       f"--workdir={tmp_path / 'wd'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 2
  assert "outlier ratios ν must lie in [0, 1)" in out.stderr
  assert not os.path.exists(tmp_path / "wd" / "results.npz")
