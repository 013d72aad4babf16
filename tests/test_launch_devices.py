"""launch/__init__.py: one forced host device per core, only when a launch module runs as -m."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PROBE = ("import sys; sys.argv[:1] = [{argv0!r}]; import launch, os; "
          "print(os.environ.get('XLA_FLAGS'))")


def _xla_flags(argv0: str, env_flags: str | None) -> str:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  if env_flags is not None:
    env["XLA_FLAGS"] = env_flags
  out = subprocess.run([sys.executable, "-c", _PROBE.format(argv0=argv0)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60, check=True)
  return out.stdout.strip()


def test_python_dash_m_gets_one_host_device_per_core():
  cores = len(os.sched_getaffinity(0))
  flags = _xla_flags("-m", None)
  if cores > 1:
    assert flags == f"--xla_force_host_platform_device_count={cores}"
  else:
    assert flags == "None"
  # Other XLA flags are kept.
  if cores > 1:
    assert _xla_flags("-m", "--xla_cpu_enable_fast_math=false") == (
        f"--xla_cpu_enable_fast_math=false --xla_force_host_platform_device_count={cores}")


def test_an_explicit_device_count_and_plain_imports_are_left_alone():
  assert _xla_flags("-m", "--xla_force_host_platform_device_count=1") == (
      "--xla_force_host_platform_device_count=1")
  assert _xla_flags("pytest", None) == "None"  # tests and other importers: unchanged


_CACHE_PROBE = ("import sys; sys.argv[:1] = [{argv0!r}]; import launch, os; "
                "print(os.environ.get('JAX_COMPILATION_CACHE_DIR'))")


def _cache_dir(argv0: str, **env_set: str) -> str:
  env = {k: v for k, v in os.environ.items()
         if k not in ("JAX_COMPILATION_CACHE_DIR", "HT_COMPILE_CACHE", "XDG_CACHE_HOME")}
  env.update(env_set)
  out = subprocess.run([sys.executable, "-c", _CACHE_PROBE.format(argv0=argv0)], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=60, check=True)
  return out.stdout.strip()


def test_persistent_compilation_cache_for_launch_scripts_only(tmp_path):
  assert _cache_dir("-m", XDG_CACHE_HOME=str(tmp_path)) == str(tmp_path / "hidden_talents" / "jax")
  assert _cache_dir("-m", HT_COMPILE_CACHE=str(tmp_path / "c")) == str(tmp_path / "c")
  assert _cache_dir("-m", HT_COMPILE_CACHE="off") == "None"
  assert _cache_dir("-m", JAX_COMPILATION_CACHE_DIR="/x") == "/x"  # the user's setting wins
  assert _cache_dir("pytest", XDG_CACHE_HOME=str(tmp_path)) == "None"


@pytest.mark.slow
def test_second_launch_run_loads_its_programs_from_the_cache(tmp_path):
  """A second run of the same tiny sweep (new workdir) compiles nothing that the first one had
  cached: JAX reports every persistent-cache hit in its logs."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", HT_COMPILE_CACHE=str(tmp_path / "cache"),
             JAX_DEBUG_LOG_MODULES="jax._src.compiler,jax._src.compilation_cache")
  cmd = [sys.executable, "-m", "launch.phase_transition",
         "--config=launch/configs/phase_transition.py:tiny", "--config.models=('vae',)",
         "--config.fig4.enabled=False", "--config.gt_check.enabled=False",
         "--config.fig3_kappas=()", "--config.refit_head=False"]
  logs = []
  for run in ("a", "b"):
    out = subprocess.run([*cmd, f"--workdir={tmp_path / run}"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    logs.append(out.stderr)
  assert os.listdir(tmp_path / "cache")
  written = logs[0].count("to persistent compilation cache with key")
  hits = logs[1].count("Persistent compilation cache hit")
  assert written > 0 and hits >= written, (written, hits)
  assert logs[1].count("to persistent compilation cache with key") == 0
