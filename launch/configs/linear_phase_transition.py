"""Linear phase transition (Sec. 3, Theorem 4, Corollary 5): the partially affine VAE, its AE limit
(Σz = 0) and convex PCP recovering a rank-r subspace from data with a fraction ν of entries
replaced by gross outliers.

Presets (``--config=launch/configs/linear_phase_transition.py:<preset>``):

* ``quick`` — d = 50, ranks {1, 3, 5, 7} × ν ∈ {0.05, 0.1, 0.2, 0.3} (coarse), κ_latent = 16,
  encoder 64-64, n = 2000, 30 000 Adam steps (lr 3e-3), AE at C2 = 0.1; PCP on the first 1000
  rows of the same X with λ ∈ {0.5, 1, 2}/√max(m, n). Measured 4.8 min on 2 otherwise idle CPU
  cores (2026-11-25). At 6000 steps the VAE had not converged (success in 4 cells, median NMSE
  0.63, rank error 3.4); at 30 000 it succeeds in 7 (median NMSE 0.006, rank error 0.5).
      python -m launch.linear_phase_transition \
          --config=launch/configs/linear_phase_transition.py:quick --workdir=runs/linear_pt
* ``paper`` — d = 100, ranks 2…40 × ν = 0.05…0.5 (20 × 10), κ_latent = 50, encoder
  2000-1000 as in Sec. 5.1, n = 10⁵, 10⁵ steps, AE at C2 ∈ {0, 0.1, 1}; for a GPU.
* ``tiny`` — 2 × 2 grid, a few hundred steps, for tests (seconds).

Override any field, e.g. ``--config.ranks='(2,4)' --config.nus='(0.1,0.3)'``.
"""

from __future__ import annotations

import ml_collections


def get_config(preset: str = "quick") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  # Grid and data.
  c.ranks = (1, 3, 5, 7)
  c.nus = (0.05, 0.1, 0.2, 0.3)
  c.models = ("vae", "ae", "pcp")
  c.seed = 0
  c.data_dim = 50
  c.outlier_scale = 10.0  # outliers ~ N(0, 10²); clean entries have variance 2
  # Networks: deep encoder, affine decoder mean, over-complete latent.
  c.encoder_widths = (64, 64)
  c.latent_dim = 16  # κ_latent > max rank
  c.ae_c2_values = (0.1,)  # AE-ℓ2 (Σz = 0) C2 values; each cell reports the best
  # Training.
  c.num_samples = 2000
  c.batch_size = 100
  c.num_steps = 30_000
  c.chunk_steps = 2000
  c.learning_rate = 3e-3
  c.alpha = 1e-2  # floor of the optimised decoder variance; support = |residual| > √α
  c.weight_decay = 1e-5  # C1
  c.logvar_bias_init = 0.0
  c.cells_per_group = 0
  c.checkpoint_every = 1
  # Evaluation.
  c.eval_samples = 1000  # rows per cell for the metrics and for PCP
  c.success_threshold = 1e-3  # NMSE
  c.eq13_refinements = 2  # re-estimate the eq. 13 support from its own fit this many times
  c.pcp = ml_collections.ConfigDict()
  c.pcp.lam_factors = (0.5, 1.0, 2.0)
  c.pcp.max_iter = 500
  c.pcp.tol = 1e-6
  c.pcp.chunk_size = 8
  c.pcp.num_samples = 0  # rows of X given to PCP; 0 = eval_samples

  if preset == "quick":
    pass
  elif preset == "paper":
    c.ranks = tuple(range(2, 41, 2))
    c.nus = tuple(round(0.05 * i, 2) for i in range(1, 11))
    c.data_dim = 100
    c.encoder_widths = (2000, 1000)
    c.latent_dim = 50
    c.learning_rate = 1e-3
    c.ae_c2_values = (0.0, 0.1, 1.0)
    c.num_samples = 100_000
    c.num_steps = 100_000
    c.chunk_steps = 5000
    c.eval_samples = 5000
    c.cells_per_group = 100
    c.pcp.max_iter = 1000
  elif preset == "tiny":
    c.ranks = (1, 3)
    c.nus = (0.05, 0.2)
    c.data_dim = 20
    c.encoder_widths = (32, 32)
    c.latent_dim = 6
    c.num_samples = 300
    c.batch_size = 50
    c.num_steps = 40
    c.chunk_steps = 20
    c.learning_rate = 1e-3
    c.eval_samples = 200
    c.pcp.lam_factors = (2.0,)
    c.pcp.max_iter = 100
  else:
    raise ValueError(f"unknown preset {preset!r}; choose quick, paper or tiny")
  return c
