"""Fixed-dataset mode of the engine (MNIST, users' matrices) and the MNIST loader."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hidden_talents import sweep, train
from hidden_talents.data import mnist
from tests.helpers import TINY

SPECS = [("vae", 1.0, 0.1), ("ae_l2", 0.1, 0.3), ("vae", 1.0, 0.0)]


def _cells():
  return sweep.make_cells([sweep.CellInfo(m, c2, 1, nu, 0) for m, c2, nu in SPECS])


def _data(n=TINY.num_samples, d=TINY.data_dim, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(n, 3)) @ rng.normal(size=(3, d))).astype(np.float32)


def test_sample_batch_takes_rows_of_data_with_the_same_streamed_corruption():
  fns = train.make_train(TINY)
  cells = _cells()
  cell = jax.tree.map(lambda a: jnp.asarray(a)[1], cells)
  data = _data()
  idx = jnp.array([5, 0, 199, 5])
  x, l, mask = fns.sample_batch(cell, idx, data=jnp.asarray(data))
  np.testing.assert_array_equal(np.asarray(l), data[np.asarray(idx)])
  # The outlier mask is the generator mode's (a function of the corruption key and index only).
  _, _, mask_gen = fns.sample_batch(cell, idx)
  np.testing.assert_array_equal(np.asarray(mask), np.asarray(mask_gen))
  np.testing.assert_array_equal(np.asarray(x)[~np.asarray(mask)], np.asarray(l)[~np.asarray(mask)])
  assert np.asarray(mask).mean() > 0.1  # ν = 0.3 corrupts something
  np.testing.assert_array_equal(np.asarray(x[0]), np.asarray(x[3]))  # sample i is a function of i


def test_uniform_outliers_use_the_configured_range():
  s = dataclasses.replace(TINY, outliers="uniform", uniform_range=(-3.0, -2.0))
  fns = train.make_train(s)
  cell = jax.tree.map(lambda a: jnp.asarray(a)[1], _cells())
  x, _, mask = fns.sample_batch(cell, jnp.arange(50), data=jnp.asarray(_data()))
  vals = np.asarray(x)[np.asarray(mask)]
  assert vals.size > 0 and vals.min() >= -3.0 and vals.max() <= -2.0
  with pytest.raises(ValueError, match="uniform_range"):
    dataclasses.replace(TINY, uniform_range=(1.0, 1.0))


@pytest.mark.slow  # end to end, 25–65 s: CI runs it with -m slow
def test_sweep_on_a_fixed_dataset_equals_looped_cells_and_ignores_the_generator():
  data = _data()
  cells = _cells()
  res = sweep.run_sweep(TINY, cells, num_steps=10, data=data, progress=False)
  fns = train.make_train(TINY)
  one = jax.jit(lambda c, dd: fns.evaluate(fns.run_chunk(fns.run_chunk(fns.init(c), c, dd)[0], c,
                                                         dd)[0], c, dd))
  for i in range(len(SPECS)):
    ev = one(jax.tree.map(lambda a, i=i: jnp.asarray(a)[i], cells), jnp.asarray(data))
    np.testing.assert_allclose(res.eval.nmse[i], float(ev.nmse), rtol=1e-4)
  # ν = 0: the input is the data itself, so doing nothing has zero error.
  assert res.eval.nmse_input[2] == 0.0
  # Other data, other result; the manifold generator is not used.
  other = sweep.run_sweep(TINY, cells, num_steps=10, data=_data(seed=1), progress=False)
  assert not np.allclose(res.eval.nmse, other.eval.nmse)


def test_bad_dataset_is_rejected_before_training(tmp_path):
  cells = _cells()
  with pytest.raises(ValueError, match="shape"):
    sweep.run_sweep(TINY, cells, num_steps=5, data=_data(n=10), progress=False)
  bad = _data()
  bad[7, 3] = np.nan
  with pytest.raises(ValueError, match="row 7, column 3"):
    sweep.run_sweep(TINY, cells, num_steps=5, data=bad, workdir=str(tmp_path), progress=False)
  assert not any(tmp_path.iterdir())  # nothing written
  with pytest.raises(ValueError, match="shape"):
    train.make_train(TINY).sample_batch(jax.tree.map(lambda a: jnp.asarray(a)[0], cells),
                                        jnp.arange(3), data=jnp.zeros((5, TINY.data_dim)))


def test_mnist_loader_returns_the_official_70000_digits():
  try:
    images, labels = mnist.load_mnist()
  except FileNotFoundError as e:
    pytest.skip(str(e))
  assert images.shape == (70_000, 784) and images.dtype == np.uint8
  assert labels.shape == (70_000,) and labels.dtype == np.uint8
  assert images.max() == 255 and images.min() == 0
  # Known facts about MNIST: the first training digits are 5, 0, 4, 1, 9; the first test digits
  # (index 60 000 on) are 7, 2, 1, 0, 4; 7877 of the 70 000 digits are ones.
  np.testing.assert_array_equal(labels[:5], [5, 0, 4, 1, 9])
  np.testing.assert_array_equal(labels[60_000:60_005], [7, 2, 1, 0, 4])
  assert int(np.sum(labels == 1)) == 7877
  sub, sub_labels = mnist.load_mnist(100)
  np.testing.assert_array_equal(sub, images[:100])
  assert sub_labels.shape == (100,)
  with pytest.raises(ValueError, match="num_images"):
    mnist.load_mnist(0)
