"""Figure 5 (App. A): denoising MNIST digits corrupted by uniform outliers, VAE vs convex RPCA,
with the robust deep autoencoder (RDA) beside them.

(a) The singular value spectrum of the MNIST data matrix (n × 784, pixels in [0, 1]).
(b) NMSE (eq. 20) recovering the clean digits L from X, where a fraction ν ∈ {5 %, …, 50 %} of the
    pixels is replaced by values uniform on [0, 255] (here pixels are scaled to [0, 1], so the
    outliers are uniform on [0, 1]). The VAE (κ = 30, the Sec. 5.2 MNIST networks, decoder variance
    optimised out) is trained with τ = 1 and τ = 5 Monte-Carlo latent samples per input (eq. 4);
    every ν is a cell of ONE vmapped program per τ (``sweep.run_sweep`` in fixed-dataset mode,
    ``data=`` the clean digits; the engine corrupts them with ``Settings.outliers='uniform'``).
    Convex RPCA (PCP, eq. 14, inexact ALM) is solved on the same X for every ν in one batched call.

Decoder variance (``config.decoder_variances``): one VAE sweep per (variance, τ). 'optimal' is the
paper's text (Σx optimised out per pixel; results named ``vae_tau<τ>``); the variants 'learned' (a
decoder head γ(z) per pixel) and 'shared' (one learned γ) are named ``vae_tau<τ>_<variant>``. Two
reference lines show whether a model removes outliers or just blurs: the corrupted input (doing
nothing) and a plain MSE autoencoder (``mse_ae``: Σz = 0, C2 = 0, one shared learned decoder
variance, so its μx minimises the squared error) trained on the same X.

RDA (``config.rda``; Zhou & Paffenroth, "Anomaly Detection with Robust Deep Autoencoders", KDD
2017), the nonlinear robust PCA peer: the library's estimator
:class:`hidden_talents.robust.RobustRDA` fitted on each level's X (the matrix RPCA is solved on)
with this experiment's network widths, latent size, batch size, learning rate, seed and number of
Adam steps, so its training budget equals one VAE's and the MSE autoencoder's: the steps are
shared out evenly over at most ``Defaults.rda_outer`` outer iterations in whole compiled chunks
(``rda_plan``; the quick preset's 2000 steps make 8 outer iterations of 250). Its L̂, back in
pixel units, is scored against the clean digits by the same NMSE (eq. 20, over all rows) as the
other methods. What differs from the VAEs and the MSE autoencoder, plainly: those train on the
pixel values in [0, 1]; RDA, like every method of the user tool, first standardises each pixel
column robustly (centred on its median, divided by 1.4826·MAD, or by the column's standard
deviation where the MAD is 0, as it is for the mostly-black border pixels), winsorises the
encoder's input at ±``Defaults.encoder_clip`` robust SDs, takes α by the tool's tie rule, and
thresholds S at λ robust column SDs (``Defaults.rda_lam`` unless ``config.rda_lam``). It is the
tool a user would run on this matrix, not a VAE retrained on RDA's loss.

Optimisation note (measured, quick sizes, 2000 digits, 1000 steps): with pixels in [0, 1] and
α = 10⁻² the VAE collapses to its prior (Σ σz² − log σz² = κ, μx the same image for every input,
NMSE ≈ 0.93 at ν = 0.1 and 0.3): once a digit pixel's residual exceeds √α its cost is
logarithmic (ξα, eq. 69), so the many exactly-zero background pixels, fitted quadratically with
weight 1/α, dominate and reward a decoder that ignores z. σz² = e⁻⁴ at initialisation, a smaller
learning rate (10⁻⁴), α = 0.03 or annealing α from 1 to 10⁻² did not prevent it; α = 0.1 with
σz² = e⁻⁴ was the best setting tried (NMSE 0.54 / 0.60), and is the quick preset's.

``run(config, workdir)`` writes ``config.json``, ``results.npz``, ``summary.json`` and
``fig5_mnist_denoising.png``; finished sweeps and the RPCA, RDA (per level) and spectrum parts
are reused on re-run.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hidden_talents import baselines, checks, io, metrics, rpca, sweep, train
from hidden_talents.data import mnist, stream
from hidden_talents.experiments import learning
from hidden_talents.objectives.unified import DECODER_VARIANCES
from hidden_talents.robust import settings as robust_settings

PIXEL_MAX = 255.0


def validate(config) -> None:
  """Raises ``ValueError`` naming the first bad field; called before anything is written."""
  n = checks.positive_int("num_images", config.num_images)
  checks.at_most("num_images", n, mnist.NUM_IMAGES, "the MNIST training set")
  checks.nonnegative_int("spectrum_num_images (0 = num_images)", config.spectrum_num_images)
  checks.at_most("spectrum_num_images", config.spectrum_num_images, mnist.NUM_IMAGES,
                 "the MNIST training set")
  for nu in checks.nonempty("nus (corruption levels)", config.nus):
    checks.open_fraction("every corruption level in nus", nu)
  checks.distinct("nus", (float(v) for v in config.nus))
  for tau in checks.nonempty("taus (Monte-Carlo samples per input)", config.taus):
    checks.positive_int("every τ in taus", tau)
  for name in ("latent_dim", "batch_size", "num_steps", "chunk_steps", "eval_batch_size",
               "checkpoint_every"):
    checks.positive_int(name, getattr(config, name))
  for w in checks.nonempty("hidden_widths", config.hidden_widths):
    checks.positive_int("every hidden width", w)
  checks.at_most("batch_size", config.batch_size, n, "num_images")
  for dv in checks.distinct("decoder_variances",
                            checks.nonempty("decoder_variances", config.decoder_variances)):
    checks.one_of("every decoder variance in decoder_variances", dv, DECODER_VARIANCES)
  for name in ("learning_rate", "alpha"):
    checks.positive_number(name, getattr(config, name))
  checks.nonnegative_number("weight_decay", config.weight_decay)
  for f in checks.nonempty("rpca.lam_factors", config.rpca.lam_factors):
    checks.positive_number("every rpca.lam_factor", f)
  checks.positive_int("rpca.max_iter", config.rpca.max_iter)
  checks.positive_int("rpca.chunk_size", config.rpca.chunk_size)
  checks.one_of("rpca.svt", config.rpca.svt, rpca.SVT_METHODS)
  checks.open_fraction("rpca.tol", config.rpca.tol)
  checks.integer("seed", config.seed)
  checks.nonnegative_number("rda_lam (robust SDs; 0 = the library's default)", config.rda_lam)
  checks.nonnegative_int("rda_outer_iterations (0 = the budget rule)",
                         config.rda_outer_iterations)
  if config.rda and n < mnist.NUM_PIXELS:
    raise ValueError(f"num_images = {n} is below the {mnist.NUM_PIXELS} pixels: RDA (rda = True) "
                     "learns from the rows and needs at least as many digits as pixels; pass "
                     f"num_images >= {mnist.NUM_PIXELS} or rda = False")


def load_digits(num_images: int) -> np.ndarray:
  """The first ``num_images`` MNIST digits as float32 rows with pixels scaled to [0, 1]."""
  images, _ = mnist.load_mnist(num_images)
  return images.astype(np.float32) / PIXEL_MAX


def model_name(decoder_variance: str, tau: int) -> str:
  """``vae_tau<τ>`` for the paper's optimised-out Σx, ``vae_tau<τ>_<variant>`` otherwise."""
  return f"vae_tau{tau}" if decoder_variance == "optimal" else f"vae_tau{tau}_{decoder_variance}"


def settings_from_config(config, tau: int, decoder_variance: str = "optimal") -> train.Settings:
  r = tuple(int(w) for w in config.hidden_widths)
  return train.Settings(
      data_dim=mnist.NUM_PIXELS, kappa_max=1, generator_widths=(1,), encoder_widths=r[::-1],
      decoder_widths=r, latent_dim=int(config.latent_dim), num_samples=int(config.num_images),
      batch_size=int(config.batch_size), chunk_steps=int(min(config.chunk_steps, config.num_steps)),
      learning_rate=float(config.learning_rate), alpha=float(config.alpha),
      decoder_variance=str(decoder_variance),
      weight_decay=float(config.weight_decay), num_latent_samples=int(tau),
      logvar_bias_init=float(config.logvar_bias_init),
      eval_batch_size=int(min(config.eval_batch_size, config.num_images)), outliers="uniform",
      uniform_range=(0.0, 1.0))


def corruption_cells(config, model: str = "vae",
                     c2: float = 1.0) -> tuple[list[sweep.CellInfo], train.Cell]:
  """One cell of ``model`` per ν. Corruption keys depend on (seed, ν) only: every τ, decoder
  variance and model sees the same X."""
  infos = [sweep.CellInfo(model, float(c2), 1, float(nu), int(config.seed)) for nu in config.nus]
  return infos, sweep.make_cells(infos)


def corrupted_data(settings: train.Settings, cells: train.Cell,
                   clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(X, mask) of every cell exactly as the engine corrupts them during training."""
  X, _, mask = stream.materialize(settings.data_spec, cells, settings.num_samples,
                                  jnp.asarray(clean))
  return np.asarray(X), np.asarray(mask)


def singular_values(images: np.ndarray) -> np.ndarray:
  """Singular values of the (uncentred) data matrix, from the eigenvalues of its 784² Gram."""
  X = images.astype(np.float64)
  ev = np.linalg.eigvalsh(X.T @ X)[::-1]
  return np.sqrt(np.maximum(ev, 0.0))


def rpca_nmse(X: np.ndarray, clean: np.ndarray, config) -> dict[str, np.ndarray]:
  """Convex RPCA on every level's X at each λ factor (``baselines.rpca_best_lam``); NMSE (eq. 20)
  of L̂ against the clean digits per level and λ."""
  base = baselines.rpca_best_lam(X, clean, config.rpca.lam_factors, tol=float(config.rpca.tol),
                                 max_iter=int(config.rpca.max_iter),
                                 chunk_size=int(config.rpca.chunk_size), svt=str(config.rpca.svt))
  return {"rpca_nmse_by_lam": base.nmse_by_lam, "rpca_iterations": base.iterations,
          "rpca_converged": base.converged, "rpca_lam_factors": base.lam_factors}


def rda_plan(config) -> tuple[int, int]:
  """(outer iterations, Adam steps in all) of RDA for ``config``.

  RobustRDA trains each outer iteration for the same whole number of compiled chunks of
  c = min(``Defaults.chunk_steps``, ``num_steps``) steps. ``rda_outer_iterations`` = 0: the largest
  number of outer iterations, up to ``Defaults.rda_outer``, that divides the num_steps // c chunks
  evenly, so the budget is ``num_steps`` (less its remainder, when c does not divide it). A count
  given explicitly is used as it is and may train more steps than ``num_steps``: at least one
  chunk per outer iteration.
  """
  steps = int(config.num_steps)
  chunk = min(robust_settings.defaults().chunk_steps, steps)
  chunks = steps // chunk
  outer = int(config.rda_outer_iterations) or max(
      k for k in range(1, min(robust_settings.defaults().rda_outer, chunks) + 1)
      if chunks % k == 0)
  inner = max(chunk, (steps // outer) // chunk * chunk)
  return outer, outer * inner


def rda_estimator(config):
  """The library's RobustRDA with the experiment's networks, optimiser, seed and budget."""
  from hidden_talents.robust.autoencoder import RobustRDA

  outer, _ = rda_plan(config)
  return RobustRDA(lam=float(config.rda_lam) or None, latent_dim=int(config.latent_dim),
                   hidden_widths=tuple(int(w) for w in config.hidden_widths),
                   steps=int(config.num_steps), outer_iterations=outer,
                   batch_size=int(config.batch_size), learning_rate=float(config.learning_rate),
                   seed=int(config.seed))


def rda_level(X: np.ndarray, clean: np.ndarray, config) -> dict[str, np.ndarray]:
  """RobustRDA fitted on one level's corrupted digits X (pixel units); NMSE (eq. 20) of its L̂
  against the clean digits, its outer iterations, whether its criterion stalled, and the steps."""
  t0 = time.time()
  est = rda_estimator(config)
  dec = est.fit_transform(X)
  info = est.fit_info_
  return {"nmse": np.float64(float(metrics.nmse(clean, dec.L.astype(np.float32)))),
          "outer_iterations": np.int64(info["outer_iterations"]),
          "converged": np.bool_(info["criterion_stalled"]),
          "criterion": np.asarray(info["criterion_history"], np.float64),
          "steps": np.int64(info["steps"]), "steps_run": np.int64(info["steps_run"]),
          "lam": np.float64(est.lam_), "seconds": np.float64(time.time() - t0)}


def _padded(rows: list[np.ndarray]) -> np.ndarray:
  """Ragged 1-D rows as one (len(rows), longest) float array, NaN-padded."""
  out = np.full((len(rows), max(len(r) for r in rows)), np.nan)
  for i, r in enumerate(rows):
    out[i, :len(r)] = r
  return out


def _rda(config, corrupted, clean: np.ndarray, workdir: str) -> dict[str, Any]:
  """RDA on every level's X, each level cached by what it depends on (the digits, ν, seed, the
  networks, optimiser and budget, the RDA fields and the library's defaults), so a re-run or a
  resumed run skips the finished levels. ``corrupted()`` gives every level's X."""
  fields = ("num_images", "seed", "latent_dim", "hidden_widths", "batch_size", "learning_rate",
            "num_steps", "rda_lam", "rda_outer_iterations")
  base = io.config_hash({**{f: config[f] for f in fields},
                         "defaults": dataclasses.asdict(robust_settings.defaults())})
  levels = []
  for j, nu in enumerate(config.nus):
    key = io.config_hash({"base": base, "nu": float(nu)})
    levels.append(io.cached_npz(workdir, f"rda_nu{float(nu):g}", key,
                                lambda j=j: rda_level(corrupted()[j], clean, config)))
    r = levels[-1]
    print(f"[mnist_denoising] RDA ν = {float(nu):g}: NMSE {float(r['nmse']):.4g}, "
          f"{int(r['outer_iterations'])} outer iterations, {float(r['seconds']):.0f} s",
          file=sys.stderr)
  col = lambda name: np.stack([r[name] for r in levels])  # noqa: E731
  return {"rda_nmse": col("nmse"), "rda_outer_iterations": col("outer_iterations"),
          "rda_converged": col("converged"), "rda_steps": col("steps"),
          "rda_steps_run": col("steps_run"), "rda_lam": col("lam"), "rda_seconds": col("seconds"),
          "rda_criterion": _padded([r["criterion"] for r in levels])}


def plot_figure5(results: dict[str, np.ndarray], path: str) -> None:
  """(a) singular value spectrum, (b) NMSE vs % corrupted pixels for each VAE (decoder variance,
  τ), RPCA, RDA, the MSE autoencoder and the corrupted input."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
  s = results["singular_values"]
  ax[0].semilogy(np.arange(1, len(s) + 1), s)
  ax[0].set(title=f"(a) singular values of MNIST ({int(results['spectrum_num_images'])} × 784)",
            xlabel="index", ylabel="singular value")
  pct = 100 * results["nus"]
  for k, dv in enumerate(results["decoder_variances"]):
    for tau, err in zip(results["taus"], results["vae_nmse"][k], strict=True):
      ax[1].plot(pct, err, "o-" if k == 0 else "^--",
                 label=f"VAE, τ = {int(tau)}, Σx {dv}" + (" (paper)" if dv == "optimal" else ""))
  ax[1].plot(pct, results["rpca_nmse"], "s-", color="black", label="RPCA (convex)")
  if "rda_nmse" in results:
    ax[1].plot(pct, results["rda_nmse"], "D-", color="tab:purple",
               label=f"RDA (robust deep AE, λ = {float(results['rda_lam'][0]):g} robust SDs)")
  if "mse_ae_nmse" in results:
    ax[1].plot(pct, results["mse_ae_nmse"], "x-.", color="tab:brown",
               label="MSE autoencoder (reference)")
  ax[1].plot(pct, results["input_nmse"], ":", color="gray", label="corrupted input")
  ax[1].set(title="(b) NMSE recovering clean digits", xlabel="% of pixels corrupted",
            ylabel="normalised MSE", yscale="log")
  ax[1].legend(fontsize=7)
  fig.tight_layout()
  io.atomic_savefig(fig, path, dpi=110)
  plt.close(fig)


def _sweep(config, settings: train.Settings, cells: train.Cell, clean: np.ndarray, workdir: str,
           *, tag: str, labels: dict) -> sweep.SweepResult:
  """One per-ν sweep (fixed-dataset mode: the engine corrupts ``clean`` by each cell's ν)."""
  return sweep.run_sweep(settings, cells, num_steps=int(config.num_steps), workdir=workdir,
                         tag=tag, checkpoint_every=int(config.checkpoint_every), data=clean,
                         labels=[dict(labels, nu=float(nu)) for nu in config.nus])


def _train_vaes(config, cells, clean, workdir: str) -> tuple[dict[str, Any], dict]:
  """One sweep per (decoder variance, τ) on the same corrupted X; the MSE autoencoder too when
  ``config.mse_autoencoder``. Returns (results arrays, bookkeeping: curve entries, train seconds
  and converged fractions per sweep)."""
  nus, taus = [float(v) for v in config.nus], [int(t) for t in config.taus]
  dvs = [str(v) for v in config.decoder_variances]
  results: dict[str, Any] = {}
  vae_nmse, failed, histories, input_nmse = [], [], [], None
  book = {"entries": [], "seconds": {}, "converged": {}}

  def record(res, name, tag, label):
    book["seconds"][tag] = res.train_seconds
    arrays, frac = learning.convergence(res, [name] * len(nus), prefix=f"{tag}_")
    results.update(arrays)
    book["converged"].update(frac)
    book["entries"] += [(f"ν={nu:g}", label, res.curve_steps, res.curves.nmse[:, j])
                        for j, nu in enumerate(nus)]

  for dv in dvs:
    rows = []
    for tau in taus:
      name = model_name(dv, tau)
      tag = name.removeprefix("vae_")  # tau<τ>[_<variant>]: the sweep's tag and result prefix
      res = _sweep(config, settings_from_config(config, tau, dv), cells, clean, workdir,
                   tag=tag, labels={"tau": tau, "decoder_variance": dv})
      rows.append(res.eval.nmse)
      input_nmse = res.eval.nmse_input
      failed.append(res.failed)
      histories.append(res.history)
      record(res, name, tag, name)
    vae_nmse.append(np.stack(rows))
  results.update(vae_nmse=np.stack(vae_nmse), input_nmse=input_nmse,
                 vae_failed=np.stack(failed), vae_loss_history=np.stack(histories))
  if config.mse_autoencoder:
    _, ae_cells = corruption_cells(config, "ae_l2", 0.0)
    res = _sweep(config, settings_from_config(config, 1, "shared"), ae_cells, clean, workdir,
                 tag="mse_ae", labels={"model": "mse_ae"})
    results.update(mse_ae_nmse=np.asarray(res.eval.nmse), mse_ae_failed=np.asarray(res.failed))
    record(res, "mse_ae", "mse_ae", "MSE AE")
  return results, book


def _rpca_and_spectrum(config, corrupted, clean, workdir: str) -> dict[str, Any]:
  """RPCA at its best λ per ν (cached by the data it depends on) and the digits' spectrum.
  ``corrupted()`` gives every level's X."""
  rpca_key = io.config_hash(config, ("num_images", "nus", "seed", "rpca"))
  t_rpca = time.time()
  rp = io.cached_npz(workdir, "rpca", rpca_key, lambda: rpca_nmse(corrupted(), clean, config))
  out = dict(rp, rpca_seconds=np.float64(time.time() - t_rpca))
  best, arg = metrics.best_over(rp["rpca_nmse_by_lam"].T)  # a diverged λ (NaN) never wins
  out["rpca_nmse"] = best
  out["rpca_best_lam_factor"] = np.where(
      arg >= 0, rp["rpca_lam_factors"][np.maximum(arg, 0)], np.nan)
  n_spec = int(config.spectrum_num_images) or int(config.num_images)
  spec = io.cached_npz(workdir, "spectrum", str(n_spec), lambda: {
      "singular_values": singular_values(load_digits(n_spec))})
  out.update(singular_values=spec["singular_values"], spectrum_num_images=np.int64(n_spec))
  return out


def summarize(results: dict, config) -> dict[str, Any]:
  """summary.json's science from the results: the NMSE table per ν and the VAE-vs-baseline
  fractions (pure)."""
  nus, taus = results["nus"], [int(t) for t in results["taus"]]
  dvs = [str(v) for v in results["decoder_variances"]]
  sv = results["singular_values"]
  energy = np.cumsum(sv**2) / np.sum(sv**2)
  summary: dict[str, Any] = {
      "num_images": int(config.num_images), "nus": nus.tolist(), "decoder_variances": dvs,
      "spectrum_rank_for_95pct_energy": int(np.searchsorted(energy, 0.95) + 1),
      "spectrum_rank_for_99pct_energy": int(np.searchsorted(energy, 0.99) + 1),
      "vae_failed_cells": int(results["vae_failed"].sum())}
  names = [(k, i, model_name(dv, t)) for k, dv in enumerate(dvs) for i, t in enumerate(taus)]
  vae, rpca = results["vae_nmse"], results["rpca_nmse"]
  table = {}
  for j, nu in enumerate(nus):
    row = {name: float(vae[k, i, j]) for k, i, name in names}
    if "mse_ae_nmse" in results:
      row["mse_ae"] = float(results["mse_ae_nmse"][j])
    if "rda_nmse" in results:
      row["rda"] = float(results["rda_nmse"][j])
    row.update(rpca=float(rpca[j]), input=float(results["input_nmse"][j]))
    table[f"{nu:g}"] = row
  summary["nmse"] = table
  summary["frac_levels_vae_better_than_rpca"] = {
      name.removeprefix("vae_"): float(np.mean(vae[k, i] < rpca)) for k, i, name in names}
  if "mse_ae_nmse" in results:
    summary["frac_levels_vae_better_than_mse_ae"] = {
        name.removeprefix("vae_"): float(np.mean(vae[k, i] < results["mse_ae_nmse"]))
        for k, i, name in names}
  if "rda_nmse" in results:
    summary["frac_levels_vae_better_than_rda"] = {
        name.removeprefix("vae_"): float(np.mean(vae[k, i] < results["rda_nmse"]))
        for k, i, name in names}
    summary["rda"] = {
        "lam_robust_sds": float(results["rda_lam"][0]),
        "steps": int(results["rda_steps"][0]),
        "outer_iterations": {f"{nu:g}": int(v) for nu, v in
                             zip(nus, results["rda_outer_iterations"], strict=True)},
        "criterion_stalled": {f"{nu:g}": bool(v) for nu, v in
                              zip(nus, results["rda_converged"], strict=True)},
        "steps_run": {f"{nu:g}": int(v) for nu, v in
                      zip(nus, results["rda_steps_run"], strict=True)},
        "fit_seconds": {f"{nu:g}": float(v) for nu, v in
                        zip(nus, results["rda_seconds"], strict=True)}}
  if 1 in taus and 5 in taus:
    i1, i5 = taus.index(1), taus.index(5)
    for k, dv in enumerate(dvs):
      key = "frac_levels_tau5_better_than_tau1" + ("" if dv == "optimal" else f"_{dv}")
      summary[key] = float(np.mean(vae[k, i5] < vae[k, i1]))
  return summary


def run(config, workdir: str) -> dict:
  """Runs Figure 5 for ``config`` (``launch/configs/mnist_denoising.py``): train the VAEs (and
  the MSE autoencoder) → RPCA and the spectrum → RDA → summarize → plot."""
  validate(config)
  clean = load_digits(int(config.num_images))  # before anything is written: fails if no MNIST
  t0 = time.time()
  io.start_run(workdir, config)
  nus = np.asarray([float(v) for v in config.nus])
  _, cells = corruption_cells(config)
  results: dict[str, Any] = {"nus": nus, "taus": np.asarray([int(t) for t in config.taus]),
                             "decoder_variances": np.asarray([str(v) for v in
                                                              config.decoder_variances])}
  trained, book = _train_vaes(config, cells, clean, workdir)
  results.update(trained)
  learning.save_curves(workdir, book["entries"],
                       title="MNIST denoising: NMSE on the evaluation subset",
                       references={f"ν={nu:g}": float(v)
                                   for nu, v in zip(nus, results["input_nmse"])})
  # Every level's X, materialised once and only if a cached part is missing.
  corrupted = functools.cache(
      lambda: corrupted_data(settings_from_config(config, 1), cells, clean)[0])
  baselines = _rpca_and_spectrum(config, corrupted, clean, workdir)
  rpca_seconds = float(baselines.pop("rpca_seconds"))
  results.update(baselines)
  timing = {}
  if config.rda:
    t_rda = time.time()
    results.update(_rda(config, corrupted, clean, workdir))
    timing["rda_seconds"] = time.time() - t_rda  # this run's; results' rda_seconds per fit
  summary = summarize(results, config)
  summary.update(converged_fraction=book["converged"], vae_train_seconds=book["seconds"],
                 rpca_seconds=rpca_seconds, wall_seconds=time.time() - t0,
                 **timing,
                 devices=[str(d) for d in jax.devices()],  # of every process
                 processes=jax.process_count())
  io.atomic_write_npz(os.path.join(workdir, "results.npz"), results)
  plot_figure5(results, os.path.join(workdir, "fig5_mnist_denoising.png"))
  io.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  print(f"[mnist_denoising] done in {summary['wall_seconds']:.0f} s", file=sys.stderr)
  return summary
