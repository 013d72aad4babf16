"""Convex robust PCA — principal component pursuit (PCP, eq. 14) by the inexact ALM.

PCP [Candès, Li, Ma & Wright 2011] is the convex surrogate of the combinatorial RPCA problem (10):

    min_{L, S}  ‖L‖_* + λ ‖S‖₁   s.t.  X = L + S.

The paper (Sec. 5.1, model 4) writes it as eq. (14) with the nuclear norm weighted by √n; that is
the same problem with λ = 1/√n (divide by √n; n samples ≥ d, so 1/√max). We solve it with the
inexact augmented Lagrange multiplier method, Algorithm 5 of [Lin, Chen & Ma 2010], with the
published defaults:

    λ = 1/√max(m, n),  μ₀ = 1.25/‖X‖₂,  μ̄ = 10⁷·μ₀,  ρ = 1.5,
    Y₀ = X / J(X),  J(X) = max(‖X‖₂, ‖X‖_∞/λ),  S₀ = 0,
    repeat:  L ← D_{1/μ}(X − S + Y/μ)          (singular value thresholding)
             S ← S_{λ/μ}(X − L + Y/μ)          (entrywise soft thresholding)
             Y ← Y + μ (X − L − S);   μ ← min(ρ μ, μ̄)
    until    ‖X − L − S‖_F / ‖X‖_F < tol.

Missing entries (``observed=``, True = observed, as tensorly's ``robust_pca`` ``mask``): PCP with
an observed set Ω [Candès et al. 2011, Sec. 1.6 and Theorem 1.2],

    min_{L, S}  ‖L‖_* + λ ‖P_Ω(S)‖₁   s.t.  P_Ω(X) = P_Ω(L + S),

solved by the same iteration with S free (not thresholded) off Ω: there S takes X − L + Y/μ
whole, so the constraint holds off Ω at every step and Y stays 0 there; X off Ω is never read
(set to 0), and the stopping residual is ‖P_Ω(X − L − S)‖_F / ‖P_Ω(X)‖_F. λ defaults to
1/√(ρ·max(m, n)) with ρ the observed fraction (Theorem 1.2's 1/√(0.1 n) at ρ = 0.1), which is
1/√max(m, n) when every entry is observed. L fills the missing entries in.

The whole solve is one ``lax.while_loop``; it is jit-compiled and works under ``jax.vmap`` over a
batch of same-shape matrices. Under vmap the loop runs until every matrix has converged; matrices
that have finished keep their state (JAX's batched ``while_loop`` selects the old carry for them),
so each result, iteration count included, equals the one of a solo run (tested).
:func:`robust_pca_batched` bounds memory by mapping ``vmap`` over chunks with ``lax.map`` and
takes a per-matrix λ.

λ conventions (all accepted; any λ > 0 works):
  * ``1/√max(m, n)`` — Candès et al. (Thm 1.1), our default, and the one that recovers thin
    matrices (e.g. 4000 × 100); it is also the paper's eq. (14) with n samples.
  * ``1/√m`` with m = number of rows — Lin et al.'s MATLAB ``inexact_alm_rpca.m``. For a wide
    100 × 4000 matrix this is 1/√min(m, n) = 0.1, which over-penalises S and fails completely
    (tested); for tall matrices it coincides with the default.
  * tensorly's ``robust_pca`` (``reg_E`` = 1 multiplies 1/√max(m, n) by a user factor); pass
    ``lam = factor / sqrt(max(m, n))``.

Singular value thresholding costs O(m·n·min(m, n)) per iteration and never forms a max(m, n)²
array. Two routes (``svt=``):
  * ``"svd"``: thin SVD (``full_matrices=False``; LAPACK gesdd reduces a tall matrix by QR first).
  * ``"gram"``: eigh of the min(m, n)² Gram matrix, L = M V diag((σ − τ)₊/σ) Vᵀ; 2–3× faster on
    CPU for 4000 × 100, but it squares the condition number: singular values below √ε·‖M‖₂ are
    garbage. Measured on 4000 × 100, rank 5 with singular values 1 … 10⁻⁴, 5 % sign outliers
    (bench/rpca_bench.py ``--svt_accuracy``): float32 Gram → rel. error of L 1.5·10⁻⁴ vs 4·10⁻⁷
    for the SVD; float64 → both 5.6·10⁻⁸.
  ``"auto"`` (default) therefore takes the SVD in float32 and the Gram route in float64.

Tolerance: the published tol = 10⁻⁷ is the default in float64. Float32 cannot reach it (the
residual stalls near 1.5·10⁻⁷ and the loop would run to ``max_iter`` while the error of L grows),
so the float32 default is 10⁻⁶ (measured: rel. error of L ≈ 10⁻⁶ after ~16 iterations).

References:
  Lin, Chen & Ma (2010), "The Augmented Lagrange Multiplier Method for Exact Recovery of Corrupted
  Low-Rank Matrices", arXiv:1009.5055, Algorithm 5.
  Candès, Li, Ma & Wright (2011), "Robust Principal Component Analysis?", J. ACM 58(3).
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

MU0_FACTOR = 1.25  # μ₀ = 1.25 / ‖X‖₂ (Lin et al. 2010, Sec. 4 / MATLAB code)
MU_BAR_FACTOR = 1e7  # μ̄ = 10⁷ · μ₀
DEFAULT_TOL = {"float64": 1e-7, "float32": 1e-6}  # published 1e-7; float32 stalls just above it
SVT_METHODS = ("auto", "svd", "gram")


class RPCAResult(NamedTuple):
  """Result of :func:`robust_pca` (leading batch axis under vmap / :func:`robust_pca_batched`).

  Attributes:
    L: low-rank part, same shape and dtype as the (floating) input.
    S: sparse part; ``X ≈ L + S``.
    iterations: number of ALM iterations run (int32).
    converged: whether ‖X − L − S‖_F/‖X‖_F < tol was reached within ``max_iter``.
    residual: final ‖X − L − S‖_F / ‖X‖_F (0 for an all-zero X).
    lam: the λ used.
  """

  L: jax.Array
  S: jax.Array
  iterations: jax.Array
  converged: jax.Array
  residual: jax.Array
  lam: jax.Array

  @property
  def dtype(self) -> jnp.dtype:
    """The floating dtype the solve ran in (float32 by default, float64 with x64 + f64 input)."""
    return self.L.dtype


def default_lam(shape: tuple[int, ...]) -> float:
  """λ = 1/√max(m, n) (Candès et al. 2011) for an m × n matrix (trailing two axes of ``shape``)."""
  m, n = shape[-2:]
  return 1.0 / math.sqrt(max(m, n))


def default_lam_observed(shape: tuple[int, ...], observed_fraction: float) -> float:
  """λ = 1/√(ρ·max(m, n)) for an m × n matrix of which a fraction ρ is observed (Candès et al.
  2011, Theorem 1.2: 1/√(0.1 n) at ρ = 0.1)."""
  m, n = shape[-2:]
  return 1.0 / math.sqrt(observed_fraction * max(m, n))


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def _check_hyper(tol: float | None, max_iter: int, rho: float, svt_method: str) -> None:
  if svt_method not in SVT_METHODS:
    raise ValueError(f"robust_pca: svt must be one of {SVT_METHODS}, got {svt_method!r}")
  if tol is not None and not (isinstance(tol, numbers.Real) and 0.0 < tol < 1.0):
    raise ValueError(f"robust_pca: tol must be a number in (0, 1), got {tol!r}")
  if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
    raise ValueError(f"robust_pca: max_iter must be a positive int, got {max_iter!r}")
  if not (isinstance(rho, numbers.Real) and rho > 1.0 and math.isfinite(rho)):
    raise ValueError(f"robust_pca: rho must be a finite number > 1, got {rho!r}")


def _check_matrix(X, ndim: int, name: str) -> None:
  shape = np.shape(X)
  if len(shape) != ndim:
    what = "an m × n matrix" if ndim == 2 else "a (B, m, n) stack of matrices"
    raise ValueError(f"{name}: X must be {what}, got shape {shape}")
  if any(s == 0 for s in shape):
    raise ValueError(f"{name}: X must be non-empty, got shape {shape}")
  if _is_concrete(X):
    a = np.asarray(X)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
      raise ValueError(f"{name}: X must be numeric, got dtype {a.dtype}")
    if np.iscomplexobj(a):
      raise ValueError(f"{name}: complex X is not supported")
    if not np.all(np.isfinite(a)):
      raise ValueError(f"{name}: X contains NaN or Inf")


def _check_lam(lam, name: str) -> None:
  if lam is None or not _is_concrete(lam):
    return
  a = np.asarray(lam)
  if not np.all(np.isfinite(a)) or not np.all(a > 0):
    raise ValueError(f"{name}: lam must be finite and > 0, got {lam!r}")


def _float_dtype(X) -> jnp.dtype:
  """float32/float64 input keeps its dtype (float64 needs x64); anything else → default float."""
  dtype = jnp.result_type(X)
  if jnp.issubdtype(dtype, jnp.floating):
    return jnp.promote_types(dtype, jnp.float32)  # float16/bfloat16 → float32
  return jnp.result_type(float)


def svt(M: jax.Array, tau: jax.Array) -> jax.Array:
  """Singular value thresholding D_τ(M) = U max(Σ − τ, 0) Vᵀ, thin SVD, O(m·n·min(m, n))."""
  U, s, Vt = jnp.linalg.svd(M, full_matrices=False)
  return (U * jnp.maximum(s - tau, 0.0)) @ Vt


def _svt_gram(M: jax.Array, tau: jax.Array) -> jax.Array:
  """D_τ(M) = M V diag((σ − τ)₊/σ) Vᵀ via eigh of the min(m, n)² Gram matrix (float64 route)."""
  tall = M.shape[0] >= M.shape[1]
  A = M if tall else M.T
  evals, V = jnp.linalg.eigh(A.T @ A)
  s = jnp.sqrt(jnp.maximum(evals, 0.0))
  factor = jnp.where(s > tau, (s - tau) / jnp.where(s > 0, s, 1.0), 0.0)
  out = A @ ((V * factor) @ V.T)
  return out if tall else out.T


def spectral_norm(M: jax.Array) -> jax.Array:
  """‖M‖₂ = √λ_max(MᵀM) from the min(m, n)² Gram matrix.

  (``jnp.linalg.svd(M, compute_uv=False)`` lowers to a LAPACK call whose outputs include a
  max(m, n)² U buffer, 1.6 GB for 100 × 20000 float32; the largest Gram eigenvalue is accurate to
  relative ε.)
  """
  A = M if M.shape[0] >= M.shape[1] else M.T
  return jnp.sqrt(jnp.maximum(jnp.linalg.eigvalsh(A.T @ A)[-1], 0.0))


def soft_threshold(M: jax.Array, tau: jax.Array) -> jax.Array:
  """Entrywise shrinkage S_τ(M) = sign(M) max(|M| − τ, 0)."""
  return jnp.sign(M) * jnp.maximum(jnp.abs(M) - tau, 0.0)


class _State(NamedTuple):
  L: jax.Array
  S: jax.Array
  Y: jax.Array
  mu: jax.Array
  k: jax.Array
  residual: jax.Array


def _resolve(dtype, tol: float | None, svt_method: str) -> tuple[float, bool]:
  """(tol, use_gram) for the working dtype (see the module docstring)."""
  wide = jnp.dtype(dtype) == jnp.float64
  if tol is None:
    tol = DEFAULT_TOL["float64" if wide else "float32"]
  gram = svt_method == "gram" or (svt_method == "auto" and wide)
  return float(tol), gram


def _solve(X: jax.Array, lam: jax.Array, *, tol: float, max_iter: int, rho: float,
           gram: bool = False, observed: jax.Array | None = None) -> RPCAResult:
  """Inexact ALM for one matrix; pure and traceable (no checks). See the module docstring.
  ``observed`` (None: every entry) is the 0/1 mask Ω of the missing-entry variant."""
  dtype = X.dtype
  lam = jnp.asarray(lam, dtype)
  threshold = _svt_gram if gram else svt
  if observed is not None:
    W = jnp.asarray(observed, dtype)
    X = jnp.where(W > 0, X, 0)  # never read off Ω (NaN there is fine)
  norm_fro = jnp.linalg.norm(X)
  norm_two = spectral_norm(X)
  norm_inf = jnp.max(jnp.abs(X))
  zero = norm_fro == 0  # all-zero X: L = S = 0, converged at once
  safe_fro = jnp.where(zero, 1.0, norm_fro)
  safe_two = jnp.where(zero, 1.0, norm_two)
  Y0 = X / jnp.maximum(safe_two, norm_inf / lam)
  mu0 = MU0_FACTOR / safe_two
  mu_bar = MU_BAR_FACTOR * mu0
  tol = jnp.asarray(tol, dtype)

  def cond(st: _State) -> jax.Array:
    return (st.residual >= tol) & (st.k < max_iter)

  def body(st: _State) -> _State:
    inv_mu = 1.0 / st.mu
    L = threshold(X - st.S + inv_mu * st.Y, inv_mu)
    T = X - L + inv_mu * st.Y
    S = soft_threshold(T, lam * inv_mu)
    if observed is None:
      Z = X - L - S
    else:  # S free off Ω: the constraint holds there, and Y stays 0
      S = jnp.where(W > 0, S, T)
      Z = W * (X - L - S)
    Y = st.Y + st.mu * Z
    mu = jnp.minimum(rho * st.mu, mu_bar)
    return _State(L, S, Y, mu, st.k + 1, jnp.linalg.norm(Z) / safe_fro)

  init = _State(jnp.zeros_like(X), jnp.zeros_like(X), Y0, mu0, jnp.zeros((), jnp.int32),
                norm_fro / safe_fro)
  st = lax.while_loop(cond, body, init)
  return RPCAResult(st.L, st.S, st.k, st.residual < tol, st.residual, lam)


_solve_jit = jax.jit(_solve, static_argnames=("tol", "max_iter", "rho", "gram"))


def robust_pca(
    X: ArrayLike,
    *,
    lam: ArrayLike | None = None,
    tol: float | None = None,
    max_iter: int = 1000,
    rho: float = 1.5,
    svt: str = "auto",
    observed: ArrayLike | None = None,
) -> RPCAResult:
  """Principal component pursuit (eq. 14) by inexact ALM (Lin, Chen & Ma 2010, Algorithm 5).

  Any m × n real matrix (our data convention is samples as rows, X is n × d). Jit-compiled; under
  ``jax.vmap`` the input checks are skipped and a batch is solved in one program (see also
  :func:`robust_pca_batched`). Float32 by default; float64 when x64 is enabled and X is float64
  (``result.dtype`` says which).

  Args:
    X: the data matrix, m × n, finite.
    lam: weight λ of ‖S‖₁; default 1/√max(m, n) (see the module docstring for other conventions).
    tol: stop when ‖X − L − S‖_F/‖X‖_F < tol; in (0, 1). Default 1e-7 (published) in float64,
      1e-6 in float32, which cannot reach 1e-7.
    max_iter: iteration cap, ≥ 1.
    rho: growth factor of the penalty μ, > 1 (μ is capped at μ̄ = 10⁷ μ₀).
    svt: ``"auto"`` (SVD in float32, Gram eigh in float64), ``"svd"`` or ``"gram"``.
    observed: optional boolean mask shaped like X, True = observed (tensorly's ``mask``): PCP
      with missing entries (module docstring); X is read only where observed (NaN is fine
      elsewhere), L fills the rest in, and λ defaults to 1/√(ρ·max(m, n)), ρ the observed
      fraction. None (the default) is the plain solve, unchanged.

  Returns:
    :class:`RPCAResult` with ``L``, ``S``, ``iterations``, ``converged``, ``residual``, ``lam``
    (with ``observed``: S = X − L on the observed entries, and whatever makes L + S = 0 off them).

  Raises:
    ValueError: (concrete inputs only) X not 2-D, empty, non-finite where observed; λ ≤ 0;
      tol/max_iter/rho out of range; a mask that is not boolean, of another shape, or observes
      nothing.
  """
  _check_hyper(tol, max_iter, rho, svt)
  if observed is not None:
    observed = _check_observed(observed, np.shape(X))
    if _is_concrete(X) and _is_concrete(observed):
      X = jnp.where(jnp.asarray(observed), jnp.asarray(X), 0)
  _check_matrix(X, 2, "robust_pca")
  _check_lam(lam, "robust_pca")
  X = jnp.asarray(X)
  X = X.astype(_float_dtype(X))
  if lam is None and observed is None:
    lam = default_lam(X.shape)
  elif lam is None and _is_concrete(observed):
    lam = default_lam_observed(X.shape, float(np.mean(np.asarray(observed))))
  elif lam is None:  # traced (vmap): the same rule in jnp
    lam = 1.0 / jnp.sqrt(jnp.mean(jnp.asarray(observed, X.dtype)) * max(X.shape))
  if jnp.ndim(lam) != 0:
    raise ValueError(f"robust_pca: lam must be a scalar, got shape {jnp.shape(lam)}")
  tol, gram = _resolve(X.dtype, tol, svt)
  if observed is None:
    return _solve_jit(X, lam, tol=tol, max_iter=int(max_iter), rho=float(rho), gram=gram)
  return _solve_jit(X, lam, tol=tol, max_iter=int(max_iter), rho=float(rho), gram=gram,
                    observed=jnp.asarray(observed))


def _check_observed(observed: ArrayLike, shape: tuple[int, ...]) -> ArrayLike:
  """The observed-entry mask, checked where it is concrete (boolean, X's shape, one entry at
  least)."""
  if np.shape(observed) != tuple(shape):
    raise ValueError(f"robust_pca: observed has shape {np.shape(observed)}, but X has shape "
                     f"{tuple(shape)}")
  if _is_concrete(observed):
    a = np.asarray(observed)
    if a.dtype != np.bool_:
      raise ValueError(f"robust_pca: observed must be a boolean mask (True = observed), got "
                       f"dtype {a.dtype}")
    if not a.any():
      raise ValueError("robust_pca: observed has no True entry: nothing to solve")
  return observed


def _solve_chunks(Xs: jax.Array, lams: jax.Array, *, chunk_size: int, tol: float,
                  max_iter: int, rho: float, gram: bool) -> RPCAResult:
  B = Xs.shape[0]
  n_chunks = -(-B // chunk_size)
  pad = n_chunks * chunk_size - B
  if pad:  # pad with copies of the first matrix (finite, converges like a real one)
    Xs = jnp.concatenate([Xs, jnp.broadcast_to(Xs[:1], (pad,) + Xs.shape[1:])])
    lams = jnp.concatenate([lams, jnp.broadcast_to(lams[:1], (pad,))])
  Xs = Xs.reshape((n_chunks, chunk_size) + Xs.shape[1:])
  lams = lams.reshape(n_chunks, chunk_size)
  solve = jax.vmap(lambda x, l: _solve(x, l, tol=tol, max_iter=max_iter, rho=rho, gram=gram))
  out = lax.map(lambda xl: solve(*xl), (Xs, lams))
  return jax.tree.map(lambda a: a.reshape((n_chunks * chunk_size,) + a.shape[2:])[:B], out)


_solve_chunks_jit = jax.jit(_solve_chunks,
                            static_argnames=("chunk_size", "tol", "max_iter", "rho", "gram"))


def robust_pca_batched(
    Xs: ArrayLike,
    *,
    lam: ArrayLike | None = None,
    chunk_size: int | None = None,
    tol: float | None = None,
    max_iter: int = 1000,
    rho: float = 1.5,
    svt: str = "auto",
) -> RPCAResult:
  """:func:`robust_pca` on a stack of same-shape matrices, one compiled program.

  The stack is cut into chunks of ``chunk_size`` matrices; ``vmap`` solves a chunk (its while loop
  runs until the chunk's slowest matrix converges, finished ones frozen), ``lax.map`` walks the
  chunks, so memory is O(chunk_size · m · n) whatever B is.

  Args:
    Xs: (B, m, n) matrices.
    lam: None (1/√max(m, n) for all), a scalar, or a (B,) array of per-matrix λ (e.g. a sweep that
      tries several λ per cell repeats each matrix with different λ).
    chunk_size: matrices per vmapped chunk; default min(B, 32).
    tol, max_iter, rho, svt: as in :func:`robust_pca`.

  Returns:
    :class:`RPCAResult` whose fields have a leading axis B.
  """
  _check_hyper(tol, max_iter, rho, svt)
  _check_matrix(Xs, 3, "robust_pca_batched")
  _check_lam(lam, "robust_pca_batched")
  Xs = jnp.asarray(Xs)
  Xs = Xs.astype(_float_dtype(Xs))
  B = Xs.shape[0]
  if chunk_size is None:
    chunk_size = min(B, 32)
  if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
      or chunk_size < 1:
    raise ValueError(f"robust_pca_batched: chunk_size must be a positive int, got {chunk_size!r}")
  chunk_size = min(int(chunk_size), B)
  if lam is None:
    lam = default_lam(Xs.shape)
  lams = jnp.asarray(lam, Xs.dtype)
  if lams.ndim == 0:
    lams = jnp.full((B,), lams)
  if lams.shape != (B,):
    raise ValueError(f"robust_pca_batched: lam must be a scalar or shape ({B},), "
                     f"got {lams.shape}")
  tol, gram = _resolve(Xs.dtype, tol, svt)
  return _solve_chunks_jit(Xs, lams, chunk_size=chunk_size, tol=tol, max_iter=int(max_iter),
                           rho=float(rho), gram=gram)
