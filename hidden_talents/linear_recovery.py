"""Recovering L and S from a partially affine VAE (Sec. 3, Theorem 4), and subspace metrics.

Theorem 4: with an affine decoder mean μx = W z + b and a free diagonal Σx, a global minimum has
span[Ŵ] = span[U] and supp_α(diag Σ̂x(μ̂z(xᵢ))) = supp[sᵢ] (eq. 12). With Eᵢ the identity columns
on that support, xᵢ = [Ŵ Eᵢ][Ŵ Eᵢ]† xᵢ (eq. 13), and the Ŵ part of that projection is lᵢ. Since
[Ŵ Eᵢ] spans every direction of the support, the Ŵ coefficients are the least-squares fit of xᵢ on
Ŵ restricted to the rows outside the support, which is what :func:`eq13_recover` computes.

Everything here is a pure function of ONE sample or ONE pair of matrices (vmap for batches).
Samples are rows; W is (d, κ). The column rule and the support precision/recall live in
``metrics`` (``nonzero_mask``, ``support_scores``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

RANK_RTOL = 1e-3  # a singular value below RANK_RTOL · σ_max counts as zero (numerical rank)


def eq13_recover(x: ArrayLike, W: ArrayLike, b: ArrayLike, inlier: ArrayLike, *,
                 rtol: float = 1e-5) -> tuple[jax.Array, jax.Array]:
  """L̂ᵢ of eq. 13 for ONE sample: the Ŵ part of projecting xᵢ − b onto span[Ŵ, Eᵢ].

  With Eᵢ the identity columns of the detected outlier entries (``~inlier``), the projection's Ŵ
  coefficients ẑ minimise ‖(xᵢ − b − Ŵẑ)_inliers‖² (the Eᵢ columns absorb the outlier rows
  exactly); ẑ is the minimum-norm solution (pseudo-inverse), so zero or redundant columns of Ŵ
  do no harm. Returns L̂ᵢ = Ŵẑ + b.

  Args:
    x: (d,) corrupted sample.
    W: (d, κ) decoder weights (zero the pruned columns first, see ``metrics.nonzero_mask``).
    b: (d,) decoder offset.
    inlier: (d,) bool, True outside the detected support supp_α(diag Σ̂x).
    rtol: relative cut-off of the pseudo-inverse's singular values.

  Returns:
    (L̂ᵢ (d,), ẑ (κ,)).
  """
  x, W, b = jnp.asarray(x), jnp.asarray(W), jnp.asarray(b)
  if x.ndim != 1 or W.ndim != 2 or W.shape[0] != x.shape[0] or jnp.shape(b) != x.shape \
      or jnp.shape(inlier) != x.shape:
    raise ValueError(f"eq13_recover: need x (d,), W (d, κ), b (d,), inlier (d,); got "
                     f"{x.shape}, {W.shape}, {jnp.shape(b)}, {jnp.shape(inlier)}")
  m = jnp.asarray(inlier, W.dtype)
  z = jnp.linalg.pinv(W * m[:, None], rtol=rtol) @ ((x - b) * m)
  return W @ z + b, z


def orthonormal_basis(A: ArrayLike, *, rtol: float = RANK_RTOL) -> tuple[jax.Array, jax.Array]:
  """(Q, rank): Q (d, k) has orthonormal columns spanning span(A) where ``keep`` and zero
  columns elsewhere (static shape for vmap); rank is the numerical rank (σ > rtol · σ_max)."""
  U, s, _ = jnp.linalg.svd(jnp.asarray(A), full_matrices=False)
  keep = (s > rtol * jnp.max(s)) & (s > 0)
  return U * keep[None, :].astype(U.dtype), jnp.sum(keep)


def subspace_sine(A: ArrayLike, B: ArrayLike, *, rtol: float = RANK_RTOL) -> jax.Array:
  """sin of the largest principal angle from span(A) into span(B): ‖(I − P_B) Q_A‖₂.

  0 iff span(A) ⊆ span(B); 1 whenever some direction of span(A) is orthogonal to span(B) (in
  particular when rank B < rank A). With equal ranks it is the usual largest principal angle.
  """
  QA, _ = orthonormal_basis(A, rtol=rtol)
  QB, _ = orthonormal_basis(B, rtol=rtol)
  R = QA - QB @ (QB.T @ QA)
  return jnp.clip(jnp.linalg.norm(R, ord=2), 0.0, 1.0)
