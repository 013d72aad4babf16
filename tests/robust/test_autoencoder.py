"""``robust.autoencoder``: the robust deep autoencoder (RDA) as an estimator on the VAE's engine —
its outer loop really feeds S back, missing entries stay out of the loss and the threshold, one
compile serves a second fit, save/load and pickle round trips, bad arguments refused. Tiny
networks and few steps (the proximal steps and the loop against independent references:
tests/test_rda.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import hidden_talents as ht
from hidden_talents import metrics
from hidden_talents.robust import engine, model_file
from hidden_talents.robust.autoencoder import RobustRDA
from tests.helpers import circle
from tests.robust.support import same_result

KW = dict(steps=1000, outer_iterations=4, hidden_widths=(16, 16), batch_size=32, latent_dim=2,
          seed=1)


@pytest.fixture(scope="module")
def fitted():
  X, L = circle(200, seed=0, nu=0.1)
  return X, L, RobustRDA(**KW).fit(X)


def test_fit_runs_the_outer_loop_and_fit_transform_returns_its_output(fitted):
  X, _, model = fitted
  info = model.fit_info_
  assert info["steps_per_outer"] == 250 and 2 <= info["outer_iterations"] <= 4
  assert info["steps_run"] == 250 * info["outer_iterations"] == len(info["loss_history"]) * 250
  assert len(info["criterion_history"]) == info["outer_iterations"]
  again = RobustRDA(**KW)
  own = again.fit_transform(X)  # the loop's last L: deterministic, and not a second pass
  same_result(own, RobustRDA(**KW).fit_transform(X))
  assert own.info["method"] == "rda" and own.info["settings"]["lam"] == again.lam_
  np.testing.assert_allclose(own.L + own.S, X, atol=1e-12)
  # The fit's own rows end where the loop fed S back; the plain reconstruction of the same rows
  # by the fixed autoencoder (transform's default) is another L.
  assert not np.allclose(own.L, model.transform(X).L)


def test_one_outer_iteration_is_the_plain_autoencoder_both_ways():
  """With one outer iteration the loop's L is D(E(X)): fit_transform = fit, then transform."""
  X, _ = circle(200, seed=0, nu=0.1)
  kw = {**KW, "outer_iterations": 1, "steps": 250}
  same_result(RobustRDA(**kw).fit_transform(X), RobustRDA(**kw).fit(X).transform(X))


def test_transform_iterations(fitted):
  """By default new rows get the plain reconstruction D(E(X)); more iterations change L by
  feeding the thresholded residual back."""
  X, _, model = fitted
  Z = (X - model.center_) / model.scale_
  plain = engine.apply_vae(model.engine_settings_, model.params_, Z) * model.scale_ + model.center_
  default = model.transform(X)
  np.testing.assert_allclose(default.L, plain, rtol=1e-12, atol=1e-12)
  assert default.info["settings"]["transform_iterations"] == 1
  assert not np.allclose(model.transform(X, iterations=3).L, plain)
  with pytest.raises(ValueError, match="iterations"):
    model.transform(X, iterations=0)


def test_outer_iterations_feed_s_back():
  """With 1 outer iteration the autoencoder trains on X itself (the plain MSE autoencoder): the
  same first 250 steps as RDA, then RDA trains on X − S and ends elsewhere."""
  X, _ = circle(200, seed=0, nu=0.1)
  plain = RobustRDA(**{**KW, "outer_iterations": 1, "steps": 250}).fit(X)
  rda = RobustRDA(**KW).fit(X)
  assert plain.fit_info_["loss_history"] == rda.fit_info_["loss_history"][:1]
  assert rda.fit_info_["loss_history"][1:] != []


def test_missing_entries_are_left_out_of_the_loss_and_the_threshold():
  X, _ = circle(200, seed=3, nu=0.1)
  missing = np.zeros(X.shape, bool)
  missing[::7, 1] = True
  a, b = X.copy(), X.copy()
  a[missing], b[missing] = 0.0, 1e6  # the values under the missing entries never matter
  ra = RobustRDA(**KW).fit_transform(a, missing=missing)
  rb = RobustRDA(**KW).fit_transform(b, missing=missing)
  np.testing.assert_array_equal(ra.L, rb.L)
  assert not ra.mask[missing].any() and np.all(ra.S[missing] == 0)
  assert np.all(np.isfinite(ra.L[missing]))  # filled in
  assert ra.info["missing_entries"] == int(missing.sum())


def test_a_second_fit_of_the_same_shape_does_not_retrace(fitted):
  X, _, _ = fitted
  before = dict(engine.TRACES)
  RobustRDA(**KW).fit(X)
  assert dict(engine.TRACES) == before


def test_save_load_and_pickle_round_trips(fitted, tmp_path):
  X, _, model = fitted
  X_new, _ = circle(50, seed=9, nu=0.2)
  want = model.transform(X_new)
  path = model.save(str(tmp_path / "rda.npz"))
  same_result(RobustRDA.load(path).transform(X_new), want)
  same_result(pickle.loads(pickle.dumps(model)).transform(X_new), want)
  with pytest.raises(ValueError, match="RobustRDA model"):
    ht.RobustVAE.load(path)  # the file says which class it holds
  loaded = model_file.load_any(path)  # ... and load_any reads it as that class (CLI: --model)
  assert type(loaded) is RobustRDA
  same_result(loaded.transform(X_new), want)
  with pytest.raises(ValueError, match="already exists"):
    model.save(path)
  model.save(path, overwrite=True)


@pytest.mark.parametrize("kw,match", [({"lam": 0.0}, "lam"), ({"lam": -1.0}, "lam"),
                                      ({"lam": float("nan")}, "lam"),
                                      ({"penalty": "l2"}, "penalty"),
                                      ({"outer_iterations": 0}, "outer_iterations"),
                                      ({"tol": 0.0}, "tol")])
def test_bad_arguments_are_refused_before_training(kw, match):
  X, _ = circle(50, seed=0, nu=0.1)
  with pytest.raises(ValueError, match=match):
    RobustRDA(**{**KW, **kw}).fit(X)


def test_row_penalty_and_the_shortcut():
  X, L = circle(200, seed=4, nu=0.0)
  X[::10] += 4.0  # every 10th row is an outlying row
  res = ht.decompose(X, method="rda", penalty="l21", **{k: v for k, v in KW.items()
                                                          if k != "outer_iterations"})
  assert res.info["method"] == "rda" and res.info["settings"]["penalty"] == "l21"
  assert np.isfinite(float(metrics.nmse(L, res.L)))
  params = RobustRDA(**KW).get_params()
  assert params["penalty"] == "l1" and RobustRDA(**params).get_params() == params


def test_squared_loss_targets_are_winsorised_at_the_encoder_clip(monkeypatch):
  """A column with an atom at its median (half its entries 0) has a tiny robust scale, so its
  other entries sit 10³–10⁴ robust SDs out; the autoencoder's squared loss sees them clipped at
  ±encoder_clip (missing entries stay missing), the proximal step the raw residual."""
  X, _ = circle(200, seed=0, nu=0.0)
  X[:100, 0] = 0.0
  X[100:, 0] = np.linspace(1e-6, 1.0, 100) + 1e-4  # its MAD ~1e-6: entries up to ~10⁵ SDs out
  missing = np.zeros(X.shape, bool)
  missing[5, 2] = True
  seen = []
  run_steps = engine.run_steps

  def spy(settings, state, cell, Z, steps, bar=None):
    seen.append(np.array(Z))
    return run_steps(settings, state, cell, Z, steps, bar)

  monkeypatch.setattr(engine, "run_steps", spy)
  model = RobustRDA(**{**KW, "encoder_clip": 5.0}).fit(X, missing=missing)
  assert model.n_samples_fit_ == 200 and len(seen) == model.fit_info_["outer_iterations"]
  assert all(np.nanmax(np.abs(z)) <= 5.0 for z in seen)
  assert all(np.isnan(z[5, 2]) and np.isnan(z).sum() == 1 for z in seen)
  Z = (np.where(missing, 0.0, X) - model.center_) / model.scale_
  assert np.abs(Z[:, 0]).max() > 1e3  # the column really is that far out
