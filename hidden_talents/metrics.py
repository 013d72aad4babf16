"""Metrics of the paper's experiments, each defined once.

* NMSE (eq. 20): :func:`nmse`.
* Nonzero columns of W₁ (Sec. 5.2's rule): :func:`nonzero_mask`, :func:`nonzero_columns` (a
  matrix, jnp) and :func:`nonzero_from_norms` (stacks of column norms, NumPy, host side).
* Precision / recall of a detected outlier support against supp(S): :func:`support_scores`.
* Diag Σz "near 0" / "near 1" (Secs. 5.3, 6): :func:`sigma_z_fractions` with the thresholds
  :data:`SIGMA_Z_NEAR_ZERO`, :data:`SIGMA_Z_SMALL` and :data:`SIGMA_Z_NEAR_ONE`.
* Host-side reductions: :func:`best_over` (best of a grid, NaN-aware), :func:`masked_mean`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

COLUMN_THRESHOLD = 0.05  # Sec. 5.2: a column is zero if its norm < 0.05 · max column norm.

# Diag Σz thresholds. The paper gives no number: Sec. 5.3 / Figure 3 show two clusters on a log
# axis, one "around zero" (σ² ≲ 1e-3 once a latent dimension is in use) and one around one (the
# KL optimum, eq. 19, of an unused dimension); Sec. 6 reads the manifold dimension off the first.
# SIGMA_Z_NEAR_ZERO is the one "near 0" rule: one decade below the near-one band, so every entry
# of the lower cluster counts (the latent-pruning experiments' Σz estimate of the dimension,
# summary keys "..._below_0.1"). SIGMA_Z_SMALL is a separate, stricter quantity: the fraction of
# entries already two decades below one, reported by the phase-transition experiment as
# "vae_sigma_z_frac_below_1e-2" (Figure 3's lower mode, not the dimension estimate).
SIGMA_Z_NEAR_ZERO = 0.1
SIGMA_Z_SMALL = 1e-2
SIGMA_Z_NEAR_ONE = (0.5, 2.0)  # σ² in [0.5, 2]: the KL optimum Σz = I (eq. 19), within 2×


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


def _nonzero_rule(norms, threshold: float, xp):
  """Sec. 5.2: norm ≥ threshold · max norm (last axis), and > 0; ``xp`` is jnp or np."""
  top = xp.max(norms, axis=-1, keepdims=True)
  return (norms >= threshold * top) & (norms > 0)


def nonzero_mask(W: ArrayLike, *, threshold: float = COLUMN_THRESHOLD) -> jax.Array:
  """Boolean (κ,) mask of the columns of W that count as nonzero (Sec. 5.2's rule)."""
  return _nonzero_rule(column_norms(W), threshold, jnp)


def nonzero_columns(W: ArrayLike, *, threshold: float = COLUMN_THRESHOLD) -> jax.Array:
  """Number of columns of W whose norm is ≥ threshold · max_j ‖w·j‖₂ (Sec. 5.2).

  ``W`` maps the latent z to the first decoder layer (h₁ = W z + b, eq. 21), shape (d_out, κ).
  Returns 0 when every column is exactly zero.
  """
  return jnp.sum(nonzero_mask(W, threshold=threshold))


def nonzero_from_norms(norms: ArrayLike, *, threshold: float = COLUMN_THRESHOLD) -> np.ndarray:
  """Nonzero-column counts from column norms (last axis), Sec. 5.2's rule; NumPy, float64.

  :func:`nonzero_columns` for every row of a stack of norm vectors (e.g.
  ``EvalMetrics.w1_col_norms`` of many runs), on the host.

  Args:
    norms: (..., κ) column norms ‖w·j‖₂ of W₁.
    threshold: relative threshold (the paper's 0.05).

  Returns:
    (...,) int counts.
  """
  return np.sum(_nonzero_rule(np.asarray(norms, dtype=np.float64), threshold, np), axis=-1)


class SupportScores(NamedTuple):
  precision: jax.Array  # |detected ∩ true| / |detected| (1 when nothing is detected)
  recall: jax.Array  # |detected ∩ true| / |true| (1 when there is nothing to detect)


def support_scores(detected: ArrayLike, true: ArrayLike) -> SupportScores:
  """Precision and recall of a detected outlier support against supp(S) (any equal shapes).

  An empty detection has precision 1 (no false alarm) and an empty supp(S) recall 1 (nothing
  missed). Pure jnp: jit/vmap-safe.
  """
  d = jnp.asarray(detected, bool)
  t = jnp.asarray(true, bool)
  hits = jnp.sum(d & t)
  n_d, n_t = jnp.sum(d), jnp.sum(t)
  precision = jnp.where(n_d > 0, hits / jnp.maximum(n_d, 1), 1.0)
  recall = jnp.where(n_t > 0, hits / jnp.maximum(n_t, 1), 1.0)
  return SupportScores(precision, recall)


def sigma_z_fractions(hist: ArrayLike, hist_range: tuple[float, float], *,
                      near_zero: float = SIGMA_Z_NEAR_ZERO,
                      near_one: tuple[float, float] = SIGMA_Z_NEAR_ONE,
                      ) -> tuple[np.ndarray, np.ndarray]:
  """Fractions of diag Σz entries near 0 (σ² < ``near_zero``) and near 1 (σ² in ``near_one``).

  NumPy, host side (Secs. 5.3, 6; see :data:`SIGMA_Z_NEAR_ZERO` for the thresholds).

  Args:
    hist: (..., bins) counts of log10 diag Σz over all samples and latent dims
      (``EvalMetrics.sigma_z_hist``), bins evenly spread over ``hist_range``.
    hist_range: (low, high) of the histogram in log10 units.
    near_zero: σ² below which an entry is near 0.
    near_one: (low, high) σ² band of entries near 1 (inclusive).

  Returns:
    (near0, near1), each of shape (...,); a bin counts by its centre.
  """
  hist = np.asarray(hist, dtype=np.float64)
  edges = np.linspace(hist_range[0], hist_range[1], hist.shape[-1] + 1)
  centers = 0.5 * (edges[:-1] + edges[1:])
  total = np.maximum(np.sum(hist, axis=-1), 1.0)
  near0 = np.sum(hist[..., centers < math.log10(near_zero)], axis=-1) / total
  lo, hi = math.log10(near_one[0]), math.log10(near_one[1])
  near1 = np.sum(hist[..., (centers >= lo) & (centers <= hi)], axis=-1) / total
  return near0, near1


def best_over(grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Min over the leading axis (e.g. a model's C2 values, RPCA's λ), NaN-aware: a diverged run
  never wins. Also the argmin, −1 where every entry is NaN. NumPy, for host-side reporting."""
  grids = np.asarray(grids)
  all_nan = np.all(np.isnan(grids), axis=0)
  filled = np.where(np.isnan(grids), np.inf, grids)
  arg = np.argmin(filled, axis=0)
  best = np.where(all_nan, np.nan, np.min(filled, axis=0))
  return best, np.where(all_nan, -1, arg)


def masked_mean(values: ArrayLike, failed: ArrayLike, axis: int = -1) -> np.ndarray:
  """Mean over ``axis`` of the non-failed entries (NaN where all failed). NumPy, host side."""
  v = np.where(failed, np.nan, np.asarray(values, dtype=np.float64))
  with np.errstate(invalid="ignore"):
    cnt = np.sum(~np.isnan(v), axis=axis)
    return np.where(cnt > 0, np.nansum(v, axis=axis) / np.maximum(cnt, 1), np.nan)
