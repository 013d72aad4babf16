"""``baselines.rpca_best_lam``: the RPCA baseline at its best λ, equal to direct solver calls, and
its module light to import."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from hidden_talents import baselines, rpca
from hidden_talents.data import lowrank

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
