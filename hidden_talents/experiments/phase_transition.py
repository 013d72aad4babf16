"""Figure 1 (and Figures 3, 4): the nonlinear phase transition of Sec. 5.1.

For every manifold dimension κ and outlier ratio ν, VAE, AE-ℓ2 and AE-ℓ1 (C2 on a grid, each AE
reported at its best C2 per cell and at C2 = 10³) are trained as ONE vmapped program
(``hidden_talents.sweep``) and convex RPCA (``hidden_talents.rpca``) is solved on every cell's X
with the best λ of a small set. NMSE (eq. 20) of the recovered clean data is the figure of merit.

``run(config, workdir)`` writes ``config.json``, ``results.npz`` (every plotted number),
``summary.json`` and ``fig1_nmse.png``, ``fig1_nmse_c2_1000.png``, ``fig3_sigma_z_hist.png``,
``fig4_sigma_z_sorted.png`` into ``workdir``; finished parts are skipped when re-run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hidden_talents import io, metrics, plotting, sweep, train
from hidden_talents.data import manifold

ALL_MODELS = ("vae", "ae_l2", "ae_l1", "rpca")
NET_MODELS = ("vae", "ae_l2", "ae_l1")


def _finite_number(name: str, v: Any) -> float:
  try:
    f = float(v)
  except (TypeError, ValueError) as e:
    raise ValueError(f"{name} must be a number, got {v!r}") from e
  if not math.isfinite(f):
    raise ValueError(f"{name} must be finite, got {v!r}")
  return f


def validate(config) -> None:
  """Raises ``ValueError`` naming the first bad field; called before any compute."""
  models = tuple(config.models)
  if not models or any(m not in ALL_MODELS for m in models):
    raise ValueError(f"models must be a non-empty subset of {ALL_MODELS}, got {models}")
  for name in ("data_dim", "latent_dim", "num_samples", "batch_size", "num_steps", "chunk_steps",
               "eval_batch_size", "checkpoint_every", "num_latent_samples"):
    v = getattr(config, name)
    if int(v) != v or int(v) <= 0:
      raise ValueError(f"{name} must be a positive integer, got {v!r}")
  if not config.kappas:
    raise ValueError("kappas must not be empty")
  for k in config.kappas:
    if int(k) != k or k < 1:
      raise ValueError(f"every κ in kappas must be a positive integer, got {k!r}")
  if not config.nus:
    raise ValueError("nus must not be empty")
  for nu in list(config.nus) + list(config.fig3_nus) + list(config.fig4.nus):
    nu = _finite_number("outlier ratio ν", nu)
    if not 0.0 <= nu < 1.0:
      raise ValueError(f"outlier ratios ν must lie in [0, 1), got {nu}")
  for w in tuple(config.hidden_widths) + tuple(config.generator_widths):
    if int(w) != w or w <= 0:
      raise ValueError(f"hidden/generator widths must be positive integers, got {w!r}")
  if len(tuple(config.hidden_widths)) < 1:
    raise ValueError("hidden_widths must name at least one layer width")
  if any(m in models for m in ("ae_l2", "ae_l1")):
    if not config.c2_values:
      raise ValueError("c2_values must not be empty when an AE is in models")
    for c2 in config.c2_values:
      if _finite_number("C2", c2) < 0:
        raise ValueError(f"C2 values must be ≥ 0, got {c2}")
  for name in ("learning_rate", "alpha"):
    if _finite_number(name, getattr(config, name)) <= 0:
      raise ValueError(f"{name} must be > 0, got {getattr(config, name)!r}")
  if _finite_number("weight_decay", config.weight_decay) < 0:
    raise ValueError(f"weight_decay must be ≥ 0, got {config.weight_decay!r}")
  if config.batch_size > config.num_samples:
    raise ValueError(f"batch_size ({config.batch_size}) exceeds num_samples ({config.num_samples})")
  if config.loss_reduction not in ("mean", "sum"):
    raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {config.loss_reduction!r}")
  if config.cells_per_group < 0:
    raise ValueError(f"cells_per_group must be ≥ 0, got {config.cells_per_group}")
  if "rpca" in models:
    for f in config.rpca.lam_factors:
      if _finite_number("rpca.lam_factors", f) <= 0:
        raise ValueError(f"rpca.lam_factors must be > 0, got {f}")
    if config.rpca.max_iter <= 0 or config.rpca.tol <= 0 or config.rpca.chunk_size <= 0:
      raise ValueError("rpca.max_iter, rpca.tol and rpca.chunk_size must be positive")
    if config.rpca.num_samples < 0:
      raise ValueError("rpca.num_samples must be ≥ 0 (0 = num_samples)")
  if config.fig4.enabled:
    if int(config.fig4.kappa) < 1 or int(config.fig4.num_steps) <= 0:
      raise ValueError("fig4.kappa and fig4.num_steps must be positive")


def settings_from_config(config, *, latent_dim: int | None = None,
                         kappa_max: int | None = None) -> train.Settings:
  r = tuple(int(w) for w in config.hidden_widths)
  gen = tuple(int(w) for w in config.generator_widths) or r
  return train.Settings(
      data_dim=int(config.data_dim),
      kappa_max=int(kappa_max if kappa_max is not None else max(config.kappas)),
      generator_widths=gen, encoder_widths=r[::-1], decoder_widths=r,
      latent_dim=int(latent_dim if latent_dim is not None else config.latent_dim),
      num_samples=int(config.num_samples), batch_size=int(config.batch_size),
      chunk_steps=int(min(config.chunk_steps, config.num_steps)),
      learning_rate=float(config.learning_rate), alpha=float(config.alpha),
      weight_decay=float(config.weight_decay), loss_reduction=str(config.loss_reduction),
      num_latent_samples=int(config.num_latent_samples),
      logvar_bias_init=float(config.logvar_bias_init),
      eval_batch_size=int(config.eval_batch_size), grad_clip=float(config.grad_clip))


def grid_infos(config) -> list[sweep.CellInfo]:
  """Main grid (model × C2 × κ × ν) + VAE cells Figure 3 needs that the grid lacks."""
  infos = []
  nets = [m for m in config.models if m in NET_MODELS]
  for m in nets:
    c2s = (1.0,) if m == "vae" else tuple(float(c) for c in config.c2_values)
    for c2 in c2s:
      for k in config.kappas:
        for nu in config.nus:
          infos.append(sweep.CellInfo(m, c2, int(k), float(nu), int(config.seed)))
  if "vae" in nets:
    have = {(i.kappa, i.nu) for i in infos if i.model == "vae"}
    for k in config.fig3_kappas:
      for nu in config.fig3_nus:
        if (int(k), float(nu)) not in have and int(k) <= max(config.kappas):
          infos.append(sweep.CellInfo("vae", 1.0, int(k), float(nu), int(config.seed)))
  return infos


def _grid_nmse(infos, nmse, model, c2, kappas, nus) -> np.ndarray:
  out = np.full((len(kappas), len(nus)), np.nan)
  pos = {(i.model, i.c2, i.kappa, i.nu): j for j, i in enumerate(infos)}
  for a, k in enumerate(kappas):
    for b, nu in enumerate(nus):
      j = pos.get((model, float(c2), int(k), float(nu)))
      if j is not None:
        out[a, b] = nmse[j]
  return out


def ground_truth_check(settings: train.Settings, kappas, seed: int, *, num_steps: int,
                       learning_rate: float, num_samples: int) -> dict[str, np.ndarray]:
  """Sec. 5.1's check that the manifold is invertible at these sizes, and how far L is from
  low rank.

  Trains l(d)-E1(r2)-E2(r1)-ẑ(κ) (ℓ2 loss on the first κ coordinates) on the fixed ground-truth
  decoder's output, vmapped over κ, and reports ‖ẑ − z‖²/‖z‖². Also the fraction of ‖L‖²_F
  outside the top κ and top 50 singular values of L (n × d).
  """
  widths = tuple(settings.generator_widths)[::-1]
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

  def one(cell):
    gen = manifold.init_generator(cell.data_key, cell.kappa, kappa_max=kmax,
                                  widths=settings.generator_widths, data_dim=settings.data_dim)
    p = init_mlp(cell.init_key)
    opt = tx.init(p)
    mask = gen.kappa_mask

    def loss(p, idx):
      z, l = manifold.sample_clean(gen, cell.data_key, idx)
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
    _, l = manifold.sample_clean(gen, cell.data_key, idx)
    s = jnp.linalg.svd(l, compute_uv=False)
    e = jnp.cumsum(s**2) / jnp.sum(s**2)
    outside_kappa = 1.0 - e[cell.kappa - 1]
    outside_50 = 1.0 - e[min(50, e.shape[0]) - 1]
    return rel, outside_kappa, outside_50, s

  rel, out_k, out_50, spectra = jax.jit(jax.vmap(one))(cells)
  return {"gt_encoder_rel_error": np.asarray(rel), "energy_outside_top_kappa": np.asarray(out_k),
          "energy_outside_top_50": np.asarray(out_50), "singular_values_L": np.asarray(spectra)}


def rpca_grid(settings: train.Settings, config) -> dict[str, np.ndarray]:
  """Convex RPCA (batched inexact ALM) on every (κ, ν) cell's X; best λ per cell by NMSE."""
  from hidden_talents import rpca  # the solver module

  kappas, nus = list(config.kappas), list(config.nus)
  n = int(config.rpca.num_samples) or int(config.num_samples)
  n = min(n, settings.num_samples)
  pairs = [(k, nu) for k in kappas for nu in nus]
  infos = [sweep.CellInfo("vae", 1.0, int(k), float(nu), int(config.seed)) for k, nu in pairs]
  cells = sweep.make_cells(infos)
  fns = train.make_train(settings)
  idx = jnp.arange(n)
  materialize = jax.jit(jax.vmap(lambda c: fns.sample_batch(c, idx)[:2]))
  factors = np.asarray(config.rpca.lam_factors, np.float32)
  lam0 = 1.0 / math.sqrt(max(n, settings.data_dim))
  chunk = int(config.rpca.chunk_size)
  nmse = np.full((len(pairs), len(factors)), np.nan)
  iters = np.zeros((len(pairs), len(factors)), np.int64)
  converged = np.zeros((len(pairs), len(factors)), bool)
  for start in range(0, len(pairs), chunk):
    sel = np.arange(start, min(start + chunk, len(pairs)))
    sel_padded = np.concatenate([sel, np.full(chunk - len(sel), sel[-1])])
    X, L = materialize(sweep.take(cells, sel_padded))
    Xs = jnp.repeat(X, len(factors), axis=0)
    Ls = jnp.repeat(L, len(factors), axis=0)
    lams = jnp.tile(jnp.asarray(factors * lam0), len(sel_padded))
    res = rpca.robust_pca_batched(Xs, lam=lams, tol=float(config.rpca.tol),
                                  max_iter=int(config.rpca.max_iter), chunk_size=len(factors))
    err = jnp.sum((res.L - Ls) ** 2, axis=(1, 2)) / jnp.sum(Ls**2, axis=(1, 2))
    err = np.asarray(err).reshape(len(sel_padded), len(factors))[: len(sel)]
    nmse[sel] = err
    iters[sel] = np.asarray(res.iterations).reshape(len(sel_padded), -1)[: len(sel)]
    converged[sel] = np.asarray(res.converged).reshape(len(sel_padded), -1)[: len(sel)]
    print(f"[rpca] {min(start + chunk, len(pairs))}/{len(pairs)} cells", file=sys.stderr,
          flush=True)
  best, arg = metrics.best_over(nmse.T)
  shape = (len(kappas), len(nus))
  return {"rpca_nmse": best.reshape(shape), "rpca_best_lam_factor": np.where(
      arg >= 0, factors[np.maximum(arg, 0)], np.nan).reshape(shape),
      "rpca_nmse_by_lam": nmse.T.reshape((len(factors),) + shape),
      "rpca_iterations": iters.T.reshape((len(factors),) + shape),
      "rpca_converged": converged.T.reshape((len(factors),) + shape),
      "rpca_lam_factors": factors, "rpca_num_samples": np.int64(n)}


def _config_hash(config, fields: tuple[str, ...] | None = None) -> str:
  """Hash of the config, or of only ``fields`` (what a cached result depends on)."""
  d = io.to_jsonable(config)
  if fields is not None:
    d = {f: d.get(f) for f in fields}
  return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# The data every cell sees (so RPCA and the ground-truth check are reused when only the training of
# the networks changes, e.g. a new learning rate or log-variance initialisation).
_DATA_FIELDS = ("kappas", "nus", "seed", "data_dim", "hidden_widths", "generator_widths",
                "num_samples")


def _cached(workdir: str, name: str, key: str, compute) -> dict[str, np.ndarray]:
  """Loads ``<workdir>/<name>.npz`` if written by the same config, else computes and saves it."""
  path = os.path.join(workdir, f"{name}.npz")
  if os.path.exists(path):
    d = io.load_npz(path)
    if str(d.get("config_hash")) == key:
      d.pop("config_hash")
      return d
  out = compute()
  io.atomic_write_npz(path, dict(out, config_hash=np.asarray(key)))
  return out


def run(config, workdir: str) -> dict:
  """Runs the sweep described by ``config`` (``launch/configs/phase_transition.py``)."""
  validate(config)
  t0 = time.time()
  io.ensure_dir(workdir)
  io.atomic_write_json(os.path.join(workdir, "config.json"), config)
  settings = settings_from_config(config)
  kappas = [int(k) for k in config.kappas]
  nus = [float(v) for v in config.nus]
  models = tuple(config.models)
  results: dict[str, Any] = {"kappas": np.asarray(kappas), "nus": np.asarray(nus),
                             "c2_values": np.asarray(config.c2_values, float)}
  summary: dict[str, Any] = {"median_nmse": {}, "frac_cells_below_0.1": {}, "failed_cells": []}

  infos = grid_infos(config)
  if infos:
    cells = sweep.make_cells(infos)
    res = sweep.run_sweep(settings, cells, num_steps=int(config.num_steps), workdir=workdir,
                          tag="main", cells_per_group=int(config.cells_per_group),
                          checkpoint_every=int(config.checkpoint_every))
    nmse = res.eval.nmse
    results.update({
        "cell_model": np.asarray([i.model for i in infos]),
        "cell_c2": np.asarray([i.c2 for i in infos]),
        "cell_kappa": np.asarray([i.kappa for i in infos]),
        "cell_nu": np.asarray([i.nu for i in infos]),
        "cell_nmse": nmse, "cell_nmse_input": res.eval.nmse_input,
        "cell_failed": res.failed, "cell_sigma_z_mean": res.eval.sigma_z_mean,
        "cell_sigma_z_hist": res.eval.sigma_z_hist, "cell_w1_col_norms": res.eval.w1_col_norms,
        "cell_loss_history": res.history, "train_seconds": np.float64(res.train_seconds)})
    for j in np.nonzero(res.failed)[0]:
      i = infos[j]
      summary["failed_cells"].append({"model": i.model, "c2": i.c2, "kappa": i.kappa, "nu": i.nu,
                                      "failed_before_step": int(res.failed_at_step[j])
                                      + settings.chunk_steps})
    results["input_nmse"] = _grid_nmse(infos, res.eval.nmse_input, infos[0].model, infos[0].c2,
                                       kappas, nus)
    for m in [m for m in models if m in NET_MODELS]:
      if m == "vae":
        results["vae_nmse"] = _grid_nmse(infos, nmse, "vae", 1.0, kappas, nus)
        continue
      by_c2 = np.stack([_grid_nmse(infos, nmse, m, c2, kappas, nus) for c2 in config.c2_values])
      best, arg = metrics.best_over(by_c2)
      results[f"{m}_nmse_by_c2"] = by_c2
      results[f"{m}_nmse"] = best
      results[f"{m}_best_c2"] = np.where(arg >= 0, np.asarray(config.c2_values, float)[
          np.maximum(arg, 0)], np.nan)
    # Figure 3.
    if "vae" in models:
      edges = np.linspace(*settings.hist_range, settings.hist_bins + 1)
      pos = {(i.kappa, i.nu): j for j, i in enumerate(infos) if i.model == "vae"}
      f3k = [int(k) for k in config.fig3_kappas]
      f3n = [float(v) for v in config.fig3_nus]
      hists = np.full((len(f3k), len(f3n), settings.hist_bins), np.nan)
      for a, k in enumerate(f3k):
        for b, nu in enumerate(f3n):
          if (k, nu) in pos:
            hists[a, b] = res.eval.sigma_z_hist[pos[(k, nu)]]
      results.update(fig3_hists=hists, fig3_edges=edges, fig3_kappas=np.asarray(f3k),
                     fig3_nus=np.asarray(f3n))
      plotting.sigma_histograms(hists, edges=edges, kappas=f3k, nus=f3n,
                                path=os.path.join(workdir, "fig3_sigma_z_hist.png"))
      vae_idx = [j for j, i in enumerate(infos) if i.model == "vae" and not res.failed[j]]
      lv = np.concatenate([res.eval.sigma_z_hist[j][None] for j in vae_idx]) if vae_idx else None
      if lv is not None:
        centers = 0.5 * (edges[:-1] + edges[1:])
        total = lv.sum()
        summary["vae_sigma_z_frac_below_1e-2"] = float(lv[:, centers < -2].sum() / total)
        summary["vae_sigma_z_frac_near_1"] = float(
            lv[:, (centers > np.log10(0.5)) & (centers < np.log10(2.0))].sum() / total)

  if "rpca" in models:
    rpca_key = _config_hash(config, _DATA_FIELDS + ("rpca",))
    results.update(_cached(workdir, "rpca", rpca_key, lambda: rpca_grid(settings, config)))

  if config.fig4.enabled and "vae" in models:
    k4 = int(config.fig4.kappa)
    s4 = dataclasses.replace(settings, latent_dim=k4, kappa_max=k4,
                             chunk_steps=int(min(config.chunk_steps, config.fig4.num_steps)))
    infos4 = [sweep.CellInfo("vae", 1.0, k4, float(nu), int(config.seed)) for nu in config.fig4.nus]
    r4 = sweep.run_sweep(s4, sweep.make_cells(infos4), num_steps=int(config.fig4.num_steps),
                         workdir=workdir, tag="fig4", checkpoint_every=int(config.checkpoint_every))
    results.update(fig4_nus=np.asarray(config.fig4.nus, float),
                   fig4_sigma_z_mean=r4.eval.sigma_z_mean, fig4_nmse=r4.eval.nmse,
                   fig4_failed=r4.failed)
    plotting.sorted_curves(
        [(f"ν={nu:g}", v) for nu, v in zip(config.fig4.nus, r4.eval.sigma_z_mean)],
        path=os.path.join(workdir, "fig4_sigma_z_sorted.png"), xlabel="latent dimension (sorted)",
        ylabel="mean diag Σz", title=f"Figure 4: κ = dim μz = {k4}")
    big = [float(nu) for nu, v in zip(config.fig4.nus, r4.eval.sigma_z_mean) if np.max(v) > 0.5]
    summary["fig4_first_nu_with_variance_above_0.5"] = min(big) if big else None

  if config.gt_check.enabled:
    gt_key = _config_hash(config, _DATA_FIELDS + ("batch_size", "gt_check"))
    results.update(_cached(workdir, "gt_check", gt_key, lambda: ground_truth_check(
        settings, kappas, int(config.seed), num_steps=int(config.gt_check.num_steps),
        learning_rate=float(config.gt_check.learning_rate),
        num_samples=int(min(config.gt_check.num_samples, config.num_samples)))))
    summary["gt_encoder_rel_error_max"] = float(np.max(results["gt_encoder_rel_error"]))
    summary["energy_outside_top_50_by_kappa"] = {
        str(k): float(v) for k, v in zip(kappas, results["energy_outside_top_50"])}

  panels = []
  titles = {"vae": "VAE", "ae_l2": "AE-ℓ2 (best C2)", "ae_l1": "AE-ℓ1 (best C2)",
            "rpca": "RPCA (best λ)"}
  for m in models:
    grid = results.get(f"{m}_nmse")
    if grid is None:
      continue
    panels.append((titles[m], grid))
    finite = grid[np.isfinite(grid)]
    summary["median_nmse"][m] = float(np.median(finite)) if finite.size else None
    summary["frac_cells_below_0.1"][m] = float(np.mean(finite < 0.1)) if finite.size else None
  if "input_nmse" in results:
    summary["median_nmse_of_corrupted_input"] = float(np.nanmedian(results["input_nmse"]))
  if panels:
    plotting.heatmaps(panels, x_values=nus, y_values=kappas, x_label="outlier ratio ν",
                      y_label="manifold dimension κ", path=os.path.join(workdir, "fig1_nmse.png"),
                      suptitle="Figure 1: NMSE recovering L (white 0, dark blue ≥ 1)")
  if 1000.0 in [float(c) for c in config.c2_values]:
    j = [float(c) for c in config.c2_values].index(1000.0)
    p2, med = [], {}
    for m in ("ae_l2", "ae_l1"):
      if f"{m}_nmse_by_c2" in results:
        g = results[f"{m}_nmse_by_c2"][j]
        p2.append((titles[m].replace("best C2", "C2 = 10³"), g))
        med[m] = float(np.nanmedian(g))
    if p2:
      if "vae_nmse" in results:
        p2.insert(0, ("VAE", results["vae_nmse"]))
      plotting.heatmaps(p2, x_values=nus, y_values=kappas, x_label="outlier ratio ν",
                        y_label="manifold dimension κ",
                        path=os.path.join(workdir, "fig1_nmse_c2_1000.png"),
                        suptitle="AEs at the paper's tuned C2 = 10³")
      summary["median_nmse_at_c2_1000"] = med
  for m in ("ae_l2", "ae_l1"):
    if f"{m}_nmse_by_c2" in results:
      summary.setdefault("median_nmse_by_c2", {})[m] = {
          f"{c:g}": float(np.nanmedian(g)) for c, g in zip(config.c2_values,
                                                           results[f"{m}_nmse_by_c2"])}
  if "vae_nmse" in results:
    for m in ("ae_l2", "ae_l1", "rpca"):
      if f"{m}_nmse" in results:
        summary.setdefault("frac_cells_vae_better_than", {})[m] = float(np.nanmean(
            results["vae_nmse"] < results[f"{m}_nmse"]))
  summary["wall_seconds"] = time.time() - t0
  summary["devices"] = [str(d) for d in jax.local_devices()]
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), results)
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  return summary
