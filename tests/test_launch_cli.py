"""Every ``python -m launch.<x>`` sweep script follows one command-line convention
(launch/common.py): --help / -h exit 0 with the script's own flags first, --show_config prints the
resolved config, usage errors are one ``error:`` line with exit 2 and write nothing, a finished
run directory is left as it was, and JAX's INFO lines stay hidden. Each case runs the script as a
subprocess."""

import ast
import importlib
import json
import os
import subprocess
import sys

import pytest

from hidden_talents import io
from launch import common

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ("affine_theory", "budget_report", "degeneracy", "latent_pruning",
           "linear_phase_transition", "mnist_denoising", "mnist_pruning", "phase_transition",
           "reproduce", "rpca_phase_transition")
PT = "--config=launch/configs/phase_transition.py:tiny"
RPCA = "--config=launch/configs/rpca_phase_transition.py:tiny"


def _run(script, *args, timeout=300):
  return subprocess.run([sys.executable, "-m", f"launch.{script}", *map(str, args)], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout)


def _assert_usage_error(out, *fragments):
  """Exit 2, one ``error:`` line naming ``fragments``, no traceback, nothing on stdout."""
  lines = out.stderr.splitlines()
  assert out.returncode == 2, out.stderr[-3000:]
  assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-3000:]
  assert out.stdout == ""
  for f in fragments:
    assert f in lines[0], lines[0]


def _snapshot(path):
  """Every file under ``path`` with its bytes and modification time."""
  out = {}
  for root, _, files in os.walk(path):
    for f in files:
      p = os.path.join(root, f)
      with open(p, "rb") as fh:
        out[os.path.relpath(p, path)] = (fh.read(), os.stat(p).st_mtime_ns)
  return out


def test_every_launch_script_uses_the_shared_entry_point():
  """Each sweep script's ``__main__`` block is one call of common.run_experiment or run_app, so
  the convention tested below on a few scripts holds for all of them."""
  for name in SCRIPTS:
    tree = ast.parse(open(os.path.join(REPO, "launch", f"{name}.py")).read())
    main = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert len(main) == 1, name
    calls = [ast.unparse(c.value.func) for c in main[0].body if isinstance(c, ast.Expr)]
    assert calls in (["common.run_experiment"], ["common.run_app"]), (name, calls)
    assert "app.run" not in ast.unparse(tree), name


def test_config_presets_are_the_ones_get_config_accepts():
  """--help lists each config file's presets (read from its ``preset == "NAME"`` branches): every
  listed preset loads and a name outside the list is refused."""
  for name in SCRIPTS:
    path = os.path.join("launch", "configs", f"{name}.py")
    if not os.path.exists(os.path.join(REPO, path)):
      continue
    presets = common.config_presets(os.path.join(REPO, path))
    assert "quick" in presets and "tiny" in presets, (name, presets)
    get_config = importlib.import_module(f"launch.configs.{name}").get_config
    for p in presets:
      assert get_config(p) is not None
    with pytest.raises(ValueError, match="unknown preset"):
      get_config("no_such_preset")


@pytest.mark.parametrize("args,fragments", [
    ((PT, "--config.num_step=60"), ("--config.num_step", "did you mean 'num_steps'")),
    # Without --config the default config is parsed when the flag is defined: the same line.
    (("--config.num_step=60",), ("--config.num_step", "did you mean 'num_steps'")),
    ((PT, "--config.foo=1"), ("--config.foo", "no field 'foo'", "--show_config")),
    ((PT, "--config.fig4.foo=1"), ("--config.fig4.foo", "no field 'foo'")),
    ((PT, "--config.kappas.x=1"), ("--config.kappas.x", "does not fit the config")),
])
def test_unknown_config_field_is_one_line_with_the_suggestion(tmp_path, args, fragments):
  wd = tmp_path / "wd"
  _assert_usage_error(_run("phase_transition", *args, f"--workdir={wd}"), *fragments)
  assert not wd.exists()


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_the_scripts_own_flags_first_and_exits_0(flag):
  out = _run("phase_transition", flag)
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stderr == ""
  lines = out.stdout.splitlines()
  assert lines[0].startswith("The phase-transition sweep")
  flag_lines = [s.split()[0] for s in lines[lines.index("flags:") + 1:] if s.startswith("  --")]
  assert flag_lines[:4] == ["--workdir=DIR", "--config=FILE:PRESET", "--[no]show_config",
                            "--distributed=auto|on|off"]
  assert {"--coordinator_address=HOST:PORT", "--num_processes=N", "--process_id=I",
          "--config.FIELD=VALUE"} <= set(flag_lines)
  assert "--workdir=DIR  (required)" in out.stdout
  assert "tiny" in out.stdout and "matched" in out.stdout  # the presets, from the config file
  assert "--logtostderr" not in out.stdout and len(lines) < 60  # not absl's hundreds of flags


@pytest.mark.parametrize("script,flags", [
    ("reproduce", ["--workdir=DIR", "--preset=quick|paper|tiny", "--only=NAME[,NAME...]"]),
    ("budget_report", ["--workdir=DIR"]),
])
def test_help_of_the_other_scripts(script, flags):
  out = _run(script, "-h")
  assert out.returncode == 0, out.stderr[-3000:]
  lines = out.stdout.splitlines()
  flag_lines = [s.split()[0] for s in lines[lines.index("flags:") + 1:] if s.startswith("  --")]
  assert flag_lines == [*flags, "--helpfull"]
  assert "--workdir=DIR  (required)" in out.stdout


def test_helpfull_exits_0():
  out = _run("budget_report", "--helpfull")
  assert out.returncode == 0, out.stderr[-3000:]
  assert "--workdir" in out.stdout


def test_show_config_prints_the_resolved_config_and_writes_nothing(tmp_path):
  wd = tmp_path / "wd"
  out = _run("rpca_phase_transition", RPCA, "--config.seed=7", "--show_config", f"--workdir={wd}")
  assert out.returncode == 0, out.stderr[-3000:]
  from launch.configs.rpca_phase_transition import get_config
  want = get_config("tiny")
  want.seed = 7
  assert json.loads(out.stdout) == json.loads(json.dumps(io.to_jsonable(want)))
  assert out.stderr == "" and not wd.exists()
  # --workdir is not needed to look at a config.
  assert _run("rpca_phase_transition", RPCA, "--show_config").returncode == 0


def test_a_bug_in_a_config_file_is_a_crash_exit_1(tmp_path):
  """Exit 1 with the traceback: an error inside ``get_config`` that is no usage error is not
  reported as one (not as an unknown field either)."""
  cfg = tmp_path / "broken.py"
  cfg.write_text("import ml_collections\n\ndef get_config(preset):\n"
                 "  return ml_collections.ConfigDict().no_such_attribute\n")
  out = _run("rpca_phase_transition", f"--config={cfg}:tiny", f"--workdir={tmp_path / 'wd'}")
  assert out.returncode == 1, out.stderr[-3000:]
  assert "Traceback" in out.stderr and "no_such_attribute" in out.stderr
  assert not (tmp_path / "wd").exists()


@pytest.mark.parametrize("script,args,fragments", [
    ("phase_transition", ("--config=launch/configs/phase_transition.py:nosuch",),
     ("unknown preset 'nosuch'", "tiny")),
    ("phase_transition", ("--config=no_such_file.py:tiny",),
     ("--config", "No such file or directory")),
    ("phase_transition", (PT, "--distributed=maybe"), ("--distributed=maybe", "auto|on|off")),
    ("phase_transition", (PT, "--config.num_steps=abc"), ("--config.num_steps=abc",)),
    ("phase_transition", (PT, "--confg=x"), ("confg",)),
    ("phase_transition", (PT, "extra"), ("unexpected arguments ['extra']",)),
    ("reproduce", ("--preset=nosuch",), ("--preset=nosuch", "quick|paper|tiny")),
    ("reproduce", ("--preset=tiny", "--only=nosuch"), ("unknown experiments ['nosuch']",)),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, script, args, fragments):
  wd = tmp_path / "wd"
  _assert_usage_error(_run(script, *args, f"--workdir={wd}"), *fragments)
  assert not wd.exists()


@pytest.mark.parametrize("script", ["rpca_phase_transition", "reproduce", "budget_report"])
def test_missing_workdir_is_one_line(script):
  _assert_usage_error(_run(script), "--workdir is required")


def test_budget_report_refuses_a_directory_without_learning_curves(tmp_path):
  io.atomic_write_npz(str(tmp_path / "results.npz"), {"nmse_mean": [0.5]})
  io.atomic_write_json(str(tmp_path / "summary.json"), {"wall_seconds": 1.0})
  _assert_usage_error(_run("budget_report", f"--workdir={tmp_path}"),
                      "results.npz lacks curve_steps")
  _assert_usage_error(_run("budget_report", f"--workdir={tmp_path / 'absent'}"),
                      "is not a directory")


@pytest.mark.parametrize("script,args", [
    ("rpca_phase_transition", (RPCA,)),
    ("reproduce", ("--preset=tiny", "--only=degeneracy")),
])
def test_workdir_that_is_a_file_is_one_line(tmp_path, script, args):
  f = tmp_path / "afile"
  f.write_bytes(b"keep me")
  _assert_usage_error(_run(script, *args, f"--workdir={f}"), "is a file, not a directory")
  _assert_usage_error(_run(script, *args, f"--workdir={f / 'sub'}"), "cannot be created")
  assert f.read_bytes() == b"keep me"


def _fake_finished_run(wd, seed=None):
  """A run directory as rpca_phase_transition's tiny preset leaves it, with recognisable
  timings: a rerun that ran anything would rewrite summary.json."""
  from launch.configs.rpca_phase_transition import get_config
  config = get_config("tiny")
  io.start_run(str(wd), config)
  io.atomic_write_npz(str(wd / "results.npz"), {"train_seconds": 69.9})
  (wd / "rpca_nmse.png").write_bytes(b"figure")
  summary = {"wall_seconds": 69.9, "success_fraction": 0.3125}
  io.atomic_write_json(str(wd / "summary.json"), summary)
  return summary


def test_finished_workdir_is_reported_and_left_as_it_was(tmp_path):
  wd = tmp_path / "wd"
  summary = _fake_finished_run(wd)
  before = _snapshot(wd)
  out = _run("rpca_phase_transition", RPCA, f"--workdir={wd}")
  assert out.returncode == 0, out.stderr[-3000:]
  assert json.loads(out.stdout) == summary
  note = out.stderr.splitlines()
  assert len(note) == 1 and "finished run of this config" in note[0], out.stderr
  assert _snapshot(wd) == before


def test_finished_workdir_of_another_config_is_refused(tmp_path):
  """An override makes another config: not 'finished'; the run directory's results belong to
  the first config, so the run is refused (one line) and nothing changes."""
  wd = tmp_path / "wd"
  _fake_finished_run(wd)
  before = _snapshot(wd)
  _assert_usage_error(_run("rpca_phase_transition", RPCA, "--config.seed=99", f"--workdir={wd}"),
                      "holds results of another config", "seed")
  assert _snapshot(wd) == before


def test_finished_summary_needs_the_exact_config(tmp_path):
  from launch.configs.rpca_phase_transition import get_config
  wd = tmp_path / "wd"
  summary = _fake_finished_run(wd)
  config = get_config("tiny")
  assert io.finished_summary(str(wd), config) == summary
  config.seed = 99
  assert io.finished_summary(str(wd), config) is None
  os.remove(wd / "summary.json")  # an interrupted run: config.json and results, no summary
  assert io.finished_summary(str(wd), get_config("tiny")) is None
  assert io.finished_summary(str(tmp_path / "absent"), get_config("tiny")) is None


def test_run_hides_info_lines_and_a_rerun_changes_nothing(tmp_path):
  """A real tiny RPCA sweep (a few seconds): nothing on stderr (JAX's "Unable to initialize
  backend" and absl's I-lines are hidden), the summary on stdout; the same command again trains
  nothing and leaves every file byte for byte, timings included."""
  wd = tmp_path / "wd"
  out = _run("rpca_phase_transition", RPCA, f"--workdir={wd}")
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stderr == ""
  first = json.loads(out.stdout)
  before = _snapshot(wd)
  assert {"config.json", "results.npz", "summary.json", "rpca_nmse.png"} <= set(before)
  again = _run("rpca_phase_transition", RPCA, f"--workdir={wd}")
  assert again.returncode == 0, again.stderr[-3000:]
  assert json.loads(again.stdout)["wall_seconds"] == pytest.approx(first["wall_seconds"], 1e-3)
  assert _snapshot(wd) == before
