"""Where a sweep chunk's time goes, op by op: JAX's profiler on one compiled chunk.

  python bench/op_profile.py --cells=30 --chunk_steps=50 --sizes=quick
  HT_THREEFRY=rolled python bench/op_profile.py   # JAX's own CPU lowering of the PRNG

Compiles the sweep's training chunk (``train.make_train(...).run_chunk``, vmapped over ``cells``
of ``sweep_bench.grid_cells``, streamed data, on one device), runs it once to warm up, then traces
``--repeats`` calls with ``jax.profiler`` and sums the duration of every XLA op the CPU runtime
reports, grouped by kind (the op's name without its numeric suffix: ``dot`` = Eigen matmuls,
``ynn_fusion`` = matmuls handed to YNNPACK, ``while`` = XLA while loops, ``*_fusion`` =
elementwise loops). Prints ms per chunk and share of the summed op time per kind, the chunk's
wall time, and the matmul FLOP rate inside the matmul ops alone (the training FLOPs of
``sweep_bench.matmul_flops_per_step`` over the time of ``dot`` + ``ynn_fusion``). Ops may
overlap on the two cores, so the summed op time can exceed the wall time.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sweep_bench  # noqa: E402

from hidden_talents import cpu_threefry, runtime, train  # noqa: E402

MATMUL_KINDS = ("dot", "ynn_fusion")


def kind(op_name: str) -> str:
  """``ynn_fusion.33`` → ``ynn_fusion``; ``broadcast_add_fusion.20`` → ``broadcast_add_fusion``."""
  return re.sub(r"\.\d+$", "", op_name)


def op_times(trace_dir: str) -> collections.Counter:
  """Summed microseconds per XLA op name in the newest trace under ``trace_dir``."""
  path = sorted(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True))[-1]
  with gzip.open(path) as f:
    events = json.load(f)["traceEvents"]
  out: collections.Counter = collections.Counter()
  for e in events:
    name = e.get("name", "")
    if e.get("ph") == "X" and not name.startswith(("ThunkExecutor", "$")):
      out[name] += e["dur"]
  return out


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sizes", default="quick", choices=sorted(sweep_bench.SIZES))
  p.add_argument("--cells", type=int, default=30)
  p.add_argument("--chunk_steps", type=int, default=50)
  p.add_argument("--repeats", type=int, default=3, help="traced chunks (and untraced, for wall)")
  p.add_argument("--top", type=int, default=15, help="op kinds to print")
  args = p.parse_args()
  runtime.setup()  # the CPU PRNG lowering the launch scripts and the sweep use
  s = sweep_bench.settings_for(args.sizes, chunk_steps=args.chunk_steps)
  cells = sweep_bench.grid_cells(args.cells)
  fns = train.make_train(s)
  state = jax.jit(jax.vmap(fns.init))(cells)
  chunk = jax.jit(jax.vmap(fns.run_chunk, in_axes=(0, 0, None)))
  t0 = time.perf_counter()
  jax.block_until_ready(chunk(state, cells, None))
  first = time.perf_counter() - t0
  wall = sweep_bench._median_time(lambda: chunk(state, cells, None), args.repeats)  # noqa: SLF001
  with tempfile.TemporaryDirectory() as d:
    jax.profiler.start_trace(d)
    for _ in range(args.repeats):
      jax.block_until_ready(chunk(state, cells, None))
    jax.profiler.stop_trace()
    ops = op_times(d)
  kinds: collections.Counter = collections.Counter()
  for name, us in ops.items():
    kinds[kind(name)] += us
  per_chunk = {k: v / 1e3 / args.repeats for k, v in kinds.items()}  # ms
  total = sum(per_chunk.values())
  matmul_ms = sum(per_chunk.get(k, 0.0) for k in MATMUL_KINDS)
  flops = sweep_bench.matmul_flops_per_step(s)[0] * args.cells * args.chunk_steps
  print(json.dumps({
      "sizes": args.sizes, "cells": args.cells, "chunk_steps": args.chunk_steps,
      "threefry": "straight-line" if cpu_threefry.unroll() else "JAX's rolled loops",
      "first_call_s": round(first, 2), "wall_s_per_chunk": round(wall, 4),
      "op_ms_per_chunk": round(total, 1), "matmul_op_ms": round(matmul_ms, 1),
      "matmul_share": round(matmul_ms / total, 3),
      "gflops_inside_matmul_ops": round(flops / matmul_ms / 1e6, 1),
      "gflops_wall": round(flops / wall / 1e9, 1),
      "load": sweep_bench._load()}))  # noqa: SLF001
  for k, v in sorted(per_chunk.items(), key=lambda kv: -kv[1])[:args.top]:
    print(f"{v:9.1f} ms/chunk {100 * v / total:5.1f} %  {k}")


if __name__ == "__main__":
  main()
