"""Affine-decoder theory demo (Sec. 2: Lemma 1, Theorem 2, Corollary 3).

  python -m launch.affine_theory --config=launch/configs/affine_theory.py:quick \
      --workdir=runs/affine_theory

``quick``: under a minute on 2 CPU cores. ``paper``: larger d, κ and more initialisations.
"""

import ml_collections


def get_config(preset: str = "quick") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.seed = 0
  c.num_samples = 500
  c.data_dim = 20
  c.rank = 3
  c.latent_dim = 8
  c.noise_std = 0.1
  c.lam = 0.1  # Σx = λI, fixed and known
  c.num_steps = 3000
  c.learning_rate = 1e-2
  c.num_inits = 8
  c.mc_samples = 1
  if preset == "quick":
    pass
  elif preset == "paper":
    c.num_samples, c.data_dim, c.rank, c.latent_dim = 5000, 100, 10, 30
    c.num_steps, c.num_inits = 20000, 32
  elif preset == "tiny":
    c.num_samples, c.data_dim, c.latent_dim, c.num_steps, c.num_inits = 100, 8, 5, 300, 2
  else:
    raise ValueError(f"unknown preset {preset!r}; choose quick, paper or tiny")
  return c
