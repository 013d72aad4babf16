"""summary.png: one sample with its flagged entries, the per-row scores, the singular values, and
a few rows of X, L and the mask side by side (heat maps, or √d × √d images)."""

from __future__ import annotations

import math

import numpy as np

from hidden_talents.robust.base import Decomposition


def image_side(d: int) -> int:
  """√d for a perfect square d (rows shown as √d × √d images).

  Raises:
    ValueError: d is not a perfect square.
  """
  side = math.isqrt(d)
  if side * side != d:
    raise ValueError(f"--images needs a square number of columns (d = side²), got d = {d}")
  return side


def _svals(M: np.ndarray) -> np.ndarray:
  M = M - M.mean(axis=0)
  top = np.abs(M).max()
  s = np.linalg.svd(M / top if top > 0 else M, compute_uv=False)  # scaled: no overflow
  return np.maximum(s / max(s[0], 1e-300), 1e-12)


def summary_figure(X: np.ndarray, result: Decomposition, *, images: bool = False,
                   num_rows: int | None = None):
  """Top: one sample with its flagged entries, per-sample scores, singular values. Below: a few
  rows (the most flagged; numbered from 1) of X, L and the mask side by side — as heat maps, or
  as √d × √d images with ``images=True``."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  n, d = X.shape
  side = image_side(d) if images else None
  k = min(n, num_rows or (4 if images else 12))
  rows = np.argsort(-result.sample_scores, kind="stable")[:k]
  fig = plt.figure(figsize=(15, 4 + (2.2 * k if images else 4)))
  gs = fig.add_gridspec(2, 1, height_ratios=[4, 2.2 * k if images else 4])
  top = gs[0].subgridspec(1, 3)
  ax = [fig.add_subplot(top[0, c]) for c in range(3)]
  i = int(rows[0])
  j = np.arange(d)
  ax[0].plot(j, X[i], ".-", lw=0.8, label="X (input)")
  ax[0].plot(j, result.L[i], "-", lw=1.2, label="L (clean part)")
  m = result.mask[i]
  ax[0].plot(j[m], X[i, m], "rx", label="flagged outliers")
  ax[0].set(title=f"row {i + 1} (most flagged)", xlabel="column")
  ax[0].legend(fontsize=8)
  ax[1].hist(result.sample_scores, bins=40)
  ax[1].set(title="per-row outlier score", xlabel="fraction of entries flagged", ylabel="rows")
  for M, name in ((X, "X"), (result.L, "L")):
    ax[2].semilogy(_svals(M), label=name)
  ax[2].set(title="singular values (centred, relative)", xlabel="index")
  ax[2].legend()
  lo, hi = np.percentile(result.L[rows], [1, 99]) if k else (0.0, 1.0)
  panels = (("X", X, dict(vmin=lo, vmax=hi, cmap="gray" if images else "viridis")),
            ("L", result.L, dict(vmin=lo, vmax=hi, cmap="gray" if images else "viridis")),
            ("mask", result.mask, dict(vmin=0, vmax=1, cmap="Reds")))
  if images:
    grid = gs[1].subgridspec(k, 3)
    for r, row in enumerate(rows):
      for c, (name, M, kw) in enumerate(panels):
        a = fig.add_subplot(grid[r, c])
        a.imshow(np.asarray(M[row], float).reshape(side, side), interpolation="nearest", **kw)
        a.set_xticks([])
        a.set_yticks([])
        a.set_title(f"{name}, row {row + 1}", fontsize=8)
  else:
    grid = gs[1].subgridspec(1, 3)
    for c, (name, M, kw) in enumerate(panels):
      a = fig.add_subplot(grid[0, c])
      a.imshow(np.asarray(M[rows], float), aspect="auto", interpolation="nearest", **kw)
      a.set_yticks(range(k))
      a.set_yticklabels([str(r + 1) for r in rows], fontsize=7)
      a.set(title=f"{name}: the {k} most flagged rows", xlabel="column", ylabel="row")
  fig.suptitle(f"decompose ({result.info['method']}): {100 * result.mask.mean():.2f} % of entries "
               "flagged")
  fig.tight_layout()
  return fig
