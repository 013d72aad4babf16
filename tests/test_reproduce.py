"""reproduce.py: runs, resumes, isolates failures and computes verdicts from the summaries."""

import json
import os
import sys
import textwrap

import pytest

from hidden_talents.experiments import reproduce

_FAKE = """
import json, os
CALLS = []
def run(config, workdir):
  CALLS.append(workdir)
  if config["fail"]:
    raise RuntimeError("boom in " + config["name"])
  os.makedirs(workdir, exist_ok=True)
  s = {"slope_ratio": config["ratio"], "trial_at_smallest_alpha": -5.0,
       "affine_ppca_minimum": 1.0, "mc_check": [{"z_score": 0.5}]}
  with open(os.path.join(workdir, "summary.json"), "w") as f:
    json.dump(s, f)
  open(os.path.join(workdir, "fig.png"), "wb").close()
  return s
"""

_CFG = """
def get_config(preset):
  return {{"name": "{name}", "fail": {fail}, "ratio": {ratio}}}
"""


@pytest.fixture
def fake_experiments(tmp_path, monkeypatch):
  pkg = tmp_path / "fakepkg"
  pkg.mkdir()
  (pkg / "__init__.py").write_text("")
  (pkg / "exp.py").write_text(textwrap.dedent(_FAKE))
  specs = {"good": (False, 1.001), "wrong": (False, 1.5), "broken": (True, 1.0)}
  for name, (fail, ratio) in specs.items():
    (pkg / f"cfg_{name}.py").write_text(_CFG.format(name=name, fail=fail, ratio=ratio))
  monkeypatch.syspath_prepend(str(tmp_path))
  for m in [m for m in sys.modules if m.startswith("fakepkg")]:
    monkeypatch.delitem(sys.modules, m)
  verdicts = reproduce._degeneracy  # reads slope_ratio, trial/affine minimum and mc_check
  exps = [reproduce.Experiment(n, "fakepkg.exp", f"fakepkg.cfg_{n}", f"Title {n}", "claim", verdicts)
          for n in specs]
  exps.append(reproduce.Experiment("missing", "fakepkg.nothing_here", "fakepkg.cfg_good",
                                   "Title missing", "claim", verdicts))
  return exps


def test_reproduce_runs_reports_and_resumes(tmp_path, fake_experiments):
  wd = str(tmp_path / "wd")
  s = reproduce.run("quick", wd, experiments=fake_experiments, log=lambda m: None)
  e = s["experiments"]
  assert e["good"]["status"] == "ran" and e["wrong"]["status"] == "ran"
  assert e["broken"]["status"] == "failed" and "boom in broken" in e["broken"]["error"]
  assert e["missing"]["status"] == "unavailable"
  assert [v["ok"] for v in e["good"]["verdicts"]] == [True, True]
  assert e["wrong"]["verdicts"][0]["ok"] is False  # slope 1.5 × n(d−1): differs from Theorem 6
  report = open(os.path.join(wd, "report.md")).read()
  assert "boom in broken" in report and "![good/fig.png](good/fig.png)" in report
  assert "| [Title good](#good) | ran | 2 / 2 |" in report
  assert json.load(open(os.path.join(wd, "reproduce_summary.json")))["preset"] == "quick"
  # Resume: finished experiments are reused, the failed one is tried again.
  import fakepkg.exp as fake
  fake.CALLS.clear()
  s2 = reproduce.run("quick", wd, experiments=fake_experiments, log=lambda m: None)
  assert s2["experiments"]["good"]["status"] == "done (reused)"
  assert fake.CALLS == [os.path.join(wd, "broken")]


def test_reproduce_rejects_bad_arguments(tmp_path):
  with pytest.raises(ValueError, match="preset"):
    reproduce.run("huge", str(tmp_path / "a"))
  with pytest.raises(ValueError, match="unknown experiments"):
    reproduce.run("quick", str(tmp_path / "b"), only=["nope"])
  assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")


def test_every_registered_experiment_has_a_config_with_all_presets():
  for e in reproduce.EXPERIMENTS:
    try:
      cfg = __import__(e.config_module, fromlist=["get_config"])
    except ImportError:
      continue  # reported as unavailable by run()
    for preset in ("quick", "paper", "tiny"):
      cfg.get_config(preset)


def test_phase_transition_verdicts_follow_the_numbers():
  s = {"median_nmse": {"vae": 0.05, "ae_l2": 0.2, "rpca": 0.4},
       "frac_cells_below_0.1": {"vae": 0.6, "ae_l2": 0.3, "rpca": 0.0},
       "vae_sigma_z_frac_below_1e-2": 0.3, "vae_sigma_z_frac_near_1": 0.6,
       "fig4_first_nu_with_variance_above_0.5": 0.2, "failed_cells": []}
  v = reproduce._phase_transition(s)
  assert [x.ok for x in v] == [True, True, True, False]
  s["frac_cells_below_0.1"]["ae_l2"] = 0.7
  assert reproduce._phase_transition(s)[0].ok is False
