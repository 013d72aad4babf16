"""Figure 2b: nonzero columns of the first decoder layer W₁ vs latent size κ on MNIST (Sec. 5.2).

VAE and AE (Σz = 0, C2 = 0: a plain AE with weight decay C1) with mean networks
x(784)-E1(1000)-E2(500)-E3(250)-μz(κ)-D1(250)-D2(500)-D3(1000)-μx(784), ReLU, trained on the
MNIST digits (``hidden_talents.data.mnist``) through the engine's fixed-dataset mode: the
(n, 784) matrix of pixels / 255 ∈ [0, 1] is shared by every cell, ν = 0 (no corruption).
Covariances as in Sec. 5.1: diagonal Σz from a linear head on the last encoder layer (VAE only),
the decoder variance optimised out per pixel with floor α (ξα of eq. 69; the cost is
``objectives.decoder_variance_cost``).

One compiled program per κ (shapes differ); inside it the trials of the VAE and of the AE are
vmapped cells of ``sweep.run_sweep`` (trial t: seed ``seed + t``, same initialisation and batch
order for both models). The count uses the paper's threshold 0.05 · maxⱼ ‖w·j‖₂.

``run(config, workdir)`` writes ``config.json``, ``results.npz``, ``summary.json`` and
``fig2b_nonzero_vs_kappa.png``; finished κ programs are skipped when re-run.
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hidden_talents import checks, io, metrics, train  # noqa: E402
from hidden_talents.data import mnist  # noqa: E402
from hidden_talents.experiments import learning, pruning  # noqa: E402
from hidden_talents.objectives.unified import DECODER_VARIANCES  # noqa: E402


def validate(config) -> None:
  """Raises ``ValueError`` naming the first bad field; called before anything is written."""
  pruning.validate_training(config, pruning.MODELS + pruning.VARIANT_MODELS)
  checks.one_of("decoder_variance", config.decoder_variance, DECODER_VARIANCES)
  for k in checks.distinct("kappas", checks.nonempty("kappas", config.kappas)):
    checks.positive_int("every κ in kappas", k)
  for w in config.encoder_widths:
    checks.positive_int("every encoder width", w)
  if config.num_images is not None:
    n = checks.positive_int("num_images", config.num_images)
    checks.at_most("num_images", n, mnist.NUM_IMAGES, "the MNIST training set")
  checks.positive_number("pixel_scale", config.pixel_scale)


def load_data(config) -> np.ndarray:
  """(n, 784) float32 pixels / ``pixel_scale``; checked finite and of the right shape."""
  images, _ = mnist.load_mnist(None if config.num_images is None else int(config.num_images))
  data = np.asarray(images, np.float32) / np.float32(config.pixel_scale)
  if data.ndim != 2 or data.shape[1] != mnist.NUM_PIXELS or not np.all(np.isfinite(data)):
    raise ValueError(f"MNIST data must be finite of shape (n, {mnist.NUM_PIXELS}), "
                     f"got {data.shape}")
  return data


def settings_for(config, kappa: int, num_samples: int,
                 decoder_variance: str | None = None) -> train.Settings:
  """Engine settings of the κ program: encoder ``encoder_widths``, decoder the mirror image;
  ``decoder_variance`` default ``config.decoder_variance``."""
  enc = tuple(int(w) for w in config.encoder_widths)
  return train.Settings(
      data_dim=mnist.NUM_PIXELS, kappa_max=int(kappa), encoder_widths=enc,
      decoder_widths=enc[::-1], latent_dim=int(kappa), num_samples=int(num_samples),
      batch_size=int(config.batch_size), chunk_steps=int(min(config.chunk_steps,
                                                             config.num_steps)),
      learning_rate=float(config.learning_rate), alpha=float(config.alpha),
      decoder_variance=str(decoder_variance or config.decoder_variance),
      weight_decay=float(config.weight_decay), loss_reduction=str(config.loss_reduction),
      logvar_bias_init=float(config.logvar_bias_init),
      eval_batch_size=int(min(config.eval_batch_size, num_samples)))


def plateau(kappas: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
  """Where the mean nonzero-column count stops following κ.

  Returns the first κ whose mean count is at least one below κ (pruning starts), the counts from
  there on, and their range; ``None`` fields when no κ is pruned.
  """
  kappas = np.asarray(kappas)
  counts = np.asarray(counts, dtype=float)
  pruned = np.nonzero(np.isfinite(counts) & (counts <= kappas - 1.0))[0]
  if pruned.size == 0:
    return {"first_pruned_kappa": None, "plateau_counts": None, "plateau_range": None}
  j = int(pruned[0])
  tail = counts[j:]
  tail = tail[np.isfinite(tail)]
  return {"first_pruned_kappa": int(kappas[j]), "plateau_counts": tail.tolist(),
          "plateau_range": [float(np.min(tail)), float(np.max(tail))]}


def plot_fig2b(kappas, curves, *, path: str, title: str, active=None) -> None:
  """Mean ± std of the nonzero-column count vs κ, one line per (label, counts[κ, trial]); with
  ``active`` (same form: latent dimensions with mean σz² < 0.1 per κ and trial) a second panel."""
  panels = [("nonzero columns of W₁", curves)]
  if active:
    panels.append((f"active latent dimensions (mean σz² < {metrics.SIGMA_Z_NEAR_ZERO:g})",
                   active))
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
  k = np.asarray(kappas, dtype=float)
  for ax, (ylabel, lines) in zip(axes[0], panels):
    ax.plot(k, k, color="0.7", ls=":", lw=1, label="κ (no pruning)")
    for (label, c), marker in zip(lines, ("o", "s", "^", "v"), strict=False):  # ≤ 4 models
      c = np.asarray(c, dtype=float)
      mean, std = np.nanmean(c, axis=1), np.nanstd(c, axis=1)
      ax.errorbar(k, mean, yerr=std, marker=marker, capsize=3, label=label)
    ax.set_xlabel("latent dimension κ = dim μz")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  io.atomic_savefig(fig, path, dpi=120)
  plt.close(fig)


def run(config, workdir: str) -> dict:
  """Runs the κ sweep described by ``config`` (``launch/configs/mnist_pruning.py``)."""
  validate(config)
  data = load_data(config)
  n = data.shape[0]
  if config.batch_size > n:
    raise ValueError(f"batch_size ({config.batch_size}) exceeds the number of images ({n})")
  t0 = time.time()
  io.start_run(workdir, config)
  kappas = [int(k) for k in config.kappas]
  models = pruning.model_list(config)
  names = list(config.models)
  T, kmax = int(config.num_trials), max(kappas)
  shape = (len(names), len(kappas), T)
  norms = np.full(shape + (kmax,), np.nan)
  sig_mean = np.full(shape + (kmax,), np.nan)
  sig_hist = np.full(shape + (train.Settings.hist_bins,), np.nan)
  nmse = np.full(shape, np.nan)
  failed = np.zeros(shape, bool)
  seconds = np.zeros(len(kappas))
  converged = np.zeros(shape, bool)
  entries = []
  # One program per (κ, decoder variance): the models of config.decoder_variance first (tag
  # kappa<κ>, as before variants existed), then each vae_<variant> (tag kappa<κ>_<variant>).
  variance = {name: pruning.decoder_variance_of(name, str(config.decoder_variance))
              for name in names}
  groups: dict[str, list[int]] = {}
  for i, name in enumerate(names):
    groups.setdefault(variance[name], []).append(i)
  for a, k in enumerate(kappas):
    for dv, idx in groups.items():
      tag = f"kappa{k:03d}" + ("" if dv == config.decoder_variance else f"_{dv}")
      out = pruning.run_trials(settings_for(config, k, n, dv), [models[i] for i in idx], kappa=k,
                               seed=int(config.seed), num_trials=T,
                               num_steps=int(config.num_steps), workdir=workdir, tag=tag,
                               checkpoint_every=int(config.checkpoint_every), data=data)
      norms[idx, a, :, :k] = out["w1_col_norms"]
      sig_mean[idx, a, :, :k] = out["sigma_z_mean"]
      sig_hist[idx, a] = out["sigma_z_hist"]
      nmse[idx, a] = out["nmse"]
      failed[idx, a] = out["failed"]
      converged[idx, a] = out["converged"]
      seconds[a] += out["wall_seconds"]
      entries += [(f"κ={k}", f"{names[i]} trial {t}", out["curve_steps"],
                   out["curve_nmse"][:, j, t]) for j, i in enumerate(idx) for t in range(T)]
  thr = float(config.threshold)
  nonzero = metrics.nonzero_from_norms(np.nan_to_num(norms, nan=0.0), threshold=thr).astype(float)
  nonzero = np.where(failed, np.nan, nonzero)
  mean = metrics.masked_mean(nonzero, failed)  # (model, κ)
  near0, near1 = metrics.sigma_z_fractions(sig_hist, train.Settings.hist_range)
  results = {"models": np.asarray(names), "kappas": np.asarray(kappas), "w1_col_norms": norms,
             "nonzero": nonzero, "nonzero_mean": mean, "sigma_z_mean": sig_mean,
             "sigma_z_hist": sig_hist, "sigma_z_frac_near0": near0,
             "sigma_z_frac_near1": near1, "nmse": nmse, "failed": failed, "converged": converged,
             "program_wall_seconds": seconds, "num_images": np.int64(n),
             "threshold": np.float64(thr)}
  summary: dict[str, Any] = {"threshold": thr, "num_images": n, "num_trials": T,
                             "kappas": kappas, "models": names,
                             "pixel_scaling": f"pixels / {float(config.pixel_scale):g}",
                             "alpha": float(config.alpha),
                             "decoder_variance": variance,
                             "converged_fraction": {name: float(np.mean(converged[i]))
                                                    for i, name in enumerate(names)}}
  learning.save_curves(workdir, entries, title="MNIST pruning: NMSE of μx(μz(x)) per κ")
  curves, active = [], []
  for i, name in enumerate(names):
    label = (f"AE (Σz = 0, C2 = {float(config.ae_c2):g})" if name == "ae"
             else f"VAE, Σx {variance[name]}" + (" (paper)" if variance[name] == "optimal"
                                                 else ""))
    curves.append((label, nonzero[i]))
    summary[f"{name}_nonzero_mean"] = {str(k): mean[i, a] for a, k in enumerate(kappas)}
    summary[f"{name}_nonzero_per_trial"] = {str(k): nonzero[i, a].tolist()
                                            for a, k in enumerate(kappas)}
    summary[f"{name}_nmse_mean"] = {str(k): metrics.masked_mean(nmse[i, a], failed[i, a])
                                    for a, k in enumerate(kappas)}
    summary[f"{name}_plateau"] = plateau(np.asarray(kappas), mean[i])
  for i, name in enumerate(names):
    if name.startswith("vae"):
      dims = np.asarray(kappas, float)[:, None] * near0[i]  # (κ, trial) active dimensions
      active.append((curves[i][0], np.where(failed[i], np.nan, dims)))
      summary[f"{name}_sigma_z_dims_below_{metrics.SIGMA_Z_NEAR_ZERO:g}"] = {
          str(k): metrics.masked_mean(dims[a], failed[i, a]) for a, k in enumerate(kappas)}
  summary["failed_runs"] = int(np.sum(failed))
  summary["wall_seconds"] = time.time() - t0
  summary["devices"] = [str(d) for d in jax.devices()]  # of every process
  summary["processes"] = jax.process_count()
  enc = "-".join(str(int(w)) for w in config.encoder_widths)
  plot_fig2b(kappas, curves, path=os.path.join(workdir, "fig2b_nonzero_vs_kappa.png"),
             title=f"Figure 2b: MNIST (n = {n}, encoder {enc}, {T} trials)", active=active)
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), results)
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  return summary
