"""Where a launch run's wall time goes: `python -m launch.phase_transition`, one table.

  python bench/wall_breakdown.py --grid=grid12               # empty compilation cache
  python bench/wall_breakdown.py --grid=grid12 --cache=warm  # a second run, cache filled
  python bench/wall_breakdown.py --grid=quick                # the quick preset (RPCA, Figure 4, …)
  python bench/wall_breakdown.py --grid=tiny                 # seconds; what the tests run

Grids: ``grid12`` and ``grid604`` are ``bench/whole_process_bench.py``'s (the 12-cell grid; 604
network cells on the paper's 10 × 10 grid), ``quick`` is the whole quick preset, the README's main
job (RPCA, Figure 4 and the ground-truth check included), ``tiny`` the tiny preset.

The run happens in a child process started the way ``python -m launch.phase_transition`` starts
(the launch package sets the host device count and the compilation cache before JAX starts:
``launch/__init__.py``), with the cache in a fresh directory (``--cache=cold``) or in one that an
untimed first run filled (``--cache=warm``). The child imports the stack piece by piece, then runs
the launch module itself (``runpy``), with timers around the engine's and the experiment's
functions. Every second of the child is given to exactly one row (a timer's own time, without
the timers inside it):

* interpreter start-up (process start → the script's first line, from ``/proc``), imports (JAX;
  flax and optax with the training engine; matplotlib with the figures; the rest), backend start;
* tracing, lowering and XLA compilation (or loading from the persistent cache) of every program,
  from JAX's own monitoring events, each under the activity that triggered it;
* the data table (``stream.clean_table``), the memory model, the sweep's programs as called by
  ``sweep.run_sweep`` (init, training chunks, curve points, evaluation, refit; each call waited
  for, as the sweep waits for their results right after), the sweep's own bookkeeping, RPCA, the
  ground-truth check, the summary, the figures, the writes (checkpoints, metrics.jsonl,
  results.npz, summary.json, config), the launch's flag parsing, the rest of the experiment;
* interpreter exit (the parent's wall time of the child minus the child's own last reading).

A second sweep (Figure 4) has its own rows, marked ``[fig4]``. Prints the table and one JSON line
(rows, seconds per program and phase, cache hits).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
TINY = ["--config=launch/configs/phase_transition.py:tiny"]
COMPILE_EVENTS = {"/jax/core/compile/jaxpr_trace_duration": "tracing",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration": "lowering",
                  "/jax/core/compile/backend_compile_duration": "compiling"}


def grid_flags(grid: str) -> list[str]:
  """The launch flags of a grid (``whole_process_bench.GRIDS`` for grid12 and grid604)."""
  if grid == "tiny":
    return list(TINY)
  if grid == "quick":
    return ["--config=launch/configs/phase_transition.py:quick"]
  sys.path.insert(0, BENCH)
  import whole_process_bench
  return list(whole_process_bench.GRIDS[grid])


GRID_NAMES = ("grid12", "quick", "grid604", "tiny")


class Clock:
  """Exclusive timers: every second goes to the innermost running timer's label."""

  def __init__(self):
    self.rows: dict[str, float] = {}
    self.stack: list[list] = []  # [label, start, seconds given to inner timers]
    self.programs: dict[str, dict[str, float]] = {}
    self.counts: dict[str, int] = {}

  def add(self, label: str, seconds: float) -> None:
    self.rows[label] = self.rows.get(label, 0.0) + seconds

  def top(self) -> str:
    return self.stack[-1][0] if self.stack else "launch"

  def __call__(self, label: str, fn, *args, **kwargs):
    frame = [label, time.perf_counter(), 0.0]
    self.stack.append(frame)
    try:
      return fn(*args, **kwargs)
    finally:
      self.stack.pop()
      elapsed = time.perf_counter() - frame[1]
      self.add(label, elapsed - frame[2])
      if self.stack:
        self.stack[-1][2] += elapsed

  def compile_event(self, event: str, duration: float, **kwargs) -> None:
    """A JAX monitoring duration event: tracing / lowering / compiling inside the current timer."""
    kind = COMPILE_EVENTS.get(event)
    if kind is None:
      return
    self.add(f"{kind} ({self.top()})", duration)
    if self.stack:
      self.stack[-1][2] += duration
    prog = self.programs.setdefault(str(kwargs.get("fun_name", "?")), {})
    prog[kind] = prog.get(kind, 0.0) + duration

  def count_event(self, event: str, **kwargs) -> None:
    if "compilation_cache" in event:
      name = event.rsplit("/", 1)[-1]
      self.counts[name] = self.counts.get(name, 0) + 1


def wrap(clock: Clock, owner, name: str, label, block: bool = False) -> None:
  """Replaces ``owner.name`` by a timed call; ``label`` a string or a function of nothing (read
  at call time); ``block`` waits for JAX results inside the timer."""
  fn = getattr(owner, name)

  def timed(*args, **kwargs):
    def call():
      out = fn(*args, **kwargs)
      if block:
        import jax
        jax.block_until_ready(out)
      return out
    return clock(label() if callable(label) else label, call)

  setattr(owner, name, timed)


class TimedProgram:
  """A jitted program whose calls are timed and waited for; ``.lower`` etc. pass through (the
  memory model lowers the sweep's programs without calling them)."""

  def __init__(self, clock: Clock, fn, label):
    self._clock, self._fn, self._label = clock, fn, label

  def __call__(self, *args, **kwargs):
    import jax
    if any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves((args, kwargs))):
      return self._fn(*args, **kwargs)  # inside a transformation (eval_shape): not a run
    return self._clock(self._label(), lambda: jax.block_until_ready(self._fn(*args, **kwargs)))

  def __getattr__(self, name):
    return getattr(self._fn, name)


def instrument(clock: Clock) -> None:
  """Timers around the engine's and the experiment's functions (module attributes replaced, so
  every caller that looks them up through the module is timed)."""
  from hidden_talents import curves, io, memory, sweep
  from hidden_talents.data import stream
  from hidden_talents.experiments import phase_transition as pt

  tag = ["main"]

  def label(activity: str):
    return lambda: activity if tag[0] == "main" else f"{activity} [{tag[0]}]"

  compile_sweep = sweep.compile_sweep

  def timed_compile_sweep(*args, **kwargs):
    c = compile_sweep(*args, **kwargs)
    return c._replace(init=TimedProgram(clock, c.init, label("init")),
                      chunk=TimedProgram(clock, c.chunk, label("training chunks")),
                      evaluate=TimedProgram(clock, c.evaluate, label("evaluation")),
                      curve=TimedProgram(clock, c.curve, label("curve points")),
                      refit=TimedProgram(clock, c.refit, label("refit")))

  sweep.compile_sweep = timed_compile_sweep
  run_sweep = sweep.run_sweep

  def timed_run_sweep(*args, **kwargs):
    before, tag[0] = tag[0], kwargs.get("tag", "sweep")
    try:
      return clock(label("sweep bookkeeping")(), run_sweep, *args, **kwargs)
    finally:
      tag[0] = before

  sweep.run_sweep = timed_run_sweep
  wrap(clock, stream, "clean_table", label("data table"), block=True)
  wrap(clock, memory, "fit_cells_per_group", "memory model")
  for owner, names in ((io, ("atomic_write_bytes", "atomic_write_npz", "atomic_write_json",
                             "start_run")),
                       (curves.MetricsLog, ("append", "truncate")),
                       (sweep.GroupStore, ("save_ckpt", "save_done"))):
    for name in names:
      if hasattr(owner, name):
        wrap(clock, owner, name, "writes")
  for name, row in (("rpca_grid", "RPCA"), ("gt_checks", "ground-truth check"),
                    ("summarize", "summary"), ("plot", "figures"), ("run", "experiment (other)")):
    wrap(clock, pt, name, row, block=name in ("rpca_grid", "gt_checks"))


def child(args) -> None:
  """The instrumented launch run; writes its rows as JSON to ``args.out``."""
  t0 = time.perf_counter()
  sys.path.insert(0, BENCH)
  from whole_process_bench import seconds_since_process_start  # numpy, the /proc reader
  helper = time.perf_counter() - t0
  clock = Clock()
  clock.add("interpreter start-up", seconds_since_process_start() - helper)
  clock.add("imports: numpy (bench helpers)", helper)
  sys.argv = ["-m"]  # what `python -m` shows while it imports the launch package
  sys.path.insert(0, REPO)

  def imported(label: str, module: str) -> None:
    t0 = time.perf_counter()
    __import__(module)
    clock.add(label, time.perf_counter() - t0)

  # The launch package first: it sets the device count and the compilation cache before JAX reads
  # them (and may import JAX itself to do so).
  imported("imports: JAX, launch set-up", "launch")
  imported("imports: JAX, launch set-up", "jax")
  imported("imports: flax, optax (engine)", "hidden_talents.sweep")
  imported("imports: matplotlib (figures)", "hidden_talents.plotting")
  rest = "imports: experiment, absl, ml_collections"
  imported(rest, "hidden_talents.experiments.phase_transition")
  imported(rest, "launch.common")
  import runpy

  import jax
  t0 = time.perf_counter()
  jax.devices()
  clock.add("backend start", time.perf_counter() - t0)
  jax.monitoring.register_event_duration_secs_listener(clock.compile_event)
  jax.monitoring.register_event_listener(clock.count_event)
  instrument(clock)
  sys.argv = [os.path.join(REPO, "launch", "phase_transition.py"), *grid_flags(args.grid),
              f"--workdir={args.workdir}", *args.extra.split()]

  def launch_module() -> None:
    try:
      runpy.run_module("launch.phase_transition", run_name="__main__", alter_sys=True)
    except SystemExit as e:
      if e.code not in (0, None):
        raise

  clock("launch (flags, config)", launch_module)
  with open(args.out, "w") as f:
    json.dump({"rows": clock.rows, "programs": clock.programs, "cache": clock.counts,
               "child_seconds": seconds_since_process_start()}, f)


def run_child(args, workdir: str, cache: str, out: str) -> tuple[float, dict]:
  env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
  env["HT_COMPILE_CACHE"] = cache
  cmd = [sys.executable, os.path.abspath(__file__), "_child", f"--grid={args.grid}",
         f"--workdir={workdir}", f"--out={out}", f"--extra={args.extra}"]
  t0 = time.perf_counter()
  subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
  wall = time.perf_counter() - t0
  with open(out) as f:
    return wall, json.load(f)


def merged(rows: dict[str, float]) -> dict[str, float]:
  """The rows with tracing, lowering and compiling under one activity merged into one
  ``trace + compile (activity)`` row."""
  out: dict[str, float] = {}
  for label, sec in rows.items():
    kind, _, rest = label.partition(" (")
    key = f"trace + compile ({rest}" if kind in COMPILE_EVENTS.values() and rest else label
    out[key] = out.get(key, 0.0) + sec
  return out


def table(rows: dict[str, float], wall: float) -> str:
  """The merged rows, largest first, with their share of the wall time, and the totals of each
  compilation phase."""
  lines = [f"{'':52s} {'seconds':>9s} {'share':>7s}"]
  for label, sec in sorted(merged(rows).items(), key=lambda kv: -kv[1]):
    lines.append(f"{label:52s} {sec:9.2f} {100 * sec / wall:6.1f}%")
  lines.append(f"{'wall (from outside)':52s} {wall:9.2f} {100.0:6.1f}%")
  for kind in COMPILE_EVENTS.values():
    total = sum(v for k, v in rows.items() if k.startswith(f"{kind} ("))
    lines.append(f"{'  of which ' + kind + ', all programs':52s} {total:9.2f} "
                 f"{100 * total / wall:6.1f}%")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("mode", nargs="?", default="parent", choices=["parent", "_child"])
  p.add_argument("--grid", default="grid12", choices=GRID_NAMES)
  p.add_argument("--cache", default="cold", choices=["cold", "warm"])
  p.add_argument("--extra", default="", help="extra launch flags, space-separated")
  p.add_argument("--workdir", default="", help="(child) the run's work directory")
  p.add_argument("--out", default="", help="(child) where its JSON goes")
  args = p.parse_args(argv)
  if args.mode == "_child":
    child(args)
    return
  with tempfile.TemporaryDirectory(prefix="wall_breakdown-") as root:
    cache = os.path.join(root, "cache")
    if args.cache == "warm":  # an untimed run fills the cache
      run_child(args, os.path.join(root, "fill"), cache, os.path.join(root, "fill.json"))
    wall, got = run_child(args, os.path.join(root, "run"), cache, os.path.join(root, "run.json"))
  rows = dict(got["rows"])
  rows["between timers (unaccounted)"] = max(got["child_seconds"] - sum(rows.values()), 0.0)
  rows["interpreter exit"] = max(wall - got["child_seconds"], 0.0)
  print(f"# {args.grid}, {args.cache} compilation cache, load average "
        f"{os.getloadavg()[0]:.2f}, cache {got['cache']}")
  print(table(rows, wall))
  print(json.dumps({"grid": args.grid, "cache": args.cache, "wall_seconds": round(wall, 2),
                    "accounted_seconds": round(sum(rows.values()), 2),
                    "rows": {k: round(v, 3) for k, v in rows.items()},
                    "programs": {k: {kk: round(vv, 3) for kk, vv in v.items()}
                                 for k, v in got["programs"].items()},
                    "cache_events": got["cache"], "loadavg": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
  main()
