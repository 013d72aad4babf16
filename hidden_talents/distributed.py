"""Several processes (hosts) training one sweep with JAX's multi-controller runtime.

Every process runs the same program (SPMD). :func:`initialize` starts
``jax.distributed`` before any JAX computation; afterwards ``jax.devices()`` lists the devices of
every process, the sweep's cell mesh spans them all (``sweep.compile_sweep``) and each process
trains the cells placed on its own devices (their batches are generated on those devices, so no
data crosses hosts). The host-side pieces go through the two helpers here:

* :func:`put` — a host array (the same on every process: cells, keys, a fixed data table) → a
  global ``jax.Array`` with the given sharding; each process supplies only its own shards.
* :func:`fetch` — a global array (or pytree) → numpy on every process
  (``multihost_utils.process_allgather``; a collective, so every process must call it).

Only process 0 writes files (``io.set_writer``): config.json, checkpoints, metrics.jsonl, results
and figures; every process reads the same run directory (a shared file system across hosts), so a
rerun resumes on all of them from the same checkpoint. Progress is printed by process 0.

A process that dies is detected by the coordination service's heartbeat: the others abort (non-zero
exit) after ``heartbeat_timeout_seconds`` instead of waiting forever in a collective.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from hidden_talents import io

# Environment variables that mean "this process is one of several launched together" (JAX's own
# auto-detection then fills in coordinator, process count and id): Slurm, Open MPI, or JAX's.
CLUSTER_ENV = ("JAX_COORDINATOR_ADDRESS", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")


def cluster_env_detected(environ: dict | None = None) -> bool:
  """True when the environment describes a multi-process launch (``CLUSTER_ENV``): a JAX
  coordinator address, or Slurm / Open MPI with more than one task."""
  env = os.environ if environ is None else environ
  if env.get("JAX_COORDINATOR_ADDRESS"):
    return True
  for key in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
    try:
      if int(env.get(key, "1")) > 1:
        return True
    except ValueError:
      pass
  return False


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, heartbeat_timeout_seconds: int = 60,
               initialization_timeout: int = 300) -> None:
  """Starts JAX's multi-process runtime; call it before any JAX computation.

  Arguments left None are taken from the cluster environment by JAX (Slurm, Open MPI, TPU pods,
  ``JAX_COORDINATOR_ADDRESS``). On CPU the cross-process collectives use gloo. Afterwards only
  process 0 writes files (``io.is_writer``).
  """
  if num_processes is not None and num_processes < 1:
    raise ValueError(f"num_processes must be ≥ 1, got {num_processes}")
  if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
    raise ValueError(f"process_id must be in [0, num_processes={num_processes}), got {process_id}")
  if heartbeat_timeout_seconds <= 0 or initialization_timeout <= 0:
    raise ValueError("distributed timeouts must be positive")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
      coordinator_address=coordinator_address, num_processes=num_processes,
      process_id=process_id, heartbeat_timeout_seconds=heartbeat_timeout_seconds,
      initialization_timeout=initialization_timeout)
  io.set_writer(jax.process_index() == 0)


def is_multiprocess() -> bool:
  return jax.process_count() > 1


def put(tree: Any, sharding: jax.sharding.Sharding) -> Any:
  """Host arrays (identical on every process) → global arrays with ``sharding``, each process
  placing only the shards of its own devices (``jax.make_array_from_callback``)."""

  def one(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(one, tree)


def fetch(tree: Any) -> Any:
  """Global arrays → numpy on every process (all-gather across processes when an array has
  shards on other processes; a plain device → host copy otherwise). Every process must call it
  at the same point (it is a collective when arrays span processes)."""
  def one(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      from jax.experimental import multihost_utils  # noqa: PLC0415 (only used across processes)
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))

  return jax.tree.map(one, tree)
