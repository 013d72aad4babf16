"""Every experiment of the paper, then one report (``report.md``) beside the paper's claims.

  python -m launch.reproduce --preset=quick --workdir=runs/reproduce

Each experiment runs in ``<workdir>/<name>`` with its own config preset; finished experiments are
skipped when the command is repeated, and a failed one is reported without stopping the others.
"""

import sys

from absl import flags

from hidden_talents.experiments import reproduce
from launch import common

_PRESET = flags.DEFINE_enum("preset", "quick", list(reproduce.PRESETS),
                            "Config preset for every experiment: quick (2 CPU cores), paper (GPU "
                            "sizes) or tiny (smoke test).")
_ONLY = flags.DEFINE_list("only", [], "Run only these experiments (comma-separated names: "
                          + ", ".join(e.name for e in reproduce.EXPERIMENTS) + ").")
_WORKDIR = common.define_workdir_flag(
    "Directory of the report (report.md, reproduce_summary.json) and of one run directory per "
    "experiment (created if absent). Rerunning the same command reuses finished experiments.")


def main() -> None:
  workdir = common.check_workdir(_WORKDIR.value)
  s = reproduce.run(_PRESET.value, workdir, only=_ONLY.value,
                    log=lambda m: print(m, file=sys.stderr, flush=True))
  for name, e in s["experiments"].items():
    print(f"{name}: {e['status']}")
    for v in e["verdicts"]:
      mark = {True: "agrees", False: "DIFFERS", None: "undecided"}[v["ok"]]
      print(f"  [{mark}] {v['measured']}")
  print(f"report: {workdir}/report.md")


if __name__ == "__main__":
  common.run_app(main, __doc__, ["workdir", "preset", "only"])
