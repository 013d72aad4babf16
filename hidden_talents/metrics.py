"""Metrics of the paper's experiments: NMSE (eq. 20), nonzero-column count (Sec. 5.2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

COLUMN_THRESHOLD = 0.05  # Sec. 5.2: a column is zero if its norm < 0.05 · max column norm.


def nmse(L: ArrayLike, L_hat: ArrayLike) -> jax.Array:
  """‖L − L̂‖²_F / ‖L‖²_F (eq. 20). Any shapes, as long as they match."""
  L = jnp.asarray(L)
  L_hat = jnp.asarray(L_hat)
  if L.shape != L_hat.shape:
    raise ValueError(f"nmse: shapes differ, {L.shape} vs {L_hat.shape}")
  return jnp.sum((L - L_hat) ** 2) / jnp.sum(L**2)


def column_norms(W: ArrayLike) -> jax.Array:
  """‖w·j‖₂ for every column j of W (shape (d, κ) → (κ,))."""
  return jnp.linalg.norm(jnp.asarray(W), axis=0)


def nonzero_columns(W: ArrayLike, *, threshold: float = COLUMN_THRESHOLD) -> jax.Array:
  """Number of columns of W whose norm is ≥ threshold · max_j ‖w·j‖₂ (Sec. 5.2).

  ``W`` maps the latent z to the first decoder layer (h₁ = W z + b, eq. 21), shape (d_out, κ).
  Returns 0 when every column is exactly zero.
  """
  norms = column_norms(W)
  return jnp.sum((norms >= threshold * jnp.max(norms)) & (norms > 0))


def best_over(grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Min over the leading axis (e.g. a model's C2 values, RPCA's λ), NaN-aware: a diverged run
  never wins. Also the argmin, −1 where every entry is NaN. NumPy, for host-side reporting."""
  grids = np.asarray(grids)
  all_nan = np.all(np.isnan(grids), axis=0)
  filled = np.where(np.isnan(grids), np.inf, grids)
  arg = np.argmin(filled, axis=0)
  best = np.where(all_nan, np.nan, np.min(filled, axis=0))
  return best, np.where(all_nan, -1, arg)
