"""Thin absl entry points. Running one (``python -m launch.<x>``) first sets up the process.

On the CPU, XLA runs one device's program for the sweep's many small batched matmuls largely on
one core. Splitting the cell axis over one forced host device per core lets the sweep's sharding
(``hidden_talents.sweep``) use them all: 1.73× faster per chunk with 2 devices on 2 cores at 200
quick-size cells (``bench/sweep_bench.py devices``, BENCHMARKS.md). So, unless ``XLA_FLAGS``
already sets ``--xla_force_host_platform_device_count``, it is set here to the number of cores
this process may use, before JAX starts its backends. This happens only while ``python -m``
locates a launch module (``sys.argv[0] == "-m"``, as the Python docs specify), not when tests or
other code import ``launch.configs``. It changes nothing on a GPU/TPU (the sweep uses the default
backend's devices). Set ``XLA_FLAGS=--xla_force_host_platform_device_count=1`` to turn it off;
results agree with the single-device run to float rounding, which training can amplify, so
compare runs made with the same device count.

Then the JAX set-up of :mod:`hidden_talents.runtime`, before anything compiles: the persistent
compilation cache (``$HT_COMPILE_CACHE``, default ``~/.cache/hidden_talents/jax``;
``HT_COMPILE_CACHE=off`` turns it off; a ``JAX_COMPILATION_CACHE_DIR`` already set wins), so a
second run of the same preset (or a resumed one) loads its compiled programs from disk instead of
compiling them again (``bench/whole_process_bench.py`` measures it; BENCHMARKS.md), and the CPU
lowering of JAX's PRNG without while loops. Neither changes a result.
"""

import os
import sys

_FLAG = "--xla_force_host_platform_device_count"


def _cpu_cores() -> int:
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


if sys.argv[:1] == ["-m"]:
  if _FLAG not in os.environ.get("XLA_FLAGS", "") and _cpu_cores() > 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" {_FLAG}={_cpu_cores()}").strip()
  from hidden_talents import runtime

  os.environ.update(runtime.cache_environment())
  runtime.setup()
