"""``robust.inputs``: bad matrices, missing masks and magnitudes are refused before any work."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hidden_talents
from hidden_talents.robust.inputs import check_matrix
from hidden_talents.robust.standardize import robust_standardize
from tests.robust.support import fake_train


@pytest.mark.parametrize("X, match", [
    (np.array([["a", "b"]] * 20), "numeric"),
    (np.arange(50.0), "2-D"),
    (np.zeros((20, 3, 2)), "2-D"),
    (np.where(np.eye(20, 4) > 0, np.nan, 1.0), "NaN or Inf"),
    (np.where(np.eye(20, 4) > 0, np.inf, 1.0), "NaN or Inf"),
    (np.ones((5, 3)), "at least 10 samples"),
    (np.ones((20, 30)), "fewer samples"),
    (np.ones((20, 2)) + 1j, "real"),
    (np.where(np.arange(60).reshape(20, 3) == 14, np.nan, 1.0), "row 5, column 3, counted from 1"),
])
def test_bad_matrix(X, match):
  with pytest.raises(ValueError, match=match):
    hidden_talents.decompose(X, steps=1)


def test_wide_matrix_allowed_for_rpca_only():
  X = np.random.default_rng(0).normal(size=(20, 30))
  check_matrix(X, method="rpca")
  with pytest.raises(ValueError, match="transpose"):
    check_matrix(X, method="vae")


def test_huge_values_refused_before_training(monkeypatch):
  calls = []
  fake_train(monkeypatch, calls=calls)
  X = np.random.default_rng(0).normal(size=(50, 3))
  X[7, 2] = -1e200
  for method in ("vae", "rpca"):
    with pytest.raises(ValueError, match="row 8, column 3 .* too large|too large.*row 8, column 3"):
      hidden_talents.decompose(X, method=method)
  assert calls == []
  X[7, 2] = 1e300
  X[8, 2] = -1e300  # x − median would overflow float64 too
  with pytest.raises(ValueError, match="too large"):
    hidden_talents.decompose(X)
  Xs = np.random.default_rng(0).normal(size=(50, 3)) * 1e200  # large but consistent units: fine
  res = hidden_talents.decompose(Xs, steps=5)
  assert np.all(np.isfinite(res.L)) and calls == [5]


def test_overflowing_values_refused_and_huge_scales_without_overflow(monkeypatch):
  fake_train(monkeypatch)
  X = np.random.default_rng(0).normal(size=(50, 3))
  X[:, 1] = np.where(np.arange(50) % 2, 1e308, -1e308)  # 1.4826·MAD would be inf
  for method in ("vae", "rpca"):
    with pytest.raises(ValueError, match=r"beyond ±1e\+300 \(50 entries; first at row 1, column 2"):
      hidden_talents.decompose(X, method=method)
  X[:, 1] /= 1e108  # ±1e200: a legal column, but its squares overflow float64
  X[:10, 2] = 0.0
  X[10:, 2] = np.where(np.arange(40) % 2, 1e200, 0.0)  # MAD 0: the std fallback squares 1e200
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # no 'overflow encountered in square'
    Z, _, scale = robust_standardize(X)
    res = hidden_talents.decompose(X, steps=5)
  assert np.all(np.isfinite(scale)) and np.all(np.isfinite(Z))
  np.testing.assert_allclose(scale[2], np.std(X[:, 2] / 1e200) * 1e200)
  assert np.all(np.isfinite(res.L))
