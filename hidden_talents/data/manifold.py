"""Ground-truth nonlinear manifolds (Sec. 5.1), streamed from seeds.

The ground-truth decoder is z(κ)-D1(r1)-D2(r2)-l(d) with ReLU activations and He initialisation
(He et al. 2015: weights ~ N(0, 2/fan_in), zero biases). So that every manifold dimension κ of a
sweep shares one compiled program, z is padded to ``kappa_max`` with zeros beyond κ and the rows of
the first weight matrix beyond κ are zero; the He fan-in of that layer is κ, not κ_max.

Samples are never stored: sample i of a data set is a pure function of (key, i), so a data set of
n = 10⁶ points costs no memory and a training batch is generated where it is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


class GeneratorParams(NamedTuple):
  """Weights of the ground-truth decoder; ``Ws[0]`` has shape (κ_max, r1)."""

  Ws: tuple[jax.Array, ...]
  bs: tuple[jax.Array, ...]
  kappa_mask: jax.Array  # (κ_max,) 1.0 for the first κ latent coordinates, else 0.0


def latent_mask(kappa: ArrayLike, kappa_max: int) -> jax.Array:
  """(κ_max,) float mask with ones on the first κ coordinates."""
  return (jnp.arange(kappa_max) < kappa).astype(jnp.float32)


def init_generator(
    key: jax.Array,
    kappa: ArrayLike,
    *,
    kappa_max: int,
    widths: Sequence[int],
    data_dim: int,
) -> GeneratorParams:
  """He-initialised ground-truth decoder z(κ)-D1-…-l(d); κ may be a traced integer.

  Args:
    key: PRNG key of this manifold.
    kappa: manifold dimension κ (1 ≤ κ ≤ κ_max).
    kappa_max: padded latent size shared by every cell of a sweep.
    widths: hidden widths (r1, r2, …).
    data_dim: d.

  Returns:
    ``GeneratorParams``.
  """
  sizes = [kappa_max, *widths, data_dim]
  keys = jax.random.split(key, len(sizes) - 1)
  mask = latent_mask(kappa, kappa_max)
  Ws, bs = [], []
  for layer, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
    if layer == 0:
      std = jnp.sqrt(2.0 / jnp.maximum(jnp.asarray(kappa, jnp.float32), 1.0))
      W = jax.random.normal(k, (fan_in, fan_out)) * std * mask[:, None]
    else:
      W = jax.random.normal(k, (fan_in, fan_out)) * jnp.sqrt(2.0 / fan_in)
    Ws.append(W)
    bs.append(jnp.zeros((fan_out,)))
  return GeneratorParams(tuple(Ws), tuple(bs), mask)


def generate(params: GeneratorParams, z: ArrayLike) -> jax.Array:
  """Clean points l = decoder(z); z of shape (..., κ_max) (padding coordinates are ignored)."""
  h = jnp.asarray(z) * params.kappa_mask
  n_layers = len(params.Ws)
  for layer, (W, b) in enumerate(zip(params.Ws, params.bs)):
    h = h @ W + b
    if layer < n_layers - 1:
      h = jax.nn.relu(h)
  return h


def sample_latent(key: jax.Array, index: ArrayLike, kappa_max: int) -> jax.Array:
  """z⁽ⁱ⁾ ~ N(0, I): a pure function of (key, i), shape (κ_max,)."""
  return jax.random.normal(jax.random.fold_in(key, index), (kappa_max,))


def sample_clean(params: GeneratorParams, key: jax.Array, indices: ArrayLike) -> tuple[jax.Array,
                                                                                          jax.Array]:
  """(z, l) for a batch of sample indices: z (B, κ_max) masked to κ, l (B, d)."""
  kappa_max = params.kappa_mask.shape[0]
  z = jax.vmap(lambda i: sample_latent(key, i, kappa_max))(jnp.asarray(indices))
  z = z * params.kappa_mask
  return z, generate(params, z)
