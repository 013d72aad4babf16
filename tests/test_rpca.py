"""Tests of hidden_talents.rpca (PCP by inexact ALM) and hidden_talents.data.lowrank."""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hidden_talents import rpca
from hidden_talents.data.lowrank import lowrank_plus_sparse


def numpy_inexact_alm(X, lam, *, tol=1e-7, max_iter=1000, rho=1.5, observed=None):
  """Independent NumPy transcription of Lin, Chen & Ma (2010) Algorithm 5 (float64); with
  ``observed``, PCP on the observed set Ω: S unthresholded off Ω, the residual on Ω."""
  X = np.asarray(X, np.float64)
  W = np.ones(X.shape, bool) if observed is None else np.asarray(observed, bool)
  X = np.where(W, X, 0.0)
  norm_two = np.linalg.norm(X, 2)
  norm_fro = np.linalg.norm(X, "fro")
  Y = X / max(norm_two, np.abs(X).max() / lam)
  mu = 1.25 / norm_two
  mu_bar = mu * 1e7
  L = np.zeros_like(X)
  S = np.zeros_like(X)
  k = 0
  while k < max_iter:
    U, s, Vt = np.linalg.svd(X - S + Y / mu, full_matrices=False)
    L = U @ np.diag(np.maximum(s - 1 / mu, 0)) @ Vt
    T = X - L + Y / mu
    S = np.maximum(T - lam / mu, 0) + np.minimum(T + lam / mu, 0)
    S = np.where(W, S, T)
    Z = np.where(W, X - L - S, 0.0)
    Y = Y + mu * Z
    mu = min(mu * rho, mu_bar)
    k += 1
    if np.linalg.norm(Z, "fro") / norm_fro < tol:
      break
  return L, S, k


def _problem(seed, shape, rank, nu, **kw):
  return lowrank_plus_sparse(jax.random.key(seed), rank, nu, shape=shape, **kw)


def _rel(a, b):
  return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


@pytest.mark.parametrize("svt", ["svd", "gram"])
def test_exact_recovery_200x200_float64(svt):
  with jax.enable_x64(True):
    p = _problem(0, (200, 200), 10, 0.05)
    assert p.X.dtype == jnp.float64
    r = rpca.robust_pca(p.X, svt=svt)
    assert r.dtype == jnp.float64
    assert bool(r.converged) and float(r.residual) < 1e-7
    assert _rel(r.L, p.L) < 1e-5
    assert _rel(r.S, p.S) < 1e-5
    np.testing.assert_allclose(float(r.lam), 1 / math.sqrt(200), rtol=1e-12)


def test_float32_path_recovers():
  p = _problem(0, (200, 200), 10, 0.05)
  r = rpca.robust_pca(p.X)
  assert p.X.dtype == jnp.float32 and r.dtype == jnp.float32 and r.L.dtype == jnp.float32
  assert bool(r.converged) and int(r.iterations) < 100
  assert _rel(r.L, p.L) < 1e-4


def test_matches_numpy_reference():
  with jax.enable_x64(True):
    p = _problem(1, (60, 40), 3, 0.1)
    lam = 1 / math.sqrt(60)
    L_ref, S_ref, k_ref = numpy_inexact_alm(np.asarray(p.X), lam)
    for svt in ("svd", "gram"):
      r = rpca.robust_pca(p.X, svt=svt)
      assert int(r.iterations) == k_ref
      np.testing.assert_allclose(r.L, L_ref, atol=1e-9 * np.abs(L_ref).max())
      np.testing.assert_allclose(r.S, S_ref, atol=1e-9 * np.abs(L_ref).max())
    # A hard cell (needs more iterations), λ given explicitly, wide orientation.
    p = _problem(2, (30, 80), 8, 0.3)
    L_ref, S_ref, k_ref = numpy_inexact_alm(np.asarray(p.X), 0.2, tol=1e-9, max_iter=50)
    r = rpca.robust_pca(p.X, lam=0.2, tol=1e-9, max_iter=50)
    assert int(r.iterations) == k_ref
    np.testing.assert_allclose(r.L, L_ref, atol=1e-8 * np.abs(L_ref).max())


def test_default_lambda_is_the_one_that_works_on_thin_matrices():
  with jax.enable_x64(True):
    p = _problem(3, (100, 4000), 5, 0.05)
    good = rpca.robust_pca(p.X)
    np.testing.assert_allclose(float(good.lam), 1 / math.sqrt(4000))
    assert _rel(good.L, p.L) < 1e-6
    bad = rpca.robust_pca(p.X, lam=1 / math.sqrt(100))  # 1/√min = Lin et al.'s 1/√rows here
    assert _rel(bad.L, p.L) > 0.1
    # Tall orientation: the same problem transposed, same default λ, same answer.
    tall = rpca.robust_pca(p.X.T)
    np.testing.assert_allclose(tall.L, good.L.T, atol=1e-8)


def test_vmap_equals_loop_and_finished_matrices_freeze():
  # Mixed difficulty so the batch members converge at different iterations.
  ps = [_problem(s, (40, 30), r, nu) for s, r, nu in [(0, 2, 0.05), (1, 6, 0.2), (2, 12, 0.4)]]
  Xs = jnp.stack([p.X for p in ps])
  solo = [rpca.robust_pca(X) for X in Xs]
  assert len({int(r.iterations) for r in solo}) > 1
  batched = jax.jit(jax.vmap(lambda X: rpca.robust_pca(X)))(Xs)
  for i, r in enumerate(solo):
    assert int(batched.iterations[i]) == int(r.iterations)
    assert bool(batched.converged[i]) == bool(r.converged)
    np.testing.assert_allclose(batched.L[i], r.L, atol=1e-4 * float(jnp.abs(r.L).max()))


def test_batched_chunks_padding_and_per_matrix_lambda():
  ps = [_problem(s, (40, 30), 3, 0.1) for s in range(5)]
  Xs = jnp.stack([p.X for p in ps])
  lams = jnp.array([0.1, 0.15, 0.2, 0.25, 0.3])
  out = rpca.robust_pca_batched(Xs, lam=lams, chunk_size=2)  # 3 chunks, one padded
  assert out.L.shape == Xs.shape and out.iterations.shape == (5,)
  for i in range(5):
    r = rpca.robust_pca(Xs[i], lam=float(lams[i]))
    assert int(out.iterations[i]) == int(r.iterations)
    np.testing.assert_allclose(out.lam[i], lams[i], rtol=1e-6)
    np.testing.assert_allclose(out.L[i], r.L, atol=1e-4 * float(jnp.abs(r.L).max()))
  default = rpca.robust_pca_batched(Xs)
  np.testing.assert_allclose(default.lam, 1 / math.sqrt(40), rtol=1e-6)


def _tensor_sizes(hlo_text):
  sizes = []
  for dims in re.findall(r"tensor<([0-9x]+)x[a-z]+[0-9]*>", hlo_text):
    sizes.append(math.prod(int(d) for d in dims.split("x")))
  return sizes


@pytest.mark.parametrize("svt", ["svd", "gram"])
def test_thin_100x20000_never_forms_n_by_n(svt):
  m, n = 100, 20000
  X = _problem(4, (m, n), 5, 0.05).X
  gram = svt == "gram"
  lowered = rpca._solve_jit.lower(X, 0.007, tol=1e-6, max_iter=3, rho=1.5, gram=gram)
  sizes = _tensor_sizes(lowered.as_text())
  assert sizes and max(sizes) <= m * n  # no n × n (4·10⁸) or m·n·k intermediate
  compiled = lowered.compile().as_text()
  assert f"{n},{n}" not in compiled.replace(" ", "")
  r = rpca.robust_pca(X, max_iter=3, svt=svt)  # and it actually runs
  assert r.L.shape == (m, n) and int(r.iterations) == 3


def test_zero_matrix():
  r = rpca.robust_pca(jnp.zeros((5, 4)))
  assert bool(r.converged) and int(r.iterations) == 0
  assert float(jnp.abs(r.L).max()) == 0 and float(jnp.abs(r.S).max()) == 0


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        (np.ones(5), {}, "matrix"),
        (np.ones((2, 3, 4)), {}, "matrix"),
        (np.zeros((0, 3)), {}, "non-empty"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), {}, "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), {}, "NaN or Inf"),
        (np.eye(3), {"lam": 0.0}, "lam"),
        (np.eye(3), {"lam": -1.0}, "lam"),
        (np.eye(3), {"lam": float("nan")}, "lam"),
        (np.eye(3), {"tol": 0.0}, "tol"),
        (np.eye(3), {"tol": 1.5}, "tol"),
        (np.eye(3), {"max_iter": 0}, "max_iter"),
        (np.eye(3), {"max_iter": 2.5}, "max_iter"),
        (np.eye(3), {"rho": 1.0}, "rho"),
        (np.eye(3), {"svt": "qr"}, "svt"),
    ],
)
def test_bad_input_raises(X, kwargs, match):
  with pytest.raises(ValueError, match=match):
    rpca.robust_pca(X, **kwargs)


def test_batched_bad_input_raises():
  Xs = np.ones((3, 4, 5))
  with pytest.raises(ValueError, match="stack"):
    rpca.robust_pca_batched(np.ones((4, 5)))
  with pytest.raises(ValueError, match="lam"):
    rpca.robust_pca_batched(Xs, lam=np.array([0.1, -0.1, 0.1]))
  with pytest.raises(ValueError, match="shape"):
    rpca.robust_pca_batched(Xs, lam=np.array([0.1, 0.1]))
  with pytest.raises(ValueError, match="chunk_size"):
    rpca.robust_pca_batched(Xs, chunk_size=0)
  Xs[1, 2, 3] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    rpca.robust_pca_batched(Xs)


def test_lowrank_generator_rank_fraction_and_vmap():
  p = _problem(0, (300, 200), 7, 0.2)
  s = np.linalg.svd(np.asarray(p.L, np.float64), compute_uv=False)
  assert np.sum(s > 1e-4 * s[0]) == 7
  np.testing.assert_allclose(float(p.mask.mean()), 0.2, atol=0.01)
  np.testing.assert_allclose(p.X, p.L + p.S)
  assert np.all((np.asarray(p.S) != 0) == np.asarray(p.mask))
  np.testing.assert_allclose(float(jnp.var(p.L)), 1.0, rtol=0.1)
  # One compiled program over (rank, ν): masking keeps the shapes equal.
  ranks = jnp.array([1, 4, 9])
  nus = jnp.array([0.0, 0.1, 0.3])
  keys = jax.random.split(jax.random.key(1), 3)
  gen = jax.vmap(lambda k, r, nu: lowrank_plus_sparse(k, r, nu, shape=(50, 40), max_rank=10))
  batch = jax.jit(gen)(keys, ranks, nus)
  for i in range(3):
    single = lowrank_plus_sparse(keys[i], int(ranks[i]), float(nus[i]), shape=(50, 40),
                                 max_rank=10)
    np.testing.assert_allclose(batch.X[i], single.X, rtol=1e-5, atol=1e-5)
    assert np.linalg.matrix_rank(np.asarray(batch.L[i]), tol=1e-3) == int(ranks[i])
  g = lowrank_plus_sparse(jax.random.key(2), 3, 0.5, shape=(20, 10), outliers="gaussian")
  assert float(jnp.abs(jnp.where(g.mask, 0.0, g.X - g.L)).max()) == 0.0
  with pytest.raises(ValueError):
    lowrank_plus_sparse(jax.random.key(0), 1, 0.1, shape=(5, 4), max_rank=9)


@pytest.mark.slow
def test_thin_20000x100_float32_full_solve_recovers():
  p = _problem(5, (20000, 100), 5, 0.05)
  r = rpca.robust_pca(p.X)
  assert bool(r.converged) and r.dtype == jnp.float32
  assert _rel(r.L, p.L) < 1e-4


def _holes(seed, shape, fraction):
  return np.random.default_rng(seed).random(shape) >= fraction  # True = observed


def test_missing_entries_exact_recovery_float64():
  """PCP with missing entries (observed=, tensorly's mask convention: True = observed) recovers
  L exactly — on the observed entries and the missing ones — and S on the observed ones, with
  λ = 1/√(ρ·max(m, n)) (Candès et al. 2011, Theorem 1.2); X off Ω is never read (NaN there)."""
  with jax.enable_x64(True):
    p = _problem(0, (200, 200), 10, 0.05)
    observed = _holes(0, (200, 200), 0.2)
    X = np.where(observed, np.asarray(p.X), np.nan)
    r = rpca.robust_pca(X, observed=observed)
    assert bool(r.converged) and float(r.residual) < 1e-7
    np.testing.assert_allclose(float(r.lam), 1 / math.sqrt(observed.mean() * 200), rtol=1e-12)
    print(f"relative error of L: {_rel(r.L, p.L):.2g}")
    assert _rel(r.L, p.L) < 1e-5  # measured 1.4e-7
    missing = ~observed
    assert _rel(r.L[missing], p.L[missing]) < 1e-5
    assert _rel(jnp.where(observed, r.S, 0), jnp.where(observed, p.S, 0)) < 1e-5
    plain = rpca.robust_pca(np.where(observed, np.asarray(p.X), 0.0))  # holes read as zeros
    assert _rel(plain.L, p.L) > 100 * _rel(r.L, p.L)


def test_missing_entries_match_numpy_reference_and_float32():
  with jax.enable_x64(True):
    p = _problem(1, (60, 40), 3, 0.1)
    observed = _holes(1, (60, 40), 0.15)
    lam = 1 / math.sqrt(observed.mean() * 60)
    L_ref, S_ref, k_ref = numpy_inexact_alm(np.asarray(p.X), lam, observed=observed)
    for svt in ("svd", "gram"):
      r = rpca.robust_pca(p.X, observed=observed, svt=svt)
      assert int(r.iterations) == k_ref
      np.testing.assert_allclose(r.L, L_ref, atol=1e-9 * np.abs(L_ref).max())
      np.testing.assert_allclose(jnp.where(observed, r.S, 0), np.where(observed, S_ref, 0),
                                 atol=1e-9 * np.abs(L_ref).max())
  p = _problem(0, (200, 200), 10, 0.05)
  r = rpca.robust_pca(p.X, observed=_holes(0, (200, 200), 0.2))
  assert r.dtype == jnp.float32 and bool(r.converged) and _rel(r.L, p.L) < 1e-4


def test_all_observed_is_the_plain_solve_and_vmap_works():
  p = _problem(2, (40, 30), 3, 0.1)
  plain = rpca.robust_pca(p.X)
  full = rpca.robust_pca(p.X, observed=np.ones((40, 30), bool))
  for a, b in zip(plain, full):
    np.testing.assert_array_equal(a, b)  # bit for bit, λ and iterations included
  Xs = jnp.stack([_problem(s, (40, 30), 3, 0.1).X for s in range(3)])
  Os = jnp.stack([_holes(s, (40, 30), 0.1 * s) for s in range(3)])
  batched = jax.jit(jax.vmap(lambda X, o: rpca.robust_pca(X, observed=o)))(Xs, Os)
  for i in range(3):
    r = rpca.robust_pca(Xs[i], observed=np.asarray(Os[i]))
    assert int(batched.iterations[i]) == int(r.iterations)
    np.testing.assert_allclose(batched.lam[i], r.lam, rtol=1e-6)
    np.testing.assert_allclose(batched.L[i], r.L, atol=1e-4 * float(jnp.abs(r.L).max()))


@pytest.mark.parametrize("observed, match", [
    (np.ones((3, 4), bool), "observed has shape"),
    (np.ones((3, 3)), "boolean mask"),
    (np.zeros((3, 3), bool), "no True entry"),
])
def test_bad_observed_mask_raises(observed, match):
  with pytest.raises(ValueError, match=match):
    rpca.robust_pca(np.eye(3), observed=observed)
  X = np.eye(3)
  X[0, 1] = np.nan
  with pytest.raises(ValueError, match="NaN"):  # NaN where observed is still an error
    rpca.robust_pca(X, observed=np.ones((3, 3), bool))
