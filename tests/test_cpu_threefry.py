"""The CPU's threefry lowering without while loops (hidden_talents/cpu_threefry.py): same bits."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from hidden_talents import cpu_threefry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _draws(key):
  """What a training step draws: indices, ε, an outlier mask and values, per vmapped cell."""
  def one(k):
    k1, k2, k3 = jax.random.split(k, 3)
    return (jax.random.randint(k1, (100,), 0, 2000), jax.random.normal(k2, (1, 100, 20)),
            jax.random.uniform(k3, (100, 50)) < 0.3,
            jax.random.bits(jax.random.fold_in(k, 7), (33,)))
  return jax.vmap(one)(jax.random.split(key, 4))


def _fresh(fn):
  return jax.jit(lambda k: fn(k))  # a new function object: lowered again, with the rule in force


def test_the_package_lowers_threefry_without_while_loops_on_the_cpu():
  assert cpu_threefry.unroll()
  hlo = _fresh(_draws).lower(jax.random.key(0)).compile().as_text()
  assert " while(" not in hlo


def test_unrolled_and_rolled_threefry_give_the_same_bits():
  key = jax.random.key(3)
  unrolled = jax.tree.map(np.asarray, _fresh(_draws)(key))
  cpu_threefry.restore_rolled()
  try:
    f = _fresh(_draws)
    assert " while(" in f.lower(key).compile().as_text()  # JAX's own CPU lowering really ran
    rolled = jax.tree.map(np.asarray, f(key))
  finally:
    assert cpu_threefry.unroll()
  for a, b in zip(jax.tree.leaves(unrolled), jax.tree.leaves(rolled)):
    np.testing.assert_array_equal(a, b)
  assert jnp.isfinite(unrolled[1]).all() and unrolled[3].std() > 0


def test_ht_threefry_rolled_keeps_jax_s_lowering():
  code = ("import jax, hidden_talents\n"
          "from hidden_talents import cpu_threefry\n"
          "assert not cpu_threefry.unroll()\n"
          "f = jax.jit(lambda k: jax.random.normal(k, (8,)))\n"
          "print(' while(' in f.lower(jax.random.key(0)).compile().as_text())\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "HT_THREEFRY": "rolled"})
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "True"
