"""Theorem 4 in practice: eq. 13 recovery, the linear data path, and the linear phase-transition
experiment end to end."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hidden_talents import linear_recovery, metrics, sweep, train
from hidden_talents.experiments import linear_phase_transition as lpt
from launch.configs.linear_phase_transition import get_config
from tests.helpers import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- eq. 13 and the metrics: pure linear algebra -------------------------------------------------


def _lowrank_sample(seed, d=30, r=3, kappa=8, n_out=5, scale=10.0):
  rng = np.random.default_rng(seed)
  U = rng.normal(size=(d, r))
  b = rng.normal(size=d)
  l_true = U @ rng.normal(size=r) + b
  support = np.zeros(d, bool)
  support[rng.choice(d, n_out, replace=False)] = True
  x = np.where(support, scale * rng.normal(size=d), l_true)
  # Ŵ: another basis of span(U), padded with zero columns (an over-complete, pruned latent).
  W = np.zeros((d, kappa))
  W[:, [1, 4, 6]] = U @ rng.normal(size=(r, r))
  return x.astype(np.float32), l_true, W.astype(np.float32), b.astype(np.float32), support


def test_eq13_is_exact_given_the_true_span_and_support():
  for seed in range(5):
    x, l_true, W, b, support = _lowrank_sample(seed)
    l_hat, z = jax.jit(linear_recovery.eq13_recover)(x, W, b, ~support)
    np.testing.assert_allclose(l_hat, l_true, rtol=0, atol=2e-4 * np.abs(l_true).max())
    assert np.all(np.abs(np.asarray(z)[[0, 2, 3, 5, 7]]) < 1e-5)  # min-norm: zero columns unused


def test_eq13_matches_the_literal_projection_onto_span_w_e():
  """[Ŵ Eᵢ][Ŵ Eᵢ]† (xᵢ − b), its Ŵ part, computed independently in float64 NumPy, for a support
  that is NOT the true one (so the projection is not trivially exact)."""
  x, _, W, b, support = _lowrank_sample(7)
  guess = support.copy()
  guess[np.nonzero(~support)[0][:3]] = True  # three false alarms
  guess[np.nonzero(support)[0][0]] = False  # one miss
  E = np.eye(len(x))[:, guess]
  A = np.concatenate([W.astype(np.float64), E], axis=1)
  c = np.linalg.pinv(A) @ (x - b).astype(np.float64)
  ref = W.astype(np.float64) @ c[: W.shape[1]] + b
  got, _ = linear_recovery.eq13_recover(x, W, b, ~guess)
  np.testing.assert_allclose(got, ref, atol=1e-3)
  # vmapped over samples gives the same rows.
  batch = jax.vmap(lambda xi, ii: linear_recovery.eq13_recover(xi, W, b, ii)[0])(
      jnp.stack([x, x]), jnp.stack([~guess, ~guess]))
  np.testing.assert_allclose(batch[1], got, atol=1e-6)


def test_eq13_rejects_bad_shapes():
  with pytest.raises(ValueError, match="eq13_recover"):
    linear_recovery.eq13_recover(np.zeros(5), np.zeros((4, 2)), np.zeros(5), np.ones(5, bool))


def test_subspace_sine_known_angles():
  d = 6
  e = np.eye(d, dtype=np.float32)
  theta = 0.3
  A = e[:, :1]
  B = (np.cos(theta) * e[:, 0] + np.sin(theta) * e[:, 1])[:, None]
  np.testing.assert_allclose(linear_recovery.subspace_sine(A, B), np.sin(theta), atol=1e-6)
  # span(A) ⊆ span(B), B with a zero column and a rescaled copy of A's direction.
  A2 = e[:, :2] @ np.array([[1.0, 2.0], [0.5, -1.0]], np.float32)
  B2 = np.concatenate([e[:, :3] * 4.0, np.zeros((d, 1), np.float32)], axis=1)
  assert float(linear_recovery.subspace_sine(A2, B2)) < 1e-6
  # rank B < rank A: some direction of A is orthogonal to B.
  np.testing.assert_allclose(linear_recovery.subspace_sine(e[:, :3], e[:, :2]), 1.0, atol=1e-6)
  _, rank = linear_recovery.orthonormal_basis(B2)
  assert int(rank) == 3


def test_support_scores_and_active_columns():
  det = np.array([[1, 1, 0, 0], [0, 1, 0, 0]], bool)
  true = np.array([[1, 0, 1, 0], [0, 1, 0, 0]], bool)
  s = metrics.support_scores(det, true)
  np.testing.assert_allclose([s.precision, s.recall], [2 / 3, 2 / 3])
  none = metrics.support_scores(np.zeros(3, bool), np.zeros(3, bool))
  assert float(none.precision) == 1.0 and float(none.recall) == 1.0
  W = np.array([[3.0, 0.1, 0.0], [4.0, 0.0, 1.0]], np.float32)  # norms 5, 0.1, 1
  np.testing.assert_array_equal(metrics.nonzero_mask(W), [True, False, True])


# --- engine pieces the experiment relies on ------------------------------------------------------


def _cell(settings, kappa=2, nu=0.2):
  return jax.tree.map(lambda a: a[0], sweep.make_cells([sweep.CellInfo("vae", 1.0, kappa, nu, 0)]))


def test_affine_generator_streams_rank_r_data_and_outlier_scale_scales_outliers():
  s1 = train.Settings(data_dim=12, kappa_max=4, generator_widths=(), encoder_widths=(8,),
                      decoder_widths=(), latent_dim=6, num_samples=200, batch_size=20)
  s10 = train.Settings(**{**s1.__dict__, "outlier_scale": 10.0})
  cell = _cell(s1, kappa=2)
  idx = jnp.arange(200)
  x1, l1, m1 = train.make_train(s1).sample_batch(cell, idx)
  x10, l10, m10 = train.make_train(s10).sample_batch(cell, idx)
  sv = np.linalg.svd(np.asarray(l1), compute_uv=False)
  assert sv[1] > 1e-2 * sv[0] and sv[2] < 1e-5 * sv[0]  # rank exactly κ = 2
  U = lpt.true_basis(s1, cell)
  assert float(linear_recovery.subspace_sine(np.asarray(l1).T, U)) < 1e-4
  np.testing.assert_array_equal(m1, m10)
  np.testing.assert_array_equal(l1, l10)
  np.testing.assert_allclose(np.where(m1, x10, 0), np.where(m1, 10 * x1, 0), rtol=1e-6)
  np.testing.assert_array_equal(np.where(m1, 0, x10), np.where(m1, 0, x1))
  assert 0.1 < float(np.mean(m1)) < 0.3
  with pytest.raises(ValueError, match="outlier_scale"):
    train.Settings(outlier_scale=0.0)


def test_run_sweep_returns_params_and_reloads_them_from_finished_groups(tmp_path):
  cells = sweep.make_cells([sweep.CellInfo("vae", 1.0, k, 0.1, 0) for k in (1, 3)])
  r1 = sweep.run_sweep(TINY, cells, num_steps=10, workdir=str(tmp_path), progress=False,
                       return_params=True)
  kernel = r1.params["params"]["decoder"]["D1"]["kernel"]
  assert kernel.shape[0] == 2 and np.all(np.isfinite(kernel))
  r2 = sweep.run_sweep(TINY, cells, num_steps=10, workdir=str(tmp_path), progress=False,
                       return_params=True)
  for a, b in zip(jax.tree.leaves(r1.params), jax.tree.leaves(r2.params), strict=False):
    np.testing.assert_array_equal(a, b)
  assert sweep.SweepResult(*[None] * 6).params is None  # off by default


# --- the experiment ----------------------------------------------------------------------------


def _tiny(**overrides):
  c = get_config("tiny")
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


@pytest.mark.slow  # end to end, 25–65 s: CI runs it with -m slow
def test_tiny_run_writes_outputs_and_resumes(tmp_path):
  wd = str(tmp_path)
  summary = lpt.run(_tiny(), wd)
  for f in ("config.json", "results.npz", "summary.json", "linear_nmse.png",
            "linear_diagnostics.png"):
    assert os.path.exists(os.path.join(wd, f)), f
  with open(os.path.join(wd, "summary.json")) as f:
    on_disk = json.load(f)
  assert set(on_disk["success_cells"]) == {"vae", "ae", "pcp"}
  r = np.load(os.path.join(wd, "results.npz"))
  for m in ("vae", "ae", "pcp"):
    for k in lpt.METRICS:
      assert r[f"{m}_{k}"].shape == (2, 2), (m, k)
    assert on_disk["success_cells"][m] == int(np.sum(r[f"{m}_nmse"] < 1e-3))
  assert np.all(np.isfinite(r["vae_nmse"]))
  # The rank grid is the Sec. 5.2 count of the trained decoder's columns, cell by cell (W₁ of an
  # affine decoder mean is W itself): recount from the engine's column norms.
  vae = r["cell_model"] == "vae"
  counts = metrics.nonzero_from_norms(r["cell_w_col_norms"][vae])
  np.testing.assert_array_equal(r["vae_rank"].ravel(), counts)
  # PCP finds the outliers of the easy cell (r = 1, ν = 5 %) where it recovers L.
  assert r["pcp_recall"][0, 0] > 0.9 and r["pcp_precision"][0, 0] > 0.9
  # PCP on an easy linear cell (r = 1, ν = 5 %) is the textbook success.
  assert r["pcp_nmse"][0, 0] < 1e-3
  assert summary["failed_cells"] == []
  # A re-run finds the finished network group and gives the same numbers.
  again = lpt.run(_tiny(), wd)
  assert again["median_nmse"] == summary["median_nmse"]


def _easy_cell(**overrides):
  """One easy cell: low rank, 5 % gross outliers, both networks, no PCP."""
  return _tiny(ranks=(overrides.pop("rank", 1),), nus=(0.05,), models=("vae", "ae"),
               **overrides)


def test_smoke_short_training_already_removes_most_of_the_corruption(tmp_path):
  """Default-run smoke version of the slow test below: 400 steps at the tiny sizes."""
  lpt.run(_easy_cell(num_steps=400, chunk_steps=200, learning_rate=3e-3), str(tmp_path))
  r = np.load(os.path.join(str(tmp_path), "results.npz"))
  # The corrupted input has NMSE ≈ ν·(scale² + 2)/2 ≈ 2.5 here (measured after 400 steps: VAE
  # eq. 13 0.056, decoder 0.024, sin ∠ 0.0013; AE decoder 0.018 but eq. 13 0.61, because its 6
  # spare columns make the inlier least squares ill-posed).
  assert r["vae_nmse"][0, 0] < 0.1 and r["vae_nmse_decoder"][0, 0] < 0.1
  assert r["ae_nmse_decoder"][0, 0] < 0.1
  assert r["vae_recall"][0, 0] > 0.9 and r["vae_sin_angle"][0, 0] < 0.02


@pytest.mark.slow
def test_partially_affine_vae_recovers_an_easy_cell_and_finds_the_rank(tmp_path):
  """Theorem 4 on one easy cell (r = 2, ν = 5 %, d = 30, κ_latent = 8): the VAE recovers L (eq. 13)
  and the outlier support; the AE limit (Σz = 0, Corollary 5) keeps every latent column, since
  eq. 16 only asks rank ≤ κ. (Measured on 2 loaded CPU cores, 3000 steps: VAE NMSE 3.2e-3,
  precision 0.96, recall 0.99, 3 columns; AE NMSE 2.9e-3 with all 8 columns — so in NMSE the AE
  is not worse on this easy cell, only in rank; see the experiment's report.)"""
  c = _easy_cell(rank=2, data_dim=30, latent_dim=8, encoder_widths=(64, 64), num_samples=1000,
                 eval_samples=500, num_steps=3000, chunk_steps=1000, learning_rate=3e-3)
  lpt.run(c, str(tmp_path))
  r = np.load(os.path.join(str(tmp_path), "results.npz"))
  assert r["vae_nmse"][0, 0] < 1e-2
  assert r["vae_precision"][0, 0] > 0.9 and r["vae_recall"][0, 0] > 0.95
  assert r["vae_sin_angle"][0, 0] < 1e-2
  assert r["vae_rank"][0, 0] < c.latent_dim  # superfluous columns pruned
  assert r["ae_rank"][0, 0] >= r["vae_rank"][0, 0]


@pytest.mark.parametrize("field,value,match", [
    ("nus", (0.1, 1.0), "outlier ratio"),
    ("ranks", (0, 2), "rank"),
    ("ranks", (3, 25), "rank"),
    ("latent_dim", 2, "latent_dim"),
    ("models", ("vae", "rpca"), "models"),
    ("num_steps", 0, "num_steps"),
    ("outlier_scale", -1.0, "outlier_scale"),
    ("alpha", float("nan"), "alpha"),
    ("eval_samples", 10_000, "eval_samples"),
    ("ae_c2_values", (), "ae_c2_values"),
])
def test_bad_config_is_rejected_before_any_output(tmp_path, field, value, match):
  with pytest.raises(ValueError, match=match):
    lpt.run(_tiny(**{field: value}), str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd")


def test_launch_script_reports_bad_flag_clearly(tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "launch.linear_phase_transition",
       "--config=launch/configs/linear_phase_transition.py:tiny", "--config.nus=(0.2,1.5)",
       f"--workdir={tmp_path / 'wd'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 2
  assert "every outlier ratio ν must lie in [0, 1), got 1.5" in out.stderr
  assert not os.path.exists(tmp_path / "wd")
