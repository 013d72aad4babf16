"""Gaussian pieces of the VAE cost, in the paper's units (−2·ELBO, constants dropped).

References:
  Dai, Wang, Aston, Hua, Wipf. "Hidden Talents of the Variational Autoencoder".
  Eq. 3 (2·KL), eqs. 68–70 and 86–87 (decoder variance optimised out: ξα of eq. 69 is the
  optimal variance, :func:`decoder_variance_cost` the minimum value log ξα + u/ξα).
  Eq. 2 (the Gaussian decoder's −2 log-likelihood for a given Σx = diag γ:
  :func:`gaussian_data_cost`, with γ from a network head through :func:`floored_variance`).
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


LOGVAR_X_MIN = -30.0  # γ − α ≥ e⁻³⁰ ≈ 1e-13: γ = α to float32 precision, finite gradients.
LOGVAR_X_MAX = 20.0


def floored_variance(logvar_x: ArrayLike, alpha: ArrayLike) -> jax.Array:
  """γ = α + exp(s) with s = ``logvar_x`` clipped to [−30, 20]: a decoder variance ≥ α.

  The parametrisation of the ``learned`` and ``shared`` decoder variances: s = log(γ − α) is an
  unconstrained network output, γ > α always, and γ → α as s → −∞ (at s = −30, γ = α to float32
  precision). dγ/ds = exp(s) is finite everywhere (0 once s is clipped), so the data term's
  gradients stay finite at the floor, unlike a log of (γ − α) or a division by it.

  Args:
    logvar_x: s, any shape.
    alpha: the variance floor α > 0 (scalar or broadcastable).

  Returns:
    γ, the shape of ``logvar_x`` broadcast with ``alpha``.
  """
  return alpha + jnp.exp(jnp.clip(jnp.asarray(logvar_x), LOGVAR_X_MIN, LOGVAR_X_MAX))


def gaussian_data_cost(u: ArrayLike, gamma: ArrayLike) -> jax.Array:
  """u/γ + log γ, elementwise: −2 log N(x | μx, γ) up to the constant log 2π (eq. 2).

  The data term of one entry for a GIVEN decoder variance γ (Σx = diag γ), with u = (x − μx)²
  the squared residual. Its minimum over γ ≥ α is :func:`decoder_variance_cost` (eq. 68), so at
  equal μx the optimised-out variance is never worse than any γ ≥ α.

  Args:
    u: non-negative squared residuals, any shape.
    gamma: decoder variances γ > 0, broadcastable with ``u``.

  Returns:
    An array of the broadcast shape.
  """
  gamma = jnp.asarray(gamma)
  return jnp.asarray(u) / gamma + jnp.log(gamma)
