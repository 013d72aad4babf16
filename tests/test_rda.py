"""The robust deep autoencoder's network-free parts (hidden_talents.rda): the proximal steps
against independent minimisations, the outer loop with a linear autoencoder against convex
RPCA, missing entries, bad input."""

import numpy as np
import pytest
from scipy import optimize

from hidden_talents import metrics, rda, rpca


def test_soft_threshold_is_the_l1_proximal_step():
  """argmin_s ½(s − r)² + τ|s| by a fine grid search, entry by entry."""
  rng = np.random.default_rng(0)
  R = rng.normal(scale=2.0, size=(5, 4))
  tau = 0.7
  grid = np.linspace(-8, 8, 160001)
  want = np.array([grid[np.argmin(0.5 * (grid - r) ** 2 + tau * np.abs(grid))]
                   for r in R.ravel()]).reshape(R.shape)
  got = rda.prox(R, tau)
  np.testing.assert_allclose(got, want, atol=2e-4)
  assert np.all(got[np.abs(R) <= tau] == 0)


def test_row_shrink_is_the_l21_proximal_step():
  """argmin_s ½‖s − r‖² + τ‖s‖₂ by a general-purpose minimiser, row by row."""
  rng = np.random.default_rng(1)
  R = rng.normal(size=(4, 3)) * np.array([[0.2], [1.0], [3.0], [0.0]])
  tau = 1.1
  got = rda.row_shrink(R, tau)
  for r, g in zip(R, got):
    f = lambda s, r=r: 0.5 * np.sum((s - r) ** 2) + tau * np.sqrt(np.sum(s**2) + 1e-18)
    best = optimize.minimize(f, r, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000}).x
    np.testing.assert_allclose(g, best, atol=1e-4)
  assert np.all(got[0] == 0) and np.all(got[3] == 0)  # small rows vanish, a zero row stays zero


def test_prox_group_threshold_and_missing_entries():
  R = np.array([[3.0, -0.5, 4.0], [0.2, 0.1, 9.0]])
  observed = np.array([[True, True, False], [True, True, True]])
  S = rda.prox(R, 1.0, observed=observed)
  np.testing.assert_allclose(S, [[2.0, 0.0, 0.0], [0.0, 0.0, 8.0]])
  # ℓ2,1: row threshold λ·√(observed entries): √2 for row 0 (its missing entry left out), √3.
  G = rda.prox(R, 1.0, penalty="l21", observed=observed)
  r0 = np.array([3.0, -0.5])
  np.testing.assert_allclose(G[0, :2], r0 * (1 - np.sqrt(2) / np.linalg.norm(r0)))
  assert G[0, 2] == 0.0
  r1 = R[1]
  np.testing.assert_allclose(G[1], r1 * (1 - np.sqrt(3) / np.linalg.norm(r1)))
  with pytest.raises(ValueError, match="penalty"):
    rda.prox(R, 1.0, penalty="l2")


class _LinearAE:
  """The optimum of a linear autoencoder with biases under the squared loss: the projection onto
  the top-r principal subspace of its (centred) training matrix (Baldi & Hornik 1989)."""

  def __init__(self, rank):
    self.rank = rank
    self.mean = self.V = None
    self.calls = 0

  def train(self, L_D):
    missing = np.isnan(L_D)
    filled = np.where(missing, np.nanmean(L_D, axis=0), L_D)
    for _ in range(1 if not missing.any() else 50):  # missing entries imputed by the projection
      self.mean = filled.mean(0)
      self.V = np.linalg.svd(filled - self.mean, full_matrices=False)[2][: self.rank].T
      filled = np.where(missing, self._project(filled), L_D)
    self.calls += 1

  def _project(self, A):
    return self.mean + (A - self.mean) @ self.V @ self.V.T

  def reconstruct(self, L_D):
    missing = np.isnan(L_D)
    filled = np.where(missing, self.mean, L_D)
    for _ in range(1 if not missing.any() else 50):
      filled = np.where(missing, self._project(filled), L_D)
    return self._project(filled)


def _low_rank_plus_sparse(seed=0, n=300, d=40, r=3, nu=0.1):
  rng = np.random.default_rng(seed)
  L = rng.normal(size=(n, r)) @ rng.normal(size=(r, d))
  mask = rng.random((n, d)) < nu
  X = np.where(mask, L + rng.choice([-1.0, 1.0], size=L.shape) * rng.uniform(3, 6, L.shape), L)
  return X, L, mask


def test_rda_with_a_linear_autoencoder_recovers_low_rank_plus_sparse_like_rpca():
  X, L, mask = _low_rank_plus_sparse(n=400, d=50, nu=0.05)
  ae = _LinearAE(rank=3)
  res = rda.rda_loop(X, lam=0.5, train=ae.train, reconstruct=ae.reconstruct, max_outer=60,
                     tol=1e-6)
  err_rda = float(metrics.nmse(L, res.L))
  out = rpca.robust_pca(X.astype(np.float32))  # PCP, eq. 14, default λ = 1/√max(m, n)
  err_rpca = float(metrics.nmse(L, np.asarray(out.L)))
  assert err_rda < 1e-3 and err_rpca < 1e-3, (err_rda, err_rpca)
  assert res.converged and res.outer == ae.calls < 60
  # S holds the outliers: its support is the corruption's.
  sc = metrics.support_scores(np.abs(res.S) > 1e-6, mask)
  assert float(sc.precision) > 0.95 and float(sc.recall) > 0.95
  # The criterion stalled: its last relative change is below tol.
  c = res.criterion
  assert abs(c[-2] - c[-1]) <= 1e-6 * c[-2]


def test_rda_leaves_missing_entries_out():
  X, L, _ = _low_rank_plus_sparse(seed=2)
  observed = np.random.default_rng(3).random(X.shape) > 0.05
  seen = []
  ae = _LinearAE(rank=3)

  def train(L_D):
    seen.append(np.isnan(L_D))
    ae.train(L_D)

  res = rda.rda_loop(np.where(observed, X, 1e6), lam=0.5, train=train,
                     reconstruct=ae.reconstruct, max_outer=30, tol=1e-6, observed=observed)
  assert all(np.array_equal(s, ~observed) for s in seen)  # the trainer sees them as missing
  assert np.all(res.S[~observed] == 0)  # never thresholded (their 1e6 would be an outlier)
  assert float(metrics.nmse(L, res.L)) < 1e-2  # filled in from the low-rank structure


def test_transform_with_a_fixed_autoencoder():
  X, L, mask = _low_rank_plus_sparse(seed=4)
  ae = _LinearAE(rank=3)
  ae.train(L)  # an autoencoder trained on clean rows
  one, _ = rda.rda_transform(X, lam=0.5, reconstruct=ae.reconstruct, iterations=1)
  np.testing.assert_allclose(one, ae.reconstruct(X))  # 1 iteration: the plain reconstruction
  many, S = rda.rda_transform(X, lam=0.5, reconstruct=ae.reconstruct, iterations=30)
  assert float(metrics.nmse(L, many)) < 0.1 * float(metrics.nmse(L, one))
  assert float(metrics.support_scores(np.abs(S) > 1e-6, mask).recall) > 0.9


@pytest.mark.parametrize("lam", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_lambda_is_refused(lam):
  ae = _LinearAE(rank=1)
  with pytest.raises(ValueError, match="lam"):
    rda.rda_loop(np.ones((4, 3)), lam=lam, train=ae.train, reconstruct=ae.reconstruct,
                 max_outer=2, tol=1e-3)
