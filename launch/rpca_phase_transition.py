"""Linear phase transition of convex RPCA (PCP, eq. 14) over rank × outlier fraction.

  python -m launch.rpca_phase_transition \
      --config=launch/configs/rpca_phase_transition.py:quick --workdir=runs/rpca_pt

About 20 s on 2 idle CPU cores for ``quick``; see the config file for the other presets.
"""

from absl import app
from ml_collections import config_flags

from hidden_talents.experiments import rpca_phase_transition
from launch import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", "launch/configs/rpca_phase_transition.py:quick",
    "Experiment config file and preset (quick | paper | fig1 | tiny).", lock_config=True)
_WORKDIR = common.define_workdir_flag()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.run_and_report(rpca_phase_transition.run, _CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
