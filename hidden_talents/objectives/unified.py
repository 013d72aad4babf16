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

The decoder variance Σx = diag γ is a model choice (``decoder_variance``, one branch of the data
term, chosen at trace time: models with different decoder variances are separate compiled
programs, and run as separate sweeps, one ``train.Settings`` each). With u = (xⱼ − μx,ⱼ)², the
data term is Σⱼ (u/γⱼ + log γⱼ) (eq. 2 up to constants) and:

* ``optimal`` — γⱼ = ξα(u) = max(u, α) optimised out per entry and sample (eqs. 68–70, 86–87),
  the paper's; the data term above. The minimum of the other two at equal μx.
* ``learned`` — γ(z) = α + exp(s(z)), s a decoder head per entry (a function of z only, eq. 2).
* ``shared`` — γ = α + exp(s), one learned scalar s per model (all entries, all samples).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from hidden_talents.objectives.gaussian import (
  decoder_variance_cost,
  floored_variance,
  gaussian_data_cost,
)

DECODER_VARIANCES = ("optimal", "learned", "shared")

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


def check_decoder_variance(decoder_variance: str) -> str:
  """``decoder_variance`` if it is one of ``DECODER_VARIANCES``, else a ``ValueError``."""
  if decoder_variance not in DECODER_VARIANCES:
    raise ValueError(f"decoder_variance must be one of {DECODER_VARIANCES}, got "
                     f"{decoder_variance!r}")
  return decoder_variance


def data_term(x: ArrayLike, mu_x: ArrayLike, *, alpha: ArrayLike,
              decoder_variance: str = "optimal", logvar_x: ArrayLike | None = None,
              weight: ArrayLike | None = None) -> jax.Array:
  """The data term Σⱼ (u/γⱼ + log γⱼ), u = (xⱼ − μx,ⱼ)², over the last axis (eq. 2, paper units).

  Args:
    x: (…, d) observations.
    mu_x: (…, d) decoder means.
    alpha: decoder variance floor α > 0.
    decoder_variance: static branch. ``'optimal'``: γ = ξα(u) optimised out, i.e.
      Σⱼ log ξα(u) + O(1) of eq. 87 (``decoder_variance_cost``; ``logvar_x`` must be None).
      ``'learned'`` / ``'shared'``: γ = α + exp(``logvar_x``) (``floored_variance``), the
      Gaussian −2 log-likelihood for that γ (``gaussian_data_cost``).
    logvar_x: s = log(γ − α), broadcastable with ``mu_x``: per entry for ``'learned'``, a scalar
      (or its broadcast) for ``'shared'``.
    weight: optional per-entry weight broadcastable with ``x`` (1 = observed, 0 = missing: the
      entry does not enter the sum); None = every entry, bit for bit as without it.

  Returns:
    Shape ``mu_x.shape[:-1]`` broadcast with ``x``.
  """
  check_decoder_variance(decoder_variance)
  u = (jnp.asarray(x) - jnp.asarray(mu_x)) ** 2
  if decoder_variance == "optimal":
    if logvar_x is not None:
      raise ValueError("decoder_variance='optimal' optimises Σx out: logvar_x must be None")
    return jnp.sum(_weighted(decoder_variance_cost(u, alpha), weight), axis=-1)
  if logvar_x is None:
    raise ValueError(f"decoder_variance={decoder_variance!r} needs logvar_x")
  return jnp.sum(_weighted(gaussian_data_cost(u, floored_variance(logvar_x, alpha)), weight),
                 axis=-1)


def _weighted(cost: jax.Array, weight: ArrayLike | None) -> jax.Array:
  """``cost`` with entries of weight 0 set to exactly 0 (also where the cost is not finite)."""
  return cost if weight is None else jnp.where(jnp.asarray(weight) > 0, cost * weight, 0.0)


def unified_cost(
    x: ArrayLike,
    mu_x: ArrayLike,
    mu_z: ArrayLike,
    logvar_z: ArrayLike,
    coeffs: LossCoefficients,
    *,
    alpha: ArrayLike,
    decoder_variance: str = "optimal",
    logvar_x: ArrayLike | None = None,
    weight: ArrayLike | None = None,
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
    decoder_variance: ``'optimal'`` (default, the paper's: Σx optimised out), ``'learned'`` or
      ``'shared'`` (see ``data_term``). Static: it selects the branch at trace time.
    logvar_x: for ``'learned'`` / ``'shared'``, s = log(γ − α) broadcastable with ``mu_x`` (the
      decoder's head at the same z as ``mu_x``); None for ``'optimal'``.
    weight: (d,) per-entry weight of the data term (0 = a missing entry), or None.

  Returns:
    (cost, parts) with parts ``data``, ``kl``, ``l2``, ``l1``.
  """
  mu_x = jnp.asarray(mu_x)
  data = data_term(x, mu_x, alpha=alpha, decoder_variance=decoder_variance, logvar_x=logvar_x,
                   weight=weight)
  if mu_x.ndim == 2:
    data = jnp.mean(data, axis=0)
  lv = clip_logvar(logvar_z)
  kl = jnp.sum(jnp.exp(lv) - lv)
  l2 = jnp.sum(jnp.asarray(mu_z) ** 2)
  l1 = jnp.sum(jnp.abs(jnp.asarray(mu_z)))
  cost = data + coeffs.kl * kl + coeffs.c2 * l2 + coeffs.c1 * l1
  return cost, {"data": data, "kl": kl, "l2": l2, "l1": l1}
