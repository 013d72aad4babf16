"""Affine-decoder VAE theory demo (Lemma 1, Theorem 2, Corollary 3).

  python -m launch.affine_theory --config=launch/configs/affine_theory.py:quick \
      --workdir=runs/affine_theory
"""

from absl import app
from ml_collections import config_flags

from hidden_talents.experiments import affine_theory
from launch import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", "launch/configs/affine_theory.py:quick", "Config file and preset.", lock_config=True)
_WORKDIR = common.define_workdir_flag()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.run_and_report(affine_theory.run, _CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
