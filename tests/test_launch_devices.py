"""launch/__init__.py: one forced host device per core, only when a launch module runs as -m."""

import os
import subprocess
import sys

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
