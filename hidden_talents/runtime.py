"""The process's JAX set-up, done explicitly before the first compile (never at import).

Two switches, both leaving every result as it is:

* the CPU lowering of JAX's default PRNG as straight-line code (:mod:`hidden_talents.cpu_threefry`:
  the same random bits, faster programs; ``HT_THREEFRY=rolled`` keeps JAX's own lowering);
* JAX's persistent compilation cache, so that a second process with the same programs loads them
  from disk instead of compiling: in ``$HT_COMPILE_CACHE`` (``off``, ``0`` or ``none`` turns it
  off), else ``$XDG_CACHE_HOME/hidden_talents/jax``, else ``~/.cache/hidden_talents/jax``. The
  older name ``HIDDEN_TALENTS_CACHE`` (its value + ``/jax``) is still read, with a warning that it
  is deprecated.

Who calls what: the launch scripts put the cache into the environment before JAX starts
(:func:`cache_environment`, from ``launch/__init__.py``) and apply the PRNG lowering;
``sweep.compile_sweep`` and the estimators of :mod:`hidden_talents.robust` call :func:`setup`
before they compile; the decompose command line also turns the cache on
(:func:`enable_compile_cache`). This module imports JAX only inside those functions.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

CACHE_ENV = "HT_COMPILE_CACHE"
DEPRECATED_CACHE_ENV = "HIDDEN_TALENTS_CACHE"  # its value + "/jax"; read with a warning
_OFF = ("off", "0", "none")
LAUNCH_MIN_COMPILE_SECONDS = "0.2"  # the launch scripts keep programs that took this long


def compile_cache_dir(environ: Mapping[str, str] = os.environ) -> str | None:
  """Where compiled programs are kept (module docstring); None = no persistent cache."""
  choice = environ.get(CACHE_ENV, "")
  if choice.lower() in _OFF:
    return None
  if choice:
    return choice
  old = environ.get(DEPRECATED_CACHE_ENV, "")
  if old:
    warnings.warn(f"${DEPRECATED_CACHE_ENV} is deprecated: set {CACHE_ENV}={old}/jax instead",
                  FutureWarning, stacklevel=2)
    return os.path.join(old, "jax")
  base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "hidden_talents", "jax")


def cache_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
  """The variables that turn JAX's persistent cache on before JAX starts (none when
  ``JAX_COMPILATION_CACHE_DIR`` is already set: the user's setting wins, or when the cache is
  off); programs that took at least ``LAUNCH_MIN_COMPILE_SECONDS`` to compile are kept."""
  if "JAX_COMPILATION_CACHE_DIR" in environ:
    return {}
  path = compile_cache_dir(environ)
  if path is None:
    return {}
  return {"JAX_COMPILATION_CACHE_DIR": path,
          "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": environ.get(
              "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", LAUNCH_MIN_COMPILE_SECONDS)}


def enable_compile_cache(path: str | None = None) -> str | None:
  """Keeps every compiled XLA program on disk from now on (JAX's persistent compilation cache).
  A cached program is the same executable, so results are unchanged.

  Args:
    path: the cache directory; default :func:`compile_cache_dir`.

  Returns:
    The directory, or None: the cache is off, or the directory cannot be created (a warning
    then says so, and nothing is cached).
  """
  path = path or compile_cache_dir()
  if path is None:
    return None
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    warnings.warn(f"compilation cache {path!r} unusable ({e}); compiling without it",
                  stacklevel=2)
    return None
  import jax

  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path


def setup(*, compile_cache: bool = False) -> None:
  """Before the first compile: the CPU PRNG lowering (idempotent), and with ``compile_cache`` the
  persistent compilation cache (:func:`enable_compile_cache`)."""
  from hidden_talents import cpu_threefry

  cpu_threefry.unroll()
  if compile_cache:
    enable_compile_cache()
