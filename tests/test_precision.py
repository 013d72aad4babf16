"""``Settings.precision = 'bf16_matmul'``: bfloat16 matmuls, float32 parameters, heads and loss."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import TINY

from hidden_talents import sweep, train

# Measured on this CPU (tests/helpers.TINY, 12 cells): after 40 steps (the tiny preset's budget)
# bf16_matmul moves NMSE by at most 0.0032 (median 0.12 % relative); after 400 steps by at most
# 0.023 (median 0.8 %), as training amplifies the rounding. The test allows 0.01 at 40 steps.
NMSE_TOLERANCE_40_STEPS = 0.01


def test_bad_precision_rejected():
  with pytest.raises(ValueError, match="precision"):
    dataclasses.replace(TINY, precision="float16")


def _dot_dtypes(settings):
  fns = train.make_train(settings)
  cell = jax.tree.map(lambda a: a[0], sweep.make_cells([sweep.CellInfo("vae", 1.0, 2, 0.1, 0)]))
  state = fns.init(cell)
  x = jnp.ones((4, settings.data_dim))
  eps = jnp.zeros((settings.num_latent_samples, 4, settings.latent_dim))
  jaxpr = jax.make_jaxpr(lambda p: fns.loss(p, x, eps, cell.coeffs))(state.params)
  dots = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"]
  out = jax.eval_shape(lambda p: fns.loss(p, x, eps, cell.coeffs), state.params)
  return ({str(e.invars[0].aval.dtype) for e in dots}, state.params, out)


def test_bf16_matmul_casts_only_the_matmuls():
  dt32, p32, out32 = _dot_dtypes(TINY)
  dt16, p16, out16 = _dot_dtypes(dataclasses.replace(TINY, precision="bf16_matmul"))
  assert dt32 == {"float32"}
  assert "bfloat16" in dt16  # the mean networks
  assert "float32" in dt16  # the log σz² head stays float32
  assert {str(a.dtype) for a in jax.tree.leaves(p16)} == {"float32"}  # parameters
  assert jax.tree.structure(p16) == jax.tree.structure(p32)  # same checkpoints
  assert {str(a.dtype) for a in jax.tree.leaves(out16)} == {"float32"}  # loss math


@pytest.mark.slow
def test_bf16_matmul_nmse_within_tolerance():
  cells = sweep.make_cells([sweep.CellInfo(m, c2, k, nu, 0)
                            for m, c2 in (("vae", 1.0), ("ae_l2", 0.1), ("ae_l1", 0.1))
                            for k in (2, 4) for nu in (0.1, 0.3)])
  nmse = {}
  for p in train.PRECISIONS:
    s = dataclasses.replace(TINY, precision=p, chunk_steps=20)
    nmse[p] = sweep.run_sweep(s, cells, num_steps=40, progress=False, cache_bytes=0).eval.nmse
  diff = np.abs(nmse["bf16_matmul"] - nmse["float32"])
  assert np.all(np.isfinite(nmse["bf16_matmul"]))
  assert diff.max() > 0  # bfloat16 is really in effect
  assert diff.max() < NMSE_TOLERANCE_40_STEPS, diff
