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
import textwrap
import warnings
from typing import Any

import numpy as np
from absl import app, flags
from absl import logging as absl_logging

from hidden_talents import runtime
from hidden_talents.objectives.unified import DECODER_VARIANCES
from hidden_talents.rda import PENALTIES
from hidden_talents.robust import figure, inputs, model_file
from hidden_talents.robust.autoencoder import RobustRDA
from hidden_talents.robust.base import RobustEstimator
from hidden_talents.robust.diagnostics import fit_notes
from hidden_talents.robust.estimators import RobustRPCA, RobustVAE
from hidden_talents.robust.matrix_file import file_fingerprint, read_matrix
from hidden_talents.robust.outputs import StagedOutput, save_outputs
from hidden_talents.robust.settings import DEFAULTS
from hidden_talents.robust.shortcut import METHODS

_INPUT = flags.DEFINE_string("input", None, "Data matrix: .npy, or .csv/.tsv/.txt of numbers; "
                             "samples as rows.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Result directory: absent or empty unless "
                              "--overwrite; written all or nothing.", required=True)
_METHOD = flags.DEFINE_enum("method", "vae", list(METHODS), "vae (nonlinear), rpca (convex, "
                            "linear) or rda (the robust deep autoencoder).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a non-empty --output (once the new "
                               "result is complete) and an existing --save_model file.")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed (recorded in summary.json).")
_THRESHOLD = flags.DEFINE_float(
    "threshold", DEFAULTS.threshold, "k: flags the entries beyond k robust standard deviations "
    "of their column's residuals (1.4826 x MAD) and beyond sqrt(alpha).")
_ALPHA = flags.DEFINE_float("alpha", None, "Decoder variance floor (standardised units); default "
                            f"{DEFAULTS.alpha:g}, {DEFAULTS.tied_alpha:g} on tie-heavy data.")
_MISSING_NAN = flags.DEFINE_bool("missing_nan", False, "NaN (and in text: empty, NA, N/A, null, "
                                 "None) marks missing values; without it a NaN is an error.")
_QUIET = flags.DEFINE_bool("quiet", False, "No progress line.")
_IMAGES = flags.DEFINE_bool("images", False, "summary.png draws rows as sqrt(d) x sqrt(d) images.")
_SAVE_MODEL = flags.DEFINE_string("save_model", None, "Save the fitted VAE or RDA to this .npz "
                                  "(for --model).")
_MODEL = flags.DEFINE_string("model", None, "Apply a model saved with --save_model (VAE or RDA) "
                             "to --input, no training; only --threshold and --refine_steps "
                             "apply.")
_STEPS = flags.DEFINE_integer(
    "steps", None, f"Adam steps; default {DEFAULTS.epochs} passes over the rows, within "
    f"[{DEFAULTS.steps}, {DEFAULTS.max_steps}].")
_LATENT = flags.DEFINE_integer("latent_dim", None, "Latent dimension (at most d); default "
                               "min(20, max(1, d // 2)).")
_WIDTHS = flags.DEFINE_list("hidden_widths", None, "Hidden layer widths, e.g. 64,128; default "
                            "scaled with d.")
_BATCH = flags.DEFINE_integer("batch_size", DEFAULTS.batch_size, "Rows per mini-batch.")
_LR = flags.DEFINE_float("learning_rate", DEFAULTS.learning_rate, "Adam's step size.")
_ENCODER_CLIP = flags.DEFINE_float(
    "encoder_clip", None, f"Encoder input clipped to +-this many robust SDs; default "
    f"{DEFAULTS.encoder_clip:g}; 0 = off.", lower_bound=0.0)
_KL_WARMUP = flags.DEFINE_integer(
    "kl_warmup", None, f"Steps of KL warm-up (at most --steps); default "
    f"{DEFAULTS.warmup_fraction:g} x --steps; 0 = none.", lower_bound=0)
_DECODER_VARIANCE = flags.DEFINE_enum(
    "decoder_variance", DEFAULTS.decoder_variance, list(DECODER_VARIANCES),
    "optimal (optimised out per entry: what flags outliers), learned or shared.")
_REFINE_STEPS = flags.DEFINE_integer(
    "refine_steps", None, f"Adam steps refining each row's latent code; default "
    f"{DEFAULTS.refine_steps}; 0 = the encoder's mean.", lower_bound=0)
_LAM = flags.DEFINE_float("lam", None, "RPCA: lambda of eq. 14 (standardised units), default "
                          "1/sqrt(max(n, d)); RDA: the threshold of S in robust SDs, default "
                          f"{DEFAULTS.rda_lam:g}.")
_PENALTY = flags.DEFINE_enum("penalty", "l1", list(PENALTIES), "l1 (outlying entries) or l21 "
                             "(outlying rows).")
_DELIMITER = flags.DEFINE_string("delimiter", None, "',', ';', 'tab' or 'whitespace'; default: "
                                 "detected.")
_SKIP_HEADER = flags.DEFINE_bool(
    "skip_header", None, "Unset: skip line 1 only if it holds no number; --skip_header: always; "
    "--noskip_header: never.")

# --help's groups, in order (required flags first).
_HELP_GROUPS = (
    ("", ("input", "output", "method", "overwrite", "seed", "threshold", "alpha", "missing_nan",
          "quiet", "images")),
    ("model files", ("save_model", "model")),
    ("VAE and RDA (the networks)", ("steps", "latent_dim", "hidden_widths", "batch_size",
                                    "learning_rate", "encoder_clip")),
    ("VAE", ("kl_warmup", "decoder_variance", "refine_steps")),
    ("RPCA and RDA", ("lam",)),
    ("RDA", ("penalty",)),
    ("text input", ("delimiter", "skip_header")),
)
_METAVAR = {"input": "FILE", "output": "DIR", "save_model": "FILE", "model": "FILE",
            "hidden_widths": "W1,W2,..."}
# The methods each method-specific flag sets; the other flags apply to every method.
APPLIES = {"latent_dim": ("vae", "rda"), "steps": ("vae", "rda"), "hidden_widths": ("vae", "rda"),
           "batch_size": ("vae", "rda"), "learning_rate": ("vae", "rda"),
           "encoder_clip": ("vae", "rda"), "kl_warmup": ("vae",), "decoder_variance": ("vae",),
           "refine_steps": ("vae",), "lam": ("rpca", "rda"), "penalty": ("rda",)}
_NAMES = {"vae": "VAE", "rda": "RDA", "rpca": "RPCA"}
# Flags that shape a fit: refused with --model (which applies a fitted model as it is).
_TRAINING_FLAGS = ("method", "latent_dim", "steps", "seed", "kl_warmup", "decoder_variance",
                   "encoder_clip", "alpha", "hidden_widths", "batch_size", "learning_rate", "lam",
                   "penalty")
_HELP = ("help", "helpshort", "h", "?")
_COLUMN = 32  # --help: where each flag's text starts
# Exit codes of a run stopped by a signal: 128 + the signal's number, the shell's convention, so
# that a scheduler (SLURM, Kubernetes, `timeout`) reads SIGTERM's 143 as "terminated".
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143

_USAGE = __doc__


class Terminated(BaseException):
  """SIGTERM, raised in the main thread (a BaseException, as KeyboardInterrupt is)."""


# What a stopped run must clean up or report: the staging directory and the saved model.
_RUN: dict[str, Any] = {"stage": None, "saved_model": None}


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def format_help() -> str:
  """The usage text, then the flags by group, required ones first (``--help``, ``-h``)."""
  out = [textwrap.dedent(_USAGE).strip(), "", "flags (--helpfull: absl's and JAX's too):"]
  for title, names in _HELP_GROUPS:
    if title:
      out += ["", f" {title}:"]
    for name in names:
      f = flags.FLAGS[name]
      enum = getattr(f.parser, "enum_values", None)
      if f.boolean:
        syntax = f"--[no]{name}"
      else:
        syntax = f"--{name}=" + ("|".join(enum) if enum else _METAVAR.get(name, "VALUE"))
      text = f.help.removeprefix(f"<{'|'.join(enum)}>: ") if enum else f.help
      if name in ("input", "output"):
        text = f"(required) {text}"
      elif f.default is not None and not f.boolean:
        text += f" Default: {f.default_as_str.strip(chr(39))}."
      if len(syntax) > _COLUMN - 4:
        out.append(f"  {syntax}")
        syntax = ""
      out.append(textwrap.fill(text, width=100, initial_indent=f"  {syntax:<{_COLUMN - 2}}",
                               subsequent_indent=" " * _COLUMN, break_on_hyphens=False))
  return "\n".join(out)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, but ``--help``/``-h`` print :func:`format_help` and exit 0, and every bad flag
  (unknown, malformed, missing) is one line and exit 2."""
  if any(a.lstrip("-").split("=")[0] in _HELP for a in argv[1:] if a.startswith("-")):
    print(format_help())
    sys.exit(0)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:  # several missing flags come as several lines: one line here
    _fail(f"{'; '.join(str(e).splitlines())} (see --help)")
  except SystemExit as e:  # absl's --helpfull prints the help, then exits 1: asking is no error
    if e.code == 1 and any(a.lstrip("-").split("=")[0] in ("helpfull", "helpxml")
                           for a in argv[1:]):
      sys.exit(0)
    raise


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
    methods = APPLIES.get(name)
    if methods is None or method in methods:
      continue
    owner = next(m for m in ("vae", "rda", "rpca") if m in methods)
    groups.setdefault(owner, []).append(f"--{name}")
  lines = []
  for owner, names in groups.items():
    verbs = ("set", "do") if len(names) > 1 else ("sets", "does")
    lines.append(f"{', '.join(names)} {verbs[0]} the {_NAMES[owner]} and {verbs[1]} nothing "
                 f"{where}")
  return lines


def check_model_flags() -> RobustEstimator | None:
  """The saved model of --model (loaded: a VAE or an RDA, whichever the file holds), or None;
  refuses flags that do not go with --model or --save_model, and warns about flags that do
  nothing with the method."""
  present = [n for n in APPLIES if flags.FLAGS[n].present]
  if _MODEL.value is not None:
    model = model_file.load_any(_MODEL.value)
    given = [f for f in _given(_TRAINING_FLAGS)
             if not (f == "--method" and _METHOD.value == model.method)]
    if given or _SAVE_MODEL.value is not None:
      raise ValueError(f"--model applies a saved model without training: "
                       f"{', '.join(given or ['--save_model'])} cannot be used with it")
    for line in ignored_flags(model.method, present,
                              f"with the {_NAMES[model.method]} model of --model"):
      warnings.warn(line, stacklevel=1)
    return model
  if _SAVE_MODEL.value is not None:
    if _METHOD.value == "rpca":
      raise ValueError("--save_model saves a VAE or RDA model; --method=rpca fits no reusable "
                       "model")
    model_file.check_save_path(_SAVE_MODEL.value, overwrite=_OVERWRITE.value)
  for line in ignored_flags(_METHOD.value, present, f"with --method={_METHOD.value}"):
    warnings.warn(line, stacklevel=1)
  return None


def hidden_widths() -> tuple[int, ...] | None:
  """--hidden_widths as integers (the estimator checks that they are positive)."""
  if _WIDTHS.value is None:
    return None
  try:
    return tuple(int(w) for w in _WIDTHS.value)
  except ValueError:
    raise ValueError(f"--hidden_widths must be comma-separated integers, e.g. 64,128; got "
                     f"{','.join(_WIDTHS.value)!r}") from None


def make_estimator(method: str) -> RobustEstimator:
  """The estimator of ``method`` with the flags that apply to it."""
  common = {"seed": _SEED.value, "alpha": _ALPHA.value, "threshold": _THRESHOLD.value}
  if method == "rpca":
    return RobustRPCA(**common, lam=_LAM.value)
  network = {"latent_dim": _LATENT.value, "steps": _STEPS.value,
             "hidden_widths": hidden_widths(), "batch_size": _BATCH.value,
             "learning_rate": _LR.value, "encoder_clip": _ENCODER_CLIP.value}
  if method == "rda":
    return RobustRDA(**common, **network, lam=_LAM.value, penalty=_PENALTY.value)
  return RobustVAE(**common, **network, kl_warmup=_KL_WARMUP.value,
                   decoder_variance=_DECODER_VARIANCE.value, refine_steps=_REFINE_STEPS.value)


def _nonfinite_hint(X: np.ndarray) -> str:
  """What to do about the NaN / Inf entries left in X (missing ones already filled)."""
  hints = []
  inf = np.isinf(X)
  if inf.any():
    i, j = np.argwhere(inf)[0]
    hints.append(f"row {i + 1}, column {j + 1} is {X[i, j]}: an infinite value is not a missing "
                 "value (--missing_nan reads NaN only); replace it, e.g. by NaN with "
                 "--missing_nan")
  if np.isnan(X).any() and not _MISSING_NAN.value:
    hints.append("pass --missing_nan if NaN marks missing values")
  return "".join(f"; {h}" for h in hints)


def read_input(model: RobustEstimator | None
               ) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
  """(X, missing mask or None, what summary.json records about the input), checked for the run
  the flags ask for — before any training."""
  X, read_info = read_matrix(_INPUT.value, skip_header=_SKIP_HEADER.value,
                             delimiter=_DELIMITER.value, missing_values=_MISSING_NAN.value)
  if read_info.get("header") is not None:
    print(f"note: line 1 skipped as a header: {read_info['header'][:80]!r}", file=sys.stderr)
  missing = None
  if _MISSING_NAN.value:
    missing = inputs.check_missing(np.isnan(np.asarray(X, dtype=float)), np.shape(X))
    X = inputs.fill_missing(X, missing)
  try:
    if model is None:
      X = inputs.check_matrix(X, method="rpca" if _METHOD.value == "rpca" else "vae")
    else:
      X = inputs.check_matrix(X, method="rpca", min_samples=1)
  except ValueError as e:
    if "NaN or Inf" in str(e):
      raise ValueError(f"{e}{_nonfinite_hint(np.asarray(X, dtype=float))}") from e
    raise
  if model is not None and X.shape[1] != model.n_features_in_:
    raise ValueError(f"--input has {X.shape[1]} columns, but the model {_MODEL.value!r} was "
                     f"fitted on d = {model.n_features_in_} columns")
  if _IMAGES.value:
    figure.image_side(X.shape[1])
  input_info = {**file_fingerprint(_INPUT.value), **read_info, "rows": int(X.shape[0]),
                "columns": int(X.shape[1])}
  return X, missing, input_info


def compute(X: np.ndarray, missing: np.ndarray | None, model: RobustEstimator | None):
  """(the decomposition, the fitted model to save or None): applies --model, or fits."""
  if model is not None:
    call: dict[str, Any] = {"threshold": _THRESHOLD.value if flags.FLAGS["threshold"].present
                            else None}
    if model.method == "vae":
      call["refine_steps"] = _REFINE_STEPS.value
    result = model.transform(X, missing=missing, **call)
    result.info["model_file"] = file_fingerprint(_MODEL.value)
    return result, None
  estimator = make_estimator(_METHOD.value)
  result = estimator.fit_transform(X, missing=missing, progress=not _QUIET.value)
  return result, estimator if _SAVE_MODEL.value is not None else None


def _abandon(stage: StagedOutput, message: str) -> None:
  """Leaves --output as it was and exits 1 after a failure to write."""
  stage.discard()
  print(f"error: {message}; {_OUTPUT.value!r} was left as it was", file=sys.stderr)
  sys.exit(1)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    _fail(f"unexpected arguments {argv[1:]}: every setting is a --flag=value (see --help)")
  warnings.showwarning = _show_warning
  if not flags.FLAGS["verbosity"].present:  # JAX's INFO lines (no TPU found, ...) are no news
    absl_logging.set_verbosity(absl_logging.WARNING)
  try:
    model = check_model_flags()
    X, missing, input_info = read_input(model)
    stage = _RUN["stage"] = StagedOutput(_OUTPUT.value, overwrite=_OVERWRITE.value)
  except ValueError as e:
    _fail(str(e))
  if stage.removed:
    print(f"note: removed {len(stage.removed)} staging folder(s) of {_OUTPUT.value!r} left by an "
          "interrupted run", file=sys.stderr)
  runtime.setup(compile_cache=True)
  try:
    try:
      result, fitted = compute(X, missing, model)
    except ValueError as e:
      stage.discard()
      _fail(str(e))
    if fitted is not None:
      try:
        fitted.save(_SAVE_MODEL.value, overwrite=_OVERWRITE.value)
        _RUN["saved_model"] = _SAVE_MODEL.value
        result.info["model_file"] = file_fingerprint(_SAVE_MODEL.value)
      except (OSError, ValueError) as e:  # nothing was written to --output either
        _abandon(stage, f"cannot save the model ({e})")
    try:
      save_outputs(stage, X, result, input_info=input_info, images=_IMAGES.value,
                   argv=list(sys.argv))
    except OSError as e:  # e.g. a full disk: nothing was written to --output
      _abandon(stage, f"cannot write the results ({e})")
  except BaseException:
    stage.discard()
    raise
  info = {k: v for k, v in result.info.items() if k != "loss_history"}
  info["output"] = stage.target
  print(json.dumps(info, indent=2, default=str))
  for line in fit_notes(info) if _MODEL.value is None else ():  # this run trained the model
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
  output = repr(_OUTPUT.value) if flags.FLAGS.is_parsed() and _OUTPUT.value else "--output"
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
    app.run(main, flags_parser=parse_flags)
  except (KeyboardInterrupt, Terminated) as e:
    stopped(e)
