r"""The phase-transition sweep (Figures 1, 3, 4 of Sec. 5).

  python -m launch.phase_transition --config=launch/configs/phase_transition.py:quick \
      --workdir=runs/phase_transition

Override fields with e.g. ``--config.kappas='(2,4)' --config.nus='(0.1,0.3)'``. Re-running the
same command resumes an interrupted run from its last checkpoint.
"""

from hidden_talents.experiments import phase_transition
from launch import common

if __name__ == "__main__":
  common.run_experiment(phase_transition.run, __doc__,
                        "launch/configs/phase_transition.py", distributed=True)
