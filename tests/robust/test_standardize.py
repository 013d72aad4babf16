"""``robust.standardize``: robust column scales, ties and α, the outlier mask."""

from __future__ import annotations

import numpy as np

from hidden_talents.robust import standardize
from hidden_talents.robust.diagnostics import mask_scores
from hidden_talents.robust.settings import DEFAULTS
from hidden_talents.robust.standardize import outlier_mask, robust_standardize


def test_outlier_mask_on_known_residuals():
  """Gaussian residuals with per-column scales σⱼ plus gross errors: the robust test recovers the
  gross entries and σⱼ, whatever the column scale (a plain |r| > √α test does not)."""
  rng = np.random.default_rng(0)
  n, d = 4000, 6
  sigma = np.array([0.01, 0.03, 0.1, 0.3, 1.0, 3.0])
  R = rng.normal(size=(n, d)) * sigma
  gross = rng.random((n, d)) < 0.05
  R[gross] += 20 * sigma[np.nonzero(gross)[1]] * rng.choice([-1, 1], gross.sum())
  mask, est = outlier_mask(R, alpha=1e-4, threshold=4.0)
  np.testing.assert_allclose(est, sigma, rtol=0.08)
  sc = mask_scores(mask, gross)
  assert sc["precision"] > 0.99 and sc["recall"] > 0.99
  plain = R**2 > 1e-2  # eq. 12 support with α = 1e-2 and no scale: wrong in both directions
  assert mask_scores(plain, gross)["precision"] < 0.5


def test_robust_standardize_ignores_outliers():
  rng = np.random.default_rng(1)
  X = rng.normal(3.0, 2.0, size=(5000, 3))
  X[:, 2] = 7.0  # constant column: centred, scale 1
  X[rng.random(5000) < 0.05, 0] = 1e6
  Z, center, scale = robust_standardize(X)
  np.testing.assert_allclose(center[:2], 3.0, atol=0.25)  # mean would be ≈ 5·10⁴
  np.testing.assert_allclose(scale[:2], 2.0, rtol=0.1)
  assert scale[2] == 1.0 and np.all(Z[:, 2] == 0)
  np.testing.assert_allclose(Z * scale + center, X)


def test_alpha_default_follows_ties_in_the_data():
  """α = 10⁻² on continuous data; α = 1 when a quarter or more of the entries equal their
  column's median (images), where α = 10⁻² makes a constant output nearly optimal; a given α
  always wins. (The fitted model's α: tests/robust/test_estimators.py.)"""
  rng = np.random.default_rng(0)
  Xc = rng.normal(size=(300, 8))
  Zc, _, _ = robust_standardize(Xc)
  assert standardize.tied_fraction(Zc) < 0.01
  assert standardize.resolve_alpha(None, Zc) == DEFAULTS.alpha
  Xt = np.where(rng.random((300, 8)) < 0.7, 0.0, rng.random((300, 8)))  # 70 % exact zeros
  Zt, _, _ = robust_standardize(Xt)
  assert standardize.tied_fraction(Zt) > 0.6
  assert standardize.resolve_alpha(None, Zt) == DEFAULTS.tied_alpha == 1.0
  assert standardize.resolve_alpha(0.3, Zt) == 0.3


def test_constant_columns_and_their_value():
  X = np.array([[1.0, 2.5, 3.0], [4.0, 2.5, 3.0], [5.0, 2.5, 9.0]])
  constant, value = standardize.constant_columns(X, None)
  np.testing.assert_array_equal(constant, [False, True, False])
  assert value[1] == 2.5
  missing = np.array([[False, False, False], [False, False, False], [False, False, True]])
  constant, value = standardize.constant_columns(X, missing)  # the 9 is missing: 3 is constant
  np.testing.assert_array_equal(constant, [False, True, True])
  assert value[2] == 3.0


def test_residual_scale_leaves_missing_entries_out():
  R = np.random.default_rng(0).normal(size=(200, 3))
  with_nan = R.copy()
  with_nan[:20, 1] = np.nan
  full, part = standardize.residual_scale(R), standardize.residual_scale(with_nan)
  assert full[0] == part[0] and full[2] == part[2]
  assert part[1] == standardize.residual_scale(R[20:, 1:2])[0]
