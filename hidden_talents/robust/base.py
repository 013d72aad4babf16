"""What every robust decomposition method shares: standardise → reconstruct → residual scale →
mask → :class:`Decomposition`, with scikit-learn's estimator conventions.

A method (the VAE, convex RPCA, …) is a subclass of :class:`RobustEstimator` that says how to
check its arguments (:meth:`~RobustEstimator._checked_params`), fit its reconstruction model on
standardised rows (:meth:`~RobustEstimator._fit_model`) and reconstruct standardised rows with it
(:meth:`~RobustEstimator._reconstruct`); the base does the rest, the same way for every method:

1. checks X (and its missing entries) and standardises its columns robustly (median, 1.4826·MAD;
   :mod:`~hidden_talents.robust.standardize`), so that α means the same for every column;
2. lets the method reconstruct the standardised rows, Ẑ;
3. fixes each column's robust inlier residual scale σⱼ on the fitted rows;
4. flags entry (i, j) when r²ᵢⱼ > max(α, (k σⱼ)²), r = Z − Ẑ (Theorem 4's support, eq. 12, with
   the per-column scale), and returns L = Ẑ un-standardised, S = X − L (dense), S_sparse =
   where(mask, S, 0) (the sparse outliers of eq. 13), per-entry scores eᵢⱼ = |rᵢⱼ|/σⱼ (the mask
   is e > k) and per-row scores: the fraction of flagged entries and the robust residual energy
   that ranks rows (:meth:`RobustEstimator.decision_function`, PyOD's convention;
   :meth:`~RobustEstimator.score_samples`, scikit-learn's sign).

A constant column of X holds no outliers by definition: it is never flagged and its L is the
constant itself. Missing entries (``missing=``, where the method supports them) are filled in L,
0 in S and never flagged.

Conventions (scikit-learn's): ``__init__`` only stores its arguments, which are checked in
``fit``; :meth:`get_params` / :meth:`set_params` work (so ``sklearn.base.clone`` does, without
scikit-learn being needed); fitted attributes end in ``_``; a fitted model pickles.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, ClassVar, NamedTuple

import numpy as np

from hidden_talents import checks, runtime
from hidden_talents.robust import inputs, standardize


def not_fitted_error(message: str) -> ValueError:
  """scikit-learn's ``NotFittedError`` (a ValueError and an AttributeError) where scikit-learn is
  installed, so that its tools recognise it; a plain ValueError otherwise."""
  try:
    from sklearn.exceptions import NotFittedError
  except ImportError:
    return ValueError(message)
  return NotFittedError(message)


class Decomposition(NamedTuple):
  """Result of a decomposition (numpy arrays in the units of X)."""

  L: np.ndarray  # (n, d) clean part: μx(μz[x]) for the VAE, the low-rank part for RPCA
  S: np.ndarray  # (n, d) outlier part, X − L
  mask: np.ndarray  # (n, d) bool, entries flagged as outliers
  sample_scores: np.ndarray  # (n,) fraction of flagged entries per sample (of its observed ones)
  noise_scale: np.ndarray  # (d,) robust inlier residual scale σⱼ per column, units of X
  info: dict[str, Any]  # method, sizes, all settings ("settings"), training loss, …
  S_sparse: np.ndarray  # (n, d) where(mask, S, 0): the sparse outliers of eq. 13 (S is dense)
  # (n, d) |S| / σⱼ: each residual in robust SDs of its column (σⱼ floored at √α/k, so that
  # mask = entry_scores > k); 0 on missing entries and constant columns
  entry_scores: np.ndarray
  # (n,) each row's robust residual energy: mean over its observed entries of
  # min(entry_scores², (5k)²); ranks rows (decision_function)
  row_scores: np.ndarray


# The cap of an entry's contribution to its row's score, in units of the mask threshold k:
# min(e², (5k)²) (standardize.row_scores). Among caps of 2k, 3k, 3.3k, 5k, 6.7k, 10k and none it
# had the best mean ROC AUC (level with 3.3k) over four synthetic cases (whole outlying rows,
# subtly shifted rows, scattered entries, outlying rows beside gross single entries) × the VAE,
# RPCA and RDA (tests/robust/test_base.py, docs/decompose.md); without a cap the last case, where
# one gross entry outranks a row that is off everywhere, fell 0.04–0.21 below sample_scores.
ROW_CAP = 5.0


class Reconstruction(NamedTuple):
  """A method's reconstruction of standardised rows (:meth:`RobustEstimator._reconstruct`)."""

  Z_hat: np.ndarray  # (m, d) reconstruction in standardised units
  info: dict[str, Any]  # what the method reports first in Decomposition.info
  settings: dict[str, Any]  # this call's settings over used_settings() (e.g. refine_steps)


class RobustEstimator:
  """The shared part of the robust decomposition methods (module docstring)."""

  method: ClassVar[str] = ""  # recorded as info["method"]
  supports_missing: ClassVar[bool] = True
  needs_tall: ClassVar[bool] = True  # refuse fewer rows than columns (the rows teach the model)
  missing_message: ClassVar[str] = ""  # the error for missing= where it is not supported

  # --- parameters ---------------------------------------------------------------------------

  @classmethod
  def _param_names(cls) -> list[str]:
    """The arguments of ``__init__`` (all keyword-only), in their order."""
    return [p.name for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind == p.KEYWORD_ONLY]

  def _store(self, arguments: dict[str, Any]) -> None:
    """``__init__``'s one job: keep each argument (``locals()``) as it was given, unchecked."""
    for name in self._param_names():
      setattr(self, name, arguments[name])

  def get_params(self, deep: bool = True) -> dict[str, Any]:
    """The constructor's arguments as stored (``deep`` is accepted for scikit-learn)."""
    del deep  # no parameter is itself an estimator
    return {name: getattr(self, name) for name in self._param_names()}

  def set_params(self, **params: Any) -> RobustEstimator:
    """Sets constructor arguments (checked at the next ``fit``); returns self.

    Raises:
      ValueError: an argument the constructor does not have.
    """
    names = self._param_names()
    for name, value in params.items():
      if name not in names:
        raise ValueError(f"{type(self).__name__} has no parameter {name!r}; its parameters are "
                         f"{', '.join(names)}")
      setattr(self, name, value)
    return self

  def __repr__(self) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
    state = (f"fitted on {self.n_samples_fit_} × {self.n_features_in_}" if self.fitted
             else "not fitted")
    return f"{type(self).__name__}({args}) [{state}]"

  @property
  def fitted(self) -> bool:
    return "residual_scale_" in vars(self)

  def __sklearn_is_fitted__(self) -> bool:
    return self.fitted

  def __sklearn_tags__(self) -> Any:
    """scikit-learn's tags of an unsupervised estimator (imported from scikit-learn when one of its
    tools asks; nothing here needs it)."""
    from sklearn.utils import InputTags, Tags, TargetTags

    return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                input_tags=InputTags(allow_nan=self.supports_missing))

  # --- the method-specific part ---------------------------------------------------------------

  def _checked_params(self) -> dict[str, Any]:
    """The arguments checked and converted to plain values (at least ``alpha``, ``threshold``).

    Raises:
      ValueError: a bad argument, named.
    """
    raise NotImplementedError

  def _check_shape(self, n: int, d: int, config: dict[str, Any]) -> None:
    """Refuses arguments that do not fit an n × d matrix, before any work (ValueError)."""

  def _fit_model(self, Z: np.ndarray, missing: np.ndarray | None, *, alpha: float,
                 config: dict[str, Any],
                 progress: bool) -> tuple[Reconstruction, dict[str, Any]]:
    """Fits the reconstruction model on standardised rows Z (missing entries 0 in Z).

    Returns:
      (the reconstruction of Z, the model's fitted attributes: names ending in ``_``).
    """
    raise NotImplementedError

  def _reconstruct(self, Z: np.ndarray, missing: np.ndarray | None,
                   **call: Any) -> Reconstruction:
    """Reconstructs standardised rows Z with the fitted model (``call``: checked per-call
    options, :meth:`_check_call`)."""
    raise NotImplementedError

  def _check_call(self, **call: Any) -> dict[str, Any]:
    """The per-call options of :meth:`transform`, checked (ValueError)."""
    if call:
      raise TypeError(f"unexpected arguments {sorted(call)}")
    return {}

  def used_settings(self) -> dict[str, Any]:
    """Every setting as the fit used it: summary.json's "settings"."""
    raise NotImplementedError

  def _loaded_state(self, fit_info: dict[str, Any]) -> dict[str, Any]:
    """Fitted attributes of the method beyond the shared ones, from a saved model's fit info
    (:mod:`~hidden_talents.robust.model_file`)."""
    del fit_info
    return {}

  # --- the shared pipeline ----------------------------------------------------------------------

  def fit(self, X: Any, y: Any = None, *, missing: Any = None,
          progress: bool = False) -> RobustEstimator:
    """Fits the method on the rows of X (samples as rows; ``y`` is ignored, as scikit-learn's
    unsupervised estimators do); returns self.

    Raises:
      ValueError: a bad argument, X or ``missing`` — before any training.
    """
    self._fit(X, missing, progress)
    return self

  def fit_transform(self, X: Any, y: Any = None, *, missing: Any = None,
                    progress: bool = False) -> Decomposition:
    """Fits and decomposes the same rows, reconstructing them once (nothing is kept): for the VAE
    and RPCA ``fit(X).transform(X)`` bit for bit; for RDA L is the outer loop's own last L, which a
    later ``transform`` of new rows cannot have (``robust.autoencoder``)."""
    X, missing, Z, rec = self._fit(X, missing, progress)
    return self._decomposition(X, Z, rec, missing, self.config_["threshold"])

  def transform(self, X: Any, *, missing: Any = None, threshold: float | None = None,
                **call: Any) -> Decomposition:
    """Decomposes rows X (any number, the fitted columns) with the fitted model.

    Args:
      X: (m, d) real matrix, finite where observed.
      missing: optional bool array shaped like X (True = missing).
      threshold: k of the mask test; default the model's. The residual scales σⱼ stay those of
        the fit.
      **call: the method's per-call options.

    Raises:
      ValueError: not fitted, bad X, another number of columns, entries too large.
    """
    if not self.fitted:
      hint = f" or {type(self).__name__}.load(path)" if hasattr(self, "load") else ""
      raise not_fitted_error(f"the model is not fitted yet: call fit(X) first{hint}")
    k = (self.config_["threshold"] if threshold is None
         else checks.positive_number("threshold", threshold))
    call = self._check_call(**call)
    self._refuse_missing(missing)
    runtime.setup()
    X, missing = inputs.checked_input(X, missing, method="rpca", min_samples=1)
    d = X.shape[1]
    if d != self.n_features_in_:
      raise ValueError(f"X has {d} columns, but the model was fitted on rows of d = "
                       f"{self.n_features_in_} columns")
    Z = (X - self.center_) / self.scale_
    if missing is not None:
      Z[missing] = 0.0
    inputs.check_magnitudes(X, Z)
    return self._decomposition(X, Z, self._reconstruct(Z, missing, **call), missing, k)

  def decision_function(self, X: Any, *, missing: Any = None, **call: Any) -> np.ndarray:
    """Outlier scores of rows X, higher = more outlying (PyOD's convention): each row's robust
    residual energy, ``transform(X).row_scores`` — the mean over its observed entries of
    min(e²ᵢⱼ, (5k)²), e = |S|/σⱼ in robust SDs of its column's residuals (``entry_scores``).

    Unlike ``sample_scores`` (the fraction of flagged entries, a count), it ranks rows whose
    entries are all a little off, none beyond k σⱼ, above clean rows; the cap keeps one gross
    entry from outranking a row that is off everywhere. ``missing`` and ``call`` as for
    :meth:`transform`.
    """
    return self.transform(X, missing=missing, **call).row_scores

  def score_samples(self, X: Any, *, missing: Any = None, **call: Any) -> np.ndarray:
    """``−decision_function(X)``: higher = more normal (scikit-learn's convention for
    ``score_samples`` of its outlier detectors, e.g. ``IsolationForest``)."""
    return -self.decision_function(X, missing=missing, **call)

  def _refuse_missing(self, missing: Any) -> None:
    if missing is not None and not self.supports_missing:
      raise ValueError(self.missing_message)

  def _fit(self, X: Any, missing: Any, progress: bool):
    config = self._checked_params()
    self._refuse_missing(missing)
    runtime.setup()
    X, missing = inputs.checked_input(X, missing, method="vae" if self.needs_tall else "rpca")
    n, d = X.shape
    self._check_shape(n, d, config)
    Z, center, scale = standardize.robust_standardize(X, missing)
    if missing is not None:
      Z[missing] = 0.0  # the column's median
    inputs.check_magnitudes(X, Z)
    alpha = standardize.resolve_alpha(config["alpha"], Z if missing is None else Z[~missing])
    constant, value = standardize.constant_columns(X, missing)
    center = np.where(constant, value, center)  # exactly the constant
    if constant.all():
      warnings.warn(f"every column of X is constant: L = X, nothing can be flagged, and the "
                    f"{type(self).__name__} fit learns nothing from it", stacklevel=3)
    rec, model_state = self._fit_model(Z, missing, alpha=alpha, config=config, progress=progress)
    rec.Z_hat[:, constant] = 0.0
    R = Z - rec.Z_hat if missing is None else np.where(missing, np.nan, Z - rec.Z_hat)
    state = {"config_": config, "alpha_": alpha, "n_features_in_": d, "n_samples_fit_": n,
             "center_": center, "scale_": scale, "constant_": constant, **model_state,
             "residual_scale_": standardize.residual_scale(R)}
    for name, value in state.items():  # all at once, once the fit has succeeded
      setattr(self, name, value)
    return X, missing, Z, rec

  def _decomposition(self, X: np.ndarray, Z: np.ndarray, rec: Reconstruction,
                     missing: np.ndarray | None, threshold: float) -> Decomposition:
    """L, S, the mask and the scores of rows X (standardised: Z) from their reconstruction."""
    constant = self.constant_
    Z_hat = rec.Z_hat
    Z_hat[:, constant] = 0.0
    mask = standardize.exceeds(Z - Z_hat, self.residual_scale_, alpha=self.alpha_,
                               threshold=threshold)
    mask[:, constant] = False
    E = standardize.entry_scores(Z - Z_hat, self.residual_scale_, alpha=self.alpha_,
                                 threshold=threshold)
    E[:, constant] = 0.0
    L = Z_hat * self.scale_ + self.center_
    L[:, constant] = self.center_[constant]
    S = X - L
    if missing is not None:
      mask[missing] = False
      S[missing] = 0.0
      E[missing] = 0.0
    m, d = X.shape
    # Scores are fractions of the observed entries (a row with no observed entry scores 0).
    observed = np.full(m, d) if missing is None else np.maximum((~missing).sum(axis=1), 1)
    info: dict[str, Any] = {
        "method": self.method, "n": m, "d": d, **rec.info, "alpha": self.alpha_,
        "threshold": threshold, "flagged_fraction": float(mask.sum() / observed.sum()),
        "constant_columns": int(constant.sum()),
        "settings": {**self.used_settings(), "threshold": threshold, **rec.settings}}
    if self.supports_missing:
      info["missing_entries_transformed"] = 0 if missing is None else int(missing.sum())
    return Decomposition(L=L, S=S, mask=mask, sample_scores=mask.sum(axis=1) / observed,
                         noise_scale=self.residual_scale_ * self.scale_, info=info,
                         S_sparse=np.where(mask, S, 0.0), entry_scores=E,
                         row_scores=standardize.row_scores(E, observed, cap=ROW_CAP * threshold))
