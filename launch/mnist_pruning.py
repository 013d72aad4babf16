r"""MNIST latent-dimension pruning: Figure 2b (Sec. 5.2), nonzero W₁ columns vs κ.

  python -m launch.mnist_pruning --config=launch/configs/mnist_pruning.py:quick \
      --workdir=runs/mnist_pruning

Override fields with e.g. ``--config.kappas='(5,20)'``. Re-running the same command skips the
finished κ programs and resumes an interrupted one from its last checkpoint.
"""

from hidden_talents.experiments import mnist_pruning
from launch import common

if __name__ == "__main__":
  common.run_experiment(mnist_pruning.run, __doc__,
                        "launch/configs/mnist_pruning.py", distributed=True)
