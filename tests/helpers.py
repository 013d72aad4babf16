"""Small settings and data shared by the tests."""

import numpy as np

from hidden_talents import train

TINY = train.Settings(
    data_dim=12, kappa_max=4, generator_widths=(8, 16), encoder_widths=(16, 8),
    decoder_widths=(8, 16), latent_dim=6, num_samples=200, batch_size=20, chunk_steps=5,
    learning_rate=1e-3, alpha=1e-2, eval_batch_size=64, hist_bins=10)


# A small RobustVAE that fits ``circle`` in seconds (tests/test_robust_vae.py, test_refine.py).
ROBUST_KW = dict(steps=400, hidden_widths=(16, 16), batch_size=32, latent_dim=2, seed=1)


def circle(n: int, seed: int, nu: float) -> tuple[np.ndarray, np.ndarray]:
  """(X, L): a closed curve in R⁴ (a 1-D manifold) plus ±3 gross outliers on a fraction ν of the
  entries."""
  rng = np.random.default_rng(seed)
  t = rng.uniform(0, 2 * np.pi, (n, 1))
  L = np.concatenate([np.cos(t), np.sin(t), np.cos(2 * t), np.sin(2 * t)], 1)
  X = L + 0.01 * rng.normal(size=L.shape)
  m = rng.random(L.shape) < nu
  X[m] += 3 * rng.choice([-1.0, 1.0], m.sum())
  return X, L
