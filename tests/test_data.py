"""Streamed ground-truth manifold and outlier corruption (Sec. 5.1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hidden_talents.data import corrupt, manifold

KEY = jax.random.PRNGKey(0)


def _gen(kappa, kappa_max=6):
  return manifold.init_generator(KEY, kappa, kappa_max=kappa_max, widths=(16, 32), data_dim=10)


def test_sample_is_a_function_of_key_and_index_only():
  p = _gen(3)
  _, l_all = manifold.sample_clean(p, KEY, jnp.arange(50))
  _, l_some = manifold.sample_clean(p, KEY, jnp.array([49, 7, 7]))
  np.testing.assert_array_equal(l_some, l_all[jnp.array([49, 7, 7])])


def test_padding_beyond_kappa_is_ignored():
  p = _gen(3)
  z = jax.random.normal(KEY, (5, 6))
  z2 = z.at[:, 3:].set(123.0)
  np.testing.assert_allclose(manifold.generate(p, z), manifold.generate(p, z2))
  assert np.all(np.asarray(p.Ws[0])[3:] == 0)
  assert np.any(np.asarray(p.Ws[0])[:3] != 0)


def test_he_initialisation_scale_uses_kappa_fan_in():
  W = np.asarray(manifold.init_generator(KEY, 4, kappa_max=20, widths=(4000,), data_dim=3).Ws[0])
  np.testing.assert_allclose(W[:4].std(), np.sqrt(2 / 4), rtol=0.05)


def test_generator_is_vmappable_over_kappa():
  ps = jax.vmap(lambda k: _gen(k))(jnp.array([1, 3, 6]))
  assert ps.Ws[0].shape == (3, 6, 16)
  np.testing.assert_array_equal(np.asarray(ps.kappa_mask).sum(1), [1, 3, 6])


@pytest.mark.parametrize("nu", [0.0, 0.1, 0.5])
def test_gaussian_outliers_replace_a_fraction_nu(nu):
  l = jnp.full((2000, 50), 7.0)
  x, mask = corrupt.gaussian_outliers(KEY, jnp.arange(2000), l, nu)
  assert abs(float(mask.mean()) - nu) < 0.01
  np.testing.assert_array_equal(np.asarray(x)[~np.asarray(mask)], 7.0)
  if nu > 0:
    vals = np.asarray(x)[np.asarray(mask)]
    assert abs(vals.mean()) < 0.05 and abs(vals.std() - 1) < 0.05


@pytest.mark.parametrize("low, high", [(0.0, 255.0), (-3.0, -2.0)])
def test_uniform_outliers_are_uniform_on_the_range(low, high):
  l = jnp.full((500, 20), 7.0)
  x, mask = corrupt.uniform_outliers(KEY, jnp.arange(500), l, 0.3, low=low, high=high)
  x, mask = np.asarray(x), np.asarray(mask)
  assert abs(mask.mean() - 0.3) < 0.01
  np.testing.assert_array_equal(x[~mask], 7.0)  # the rest untouched
  vals = x[mask]
  # U[low, high]: inside it and filling it, mean (low + high)/2, variance (high − low)²/12, and a
  # tenth of the values in each tenth of the range.
  width = high - low
  assert vals.min() >= low and vals.max() <= high
  assert vals.min() < low + 0.002 * width and vals.max() > high - 0.002 * width
  np.testing.assert_allclose(vals.mean(), (low + high) / 2, atol=0.02 * width)
  np.testing.assert_allclose(vals.var(), width**2 / 12, rtol=0.05)
  counts, _ = np.histogram(vals, bins=10, range=(low, high))
  np.testing.assert_allclose(counts / vals.size, 0.1, atol=0.02)
