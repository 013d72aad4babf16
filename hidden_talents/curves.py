"""Learning curves: the convergence rule and the run directory's ``metrics.jsonl``.

Every ``eval_every`` chunks the sweep evaluates each cell on a fixed evaluation subset
(``train.CurveMetrics``) and appends one JSON object per (evaluation, cell) to
``<workdir>/metrics.jsonl``: ``tag`` (which sweep of the experiment), ``step``, ``cell`` (index in
the sweep), the cell's grid coordinates and the metrics. A resumed run first drops the lines its
checkpoint does not cover, so the file never holds a step twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hidden_talents import io

METRICS_FILE = "metrics.jsonl"
# Convergence rule: a cell has converged when its NMSE improved by less than CONVERGED_TOL
# (relative to its final value) over the last CONVERGED_WINDOW of its steps.
CONVERGED_WINDOW = 0.2
CONVERGED_TOL = 0.02


def convergence(steps: Sequence[int], values: np.ndarray, *, window: float = CONVERGED_WINDOW,
                tol: float = CONVERGED_TOL) -> tuple[np.ndarray, np.ndarray]:
  """The convergence rule, per cell.

  Args:
    steps: (evals,) increasing steps of the curve points.
    values: (evals, cells) NMSE (or any decreasing figure of merit) at those steps.
    window: fraction of the steps at the end of the run the rule looks at.
    tol: largest relative improvement that still counts as converged.

  Returns:
    (converged (cells,) bool, rel_change (cells,)): rel_change = (v(t₀) − v(T)) / v(T), with T the
    last step and t₀ the last evaluated step ≤ (1 − window)·T; positive = still improving. A cell
    without a point at or before t₀, or with a non-finite value, is not converged (rel_change NaN).
  """
  steps = np.asarray(steps, np.float64)
  values = np.asarray(values, np.float64)
  if values.ndim == 1:
    values = values[:, None]
  cells = values.shape[1]
  if steps.size < 2:
    return np.zeros(cells, bool), np.full(cells, np.nan)
  before = np.nonzero(steps <= (1.0 - window) * steps[-1])[0]
  if before.size == 0:
    return np.zeros(cells, bool), np.full(cells, np.nan)
  v0, v1 = values[before[-1]], values[-1]
  with np.errstate(invalid="ignore", divide="ignore"):
    rel = (v0 - v1) / np.maximum(np.abs(v1), 1e-12)
  rel = np.where(np.isfinite(rel), rel, np.nan)
  return np.where(np.isfinite(rel), rel < tol, False), rel


def _read(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


class MetricsLog:
  """Appends learning-curve points of one sweep (``tag``) to ``<workdir>/metrics.jsonl``."""

  def __init__(self, workdir: str, tag: str, labels: Sequence[Mapping[str, Any]] | None = None):
    self.path = os.path.join(workdir, METRICS_FILE)
    self.tag = tag
    self.labels = labels

  def truncate(self, cells: range, after_step: int) -> None:
    """Drops this tag's lines for ``cells`` with step > ``after_step`` (what a resumed run is
    about to write again)."""
    lines = _read(self.path)
    keep = [r for r in lines if not (r.get("tag") == self.tag and r.get("cell") in cells
                                     and r.get("step", 0) > after_step)]
    if len(keep) != len(lines):
      io.atomic_write_bytes(self.path, "".join(json.dumps(r) + "\n" for r in keep).encode())

  def append(self, step: int, cells: range, point: Mapping[str, np.ndarray]) -> None:
    """One line per cell of ``cells``; ``point`` maps metric names to (len(cells),) arrays."""
    rows = []
    for j, c in enumerate(cells):
      row = {"tag": self.tag, "step": int(step), "cell": int(c)}
      if self.labels is not None:
        row.update(io.to_jsonable(self.labels[c]))
      row.update({k: io.to_jsonable(np.asarray(v)[j].item()) for k, v in point.items()})
      rows.append(json.dumps(row))
    if not io.is_writer():
      return
    io.ensure_dir(os.path.dirname(self.path) or ".")
    with open(self.path, "a") as f:
      f.write("\n".join(rows) + "\n")
      f.flush()


def read_metrics(workdir: str, tag: str | None = None) -> list[dict]:
  """The learning-curve lines of ``workdir`` (of one tag if given), in file order."""
  return [r for r in _read(os.path.join(workdir, METRICS_FILE)) if tag is None or r["tag"] == tag]
