"""Gaussian pieces of the VAE cost, in the paper's units (−2·ELBO, constants dropped).

References:
  Dai, Wang, Aston, Hua, Wipf. "Hidden Talents of the Variational Autoencoder".
  Eq. 3 (2·KL), eqs. 68–70 and 86–87 (decoder variance optimised out).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def gaussian_kl(mu_z: ArrayLike, sigma_z: ArrayLike) -> jax.Array:
  """2·KL[N(μz, Σz) ‖ N(0, I)] up to the constant −κ (eq. 3): tr Σz + ‖μz‖² − log|Σz|.

  For ONE example; batch with ``jax.vmap``.

  Args:
    mu_z: mean, shape (κ,).
    sigma_z: the diagonal of Σz, shape (κ,), or the full Σz, shape (κ, κ), positive definite.

  Returns:
    A scalar.
  """
  mu_z = jnp.asarray(mu_z)
  sigma_z = jnp.asarray(sigma_z)
  if mu_z.ndim != 1:
    raise ValueError(f"mu_z must be 1-D (κ,), got shape {mu_z.shape}")
  k = mu_z.shape[0]
  if sigma_z.shape == (k,):
    return jnp.sum(sigma_z) + jnp.sum(mu_z**2) - jnp.sum(jnp.log(sigma_z))
  if sigma_z.shape == (k, k):
    _, logdet = jnp.linalg.slogdet(sigma_z)
    return jnp.trace(sigma_z) + jnp.sum(mu_z**2) - logdet
  raise ValueError(
      f"sigma_z must be the diagonal ({k},) or the full matrix ({k}, {k}); got {sigma_z.shape}")


def optimal_decoder_variance(u: ArrayLike, alpha: ArrayLike) -> jax.Array:
  """argmin_{s ≥ α} u/s + log s = max(u, α) = [u − α]₊ + α (eq. 69), elementwise."""
  return jnp.maximum(jnp.asarray(u), alpha)


def xi_alpha(u: ArrayLike, alpha: ArrayLike) -> jax.Array:
  """min_{s ≥ α} u/s + log s, elementwise: the decoder variance optimised out (eqs. 68–70, 87).

  Equals ``1 + log u`` for u ≥ α and ``u/α + log α`` for u < α: continuous, with a continuous
  derivative (1/max(u, α)), so it is safe to train through. ``u`` is a squared residual
  (x − μx)²; summed over entries this is the data term of eq. 87 (the constant 1 per entry of the
  u ≥ α branch is kept, so the value is exactly the minimum, not "up to a constant").

  Args:
    u: non-negative squared residuals, any shape.
    alpha: the variance floor α > 0 (scalar or broadcastable).

  Returns:
    An array of the shape of ``u``.
  """
  u = jnp.asarray(u)
  s = optimal_decoder_variance(u, alpha)
  return u / s + jnp.log(s)
