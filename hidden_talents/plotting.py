"""Figures (matplotlib, Agg backend). No computation here: every function takes numbers and
returns/saves a figure."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hidden_talents import io  # noqa: E402


def heatmaps(
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    x_values: Sequence[float],
    y_values: Sequence[float],
    x_label: str,
    y_label: str,
    path: str,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "Blues",
    suptitle: str | None = None,
    cbar_label: str = "NMSE",
) -> None:
  """Side-by-side heat maps; ``panels`` is a list of (title, array[len(y), len(x)]).

  White is ``vmin`` and dark blue is ``vmax`` (Figure 1's convention); NaN cells are hatched grey.
  """
  n = len(panels)
  fig, axes = plt.subplots(1, n, figsize=(3.4 * n + 0.8, 3.4), squeeze=False)
  im = None
  for ax, (title, values) in zip(axes[0], panels):
    values = np.asarray(values, dtype=float)
    masked = np.ma.masked_invalid(values)
    cm = plt.get_cmap(cmap).copy()
    cm.set_bad("0.7")
    im = ax.imshow(masked, origin="lower", cmap=cm, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(x_values)))
    ax.set_xticklabels([f"{v:g}" for v in x_values], rotation=90, fontsize=7)
    ax.set_yticks(range(len(y_values)))
    ax.set_yticklabels([f"{v:g}" for v in y_values], fontsize=7)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
  if im is not None:
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.85, label=cbar_label)
  if suptitle:
    fig.suptitle(suptitle)
  io.atomic_savefig(fig, path, dpi=120, bbox_inches="tight")
  plt.close(fig)


def rpca_success_map(
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    x_values: Sequence[float],
    y_values: Sequence[float],
    x_label: str,
    y_label: str,
    path: str,
    suptitle: str | None = None,
) -> None:
  """Phase-transition success maps (Candès et al. 2011, Fig. 1 convention): white = every trial
  succeeded, black = every trial failed. ``panels`` is a list of (title, fraction[len(y), len(x)]).
  """
  n = len(panels)
  fig, axes = plt.subplots(1, n, figsize=(3.4 * n + 0.8, 3.4), squeeze=False)
  im = None
  for ax, (title, values) in zip(axes[0], panels):
    im = ax.imshow(np.asarray(values, dtype=float), origin="lower", cmap="gray", vmin=0.0,
                   vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(x_values)))
    ax.set_xticklabels([f"{v:g}" for v in x_values], rotation=90, fontsize=7)
    ax.set_yticks(range(len(y_values)))
    ax.set_yticklabels([f"{v:g}" for v in y_values], fontsize=7)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
  if im is not None:
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.85, label="success fraction")
  if suptitle:
    fig.suptitle(suptitle, y=1.06)
  io.atomic_savefig(fig, path, dpi=120, bbox_inches="tight")
  plt.close(fig)
