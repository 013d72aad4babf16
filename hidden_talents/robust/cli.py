"""Robust decomposition X = L + S of your own matrix (samples as rows): the VAE as a nonlinear
robust PCA (Sec. 3, eqs. 12-13), convex RPCA (eq. 14) or the robust deep autoencoder (RDA).
docs/decompose.md describes the method, every default, the files and the flags.

  hidden-talents-decompose --input=data.npy --output=out     # or: python -m launch.decompose
  hidden-talents-decompose --input=data.csv --output=out --method=rpca
  hidden-talents-decompose --input=train.npy --output=out --save_model=model.npz
  hidden-talents-decompose --input=new.npy --output=out2 --model=model.npz   # no training

--output receives L.npy, S.npy (= X - L), S_sparse.npy (the outliers), mask.npy, per-entry and
per-row scores, rows.csv, summary.json and summary.png, all or nothing.

Exit codes: 0 done; 2 a bad input, flag or setting (one "error:" line, --output untouched); 1 a
crash (a traceback; --output untouched); 130 interrupted (Ctrl-C) and 143 terminated (SIGTERM),
--output left as it was.
"""


from __future__ import annotations

import json
import signal
import sys
import warnings
from typing import Any

import numpy as np
from absl import app, flags
from absl import logging as absl_logging

from hidden_talents import runtime
from hidden_talents.robust import cli_flags as F
from hidden_talents.robust import figure, inputs, model_file
from hidden_talents.robust.autoencoder import RobustRDA
from hidden_talents.robust.base import RobustEstimator
from hidden_talents.robust.diagnostics import fit_notes
from hidden_talents.robust.estimators import RobustRPCA, RobustVAE
from hidden_talents.robust.matrix_file import file_fingerprint, read_matrix
from hidden_talents.robust.outputs import StagedOutput, save_outputs

# Exit codes of a run stopped by a signal: 128 + the signal's number, the shell's convention, so
# that a scheduler (SLURM, Kubernetes, `timeout`) reads SIGTERM's 143 as "terminated".
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143

_USAGE = __doc__


class Terminated(BaseException):
  """SIGTERM, raised in the main thread (a BaseException, as KeyboardInterrupt is)."""


# What a stopped run must clean up or report: the staging directory and the saved model.
_RUN: dict[str, Any] = {"stage": None, "saved_model": None}


def _show_warning(message, category, filename, lineno, file=None, line=None):
  print(f"warning: {message}", file=sys.stderr)


def _given(names: tuple[str, ...]) -> list[str]:
  return [f"--{n}" for n in names if flags.FLAGS[n].present]


def ignored_flags(method: str, given: list[str], where: str) -> list[str]:
  """Warnings for flags in ``given`` (names) that do not apply to ``method``, one per method they
  set (the first of VAE, RDA, RPCA that has them); ``where`` ends the sentence ("with
  --method=rpca")."""
  groups: dict[str, list[str]] = {}
  for name in given:
    methods = F.APPLIES.get(name)
    if methods is None or method in methods:
      continue
    owner = next(m for m in ("vae", "rda", "rpca") if m in methods)
    groups.setdefault(owner, []).append(f"--{name}")
  lines = []
  for owner, names in groups.items():
    verbs = ("set", "do") if len(names) > 1 else ("sets", "does")
    lines.append(f"{', '.join(names)} {verbs[0]} the {F.NAMES[owner]} and {verbs[1]} nothing "
                 f"{where}")
  return lines


def check_model_flags() -> RobustEstimator | None:
  """The saved model of --model (loaded: a VAE or an RDA, whichever the file holds), or None;
  refuses flags that do not go with --model or --save_model, and warns about flags that do
  nothing with the method."""
  present = [n for n in F.APPLIES if flags.FLAGS[n].present]
  if F.MODEL.value is not None:
    model = model_file.load_any(F.MODEL.value)
    given = [f for f in _given(F.TRAINING_FLAGS)
             if not (f == "--method" and F.METHOD.value == model.method)]
    if given or F.SAVE_MODEL.value is not None:
      raise ValueError(f"--model applies a saved model without training: "
                       f"{', '.join(given or ['--save_model'])} cannot be used with it")
    for line in ignored_flags(model.method, present,
                              f"with the {F.NAMES[model.method]} model of --model"):
      warnings.warn(line, stacklevel=1)
    return model
  if F.SAVE_MODEL.value is not None:
    if F.METHOD.value == "rpca":
      raise ValueError("--save_model saves a VAE or RDA model; --method=rpca fits no reusable "
                       "model")
    model_file.check_save_path(F.SAVE_MODEL.value, overwrite=F.OVERWRITE.value)
  for line in ignored_flags(F.METHOD.value, present, f"with --method={F.METHOD.value}"):
    warnings.warn(line, stacklevel=1)
  return None


def hidden_widths() -> tuple[int, ...] | None:
  """--hidden_widths as integers (the estimator checks that they are positive)."""
  if F.WIDTHS.value is None:
    return None
  try:
    return tuple(int(w) for w in F.WIDTHS.value)
  except ValueError:
    raise ValueError(f"--hidden_widths must be comma-separated integers, e.g. 64,128; got "
                     f"{','.join(F.WIDTHS.value)!r}") from None


def make_estimator(method: str) -> RobustEstimator:
  """The estimator of ``method`` with the flags that apply to it."""
  common = {"seed": F.SEED.value, "alpha": F.ALPHA.value, "threshold": F.THRESHOLD.value}
  if method == "rpca":
    return RobustRPCA(**common, lam=F.LAM.value)
  network = {"latent_dim": F.LATENT.value, "steps": F.STEPS.value,
             "hidden_widths": hidden_widths(), "batch_size": F.BATCH.value,
             "learning_rate": F.LR.value, "encoder_clip": F.ENCODER_CLIP.value}
  if method == "rda":
    return RobustRDA(**common, **network, lam=F.LAM.value, penalty=F.PENALTY.value)
  return RobustVAE(**common, **network, kl_warmup=F.KL_WARMUP.value,
                   decoder_variance=F.DECODER_VARIANCE.value, refine_steps=F.REFINE_STEPS.value)


def _nonfinite_hint(X: np.ndarray) -> str:
  """What to do about the NaN / Inf entries left in X (missing ones already filled)."""
  hints = []
  inf = np.isinf(X)
  if inf.any():
    i, j = np.argwhere(inf)[0]
    hints.append(f"row {i + 1}, column {j + 1} is {X[i, j]}: an infinite value is not a missing "
                 "value (--missing_nan reads NaN only); replace it, e.g. by NaN with "
                 "--missing_nan")
  if np.isnan(X).any() and not F.MISSING_NAN.value:
    hints.append("pass --missing_nan if NaN marks missing values")
  return "".join(f"; {h}" for h in hints)


def read_input(model: RobustEstimator | None
               ) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
  """(X, missing mask or None, what summary.json records about the input), checked for the run
  the flags ask for — before any training."""
  X, read_info = read_matrix(F.INPUT.value, skip_header=F.SKIP_HEADER.value,
                             delimiter=F.DELIMITER.value, missing_values=F.MISSING_NAN.value)
  if read_info.get("header") is not None:
    print(f"note: line 1 skipped as a header: {read_info['header'][:80]!r}", file=sys.stderr)
  missing = None
  if F.MISSING_NAN.value:
    missing = inputs.check_missing(np.isnan(np.asarray(X, dtype=float)), np.shape(X))
    X = inputs.fill_missing(X, missing)
  try:
    if model is None:
      X = inputs.check_matrix(X, method="rpca" if F.METHOD.value == "rpca" else "vae")
    else:
      X = inputs.check_matrix(X, method="rpca", min_samples=1)
  except ValueError as e:
    if "NaN or Inf" in str(e):
      raise ValueError(f"{e}{_nonfinite_hint(np.asarray(X, dtype=float))}") from e
    raise
  if model is not None and X.shape[1] != model.n_features_in_:
    raise ValueError(f"--input has {X.shape[1]} columns, but the model {F.MODEL.value!r} was "
                     f"fitted on d = {model.n_features_in_} columns")
  if F.IMAGES.value:
    figure.image_side(X.shape[1])
  input_info = {**file_fingerprint(F.INPUT.value), **read_info, "rows": int(X.shape[0]),
                "columns": int(X.shape[1])}
  return X, missing, input_info


def compute(X: np.ndarray, missing: np.ndarray | None, model: RobustEstimator | None):
  """(the decomposition, the fitted model to save or None): applies --model, or fits."""
  if model is not None:
    call: dict[str, Any] = {"threshold": F.THRESHOLD.value if flags.FLAGS["threshold"].present
                            else None}
    if model.method == "vae":
      call["refine_steps"] = F.REFINE_STEPS.value
    result = model.transform(X, missing=missing, **call)
    result.info["model_file"] = file_fingerprint(F.MODEL.value)
    return result, None
  estimator = make_estimator(F.METHOD.value)
  result = estimator.fit_transform(X, missing=missing, progress=not F.QUIET.value)
  return result, estimator if F.SAVE_MODEL.value is not None else None


def _abandon(stage: StagedOutput, message: str) -> None:
  """Leaves --output as it was and exits 1 after a failure to write."""
  stage.discard()
  print(f"error: {message}; {F.OUTPUT.value!r} was left as it was", file=sys.stderr)
  sys.exit(1)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    F.fail(f"unexpected arguments {argv[1:]}: every setting is a --flag=value (see --help)")
  warnings.showwarning = _show_warning
  if not flags.FLAGS["verbosity"].present:  # JAX's INFO lines (no TPU found, ...) are no news
    absl_logging.set_verbosity(absl_logging.WARNING)
  try:
    model = check_model_flags()
    X, missing, input_info = read_input(model)
    stage = _RUN["stage"] = StagedOutput(F.OUTPUT.value, overwrite=F.OVERWRITE.value)
  except ValueError as e:
    F.fail(str(e))
  if stage.removed:
    print(f"note: removed {len(stage.removed)} staging folder(s) of {F.OUTPUT.value!r} left by an "
          "interrupted run", file=sys.stderr)
  runtime.setup(compile_cache=True)
  try:
    try:
      result, fitted = compute(X, missing, model)
    except ValueError as e:
      stage.discard()
      F.fail(str(e))
    if fitted is not None:
      try:
        fitted.save(F.SAVE_MODEL.value, overwrite=F.OVERWRITE.value)
        _RUN["saved_model"] = F.SAVE_MODEL.value
        result.info["model_file"] = file_fingerprint(F.SAVE_MODEL.value)
      except (OSError, ValueError) as e:  # nothing was written to --output either
        _abandon(stage, f"cannot save the model ({e})")
    try:
      save_outputs(stage, X, result, input_info=input_info, images=F.IMAGES.value,
                   argv=list(sys.argv))
    except OSError as e:  # e.g. a full disk: nothing was written to --output
      _abandon(stage, f"cannot write the results ({e})")
  except BaseException:
    stage.discard()
    raise
  info = {k: v for k, v in result.info.items() if k != "loss_history"}
  info["output"] = stage.target
  print(json.dumps(info, indent=2, default=str))
  for line in fit_notes(info) if F.MODEL.value is None else ():  # this run trained the model
    print(f"note: {line}", file=sys.stderr)


def _raise_terminated(signum, frame) -> None:
  raise Terminated()


def stopped(exc: BaseException) -> None:
  """A run stopped by Ctrl-C or SIGTERM: its staging directory removed, one line saying what was
  left, exit 130 (Ctrl-C) or 143 (SIGTERM)."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  stage = _RUN["stage"]
  if stage is not None:
    stage.discard()
  what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
  output = repr(F.OUTPUT.value) if flags.FLAGS.is_parsed() and F.OUTPUT.value else "--output"
  if stage is not None and stage.done:
    message = f"{what} after the result was written to {output}"
  else:
    message = f"{what}: {output} was left as it was"
  if _RUN["saved_model"] is not None:
    message += f" (the model {_RUN['saved_model']!r} had been saved)"
  print(("\n" if sys.stderr.isatty() else "") + message, file=sys.stderr, flush=True)
  sys.exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED)


def run() -> None:
  """The command line's entry point (``python -m launch.decompose``, ``hidden-talents-decompose``):
  --help shows this module's usage and flags; Ctrl-C and SIGTERM stop it with one line."""
  sys.modules["__main__"].__doc__ = _USAGE  # absl's --helpfull prints the main module's docstring
  signal.signal(signal.SIGTERM, _raise_terminated)
  try:
    app.run(main, flags_parser=lambda argv: F.parse_flags(argv, _USAGE))
  except (KeyboardInterrupt, Terminated) as e:
    stopped(e)
