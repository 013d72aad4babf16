r"""Linear phase transition of convex RPCA (PCP, eq. 14) over rank × outlier fraction.

  python -m launch.rpca_phase_transition \
      --config=launch/configs/rpca_phase_transition.py:quick --workdir=runs/rpca_pt

About 20 s on 2 idle CPU cores for ``quick``; see the config file for the other presets.
"""

from hidden_talents.experiments import rpca_phase_transition
from launch import common

if __name__ == "__main__":
  common.run_experiment(rpca_phase_transition.run, __doc__,
                        "launch/configs/rpca_phase_transition.py")
