"""Latent-dimension pruning on a synthetic manifold (Sec. 5.2, Table 1, Figure 2a).

Ground truth z(20)-D1(200)-D2(200)-x(400); VAE (and AE with Σz = 0) x(400)-E1…E_Ne-μz(30)-
D1…D_Nd-μx(400) for Ne, Nd ∈ {0, 1, 2, 3}; nonzero columns of W₁ averaged over trials.

Presets (``--config=launch/configs/latent_pruning.py:<preset>``):

* ``quick`` — the full 4 × 4 (Ne × Nd) grid, VAE + AE, the paper's data (d = 400, true dim 20,
  dim μz = 30) but hidden layers of width 64 instead of 200, 2 trials, n = 5000, 6000 Adam steps
  at lr 1e-3. Measured 11.5 min on 2 otherwise idle CPU cores (2026-11-25; ~40 s per (Ne, Nd)
  program, ~10 s of it compilation). Not converged: at 2000 steps no W₁ column fell below the
  threshold for either model; at 6000 the VAE keeps 13.5–26 of 30 columns for Ne ≥ 1, Nd ≤ 2
  and the AE all 30, but Ne = 0 and Nd = 3 are still unpruned (the paper: 20 for Nd ≥ 2).
      python -m launch.latent_pruning --config=launch/configs/latent_pruning.py:quick \
          --workdir=runs/latent_pruning
* ``paper`` — the paper's sizes: width 200, 10 trials, n = 10⁶, 200 epochs (2·10⁶ steps) of
  batch 100 at lr 1e-4 (Sec. 5.1's protocol). For a GPU.
* ``tiny`` — a 2 × 2 grid of small nets and a few steps, for tests (seconds).

Any field can be overridden, e.g. ``--config.num_trials=5 --config.decoder_depths='(2,3)'``.
"""

from __future__ import annotations

import ml_collections


def get_config(preset: str = "quick") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  # Grid and models.
  c.encoder_depths = (0, 1, 2, 3)  # Ne
  c.decoder_depths = (0, 1, 2, 3)  # Nd
  c.models = ("vae", "ae")
  c.ae_c2 = 1.0  # AE = AE-ℓ2 with this C2 (1.0: exactly the VAE's cost with Σz = 0)
  c.num_trials = 10
  c.seed = 0
  # Data: z(true_dim) through generator_widths to x(data_dim), no corruption.
  c.true_dim = 20
  c.generator_widths = (200, 200)
  c.data_dim = 400
  # Model.
  c.hidden_width = 200
  c.latent_dim = 30
  c.logvar_bias_init = 0.0
  # Training (Sec. 5.1).
  c.num_samples = 1_000_000
  c.batch_size = 100
  c.num_steps = 2_000_000
  c.chunk_steps = 5000
  c.learning_rate = 1e-4
  c.alpha = 1e-2  # floor of the per-entry decoder variance
  c.weight_decay = 5e-4  # C1
  c.loss_reduction = "mean"
  c.eval_batch_size = 10_000
  c.checkpoint_every = 10
  # Metric and figure.
  c.threshold = 0.05  # Sec. 5.2: zero column if ‖w·j‖ < 0.05 · max ‖w·j‖
  c.fig2a_encoder_depth = 3

  if preset == "paper":
    pass
  elif preset == "quick":
    c.hidden_width = 64
    c.num_trials = 2
    c.num_samples = 5000
    c.num_steps = 6000
    c.chunk_steps = 1000
    c.learning_rate = 1e-3
    c.eval_batch_size = 1000
    c.checkpoint_every = 2
  elif preset == "tiny":
    c.encoder_depths = (0, 1)
    c.decoder_depths = (0, 2)
    c.num_trials = 2
    c.generator_widths = (16, 16)
    c.data_dim = 40
    c.hidden_width = 16
    c.num_samples = 200
    c.batch_size = 20
    c.num_steps = 20
    c.chunk_steps = 10
    c.learning_rate = 1e-3
    c.eval_batch_size = 100
    c.checkpoint_every = 1
    c.fig2a_encoder_depth = 1
  else:
    raise ValueError(f"unknown preset {preset!r}; choose quick, paper or tiny")
  return c
