"""Latent-dimension pruning (Sec. 5.2): the column-count metric, trial vmapping, and both
experiments end to end at their tiny presets."""

import json
import os

import jax
import numpy as np
import pytest

from hidden_talents import metrics, models, sweep, train
from hidden_talents.experiments import latent_pruning as lp
from hidden_talents.experiments import mnist_pruning as mp
from hidden_talents.experiments import pruning, reproduce
from launch.configs.latent_pruning import get_config as synthetic_config
from launch.configs.mnist_pruning import get_config as mnist_config


def _hand_built_w1():
  """W (d_out = 5, κ = 8) with known column norms: 4, 0, 3, 0.19 (< 0.05·4), 0.21 (> 0.05·4),
  exact 0, 1, 2.5."""
  rng = np.random.default_rng(0)
  norms = np.array([4.0, 0.0, 3.0, 0.19, 0.21, 0.0, 1.0, 2.5])
  W = rng.normal(size=(5, 8))
  W = W / np.linalg.norm(W, axis=0) * norms
  return W, norms


def test_nonzero_columns_of_hand_built_w():
  W, norms = _hand_built_w1()
  np.testing.assert_allclose(metrics.column_norms(W), norms, rtol=1e-5, atol=1e-6)
  # Nonzero: 4, 3, 0.21, 1, 2.5 → 5 (0.19 < 0.2 = 0.05 · 4 and the exact zeros are out).
  assert int(metrics.nonzero_columns(W)) == 5
  assert int(metrics.nonzero_from_norms(norms)) == 5
  assert int(metrics.nonzero_from_norms(norms, threshold=0.5)) == 3  # 4, 3, 2.5 ≥ 2
  assert int(metrics.nonzero_columns(np.zeros((3, 4)))) == 0
  assert int(metrics.nonzero_from_norms(np.zeros(4))) == 0
  # Stacked rows are counted independently, and agree with the matrix version row by row.
  rng = np.random.default_rng(1)
  Ws = rng.normal(size=(6, 7, 9)) * (rng.random((6, 1, 9)) < 0.6)
  expected = [int(metrics.nonzero_columns(w)) for w in Ws]
  np.testing.assert_array_equal(metrics.nonzero_from_norms(np.linalg.norm(Ws, axis=1)), expected)
  # A scaled matrix has the same count (the threshold is relative).
  assert int(metrics.nonzero_columns(1e-3 * W)) == 5


def test_sigma_z_fractions_of_hand_built_histogram():
  lo, hi, bins = -8.0, 1.0, 90  # bin width 0.1 in log10 σ²
  hist = np.zeros(bins)
  centers = np.linspace(lo, hi, bins + 1)[:-1] + 0.05
  hist[np.argmin(np.abs(centers - (-4.05)))] = 6  # σ² ≈ 1e-4: near 0
  hist[np.argmin(np.abs(centers - 0.05))] = 3  # σ² ≈ 1.1: near 1
  hist[np.argmin(np.abs(centers - (-0.65)))] = 1  # σ² ≈ 0.22: neither
  near0, near1 = metrics.sigma_z_fractions(np.stack([hist, 2 * hist]), (lo, hi))
  np.testing.assert_allclose(near0, [0.6, 0.6])
  np.testing.assert_allclose(near1, [0.3, 0.3])


def _looped_single_trials(settings, infos, num_steps):
  """Each cell trained alone (no vmap) by the engine's per-cell functions: (cells, κ) norms."""
  fns = train.make_train(settings)
  run_chunk, evaluate = jax.jit(fns.run_chunk), jax.jit(fns.evaluate)
  cells = sweep.make_cells(infos)
  norms = []
  for j in range(len(infos)):
    cell = jax.tree.map(lambda a, j=j: a[j], cells)
    state = fns.init(cell)
    for _ in range(-(-num_steps // settings.chunk_steps)):
      state, _ = run_chunk(state, cell)
    norms.append(np.asarray(evaluate(state, cell).w1_col_norms))
  return np.stack(norms)


@pytest.mark.slow  # end to end, 25–65 s: CI runs it with -m slow
def test_synthetic_tiny_run_vmapped_trials_and_resume(tmp_path):
  c = synthetic_config("tiny")
  c.encoder_depths = (1,)
  c.decoder_depths = (2,)
  c.fig2a_encoder_depth = 1
  wd = str(tmp_path)
  summary = lp.run(c, wd)
  for f in ("config.json", "results.npz", "summary.json", "table1.md", "fig2a_w1_norms.png"):
    assert os.path.exists(os.path.join(wd, f)), f
  r = np.load(os.path.join(wd, "results.npz"))
  T = c.num_trials
  assert r["nonzero"].shape == (2, 1, 1, T)  # model × Ne × Nd × trial
  np.testing.assert_allclose(r["table"], r["nonzero"].mean(axis=-1))
  # Sec. 5.2's count recomputed in NumPy from the stored W₁ column norms: ‖w·j‖ ≥ 0.05 · max.
  norms = r["w1_col_norms"]
  assert norms.shape == (2, 1, 1, T, c.latent_dim) and np.all(norms > 0)
  np.testing.assert_array_equal(
      r["nonzero"], np.sum(norms >= c.threshold * norms.max(-1, keepdims=True), axis=-1))
  # The vmapped trials equal the same cells trained one at a time, and differ from each other.
  infos = pruning.trial_infos(pruning.model_list(c), c.true_dim, c.seed, T)
  looped = _looped_single_trials(lp.settings_for(c, 1, 2), infos, c.num_steps)
  vmapped = r["w1_col_norms"][:, 0, 0].reshape(2 * T, c.latent_dim)
  np.testing.assert_allclose(vmapped, looped, rtol=2e-4, atol=1e-5)
  assert not np.allclose(vmapped[0], vmapped[1])
  # |ours − paper| per cell, against the paper's Table 1 at (Ne = 1, Nd = 2): 20.0.
  expect = abs(r["table"][0, 0, 0] - 20.0)
  np.testing.assert_allclose(r["vae_abs_diff_from_paper"][0, 0], expect)
  with open(os.path.join(wd, "summary.json")) as f:
    on_disk = json.load(f)
  assert on_disk["comparable_to_paper_table1"] is True
  assert on_disk["vae_abs_diff_from_paper"]["Ne=1"]["Nd=2"] == pytest.approx(expect)
  assert on_disk["failed_runs"] == 0
  # Every run's Σz histogram holds one count per sample and latent dim, and "near 0" is the
  # share of the bins lying wholly below σ² = 0.1 (edges in log10 units every 0.1 from −8).
  hist = r["sigma_z_hist"]
  np.testing.assert_array_equal(hist.sum(-1), c.num_samples * c.latent_dim)
  lo, hi = train.Settings.hist_range
  upper_edges = np.linspace(lo, hi, hist.shape[-1] + 1)[1:]
  below = hist[..., upper_edges <= -1.0 + 1e-9].sum(-1) / hist.sum(-1)
  np.testing.assert_allclose(r["sigma_z_frac_near0"], below)
  # A re-run skips the finished program and reproduces the numbers.
  again = lp.run(c, wd)
  assert again["vae_table"] == summary["vae_table"]


@pytest.mark.slow  # end to end, ~25 s: CI runs it with -m slow
def test_mnist_tiny_run(tmp_path):
  c = mnist_config("tiny")
  c.kappas = (2,)
  wd = str(tmp_path)
  summary = mp.run(c, wd)
  for f in ("config.json", "results.npz", "summary.json", "fig2b_nonzero_vs_kappa.png"):
    assert os.path.exists(os.path.join(wd, f)), f
  r = np.load(os.path.join(wd, "results.npz"))
  assert list(r["models"]) == ["vae", "ae", "vae_learned"]
  assert r["nonzero"].shape == (3, 1, 2)  # model × κ × trial
  for a, k in enumerate(c.kappas):
    assert np.all((r["nonzero"][:, a] >= 1) & (r["nonzero"][:, a] <= k))
    assert np.all(np.isnan(r["w1_col_norms"][:, a, :, k:]))
  assert summary["num_images"] == 300 and summary["failed_runs"] == 0
  assert set(summary["vae_nonzero_mean"]) == {"2"} == set(summary["vae_learned_nonzero_mean"])
  assert summary["decoder_variance"] == {"vae": "optimal", "ae": "optimal",
                                         "vae_learned": "learned"}
  # The learned-variance VAE is its own program (another parameter tree), not a copy of the VAE.
  assert not np.allclose(r["w1_col_norms"][0, 0, :, :2], r["w1_col_norms"][2, 0, :, :2])
  assert set(summary["converged_fraction"]) == {"vae", "ae", "vae_learned"}
  verdicts = reproduce._mnist_pruning(summary)
  assert len(verdicts) == 3 and "learned" in verdicts[1].claim
  assert np.all(np.isfinite(r["nmse"])) and np.all(r["nmse"] > 0)


def test_plateau_reads_where_pruning_starts():
  k = np.array([3, 5, 10, 15, 20, 30])
  p = mp.plateau(k, np.array([3.0, 5.0, 9.9, 12.0, 12.5, 12.0]))
  assert p["first_pruned_kappa"] == 15 and p["plateau_range"] == [12.0, 12.5]
  assert mp.plateau(k, k.astype(float))["first_pruned_kappa"] is None


@pytest.mark.parametrize("which,field,value,match", [
    ("synthetic", "num_trials", 0, "num_trials"),
    ("synthetic", "decoder_depths", (0, -1), "decoder_depths"),
    ("synthetic", "learning_rate", float("nan"), "learning_rate"),
    ("synthetic", "models", ("vae", "rpca"), "models"),
    ("synthetic", "fig2a_encoder_depth", 7, "fig2a_encoder_depth"),
    ("synthetic", "threshold", 1.5, "threshold"),
    ("mnist", "kappas", (0, 4), "κ"),
    ("mnist", "num_images", 80_000, "num_images"),
    ("mnist", "batch_size", 1000, "batch_size"),
    ("mnist", "alpha", -1.0, "alpha"),
])
def test_bad_config_is_rejected_before_any_output(tmp_path, which, field, value, match):
  c = synthetic_config("tiny") if which == "synthetic" else mnist_config("tiny")
  setattr(c, field, value)
  run = lp.run if which == "synthetic" else mp.run
  with pytest.raises(ValueError, match=match):
    run(c, str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd")


def test_empty_hidden_widths_build_affine_encoder_and_decoder():
  # Ne = 0 and Nd = 0: μz and log σz² are linear in x, and W₁ is the μx kernel (eq. 21).
  c = synthetic_config("tiny")
  s = lp.settings_for(c, 0, 0)
  assert s.encoder_widths == () and s.decoder_widths == ()
  fns = train.make_train(s)
  infos = pruning.trial_infos([("vae", 1.0)], 20, 0, 1)
  cell = jax.tree.map(lambda a: a[0], sweep.make_cells(infos))
  params = fns.init(cell).params
  W1 = models.first_decoder_weights(params)
  assert W1.shape == (c.data_dim, c.latent_dim)
  assert set(params["params"]["decoder"]) == {"mu_x"}
  assert set(params["params"]["encoder"]) == {"mu_z", "logvar_z"}
