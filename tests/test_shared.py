"""The pieces every experiment shares: the RPCA baseline, metrics, config checks, the run
directory, and the package's lazy top level."""

import math
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from hidden_talents import baselines, checks, metrics, rpca
from hidden_talents.data import lowrank

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- baselines.rpca_best_lam ---------------------------------------------------------------------


def _problems(num=3, shape=(40, 30)):
  import jax
  keys = jax.random.split(jax.random.key(0), num)
  ps = [lowrank.lowrank_plus_sparse(k, 2 + i, 0.1, shape=shape, max_rank=4) for i, k in
        enumerate(keys)]
  return np.stack([np.asarray(p.X) for p in ps]), np.stack([np.asarray(p.L) for p in ps])


def test_rpca_baseline_equals_direct_solver_calls_and_picks_the_least_nmse():
  X, L = _problems()
  factors = (0.5, 1.0, 3.0)
  base = baselines.rpca_best_lam(X, L, factors, tol=1e-6, max_iter=200, chunk_size=4)
  lam0 = 1.0 / math.sqrt(max(X.shape[1:]))  # Candès et al.
  np.testing.assert_allclose(base.lam, np.float32(factors) * lam0, rtol=1e-7)
  for b in range(len(X)):
    for f, fac in enumerate(factors):
      r = rpca.robust_pca(X[b], lam=float(np.float32(fac) * np.float32(lam0)), tol=1e-6,
                          max_iter=200)
      ref = np.sum((np.float64(L[b]) - np.asarray(r.L, np.float64)) ** 2) / np.sum(
          np.float64(L[b]) ** 2)
      np.testing.assert_allclose(base.nmse_by_lam[b, f], ref, rtol=1e-3, atol=1e-9)
      assert base.iterations[b, f] == int(r.iterations)
  want = np.argmin(base.nmse_by_lam, axis=1)
  np.testing.assert_array_equal(base.best_index, want)
  np.testing.assert_array_equal(base.best_nmse, base.nmse_by_lam[np.arange(len(X)), want])
  np.testing.assert_array_equal(base.best_lam_factor, np.float32(factors)[want])
  assert base.solution.L.shape == (len(X) * len(factors),) + X.shape[1:]


def test_rpca_baseline_with_one_shared_clean_matrix_equals_the_repeated_one():
  X, L = _problems(num=2)
  X[1] = X[0] + 0.0  # two corruptions of the same L, so one shared L is right for both
  a = baselines.rpca_best_lam(X, L[0], (1.0, 2.0), tol=1e-5, max_iter=100, chunk_size=2)
  b = baselines.rpca_best_lam(X, np.stack([L[0], L[0]]), (1.0, 2.0), tol=1e-5, max_iter=100,
                              chunk_size=2)
  np.testing.assert_allclose(a.nmse_by_lam, b.nmse_by_lam, rtol=1e-6)
  with pytest.raises(ValueError, match="rpca_best_lam"):
    baselines.rpca_best_lam(X, L[0][:5], (1.0,), tol=1e-5, max_iter=10, chunk_size=2)


def test_baselines_does_not_import_the_training_engine():
  out = subprocess.run([sys.executable, "-c", (
      "import sys, hidden_talents.baselines; "
      "print([m for m in ('hidden_talents.train', 'hidden_talents.sweep', 'flax') "
      "if m in sys.modules])")], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "[]"


# --- metrics -----------------------------------------------------------------------------------


def test_nmse_against_a_hand_computed_value():
  L = np.array([[1.0, 2.0], [0.0, 2.0]])  # ‖L‖² = 9
  L_hat = np.array([[1.0, 1.0], [1.0, 2.0]])  # ‖L − L̂‖² = 2
  np.testing.assert_allclose(metrics.nmse(L, L_hat), 2 / 9, rtol=1e-6)
  with pytest.raises(ValueError, match="shapes differ"):
    metrics.nmse(L, L_hat[:1])


def test_support_scores_hand_computed():
  true = np.array([1, 1, 1, 0, 0, 0, 0, 1], bool)  # 4 outliers
  det = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)  # 3 detected, 2 of them right
  s = metrics.support_scores(det, true)
  np.testing.assert_allclose([float(s.precision), float(s.recall)], [2 / 3, 2 / 4])
  s = metrics.support_scores(np.zeros(8, bool), true)  # nothing detected: nothing falsely
  np.testing.assert_allclose([float(s.precision), float(s.recall)], [1.0, 0.0])


def test_nonzero_rule_is_the_same_for_matrices_and_norm_stacks():
  W = np.array([[3.0, 0.1, 0.0, 0.16], [4.0, 0.0, 1.0, 0.12]])  # norms 5, 0.1, 1, 0.2
  np.testing.assert_array_equal(metrics.nonzero_mask(W), [True, False, True, False])
  np.testing.assert_array_equal(metrics.nonzero_mask(W, threshold=0.03), [True, False, True, True])
  assert int(metrics.nonzero_columns(W)) == 2
  norms = np.linalg.norm(W, axis=0)
  assert int(metrics.nonzero_from_norms(norms)) == 2
  np.testing.assert_array_equal(metrics.nonzero_from_norms(np.stack([norms, 0 * norms])), [2, 0])


def test_sigma_z_fractions_use_the_documented_thresholds():
  lo, hi, bins = -8.0, 1.0, 90
  centers = np.linspace(lo, hi, bins + 1)[:-1] + 0.05
  hist = np.zeros(bins)
  for c, count in ((-4.05, 5), (-1.55, 2), (-1.05, 1), (-0.95, 4), (0.05, 8)):
    hist[np.argmin(np.abs(centers - c))] = count  # 20 entries
  near0, near1 = metrics.sigma_z_fractions(hist, (lo, hi))  # σ² < 0.1, σ² in [0.5, 2]
  np.testing.assert_allclose([near0, near1], [8 / 20, 8 / 20])
  small, _ = metrics.sigma_z_fractions(hist, (lo, hi), near_zero=metrics.SIGMA_Z_SMALL)
  np.testing.assert_allclose(small, 5 / 20)  # σ² < 1e-2
  assert metrics.SIGMA_Z_NEAR_ZERO == 0.1 and metrics.SIGMA_Z_SMALL == 1e-2


def test_masked_mean_and_best_over():
  v = np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])
  failed = np.array([[False, True, False], [True, True, True]])
  np.testing.assert_allclose(metrics.masked_mean(v, failed), [3.0, np.nan])
  best, arg = metrics.best_over(np.array([[np.nan, 2.0, np.nan], [1.0, 3.0, np.nan]]))
  np.testing.assert_array_equal(arg, [1, 0, -1])
  np.testing.assert_array_equal(best, [1.0, 2.0, np.nan])


# --- checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("check,value,message", [
    (checks.positive_int, 0, "x must be an integer ≥ 1, got 0"),
    (checks.positive_int, 2.0, "x must be an integer, got 2.0"),
    (checks.positive_int, True, "x must be an integer, got True"),
    (checks.nonnegative_int, -1, "x must be an integer ≥ 0, got -1"),
    (checks.finite_number, float("nan"), "x must be a finite number, got nan"),
    (checks.positive_number, 0.0, "x must be > 0, got 0.0"),
    (checks.nonnegative_number, -0.5, "x must be ≥ 0, got -0.5"),
    (checks.fraction, 1.0, "x must lie in [0, 1), got 1.0"),
    (checks.open_fraction, 0.0, "x must lie in (0, 1), got 0.0"),
    (checks.nonempty, (), "x must not be empty"),
    (checks.distinct, (1, 1), "x must be distinct, got (1, 1)"),
])
def test_checks_word_every_mistake_the_same_way(check, value, message):
  with pytest.raises(ValueError) as e:
    check("x", value)
  assert str(e.value) == message


def test_checks_return_plain_values_and_the_set_checks():
  assert checks.positive_int("x", np.int64(3)) == 3 and type(checks.positive_int("x", 3)) is int
  assert checks.fraction("x", 0) == 0.0
  assert checks.number("x", 2.0, lo=1.0, lo_open=True) == 2.0
  assert checks.subset("m", ["a"], ("a", "b")) == ("a",)
  with pytest.raises(ValueError, match=r"m must be a non-empty subset of \('a', 'b'\)"):
    checks.subset("m", ("a", "a"), ("a", "b"))
  with pytest.raises(ValueError, match=r"svt must be one of \('x',\), got 'y'"):
    checks.one_of("svt", "y", ("x",))
  with pytest.raises(ValueError, match=r"batch_size \(5\) exceeds num_samples \(4\)"):
    checks.at_most("batch_size", 5, 4, "num_samples")


# --- the package's top level -----------------------------------------------------------------


def test_objectives_import_alone_and_decompose_is_the_function_either_way():
  code = (
      "import sys, types\n"
      "import hidden_talents.objectives\n"
      "heavy = [m for m in ('flax', 'optax', 'hidden_talents.train', 'hidden_talents.sweep',\n"
      "         'hidden_talents.decompose') if m in sys.modules]\n"
      "assert not heavy, heavy\n"
      "import jax._src.xla_bridge as xb\n"
      "assert not xb._backends, 'a backend started at import time'\n"
      "from hidden_talents.decompose import mask_scores\n"  # the submodule first ...
      "import hidden_talents as ht\n"
      "assert isinstance(ht.decompose, types.FunctionType), ht.decompose\n"  # ... still the fn
      "assert ht.decompose.__module__ == 'hidden_talents.decompose'\n"
      "assert ht.Decomposition.__name__ == 'Decomposition' and callable(mask_scores)\n"
      "print('ok')\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "ok"
  out = subprocess.run([sys.executable, "-c", (
      "import types, hidden_talents as ht; assert isinstance(ht.decompose, types.FunctionType); "
      "from hidden_talents.decompose import mask_scores; "
      "assert isinstance(ht.decompose, types.FunctionType); print('ok')")],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_jnp_is_not_needed_for_the_log_2pi_constant():
  from hidden_talents.objectives.vae import LOG_2PI
  assert LOG_2PI == float(jnp.log(2.0 * jnp.pi))  # the float32 value it always had
