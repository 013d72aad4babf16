"""Decoder-variance models (``Settings.decoder_variance``): 'learned' with a constant head equals
'shared'; 'optimal' is their minimum at equal μx (eq. 68); finite gradients at the floor; jit/vmap
= loop; 'optimal' is the old loss bit for bit with the old parameter tree; a tiny sweep of each."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hidden_talents import models, sweep, train
from hidden_talents.objectives import decoder_variance_cost, gaussian_kl
from hidden_talents.objectives.gaussian import floored_variance, gaussian_data_cost
from hidden_talents.objectives.unified import (
  clip_logvar,
  data_term,
  model_coefficients,
  reparameterize,
  unified_cost,
)
from tests.helpers import TINY

VARIANCES = ("optimal", "learned", "shared")


def _cell(model="vae", kappa=3, nu=0.2):
  cells = sweep.make_cells([sweep.CellInfo(model, 1.0, kappa, nu, 0)])
  return jax.tree.map(lambda a: jnp.asarray(a)[0], cells)


def _batch(fns, cell):
  x, _, _ = fns.sample_batch(cell, jnp.arange(TINY.batch_size))
  eps = jax.random.normal(jax.random.PRNGKey(5), (1, TINY.batch_size, TINY.latent_dim))
  return x, eps


def _random_u_s(seed=0, shape=(7, 12)):
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
  u = jnp.exp(jax.random.uniform(k1, shape, minval=-12.0, maxval=3.0))  # 6e-6 … 20
  u = u * (jax.random.uniform(k2, shape) > 0.2)  # some exact zeros (blank pixels)
  s = jax.random.uniform(k3, shape, minval=-20.0, maxval=4.0)
  return u, s


def test_floored_variance_and_gaussian_cost_by_hand():
  alpha = 0.01
  np.testing.assert_allclose(float(floored_variance(0.0, alpha)), 1.01, rtol=1e-6)
  np.testing.assert_allclose(float(floored_variance(-1e4, alpha)), alpha, rtol=1e-6)  # clipped
  np.testing.assert_allclose(float(gaussian_data_cost(0.5, 2.0)), 0.25 + np.log(2.0), rtol=1e-6)


@pytest.mark.parametrize("alpha", [1e-3, 1e-2, 1e-1])
def test_optimal_is_at_most_learned_and_shared(alpha):
  u, s = _random_u_s()
  x, mu_x = jnp.sqrt(u), jnp.zeros_like(u)  # (x − μx)² = u exactly
  opt = data_term(x, mu_x, alpha=alpha)
  learned = data_term(x, mu_x, alpha=alpha, decoder_variance="learned", logvar_x=s)
  for s0 in (-30.0, -3.0, 0.0, 2.0):
    shared = data_term(x, mu_x, alpha=alpha, decoder_variance="shared", logvar_x=s0)
    assert np.all(np.asarray(opt) <= np.asarray(shared) + 1e-5)
  assert np.all(np.asarray(opt) <= np.asarray(learned) + 1e-5)
  # Per entry too, and equality at the optimal γ = max(u, α) (s = log(ξα − α), reachable for u > α).
  per_opt = decoder_variance_cost(u, alpha)
  assert np.all(np.asarray(per_opt) <= np.asarray(gaussian_data_cost(u, floored_variance(s, alpha)))
                + 1e-5)
  big = u > 2 * alpha
  at_best = gaussian_data_cost(u, floored_variance(jnp.log(jnp.maximum(u - alpha, 1e-30)), alpha))
  np.testing.assert_allclose(np.asarray(at_best)[big], np.asarray(per_opt)[big], rtol=1e-5,
                             atol=1e-5)


def test_learned_constant_head_equals_shared_in_the_cost():
  u, _ = _random_u_s(1, (12,))
  x = jnp.sqrt(u)
  mu_z, logvar_z = jnp.ones(4), -jnp.ones(4)
  co = model_coefficients("vae")
  for s0 in (-30.0, -1.5, 0.7):
    a, pa = unified_cost(x, jnp.zeros(12), mu_z, logvar_z, co, alpha=0.01,
                         decoder_variance="learned", logvar_x=jnp.full(12, s0))
    b, pb = unified_cost(x, jnp.zeros(12), mu_z, logvar_z, co, alpha=0.01,
                         decoder_variance="shared", logvar_x=s0)
    np.testing.assert_allclose(float(a), float(b), rtol=1e-6)
    np.testing.assert_allclose(float(pa["data"]), float(pb["data"]), rtol=1e-6)


def test_learned_network_with_constant_head_equals_shared_network():
  fl = train.make_train(dataclasses.replace(TINY, decoder_variance="learned"))
  fs = train.make_train(dataclasses.replace(TINY, decoder_variance="shared"))
  cell = _cell()
  pl = fl.init(cell).params
  ps = fs.init(cell).params
  s0 = -2.3
  dec_l = dict(pl["params"]["decoder"])
  dec_l["logvar_x"] = {"kernel": jnp.zeros_like(dec_l["logvar_x"]["kernel"]),
                       "bias": jnp.full_like(dec_l["logvar_x"]["bias"], s0)}
  pl = {"params": {**pl["params"], "decoder": dec_l}}
  shared_dec = {k: v for k, v in dec_l.items() if k != "logvar_x"}
  shared_dec["logvar_x"] = jnp.asarray(s0, jnp.float32)
  ps = {"params": {**ps["params"], "decoder": shared_dec}}
  x, eps = _batch(fl, cell)
  no_wd = lambda fns, p: fns.loss(p, x, eps, cell.coeffs)[1]  # (data, kl): no weight decay
  for a, b in zip(no_wd(fl, pl), no_wd(fs, ps)):
    np.testing.assert_allclose(float(a), float(b), rtol=1e-6)


def test_gradients_finite_at_the_floor():
  co = model_coefficients("vae")
  x = jnp.zeros(12)  # u = 0 with μx = 0
  for dv, s in (("learned", jnp.full(12, -30.0)), ("shared", jnp.asarray(-30.0)),
                ("learned", jnp.full(12, -1e4)), ("shared", jnp.asarray(-jnp.inf))):
    f = lambda mu_x, s, dv=dv: unified_cost(x, mu_x, jnp.zeros(4), jnp.zeros(4), co, alpha=0.01,
                                            decoder_variance=dv, logvar_x=s)[0]
    val, (g_mu, g_s) = jax.value_and_grad(f, argnums=(0, 1))(jnp.zeros(12), s)
    assert np.isfinite(float(val))
    assert np.all(np.isfinite(np.asarray(g_mu))) and np.all(np.isfinite(np.asarray(g_s)))
    np.testing.assert_allclose(float(val), 12 * np.log(0.01) + 4.0, rtol=1e-5)  # Σ log α + KL
  g = jax.grad(lambda mu_x: unified_cost(x, mu_x, jnp.zeros(4), jnp.zeros(4), co,
                                         alpha=0.01)[0])(jnp.zeros(12))
  assert np.all(np.isfinite(np.asarray(g)))  # 'optimal' at u = 0 < α


@pytest.mark.parametrize("dv", ["learned", "shared"])
def test_jit_vmap_equals_python_loop(dv):
  u, s = _random_u_s(2, (5, 12))
  x = jnp.sqrt(u)
  mu_z = jax.random.normal(jax.random.PRNGKey(3), (5, 4))
  logvar_z = -jnp.ones((5, 4))
  co = model_coefficients("vae")
  lg = s if dv == "learned" else jnp.broadcast_to(s[:1, :1], (5, 12))
  f = lambda xi, mzi, lvi, lgi: unified_cost(xi, jnp.zeros(12), mzi, lvi, co, alpha=0.01,
                                             decoder_variance=dv, logvar_x=lgi)[0]
  batched = jax.jit(jax.vmap(f))(x, mu_z, logvar_z, lg)
  looped = [float(f(x[i], mu_z[i], logvar_z[i], lg[i])) for i in range(5)]
  np.testing.assert_allclose(np.asarray(batched), looped, rtol=1e-6)


@pytest.mark.slow  # ~21 s; the default decoder variance's twin, tests/test_train.py, stays default
def test_training_vmap_over_cells_equals_loop():
  fns = train.make_train(dataclasses.replace(TINY, decoder_variance="learned"))
  cells = sweep.make_cells([sweep.CellInfo("vae", 1.0, 2, 0.1, 0),
                            sweep.CellInfo("ae_l2", 0.1, 3, 0.2, 0)])
  run = lambda c: fns.evaluate(fns.run_chunk(fns.init(c), c)[0], c)
  batched = jax.jit(jax.vmap(run))(cells)
  single = jax.jit(run)
  for i in range(2):
    looped = single(jax.tree.map(lambda a, i=i: jnp.asarray(a)[i], cells))
    for a, b in zip(jax.tree.leaves(looped), jax.tree.leaves(batched)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b)[i], rtol=2e-4, atol=1e-6)


def _old_loss(fns, params, x, eps, coeffs):
  """The mean loss as written before decoder variances existed (train.per_sample + unified_cost
  with ``decoder_variance_cost`` inlined), weight decay 0."""
  mu_z, logvar_z = fns.model.apply(params, x, method=models.AutoEncoder.encode)
  z = reparameterize(mu_z[None], logvar_z[None], eps, coeffs.noise)
  mu_x = fns.model.apply(params, z, method=models.AutoEncoder.decode)

  def one(xi, mxi, mzi, lvi):
    data = jnp.sum(decoder_variance_cost((xi - mxi) ** 2, TINY.alpha), axis=-1)
    data = jnp.mean(data, axis=0)
    lv = clip_logvar(lvi)
    kl = jnp.sum(jnp.exp(lv) - lv)
    cost = data + coeffs.kl * kl + coeffs.c2 * jnp.sum(mzi**2) + coeffs.c1 * jnp.sum(jnp.abs(mzi))
    return cost, data, kl

  cost, data, kl = jax.vmap(one, in_axes=(0, 1, 0, 0))(x, mu_x, mu_z, logvar_z)
  return jnp.mean(cost), (jnp.mean(data), jnp.mean(kl))


def test_optimal_is_bit_identical_to_decoder_variance_cost():
  fns = train.make_train(dataclasses.replace(TINY, weight_decay=0.0))
  assert fns.settings.decoder_variance == "optimal"
  cell = _cell()
  params = fns.init(cell).params
  x, eps = _batch(fns, cell)
  got, (data, kl) = jax.jit(fns.loss)(params, x, eps, cell.coeffs)
  mu_z, logvar = fns.model.apply(params, x, method=models.AutoEncoder.encode)
  z = mu_z + jnp.exp(0.5 * logvar) * eps[0]
  mu_x = fns.model.apply(params, z, method=models.AutoEncoder.decode)
  old = jax.jit(lambda p, x, eps, co: _old_loss(fns, p, x, eps, co))(params, x, eps, cell.coeffs)
  for a, b in zip(jax.tree.leaves(old), jax.tree.leaves((got, (data, kl)))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # bit for bit, same program
  want = jnp.mean(jnp.sum(decoder_variance_cost((x - mu_x) ** 2, TINY.alpha), axis=1)
                  + jax.vmap(gaussian_kl)(mu_z, jnp.exp(logvar)))
  np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
  # The unified data term's 'optimal' branch: bit for bit the old expression.
  u, _ = _random_u_s(4)
  np.testing.assert_array_equal(
      np.asarray(data_term(jnp.sqrt(u), jnp.zeros_like(u), alpha=0.01)),
      np.asarray(jnp.sum(decoder_variance_cost((jnp.sqrt(u) - jnp.zeros_like(u)) ** 2, 0.01),
                         axis=-1)))


def test_parameter_trees():
  cell = _cell()
  trees = {dv: train.make_train(dataclasses.replace(TINY, decoder_variance=dv)).init(cell).params
           for dv in VARIANCES}
  dec = {dv: trees[dv]["params"]["decoder"] for dv in VARIANCES}
  assert sorted(dec["optimal"]) == ["D1", "D2", "mu_x"]  # exactly the pre-existing tree
  assert sorted(dec["learned"]) == ["D1", "D2", "logvar_x", "mu_x"]
  assert dec["learned"]["logvar_x"]["kernel"].shape == (TINY.decoder_widths[-1], TINY.data_dim)
  assert sorted(dec["shared"]) == ["D1", "D2", "logvar_x", "mu_x"]
  assert dec["shared"]["logvar_x"].shape == ()
  # Same initial weights everywhere else (the extra head draws no randomness from the others).
  for dv in ("learned", "shared"):
    for k in ("D1", "D2", "mu_x"):
      for a, b in zip(jax.tree.leaves(dec[dv][k]), jax.tree.leaves(dec["optimal"][k])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("dv", VARIANCES)
def test_tiny_sweep_runs_with_finite_nmse(dv):
  s = dataclasses.replace(TINY, decoder_variance=dv)
  cells = sweep.make_cells([sweep.CellInfo("vae", 1.0, 2, 0.1, 0),
                            sweep.CellInfo("ae_l2", 1.0, 2, 0.1, 0)])
  res = sweep.run_sweep(s, cells, num_steps=10, progress=False)
  assert not np.any(res.failed)
  assert np.all(np.isfinite(res.eval.nmse)) and np.all(np.isfinite(res.eval.vae_objective))


def test_settings_reject_unknown_decoder_variance():
  with pytest.raises(ValueError, match="decoder_variance"):
    dataclasses.replace(TINY, decoder_variance="diagonal")
  with pytest.raises(ValueError, match="logvar_x"):
    data_term(jnp.zeros(3), jnp.zeros(3), alpha=0.1, decoder_variance="learned")
  with pytest.raises(ValueError, match="logvar_x must be None"):
    data_term(jnp.zeros(3), jnp.zeros(3), alpha=0.1, logvar_x=jnp.zeros(3))


def test_data_term_weight_leaves_out_entries():
  """weight=None and weight=1 give the plain sum bit for bit; weight 0 drops an entry exactly,
  for every decoder variance; a missing entry's gradient is 0."""
  rng = np.random.default_rng(0)
  x, mu_x = jnp.asarray(rng.normal(size=12)), jnp.asarray(rng.normal(size=12))
  w = jnp.asarray(rng.random(12) > 0.3, jnp.float32)
  for dv, s in (("optimal", None), ("learned", jnp.asarray(rng.normal(size=12))),
                ("shared", jnp.asarray(0.3))):
    plain = data_term(x, mu_x, alpha=0.01, decoder_variance=dv, logvar_x=s)
    ones = data_term(x, mu_x, alpha=0.01, decoder_variance=dv, logvar_x=s,
                     weight=jnp.ones(12))
    assert float(plain) == float(ones)
    part = data_term(x, mu_x, alpha=0.01, decoder_variance=dv, logvar_x=s, weight=w)
    keep = np.asarray(w) > 0
    want = data_term(x[keep], mu_x[keep], alpha=0.01, decoder_variance=dv,
                     logvar_x=None if s is None else (s[keep] if s.ndim else s))
    np.testing.assert_allclose(float(part), float(want), rtol=1e-6)
    g = jax.grad(lambda m, dv=dv, s=s: data_term(x, m, alpha=0.01, decoder_variance=dv,
                                                 logvar_x=s, weight=w))(mu_x)
    assert np.all(np.asarray(g)[~keep] == 0.0) and np.all(np.isfinite(np.asarray(g)))
