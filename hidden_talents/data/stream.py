"""One data stream: the (clean l, corrupted x, outlier mask) rows of a cell, wherever they are used.

Training, evaluation, the sweep's clean-data cache, the baselines (convex RPCA / PCP) and the
checks all read a cell's data through this module, so they see exactly the same numbers:

* ``generator(spec, cell)`` — the cell's ground-truth decoder (``manifold.init_generator``);
* ``clean(spec, cell, indices)`` — (z, l) of sample indices, streamed from (data key, i);
* ``sample(spec, cell, indices, gen=None, data=None)`` — (x, l, mask): l streamed from the
  generator, or ``data[indices]`` for a fixed (n, d) data set, or ``data[cell.data_slot,
  indices]`` for a (slots, n, d) table; x is l with the cell's streamed outliers (ν, corrupt key);
* ``materialize(spec, cells, num_rows, data=None)`` — (X, L, mask) of the first ``num_rows``
  samples of every cell (jit + vmap over cells), for baselines and checks;
* ``clean_table(spec, cells, max_bytes)`` — the (slots, n, d) table of every distinct streamed
  manifold among ``cells`` (the sweep's cache), or None when it does not fit.

``DataSpec`` holds only the static settings the data needs (``train.Settings.data_spec`` builds
it); the model's settings stay in ``train``. The cell is a ``train.Cell`` (any object with its
fields: ``kappa``, ``nu``, ``data_key``, ``corrupt_key``, ``data_slot``); this module does not
import ``train`` (imports go downward: data ← train ← sweep ← experiments).

``cell.kappa`` is the generator's latent size, read differently by the experiments:

* ``phase_transition``, ``latent_pruning``: the manifold dimension κ ≤ ``kappa_max`` of the
  nonlinear ground truth (Sec. 5.1);
* ``linear_phase_transition``: the rank r ≤ ``kappa_max`` of L (``generator_widths=()``, so the
  generator is the affine map z → Uz with the latent masked to r);
* ``mnist_pruning``: the model's latent size κ; the data are a fixed table, so it only seeds the
  cell's keys (``sweep.cell_keys``);
* ``mnist_denoising``, ``decompose``: a dummy 1 (fixed data; it only seeds the keys).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hidden_talents.data import corrupt, manifold

OUTLIERS = ("gaussian", "uniform")

# Streamed manifolds are cached as a (slots, n, d) table when it, and one slot's generator
# activations, fit in this many bytes (bench/step_breakdown.py: streaming the clean data costs
# ~18 % of a quick-size step).
CACHE_BYTES = 256 * 2**20


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """Static settings of a cell's data (hashable, so it may be closed over or made static).

  Attributes:
    data_dim: d, the length of a row.
    kappa_max: padded latent size of the ground-truth generator (``cell.kappa`` ≤ kappa_max).
    generator_widths: hidden widths of the generator z(κ)-D1-D2-l(d) (Sec. 5.1); () = affine.
    num_samples: n, the number of samples (rows) per cell.
    outliers: 'gaussian' (Sec. 5.1: entries replaced by outlier_scale · N(0, 1)) or 'uniform'
      (App. A: entries replaced by values uniform on ``uniform_range``).
    outlier_scale: scale of the 'gaussian' outliers (the paper's 1).
    uniform_range: [low, high] of the 'uniform' outliers.
  """

  data_dim: int
  kappa_max: int
  generator_widths: tuple[int, ...]
  num_samples: int
  outliers: str = "gaussian"
  outlier_scale: float = 1.0
  uniform_range: tuple[float, float] = (0.0, 255.0)

  def __post_init__(self):
    if self.outliers not in OUTLIERS:
      raise ValueError(f"outliers must be 'gaussian' or 'uniform', got {self.outliers!r}")
    if not (self.outlier_scale > 0 and math.isfinite(self.outlier_scale)):
      raise ValueError(f"outlier_scale must be finite and > 0, got {self.outlier_scale!r}")
    low, high = self.uniform_range
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
      raise ValueError(f"uniform_range must be finite with low < high, got {self.uniform_range!r}")


def generator(spec: DataSpec, cell: Any) -> manifold.GeneratorParams:
  """The cell's ground-truth decoder: He-initialised from ``cell.data_key``, latent κ =
  ``cell.kappa`` padded to ``spec.kappa_max`` (``manifold.init_generator``)."""
  return manifold.init_generator(
      cell.data_key, cell.kappa, kappa_max=spec.kappa_max, widths=spec.generator_widths,
      data_dim=spec.data_dim)


def clean(spec: DataSpec, cell: Any, indices: jax.Array,
          gen: manifold.GeneratorParams | None = None) -> tuple[jax.Array, jax.Array]:
  """(z (B, κ_max), l (B, d)) of the cell's streamed samples ``indices`` (``gen`` = the cell's
  ``generator``, computed here when not given)."""
  gen = generator(spec, cell) if gen is None else gen
  return manifold.sample_clean(gen, cell.data_key, indices)


def check_data(spec: DataSpec, data) -> None:
  """Raises ``ValueError`` unless ``data`` is None, (n, d) or (slots, n, d)."""
  if data is None:
    return
  if data.ndim not in (2, 3) or tuple(data.shape[-2:]) != (spec.num_samples, spec.data_dim):
    raise ValueError(f"data must have shape (num_samples, data_dim) = "
                     f"({spec.num_samples}, {spec.data_dim}) or (slots, num_samples, data_dim), "
                     f"got {tuple(data.shape)}")


def corrupt_rows(spec: DataSpec, cell: Any, indices: jax.Array,
                 l: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(x, mask): the clean rows ``l`` of samples ``indices`` with the cell's streamed outliers, a
  fraction ν = ``cell.nu`` of the entries (Sec. 5.1 'gaussian', App. A 'uniform')."""
  if spec.outliers == "gaussian":
    x, mask = corrupt.gaussian_outliers(cell.corrupt_key, indices, l, cell.nu)
    if spec.outlier_scale != 1.0:  # gross outliers: scale the replaced entries only
      x = jnp.where(mask, spec.outlier_scale * x, x)
    return x, mask
  low, high = spec.uniform_range
  return corrupt.uniform_outliers(cell.corrupt_key, indices, l, cell.nu, low=low, high=high)


def sample(spec: DataSpec, cell: Any, indices: jax.Array, gen=None,
           data=None) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(x, l, mask) for sample indices of this cell.

  l is streamed from the cell's generator (``gen`` when given), or ``data[indices]`` for a fixed
  (n, d) data set, or ``data[cell.data_slot, indices]`` for a (slots, n, d) table; x is l with the
  cell's streamed outliers and mask marks the replaced entries.
  """
  if data is None:
    _, l = clean(spec, cell, indices, gen)
  else:
    check_data(spec, data)
    l = jnp.take(data, indices, axis=0) if data.ndim == 2 else data[cell.data_slot, indices]
  x, mask = corrupt_rows(spec, cell, indices, l)
  return x, l, mask


def materialize(spec: DataSpec, cells: Any, num_rows: int,
                data=None) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(X, L, mask), each (cells, num_rows, d): the first ``num_rows`` samples of every cell (a
  ``Cell`` with a leading axis), as training sees them; jit + vmap over the cells. ``data`` (fixed
  data set or table, shared by every cell) as in ``sample``."""
  return _materialize(spec, cells, int(num_rows), data)


@functools.partial(jax.jit, static_argnums=(0, 2))
def _materialize(spec: DataSpec, cells: Any, num_rows: int, data) -> tuple[jax.Array, ...]:
  """``materialize`` compiled once per (spec, num_rows, shapes): callers loop over chunks."""
  idx = jnp.arange(num_rows)
  return jax.vmap(lambda c: sample(spec, c, idx, data=data))(cells)


def clean_table(spec: DataSpec, cells: Any,
                max_bytes: int = CACHE_BYTES) -> tuple[np.ndarray, np.ndarray] | None:
  """The clean samples of every distinct manifold among ``cells``, or None if too large.

  A manifold is fixed by (data key, κ), so cells that differ only in model, C2 or ν share one.
  Returns (table (slots, n, d) float32, slot (cells,) int32) with table[slot[c], i] equal to the
  streamed sample i of cell c (``clean``, up to float rounding), or None when the table or one
  slot's generator activations would exceed ``max_bytes``.
  """
  n, d = spec.num_samples, spec.data_dim
  count = int(np.shape(cells.kappa)[0])
  ident = np.concatenate([np.asarray(cells.data_key).reshape(count, -1),
                          np.asarray(cells.kappa).reshape(-1, 1)], axis=1)
  uniq, first, slot = np.unique(ident, axis=0, return_index=True, return_inverse=True)
  widest = max((spec.data_dim, *spec.generator_widths))
  if 4 * len(uniq) * n * d > max_bytes or 4 * n * widest > max_bytes:
    return None
  firsts = jax.tree.map(lambda a: np.asarray(a)[first], cells)
  one = lambda cell: clean(spec, cell, jnp.arange(n))[1]
  table = jax.jit(lambda c: jax.lax.map(one, c))(firsts)
  return np.asarray(table, np.float32), np.asarray(slot, np.int32).reshape(-1)
