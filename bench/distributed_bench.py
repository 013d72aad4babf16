"""Wall time of a small phase-transition grid: one process vs two processes (jax.distributed).

  python bench/distributed_bench.py --repeats=3

Each repeat runs the same grid three ways, in a fresh run directory each time, whole commands
(imports, compile, training, evaluation, writing):
  one_1dev  — one process, one CPU device;
  one_2dev  — one process, two forced CPU devices (what `python -m launch.<x>` uses on 2 cores);
  two_1dev  — two processes on this host (localhost coordinator, gloo collectives), one device
              each: the same two-device mesh as one_2dev, bit-identical results.
Prints one JSON row per (repeat, mode) and the medians with ratios against one_2dev (same run).
On one 2-core host, two processes cannot be faster: they share the cores and each redoes the
host-side work (RPCA baseline, plots) that only process 0 keeps. The point of the multi-process
path is more hosts, not this one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = ["--config=launch/configs/phase_transition.py:tiny",
        "--config.models=('vae','ae_l2','ae_l1','rpca')", "--config.kappas=(2,4,6,8)",
        "--config.nus=(0.1,0.3)", "--config.fig4.enabled=False", "--config.gt_check.enabled=False",
        "--config.fig3_kappas=()", "--config.refit_head=False", "--config.num_steps=2000",
        "--config.chunk_steps=100"]


def _env(devices: int) -> dict:
  return dict(os.environ, JAX_PLATFORMS="cpu",
              XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")


def _cmd(workdir: str, extra=()) -> list[str]:
  return [sys.executable, "-m", "launch.phase_transition", *GRID, f"--workdir={workdir}", *extra]


def _port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def run_mode(mode: str, workdir: str) -> float:
  t0 = time.time()
  if mode.startswith("one"):
    devices = 1 if mode == "one_1dev" else 2
    subprocess.run(_cmd(workdir), cwd=REPO, env=_env(devices), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  else:
    port = _port()
    procs = [subprocess.Popen(
        _cmd(workdir, [f"--coordinator_address=localhost:{port}", "--num_processes=2",
                       f"--process_id={pid}"]),
        cwd=REPO, env=_env(1), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for pid in (0, 1)]
    codes = [p.wait() for p in procs]
    if codes != [0, 0]:
      raise RuntimeError(f"two-process run failed: exit codes {codes}")
  return time.time() - t0


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--modes", default="one_1dev,one_2dev,two_1dev")
  args = p.parse_args()
  if args.repeats < 1:
    raise SystemExit("--repeats must be ≥ 1")
  modes = args.modes.split(",")
  times: dict[str, list[float]] = {m: [] for m in modes}
  root = tempfile.mkdtemp(prefix="distributed_bench-")
  try:
    for r in range(args.repeats):
      for m in modes:
        wd = os.path.join(root, f"{m}_{r}")
        sec = run_mode(m, wd)
        times[m].append(sec)
        print(json.dumps({"repeat": r, "mode": m, "seconds": round(sec, 2),
                          "loadavg": os.getloadavg()[0]}), flush=True)
  finally:
    shutil.rmtree(root, ignore_errors=True)
  base = float(np.median(times["one_2dev"])) if "one_2dev" in times else None
  for m in modes:
    med = float(np.median(times[m]))
    row = {"mode": m, "median_s": round(med, 2), "min_s": round(min(times[m]), 2),
           "max_s": round(max(times[m]), 2)}
    if base:
      row["vs_one_2dev"] = round(med / base, 3)
    print(json.dumps(row))


if __name__ == "__main__":
  main()
