"""Figure 1 (and Figures 3, 4): the nonlinear phase transition of Sec. 5.1.

For every manifold dimension κ and outlier ratio ν, VAE, AE-ℓ2 and AE-ℓ1 (C2 on a grid, each AE
reported at its best C2 per cell and at C2 = 10³) are trained as ONE vmapped program
(``hidden_talents.sweep``) and convex RPCA (``hidden_talents.baselines``) is solved on every cell's
X with the best λ of a small set. NMSE (eq. 20) of the recovered clean data is the figure of merit.
Optionally a second VAE, ``vae_warmup``, trains with a KL warm-up of ``kl_warmup_steps`` (the
paper's protocol is the plain ``vae``).

Every cell has a learning curve (``metrics.jsonl``, ``learning_curves.png``) and a ``converged``
flag (``curves.convergence``); summary.json says which fraction of each model's cells converged,
and gives every solution's VAE objective (``vae_objective_test``: the paper's thesis is that the
VAE's minima are the good solutions).

``run(config, workdir)`` = ``train_grid`` → ``summarize`` (pure) → ``plot``; it writes
``config.json``, ``results.npz`` (every plotted number), ``summary.json``, ``metrics.jsonl`` and
``fig1_nmse.png``, ``fig1_nmse_c2_1000.png``, ``fig3_sigma_z_hist.png``,
``fig4_sigma_z_sorted.png``, ``learning_curves.png`` into ``workdir``; finished parts are skipped
when re-run.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any

import jax
import numpy as np

from hidden_talents import checks, curves, io, memory, metrics, plotting, sweep, train
from hidden_talents.experiments import claim
from hidden_talents.experiments.phase_transition_baselines import (
  gt_checks,
  rpca_grid,
)

ALL_MODELS = ("vae", "vae_warmup", "ae_l2", "ae_l1", "rpca")
NET_MODELS = ("vae", "vae_warmup", "ae_l2", "ae_l1")
VAES = ("vae", "vae_warmup")
AES = ("ae_l2", "ae_l1")
TITLES = {"vae": "VAE", "vae_warmup": "VAE + KL warm-up", "ae_l2": "AE-ℓ2 (best C2)",
          "ae_l1": "AE-ℓ1 (best C2)", "rpca": "RPCA (best λ)"}


def validate(config) -> None:
  """Raises ``ValueError`` naming the first bad field; called before any compute."""
  models = checks.subset("models", config.models, ALL_MODELS)
  for name in ("data_dim", "latent_dim", "num_samples", "batch_size", "num_steps", "chunk_steps",
               "eval_batch_size", "checkpoint_every", "num_latent_samples", "eval_subset",
               "refit_steps"):
    checks.positive_int(name, getattr(config, name))
  checks.nonnegative_int("eval_every", config.eval_every)
  for k in checks.nonempty("kappas", config.kappas):
    checks.positive_int("every κ in kappas", k)
  checks.nonempty("nus", config.nus)
  for pair in config.get("cells", ()):
    if len(pair) != 2 or int(pair[0]) not in [int(k) for k in config.kappas] or float(
        pair[1]) not in [float(v) for v in config.nus]:
      raise ValueError(f"every entry of cells must be a (κ, ν) pair of kappas × nus, got {pair!r}")
  for nu in list(config.nus) + list(config.fig3_nus) + list(config.fig4.nus):
    checks.fraction("every outlier ratio ν", nu)
  for w in checks.nonempty("hidden_widths", config.hidden_widths):
    checks.positive_int("every hidden width", w)
  for w in config.generator_widths:
    checks.positive_int("every generator width", w)
  if any(m in models for m in AES):
    for c2 in checks.nonempty("c2_values (an AE is in models)", config.c2_values):
      checks.nonnegative_number("every C2 value", c2)
    for c2 in config.get("ae_l1_c2_values", ()):
      checks.nonnegative_number("every ae_l1_c2_values entry", c2)
  checks.positive_number("learning_rate", config.learning_rate)
  checks.positive_number("alpha", config.alpha)
  checks.nonnegative_number("weight_decay", config.weight_decay)
  checks.at_most("batch_size", config.batch_size, config.num_samples, "num_samples")
  checks.one_of("loss_reduction", config.loss_reduction, ("mean", "sum"))
  checks.one_of("lr_schedule", config.lr_schedule, train.LR_SCHEDULES)
  checks.one_of("precision", config.precision, train.PRECISIONS)
  if config.lr_schedule != "constant":
    checks.number("lr_end", config.lr_end, lo=0.0, hi=float(config.learning_rate), lo_open=True)
  checks.nonnegative_number("kl_warmup_steps", config.kl_warmup_steps)
  if "vae_warmup" in models and not config.kl_warmup_steps > 0:
    raise ValueError("kl_warmup_steps must be > 0 when vae_warmup is in models, got "
                     f"{config.kl_warmup_steps!r}")
  checks.integer("cells_per_group (-1 = sized for the backend, 0 = all)", config.cells_per_group,
                 minimum=-1)
  if "rpca" in models:
    for f in checks.nonempty("rpca.lam_factors", config.rpca.lam_factors):
      checks.positive_number("every rpca.lam_factors entry", f)
    for name in ("max_iter", "chunk_size"):
      checks.positive_int(f"rpca.{name}", getattr(config.rpca, name))
    checks.positive_number("rpca.tol", config.rpca.tol)
    checks.nonnegative_int("rpca.num_samples (0 = num_samples)", config.rpca.num_samples)
  if config.fig4.enabled:
    checks.positive_int("fig4.kappa", config.fig4.kappa)
    checks.positive_int("fig4.num_steps", config.fig4.num_steps)


def settings_from_config(config, *, latent_dim: int | None = None,
                         kappa_max: int | None = None,
                         num_steps: int | None = None) -> train.Settings:
  """The engine's static settings for this config (one place: every field of the training)."""
  r = tuple(int(w) for w in config.hidden_widths)
  gen = tuple(int(w) for w in config.generator_widths) or r
  steps = int(num_steps if num_steps is not None else config.num_steps)
  return train.Settings(
      data_dim=int(config.data_dim),
      kappa_max=int(kappa_max if kappa_max is not None else max(config.kappas)),
      generator_widths=gen, encoder_widths=r[::-1], decoder_widths=r,
      latent_dim=int(latent_dim if latent_dim is not None else config.latent_dim),
      num_samples=int(config.num_samples), batch_size=int(config.batch_size),
      chunk_steps=int(min(config.chunk_steps, steps)),
      learning_rate=float(config.learning_rate), alpha=float(config.alpha),
      decoder_variance=str(config.decoder_variance),
      weight_decay=float(config.weight_decay), loss_reduction=str(config.loss_reduction),
      num_latent_samples=int(config.num_latent_samples),
      logvar_bias_init=float(config.logvar_bias_init),
      eval_batch_size=int(config.eval_batch_size), grad_clip=float(config.grad_clip),
      lr_schedule=str(config.lr_schedule),
      lr_end=float(config.lr_end), schedule_steps=steps if config.lr_schedule != "constant" else 1,
      eval_subset=int(config.eval_subset), refit_steps=int(config.refit_steps),
      precision=str(config.precision))


def c2_grid(config, model: str) -> tuple[float, ...]:
  """The C2 values a model is trained at: (1,) for the VAEs (their C2 is the KL's), the AE-ℓ1's
  own ``ae_l1_c2_values`` when given, else ``c2_values``."""
  if model in VAES:
    return (1.0,)
  if model == "ae_l1" and tuple(config.get("ae_l1_c2_values", ())):
    return tuple(float(c) for c in config.ae_l1_c2_values)
  return tuple(float(c) for c in config.c2_values)


def grid_pairs(config) -> list[tuple[int, float]]:
  """The (κ, ν) cells of the grid: every pair of ``kappas`` × ``nus``, or only the pairs listed in
  ``cells`` when it is not empty (a study of a few cells that are not a product)."""
  listed = [(int(k), float(v)) for k, v in config.get("cells", ())]
  return listed or [(int(k), float(v)) for k in config.kappas for v in config.nus]


def data_fields(config) -> tuple[str, ...]:
  """The config fields every cell's data (and so RPCA's and the checks' results) depend on."""
  return _DATA_FIELDS + (("cells",) if config.get("cells", ()) else ())


def grid_infos(config) -> list[sweep.CellInfo]:
  """Main grid (model × C2 × κ × ν) + VAE cells Figure 3 needs that the grid lacks."""
  infos = []
  nets = [m for m in config.models if m in NET_MODELS]
  for m in nets:
    c2s = c2_grid(config, m)
    warm = float(config.kl_warmup_steps) if m == "vae_warmup" else 0.0
    for c2 in c2s:
      for k, nu in grid_pairs(config):
        infos.append(sweep.CellInfo(m, c2, k, nu, int(config.seed), warm))
  if "vae" in nets:
    have = {(i.kappa, i.nu) for i in infos if i.model == "vae"}
    for k in config.fig3_kappas:
      for nu in config.fig3_nus:
        if (int(k), float(nu)) not in have and int(k) <= max(config.kappas):
          infos.append(sweep.CellInfo("vae", 1.0, int(k), float(nu), int(config.seed)))
  return infos


def _grid(cell_values, results, model, c2, kappas, nus) -> np.ndarray:
  """(κ, ν) grid of a per-cell array for one (model, C2); NaN where the grid has no cell."""
  out = np.full((len(kappas), len(nus)), np.nan)
  pos = {(m, float(c), int(k), float(v)): j for j, (m, c, k, v) in enumerate(zip(
      results["cell_model"], results["cell_c2"], results["cell_kappa"], results["cell_nu"]))}
  for a, k in enumerate(kappas):
    for b, nu in enumerate(nus):
      j = pos.get((model, float(c2), int(k), float(nu)))
      if j is not None:
        out[a, b] = cell_values[j]
  return out


# The data every cell sees (so RPCA and the ground-truth check are reused when only the training of
# the networks changes, e.g. a new learning rate or log-variance initialisation).
_DATA_FIELDS = ("kappas", "nus", "seed", "data_dim", "hidden_widths", "generator_widths",
                "num_samples")


def train_grid(config, settings: train.Settings, workdir: str) -> dict[str, np.ndarray]:
  """Trains the grid's cells as one sweep; per-cell results, learning curves and convergence."""
  infos = grid_infos(config)
  if not infos:
    return {}
  group = int(config.cells_per_group)
  if group < 0:  # sized for this backend (hidden_talents/memory.py)
    group = memory.cells_per_group(settings, len(infos))
    print(f"[groups] cells_per_group = {group} of {len(infos)} cells", file=sys.stderr)
  res = sweep.run_sweep(settings, sweep.make_cells(infos), num_steps=int(config.num_steps),
                        workdir=workdir, tag="main", cells_per_group=group,
                        checkpoint_every=int(config.checkpoint_every),
                        eval_every=int(config.eval_every), labels=[i.label() for i in infos],
                        refit_head=bool(config.refit_head))
  converged, rel = curves.convergence(res.curve_steps, res.curves.nmse)
  regime = {f"cell_{f}": getattr(res.eval, f) for f in (
      "inlier_exact_fraction", "nmse_inliers", "nmse_outliers")}
  out = {
      "cell_model": np.asarray([i.model for i in infos]),
      "cell_c2": np.asarray([i.c2 for i in infos]),
      "cell_kappa": np.asarray([i.kappa for i in infos]),
      "cell_nu": np.asarray([i.nu for i in infos]),
      "cell_kl_warmup": np.asarray([i.kl_warmup for i in infos]),
      "cell_nmse": res.eval.nmse, "cell_nmse_input": res.eval.nmse_input,
      "cell_failed": res.failed, "cell_failed_at_step": res.failed_at_step,
      "cell_sigma_z_mean": res.eval.sigma_z_mean,
      "cell_sigma_z_hist": res.eval.sigma_z_hist, "cell_w1_col_norms": res.eval.w1_col_norms,
      "cell_objective": res.eval.objective, "cell_vae_objective": res.eval.vae_objective,
      "cell_active_dims": metrics.active_dims(res.eval.sigma_z_mean),
      "cell_nonzero_columns": metrics.nonzero_from_norms(res.eval.w1_col_norms), **regime,
      "cell_loss_history": res.history, "train_seconds": np.float64(res.train_seconds),
      "curve_steps": res.curve_steps, "cell_converged": converged & ~res.failed,
      "cell_rel_change": rel,
      **{f"cell_curve_{f}": getattr(res.curves, f) for f in train.CurveMetrics._fields}}
  if res.vae_objective_refit is not None:
    out["cell_vae_objective_refit"] = res.vae_objective_refit
  return out


def model_grids(cells: dict, config) -> dict[str, np.ndarray]:
  """(κ, ν) grids per model from the per-cell results: NMSE, convergence; AEs at best C2."""
  kappas, nus = list(config.kappas), list(config.nus)
  out = {}
  first = (cells["cell_model"][0], cells["cell_c2"][0])
  out["input_nmse"] = _grid(cells["cell_nmse_input"], cells, *first, kappas, nus)
  models = set(cells["cell_model"].tolist())
  for m in [m for m in NET_MODELS if m in models]:
    if m in VAES:
      out[f"{m}_nmse"] = _grid(cells["cell_nmse"], cells, m, 1.0, kappas, nus)
      out[f"{m}_converged"] = _grid(cells["cell_converged"], cells, m, 1.0, kappas, nus)
      out[f"{m}_active_dims"] = _grid(cells["cell_active_dims"], cells, m, 1.0, kappas, nus)
      continue
    c2s = np.asarray(c2_grid(config, m), float)
    by_c2 = np.stack([_grid(cells["cell_nmse"], cells, m, c, kappas, nus) for c in c2s])
    conv = np.stack([_grid(cells["cell_converged"], cells, m, c, kappas, nus) for c in c2s])
    best, arg = metrics.best_over(by_c2)
    out[f"{m}_nmse_by_c2"] = by_c2
    out[f"{m}_converged_by_c2"] = conv
    out[f"{m}_nmse"] = best
    out[f"{m}_best_c2"] = np.where(arg >= 0, c2s[np.maximum(arg, 0)], np.nan)
    out[f"{m}_converged"] = np.where(
        arg >= 0, np.take_along_axis(conv, np.maximum(arg, 0)[None], 0)[0], np.nan)
  return out


def figure3(cells: dict, settings: train.Settings, config) -> dict[str, np.ndarray]:
  """Figure 3's histograms of log10 diag Σz of the VAE at (fig3_kappas × fig3_nus)."""
  edges = np.linspace(*settings.hist_range, settings.hist_bins + 1)
  pos = {(int(k), float(v)): j for j, (m, k, v) in enumerate(zip(
      cells["cell_model"], cells["cell_kappa"], cells["cell_nu"])) if m == "vae"}
  f3k = [int(k) for k in config.fig3_kappas]
  f3n = [float(v) for v in config.fig3_nus]
  hists = np.full((len(f3k), len(f3n), settings.hist_bins), np.nan)
  for a, k in enumerate(f3k):
    for b, nu in enumerate(f3n):
      if (k, nu) in pos:
        hists[a, b] = cells["cell_sigma_z_hist"][pos[(k, nu)]]
  return {"fig3_hists": hists, "fig3_edges": edges, "fig3_kappas": np.asarray(f3k),
          "fig3_nus": np.asarray(f3n)}


def figure4(config, settings: train.Settings, workdir: str) -> dict[str, np.ndarray]:
  """Figure 4: a separate VAE grid over ν with κ = dim μz; sorted mean diag Σz per ν."""
  k4 = int(config.fig4.kappa)
  s4 = dataclasses.replace(
      settings, latent_dim=k4, kappa_max=k4,
      chunk_steps=int(min(config.chunk_steps, config.fig4.num_steps)),
      schedule_steps=(int(config.fig4.num_steps) if settings.lr_schedule != "constant" else 1))
  infos4 = [sweep.CellInfo("vae", 1.0, k4, float(nu), int(config.seed)) for nu in config.fig4.nus]
  r4 = sweep.run_sweep(s4, sweep.make_cells(infos4), num_steps=int(config.fig4.num_steps),
                       workdir=workdir, tag="fig4", checkpoint_every=int(config.checkpoint_every),
                       eval_every=int(config.eval_every), labels=[i.label() for i in infos4])
  conv, _ = curves.convergence(r4.curve_steps, r4.curves.nmse)
  return {"fig4_nus": np.asarray(config.fig4.nus, float), "fig4_sigma_z_mean": r4.eval.sigma_z_mean,
          "fig4_nmse": r4.eval.nmse, "fig4_failed": r4.failed, "fig4_converged": conv}


def compute(config, workdir: str) -> dict[str, np.ndarray]:
  """Every number of the experiment (training, RPCA, Figure 4, ground-truth check)."""
  settings = settings_from_config(config)
  kappas = [int(k) for k in config.kappas]
  results: dict[str, Any] = {"kappas": np.asarray(kappas), "nus": np.asarray(config.nus, float),
                             "c2_values": np.asarray(config.c2_values, float)}
  cells = train_grid(config, settings, workdir)
  results.update(cells)
  if cells:
    results.update(model_grids(cells, config))
    if "vae" in config.models and len(config.fig3_kappas) and len(config.fig3_nus):
      results.update(figure3(cells, settings, config))  # fig3_kappas = () turns Figure 3 off
  if "rpca" in config.models:
    key = io.config_hash(config, data_fields(config) + ("rpca",))
    results.update(io.cached_npz(workdir, "rpca", key,
                                 lambda: rpca_grid(settings, config, grid_pairs(config))))
  if config.fig4.enabled and "vae" in config.models:
    results.update(figure4(config, settings, workdir))
  if config.gt_check.enabled:
    key = io.config_hash(config, data_fields(config) + ("batch_size", "gt_check"))
    results.update(io.cached_npz(workdir, "gt_check", key, lambda: gt_checks(
        settings, kappas, config)))
  return results


def _median(grid) -> float | None:
  finite = np.asarray(grid, float)[np.isfinite(grid)]
  return float(np.median(finite)) if finite.size else None


def _frac(mask) -> float | None:
  mask = np.asarray(mask, float)
  mask = mask[np.isfinite(mask)]
  return float(np.mean(mask)) if mask.size else None


_REGIME = ("inlier_exact_fraction", "nmse_inliers", "nmse_outliers")


def _add_verdicts(row: dict, kappa: int) -> None:
  """Each VAE of a summary row judged against the best AE under ``claim``'s rule (in place)."""
  aes = [row[m] for m in AES if m in row and np.isfinite(row[m]["nmse"])]
  if not aes:
    return
  best = min(aes, key=lambda e: e["nmse"])
  for v in VAES:
    if v in row and "active_dims" in row[v]:
      verdict, ratio = claim.cell_verdict(
          kappa=kappa, vae_nmse=row[v]["nmse"], vae_converged=row[v]["converged"],
          vae_active_dims=row[v]["active_dims"], ae_nmse=best["nmse"],
          ae_converged=best["converged"])
      row.setdefault("verdict", {})[v] = verdict
      row.setdefault("ratio_to_best_ae", {})[v] = ratio


def summarize_cells(r: dict, config) -> dict:
  """Per-cell convergence, the VAE-objective test of every solution, and (small grids) a table."""
  s: dict[str, Any] = {}
  model, conv = r["cell_model"], r["cell_converged"]
  s["converged_fraction"] = {m: _frac(conv[model == m]) for m in NET_MODELS if np.any(model == m)}
  s["convergence_rule"] = (f"relative NMSE improvement over the last {curves.CONVERGED_WINDOW:.0%} "
                           f"of steps < {curves.CONVERGED_TOL:.0%}")
  refit = r.get("cell_vae_objective_refit")
  kappas, nus = list(config.kappas), list(config.nus)
  table = []
  for k, nu in grid_pairs(config):
    a, b = kappas.index(k), nus.index(nu)
    row = {"kappa": int(k), "nu": float(nu), "input_nmse": float(r["input_nmse"][a, b])}
    for m in [m for m in NET_MODELS if f"{m}_nmse" in r]:
      c2 = 1.0 if m in VAES else r[f"{m}_best_c2"][a, b]
      j = [i for i in range(len(model)) if model[i] == m and float(r["cell_c2"][i]) == float(c2)
           and int(r["cell_kappa"][i]) == k and float(r["cell_nu"][i]) == float(nu)]
      if not j:
        continue
      j = j[0]
      row[m] = {"c2": float(c2), "nmse": float(r["cell_nmse"][j]),
                "converged": bool(conv[j]), "rel_change": float(r["cell_rel_change"][j]),
                "vae_objective": float(r["cell_vae_objective"][j]),
                "vae_objective_refit": None if refit is None else float(refit[j]),
                **{f: float(r[f"cell_{f}"][j]) for f in _REGIME if f"cell_{f}" in r},
                **{f: int(r[f"cell_{f}"][j]) for f in ("active_dims", "nonzero_columns")
                   if f"cell_{f}" in r}}
    if "rpca_nmse" in r:
      row["rpca"] = {"nmse": float(r["rpca_nmse"][a, b]),
                     "converged": bool(r["rpca_best_converged"][a, b])}
    _add_verdicts(row, k)
    table.append(row)
  s["cells"] = table
  if any("verdict" in row for row in table):
    s["claim_rule"] = claim.rule_text()
    s["claim_verdicts"] = {
        v: {verdict: sum(1 for row in table if row.get("verdict", {}).get(v) == verdict)
            for verdict in (claim.REPRODUCED, claim.AHEAD, claim.REFUTED, claim.UNDECIDED)}
        for v in VAES if any(v in row for row in table)}
  if refit is not None and "vae_nmse" in r:
    # The thesis test (Secs. 3–4): does the solution with the lower VAE objective (every solution's
    # log σz² head refit under the VAE cost) also have the lower NMSE?
    agree = total = 0
    for row in table:
      for m in ("ae_l2", "ae_l1"):
        if "vae" in row and m in row:
          d_obj = row["vae"]["vae_objective_refit"] - row[m]["vae_objective_refit"]
          d_nmse = row["vae"]["nmse"] - row[m]["nmse"]
          if np.isfinite(d_obj) and np.isfinite(d_nmse):
            total += 1
            agree += int((d_obj < 0) == (d_nmse < 0))
    s["vae_objective_test"] = {
        "pairs": total, "lower_objective_has_lower_nmse": agree,
        "note": "VAE vs each AE at its best C2 per (κ, ν); VAE objective per sample (eq. 2, Σx "
                "optimised out) with every solution's log σz² head refit for refit_steps steps"}
  return s


def summarize(r: dict, config) -> dict:
  """summary.json from the results (pure: no training, no files)."""
  models = tuple(config.models)
  s: dict[str, Any] = {"median_nmse": {}, "frac_cells_below_0.1": {}, "failed_cells": []}
  s["budget"] = {k: io.to_jsonable(config[k]) for k in (
      "num_steps", "num_samples", "batch_size", "learning_rate", "lr_schedule", "lr_end",
      "kl_warmup_steps", "loss_reduction", "hidden_widths", "generator_widths")}
  if "cell_model" in r:
    for j in np.nonzero(r["cell_failed"])[0]:
      s["failed_cells"].append({
          "model": str(r["cell_model"][j]), "c2": float(r["cell_c2"][j]),
          "kappa": int(r["cell_kappa"][j]), "nu": float(r["cell_nu"][j]),
          "failed_before_step": int(r["cell_failed_at_step"][j]) + int(
              min(config.chunk_steps, config.num_steps))})
    s.update(summarize_cells(r, config))
    vae = [j for j, m in enumerate(r["cell_model"]) if m == "vae" and not r["cell_failed"][j]]
    if vae:
      lv = r["cell_sigma_z_hist"][vae].sum(0)
      rng = tuple(train.Settings.hist_range)
      s["vae_sigma_z_frac_below_1e-2"] = float(metrics.sigma_z_fractions(
          lv, rng, near_zero=metrics.SIGMA_Z_SMALL)[0])
      s["vae_sigma_z_frac_near_1"] = float(metrics.sigma_z_fractions(lv, rng)[1])
  for m in models:
    if f"{m}_nmse" in r:
      s["median_nmse"][m] = _median(r[f"{m}_nmse"])
      finite = r[f"{m}_nmse"][np.isfinite(r[f"{m}_nmse"])]
      s["frac_cells_below_0.1"][m] = float(np.mean(finite < 0.1)) if finite.size else None
  if "input_nmse" in r:
    s["median_nmse_of_corrupted_input"] = float(np.nanmedian(r["input_nmse"]))
  compared = {m: _frac(r[f"{m}_converged"]) for m in NET_MODELS if f"{m}_converged" in r}
  if "rpca_best_converged" in r:
    compared["rpca"] = _frac(r["rpca_best_converged"])
  for m in AES:
    c2s = list(c2_grid(config, m))
    if f"{m}_nmse_by_c2" in r and 1000.0 in c2s:
      j = c2s.index(1000.0)
      s.setdefault("median_nmse_at_c2_1000", {})[m] = float(np.nanmedian(r[f"{m}_nmse_by_c2"][j]))
      compared[f"{m}_c2_1000"] = _frac(r[f"{m}_converged_by_c2"][j])
  s["compared_converged_fraction"] = compared
  for m in AES:
    if f"{m}_nmse_by_c2" in r:
      s.setdefault("median_nmse_by_c2", {})[m] = {
          f"{c:g}": float(np.nanmedian(g)) for c, g in zip(c2_grid(config, m),
                                                           r[f"{m}_nmse_by_c2"])}
  for v in VAES:
    if f"{v}_nmse" in r:
      for m in ("vae", "vae_warmup", "ae_l2", "ae_l1", "rpca"):
        if m != v and f"{m}_nmse" in r:
          key = "frac_cells_vae_better_than" if v == "vae" else "frac_cells_vae_warmup_better_than"
          s.setdefault(key, {})[m] = float(np.nanmean(r[f"{v}_nmse"] < r[f"{m}_nmse"]))
  if "fig4_sigma_z_mean" in r:
    big = [float(nu) for nu, v in zip(r["fig4_nus"], r["fig4_sigma_z_mean"]) if np.max(v) > 0.5]
    s["fig4_first_nu_with_variance_above_0.5"] = min(big) if big else None
    s["fig4_converged_fraction"] = _frac(r["fig4_converged"])
  if "gt_encoder_rel_error" in r:
    s["gt_encoder_rel_error_max"] = float(np.max(r["gt_encoder_rel_error"]))
    if "gt_encoder_widths" in r:
      s["gt_encoder_widths"] = [int(w) for w in r["gt_encoder_widths"]]
      s["network_encoder_widths"] = [int(w) for w in r["network_encoder_widths"]]
    if "gt_encoder_rel_error_network" in r:
      # The networks do not mirror the generator: the inverse they can contain, checked too.
      s["gt_encoder_rel_error_max_network_widths"] = float(
          np.max(r["gt_encoder_rel_error_network"]))
    s["energy_outside_top_50_by_kappa"] = {
        str(int(k)): float(v) for k, v in zip(r["kappas"], r["energy_outside_top_50"])}
  return s


def _curve_panels(r: dict, config) -> tuple[list, str]:
  """Learning-curve panels: one per (κ, ν) for small grids, else per model median/quartiles over
  the grid's cells plus the corner cells."""
  steps = r["curve_steps"]
  nmse = r["cell_curve_nmse"]  # (evals, cells)
  model, c2 = r["cell_model"], r["cell_c2"]
  kappa, nu = r["cell_kappa"], r["cell_nu"]
  in_grid = np.isin(kappa, list(config.kappas)) & np.isin(nu, list(config.nus))
  series = sorted({(m, float(c)) for m, c in zip(model, c2)},
                  key=lambda mc: (NET_MODELS.index(mc[0]), mc[1]))
  name = lambda m, c: m if m in VAES else f"{m} C2={c:g}"
  pairs = grid_pairs(config)
  if len(pairs) <= 12:
    panels = []
    for k, v in pairs:
      lines = [plotting.CurveLine(name(m, c), steps, nmse[:, j])
               for m, c in series for j in np.nonzero((model == m) & (c2 == c) & (kappa == k)
                                                       & (nu == v))[0]]
      ref = r["input_nmse"][list(config.kappas).index(k), list(config.nus).index(v)]
      panels.append((f"κ={k}, ν={v:g}", lines, ref))
    return panels, "NMSE (eq. 20) on the evaluation subset, per cell"
  panels = []
  lines = []
  for m, c in series:
    sel = (model == m) & (c2 == c) & in_grid
    q = np.nanpercentile(nmse[:, sel], [25, 50, 75], axis=1)
    lines.append(plotting.CurveLine(name(m, c), steps, q[1], (q[0], q[2])))
  panels.append(("median and quartiles over the grid", lines, float(np.nanmedian(r["input_nmse"]))))
  ks, vs = list(config.kappas), list(config.nus)
  for k, v in [(ks[0], vs[0]), (ks[0], vs[-1]), (ks[-1], vs[0]), (ks[-1], vs[-1]),
               (ks[len(ks) // 2], vs[len(vs) // 2])]:
    lines = [plotting.CurveLine(name(m, c), steps, nmse[:, j]) for m, c in series
             for j in np.nonzero((model == m) & (c2 == c) & (kappa == k) & (nu == v))[0]]
    panels.append((f"κ={k}, ν={v:g}", lines, r["input_nmse"][ks.index(k), vs.index(v)]))
  return panels, "NMSE (eq. 20) on the evaluation subset"


def plot(r: dict, config, workdir: str) -> None:
  """Figures 1, 3, 4 and the learning curves from the results."""
  kappas, nus = list(config.kappas), list(config.nus)
  path = lambda f: os.path.join(workdir, f)
  if "fig3_hists" in r:
    plotting.sigma_histograms(r["fig3_hists"], edges=r["fig3_edges"], kappas=list(r["fig3_kappas"]),
                              nus=list(r["fig3_nus"]), path=path("fig3_sigma_z_hist.png"))
  if "fig4_sigma_z_mean" in r:
    plotting.sorted_curves(
        [(f"ν={nu:g}", v) for nu, v in zip(r["fig4_nus"], r["fig4_sigma_z_mean"])],
        path=path("fig4_sigma_z_sorted.png"), xlabel="latent dimension (sorted)",
        ylabel="mean diag Σz", title=f"Figure 4: κ = dim μz = {int(config.fig4.kappa)}")
  panels = [(TITLES[m], r[f"{m}_nmse"]) for m in config.models if f"{m}_nmse" in r]
  heat = dict(x_values=nus, y_values=kappas, x_label="outlier ratio ν",
              y_label="manifold dimension κ")
  if panels:
    plotting.heatmaps(panels, path=path("fig1_nmse.png"),
                      suptitle="Figure 1: NMSE recovering L (white 0, dark blue ≥ 1)", **heat)
  p2 = [(TITLES[m].replace("best C2", "C2 = 10³"),
         r[f"{m}_nmse_by_c2"][list(c2_grid(config, m)).index(1000.0)])
        for m in AES if f"{m}_nmse_by_c2" in r and 1000.0 in c2_grid(config, m)]
  if p2:
    if "vae_nmse" in r:
      p2.insert(0, ("VAE", r["vae_nmse"]))
    plotting.heatmaps(p2, path=path("fig1_nmse_c2_1000.png"),
                      suptitle="AEs at the paper's tuned C2 = 10³", **heat)
  if "cell_curve_nmse" in r:
    panels, title = _curve_panels(r, config)
    plotting.learning_curves(panels, path=path("learning_curves.png"), suptitle=title)


def run(config, workdir: str) -> dict:
  """Runs the sweep described by ``config`` (``launch/configs/phase_transition.py``)."""
  validate(config)
  t0 = time.time()
  io.start_run(workdir, config)
  results = compute(config, workdir)
  summary = summarize(results, config)
  plot(results, config, workdir)
  summary["wall_seconds"] = time.time() - t0
  summary["devices"] = [str(d) for d in jax.devices()]  # of every process
  summary["processes"] = jax.process_count()
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), results)
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  return summary
