"""Thin absl entry points. Running one (``python -m launch.<x>``) first sets up the CPU.

On the CPU, XLA runs one device's program for the sweep's many small batched matmuls largely on
one core. Splitting the cell axis over one forced host device per core lets the sweep's sharding
(``hidden_talents.sweep``) use them all: 1.73× faster per chunk with 2 devices on 2 cores at 200
quick-size cells (``bench/sweep_bench.py devices``, BENCHMARKS.md). So, unless ``XLA_FLAGS``
already sets ``--xla_force_host_platform_device_count``, it is set here to the number of cores
this process may use, before JAX starts its backends (importing ``hidden_talents`` starts them).
This happens only while ``python -m`` locates a launch module (``sys.argv[0] == "-m"``, as the
Python docs specify), not when tests or other code import ``launch.configs``. It changes nothing
on a GPU/TPU (the sweep uses the default backend's devices). Set
``XLA_FLAGS=--xla_force_host_platform_device_count=1`` to turn it off; results agree with the
single-device run to float rounding, which training can amplify, so compare runs made with the
same device count.

It also turns on JAX's persistent compilation cache, so a second run of the same preset (or a
resumed one) loads its compiled programs from disk instead of compiling them again: unless
``JAX_COMPILATION_CACHE_DIR`` is already set, it is set to ``$HT_COMPILE_CACHE`` or
``~/.cache/hidden_talents/jax`` (``$XDG_CACHE_HOME`` honoured), and programs that took at least
``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` (default here 0.2 s) to compile are kept. A cached
program is the same executable, so results are unchanged. ``HT_COMPILE_CACHE=off`` turns it off.
(``bench/whole_process_bench.py`` measures it; BENCHMARKS.md.)
"""

import os
import sys

_FLAG = "--xla_force_host_platform_device_count"


def _cpu_cores() -> int:
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def compile_cache_dir(environ=os.environ) -> str | None:
  """Where the launch scripts keep compiled programs (None = no persistent cache)."""
  choice = environ.get("HT_COMPILE_CACHE", "")
  if choice.lower() in ("off", "0", "none"):
    return None
  if choice:
    return choice
  base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "hidden_talents", "jax")


if sys.argv[:1] == ["-m"]:
  if _FLAG not in os.environ.get("XLA_FLAGS", "") and _cpu_cores() > 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" {_FLAG}={_cpu_cores()}").strip()
  if "JAX_COMPILATION_CACHE_DIR" not in os.environ and (_cache := compile_cache_dir()):
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
