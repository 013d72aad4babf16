"""Cost of per-row refinement noise (``robust.refine.row_keys``) against one key per batch.

``decompose``'s latent refinement draws each row's reparameterisation noise from a key of its own
(so a row's result does not depend on the rows beside it). This times one compiled refinement of
a batch of rows (``Defaults.refine_steps`` Adam steps) with per-row keys against the same call with
one key for the batch, interleaved in one process; prints medians and their ratio.

  python bench/refine_keys.py --d=100 --rows=1000 --repeats=5
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import hidden_talents as ht
from hidden_talents.robust import engine, refine
from hidden_talents.robust.settings import DEFAULTS


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--d", type=int, default=100, help="columns")
  p.add_argument("--rows", type=int, default=1000, help="rows refined in one call")
  p.add_argument("--repeats", type=int, default=5)
  args = p.parse_args()
  X = np.random.default_rng(0).normal(size=(max(args.rows, 2 * args.d), args.d))
  model = ht.RobustVAE(steps=250, seed=0).fit(X)
  fns = engine.compiled(model.engine_settings_)
  Z = jnp.asarray(((X - model.center_) / model.scale_)[:args.rows], jnp.float32)
  w = jnp.ones_like(Z)
  base = jax.random.PRNGKey(0)
  keys = refine.row_keys(base, np.asarray(Z))
  steps = DEFAULTS.refine_steps
  calls = {"one key per batch": lambda: fns.refine(model.params_, Z, w, base, steps=steps),
           "a key per row": lambda: fns.refine(model.params_, Z, w, keys, steps=steps)}
  for f in calls.values():
    jax.block_until_ready(f())  # compile
  times = {k: [] for k in calls}
  for _ in range(args.repeats):
    for k, f in calls.items():
      t0 = time.perf_counter()
      jax.block_until_ready(f())
      times[k].append(time.perf_counter() - t0)
  med = {k: float(np.median(v)) for k, v in times.items()}
  for k, v in times.items():
    print(f"{k:18s} median {med[k]:.3f} s  (min {min(v):.3f}, max {max(v):.3f}; "
          f"{args.rows} rows × {steps} steps, d = {args.d})")
  print(f"per-row keys / one key: {med['a key per row'] / med['one key per batch']:.2f}×")


if __name__ == "__main__":
  main()
