"""Robust decomposition X = L + S of your own matrix (samples as rows): the VAE as a nonlinear
robust PCA (Sec. 3, eqs. 12–13), or convex RPCA (eq. 14) with --method=rpca.

  python -m launch.decompose --input=data.npy --output=out_dir
  python -m launch.decompose --input=data.csv --output=out_dir --method=rpca
  python -m launch.decompose --input=train.npy --output=out_dir --save_model=model.npz
  python -m launch.decompose --input=new_rows.npy --output=out2 --model=model.npz  # no training

Writes into out_dir: L.npy (clean part), S.npy (= X − L, the dense residual), S_sparse.npy
(= where(mask, S, 0): the outliers), mask.npy (entries flagged as outliers), sample_scores.npy and
rows.csv (per row, counted from 1: flagged entries and their fraction), summary.json (every
setting, the seed, the input's path, size and sha256, how it was read) and summary.png (a few rows
of X, L and the mask side by side; --images draws them as √d × √d images).

Never loses or mixes up a result: a non-empty out_dir is refused unless --overwrite; the input is
read and checked and out_dir's writability is checked (a staging directory is created beside it)
before training; all files are written into the staging directory, which is renamed into place
at the end, so out_dir holds a whole result set or is left as it was.

Text input: the delimiter (comma, semicolon, tab, whitespace) is detected unless --delimiter; a
UTF-8 BOM and one trailing delimiter per line are stripped (with --missing_nan only when every
line ends with one; empty cells and NA / N/A / null / None are then missing values); a first
line without any number is skipped as a header by itself. --skip_header always drops line 1
(for headers of numbers) and warns when that line is numeric (it was probably a data row);
--noskip_header never drops it.

A fitted VAE is reused: --save_model=PATH writes it (one .npz: parameters, the column
standardisation, the residual scales, every setting) after training; --model=PATH loads one and
only applies it to --input (the same columns; any number of rows). Compiled programs are kept on
disk (JAX's persistent compilation cache in $HT_COMPILE_CACHE, default
~/.cache/hidden_talents/jax; HT_COMPILE_CACHE=off turns it off), so a second run with the same
settings and shapes does not compile.

Exit codes: 0 done; 2 any bad input, flag or setting (one line "error: …", no traceback, and
out_dir untouched); 1 a genuine crash (a traceback; out_dir untouched too).
"""


from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

import numpy as np
from absl import app, flags
from absl import logging as absl_logging

from hidden_talents import runtime
from hidden_talents.objectives.unified import DECODER_VARIANCES
from hidden_talents.robust import figure, inputs
from hidden_talents.robust.diagnostics import fit_notes
from hidden_talents.robust.estimators import RobustVAE
from hidden_talents.robust.matrix_file import file_fingerprint, read_matrix
from hidden_talents.robust.model_file import check_save_path
from hidden_talents.robust.outputs import StagedOutput, save_outputs
from hidden_talents.robust.settings import DEFAULTS
from hidden_talents.robust.shortcut import decompose

_INPUT = flags.DEFINE_string("input", None, "Data matrix: .npy, or .csv/.tsv/.txt of numbers; "
                             "samples as rows, dimensions as columns.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output directory; must be empty or absent unless "
                              "--overwrite. Written all-or-nothing after training.", required=True)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a non-empty --output (its old "
                               "contents are removed only once the new result set is complete) "
                               "and an existing --save_model file.")
_METHOD = flags.DEFINE_enum("method", "vae", ["vae", "rpca"], "VAE (nonlinear) or convex RPCA.")
_LATENT = flags.DEFINE_integer("latent_dim", None, "VAE latent dimension κ (at most d); default "
                               "min(20, max(1, d // 2)). Unneeded dimensions switch off.")
_STEPS = flags.DEFINE_integer(
    "steps", None, "VAE Adam steps (batches of 100 rows), run exactly; default "
    f"{DEFAULTS.epochs} passes over the rows, at least {DEFAULTS.steps} and at most "
    f"{DEFAULTS.max_steps} steps.")
_KL_WARMUP = flags.DEFINE_integer(
    "kl_warmup", None, "VAE KL warm-up: steps over which the KL weight rises 0 -> 1; default "
    f"{DEFAULTS.warmup_fraction:g} x --steps; 0 = none (the paper's protocol).", lower_bound=0)
_DECODER_VARIANCE = flags.DEFINE_enum(
    "decoder_variance", DEFAULTS.decoder_variance, list(DECODER_VARIANCES),
    "VAE decoder variance: 'optimal' (optimised out per entry: the paper's, and what flags "
    "outliers), 'learned' (a decoder head per entry) or 'shared' (one learned value).")
_ENCODER_CLIP = flags.DEFINE_float(
    "encoder_clip", None, "VAE encoder input winsorised to +-this many robust SDs of each column "
    f"(the data term sees the raw values); default {DEFAULTS.encoder_clip:g}; 0 = off (the "
    "paper's encoder). Guards columns whose MAD nearly vanishes (half their entries exactly 0).",
    lower_bound=0.0)
_REFINE_STEPS = flags.DEFINE_integer(
    "refine_steps", None, "VAE: Adam steps that refine each row's latent code on that row's own "
    "VAE cost (decoder fixed) before L is decoded; default "
    f"{DEFAULTS.refine_steps}; 0 = the encoder's mean (the paper's). With --model it may be "
    "changed.",
    lower_bound=0)
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed (recorded in summary.json).")
_THRESHOLD = flags.DEFINE_float(
    "threshold", DEFAULTS.threshold,
    "Outlier test k: entry (i, j) is flagged when its residual |x_ij - L_ij| exceeds k robust "
    "standard deviations of column j's residuals (1.4826 x median absolute deviation) and the "
    "decoder-variance floor sqrt(alpha) (the support of the decoder variance, eq. 12). Larger k "
    "flags fewer entries; 3 flags about 0.3 % of Gaussian inlier noise. No contamination "
    "fraction is needed.")
_SKIP_HEADER = flags.DEFINE_bool(
    "skip_header", None, "Text input: unset = skip line 1 only if none of its cells is a number; "
    "--skip_header = always drop line 1 (a header of numbers; warns, since a numeric line 1 may "
    "be data); --noskip_header = never.")
_DELIMITER = flags.DEFINE_string("delimiter", None, "Text input delimiter: ',', ';', 'tab' or "
                                 "'whitespace'; default: detected from the file.")
_IMAGES = flags.DEFINE_bool("images", False, "summary.png draws rows as sqrt(d) x sqrt(d) images "
                            "(d must be a square number).")
_QUIET = flags.DEFINE_bool("quiet", False, "No progress line (progress is on by default).")
_MISSING_NAN = flags.DEFINE_bool(
    "missing_nan", False, "NaN entries of --input are missing values (VAE only): left out of the "
    "fit, filled in L, 0 in S and never flagged; in text input empty cells and NA, N/A, null, "
    "None count as NaN too (pandas' to_csv). Without it a NaN is an error.")
_SAVE_MODEL = flags.DEFINE_string("save_model", None, "After training, save the fitted VAE to this "
                                  "file (.npz; written atomically) for --model. An existing file "
                                  "is refused unless --overwrite.")
_MODEL = flags.DEFINE_string("model", None, "Apply a VAE saved with --save_model to --input (its "
                             "columns must match): no training; --threshold may be changed, the "
                             "training flags do not apply.")
_TRAINING_FLAGS = ("method", "latent_dim", "steps", "seed", "kl_warmup", "decoder_variance",
                   "encoder_clip")
# Settings of the VAE alone: given with --method=rpca they change nothing, and a warning says so.
_VAE_ONLY_FLAGS = ("latent_dim", "steps", "kl_warmup", "decoder_variance", "encoder_clip",
                   "refine_steps")


_USAGE = __doc__


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


_HELP = ("help", "helpshort", "helpfull", "helpxml", "h", "?")


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, but every bad flag (unknown, malformed, missing) is one line and exit 2."""
  argv = [argv[0]] + ["--help" if a == "-h" else a for a in argv[1:]]
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:  # several missing flags come as several lines: one line here
    _fail(f"{'; '.join(str(e).splitlines())} (see --help)")
  except SystemExit as e:  # absl's --help prints the help, then exits 1: asking is no error
    if e.code == 1 and any(a.lstrip("-").split("=")[0] in _HELP for a in argv[1:]):
      sys.exit(0)
    raise


def _show_warning(message, category, filename, lineno, file=None, line=None):
  print(f"warning: {message}", file=sys.stderr)


def _given(names: tuple[str, ...]) -> list[str]:
  return [f"--{n}" for n in names if flags.FLAGS[n].present]


def check_model_flags() -> RobustVAE | None:
  """The saved model of --model (loaded), or None; refuses flags that do not go with --model or
  --save_model, and warns about VAE flags under --method=rpca."""
  if _MODEL.value is not None:
    given = [f for f in _given(_TRAINING_FLAGS)
             if not (f == "--method" and _METHOD.value == "vae")]
    if given or _SAVE_MODEL.value is not None:
      raise ValueError(f"--model applies a saved model without training: "
                       f"{', '.join(given or ['--save_model'])} cannot be used with it")
    return RobustVAE.load(_MODEL.value)
  if _SAVE_MODEL.value is not None:
    if _METHOD.value != "vae":
      raise ValueError("--save_model saves a VAE; --method=rpca fits no reusable model")
    check_save_path(_SAVE_MODEL.value)
    if os.path.exists(_SAVE_MODEL.value) and not _OVERWRITE.value:
      raise ValueError(f"--save_model {_SAVE_MODEL.value!r} already exists (a result may point "
                       "at it); pass --overwrite to replace it, or name another file")
  elif _METHOD.value == "rpca" and _given(_VAE_ONLY_FLAGS):
    warnings.warn(f"{', '.join(_given(_VAE_ONLY_FLAGS))} set the VAE and do nothing with "
                  "--method=rpca", stacklevel=1)
  return None


def read_input(model: RobustVAE | None) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
  """(X, missing mask or None, what summary.json records about the input), checked for the run
  the flags ask for — before any training."""
  X, read_info = read_matrix(_INPUT.value, skip_header=_SKIP_HEADER.value,
                             delimiter=_DELIMITER.value, missing_values=_MISSING_NAN.value)
  if read_info.get("header") is not None:
    print(f"note: line 1 skipped as a header: {read_info['header'][:80]!r}", file=sys.stderr)
  missing = None
  if _MISSING_NAN.value:
    if model is None and _METHOD.value != "vae":
      raise ValueError("--missing_nan needs --method=vae: convex RPCA here has no "
                       "missing-entry model")
    missing = inputs.check_missing(np.isnan(np.asarray(X, dtype=float)), np.shape(X))
    X = inputs.fill_missing(X, missing)
  try:
    if model is None:
      X = inputs.check_matrix(X, method=_METHOD.value)
    else:
      X = inputs.check_matrix(X, method="rpca", min_samples=1)
  except ValueError as e:
    if "NaN" in str(e):
      raise ValueError(f"{e}; pass --missing_nan if NaN marks missing values") from e
    raise
  if model is not None and X.shape[1] != model.n_features_in_:
    raise ValueError(f"--input has {X.shape[1]} columns, but the model {_MODEL.value!r} was "
                     f"fitted on d = {model.n_features_in_} columns")
  if _IMAGES.value:
    figure.image_side(X.shape[1])
  input_info = {**file_fingerprint(_INPUT.value), **read_info, "rows": int(X.shape[0]),
                "columns": int(X.shape[1])}
  return X, missing, input_info


def compute(X: np.ndarray, missing: np.ndarray | None, model: RobustVAE | None):
  """(the decomposition, the fitted VAE to save or None): applies --model, or fits."""
  progress = not _QUIET.value
  if model is not None:
    result = model.transform(X, missing=missing, threshold=_THRESHOLD.value
                             if flags.FLAGS["threshold"].present else None,
                             refine_steps=_REFINE_STEPS.value)
    result.info["model_file"] = file_fingerprint(_MODEL.value)
    return result, None
  vae_args = dict(latent_dim=_LATENT.value, steps=_STEPS.value, seed=_SEED.value,
                  threshold=_THRESHOLD.value, kl_warmup=_KL_WARMUP.value,
                  decoder_variance=_DECODER_VARIANCE.value, encoder_clip=_ENCODER_CLIP.value,
                  refine_steps=_REFINE_STEPS.value)
  if _SAVE_MODEL.value is not None:
    model = RobustVAE(**vae_args)
    return model.fit_transform(X, missing=missing, progress=progress), model
  return decompose(X, method=_METHOD.value, **vae_args, missing=missing,
                   progress=progress), None


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
    stage = StagedOutput(_OUTPUT.value, overwrite=_OVERWRITE.value)  # writable? before training
  except ValueError as e:
    _fail(str(e))
  runtime.setup(compile_cache=True)
  try:
    try:
      result, fitted = compute(X, missing, model)
    except ValueError as e:
      stage.discard()
      _fail(str(e))
    if fitted is not None:
      try:
        fitted.save(_SAVE_MODEL.value)
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
  for line in fit_notes(info) if _MODEL.value is None else ():  # this run trained the VAE
    print(f"note: {line}", file=sys.stderr)


def run() -> None:
  """The command line's entry point (``python -m launch.decompose``, ``hidden-talents-decompose``):
  --help shows this module's usage and flags."""
  sys.modules["__main__"].__doc__ = _USAGE  # absl prints the main module's docstring
  for flag in flags.FLAGS.get_flags_for_module(__name__):  # --help lists the main module's flags
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  app.run(main, flags_parser=parse_flags)
