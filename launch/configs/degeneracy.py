"""Theorem 6 (Sec. 4): degeneracy of an over-flexible decoder mean.

  python -m launch.degeneracy --config=launch/configs/degeneracy.py:quick --workdir=runs/degeneracy

``quick``: seconds on a CPU. ``paper``: more samples and a wider α range (still seconds; the
objective is evaluated exactly, not trained).
"""

import ml_collections


def get_config(preset: str = "quick") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.seed = 0
  c.num_samples = 20  # n
  c.data_dim = 10  # d
  c.manifold_dim = 2  # κ of the ground-truth manifold the samples lie on
  c.generator_widths = (16, 32)
  c.log10_alpha_min = -8.0
  c.log10_alpha_max = 1.0
  c.num_alphas = 91
  c.mc_log10_alphas = (-3.0, -2.0, -1.0, 0.0)  # where the exact value is checked by Monte Carlo
  c.mc_samples = 200  # τ per input in each Monte-Carlo replicate
  c.mc_replicates = 20  # independent replicates (their spread gives the standard error)
  if preset == "quick":
    pass
  elif preset == "paper":
    c.num_samples, c.data_dim, c.log10_alpha_min = 200, 100, -12.0
  elif preset == "tiny":
    c.num_samples, c.data_dim, c.num_alphas, c.mc_samples, c.mc_replicates = 8, 4, 19, 50, 8
  else:
    raise ValueError(f"unknown preset {preset!r}; choose quick, paper or tiny")
  return c
