r"""Affine-decoder VAE theory demo (Lemma 1, Theorem 2, Corollary 3).

  python -m launch.affine_theory --config=launch/configs/affine_theory.py:quick \
      --workdir=runs/affine_theory
"""

from hidden_talents.experiments import affine_theory
from launch import common

if __name__ == "__main__":
  common.run_experiment(affine_theory.run, __doc__, "launch/configs/affine_theory.py")
