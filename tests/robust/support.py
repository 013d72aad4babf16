"""Data and stand-ins shared by the tests of ``hidden_talents.robust``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import hidden_talents
from hidden_talents.data import corrupt, manifold
from hidden_talents.robust import engine


def synthetic_manifold(seed: int, n: int, d: int, kappa: int, nu: float,
                       widths=(40, 80)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(X, L, true mask): the engine's ground-truth ReLU decoder (Sec. 5.1) + N(0, 1) outliers."""
  kg, kd, kc = jax.random.split(jax.random.PRNGKey(seed), 3)
  gen = manifold.init_generator(kg, kappa, kappa_max=kappa, widths=widths, data_dim=d)
  _, L = manifold.sample_clean(gen, kd, jnp.arange(n))
  X, mask = corrupt.gaussian_outliers(kc, jnp.arange(n), L, nu)
  return np.asarray(X, np.float64), np.asarray(L, np.float64), np.asarray(mask)


def fake_train(monkeypatch, noise: float = 0.3, calls: list | None = None) -> None:
  """Replaces the VAE training and its reconstruction by Z + heavy-tailed noise (fast and known;
  the same noise for the same rows, so fit and transform agree)."""
  def fake(Z, settings, *, steps, seed, kl_warmup=0, progress=True):
    if calls is not None:
      calls.append(steps)
    return {"seed": seed}, {"loss_history": [1.0], "steps": steps}

  def fake_apply(settings, params, Z, **refine):
    rng = np.random.default_rng(params["seed"])
    return Z + noise * rng.standard_t(2, size=Z.shape)
  monkeypatch.setattr(engine, "train_vae", fake)
  monkeypatch.setattr(engine, "apply_vae", fake_apply)


def same_result(a, b) -> None:
  """Two decompositions agree bit for bit in every array."""
  for name in ("L", "S", "mask", "S_sparse", "sample_scores", "noise_scale"):
    np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def rpca_result(n: int = 30, d: int = 4, seed: int = 0):
  """(X, its RPCA decomposition) of Gaussian noise: a quick result to write or draw."""
  X = np.random.default_rng(seed).normal(size=(n, d))
  return X, hidden_talents.decompose(X, method="rpca")
