"""Affine decoder (Sec. 2): Lemma 1's closed-form cost, the optimal encoder, eq. 22.

Decoder μx = W z + b, Σx = λ I; encoder free. Samples are rows: X is (n, d), W is (d, κ).
Paper units: −2·ELBO with the constants n·d·log 2π and −κ (per sample) dropped, exactly as printed
in eqs. 5, 7 and 22 (so ``affine_cost(X, ...) + n·d·log 2π = −2·Σ log N(xᵢ; b, WWᵀ + λI)``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from hidden_talents.objectives import _checks


class OptimalEncoder(NamedTuple):
  mu_z: jax.Array  # (n, κ): eq. 25
  sigma_z: jax.Array  # (κ, κ) full Σz (App. B) or (κ,) its diagonal (eq. 27); the same for all i


def _check(X, W, b, lam) -> tuple[jax.Array, jax.Array, jax.Array]:
  _checks.check_ndim("X", X, 2)
  _checks.check_ndim("W", W, 2)
  _checks.check_ndim("b", b, 1)
  n, d = jnp.shape(X)
  if jnp.shape(W)[0] != d or jnp.shape(b)[0] != d:
    raise ValueError(f"shapes disagree: X {jnp.shape(X)} needs W (d={d}, κ) and b ({d},), got W "
                     f"{jnp.shape(W)} and b {jnp.shape(b)}")
  if jnp.ndim(lam) != 0:
    raise ValueError(f"lam must be a scalar, got shape {jnp.shape(lam)}")
  _checks.check_positive("lam (λ)", lam)
  for name, a in (("X", X), ("W", W), ("b", b)):
    _checks.check_finite(name, a)
  return jnp.asarray(X), jnp.asarray(W), jnp.asarray(b)


def _cov(W: jax.Array, lam: ArrayLike) -> jax.Array:
  return lam * jnp.eye(W.shape[0], dtype=W.dtype) + W @ W.T


def affine_cost(X: ArrayLike, W: ArrayLike, b: ArrayLike, lam: ArrayLike, *,
                diagonal_sigma_z: bool = False) -> jax.Array:
  """Lemma 1: the VAE cost with μz, Σz optimised out.

  Full Σz (eq. 5):      Σᵢ Ω⁽ⁱ⁾ + n·log|λI + WWᵀ|
  Diagonal Σz (eq. 7):  Σᵢ Ω⁽ⁱ⁾ + n·[Σⱼ log(λ + ‖w·ⱼ‖²) + (d − κ)·log λ]
  with Ω⁽ⁱ⁾ = (xᵢ − b)ᵀ(λI + WWᵀ)⁻¹(xᵢ − b) (eq. 6).

  Args:
    X: (n, d) data, samples as rows.
    W: (d, κ) decoder weights.
    b: (d,) decoder offset.
    lam: λ > 0, the decoder variance.
    diagonal_sigma_z: eq. 7 instead of eq. 5.

  Returns:
    A scalar.
  """
  X, W, b = _check(X, W, b, lam)
  n, d = X.shape
  kappa = W.shape[1]
  C = _cov(W, lam)
  R = X - b
  chol = jnp.linalg.cholesky(C)
  Y = jax.scipy.linalg.solve_triangular(chol, R.T, lower=True)
  omega = jnp.sum(Y**2)
  if diagonal_sigma_z:
    logdet = jnp.sum(jnp.log(lam + jnp.sum(W**2, axis=0))) + (d - kappa) * jnp.log(lam)
  else:
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
  return omega + n * logdet


def optimal_encoder(X: ArrayLike, W: ArrayLike, b: ArrayLike, lam: ArrayLike, *,
                    diagonal_sigma_z: bool = False) -> OptimalEncoder:
  """μz⁽ⁱ⁾ = Wᵀ(λI + WWᵀ)⁻¹(xᵢ − b) (eq. 25); Σz = (WᵀW/λ + I)⁻¹ (App. B), or with diagonal Σz
  its diagonal form [diag(WᵀW)/λ + 1]⁻¹ (eq. 27)."""
  X, W, b = _check(X, W, b, lam)
  kappa = W.shape[1]
  mu_z = jnp.linalg.solve(_cov(W, lam), (X - b).T).T @ W
  if diagonal_sigma_z:
    sigma_z = 1.0 / (jnp.sum(W**2, axis=0) / lam + 1.0)
  else:
    sigma_z = jnp.linalg.inv(W.T @ W / lam + jnp.eye(kappa, dtype=W.dtype))
  return OptimalEncoder(mu_z, sigma_z)


def affine_neg2_elbo(X: ArrayLike, W: ArrayLike, b: ArrayLike, lam: ArrayLike, mu_z: ArrayLike,
                     sigma_z: ArrayLike) -> jax.Array:
  """The analytic −2·ELBO of the affine decoder at any encoder (eq. 22), paper units.

  Σᵢ ‖xᵢ − Wμz⁽ⁱ⁾ − b‖²/λ + tr[Σz⁽ⁱ⁾WᵀW]/λ + d·log λ + tr Σz⁽ⁱ⁾ − log|Σz⁽ⁱ⁾| + ‖μz⁽ⁱ⁾‖².

  At the optimal encoder this equals eq. 5 (or 7) + n·κ: there tr Σz + tr[Σz WᵀW]/λ = κ, a
  constant that eq. 24 drops.

  Args:
    mu_z: (n, κ).
    sigma_z: (κ,) / (κ, κ) shared by all samples, or (n, κ) / (n, κ, κ) per sample.
  """
  X, W, b = _check(X, W, b, lam)
  n, d = X.shape
  kappa = W.shape[1]
  mu_z = jnp.asarray(mu_z)
  sigma_z = jnp.asarray(sigma_z)
  if mu_z.shape != (n, kappa):
    raise ValueError(f"mu_z must be (n={n}, κ={kappa}), got {mu_z.shape}")
  if sigma_z.shape in ((kappa,), (kappa, kappa)):
    sigma_z = jnp.broadcast_to(sigma_z, (n,) + sigma_z.shape)
  WtW = W.T @ W
  if sigma_z.shape == (n, kappa):
    tr_w = jnp.sum(sigma_z * jnp.diag(WtW), axis=1)
    tr_s = jnp.sum(sigma_z, axis=1)
    logdet = jnp.sum(jnp.log(sigma_z), axis=1)
  elif sigma_z.shape == (n, kappa, kappa):
    tr_w = jnp.einsum("ijk,kj->i", sigma_z, WtW)
    tr_s = jnp.trace(sigma_z, axis1=1, axis2=2)
    logdet = jnp.linalg.slogdet(sigma_z)[1]
  else:
    raise ValueError(f"sigma_z has shape {sigma_z.shape}; expected (κ,), (κ, κ), (n, κ) or "
                     "(n, κ, κ)")
  resid = jnp.sum((X - mu_z @ W.T - b) ** 2, axis=1)
  per = (resid + tr_w) / lam + d * jnp.log(lam) + tr_s - logdet + jnp.sum(mu_z**2, axis=1)
  return jnp.sum(per)
