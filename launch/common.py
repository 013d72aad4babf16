"""Shared plumbing for the thin absl launch scripts: flags → ``experiments.<x>.run``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from absl import flags, logging

from hidden_talents import distributed, io


def define_workdir_flag() -> flags.FlagHolder:
  return flags.DEFINE_string(
      "workdir", None,
      "Run directory: config.json, results.npz, summary.json, PNG figures and checkpoints are "
      "written here. Re-running with the same workdir resumes/skips finished work.",
      required=True)


class DistributedFlags(NamedTuple):
  mode: flags.FlagHolder
  coordinator_address: flags.FlagHolder
  num_processes: flags.FlagHolder
  process_id: flags.FlagHolder
  heartbeat_timeout: flags.FlagHolder


def define_distributed_flags() -> DistributedFlags:
  """Flags of a multi-process (multi-host) sweep (``hidden_talents.distributed``; BUILD.md)."""
  return DistributedFlags(
      flags.DEFINE_enum(
          "distributed", "auto", ["auto", "on", "off"],
          "Run as one process of several (jax.distributed): 'on', 'off', or 'auto' = on when the "
          "environment describes a multi-process launch (JAX_COORDINATOR_ADDRESS, or Slurm / "
          "Open MPI with more than one task)."),
      flags.DEFINE_string(
          "coordinator_address", None,
          "host:port of process 0's coordinator (every process gives the same); default: from "
          "the cluster environment."),
      flags.DEFINE_integer("num_processes", None,
                           "Number of processes; default: from the cluster environment.",
                           lower_bound=1),
      flags.DEFINE_integer("process_id", None,
                           "This process's index in [0, num_processes); default: from the "
                           "cluster environment.", lower_bound=0),
      flags.DEFINE_integer(
          "heartbeat_timeout", 60,
          "Seconds after which the other processes abort (non-zero exit) when one process has "
          "died; rerun the same command to resume from the last checkpoint.", lower_bound=1))


def maybe_initialize_distributed(f: DistributedFlags | None) -> bool:
  """Starts jax.distributed when the flags (or the environment, in 'auto') ask for it."""
  if f is None or f.mode.value == "off":
    return False
  explicit = f.coordinator_address.value is not None or f.num_processes.value is not None
  if f.mode.value == "auto" and not (explicit or distributed.cluster_env_detected()):
    return False
  distributed.initialize(f.coordinator_address.value, f.num_processes.value,
                         f.process_id.value, heartbeat_timeout_seconds=f.heartbeat_timeout.value)
  return True


def run_and_report(run: Callable[[Any, str], dict], config: Any, workdir: str,
                   distributed_flags: DistributedFlags | None = None) -> dict:
  """Calls ``run(config, workdir)``; bad input (``ValueError``) → one clear line, exit code 2.

  With ``distributed_flags`` (scripts whose experiment runs a sweep), jax.distributed is started
  first when they ask for it; then only process 0 writes files and prints the summary.
  """
  start = time.time()
  try:
    maybe_initialize_distributed(distributed_flags)
    summary = run(config, workdir)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  logging.info("finished in %.1f s", time.time() - start)
  if io.is_writer():
    print(json.dumps(summary, indent=2, sort_keys=True, default=str))
  return summary
