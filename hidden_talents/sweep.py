"""A grid of cells trained as ONE compiled, vmapped (and sharded) program.

Host loop: ``jit(vmap(run_chunk))`` is called once per chunk of ``chunk_steps`` optimiser steps;
between chunks the host prints progress (cells, steps, samples/s, ETA), flags cells whose loss
turned non-finite (they are frozen; the others go on), and writes a checkpoint. A run restarted
with the same workdir and settings resumes from the last checkpoint and ends with the same numbers
as an uninterrupted run (batches are keyed by the global step, not by wall-clock history).

Very large grids are split into groups of ``cells_per_group`` cells (same shapes, so the program is
compiled once); each finished group is saved and skipped on resume. Device memory is then bounded
by the group size, host memory by the number of cells.

Devices: the cell axis is sharded over all local devices (1-D mesh ``('cells',)``); the cell count
is padded to a multiple of the device count. A fixed data set (``data=``) is replicated on every
device and shared by all cells (it is an argument of the compiled program, not a constant in it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hidden_talents import io, train
from hidden_talents.data import manifold
from hidden_talents.objectives.unified import LossCoefficients, model_coefficients

MODELS = ("vae", "ae_l2", "ae_l1")


@dataclasses.dataclass(frozen=True)
class CellInfo:
  """Human-readable description of one cell (host side)."""

  model: str
  c2: float
  kappa: int
  nu: float
  seed: int


def cell_keys(seed: int, kappa: int, nu: float) -> tuple[np.ndarray, ...]:
  """(data, corrupt, init, train) keys. The data depend on (seed, κ) and the corruption on
  (seed, κ, ν) only, so every model of a (κ, ν) pair sees the same X; the initialisation and the
  batch order are shared by the models too (a controlled comparison)."""
  base = jax.random.PRNGKey(seed)
  nu_id = int(round(float(nu) * 1_000_000))
  k = lambda tag: jax.random.fold_in(jax.random.fold_in(base, tag), kappa)
  data = k(1)
  corrupt = jax.random.fold_in(k(2), nu_id)
  init = jax.random.fold_in(k(3), nu_id)
  trn = jax.random.fold_in(k(4), nu_id)
  return tuple(np.asarray(x) for x in (data, corrupt, init, trn))


def make_cells(infos: Sequence[CellInfo]) -> train.Cell:
  """Stacks ``CellInfo``s into one ``train.Cell`` of arrays with a leading cell axis."""
  if not infos:
    raise ValueError("a sweep needs at least one cell")
  rows = []
  for info in infos:
    data, corrupt, init, trn = cell_keys(info.seed, info.kappa, info.nu)
    co = model_coefficients(info.model, info.c2)
    rows.append(train.Cell(
        kappa=np.int32(info.kappa), nu=np.float32(info.nu), data_key=data, corrupt_key=corrupt,
        init_key=init, train_key=trn, coeffs=LossCoefficients(*[np.float32(v) for v in co])))
  return jax.tree.map(lambda *a: np.stack(a), *rows)


def num_cells(cells: train.Cell) -> int:
  return int(np.shape(cells.kappa)[0])


def take(cells: train.Cell, idx: np.ndarray) -> train.Cell:
  return jax.tree.map(lambda a: np.asarray(a)[idx], cells)


class SweepResult(NamedTuple):
  """Per-cell results (numpy), in the order of the cells given."""

  eval: train.EvalMetrics  # each field with a leading cell axis
  failed: np.ndarray  # (cells,) bool
  failed_at_step: np.ndarray  # (cells,) step of the last chunk end before failure, -1 if none
  history: np.ndarray  # (chunks, cells, 3): chunk means of loss, data term, KL
  wall_seconds: float
  train_seconds: float
  params: Any = None  # trained parameters, leading cell axis (only with return_params=True)


def fingerprint(settings: train.Settings, cells: train.Cell, num_steps: int,
                data: np.ndarray | None = None) -> str:
  """Identity of a run: settings, steps, cells and data. Only settings that differ from their
  defaults are hashed, so adding a new ``Settings`` field (with a default that keeps the old
  behaviour) does not orphan runs started before it existed."""
  h = hashlib.sha256()
  changed = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
             if getattr(settings, f.name) != f.default}
  h.update(json.dumps(changed, sort_keys=True, default=list).encode())
  h.update(str(num_steps).encode())
  for leaf in jax.tree.leaves(cells):
    h.update(np.ascontiguousarray(leaf).tobytes())
  if data is not None:
    h.update(np.ascontiguousarray(data).tobytes())
  return h.hexdigest()[:16]


def check_data(settings: train.Settings, data) -> np.ndarray | None:
  """Validates a fixed data set for ``run_sweep``: shape (num_samples, data_dim), finite; float32."""
  if data is None:
    return None
  data = np.asarray(data)
  if data.ndim != 2 or data.shape != (settings.num_samples, settings.data_dim):
    raise ValueError(f"data must have shape (num_samples, data_dim) = ({settings.num_samples}, "
                     f"{settings.data_dim}), got {data.shape}")
  if not np.issubdtype(data.dtype, np.number):
    raise ValueError(f"data must be numeric, got dtype {data.dtype}")
  data = data.astype(np.float32)
  if not np.all(np.isfinite(data)):
    bad = np.argwhere(~np.isfinite(data))[0]
    raise ValueError(f"data contains NaN or Inf (first at row {bad[0]}, column {bad[1]})")
  return data


# Streamed manifolds are cached as a (slots, n, d) table when it, and one slot's generator
# activations, fit in this many bytes (bench/step_breakdown.py: streaming the clean data costs
# ~18 % of a quick-size step).
CACHE_BYTES = 256 * 2**20


def clean_data_table(settings: train.Settings, cells: train.Cell,
                     max_bytes: int = CACHE_BYTES) -> tuple[np.ndarray, np.ndarray] | None:
  """The clean samples of every distinct manifold among ``cells``, or None if too large.

  A manifold is fixed by (data key, κ), so cells that differ only in model, C2 or ν share one.
  Returns (table (slots, n, d) float32, slot (cells,) int32) with table[slot[c], i] equal to the
  streamed sample i of cell c (``manifold.sample_clean``, up to float rounding), or None when the
  table or one slot's generator activations would exceed ``max_bytes``.
  """
  n, d = settings.num_samples, settings.data_dim
  ident = np.concatenate([np.asarray(cells.data_key).reshape(num_cells(cells), -1),
                          np.asarray(cells.kappa).reshape(-1, 1)], axis=1)
  uniq, first, slot = np.unique(ident, axis=0, return_index=True, return_inverse=True)
  widest = max((settings.data_dim, *settings.generator_widths))
  if 4 * len(uniq) * n * d > max_bytes or 4 * n * widest > max_bytes:
    return None

  def one(cell):
    gen = manifold.init_generator(cell.data_key, cell.kappa, kappa_max=settings.kappa_max,
                                  widths=settings.generator_widths, data_dim=d)
    return manifold.sample_clean(gen, cell.data_key, jnp.arange(n))[1]

  table = jax.jit(lambda c: jax.lax.map(one, c))(take(cells, first))
  return np.asarray(table, np.float32), np.asarray(slot, np.int32).reshape(-1)


def _mesh() -> Mesh | None:
  devices = jax.local_devices()
  if len(devices) <= 1:
    return None
  return Mesh(np.array(devices), ("cells",))


class Progress:
  """One status line per update: cells, steps, samples/s, ETA (carriage return on a TTY)."""

  def __init__(self, total_steps: int, cells: int, batch: int, label: str, enabled: bool = True):
    self.total, self.cells, self.batch, self.label = total_steps, cells, batch, label
    self.enabled = enabled
    self.start = time.time()
    self.start_step = 0
    self.calls = 0
    self.tty = sys.stderr.isatty()

  def update(self, step: int, failed: int, loss: float) -> None:
    if not self.enabled:
      return
    now = time.time()
    self.calls += 1
    if self.calls <= 2:
      # The first update is before any chunk, the second after the first chunk, which includes
      # compilation: the rate is measured from there on.
      self.start_step, self.start = step, now
      rate, eta = float("nan"), float("nan")
    else:
      done = step - self.start_step
      rate = done * self.cells * self.batch / max(now - self.start, 1e-9)
      eta = (self.total - step) * (now - self.start) / max(done, 1)
    pct = 100.0 * step / max(self.total, 1)
    eta_s = "?" if not np.isfinite(eta) else f"{int(eta) // 60}m{int(eta) % 60:02d}s"
    line = (f"{self.label} step {step}/{self.total} ({pct:4.1f}%) | {self.cells} cells | "
            f"{rate:,.0f} samples/s | median loss {loss:.4g} | failed {failed} | ETA {eta_s}")
    end = "\r" if self.tty and step < self.total else "\n"
    print(line, end=end, file=sys.stderr, flush=True)


def _save_ckpt(path: str, state: Any, chunk: int, history: list, failed_at: np.ndarray,
               fp: str) -> None:
  leaves = jax.tree.leaves(jax.device_get(state))
  arrays = {f"leaf_{i:04d}": np.asarray(x) for i, x in enumerate(leaves)}
  arrays["chunk"] = np.int64(chunk)
  arrays["history"] = np.asarray(history, np.float32).reshape(len(history), -1, 3)
  arrays["failed_at"] = failed_at
  arrays["fingerprint"] = np.asarray(fp)
  io.atomic_write_npz(path, arrays)


def _load_ckpt(path: str, template: Any, fp: str):
  data = io.load_npz(path)
  if str(data["fingerprint"]) != fp:
    raise ValueError(
        f"{path} was written by a run with different settings or cells; use a new --workdir "
        "or delete it")
  treedef = jax.tree.structure(template)
  n = treedef.num_leaves
  leaves = [data[f"leaf_{i:04d}"] for i in range(n)]
  state = jax.tree.unflatten(treedef, leaves)
  history = list(data["history"])
  return state, int(data["chunk"]), history, data["failed_at"]


def run_sweep(
    settings: train.Settings,
    cells: train.Cell,
    *,
    num_steps: int,
    workdir: str | None = None,
    tag: str = "sweep",
    cells_per_group: int = 0,
    checkpoint_every: int = 1,
    progress: bool = True,
    stop_after_chunks: int | None = None,
    data=None,
    return_params: bool = False,
    cache_bytes: int = CACHE_BYTES,
) -> SweepResult:
  """Trains every cell for ``num_steps`` steps and evaluates it (see module docstring).

  Args:
    settings: static settings; ``settings.chunk_steps`` steps run per compiled call.
    cells: a ``train.Cell`` with a leading cell axis (``make_cells``).
    num_steps: total optimiser steps per cell; rounded up to whole chunks.
    workdir: where checkpoints go (``<workdir>/<tag>_g<k>.ckpt.npz``); None = no checkpoints.
    tag: file-name prefix of this sweep's checkpoints.
    cells_per_group: cells per compiled call (0 = all at once); bounds device memory.
    checkpoint_every: chunks between checkpoints.
    progress: print a status line per chunk to stderr.
    stop_after_chunks: stop (as if killed) after this many chunks in this call — for tests.
    data: optional fixed data set, (num_samples, data_dim) clean rows shared by all cells
      (``train`` module docstring); None = each cell's streamed manifold.
    return_params: also return the trained parameters (``SweepResult.params``, numpy leaves with
      a leading cell axis); they are then kept in the finished groups' files too.
    cache_bytes: without ``data``, the streamed manifolds are computed once into a table
      (``clean_data_table``) when it fits in this many bytes; 0 = always stream. Results agree
      with streaming to float rounding (which training amplifies).

  Returns:
    ``SweepResult`` with numpy arrays.
  """
  if num_steps <= 0:
    raise ValueError(f"num_steps must be positive, got {num_steps}")
  if checkpoint_every <= 0:
    raise ValueError(f"checkpoint_every must be positive, got {checkpoint_every}")
  data = check_data(settings, data)
  t_start = time.time()
  fns = train.make_train(settings)
  total = num_cells(cells)
  kappa = np.asarray(cells.kappa)
  if np.any(kappa < 1) or np.any(kappa > settings.kappa_max):
    raise ValueError(f"every κ must be in [1, kappa_max={settings.kappa_max}], got {kappa}")
  if data is None and cache_bytes > 0:
    cached = clean_data_table(settings, cells, cache_bytes)
    if cached is not None:
      data, slot = cached
      cells = cells._replace(data_slot=slot)
  group = total if cells_per_group <= 0 else min(cells_per_group, total)
  mesh = _mesh()
  n_dev = 1 if mesh is None else mesh.devices.size
  group_padded = -(-group // n_dev) * n_dev
  sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec("cells"))
  jit_kw = {} if sharding is None else {"out_shardings": sharding}
  init_fn = jax.jit(jax.vmap(fns.init), **jit_kw)
  chunk_fn = jax.jit(jax.vmap(fns.run_chunk, in_axes=(0, 0, None)), donate_argnums=(0,),
                     **({} if sharding is None else {"out_shardings": (sharding, sharding)}))
  eval_fn = jax.jit(jax.vmap(fns.evaluate, in_axes=(0, 0, None)), **jit_kw)
  num_chunks = -(-num_steps // settings.chunk_steps)
  fp = fingerprint(settings, cells, num_chunks * settings.chunk_steps, data)
  if data is not None:
    data = jax.device_put(data, None if mesh is None else NamedSharding(mesh, PartitionSpec()))

  evals, failed_all, failed_at_all, hist_all, params_all = [], [], [], [], []
  train_seconds = 0.0
  n_groups = -(-total // group)
  chunks_run = 0
  for g in range(n_groups):
    lo, hi = g * group, min((g + 1) * group, total)
    idx = np.arange(lo, hi)
    idx_padded = np.concatenate([idx, np.full(group_padded - len(idx), hi - 1)])
    gcells = take(cells, idx_padded)
    if sharding is not None:
      gcells = jax.device_put(gcells, sharding)
    done_path = ckpt_path = None
    if workdir is not None:
      done_path = os.path.join(workdir, f"{tag}_g{g:03d}.done.npz")
      ckpt_path = os.path.join(workdir, f"{tag}_g{g:03d}.ckpt.npz")
    if done_path and os.path.exists(done_path):
      d = io.load_npz(done_path)
      if str(d["fingerprint"]) != fp:
        raise ValueError(f"{done_path} comes from a different run; use a new --workdir")
      n = len(idx)
      evals.append(train.EvalMetrics(*[d[f"eval_{f}"][:n] for f in train.EvalMetrics._fields]))
      failed_all.append(d["failed"][:n])
      failed_at_all.append(d["failed_at"][:n])
      hist_all.append(d["history"][:, :n])
      if return_params:
        if "param_0000" not in d:
          raise ValueError(f"{done_path} has no parameters (written without return_params); "
                           "use a new --workdir")
        ptree = jax.tree.structure(jax.eval_shape(init_fn, gcells).params)
        params_all.append(jax.tree.unflatten(
            ptree, [d[f"param_{i:04d}"][:n] for i in range(ptree.num_leaves)]))
      continue
    template = jax.eval_shape(init_fn, gcells)
    start_chunk, history = 0, []
    failed_at = np.full(group_padded, -1, np.int64)
    if ckpt_path and os.path.exists(ckpt_path):
      state, start_chunk, history, failed_at = _load_ckpt(ckpt_path, template, fp)
      state = jax.device_put(state, sharding) if sharding is not None else jax.device_put(state)
    else:
      state = init_fn(gcells)
    label = f"[{tag} {g + 1}/{n_groups}]"
    bar = Progress(num_chunks * settings.chunk_steps, len(idx), settings.batch_size, label,
                   progress)
    bar.update(start_chunk * settings.chunk_steps, int(np.sum(failed_at >= 0)), float("nan"))
    for c in range(start_chunk, num_chunks):
      if stop_after_chunks is not None and chunks_run >= stop_after_chunks:
        return None  # simulated interruption (tests)
      t0 = time.time()
      state, m = chunk_fn(state, gcells, data)
      m = np.stack([np.asarray(m.loss), np.asarray(m.data), np.asarray(m.kl)], axis=-1)
      failed = np.asarray(state.failed)
      train_seconds += time.time() - t0
      chunks_run += 1
      newly = failed & (failed_at < 0)
      if np.any(newly):
        for j in np.nonzero(newly[: len(idx)])[0]:
          print(f"{label} cell {lo + j} became non-finite before step "
                f"{(c + 1) * settings.chunk_steps}; it is frozen and reported as failed",
                file=sys.stderr)
        failed_at[newly] = c * settings.chunk_steps
      history.append(m)
      finite = m[: len(idx), 0][np.isfinite(m[: len(idx), 0])]
      bar.update((c + 1) * settings.chunk_steps, int(np.sum(failed[: len(idx)])),
                 float(np.median(finite)) if finite.size else float("nan"))
      if ckpt_path and ((c + 1) % checkpoint_every == 0 or c + 1 == num_chunks):
        _save_ckpt(ckpt_path, state, c + 1, history, failed_at, fp)
    ev = jax.device_get(eval_fn(state, gcells, data))
    failed = np.asarray(state.failed)
    hist = np.asarray(history, np.float32).reshape(len(history), group_padded, 3)
    n = len(idx)
    ev = train.EvalMetrics(*[np.asarray(f)[:n] for f in ev])
    evals.append(ev)
    failed_all.append(failed[:n])
    failed_at_all.append(failed_at[:n])
    hist_all.append(hist[:, :n])
    if return_params:
      params_all.append(jax.tree.map(lambda a: np.asarray(a)[:n], jax.device_get(state.params)))
    if done_path:
      arrays = {f"eval_{f}": getattr(ev, f) for f in train.EvalMetrics._fields}
      arrays.update(failed=failed[:n], failed_at=failed_at[:n], history=hist[:, :n],
                    fingerprint=np.asarray(fp))
      if return_params:
        arrays.update({f"param_{i:04d}": a for i, a in enumerate(jax.tree.leaves(params_all[-1]))})
      io.atomic_write_npz(done_path, arrays)
      if os.path.exists(ckpt_path):
        os.remove(ckpt_path)
  ev = train.EvalMetrics(*[np.concatenate([getattr(e, f) for e in evals])
                           for f in train.EvalMetrics._fields])
  failed = np.concatenate(failed_all)
  nmse = np.where(failed, np.nan, ev.nmse)
  ev = ev._replace(nmse=nmse)
  return SweepResult(eval=ev, failed=failed, failed_at_step=np.concatenate(failed_at_all),
                     history=np.concatenate(hist_all, axis=1), wall_seconds=time.time() - t_start,
                     train_seconds=train_seconds,
                     params=(jax.tree.map(lambda *a: np.concatenate(a), *params_all)
                             if return_params else None))
