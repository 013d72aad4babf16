"""Theorem 6 (Sec. 4, App. G): an over-flexible decoder mean makes the VAE objective unbounded.

Trial solution of the proof: latent dimension κ = 1, encoder μz = aᵀx with a fixed ``a`` that gives
every sample its own code, σz² = λz, Σx = λx·I, and the piecewise-constant ("quantising") decoder
mean μx(z) = x⁽ʰ⁽ᶻ⁾⁾ with h(z) = argminᵢ |z − μz⁽ⁱ⁾| (eqs. 89–90). Its objective (eq. 88, paper
units)

  L = Σᵢ { E_ε[ ‖xᵢ − x⁽ʰ⁽μz⁽ⁱ⁾ + √λz ε⁾⁾‖² ] / λx + d·log λx + λz − log λz + (μz⁽ⁱ⁾)² }

is computed here EXACTLY: in one dimension the cells {z : h(z) = j} are intervals between the
midpoints of the sorted codes, so the expectation is Σⱼ P(z ∈ cell j)·‖xᵢ − xⱼ‖² with Gaussian
interval probabilities. At λx = λz = α the misquantisation probability decays like exp(−ρ²/2α),
faster than 1/α grows, so L = n·(d − 1)·log α + Σᵢ (μz⁽ⁱ⁾)² + n·α + o(1) → −∞ (eq. 97).

For contrast, an affine decoder μx = Wz + b (Lemma 1) has a bounded objective: its global minimum
is the probabilistic-PCA solution (``ppca_minimum``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr
from jax.typing import ArrayLike

from hidden_talents.objectives import _checks


def _check(X, a):
  _checks.check_ndim("X", X, 2)
  _checks.check_ndim("a", a, 1)
  _checks.check_finite("X", X)
  _checks.check_finite("a", a)
  if jnp.shape(a)[0] != jnp.shape(X)[1]:
    raise ValueError(f"a must have length d = {jnp.shape(X)[1]}, got {jnp.shape(a)[0]}")
  if jnp.shape(X)[0] < 2:
    raise ValueError(f"need at least 2 samples, got {jnp.shape(X)[0]}")


def quantizer_cells(mu_z: ArrayLike) -> tuple[jax.Array, jax.Array]:
  """(lower, upper) bounds of the cells {z : h(z) = j} of eq. 89, for codes in any order."""
  mu_z = jnp.asarray(mu_z)
  order = jnp.argsort(mu_z)
  s = mu_z[order]
  mid = 0.5 * (s[1:] + s[:-1])
  lo_sorted = jnp.concatenate([jnp.array([-jnp.inf], s.dtype), mid])
  hi_sorted = jnp.concatenate([mid, jnp.array([jnp.inf], s.dtype)])
  inv = jnp.argsort(order)
  return lo_sorted[inv], hi_sorted[inv]


def quantizing_decoder(X: ArrayLike, mu_z: ArrayLike):
  """μx(z) = x⁽ʰ⁽ᶻ⁾⁾ (eq. 90) as a function of a scalar (or (1,)) z."""
  X, mu_z = jnp.asarray(X), jnp.asarray(mu_z)
  return lambda z: X[jnp.argmin(jnp.abs(jnp.reshape(z, ()) - mu_z))]


def cell_probabilities(mu_z: ArrayLike, lam_z: ArrayLike) -> jax.Array:
  """P[i, j] = P(h(μz⁽ⁱ⁾ + √λz ε) = j), ε ~ N(0, 1); accurate in the far tails (no 1 − 1
  cancellation)."""
  mu_z = jnp.asarray(mu_z)
  lo, hi = quantizer_cells(mu_z)
  sd = jnp.sqrt(lam_z)
  a = (lo[None, :] - mu_z[:, None]) / sd  # standardised cell bounds for sample i, cell j
  b = (hi[None, :] - mu_z[:, None]) / sd
  right = ndtr(-a) - ndtr(-b)  # cells entirely above μz⁽ⁱ⁾: upper-tail difference
  left = ndtr(b) - ndtr(a)
  return jnp.where(a > 0, right, left)


def trial_objective(X: ArrayLike, a: ArrayLike, lam_x: ArrayLike, lam_z: ArrayLike) -> jax.Array:
  """Eq. 88 at the trial solution of Theorem 6 (quantising decoder, μz = aᵀx), exactly.

  Args:
    X: (n, d) distinct samples as rows.
    a: (d,) encoder vector; aᵀxᵢ must be distinct.
    lam_x: decoder variance λx > 0.
    lam_z: latent variance λz > 0.

  Returns:
    The scalar objective in the paper's units (eq. 88: no n·d·log 2π, no −n·κ).
  """
  _check(X, a)
  _checks.check_positive("lam_x", lam_x)
  _checks.check_positive("lam_z", lam_z)
  X, a = jnp.asarray(X), jnp.asarray(a)
  n, d = X.shape
  mu_z = X @ a
  P = cell_probabilities(mu_z, lam_z)
  sq = jnp.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
  rec = jnp.sum(P * sq) / lam_x
  return rec + n * (d * jnp.log(lam_x) + lam_z - jnp.log(lam_z)) + jnp.sum(mu_z**2)


def trial_asymptote(X: ArrayLike, a: ArrayLike, alpha: ArrayLike) -> jax.Array:
  """n·(d − 1)·log α + n·α + Σᵢ (aᵀxᵢ)²: eq. 97 without its vanishing misquantisation term."""
  X, a = jnp.asarray(X), jnp.asarray(a)
  n, d = X.shape
  return n * (d - 1) * jnp.log(alpha) + n * alpha + jnp.sum((X @ a) ** 2)


def ppca_minimum(X: ArrayLike, kappa: int = 1) -> tuple[float, float]:
  """Global minimum of the affine-decoder cost (Lemma 1, eq. 5) over W (d × κ), b, λ: probabilistic
  PCA (Tipping & Bishop). Returns (minimum in the paper's units, optimal λ).

  With S the sample covariance (1/n normalisation) and eigenvalues ℓ₁ ≥ … ≥ ℓ_d, the optimum is
  λ = mean(ℓ_{κ+1..d}) and the value n·[Σ_{j≤κ} log ℓⱼ + (d − κ)·log λ + d].
  """
  X = np.asarray(X, np.float64)
  n, d = X.shape
  if not 1 <= kappa < d:
    raise ValueError(f"kappa must be in [1, d) = [1, {d}), got {kappa}")
  S = np.cov(X, rowvar=False, bias=True)
  ell = np.sort(np.linalg.eigvalsh(S))[::-1]
  lam = float(np.mean(ell[kappa:]))
  return float(n * (np.sum(np.log(ell[:kappa])) + (d - kappa) * np.log(lam) + d)), lam


def affine_minimum_at(X: ArrayLike, lam: ArrayLike, kappa: int = 1) -> np.ndarray:
  """The affine-decoder cost (eq. 5) minimised over W and b with the decoder variance FIXED at λ:
  n·[Σ_{j≤κ} (log max(ℓⱼ, λ) + ℓⱼ/max(ℓⱼ, λ)) + Σ_{j>κ} (log λ + ℓⱼ/λ)] — it grows like 1/λ as
  λ → 0."""
  X = np.asarray(X, np.float64)
  n = X.shape[0]
  ell = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False, bias=True)))[::-1]
  lam = np.asarray(lam, np.float64)[..., None]
  top = np.maximum(ell[:kappa], lam)
  val = np.sum(np.log(top) + ell[:kappa] / top, axis=-1)
  val = val + np.sum(np.log(lam) + ell[kappa:] / lam, axis=-1)
  return n * val
