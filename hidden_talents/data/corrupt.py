"""Outlier corruption of clean data, streamed from seeds.

* ``gaussian_outliers`` — Sec. 5.1: a fraction ν of the entries is replaced by N(0, 1) samples.
* ``uniform_outliers`` — App. A (MNIST): a fraction ν of the pixels is replaced by values uniform on
  [low, high].

Each entry of sample i is corrupted independently with probability ν (so the realised fraction is
ν up to sampling noise); mask and values are pure functions of (key, i).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def outlier_mask(key: jax.Array, index: ArrayLike, nu: ArrayLike, dim: int) -> jax.Array:
  """Boolean (dim,) mask of corrupted entries of sample i, each True with probability ν."""
  k = jax.random.fold_in(jax.random.fold_in(key, index), 0)
  return jax.random.uniform(k, (dim,)) < nu


def gaussian_outliers(key: jax.Array, indices: ArrayLike, l: ArrayLike,
                      nu: ArrayLike) -> tuple[jax.Array, jax.Array]:
  """Replaces a fraction ν of the entries of each row of ``l`` by N(0, 1) values (Sec. 5.1).

  Args:
    key: corruption key of this data set.
    indices: (B,) sample indices of the rows of ``l``.
    l: (B, d) clean rows.
    nu: outlier ratio in [0, 1).

  Returns:
    (x, mask): corrupted rows (B, d) and the boolean mask of replaced entries.
  """
  l = jnp.asarray(l)
  d = l.shape[-1]

  def one(i):
    mask = outlier_mask(key, i, nu, d)
    values = jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, i), 1), (d,))
    return mask, values

  mask, values = jax.vmap(one)(jnp.asarray(indices))
  return jnp.where(mask, values, l), mask


def uniform_outliers(key: jax.Array, indices: ArrayLike, l: ArrayLike, nu: ArrayLike, *,
                     low: float = 0.0, high: float = 255.0) -> tuple[jax.Array, jax.Array]:
  """Replaces a fraction ν of the entries of each row by values uniform on [low, high] (App. A)."""
  l = jnp.asarray(l)
  d = l.shape[-1]

  def one(i):
    mask = outlier_mask(key, i, nu, d)
    k = jax.random.fold_in(jax.random.fold_in(key, i), 1)
    return mask, jax.random.uniform(k, (d,), minval=low, maxval=high)

  mask, values = jax.vmap(one)(jnp.asarray(indices))
  return jnp.where(mask, values.astype(l.dtype), l), mask
