"""MNIST latent-dimension pruning (Sec. 5.2, Figure 2b): nonzero W₁ columns vs κ, VAE and AE.

Data: MNIST pixels / 255 ∈ [0, 1] (``hidden_talents.data.mnist``), no corruption, shared by all
cells (fixed-dataset mode). Decoder variance optimised out per pixel with floor α (Sec. 5.1).

Presets (``--config=launch/configs/mnist_pruning.py:<preset>``):

* ``quick`` — the first 10 000 digits, encoder 784-128-64-32-κ (decoder mirrored) instead of
  1000-500-250, κ ∈ {3, 5, 10, 20, 30}, 2 trials, 1500 Adam steps (15 epochs) of batch 100 at
  lr 1e-3; the VAE with the paper's decoder variance, the AE, and a VAE with a learned decoder
  variance γ(z). Two models measured 3 min on 2 otherwise idle CPU cores.
      python -m launch.mnist_pruning --config=launch/configs/mnist_pruning.py:quick \
          --workdir=runs/mnist_pruning
* ``paper`` — all 70 000 digits, x(784)-E1(1000)-E2(500)-E3(250)-μz(κ)-D1(250)-D2(500)-D3(1000),
  κ ∈ {3, 5, 8, 10, 15, 20, 25, 30, 35, 40}, 10 trials, 200 epochs (140 000 steps) at lr 1e-4.
  For a GPU.
* ``tiny`` — 300 digits, small nets, two κ, a few steps; for tests.

Any field can be overridden, e.g. ``--config.kappas='(5,20)' --config.num_images=20000``.
"""

from __future__ import annotations

import ml_collections


def get_config(preset: str = "quick") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.kappas = (3, 5, 8, 10, 15, 20, 25, 30, 35, 40)
  # 'vae' and 'ae' use decoder_variance (the paper's optimised-out Σx); 'vae_learned' /
  # 'vae_shared' are VAEs with a learned decoder variance (a head γ(z) / one γ), one more program.
  c.models = ("vae", "ae", "vae_learned")
  c.ae_c2 = 0.0  # the paper's AE: C2 = 0 (weight decay C1 only)
  c.num_trials = 10
  c.seed = 0
  # Data.
  c.num_images = ml_collections.FieldReference(None, field_type=int)  # None = all 70 000
  c.pixel_scale = 255.0  # x = pixels / pixel_scale
  # Model: encoder widths; the decoder mirrors them.
  c.encoder_widths = (1000, 500, 250)
  c.logvar_bias_init = 0.0
  # Training (Sec. 5.1).
  c.batch_size = 100
  c.num_steps = 140_000  # 200 epochs of 700 batches
  c.chunk_steps = 5000
  c.learning_rate = 1e-4
  c.alpha = 1e-2  # floor of the per-pixel decoder variance
  c.decoder_variance = "optimal"  # of 'vae' and 'ae': 'optimal' (the paper's), 'learned', 'shared'
  c.weight_decay = 5e-4  # C1
  c.loss_reduction = "mean"
  c.eval_batch_size = 10_000
  c.checkpoint_every = 2
  c.threshold = 0.05  # Sec. 5.2

  if preset == "paper":
    pass
  elif preset == "quick":
    c.kappas = (3, 5, 10, 20, 30)
    c.num_trials = 2
    c.num_images = 10_000
    c.encoder_widths = (128, 64, 32)
    c.num_steps = 1500
    c.chunk_steps = 500
    c.learning_rate = 1e-3
    c.eval_batch_size = 2000
  elif preset == "tiny":
    c.kappas = (2, 4)
    c.num_trials = 2
    c.num_images = 300
    c.encoder_widths = (32, 16)
    c.batch_size = 50
    c.num_steps = 20
    c.chunk_steps = 10
    c.learning_rate = 1e-3
    c.eval_batch_size = 150
    c.checkpoint_every = 1
  else:
    raise ValueError(f"unknown preset {preset!r}; choose quick, paper or tiny")
  return c
