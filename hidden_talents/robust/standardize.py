"""Robust column standardisation, tie detection and the outlier mask.

Columns are centred on their median and scaled by 1.4826·MAD, so that sparse gross outliers set
neither, and so that α means the same thing for every column. The outlier test reads Theorem 4's
support result off the residuals: at the optimum the decoder variance of entry (i, j) is
Σx,ij = max(α, r²ᵢⱼ) (eq. 69), and an entry is flagged when it exceeds the inlier level,

    mask_ij = r²ᵢⱼ > max(α, (k·σⱼ)²)  ⇔  |rᵢⱼ| > max(√α, k·σⱼ),

with σⱼ = 1.4826·MAD of column j's residuals (a robust estimate of the inlier noise level) and
k = ``threshold``. The plain eq. 12 support (|r| > √α) flags every entry fitted slightly worse
than α; the per-column scale makes the test scale-aware.
"""

from __future__ import annotations

import numpy as np

from hidden_talents.robust.settings import defaults


def robust_standardize(X: np.ndarray,
                       missing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
  """(Z, center, scale) with Z = (X − center)/scale per column: median and 1.4826·MAD, falling
  back to the standard deviation where the MAD is 0 (and to 1 for a constant column), so that
  sparse gross outliers do not set the scale. ``missing`` entries (bool mask) are left out of
  the statistics (their Z is whatever X holds there)."""
  k = defaults().mad_to_sigma
  if missing is None:
    center = np.median(X, axis=0)
    scale = k * np.median(np.abs(X - center), axis=0)
    std = _column_std(X, np.std)
  else:
    Xo = np.where(missing, np.nan, X)
    center = np.nanmedian(Xo, axis=0)
    scale = k * np.nanmedian(np.abs(Xo - center), axis=0)
    std = _column_std(Xo, np.nanstd)
  scale = np.where(scale > 0, scale, np.where(std > 0, std, 1.0))
  return (X - center) / scale, center, scale


def _column_std(X: np.ndarray, std_fn=np.std) -> np.ndarray:
  """Per-column ``std_fn`` (``np.std`` or ``np.nanstd``) without overflow: the columns whose
  squares overflow float64 (|x| beyond ~1e154) are computed from X divided by their largest |x|."""
  with np.errstate(over="ignore", invalid="ignore"):
    std = std_fn(X, axis=0)
  big = ~np.isfinite(std)
  if big.any():
    m = np.nanmax(np.abs(X[:, big]), axis=0)
    std[big] = std_fn(X[:, big] / m, axis=0) * m
  return std


def constant_columns(X: np.ndarray, missing: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
  """(constant, value): which columns hold one value in every observed entry, and that value
  (exactly; NaN-free, 0 elsewhere). A constant column holds no outliers by definition."""
  if missing is None:
    constant = np.all(X == X[:1], axis=0)
    return constant, np.where(constant, X[0], 0.0)
  lo = np.where(missing, np.inf, X).min(axis=0)
  constant = lo == np.where(missing, -np.inf, X).max(axis=0)
  return constant, np.where(constant, lo, 0.0)


def tied_fraction(Z: np.ndarray) -> float:
  """Fraction of the entries of robustly standardised Z that sit exactly at their column's median
  (Z = 0 there; :func:`robust_standardize`)."""
  return float(np.mean(Z == 0.0))


def resolve_alpha(alpha: float | None, Z: np.ndarray) -> float:
  """α as given, else ``Defaults.tied_alpha`` for tie-heavy data (``tied_fraction(Z) ≥
  Defaults.tie_fraction``), else ``Defaults.alpha`` (see their reasons)."""
  if alpha is not None:
    return float(alpha)
  d = defaults()
  return d.tied_alpha if tied_fraction(Z) >= d.tie_fraction else d.alpha


def residual_scale(R: np.ndarray) -> np.ndarray:
  """σⱼ = 1.4826·MAD of each column of the residuals R; NaN entries (missing) are left out."""
  return defaults().mad_to_sigma * np.nanmedian(np.abs(R - np.nanmedian(R, axis=0)), axis=0)


def exceeds(R: np.ndarray, sigma: np.ndarray, *, alpha: float, threshold: float) -> np.ndarray:
  """The mask r²ᵢⱼ > max(α, (k σⱼ)²) of residuals R against per-column scales σ (module
  docstring; k = ``threshold``)."""
  return R**2 > np.maximum(alpha, (threshold * sigma) ** 2)


def outlier_mask(R: np.ndarray, *, alpha: float, threshold: float) -> tuple[np.ndarray, np.ndarray]:
  """Entries whose optimal decoder variance max(α, r²) (eq. 69) exceeds the inlier level.

  Args:
    R: (n, d) standardised residuals x − μx.
    alpha: the decoder variance floor α (standardised units).
    threshold: k, in robust standard deviations of each column's residuals.

  Returns:
    (mask, sigma): mask_ij = r²ᵢⱼ > max(α, (k σⱼ)²) and σⱼ = 1.4826·MAD(r·ⱼ): eq. 12's support
    test |r| > √α, with the robust per-column noise level added (module docstring).
  """
  sigma = residual_scale(R)
  return exceeds(R, sigma, alpha=alpha, threshold=threshold), sigma


def entry_scores(R: np.ndarray, sigma: np.ndarray, *, alpha: float,
                 threshold: float) -> np.ndarray:
  """eᵢⱼ = |rᵢⱼ| / max(σⱼ, √α/k): each residual in robust SDs of its column's residuals, σⱼ
  floored at √α/k so that the mask of :func:`exceeds` is eᵢⱼ > k (up to rounding at the
  boundary; k = ``threshold``) and an exactly fitted column (σⱼ = 0) gives no infinite score."""
  return np.abs(R) / np.maximum(sigma, np.sqrt(alpha) / threshold)


def row_scores(E: np.ndarray, observed: np.ndarray, *, cap: float) -> np.ndarray:
  """Each row's robust residual energy, (1/mᵢ) Σⱼ min(e²ᵢⱼ, cap²) over its mᵢ = ``observed``
  entries (missing entries hold e = 0): every entry adds its squared score in robust SDs, up to
  ``cap``, so that rows all of whose entries are a little off rank high, and one gross entry
  counts as much as one entry at ``cap`` SDs (not more: a row is not outlying because of one
  entry alone more than its count of such entries says)."""
  return np.minimum(E**2, cap**2).sum(axis=1) / observed
