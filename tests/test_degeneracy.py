"""Theorem 6 (Sec. 4, App. G): the exact trial objective against Monte Carlo and independent
formulas."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from hidden_talents.experiments import degeneracy as experiment
from hidden_talents.objectives import affine_cost, degeneracy
from launch.configs.degeneracy import get_config


def _data(n=12, d=5, seed=0):
  rng = np.random.default_rng(seed)
  X = rng.normal(size=(n, d)).astype(np.float32)
  a = rng.normal(size=d).astype(np.float32)
  return X, a


def test_quantizer_cells_partition_the_line_and_decoder_returns_the_training_point():
  X, a = _data()
  mu_z = X @ a
  lo, hi = map(np.asarray, degeneracy.quantizer_cells(mu_z))
  assert np.all(lo < mu_z) and np.all(mu_z < hi)
  assert np.sum(np.isinf(lo)) == 1 and np.sum(np.isinf(hi)) == 1
  order = np.argsort(mu_z)
  np.testing.assert_array_equal(hi[order][:-1], lo[order][1:])  # adjacent cells share a bound
  dec = degeneracy.quantizing_decoder(X, mu_z)
  step = np.where(np.isinf(hi), 1.0, 0.49 * (hi - mu_z))  # just inside the upper cell bound
  for i in range(len(X)):
    np.testing.assert_array_equal(np.asarray(dec(mu_z[i] + step[i])), X[i])


@pytest.mark.parametrize("lam_z", [1e-4, 1e-2, 1.0])
def test_cell_probabilities_match_scipy_including_far_tails(lam_z):
  X, a = _data()
  mu_z = (X @ a).astype(np.float64)
  P = np.asarray(degeneracy.cell_probabilities(jnp.asarray(mu_z, jnp.float32), lam_z), np.float64)
  lo, hi = map(lambda v: np.asarray(v, np.float64), degeneracy.quantizer_cells(mu_z))
  sd = np.sqrt(lam_z)
  ref = (stats.norm.sf((lo[None] - mu_z[:, None]) / sd)
         - stats.norm.sf((hi[None] - mu_z[:, None]) / sd))
  ref = np.where(lo[None] > mu_z[:, None], ref,
                 stats.norm.cdf((hi[None] - mu_z[:, None]) / sd)
                 - stats.norm.cdf((lo[None] - mu_z[:, None]) / sd))
  np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-5)
  big = ref > 1e-30  # float32 resolves tail probabilities down to ~1e-38
  np.testing.assert_allclose(P[big], ref[big], rtol=2e-3, atol=1e-7)


def test_trial_objective_equals_monte_carlo_elbo():
  X, a = _data(n=10, d=4, seed=1)
  for alpha in (0.03, 0.3):
    exact = float(degeneracy.trial_objective(X, a, alpha, alpha))
    mc, se = experiment.mc_objective(jax.random.PRNGKey(3), X, a, alpha, 200, 20)
    assert se > 0
    assert abs(mc - exact) < 4 * se, (alpha, mc, exact, se)


def test_trial_objective_approaches_the_asymptote_of_eq_97():
  X, a = _data()
  n, d = X.shape
  a = a / np.std(X @ a)
  gap = np.min(np.diff(np.sort(X @ a)))  # misquantisation ~ exp(−gap²/8α): α ≪ gap²/8
  alphas = (gap**2 / 8 * np.array([1e-3, 1e-2, 3e-2])).astype(np.float32)
  trial = np.array([float(degeneracy.trial_objective(X, a, al, al)) for al in alphas])
  asym = np.asarray(degeneracy.trial_asymptote(X, a, alphas))
  np.testing.assert_allclose(trial, asym, rtol=1e-4)
  slope = np.polyfit(np.log(alphas), trial, 1)[0]
  assert abs(slope / (n * (d - 1)) - 1) < 1e-3


def test_ppca_minimum_is_the_global_minimum_of_lemma_1():
  rng = np.random.default_rng(2)
  n, d, kappa = 200, 6, 2
  X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
  value, lam = degeneracy.ppca_minimum(X, kappa=kappa)
  # PPCA solution (Tipping & Bishop): W = U_κ (Λ_κ − λI)^{1/2}, b = mean.
  ell, U = np.linalg.eigh(np.cov(X, rowvar=False, bias=True))
  ell, U = ell[::-1], U[:, ::-1]
  W = U[:, :kappa] * np.sqrt(ell[:kappa] - lam)
  b = X.mean(0)
  with jax.enable_x64(True):
    at_opt = float(affine_cost(jnp.asarray(X), jnp.asarray(W), jnp.asarray(b), jnp.float64(lam)))
    assert at_opt == pytest.approx(value, rel=1e-9)
    for _ in range(20):
      Wr = W + 0.3 * rng.normal(size=W.shape)
      br = b + 0.3 * rng.normal(size=d)
      lr = lam * np.exp(0.5 * rng.normal())
      assert float(affine_cost(jnp.asarray(X), jnp.asarray(Wr), jnp.asarray(br),
                               jnp.float64(lr))) > value
  # With the variance pinned at λ the minimum over W, b is at least the global one, and equal at λ*.
  pinned = degeneracy.affine_minimum_at(X, np.array([lam * 1e-3, lam, lam * 10]), kappa=kappa)
  assert pinned[1] == pytest.approx(value, rel=1e-9)
  assert np.all(pinned >= value - 1e-9)


def test_degeneracy_run_end_to_end(tmp_path):
  c = get_config("tiny")
  s = experiment.run(c, str(tmp_path))
  for f in ("config.json", "results.npz", "summary.json", "theorem6_degeneracy.png"):
    assert os.path.exists(tmp_path / f)
  assert json.loads((tmp_path / "summary.json").read_text())["slope_ratio"] == pytest.approx(
      s["slope_ratio"])
  assert abs(s["slope_ratio"] - 1) < 0.01  # L falls like n(d − 1)·log α
  assert s["trial_at_smallest_alpha"] < s["affine_ppca_minimum"]  # below any affine decoder
  assert all(abs(m["z_score"]) < 4 for m in s["mc_check"])
  r = np.load(tmp_path / "results.npz")
  assert np.all(np.diff(r["trial"][: len(r["trial"]) // 2]) > 0)  # monotone in α for small α


@pytest.mark.parametrize("field,value", [("num_samples", 0), ("data_dim", -1),
                                         ("log10_alpha_min", 3.0), ("mc_replicates", 1),
                                         ("mc_log10_alphas", (5.0,))])
def test_degeneracy_rejects_bad_config(tmp_path, field, value):
  c = get_config("tiny")
  setattr(c, field, value)
  with pytest.raises(ValueError):
    experiment.run(c, str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd")
