"""A grid of cells trained as ONE compiled, vmapped (and sharded) program.

Host loop: ``jit(vmap(run_chunk))`` is called once per chunk of ``chunk_steps`` optimiser steps;
between chunks the host prints progress (cells, steps, samples/s, ETA), flags cells whose loss
turned non-finite (they are frozen; the others go on), and writes a checkpoint. A run restarted
with the same workdir and settings resumes from the last checkpoint and ends with the same numbers
as an uninterrupted run (batches are keyed by the global step, not by wall-clock history).

Very large grids are split into groups of ``cells_per_group`` cells (same shapes, so the program is
compiled once); each finished group is saved and skipped on resume. Device memory is then bounded
by the group size, host memory by the number of cells. The group size can change each cell's float
rounding (XLA tiles the batched arithmetic by its shape), which training amplifies; results then
agree across group sizes to training noise, not bit for bit (``memory.cells_per_group``).

Devices: the cell axis is sharded over all devices (1-D mesh ``('cells',)``): the local ones, or
those of every process after ``distributed.initialize`` (several hosts; each process then trains
the cells on its own devices, only process 0 writes files and prints progress). The cell count is
padded to a multiple of the device count. A fixed data set (``data=``) is replicated on every
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
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hidden_talents import curves, distributed, io, runtime, train
from hidden_talents.data import stream
from hidden_talents.objectives.unified import LossCoefficients, model_coefficients


@dataclasses.dataclass(frozen=True)
class CellInfo:
  """Human-readable description of one cell (host side).

  ``model`` is 'vae', 'ae_l2', 'ae_l1' or 'vae_warmup' (the VAE with a KL warm-up of
  ``kl_warmup`` steps, ``train.Cell.kl_warmup``).
  """

  model: str
  c2: float
  kappa: int
  nu: float
  seed: int
  kl_warmup: float = 0.0

  def label(self) -> dict:
    """Grid coordinates for metrics.jsonl."""
    return {"model": self.model, "c2": self.c2, "kappa": self.kappa, "nu": self.nu,
            "seed": self.seed, "kl_warmup": self.kl_warmup}


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
    co = model_coefficients(info.model.removesuffix("_warmup"), info.c2)
    rows.append(train.Cell(
        kappa=np.int32(info.kappa), nu=np.float32(info.nu), data_key=data, corrupt_key=corrupt,
        init_key=init, train_key=trn, coeffs=LossCoefficients(*[np.float32(v) for v in co]),
        kl_warmup=np.float32(info.kl_warmup)))
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
  curves: train.CurveMetrics | None = None  # each field (evals, cells): the learning curves
  curve_steps: np.ndarray | None = None  # (evals,) step of each curve point
  vae_objective_refit: np.ndarray | None = None  # (cells,) with refit_head: VAE cost, refit Σz head


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
  """Validates a fixed data set for ``run_sweep``: shape (num_samples, data_dim), finite;
  float32."""
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


def _mesh() -> Mesh | None:
  devices = jax.devices()  # every process's devices in a multi-process run
  if len(devices) <= 1:
    return None
  return Mesh(np.array(devices), ("cells",))


class Compiled(NamedTuple):
  """The jitted, cell-vmapped programs of one sweep (compiled on first call, once per shape)."""

  init: Any  # cells -> TrainState
  chunk: Any  # (state, cells, data) -> (state, ChunkMetrics): chunk_steps steps
  evaluate: Any  # (state, cells, data) -> EvalMetrics over all n
  curve: Any  # (state, cells, data) -> CurveMetrics on the evaluation subset
  refit: Any  # (state, cells, data) -> state with the log σz² head refit
  sharding: NamedSharding | None
  num_devices: int


def compile_sweep(settings: train.Settings, *, sharded: bool = True) -> Compiled:
  """``jit(vmap(...))`` of the per-cell functions, the cell axis sharded over all devices.

  With ``sharded=False`` the same programs are built unsharded, for the default device alone:
  what one device runs for its share of the cells (the memory model, ``memory.group_bytes``).
  The process's JAX set-up (``runtime.setup``: the CPU PRNG lowering) is applied first.
  """
  runtime.setup()
  fns = train.make_train(settings)
  mesh = _mesh() if sharded else None
  sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec("cells"))
  kw = {} if sharding is None else {"out_shardings": sharding}
  per_cell = lambda f: jax.vmap(f, in_axes=(0, 0, None))
  return Compiled(
      init=jax.jit(jax.vmap(fns.init), **kw),
      chunk=jax.jit(per_cell(fns.run_chunk), donate_argnums=(0,),
                    **({} if sharding is None else {"out_shardings": (sharding, sharding)})),
      evaluate=jax.jit(per_cell(fns.evaluate), **kw),
      curve=jax.jit(per_cell(fns.curve_point), **kw),
      refit=jax.jit(per_cell(fns.refit_logvar_head), **kw),
      sharding=sharding, num_devices=1 if mesh is None else mesh.devices.size)


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
    if step == 0:
      eta_s += " (compiling)"  # the first chunk compiles: no rate until it is done
    rate_s = "?" if not np.isfinite(rate) else f"{rate:,.0f}"
    loss_s = "?" if not np.isfinite(loss) else f"{loss:.4g}"
    if self.cells == 1:  # one fit (decompose): no grid words
      line = (f"{self.label} step {step}/{self.total} ({pct:4.1f}%) | {rate_s} samples/s | "
              f"loss {loss_s}{' | FAILED' if failed else ''} | ETA {eta_s}")
    else:
      line = (f"{self.label} step {step}/{self.total} ({pct:4.1f}%) | {self.cells} cells | "
              f"{rate_s} samples/s | median loss {loss_s} | failed {failed} | ETA {eta_s}")
    end = "\r" if self.tty and step < self.total else "\n"
    print(line, end=end, file=sys.stderr, flush=True)


class GroupRun(NamedTuple):
  """What training a group of cells produced (numpy, padded cell axis)."""

  state: Any
  failed_at: np.ndarray  # (cells,) step of the chunk start before failure, -1 if none
  history: list  # per chunk (cells, 3)
  curves: list  # per evaluation (fields, cells)
  curve_steps: list  # per evaluation, its step


class GroupStore:
  """Checkpoints of one group of a sweep: ``<tag>_g<k>.ckpt.npz`` while it trains (state,
  history, curves) and ``<tag>_g<k>.done.npz`` (results) once finished. Both carry the run's
  fingerprint; a file of another run is refused."""

  def __init__(self, workdir: str | None, tag: str, group: int, fp: str):
    self.fp = fp
    self.ckpt = self.done = None
    if workdir is not None:
      self.ckpt = os.path.join(workdir, f"{tag}_g{group:03d}.ckpt.npz")
      self.done = os.path.join(workdir, f"{tag}_g{group:03d}.done.npz")

  def _check(self, d: dict, path: str) -> dict:
    if str(d["fingerprint"]) != self.fp:
      raise ValueError(
          f"{path} comes from a different run (other settings or cells); use a new --workdir "
          "or delete it")
    return d

  def load_done(self, num_cells: int) -> dict | None:
    """The finished group's arrays, None if it has not finished; a file of another run or of
    another group size is refused."""
    if self.done is None or not os.path.exists(self.done):
      return None
    d = self._check(io.load_npz(self.done), self.done)
    if len(d["failed"]) != num_cells:
      raise ValueError(f"{self.done} holds {len(d['failed'])} cells, this group {num_cells}: it "
                       "was written with another cells_per_group; use a new --workdir")
    return d

  def params(self, done: dict, template: Any) -> Any:
    """The trained parameters kept in a done file (written with return_params)."""
    if "param_0000" not in done:
      raise ValueError(f"{self.done} has no parameters (written without return_params); use a "
                       "new --workdir")
    tree = jax.tree.structure(template)
    return jax.tree.unflatten(tree, [done[f"param_{i:04d}"] for i in range(tree.num_leaves)])

  def save_done(self, arrays: dict) -> None:
    if self.done is not None:
      io.atomic_write_npz(self.done, dict(arrays, fingerprint=np.asarray(self.fp)))
      if io.is_writer() and os.path.exists(self.ckpt):
        os.remove(self.ckpt)

  def save_ckpt(self, run: GroupRun, chunk: int) -> None:
    leaves = jax.tree.leaves(distributed.fetch(run.state))  # a collective: every process calls
    arrays = {f"leaf_{i:04d}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays.update(chunk=np.int64(chunk), failed_at=run.failed_at, fingerprint=np.asarray(self.fp),
                  history=np.asarray(run.history, np.float32).reshape(len(run.history), -1, 3),
                  curves=np.asarray(run.curves, np.float32).reshape(
                      len(run.curves), len(train.CurveMetrics._fields), -1),
                  curve_steps=np.asarray(run.curve_steps, np.int64))
    io.atomic_write_npz(self.ckpt, arrays, compress=False)  # rewritten often; weights barely shrink

  def load_ckpt(self, template: Any) -> tuple[GroupRun, int] | None:
    if self.ckpt is None or not os.path.exists(self.ckpt):
      return None
    d = self._check(io.load_npz(self.ckpt), self.ckpt)
    treedef = jax.tree.structure(template)
    leaves = [d[f"leaf_{i:04d}"] for i in range(treedef.num_leaves)]
    if [np.shape(x) for x in leaves] != [x.shape for x in jax.tree.leaves(template)]:
      raise ValueError(f"{self.ckpt} has other shapes than this group (another cells_per_group "
                       "or device count); use a new --workdir")
    state = jax.tree.unflatten(treedef, leaves)
    return GroupRun(state, d["failed_at"], list(d["history"]), list(d["curves"]),
                    [int(t) for t in d["curve_steps"]]), int(d["chunk"])


def auto_eval_every(num_chunks: int, points: int = 25) -> int:
  """Chunks between learning-curve points so that a run has about ``points`` of them."""
  return max(1, num_chunks // points)


def curve_chunks(num_chunks: int, eval_every: int) -> frozenset[int]:
  """Chunk counts after which a learning-curve point is taken: every ``eval_every`` chunks, the
  powers of two (so log-step axes show the early phase too) and the last chunk."""
  powers = {2**i for i in range(num_chunks.bit_length()) if 2**i <= num_chunks}
  return frozenset(set(range(eval_every, num_chunks + 1, eval_every)) | powers | {num_chunks})


def train_group(compiled: Compiled, settings: train.Settings, gcells: train.Cell, data,
                run: GroupRun, *, start_chunk: int, num_chunks: int, eval_every: int, on_chunk=None,
                stop_after: int | None = None) -> tuple[GroupRun, float, int] | None:
  """Trains a group from ``start_chunk`` to ``num_chunks``; returns (run, train seconds, chunks
  run), or None when stopped after ``stop_after`` chunks (a simulated interruption, for tests).

  After every chunk ``on_chunk(run, chunk_done, new_curve_point_or_None, newly_failed)`` is called
  (progress, metrics.jsonl, checkpoints). Curve points are taken after the chunks of
  ``curve_chunks(num_chunks, eval_every)``.
  """
  at = curve_chunks(num_chunks, eval_every)
  state, failed_at, history, curves, curve_steps = run
  seconds, ran = 0.0, 0
  for c in range(start_chunk, num_chunks):
    if stop_after is not None and ran >= stop_after:
      return None
    t0 = time.time()
    state, m = compiled.chunk(state, gcells, data)
    m, failed = distributed.fetch(((m.loss, m.data, m.kl), state.failed))
    m = np.stack(m, axis=-1)
    seconds += time.time() - t0
    ran += 1
    newly = failed & (failed_at < 0)
    failed_at = np.where(newly, c * settings.chunk_steps, failed_at)
    history.append(m)
    point = None
    if c + 1 in at:
      point = np.stack([np.asarray(f, np.float32)
                        for f in distributed.fetch(compiled.curve(state, gcells, data))])
      curves.append(point)
      curve_steps.append((c + 1) * settings.chunk_steps)
    run = GroupRun(state, failed_at, history, curves, curve_steps)
    if on_chunk is not None:
      on_chunk(run, c + 1, point, newly)
  return run, seconds, ran


def _check_run_args(settings: train.Settings, cells: train.Cell, *, num_steps: int,
                    checkpoint_every: int, eval_every: int, data, labels) -> np.ndarray | None:
  """``run_sweep``'s argument checks (a clear ``ValueError`` before any work); returns the
  validated fixed data set (``check_data``)."""
  if num_steps <= 0:
    raise ValueError(f"num_steps must be positive, got {num_steps}")
  if checkpoint_every <= 0:
    raise ValueError(f"checkpoint_every must be positive, got {checkpoint_every}")
  if eval_every < 0:
    raise ValueError(f"eval_every must be ≥ 0 (0 = automatic), got {eval_every}")
  if labels is not None and len(labels) != num_cells(cells):
    raise ValueError(f"labels has {len(labels)} entries for {num_cells(cells)} cells")
  kappa = np.asarray(cells.kappa)
  if np.any(kappa < 1) or np.any(kappa > settings.kappa_max):
    raise ValueError(f"every κ must be in [1, kappa_max={settings.kappa_max}], got {kappa}")
  return check_data(settings, data)


def _place_data(compiled: Compiled, data: np.ndarray | None):
  """The fixed data table on the device(s): replicated on every device of the mesh."""
  if data is None:
    return None
  if compiled.sharding is None:
    return jax.device_put(data)
  return distributed.put(data, NamedSharding(compiled.sharding.mesh, PartitionSpec()))


def _place_cells(compiled: Compiled, gcells: train.Cell) -> train.Cell:
  """A group's cells sharded over the mesh (host arrays on one device)."""
  return gcells if compiled.sharding is None else distributed.put(gcells, compiled.sharding)


def _pad(idx: np.ndarray, size: int) -> np.ndarray:
  return np.concatenate([idx, np.full(size - len(idx), idx[-1])])


def _group_results(ev: train.EvalMetrics, run: GroupRun, n: int,
                   refit_obj: np.ndarray | None) -> dict:
  """The arrays of a finished group (first ``n`` = unpadded cells), as stored in its done file."""
  arrays = {f"eval_{f}": np.asarray(getattr(ev, f))[:n] for f in train.EvalMetrics._fields}
  arrays.update(
      failed=run.failed_at[:n] >= 0, failed_at=run.failed_at[:n],
      history=np.asarray(run.history, np.float32).reshape(len(run.history), -1, 3)[:, :n],
      curves=np.asarray(run.curves, np.float32).reshape(
          len(run.curves), len(train.CurveMetrics._fields), -1)[:, :, :n],
      curve_steps=np.asarray(run.curve_steps, np.int64))
  if refit_obj is not None:
    arrays["vae_objective_refit"] = np.asarray(refit_obj)[:n]
  return arrays


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
    cache_bytes: int = stream.CACHE_BYTES,
    eval_every: int = 0,
    labels: Sequence[dict] | None = None,
    refit_head: bool = False,
) -> SweepResult:
  """Trains every cell for ``num_steps`` steps and evaluates it (see module docstring).

  Args:
    settings: static settings; ``settings.chunk_steps`` steps run per compiled call.
    cells: a ``train.Cell`` with a leading cell axis (``make_cells``).
    num_steps: total optimiser steps per cell; rounded up to whole chunks.
    workdir: where checkpoints (``<workdir>/<tag>_g<k>.ckpt.npz``) and the learning curves
      (``metrics.jsonl``, ``curves`` module) go; None = neither is written.
    tag: file-name prefix of this sweep's checkpoints and its ``tag`` in metrics.jsonl.
    cells_per_group: cells per compiled call (0 = all at once); bounds device memory.
    checkpoint_every: chunks between checkpoints.
    progress: print a status line per chunk to stderr.
    stop_after_chunks: stop (as if killed) after this many chunks in this call — for tests.
    data: optional fixed data set, (num_samples, data_dim) clean rows shared by all cells
      (``train`` module docstring); None = each cell's streamed manifold.
    return_params: also return the trained parameters (``SweepResult.params``, numpy leaves with
      a leading cell axis); they are then kept in the finished groups' files too.
    cache_bytes: without ``data``, the streamed manifolds are computed once into a table
      (``stream.clean_table``) when it fits in this many bytes; 0 = always stream. Results agree
      with streaming to float rounding (which training amplifies).
    eval_every: chunks between learning-curve points (``train.CurveMetrics`` on the first
      ``settings.eval_subset`` samples); 0 = about 25 points per run. The powers of two and the
      last chunk always have one (``curve_chunks``).
    labels: per cell, its grid coordinates (e.g. model, C2, κ, ν) for metrics.jsonl.
    refit_head: after training, also report every cell's VAE cost with its log σz² head refit
      (``train.refit_logvar_head``): the VAE objective of an autoencoder's solution.

  Returns:
    ``SweepResult`` with numpy arrays.
  """
  data = _check_run_args(settings, cells, num_steps=num_steps, checkpoint_every=checkpoint_every,
                         eval_every=eval_every, data=data, labels=labels)
  t_start = time.time()
  total = num_cells(cells)
  if data is None and cache_bytes > 0:
    cached = stream.clean_table(settings.data_spec, cells, cache_bytes)
    if cached is not None:
      data, slot = cached
      cells = cells._replace(data_slot=slot)  # every cell reads its rows of the shared table
  compiled = compile_sweep(settings)
  group = total if cells_per_group <= 0 else min(cells_per_group, total)
  group_padded = -(-group // compiled.num_devices) * compiled.num_devices
  num_chunks = -(-num_steps // settings.chunk_steps)
  eval_every = eval_every or auto_eval_every(num_chunks)
  fp = fingerprint(settings, cells, num_chunks * settings.chunk_steps, data)
  data = _place_data(compiled, data)
  log = None if workdir is None else curves.MetricsLog(workdir, tag, labels)
  groups, params_all, train_seconds, chunks_run = [], [], 0.0, 0
  n_groups = -(-total // group)
  for g in range(n_groups):
    lo, hi = g * group, min((g + 1) * group, total)
    gcells = _place_cells(compiled, take(cells, _pad(np.arange(lo, hi), group_padded)))
    store = GroupStore(workdir, tag, g, fp)
    done = store.load_done(hi - lo)
    template = jax.eval_shape(compiled.init, gcells)
    if done is None:
      out = _train_and_evaluate_group(
          compiled, settings, gcells, data, store, log, template, lo=lo, hi=hi,
          num_chunks=num_chunks, eval_every=eval_every, checkpoint_every=checkpoint_every,
          label=f"[{tag} {g + 1}/{n_groups}]", progress=progress, refit_head=refit_head,
          stop_after=None if stop_after_chunks is None else stop_after_chunks - chunks_run)
      if out is None:
        return None  # simulated interruption (tests)
      done, state, seconds, ran = out
      train_seconds += seconds
      chunks_run += ran
      if return_params:
        n = hi - lo
        params = jax.tree.map(lambda a, n=n: a[:n], distributed.fetch(state.params))
        done.update({f"param_{i:04d}": a for i, a in enumerate(jax.tree.leaves(params))})
      store.save_done(done)
    if refit_head and "vae_objective_refit" not in done:
      raise ValueError(f"{store.done} was written without refit_head; use a new --workdir")
    if return_params:
      params_all.append(store.params(done, template.params))
    groups.append(done)
  return _collect(groups, params_all if return_params else None, refit_head,
                  wall_seconds=time.time() - t_start, train_seconds=train_seconds)


def _train_and_evaluate_group(compiled, settings, gcells, data, store, log, template, *, lo, hi,
                              num_chunks, eval_every, checkpoint_every, label, progress,
                              refit_head, stop_after):
  """One group: resume or start, train with progress / metrics.jsonl / checkpoints, evaluate."""
  n, padded = hi - lo, int(np.shape(gcells.kappa)[0])
  resumed = store.load_ckpt(template)
  if resumed is None:
    run, start_chunk = GroupRun(compiled.init(gcells), np.full(padded, -1, np.int64), [], [],
                                []), 0
  else:
    run, start_chunk = resumed
    run = run._replace(state=jax.device_put(run.state) if compiled.sharding is None
                       else distributed.put(run.state, compiled.sharding))
  if log is not None:
    log.truncate(range(lo, hi), start_chunk * settings.chunk_steps)
  bar = Progress(num_chunks * settings.chunk_steps, n, settings.batch_size, label,
                 progress and io.is_writer())
  bar.update(start_chunk * settings.chunk_steps, int(np.sum(run.failed_at >= 0)), float("nan"))

  def on_chunk(run: GroupRun, chunk: int, point, newly) -> None:
    step = chunk * settings.chunk_steps
    for j in np.nonzero(newly[:n])[0] if io.is_writer() else ():
      print(f"{label} cell {lo + j} became non-finite before step {step}; it is frozen and "
            "reported as failed", file=sys.stderr)
    if point is not None and log is not None:
      log.append(step, range(lo, hi), dict(zip(train.CurveMetrics._fields, point[:, :n])))
    loss = run.history[-1][:n, 0]
    finite = loss[np.isfinite(loss)]
    bar.update(step, int(np.sum(run.failed_at[:n] >= 0)),
               float(np.median(finite)) if finite.size else float("nan"))
    if chunk % checkpoint_every == 0 or chunk == num_chunks:
      if store.ckpt:
        store.save_ckpt(run, chunk)

  out = train_group(compiled, settings, gcells, data, run, start_chunk=start_chunk,
                    num_chunks=num_chunks, eval_every=eval_every, on_chunk=on_chunk,
                    stop_after=stop_after)
  if out is None:
    return None
  run, seconds, ran = out
  ev = distributed.fetch(compiled.evaluate(run.state, gcells, data))
  refit_obj = None
  if refit_head:
    refit = compiled.refit(run.state, gcells, data)
    refit_obj = distributed.fetch(compiled.evaluate(refit, gcells, data).vae_objective)
  return _group_results(ev, run, n, refit_obj), run.state, seconds, ran


def _collect(groups: list[dict], params_all, refit_head: bool, *, wall_seconds: float,
             train_seconds: float) -> SweepResult:
  """Concatenates the groups' results; a failed cell's NMSE is NaN."""
  cat = lambda key, axis=0: np.concatenate([d[key] for d in groups], axis=axis)
  ev = train.EvalMetrics(*[cat(f"eval_{f}") for f in train.EvalMetrics._fields])
  failed = cat("failed")
  ev = ev._replace(nmse=np.where(failed, np.nan, ev.nmse))
  curve_arr = cat("curves", axis=2)  # (evals, fields, cells)
  return SweepResult(
      eval=ev, failed=failed, failed_at_step=cat("failed_at"), history=cat("history", axis=1),
      wall_seconds=wall_seconds, train_seconds=train_seconds,
      params=(jax.tree.map(lambda *a: np.concatenate(a), *params_all)
              if params_all is not None else None),
      curves=train.CurveMetrics(*[curve_arr[:, i] for i in range(curve_arr.shape[1])]),
      curve_steps=groups[0]["curve_steps"],
      vae_objective_refit=cat("vae_objective_refit") if refit_head else None)
