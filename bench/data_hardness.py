"""How far the Sec. 5.1 ground-truth L is from low rank, by generator width.

For generator widths from the quick preset's up to the paper's 1000/2000, and κ ∈ {4, 12, 20}:
the fraction of ‖L‖²_F outside L's top-k singular values (k = κ, 25, 50) for n samples of the
streamed manifold (seed 0, the sweep's data key), and optionally convex RPCA's NMSE at ν = 0.2 and
0.4 (best λ of {0.5, 1, 2}/√n, ``baselines.rpca_best_lam``) on its first ``--rpca_rows`` rows.

  python bench/data_hardness.py --rpca_rows=2000
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from hidden_talents import baselines, sweep
from hidden_talents.data import corrupt, manifold

WIDTHS = ((50, 100), (100, 200), (250, 500), (1000, 2000))


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--n", type=int, default=20000, help="samples of L for the spectrum")
  p.add_argument("--d", type=int, default=100, help="data dimension")
  p.add_argument("--kappas", default="4,12,20")
  p.add_argument("--rpca_rows", type=int, default=0, help="rows given to RPCA; 0 = no RPCA")
  args = p.parse_args()
  kappas = [int(k) for k in args.kappas.split(",")]
  rows = []
  for widths in WIDTHS:
    for k in kappas:
      t0 = time.time()
      data_key, corrupt_key, _, _ = sweep.cell_keys(0, k, 0.0)
      gen = manifold.init_generator(jnp.asarray(data_key), k, kappa_max=max(kappas),
                                    widths=widths, data_dim=args.d)
      # Called at once, in this iteration (B023); defaults would become jit arguments.
      _, L = jax.jit(lambda idx: manifold.sample_clean(gen, jnp.asarray(data_key), idx))(  # noqa: B023
          jnp.arange(args.n))
      s = np.linalg.svd(np.asarray(L, np.float64), compute_uv=False)
      e = np.cumsum(s**2) / np.sum(s**2)
      row = {"widths": list(widths), "kappa": k,
             **{f"outside_top_{j}": float(1 - e[j - 1]) for j in (k, 25, 50)}}
      if args.rpca_rows:
        Lr = L[: args.rpca_rows]
        for nu in (0.2, 0.4):
          ck = sweep.cell_keys(0, k, nu)[1]
          X, _ = corrupt.gaussian_outliers(jnp.asarray(ck), jnp.arange(args.rpca_rows), Lr, nu)
          b = baselines.rpca_best_lam(X[None], Lr[None], (0.5, 1.0, 2.0), tol=1e-6, max_iter=500,
                                      chunk_size=3)
          row[f"rpca_nmse_nu{nu}"] = float(b.best_nmse[0])
      row["seconds"] = round(time.time() - t0, 1)
      rows.append(row)
      print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
