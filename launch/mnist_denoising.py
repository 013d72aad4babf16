"""Figure 5 (App. A): MNIST denoising, VAE (τ = 1 and 5) vs convex RPCA.

  python -m launch.mnist_denoising --config=launch/configs/mnist_denoising.py:quick \
      --workdir=runs/mnist_denoising

Override fields with e.g. ``--config.nus='(0.1,0.3)'``. Re-running the same command resumes an
interrupted run and reuses finished sweeps.
"""

from absl import app
from ml_collections import config_flags

from hidden_talents.experiments import mnist_denoising
from launch import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", "launch/configs/mnist_denoising.py:quick",
    "Experiment config file and preset (quick | paper | tiny).", lock_config=True)
_WORKDIR = common.define_workdir_flag()
_DISTRIBUTED = common.define_distributed_flags()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.run_and_report(mnist_denoising.run, _CONFIG.value, _WORKDIR.value, _DISTRIBUTED)


if __name__ == "__main__":
  app.run(main)
