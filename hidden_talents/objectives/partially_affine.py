"""Partially affine decoder (Sec. 3): μx = W z, diagonal Σx a free function of z (eq. 45); its
form with Σx optimised out per entry (eqs. 68–71); and the AE limit Σz = 0 (Corollary 5, eq. 87).

Samples are rows (X is (n, d)); W is (d, κ); b = 0 as in eq. 11. Paper units (−2·ELBO without the
constants n·d·log 2π and −n·κ).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from hidden_talents.objectives import _checks
from hidden_talents.objectives.gaussian import decoder_variance_cost
from hidden_talents.objectives.vae import _sqrt_cov


def _check(X, W, mu_z) -> tuple[jax.Array, jax.Array, jax.Array]:
  _checks.check_ndim("X", X, 2)
  _checks.check_ndim("W", W, 2)
  _checks.check_ndim("mu_z", mu_z, 2)
  n, d = jnp.shape(X)
  if jnp.shape(W)[0] != d or jnp.shape(mu_z) != (n, jnp.shape(W)[1]):
    raise ValueError(f"shapes disagree: X {jnp.shape(X)}, W {jnp.shape(W)} (needs (d, κ)), "
                     f"mu_z {jnp.shape(mu_z)} (needs (n, κ))")
  for name, a in (("X", X), ("W", W), ("mu_z", mu_z)):
    _checks.check_finite(name, a)
  return jnp.asarray(X), jnp.asarray(W), jnp.asarray(mu_z)


def _latent_terms(mu_z, sigma_z):
  scale, tr, logdet = _sqrt_cov(sigma_z)
  return scale, tr - logdet + jnp.sum(mu_z**2)


def partially_affine_cost(
    key: jax.Array,
    X: ArrayLike,
    W: ArrayLike,
    mu_z: ArrayLike,
    sigma_z: ArrayLike,
    sigma_x: Callable[[jax.Array], jax.Array] | None = None,
    *,
    alpha: float | None = None,
    num_samples: int = 1,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Eq. 45, estimated with τ reparameterised samples per input:

    Σᵢ { E_ε[(xᵢ − Wz)ᵀ Σx(z)⁻¹ (xᵢ − Wz) + log|Σx(z)|] + tr Σz⁽ⁱ⁾ − log|Σz⁽ⁱ⁾| + ‖μz⁽ⁱ⁾‖² },
    z = μz⁽ⁱ⁾ + S⁽ⁱ⁾ε.

  With ``sigma_x=None`` and ``alpha`` given, Σx is optimised out entry by entry inside the
  expectation, Σx,ⱼ = max((xⱼ − wⱼ·z)², α) (the infinite-capacity Σx limit, eqs. 68–71): the data
  term becomes Σⱼ log ξα((xⱼ − wⱼ·z)²) + O(1) (``decoder_variance_cost``, eq. 71).

  Args:
    key: PRNG key for ε.
    X: (n, d).
    W: (d, κ).
    mu_z: (n, κ) encoder means.
    sigma_z: per-sample encoder covariances, (n, κ) diagonals or (n, κ, κ) full; or one shared
      (κ,) / (κ, κ).
    sigma_x: z (κ,) → diagonal Σx (d,), or None to optimise it out.
    alpha: the floor α > 0 of Σx (needed when ``sigma_x`` is None).
    num_samples: τ.

  Returns:
    (total, aux) with ``aux['per_sample']``.
  """
  X, W, mu_z = _check(X, W, mu_z)
  n, _ = X.shape
  kappa = W.shape[1]
  sigma_z = jnp.asarray(sigma_z)
  if sigma_z.shape in ((kappa,), (kappa, kappa)):
    sigma_z = jnp.broadcast_to(sigma_z, (n,) + sigma_z.shape)
  if sigma_z.shape not in ((n, kappa), (n, kappa, kappa)):
    raise ValueError(f"sigma_z has shape {sigma_z.shape}; expected (n, κ) or (n, κ, κ)")
  if sigma_x is None:
    if alpha is None:
      raise ValueError("give sigma_x, or alpha to optimise Σx out")
    _checks.check_positive("alpha", alpha)
  keys = jax.random.split(key, n)

  def one(x, m, s, k):
    scale, latent = _latent_terms(m, s)
    eps = jax.random.normal(k, (num_samples, kappa), dtype=m.dtype)
    z = m + scale(eps)

    def data(zt):
      r2 = (x - W @ zt) ** 2
      if sigma_x is None:
        return jnp.sum(decoder_variance_cost(r2, alpha))
      sx = sigma_x(zt)
      return jnp.sum(r2 / sx + jnp.log(sx))

    return jnp.mean(jax.vmap(data)(z)) + latent

  per = jax.vmap(one)(X, mu_z, sigma_z, keys)
  return jnp.sum(per), {"per_sample": per}


def ae_cost(X: ArrayLike, W: ArrayLike, mu_z: ArrayLike, *, alpha: ArrayLike) -> jax.Array:
  """Corollary 5 (eq. 87): Σz = 0 and Σx optimised out, Σᵢⱼ log ξα((xᵢⱼ − wⱼ·μz⁽ⁱ⁾)²) + O(1).

  Per entry the cost (``decoder_variance_cost``) is 1 + log u for u ≥ α and u/α + log α below
  (ξα(u) = max(u, α), eq. 69), so as α → 0,
  (ae_cost − n·d·log α) / (−log α) → ‖X − μz Wᵀ‖₀ (eq. 15): the AE counts outliers.
  """
  X, W, mu_z = _check(X, W, mu_z)
  _checks.check_positive("alpha", alpha)
  return jnp.sum(decoder_variance_cost((X - mu_z @ W.T) ** 2, alpha))
