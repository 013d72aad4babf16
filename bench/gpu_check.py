"""One command for the first accelerator: paper-width throughput, the memory model against the
device's measured peak, a 2-cell paper-width sweep end to end, and the paper-scale Figure 1 time.

  python bench/gpu_check.py            # on one GPU: the paper's widths, sized for < 8 minutes
  python bench/gpu_check.py --tiny     # tiny widths and steps (what a CPU runs, automatically)

Sections, each printed as JSON rows with a ``section`` key as soon as it is measured:

* ``device`` — backend, device kind and count, widths used (``size``: paper or tiny);
* ``e2e`` — ``python -m launch.phase_transition`` on 2 cells (VAE and AE-ℓ2 at κ = 4, ν = 0.1) of
  the ``paper`` preset (widths 1000/2000, n = 10⁶, its evaluation over all n) for ``--e2e_steps``
  steps, with an empty compilation cache: wall seconds from outside, the sweep's train_seconds
  and the run's own wall_seconds. It runs first, while this process holds no device memory
  (``XLA_PYTHON_CLIENT_PREALLOCATE=false`` here; the launch keeps JAX's default);
* ``throughput`` — per precision (float32, bf16_matmul) and cell count (1, 8, 64): the sweep's own
  compiled chunk (``sweep.compile_sweep``: jit ∘ vmap over cells, state donated) at the paper
  preset's settings, first call (compile + one chunk), median seconds per chunk of ``--repeats``
  chained calls, sample-steps/s (cells × steps × batch per second) and the training matmul
  TFLOP/s (``sweep_bench.matmul_flops_per_step``);
* ``memory`` — per cell count, float32: the memory model's prediction a + b·g
  (``hidden_talents.memory``: XLA's memory analysis of the chunk and evaluation programs for 1 and
  2 cells) against the device's ``peak_bytes_in_use`` after that group's chunks and evaluation
  (null where the backend reports no memory statistics, e.g. the CPU);
* ``evaluation`` — seconds of the sweep's evaluation program for the largest group over n rows,
  scaled to the paper's n = 10⁶ per cell;
* ``estimate`` — the paper-scale Figure 1 (``launch/configs/phase_transition.py:paper``: its
  cells, 2·10⁶ steps of batch 100): training hours at each precision's largest-group throughput,
  plus the evaluation, and the group size the memory model picks on this device. RPCA and
  Figure 4 are not in it. With ``--tiny`` the estimate is for the ``tiny`` preset instead;
* ``summary`` — the headline numbers and total_seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import sweep_bench  # noqa: E402

from hidden_talents import memory, sweep, train  # noqa: E402
from hidden_talents.experiments import phase_transition  # noqa: E402
from launch.configs import phase_transition as configs  # noqa: E402

PRECISIONS = ("float32", "bf16_matmul")
# The 2-cell end-to-end run: the preset's settings, a VAE and an AE-ℓ2 on one (κ, ν), nothing
# but the network sweep (no RPCA, Figure 3/4 or ground-truth check).
E2E_FLAGS = ["--config.kappas=(4,)", "--config.nus=(0.1,)", "--config.models=('vae','ae_l2')",
             "--config.c2_values=(0.1,)", "--config.fig4.enabled=False",
             "--config.gt_check.enabled=False", "--config.fig3_kappas=()"]


@dataclasses.dataclass(frozen=True)
class Plan:
  """What one invocation measures: ``preset`` is the launch config whose settings and Figure 1
  are used (paper, or tiny on a CPU)."""

  preset: str
  cells: tuple[int, ...]
  chunk_steps: int
  repeats: int
  e2e_steps: int
  e2e_chunk_steps: int
  eval_rows: int  # rows per cell of the timed evaluation (scaled to the preset's n)


def make_plan(tiny: bool, cells: tuple[int, ...], repeats: int) -> Plan:
  if tiny:
    return Plan("tiny", cells, chunk_steps=10, repeats=repeats, e2e_steps=20, e2e_chunk_steps=10,
                eval_rows=256)
  return Plan("paper", cells, chunk_steps=100, repeats=repeats, e2e_steps=1000,
              e2e_chunk_steps=500, eval_rows=2000)


def emit(row: dict) -> dict:
  print(json.dumps(row), flush=True)
  return row


def peak_bytes() -> int | None:
  """The first device's peak bytes in use so far (None where the backend reports none)."""
  stats = jax.local_devices()[0].memory_stats() or {}
  return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None


def settings(plan: Plan, precision: str) -> train.Settings:
  """The preset's engine settings with ``plan.chunk_steps`` per chunk and ``plan.eval_rows`` rows
  per cell (training batches are streamed, so n changes only the evaluation's length)."""
  s = phase_transition.settings_from_config(configs.get_config(plan.preset))
  return dataclasses.replace(s, chunk_steps=plan.chunk_steps, num_samples=plan.eval_rows,
                             eval_batch_size=min(s.eval_batch_size, plan.eval_rows),
                             eval_subset=min(s.eval_subset, plan.eval_rows), precision=precision)


def e2e(plan: Plan, timeout: float) -> dict:
  """The launch script on 2 cells of the preset, from an empty compilation cache."""
  with tempfile.TemporaryDirectory(prefix="gpu_check-") as root:
    workdir = os.path.join(root, "run")
    cmd = [sys.executable, "-m", "launch.phase_transition",
           f"--config=launch/configs/phase_transition.py:{plan.preset}", *E2E_FLAGS,
           f"--config.num_steps={plan.e2e_steps}", f"--config.chunk_steps={plan.e2e_chunk_steps}",
           f"--workdir={workdir}"]
    env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
    env["HT_COMPILE_CACHE"] = os.path.join(root, "cache")
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    row = {"section": "e2e", "preset": plan.preset, "cells": 2, "steps": plan.e2e_steps,
           "returncode": out.returncode, "wall_seconds": round(wall, 2)}
    if out.returncode != 0:
      return {**row, "stderr_tail": out.stderr[-2000:]}
    with open(os.path.join(workdir, "summary.json")) as f:
      summary = json.load(f)
    with np.load(os.path.join(workdir, "results.npz")) as r:
      row["train_seconds"] = round(float(r["train_seconds"]), 2)
      row["nmse"] = [round(float(v), 4) for v in r["cell_nmse"]]
    row["run_wall_seconds"] = round(float(summary["wall_seconds"]), 2)
    return row


def throughput(plan: Plan, precision: str, n_cells: int, memory_model=None) -> dict:
  """The sweep's chunk (and, with ``memory_model``, its evaluation and the measured peak) for
  ``n_cells`` cells at ``precision``."""
  s = settings(plan, precision)
  compiled = sweep.compile_sweep(s, sharded=False)
  cells = sweep_bench.grid_cells(n_cells)
  t0 = time.perf_counter()
  state, m = compiled.chunk(compiled.init(cells), cells, None)
  jax.block_until_ready((state, m))
  first = time.perf_counter() - t0
  times = []
  for _ in range(plan.repeats):
    t0 = time.perf_counter()
    state, m = compiled.chunk(state, cells, None)
    jax.block_until_ready((state, m))
    times.append(time.perf_counter() - t0)
  sec = statistics.median(times)
  flops = sweep_bench.matmul_flops_per_step(s)[0] * n_cells * plan.chunk_steps
  row = {"section": "throughput", "precision": precision, "cells": n_cells,
         "widths": list(s.decoder_widths), "chunk_steps": plan.chunk_steps,
         "first_call_seconds": round(first, 3), "seconds_per_chunk": round(sec, 5),
         "sample_steps_per_s": round(n_cells * plan.chunk_steps * s.batch_size / sec),
         "train_matmul_tflops": round(flops / sec / 1e12, 3),
         "finite": bool(np.all(np.isfinite(np.asarray(m.loss))))}
  if memory_model is not None:
    jax.block_until_ready(compiled.evaluate(state, cells, None))  # compile
    ev = []
    for _ in range(plan.repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(compiled.evaluate(state, cells, None))
      ev.append(time.perf_counter() - t0)
    row["evaluate_seconds"] = round(statistics.median(ev), 5)
    row["eval_rows_per_cell"] = s.num_samples
    row["memory"] = {"predicted_bytes": memory_model.bytes_for(n_cells),
                     "measured_peak_bytes": peak_bytes()}
  del state, m
  gc.collect()
  return row


def _sig(x: float) -> float:
  """``x`` to 4 significant digits."""
  return float(f"{x:.4g}")


def estimate(plan: Plan, rows: list[dict], model: memory.MemoryModel) -> list[dict]:
  """Figure 1 of the preset: training at each precision's largest-group throughput, plus the
  evaluation of every cell over all n (float32), in hours."""
  config = configs.get_config(plan.preset)
  s = phase_transition.settings_from_config(config)
  cells = len(phase_transition.grid_infos(config))
  steps = int(config.num_steps)
  biggest = max(plan.cells)
  ev = next(r for r in rows if r["precision"] == "float32" and r["cells"] == biggest)
  eval_s_per_cell = ev["evaluate_seconds"] / biggest * s.num_samples / ev["eval_rows_per_cell"]
  try:
    group = memory.fit_cells_per_group(s, cells, model=model)
  except ValueError:
    group = 0
  out = []
  for precision in PRECISIONS:
    r = next(r for r in rows if r["precision"] == precision and r["cells"] == biggest)
    train_h = cells * steps * s.batch_size / r["sample_steps_per_s"] / 3600
    eval_h = cells * eval_s_per_cell / 3600
    out.append(emit({"section": "estimate", "preset": plan.preset, "precision": precision,
                     "figure1_cells": cells, "steps": steps, "batch": s.batch_size,
                     "at_cells_per_group": biggest,
                     "memory_model_cells_per_group": group,
                     "train_hours": _sig(train_h), "evaluation_hours": _sig(eval_h),
                     "total_hours": _sig(train_h + eval_h)}))
  return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--tiny", action="store_true", help="tiny widths and steps (automatic on a CPU)")
  p.add_argument("--cells", default="1,8,64", help="cell counts of the throughput rows")
  p.add_argument("--repeats", type=int, default=3, help="timed chunks per row (median)")
  p.add_argument("--e2e_timeout", type=float, default=300.0, help="seconds for the 2-cell run")
  p.add_argument("--skip_e2e", action="store_true", help="no 2-cell launch run")
  args = p.parse_args(argv)
  try:
    args.cells = tuple(sorted({int(c) for c in args.cells.split(",")}))
  except ValueError:
    p.error(f"--cells takes comma-separated integers, got {args.cells!r}")
  if min(args.cells) < 1 or args.repeats < 1 or args.e2e_timeout <= 0:
    p.error("--cells, --repeats and --e2e_timeout must be positive")
  return args


def main(argv: list[str] | None = None) -> int:
  args = parse_args(argv)
  t_start = time.perf_counter()
  warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
  backend = jax.default_backend()
  plan = make_plan(args.tiny or backend == "cpu", args.cells, args.repeats)
  dev = jax.devices()[0]
  emit({"section": "device", "backend": backend, "device_kind": dev.device_kind,
        "devices": jax.device_count(), "size": "tiny" if plan.preset == "tiny" else "paper",
        "jax": jax.__version__})
  e2e_row = None if args.skip_e2e else emit(e2e(plan, args.e2e_timeout))
  model = memory.memory_model(settings(plan, "float32"))
  emit({"section": "memory_model", "intercept_bytes": model.intercept,
        "per_cell_bytes": model.per_cell, "state_per_cell_bytes": model.state_per_cell})
  rows = []
  for precision in PRECISIONS:
    for n in plan.cells:
      row = throughput(plan, precision, n, model if precision == "float32" else None)
      rows.append(emit(row))
      if "memory" in row:
        emit({"section": "memory", "cells": n, **row["memory"]})
  biggest = max(plan.cells)
  f32 = next(r for r in rows if r["precision"] == "float32" and r["cells"] == biggest)
  emit({"section": "evaluation", "cells": biggest, "rows_per_cell": f32["eval_rows_per_cell"],
        "seconds": f32["evaluate_seconds"]})
  est = estimate(plan, rows, model)
  emit({"section": "summary", "size": "tiny" if plan.preset == "tiny" else "paper",
        "sample_steps_per_s": {f"{r['precision']}@{r['cells']}": r["sample_steps_per_s"]
                               for r in rows},
        "e2e_wall_seconds": None if e2e_row is None else e2e_row["wall_seconds"],
        "figure1_total_hours": {r["precision"]: r["total_hours"] for r in est},
        "total_seconds": round(time.perf_counter() - t_start, 1)})
  return 0 if e2e_row is None or e2e_row["returncode"] == 0 else 1


if __name__ == "__main__":
  sys.exit(main())
