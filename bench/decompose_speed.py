"""How fast does ``decompose`` train, against this machine's matmul peak (issues 16 and 17)?

For each bench family's shape (``decompose_bench.case`` at ``--n`` rows, ν = 0.3) it compiles
``decompose``'s own training chunk (``RobustVAE`` defaults: widths, latent dimension, batch, chunk
of 250 Adam steps), times ``--repeats`` chunks after a warm-up call, and brackets them with a
float32 2048² matmul (the peak, as in ``sweep_bench.py peak``). It prints, per family, ms per Adam
step, the matmul FLOP/s the step achieves (``sweep_bench.matmul_flops_per_step``: forward and
backward of every layer, no input gradient) as a fraction of the peak, and the bench's compute
floor: the seconds ``decompose_bench.py``'s two ν of that family need at the default steps if
every step ran at the measured speed (training only: no compile, RPCA or evaluation).

With ``--refine`` it also times the latent refinement of all n rows (``robust.engine.apply_vae``
at the default ``Defaults.refine_steps``, chunks of 1000 rows, after one compile of the chunk's
shape; parameters are the initial ones, which does not change the work) and prints it beside the
training time at the default steps: how the refinement's share grows with n.

  python bench/decompose_speed.py --families=relu_manifold,mnist_uniform --out=runs/speed.json
  python bench/decompose_speed.py --families=mnist_uniform --n=10000 --refine --repeats=3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decompose_bench  # noqa: E402
import sweep_bench  # noqa: E402

from hidden_talents.robust import engine, standardize  # noqa: E402
from hidden_talents.robust.estimators import RobustVAE  # noqa: E402
from hidden_talents.robust.settings import DEFAULTS  # noqa: E402


def time_refinement(s, params, Z, repeats: int) -> dict:
  """Median seconds of ``apply_vae`` with the default refinement on all rows Z (after a compile
  on one chunk of the same shape), and of the encoder-only reconstruction."""
  bsz = s.eval_batch_size
  engine.apply_vae(s, params, Z[:bsz], refine_steps=DEFAULTS.refine_steps)  # compile
  out = {}
  for name, steps in (("refine", DEFAULTS.refine_steps), ("encoder", 0)):
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      engine.apply_vae(s, params, Z, refine_steps=steps)
      times.append(time.perf_counter() - t0)
    out[f"{name}_s"] = statistics.median(times)
    out[f"{name}_times_s"] = times
  return out


def time_family(family: str, n: int, repeats: int, refine: bool = False) -> dict:
  """Median seconds per Adam step of ``decompose``'s compiled chunk on ``family``'s shape (and,
  with ``refine``, of the refinement of all n rows)."""
  X, _, _ = decompose_bench.case(family, n, 0.3, 0)
  model = RobustVAE()
  config = model._checked_params()
  Z, _, _ = standardize.robust_standardize(X)
  alpha = standardize.resolve_alpha(config["alpha"], Z)
  steps = engine.resolve_steps(config["steps"], n, config["batch_size"])
  s = model._engine_settings(n, X.shape[1], alpha, steps, config)  # noqa: SLF001 — the tool's own
  fns = engine.compiled(s)
  cell = engine.vae_cell(0, engine.resolve_kl_warmup(config["kl_warmup"], steps))
  state, data = fns.init(cell), jnp.asarray(Z, jnp.float32)
  t0 = time.perf_counter()
  state, _ = jax.block_until_ready(fns.run_chunk(state, cell, data))
  first = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    state, _ = jax.block_until_ready(fns.run_chunk(state, cell, data))
    times.append(time.perf_counter() - t0)
  sec_step = statistics.median(times) / s.chunk_steps
  flops, _ = sweep_bench.matmul_flops_per_step(s)
  extra = {}
  if refine:
    extra = time_refinement(s, state.params, Z, repeats)
    extra["training_at_default_steps_s"] = steps * sec_step
    extra["refine_over_training"] = extra["refine_s"] / (steps * sec_step)
  return {**extra, "family": family, "n": n, "d": int(X.shape[1]), "widths": list(s.decoder_widths),
          "latent_dim": s.latent_dim, "batch_size": s.batch_size, "default_steps": steps,
          "first_chunk_s": first, "ms_per_step": 1e3 * sec_step,
          "chunk_times_s": times, "matmul_flops_per_step": flops,
          "achieved_flops_per_s": flops / sec_step,
          "bench_training_floor_s": 2 * steps * sec_step}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--families", default=",".join(decompose_bench.FAMILIES),
                 help="comma-separated bench families")
  p.add_argument("--n", type=int, default=2000, help="rows per case (the bench's default)")
  p.add_argument("--repeats", type=int, default=5, help="timed chunks per family (median)")
  p.add_argument("--refine", action="store_true",
                 help="also time the latent refinement of all n rows against training")
  p.add_argument("--out", default="", help="JSON file for the rows")
  args = p.parse_args()
  if args.n < 20 or args.repeats < 1:
    p.error("need n ≥ 20 and repeats ≥ 1")
  rows = []
  for family in args.families.split(","):
    if family not in decompose_bench.FAMILIES:
      p.error(f"unknown family {family!r}; choose from {decompose_bench.FAMILIES}")
    before = sweep_bench.measure_peak(3)["flops_per_s"]
    row = time_family(family, args.n, args.repeats, args.refine)
    after = sweep_bench.measure_peak(3)["flops_per_s"]
    row["peak_flops_per_s"] = max(before, after)
    row["fraction_of_peak"] = row["achieved_flops_per_s"] / row["peak_flops_per_s"]
    row["load_average"] = os.getloadavg()[0]
    rows.append(row)
    print(f"{family:17s} d={row['d']:4d} widths={row['widths']} {row['ms_per_step']:.2f} ms/step "
          f"{row['achieved_flops_per_s'] / 1e9:.1f} GFLOP/s = {100 * row['fraction_of_peak']:.0f} %"
          f" of peak {row['peak_flops_per_s'] / 1e9:.0f}; two ν at {row['default_steps']} steps: "
          f"≥ {row['bench_training_floor_s']:.0f} s (load {row['load_average']:.2f})", flush=True)
    if args.refine:
      print(f"  n={args.n}: refinement ({DEFAULTS.refine_steps} steps) {row['refine_s']:.1f} s, "
            f"encoder only {row['encoder_s']:.2f} s; training at {row['default_steps']} steps "
            f"{row['training_at_default_steps_s']:.0f} s; refinement / training = "
            f"{100 * row['refine_over_training']:.0f} %", flush=True)
  total = sum(r["bench_training_floor_s"] for r in rows)
  print(f"training floor of these families' bench cases: {total:.0f} s ({total / 60:.1f} min)")
  if args.out:
    with open(args.out, "w") as fh:
      json.dump({"argv": sys.argv, "rows": rows, "training_floor_s": total}, fh, indent=1)


if __name__ == "__main__":
  main()
