"""MNIST latent-dimension pruning: Figure 2b (Sec. 5.2), nonzero W₁ columns vs κ.

  python -m launch.mnist_pruning --config=launch/configs/mnist_pruning.py:quick \
      --workdir=runs/mnist_pruning

Override fields with e.g. ``--config.kappas='(5,20)'``. Re-running the same command skips the
finished κ programs and resumes an interrupted one from its last checkpoint.
"""

from absl import app
from ml_collections import config_flags

from hidden_talents.experiments import mnist_pruning
from launch import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", "launch/configs/mnist_pruning.py:quick",
    "Experiment config file and preset (quick | paper | tiny).", lock_config=True)
_WORKDIR = common.define_workdir_flag()
_DISTRIBUTED = common.define_distributed_flags()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  common.run_and_report(mnist_pruning.run, _CONFIG.value, _WORKDIR.value, _DISTRIBUTED)


if __name__ == "__main__":
  app.run(main)
