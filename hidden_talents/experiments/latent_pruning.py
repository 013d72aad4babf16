"""Table 1 and Figure 2a: latent-dimension pruning on a synthetic manifold (Sec. 5.2, Hyp. (ii)).

Data: z ~ N(0, I₂₀) through the fixed ground-truth decoder z(20)-D1(200)-D2(200)-x(400) (ReLU, He
init, no corruption; ``hidden_talents.data.manifold`` with κ = κ_max = 20, ν = 0). Models:
x(400)-E1(200)…E_Ne(200)-μz(30)-D1(200)…D_Nd(200)-μx(400) for every encoder depth Ne and
decoder depth Nd, the VAE of Sec. 5.1 (diagonal Σz head, Σx optimised out per entry with floor
α, weight decay C1) and, for comparison, the same network as a deterministic AE (Σz = 0, loss
Σ log ξα data term of eq. 87 + C2‖μz‖² + C1‖θ, φ‖²; C2 = 1 is exactly the VAE with Σz = 0).

Every (Ne, Nd) is one compiled program (shapes differ) in which the trials (seeds) of the VAE
and of the AE are the vmapped cells of ``hidden_talents.sweep.run_sweep``; trial t of both
models uses the same data, initialisation and batch order (``sweep.cell_keys``).

Measured per run: the column norms ‖w·j‖₂ of the first decoder layer W₁ (eq. 21) and the number
of nonzero columns under the paper's threshold 0.05 · maxⱼ ‖w·j‖₂ (Table 1), the VAE's diag Σz
(fraction of entries near 0 and near 1, ``metrics.sigma_z_fractions``: Sec. 6 reads the
manifold dimension off Σz too) and the NMSE (eq. 20) of the reconstruction. The trial machinery
shared with ``mnist_pruning`` is in ``experiments.pruning``.

``run(config, workdir)`` writes ``config.json``, ``results.npz``, ``summary.json`` (tables, the
absolute difference from the paper's Table 1 per cell), ``table1.md`` and ``fig2a_w1_norms.png``
into ``workdir``; finished (Ne, Nd) programs are skipped when re-run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hidden_talents import checks, io, metrics, train  # noqa: E402
from hidden_talents.experiments import learning, pruning  # noqa: E402

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


def validate(config) -> None:
  """Raises ``ValueError`` naming the first bad field; called before anything is written."""
  pruning.validate_training(config)
  for name in ("encoder_depths", "decoder_depths"):
    for d in checks.distinct(name, checks.nonempty(name, getattr(config, name))):
      checks.nonnegative_int(f"every entry of {name}", d)
  for name in ("hidden_width", "data_dim", "true_dim", "latent_dim", "num_samples"):
    checks.positive_int(name, getattr(config, name))
  checks.at_most("batch_size", config.batch_size, config.num_samples, "num_samples")
  for w in config.generator_widths:
    checks.positive_int("every generator width", w)
  if checks.nonnegative_int("fig2a_encoder_depth", config.fig2a_encoder_depth) not in tuple(
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


def compute(config, workdir: str) -> tuple[dict[str, Any], list]:
  """Trains every (Ne, Nd) program; returns the per-(model, Ne, Nd, trial) arrays and the
  learning-curve entries."""
  nes = [int(v) for v in config.encoder_depths]
  nds = [int(v) for v in config.decoder_depths]
  models = pruning.model_list(config)
  names = list(config.models)
  T, K = int(config.num_trials), int(config.latent_dim)
  shape = (len(names), len(nes), len(nds), T)
  bins = train.Settings.hist_bins
  r = {"w1_col_norms": np.full(shape + (K,), np.nan), "sigma_z_mean": np.full(shape + (K,), np.nan),
       "sigma_z_hist": np.full(shape + (bins,), np.nan), "nmse": np.full(shape, np.nan),
       "failed": np.zeros(shape, bool), "converged": np.zeros(shape, bool),
       "program_wall_seconds": np.zeros((len(nes), len(nds)))}
  entries = []
  for a, ne in enumerate(nes):
    for b, nd in enumerate(nds):
      out = pruning.run_trials(settings_for(config, ne, nd), models, kappa=int(config.true_dim),
                       seed=int(config.seed), num_trials=T, num_steps=int(config.num_steps),
                       workdir=workdir, tag=f"ne{ne}_nd{nd}",
                       checkpoint_every=int(config.checkpoint_every))
      for key in ("w1_col_norms", "sigma_z_mean", "sigma_z_hist", "nmse", "failed", "converged"):
        r[key][:, a, b] = out[key]
      r["program_wall_seconds"][a, b] = out["wall_seconds"]
      entries += [(f"Ne={ne}, Nd={nd}", f"{name} trial {t}", out["curve_steps"],
                   out["curve_nmse"][:, i, t]) for i, name in enumerate(names) for t in range(T)]
  thr = float(config.threshold)
  nonzero = metrics.nonzero_from_norms(r["w1_col_norms"], threshold=thr).astype(np.float64)
  nonzero = np.where(np.isnan(r["w1_col_norms"][..., 0]), np.nan, nonzero)
  near0, near1 = metrics.sigma_z_fractions(r["sigma_z_hist"], train.Settings.hist_range)
  r.update({"models": np.asarray(names), "encoder_depths": np.asarray(nes),
            "decoder_depths": np.asarray(nds), "nonzero": nonzero,
            "table": metrics.masked_mean(nonzero, r["failed"]),  # (model, Ne, Nd)
            "sigma_z_frac_near0": near0, "sigma_z_frac_near1": near1,
            "paper_table1": PAPER_TABLE1, "threshold": np.float64(thr)})
  return r, entries


def _vae_vs_paper(r: dict, config, summary: dict) -> list[str]:
  """The VAE's comparison with the paper's Table 1 and its Σz dimension estimate: adds arrays to
  ``r``, keys to ``summary``; returns the Markdown sections."""
  nes, nds = [int(v) for v in r["encoder_depths"]], [int(v) for v in r["decoder_depths"]]
  i, K = list(r["models"]).index("vae"), int(config.latent_dim)
  table, failed = r["table"], r["failed"]
  in_paper = [(a, b) for a, ne in enumerate(nes) for b, nd in enumerate(nds)
              if ne < PAPER_TABLE1.shape[0] and nd < PAPER_TABLE1.shape[1]]
  diff = np.full((len(nes), len(nds)), np.nan)
  paper = np.full((len(nes), len(nds)), np.nan)
  for a, b in in_paper:
    diff[a, b] = abs(table[i, a, b] - PAPER_TABLE1[nes[a], nds[b]])
    paper[a, b] = PAPER_TABLE1[nes[a], nds[b]]
  r["vae_abs_diff_from_paper"] = diff
  summary["vae_abs_diff_from_paper"] = {
      f"Ne={nes[a]}": {f"Nd={nds[b]}": diff[a, b] for b in range(len(nds))
                       if np.isfinite(diff[a, b])} for a in range(len(nes))}
  finite = diff[np.isfinite(diff)]
  summary["vae_max_abs_diff_from_paper"] = float(np.max(finite)) if finite.size else None
  summary["vae_mean_abs_diff_from_paper"] = float(np.mean(finite)) if finite.size else None
  fr0 = metrics.masked_mean(r["sigma_z_frac_near0"][i], failed[i])
  fr1 = metrics.masked_mean(r["sigma_z_frac_near1"][i], failed[i])
  cells = lambda v: {f"Ne={ne},Nd={nd}": v[a, b] for a, ne in enumerate(nes)
                     for b, nd in enumerate(nds)}
  summary["vae_sigma_z_frac_near0"] = cells(fr0)
  summary["vae_sigma_z_frac_near1"] = cells(fr1)
  dim_est = K * fr0
  r["vae_sigma_z_dim_estimate"] = dim_est
  lo, hi = metrics.SIGMA_Z_NEAR_ONE
  return ["### Paper's Table 1 (VAE)\n", markdown_table(paper, "Ne", nes, "Nd", nds), "",
          "### |ours − paper| (VAE)\n", markdown_table(diff, "Ne", nes, "Nd", nds, fmt="{:.2f}"),
          "",
          f"### VAE: latent_dim × fraction of diag Σz entries < {metrics.SIGMA_Z_NEAR_ZERO:g} "
          f"(Σz estimate of the manifold dimension; true {int(config.true_dim)})\n",
          markdown_table(dim_est, "Ne", nes, "Nd", nds), "",
          f"### VAE: fraction of diag Σz entries in [{lo:g}, {hi:g}]\n",
          markdown_table(fr1, "Ne", nes, "Nd", nds, fmt="{:.3f}"), ""]


def summarize(r: dict, config) -> tuple[dict[str, Any], str]:
  """summary.json and table1.md from the results (adds the VAE-vs-paper arrays to ``r``)."""
  names = list(r["models"])
  nes, nds = [int(v) for v in r["encoder_depths"]], [int(v) for v in r["decoder_depths"]]
  T, K = int(config.num_trials), int(config.latent_dim)
  table, nonzero, failed, nmse = r["table"], r["nonzero"], r["failed"], r["nmse"]
  comparable = int(config.true_dim) == PAPER_TRUE_DIM and K == PAPER_LATENT_DIM
  summary: dict[str, Any] = {"threshold": float(config.threshold),
                             "true_dim": int(config.true_dim), "latent_dim": K, "num_trials": T,
                             "models": names, "comparable_to_paper_table1": comparable,
                             "converged_fraction": {name: float(np.mean(r["converged"][i]))
                                                    for i, name in enumerate(names)}}
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
    md += [f"### {label}: mean nonzero columns of W₁ over {T} trials\n",
           markdown_table(table[i], "Ne", nes, "Nd", nds), ""]
  if "vae" in names:
    md += _vae_vs_paper(r, config, summary)
  summary["failed_runs"] = int(np.sum(failed))
  return summary, "\n".join(md) + "\n"


def plot(r: dict, config, workdir: str) -> None:
  """Figure 2a: the W₁ column norms of trial 0 at Ne = fig2a_encoder_depth, per Nd."""
  names, nds = list(r["models"]), [int(v) for v in r["decoder_depths"]]
  ne_fig = int(config.fig2a_encoder_depth)
  a = [int(v) for v in r["encoder_depths"]].index(ne_fig)
  norms = r["w1_col_norms"]

  def curves(name):
    if name not in names:
      return []
    i = names.index(name)
    return [(f"Nd = {nd}", norms[i, a, b, 0]) for b, nd in enumerate(nds)
            if np.all(np.isfinite(norms[i, a, b, 0]))]

  plot_fig2a(curves("vae"), curves("ae"), threshold=float(config.threshold),
             true_dim=int(config.true_dim), path=os.path.join(workdir, "fig2a_w1_norms.png"),
             title=f"Figure 2a: W₁ column norms, Ne = {ne_fig}, trial 0 "
                   f"(true dim {int(config.true_dim)}, dim μz {int(config.latent_dim)})")


def run(config, workdir: str) -> dict:
  """Runs the (Ne, Nd) grid described by ``config`` (``launch/configs/latent_pruning.py``):
  compute → summarize → plot; writes results.npz, summary.json, table1.md and the figures."""
  validate(config)
  t0 = time.time()
  io.start_run(workdir, config)
  results, entries = compute(config, workdir)
  summary, table_md = summarize(results, config)
  learning.save_curves(workdir, entries, title="Latent pruning: NMSE of μx(μz(x)) per (Ne, Nd)",
                       max_panels=16)
  summary["wall_seconds"] = time.time() - t0
  summary["devices"] = [str(d) for d in jax.devices()]  # of every process
  summary["processes"] = jax.process_count()
  plot(results, config, workdir)
  io.atomic_write_bytes(os.path.join(workdir, "table1.md"), table_md.encode())
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), results)
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  return summary
