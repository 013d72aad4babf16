"""The robust deep autoencoder (RDA) of Zhou & Paffenroth, the nonlinear robust PCA peer.

C. Zhou and R. C. Paffenroth, "Anomaly Detection with Robust Deep Autoencoders", KDD 2017.

RDA splits X = L_D + S with L_D what an autoencoder reconstructs and S sparse,

    min_{θ, S}  ‖L_D − D_θ(E_θ(L_D))‖²_F + λ‖S‖₁   s.t.  X − L_D − S = 0,

(ℓ1 RDA; the group variant puts λ‖S‖₂,₁ on whole rows instead, for outlying samples), and solves
it by alternating (the paper's Algorithm 1):

1. L_D = X − S; train the autoencoder on L_D for a number of inner steps (the same network and
   optimiser state go on from one outer iteration to the next);
2. L_D = D(E(L_D)), its reconstruction;
3. S = prox_λ(X − L_D): soft-thresholding (ℓ1) or row-wise group shrinkage (ℓ2,1);
4. stop when c = ‖X − L_D − S‖_F / ‖X‖_F stalls (relative change below ``tol``) or after
   ``max_outer`` iterations.

This module holds the parts that do not depend on the network: the proximal operators and the
outer loop (:func:`rda_loop`), which calls back into whatever trains and applies the autoencoder
(``hidden_talents.robust`` wires it to the project's engine). Everything works on robustly
standardised data (each column centred on its median and divided by 1.4826·MAD), so λ is a
threshold in units of the robust column scale: an entry of X − L_D is shrunk by λ standard
deviations of its column. The group variant shrinks a row r by the threshold λ·√(observed
entries of the row), so a row whose entries all sit λ deviations out is at the threshold.

On λ, the paper treats it as a tuning parameter and reports results over a range of values; its
public code thresholds at λ/μ with μ = nd / (4‖X‖₁), the step size of convex RPCA's inexact ALM,
so its λ is relative to the mean absolute entry of X. Here λ is set once, by a rule stated in
robust column units (``hidden_talents.robust`` gives the default and the measurement behind it),
and never per data set.

Missing entries (``observed`` False) are left out of the autoencoder's loss by the trainer and of
the threshold here: S is 0 there and they do not count in the stopping criterion.

New rows (:func:`rda_transform`): a few proximal iterations with the trained autoencoder fixed,
from S = 0: L = D(E(X − S)), S = prox_λ(X − L). It is the fit's own outer loop without training.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from hidden_talents import rpca

PENALTIES = ("l1", "l21")


def row_shrink(R: np.ndarray, tau: np.ndarray | float) -> np.ndarray:
  """prox of τ‖·‖₂,₁ over rows: rᵢ·max(0, 1 − τᵢ/‖rᵢ‖₂) (a zero row stays zero).

  ``tau`` is a scalar or one threshold per row.
  """
  R = np.asarray(R)
  norms = np.linalg.norm(R, axis=1)
  tau = np.broadcast_to(np.asarray(tau, R.dtype), norms.shape)
  scale = np.where(norms > tau, 1.0 - tau / np.where(norms > 0, norms, 1.0), 0.0)
  return R * scale[:, None]


def prox(R: np.ndarray, lam: float, *, penalty: str = "l1",
         observed: np.ndarray | None = None) -> np.ndarray:
  """S = prox_λ(R) of the residual R = X − L_D, 0 at missing entries.

  Args:
    R: (n, d) residual in robust column units.
    lam: λ > 0, the threshold in robust standard deviations (ℓ1), or per entry of a row (ℓ2,1:
      row threshold λ·√(observed entries of the row)).
    penalty: 'l1' (entrywise, the default) or 'l21' (whole rows).
    observed: optional (n, d) bool; False entries are missing: left out, S = 0 there.

  Returns:
    (n, d) S.
  """
  if penalty not in PENALTIES:
    raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
  R = np.asarray(R, np.float64)
  if observed is not None:
    R = np.where(observed, R, 0.0)
  if penalty == "l1":  # prox of λ‖·‖₁: convex RPCA's entrywise shrinkage
    S = np.asarray(rpca.soft_threshold(R, lam), np.float64)
  else:
    count = R.shape[1] if observed is None else np.sum(observed, axis=1)
    S = row_shrink(R, lam * np.sqrt(count))
  return S if observed is None else np.where(observed, S, 0.0)


class RDAResult(NamedTuple):
  L: np.ndarray  # (n, d) L_D, the autoencoder's reconstruction at the last outer iteration
  S: np.ndarray  # (n, d) the sparse part, prox_λ(X − L_D)
  outer: int  # outer iterations run
  converged: bool  # the stopping criterion was met before max_outer
  criterion: list[float]  # ‖X − L_D − S‖_F / ‖X‖_F after each outer iteration


def _fro(A: np.ndarray, observed: np.ndarray | None) -> float:
  return float(np.sqrt(np.sum(np.square(A if observed is None else np.where(observed, A, 0.0)))))


def rda_loop(X: np.ndarray, *, lam: float, train: Callable[[np.ndarray], None],
             reconstruct: Callable[[np.ndarray], np.ndarray], max_outer: int, tol: float,
             penalty: str = "l1", observed: np.ndarray | None = None,
             on_outer: Callable[[int, float], None] | None = None) -> RDAResult:
  """RDA's alternating minimisation (Zhou & Paffenroth's Algorithm 1).

  Args:
    X: (n, d) data in robust column units (missing entries may hold anything).
    lam: λ, see :func:`prox`.
    train: ``train(L_D)`` trains the autoencoder for one outer iteration's inner steps on L_D
      (missing entries are NaN), keeping its state for the next call.
    reconstruct: ``reconstruct(L_D) -> D(E(L_D))`` with the current autoencoder (NaN entries of
      L_D are missing).
    max_outer: most outer iterations (≥ 1).
    tol: stop once the criterion ‖X − L_D − S‖_F / ‖X‖_F changes by less than ``tol`` relative to
      its previous value.
    penalty: 'l1' or 'l21' (:func:`prox`).
    observed: optional (n, d) bool mask of observed entries.
    on_outer: optional ``on_outer(iteration, criterion)`` after each outer iteration (progress).

  Returns:
    ``RDAResult``.
  """
  if not (lam > 0 and math.isfinite(lam)):
    raise ValueError(f"lam must be a finite number > 0, got {lam!r}")
  if int(max_outer) < 1:
    raise ValueError(f"max_outer must be a positive integer, got {max_outer!r}")
  X = np.asarray(X, np.float64)
  S = np.zeros_like(X)
  norm_x = max(_fro(X, observed), 1e-30)
  history: list[float] = []
  converged = False
  L = np.zeros_like(X)
  for it in range(int(max_outer)):
    L_D = X - S
    if observed is not None:
      L_D = np.where(observed, L_D, np.nan)
    train(L_D)
    L = np.asarray(reconstruct(L_D), np.float64)
    S = prox(X - L, lam, penalty=penalty, observed=observed)
    c = _fro(X - L - S, observed) / norm_x
    history.append(c)
    if on_outer is not None:
      on_outer(it + 1, c)
    if it > 0 and abs(history[-2] - c) <= tol * max(history[-2], 1e-30):
      converged = True
      break
  return RDAResult(L=L, S=S, outer=len(history), converged=converged, criterion=history)


def rda_transform(X: np.ndarray, *, lam: float,
                  reconstruct: Callable[[np.ndarray], np.ndarray], iterations: int,
                  penalty: str = "l1", observed: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
  """(L, S) of new rows with the trained autoencoder fixed: ``iterations`` proximal iterations
  from S = 0 (L = D(E(X − S)), S = prox_λ(X − L)); with 1 iteration L is the plain
  reconstruction of X."""
  if int(iterations) < 1:
    raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
  X = np.asarray(X, np.float64)
  S = np.zeros_like(X)
  L = S
  for _ in range(int(iterations)):
    L_D = X - S
    if observed is not None:
      L_D = np.where(observed, L_D, np.nan)
    L = np.asarray(reconstruct(L_D), np.float64)
    S = prox(X - L, lam, penalty=penalty, observed=observed)
  return L, S
