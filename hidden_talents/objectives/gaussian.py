"""Gaussian pieces of the VAE cost, in the paper's units (−2·ELBO, constants dropped).

References:
  Dai, Wang, Aston, Hua, Wipf. "Hidden Talents of the Variational Autoencoder".
  Eq. 3 (2·KL), eqs. 68–70 and 86–87 (decoder variance optimised out: ξα of eq. 69 is the
  optimal variance, :func:`decoder_variance_cost` the minimum value log ξα + u/ξα).
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


def xi_alpha(u: ArrayLike, alpha: ArrayLike) -> jax.Array:
  """ξα(u) = [u − α]₊ + α = max(u, α) (eq. 69), elementwise: the optimal decoder variance.

  ξα(u) = argmin_{s ≥ α} u/s + log s (eq. 68), i.e. Σx,ⱼ optimised out for a squared residual
  u = (xⱼ − μx,ⱼ)² with the floor α.
  """
  return jnp.maximum(jnp.asarray(u), alpha)


def decoder_variance_cost(u: ArrayLike, alpha: ArrayLike) -> jax.Array:
  """min_{s ≥ α} u/s + log s = log ξα(u) + u/ξα(u), elementwise (eqs. 68–70, 87).

  The decoder variance optimised out: equals ``1 + log u`` for u ≥ α and ``u/α + log α`` for
  u < α, so it is log ξα(u) (eq. 70) with the O(1) term kept exactly (the constant 1 per entry
  of the u ≥ α branch). Continuous, with a continuous derivative (1/ξα(u)), so it is safe to
  train through. ``u`` is a squared residual (x − μx)²; summed over entries this is the data
  term Σⱼ log ξα((xⱼ − μx,ⱼ)²) of eq. 87 (exactly the minimum, not "up to a constant").

  Args:
    u: non-negative squared residuals, any shape.
    alpha: the variance floor α > 0 (scalar or broadcastable).

  Returns:
    An array of the shape of ``u``.
  """
  u = jnp.asarray(u)
  s = xi_alpha(u, alpha)
  return u / s + jnp.log(s)
