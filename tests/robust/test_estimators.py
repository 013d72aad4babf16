"""``robust.estimators``: RobustVAE fits once and applies to new rows; RobustRPCA on the same
pipeline; both follow scikit-learn's estimator conventions (parameters, clone, pickle). Tiny
networks and few steps: one compile of the shared settings serves the file."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import hidden_talents
import hidden_talents as ht
from hidden_talents import metrics
from hidden_talents.robust import engine
from hidden_talents.robust.model_file import flat_params
from hidden_talents.robust.settings import DEFAULTS
from tests.helpers import ROBUST_KW as KW
from tests.helpers import circle
from tests.robust.support import fake_train, same_result


@pytest.fixture(scope="module")
def fitted():
  X, L = circle(200, seed=0, nu=0.1)
  return X, L, ht.RobustVAE(**KW).fit(X)


def test_decompose_is_fit_then_transform(fitted):
  X, _, model = fitted
  res = ht.decompose(X, **KW)
  same_result(res, model.transform(X))
  assert res.info["settings"] == model.used_settings()
  assert res.info["loss_history"] == model.fit_info_["loss_history"]
  np.testing.assert_allclose(res.L + res.S, X, atol=1e-12)


def test_transform_new_rows_of_the_same_manifold(fitted):
  X, L, model = fitted
  X_new, L_new = circle(60, seed=5, nu=0.1)
  res = model.transform(X_new)
  assert res.L.shape == res.S.shape == res.mask.shape == (60, 4)
  assert res.sample_scores.shape == (60,) and res.info["n"] == 60
  assert res.info["fitted_rows"] == 200
  np.testing.assert_array_equal(res.noise_scale, model.transform(X).noise_scale)  # fitted σⱼ
  nmse_new, nmse_input = float(metrics.nmse(L_new, res.L)), float(metrics.nmse(L_new, X_new))
  print(f"new rows: NMSE {nmse_new:.4f} vs input {nmse_input:.4f}")
  assert np.isfinite(nmse_new) and nmse_new < nmse_input  # 400 steps: better than doing nothing
  one = model.transform(X_new[:1])  # a single row is fine
  assert one.L.shape == (1, 4) and np.all(np.isfinite(one.L))
  # The encoder's reconstruction of a row does not depend on the rows beside it (the refined one:
  # tests/robust/test_refine.py).
  np.testing.assert_allclose(model.transform(X_new[:1], refine_steps=0).L,
                             model.transform(X_new, refine_steps=0).L[:1], rtol=1e-6, atol=1e-6)
  stricter = model.transform(X_new, threshold=30.0)
  assert stricter.mask.sum() <= res.mask.sum() and stricter.info["threshold"] == 30.0


def test_transform_refuses_bad_rows(fitted):
  X, _, model = fitted
  with pytest.raises(ValueError, match="3 columns, but the model was fitted on rows of d = 4"):
    model.transform(X[:, :3])
  with pytest.raises(ValueError, match="NaN or Inf"):
    model.transform(np.full((2, 4), np.nan))
  Y = X[:5].copy()
  Y[2, 1] = 1e200
  with pytest.raises(ValueError, match="too large for training: row 3, column 2"):
    model.transform(Y)
  with pytest.raises(ValueError, match="not fitted"):
    ht.RobustVAE().transform(X)
  with pytest.raises(ValueError, match="not fitted"):
    ht.RobustVAE().save("never.npz")
  with pytest.raises(ValueError, match="steps"):
    ht.RobustVAE(steps=0).fit(X)  # arguments are checked in fit, before any work


def test_warmup_and_decoder_variance_settings(fitted, tmp_path):
  """kl_warmup and decoder_variance reach the engine: a warm-up changes the fit, a learned
  decoder variance has its own parameters and survives save/load; bad values are refused."""
  X, _, model = fitted
  assert model.used_settings()["kl_warmup"] == engine.resolve_kl_warmup(None, KW["steps"])
  off = ht.RobustVAE(**{**KW, "kl_warmup": 0}).fit(X)
  warm = ht.RobustVAE(**{**KW, "kl_warmup": 200}).fit(X)
  assert warm.used_settings()["kl_warmup"] == 200 and warm.fit_info_["kl_warmup"] == 200
  assert not np.array_equal(warm.transform(X).L, off.transform(X).L)
  learned = ht.RobustVAE(**{**KW, "decoder_variance": "learned"}).fit(X)
  assert learned.engine_settings_.decoder_variance == "learned"
  assert set(flat_params(learned.params_)) > set(flat_params(off.params_))
  path = str(tmp_path / "learned.npz")
  learned.save(path)
  loaded = ht.RobustVAE.load(path)
  assert loaded.used_settings()["decoder_variance"] == "learned"
  same_result(loaded.transform(X), learned.transform(X))
  for kw, match in (({"kl_warmup": -1}, "kl_warmup"), ({"kl_warmup": 1.5}, "kl_warmup"),
                    ({"decoder_variance": "diagonal"}, "decoder_variance")):
    with pytest.raises(ValueError, match=match):
      ht.RobustVAE(**{**KW, **kw}).fit(X)


def test_missing_entries_are_left_out_and_filled_in():
  """Entries marked missing never enter the fit (any values there give bit-identical results),
  are filled in L from the other entries of their row (better than the column median), and are
  0 in S and never flagged; an all-False mask is the same as no mask."""
  rng = np.random.default_rng(3)
  L = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 4))  # rank 2 in R⁴: learnt in 1000 steps
  X = L + 0.01 * rng.normal(size=L.shape)
  missing = rng.random(X.shape) < 0.1
  kw = {**KW, "steps": 1000}
  a = ht.RobustVAE(**kw).fit(np.where(missing, 1e3, X), missing=missing)
  b = ht.RobustVAE(**kw).fit(np.where(missing, np.nan, X), missing=missing)
  ra = a.transform(np.where(missing, -7.0, X), missing=missing)
  rb = b.transform(np.where(missing, np.nan, X), missing=missing)
  same_result(ra, rb)
  assert a.fit_info_["missing_entries"] == int(missing.sum())
  assert np.all(np.isfinite(ra.L)) and not ra.mask[missing].any()
  assert np.all(ra.S[missing] == 0.0) and np.all(ra.S_sparse[missing] == 0.0)
  fill_err = np.mean((ra.L[missing] - L[missing]) ** 2)
  median_err = np.mean((np.median(X, axis=0)[np.nonzero(missing)[1]] - L[missing]) ** 2)
  print(f"fill-in MSE {fill_err:.4f} vs column median {median_err:.4f}")
  assert fill_err < 0.5 * median_err  # measured 0.93 vs 2.06
  plain = ht.RobustVAE(**kw).fit(X)
  same_result(ht.RobustVAE(**kw).fit(X, missing=np.zeros(X.shape, bool)).transform(X),
        plain.transform(X))
  np.testing.assert_array_equal(ht.decompose(X, missing=missing, **kw).L, rb.L)


def test_bad_missing_masks_are_refused():
  X, _ = circle(50, seed=1, nu=0.1)
  for missing, match in ((np.zeros((50, 3), bool), "shape"), (np.zeros(X.shape), "boolean"),
                         (np.eye(50, 4, dtype=bool) | (np.arange(4)[None] == 2), "column 3")):
    with pytest.raises(ValueError, match=match):
      ht.RobustVAE(**KW).fit(X, missing=missing)
    with pytest.raises(ValueError, match=match):  # RPCA takes missing= too, checked the same way
      ht.decompose(X, method="rpca", missing=missing)


def test_settings_recorded(monkeypatch):
  fake_train(monkeypatch)
  X = np.random.default_rng(0).normal(size=(50, 6))
  s = hidden_talents.decompose(X, steps=7, seed=3, threshold=2.5).info["settings"]
  assert s == {"method": "vae", "seed": 3, "alpha": 1e-2, "threshold": 2.5, "latent_dim": 3,
               "steps": 7, "hidden_widths": [32, 64], "batch_size": 50, "learning_rate": 1e-3,
               "num_latent_samples": 1, "kl_warmup": 2, "decoder_variance": "optimal",
               "encoder_clip": DEFAULTS.encoder_clip, "refine_steps": DEFAULTS.refine_steps}



def test_the_fitted_alpha_follows_ties_in_the_data():
  """(The rule itself: tests/robust/test_standardize.py.)"""
  rng = np.random.default_rng(0)
  rng.normal(size=(300, 8))  # the same draws as the rule's test
  Xt = np.where(rng.random((300, 8)) < 0.7, 0.0, rng.random((300, 8)))  # 70 % exact zeros
  model = ht.RobustVAE(**KW).fit(Xt)
  assert model.engine_settings_.alpha == 1.0 == model.used_settings()["alpha"]
  assert model.transform(Xt).info["alpha"] == 1.0 and model.fit_info_["tied_fraction"] > 0.6


# --- scikit-learn's conventions ---------------------------------------------------------------


def test_init_only_stores_its_arguments_and_params_round_trip():
  bad = ht.RobustVAE(steps=0, hidden_widths=[8, "x"], decoder_variance="nope")  # no check yet
  assert bad.steps == 0 and bad.hidden_widths == [8, "x"]
  model = ht.RobustVAE(**KW)
  params = model.get_params()
  assert params == {**ht.RobustVAE().get_params(), **KW}
  assert list(params) == ht.RobustVAE._param_names()
  assert not [k for k in vars(model) if k.endswith("_")]  # nothing fitted
  other = ht.RobustVAE().set_params(**params)
  assert other.get_params() == params
  assert model.set_params(seed=9) is model and model.seed == 9
  with pytest.raises(ValueError, match="no parameter 'sed'.*seed"):
    model.set_params(sed=1)
  rp = ht.RobustRPCA(lam=0.3)
  assert rp.get_params() == {"lam": 0.3, "alpha": None, "threshold": DEFAULTS.threshold,
                             "seed": 0}
  assert ht.RobustRPCA().set_params(**rp.get_params()).get_params() == rp.get_params()


def test_sklearn_clone():
  base = pytest.importorskip("sklearn.base")
  model = ht.RobustVAE(**KW)
  copy = base.clone(model)
  assert type(copy) is ht.RobustVAE and copy is not model
  assert copy.get_params() == model.get_params()
  assert base.clone(ht.RobustVAE()).get_params() == ht.RobustVAE().get_params()
  assert base.clone(ht.RobustRPCA(lam=0.2)).lam == 0.2


def test_fitted_attributes_end_in_an_underscore(fitted):
  X, _, model = fitted
  assert model.n_features_in_ == 4 and model.n_samples_fit_ == 200
  for name in ("center_", "scale_", "residual_scale_", "constant_", "alpha_", "params_",
               "engine_settings_", "fit_info_", "config_"):
    assert name in vars(model), name
  plain = {k for k in vars(model) if not k.endswith("_")}
  assert plain == set(ht.RobustVAE._param_names())  # the arguments, as given


def test_a_fitted_model_pickles(fitted):
  X, _, model = fitted
  copy = pickle.loads(pickle.dumps(model))
  X_new, _ = circle(30, seed=9, nu=0.1)
  for rows in (X[:50], X_new):
    same_result(copy.transform(rows), model.transform(rows))
  assert copy.get_params() == model.get_params()


def test_fit_transform_keeps_no_copy_of_the_rows(fitted):
  """fit_transform refines the fitted rows once and keeps nothing of size n × d on the model;
  the result equals fit followed by transform, bit for bit."""
  X, _, _ = fitted
  model = ht.RobustVAE(**KW)
  res = model.fit_transform(X)
  big = [k for k, v in vars(model).items() if isinstance(v, np.ndarray) and v.size >= X.size]
  assert big == []
  same_result(res, model.transform(X))
  same_result(res, ht.RobustVAE(**KW).fit(X).transform(X))
  other = model.fit(X + 0.0).transform(X[::-1].copy())  # other rows: recomputed the same way
  np.testing.assert_array_equal(other.L, model.transform(X[::-1].copy()).L)


def test_fit_transform_reconstructs_the_rows_once(monkeypatch):
  calls = []
  fake_train(monkeypatch)
  real = engine.apply_vae
  monkeypatch.setattr(engine, "apply_vae", lambda *a, **k: calls.append(1) or real(*a, **k))
  X = np.random.default_rng(0).normal(size=(50, 3))
  ht.RobustVAE(steps=5).fit_transform(X)
  assert calls == [1]


def test_robust_rpca_is_decompose_with_method_rpca():
  X, _ = circle(120, seed=2, nu=0.1)
  want = hidden_talents.decompose(X, method="rpca", threshold=2.5, seed=4)
  model = ht.RobustRPCA(threshold=2.5, seed=4)
  got = model.fit_transform(X)
  same_result(got, want)
  assert got.info == want.info
  assert model.lam_ == want.info["lam"] == want.info["settings"]["lam"]
  assert model.n_iter_ == want.info["iterations"] and model.converged_ is True
  same_result(model.transform(X), want)  # PCP is deterministic: fit + transform = fit_transform
  rows = model.transform(X[:40])  # other rows: solved with the fitted scales
  assert rows.L.shape == (40, 4) and rows.info["n"] == 40
  np.testing.assert_array_equal(rows.noise_scale, want.noise_scale)
  wide = np.random.default_rng(0).normal(size=(20, 30))
  assert ht.RobustRPCA().fit_transform(wide).L.shape == (20, 30)  # no rows-vs-columns rule
  # An all-False missing mask is no mask (RPCA takes missing=: test_rpca_with_missing_entries).
  same_result(ht.RobustRPCA(threshold=2.5, seed=4).fit_transform(
      X, missing=np.zeros(X.shape, bool)), want)
  with pytest.raises(ValueError, match="lam"):
    ht.RobustRPCA(lam=-1.0).fit(X)
  with pytest.raises(ValueError, match="not fitted"):
    ht.RobustRPCA().transform(X)


def test_rpca_with_missing_entries():
  """RobustRPCA(missing=): PCP on the observed entries (hidden_talents.rpca.robust_pca with
  observed=): the values under missing entries never matter, L fills them in from the low-rank
  structure (far better than the column median), S and the mask are 0 / False there, and λ is
  1/√(ρ·max(n, d)) with ρ the observed fraction."""
  rng = np.random.default_rng(0)
  L = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 100))
  X = L.copy()
  gross = rng.random(X.shape) < 0.05
  X[gross] += rng.choice([-10.0, 10.0], gross.sum())
  missing = (rng.random(X.shape) < 0.2) & ~gross
  a = ht.RobustRPCA().fit_transform(np.where(missing, np.nan, X), missing=missing)
  b = ht.decompose(np.where(missing, 1e6, X), method="rpca", missing=missing)
  same_result(a, b)
  assert a.info["converged"] and a.info["missing_entries_transformed"] == missing.sum()
  np.testing.assert_allclose(a.info["lam"], 1 / np.sqrt(0.8 * 200), rtol=0.02)
  assert np.all(a.S[missing] == 0) and not a.mask[missing].any()
  fill_err = np.sqrt(np.mean((a.L[missing] - L[missing]) ** 2))
  median_err = np.sqrt(np.mean((np.median(X, axis=0)[np.nonzero(missing)[1]]
                                - L[missing]) ** 2))
  print(f"fill-in RMSE {fill_err:.2e} vs column median {median_err:.2f}")
  assert fill_err < 1e-4 * median_err  # exact recovery up to float32 (measured 6e-6 vs 1.6)
  assert a.mask[gross].all() and not a.mask[~gross].any()
  model = ht.RobustRPCA().fit(X, missing=missing)
  rows = model.transform(X[:50], missing=missing[:50])  # new rows with holes: solved alike
  assert np.all(rows.S[missing[:50]] == 0) and np.all(np.isfinite(rows.L))


# The checks of scikit-learn's estimator suite that apply to an unsupervised estimator whose
# transform returns a Decomposition (not an array): the others call predict, pass sample weights,
# compare transform's output as an array, or pin scikit-learn's own error wording.
SKLEARN_CHECKS = ("check_estimator_cloneable", "check_estimator_repr",
                  "check_estimator_tags_renamed", "check_valid_tag_types",
                  "check_no_attributes_set_in_init", "check_parameters_default_constructible",
                  "check_get_params_invariance", "check_set_params", "check_mixin_order",
                  "check_estimators_overwrite_params", "check_estimators_unfitted",
                  "check_n_features_in", "check_requires_y_none", "check_fit1d",
                  "check_f_contiguous_array_estimator", "check_readonly_memmap_input")
# ... and those that fit (each shape compiles the VAE anew: slow for it).
SKLEARN_FIT_CHECKS = ("check_estimators_fit_returns_self", "check_dont_overwrite_parameters",
                      "check_fit_check_is_fitted", "check_fit_score_takes_y",
                      "check_estimators_dtypes", "check_estimators_nan_inf",
                      "check_fit2d_1feature", "check_inplace_ensure_writeable")


def _run_checks(estimator, names):
  estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks")
  for name in names:
    getattr(estimator_checks, name)(type(estimator).__name__, estimator)


def test_sklearn_estimator_checks_that_apply():
  for est in (ht.RobustVAE(**KW), ht.RobustRPCA()):
    _run_checks(est, SKLEARN_CHECKS)
  # RPCA solves the rows it is given: a subset's L is not the full matrix's (no such check).
  _run_checks(ht.RobustRPCA(), SKLEARN_FIT_CHECKS)


@pytest.mark.slow  # ~2 min on 2 cores: every data shape of the checks compiles the VAE
def test_sklearn_estimator_checks_that_fit_the_vae():
  _run_checks(ht.RobustVAE(steps=5, hidden_widths=(4, 4), refine_steps=2),
              (*SKLEARN_FIT_CHECKS, "check_methods_subset_invariance"))
