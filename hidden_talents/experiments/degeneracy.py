"""Theorem 6 (Sec. 4): the degeneracy of an over-flexible decoder mean, shown numerically.

On n points of a ground-truth manifold (Sec. 5.1 generator), the VAE objective (eq. 88) is
evaluated exactly at the trial solution of the proof (κ = 1, μz = aᵀx, quantising piecewise-linear
decoder μx(z) = x⁽ʰ⁽ᶻ⁾⁾, λx = λz = α) for α → 0. It falls like n·(d − 1)·log α without bound,
while the affine decoder's objective (Lemma 1) on the same data is bounded below by its
probabilistic PCA minimum — and with its decoder variance pinned to α it even grows like 1/α. A
Monte-Carlo estimate of −2·ELBO (eqs. 2, 4; ``neg2_elbo_mc``) at a few α checks the exact
expectation.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from hidden_talents import checks, io
from hidden_talents.data import manifold
from hidden_talents.objectives import degeneracy, neg2_elbo_mc
from hidden_talents.objectives.vae import LOG_2PI


def validate(config) -> None:
  """Raises ``ValueError`` naming the first bad field; called before anything is written."""
  for name in ("num_samples", "data_dim", "manifold_dim", "num_alphas", "mc_samples",
               "mc_replicates"):
    checks.positive_int(name, getattr(config, name))
  if config.num_samples < 2 or config.data_dim < 2 or config.mc_replicates < 2:
    raise ValueError("need num_samples ≥ 2, data_dim ≥ 2 and mc_replicates ≥ 2")
  lo = checks.finite_number("log10_alpha_min", config.log10_alpha_min)
  hi = checks.number("log10_alpha_max", config.log10_alpha_max, hi=2.0)
  if not lo < hi:
    raise ValueError(f"need log10_alpha_min < log10_alpha_max ≤ 2, got {lo}, {hi}")
  if not all(lo <= float(a) <= hi for a in config.mc_log10_alphas):
    raise ValueError(f"mc_log10_alphas must lie in [{lo}, {hi}], got {config.mc_log10_alphas}")


def make_data(config) -> tuple[np.ndarray, np.ndarray]:
  """(X, a): n manifold points (d) and an encoder vector giving each its own code aᵀxᵢ."""
  key = jax.random.PRNGKey(config.seed)
  k_gen, k_z, k_a = jax.random.split(key, 3)
  gen = manifold.init_generator(k_gen, config.manifold_dim, kappa_max=config.manifold_dim,
                                widths=tuple(config.generator_widths), data_dim=config.data_dim)
  _, X = manifold.sample_clean(gen, k_z, jnp.arange(config.num_samples))
  X = np.asarray(X, np.float64)
  a = np.asarray(jax.random.normal(k_a, (config.data_dim,)), np.float64)
  a /= np.linalg.norm(a) * np.std(X @ a / np.linalg.norm(a))  # codes of unit spread
  codes = np.sort(X @ a)
  if np.min(np.diff(codes)) <= 0:
    raise ValueError("two samples share a code aᵀx; change the seed")
  return X.astype(np.float32), a.astype(np.float32)


def mc_objective(key, X, a, alpha, num_samples, num_replicates):
  """−2·ELBO by Monte Carlo at the trial solution, in eq. 88's units, ± its standard error.

  The estimate is the mean of ``num_replicates`` independent estimates with τ = num_samples per
  input each; the standard error is their standard deviation / √replicates (Monte-Carlo noise only).
  """
  X = jnp.asarray(X)
  dec = degeneracy.quantizing_decoder(X, X @ a)
  n, d = X.shape

  def one(k):
    total, _ = neg2_elbo_mc(
        k, X, lambda x: (jnp.reshape(x @ a, (1,)), jnp.full((1,), alpha)),
        lambda z: (dec(z), jnp.full((d,), alpha)), num_samples=num_samples)
    return total - n * d * LOG_2PI + n  # drop n·d·log 2π, add back n·κ (κ = 1)

  values = np.asarray(jax.vmap(one)(jax.random.split(key, num_replicates)), np.float64)
  return float(values.mean()), float(values.std(ddof=1) / np.sqrt(num_replicates))


def run(config, workdir: str) -> dict:
  validate(config)
  io.start_run(workdir, config)
  t0 = time.time()
  X, a = make_data(config)
  n, d = X.shape
  alphas = np.logspace(config.log10_alpha_min, config.log10_alpha_max, config.num_alphas)
  trial = np.asarray(jax.jit(jax.vmap(
      lambda al: degeneracy.trial_objective(X, a, al, al)))(jnp.asarray(alphas, jnp.float32)))
  asym = np.asarray(degeneracy.trial_asymptote(X, a, alphas))
  ppca_min, ppca_lam = degeneracy.ppca_minimum(X, kappa=1)
  affine_at = degeneracy.affine_minimum_at(X, alphas, kappa=1)
  small = alphas <= 10 ** (config.log10_alpha_min + 0.25 * (config.log10_alpha_max
                                                            - config.log10_alpha_min))
  slope = float(np.polyfit(np.log(alphas[small]), trial[small], 1)[0])
  mc = []
  for j, la in enumerate(config.mc_log10_alphas):
    al = 10.0 ** float(la)
    value, se = mc_objective(jax.random.PRNGKey(config.seed + 100 + j), X, a, al,
                             config.mc_samples, config.mc_replicates)
    exact = float(degeneracy.trial_objective(X, a, al, al))
    mc.append({"alpha": al, "exact": exact, "mc": value, "mc_se": se,
               "z_score": (value - exact) / max(se, 1e-30)})
  below = alphas[trial < ppca_min]
  summary = {
      "n": n, "d": d,
      "slope_dL_dlog_alpha": slope,
      "slope_predicted_n_d_minus_1": n * (d - 1),
      "slope_ratio": slope / (n * (d - 1)),
      "trial_at_smallest_alpha": float(trial[0]),
      "asymptote_gap_at_smallest_alpha": float(trial[0] - asym[0]),
      "affine_ppca_minimum": ppca_min,
      "affine_ppca_lambda": ppca_lam,
      "affine_at_smallest_alpha": float(affine_at[0]),
      "largest_alpha_with_trial_below_affine_minimum": float(below.max()) if below.size else None,
      "mc_check": mc,
      "wall_seconds": time.time() - t0,
  }
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), {
      "alphas": alphas, "trial": trial, "asymptote": asym, "affine_at_alpha": affine_at,
      "affine_ppca_minimum": np.float64(ppca_min), "X": X, "a": a})
  _plot(os.path.join(workdir, "theorem6_degeneracy.png"), alphas, trial, asym, affine_at,
        ppca_min, mc, n, d)
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  return summary


def _plot(path, alphas, trial, asym, affine_at, ppca_min, mc, n, d):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6.4, 4.4))
  ax.plot(alphas, trial, "C3-", lw=2, label="quantising decoder, λx = λz = α (eq. 88, exact)")
  ax.plot(alphas, asym, "k--", lw=1, label=f"n(d−1)·log α + const  (n={n}, d={d})")
  ax.plot(alphas, affine_at, "C0-", label="affine decoder, λx = α, best W, b (eq. 5)")
  ax.axhline(ppca_min, color="C0", ls=":", label="affine decoder: global minimum (PPCA)")
  ax.errorbar([m["alpha"] for m in mc], [m["mc"] for m in mc],
              yerr=[2 * m["mc_se"] for m in mc], fmt="o", color="C1", ms=4,
              label="Monte-Carlo −2·ELBO (eqs. 2, 4), ±2 SE")
  ax.set_xscale("log")
  ax.set_yscale("symlog", linthresh=float(n * d))  # linear near 0, log for the 1/α bump
  ax.set_xlabel("α")
  ax.set_ylabel("VAE objective (paper units, symlog)")
  ax.set_ylim(1.5 * min(trial.min(), ppca_min, 0.0), 10 * max(trial.max(), ppca_min))
  ax.set_title("Theorem 6: an over-flexible decoder mean is unbounded below")
  ax.legend(fontsize=7, loc="upper left")
  fig.tight_layout()
  io.atomic_savefig(fig, path, dpi=120)
  plt.close(fig)
