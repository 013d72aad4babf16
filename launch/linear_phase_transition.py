"""Theorem 4 in practice: partially affine VAE vs its AE limit vs convex PCP (Sec. 3).

  python -m launch.linear_phase_transition \
      --config=launch/configs/linear_phase_transition.py:quick --workdir=runs/linear_pt

Override fields with e.g. ``--config.ranks='(2,4)' --config.nus='(0.1,0.3)'``. Re-running the
same command resumes an interrupted run from its last checkpoint.
"""

from absl import app
from ml_collections import config_flags

from hidden_talents.experiments import linear_phase_transition
from launch import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", "launch/configs/linear_phase_transition.py:quick",
    "Experiment config file and preset (quick | paper | tiny).", lock_config=True)
_WORKDIR = common.define_workdir_flag()
_DISTRIBUTED = common.define_distributed_flags()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.run_and_report(linear_phase_transition.run, _CONFIG.value, _WORKDIR.value, _DISTRIBUTED)


if __name__ == "__main__":
  app.run(main)
