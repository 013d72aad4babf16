"""Figure 5 (App. A) MNIST denoising: tiny end-to-end run (VAEs, MSE autoencoder, RPCA, RDA), the
corruption it uses, RDA's budget rule, config checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hidden_talents import io
from hidden_talents.experiments import mnist_denoising, reproduce
from hidden_talents.robust.autoencoder import RobustRDA
from launch.configs.mnist_denoising import get_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# End to end, 35 s on 2 cores (3.5 min where another job contends with OpenBLAS's threads,
# which RPCA's eigh uses): CI runs it with -m slow.
@pytest.mark.slow
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
                                         "mse_ae", "rpca", "rda", "input"}
  assert set(summary["converged_fraction"]) == {"vae_tau1", "vae_tau5", f"vae_tau1_{v}",
                                                f"vae_tau5_{v}", "mse_ae"}
  np.testing.assert_allclose(summary["nmse"]["0.4"][f"vae_tau5_{v}"], res["vae_nmse"][1, 1, 1])
  # reproduce's verdicts read this summary: one per (variance, τ) against RPCA, and τ = 5 vs 1.
  verdicts = reproduce._mnist_denoising(summary)
  assert len(verdicts) == 5
  assert sum(v in x.claim for x in verdicts) == 2
  assert all(x.converged is not None for x in verdicts)
  rda_mean = np.mean(res["rda_nmse"])
  assert sum(f"RDA {rda_mean:.3g}" in x.measured for x in verdicts) == 4  # the VAE-vs-RPCA ones
  _check_rda(config, res, summary, clean)
  # A re-run reuses the finished sweeps and cached parts (RDA's per level files untouched), and
  # gives the same numbers.
  rda_files = [os.path.join(workdir, f"rda_nu{nu:g}.npz") for nu in config.nus]
  stamps = [os.stat(p).st_mtime_ns for p in rda_files]
  again = mnist_denoising.run(config, workdir)
  assert again["nmse"] == summary["nmse"]
  assert [os.stat(p).st_mtime_ns for p in rda_files] == stamps


def _check_rda(config, res, summary, clean):
  """RDA's arrays and summary keys, and its NMSE is that of its own reconstruction: the library's
  RobustRDA with the experiment's arguments, fitted here on the first level's X, gives it."""
  B = len(config.nus)
  outer, steps = mnist_denoising.rda_plan(config)
  assert (outer, steps) == (2, 80)  # the tiny preset: 2 outer iterations of one 40-step chunk
  for name in ("rda_nmse", "rda_outer_iterations", "rda_converged", "rda_steps", "rda_steps_run",
               "rda_lam", "rda_seconds"):
    assert res[name].shape == (B,), name
  assert np.all(np.isfinite(res["rda_nmse"])) and np.all(res["rda_nmse"] > 0)
  np.testing.assert_array_equal(res["rda_outer_iterations"], outer)  # the stall test needs 2
  np.testing.assert_array_equal(res["rda_steps"], steps)
  np.testing.assert_array_equal(res["rda_steps_run"], steps)
  assert res["rda_converged"].dtype == bool
  np.testing.assert_array_equal(res["rda_lam"], 0.25)  # rda_lam = 0: the library's default
  assert res["rda_criterion"].shape == (B, outer) and np.all(np.isfinite(res["rda_criterion"]))
  # Its own line, not a copy of another method's.
  for other in ("mse_ae_nmse", "rpca_nmse", "input_nmse"):
    assert not np.allclose(res["rda_nmse"], res[other]), other
  for j, nu in enumerate(config.nus):
    assert summary["nmse"][f"{nu:g}"]["rda"] == pytest.approx(float(res["rda_nmse"][j]))
  vae, v = res["vae_nmse"], config.decoder_variances[1]
  assert summary["frac_levels_vae_better_than_rda"] == {
      key: float(np.mean(vae[k, i] < res["rda_nmse"]))
      for k, i, key in ((0, 0, "tau1"), (0, 1, "tau5"), (1, 0, f"tau1_{v}"), (1, 1, f"tau5_{v}"))}
  rda = summary["rda"]
  assert rda["lam_robust_sds"] == 0.25 and rda["steps"] == steps
  assert rda["outer_iterations"] == {f"{nu:g}": outer for nu in config.nus}
  assert set(rda["criterion_stalled"]) == set(rda["fit_seconds"]) == set(summary["nmse"])
  assert summary["rda_seconds"] > 0
  # The same arguments, written out here: widths, κ, batch, learning rate, seed, steps, outer.
  _, cells = mnist_denoising.corruption_cells(config)
  X = mnist_denoising.corrupted_data(mnist_denoising.settings_from_config(config, 1), cells,
                                     clean)[0][0]
  est = RobustRDA(latent_dim=8, hidden_widths=(16, 32), steps=40, outer_iterations=2,
                  batch_size=50, learning_rate=1e-3, seed=0)
  L = est.fit_transform(X).L
  direct = np.sum((clean - L) ** 2) / np.sum(clean.astype(np.float64) ** 2)
  np.testing.assert_allclose(res["rda_nmse"][0], direct, rtol=1e-4)


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
    ("decoder_variances", ("learned", "learned")), ("rda_lam", -1.0),
    ("rda_outer_iterations", -1), ("num_images", 700)])
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


def test_rda_plan_keeps_the_budget():
  """0 outer iterations = the most, up to the library's 20, that share num_steps' whole 250-step
  chunks evenly: the budget is num_steps; an explicit count trains at least one chunk each."""
  config = get_config("tiny")
  cases = {(2000, 0): (8, 2000), (140_000, 0): (20, 140_000), (1000, 0): (4, 1000),
           (100, 0): (1, 100), (6000, 0): (12, 6000), (5250, 0): (7, 5250), (40, 2): (2, 80),
           (2000, 4): (4, 2000)}
  for (steps, outer), plan in cases.items():
    config.num_steps, config.rda_outer_iterations = steps, outer
    assert mnist_denoising.rda_plan(config) == plan, (steps, outer)
  # RDA needs as many digits as pixels; without RDA a few digits are fine.
  config = get_config("tiny")
  config.num_images, config.rda = 100, False
  mnist_denoising.validate(config)


def test_presets():
  for preset in ("quick", "paper", "tiny"):
    mnist_denoising.validate(get_config(preset))
  paper = get_config("paper")
  assert paper.num_images == 70_000 and tuple(paper.hidden_widths) == (250, 500, 1000)
  assert paper.latent_dim == 30 and tuple(paper.taus) == (1, 5)
  assert all(get_config(p).rda for p in ("quick", "paper", "tiny"))
  assert mnist_denoising.rda_plan(get_config("quick")) == (8, 2000)
  with pytest.raises(ValueError):
    get_config("nope")
