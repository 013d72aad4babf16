"""The baselines and checks of the phase-transition experiment on the cells' own data: convex RPCA
with the best λ of a small set per (κ, ν) cell, and Sec. 5.1's ground-truth encoder check with the
low-rank energy of L. They read the data through ``data.stream`` like training does, so every
model sees the same X.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hidden_talents import baselines, metrics, sweep, train
from hidden_talents.data import stream


def ground_truth_check(settings: train.Settings, kappas, seed: int, *, num_steps: int,
                       learning_rate: float, num_samples: int,
                       encoder_widths: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
  """Sec. 5.1's check that the manifold is invertible at these sizes, and how far L is from
  low rank.

  Trains l(d)-E1(r2)-E2(r1)-ẑ(κ) (ℓ2 loss on the first κ coordinates) on the fixed ground-truth
  decoder's output, vmapped over κ, and reports ‖ẑ − z‖²/‖z‖². The encoder's widths are the
  generator's mirrored (the paper's check) unless ``encoder_widths`` is given (the networks' own
  encoder, to certify an inverse the trained models can contain). Also the fraction of ‖L‖²_F
  outside the top κ and top 50 singular values of L (n × d).
  """
  widths = (tuple(settings.generator_widths)[::-1] if encoder_widths is None
            else tuple(int(w) for w in encoder_widths))
  kmax = settings.kappa_max
  sizes = [settings.data_dim, *widths, kmax]
  tx = optax.adam(learning_rate)
  infos = [sweep.CellInfo("vae", 1.0, int(k), 0.0, seed) for k in kappas]
  cells = sweep.make_cells(infos)

  def init_mlp(key):
    keys = jax.random.split(key, len(sizes) - 1)
    return [(jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), jnp.zeros((b,)))
            for k, a, b in zip(keys, sizes[:-1], sizes[1:])]

  def mlp(p, x):
    for i, (W, b) in enumerate(p):
      x = x @ W + b
      if i < len(p) - 1:
        x = jax.nn.relu(x)
    return x

  spec = settings.data_spec

  def one(cell):
    gen = stream.generator(spec, cell)
    p = init_mlp(cell.init_key)
    opt = tx.init(p)
    mask = gen.kappa_mask

    def loss(p, idx):
      z, l = stream.clean(spec, cell, idx, gen)
      return jnp.sum(((mlp(p, l) - z) * mask) ** 2) / jnp.sum(z**2)

    def step(carry, t):
      p, opt = carry
      idx = jax.random.randint(jax.random.fold_in(cell.train_key, t), (settings.batch_size,), 0,
                               num_samples)
      g = jax.grad(loss)(p, idx)
      upd, opt = tx.update(g, opt, p)
      return (optax.apply_updates(p, upd), opt), None

    (p, _), _ = jax.lax.scan(step, (p, opt), jnp.arange(num_steps))
    idx = jnp.arange(num_samples)
    rel = loss(p, idx)
    _, l = stream.clean(spec, cell, idx, gen)
    s = jnp.linalg.svd(l, compute_uv=False)
    e = jnp.cumsum(s**2) / jnp.sum(s**2)
    outside_kappa = 1.0 - e[cell.kappa - 1]
    outside_50 = 1.0 - e[min(50, e.shape[0]) - 1]
    return rel, outside_kappa, outside_50, s

  rel, out_k, out_50, spectra = jax.jit(jax.vmap(one))(cells)
  return {"gt_encoder_rel_error": np.asarray(rel), "energy_outside_top_kappa": np.asarray(out_k),
          "energy_outside_top_50": np.asarray(out_50), "singular_values_L": np.asarray(spectra)}


def rpca_grid(settings: train.Settings, config,
              pairs: list[tuple[int, float]] | None = None) -> dict[str, np.ndarray]:
  """Convex RPCA (batched inexact ALM) on every (κ, ν) cell's X; best λ per cell by NMSE.

  ``pairs``: the (κ, ν) cells to solve (default every pair of kappas × nus); the others are NaN
  in the (κ, ν) grids returned.
  """
  kappas, nus = list(config.kappas), list(config.nus)
  n = min(int(config.rpca.num_samples) or int(config.num_samples), settings.num_samples)
  pairs = pairs if pairs is not None else [(k, nu) for k in kappas for nu in nus]
  cells = sweep.make_cells([sweep.CellInfo("vae", 1.0, int(k), float(nu), int(config.seed))
                            for k, nu in pairs])
  factors = np.asarray(config.rpca.lam_factors, np.float32)
  chunk = int(config.rpca.chunk_size)
  nmse = np.full((len(pairs), len(factors)), np.nan)
  iters = np.zeros((len(pairs), len(factors)), np.int64)
  converged = np.zeros((len(pairs), len(factors)), bool)
  for start in range(0, len(pairs), chunk):
    sel = np.arange(start, min(start + chunk, len(pairs)))
    sel_padded = np.concatenate([sel, np.full(chunk - len(sel), sel[-1])])
    X, L, _ = stream.materialize(settings.data_spec, sweep.take(cells, sel_padded), n)
    base = baselines.rpca_best_lam(X, L, factors, tol=float(config.rpca.tol),
                                   max_iter=int(config.rpca.max_iter), chunk_size=len(factors))
    nmse[sel] = base.nmse_by_lam[: len(sel)]
    iters[sel] = base.iterations[: len(sel)]
    converged[sel] = base.converged[: len(sel)]
    print(f"[rpca] {min(start + chunk, len(pairs))}/{len(pairs)} cells", file=sys.stderr,
          flush=True)
  best, arg = metrics.best_over(nmse.T)
  best_conv = np.where(arg >= 0, converged[np.arange(len(pairs)), np.maximum(arg, 0)], False)
  at = ([kappas.index(k) for k, _ in pairs], [nus.index(v) for _, v in pairs])

  def grid(values: np.ndarray, fill) -> np.ndarray:
    """(..., κ, ν) from (..., pairs): the solved cells in place, ``fill`` elsewhere."""
    out = np.full(values.shape[:-1] + (len(kappas), len(nus)), fill, values.dtype)
    out[..., at[0], at[1]] = values
    return out

  return {"rpca_nmse": grid(best, np.nan), "rpca_best_lam_factor": grid(np.where(
      arg >= 0, factors[np.maximum(arg, 0)], np.nan), np.nan),
      "rpca_nmse_by_lam": grid(nmse.T, np.nan), "rpca_iterations": grid(iters.T, 0),
      "rpca_converged": grid(converged.T, False), "rpca_best_converged": grid(best_conv, False),
      "rpca_lam_factors": factors, "rpca_num_samples": np.int64(n)}


def gt_checks(settings: train.Settings, kappas, config) -> dict[str, np.ndarray]:
  """The ground-truth encoder check at the generator's widths (the paper's), and again at the
  networks' own encoder widths when they differ (``..._network``): only an inverse the trained
  networks can contain certifies that they can reach zero error."""
  kw = dict(num_steps=int(config.gt_check.num_steps),
            learning_rate=float(config.gt_check.learning_rate),
            num_samples=int(min(config.gt_check.num_samples, config.num_samples)))
  out = ground_truth_check(settings, kappas, int(config.seed), **kw)
  gen_encoder = tuple(settings.generator_widths)[::-1]
  out["gt_encoder_widths"] = np.asarray(gen_encoder, np.int64)
  out["network_encoder_widths"] = np.asarray(settings.encoder_widths, np.int64)
  if tuple(settings.encoder_widths) != gen_encoder:
    net = ground_truth_check(settings, kappas, int(config.seed),
                             encoder_widths=tuple(settings.encoder_widths), **kw)
    out["gt_encoder_rel_error_network"] = net["gt_encoder_rel_error"]
  return out
