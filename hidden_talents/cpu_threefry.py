"""JAX's default PRNG on the CPU without XLA while loops: the same bits, faster to run and compile.

JAX lowers threefry2x32 (its default ``jax.random`` generator) on the CPU as a five-iteration
``fori_loop`` ("rolled loops", ``jax/_src/random/threefry2x32.py``) and on every other platform as
the straight-line 20 rounds. In a training step each random draw (minibatch indices, the
reparameterisation noise ε, the outlier mask and values) then becomes an XLA while loop of small
thunks: in a profile of a quick-width sweep chunk (30 cells, one device) the loops, their
bodies and the copies around them took 28–29 % of the op time. :func:`unroll` registers the
other platforms' lowering for the CPU too. It computes the same Threefry-2x32 hash, so every
random number, and so every result, is bit-identical (``tests/test_cpu_threefry.py``); only the
compiled program changes. Measured on 2 CPU cores with the launch scripts' 2 host devices
(BENCHMARKS.md, "Threefry without while loops"): a 30-cell quick-width chunk 1.10× faster, its
first call (compile + one chunk) 6.5 → 4.9 s, and the first run of a quick-width grid 1.14× faster
as a whole process.

:func:`hidden_talents.runtime.setup` runs :func:`unroll` (the launch scripts, the sweep and the
estimators call it before they compile); it applies to every program compiled after it in the
process, the caller's own included. It uses JAX internals (tested with the pinned jax 0.10.2);
where they are missing it leaves JAX as it is. ``HT_THREEFRY=rolled`` in the environment keeps
JAX's own CPU lowering.
"""

from __future__ import annotations

import os

_done = False


def unroll() -> bool:
  """Lower threefry2x32 on the CPU as straight-line code (idempotent); True if it is in effect."""
  global _done
  if _done:
    return True
  if os.environ.get("HT_THREEFRY", "").lower() == "rolled":
    return False
  try:
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32 as tf
    rule, prim = tf._threefry2x32_lowering_rule, tf.threefry2x32_p  # noqa: SLF001
  except (ImportError, AttributeError):  # another JAX: keep its lowering
    return False
  mlir.register_lowering(prim, rule, platform="cpu", inline=False)
  _done = True
  return True


def restore_rolled() -> None:
  """JAX's own CPU lowering (rolled loops) again, for programs compiled from now on."""
  global _done
  from jax._src.interpreters import mlir
  from jax._src.random import threefry2x32 as tf
  mlir.register_lowering(tf.threefry2x32_p, tf._threefry2x32_cpu_lowering_rule,  # noqa: SLF001
                         platform="cpu")
  _done = False
