"""Every experiment of the paper, then one report (``report.md``) beside the paper's claims.

  python -m launch.reproduce --preset=quick --workdir=runs/reproduce

Each experiment runs in ``<workdir>/<name>`` with its own config preset; finished experiments are
skipped when the command is repeated, and a failed one is reported without stopping the others.
"""

import sys

from absl import app, flags

from hidden_talents.experiments import reproduce
from launch import common

_PRESET = flags.DEFINE_enum("preset", "quick", list(reproduce.PRESETS),
                            "Config preset for every experiment: quick (2 CPU cores), paper (GPU "
                            "sizes) or tiny (smoke test).")
_ONLY = flags.DEFINE_list("only", [], "Run only these experiments (comma-separated names: "
                          + ", ".join(e.name for e in reproduce.EXPERIMENTS) + ").")
_WORKDIR = common.define_workdir_flag()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    s = reproduce.run(_PRESET.value, _WORKDIR.value, only=_ONLY.value,
                      log=lambda m: print(m, file=sys.stderr, flush=True))
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  for name, e in s["experiments"].items():
    print(f"{name}: {e['status']}")
    for v in e["verdicts"]:
      mark = {True: "agrees", False: "DIFFERS", None: "undecided"}[v["ok"]]
      print(f"  [{mark}] {v['measured']}")
  print(f"report: {_WORKDIR.value}/report.md")


if __name__ == "__main__":
  app.run(main)
