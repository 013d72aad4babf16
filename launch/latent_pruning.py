r"""Latent-dimension pruning on a synthetic manifold: Table 1 and Figure 2a (Sec. 5.2).

  python -m launch.latent_pruning --config=launch/configs/latent_pruning.py:quick \
      --workdir=runs/latent_pruning

Override fields with e.g. ``--config.num_trials=5``. Re-running the same command skips the
finished (Ne, Nd) programs and resumes an interrupted one from its last checkpoint.
"""

from hidden_talents.experiments import latent_pruning
from launch import common

if __name__ == "__main__":
  common.run_experiment(latent_pruning.run, __doc__,
                        "launch/configs/latent_pruning.py", distributed=True)
