r"""Theorem 4 in practice: partially affine VAE vs its AE limit vs convex PCP (Sec. 3).

  python -m launch.linear_phase_transition \
      --config=launch/configs/linear_phase_transition.py:quick --workdir=runs/linear_pt

Override fields with e.g. ``--config.ranks='(2,4)' --config.nus='(0.1,0.3)'``. Re-running the
same command resumes an interrupted run from its last checkpoint.
"""

from hidden_talents.experiments import linear_phase_transition
from launch import common

if __name__ == "__main__":
  common.run_experiment(linear_phase_transition.run, __doc__,
                        "launch/configs/linear_phase_transition.py", distributed=True)
