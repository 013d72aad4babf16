"""Linear phase transition of convex RPCA (PCP, eq. 14, inexact ALM) over rank × outlier fraction.

Presets (``--config=launch/configs/rpca_phase_transition.py:<preset>``):

* ``quick`` — thin 1000 × 100 matrices (samples as rows, d = 100 as in Sec. 5.1), ranks 2…20,
  ν = 0.025…0.3, 2 seeds, float32: 240 matrices in one batched call. About 20 s on 2 idle CPU
  cores (0.08 s per matrix, 26 iterations on average; up to ~1 min on a loaded machine).
      python -m launch.rpca_phase_transition \
          --config=launch/configs/rpca_phase_transition.py:quick --workdir=runs/rpca_pt
* ``paper`` — Candès, Li, Ma & Wright (2011) Fig. 1: 400 × 400, ranks 10…200 (ρ_r = 0.025…0.5),
  ν = 0.025…0.5, 10 trials per cell, success = rel. error < 10⁻³: 4000 matrices, about 30 min
  on 2 idle CPU cores (0.43 s per 400 × 400 matrix, ~31 iterations).
* ``fig1`` — the grid of the paper's Figure 1 (κ = 2…20, ν = 0.05…0.5) on linear data with
  d = 100 and n = 4000 samples, 3 λ factors (0.5, 1, 2 × 1/√max(m, n)): 300 matrices, about
  1–2 minutes (0.24 s per 4000 × 100 float32 matrix).
* ``tiny`` — a 2 × 2 grid of 120 × 40 matrices, for tests (seconds).

Override any field, e.g. ``--config.ranks='(5,10)' --config.num_seeds=5``.
"""

from __future__ import annotations

import ml_collections


def _grid(start: float, stop: float, step: float) -> tuple[float, ...]:
  n = int(round((stop - start) / step)) + 1
  return tuple(round(start + i * step, 6) for i in range(n))


def get_config(preset: str = "quick") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.num_rows = 1000  # m: samples (our convention: X is n_samples × d)
  c.num_cols = 100  # n: data dimension d
  c.ranks = tuple(range(2, 21, 2))
  c.corruptions = _grid(0.025, 0.3, 0.025)
  c.num_seeds = 2
  c.seed = 0
  c.outliers = "sign"  # 'sign': ±outlier_scale added (Candès et al.); 'gaussian': replace entry
  c.outlier_scale = 1.0  # L has unit-variance entries
  c.lam_factors = (1.0,)  # λ = factor / √max(m, n)
  c.tol = 1e-6  # float32 floor; 1e-7 needs jax_enable_x64 + float64
  c.max_iter = 500
  c.rho = 1.5
  c.chunk_size = 16
  c.success_threshold = 1e-3
  if preset == "quick":
    pass
  elif preset == "paper":
    c.num_rows = c.num_cols = 400
    c.ranks = tuple(range(10, 201, 10))
    c.corruptions = _grid(0.025, 0.5, 0.025)
    c.num_seeds = 10
  elif preset == "fig1":
    c.num_rows, c.num_cols = 4000, 100
    c.ranks = tuple(range(2, 21, 2))
    c.corruptions = _grid(0.05, 0.5, 0.05)
    c.num_seeds = 1
    c.lam_factors = (0.5, 1.0, 2.0)
    c.chunk_size = 8
  elif preset == "tiny":
    c.num_rows, c.num_cols = 120, 40
    c.ranks = (1, 8)
    c.corruptions = (0.02, 0.4)
    c.num_seeds = 2
    c.lam_factors = (1.0, 3.0)
    c.chunk_size = 3
    c.max_iter = 200
  else:
    raise ValueError(f"unknown preset {preset!r}; use quick, paper, fig1 or tiny")
  return c
