"""Metrics of the paper's experiments, each defined once.

* NMSE (eq. 20): :func:`nmse`.
* Nonzero columns of W₁ (Sec. 5.2's rule): :func:`nonzero_mask`, :func:`nonzero_columns` (a
  matrix, jnp) and :func:`nonzero_from_norms` (stacks of column norms, NumPy, host side).
* Precision / recall of a detected outlier support against supp(S): :func:`support_scores`.
* Diag Σz "near 0" / "near 1" (Secs. 5.3, 6): :func:`sigma_z_fractions` with the thresholds
  :data:`SIGMA_Z_NEAR_ZERO`, :data:`SIGMA_Z_SMALL` and :data:`SIGMA_Z_NEAR_ONE`.
* The exact-fit regime of Theorem 4 / Sec. 5.3 (inlier entries recovered to within √α, NMSE on
  inlier and outlier entries apart): :func:`regime_sums`, :func:`regime_metrics`.
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


def support_scores(detected: ArrayLike, true: ArrayLike, *, xp=jnp) -> SupportScores:
  """Precision and recall of a detected outlier support against supp(S) (any equal shapes).

  An empty detection has precision 1 (no false alarm) and an empty supp(S) recall 1 (nothing
  missed). ``xp=jnp`` (the default): pure jnp, jit/vmap-safe, float32; ``xp=np``: on the host in
  float64.
  """
  d = xp.asarray(detected, bool)
  t = xp.asarray(true, bool)
  hits = xp.sum(d & t)
  n_d, n_t = xp.sum(d), xp.sum(t)
  precision = xp.where(n_d > 0, hits / xp.maximum(n_d, 1), 1.0)
  recall = xp.where(n_t > 0, hits / xp.maximum(n_t, 1), 1.0)
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


class FitRegime(NamedTuple):
  """How a reconstruction L̂ of L splits over the inlier and outlier entries of X."""

  inlier_exact_fraction: jax.Array  # inlier entries with |L̂ − L| < √α, over all inlier entries
  nmse_inliers: jax.Array  # eq. 20 restricted to the inlier entries (mask False)
  nmse_outliers: jax.Array  # eq. 20 restricted to the outlier entries (mask True); NaN if none


REGIME_SUMS = 6  # length of the vector :func:`regime_sums` returns


def regime_sums(L: ArrayLike, L_hat: ArrayLike, outlier_mask: ArrayLike, *, alpha: float,
                weight: ArrayLike | None = None) -> jax.Array:
  """The sums behind :class:`FitRegime`, so that chunks of rows can be added up.

  Theorem 4 and Sec. 5.3 are about the regime where the decoder fits the inliers exactly: the
  optimised decoder variance (eq. 69) of an entry sits at its floor α once its residual is below
  √α. The fraction of inlier entries in that regime says whether the regime has switched on.

  Args:
    L: (..., d) clean rows.
    L_hat: (..., d) their reconstruction.
    outlier_mask: (..., d) bool, True where X holds an outlier instead of L.
    alpha: the decoder variance floor α; the exact-fit threshold is √α per entry.
    weight: optional (..., 1) or (..., d) weights (e.g. 0 for padded rows).

  Returns:
    (6,) float32: inlier squared error, inlier energy ‖L‖², outlier squared error, outlier energy,
    inlier entries within √α, inlier entries (every sum weighted by ``weight``).
  """
  L, L_hat = jnp.asarray(L), jnp.asarray(L_hat)
  out = jnp.asarray(outlier_mask, bool)
  w = jnp.ones_like(L) if weight is None else jnp.broadcast_to(jnp.asarray(weight, L.dtype),
                                                               L.shape)
  w_in, w_out = w * (~out), w * out
  err = (L - L_hat) ** 2
  exact = jnp.abs(L - L_hat) < math.sqrt(alpha)
  return jnp.stack([jnp.sum(w_in * err), jnp.sum(w_in * L**2), jnp.sum(w_out * err),
                    jnp.sum(w_out * L**2), jnp.sum(w_in * exact), jnp.sum(w_in)])


def regime_metrics(sums: ArrayLike) -> FitRegime:
  """:class:`FitRegime` from (a total of) :func:`regime_sums`; NaN where a set is empty."""
  s = jnp.asarray(sums)
  ratio = lambda a, b: jnp.where(b > 0, a / jnp.where(b > 0, b, 1.0), jnp.nan)
  return FitRegime(inlier_exact_fraction=ratio(s[..., 4], s[..., 5]),
                   nmse_inliers=ratio(s[..., 0], s[..., 1]),
                   nmse_outliers=ratio(s[..., 2], s[..., 3]))


def fit_regime(L: ArrayLike, L_hat: ArrayLike, outlier_mask: ArrayLike, *,
               alpha: float) -> FitRegime:
  """:class:`FitRegime` of a whole reconstruction (see :func:`regime_sums`)."""
  return regime_metrics(regime_sums(L, L_hat, outlier_mask, alpha=alpha))


def active_dims(sigma_z_mean: ArrayLike, *, near_zero: float = SIGMA_Z_NEAR_ZERO) -> np.ndarray:
  """Active latent dimensions: mean diag Σz below ``near_zero`` (Sec. 5.3, Figure 4's reading of
  the manifold dimension), per row of a (..., κ) stack; NumPy, host side."""
  return np.sum(np.asarray(sigma_z_mean, np.float64) < near_zero, axis=-1)


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
