"""The decompose command line's flags and their help text (:mod:`hidden_talents.robust.cli` runs
them): every flag, the groups of ``--help`` (required flags first), which method each flag
applies to, and absl's parsing with one ``error:`` line (exit 2) for a bad flag."""

from __future__ import annotations

import sys
import textwrap

from absl import flags

from hidden_talents.objectives.unified import DECODER_VARIANCES
from hidden_talents.rda import PENALTIES
from hidden_talents.robust.settings import DEFAULTS
from hidden_talents.robust.shortcut import METHODS

INPUT = flags.DEFINE_string("input", None, "Data matrix: .npy, or .csv/.tsv/.txt of numbers; "
                             "samples as rows.", required=True)
OUTPUT = flags.DEFINE_string("output", None, "Result directory: absent or empty unless "
                              "--overwrite; written all or nothing.", required=True)
METHOD = flags.DEFINE_enum("method", "vae", list(METHODS), "vae (nonlinear), rpca (convex, "
                            "linear) or rda (the robust deep autoencoder).")
OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a non-empty --output (once the new "
                               "result is complete) and an existing --save_model file.")
SEED = flags.DEFINE_integer("seed", 0, "PRNG seed (recorded in summary.json).")
THRESHOLD = flags.DEFINE_float(
    "threshold", DEFAULTS.threshold, "k: flags the entries beyond k robust standard deviations "
    "of their column's residuals (1.4826 x MAD) and beyond sqrt(alpha).")
ALPHA = flags.DEFINE_float("alpha", None, "Decoder variance floor (standardised units); default "
                            f"{DEFAULTS.alpha:g}, {DEFAULTS.tied_alpha:g} on tie-heavy data.")
MISSING_NAN = flags.DEFINE_bool("missing_nan", False, "NaN (and in text: empty, NA, N/A, null, "
                                 "None) marks missing values; without it a NaN is an error.")
QUIET = flags.DEFINE_bool("quiet", False, "No progress line.")
IMAGES = flags.DEFINE_bool("images", False, "summary.png draws rows as sqrt(d) x sqrt(d) images.")
SAVE_MODEL = flags.DEFINE_string("save_model", None, "Save the fitted VAE or RDA to this .npz "
                                  "(for --model).")
MODEL = flags.DEFINE_string("model", None, "Apply a model saved with --save_model (VAE or RDA) "
                             "to --input, no training; only --threshold and --refine_steps "
                             "apply.")
STEPS = flags.DEFINE_integer(
    "steps", None, f"Adam steps; default {DEFAULTS.epochs} passes over the rows, within "
    f"[{DEFAULTS.steps}, {DEFAULTS.max_steps}].")
LATENT = flags.DEFINE_integer("latent_dim", None, "Latent dimension (at most d); default "
                               "min(20, max(1, d // 2)).")
WIDTHS = flags.DEFINE_list("hidden_widths", None, "Hidden layer widths, e.g. 64,128; default "
                            "scaled with d.")
BATCH = flags.DEFINE_integer("batch_size", DEFAULTS.batch_size, "Rows per mini-batch.")
LR = flags.DEFINE_float("learning_rate", DEFAULTS.learning_rate, "Adam's step size.")
ENCODER_CLIP = flags.DEFINE_float(
    "encoder_clip", None, f"Encoder input clipped to +-this many robust SDs; default "
    f"{DEFAULTS.encoder_clip:g}; 0 = off.", lower_bound=0.0)
KL_WARMUP = flags.DEFINE_integer(
    "kl_warmup", None, f"Steps of KL warm-up (at most --steps); default "
    f"{DEFAULTS.warmup_fraction:g} x --steps; 0 = none.", lower_bound=0)
DECODER_VARIANCE = flags.DEFINE_enum(
    "decoder_variance", DEFAULTS.decoder_variance, list(DECODER_VARIANCES),
    "optimal (optimised out per entry: what flags outliers), learned or shared.")
REFINE_STEPS = flags.DEFINE_integer(
    "refine_steps", None, f"Adam steps refining each row's latent code; default "
    f"{DEFAULTS.refine_steps}; 0 = the encoder's mean.", lower_bound=0)
LAM = flags.DEFINE_float("lam", None, "RPCA: lambda of eq. 14 (standardised units), default "
                          "1/sqrt(max(n, d)); RDA: the threshold of S in robust SDs, default "
                          f"{DEFAULTS.rda_lam:g}.")
PENALTY = flags.DEFINE_enum("penalty", "l1", list(PENALTIES), "l1 (outlying entries) or l21 "
                             "(outlying rows).")
DELIMITER = flags.DEFINE_string("delimiter", None, "',', ';', 'tab' or 'whitespace'; default: "
                                 "detected.")
SKIP_HEADER = flags.DEFINE_bool(
    "skip_header", None, "Unset: skip line 1 only if it holds no number; --skip_header: always; "
    "--noskip_header: never.")

# --help's groups, in order (required flags first).
HELP_GROUPS = (
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
METAVAR = {"input": "FILE", "output": "DIR", "save_model": "FILE", "model": "FILE",
            "hidden_widths": "W1,W2,..."}
# The methods each method-specific flag sets; the other flags apply to every method.
APPLIES = {"latent_dim": ("vae", "rda"), "steps": ("vae", "rda"), "hidden_widths": ("vae", "rda"),
           "batch_size": ("vae", "rda"), "learning_rate": ("vae", "rda"),
           "encoder_clip": ("vae", "rda"), "kl_warmup": ("vae",), "decoder_variance": ("vae",),
           "refine_steps": ("vae",), "lam": ("rpca", "rda"), "penalty": ("rda",)}
NAMES = {"vae": "VAE", "rda": "RDA", "rpca": "RPCA"}
# Flags that shape a fit: refused with --model (which applies a fitted model as it is).
TRAINING_FLAGS = ("method", "latent_dim", "steps", "seed", "kl_warmup", "decoder_variance",
                   "encoder_clip", "alpha", "hidden_widths", "batch_size", "learning_rate", "lam",
                   "penalty")
HELP = ("help", "helpshort", "h", "?")
COLUMN = 32  # --help: where each flag's text starts


def fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def format_help(usage: str) -> str:
  """The usage text, then the flags by group, required ones first (``--help``, ``-h``)."""
  out = [textwrap.dedent(usage).strip(), "", "flags (--helpfull: absl's and JAX's too):"]
  for title, names in HELP_GROUPS:
    if title:
      out += ["", f" {title}:"]
    for name in names:
      f = flags.FLAGS[name]
      enum = getattr(f.parser, "enum_values", None)
      if f.boolean:
        syntax = f"--[no]{name}"
      else:
        syntax = f"--{name}=" + ("|".join(enum) if enum else METAVAR.get(name, "VALUE"))
      text = f.help.removeprefix(f"<{'|'.join(enum)}>: ") if enum else f.help
      if name in ("input", "output"):
        text = f"(required) {text}"
      elif f.default is not None and not f.boolean:
        text += f" Default: {f.default_as_str.strip(chr(39))}."
      if len(syntax) > COLUMN - 4:
        out.append(f"  {syntax}")
        syntax = ""
      out.append(textwrap.fill(text, width=100, initial_indent=f"  {syntax:<{COLUMN - 2}}",
                               subsequent_indent=" " * COLUMN, break_on_hyphens=False))
  return "\n".join(out)


def parse_flags(argv: list[str], usage: str) -> list[str]:
  """absl's parsing, but ``--help``/``-h`` print :func:`format_help` and exit 0, and every bad flag
  (unknown, malformed, missing) is one line and exit 2."""
  if any(a.lstrip("-").split("=")[0] in HELP for a in argv[1:] if a.startswith("-")):
    print(format_help(usage))
    sys.exit(0)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:  # several missing flags come as several lines: one line here
    fail(f"{'; '.join(str(e).splitlines())} (see --help)")
  except SystemExit as e:  # absl's --helpfull prints the help, then exits 1: asking is no error
    if e.code == 1 and any(a.lstrip("-").split("=")[0] in ("helpfull", "helpxml")
                           for a in argv[1:]):
      sys.exit(0)
    raise
