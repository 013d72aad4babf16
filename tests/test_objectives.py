"""The paper's objectives against independent references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from hidden_talents.objectives import (
    ae_cost,
    affine_cost,
    affine_neg2_elbo,
    decoder_variance_cost,
    gaussian_kl,
    neg2_elbo_mc,
    optimal_encoder,
    partially_affine_cost,
    xi_alpha,
)

LOG_2PI = np.log(2 * np.pi)


@pytest.fixture(autouse=True)
def x64():
  with jax.enable_x64(True):
    yield


def _problem(seed=0, n=40, d=6, kappa=3):
  rng = np.random.default_rng(seed)
  W = rng.normal(size=(d, kappa))
  b = rng.normal(size=d)
  X = rng.normal(size=(n, kappa)) @ W.T + b + 0.5 * rng.normal(size=(n, d))
  return X, W, b, 0.3


# 1. eq 5 + n·d·log 2π = −2 Σ log N(xᵢ; b, WWᵀ + λI)
def test_affine_cost_is_gaussian_negative_log_likelihood():
  X, W, b, lam = _problem()
  n, d = X.shape
  want = -2 * stats.multivariate_normal(b, W @ W.T + lam * np.eye(d)).logpdf(X).sum()
  got = float(affine_cost(X, W, b, lam)) + n * d * LOG_2PI
  np.testing.assert_allclose(got, want, rtol=1e-6)


# 2. the Monte-Carlo objective at the optimal encoder converges to the closed form
@pytest.mark.parametrize("diagonal", [False, True])
def test_mc_elbo_at_optimal_encoder_matches_closed_form(diagonal):
  X, W, b, lam = _problem(1, n=200)
  n, d = X.shape
  kappa = W.shape[1]
  enc = optimal_encoder(X, W, b, lam, diagonal_sigma_z=diagonal)
  A = np.asarray(jnp.linalg.solve(W @ W.T + lam * np.eye(d), np.eye(d))) @ W  # μz = Aᵀ(x − b)
  encoder = lambda x: (A.T @ (x - b), enc.sigma_z)
  decoder = lambda z: (W @ z + b, jnp.full((d,), lam))
  total, aux = neg2_elbo_mc(jax.random.PRNGKey(0), X, encoder, decoder, num_samples=50)
  want = float(affine_cost(X, W, b, lam, diagonal_sigma_z=diagonal)) + n * d * LOG_2PI
  # per-sample exact values; their differences from the estimates are independent MC errors
  exact = jax.vmap(lambda x: affine_cost(x[None], W, b, lam, diagonal_sigma_z=diagonal))(X)
  delta = np.asarray(aux["per_sample"]) - (np.asarray(exact) + d * LOG_2PI)
  se = np.sqrt(n) * delta.std(ddof=1)
  assert abs(float(total) - want) < 4 * se, (float(total), want, se)
  np.testing.assert_allclose(float(total), want, rtol=5e-3)
  assert enc.mu_z.shape == (n, kappa)


# 3. Hadamard (eq 8)
def test_hadamard_diagonal_cost_upper_bounds_full_cost():
  for seed in range(5):
    X, W, b, lam = _problem(seed)
    assert float(affine_cost(X, W, b, lam, diagonal_sigma_z=True)) >= float(
        affine_cost(X, W, b, lam)) - 1e-9
  X, W, b, lam = _problem(7)
  Q, _ = np.linalg.qr(W)
  W_orth = Q * np.array([2.0, 1.0, 0.5])  # WᵀW diagonal
  np.testing.assert_allclose(affine_cost(X, W_orth, b, lam, diagonal_sigma_z=True),
                             affine_cost(X, W_orth, b, lam), rtol=1e-10)


# 4. zero gradient of eq 22 at the optimal encoder
@pytest.mark.parametrize("diagonal", [False, True])
def test_optimal_encoder_is_stationary(diagonal):
  X, W, b, lam = _problem(2)
  enc = optimal_encoder(X, W, b, lam, diagonal_sigma_z=diagonal)
  g_mu, g_sigma = jax.grad(lambda m, s: affine_neg2_elbo(X, W, b, lam, m, s), argnums=(0, 1))(
      enc.mu_z, enc.sigma_z)
  assert float(jnp.max(jnp.abs(g_mu))) < 1e-8
  assert float(jnp.max(jnp.abs(g_sigma))) < 1e-8
  # and the minimum value is the closed form (eq 5/7) + n·κ: at Σz = A⁻¹, tr(AΣz) = κ is the
  # constant eq 24 drops
  n, kappa = enc.mu_z.shape
  np.testing.assert_allclose(affine_neg2_elbo(X, W, b, lam, enc.mu_z, enc.sigma_z),
                             affine_cost(X, W, b, lam, diagonal_sigma_z=diagonal) + n * kappa,
                             rtol=1e-10)


# 5. ξα (eq. 69) is the minimiser over s ≥ α, and the cost is the minimum, continuous at u = α
def test_xi_alpha_is_the_brute_force_argmin_and_the_cost_its_minimum():
  alpha = 0.2
  s = np.linspace(alpha, 50, 400001)
  for u in [0.0, 0.05, 0.2, 0.7, 3.0, 20.0]:
    values = u / s + np.log(s)
    np.testing.assert_allclose(float(decoder_variance_cost(u, alpha)), np.min(values), atol=1e-6)
    np.testing.assert_allclose(float(xi_alpha(u, alpha)), s[np.argmin(values)], atol=2e-4)
    # ξα = [u − α]₊ + α (eq. 69)
    np.testing.assert_allclose(float(xi_alpha(u, alpha)), max(u - alpha, 0.0) + alpha)
    # eq. 70: the cost is log ξα plus an O(1) term, kept exactly: u/α below the floor, 1 above.
    rest = float(decoder_variance_cost(u, alpha)) - np.log(float(xi_alpha(u, alpha)))
    np.testing.assert_allclose(rest, u / alpha if u < alpha else 1.0, rtol=1e-6, atol=1e-7)
  left = float(decoder_variance_cost(alpha - 1e-9, alpha))
  right = float(decoder_variance_cost(alpha + 1e-9, alpha))
  assert abs(left - right) < 1e-7
  g = jax.grad(lambda u: decoder_variance_cost(u, alpha))
  np.testing.assert_allclose([float(g(alpha - 1e-6)), float(g(alpha + 1e-6))], 1 / alpha, rtol=1e-4)


def test_gaussian_kl_matches_closed_form_kl():
  rng = np.random.default_rng(0)
  mu = rng.normal(size=3)
  A = rng.normal(size=(3, 3))
  S = A @ A.T + np.eye(3)
  kl = 0.5 * (np.trace(S) + mu @ mu - 3 - np.linalg.slogdet(S)[1])
  np.testing.assert_allclose(float(gaussian_kl(mu, S)) - 3, 2 * kl, rtol=1e-10)
  np.testing.assert_allclose(float(gaussian_kl(mu, np.diag(S))),
                             float(gaussian_kl(mu, np.diag(np.diag(S)))), rtol=1e-10)
  with pytest.raises(ValueError):
    gaussian_kl(mu, np.ones(4))


# 6. Σx = λI makes the partially affine cost the affine one
def test_partially_affine_with_constant_sigma_x_is_affine():
  X, W, _, lam = _problem(3, n=100)
  b = np.zeros(X.shape[1])
  enc = optimal_encoder(X, W, b, lam)
  total, aux = partially_affine_cost(jax.random.PRNGKey(1), X, W, enc.mu_z, enc.sigma_z,
                                     lambda z: jnp.full((X.shape[1],), lam), num_samples=400)
  n, kappa = enc.mu_z.shape
  want = float(affine_cost(X, W, b, lam)) + n * kappa  # eq 45 keeps the κ that eq 24 drops
  se = float(jnp.std(aux["per_sample"])) * np.sqrt(X.shape[0]) / np.sqrt(400)
  assert abs(float(total) - want) < max(4 * se, 1e-3 * abs(want)), (float(total), want)
  np.testing.assert_allclose(float(total), want, rtol=5e-3)


def test_sigma_x_optimised_out_is_a_lower_bound():
  X, W, _, lam = _problem(4, n=50)
  enc = optimal_encoder(X, W, np.zeros(X.shape[1]), lam)
  key = jax.random.PRNGKey(2)
  with_fixed, _ = partially_affine_cost(key, X, W, enc.mu_z, enc.sigma_z,
                                        lambda z: jnp.full((X.shape[1],), lam), num_samples=20)
  optimised, _ = partially_affine_cost(key, X, W, enc.mu_z, enc.sigma_z, alpha=1e-3,
                                       num_samples=20)
  assert float(optimised) < float(with_fixed)


def test_ae_cost_counts_nonzero_residuals_as_alpha_vanishes():
  rng = np.random.default_rng(5)
  n, d, k = 30, 8, 2
  W = rng.normal(size=(d, k))
  mu = rng.normal(size=(n, k))
  S = np.where(rng.random((n, d)) < 0.2, 5 * rng.normal(size=(n, d)), 0.0)
  X = mu @ W.T + S
  alpha = 1e-200
  c = float(ae_cost(X, W, mu, alpha=alpha))
  count = (c - n * d * np.log(alpha)) / (-np.log(alpha))
  assert abs(count - np.count_nonzero(S)) < 0.05 * np.count_nonzero(S)


# 7. jit, vmap = loop, and bad input
def test_jit_and_vmap_over_parameter_sets_equal_loop():
  X, W, b, lam = _problem(6)
  Ws = jnp.stack([W, 2 * W, W[:, ::-1]])
  lams = jnp.array([0.3, 1.0, 2.0])
  for diagonal in (False, True):
    f = lambda W_, l_, diagonal=diagonal: affine_cost(X, W_, b, l_, diagonal_sigma_z=diagonal)
    batched = jax.jit(jax.vmap(f))(Ws, lams)
    looped = [float(f(w, l_)) for w, l_ in zip(Ws, lams, strict=False)]
    np.testing.assert_allclose(batched, looped, rtol=1e-10)
    mu = jax.jit(jax.vmap(lambda W_, l_: optimal_encoder(X, W_, b, l_).mu_z))(Ws, lams)
    np.testing.assert_allclose(mu[1], optimal_encoder(X, Ws[1], b, lams[1]).mu_z, rtol=1e-8)
  mus = jax.vmap(lambda W_: optimal_encoder(X, W_, b, lam).mu_z)(Ws)
  ae = jax.jit(jax.vmap(lambda W_, m: ae_cost(X, W_, m, alpha=0.01)))(Ws, mus)
  np.testing.assert_allclose(
      ae, [float(ae_cost(X, w, m, alpha=0.01)) for w, m in zip(Ws, mus, strict=True)], rtol=1e-10)
  pa = jax.vmap(lambda W_, m: partially_affine_cost(jax.random.PRNGKey(0), X, W_, m,
                                                    jnp.ones(3), alpha=0.01)[0])(Ws, mus)
  np.testing.assert_allclose(
      pa, [float(partially_affine_cost(jax.random.PRNGKey(0), X, w, m, jnp.ones(3),
                                       alpha=0.01)[0]) for w, m in zip(Ws, mus, strict=True)],
      rtol=1e-10)
  kl = jax.jit(jax.vmap(gaussian_kl))(mus[0], jnp.ones_like(mus[0]))
  np.testing.assert_allclose(kl[3], gaussian_kl(mus[0][3], jnp.ones(3)), rtol=1e-12)


def test_bad_input_raises_clear_errors():
  X, W, b, lam = _problem()
  with pytest.raises(ValueError, match="λ"):
    affine_cost(X, W, b, 0.0)
  with pytest.raises(ValueError, match="shapes disagree"):
    affine_cost(X, W[:-1], b, lam)
  Xn = X.copy()
  Xn[0, 0] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    affine_cost(Xn, W, b, lam)
  with pytest.raises(ValueError, match="2-D"):
    optimal_encoder(X[0], W, b, lam)
  with pytest.raises(ValueError, match="alpha"):
    ae_cost(X, W, np.zeros((X.shape[0], 3)), alpha=-1.0)
  with pytest.raises(ValueError, match="num_samples"):
    neg2_elbo_mc(jax.random.PRNGKey(0), X, None, None, num_samples=0)
