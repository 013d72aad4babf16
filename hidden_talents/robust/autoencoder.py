"""The robust deep autoencoder (RDA; Zhou & Paffenroth, KDD 2017) on the project's engine: the
nonlinear robust PCA a user would otherwise reach for, as an estimator beside ``RobustVAE``.

:class:`RobustRDA` standardises the columns robustly (as every method here does), then runs RDA's
alternating minimisation (:func:`hidden_talents.rda.rda_loop`): an autoencoder of the VAE's
widths and latent size, trained with the squared loss on L_D = X − S for a share of the steps,
then S = prox_λ(X − D(E(L_D))) — soft-thresholding (``penalty='l1'``) or whole-row shrinkage
(``'l21'``) — until ‖X − L_D − S‖ / ‖X‖ stalls. The network, optimiser, batches, budget (the
VAE's default number of steps, shared out over the outer iterations) and encoder clip are the
VAE's; only the loss differs: no KL term, no latent noise, and a squared loss (the engine's
'shared' decoder variance, one learned variance for every entry, whose minimisers are the
squared loss's). Its training targets are winsorised at the encoder clip (±10 robust SDs by
default), as the VAE's encoder input is: a column with an atom at its median (MNIST pixels, half
of them 0) has a tiny robust scale and puts its other entries 10³–10⁴ SDs out, which a squared
loss — unlike the VAE's log-residual data term — cannot absorb (on MNIST at ν = 0.2 the
reconstructions reached −50 to +32 in pixel units without it); the proximal step sees the raw
residual, so what lies beyond the clip goes to S.

λ is a threshold in robust column standard deviations (``hidden_talents.rda``'s docstring says
what the paper does for λ). Its default is one value for every data set, set once from the
synthetic bench families (``Defaults.rda_lam``); ``lam=`` overrides it.

``fit_transform`` (and ``decompose(method="rda")``) returns the algorithm's own output on the
rows it was fitted on: the last outer iteration's L = D(E(X − S′)), S′ the previous proximal step.
``transform`` (new rows; nothing of the fit's S is kept) decodes X with the trained autoencoder
fixed — by default the plain reconstruction D(E(X)), as the authors' public code does for new data
(its ``getRecon``). ``transform_iterations`` > 1 feeds the thresholded residual back
(:func:`hidden_talents.rda.rda_transform`); from S = 0 that is not RDA's fixed point: on the
bench's ReLU manifold at ν = 0.3 (6000 steps) NMSE 0.245, 0.222, 0.215, 0.214, 0.237 and 0.397 at
1, 2, 3, 5, 10 and 30 iterations, S growing with each. So ``fit(X).transform(X)`` is not
``fit_transform(X)`` for RDA. The shared outlier mask and residual scales of
:mod:`~hidden_talents.robust.base` apply as for every method.

With ``outer_iterations=1`` the autoencoder trains on X itself for the whole budget and S never
feeds back: the plain (non-robust) MSE autoencoder, the bench's third network.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import numpy as np

from hidden_talents import checks, rda, sweep, train
from hidden_talents.objectives.unified import LossCoefficients
from hidden_talents.robust import engine, model_file
from hidden_talents.robust.base import Decomposition, Reconstruction, RobustEstimator
from hidden_talents.robust.estimators import check_widths, common_params
from hidden_talents.robust.settings import DEFAULTS, defaults

__all__ = ["Decomposition", "RobustRDA"]


def ae_cell(seed: int) -> train.Cell:
  """The engine's one cell of a deterministic autoencoder: no latent noise, no KL, no penalty
  on μz (AE-ℓ2 at C2 = 0), the keys of the VAE's cell (same initialisation and batches)."""
  return engine.vae_cell(seed)._replace(
      coeffs=LossCoefficients(*[np.float32(0.0)] * 4))


def _optional(check, name: str, value: Any) -> Any:
  return None if value is None else check(name, value)


class RobustRDA(model_file.SavedModel, RobustEstimator):
  """The robust deep autoencoder (Zhou & Paffenroth 2017), fitted once and applied to new rows.

  Args (checked in ``fit``):
    lam: λ, the proximal threshold in robust column SDs (ℓ2,1: per entry of a row, the row's
      threshold λ·√d); default ``Defaults.rda_lam``.
    penalty: 'l1' (scattered outlying entries, the default) or 'l21' (whole outlying rows).
    latent_dim, hidden_widths, batch_size, learning_rate, seed, alpha, threshold: as for
      ``RobustVAE`` (the same networks, optimiser and mask test).
    steps: Adam steps in all; default the VAE's (``engine.resolve_steps``), shared out over the
      outer iterations in whole chunks.
    outer_iterations: most outer iterations (autoencoder training + proximal step); default
      ``Defaults.rda_outer``; 1 = the plain MSE autoencoder.
    tol: stop when ‖X − L_D − S‖_F / ‖X‖_F changes by less than this relative amount.
    transform_iterations: proximal iterations with the autoencoder fixed in ``transform`` (new
      rows); 1, the default, is the plain reconstruction D(E(X)).
    encoder_clip: as for ``RobustVAE`` (None = ``Defaults.encoder_clip``).

  Fitted attributes: the shared ones (``n_features_in_``, ``center_``, ``scale_``,
  ``residual_scale_``, …), ``lam_``, ``engine_settings_``, ``params_`` and ``fit_info_`` (outer
  iterations run, whether the criterion stalled, its history, the loss per chunk).
  """

  method = "rda"
  legacy_arguments: ClassVar[dict] = {}

  def __init__(self, *, lam: float | None = None, penalty: str = "l1",
               latent_dim: int | None = None, steps: int | None = None,
               outer_iterations: int | None = None, tol: float = DEFAULTS.rda_tol,
               transform_iterations: int = DEFAULTS.rda_transform_iterations, seed: int = 0,
               alpha: float | None = None, threshold: float = DEFAULTS.threshold,
               hidden_widths: tuple[int, ...] | None = None,
               batch_size: int = DEFAULTS.batch_size,
               learning_rate: float = DEFAULTS.learning_rate, encoder_clip: float | None = None):
    self._store(locals())

  def _checked_params(self) -> dict[str, Any]:
    widths = check_widths(self.hidden_widths)
    return {
        **common_params(seed=self.seed, alpha=self.alpha, threshold=self.threshold),
        "lam": _optional(checks.positive_number, "lam (robust SDs)", self.lam),
        "penalty": checks.one_of("penalty", self.penalty, rda.PENALTIES),
        "latent_dim": _optional(checks.positive_int, "latent_dim", self.latent_dim),
        "steps": _optional(checks.positive_int, "steps", self.steps),
        "outer_iterations": _optional(checks.positive_int, "outer_iterations",
                                      self.outer_iterations),
        "tol": checks.positive_number("tol", self.tol),
        "transform_iterations": checks.positive_int("transform_iterations",
                                                    self.transform_iterations),
        "hidden_widths": widths, "batch_size": checks.positive_int("batch_size", self.batch_size),
        "learning_rate": checks.positive_number("learning_rate", self.learning_rate),
        "encoder_clip": _optional(checks.nonnegative_number,
                                  "encoder_clip (robust SDs; 0 = off)", self.encoder_clip)}

  def _check_shape(self, n: int, d: int, config: dict[str, Any]) -> None:
    engine.resolve_dims(d, config["latent_dim"], config["hidden_widths"])

  def _engine_settings(self, n: int, d: int, alpha: float, steps: int,
                       config: dict[str, Any]) -> train.Settings:
    return engine.network_settings(n, d, alpha, steps, config, num_latent_samples=1,
                                   decoder_variance="shared")

  def _plan(self, n: int, config: dict[str, Any]) -> tuple[int, int]:
    """(outer iterations, steps per outer iteration): the budget in whole chunks."""
    steps = engine.resolve_steps(config["steps"], n, config["batch_size"])
    outer = config["outer_iterations"] or defaults().rda_outer
    chunk = min(defaults().chunk_steps, steps)
    inner = max(chunk, (steps // outer) // chunk * chunk)
    return outer, inner

  def _fit_model(self, Z, missing, *, alpha, config, progress):
    n, d = Z.shape
    outer, inner = self._plan(n, config)
    settings = self._engine_settings(n, d, alpha, outer * inner, config)
    train_settings = (settings if missing is None
                      else dataclasses.replace(settings, missing_data=True))
    lam = config["lam"] if config["lam"] is not None else defaults().rda_lam
    observed = None if missing is None else ~missing
    cell = ae_cell(config["seed"])
    box = {"state": engine.compiled(train_settings).init(cell), "losses": []}
    bar = sweep.Progress(outer * inner, 1, settings.batch_size, "[decompose rda]",
                                progress)
    bar.update(0, 0, float("nan"))

    clip = settings.encoder_clip

    def fit_ae(L_D: np.ndarray) -> None:
      # The squared loss's targets winsorised at the encoder clip (NaN, missing, stays NaN): an
      # entry of an atom-collapsed column 10³–10⁴ robust SDs out would otherwise dominate the
      # loss; what lies beyond the clip is left to S (the proximal step sees the raw residual).
      target = np.clip(L_D, -clip, clip) if clip > 0 else L_D
      box["state"], losses = engine.run_steps(train_settings, box["state"], cell, target, inner,
                                              bar)
      box["losses"] += losses
      if bool(box["state"].failed):
        raise RuntimeError("RDA's autoencoder training became non-finite; try a smaller "
                           "learning rate")

    res = rda.rda_loop(Z, lam=lam, penalty=config["penalty"], observed=observed, train=fit_ae,
                       reconstruct=lambda L_D: _apply(settings, _params(box), L_D),
                       max_outer=outer, tol=config["tol"])
    params = jax.device_get(_params(box))
    # "steps" is the planned budget (it fixes the compiled chunk length, also when a saved model
    # is loaded); "steps_run" what ran before the criterion stalled.
    info = {"steps": outer * inner, "steps_run": int(box["state"].step),
            "outer_iterations": res.outer,
            "steps_per_outer": inner, "criterion_stalled": res.converged,
            "criterion_history": res.criterion, "loss_history": box["losses"],
            "lam": lam, "penalty": config["penalty"], "latent_dim": settings.latent_dim,
            "hidden_widths": list(settings.decoder_widths), "alpha": settings.alpha,
            "missing_entries": 0 if missing is None else int(missing.sum())}
    state = {"engine_settings_": settings, "params_": params, "fit_info_": info, "lam_": lam}
    # The fitted rows' L is the loop's own last L: no second pass (hence no reconstruction time).
    info["reconstruction_seconds"] = 0.0
    rec = Reconstruction(res.L, {"fitted_rows": n, **info},
                         {"sparse_fraction": float(np.mean(res.S != 0))})
    return rec, state

  def _check_call(self, iterations: Any = None) -> dict[str, Any]:
    return {"iterations": self.config_["transform_iterations"] if iterations is None
            else checks.positive_int("iterations", iterations)}

  def _reconstruct(self, Z, missing, *, iterations: int) -> Reconstruction:
    return _transform_rows(self.engine_settings_, self.params_, Z, missing, lam=self.lam_,
                           penalty=self.config_["penalty"], iterations=iterations,
                           info={"fitted_rows": self.n_samples_fit_, **self.fit_info_})

  def transform(self, X: Any, *, missing: Any = None, threshold: float | None = None,
                iterations: int | None = None) -> Decomposition:
    """Decomposes rows X (any number, the fitted columns) with the trained autoencoder fixed.

    Args:
      X: (m, d) real matrix, finite where observed.
      missing: optional bool array shaped like X (True = missing).
      threshold: k of the mask test; default the model's.
      iterations: proximal iterations from S = 0 (L = D(E(X − S)), S = prox_λ(X − L)); default
        the model's ``transform_iterations``; 1 = the plain reconstruction D(E(X)).

    Raises:
      ValueError: not fitted, bad X, another number of columns, entries too large.
    """
    return super().transform(X, missing=missing, threshold=threshold, iterations=iterations)

  def used_settings(self) -> dict[str, Any]:
    """Every setting as used (λ, steps, widths resolved): summary.json's "settings"."""
    if not self.fitted:
      raise ValueError("the model is not fitted yet: call fit(X) first")
    c, s = self.config_, self.engine_settings_
    return {"method": "rda", "seed": c["seed"], "alpha": s.alpha, "threshold": c["threshold"],
            "lam": self.lam_, "penalty": c["penalty"], "latent_dim": s.latent_dim,
            "steps": int(self.fit_info_["steps"]), "steps_run": int(self.fit_info_["steps_run"]),
            "outer_iterations": int(self.fit_info_["outer_iterations"]),
            "steps_per_outer": int(self.fit_info_["steps_per_outer"]), "tol": c["tol"],
            "transform_iterations": c["transform_iterations"],
            "hidden_widths": list(s.decoder_widths), "batch_size": s.batch_size,
            "learning_rate": c["learning_rate"], "encoder_clip": s.encoder_clip}

  def _loaded_state(self, fit_info: dict[str, Any]) -> dict[str, Any]:
    return {"lam_": float(fit_info["lam"])}



def _params(box: dict) -> Any:
  return box["state"].params


def _apply(settings: train.Settings, params: Any, L_D: np.ndarray) -> np.ndarray:
  """D(E(L_D)) of standardised rows; missing (NaN) entries reach the encoder as 0, the column's
  median, as in training."""
  return engine.apply_vae(settings, params, np.nan_to_num(L_D, nan=0.0))


def _transform_rows(settings: train.Settings, params: Any, Z: np.ndarray,
                    missing: np.ndarray | None, *, lam: float, penalty: str, iterations: int,
                    info: dict[str, Any]) -> Reconstruction:
  """The autoencoder fixed: ``iterations`` proximal iterations from S = 0 on rows Z."""
  L, S = rda.rda_transform(Z, lam=lam, penalty=penalty, iterations=iterations,
                           observed=None if missing is None else ~missing,
                           reconstruct=lambda L_D: _apply(settings, params, L_D))
  return Reconstruction(L, info, {"transform_iterations": iterations,
                                  "sparse_fraction": float(np.mean(S != 0))})
