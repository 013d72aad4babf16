"""Linear phase transition of convex RPCA (PCP, eq. 14): success over rank × corruption fraction.

The classic picture of Candès, Li, Ma & Wright (2011, Sec. 4, Fig. 1) that the paper's Figure 1
generalises to nonlinear manifolds (Sec. 5.1): for each (rank r, outlier fraction ν) and seed, draw
X = L + S (``hidden_talents.data.lowrank``), solve PCP by inexact ALM (``hidden_talents.rpca``),
and call the cell a success when ‖L̂ − L‖_F/‖L‖_F < ``success_threshold`` (10⁻³ in Candès et al.).

The whole grid (λ factors × ranks × fractions × seeds) is one compiled call: ``lax.map`` over
chunks of cells, ``vmap`` inside a chunk, each cell generating its own matrix from its key, so
memory is O(chunk_size · m · n) whatever the grid size.

``run(config, workdir)`` writes ``config.json``, ``results.npz`` (relative errors, NMSE (eq. 20),
iterations, convergence flags, success fraction), ``summary.json`` and two PNGs:
``rpca_success.png`` (white = all seeds succeed) and ``rpca_nmse.png`` (mean NMSE, Figure 1's
white = 0 / dark blue = 1 convention).
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from hidden_talents import checks, io, metrics, plotting, rpca
from hidden_talents.data import lowrank


def validate(config) -> None:
  """Raises ``ValueError`` naming the first bad field; called before any compute."""
  m = checks.positive_int("num_rows", config.num_rows)
  n = checks.positive_int("num_cols", config.num_cols)
  for r in checks.nonempty("ranks", config.ranks):
    if checks.positive_int("every rank", r) > min(m, n):
      raise ValueError(f"ranks must be ≤ min(num_rows, num_cols) = {min(m, n)}, got {r}")
  for nu in checks.nonempty("corruptions", config.corruptions):
    checks.fraction("every corruption fraction", nu)
  for f in checks.nonempty("lam_factors", config.lam_factors):
    checks.positive_number("every lam factor", f)
  checks.positive_int("num_seeds", config.num_seeds)
  checks.positive_int("chunk_size", config.chunk_size)
  checks.positive_int("max_iter", config.max_iter)
  checks.open_fraction("tol", config.tol)
  checks.number("rho", config.rho, lo=1.0, lo_open=True)
  checks.positive_number("success_threshold", config.success_threshold)
  checks.positive_number("outlier_scale", config.outlier_scale)
  checks.one_of("outliers", config.outliers, lowrank.OUTLIER_KINDS)
  checks.integer("seed", config.seed)


def make_grid_solver(config):
  """Returns ``solve(keys, ranks, nus, lams) -> (rel_error, nmse, iterations, converged)``.

  Static settings (shape, tolerances, chunking) are closed over; the swept quantities are flat
  arrays of length C (one entry per cell), padded here to a multiple of ``chunk_size``.
  """
  shape = (int(config.num_rows), int(config.num_cols))
  max_rank = max(int(r) for r in config.ranks)
  chunk = int(config.chunk_size)

  def cell(key, rank, nu, lam):
    p = lowrank.lowrank_plus_sparse(key, rank, nu, shape=shape, max_rank=max_rank,
                                    outliers=config.outliers, scale=float(config.outlier_scale))
    r = rpca.robust_pca(p.X, lam=lam, tol=float(config.tol), max_iter=int(config.max_iter),
                        rho=float(config.rho))
    nmse = metrics.nmse(p.L, r.L)  # eq. 20; the relative error is its square root
    return jnp.sqrt(nmse), nmse, r.iterations, r.converged

  @jax.jit
  def solve(keys, ranks, nus, lams):
    c = ranks.shape[0]
    n_chunks = -(-c // chunk)
    pad = n_chunks * chunk - c

    def prep(a):
      a = jnp.concatenate([a, jnp.broadcast_to(a[:1], (pad,) + a.shape[1:])]) if pad else a
      return a.reshape((n_chunks, chunk) + a.shape[1:])

    out = lax.map(lambda args: jax.vmap(cell)(*args), tuple(map(prep, (keys, ranks, nus, lams))))
    return jax.tree.map(lambda a: a.reshape(-1)[:c], out)

  return solve


def run(config, workdir: str) -> dict:
  """Runs the sweep and writes config.json, results.npz, summary.json and the PNGs to workdir."""
  validate(config)
  io.start_run(workdir, config)
  start = time.time()
  ranks = np.asarray(config.ranks, np.int32)
  nus = np.asarray(config.corruptions, np.float32)
  factors = np.asarray(config.lam_factors, np.float64)
  n_l, n_r, n_c, n_s = len(factors), len(ranks), len(nus), int(config.num_seeds)
  grid = (n_l, n_r, n_c, n_s)
  base_lam = rpca.default_lam((config.num_rows, config.num_cols))
  # The same matrix for every λ factor: the key depends on (rank, ν, seed) only.
  keys = jax.random.split(jax.random.key(int(config.seed)), n_r * n_c * n_s)
  keys = jnp.tile(keys.reshape(n_r, n_c, n_s), (n_l, 1, 1, 1)).reshape(-1)
  r_flat = np.broadcast_to(ranks[None, :, None, None], grid).reshape(-1)
  nu_flat = np.broadcast_to(nus[None, None, :, None], grid).reshape(-1)
  lam_flat = np.broadcast_to(factors[:, None, None, None] * base_lam, grid).reshape(-1)
  solve = make_grid_solver(config)
  args = (keys, jnp.asarray(r_flat), jnp.asarray(nu_flat), jnp.asarray(lam_flat, jnp.float32))
  t0 = time.time()
  compiled = solve.lower(*args).compile()
  compile_s = time.time() - t0
  t0 = time.time()
  rel, nmse, iters, conv = jax.block_until_ready(compiled(*args))
  solve_s = time.time() - t0
  rel, nmse, iters, conv = (np.asarray(a).reshape(grid) for a in (rel, nmse, iters, conv))
  success = rel < float(config.success_threshold)
  success_fraction = success.mean(axis=-1)  # (λ, rank, ν)
  results = {
      "ranks": ranks, "corruptions": nus, "lam_factors": factors, "lam": factors * base_lam,
      "rel_error": rel, "nmse": nmse, "iterations": iters, "converged": conv,
      "success": success, "success_fraction": success_fraction,
      "nmse_mean": nmse.mean(axis=-1),
  }
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), results)
  titles = [f"λ = {f:g}/√max(m,n)" for f in factors]
  axes = dict(x_values=nus.tolist(), y_values=ranks.tolist(), x_label="outlier fraction ν",
              y_label="rank r")
  plotting.rpca_success_map(list(zip(titles, success_fraction, strict=True)),
                            path=os.path.join(workdir, "rpca_success.png"),
                            suptitle=f"PCP success (rel. error < {config.success_threshold:g}), "
                                     f"{config.num_rows}×{config.num_cols}, {n_s} seeds",
                            **axes)
  plotting.heatmaps(list(zip(titles, np.clip(results["nmse_mean"], 0, 1), strict=True)),
                    path=os.path.join(workdir, "rpca_nmse.png"),
                    suptitle="PCP mean NMSE (eq. 20)", **axes)
  summary = {
      "shape": [int(config.num_rows), int(config.num_cols)],
      "num_matrices": int(rel.size),
      "success_fraction": float(success.mean()),
      "success_fraction_by_lam_factor": {f"{f:g}": float(success[i].mean())
                                         for i, f in enumerate(factors)},
      "converged_fraction": float(conv.mean()),
      "iterations_mean": float(iters.mean()),
      "iterations_max": int(iters.max()),
      "compile_seconds": round(compile_s, 3),
      "solve_seconds": round(solve_s, 3),
      "seconds_per_matrix": round(solve_s / rel.size, 5),
      "wall_seconds": round(time.time() - start, 3),
  }
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  return summary
