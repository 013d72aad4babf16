"""data.stream: the one data stream equals the engine's batches, under jit and vmap."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hidden_talents import sweep, train
from hidden_talents.data import manifold, stream
from tests.helpers import TINY


def _cells():
  infos = [sweep.CellInfo("vae", 1.0, k, nu, 0) for k, nu in ((2, 0.1), (4, 0.3), (1, 0.0))]
  return sweep.make_cells(infos)


def _cell(cells, c):
  return jax.tree.map(lambda a: jnp.asarray(a)[c], cells)


def test_data_spec_holds_the_data_fields_of_the_settings():
  s = dataclasses.replace(TINY, outliers="uniform", uniform_range=(-1.0, 2.0), outlier_scale=3.0)
  assert s.data_spec == stream.DataSpec(
      data_dim=12, kappa_max=4, generator_widths=(8, 16), num_samples=200, outliers="uniform",
      outlier_scale=3.0, uniform_range=(-1.0, 2.0))
  hash(s.data_spec)  # static: usable as a jit static argument
  with pytest.raises(ValueError, match="outliers"):
    stream.DataSpec(data_dim=2, kappa_max=1, generator_widths=(), num_samples=3, outliers="x")


def test_sample_is_the_engines_sample_batch_and_streams_the_generator():
  fns = train.make_train(TINY)
  cell = _cell(_cells(), 1)
  idx = jnp.array([3, 0, 199, 3])
  got = jax.jit(lambda c: stream.sample(TINY.data_spec, c, idx))(cell)
  want = jax.jit(lambda c: fns.sample_batch(c, idx))(cell)
  for g, w in zip(got, want):
    np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
  gen = manifold.init_generator(cell.data_key, cell.kappa, kappa_max=4, widths=(8, 16), data_dim=12)
  _, l = manifold.sample_clean(gen, cell.data_key, idx)
  np.testing.assert_allclose(np.asarray(got[1]), np.asarray(l), rtol=1e-5, atol=1e-5)


def test_materialize_is_sample_vmapped_over_cells():
  cells = _cells()
  X, L, mask = stream.materialize(TINY.data_spec, cells, 50)
  assert X.shape == L.shape == mask.shape == (3, 50, TINY.data_dim)
  for c in range(3):
    x, l, m = stream.sample(TINY.data_spec, _cell(cells, c), jnp.arange(50))
    np.testing.assert_allclose(np.asarray(X[c]), np.asarray(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(L[c]), np.asarray(l), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(mask[c]), np.asarray(m))
  data = jnp.asarray(np.random.default_rng(0).normal(size=(200, 12)), jnp.float32)
  _, L, _ = stream.materialize(TINY.data_spec, cells, 10, data)
  np.testing.assert_array_equal(np.asarray(L), np.broadcast_to(np.asarray(data[:10]), L.shape))


def test_sample_rejects_data_of_the_wrong_shape():
  with pytest.raises(ValueError, match=r"data must have shape \(num_samples, data_dim\)"):
    stream.sample(TINY.data_spec, _cell(_cells(), 0), jnp.arange(3), data=jnp.zeros((5, 12)))
