"""The convex baseline of every experiment: robust PCA (PCP, eq. 14) at its best λ per cell.

Each cell's X is solved once per λ factor f with λ = f · ``rpca.default_lam`` (1/√max(m, n),
Candès et al. 2011), all cells × factors in ONE batched call (``rpca.robust_pca_batched``); the
recovered L̂ is scored by NMSE (eq. 20, ``metrics.nmse``) against the clean L, and each cell keeps
the factor of least NMSE (``metrics.best_over``: a diverged λ never wins). Picking λ with the
ground truth is an oracle choice that favours PCP.

Inputs are arrays (X and L materialised by the caller's data source), so this module sits below
the training engine and never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from hidden_talents import metrics, rpca


class RPCABaseline(NamedTuple):
  """Result of :func:`rpca_best_lam` for B cells and F λ factors (NumPy, host side).

  Attributes:
    lam_factors: (F,) float32 factors f.
    lam: (F,) float32 λ = f · ``rpca.default_lam``.
    nmse_by_lam: (B, F) NMSE (eq. 20) of L̂ per cell and factor.
    best_nmse: (B,) least NMSE per cell (NaN where every λ diverged).
    best_index: (B,) index of that factor (−1 where every λ diverged).
    best_lam_factor: (B,) that factor (NaN where every λ diverged).
    iterations: (B, F) ALM iterations run.
    converged: (B, F) whether the ALM tolerance was reached.
    solution: the solver's ``rpca.RPCAResult`` with a leading axis B·F, cell-major (entry
      b·F + f is cell b at factor f), for callers that score L̂ or Ŝ further.
  """
  lam_factors: np.ndarray
  lam: np.ndarray
  nmse_by_lam: np.ndarray
  best_nmse: np.ndarray
  best_index: np.ndarray
  best_lam_factor: np.ndarray
  iterations: np.ndarray
  converged: np.ndarray
  solution: rpca.RPCAResult


def rpca_best_lam(
    X: ArrayLike,
    L: ArrayLike,
    lam_factors: Sequence[float],
    *,
    tol: float,
    max_iter: int,
    chunk_size: int,
    svt: str = "auto",
) -> RPCABaseline:
  """Convex RPCA on every cell's X at each λ factor; NMSE (eq. 20) per λ; best λ per cell.

  Args:
    X: (B, m, n) corrupted matrices, one per cell (samples as rows).
    L: (B, m, n) clean matrices, or one (m, n) matrix shared by every cell.
    lam_factors: F factors f; λ = f · 1/√max(m, n) (``rpca.default_lam``).
    tol, max_iter, svt: the ALM's stopping rule and SVT method (``rpca.robust_pca``).
    chunk_size: matrices per vmapped chunk of ``rpca.robust_pca_batched``.

  Returns:
    :class:`RPCABaseline`.
  """
  factors = np.asarray(lam_factors, np.float32)
  if factors.ndim != 1 or factors.size == 0:
    raise ValueError(f"rpca_best_lam: lam_factors must be a non-empty sequence, got {lam_factors}")
  X = jnp.asarray(X)
  L = jnp.asarray(L)
  if X.ndim != 3 or L.shape not in (X.shape, X.shape[1:]):
    raise ValueError(f"rpca_best_lam: need X (B, m, n) and L (B, m, n) or (m, n); got {X.shape} "
                     f"and {L.shape}")
  B, F = X.shape[0], len(factors)
  lam = factors * rpca.default_lam(X.shape)
  res = rpca.robust_pca_batched(jnp.repeat(X, F, axis=0), lam=jnp.tile(jnp.asarray(lam), B),
                                tol=tol, max_iter=max_iter, chunk_size=chunk_size, svt=svt)
  if L.ndim == 2:
    err = jax.jit(jax.vmap(lambda L_hat: metrics.nmse(L, L_hat)))(res.L)
  else:
    err = jax.jit(jax.vmap(metrics.nmse))(jnp.repeat(L, F, axis=0), res.L)
  nmse_by_lam = np.asarray(err).reshape(B, F)
  best, arg = metrics.best_over(nmse_by_lam.T)
  return RPCABaseline(
      lam_factors=factors, lam=lam, nmse_by_lam=nmse_by_lam, best_nmse=best, best_index=arg,
      best_lam_factor=np.where(arg >= 0, factors[np.maximum(arg, 0)], np.nan),
      iterations=np.asarray(res.iterations).reshape(B, F),
      converged=np.asarray(res.converged).reshape(B, F), solution=res)
