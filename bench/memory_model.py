"""The sweep's device-memory model (``hidden_talents/memory.py``) at the tiny, quick and paper
widths of the phase-transition presets, on the backend in use.

  python bench/memory_model.py [--budget_gib=80,141]

Prints per preset: the exact training state per cell (parameters + Adam), XLA's peak bytes of
the chunk and evaluation programs for 1, 2 and 4 cells, the linear model a + b·g fitted on 1 and 2
cells with its error at 4, and the cells per device that fit in each budget.
"""

from __future__ import annotations

import argparse
import json

import jax

from hidden_talents import memory
from hidden_talents.data import stream
from hidden_talents.experiments import phase_transition
from launch.configs import phase_transition as configs


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--presets", default="tiny,quick,paper")
  p.add_argument("--budget_gib", default="80,141", help="device memories to size groups for")
  args = p.parse_args()
  for preset in args.presets.split(","):
    config = configs.get_config(preset)
    s = phase_transition.settings_from_config(config)
    g = {k: memory.group_bytes(s, k) for k in (1, 2, 4)}
    model = memory.fit_model(g[1], g[2])
    row = {"preset": preset, "backend": jax.default_backend(),
           "widths": list(config.hidden_widths), "batch": s.batch_size,
           "eval_batch": s.eval_batch_size,
           "state_MiB_per_cell": round(g[1].state / 2**20, 2),
           "peak_MiB": {k: round(v.peak / 2**20, 2) for k, v in g.items()},
           "chunk_MiB": {k: round(v.chunk / 2**20, 2) for k, v in g.items()},
           "evaluate_MiB": {k: round(v.evaluate / 2**20, 2) for k, v in g.items()},
           "model_intercept_MiB": round(model.intercept / 2**20, 2),
           "model_per_cell_MiB": round(model.per_cell / 2**20, 2),
           "model_error_at_4": round(model.bytes_for(4) / g[4].peak - 1, 4)}
    for gib in args.budget_gib.split(","):
      budget = int(0.8 * float(gib) * 2**30)
      row[f"cells_per_device_in_0.8x{gib}GiB"] = int(
          (budget - model.intercept - stream.CACHE_BYTES) // model.per_cell)
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
