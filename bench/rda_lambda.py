"""The robust deep autoencoder's λ, set once: RDA on the synthetic bench families over a λ grid.

The rule (stated before the grid ran, applied once, never per data set): λ (the proximal
threshold in robust column SDs, ``hidden_talents.rda``) is the grid value with the smallest
geometric-mean NMSE (eq. 20) over the synthetic families of ``bench/decompose_bench.py``
(``relu_manifold``, ``swiss_roll``, ``torus``, ``linear``) × ν ∈ {0.1, 0.3}, n = 2000 rows, data
seed 0, every other setting at its default. MNIST and the validation families are left out, so
the bench's image cases are measured at a λ not chosen on them.

  python bench/rda_lambda.py --out=runs/rda_lambda.json      # prints one JSON row per fit

Prints one JSON object per (family, ν, λ) and a last one with the geometric means and the
chosen λ. ``--out`` keeps the rows (a rerun skips the fits it holds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import decompose_bench  # noqa: E402  (the bench's data families)

from hidden_talents import io, metrics  # noqa: E402
from hidden_talents.robust.autoencoder import RobustRDA  # noqa: E402

FAMILIES = ("relu_manifold", "swiss_roll", "torus", "linear")
NUS = (0.1, 0.3)
LAMS = (0.1, 0.25, 0.5, 1.0, 2.0)


def fit_one(family: str, nu: float, lam: float, n: int, seed: int) -> dict:
  X, L, mask = getattr(decompose_bench, family)(n, nu, seed)
  t0 = time.perf_counter()
  model = RobustRDA(lam=lam)
  res = model.fit_transform(X)
  scores = metrics.support_scores(res.mask, mask, xp=np)
  return {"family": family, "nu": nu, "lam": lam, "n": n, "seed": seed,
          "nmse": float(metrics.nmse(L, res.L)), "precision": float(scores.precision),
          "recall": float(scores.recall), "seconds": time.perf_counter() - t0,
          "outer_iterations": model.fit_info_["outer_iterations"],
          "criterion_stalled": model.fit_info_["criterion_stalled"],
          "sparse_fraction": res.info["settings"]["sparse_fraction"],
          "load": os.getloadavg()[0]}


def choose(rows: list[dict], lams=LAMS) -> dict:
  """The rule: the λ with the smallest geometric-mean NMSE over the cases it was fitted on."""
  gm = {}
  for lam in lams:
    v = [r["nmse"] for r in rows if r["lam"] == lam]
    gm[lam] = float(np.exp(np.mean(np.log(v)))) if v else float("nan")
  best = min((lam for lam in gm if np.isfinite(gm[lam])), key=gm.get)
  return {"geometric_mean_nmse": {f"{k:g}": v for k, v in gm.items()}, "chosen_lam": best}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--families", default=",".join(FAMILIES))
  p.add_argument("--nus", default=",".join(f"{v:g}" for v in NUS))
  p.add_argument("--lams", default=",".join(f"{v:g}" for v in LAMS))
  p.add_argument("--n", type=int, default=2000)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--out", default="", help="JSON file of the rows (resumed when it exists)")
  a = p.parse_args()
  lams = tuple(float(v) for v in a.lams.split(","))
  rows = io.read_json(a.out) if a.out and os.path.exists(a.out) else []
  done = {(r["family"], r["nu"], r["lam"]) for r in rows}
  for fam in a.families.split(","):
    for nu in (float(v) for v in a.nus.split(",")):
      for lam in lams:
        if (fam, nu, lam) in done:
          continue
        rows.append(fit_one(fam, nu, lam, a.n, a.seed))
        print(json.dumps(rows[-1]), flush=True)
        if a.out:
          io.atomic_write_json(a.out, rows)
  print(json.dumps(choose(rows, lams)))


if __name__ == "__main__":
  main()
