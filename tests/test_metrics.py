"""``metrics``: each metric of the paper's experiments against hand-computed values."""

import numpy as np
import pytest

from hidden_talents import metrics


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


def test_support_scores_on_the_host_equal_the_jnp_ones():
  rng = np.random.default_rng(0)
  det, true = rng.random((40, 9)) < 0.3, rng.random((40, 9)) < 0.2
  host, dev = metrics.support_scores(det, true, xp=np), metrics.support_scores(det, true)
  assert isinstance(host.precision, np.ndarray) and host.precision.dtype == np.float64
  np.testing.assert_allclose([host.precision, host.recall], [dev.precision, dev.recall],
                             rtol=1e-6)
  hits = float(np.sum(det & true))
  assert float(host.precision) == hits / det.sum() and float(host.recall) == hits / true.sum()
  none = np.zeros(5, bool)
  for xp in (np, None):
    s = metrics.support_scores(none, none, xp=xp) if xp else metrics.support_scores(none, none)
    assert float(s.precision) == 1.0 and float(s.recall) == 1.0
