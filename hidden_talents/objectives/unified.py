"""The per-sample training cost shared by VAE, AE-ℓ2 and AE-ℓ1 (Sec. 5.1), paper units.

One loss with per-cell coefficients makes the three models one vmappable program:

  z      = μz + noise · σz ⊙ ε                         (reparameterisation; noise ∈ {0, 1})
  cost   = Σⱼ log ξα((xⱼ − μx,ⱼ(z))²) + O(1)            (decoder variance optimised out, eq. 87)
         + kl · (tr Σz − log|Σz|) + c2 · ‖μz‖² + c1 · ‖μz‖₁

* VAE:   noise = 1, kl = 1, c2 = 1, c1 = 0 — eq. 2 with 2·KL of eq. 3 and Σx optimised out (the
  infinite-capacity Σx limit the paper uses for every model).
* AE-ℓ2: noise = 0, kl = 0, c2 = C2, c1 = 0 — Σz = 0 (Corollary 5) plus C2‖μz‖².
* AE-ℓ1: noise = 0, kl = 0, c2 = 0, c1 = C2.

Weight decay C1‖θ, φ‖² is added once per loss by the trainer, not per sample.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from hidden_talents.objectives.gaussian import decoder_variance_cost

LOGVAR_MIN = -30.0  # σz² ≥ e⁻³⁰ ≈ 1e-13: keeps log|Σz| finite, far below any α used.
LOGVAR_MAX = 20.0


class LossCoefficients(NamedTuple):
  """Per-cell coefficients of the unified cost (floats or float arrays)."""

  noise: jax.Array | float
  kl: jax.Array | float
  c2: jax.Array | float
  c1: jax.Array | float


def model_coefficients(model: str, c2: float = 1.0) -> LossCoefficients:
  """Coefficients of ``model`` ∈ {'vae', 'ae_l2', 'ae_l1'}; ``c2`` is C2 for the AEs."""
  if model == "vae":
    return LossCoefficients(noise=1.0, kl=1.0, c2=1.0, c1=0.0)
  if model == "ae_l2":
    return LossCoefficients(noise=0.0, kl=0.0, c2=float(c2), c1=0.0)
  if model == "ae_l1":
    return LossCoefficients(noise=0.0, kl=0.0, c2=0.0, c1=float(c2))
  raise ValueError(f"unknown model {model!r}; expected 'vae', 'ae_l2' or 'ae_l1'")


def clip_logvar(logvar_z: ArrayLike) -> jax.Array:
  return jnp.clip(jnp.asarray(logvar_z), LOGVAR_MIN, LOGVAR_MAX)


def reparameterize(mu_z: ArrayLike, logvar_z: ArrayLike, eps: ArrayLike,
                   noise: ArrayLike) -> jax.Array:
  """z = μz + noise · exp(½ log σz²) ⊙ ε."""
  return jnp.asarray(mu_z) + noise * jnp.exp(0.5 * clip_logvar(logvar_z)) * jnp.asarray(eps)


def data_term(x: ArrayLike, mu_x: ArrayLike, *, alpha: ArrayLike) -> jax.Array:
  """Σⱼ log ξα((xⱼ − μx,ⱼ)²) + O(1) over the last axis (eq. 87): ``decoder_variance_cost``."""
  return jnp.sum(decoder_variance_cost((jnp.asarray(x) - jnp.asarray(mu_x)) ** 2, alpha), axis=-1)


def unified_cost(
    x: ArrayLike,
    mu_x: ArrayLike,
    mu_z: ArrayLike,
    logvar_z: ArrayLike,
    coeffs: LossCoefficients,
    *,
    alpha: ArrayLike,
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Per-sample cost of ONE example (see the module docstring).

  Args:
    x: (d,) observed sample.
    mu_x: (d,) or (τ, d) decoder means at τ reparameterised latents z (the data term is averaged
      over τ, eq. 4).
    mu_z: (κ,) encoder mean.
    logvar_z: (κ,) encoder log-variance log σz² (ignored when ``coeffs.kl`` is 0).
    coeffs: ``LossCoefficients`` of the cell.
    alpha: decoder variance floor α > 0.

  Returns:
    (cost, parts) with parts ``data``, ``kl``, ``l2``, ``l1``.
  """
  mu_x = jnp.asarray(mu_x)
  data = data_term(x, mu_x, alpha=alpha)
  if mu_x.ndim == 2:
    data = jnp.mean(data, axis=0)
  lv = clip_logvar(logvar_z)
  kl = jnp.sum(jnp.exp(lv) - lv)
  l2 = jnp.sum(jnp.asarray(mu_z) ** 2)
  l1 = jnp.sum(jnp.abs(jnp.asarray(mu_z)))
  cost = data + coeffs.kl * kl + coeffs.c2 * l2 + coeffs.c1 * l1
  return cost, {"data": data, "kl": kl, "l2": l2, "l1": l1}
