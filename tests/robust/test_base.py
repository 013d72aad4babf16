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


def test_entry_and_row_scores(monkeypatch):
  """entry_scores = |S|/σⱼ in robust SDs (σⱼ floored at √α/k), so the mask is entry_scores > k;
  0 on missing entries and constant columns. row_scores = the mean over a row's observed
  entries of min(e², (5k)²); decision_function returns them (PyOD: higher = more outlying),
  score_samples their negative (scikit-learn: higher = more normal)."""
  fake_train(monkeypatch, noise=1.0)
  rng = np.random.default_rng(2)
  X = rng.normal(size=(200, 5))
  X[:, 4] = 1.5  # constant
  missing = np.zeros(X.shape, bool)
  missing[:10, 0] = True
  model = hidden_talents.RobustVAE(steps=3)
  res = model.fit_transform(X, missing=missing)
  E = res.entry_scores
  floor = np.sqrt(model.alpha_) / 3.0
  want = np.abs(res.S) / np.maximum(res.noise_scale, floor * model.scale_)
  np.testing.assert_allclose(E[:, :4][~missing[:, :4]], want[:, :4][~missing[:, :4]], rtol=1e-9)
  np.testing.assert_array_equal(res.mask, E > 3.0)
  assert np.all(E[missing] == 0) and np.all(E[:, 4] == 0)
  observed = (~missing).sum(axis=1)
  np.testing.assert_allclose(res.row_scores, np.minimum(E**2, 15.0**2).sum(1) / observed)
  np.testing.assert_array_equal(model.decision_function(X, missing=missing), res.row_scores)
  np.testing.assert_array_equal(model.score_samples(X, missing=missing), -res.row_scores)
  stricter = model.transform(X, missing=missing, threshold=6.0)
  np.testing.assert_array_equal(stricter.mask, stricter.entry_scores > 6.0)
  assert res._fields[-2:] == ("entry_scores", "row_scores")  # new fields at the end
  assert res._fields[:7] == ("L", "S", "mask", "sample_scores", "noise_scale", "info", "S_sparse")
  with pytest.raises(ValueError, match="not fitted"):
    hidden_talents.RobustRPCA().decision_function(X)


def _auc(score, positive):
  """ROC AUC (Mann-Whitney, ties counted half)."""
  from scipy.stats import rankdata
  order = rankdata(score)
  n1, n0 = positive.sum(), (~positive).sum()
  return (order[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def test_row_scores_rank_subtly_outlying_rows():
  """Rows shifted a little in every entry (6 % of a column's SD, about 2 inlier noise SDs: few
  entries pass the mask test) rank above clean rows by decision_function far better than by the
  fraction of flagged entries. RPCA on a smooth 2-D manifold in R²⁰ (the VAE and RDA on the
  same and three other cases: docs/decompose.md)."""
  rng = np.random.default_rng(3)
  t = rng.uniform(0, 2 * np.pi, (600, 2))
  L = np.cos(t @ rng.integers(1, 3, size=(2, 20)) + rng.uniform(0, 2 * np.pi, 20))
  X = L + 0.02 * rng.normal(size=L.shape)
  rows = rng.random(600) < 0.1
  X[rows] += 0.06 * X.std(0) * rng.normal(size=(rows.sum(), 20))
  model = hidden_talents.RobustRPCA()
  res = model.fit_transform(X)
  by_energy, by_count = _auc(model.decision_function(X), rows), _auc(res.sample_scores, rows)
  print(f"ROC AUC: decision_function {by_energy:.3f}, sample_scores {by_count:.3f}")
  assert by_energy > 0.9 and by_energy > by_count + 0.05  # measured 0.936 vs 0.841


def _manifold(seed, n=600, d=12):
  """(X, rng): a smooth 2-D manifold in R^d (cosines of two angles) with N(0, 0.02²) noise."""
  rng = np.random.default_rng(seed)
  t = rng.uniform(0, 2 * np.pi, (n, 2))
  L = np.cos(t @ rng.integers(1, 3, size=(2, d)) + rng.uniform(0, 2 * np.pi, d))
  return L + 0.02 * rng.normal(size=L.shape), rng


def _whole_rows(seed=0):
  """10 % of the rows replaced entry by entry with draws from their columns (inlier-looking
  marginals, off the manifold)."""
  X, rng = _manifold(seed)
  rows = rng.random(len(X)) < 0.1
  for j in range(X.shape[1]):
    X[rows, j] = rng.choice(X[~rows, j], rows.sum())
  return X, rows


def _subtle_rows(seed=3):
  """10 % of the rows shifted by 6 % of each column's SD in every entry (d = 20)."""
  X, rng = _manifold(seed, d=20)
  rows = rng.random(len(X)) < 0.1
  X[rows] += 0.06 * X.std(0) * rng.normal(size=(rows.sum(), X.shape[1]))
  return X, rows


def _scattered(seed=1):
  """3 % of the entries ±3: rows with at least one outlying entry against the others."""
  X, rng = _manifold(seed)
  m = rng.random(X.shape) < 0.03
  return X + np.where(m, 3 * rng.choice([-1.0, 1.0], X.shape), 0.0), m.any(axis=1)


def _rows_beside_gross_entries(seed=2):
  """The whole outlying rows, with ±20 on 2 % of the entries of the other rows: those rows are
  not outlying as a whole, and one gross entry must not outrank a row off everywhere."""
  X, rows = _whole_rows(seed)
  rng = np.random.default_rng(seed + 10)
  m = (rng.random(X.shape) < 0.02) & ~rows[:, None]
  return X + np.where(m, 20 * rng.choice([-1.0, 1.0], X.shape), 0.0), rows


@pytest.mark.slow  # ~1–3 min: a VAE and an RDA fit on each of four cases
def test_row_scores_rank_outlying_rows_for_every_method():
  """ROC AUC of rows with outliers against rows without, by decision_function (the robust
  residual energy) and by sample_scores (the fraction of flagged entries), for RPCA, the VAE and
  RDA on four synthetic cases. Measured (CPU, jax 0.10.2; decision_function / sample_scores):

    case                            RPCA           VAE            RDA
    whole outlying rows             1.000 / 1.000  0.995 / 0.996  0.994 / 0.993
    subtly shifted rows             0.936 / 0.841  0.535 / 0.552  0.599 / 0.559
    scattered outlying entries      0.989 / 0.880  0.985 / 0.788  0.986 / 0.936
    rows beside gross entries       0.987 / 0.994  0.992 / 0.998  0.807 / 0.907

  The energy gains up to 0.2 where the outliers are many small deviations or one entry per row
  and loses 0.10 in one cell: RDA beside gross entries (RDA's L is its outer loop's own last L;
  that cell is held to its own, measured bound). (The VAE fits the subtly shifted rows
  too: neither score finds them.) The cap of an entry's contribution, 5k, was chosen on these
  cases among 2k, 3k, 3.3k, 5k, 6.7k, 10k and none (no cap: 0.79–0.81 on the last case)."""
  methods = {"rpca": lambda: hidden_talents.RobustRPCA(),
             "vae": lambda: hidden_talents.RobustVAE(steps=3000, hidden_widths=(32, 32),
                                                     latent_dim=4),
             "rda": lambda: hidden_talents.RobustRDA(steps=3000, hidden_widths=(32, 32),
                                                     latent_dim=4)}
  gains = []
  for case in (_whole_rows, _subtle_rows, _scattered, _rows_beside_gross_entries):
    X, rows = case()
    for name, make in methods.items():
      model = make()
      res = model.fit_transform(X)
      energy, count = _auc(res.row_scores, rows), _auc(res.sample_scores, rows)
      print(f"{case.__name__:28s} {name:5s} decision_function {energy:.3f}  sample_scores "
            f"{count:.3f}")
      if case is _rows_beside_gross_entries and name == "rda":  # the known weak cell
        assert energy > 0.75 and count > 0.8, (energy, count)
      else:
        assert energy >= count - 0.05, (case.__name__, name)
      if case is _whole_rows:
        assert energy > 0.98, name
      if case is _scattered:  # one outlying entry in a row: the count is coarse there
        assert energy > count + 0.03, name
      gains.append(energy - count)
  assert np.mean(gains) > 0.02  # measured 0.030
