"""Per-row latent refinement: each row's q(z|x) optimised on that row's own VAE cost.

With the trained decoder fixed, ``Defaults.refine_steps`` Adam steps (learning rate
``Defaults.refine_lr`` decaying to 0 on a cosine, the training's τ reparameterised samples per
step) on each row's VAE cost — the objective training minimises (eq. 2 with Σx optimised out,
β = 1), weighted by the observed entries — start from the encoder's (μz, log σz²). The encoder is
an amortised guess of each row's optimal q(z|x) (the "amortisation gap": Cremer et al. 2018;
semi-amortised VAEs: Kim et al. 2018), while Theorem 4's support result holds at the optimum;
the gap matters most for rows the model was not fitted on. ``refine_steps=0`` decodes the
encoder's μz (the paper's μx(μz[x])).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hidden_talents import models, train
from hidden_talents.objectives.unified import LossCoefficients, model_coefficients
from hidden_talents.robust.settings import defaults

STREAM = 0x5EF1  # folded into PRNGKey(seed): the refinement's noise stream


def refine_key(seed: int) -> jax.Array:
  """The base key of the refinement's noise for ``seed`` (rows fold their own hash into it)."""
  return jax.random.fold_in(jax.random.PRNGKey(seed), STREAM)


def refine_latents(fns: train.TrainFns, params: Any, x: jax.Array, weight: jax.Array,
                   key: jax.Array, *, steps: int, lr: float | None = None
                   ) -> tuple[jax.Array, jax.Array]:
  """(μz, log σz²) of rows x (standardised) after ``steps`` Adam steps on each row's VAE cost with
  the decoder fixed (module docstring), from the encoder's guess.

  The cost is the engine's ``latent_cost``, the per-sample unified cost that training minimises
  (eq. 2; Σx optimised out for ``'optimal'``, the decoder's variance head otherwise), at β = 1 and
  C2 = 1, summed over the rows: Adam's steps are per coordinate, so each row is refined on its
  own. The learning rate decays from ``lr`` (default ``Defaults.refine_lr``) to 0 on a cosine
  over the steps. ``weight`` (same shape as x, 1 = observed, 0 = missing) leaves missing entries
  out of the data term. ``key`` draws the reparameterisation noise
  (``settings.num_latent_samples`` samples per step): one key for the whole batch, or one key per
  row (shape (b, 2), :func:`row_keys`), so that a row's noise, and with it its refined code, does
  not depend on the other rows or its position."""
  s = fns.settings
  lr = defaults().refine_lr if lr is None else lr
  coeffs = LossCoefficients(*[jnp.float32(v) for v in model_coefficients("vae")])
  _, mu0, lv0 = fns.reconstruct(params, x)
  per_row = key.ndim == 2

  def cost(v, k):
    mu, lv = v
    if per_row:  # (b, S, κ) from each row's key, as (S, b, κ)
      eps = jnp.swapaxes(jax.vmap(
          lambda kr: jax.random.normal(kr, (s.num_latent_samples, mu.shape[1])))(k), 0, 1)
    else:
      eps = jax.random.normal(k, (s.num_latent_samples, *mu.shape))
    return jnp.sum(fns.latent_cost(params, x, mu, lv, eps, coeffs, weight)[0])

  tx = optax.adam(optax.cosine_decay_schedule(lr, steps))

  def step(carry, k):
    v, opt = carry
    g = jax.grad(cost)(v, k)
    updates, opt = tx.update(g, opt, v)
    return (optax.apply_updates(v, updates), opt), None

  v0 = (mu0, lv0)
  keys = (jnp.swapaxes(jax.vmap(lambda kr: jax.random.split(kr, steps))(key), 0, 1) if per_row
          else jax.random.split(key, steps))
  (v, _), _ = jax.lax.scan(step, (v0, tx.init(v0)), keys)
  return v


def row_keys(base: jax.Array, Z: np.ndarray) -> jax.Array:
  """(m, 2) PRNG keys, one per row of Z: ``base`` folded with a 32-bit FNV-1a hash of the row's
  float32 bytes. The same row gets the same key in any batch, at any position."""
  bits = np.ascontiguousarray(np.asarray(Z, np.float32)).view(np.uint32).astype(np.uint64)
  h = np.full(bits.shape[0], 2166136261, np.uint64)
  for j in range(bits.shape[1]):
    h = ((h ^ bits[:, j]) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)
  return jax.vmap(lambda v: jax.random.fold_in(base, v))(jnp.asarray(h.astype(np.uint32)))


def refined_reconstruction(fns: train.TrainFns, params: Any, x: jax.Array, weight: jax.Array,
                           key: jax.Array, steps: int) -> jax.Array:
  """μx(μz*) of rows x with μz* from :func:`refine_latents`."""
  mu_z, _ = refine_latents(fns, params, x, weight, key, steps=steps)
  return fns.model.apply(params, mu_z, method=models.AutoEncoder.decode)
