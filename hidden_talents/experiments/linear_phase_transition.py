"""Theorem 4 in practice: the partially affine VAE as robust PCA, against convex PCP (Sec. 3).

Data: X = L + S with L = Z Uᵀ of rank r (samples as rows; the engine's streamed generator with
``generator_widths=()`` is the affine map z(κ_max) → l(d) with the latent masked to r) and a
fraction ν of the entries replaced by ``outlier_scale`` · N(0, 1) values (gross when the scale is
well above the clean entries' standard deviation, √2 here).

Models, over the rank × ν grid:

* ``vae`` — partially affine VAE (Sec. 3): deep encoder for μz and diagonal Σz, affine decoder mean
  μx = Wz + b (``decoder_widths=()``), over-complete latent κ_latent > max r, diagonal Σx
  optimised out per entry (ξα, eqs. 68–71). Its global minima solve eq. 10 (Theorem 4).
* ``ae`` — the same network with Σz = 0 and C2‖μz‖² (the unified cost's AE-ℓ2 coefficients;
  Corollary 5, eqs. 15–16: with κ_latent > r it only has to explain X with rank ≤ κ_latent).
* ``pcp`` — convex PCP (eq. 14, inexact ALM, ``rpca.robust_pca_batched``) on the first
  ``eval_samples`` rows of the same X (``data.stream.materialize``: the rows training saw), best
  λ of a few per cell (an oracle choice that favours PCP).

Both networks are trained in ONE vmapped program (``sweep.run_sweep``). Recovery of L from a
network: (a) the decoder output μx(μz(x)) (``*_decoder``), and (b) eq. 13 (``linear_recovery``):
the detected support is supp_α of the optimised decoder variance, Σx,ⱼ = max(rⱼ², α) > α, i.e.
|xⱼ − μx,ⱼ| > √α; L̂ᵢ is the least-squares fit of xᵢ on the nonzero columns of Ŵ over the other
entries; (c) ``nmse`` itself re-estimates that support ``eq13_refinements`` times from the eq. 13
fit (|xⱼ − L̂ⱼ| > √α) — a post-processing step that is not in the paper, so the plain eq. 13
result is kept beside it as ``nmse_eq13`` (and ``success_cells_plain_eq13`` in the summary).
Metrics per cell: NMSE (eq. 20), rank (nonzero columns of Ŵ, Sec. 5.2's rule; numerical
rank of L̂ for PCP), sin of the largest principal angle from span(U) into span(Ŵ), and
precision/recall of the detected support (PCP: |Ŝ| > √α) against supp(S).

``run(config, workdir)`` writes ``config.json``, ``results.npz``, ``summary.json``,
``linear_nmse.png`` (log10 NMSE of VAE, AE, PCP side by side, success cells marked) and
``linear_diagnostics.png`` into ``workdir``; a re-run resumes/skips finished work.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hidden_talents import baselines, checks, io, linear_recovery, metrics, sweep, train
from hidden_talents.data import stream
from hidden_talents.experiments import learning

ALL_MODELS = ("vae", "ae", "pcp")
METRICS = ("nmse", "nmse_eq13", "nmse_decoder", "rank", "sin_angle", "precision", "recall",
           "precision_decoder", "recall_decoder")


def validate(config) -> None:
  """Raises ``ValueError`` naming the first bad field; called before anything is written."""
  models = checks.subset("models", config.models, ALL_MODELS)
  for name in ("data_dim", "latent_dim", "num_samples", "batch_size", "num_steps", "chunk_steps",
               "eval_samples", "checkpoint_every"):
    checks.positive_int(name, getattr(config, name))
  for name in ("cells_per_group", "eq13_refinements", "seed"):
    checks.nonnegative_int(name, getattr(config, name))
  for r in checks.nonempty("ranks", config.ranks):
    if checks.positive_int("every rank r", r) >= config.data_dim:
      raise ValueError(f"every rank r must be < data_dim = {config.data_dim}, got {r}")
  if any(m in models for m in ("vae", "ae")) and config.latent_dim < max(config.ranks):
    raise ValueError(f"latent_dim ({config.latent_dim}) must be ≥ the largest rank "
                     f"({max(config.ranks)}) (Theorem 4 needs κ ≥ rank[U])")
  for nu in checks.nonempty("nus", config.nus):
    checks.fraction("every outlier ratio ν", nu)
  for w in config.encoder_widths:
    checks.positive_int("every encoder width", w)
  for name in ("learning_rate", "alpha", "outlier_scale", "success_threshold"):
    checks.positive_number(name, getattr(config, name))
  checks.nonnegative_number("weight_decay", config.weight_decay)
  checks.finite_number("logvar_bias_init", config.logvar_bias_init)
  if "ae" in models:
    for c2 in checks.nonempty("ae_c2_values (with 'ae' in models)", config.ae_c2_values):
      checks.nonnegative_number("every AE C2", c2)
  checks.at_most("batch_size", config.batch_size, config.num_samples, "num_samples")
  checks.at_most("eval_samples", config.eval_samples, config.num_samples, "num_samples")
  if "pcp" in models:
    for f in checks.nonempty("pcp.lam_factors", config.pcp.lam_factors):
      checks.positive_number("every pcp.lam_factor", f)
    checks.positive_int("pcp.max_iter", config.pcp.max_iter)
    checks.positive_int("pcp.chunk_size", config.pcp.chunk_size)
    checks.nonnegative_int("pcp.num_samples", config.pcp.num_samples)
    checks.at_most("pcp.num_samples", config.pcp.num_samples, config.num_samples, "num_samples")
    checks.number("pcp.tol", config.pcp.tol, lo=0.0, hi=1.0, lo_open=True)


def settings_from_config(config) -> train.Settings:
  """Engine settings: affine generator and affine decoder mean, deep encoder."""
  return train.Settings(
      data_dim=int(config.data_dim), kappa_max=int(max(config.ranks)), generator_widths=(),
      encoder_widths=tuple(int(w) for w in config.encoder_widths), decoder_widths=(),
      latent_dim=int(config.latent_dim), num_samples=int(config.num_samples),
      batch_size=int(config.batch_size),
      chunk_steps=int(min(config.chunk_steps, config.num_steps)),
      learning_rate=float(config.learning_rate), alpha=float(config.alpha),
      weight_decay=float(config.weight_decay), logvar_bias_init=float(config.logvar_bias_init),
      eval_batch_size=int(min(1000, config.num_samples)), outliers="gaussian",
      outlier_scale=float(config.outlier_scale))


def grid_infos(config) -> list[sweep.CellInfo]:
  """Network cells: VAE (C2 = 1 from its KL) and AE-ℓ2 at each C2, over rank × ν."""
  infos = []
  specs = ([("vae", 1.0)] if "vae" in config.models else []) + (
      [("ae_l2", float(c)) for c in config.ae_c2_values] if "ae" in config.models else [])
  for model, c2 in specs:
    for r in config.ranks:
      for nu in config.nus:
        infos.append(sweep.CellInfo(model, c2, int(r), float(nu), int(config.seed)))
  return infos


def decoder_affine(params) -> tuple[jax.Array, jax.Array]:
  """(W (d, κ), b (d,)) of the affine decoder mean μx = Wz + b."""
  dec = params["params"]["decoder"]["mu_x"]
  return dec["kernel"].T, dec["bias"]


def true_basis(settings: train.Settings, cell: train.Cell) -> jax.Array:
  """U (d, κ_max): l = U z for the cell's affine generator (zero columns beyond r)."""
  spec = dataclasses.replace(settings.data_spec, generator_widths=())
  return stream.generator(spec, cell).Ws[0].T


def make_network_metrics(settings: train.Settings, num_eval: int, refinements: int = 0):
  """Returns ``metrics(params, cell) -> dict`` (pure, vmappable) on the cell's first
  ``num_eval`` samples (see the module docstring).

  The support of eq. 13 starts as supp_α of the optimised decoder variance at μ̂z (eq. 12); with
  ``refinements`` > 0 it is re-estimated that many times from the eq. 13 fit itself
  (|xᵢ − L̂ᵢ| > √α), i.e. with μ̂z replaced by the inlier least-squares latent that a global
  optimum's encoder would output. ``precision``/``recall`` score the final support,
  ``*_decoder`` the decoder-variance support."""
  fns = train.make_train(settings)  # for ``reconstruct``: the network's L̂
  spec = settings.data_spec
  sqrt_alpha = math.sqrt(settings.alpha)

  def one(params, cell):
    x, l_true, mask = stream.sample(spec, cell, jnp.arange(num_eval))
    l_dec, _, _ = fns.reconstruct(params, x)
    W, b = decoder_affine(params)
    active = metrics.nonzero_mask(W)
    Wa = W * active[None, :]
    detected0 = jnp.abs(x - l_dec) > sqrt_alpha  # supp_α(diag Σ̂x), Σx,ⱼ = max(rⱼ², α) (eq. 12)
    recover = jax.vmap(lambda xi, ii: linear_recovery.eq13_recover(xi, Wa, b, ii)[0])

    def refine(_, carry):
      l_hat, _ = carry
      det = jnp.abs(x - l_hat) > sqrt_alpha
      return recover(x, ~det), det

    l_13_plain = recover(x, ~detected0)  # eq. 13 with E_i from eq. 12 alone
    l_13, detected = jax.lax.fori_loop(0, refinements, refine, (l_13_plain, detected0))
    scores = metrics.support_scores(detected, mask)
    scores0 = metrics.support_scores(detected0, mask)
    return {"nmse": metrics.nmse(l_true, l_13), "nmse_eq13": metrics.nmse(l_true, l_13_plain),
            "nmse_decoder": metrics.nmse(l_true, l_dec),
            "rank": jnp.sum(active).astype(jnp.float32),
            "sin_angle": linear_recovery.subspace_sine(true_basis(settings, cell), Wa),
            "precision": scores.precision, "recall": scores.recall,
            "precision_decoder": scores0.precision, "recall_decoder": scores0.recall}

  return one


def pcp_grid(settings: train.Settings, config, ranks, nus) -> dict[str, np.ndarray]:
  """Convex PCP on every (r, ν) cell's first ``pcp.num_samples`` rows (0 = ``eval_samples``);
  best λ per cell by NMSE (``baselines.rpca_best_lam``), the other metrics at that λ."""
  n = int(config.pcp.num_samples) or int(config.eval_samples)
  infos = [sweep.CellInfo("vae", 1.0, int(r), float(nu), int(config.seed))
           for r in ranks for nu in nus]
  cells = sweep.make_cells(infos)
  X, L, mask = stream.materialize(settings.data_spec, cells, n)  # the rows the networks saw
  base = baselines.rpca_best_lam(X, L, config.pcp.lam_factors, tol=float(config.pcp.tol),
                                 max_iter=int(config.pcp.max_iter),
                                 chunk_size=int(config.pcp.chunk_size))
  factors, F = base.lam_factors, len(base.lam_factors)
  masks = jnp.repeat(mask, F, axis=0)
  U = jax.vmap(lambda c: true_basis(settings, c))(cells)
  Us = jnp.repeat(U, F, axis=0)
  sqrt_alpha = math.sqrt(settings.alpha)

  def one(L_hat, S_hat, mask, U):
    scores = metrics.support_scores(jnp.abs(S_hat) > sqrt_alpha, mask)
    _, rank = linear_recovery.orthonormal_basis(L_hat.T)
    return {"rank": rank.astype(jnp.float32),
            "sin_angle": linear_recovery.subspace_sine(U, L_hat.T),
            "precision": scores.precision, "recall": scores.recall,
            "precision_decoder": scores.precision, "recall_decoder": scores.recall}

  m = jax.jit(jax.vmap(one))(base.solution.L, base.solution.S, masks, Us)
  m = {k: np.asarray(v).reshape(len(infos), F) for k, v in m.items()}
  m.update(nmse=base.nmse_by_lam, nmse_eq13=base.nmse_by_lam, nmse_decoder=base.nmse_by_lam)
  best = np.maximum(base.best_index, 0)  # every λ diverged: report the first (NaN) one
  pick = lambda a: a[np.arange(len(infos)), best].reshape(len(ranks), len(nus))
  out = {f"pcp_{k}": pick(v) for k, v in m.items()}
  grid = lambda a: a.T.reshape(F, len(ranks), len(nus))
  out["pcp_nmse_by_lam"] = grid(base.nmse_by_lam)
  out["pcp_best_lam_factor"] = factors[best].reshape(len(ranks), len(nus))
  out["pcp_iterations"] = grid(base.iterations)
  out["pcp_converged"] = grid(base.converged)
  out["pcp_lam_factors"] = factors
  return out


def _grid(infos, values, model, c2, ranks, nus) -> np.ndarray:
  pos = {(i.model, i.c2, i.kappa, i.nu): j for j, i in enumerate(infos)}
  return np.asarray([[values[pos[(model, float(c2), int(r), float(nu))]] for nu in nus]
                     for r in ranks], float)


def _plot(results, ranks, nus, models, threshold, path_nmse, path_diag,
          refinements: int = 0) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  eq = "eq. 13" if refinements == 0 else f"eq. 13, support refined {refinements}×"
  titles = {"vae": f"partially affine VAE ({eq})", "ae": f"AE, Σz = 0 ({eq}, best C2)",
            "pcp": "convex PCP (eq. 14, best λ)"}
  panels = [(titles[m], results[f"{m}_nmse"]) for m in models]

  def draw(ax, grid, title, vmin, vmax, cmap, mark=None, label=""):
    im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", vmin=vmin,
                   vmax=vmax, cmap=plt.get_cmap(cmap).with_extremes(bad="0.7"))
    if mark is not None:
      yy, xx = np.nonzero(mark)
      ax.scatter(xx, yy, marker="o", s=22, facecolors="none", edgecolors="k", linewidths=0.9)
    ax.set_xticks(range(len(nus)))
    ax.set_xticklabels([f"{v:g}" for v in nus], rotation=90, fontsize=7)
    ax.set_yticks(range(len(ranks)))
    ax.set_yticklabels([str(r) for r in ranks], fontsize=7)
    ax.set_xlabel("outlier ratio ν")
    ax.set_ylabel("rank r")
    ax.set_title(title, fontsize=9)
    plt.colorbar(im, ax=ax, shrink=0.85, label=label)

  fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8), squeeze=False,
                           layout="constrained")
  for ax, (title, grid) in zip(axes[0], panels, strict=True):
    draw(ax, np.log10(np.maximum(grid, 1e-8)), title, -6, 0, "Blues", grid < threshold,
         "log10 NMSE")
  fig.suptitle(f"Recovering L (circles: NMSE < {threshold:g})")
  io.atomic_savefig(fig, path_nmse, dpi=120, bbox_inches="tight")
  plt.close(fig)

  nets = [m for m in models if m != "pcp"]
  if not nets:
    return
  rows = [("rank", "rank found", 0, None, "viridis"), ("sin_angle", "sin ∠(U, Ŵ)", 0, 1, "Reds"),
          ("precision", "support precision", 0, 1, "Greens"),
          ("nmse_decoder", "log10 NMSE decoder output", -6, 0, "Blues")]
  fig, axes = plt.subplots(len(nets), len(rows), figsize=(4.2 * len(rows), 3.6 * len(nets)),
                           squeeze=False, layout="constrained")
  for a, m in enumerate(nets):
    for b, (key, label, lo, hi, cmap) in enumerate(rows):
      grid = results[f"{m}_{key}"]
      if key == "nmse_decoder":
        grid = np.log10(np.maximum(grid, 1e-8))
      draw(axes[a, b], grid, f"{m.upper()}: {label}", lo, hi if hi is not None else
           float(np.nanmax(grid)), cmap, label=label)
  io.atomic_savefig(fig, path_diag, dpi=110, bbox_inches="tight")
  plt.close(fig)


def _train_networks(config, settings: train.Settings, workdir: str, ranks, nus,
                    models) -> tuple[dict[str, Any], dict[str, Any]]:
  """The VAE and AE cells as one sweep, their eq. 13 / subspace metrics, and per model the grid
  (the AE at its best C2). Returns (results arrays, summary entries)."""
  results: dict[str, Any] = {}
  summary: dict[str, Any] = {"failed_cells": []}
  infos = grid_infos(config)
  if not infos:
    return results, summary
  cells = sweep.make_cells(infos)
  res = sweep.run_sweep(settings, cells, num_steps=int(config.num_steps), workdir=workdir,
                        tag="nets", cells_per_group=int(config.cells_per_group),
                        checkpoint_every=int(config.checkpoint_every), return_params=True,
                        labels=[i.label() for i in infos])
  arrays, frac = learning.convergence(res, [i.model for i in infos])
  results.update(arrays)
  summary["converged_fraction"] = frac
  summary["convergence_note"] = "learning curves and convergence of the decoder output μx(μz(x))"
  learning.save_curves(
      workdir, [(f"rank {i.kappa}, ν={i.nu:g}", f"{i.model} C2={i.c2:g}", res.curve_steps,
                 res.curves.nmse[:, j]) for j, i in enumerate(infos)],
      title="Linear phase transition: NMSE of μx(μz(x)) on the evaluation subset",
      max_panels=16)
  t_eval = time.time()
  metric = jax.jit(jax.vmap(make_network_metrics(settings, int(config.eval_samples),
                                                 int(config.eq13_refinements))))
  m = {k: np.asarray(v) for k, v in metric(res.params, cells).items()}
  summary["network_eval_seconds"] = time.time() - t_eval
  for k in METRICS:
    m[k] = np.where(res.failed, np.nan, m[k])
  results.update(cell_model=np.asarray([i.model for i in infos]),
                 cell_c2=np.asarray([i.c2 for i in infos]),
                 cell_true_rank=np.asarray([i.kappa for i in infos]),
                 cell_nu=np.asarray([i.nu for i in infos]), cell_failed=res.failed,
                 cell_loss_history=res.history, cell_sigma_z_mean=res.eval.sigma_z_mean,
                 cell_w_col_norms=res.eval.w1_col_norms,
                 train_seconds=np.float64(res.train_seconds),
                 **{f"cell_{k}": v for k, v in m.items()})
  summary["train_seconds"] = res.train_seconds
  summary["failed_cells"] = [dict(model=infos[j].model, c2=infos[j].c2, rank=infos[j].kappa,
                                  nu=infos[j].nu) for j in np.nonzero(res.failed)[0]]
  if "vae" in models:
    for k in METRICS:
      results[f"vae_{k}"] = _grid(infos, m[k], "vae", 1.0, ranks, nus)
  if "ae" in models:
    c2s = [float(c) for c in config.ae_c2_values]
    by = {k: np.stack([_grid(infos, m[k], "ae_l2", c, ranks, nus) for c in c2s])
          for k in METRICS}
    best = np.maximum(metrics.best_over(by["nmse"])[1], 0)  # all C2 diverged: the first
    for k in METRICS:
      results[f"ae_{k}"] = np.take_along_axis(by[k], best[None], axis=0)[0]
    results["ae_nmse_by_c2"] = by["nmse"]
    results["ae_best_c2"] = np.asarray(c2s)[best]
    results["ae_c2_values"] = np.asarray(c2s)
  return results, summary


def summarize(results: dict, config, models) -> dict[str, Any]:
  """Success counts and regions, medians and the VAE-vs-PCP comparison; adds each model's
  ``<model>_success`` grid (NMSE < success_threshold) to ``results``."""
  ranks, nus = [int(r) for r in results["ranks"]], [float(v) for v in results["nus"]]
  threshold = float(config.success_threshold)
  summary: dict[str, Any] = {"eq13_refinements": int(config.eq13_refinements),
                             "success_cells": {}, "success_cells_decoder_output": {},
                             "success_cells_plain_eq13": {}, "median_nmse": {},
                             "success_region": {},
                             "cells_below_nmse": {f"{t:g}": {} for t in (1e-3, 1e-2, 1e-1)}}
  for mdl in models:
    for t in (1e-3, 1e-2, 1e-1):
      summary["cells_below_nmse"][f"{t:g}"][mdl] = int(np.sum(results[f"{mdl}_nmse"] < t))
    ok = results[f"{mdl}_nmse"] < threshold
    results[f"{mdl}_success"] = ok
    summary["success_cells"][mdl] = int(np.sum(ok))
    summary["success_cells_decoder_output"][mdl] = int(
        np.sum(results[f"{mdl}_nmse_decoder"] < threshold))
    summary["success_cells_plain_eq13"][mdl] = int(
        np.sum(results[f"{mdl}_nmse_eq13"] < threshold))
    summary["median_nmse"][mdl] = float(np.nanmedian(results[f"{mdl}_nmse"]))
    summary["success_region"][mdl] = {str(r): [nu for nu, s in zip(nus, row, strict=True) if s]
                                      for r, row in zip(ranks, ok, strict=True)}
  for mdl in ("vae", "ae"):
    if mdl in models:
      summary[f"{mdl}_mean_rank_error"] = float(np.nanmean(
          np.abs(results[f"{mdl}_rank"] - np.asarray(ranks)[:, None])))
      for k in ("sin_angle", "precision", "recall"):
        summary[f"{mdl}_median_{k}"] = float(np.nanmedian(results[f"{mdl}_{k}"]))
  if "vae" in models and "pcp" in models:
    v, p = results["vae_success"], results["pcp_success"]
    summary["cells_vae_succeeds_pcp_fails"] = int(np.sum(v & ~p))
    summary["cells_pcp_succeeds_vae_fails"] = int(np.sum(p & ~v))
    summary["frac_cells_vae_nmse_below_pcp"] = float(np.mean(
        results["vae_nmse"] < results["pcp_nmse"]))
  return summary


def run(config, workdir: str) -> dict:
  """Runs the experiment described by ``config`` (``launch/configs/linear_phase_transition.py``):
  train the networks → PCP → summarize → plot."""
  validate(config)
  t0 = time.time()
  settings = settings_from_config(config)
  io.start_run(workdir, config)
  ranks = [int(r) for r in config.ranks]
  nus = [float(v) for v in config.nus]
  models = tuple(m for m in ALL_MODELS if m in config.models)
  threshold = float(config.success_threshold)
  results: dict[str, Any] = {"ranks": np.asarray(ranks), "nus": np.asarray(nus)}
  nets, summary = _train_networks(config, settings, workdir, ranks, nus, models)
  results.update(nets)
  summary.update(success_threshold=threshold, grid_cells=len(ranks) * len(nus))
  if "pcp" in models:
    t_pcp = time.time()
    results.update(io.cached_npz(workdir, "pcp", io.config_hash(config),
                                 lambda: pcp_grid(settings, config, ranks, nus)))
    summary["pcp_seconds"] = time.time() - t_pcp
  summary.update(summarize(results, config, models))
  _plot(results, ranks, nus, models, threshold, os.path.join(workdir, "linear_nmse.png"),
        os.path.join(workdir, "linear_diagnostics.png"), int(config.eq13_refinements))
  summary["wall_seconds"] = time.time() - t0
  summary["devices"] = [str(d) for d in jax.devices()]  # of every process
  summary["processes"] = jax.process_count()
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), results)
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  print(f"[linear_phase_transition] success cells (NMSE < {threshold:g}): "
        f"{summary['success_cells']}", file=sys.stderr)
  return summary
