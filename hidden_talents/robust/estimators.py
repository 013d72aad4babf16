"""The robust decomposition methods: the VAE as a nonlinear robust PCA, and convex RPCA.

Sec. 3 (Theorem 4, eqs. 12–13) and Sec. 6: at the VAE's optimum the decoder mean μx(μz[x]) lies
on the inlier manifold and the support of the learned decoder variance Σx marks the outliers,
``supp_α(diag Σx) = supp(s)``. With Σx optimised out per entry (eq. 69) the optimal variance of
entry j of sample i is Σx,ij = max(α, r²ᵢⱼ), r = x − μx(μz[x]), so every entry whose residual
exceeds the inlier noise level gets a large variance: the shared mask of
:mod:`~hidden_talents.robust.base`.

* :class:`RobustVAE` trains one VAE (model 1 of Sec. 5.1, κ latent dimensions, C2 = 1: no tuning)
  on the standardised rows (:mod:`~hidden_talents.robust.engine`), refines each row's latent
  code on its own cost (:mod:`~hidden_talents.robust.refine`) and decodes it. It applies to new
  rows and is saved to one ``.npz`` file (:mod:`~hidden_talents.robust.model_file`).
* :class:`RobustRPCA` solves convex RPCA (PCP, eq. 14; with missing entries, PCP on the observed
  set) on the standardised matrix: the linear baseline, better on data close to low rank
  (bench/decompose_bench.py, BENCHMARKS.md). It has no model of new rows: ``transform`` solves
  PCP on the rows it is given, with the fitted standardisation and residual scales.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import numpy as np

from hidden_talents import checks, rpca, train
from hidden_talents.objectives.unified import DECODER_VARIANCES
from hidden_talents.robust import engine, model_file, standardize
from hidden_talents.robust.base import Decomposition, Reconstruction, RobustEstimator
from hidden_talents.robust.settings import DEFAULTS

__all__ = ["Decomposition", "RobustRPCA", "RobustVAE"]


def _optional(check, name: str, value: Any) -> Any:
  return None if value is None else check(name, value)


def check_widths(hidden_widths: Any) -> tuple[int, ...] | None:
  """``hidden_widths`` as a tuple of positive ints, or None (ValueError otherwise)."""
  if hidden_widths is None:
    return None
  if isinstance(hidden_widths, (str, bytes)) or np.ndim(hidden_widths) != 1:
    raise ValueError("hidden_widths must be a sequence of positive integers, one per hidden "
                     f"layer (e.g. (64, 128)), got {hidden_widths!r}")
  widths = checks.nonempty("hidden_widths", hidden_widths)
  return tuple(checks.positive_int("every hidden width", w) for w in widths)


def common_params(*, seed: Any, alpha: Any, threshold: Any) -> dict[str, Any]:
  """The checked arguments every method has (seed, alpha, threshold)."""
  return {"seed": checks.integer("seed", seed),
          "alpha": _optional(checks.positive_number, "alpha", alpha),
          "threshold": checks.positive_number("threshold", threshold)}


class RobustVAE(model_file.SavedModel, RobustEstimator):
  """The VAE as a nonlinear robust PCA, fitted once and applied to new rows.

  ``fit(X)`` standardises the columns of X robustly, trains the VAE on its rows and fixes each
  column's robust inlier residual scale σⱼ; ``transform(X_new)`` applies the same
  standardisation, encoder/decoder and σⱼ to any rows with the same columns and returns a
  :class:`Decomposition`. ``decompose(X)`` is ``RobustVAE(...).fit_transform(X)``, bit for bit.
  ``save(path)`` / ``RobustVAE.load(path)``: one ``.npz`` file, written atomically, read without
  pickle (a fitted model also pickles).

  Args (checked in ``fit``; defaults and their reasons in :mod:`~hidden_talents.robust.settings`):
    latent_dim: κ, at most d; default min(20, max(1, d // 2)). Unneeded dimensions are switched
      off by the VAE itself (Sec. 5.2), so generous is fine.
    steps: Adam steps, run exactly; default ``Defaults.epochs`` passes over the rows, clipped to
      [``Defaults.steps``, ``Defaults.max_steps``] (:func:`engine.resolve_steps`).
    seed: PRNG seed (initialisation, batches, refinement noise).
    alpha: decoder variance floor α (standardised units); default by the data
      (:func:`standardize.resolve_alpha`).
    threshold: k of the mask test |r| > max(√α, k σⱼ).
    hidden_widths: widths of the networks' hidden layers; default :func:`engine.default_widths`.
    batch_size: mini-batch rows (capped at n).
    learning_rate: Adam's step size.
    num_latent_samples: τ of eq. 4.
    kl_warmup: steps over which the KL weight β rises 0 → 1; None = ``Defaults.warmup_fraction``
      of the steps; 0 = the paper's protocol.
    decoder_variance: 'optimal' (Σx optimised out per entry, eqs. 68–70), 'learned' (a decoder
      head per entry) or 'shared' (one learned value).
    encoder_clip: the encoder sees standardised entries winsorised to ±encoder_clip robust SDs;
      None = ``Defaults.encoder_clip``, 0 = off (the paper's encoder).
    refine_steps: Adam steps refining each row's latent code before decoding; None =
      ``Defaults.refine_steps``, 0 = the encoder's μz (the paper's μx(μz[x])).

  Fitted attributes: ``n_features_in_``, ``n_samples_fit_``, ``center_``, ``scale_``,
  ``residual_scale_`` (σⱼ, standardised), ``constant_``, ``alpha_``, ``engine_settings_`` (the
  engine's ``train.Settings``), ``params_`` (the networks), ``fit_info_`` (loss curve, latent
  usage, …) and ``config_`` (the arguments as checked).
  """

  method = "vae"

  def __init__(self, *, latent_dim: int | None = None, steps: int | None = None, seed: int = 0,
               alpha: float | None = None, threshold: float = DEFAULTS.threshold,
               hidden_widths: tuple[int, ...] | None = None, batch_size: int = DEFAULTS.batch_size,
               learning_rate: float = DEFAULTS.learning_rate,
               num_latent_samples: int = DEFAULTS.num_latent_samples, kl_warmup: int | None = None,
               decoder_variance: str = DEFAULTS.decoder_variance, encoder_clip: float | None = None,
               refine_steps: int | None = None):
    self._store(locals())

  def _checked_params(self) -> dict[str, Any]:
    widths = check_widths(self.hidden_widths)
    common = common_params(seed=self.seed, alpha=self.alpha, threshold=self.threshold)
    return {
        "latent_dim": _optional(checks.positive_int, "latent_dim", self.latent_dim),
        "steps": _optional(checks.positive_int, "steps", self.steps), "seed": common["seed"],
        "alpha": common["alpha"], "threshold": common["threshold"], "hidden_widths": widths,
        "batch_size": checks.positive_int("batch_size", self.batch_size),
        "learning_rate": checks.positive_number("learning_rate", self.learning_rate),
        "num_latent_samples": checks.positive_int("num_latent_samples",
                                                  self.num_latent_samples),
        "kl_warmup": _optional(checks.nonnegative_int, "kl_warmup (steps; 0 = off)",
                               self.kl_warmup),
        "decoder_variance": checks.one_of("decoder_variance", self.decoder_variance,
                                          DECODER_VARIANCES),
        "encoder_clip": _optional(checks.nonnegative_number,
                                  "encoder_clip (robust SDs; 0 = off)", self.encoder_clip),
        "refine_steps": check_refine_steps(self.refine_steps)}

  def _check_shape(self, n: int, d: int, config: dict[str, Any]) -> None:
    engine.resolve_dims(d, config["latent_dim"], config["hidden_widths"])
    check_warmup(config["kl_warmup"], engine.resolve_steps(config["steps"], n,
                                                           config["batch_size"]))

  def _engine_settings(self, n: int, d: int, alpha: float, steps: int,
                       config: dict[str, Any]) -> train.Settings:
    return engine.network_settings(n, d, alpha, steps, config,
                                   num_latent_samples=config["num_latent_samples"],
                                   decoder_variance=config["decoder_variance"])

  def _fit_model(self, Z, missing, *, alpha, config, progress):
    n, d = Z.shape
    steps = engine.resolve_steps(config["steps"], n, config["batch_size"])
    settings = self._engine_settings(n, d, alpha, steps, config)
    train_settings = (settings if missing is None
                      else dataclasses.replace(settings, missing_data=True))
    params, info = engine.train_vae(
        Z if missing is None else np.where(missing, np.nan, Z), train_settings, steps=steps,
        seed=config["seed"], kl_warmup=engine.resolve_kl_warmup(config["kl_warmup"], steps),
        progress=progress)
    refine = engine.resolve_refine_steps(config["refine_steps"])
    t0 = time.perf_counter()
    Z_hat = engine.apply_vae(settings, params, Z, refine_steps=refine, seed=config["seed"],
                             observed=None if missing is None else ~missing)
    info["reconstruction_seconds"] = time.perf_counter() - t0  # refinement included
    fit_info = {**info,
                "tied_fraction": standardize.tied_fraction(Z if missing is None else Z[~missing]),
                "missing_entries": 0 if missing is None else int(missing.sum())}
    return (Reconstruction(Z_hat, {"fitted_rows": n, **fit_info}, {"refine_steps": refine}),
            {"engine_settings_": settings, "params_": params, "fit_info_": fit_info})

  def _check_call(self, refine_steps: Any = None) -> dict[str, Any]:
    return {"refine_steps": engine.resolve_refine_steps(
        self.config_["refine_steps"] if refine_steps is None
        else check_refine_steps(refine_steps))}

  def _reconstruct(self, Z, missing, *, refine_steps: int) -> Reconstruction:
    Z_hat = engine.apply_vae(self.engine_settings_, self.params_, Z, refine_steps=refine_steps,
                             seed=self.config_["seed"],
                             observed=None if missing is None else ~missing)
    return Reconstruction(Z_hat, {"fitted_rows": self.n_samples_fit_, **self.fit_info_},
                          {"refine_steps": refine_steps})

  def transform(self, X: Any, *, missing: Any = None, threshold: float | None = None,
                refine_steps: int | None = None) -> Decomposition:
    """Decomposes rows X (any number, the fitted columns) with the fitted model.

    Args:
      X: (m, d) real matrix, finite where observed.
      missing: optional bool array shaped like X (True = missing): the encoder sees those entries
        at their column's median; L fills them in; S, S_sparse and the mask are 0 / False there.
      threshold: k of the mask test; default the model's.
      refine_steps: Adam steps refining each row's latent code before decoding; default the
        model's; 0 decodes the encoder's μz. The residual scales σⱼ stay those of the fit.

    Returns:
      :class:`Decomposition`: L = μx(μz[x]) un-standardised (μz refined), S = X − L, the mask
      with the σⱼ fixed at fit time, noise_scale = σⱼ in units of X.

    Raises:
      ValueError: not fitted, bad X, another number of columns, entries too large.
    """
    return super().transform(X, missing=missing, threshold=threshold, refine_steps=refine_steps)

  def used_settings(self) -> dict[str, Any]:
    """Every setting as used (latent_dim and widths resolved, batch size capped): summary.json's
    "settings"."""
    if not self.fitted:
      raise ValueError("the model is not fitted yet: call fit(X) first")
    c, s = self.config_, self.engine_settings_
    steps = int(self.fit_info_["steps"])
    return {"method": "vae", "seed": c["seed"], "alpha": s.alpha, "threshold": c["threshold"],
            "latent_dim": s.latent_dim, "steps": steps,
            "hidden_widths": list(s.decoder_widths), "batch_size": s.batch_size,
            "learning_rate": c["learning_rate"], "num_latent_samples": c["num_latent_samples"],
            "kl_warmup": engine.resolve_kl_warmup(c["kl_warmup"], steps),
            "decoder_variance": c["decoder_variance"], "encoder_clip": s.encoder_clip,
            "refine_steps": engine.resolve_refine_steps(c["refine_steps"])}



def check_warmup(kl_warmup: int | None, steps: int) -> None:
  """Refuses a KL warm-up longer than the training: β = min(1, step / kl_warmup) would end below
  1 (e.g. 0.06 after 300 of 5000 steps), an autoencoder rather than the VAE asked for.

  Raises:
    ValueError: ``kl_warmup`` > ``steps``.
  """
  if kl_warmup is not None and kl_warmup > steps:
    beta = (steps - 1) / kl_warmup
    raise ValueError(f"kl_warmup ({kl_warmup} steps) is longer than the training ({steps} "
                     f"steps): the KL weight would end at {beta:.2g}, not 1 (an autoencoder, not "
                     f"the VAE); pass kl_warmup <= {steps}, or more steps")


def check_refine_steps(refine_steps: Any) -> int | None:
  """``refine_steps`` as an int ≥ 0, or None (ValueError otherwise)."""
  return _optional(checks.nonnegative_int, "refine_steps (Adam steps per row; 0 = off)",
                   refine_steps)


class RobustRPCA(RobustEstimator):
  """Convex robust PCA (PCP, eq. 14, by inexact ALM: :func:`hidden_talents.rpca.robust_pca`) on
  the robustly standardised matrix, with the shared outlier mask: the linear baseline.

  Args (checked in ``fit``):
    lam: λ of eq. 14 in standardised units; default 1/√max(n, d) of the matrix solved
      (1/√(ρ·max(n, d)) with a fraction ρ of its entries observed).
    alpha: the α of the mask test (standardised units); default as for the VAE.
    threshold: k of the mask test |r| > max(√α, k σⱼ).
    seed: recorded with the settings (PCP itself is deterministic).

  Missing entries (``missing=``): PCP with an observed set (:func:`hidden_talents.rpca.robust_pca`
  with ``observed``): S is free there, L fills them in, and λ defaults to 1/√(ρ·max(n, d)) with ρ
  the observed fraction.

  Fitted attributes: as :class:`RobustVAE`'s shared ones, plus ``lam_``, ``n_iter_`` and
  ``converged_`` of the fit's solve.
  """

  method = "rpca"
  needs_tall = False

  def __init__(self, *, lam: float | None = None, alpha: float | None = None,
               threshold: float = DEFAULTS.threshold, seed: int = 0):
    self._store(locals())

  def _checked_params(self) -> dict[str, Any]:
    return {**common_params(seed=self.seed, alpha=self.alpha, threshold=self.threshold),
            "lam": _optional(checks.positive_number, "lam", self.lam)}

  def _solve(self, Z: np.ndarray, lam: float | None,
             missing: np.ndarray | None) -> Reconstruction:
    res = rpca.robust_pca(Z.astype(np.float32), lam=lam,
                          observed=None if missing is None else ~missing)
    if not bool(res.converged):
      print("[decompose] warning: RPCA did not converge", file=sys.stderr)
    info = {"lam": float(res.lam), "iterations": int(res.iterations),
            "converged": bool(res.converged)}
    return Reconstruction(np.asarray(res.L, np.float64), info, {"lam": info["lam"]})

  def _fit_model(self, Z, missing, *, alpha, config, progress):
    rec = self._solve(Z, config["lam"], missing)
    return rec, {"lam_": rec.info["lam"], "n_iter_": rec.info["iterations"],
                 "converged_": rec.info["converged"]}

  def _reconstruct(self, Z, missing) -> Reconstruction:
    return self._solve(Z, self.config_["lam"], missing)

  def used_settings(self) -> dict[str, Any]:
    """The settings as used (λ resolved): summary.json's "settings"."""
    if not self.fitted:
      raise ValueError("the model is not fitted yet: call fit(X) first")
    c = self.config_
    return {"method": "rpca", "seed": c["seed"], "alpha": self.alpha_,
            "threshold": c["threshold"], "lam": self.lam_}
