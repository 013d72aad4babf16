"""The budget study's report from a finished phase-transition run directory (markdown to stdout).

  python -m launch.budget_report --workdir=runs/budget_mean
"""

import os

from absl import flags

from hidden_talents import io
from hidden_talents.experiments import budget
from launch import common

# The arrays of a phase-transition run that the report reads (learning curves included).
_NEEDED = ("curve_steps", "cell_curve_nmse", "cell_nmse", "cell_model", "cell_c2", "cell_kappa",
           "cell_nu", "cell_converged", "kappas", "nus", "input_nmse")
_WORKDIR = common.mark_required(flags.DEFINE_string(
    "workdir", None, "A finished launch.phase_transition run directory (results.npz and "
    "summary.json); read only."))


def main() -> None:
  wd = common.require(_WORKDIR)
  if not os.path.isdir(wd):
    raise ValueError(f"--workdir {wd!r} is not a directory")
  for f in ("results.npz", "summary.json"):
    if not os.path.exists(os.path.join(wd, f)):
      raise ValueError(f"{wd} has no {f}: run launch.phase_transition there first")
  results = io.load_npz(os.path.join(wd, "results.npz"))
  missing = [k for k in _NEEDED if k not in results]
  if missing:
    more = f" and {len(missing) - 2} more" if len(missing) > 2 else ""
    raise ValueError(f"{wd}/results.npz lacks {', '.join(missing[:2])}{more}: the report needs "
                     "a finished launch.phase_transition run with learning curves (eval_every > 0)")
  print(budget.report(results, io.read_json(os.path.join(wd, "summary.json"))), end="")


if __name__ == "__main__":
  common.run_app(main, __doc__, ["workdir"])
