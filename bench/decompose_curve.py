"""Learning curve of ``decompose``'s VAE on a bench case: NMSE against the clean data as it trains.

The diagnostics behind BENCHMARKS.md's learning curves of the step default:
every ``--every`` steps it prints the chunk's training loss, the NMSE (eq. 20) of the fitted rows
against the clean L and, with ``--holdout`` > 0, the VAE objective (β = 1) and the NMSE of rows
held out of the fit (a candidate early-stopping signal). ``--nu=0`` trains on the clean rows (the
capacity control: what the same network reaches without outliers). Settings are ``decompose``'s
defaults (``RobustVAE``) unless ``--vae`` overrides them; ``--steps`` defaults to
``resolve_steps`` for the fitted rows. L̂ is decoded from the encoder's μz, without
``decompose``'s latent refinement (which would cost 500 steps per curve point).

  python bench/decompose_curve.py --family=mnist_saltpepper --nu=0.1 --steps=20000 --holdout=0.1
  python bench/decompose_curve.py --family=mnist_uniform --nu=0 --steps=16000   # clean control
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decompose_bench  # noqa: E402  (the bench's data families)

from hidden_talents import metrics, train  # noqa: E402
from hidden_talents.robust import engine, standardize  # noqa: E402
from hidden_talents.robust.estimators import RobustVAE  # noqa: E402


def curve(X: np.ndarray, L: np.ndarray, *, steps: int | None, every: int, holdout: float,
          seed: int, vae: dict) -> list[dict]:
  """Trains ``decompose``'s VAE on the fitted rows of X and returns one record per ``every`` steps
  (whole chunks of ``Defaults.chunk_steps``): step, loss, nmse (fitted rows), and with a held-out
  split heldout_objective and heldout_nmse."""
  fit, held = decompose_bench.split_rows(X.shape[0], holdout, seed)
  model = RobustVAE(steps=steps, seed=seed, **vae)
  config = model._checked_params()
  Z, center, scale = standardize.robust_standardize(X[fit])
  alpha = standardize.resolve_alpha(config["alpha"], Z)
  steps = engine.resolve_steps(config["steps"], len(fit), config["batch_size"])
  settings = model._engine_settings(len(fit), X.shape[1], alpha, steps, config)
  fns = engine.compiled(settings)
  cell = engine.vae_cell(seed, engine.resolve_kl_warmup(config["kl_warmup"], steps))
  state, data = fns.init(cell), jnp.asarray(Z, jnp.float32)
  Zh = jnp.asarray((X[held] - center) / scale, jnp.float32)
  eps = jax.random.normal(jax.random.PRNGKey(seed + 1), (1, len(held), settings.latent_dim))
  objective = jax.jit(lambda p, x: fns.fns.loss(p, x, eps, train.VAE_COEFFICIENTS)[0])
  every = max(settings.chunk_steps, every // settings.chunk_steps * settings.chunk_steps)
  records, done = [], 0
  while done + settings.chunk_steps <= steps:
    state, m = fns.run_chunk(state, cell, data)
    done += settings.chunk_steps
    if done % every and done + settings.chunk_steps <= steps:
      continue
    rec = {"step": done, "loss": float(m.loss),
           "nmse": float(metrics.nmse(L[fit], engine.apply_vae(settings, state.params, Z) * scale
                                      + center))}
    if len(held):
      rec["heldout_objective"] = float(objective(state.params, Zh))
      rec["heldout_nmse"] = float(metrics.nmse(
          L[held], engine.apply_vae(settings, state.params, np.asarray(Zh, np.float64)) * scale
          + center))
    records.append(rec)
    print(json.dumps(rec), flush=True)
  return records


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--family", default="mnist_uniform", choices=decompose_bench.FAMILIES)
  p.add_argument("--nu", type=float, default=0.3, help="outlier ratio (0 = the clean control)")
  p.add_argument("--n", type=int, default=2000, help="rows of the case")
  p.add_argument("--steps", type=int, default=None,
                 help="Adam steps (whole chunks of 250); default decompose's resolve_steps")
  p.add_argument("--every", type=int, default=1000, help="steps between curve points")
  p.add_argument("--holdout", type=float, default=0.0, help="fraction of rows held out of the fit")
  p.add_argument("--seed", type=int, default=0, help="data, split and training seed")
  p.add_argument("--vae", default="{}", help="JSON keyword arguments for RobustVAE")
  p.add_argument("--out", default="", help="JSON file for the curve")
  args = p.parse_args()
  if not 0.0 <= args.nu < 1.0 or not 0.0 <= args.holdout < 0.5 or args.n < 20:
    p.error("need 0 ≤ nu < 1, 0 ≤ holdout < 0.5 and n ≥ 20")
  X, L, _ = decompose_bench.case(args.family, args.n, args.nu, args.seed)
  t0 = time.time()
  records = curve(X, L, steps=args.steps, every=args.every, holdout=args.holdout,
                  seed=args.seed, vae=json.loads(args.vae))
  print(f"{time.time() - t0:.0f} s, load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
  if args.out:
    with open(args.out, "w") as fh:
      json.dump({"argv": sys.argv, "records": records, "load_average": os.getloadavg()}, fh,
                indent=1)


if __name__ == "__main__":
  main()
