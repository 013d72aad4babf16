"""The study report: NMSE vs training budget for every model of a finished
``phase_transition`` run, and the ordering of the models at each budget.

``report(results, summary)`` is pure (numbers in, markdown out): per (κ, ν) a table of NMSE at a
few steps of the learning curves (evaluation subset) and at the end (full n), with each cell's
convergence flag; per budget the median over (κ, ν) of every model at its best C2 and at
C2 = 10³; and the VAE-objective test of every solution.

  python -m launch.budget_report --workdir=runs/budget_mean
"""

from __future__ import annotations

import numpy as np

from hidden_talents.experiments import claim
from hidden_talents.experiments.phase_transition import AES, NET_MODELS, VAES


def _series(results: dict) -> list[tuple[str, float]]:
  model, c2 = results["cell_model"], results["cell_c2"]
  return sorted({(str(m), float(c)) for m, c in zip(model, c2)},
                key=lambda mc: (NET_MODELS.index(mc[0]), mc[1]))


def _name(m: str, c2: float) -> str:
  return m if m in VAES else f"{m} C2={c2:g}"


def budget_steps(steps: np.ndarray, count: int = 5) -> list[int]:
  """About ``count`` curve steps spread over decades (first, ~10×, ..., last)."""
  steps = np.asarray(steps)
  want = np.geomspace(steps[0], steps[-1], count)
  idx = sorted({int(np.argmin(np.abs(np.log(steps) - np.log(w)))) for w in want})
  return [int(steps[i]) for i in idx]


def medians_by_budget(results: dict, at: list[int]) -> dict[str, dict[int, float]]:
  """Median NMSE over the grid's (κ, ν) cells at each step of ``at``: VAEs, every AE at each C2
  and each AE at its best C2 per cell (chosen at that step)."""
  steps = list(np.asarray(results["curve_steps"]))
  curve = results["cell_curve_nmse"]
  model, c2 = results["cell_model"], results["cell_c2"]
  keys = sorted({(int(k), float(v)) for k, v in zip(results["cell_kappa"], results["cell_nu"])
                 if int(k) in results["kappas"] and float(v) in results["nus"]})
  out: dict[str, dict[int, float]] = {}
  for m, c in _series(results):
    sel = (model == m) & (c2 == c) & np.isin(results["cell_kappa"], results["kappas"]) & np.isin(
        results["cell_nu"], results["nus"])
    out[_name(m, c)] = {t: float(np.nanmedian(curve[steps.index(t), sel])) for t in at}
  for m in AES:
    if not np.any(model == m):
      continue
    best = {}
    for t in at:
      vals = []
      for k, v in keys:
        sel = (model == m) & (results["cell_kappa"] == k) & (results["cell_nu"] == v)
        vals.append(np.nanmin(curve[steps.index(t), sel]))
      best[t] = float(np.nanmedian(vals))
    out[f"{m} best C2"] = best
  return out


def trained_pairs(results: dict) -> list[tuple[int, float]]:
  """The (κ, ν) cells of the grid that were trained, in grid order (every pair of kappas × nus,
  or the run's ``cells``)."""
  have = {(int(k), float(v)) for k, v in zip(results["cell_kappa"], results["cell_nu"])}
  return [(int(k), float(v)) for k in results["kappas"] for v in results["nus"]
          if (int(k), float(v)) in have]


def report(results: dict, summary: dict) -> str:
  """Markdown: medians by budget, the per-cell table, convergence and the objective test."""
  steps = np.asarray(results["curve_steps"])
  at = budget_steps(steps)
  lines = ["## Median NMSE over (κ, ν) by training step (evaluation subset)", "",
           "| model | " + " | ".join(f"{t:,}" for t in at) + " | converged (end) |",
           "|---|" + "---|" * (len(at) + 1)]
  conv = summary.get("converged_fraction", {})
  for name, row in medians_by_budget(results, at).items():
    base = name.split(" ")[0]
    frac = conv.get(base) if " C2=" not in name and "best" not in name else None
    if " C2=" in name:
      m, c = name.split(" C2=")
      sel = (results["cell_model"] == m) & (results["cell_c2"] == float(c))
      frac = float(np.mean(results["cell_converged"][sel]))
    lines.append(f"| {name} | " + " | ".join(f"{row[t]:.4f}" for t in at)
                 + f" | {'—' if frac is None else f'{100 * frac:.0f} %'} |")
  lines += ["", "## Per (κ, ν), at the end (full n; * = not converged)", ""]
  series = _series(results)
  header = ["κ", "ν", "input"] + [_name(m, c) for m, c in series] + (
      ["RPCA"] if "rpca_nmse" in results else [])
  lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  pos = {(str(m), float(c), int(k), float(v)): j for j, (m, c, k, v) in enumerate(zip(
      results["cell_model"], results["cell_c2"], results["cell_kappa"], results["cell_nu"]))}
  kappas, nus = list(results["kappas"]), list(results["nus"])
  for k, v in trained_pairs(results):
    a, b = kappas.index(k), nus.index(v)
    row = [f"{int(k)}", f"{float(v):g}", f"{results['input_nmse'][a, b]:.3f}"]
    for m, c in series:
      j = pos.get((m, c, int(k), float(v)))
      if j is None:
        row.append("")
        continue
      star = "" if results["cell_converged"][j] else "*"
      row.append(f"{results['cell_nmse'][j]:.4f}{star}")
    if "rpca_nmse" in results:
      row.append(f"{results['rpca_nmse'][a, b]:.4f}")
    lines.append("| " + " | ".join(row) + " |")
  if "cell_vae_objective_refit" in results:
    lines += ["", "## VAE objective per sample (eq. 2, Σx optimised out; log σz² head refit) "
              "vs NMSE", "", "| κ | ν | " + " | ".join(_name(m, c) for m, c in series) + " |",
              "|---|---|" + "---|" * len(series)]
    for k, v in trained_pairs(results):
      row = [f"{int(k)}", f"{float(v):g}"]
      for m, c in series:
        j = pos.get((m, c, int(k), float(v)))
        obj = results["cell_vae_objective_refit"]
        row.append("" if j is None else f"{obj[j]:.1f} ({results['cell_nmse'][j]:.3f})")
      lines.append("| " + " | ".join(row) + " |")
    t = summary.get("vae_objective_test")
    if t:
      lines += ["", f"Lower VAE objective ⇔ lower NMSE (VAE vs each AE at its best C2): "
                f"{t['lower_objective_has_lower_nmse']} of {t['pairs']} pairs."]
  if summary.get("claim_rule"):
    lines += ["", "## Figure 1's claim per cell (the pre-registered rule)", "",
              f"Rule: {summary['claim_rule']}.", "", claim.verdict_table(summary["cells"]).rstrip()]
  return "\n".join(lines) + "\n"
