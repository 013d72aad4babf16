"""Figure 1's claim, decided cell by cell with a rule written down before the runs it judges.

The paper's claim (Sec. 5.1, Figure 1): with networks that contain the ground-truth generator, the
VAE recovers the clean manifold L from outlier-corrupted data far better than the autoencoders
AE-ℓ2 / AE-ℓ1 at their best C2, and it does so by switching off the latent dimensions it does not
need (Sec. 5.3: κ of the mean diag Σz near 0, the rest near 1).

The rule, per (κ, ν) cell and per VAE variant (the paper's protocol ``vae``, and ``vae_warmup``,
the same objective reached with a KL warm-up):

* ``best AE`` = the lowest final NMSE (eq. 20, all n rows) of AE-ℓ2 and AE-ℓ1 over their C2 grids;
  ``ratio`` = NMSE(VAE) / NMSE(best AE).
* UNDECIDED when the VAE's learning curve or the best AE's has not converged
  (``curves.convergence``: < 2 % NMSE improvement over the last 20 % of the steps) or either
  failed.
* REPRODUCED when ratio ≤ :data:`REPRODUCED_RATIO` (the VAE's error at most half the best AE's)
  and the VAE's active latent dimensions (mean σz² < 0.1) are within κ ± :data:`DIMS_TOLERANCE`.
* REFUTED when ratio ≥ :data:`REFUTED_RATIO`, i.e. the best AE is within 20 % of the VAE or better.
* VAE AHEAD otherwise: better than every AE by more than 20 % but not by 2×, or by 2× without
  finding κ.

The same thresholds judge every run; they are not tuned to any result.
"""

from __future__ import annotations

import math

REPRODUCED_RATIO = 0.5
REFUTED_RATIO = 1.0 / 1.2
DIMS_TOLERANCE = 2

REPRODUCED, AHEAD, REFUTED, UNDECIDED = "REPRODUCED", "VAE AHEAD", "REFUTED", "UNDECIDED"


def cell_verdict(*, kappa: int, vae_nmse: float, vae_converged: bool, vae_active_dims: int,
                 ae_nmse: float, ae_converged: bool) -> tuple[str, float]:
  """(verdict, ratio) of one (κ, ν) cell and one VAE variant under the module's rule.

  Args:
    kappa: the manifold dimension κ of the cell.
    vae_nmse: the VAE's final NMSE (NaN if it failed).
    vae_converged: whether its learning curve has converged.
    vae_active_dims: its latent dimensions with mean σz² < 0.1 (over all rows).
    ae_nmse: the best AE's final NMSE (AE-ℓ2 and AE-ℓ1 over their C2 grids).
    ae_converged: whether that AE's learning curve has converged.

  Returns:
    (one of REPRODUCED, VAE AHEAD, REFUTED, UNDECIDED; NMSE(VAE) / NMSE(best AE), NaN if
    undefined).
  """
  ok = math.isfinite(vae_nmse) and math.isfinite(ae_nmse) and ae_nmse > 0
  ratio = vae_nmse / ae_nmse if ok else float("nan")
  if not (ok and vae_converged and ae_converged):
    return UNDECIDED, ratio
  if ratio <= REPRODUCED_RATIO and abs(int(vae_active_dims) - int(kappa)) <= DIMS_TOLERANCE:
    return REPRODUCED, ratio
  if ratio >= REFUTED_RATIO:
    return REFUTED, ratio
  return AHEAD, ratio


def rule_text() -> str:
  """The rule in one line, for summary.json and reports."""
  return (f"per (κ, ν) and VAE variant, after both curves converged: REPRODUCED if NMSE(VAE) ≤ "
          f"{REPRODUCED_RATIO:g} × NMSE(best AE over AE-ℓ2/AE-ℓ1 and their C2) and active "
          f"latent dimensions (mean σz² < 0.1) within κ ± {DIMS_TOLERANCE}; REFUTED if NMSE(best "
          f"AE) ≤ 1.2 × NMSE(VAE); VAE AHEAD otherwise; UNDECIDED if a curve has not converged")


def _fmt(v, spec: str) -> str:
  return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def verdict_table(rows: list[dict]) -> str:
  """Markdown: every (κ, ν) row of a phase-transition summary (``summary["cells"]``) judged by
  the rule, with the numbers it reads (NMSE, active latent dimensions, the fraction of inlier
  entries fit within √α) and RPCA beside them; * marks a learning curve that had not converged."""
  vaes = [v for v in ("vae", "vae_warmup") if any(v in r for r in rows)]
  head = ["κ", "ν", "input"]
  for v in vaes:
    head += [f"{v}: NMSE (dims, inliers < √α)", f"{v} verdict (ratio)"]
  head += ["best AE: NMSE (model, C2, inliers < √α)", "RPCA"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in rows:
    aes = [(m, r[m]) for m in ("ae_l2", "ae_l1") if m in r and math.isfinite(r[m]["nmse"])]
    cells = [str(r["kappa"]), f"{r['nu']:g}", _fmt(r.get("input_nmse"), ".3f")]
    for v in vaes:
      e = r.get(v)
      if e is None:
        cells += ["", ""]
        continue
      star = "" if e["converged"] else "*"
      cells.append(f"{_fmt(e['nmse'], '.4f')}{star} ({e.get('active_dims', '—')}, "
                   f"{_fmt(e.get('inlier_exact_fraction'), '.2f')})")
      ratio = r.get("ratio_to_best_ae", {}).get(v)
      cells.append(f"{r.get('verdict', {}).get(v, '—')} ({_fmt(ratio, '.2f')})")
    if aes:
      m, e = min(aes, key=lambda me: me[1]["nmse"])
      star = "" if e["converged"] else "*"
      cells.append(f"{_fmt(e['nmse'], '.4f')}{star} ({m}, {e['c2']:g}, "
                   f"{_fmt(e.get('inlier_exact_fraction'), '.2f')})")
    else:
      cells.append("")
    cells.append(_fmt(r["rpca"]["nmse"], ".4f") if "rpca" in r else "")
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"
