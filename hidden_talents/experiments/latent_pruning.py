"""Table 1 and Figure 2a: latent-dimension pruning on a synthetic manifold (Sec. 5.2, Hyp. (ii)).

Data: z ~ N(0, I₂₀) through the fixed ground-truth decoder z(20)-D1(200)-D2(200)-x(400) (ReLU, He
init, no corruption; ``hidden_talents.data.manifold`` with κ = κ_max = 20, ν = 0). Models:
x(400)-E1(200)…E_Ne(200)-μz(30)-D1(200)…D_Nd(200)-μx(400) for every encoder depth Ne and
decoder depth Nd, the VAE of Sec. 5.1 (diagonal Σz head, Σx optimised out per entry with floor
α, weight decay C1) and, for comparison, the same network as a deterministic AE (Σz = 0, loss
ξα data term + C2‖μz‖² + C1‖θ, φ‖²; C2 = 1 is exactly the VAE with Σz = 0).

Every (Ne, Nd) is one compiled program (shapes differ) in which the trials (seeds) of the VAE
and of the AE are the vmapped cells of ``hidden_talents.sweep.run_sweep``; trial t of both
models uses the same data, initialisation and batch order (``sweep.cell_keys``).

Measured per run: the column norms ‖w·j‖₂ of the first decoder layer W₁ (eq. 21) and the number
of nonzero columns under the paper's threshold 0.05 · maxⱼ ‖w·j‖₂ (Table 1), the VAE's diag Σz
(fraction of entries near 0 and near 1: Sec. 6 reads the manifold dimension off Σz too) and the
NMSE (eq. 20) of the reconstruction.

``run(config, workdir)`` writes ``config.json``, ``results.npz``, ``summary.json`` (tables, the
absolute difference from the paper's Table 1 per cell), ``table1.md`` and ``fig2a_w1_norms.png``
into ``workdir``; finished (Ne, Nd) programs are skipped when re-run.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from typing import Any

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hidden_talents import io, metrics, sweep, train  # noqa: E402

# Table 1 of the paper: mean number of nonzero W₁ columns of the VAE (10 trials), rows Ne = 0…3,
# columns Nd = 0…3; ground-truth dimension 20, dim μz = 30.
PAPER_TABLE1 = np.array([
    [30.0, 21.1, 21.0, 20.0],
    [30.0, 21.0, 20.0, 20.0],
    [30.0, 21.0, 20.0, 20.0],
    [30.0, 20.4, 20.0, 20.0],
])
PAPER_TRUE_DIM = 20
PAPER_LATENT_DIM = 30

# diag Σz entries "near 0" (σ² < 0.1) and "near 1" (0.5 ≤ σ² ≤ 2), in log10 units.
SIGMA_NEAR0_LOG10 = -1.0
SIGMA_NEAR1_LOG10 = (math.log10(0.5), math.log10(2.0))


# --------------------------------------------------------------------------------------------
# Metrics shared with ``mnist_pruning``.


def nonzero_from_norms(norms: np.ndarray, *,
                       threshold: float = metrics.COLUMN_THRESHOLD) -> np.ndarray:
  """Nonzero-column counts from column norms (last axis), Sec. 5.2's rule.

  Column j counts when ‖w·j‖₂ ≥ threshold · maxⱼ ‖w·j‖₂ (and is > 0); this is
  ``metrics.nonzero_columns`` applied to every row of a stack of norm vectors.

  Args:
    norms: (..., κ) column norms ‖w·j‖₂ of W₁ (``EvalMetrics.w1_col_norms``).
    threshold: relative threshold (the paper's 0.05).

  Returns:
    (...,) int counts.
  """
  norms = np.asarray(norms, dtype=np.float64)
  top = np.max(norms, axis=-1, keepdims=True)
  return np.sum((norms >= threshold * top) & (norms > 0), axis=-1)


def sigma_z_fractions(hist: np.ndarray, hist_range: tuple[float, float]) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
  """Fractions of diag Σz entries near 0 (σ² < 0.1) and near 1 (0.5 ≤ σ² ≤ 2), Sec. 5.3 / 6.

  Args:
    hist: (..., bins) counts of log10 diag Σz over all samples and latent dims
      (``EvalMetrics.sigma_z_hist``), bins evenly spread over ``hist_range``.
    hist_range: (low, high) of the histogram in log10 units.

  Returns:
    (near0, near1), each of shape (...,); a bin counts by its centre.
  """
  hist = np.asarray(hist, dtype=np.float64)
  edges = np.linspace(hist_range[0], hist_range[1], hist.shape[-1] + 1)
  centers = 0.5 * (edges[:-1] + edges[1:])
  total = np.maximum(np.sum(hist, axis=-1), 1.0)
  near0 = np.sum(hist[..., centers < SIGMA_NEAR0_LOG10], axis=-1) / total
  lo, hi = SIGMA_NEAR1_LOG10
  near1 = np.sum(hist[..., (centers >= lo) & (centers <= hi)], axis=-1) / total
  return near0, near1


def trial_infos(models: Sequence[tuple[str, float]], kappa: int, seed: int,
                num_trials: int) -> list[sweep.CellInfo]:
  """Cells of one program: every (model, C2) × trial; trial t uses seed ``seed + t``."""
  return [sweep.CellInfo(m, float(c2), int(kappa), 0.0, int(seed) + t)
          for m, c2 in models for t in range(num_trials)]


def run_trials(settings: train.Settings, models: Sequence[tuple[str, float]], *, kappa: int,
               seed: int, num_trials: int, num_steps: int, workdir: str | None, tag: str,
               checkpoint_every: int = 1, data=None,
               progress: bool = True) -> dict[str, np.ndarray]:
  """Trains ``num_trials`` seeds of every (model, C2) as one vmapped program (``run_sweep``).

  Returns numpy arrays with leading axes (model, trial): ``w1_col_norms`` (…, latent),
  ``nonzero`` (…), ``sigma_z_mean`` (…, latent), ``sigma_z_hist`` (…, bins), ``nmse``,
  ``failed``, and ``train_seconds`` / ``wall_seconds`` scalars.
  """
  infos = trial_infos(models, kappa, seed, num_trials)
  res = sweep.run_sweep(settings, sweep.make_cells(infos), num_steps=num_steps, workdir=workdir,
                        tag=tag, checkpoint_every=checkpoint_every, data=data,
                        progress=progress)
  shape = (len(models), num_trials)
  ev = res.eval

  def r(a):
    a = np.asarray(a)
    return a.reshape(shape + a.shape[1:])

  norms = r(ev.w1_col_norms)
  return {"w1_col_norms": norms, "nonzero": nonzero_from_norms(norms),
          "sigma_z_mean": r(ev.sigma_z_mean), "sigma_z_hist": r(ev.sigma_z_hist),
          "nmse": r(ev.nmse), "failed": r(res.failed),
          "train_seconds": np.float64(res.train_seconds),
          "wall_seconds": np.float64(res.wall_seconds)}


def masked_mean(values: np.ndarray, failed: np.ndarray, axis: int = -1) -> np.ndarray:
  """Mean over ``axis`` of the non-failed entries (NaN where all failed)."""
  v = np.where(failed, np.nan, np.asarray(values, dtype=np.float64))
  with np.errstate(invalid="ignore"):
    cnt = np.sum(~np.isnan(v), axis=axis)
    return np.where(cnt > 0, np.nansum(v, axis=axis) / np.maximum(cnt, 1), np.nan)


# --------------------------------------------------------------------------------------------
# Config checks.


def _int(name: str, v: Any, *, minimum: int = 1) -> int:
  if isinstance(v, bool) or not isinstance(v, (int, np.integer, float)) or int(v) != v:
    raise ValueError(f"{name} must be an integer, got {v!r}")
  if int(v) < minimum:
    raise ValueError(f"{name} must be ≥ {minimum}, got {v!r}")
  return int(v)


def _float(name: str, v: Any, *, positive: bool = False, nonneg: bool = False) -> float:
  try:
    f = float(v)
  except (TypeError, ValueError) as e:
    raise ValueError(f"{name} must be a number, got {v!r}") from e
  if not math.isfinite(f):
    raise ValueError(f"{name} must be finite, got {v!r}")
  if positive and f <= 0:
    raise ValueError(f"{name} must be > 0, got {v!r}")
  if nonneg and f < 0:
    raise ValueError(f"{name} must be ≥ 0, got {v!r}")
  return f


def validate_training(config) -> None:
  """Checks the training fields shared by both pruning experiments."""
  for name in ("num_trials", "batch_size", "num_steps", "chunk_steps",
               "eval_batch_size", "checkpoint_every"):
    _int(name, getattr(config, name))
  for name in ("learning_rate", "alpha"):
    _float(name, getattr(config, name), positive=True)
  _float("weight_decay", config.weight_decay, nonneg=True)
  _float("logvar_bias_init", config.logvar_bias_init)
  _int("seed", config.seed, minimum=0)
  if config.loss_reduction not in ("mean", "sum"):
    raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {config.loss_reduction!r}")
  models = tuple(config.models)
  if not models or any(m not in ("vae", "ae") for m in models) or len(set(models)) != len(models):
    raise ValueError(f"models must be a non-empty subset of ('vae', 'ae'), got {models}")
  if "ae" in models:
    _float("ae_c2", config.ae_c2, nonneg=True)
  t = _float("threshold", config.threshold)
  if not 0 < t < 1:
    raise ValueError(f"threshold must lie in (0, 1), got {t}")


def model_list(config) -> list[tuple[str, float]]:
  """(engine model name, C2) per entry of ``config.models``: the AE is AE-ℓ2 at ``ae_c2``."""
  return [("vae", 1.0) if m == "vae" else ("ae_l2", float(config.ae_c2)) for m in config.models]


def validate(config) -> None:
  """Raises ``ValueError`` naming the first bad field; called before anything is written."""
  validate_training(config)
  for name in ("encoder_depths", "decoder_depths"):
    depths = tuple(getattr(config, name))
    if not depths:
      raise ValueError(f"{name} must not be empty")
    for d in depths:
      _int(name, d, minimum=0)
    if len(set(depths)) != len(depths):
      raise ValueError(f"{name} has duplicates: {depths}")
  for name in ("hidden_width", "data_dim", "true_dim", "latent_dim", "num_samples"):
    _int(name, getattr(config, name))
  if config.batch_size > config.num_samples:
    raise ValueError(f"batch_size ({config.batch_size}) exceeds num_samples ({config.num_samples})")
  for w in config.generator_widths:
    _int("generator_widths", w)
  if _int("fig2a_encoder_depth", config.fig2a_encoder_depth, minimum=0) not in tuple(
      config.encoder_depths):
    raise ValueError(f"fig2a_encoder_depth ({config.fig2a_encoder_depth}) must be one of "
                     f"encoder_depths {tuple(config.encoder_depths)}")


def settings_for(config, ne: int, nd: int) -> train.Settings:
  """Engine settings of the (Ne, Nd) program: ``hidden_width``-wide hidden layers."""
  w = int(config.hidden_width)
  return train.Settings(
      data_dim=int(config.data_dim), kappa_max=int(config.true_dim),
      generator_widths=tuple(int(g) for g in config.generator_widths),
      encoder_widths=(w,) * ne, decoder_widths=(w,) * nd, latent_dim=int(config.latent_dim),
      num_samples=int(config.num_samples), batch_size=int(config.batch_size),
      chunk_steps=int(min(config.chunk_steps, config.num_steps)),
      learning_rate=float(config.learning_rate), alpha=float(config.alpha),
      weight_decay=float(config.weight_decay), loss_reduction=str(config.loss_reduction),
      logvar_bias_init=float(config.logvar_bias_init),
      eval_batch_size=int(min(config.eval_batch_size, config.num_samples)))


# --------------------------------------------------------------------------------------------
# Output helpers.


def markdown_table(values: np.ndarray, row_label: str, row_values: Sequence[int],
                   col_label: str, col_values: Sequence[int], fmt: str = "{:.1f}") -> str:
  """A markdown table of ``values[row, col]`` (NaN → 'n/a')."""
  head = "| | " + " | ".join(f"{col_label} = {c}" for c in col_values) + " |"
  sep = "|---" * (len(col_values) + 1) + "|"
  rows = [head, sep]
  for i, r in enumerate(row_values):
    cells = ["n/a" if not np.isfinite(v) else fmt.format(v) for v in values[i]]
    rows.append(f"| {row_label} = {r} | " + " | ".join(cells) + " |")
  return "\n".join(rows)


def plot_fig2a(curves: Sequence[tuple[str, np.ndarray]], ae_curves: Sequence[tuple[str,
                                                                                  np.ndarray]],
               *, threshold: float, true_dim: int, path: str, title: str) -> None:
  """Figure 2a: sorted column norms of W₁ (raw), and the same relative to the largest norm with
  the threshold line, for the VAE (and the AE if given)."""
  n = 2 + (1 if ae_curves else 0)
  fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.6), squeeze=False)
  axes = axes[0]
  panels = [(axes[0], curves, False, "VAE: sorted ‖w·j‖₂"),
            (axes[1], curves, True, "VAE: ‖w·j‖₂ / max")]
  if ae_curves:
    panels.append((axes[2], ae_curves, True, "AE (Σz = 0): ‖w·j‖₂ / max"))
  for ax, cs, rel, t in panels:
    if not cs:
      ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
      continue
    for label, v in cs:
      v = np.sort(np.asarray(v, dtype=float))
      if rel:
        v = v / max(np.max(v), 1e-30)
      ax.plot(np.arange(1, len(v) + 1), v, marker=".", label=label)
    if rel:
      ax.axhline(threshold, color="k", ls="--", lw=0.8, label=f"threshold {threshold:g}")
      ax.set_yscale("log")
    ax.axvline(len(v) - true_dim + 0.5, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel("column of W₁ (sorted)")
    ax.set_title(t, fontsize=9)
    ax.legend(fontsize=7)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  io.atomic_savefig(fig, path, dpi=120)
  plt.close(fig)


# --------------------------------------------------------------------------------------------


def run(config, workdir: str) -> dict:
  """Runs the (Ne, Nd) grid described by ``config`` (``launch/configs/latent_pruning.py``)."""
  validate(config)
  t0 = time.time()
  io.ensure_dir(workdir)
  io.atomic_write_json(os.path.join(workdir, "config.json"), config)
  nes = [int(v) for v in config.encoder_depths]
  nds = [int(v) for v in config.decoder_depths]
  models = model_list(config)
  names = list(config.models)
  T, K = int(config.num_trials), int(config.latent_dim)
  shape = (len(names), len(nes), len(nds), T)
  norms = np.full(shape + (K,), np.nan)
  sig_mean = np.full(shape + (K,), np.nan)
  hist_range = train.Settings.hist_range
  bins = train.Settings.hist_bins
  sig_hist = np.full(shape + (bins,), np.nan)
  nmse = np.full(shape, np.nan)
  failed = np.zeros(shape, bool)
  seconds = np.zeros((len(nes), len(nds)))
  for a, ne in enumerate(nes):
    for b, nd in enumerate(nds):
      out = run_trials(settings_for(config, ne, nd), models, kappa=int(config.true_dim),
                       seed=int(config.seed), num_trials=T, num_steps=int(config.num_steps),
                       workdir=workdir, tag=f"ne{ne}_nd{nd}",
                       checkpoint_every=int(config.checkpoint_every))
      norms[:, a, b] = out["w1_col_norms"]
      sig_mean[:, a, b] = out["sigma_z_mean"]
      sig_hist[:, a, b] = out["sigma_z_hist"]
      nmse[:, a, b] = out["nmse"]
      failed[:, a, b] = out["failed"]
      seconds[a, b] = out["wall_seconds"]
  thr = float(config.threshold)
  nonzero = nonzero_from_norms(norms, threshold=thr).astype(np.float64)
  nonzero = np.where(np.isnan(norms[..., 0]), np.nan, nonzero)
  table = masked_mean(nonzero, failed)  # (model, Ne, Nd)
  near0, near1 = sigma_z_fractions(sig_hist, hist_range)
  results: dict[str, Any] = {
      "models": np.asarray(names), "encoder_depths": np.asarray(nes),
      "decoder_depths": np.asarray(nds), "w1_col_norms": norms, "nonzero": nonzero,
      "table": table, "sigma_z_mean": sig_mean, "sigma_z_hist": sig_hist,
      "sigma_z_frac_near0": near0, "sigma_z_frac_near1": near1, "nmse": nmse,
      "failed": failed, "program_wall_seconds": seconds, "paper_table1": PAPER_TABLE1,
      "threshold": np.float64(thr)}

  comparable = int(config.true_dim) == PAPER_TRUE_DIM and K == PAPER_LATENT_DIM
  summary: dict[str, Any] = {"threshold": thr, "true_dim": int(config.true_dim),
                             "latent_dim": K, "num_trials": T, "models": names,
                             "comparable_to_paper_table1": comparable}
  md = []
  for i, name in enumerate(names):
    label = "VAE" if name == "vae" else f"AE (Σz = 0, C2 = {float(config.ae_c2):g})"
    summary[f"{name}_table"] = {f"Ne={ne}": {f"Nd={nd}": table[i, a, b]
                                             for b, nd in enumerate(nds)}
                                for a, ne in enumerate(nes)}
    summary[f"{name}_nonzero_per_trial"] = {
        f"Ne={ne},Nd={nd}": nonzero[i, a, b].tolist() for a, ne in enumerate(nes)
        for b, nd in enumerate(nds)}
    summary[f"{name}_median_nmse"] = float(np.nanmedian(np.where(failed[i], np.nan, nmse[i])))
    md.append(f"### {label}: mean nonzero columns of W₁ over {T} trials\n")
    md.append(markdown_table(table[i], "Ne", nes, "Nd", nds))
    md.append("")
  in_paper = [(a, b) for a, ne in enumerate(nes) for b, nd in enumerate(nds)
              if ne < PAPER_TABLE1.shape[0] and nd < PAPER_TABLE1.shape[1]]
  if "vae" in names:
    i = names.index("vae")
    diff = np.full((len(nes), len(nds)), np.nan)
    for a, b in in_paper:
      diff[a, b] = abs(table[i, a, b] - PAPER_TABLE1[nes[a], nds[b]])
    results["vae_abs_diff_from_paper"] = diff
    summary["vae_abs_diff_from_paper"] = {
        f"Ne={nes[a]}": {f"Nd={nds[b]}": diff[a, b] for b in range(len(nds))
                         if np.isfinite(diff[a, b])} for a in range(len(nes))}
    finite = diff[np.isfinite(diff)]
    summary["vae_max_abs_diff_from_paper"] = float(np.max(finite)) if finite.size else None
    summary["vae_mean_abs_diff_from_paper"] = float(np.mean(finite)) if finite.size else None
    fr0 = masked_mean(near0[i], failed[i])
    fr1 = masked_mean(near1[i], failed[i])
    summary["vae_sigma_z_frac_near0"] = {f"Ne={ne},Nd={nd}": fr0[a, b]
                                         for a, ne in enumerate(nes) for b, nd in enumerate(nds)}
    summary["vae_sigma_z_frac_near1"] = {f"Ne={ne},Nd={nd}": fr1[a, b]
                                         for a, ne in enumerate(nes) for b, nd in enumerate(nds)}
    dim_est = K * fr0
    results["vae_sigma_z_dim_estimate"] = dim_est
    paper = np.full((len(nes), len(nds)), np.nan)
    for a, b in in_paper:
      paper[a, b] = PAPER_TABLE1[nes[a], nds[b]]
    md.append("### Paper's Table 1 (VAE)\n")
    md.append(markdown_table(paper, "Ne", nes, "Nd", nds))
    md.append("")
    md.append("### |ours − paper| (VAE)\n")
    md.append(markdown_table(diff, "Ne", nes, "Nd", nds, fmt="{:.2f}"))
    md.append("")
    md.append(f"### VAE: latent_dim × fraction of diag Σz entries < 0.1 (Σz estimate of the "
              f"manifold dimension; true {int(config.true_dim)})\n")
    md.append(markdown_table(dim_est, "Ne", nes, "Nd", nds))
    md.append("")
    md.append("### VAE: fraction of diag Σz entries in [0.5, 2]\n")
    md.append(markdown_table(fr1, "Ne", nes, "Nd", nds, fmt="{:.3f}"))
    md.append("")
  summary["latent_dim"] = int(config.latent_dim)
  summary["failed_runs"] = int(np.sum(failed))
  summary["wall_seconds"] = time.time() - t0
  summary["devices"] = [str(d) for d in jax.local_devices()]

  ne_fig = int(config.fig2a_encoder_depth)
  a = nes.index(ne_fig)

  def curves(name):
    if name not in names:
      return []
    i = names.index(name)
    return [(f"Nd = {nd}", norms[i, a, b, 0]) for b, nd in enumerate(nds)
            if np.all(np.isfinite(norms[i, a, b, 0]))]

  plot_fig2a(curves("vae"), curves("ae"), threshold=thr, true_dim=int(config.true_dim),
             path=os.path.join(workdir, "fig2a_w1_norms.png"),
             title=f"Figure 2a: W₁ column norms, Ne = {ne_fig}, trial 0 "
                   f"(true dim {int(config.true_dim)}, dim μz {K})")
  io.atomic_write_bytes(os.path.join(workdir, "table1.md"), ("\n".join(md) + "\n").encode())
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), results)
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  return summary
