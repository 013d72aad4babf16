"""make_train: the unified loss equals the hand-written single-model losses; vmap = loop;
evaluation matches a direct computation; NaN isolation; one compilation for many chunks."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hidden_talents import models, sweep, train
from hidden_talents.data import corrupt, manifold
from hidden_talents.objectives import decoder_variance_cost, gaussian_kl
from hidden_talents.objectives.unified import model_coefficients
from tests.helpers import TINY


def _cells(specs):
  return sweep.make_cells([sweep.CellInfo(m, c2, k, nu, 0) for m, c2, k, nu in specs])


def _one(cells, i):
  return jax.tree.map(lambda a: jnp.asarray(a)[i], cells)


def _batch(fns, cell):
  idx = jnp.arange(TINY.batch_size)
  x, _, _ = fns.sample_batch(cell, idx)
  eps = jax.random.normal(jax.random.PRNGKey(5), (1, TINY.batch_size, TINY.latent_dim))
  return x, eps


def _wd(params):
  return TINY.weight_decay * sum(float(jnp.sum(p**2)) for p in jax.tree.leaves(params))


def test_vae_cell_equals_hand_written_vae_loss():
  fns = train.make_train(TINY)
  cell = _one(_cells([("vae", 1.0, 3, 0.2)]), 0)
  params = fns.init(cell).params
  x, eps = _batch(fns, cell)
  got, _ = fns.loss(params, x, eps, cell.coeffs)
  # Hand-written: z = μ + σ ε; data term Σ ξα((x − μx)²); 2·KL = tr Σz + ‖μz‖² − log|Σz| (eq 3).
  mu_z, logvar = fns.model.apply(params, x, method=models.AutoEncoder.encode)
  z = mu_z + jnp.exp(0.5 * logvar) * eps[0]
  mu_x = fns.model.apply(params, z, method=models.AutoEncoder.decode)
  data = jnp.sum(decoder_variance_cost((x - mu_x) ** 2, TINY.alpha), axis=1)
  kl = jax.vmap(gaussian_kl)(mu_z, jnp.exp(logvar))
  want = float(jnp.mean(data + kl)) + _wd(params)
  np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_encoder_clip_winsorises_the_encoder_input_only():
  """encoder_clip = c: the encoder sees clip(x, −c, c), the data term the raw x (hand-written)."""
  import dataclasses
  c = 0.5
  s = dataclasses.replace(TINY, encoder_clip=c)
  fns, plain = train.make_train(s), train.make_train(TINY)
  cell = _one(_cells([("vae", 1.0, 3, 0.2)]), 0)
  params = fns.init(cell).params
  x, eps = _batch(fns, cell)
  x = x * 3.0  # entries beyond ±c, so the clip bites
  assert float(jnp.mean(jnp.abs(x) > c)) > 0.1
  got, _ = fns.loss(params, x, eps, cell.coeffs)
  mu_z, logvar = fns.model.apply(params, jnp.clip(x, -c, c), method=models.AutoEncoder.encode)
  z = mu_z + jnp.exp(0.5 * logvar) * eps[0]
  mu_x = fns.model.apply(params, z, method=models.AutoEncoder.decode)
  data = jnp.sum(decoder_variance_cost((x - mu_x) ** 2, TINY.alpha), axis=1)
  kl = jax.vmap(gaussian_kl)(mu_z, jnp.exp(logvar))
  np.testing.assert_allclose(float(got), float(jnp.mean(data + kl)) + _wd(params), rtol=1e-5)
  # Unclipped, the same parameters give another loss; on clip(x) as the target too (raw x is).
  assert abs(float(plain.loss(params, x, eps, cell.coeffs)[0]) - float(got)) > 1e-3
  assert abs(float(plain.loss(params, jnp.clip(x, -c, c), eps, cell.coeffs)[0])
             - float(got)) > 1e-3
  # The reconstruction encodes the clipped rows; inside ±c nothing changes.
  np.testing.assert_allclose(fns.reconstruct(params, x)[0],
                             plain.reconstruct(params, jnp.clip(x, -c, c))[0], rtol=1e-6)
  small = jnp.clip(x, -c, c)
  np.testing.assert_array_equal(fns.loss(params, small, eps, cell.coeffs)[0],
                                plain.loss(params, small, eps, cell.coeffs)[0])


@pytest.mark.parametrize("model,penalty", [("ae_l2", lambda m: jnp.sum(m**2, 1)),
                                           ("ae_l1", lambda m: jnp.sum(jnp.abs(m), 1))])
def test_ae_cells_equal_hand_written_ae_losses(model, penalty):
  fns = train.make_train(TINY)
  c2 = 7.0
  cell = _one(_cells([(model, c2, 3, 0.2)]), 0)
  params = fns.init(cell).params
  x, eps = _batch(fns, cell)
  got, _ = fns.loss(params, x, eps, cell.coeffs)
  mu_z, _ = fns.model.apply(params, x, method=models.AutoEncoder.encode)
  mu_x = fns.model.apply(params, mu_z, method=models.AutoEncoder.decode)  # Σz = 0: no noise
  data = jnp.sum(decoder_variance_cost((x - mu_x) ** 2, TINY.alpha), axis=1)
  want = float(jnp.mean(data + c2 * penalty(mu_z))) + _wd(params)
  np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_sum_reduction_scales_data_term_by_n():
  import dataclasses
  s_sum = dataclasses.replace(TINY, loss_reduction="sum", weight_decay=0.0)
  s_mean = dataclasses.replace(TINY, weight_decay=0.0)
  cell = _one(_cells([("ae_l2", 1.0, 3, 0.2)]), 0)
  f_sum, f_mean = train.make_train(s_sum), train.make_train(s_mean)
  params = f_mean.init(cell).params
  x, eps = _batch(f_mean, cell)
  a, _ = f_sum.loss(params, x, eps, cell.coeffs)
  b, _ = f_mean.loss(params, x, eps, cell.coeffs)
  np.testing.assert_allclose(float(a), TINY.num_samples * float(b), rtol=1e-5)


def test_model_coefficients():
  assert model_coefficients("vae") == (1.0, 1.0, 1.0, 0.0)
  assert model_coefficients("ae_l2", 10.0) == (0.0, 0.0, 10.0, 0.0)
  assert model_coefficients("ae_l1", 10.0) == (0.0, 0.0, 0.0, 10.0)
  with pytest.raises(ValueError, match="unknown model"):
    model_coefficients("pca")


def test_vmap_over_cells_equals_loop():
  fns = train.make_train(TINY)
  cells = _cells([("vae", 1.0, 2, 0.1), ("ae_l1", 0.1, 4, 0.3)])
  run = jax.jit(jax.vmap(lambda c: fns.evaluate(fns.run_chunk(fns.init(c), c)[0], c)))
  batched = run(cells)
  single = jax.jit(lambda c: fns.evaluate(fns.run_chunk(fns.init(c), c)[0], c))
  for i in range(2):
    looped = single(_one(cells, i))
    for a, b in zip(jax.tree.leaves(looped), jax.tree.leaves(batched)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b)[i], rtol=2e-4, atol=1e-6)


def _data_matrix():
  rng = np.random.default_rng(3)
  return (rng.normal(size=(TINY.num_samples, 3)) @ rng.normal(size=(3, TINY.data_dim))).astype(
      np.float32)


@pytest.mark.parametrize("fixed_data", [False, True])
def test_evaluate_matches_an_independent_numpy_reference(fixed_data):
  """evaluate's NMSE (eq. 20: ‖L − L̂‖²_F / ‖L‖²_F over all n samples, in chunks of 64 with a
  padded last chunk), input NMSE, mean σz², log10 σz² histogram and W₁ column norms, against
  NumPy float64 computed from arrays obtained without the engine: L from the generator
  (``manifold``) or the data matrix itself, X from ``corrupt.gaussian_outliers``, L̂ = μx(μz(X))
  from a flax AutoEncoder built here and applied directly."""
  fns = train.make_train(TINY)
  cell = _one(_cells([("vae", 1.0, 3, 0.2)]), 0)
  data = _data_matrix() if fixed_data else None
  dd = None if data is None else jnp.asarray(data)
  state = fns.run_chunk(fns.init(cell), cell, dd)[0]
  ev = fns.evaluate(state, cell, dd)
  idx = jnp.arange(TINY.num_samples)
  if data is None:
    gen = manifold.init_generator(cell.data_key, cell.kappa, kappa_max=TINY.kappa_max,
                                  widths=TINY.generator_widths, data_dim=TINY.data_dim)
    l = manifold.sample_clean(gen, cell.data_key, idx)[1]
  else:
    l = jnp.asarray(data)
  x, mask = corrupt.gaussian_outliers(cell.corrupt_key, idx, l, cell.nu)
  assert abs(float(np.mean(mask)) - 0.2) < 0.03
  ae = models.AutoEncoder(encoder_widths=TINY.encoder_widths, decoder_widths=TINY.decoder_widths,
                          latent_dim=TINY.latent_dim, data_dim=TINY.data_dim)
  mu_z, logvar = ae.apply(state.params, x, method=models.AutoEncoder.encode)
  l_hat = ae.apply(state.params, mu_z, method=models.AutoEncoder.decode)
  L, L_hat, X, logvar = (np.asarray(a, np.float64) for a in (l, l_hat, x, logvar))
  energy = np.sum(L**2)
  np.testing.assert_allclose(float(ev.nmse), np.sum((L - L_hat) ** 2) / energy, rtol=1e-4)
  np.testing.assert_allclose(float(ev.nmse_input), np.sum((L - X) ** 2) / energy, rtol=1e-4)
  # Sanity of the reference itself: some error, not all of it (a trained step, ν = 0.2).
  assert 0.0 < float(ev.nmse) and np.sum((L - X) ** 2) > 0
  np.testing.assert_allclose(ev.sigma_z_mean, np.exp(logvar).mean(0), rtol=1e-4)
  lo, hi = TINY.hist_range
  want_hist, _ = np.histogram(np.clip(logvar / np.log(10.0), lo, hi - 1e-6),
                              bins=np.linspace(lo, hi, TINY.hist_bins + 1))
  np.testing.assert_array_equal(np.asarray(ev.sigma_z_hist), want_hist)
  # W₁ (eq. 21) maps z to the first decoder layer; flax stores its kernel as (κ, width).
  kernel = np.asarray(state.params["params"]["decoder"]["D1"]["kernel"], np.float64)
  np.testing.assert_allclose(ev.w1_col_norms, np.linalg.norm(kernel, axis=1), rtol=1e-5)
  # The exact-fit regime: inlier entries (not replaced by an outlier) within √α of L, and eq. 20
  # on the inlier and outlier entries apart.
  M = np.asarray(mask, bool)
  err = (L - L_hat) ** 2
  np.testing.assert_allclose(float(ev.nmse_inliers), err[~M].sum() / (L[~M] ** 2).sum(),
                             rtol=1e-4)
  np.testing.assert_allclose(float(ev.nmse_outliers), err[M].sum() / (L[M] ** 2).sum(), rtol=1e-4)
  exact = np.mean(np.abs(L - L_hat)[~M] < np.sqrt(TINY.alpha))
  np.testing.assert_allclose(float(ev.inlier_exact_fraction), exact, atol=2.0 / (~M).sum())
  # The same numbers on the learning-curve subset (the first eval_subset rows).
  pt = fns.curve_point(state, cell, dd)
  m = min(TINY.eval_subset, TINY.num_samples)
  Ms, es = M[:m], err[:m]
  np.testing.assert_allclose(float(pt.nmse_inliers), es[~Ms].sum() / (L[:m][~Ms] ** 2).sum(),
                             rtol=1e-4)
  np.testing.assert_allclose(float(pt.nmse_outliers), es[Ms].sum() / (L[:m][Ms] ** 2).sum(),
                             rtol=1e-4)


def test_nan_cell_is_frozen_and_does_not_poison_others():
  fns = train.make_train(TINY)
  good = _cells([("vae", 1.0, 2, 0.1), ("ae_l2", 1.0, 3, 0.2)])
  bad = _cells([("vae", 1.0, 2, 0.1), ("ae_l2", 1.0, 3, 0.2)])
  c2 = np.asarray(bad.coeffs.c2).copy()
  c2[0] = np.nan  # a NaN loss in cell 0 only
  bad = bad._replace(coeffs=bad.coeffs._replace(c2=c2))
  step = jax.jit(jax.vmap(fns.run_chunk))
  s_bad = jax.vmap(fns.init)(bad)
  s_good = jax.vmap(fns.init)(good)
  s_bad, m_bad = step(s_bad, bad)
  mid = s_bad
  s_bad, m_bad = step(s_bad, bad)
  s_good, m_good = step(*step(s_good, good)[:1], good)
  assert bool(s_bad.failed[0]) and not bool(s_bad.failed[1])
  assert np.isnan(m_bad.loss[0]) and np.isfinite(m_bad.loss[1])
  chex.assert_tree_all_finite(s_bad.params)  # the failed cell keeps finite parameters:
  for a, b in zip(jax.tree.leaves(s_bad.params), jax.tree.leaves(mid.params)):
    np.testing.assert_array_equal(np.asarray(a)[0], np.asarray(b)[0])  # frozen since it failed
  assert int(s_bad.step[0]) == int(s_bad.step[1]) == 2 * TINY.chunk_steps
  for a, b in zip(jax.tree.leaves(s_bad.params), jax.tree.leaves(s_good.params)):
    np.testing.assert_allclose(np.asarray(a)[1], np.asarray(b)[1], rtol=1e-6)


def test_chunks_compile_once():
  fns = train.make_train(TINY)
  cells = _cells([("vae", 1.0, 2, 0.1), ("ae_l1", 0.1, 4, 0.3)])

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(state, c):
    return jax.vmap(fns.run_chunk)(state, c)

  state = jax.vmap(fns.init)(cells)
  for _ in range(3):
    state, _ = step(state, cells)
  # a different grid of the same shape reuses the program
  other = _cells([("ae_l2", 10.0, 1, 0.4), ("vae", 1.0, 3, 0.0)])
  step(jax.vmap(fns.init)(other), other)


def test_settings_reject_bad_values():
  import dataclasses
  for kw in ({"num_samples": 0}, {"batch_size": -1}, {"alpha": 0.0}, {"learning_rate": -1.0},
             {"loss_reduction": "median"}, {"batch_size": 500}, {"encoder_widths": (0,)},
             {"encoder_clip": -1.0}, {"encoder_clip": float("inf")}):
    with pytest.raises(ValueError):
      dataclasses.replace(TINY, **kw)


def test_fit_regime_by_hand():
  """metrics.fit_regime on a matrix worked out by hand: α = 0.01, so √α = 0.1."""
  from hidden_talents import metrics
  L = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])
  L_hat = np.array([[1.05, 2.5, 1.0], [0.0, 0.8, 3.0]])
  mask = np.array([[False, False, True], [False, True, False]])  # outliers at (0,2) and (1,1)
  r = metrics.fit_regime(L, L_hat, mask, alpha=0.01)
  # Inliers: errors 0.05, 0.5, 0, 0 (energies 1, 4, 0, 9): 3 of 4 within 0.1.
  np.testing.assert_allclose(float(r.inlier_exact_fraction), 0.75)
  np.testing.assert_allclose(float(r.nmse_inliers), (0.05**2 + 0.5**2) / 14.0, rtol=1e-6)
  # Outliers: errors 1.0 (energy 0) and 0.2 (energy 1).
  np.testing.assert_allclose(float(r.nmse_outliers), (1.0 + 0.04) / 1.0, rtol=1e-6)
  # No outlier entries: their NMSE is undefined (NaN), the rest is unchanged; chunked sums add up.
  none = metrics.fit_regime(L, L_hat, np.zeros_like(mask), alpha=0.01)
  assert np.isnan(float(none.nmse_outliers))
  halves = sum(metrics.regime_sums(L[i:i + 1], L_hat[i:i + 1], mask[i:i + 1], alpha=0.01)
               for i in range(2))
  np.testing.assert_allclose(metrics.regime_metrics(halves), r, rtol=1e-6)
  # A weight of 0 (a padded row) leaves the row out.
  w = np.array([[1.0], [0.0]])
  top = metrics.regime_metrics(metrics.regime_sums(L, L_hat, mask, alpha=0.01, weight=w))
  np.testing.assert_allclose(float(top.inlier_exact_fraction), 0.5)
  assert metrics.active_dims(np.array([[0.01, 0.5, 0.09], [1.0, 1.0, 1.0]])).tolist() == [2, 0]
