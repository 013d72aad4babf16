"""How many cells of a sweep fit on a device: a memory model from XLA's own memory analysis.

A group of g cells on one device needs, for its largest program (a training chunk or the
evaluation), bytes(g) = arguments + outputs − donated (aliased) + temporaries. These are XLA's
numbers for the backend in use (``Compiled.memory_analysis()``), not a guess. They grow linearly
in g, because the cells are vmapped, so two compilations give the model

    bytes(g) ≈ a + b·g,   a = 2·bytes(1) − bytes(2),   b = bytes(2) − bytes(1),

and ``fit_cells_per_group`` picks the largest g with bytes(g) ≤ budget. The budget is a fraction
of the device's memory limit, or of host memory on a CPU. A fixed data table, which is replicated
to every device and is at most ``stream.CACHE_BYTES``, is counted in the intercept.
``bench/memory_model.py`` prints the model at the tiny, quick and paper widths (BENCHMARKS.md).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax

from hidden_talents import sweep, train
from hidden_talents.data import stream


class GroupBytes(NamedTuple):
  chunk: int  # peak bytes of one compiled training chunk for the group
  evaluate: int  # peak bytes of the full-data evaluation
  state: int  # of which: the training state (parameters + Adam), exact

  @property
  def peak(self) -> int:
    return max(self.chunk, self.evaluate)


def _peak(compiled) -> int:
  m = compiled.memory_analysis()
  return int(m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
             + m.temp_size_in_bytes)


def group_bytes(settings: train.Settings, cells_on_device: int) -> GroupBytes:
  """XLA's memory analysis of the sweep's chunk and evaluation programs (``sweep.compile_sweep``,
  unsharded) for ``cells_on_device`` cells, lowered for abstract inputs on the default device:
  nothing is run or allocated."""
  programs = sweep.compile_sweep(settings, sharded=False)
  cells = _abstract(sweep.make_cells([sweep.CellInfo("vae", 1.0, 1, 0.1, 0)] * cells_on_device))
  state = jax.eval_shape(programs.init, cells)
  chunk = programs.chunk.lower(state, cells, None)
  ev = programs.evaluate.lower(state, cells, None)
  state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))
  return GroupBytes(_peak(chunk.compile()), _peak(ev.compile()), int(state_bytes))


def _abstract(tree):
  """``jax.ShapeDtypeStruct``s of a tree of arrays: their shapes and dtypes, no data."""
  return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)


class MemoryModel(NamedTuple):
  intercept: int  # a: bytes that do not grow with the group
  per_cell: int  # b: bytes per cell (state, gradients, Adam temporaries, activations)
  state_per_cell: int  # of b: the training state alone (exact)

  def bytes_for(self, cells_on_device: int) -> int:
    return self.intercept + self.per_cell * cells_on_device


def memory_model(settings: train.Settings) -> MemoryModel:
  """The linear model a + b·g from g = 1 and g = 2 (module docstring)."""
  return fit_model(group_bytes(settings, 1), group_bytes(settings, 2))


def fit_model(one: GroupBytes, two: GroupBytes) -> MemoryModel:
  """a + b·g through the measured peaks of one and two cells."""
  b = max(two.peak - one.peak, 1)
  return MemoryModel(max(one.peak - b, 0), b, one.state)


def device_budget_bytes(fraction: float = 0.8) -> int:
  """``fraction`` of the first local device's memory limit; on a CPU (no limit reported), of the
  host's physical memory shared by the local devices."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if "bytes_limit" in stats:
    return int(fraction * stats["bytes_limit"])
  host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  return int(fraction * host / max(jax.local_device_count(), 1))


def fit_cells_per_group(settings: train.Settings, num_cells: int, *,
                        budget_bytes: int | None = None, num_devices: int | None = None,
                        data_bytes: int | None = None, model: MemoryModel | None = None) -> int:
  """Cells per group so that each device's share fits ``budget_bytes`` (default
  ``device_budget_bytes()``): a multiple of the device count, at most ``num_cells``.

  Raises ``ValueError`` when not even one cell per device fits.
  """
  if num_cells <= 0:
    raise ValueError(f"num_cells must be positive, got {num_cells}")
  devices = num_devices or len(jax.devices())
  budget = device_budget_bytes() if budget_bytes is None else int(budget_bytes)
  model = memory_model(settings) if model is None else model
  extra = stream.CACHE_BYTES if data_bytes is None else int(data_bytes)
  per_device = (budget - model.intercept - extra) // model.per_cell
  if per_device < 1:
    raise ValueError(
        f"one cell needs {model.bytes_for(1) + extra:,} bytes per device, more than the budget "
        f"of {budget:,}; use smaller widths, batch or eval_batch_size")
  return int(min(num_cells, per_device * devices))


CPU_CELLS_PER_DEVICE = 10


def cells_per_group(settings: train.Settings, num_cells: int, *, backend: str | None = None,
                    num_devices: int | None = None) -> int:
  """Cells per compiled call when a launch leaves it to the backend (``cells_per_group = -1``).

  On an accelerator: as many as fit in its memory (``fit_cells_per_group``). On the CPU: at most
  ``CPU_CELLS_PER_DEVICE`` cells per device, evened out over the groups needed (39 cells on 2
  devices: 2 groups of 20, the second padded by one). Each device's cells then keep their weights
  and Adam moments in its caches: on 2 cores the 604 cells of a quick-width grid train 1.54×
  faster in groups of 20 than all in one program, the main job runs 1.13× faster
  (BENCHMARKS.md, "Whole process against PyTorch"); the program is compiled once for every group.
  The main job's results came out bit-identical; in general a group size gives each cell other
  float rounding, which training amplifies (1000 steps of the ``matched`` preset in groups of 18:
  every cell's NMSE within ±2 % of one program's).
  """
  if num_cells < 1:
    raise ValueError(f"num_cells must be positive, got {num_cells}")
  if (backend or jax.default_backend()) != "cpu":
    return fit_cells_per_group(settings, num_cells, num_devices=num_devices)
  cap = CPU_CELLS_PER_DEVICE * (num_devices or len(jax.devices()))
  groups = -(-num_cells // cap)
  return -(-num_cells // groups)
