"""``robust.base``: the pipeline every method shares — constant columns, scores over the observed
entries — and a third method plugged in with its reconstruction alone."""

from __future__ import annotations

import numpy as np
import pytest

import hidden_talents
from hidden_talents.robust import outputs
from hidden_talents.robust.base import Reconstruction, RobustEstimator
from hidden_talents.robust.estimators import common_params
from tests.robust.support import fake_train


def test_constant_column_gets_no_spurious_flags(monkeypatch):
  rng = np.random.default_rng(0)
  X = rng.normal(size=(400, 4))
  X[:, 1] = 3.25
  fake_train(monkeypatch)
  res = hidden_talents.decompose(X, steps=5)
  # Without the rule the heavy-tailed reconstruction error of column 2 is flagged (√α = 0.1 in
  # units of its fallback scale 1); other columns keep their flags.
  assert not res.mask[:, 1].any()
  assert res.mask[:, [0, 2, 3]].any()
  np.testing.assert_array_equal(res.L[:, 1], 3.25)
  assert res.info["constant_columns"] == 1
  np.testing.assert_array_equal(res.S_sparse, np.where(res.mask, res.S, 0.0))
  assert np.all(res.S_sparse[~res.mask] == 0) and np.any(res.S[~res.mask] != 0)


def test_sample_scores_count_observed_entries(monkeypatch):
  fake_train(monkeypatch, noise=1.0)
  X = np.random.default_rng(1).normal(size=(200, 4))
  missing = np.zeros(X.shape, bool)
  missing[:20, :2] = True
  res = hidden_talents.decompose(X, missing=missing, steps=5)
  assert res.mask[:20].any()
  np.testing.assert_array_equal(res.sample_scores, res.mask.sum(1) / (~missing).sum(1))
  assert res.info["flagged_fraction"] == res.mask.sum() / (~missing).sum()
  score = float(outputs.rows_csv(res).splitlines()[1].split(",")[2])
  np.testing.assert_allclose(score, res.mask[0].sum() / 2, rtol=1e-5)


class ColumnMedian(RobustEstimator):
  """A toy third method: every row reconstructed as the column medians (Ẑ = 0)."""

  method = "median"

  def __init__(self, *, alpha=None, threshold=3.0, seed=0):
    self._store(locals())

  def _checked_params(self):
    return common_params(seed=self.seed, alpha=self.alpha, threshold=self.threshold)

  def _fit_model(self, Z, missing, *, alpha, config, progress):
    return self._reconstruct(Z, missing), {}

  def _reconstruct(self, Z, missing):
    return Reconstruction(np.zeros_like(Z), {}, {})

  def used_settings(self):
    return {"method": self.method, "seed": self.config_["seed"], "alpha": self.alpha_,
            "threshold": self.config_["threshold"]}


def test_a_method_plugs_in_with_its_reconstruction_alone():
  rng = np.random.default_rng(0)
  X = rng.normal(5.0, 2.0, size=(300, 3))
  X[:10, 1] = 100.0
  missing = np.zeros(X.shape, bool)
  missing[20, 2] = True
  res = ColumnMedian().fit_transform(X, missing=missing)
  assert res.mask[:10, 1].all() and res.mask.mean() < 0.05 and not res.mask[20, 2]
  np.testing.assert_allclose(res.L, np.broadcast_to(np.median(X, axis=0), X.shape), atol=0.02)
  np.testing.assert_allclose(res.L + res.S, np.where(missing, res.L, X), atol=1e-9)
  assert res.info["method"] == "median" and res.info["missing_entries_transformed"] == 1
  assert res.info["settings"] == {"method": "median", "seed": 0, "alpha": 0.01, "threshold": 3.0}
  with pytest.raises(ValueError, match="threshold"):
    ColumnMedian(threshold=0).fit(X)
  with pytest.raises(TypeError, match="unexpected arguments"):
    ColumnMedian().fit(X).transform(X, refine_steps=3)
