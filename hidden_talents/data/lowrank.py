"""Linear low-rank + sparse matrices X = L + S (RPCA tests and the linear phase transition).

The classic PCP experiment [Candès, Li, Ma & Wright 2011, Sec. 4]: L = U V with Gaussian factors of
rank r, S supported on a random fraction ν of the entries with gross values. The paper's Sec. 5.1
builds the same picture for nonlinear manifolds ("with linear subspaces it is trivial to generate
appropriate synthetic data by simply creating two low-rank random matrices U and V, a sparse outlier
matrix S, and then computing X = L + S with L = UV").

Every sample is a pure function of a PRNG key, and the rank enters through a mask over
``max_rank`` factor columns, so a whole (rank × ν × seed) grid is one ``jax.vmap``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

OUTLIER_KINDS = ("sign", "gaussian")


class LowRankSparse(NamedTuple):
  """X = L + S. ``mask`` marks the corrupted entries (S ≠ 0 there with probability one)."""

  X: jax.Array
  L: jax.Array
  S: jax.Array
  mask: jax.Array


def lowrank_plus_sparse(
    key: jax.Array,
    rank: ArrayLike,
    corruption: ArrayLike,
    *,
    shape: tuple[int, int],
    max_rank: int | None = None,
    outliers: str = "sign",
    scale: float = 1.0,
    dtype: jnp.dtype | None = None,
) -> LowRankSparse:
  """Samples one rank-r + sparse matrix; vmappable over ``key``, ``rank`` and ``corruption``.

  L = U V / √r with U ∈ ℝ^{m×r}, V ∈ ℝ^{r×n} standard normal, so every entry of L has unit
  variance whatever r is. The rank is traced: U and V have ``max_rank`` columns/rows and those
  beyond ``rank`` are zeroed, so all ranks share one compiled program. Each entry is corrupted
  independently with probability ν (Bernoulli support, as in Candès et al.'s experiments).

  Args:
    key: PRNG key.
    rank: r, an integer in [0, max_rank] (r = 0 gives L = 0).
    corruption: ν ∈ [0, 1], the fraction of corrupted entries.
    shape: (m, n). In our convention samples are rows: (n_samples, d).
    max_rank: static upper bound on r; default min(m, n).
    outliers: ``"sign"``: S = ±``scale`` with random signs, added to L (Candès et al.);
      ``"gaussian"``: the entry of X is replaced by ``scale`` · N(0, 1), i.e. S = X − L there
      (the paper's Sec. 5.1 corruption).
    scale: outlier magnitude.
    dtype: floating dtype; default float32 (float64 under x64).

  Returns:
    :class:`LowRankSparse` (X, L, S, mask), each of shape (m, n).
  """
  m, n = shape
  if m < 1 or n < 1:
    raise ValueError(f"lowrank_plus_sparse: shape must be positive, got {shape}")
  if max_rank is None:
    max_rank = min(m, n)
  if not 1 <= max_rank <= min(m, n):
    raise ValueError(f"lowrank_plus_sparse: max_rank must be in [1, min(m, n)], got {max_rank}")
  if outliers not in OUTLIER_KINDS:
    raise ValueError(f"lowrank_plus_sparse: outliers must be one of {OUTLIER_KINDS}")
  if not scale > 0:
    raise ValueError(f"lowrank_plus_sparse: scale must be > 0, got {scale}")
  dtype = jnp.result_type(float) if dtype is None else dtype
  rank = jnp.asarray(rank)
  corruption = jnp.asarray(corruption, dtype)
  k_u, k_v, k_mask, k_val = jax.random.split(key, 4)
  keep = (jnp.arange(max_rank) < rank).astype(dtype)
  U = jax.random.normal(k_u, (m, max_rank), dtype) * keep
  V = jax.random.normal(k_v, (max_rank, n), dtype)
  L = (U @ V) / jnp.sqrt(jnp.maximum(rank, 1).astype(dtype))
  mask = jax.random.uniform(k_mask, (m, n), dtype) < corruption
  if outliers == "sign":
    values = scale * jax.random.rademacher(k_val, (m, n), dtype)
  else:
    values = scale * jax.random.normal(k_val, (m, n), dtype) - L
  S = jnp.where(mask, values, 0.0).astype(dtype)
  return LowRankSparse(L + S, L, S, mask)
