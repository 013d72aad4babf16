"""``runtime``: one compilation cache under one environment variable, the PRNG lowering, both
applied explicitly."""

import os
import subprocess
import sys

import pytest

from hidden_talents import runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CACHE_VARS = ("HT_COMPILE_CACHE", "HIDDEN_TALENTS_CACHE", "XDG_CACHE_HOME",
               "JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")


@pytest.fixture
def clean_env(monkeypatch):
  for name in _CACHE_VARS:
    monkeypatch.delenv(name, raising=False)
  return monkeypatch


def test_compilation_cache_dir(clean_env, tmp_path):
  clean_env.setenv("HIDDEN_TALENTS_CACHE", str(tmp_path / "c"))  # the older name: still read
  with pytest.warns(FutureWarning, match="HIDDEN_TALENTS_CACHE is deprecated.*HT_COMPILE_CACHE"):
    assert runtime.compile_cache_dir() == str(tmp_path / "c" / "jax")
  clean_env.delenv("HIDDEN_TALENTS_CACHE")
  assert runtime.compile_cache_dir() == os.path.expanduser("~/.cache/hidden_talents/jax")
  (tmp_path / "f").write_text("")
  with pytest.warns(UserWarning, match="compiling without it"):
    assert runtime.enable_compile_cache(str(tmp_path / "f" / "jax")) is None


def test_one_variable_names_the_cache(clean_env, tmp_path):
  env = {"HT_COMPILE_CACHE": str(tmp_path / "a"), "HIDDEN_TALENTS_CACHE": str(tmp_path / "b")}
  assert runtime.compile_cache_dir(env) == str(tmp_path / "a")  # the current name wins
  for off in ("off", "0", "none", "OFF"):
    assert runtime.compile_cache_dir({"HT_COMPILE_CACHE": off}) is None
  assert runtime.compile_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == str(
      tmp_path / "hidden_talents" / "jax")


def test_the_launch_scripts_environment(tmp_path):
  assert runtime.cache_environment({"HT_COMPILE_CACHE": str(tmp_path)}) == {
      "JAX_COMPILATION_CACHE_DIR": str(tmp_path),
      "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": runtime.LAUNCH_MIN_COMPILE_SECONDS}
  assert runtime.cache_environment({"HT_COMPILE_CACHE": "off"}) == {}
  assert runtime.cache_environment({"JAX_COMPILATION_CACHE_DIR": "/x"}) == {}  # the user's wins
  kept = runtime.cache_environment({"HT_COMPILE_CACHE": str(tmp_path),
                                    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "3"})
  assert kept["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "3"


def test_enable_compile_cache_sets_jax_and_setup_lowers_the_prng(tmp_path):
  code = ("import jax, sys\n"
          "from hidden_talents import cpu_threefry, runtime\n"
          "assert not cpu_threefry._done\n"
          "runtime.setup(compile_cache=True)\n"
          "assert cpu_threefry._done\n"
          "print(jax.config.jax_compilation_cache_dir)\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "HT_COMPILE_CACHE": str(tmp_path / "c")})
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == str(tmp_path / "c") and os.path.isdir(tmp_path / "c")
