"""What one training step of the sweep spends its time on, at the quick preset's sizes.

  python bench/step_breakdown.py --cells=100 --chunk_steps=50 --repeats=3

Times one compiled chunk (``chunk_steps`` Adam steps under ``lax.scan``, vmapped over ``cells``)
for variants of the step, all in the same process, and prints each one's median and its speed
relative to the library's ``train.make_train(...).run_chunk``:

* ``library`` — ``run_chunk`` with streamed data, finiteness checked once per chunk;
* ``library_cached`` — the same with the clean manifolds precomputed into a per-manifold table
  (``stream.clean_table``, what ``run_sweep`` does when it fits; outliers still streamed);
* ``per_step_check`` — the same step with the earlier per-step check (loss and every gradient
  leaf tested, then every parameter and Adam moment selected with ``where`` at every step);
* ``no_check`` — no finiteness check at all (a lower bound for any NaN isolation);
* ``fixed_data`` — batches read from an in-memory (n, d) array instead of generated from
  (key, index): what streaming the data (ground-truth decoder + latent and outlier RNG) costs.

The machine may be shared: the load average is printed with the result.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from bench.sweep_bench import grid_cells, settings_for  # noqa: E402
from hidden_talents import runtime, train  # noqa: E402
from hidden_talents.data import stream  # noqa: E402


def reference_chunk(fns: train.TrainFns, *, check: str, fixed_data: bool):
  """A run_chunk written out here, with the finiteness check ``'step'`` or ``'none'``."""
  s = fns.settings
  tx = train.make_optimizer(s)
  grad_fn = jax.value_and_grad(fns.loss, has_aux=True)

  def run_chunk(state, cell, data):
    gen = None if fixed_data else stream.generator(s.data_spec, cell)

    def step(st, _):
      k_idx, k_eps = jax.random.split(jax.random.fold_in(cell.train_key, st.step))
      idx = jax.random.randint(k_idx, (s.batch_size,), 0, s.num_samples)
      x = data[idx] if fixed_data else fns.sample_batch(cell, idx, gen, None)[0]
      eps = jax.random.normal(k_eps, (s.num_latent_samples, s.batch_size, s.latent_dim))
      (loss, _), grads = grad_fn(st.params, x, eps, cell.coeffs)
      updates, new_opt = tx.update(grads, st.opt_state, st.params)
      new_params = optax.apply_updates(st.params, updates)
      if check == "step":
        ok = jnp.isfinite(loss) & train._tree_all_finite(grads) & ~st.failed
        new_params = train._tree_where(ok, new_params, st.params)
        new_opt = train._tree_where(ok, new_opt, st.opt_state)
      else:
        ok = jnp.isfinite(loss)
      return train.TrainState(new_params, new_opt, st.step + 1, st.failed | ~ok), loss

    state, losses = jax.lax.scan(step, state, None, length=s.chunk_steps)
    return state, jnp.mean(losses)

  return run_chunk


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--cells", type=int, default=100)
  p.add_argument("--chunk_steps", type=int, default=50)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--size", default="quick", choices=["quick", "diagnostic", "paper"])
  a = p.parse_args()
  runtime.setup()  # the CPU PRNG lowering the launch scripts and the sweep use
  s = settings_for(a.size, chunk_steps=a.chunk_steps)
  fns = train.make_train(s)
  cells = grid_cells(a.cells)
  data = jnp.asarray(np.random.default_rng(0).normal(size=(s.num_samples, s.data_dim)),
                     jnp.float32)
  table, slot = stream.clean_table(s.data_spec, cells)
  cached_cells = cells._replace(data_slot=slot)
  variants = {
      "library": lambda st, c, d: fns.run_chunk(st, c),
      "library_cached": lambda st, c, d: fns.run_chunk(st, c, d),
      "per_step_check": reference_chunk(fns, check="step", fixed_data=False),
      "no_check": reference_chunk(fns, check="none", fixed_data=False),
      "fixed_data": reference_chunk(fns, check="none", fixed_data=True),
  }
  init = jax.jit(jax.vmap(fns.init))
  args = {n: (cells, data) for n in variants}
  args["library_cached"] = (cached_cells, jnp.asarray(table))
  compiled = {n: jax.jit(jax.vmap(f, in_axes=(0, 0, None))) for n, f in variants.items()}
  states = {n: init(cells) for n in variants}
  for n, f in compiled.items():  # warm-up: compile
    states[n] = jax.block_until_ready(f(states[n], *args[n])[0])
  times = {n: [] for n in variants}
  for _ in range(a.repeats):  # interleaved, so that load changes hit every variant alike
    for n, f in compiled.items():
      t = time.perf_counter()
      states[n] = jax.block_until_ready(f(states[n], *args[n])[0])
      times[n].append(time.perf_counter() - t)
  base = statistics.median(times["library"])
  for n in variants:
    med = statistics.median(times[n])
    print(json.dumps({"variant": n, "size": a.size, "cells": a.cells, "chunk_steps": a.chunk_steps,
                      "seconds_per_chunk": round(med, 4),
                      "sample_steps_per_s": round(a.cells * a.chunk_steps * s.batch_size / med),
                      "speed_vs_library": round(base / med, 3),
                      "load": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
  main()
