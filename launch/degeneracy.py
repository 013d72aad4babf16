r"""Theorem 6 (Sec. 4): the degeneracy of an over-flexible decoder mean.

  python -m launch.degeneracy --config=launch/configs/degeneracy.py:quick \
      --workdir=runs/degeneracy
"""

from hidden_talents.experiments import degeneracy
from launch import common

if __name__ == "__main__":
  common.run_experiment(degeneracy.run, __doc__, "launch/configs/degeneracy.py")
