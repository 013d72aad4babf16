"""Whole-process time of a grid: the launch script against the PyTorch peers, medians.

  python bench/whole_process_bench.py --repeats=5 --torch_python=/path/to/python-with-torch
  python bench/whole_process_bench.py --grid=grid604 --modes=jax,torch_ens,torch_ens_compile \\
      --repeats=5 --torch_python=/path/to/python-with-torch
  python bench/whole_process_bench.py --once=jax_cold       # one run, for an outside timer
  python bench/whole_process_bench.py --once=jax_warm --cache_dir=/tmp/warm_cache

`python -m launch.phase_transition` with a cold and a warm compilation cache, against
``bench/torch_loop.py`` and ``bench/torch_ensemble.py`` (eager and under torch.compile).

Grids (``--grid``):
  grid12 — VAE, AE-ℓ2, AE-ℓ1 (C2 = 0.1) × κ {4, 12} × ν {0.1, 0.3}: encoder 200/100, decoder
           100/200, d = 100, n = 4000, 2000 Adam steps of batch 100; no Figure 3/4, no
           ground-truth check, no RPCA (the launch script's learning curves stay on, as by default);
  grid604 — 604 network cells on the paper's 10 × 10 (κ, ν) grid (VAE, KL warm-up VAE, AE-ℓ2
           and AE-ℓ1 at C2 ∈ {0.1, 10³}, and Figure 3's four ν = 0 VAE cells): widths 50/100,
           n = 2000, 2000 steps of batch 100; no RPCA, Figure 4 or ground-truth check (the
           PyTorch scripts train and evaluate networks only). "Train 600 small models at once."
Both grids are pinned on the ``paper_protocol`` preset (constant learning rate, chunks of 250
steps) with the training overridden to 1e-3 and the log σz² head at −4, so they do not move when
the ``quick`` preset (the main job) changes.
The PyTorch scripts run the same grid (their ``--preset``).

Modes (``--modes``, comma-separated; each repeat runs every one):
  jax               — jax_cold: the launch script with an empty persistent compilation cache;
                      jax_warm: the same command again with the cache the cold run filled;
  base              — base_cold / base_warm: the same two launch runs with ``--baseline_env``
                      variables set (their own cache): an A/B of a switch, e.g.
                      ``--baseline_env=HT_THREEFRY=rolled``;
  torch_loop        — bench/torch_loop.py (one model and optimiser per cell);
  torch_ens         — bench/torch_ensemble.py (one vmapped torch.func model, eager);
  torch_ens_compile — torch_ens_compile_cold / _warm: the same with --compile, with an empty and
                      then the filled Inductor cache (``TORCHINDUCTOR_CACHE_DIR``).
The torch modes need ``--torch_python``. The order of the modes is reversed on odd repeats (a
cold run always precedes its warm run), so drifts of the machine's speed hit all alike. Every run
gets a fresh work directory, so nothing but compiled programs is reused.

``--once=RUN`` runs one of those runs alone (fresh work directory; a cold run a fresh cache, a
warm run ``--cache_dir``, which the first of several such runs fills) and prints its row: a
whole command for an outside timer that alternates commands itself.

Prints a JSON row per run (seconds, 1-minute load average; for the launch runs the sweep's own
train_seconds from results.npz, for the torch runs their printed train_seconds and
sample_steps_per_s), then the medians and the ratios other / jax_cold and other / jax_warm (how
many times faster the project is) and jax_cold / jax_warm.
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
CONFIG = "--config=launch/configs/phase_transition.py:paper_protocol"
PINNED = [CONFIG, "--config.learning_rate=0.001", "--config.logvar_bias_init=-4.0",
          "--config.fig4.enabled=False", "--config.gt_check.enabled=False"]
GRIDS = {
    "grid12": [*PINNED, "--config.models=('vae','ae_l2','ae_l1')", "--config.kappas=(4,12)",
               "--config.nus=(0.1,0.3)", "--config.c2_values=(0.1,)",
               "--config.hidden_widths=(100,200)", "--config.num_samples=4000",
               "--config.num_steps=2000", "--config.fig3_kappas=()"],
    "grid604": [*PINNED, "--config.models=('vae','vae_warmup','ae_l2','ae_l1')",
                "--config.c2_values=(0.1,1000.0)", "--config.kl_warmup_steps=1000"],
}
MODES = ("jax", "base", "torch_loop", "torch_ens", "torch_ens_compile")
TORCH_MODES = ("torch_loop", "torch_ens", "torch_ens_compile")


def seconds_since_process_start() -> float:
  """Wall seconds since this process started (Linux ``/proc``; 0.0 elsewhere)."""
  try:
    with open("/proc/self/stat") as f:
      start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
      uptime = float(f.read().split()[0])
  except OSError:
    return 0.0
  return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
  """(wall seconds, standard output) of one run; a failing run stops the bench."""
  t0 = time.time()
  out = subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
  return time.time() - t0, out.stdout


def launch_train_seconds(workdir: str) -> float | None:
  """The sweep's training seconds of a finished launch run (results.npz), None if absent."""
  path = os.path.join(workdir, "results.npz")
  if not os.path.exists(path):
    return None
  with np.load(path) as r:
    return float(r["train_seconds"]) if "train_seconds" in r else None


def last_json(stdout: str) -> dict:
  lines = [s for s in stdout.splitlines() if s.startswith("{")]
  return json.loads(lines[-1]) if lines else {}


def runs_of(mode: str) -> list[str]:
  """The timed runs of a mode, in the order they must run (cold before warm)."""
  if mode in ("jax", "base", "torch_ens_compile"):
    return [f"{mode}_cold", f"{mode}_warm"]
  return [mode]


RUNS = tuple(r for m in MODES for r in runs_of(m))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--grid", default="grid12", choices=sorted(GRIDS))
  p.add_argument("--modes", default="", help=f"comma-separated of {MODES}; default: jax, base "
                 "with --baseline_env, the torch modes with --torch_python")
  p.add_argument("--torch_python", default="", help="a Python with torch installed")
  p.add_argument("--extra", default="", help="extra launch flags, space-separated")
  p.add_argument("--baseline_env", action="append", default=[],
                 help="NAME=VALUE for base_cold/base_warm runs (an A/B); repeatable")
  p.add_argument("--once", default="", choices=["", *RUNS],
                 help="run this one run alone and exit (for an outside timer)")
  p.add_argument("--cache_dir", default="", help="with --once=*_warm: the cache kept across runs")
  args = p.parse_args(argv)
  if args.once.endswith("_warm") and not args.cache_dir:
    p.error(f"--once={args.once} needs --cache_dir (a directory kept between the runs)")
  if args.once and args.once.startswith("torch") and not args.torch_python:
    p.error("the torch runs need --torch_python")
  if args.once.startswith("base") and not args.baseline_env:
    p.error("the base runs need --baseline_env")
  if args.repeats < 1:
    p.error("--repeats must be ≥ 1")
  if any("=" not in kv for kv in args.baseline_env):
    p.error("--baseline_env takes NAME=VALUE")
  if not args.modes:
    args.modes = ",".join(["jax"] + (["base"] if args.baseline_env else [])
                          + (list(TORCH_MODES) if args.torch_python else []))
  args.modes = args.modes.split(",")
  bad = [m for m in args.modes if m not in MODES]
  if bad:
    p.error(f"unknown mode(s) {bad}; choose from {MODES}")
  if "base" in args.modes and not args.baseline_env:
    p.error("mode 'base' needs --baseline_env")
  if any(m in TORCH_MODES for m in args.modes) and not args.torch_python:
    p.error("the torch modes need --torch_python")
  return args


def command(run: str, args, workdir: str, cache: str) -> tuple[list[str], dict]:
  """(argv, environment) of one run: ``cache`` is the launch's compilation cache (jax, base) or
  the Inductor cache (torch_ens_compile)."""
  mode = run.rsplit("_", 1)[0] if run.endswith(("_cold", "_warm")) else run
  if mode in ("jax", "base"):
    env = dict(os.environ, HT_COMPILE_CACHE=cache,
               **(dict(kv.split("=", 1) for kv in args.baseline_env) if mode == "base" else {}))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return ([sys.executable, "-m", "launch.phase_transition", *GRIDS[args.grid],
             f"--workdir={workdir}", *args.extra.split()], env)
  script = "bench/torch_loop.py" if mode == "torch_loop" else "bench/torch_ensemble.py"
  cmd = [args.torch_python, script, f"--preset={args.grid}"]
  env = dict(os.environ)
  if mode == "torch_ens_compile":
    cmd.append("--compile")
    env["TORCHINDUCTOR_CACHE_DIR"] = cache
  return cmd, env


def measure(run: str, args, workdir: str, cache: str) -> dict:
  """One timed run: seconds, load average, and its training seconds (and the torch scripts'
  throughput); the work directory is removed afterwards."""
  cmd, env = command(run, args, workdir, cache)
  seconds, out = timed(cmd, env)
  row = {"mode": run, "seconds": round(seconds, 2), "loadavg": round(os.getloadavg()[0], 2)}
  if run.startswith(("jax", "base")):
    row["train_seconds"] = launch_train_seconds(workdir)
  else:
    got = last_json(out)
    row.update({k: got[k] for k in ("train_seconds", "sample_steps_per_s",
                                    "steady_sample_steps_per_s") if k in got})
  shutil.rmtree(workdir, ignore_errors=True)
  return row


def once(args) -> None:
  """``--once=RUN``: exactly one run in a fresh work directory (for an outside timer); a cold run
  gets a fresh cache, a warm one ``--cache_dir`` (filled by an earlier run of the same command)."""
  root = tempfile.mkdtemp(prefix="whole_process-")
  try:
    cache = args.cache_dir if args.once.endswith("_warm") else os.path.join(root, "cache")
    print(json.dumps(measure(args.once, args, os.path.join(root, "run"), cache)), flush=True)
  finally:
    shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
  args = parse_args(argv)
  if args.once:
    once(args)
    return
  root = tempfile.mkdtemp(prefix="whole_process-")
  times: dict[str, list[float]] = {}
  try:
    for r in range(args.repeats):
      for mode in args.modes if r % 2 == 0 else args.modes[::-1]:
        for run in runs_of(mode):
          row = measure(run, args, os.path.join(root, f"{run}{r}"),
                        os.path.join(root, f"cache_{mode}{r}"))
          times.setdefault(run, []).append(row["seconds"])
          print(json.dumps({"repeat": r, **row}), flush=True)
  finally:
    shutil.rmtree(root, ignore_errors=True)
  med = {m: float(np.median(v)) for m, v in times.items()}
  row = {"grid": args.grid, "repeats": args.repeats,
         **{f"{m}_median_s": round(v, 2) for m, v in med.items()}}
  if "jax_cold" in med:
    row["cold_over_warm"] = round(med["jax_cold"] / med["jax_warm"], 3)
    for m in med:
      if not m.startswith("jax_"):
        row[f"{m}_over_jax_cold"] = round(med[m] / med["jax_cold"], 3)
        row[f"{m}_over_jax_warm"] = round(med[m] / med["jax_warm"], 3)
  if args.baseline_env:
    row["base_env"] = dict(kv.split("=", 1) for kv in args.baseline_env)
  print(json.dumps(row))


if __name__ == "__main__":
  main()
