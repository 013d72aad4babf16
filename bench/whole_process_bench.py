"""Whole-process time of issue 17's 12-cell grid: `python -m launch.phase_transition` against the
plain PyTorch loop of ``bench/torch_loop.py``, and a cold against a warm compilation cache.

  python bench/whole_process_bench.py --repeats=3 --torch_python=/path/to/python-with-torch

Each repeat runs, in turn (so drifts of the machine's speed hit all alike):
  jax_cold  — the launch script with an empty persistent compilation cache (first run);
  jax_warm  — the same command again with the cache the cold run filled (a second run);
  torch     — bench/torch_loop.py (skipped without --torch_python).
Every run gets a fresh work directory, so nothing but compiled programs is reused. Prints a JSON
row per run (seconds, load average) and the medians with the ratios torch / jax_cold and
torch / jax_warm (how many times faster the project is) and jax_cold / jax_warm.

``--baseline_env=NAME=VALUE`` (repeatable) adds base_cold / base_warm: the same two launch runs
with those variables set (their own cache), in the same repeat, before the others on even
repeats and after them on odd ones, and prints base / jax for both: an A/B of a switch, e.g.
``--baseline_env=HT_THREEFRY=rolled`` (JAX's own CPU lowering of the PRNG).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The grid of bench/torch_loop.py: VAE, AE-ℓ2, AE-ℓ1 (C2 = 0.1) × κ {4, 12} × ν {0.1, 0.3},
# encoder 200/100, decoder 100/200, d = 100, n = 4000, 2000 steps of batch 100, no Figure 3/4,
# no ground-truth check, no RPCA (the launch script's learning curves stay on, as by default).
GRID = ["--config=launch/configs/phase_transition.py:quick",
        "--config.models=('vae','ae_l2','ae_l1')", "--config.kappas=(4,12)",
        "--config.nus=(0.1,0.3)", "--config.c2_values=(0.1,)", "--config.hidden_widths=(100,200)",
        "--config.num_samples=4000", "--config.num_steps=2000", "--config.fig4.enabled=False",
        "--config.gt_check.enabled=False", "--config.fig3_kappas=()"]


def timed(cmd: list[str], env: dict) -> float:
  t0 = time.time()
  subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
  return time.time() - t0


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--torch_python", default="", help="a Python with torch installed")
  p.add_argument("--extra", default="", help="extra launch flags, space-separated")
  p.add_argument("--baseline_env", action="append", default=[],
                 help="NAME=VALUE for base_cold/base_warm runs (an A/B); repeatable")
  args = p.parse_args()
  if args.repeats < 1:
    raise SystemExit("--repeats must be ≥ 1")
  if any("=" not in kv for kv in args.baseline_env):
    raise SystemExit("--baseline_env takes NAME=VALUE")
  base_env = dict(kv.split("=", 1) for kv in args.baseline_env)
  root = tempfile.mkdtemp(prefix="whole_process-")
  times: dict[str, list[float]] = {"jax_cold": [], "jax_warm": [], "torch": [],
                                   "base_cold": [], "base_warm": []}
  try:
    for r in range(args.repeats):
      variants = [("jax", {})] + ([("base", base_env)] if base_env else [])
      for prefix, extra_env in variants if r % 2 else variants[::-1]:
        env = dict(os.environ, HT_COMPILE_CACHE=os.path.join(root, f"cache_{prefix}{r}"),
                   **extra_env)
        for mode in (f"{prefix}_cold", f"{prefix}_warm"):
          cmd = [sys.executable, "-m", "launch.phase_transition", *GRID,
                 f"--workdir={os.path.join(root, f'{mode}{r}')}", *args.extra.split()]
          times[mode].append(timed(cmd, env))
          print(json.dumps({"repeat": r, "mode": mode, "seconds": round(times[mode][-1], 2),
                            "loadavg": os.getloadavg()[0]}), flush=True)
      if args.torch_python:
        times["torch"].append(timed([args.torch_python, "bench/torch_loop.py"], dict(os.environ)))
        print(json.dumps({"repeat": r, "mode": "torch", "seconds": round(times["torch"][-1], 2),
                          "loadavg": os.getloadavg()[0]}), flush=True)
  finally:
    shutil.rmtree(root, ignore_errors=True)
  med = {m: float(np.median(v)) for m, v in times.items() if v}
  row = {f"{m}_median_s": round(v, 2) for m, v in med.items()}
  row["cold_over_warm"] = round(med["jax_cold"] / med["jax_warm"], 3)
  if "torch" in med:
    row["torch_over_jax_cold"] = round(med["torch"] / med["jax_cold"], 3)
    row["torch_over_jax_warm"] = round(med["torch"] / med["jax_warm"], 3)
  if base_env:
    row["base_env"] = base_env
    row["base_over_jax_cold"] = round(med["base_cold"] / med["jax_cold"], 3)
    row["base_over_jax_warm"] = round(med["base_warm"] / med["jax_warm"], 3)
  print(json.dumps(row))


if __name__ == "__main__":
  main()
