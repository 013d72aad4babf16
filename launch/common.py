"""Shared plumbing for the thin absl launch scripts: flags → ``experiments.<x>.run``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from absl import flags, logging


def define_workdir_flag() -> flags.FlagHolder:
  return flags.DEFINE_string(
      "workdir", None,
      "Run directory: config.json, results.npz, summary.json, PNG figures and checkpoints are "
      "written here. Re-running with the same workdir resumes/skips finished work.",
      required=True)


def run_and_report(run: Callable[[Any, str], dict], config: Any, workdir: str) -> dict:
  """Calls ``run(config, workdir)``; bad input (``ValueError``) → one clear line, exit code 2."""
  start = time.time()
  try:
    summary = run(config, workdir)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  logging.info("finished in %.1f s", time.time() - start)
  print(json.dumps(summary, indent=2, sort_keys=True, default=str))
  return summary
