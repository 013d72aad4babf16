r"""Figure 5 (App. A): MNIST denoising, VAE (τ = 1 and 5) vs convex RPCA.

  python -m launch.mnist_denoising --config=launch/configs/mnist_denoising.py:quick \
      --workdir=runs/mnist_denoising

Override fields with e.g. ``--config.nus='(0.1,0.3)'``. Re-running the same command resumes an
interrupted run and reuses finished sweeps.
"""

from hidden_talents.experiments import mnist_denoising
from launch import common

if __name__ == "__main__":
  common.run_experiment(mnist_denoising.run, __doc__,
                        "launch/configs/mnist_denoising.py", distributed=True)
