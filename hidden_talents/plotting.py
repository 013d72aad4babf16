"""Figures (matplotlib, Agg backend). No computation here: every function takes numbers and
returns/saves a figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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
    interpolation: str | None = None,
    suptitle_y: float | None = None,
) -> None:
  """Side-by-side heat maps; ``panels`` is a list of (title, array[len(y), len(x)]).

  White is ``vmin`` and dark blue is ``vmax`` (Figure 1's convention); NaN cells are hatched grey.
  """
  n = len(panels)
  fig, axes = plt.subplots(1, n, figsize=(3.4 * n + 0.8, 3.6), squeeze=False)
  fig.subplots_adjust(wspace=0.12, top=0.82)
  cm = plt.get_cmap(cmap).with_extremes(bad="0.7")
  im = None
  for j, (ax, (title, values)) in enumerate(zip(axes[0], panels)):
    im = ax.imshow(np.ma.masked_invalid(np.asarray(values, dtype=float)), origin="lower", cmap=cm,
                   vmin=vmin, vmax=vmax, aspect="auto", interpolation=interpolation)
    ax.set_xticks(range(len(x_values)))
    ax.set_xticklabels([f"{v:g}" for v in x_values], rotation=90, fontsize=7)
    ax.set_yticks(range(len(y_values)))
    ax.set_yticklabels([f"{v:g}" for v in y_values], fontsize=7)
    ax.set_xlabel(x_label)
    if j == 0:
      ax.set_ylabel(y_label)
    else:
      ax.tick_params(labelleft=False)  # panels share the y-axis: label only the first
    ax.set_title(title)
  if im is not None:
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.85, label=cbar_label)
  if suptitle:
    fig.suptitle(suptitle, **({} if suptitle_y is None else {"y": suptitle_y}))
  io.atomic_savefig(fig, path, dpi=120, bbox_inches="tight")
  plt.close(fig)


def sigma_histograms(
    hists: np.ndarray,
    *,
    edges: np.ndarray,
    kappas: Sequence[int],
    nus: Sequence[float],
    path: str,
) -> None:
  """Figure 3: log-scale histograms of diag Σz; ``hists[r, c]`` is the (bins,) count array for
  κ = kappas[r], ν = nus[c] (NaN rows are shown as 'not run')."""
  rows, cols = len(kappas), len(nus)
  fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.2 * rows), squeeze=False,
                           sharex=True)
  centers = 0.5 * (edges[:-1] + edges[1:])
  for r, kappa in enumerate(kappas):
    for c, nu in enumerate(nus):
      ax = axes[r, c]
      h = np.asarray(hists[r, c], dtype=float)
      if not np.all(np.isfinite(h)):
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
      else:
        ax.bar(centers, np.maximum(h, 0), width=np.diff(edges), color="tab:blue")
        ax.set_yscale("log")
      ax.set_title(f"κ={kappa}, ν={nu:g}", fontsize=8)
      if r == rows - 1:
        ax.set_xlabel("log10 diag Σz")
  fig.suptitle("Figure 3: encoder variances (VAE)")
  fig.tight_layout()
  io.atomic_savefig(fig, path, dpi=110)
  plt.close(fig)


def sorted_curves(
    curves: Sequence[tuple[str, np.ndarray]],
    *,
    path: str,
    xlabel: str,
    ylabel: str,
    title: str,
    logy: bool = False,
) -> None:
  """Sorted-value curves (Figure 2a column norms, Figure 4 mean Σz): one line per (label,
  values)."""
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for label, values in curves:
    v = np.sort(np.asarray(values, dtype=float))
    ax.plot(np.arange(1, len(v) + 1), v, marker=".", label=label)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  if logy:
    ax.set_yscale("log")
  ax.legend(fontsize=7)
  fig.tight_layout()
  io.atomic_savefig(fig, path, dpi=120)


def rpca_success_map(panels: Sequence[tuple[str, np.ndarray]], **kwargs) -> None:
  """Phase-transition success maps (Candès et al. 2011, Fig. 1 convention): white = every trial
  succeeded, black = every trial failed. ``panels`` is a list of (title, fraction[len(y), len(x)]);
  the keywords (axes, labels, ``path``, ``suptitle``) are those of ``heatmaps``.
  """
  heatmaps(panels, cmap="gray", vmin=0.0, vmax=1.0, cbar_label="success fraction",
           interpolation="nearest", suptitle_y=1.06, **kwargs)


class CurveLine(NamedTuple):
  """One line of a learning-curve panel: values (or a median) vs step, with an optional band."""

  label: str
  steps: np.ndarray
  values: np.ndarray
  band: tuple[np.ndarray, np.ndarray] | None = None  # (lower, upper), e.g. quartiles over cells


def learning_curves(
    panels: Sequence[tuple[str, Sequence[CurveLine], float | None]],
    *,
    path: str,
    ylabel: str = "NMSE",
    suptitle: str | None = None,
    cols: int = 3,
) -> None:
  """Learning curves on log–log axes: ``panels`` is a list of (title, lines, reference), the
  reference (e.g. the corrupted input's NMSE) a dashed horizontal line, or None."""
  n = max(len(panels), 1)
  cols = min(cols, n)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.1 * rows), squeeze=False)
  for ax in axes.flat[n:]:
    ax.set_visible(False)
  for ax, (title, lines, ref) in zip(axes.flat, panels):
    for line in lines:
      steps = np.asarray(line.steps, float)
      vals = np.asarray(line.values, float)
      ok = np.isfinite(vals) & (vals > 0) & (steps > 0)
      (h,) = ax.plot(steps[ok], vals[ok], marker=".", ms=3, lw=1.2, label=line.label)
      if line.band is not None:
        lo, hi = (np.asarray(b, float) for b in line.band)
        okb = ok & np.isfinite(lo) & np.isfinite(hi) & (lo > 0)
        ax.fill_between(steps[okb], lo[okb], hi[okb], color=h.get_color(), alpha=0.15, lw=0)
    if ref is not None and np.isfinite(ref) and ref > 0:
      ax.axhline(ref, color="k", ls="--", lw=0.8, label="corrupted input")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.2)
  handles, labels = [], []
  for ax in axes.flat[:n]:
    for h, lab in zip(*ax.get_legend_handles_labels()):
      if lab not in labels:
        handles.append(h)
        labels.append(lab)
  if handles:
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
  if suptitle:
    fig.suptitle(suptitle)
  fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(labels) // 5), 1, 0.97 if suptitle else 1))
  io.atomic_savefig(fig, path, dpi=110)
  plt.close(fig)
