"""The package's lazy top level."""

import os
import subprocess
import sys

import jax.numpy as jnp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- the package's top level -----------------------------------------------------------------


def test_objectives_import_alone_and_decompose_is_the_function_either_way():
  code = (
      "import sys, types\n"
      "import hidden_talents.objectives\n"
      "heavy = [m for m in ('flax', 'optax', 'hidden_talents.train', 'hidden_talents.sweep',\n"
      "         'hidden_talents.decompose') if m in sys.modules]\n"
      "assert not heavy, heavy\n"
      "import jax._src.xla_bridge as xb\n"
      "assert not xb._backends, 'a backend started at import time'\n"
      "from hidden_talents.decompose import mask_scores\n"  # the submodule first ...
      "import hidden_talents as ht\n"
      "assert isinstance(ht.decompose, types.FunctionType), ht.decompose\n"  # ... still the fn
      "assert ht.decompose.__module__ == 'hidden_talents.decompose'\n"
      "assert ht.Decomposition.__name__ == 'Decomposition' and callable(mask_scores)\n"
      "print('ok')\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "ok"
  out = subprocess.run([sys.executable, "-c", (
      "import types, hidden_talents as ht; assert isinstance(ht.decompose, types.FunctionType); "
      "from hidden_talents.decompose import mask_scores; "
      "assert isinstance(ht.decompose, types.FunctionType); print('ok')")],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_jnp_is_not_needed_for_the_log_2pi_constant():
  from hidden_talents.objectives.vae import LOG_2PI
  assert LOG_2PI == float(jnp.log(2.0 * jnp.pi))  # the float32 value it always had
