"""Throughput, hardware efficiency, memory and scaling of the phase-transition sweep.

  python bench/sweep_bench.py throughput   # vmapped sweep vs the same cells one at a time
  python bench/sweep_bench.py peak         # float32 matmul peak of this machine with JAX
  python bench/sweep_bench.py efficiency   # achieved matmul FLOP/s of the sweep / measured peak
  python bench/sweep_bench.py datagen      # cost of streaming the data (generator forward pass)
  python bench/sweep_bench.py memory       # peak host RSS as n grows 1e3 → 1e6, and paper widths
  python bench/sweep_bench.py scaling      # time per step as the number of cells grows 1 → 300
  python bench/sweep_bench.py devices      # the same grid on 1/2/4 forced host devices
  python bench/sweep_bench.py estimate     # FLOP-based estimate of the paper-scale Figure 1
  python bench/sweep_bench.py xlaflags     # XLA CPU flags and bf16 matmuls vs the default, paired
  python bench/sweep_bench.py evalcost     # evaluation / curve point vs one training chunk
  python bench/sweep_bench.py threefry     # the PRNG's CPU lowering: while loops vs straight line
  python bench/sweep_bench.py all

Every timing is the median of ``--repeats`` timed calls of one compiled chunk (``chunk_steps``
Adam steps under ``lax.scan``), after a warm-up call that compiles; ratios compare runs made in the
same process. "sample-steps/s" counts cells × steps × batch. Matmul FLOPs are counted analytically
(forward 2ab per a×b layer and sample, backward 4ab, the first layer 2ab: no input gradient; the
ground-truth generator's forward pass is counted separately as data FLOPs). The machine may be
shared: the load average is printed with every result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from hidden_talents import runtime, sweep, train  # noqa: E402
from hidden_talents.data import stream  # noqa: E402

# Layer widths (r1, r2): decoder D1(r1)-D2(r2), encoder E1(r2)-E2(r1), as in the sweep's configs.
SIZES = {"quick": (50, 100), "diagnostic": (100, 200), "paper": (1000, 2000)}


def _load() -> str:
  return "load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def settings_for(size: str, *, chunk_steps: int, num_samples: int = 2000,
                 batch_size: int = 100) -> train.Settings:
  r = SIZES[size]
  return train.Settings(data_dim=100, kappa_max=20, generator_widths=r, encoder_widths=r[::-1],
                        decoder_widths=r, latent_dim=50, num_samples=num_samples,
                        batch_size=batch_size, chunk_steps=chunk_steps)


def grid_cells(num: int, seed: int = 0) -> train.Cell:
  """``num`` cells cycling through the quick grid's models, κ and ν."""
  models = [("vae", 1.0), ("ae_l2", 0.1), ("ae_l1", 0.1)]
  infos = []
  for i in range(num):
    model, c2 = models[i % 3]
    infos.append(sweep.CellInfo(model=model, c2=c2, kappa=2 + 2 * ((i // 3) % 10),
                                nu=0.05 * (1 + (i // 30) % 10), seed=seed))
  return sweep.make_cells(infos)


def matmul_flops_per_step(s: train.Settings) -> tuple[float, float]:
  """(training matmul FLOPs, data-generation matmul FLOPs) of one step of ONE cell."""
  enc = [s.data_dim, *s.encoder_widths]
  enc_layers = list(zip(enc[:-1], enc[1:])) + [(enc[-1], s.latent_dim)] * 2  # μz and log σz² heads
  dec = [s.latent_dim, *s.decoder_widths, s.data_dim]
  dec_layers = list(zip(dec[:-1], dec[1:]))
  b, tau = s.batch_size, s.num_latent_samples
  train_flops = b * (4 * enc_layers[0][0] * enc_layers[0][1]
                     + 6 * sum(i * o for i, o in enc_layers[1:])
                     + tau * 6 * sum(i * o for i, o in dec_layers))
  gen = [s.kappa_max, *s.generator_widths, s.data_dim]
  data_flops = b * 2 * sum(i * o for i, o in zip(gen[:-1], gen[1:]))
  return float(train_flops), float(data_flops)


def _median_time(fn, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def time_vmapped(s: train.Settings, cells: train.Cell, repeats: int, data=None,
                 keep_output: bool = False) -> dict:
  """Seconds per chunk of the sweep's compiled program (jit ∘ vmap, sharded as in run_sweep);
  with ``keep_output`` also the first call's (state, metrics) as NumPy arrays."""
  fns = train.make_train(s)
  mesh = sweep._mesh()  # noqa: SLF001 — the sweep's own device layout
  n = sweep.num_cells(cells)
  if mesh is not None:
    from jax.sharding import NamedSharding, PartitionSpec
    sh = NamedSharding(mesh, PartitionSpec("cells"))
    pad = -(-n // mesh.devices.size) * mesh.devices.size
    cells = sweep.take(cells, np.concatenate([np.arange(n), np.full(pad - n, n - 1)]))
    cells = jax.device_put(cells, sh)
    kw = {"out_shardings": (sh, sh)}
  else:
    kw = {}
  state = jax.jit(jax.vmap(fns.init))(cells)
  chunk = jax.jit(jax.vmap(fns.run_chunk, in_axes=(0, 0, None)), **kw)
  t0 = time.perf_counter()
  out = jax.block_until_ready(chunk(state, cells, data))
  compile_s = time.perf_counter() - t0
  sec = _median_time(lambda: chunk(state, cells, data), repeats)
  row = {"seconds_per_chunk": sec, "first_call_seconds": compile_s}
  if keep_output:
    row["output"] = jax.tree.map(np.asarray, out)
  return row


def time_looped(s: train.Settings, cells: train.Cell, repeats: int) -> dict:
  """Seconds per chunk when the same cells run one at a time through a jitted single-cell
  trainer."""
  fns = train.make_train(s)
  n = sweep.num_cells(cells)
  one = [jax.tree.map(lambda a, i=i: jnp.asarray(a[i]), cells) for i in range(n)]
  init = jax.jit(fns.init)
  states = [init(c) for c in one]
  chunk = jax.jit(fns.run_chunk)
  t0 = time.perf_counter()
  jax.block_until_ready(chunk(states[0], one[0]))
  compile_s = time.perf_counter() - t0

  def all_cells():
    return [chunk(st, c)[0].step for st, c in zip(states, one)]

  return {"seconds_per_chunk": _median_time(all_cells, repeats), "first_call_seconds": compile_s}


def measure_peak(repeats: int, size: int = 2048) -> dict:
  """float32 matmul FLOP/s of JAX on this machine (a size × size matmul, median of repeats)."""
  k1, k2 = jax.random.split(jax.random.PRNGKey(0))
  a = jax.random.normal(k1, (size, size), jnp.float32)
  b = jax.random.normal(k2, (size, size), jnp.float32)
  f = jax.jit(lambda a, b: a @ b)
  jax.block_until_ready(f(a, b))
  sec = _median_time(lambda: f(a, b), repeats)
  return {"matmul_size": size, "seconds": sec, "flops_per_s": 2 * size**3 / sec}


def cmd_throughput(args) -> list[dict]:
  rows = []
  for size in args.sizes.split(","):
    steps = args.chunk_steps if size != "paper" else max(1, args.chunk_steps // 20)
    s = settings_for(size, chunk_steps=steps)
    cells = grid_cells(args.cells)
    v = time_vmapped(s, cells, args.repeats)
    lp = time_looped(s, cells, args.repeats)
    work = args.cells * steps * s.batch_size
    row = {"bench": "throughput", "size": size, "widths": SIZES[size], "cells": args.cells,
           "chunk_steps": steps, "vmapped_sample_steps_per_s": work / v["seconds_per_chunk"],
           "looped_sample_steps_per_s": work / lp["seconds_per_chunk"],
           "speedup_vmapped_over_looped": lp["seconds_per_chunk"] / v["seconds_per_chunk"],
           "vmapped_compile_s": v["first_call_seconds"],
           "looped_compile_s": lp["first_call_seconds"], "load": _load()}
    rows.append(_emit(row))
  return rows


def cmd_peak(args) -> list[dict]:
  return [_emit({"bench": "peak", **measure_peak(args.repeats), "load": _load()})]


def cmd_efficiency(args) -> list[dict]:
  rows = []
  for size in args.sizes.split(","):
    steps = args.chunk_steps if size != "paper" else max(1, args.chunk_steps // 20)
    s = settings_for(size, chunk_steps=steps)
    peak = measure_peak(args.repeats)
    v = time_vmapped(s, grid_cells(args.cells), args.repeats)
    peak_after = measure_peak(args.repeats)  # bracket the sweep: the machine is shared
    tf, df = matmul_flops_per_step(s)
    achieved = args.cells * steps * (tf + df) / v["seconds_per_chunk"]
    p = max(peak["flops_per_s"], peak_after["flops_per_s"])
    rows.append(_emit({
        "bench": "efficiency", "size": size, "cells": args.cells, "chunk_steps": steps,
        "train_matmul_flops_per_cell_step": tf, "data_matmul_flops_per_cell_step": df,
        "achieved_flops_per_s": achieved, "peak_flops_per_s": p,
        "fraction_of_peak": achieved / p, "load": _load()}))
  return rows


def cmd_datagen(args) -> list[dict]:
  """Streamed data (generator forward per batch) vs a fixed in-memory data set, same cells."""
  s = settings_for("quick", chunk_steps=args.chunk_steps)
  cells = grid_cells(args.cells)
  fns = train.make_train(s)
  gen = fns.sample_batch(jax.tree.map(lambda a: a[0], cells), jnp.arange(s.num_samples))[1]
  streamed = time_vmapped(s, cells, args.repeats)
  fixed = time_vmapped(s, cells, args.repeats, data=np.asarray(gen))
  return [_emit({"bench": "datagen", "cells": args.cells, "chunk_steps": args.chunk_steps,
                 "streamed_seconds_per_chunk": streamed["seconds_per_chunk"],
                 "fixed_data_seconds_per_chunk": fixed["seconds_per_chunk"],
                 "streaming_overhead": streamed["seconds_per_chunk"]
                 / fixed["seconds_per_chunk"] - 1, "load": _load()})]


def _child(argv: list[str], env_extra: dict | None = None) -> dict:
  env = dict(os.environ, **(env_extra or {}))
  out = subprocess.run([sys.executable, os.path.abspath(__file__), *argv], env=env, check=True,
                       capture_output=True, text=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def cmd_memchild(args) -> list[dict]:
  """(child) one small sweep with n samples per cell; prints peak RSS."""
  s = settings_for(args.size, chunk_steps=args.chunk_steps, num_samples=args.n)
  s = dataclasses.replace(s, eval_batch_size=min(10_000, args.n))
  rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  t = time.perf_counter()
  res = sweep.run_sweep(s, grid_cells(args.cells), num_steps=2 * args.chunk_steps, progress=False)
  row = {"bench": "memory", "size": args.size, "n": args.n, "cells": args.cells,
         "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
         "rss_after_imports_mib": rss0 / 1024, "seconds": time.perf_counter() - t,
         "nmse_finite": bool(np.all(np.isfinite(res.eval.nmse)))}
  print(json.dumps(row))
  return [row]


def cmd_memory(args) -> list[dict]:
  rows = []
  for size, n in [("quick", 10**3), ("quick", 10**4), ("quick", 10**5), ("quick", 10**6),
                  ("paper", 10**3), ("paper", 10**6)]:
    cells = args.cells if size == "quick" else 2
    rows.append(_emit({**_child(["_memchild", f"--n={n}", f"--size={size}", f"--cells={cells}",
                                 f"--chunk_steps={10 if size == 'paper' else 50}"]),
                       "load": _load()}))
  return rows


def cmd_scaling(args) -> list[dict]:
  rows = []
  s = settings_for("quick", chunk_steps=args.chunk_steps)
  base = None
  for n in [int(c) for c in args.cell_counts.split(",")]:
    v = time_vmapped(s, grid_cells(n), args.repeats)
    per_step = v["seconds_per_chunk"] / args.chunk_steps
    base = base or per_step / n
    rows.append(_emit({"bench": "scaling", "cells": n, "ms_per_step": 1e3 * per_step,
                       "ms_per_cell_step": 1e3 * per_step / n,
                       "cell_step_cost_vs_1_cell": per_step / n / base, "load": _load()}))
  return rows


def cmd_devchild(args) -> list[dict]:
  s = dataclasses.replace(settings_for(args.size, chunk_steps=args.chunk_steps),
                          precision=args.precision)
  cells = grid_cells(args.cells)
  data = None
  if args.table:  # the clean-data table run_sweep uses when it fits (the usual case)
    data, slot = stream.clean_table(s.data_spec, cells)
    cells = cells._replace(data_slot=slot)
  v = time_vmapped(s, cells, args.repeats, data=data)
  row = {"devices": jax.local_device_count(), "seconds_per_chunk": v["seconds_per_chunk"],
         "first_call_seconds": v["first_call_seconds"]}
  print(json.dumps(row))
  return [row]


def cmd_devices(args) -> list[dict]:
  rows, base = [], None
  for k in (1, 2, 4):
    r = _child(["_devchild", f"--cells={args.cells}", f"--chunk_steps={args.chunk_steps}",
                f"--repeats={args.repeats}"],
               {"XLA_FLAGS": f"--xla_force_host_platform_device_count={k}"})
    base = base or r["seconds_per_chunk"]
    rows.append(_emit({"bench": "devices", "devices": r["devices"], "cells": args.cells,
                       "seconds_per_chunk": r["seconds_per_chunk"],
                       "speedup_vs_1_device": base / r["seconds_per_chunk"], "load": _load()}))
  return rows


# What XLA's CPU backend of the installed jaxlib offers (flag names read from libjax_common.so of
# jaxlib 0.10.2), each tried against the default on the launch scripts' 2 host devices.
XLA_VARIANTS = {
    "thunk_runtime_off": "--xla_cpu_use_thunk_runtime=false",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
    "onednn": "--xla_cpu_use_onednn=true",
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "eigen_single_thread": "--xla_cpu_multi_thread_eigen=false",
    "concurrency_scheduler": "--xla_cpu_enable_concurrency_optimized_scheduler=true",
    "vector_width_512": "--xla_cpu_prefer_vector_width=512",
    "bf16_matmul": "",  # Settings.precision, not a flag
}


def cmd_xlaflags(args) -> list[dict]:
  """Each variant and the default alternate in child processes (default, variant, default, …);
  the ratio is taken pair by pair (seconds default / seconds variant: > 1 = the variant is
  faster) and its median reported."""
  rows = []
  base_flags = "--xla_force_host_platform_device_count=2"
  child = ["_devchild", f"--cells={args.cells}", f"--chunk_steps={args.chunk_steps}",
           f"--repeats={args.repeats}", f"--size={args.size}", "--table"]
  names = args.variants.split(",") if args.variants else list(XLA_VARIANTS)
  for name in names:
    flags = XLA_VARIANTS[name]
    ratios, base_s, var_s = [], [], []
    for _ in range(args.pairs):
      b = _child(child, {"XLA_FLAGS": base_flags})
      v = _child(child + (["--precision=bf16_matmul"] if name == "bf16_matmul" else []),
                 {"XLA_FLAGS": f"{base_flags} {flags}".strip()})
      base_s.append(b["seconds_per_chunk"])
      var_s.append(v["seconds_per_chunk"])
      ratios.append(b["seconds_per_chunk"] / v["seconds_per_chunk"])
    rows.append(_emit({"bench": "xlaflags", "variant": name, "flags": flags, "size": args.size,
                       "cells": args.cells, "chunk_steps": args.chunk_steps,
                       "default_s_per_chunk": statistics.median(base_s),
                       "variant_s_per_chunk": statistics.median(var_s),
                       "speedup_median": statistics.median(ratios),
                       "speedups": [round(r, 3) for r in ratios], "load": _load()}))
  return rows


def cmd_evalcost(args) -> list[dict]:
  """One full-data evaluation and one learning-curve point against one training chunk of the
  sweep's own compiled programs (``sweep.compile_sweep``, the cells on the mesh as in run_sweep)
  at the quick preset's sizes (n = 2000, eval batch 1000, curve subset 1000)."""
  s = settings_for(args.size, chunk_steps=args.chunk_steps)
  s = dataclasses.replace(s, eval_batch_size=1000, eval_subset=1000)
  cells = grid_cells(args.cells)
  data, slot = stream.clean_table(s.data_spec, cells)
  cells = cells._replace(data_slot=slot)
  compiled = sweep.compile_sweep(s)
  n = sweep.num_cells(cells)
  pad = -(-n // compiled.num_devices) * compiled.num_devices
  gcells = sweep._place_cells(compiled, sweep.take(cells, sweep._pad(np.arange(n), pad)))  # noqa: SLF001
  data = sweep._place_data(compiled, data)  # noqa: SLF001
  state = compiled.init(gcells)
  row = {"bench": "evalcost", "size": args.size, "cells": n, "chunk_steps": args.chunk_steps,
         "num_samples": s.num_samples}
  for name, fn in (("chunk", lambda: compiled.chunk(jax.tree.map(jnp.copy, state), gcells,
                                                    data)[1]),
                   ("evaluate", lambda: compiled.evaluate(state, gcells, data)),
                   ("curve_point", lambda: compiled.curve(state, gcells, data))):
    jax.block_until_ready(fn())
    row[f"{name}_seconds"] = _median_time(fn, args.repeats)
  row["evaluate_over_chunk"] = row["evaluate_seconds"] / row["chunk_seconds"]
  row["curve_over_chunk"] = row["curve_point_seconds"] / row["chunk_seconds"]
  return [_emit({**row, "load": _load()})]


def cmd_estimate(args) -> list[dict]:
  """Paper-scale Figure 1: 10 κ × 10 ν × (VAE + 2 AEs × 5 C2) cells, 2·10⁶ steps of batch 100."""
  s = settings_for("paper", chunk_steps=1)
  tf, df = matmul_flops_per_step(s)
  cells = 100 * (1 + 2 * 5)
  total = cells * 2_000_000 * (tf + df)
  rows = []
  for name, peak in [("H100 SXM, FP32 (67 TFLOP/s)", 67e12),
                     ("H100 SXM, TF32 tensor cores (495 TFLOP/s dense)", 495e12)]:
    for eff in (0.3, 0.6):
      rows.append(_emit({"bench": "estimate", "cells": cells, "flops_total": total,
                         "device": name, "efficiency": eff,
                         "hours": total / (peak * eff) / 3600}))
  return rows


def _emit(row: dict) -> dict:
  print(json.dumps(row), flush=True)
  return row


def cmd_optimizer(args) -> list[dict]:
  """Seconds per Adam step of the vmapped sweep: Adam over the parameter tree (the engine's) vs
  ``optax.flatten(adam)`` (one flat vector per cell, so the update is a few fused ops), and
  ``chunk_steps`` 50 / 100 / 250 / 500 with the engine's Adam; the variants alternate
  ``args.repeats`` times in one process and the medians are reported with their ratio."""
  import optax
  engine = train.make_optimizer

  def flat(s):
    return optax.flatten(engine(s))

  rows = []
  for size in args.sizes.split(","):
    if size == "paper":
      continue
    cells = grid_cells(args.cells)
    times = {"tree": [], "flat": [], **{f"chunk{c}": [] for c in (50, 100, 250, 500)}}
    for _ in range(args.repeats):
      for name, opt, chunk in [("tree", engine, args.chunk_steps), ("flat", flat, args.chunk_steps),
                               *[(f"chunk{c}", engine, c) for c in (50, 100, 250, 500)]]:
        train.make_optimizer = opt
        try:
          s = settings_for(size, chunk_steps=chunk)
          times[name].append(time_vmapped(s, cells, 3)["seconds_per_chunk"] / chunk)
        finally:
          train.make_optimizer = engine
    med = {k: statistics.median(v) for k, v in times.items()}
    rows.append(_emit({"bench": "optimizer", "size": size, "cells": args.cells,
                       "chunk_steps": args.chunk_steps,
                       "seconds_per_step": med, "flat_over_tree": med["flat"] / med["tree"],
                       "chunk500_over_chunk100": med["chunk500"] / med["chunk100"],
                       "load": _load()}))
  return rows


def cmd_threefry(args) -> list[dict]:
  """JAX's CPU lowering of threefry (a while loop per draw) against the straight-line one the
  package installs (``hidden_talents.cpu_threefry``): the sweep's chunk compiled with each, in
  alternating pairs in this process; seconds per chunk, first call (compile + one chunk), the
  ratio rolled / unrolled, and whether the two programs' outputs are bit-identical."""
  from hidden_talents import cpu_threefry
  rows = []
  for size in args.sizes.split(","):
    if size == "paper":
      continue
    s = settings_for(size, chunk_steps=args.chunk_steps)
    cells = grid_cells(args.cells)
    times = {"rolled": [], "unrolled": []}
    first = {"rolled": [], "unrolled": []}
    same = True
    for _ in range(args.pairs):
      outs = {}
      for name in ("rolled", "unrolled"):
        if name == "rolled":
          cpu_threefry.restore_rolled()
        try:
          r = time_vmapped(s, cells, args.repeats, keep_output=True)
        finally:
          cpu_threefry.unroll()
        times[name].append(r["seconds_per_chunk"])
        first[name].append(r["first_call_seconds"])
        outs[name] = r["output"]
      same &= all(np.array_equal(a, b, equal_nan=True) for a, b in
                  zip(jax.tree.leaves(outs["rolled"]), jax.tree.leaves(outs["unrolled"])))
    med = {k: statistics.median(v) for k, v in times.items()}
    rows.append(_emit({"bench": "threefry", "size": size, "cells": args.cells,
                       "chunk_steps": args.chunk_steps, "devices": jax.device_count(),
                       "seconds_per_chunk": med, "pairs": times, "first_call_seconds": first,
                       "rolled_over_unrolled": med["rolled"] / med["unrolled"],
                       "bit_identical": bool(same), "load": _load()}))
  return rows


COMMANDS = {"throughput": cmd_throughput, "peak": cmd_peak, "efficiency": cmd_efficiency,
            "datagen": cmd_datagen, "memory": cmd_memory, "scaling": cmd_scaling,
            "devices": cmd_devices, "estimate": cmd_estimate, "_memchild": cmd_memchild,
            "xlaflags": cmd_xlaflags, "evalcost": cmd_evalcost, "optimizer": cmd_optimizer,
            "threefry": cmd_threefry, "_devchild": cmd_devchild}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("command", choices=[*COMMANDS, "all"])
  p.add_argument("--sizes", default="quick,paper",
                 help="layer-width presets: quick,diagnostic,paper")
  p.add_argument("--cells", type=int, default=30, help="cells in the sweep")
  p.add_argument("--chunk_steps", type=int, default=100, help="Adam steps per compiled call")
  p.add_argument("--repeats", type=int, default=5, help="timed calls; the median is reported")
  p.add_argument("--cell_counts", default="1,3,10,30,100,300", help="for `scaling`")
  p.add_argument("--n", type=int, default=1000, help="(memory child) samples per cell")
  p.add_argument("--size", default="quick", help="(memory child) width preset")
  p.add_argument("--out", default="", help="also append the JSON rows to this file")
  p.add_argument("--precision", default="float32", help="(devices child) Settings.precision")
  p.add_argument("--table", action="store_true", help="(devices child) use the clean-data table")
  p.add_argument("--variants", default="", help="for `xlaflags`: comma-separated names")
  p.add_argument("--pairs", type=int, default=3,
                 help="for `xlaflags` and `threefry`: default/variant pairs")
  args = p.parse_args()
  runtime.setup()  # the CPU PRNG lowering the launch scripts and the sweep use
  for name, v in (("cells", args.cells), ("chunk_steps", args.chunk_steps),
                  ("repeats", args.repeats), ("n", args.n)):
    if v <= 0:
      p.error(f"--{name} must be positive, got {v}")
  names = ["peak", "throughput", "efficiency", "datagen", "scaling", "devices", "memory",
           "estimate"] if args.command == "all" else [args.command]
  print(f"# jax {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} CPUs, {_load()}",
        file=sys.stderr)
  rows = []
  for name in names:
    rows += COMMANDS[name](args)
  if args.out:
    with open(args.out, "a") as f:
      for r in rows:
        f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
  main()
