"""Learning-curve outputs shared by the training experiments: per-cell convergence (the rule of
``curves.convergence``), each model's converged fraction, and ``learning_curves.png``."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from hidden_talents import curves, plotting, sweep


def convergence(res: sweep.SweepResult, names: Sequence[str],
                prefix: str = "") -> tuple[dict[str, np.ndarray], dict[str, float | None]]:
  """(arrays for results.npz, converged fraction per name) of a sweep's learning curves.

  ``names[j]`` is cell j's model name; a failed cell is not converged. Arrays:
  ``<prefix>curve_steps`` (evals,), ``<prefix>cell_curve_nmse`` (evals, cells),
  ``<prefix>cell_converged`` and ``<prefix>cell_rel_change`` (cells,).
  """
  conv, rel = curves.convergence(res.curve_steps, res.curves.nmse)
  conv = conv & ~np.asarray(res.failed, bool)
  names = np.asarray(names)
  frac = {str(n): float(np.mean(conv[names == n])) for n in dict.fromkeys(names.tolist())}
  arrays = {f"{prefix}curve_steps": np.asarray(res.curve_steps),
            f"{prefix}cell_curve_nmse": np.asarray(res.curves.nmse),
            f"{prefix}cell_converged": conv, f"{prefix}cell_rel_change": rel}
  return arrays, frac


def save_curves(workdir: str, entries: Sequence[tuple[str, str, np.ndarray, np.ndarray]],
                *, references: dict[str, float] | None = None, title: str,
                max_panels: int = 12) -> None:
  """``learning_curves.png``: ``entries`` are (panel, line label, steps, NMSE); one panel per
  distinct panel name (the first ``max_panels``), the corrupted input's NMSE as a reference."""
  panels: dict[str, list] = {}
  for panel, label, steps, values in entries:
    panels.setdefault(panel, []).append(plotting.CurveLine(label, steps, values))
  refs = references or {}
  plotting.learning_curves(
      [(p, lines, refs.get(p)) for p, lines in list(panels.items())[:max_panels]],
      path=os.path.join(workdir, "learning_curves.png"), suptitle=title)
