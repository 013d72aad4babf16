"""The Monte-Carlo reparameterised VAE objective (eqs. 2 and 4) for any encoder and decoder."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hidden_talents.objectives import _checks

# log 2π rounded to float32: the value this constant has always had (it was computed by a jnp op at
# import time, which started the backend before ``launch/`` could set XLA flags). Computed on the
# host now; kept at float32 precision so every reported number stays bit-identical.
LOG_2PI = float(np.float32(math.log(2.0 * math.pi)))


def _sqrt_cov(sigma_z: jax.Array) -> tuple[Callable[[jax.Array], jax.Array], jax.Array, jax.Array]:
  """(ε ↦ S ε with SSᵀ = Σz, tr Σz, log|Σz|) for a diagonal (κ,) or full (κ, κ) Σz."""
  if sigma_z.ndim == 1:
    return (lambda e: jnp.sqrt(sigma_z) * e), jnp.sum(sigma_z), jnp.sum(jnp.log(sigma_z))
  chol = jnp.linalg.cholesky(sigma_z)
  return (lambda e: e @ chol.T), jnp.trace(sigma_z), 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))


def neg2_elbo_mc(
    key: jax.Array,
    X: ArrayLike,
    encoder: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
    decoder: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
    *,
    num_samples: int,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """−2·ELBO estimated with τ = ``num_samples`` reparameterised samples per input (eqs. 2, 4).

  Exact constants are kept, so the value is an unbiased estimate of −2·Σᵢ ELBO(xᵢ):

    Σᵢ { (1/τ) Σₜ [ Σⱼ (xᵢⱼ − μx,ⱼ(z⁽ⁱᵗ⁾))² / Σx,ⱼ(z⁽ⁱᵗ⁾) + log Σx,ⱼ(z⁽ⁱᵗ⁾) + log 2π ]
         + tr Σz⁽ⁱ⁾ + ‖μz⁽ⁱ⁾‖² − log|Σz⁽ⁱ⁾| − κ },     z⁽ⁱᵗ⁾ = μz⁽ⁱ⁾ + S⁽ⁱ⁾ ε,  S Sᵀ = Σz.

  Dropping n·d·log 2π and −n·κ gives the paper's units (eq. 22 for an affine decoder).

  Args:
    key: PRNG key for ε.
    X: (n, d) samples as rows.
    encoder: x (d,) → (μz (κ,), Σz as its diagonal (κ,) or full (κ, κ)).
    decoder: z (κ,) → (μx (d,), diagonal Σx (d,)).
    num_samples: τ ≥ 1.

  Returns:
    (total, aux) with ``aux['per_sample']`` the (n,) per-sample estimates (for standard errors).
  """
  _checks.check_ndim("X", X, 2)
  _checks.check_finite("X", X)
  if int(num_samples) < 1:
    raise ValueError(f"num_samples must be ≥ 1, got {num_samples}")
  X = jnp.asarray(X)
  n = X.shape[0]
  keys = jax.random.split(key, n)

  def one(x, k):
    mu_z, sigma_z = encoder(x)
    mu_z = jnp.asarray(mu_z)
    sigma_z = jnp.asarray(sigma_z)
    kappa = mu_z.shape[0]
    scale, tr, logdet = _sqrt_cov(sigma_z)
    eps = jax.random.normal(k, (num_samples, kappa), dtype=mu_z.dtype)
    z = mu_z + scale(eps)

    def data(zt):
      mu_x, sigma_x = decoder(zt)
      return jnp.sum((x - mu_x) ** 2 / sigma_x + jnp.log(sigma_x) + LOG_2PI)

    rec = jnp.mean(jax.vmap(data)(z))
    kl2 = tr + jnp.sum(mu_z**2) - logdet - kappa
    return rec + kl2

  per = jax.vmap(one)(X, keys)
  return jnp.sum(per), {"per_sample": per}
