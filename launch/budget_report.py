"""The budget study's report from a finished phase-transition run directory (markdown to stdout).

  python -m launch.budget_report --workdir=runs/budget_mean
"""

import os

from absl import app, flags

from hidden_talents import io
from hidden_talents.experiments import budget

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished phase_transition run directory.",
                               required=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  wd = _WORKDIR.value
  for f in ("results.npz", "summary.json"):
    if not os.path.exists(os.path.join(wd, f)):
      raise app.UsageError(f"{wd} has no {f}: run launch.phase_transition there first")
  print(budget.report(io.load_npz(os.path.join(wd, "results.npz")),
                      io.read_json(os.path.join(wd, "summary.json"))), end="")


if __name__ == "__main__":
  app.run(main)
