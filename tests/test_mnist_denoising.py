"""Figure 5 (App. A) MNIST denoising: tiny end-to-end run, the corruption it uses, config checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hidden_talents import io
from hidden_talents.experiments import mnist_denoising, reproduce
from launch.configs.mnist_denoising import get_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow  # end to end, 25–65 s: CI runs it with -m slow
def test_tiny_end_to_end_via_launch_script(tmp_path):
  workdir = str(tmp_path / "run")
  cmd = [sys.executable, "-m", "launch.mnist_denoising",
         "--config=launch/configs/mnist_denoising.py:tiny", f"--workdir={workdir}"]
  proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                        env=dict(os.environ, PYTHONPATH=REPO))
  assert proc.returncode == 0, proc.stderr[-3000:]
  for name in ("config.json", "results.npz", "summary.json", "fig5_mnist_denoising.png"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0
  res = io.load_npz(os.path.join(workdir, "results.npz"))
  config = get_config("tiny")
  dvs = tuple(config.decoder_variances)
  assert dvs[0] == "optimal" and len(dvs) == 2
  assert res["vae_nmse"].shape == (len(dvs), len(config.taus), len(config.nus))
  assert list(res["decoder_variances"]) == list(dvs)
  assert np.all(np.isfinite(res["vae_nmse"])) and np.all(np.isfinite(res["rpca_nmse"]))
  assert res["mse_ae_nmse"].shape == (len(config.nus),) and np.all(np.isfinite(res["mse_ae_nmse"]))
  # The decoder variances are different programs: the variant's numbers are not the paper's.
  assert not np.allclose(res["vae_nmse"][0], res["vae_nmse"][1])
  # Doing nothing: E‖X − L‖² grows linearly with ν (same mask draw per pixel), so the ν = 0.4
  # level has about 4× the input error of ν = 0.1.
  ratio = res["input_nmse"][1] / res["input_nmse"][0]
  assert 3.0 < ratio < 5.0, ratio
  # Spectrum: 784 non-negative singular values, sorted, and ‖X‖_F² = Σ σ².
  clean = mnist_denoising.load_digits(config.num_images)
  s = res["singular_values"]
  assert s.shape == (784,) and np.all(np.diff(s) <= 1e-6 * s[0])
  np.testing.assert_allclose(np.sum(s**2), np.sum(clean.astype(np.float64) ** 2), rtol=1e-6)
  with open(os.path.join(workdir, "summary.json")) as f:
    summary = json.load(f)
  assert set(summary["nmse"]) == {"0.1", "0.4"}
  v = dvs[1]
  assert set(summary["nmse"]["0.1"]) == {"vae_tau1", "vae_tau5", f"vae_tau1_{v}", f"vae_tau5_{v}",
                                         "mse_ae", "rpca", "input"}
  assert set(summary["converged_fraction"]) == {"vae_tau1", "vae_tau5", f"vae_tau1_{v}",
                                                f"vae_tau5_{v}", "mse_ae"}
  np.testing.assert_allclose(summary["nmse"]["0.4"][f"vae_tau5_{v}"], res["vae_nmse"][1, 1, 1])
  # reproduce's verdicts read this summary: one per (variance, τ) against RPCA, and τ = 5 vs 1.
  verdicts = reproduce._mnist_denoising(summary)
  assert len(verdicts) == 5
  assert sum(v in x.claim for x in verdicts) == 2
  assert all(x.converged is not None for x in verdicts)
  # A re-run reuses the finished sweeps and cached parts, and gives the same numbers.
  again = mnist_denoising.run(config, workdir)
  assert again["nmse"] == summary["nmse"]


def test_corruption_matches_app_a():
  """The X the engine trains on: a fraction ν of the pixels replaced by U[0, 1] (= U[0, 255]
  in raw pixel units), identical for every τ, the rest untouched."""
  config = get_config("tiny")
  config.nus = (0.3,)
  clean = mnist_denoising.load_digits(config.num_images)
  # Raw pixels 0…255 divided by 255: black is 0, white exactly 1, every value a multiple of 1/255
  # (dividing by 256, or scaling twice, fails here).
  assert clean.min() == 0.0 and clean.max() == 1.0
  np.testing.assert_allclose(clean * 255.0, np.round(clean * 255.0), atol=1e-4)
  _, cells = mnist_denoising.corruption_cells(config)
  X1, m1 = mnist_denoising.corrupted_data(mnist_denoising.settings_from_config(config, 1), cells,
                                          clean)
  X5, m5 = mnist_denoising.corrupted_data(mnist_denoising.settings_from_config(config, 5), cells,
                                          clean)
  np.testing.assert_array_equal(X1, X5)
  np.testing.assert_array_equal(m1, m5)
  X, m = X1[0], m1[0]
  assert abs(m.mean() - 0.3) < 0.01
  np.testing.assert_array_equal(X[~m], clean[~m])
  vals = X[m]
  # U[0, 1] (not the engine's default U[0, 255], nor a narrower range): the whole range is used,
  # mean 1/2, variance 1/12, and each tenth of it holds a tenth of the values.
  assert vals.min() >= 0.0 and vals.max() <= 1.0 and vals.min() < 1e-3 and vals.max() > 1 - 1e-3
  assert abs(vals.mean() - 0.5) < 0.01 and abs(vals.var() - 1 / 12) < 0.005
  counts, _ = np.histogram(vals, bins=10, range=(0.0, 1.0))
  np.testing.assert_allclose(counts / vals.size, 0.1, atol=0.01)


@pytest.mark.parametrize("field, value", [
    ("num_images", 0), ("num_images", 70_001), ("nus", ()), ("nus", (0.0,)), ("nus", (1.0,)),
    ("nus", (0.1, 0.1)), ("taus", ()), ("taus", (0,)), ("latent_dim", 0), ("num_steps", -1),
    ("hidden_widths", ()), ("hidden_widths", (16, 0)), ("batch_size", 1000), ("alpha", 0.0),
    ("learning_rate", float("nan")), ("weight_decay", -1.0), ("spectrum_num_images", -1),
    ("decoder_variances", ()), ("decoder_variances", ("optimal", "diagonal")),
    ("decoder_variances", ("learned", "learned"))])
def test_bad_config_raises_before_writing(tmp_path, field, value):
  config = get_config("tiny")
  config[field] = value
  workdir = str(tmp_path / "bad")
  name = field.split("_")[0].rstrip("s")
  with pytest.raises(ValueError, match=name):
    mnist_denoising.run(config, workdir)
  assert not os.path.exists(workdir)


def test_bad_rpca_config_raises():
  for field, value in (("lam_factors", (0.0,)), ("max_iter", 0), ("tol", 1.0), ("svt", "qr")):
    config = get_config("tiny")
    config.rpca[field] = value
    with pytest.raises(ValueError, match="rpca"):
      mnist_denoising.validate(config)


def test_presets():
  for preset in ("quick", "paper", "tiny"):
    mnist_denoising.validate(get_config(preset))
  paper = get_config("paper")
  assert paper.num_images == 70_000 and tuple(paper.hidden_widths) == (250, 500, 1000)
  assert paper.latent_dim == 30 and tuple(paper.taus) == (1, 5)
  with pytest.raises(ValueError):
    get_config("nope")
