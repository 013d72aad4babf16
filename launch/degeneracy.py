"""Theorem 6 (Sec. 4): the degeneracy of an over-flexible decoder mean.

  python -m launch.degeneracy --config=launch/configs/degeneracy.py:quick \
      --workdir=runs/degeneracy
"""

from absl import app
from ml_collections import config_flags

from hidden_talents.experiments import degeneracy
from launch import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", "launch/configs/degeneracy.py:quick", "Config file and preset.", lock_config=True)
_WORKDIR = common.define_workdir_flag()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.run_and_report(degeneracy.run, _CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
