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


@pytest.mark.parametrize("X, kwargs, match", [
    ([[1.0, 2.0], [3.0]] * 10, {}, "rectangular matrix: its rows have different lengths"),
    ("data/my_matrix.csv", {}, r"got text .*load_matrix\(path\)"),
    (np.ones((20, 2)), {"hidden_widths": 32}, r"hidden_widths must be a sequence .* got 32"),
    (np.ones((20, 2)), {"hidden_widths": "64"}, "hidden_widths must be a sequence"),
    (np.ones((20, 2)), {"hidden_widths": 32, "method": "rda"}, "hidden_widths must be a sequence"),
])
def test_api_messages_name_the_problem(X, kwargs, match):
  """No raw Python or numpy message ('int' object is not iterable, inhomogeneous shape, dtype
  <U22) reaches the user: each names the problem and the way out."""
  with pytest.raises(ValueError, match=match):
    hidden_talents.decompose(X, **{"steps": 1, **kwargs})


def test_masked_array_entries_are_missing(monkeypatch):
  """The mask of a numpy.ma array means missing (as missing= does), for every method; a
  missing= given beside it adds to it."""
  fake_train(monkeypatch)
  rng = np.random.default_rng(0)
  X = rng.normal(size=(60, 4))
  hidden = rng.random(X.shape) < 0.1
  masked = np.ma.masked_array(np.where(hidden, 1e6, X), mask=hidden)
  for method in ("rpca", "vae"):
    got = hidden_talents.decompose(masked, method=method, steps=3)
    want = hidden_talents.decompose(X, method=method, steps=3, missing=hidden)
    np.testing.assert_array_equal(got.L, want.L)
    assert np.all(got.S[hidden] == 0) and not got.mask[hidden].any()
  extra = np.zeros(X.shape, bool)
  extra[0, 0] = True
  both = hidden_talents.RobustRPCA().fit_transform(masked, missing=extra)
  assert both.S[0, 0] == 0 and both.info["missing_entries_transformed"] == (hidden | extra).sum()


def test_all_constant_matrix_warns_before_training(monkeypatch):
  calls = []
  fake_train(monkeypatch, calls=calls)
  X = np.tile([1.0, 2.0, 3.0], (30, 1))
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    with pytest.raises(UserWarning, match="every column of X is constant.*learns nothing"):
      hidden_talents.decompose(X, steps=3)
  assert calls == []  # the warning comes before the fit
  with pytest.warns(UserWarning, match="every column of X is constant"):
    res = hidden_talents.decompose(X, method="rpca")
  np.testing.assert_array_equal(res.L, X)
  assert not res.mask.any()


def test_kl_warmup_longer_than_training_is_refused(monkeypatch):
  """A warm-up longer than the steps would leave β at (steps − 1)/kl_warmup: an autoencoder."""
  calls = []
  fake_train(monkeypatch, calls=calls)
  X = np.random.default_rng(0).normal(size=(50, 3))
  with pytest.raises(ValueError, match=r"kl_warmup \(5000 steps\) is longer than the training "
                                       r"\(300 steps\): the KL weight would end at 0\.06"):
    hidden_talents.decompose(X, steps=300, kl_warmup=5000)
  with pytest.raises(ValueError, match="kl_warmup"):  # the default steps too
    hidden_talents.RobustVAE(kl_warmup=10**7).fit(X)
  assert calls == []
  hidden_talents.decompose(X, steps=300, kl_warmup=300)  # the whole training is fine
  assert calls == [300]
