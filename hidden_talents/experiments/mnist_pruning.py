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


def _variances(config) -> dict[str, str]:
  """Each model's decoder variance (``pruning.decoder_variance_of``)."""
  return {name: pruning.decoder_variance_of(name, str(config.decoder_variance))
          for name in config.models}


def compute(config, data: np.ndarray, workdir: str) -> tuple[dict[str, Any], list]:
  """Trains every κ: one program per (κ, decoder variance), the models of
  config.decoder_variance first (tag kappa<κ>, as before variants existed), then each
  vae_<variant> (tag kappa<κ>_<variant>). Returns the results arrays and the curve entries."""
  n = data.shape[0]
  kappas = [int(k) for k in config.kappas]
  models = pruning.model_list(config)
  names = list(config.models)
  T, kmax = int(config.num_trials), max(kappas)
  shape = (len(names), len(kappas), T)
  r = {"w1_col_norms": np.full(shape + (kmax,), np.nan),
       "sigma_z_mean": np.full(shape + (kmax,), np.nan),
       "sigma_z_hist": np.full(shape + (train.Settings.hist_bins,), np.nan),
       "nmse": np.full(shape, np.nan), "failed": np.zeros(shape, bool),
       "converged": np.zeros(shape, bool), "program_wall_seconds": np.zeros(len(kappas))}
  entries = []
  variance = _variances(config)
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
      r["w1_col_norms"][idx, a, :, :k] = out["w1_col_norms"]
      r["sigma_z_mean"][idx, a, :, :k] = out["sigma_z_mean"]
      for key in ("sigma_z_hist", "nmse", "failed", "converged"):
        r[key][idx, a] = out[key]
      r["program_wall_seconds"][a] += out["wall_seconds"]
      entries += [(f"κ={k}", f"{names[i]} trial {t}", out["curve_steps"],
                   out["curve_nmse"][:, j, t]) for j, i in enumerate(idx) for t in range(T)]
  thr = float(config.threshold)
  nonzero = metrics.nonzero_from_norms(np.nan_to_num(r["w1_col_norms"], nan=0.0),
                                       threshold=thr).astype(float)
  nonzero = np.where(r["failed"], np.nan, nonzero)
  near0, near1 = metrics.sigma_z_fractions(r["sigma_z_hist"], train.Settings.hist_range)
  r.update({"models": np.asarray(names), "kappas": np.asarray(kappas), "nonzero": nonzero,
            "nonzero_mean": metrics.masked_mean(nonzero, r["failed"]),  # (model, κ)
            "sigma_z_frac_near0": near0, "sigma_z_frac_near1": near1,
            "num_images": np.int64(n), "threshold": np.float64(thr)})
  return r, entries


def _label(name: str, config) -> str:
  dv = _variances(config)[name]
  if name == "ae":
    return f"AE (Σz = 0, C2 = {float(config.ae_c2):g})"
  return f"VAE, Σx {dv}" + (" (paper)" if dv == "optimal" else "")


def summarize(r: dict, config) -> dict[str, Any]:
  """summary.json from the results: per model the mean nonzero columns, the plateau, NMSE and
  (VAEs) the active latent dimensions per κ."""
  names, kappas = list(r["models"]), [int(k) for k in r["kappas"]]
  nonzero, mean, failed, nmse = r["nonzero"], r["nonzero_mean"], r["failed"], r["nmse"]
  summary: dict[str, Any] = {"threshold": float(config.threshold),
                             "num_images": int(r["num_images"]),
                             "num_trials": int(config.num_trials), "kappas": kappas,
                             "models": names,
                             "pixel_scaling": f"pixels / {float(config.pixel_scale):g}",
                             "alpha": float(config.alpha), "decoder_variance": _variances(config),
                             "converged_fraction": {name: float(np.mean(r["converged"][i]))
                                                    for i, name in enumerate(names)}}
  for i, name in enumerate(names):
    summary[f"{name}_nonzero_mean"] = {str(k): mean[i, a] for a, k in enumerate(kappas)}
    summary[f"{name}_nonzero_per_trial"] = {str(k): nonzero[i, a].tolist()
                                            for a, k in enumerate(kappas)}
    summary[f"{name}_nmse_mean"] = {str(k): metrics.masked_mean(nmse[i, a], failed[i, a])
                                    for a, k in enumerate(kappas)}
    summary[f"{name}_plateau"] = plateau(np.asarray(kappas), mean[i])
  for i, name in enumerate(names):
    if name.startswith("vae"):
      dims = _active_dims(r, i)
      summary[f"{name}_sigma_z_dims_below_{metrics.SIGMA_Z_NEAR_ZERO:g}"] = {
          str(k): metrics.masked_mean(dims[a], failed[i, a]) for a, k in enumerate(kappas)}
  summary["failed_runs"] = int(np.sum(failed))
  return summary


def _active_dims(r: dict, i: int) -> np.ndarray:
  """(κ, trial) latent dimensions with σz² below the near-zero threshold, model ``i``."""
  return np.asarray(r["kappas"], float)[:, None] * r["sigma_z_frac_near0"][i]


def plot(r: dict, config, workdir: str) -> None:
  """Figure 2b: nonzero W₁ columns vs κ per model, and the VAEs' active latent dimensions."""
  names, kappas = list(r["models"]), [int(k) for k in r["kappas"]]
  curves = [(_label(name, config), r["nonzero"][i]) for i, name in enumerate(names)]
  active = [(curves[i][0], np.where(r["failed"][i], np.nan, _active_dims(r, i)))
            for i, name in enumerate(names) if name.startswith("vae")]
  enc = "-".join(str(int(w)) for w in config.encoder_widths)
  plot_fig2b(kappas, curves, path=os.path.join(workdir, "fig2b_nonzero_vs_kappa.png"),
             title=f"Figure 2b: MNIST (n = {int(r['num_images'])}, encoder {enc}, "
                   f"{int(config.num_trials)} trials)", active=active)


def run(config, workdir: str) -> dict:
  """Runs the κ sweep described by ``config`` (``launch/configs/mnist_pruning.py``):
  compute → summarize → plot."""
  validate(config)
  data = load_data(config)
  n = data.shape[0]
  if config.batch_size > n:
    raise ValueError(f"batch_size ({config.batch_size}) exceeds the number of images ({n})")
  t0 = time.time()
  io.start_run(workdir, config)
  results, entries = compute(config, data, workdir)
  summary = summarize(results, config)
  learning.save_curves(workdir, entries, title="MNIST pruning: NMSE of μx(μz(x)) per κ")
  summary["wall_seconds"] = time.time() - t0
  summary["devices"] = [str(d) for d in jax.devices()]  # of every process
  summary["processes"] = jax.process_count()
  plot(results, config, workdir)
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), results)
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  return summary
