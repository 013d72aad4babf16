"""Robust decomposition X = L + S of your own matrix (samples as rows): the VAE as a nonlinear
robust PCA (Sec. 3, eqs. 12–13), or convex RPCA (eq. 14) with --method=rpca.

  python -m launch.decompose --input=data.npy --output=out_dir
  python -m launch.decompose --input=data.csv --skip_header --output=out_dir --method=rpca

Writes L.npy (clean part), S.npy (= X − L), mask.npy (entries flagged as outliers),
sample_scores.npy (fraction flagged per sample), summary.json and summary.png into out_dir. The
input is validated and the model trained before out_dir is created; each file is written
atomically. Columns are robustly standardised for training and L is returned in X's units.
"""

import json
import os
import sys

from absl import app, flags

from hidden_talents.decompose import decompose, load_matrix, save_outputs

_INPUT = flags.DEFINE_string("input", None, "Data matrix: .npy, or .csv/.tsv/.txt of numbers; "
                             "samples as rows, dimensions as columns.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output directory (created after the input has "
                              "been checked and the decomposition computed).", required=True)
_METHOD = flags.DEFINE_enum("method", "vae", ["vae", "rpca"], "VAE (nonlinear) or convex RPCA.")
_LATENT = flags.DEFINE_integer("latent_dim", None, "VAE latent dimension κ; default "
                               "min(20, max(1, d // 2)). Unneeded dimensions switch off.")
_STEPS = flags.DEFINE_integer("steps", 3000, "VAE Adam steps (batches of 100 rows).")
_SEED = flags.DEFINE_integer("seed", 0, "PRNG seed.")
_THRESHOLD = flags.DEFINE_float("threshold", 3.0, "Outlier test: |residual| > threshold × "
                                "robust per-column noise scale (and > √α).")
_SKIP_HEADER = flags.DEFINE_bool("skip_header", False, "The first CSV line holds column names.")
_QUIET = flags.DEFINE_bool("quiet", False, "No progress bar.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  out = _OUTPUT.value
  try:
    if os.path.exists(out) and not os.path.isdir(out):
      raise ValueError(f"--output {out!r} exists and is not a directory")
    X = load_matrix(_INPUT.value, skip_header=_SKIP_HEADER.value)
    result = decompose(X, method=_METHOD.value, latent_dim=_LATENT.value, steps=_STEPS.value,
                       seed=_SEED.value, threshold=_THRESHOLD.value, progress=not _QUIET.value)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  save_outputs(out, X, result)
  info = {k: v for k, v in result.info.items() if k != "loss_history"}
  print(json.dumps(info, indent=2, default=str))


if __name__ == "__main__":
  app.run(main)
