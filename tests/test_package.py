"""The package's top level: nothing heavy at import, no process-wide change, the tool's names."""

import os
import subprocess
import sys

import jax.numpy as jnp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_objectives_import_alone_and_decompose_is_the_function_either_way():
  code = (
      "import sys, types\n"
      "import hidden_talents.objectives\n"
      "heavy = [m for m in ('flax', 'optax', 'hidden_talents.train', 'hidden_talents.sweep',\n"
      "         'hidden_talents.robust') if m in sys.modules]\n"
      "assert not heavy, heavy\n"
      "import jax._src.xla_bridge as xb\n"
      "assert not xb._backends, 'a backend started at import time'\n"
      "from hidden_talents.robust import mask_scores\n"  # the tool's package first ...
      "import hidden_talents as ht\n"
      "assert isinstance(ht.decompose, types.FunctionType), ht.decompose\n"  # ... still the fn
      "assert ht.decompose.__module__ == 'hidden_talents.robust.shortcut'\n"
      "assert ht.Decomposition.__name__ == 'Decomposition' and callable(mask_scores)\n"
      "print('ok')\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "ok"
  out = subprocess.run([sys.executable, "-c", (
      "import types, hidden_talents as ht; assert isinstance(ht.decompose, types.FunctionType); "
      "from hidden_talents.robust.diagnostics import mask_scores; "
      "assert isinstance(ht.decompose, types.FunctionType); print('ok')")],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_jnp_is_not_needed_for_the_log_2pi_constant():
  from hidden_talents.objectives.vae import LOG_2PI
  assert LOG_2PI == float(jnp.log(2.0 * jnp.pi))  # the float32 value it always had


def test_importing_the_package_imports_no_jax_and_changes_nothing():
  """The JAX set-up (PRNG lowering, compilation cache) is explicit (``hidden_talents.runtime``):
  ``import hidden_talents`` neither imports JAX nor registers anything; the estimators apply the
  set-up before they compile."""
  code = (
      "import sys\n"
      "import hidden_talents, hidden_talents.robust\n"
      "assert 'jax' not in sys.modules, 'jax imported'\n"
      "from hidden_talents import cpu_threefry\n"
      "assert not cpu_threefry._done\n"
      "import numpy as np\n"
      "hidden_talents.RobustRPCA().fit(np.random.default_rng(0).normal(size=(20, 3)))\n"
      "assert cpu_threefry._done\n"
      "print('ok')\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
