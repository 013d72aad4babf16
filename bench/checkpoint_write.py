"""Cost of one sweep checkpoint: zlib-compressed ``.npz`` against plain ``.npz``, same process.

A checkpoint holds every cell's parameters and Adam moments (``sweep.GroupStore.save_ckpt``);
trained float32 weights are close to incompressible, so compression costs time and saves little.
This script trains the quick preset's 39 cells for one short chunk with the sweep itself
(``run_sweep`` stopped after it, as if killed, leaves its real checkpoint: weights and Adam moments
no longer at their initial values), then writes those arrays with ``io.atomic_write_npz`` both
ways, alternating, and prints the median seconds, the bytes and the ratio.

  python bench/checkpoint_write.py [--repeats=5] [--preset=quick] [--steps=200]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time

import numpy as np

from hidden_talents import io, sweep
from hidden_talents.experiments import phase_transition
from launch.configs import phase_transition as configs


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--preset", default="quick")
  p.add_argument("--steps", type=int, default=200, help="Adam steps trained before the checkpoint")
  args = p.parse_args()
  config = configs.get_config(args.preset)
  settings = phase_transition.settings_from_config(config)
  infos = phase_transition.grid_infos(config)
  settings = dataclasses.replace(settings, chunk_steps=args.steps)
  times: dict[bool, list[float]] = {True: [], False: []}
  sizes = {}
  with tempfile.TemporaryDirectory() as d:
    sweep.run_sweep(settings, sweep.make_cells(infos), num_steps=2 * args.steps, workdir=d,
                    tag="main", stop_after_chunks=1, progress=False)
    arrays = io.load_npz(os.path.join(d, "main_g000.ckpt.npz"))
    raw = sum(a.nbytes for a in arrays.values())
    for _ in range(args.repeats):
      for compress in (True, False):
        path = os.path.join(d, f"ckpt_{compress}.npz")
        t0 = time.perf_counter()
        io.atomic_write_npz(path, arrays, compress=compress)
        times[compress].append(time.perf_counter() - t0)
        sizes[compress] = os.path.getsize(path)
    a, b = (io.load_npz(os.path.join(d, f"ckpt_{c}.npz")) for c in (True, False))
    same = all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in arrays)
  med = {c: statistics.median(t) for c, t in times.items()}
  print(f"preset {args.preset}: {len(infos)} cells after {args.steps} steps, {raw / 1e6:.1f} MB, "
        f"load average {os.getloadavg()[0]:.2f}")
  for c in (True, False):
    print(f"  {'compressed' if c else 'plain     '}: median {med[c]:.3f} s of {args.repeats} "
          f"({', '.join(f'{t:.3f}' for t in times[c])}), {sizes[c] / 1e6:.1f} MB")
  print(f"  compressed / plain time {med[True] / med[False]:.1f}x, size "
        f"{sizes[True] / sizes[False]:.3f}; same arrays read back: {same}")


if __name__ == "__main__":
  main()
