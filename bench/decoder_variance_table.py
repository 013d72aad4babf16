"""Why a VAE on MNIST collapses or not: the data term of three reconstructions under each decoder
variance model.

On the first ``--n`` MNIST digits (pixels / 255 ∈ [0, 1]) and for each floor α, the data term per
digit Σⱼ (u/γⱼ + log γⱼ), u = (x − μx)² (eq. 2 up to constants, paper units), of

  (a) the blank digit (μx = 0), (b) the mean image, (c) a plain MSE autoencoder's reconstructions
  (784-256-64-256-784, ReLU, trained ``--steps`` Adam steps on the squared error),

under

  optimal — γ = max(u, α) per entry and digit (eqs. 68–70, 86–87, ``decoder_variance_cost``);
  shared  — the best scalar γ ≥ α: max(mean u, α) over all digits and pixels (closed form);
  learned — the best per-pixel γⱼ ≥ α that ignores z: max(mean over digits of u_ij, α), i.e. what a
            z-independent head can do at best (a z-dependent ``learned`` head can only do better).

``optimal`` ≤ ``learned`` ≤ ``shared`` row by row. The NMSE (eq. 20) of each reconstruction is
printed too. Run (about a minute on 1 CPU core):

  nice -n 19 python bench/decoder_variance_table.py
"""

from __future__ import annotations

import argparse
import json
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hidden_talents.data import mnist
from hidden_talents.objectives.gaussian import decoder_variance_cost, gaussian_data_cost

ALPHAS = (1e-3, 1e-2, 1e-1)


class MSEAutoEncoder(nn.Module):
  widths: tuple[int, ...] = (256, 64, 256)

  @nn.compact
  def __call__(self, x):
    h = x
    for i, w in enumerate(self.widths):
      h = nn.Dense(w, name=f"L{i}")(h)
      if i != len(self.widths) // 2:  # linear code layer
        h = nn.relu(h)
    return nn.Dense(x.shape[-1], name="out")(h)


def train_mse_autoencoder(X: np.ndarray, *, steps: int, batch: int, lr: float,
                          seed: int) -> np.ndarray:
  """Reconstructions of X by a plain squared-error autoencoder trained ``steps`` Adam steps."""
  model = MSEAutoEncoder()
  Xj = jnp.asarray(X)
  params = model.init(jax.random.PRNGKey(seed), Xj[:1])
  tx = optax.adam(lr)
  opt = tx.init(params)

  def loss(p, xb):
    return jnp.mean(jnp.sum((model.apply(p, xb) - xb) ** 2, axis=-1))

  @jax.jit
  def run(params, opt):
    def step(carry, t):
      p, o = carry
      idx = jax.random.randint(jax.random.fold_in(jax.random.PRNGKey(seed + 1), t), (batch,), 0,
                               Xj.shape[0])
      val, g = jax.value_and_grad(loss)(p, Xj[idx])
      upd, o = tx.update(g, o, p)
      return (optax.apply_updates(p, upd), o), val

    (p, o), vals = jax.lax.scan(step, (params, opt), jnp.arange(steps))
    return p, vals

  params, vals = run(params, opt)
  print(f"MSE AE: train loss {float(vals[0]):.2f} -> {float(vals[-1]):.2f} (sum sq. err./digit)")
  return np.asarray(model.apply(params, Xj))


def data_terms(X: np.ndarray, M: np.ndarray, alpha: float) -> dict[str, float]:
  """Mean over digits of Σⱼ (u/γⱼ + log γⱼ) for the three decoder-variance models."""
  u = jnp.asarray((X - M) ** 2, jnp.float32)
  optimal = jnp.sum(decoder_variance_cost(u, alpha), axis=-1)
  shared = jnp.sum(gaussian_data_cost(u, jnp.maximum(jnp.mean(u), alpha)), axis=-1)
  learned = jnp.sum(gaussian_data_cost(u, jnp.maximum(jnp.mean(u, axis=0), alpha)), axis=-1)
  return {"optimal": float(jnp.mean(optimal)), "learned": float(jnp.mean(learned)),
          "shared": float(jnp.mean(shared))}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--n", type=int, default=2000, help="first n MNIST digits")
  p.add_argument("--steps", type=int, default=1500, help="Adam steps of the MSE autoencoder")
  p.add_argument("--batch", type=int, default=100)
  p.add_argument("--lr", type=float, default=1e-3)
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args()
  t0 = time.time()
  images, _ = mnist.load_mnist(args.n)
  X = images.astype(np.float32) / 255.0
  recs = {"blank": np.zeros_like(X), "mean image": np.broadcast_to(X.mean(0), X.shape),
          "MSE AE": train_mse_autoencoder(X, steps=args.steps, batch=args.batch, lr=args.lr,
                                          seed=args.seed)}
  energy = float(np.sum(X.astype(np.float64) ** 2))
  print(f"{args.n} digits, {np.mean(X == 0):.1%} of pixels exactly 0")
  rows = []
  print(f"{'recon':<11} {'NMSE':>6} {'alpha':>6} {'optimal':>9} {'learned*':>9} {'shared':>9}")
  for name, M in recs.items():
    nmse = float(np.sum((X.astype(np.float64) - M) ** 2)) / energy
    for a in ALPHAS:
      t = data_terms(X, M, a)
      rows.append({"recon": name, "nmse": nmse, "alpha": a, **t})
      print(f"{name:<11} {nmse:6.3f} {a:6.0e} {t['optimal']:9.1f} {t['learned']:9.1f} "
            f"{t['shared']:9.1f}")
  print("learned* = best z-independent per-pixel γ (an upper bound on a trained learned head)")
  print(json.dumps({"n": args.n, "steps": args.steps, "rows": rows,
                    "wall_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
  main()
