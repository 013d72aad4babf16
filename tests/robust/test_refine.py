"""``robust.refine``: each row's q(z|x) optimised on that row's own VAE cost with the decoder
fixed, before L is decoded. Tiny networks and few steps, as in ``test_estimators.py``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hidden_talents as ht
from hidden_talents import metrics
from hidden_talents.objectives.unified import (
  LossCoefficients,
  model_coefficients,
  reparameterize,
  unified_cost,
)
from hidden_talents.robust import engine, refine
from hidden_talents.robust.settings import DEFAULTS
from tests.helpers import ROBUST_KW as KW
from tests.helpers import circle


@pytest.fixture(scope="module")
def fitted():
  X, L = circle(300, seed=0, nu=0.2)
  model = ht.RobustVAE(**KW).fit(X)
  Z = jnp.asarray((X - model.center_) / model.scale_, jnp.float32)
  return X, L, model, engine.compiled(model.engine_settings_).fns, Z


def row_costs(fns, params, Z, mu, lv, samples: int = 256) -> np.ndarray:
  """Each row's VAE cost (β = 1, Σx optimised out) at (μz, log σz²), averaged over ``samples``
  reparameterisation draws — written out here from the objective, not taken from the code under
  test."""
  coeffs = LossCoefficients(*[jnp.float32(v) for v in model_coefficients("vae")])
  eps = jax.random.normal(jax.random.PRNGKey(123), (samples, *mu.shape))
  z = reparameterize(mu[None], lv[None], eps, coeffs.noise)
  mu_x = fns.model.apply(params, z, method=ht.models.AutoEncoder.decode)
  alpha = fns.settings.alpha
  cost = jax.vmap(lambda x, mx, m, v: unified_cost(x, mx, m, v, coeffs, alpha=alpha)[0],
                  in_axes=(0, 1, 0, 0))(Z, mu_x, mu, lv)
  return np.asarray(cost)


def test_refinement_lowers_each_rows_cost(fitted):
  _, _, model, fns, Z = fitted
  _, mu0, lv0 = fns.reconstruct(model.params_, Z)
  mu1, lv1 = refine.refine_latents(fns, model.params_, Z, jnp.ones_like(Z),
                                   jax.random.PRNGKey(0), steps=300)
  before = row_costs(fns, model.params_, Z, mu0, lv0)
  after = row_costs(fns, model.params_, Z, mu1, lv1)
  assert after.sum() < before.sum()
  # Nearly every row improves (a few may stay within the Monte-Carlo noise of 256 draws).
  assert np.mean(after <= before + 0.05) >= 0.95, np.sort(after - before)[-5:]


def test_rows_are_refined_independently(fitted):
  """Adam works per coordinate and the costs are summed: changing some rows leaves the others'
  refined codes where they were (same shapes, same noise)."""
  _, _, model, fns, Z = fitted
  w = jnp.ones_like(Z[:40])
  key = jax.random.PRNGKey(5)
  a = refine.refined_reconstruction(fns, model.params_, Z[:40], w, key, 100)
  b = refine.refined_reconstruction(fns, model.params_, Z[:40].at[30:].add(4.0), w, key, 100)
  np.testing.assert_allclose(np.asarray(a[:30]), np.asarray(b[:30]), atol=1e-5)
  assert not np.allclose(np.asarray(a[30:]), np.asarray(b[30:]), atol=1e-3)


def test_a_rows_result_does_not_depend_on_the_rows_beside_it(fitted):
  """Each row's refinement noise comes from its own key (``row_keys``) and small batches are
  padded: a row transformed alone, in another order or in another batch gets the same L, bit for
  bit (noise drawn by position in the chunk moved rows by ~40 % of their error)."""
  X, _, model, _, _ = fitted
  full = model.transform(X[:120]).L
  perm = np.random.default_rng(0).permutation(120)
  np.testing.assert_array_equal(model.transform(X[:120][perm]).L[np.argsort(perm)], full)
  for i in (0, 7, 100):
    np.testing.assert_array_equal(model.transform(X[i:i + 1]).L[0], full[i])
  np.testing.assert_array_equal(model.transform(X[60:120]).L, full[60:])


def test_row_keys_follow_the_rows_values():
  base = jax.random.PRNGKey(3)
  Z = np.random.default_rng(0).normal(size=(5, 4))
  k = np.asarray(refine.row_keys(base, Z))
  assert k.shape == (5, 2) and len({tuple(r) for r in k}) == 5
  np.testing.assert_array_equal(np.asarray(refine.row_keys(base, Z[::-1])), k[::-1])
  Z2 = Z.copy()
  Z2[2, 3] += 1e-3
  k2 = np.asarray(refine.row_keys(base, Z2))
  assert (k2[2] != k[2]).any() and (np.delete(k2, 2, 0) == np.delete(k, 2, 0)).all()


def test_refine_steps_zero_decodes_the_encoders_mean(fitted):
  X, _, model, fns, Z = fitted
  res = model.transform(X, refine_steps=0)
  l_hat = (np.asarray(fns.reconstruct(model.params_, Z)[0], np.float64) * model.scale_
           + model.center_)
  np.testing.assert_array_equal(res.L, l_hat)
  assert res.info["settings"]["refine_steps"] == 0
  assert model.transform(X).info["settings"]["refine_steps"] == DEFAULTS.refine_steps


def test_refinement_recovers_new_rows_better(fitted):
  """Rows the model never saw: the encoder's guess is worse on them than on the fitted rows;
  refining their codes on their own cost brings L̂ closer to the clean curve."""
  _, _, model, _, _ = fitted
  X_new, L_new = circle(100, seed=3, nu=0.2)
  refined = metrics.nmse(L_new, model.transform(X_new).L)
  encoder = metrics.nmse(L_new, model.transform(X_new, refine_steps=0).L)
  assert refined < encoder, (refined, encoder)


def test_missing_entries_do_not_enter_the_refinement(fitted):
  X, _, model, _, _ = fitted
  missing = np.zeros(X.shape, bool)
  missing[::7, 1] = True
  a = model.transform(np.where(missing, 0.0, X), missing=missing)
  b = model.transform(np.where(missing, 50.0, X), missing=missing)
  np.testing.assert_array_equal(a.L, b.L)
  # ... and they do enter when they are not marked missing.
  c = model.transform(np.where(missing, 50.0, X))
  assert not np.allclose(c.L[::7], a.L[::7])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_bad_refine_steps_are_refused(fitted, bad):
  X, _, model, _, _ = fitted
  with pytest.raises(ValueError, match="refine_steps"):
    ht.RobustVAE(refine_steps=bad).fit(X)  # checked in fit, before any work
  with pytest.raises(ValueError, match="refine_steps"):
    model.transform(X, refine_steps=bad)
