"""Seconds per matrix: batched JAX PCP solver vs a NumPy implementation of the same algorithm.

  python bench/rpca_bench.py                      # sweep shapes: 20 × (4000 × 100), rank 10, ν 0.1
  python bench/rpca_bench.py --svt_accuracy       # SVD vs Gram SVT accuracy (rpca.py docstring)

Both solvers run Lin, Chen & Ma (2010) Algorithm 5 with the same defaults (λ = 1/√max(m, n),
tol 1e-6 in float32 / 1e-7 in float64) in the same process. JAX times exclude compilation
(printed separately); every number is the median of ``--repeats`` runs. The machine may be shared:
the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from hidden_talents import rpca  # noqa: E402
from hidden_talents.data.lowrank import lowrank_plus_sparse  # noqa: E402


def numpy_inexact_alm(X: np.ndarray, lam: float, *, tol: float, max_iter: int = 1000,
                      rho: float = 1.5) -> tuple[np.ndarray, np.ndarray, int]:
  """Lin, Chen & Ma (2010) Algorithm 5 in NumPy (thin SVD), in X's dtype."""
  norm_two = np.linalg.norm(X, 2)
  norm_fro = np.linalg.norm(X)
  Y = X / max(norm_two, np.abs(X).max() / lam)
  mu = 1.25 / norm_two
  mu_bar = mu * 1e7
  L = np.zeros_like(X)
  S = np.zeros_like(X)
  for k in range(1, max_iter + 1):  # noqa: B007 -- k (the iteration count) is returned below
    U, s, Vt = np.linalg.svd(X - S + Y / mu, full_matrices=False)
    L = (U * np.maximum(s - 1 / mu, 0)) @ Vt
    T = X - L + Y / mu
    S = np.sign(T) * np.maximum(np.abs(T) - lam / mu, 0)
    Z = X - L - S
    Y = Y + mu * Z
    mu = min(mu * rho, mu_bar)
    if np.linalg.norm(Z) / norm_fro < tol:
      break
  return L, S, k


def _median_time(fn, repeats: int) -> tuple[float, object]:
  times, out = [], None
  for _ in range(repeats):
    t = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - t)
  return statistics.median(times), out


def bench(args) -> None:
  shape = (args.rows, args.cols)
  keys = jax.random.split(jax.random.key(0), args.batch)
  for dtype in args.dtypes:
    with jax.enable_x64(dtype == "float64"):
      gen = jax.vmap(lambda k: lowrank_plus_sparse(k, args.rank, args.corruption, shape=shape))
      data = gen(keys)
      Xs = data.X.astype(dtype)
      lam = rpca.default_lam(shape)
      tol = rpca.DEFAULT_TOL[dtype]
      solve = lambda Xs=Xs: jax.block_until_ready(  # noqa: E731
          rpca.robust_pca_batched(Xs, chunk_size=args.chunk_size))
      t = time.perf_counter()
      solve()
      first = time.perf_counter() - t
      t_jax, res = _median_time(solve, args.repeats)
      compile_s = first - t_jax
      Xs_np = np.asarray(Xs)
      t_np, outs = _median_time(
          lambda Xs_np=Xs_np, lam=lam, tol=tol: [numpy_inexact_alm(X, lam, tol=tol)
                                                 for X in Xs_np],
          args.repeats)
      L_np = np.stack([o[0] for o in outs])
      it_np = [o[2] for o in outs]
      err = lambda L, data=data: float(np.median(  # noqa: E731
          np.linalg.norm(np.asarray(L, np.float64) - np.asarray(data.L, np.float64), axis=(1, 2))
          / np.linalg.norm(np.asarray(data.L, np.float64), axis=(1, 2))))
      svt = "Gram eigh" if dtype == "float64" else "thin SVD"
      print(f"[{dtype}] {args.batch} × {shape}, rank {args.rank}, ν {args.corruption}, "
            f"tol {tol:g}, JAX SVT: {svt}, chunk {args.chunk_size}")
      print(f"  JAX   : {t_jax / args.batch:.4f} s/matrix  (batch {t_jax:.2f} s; compile ≈ "
            f"{compile_s:.2f} s; iterations {int(res.iterations.min())}–"
            f"{int(res.iterations.max())}; median rel. error of L {err(res.L):.1e})")
      print(f"  NumPy : {t_np / args.batch:.4f} s/matrix  (batch {t_np:.2f} s; iterations "
            f"{min(it_np)}–{max(it_np)}; median rel. error of L {err(L_np):.1e})")
      print(f"  NumPy / JAX time ratio: {t_np / t_jax:.2f}")
  print(f"load average: {os.getloadavg()}")


def svt_accuracy(args) -> None:
  """Rank 5 with singular values 1 … 10⁻⁴, 5 % sign outliers: error of L per SVT route."""
  for dtype in ("float32", "float64"):
    with jax.enable_x64(dtype == "float64"):
      k1, k2, k3, k4 = jax.random.split(jax.random.key(3), 4)
      m, n = args.rows, args.cols
      U = jnp.linalg.qr(jax.random.normal(k1, (m, 5), dtype))[0]
      V = jnp.linalg.qr(jax.random.normal(k2, (n, 5), dtype))[0]
      L = (U * jnp.array([1, 1e-1, 1e-2, 1e-3, 1e-4], dtype)) @ V.T * np.sqrt(m * n)
      mask = jax.random.uniform(k3, L.shape) < 0.05
      X = L + jnp.where(mask, jax.random.rademacher(k4, L.shape, dtype), 0)
      for route in ("svd", "gram"):
        solve = lambda r=route, X=X: jax.block_until_ready(rpca.robust_pca(X, svt=r))  # noqa: E731
        solve()
        t, r = _median_time(solve, args.repeats)
        e = float(jnp.linalg.norm(r.L - L) / jnp.linalg.norm(L))
        print(f"[{dtype}] svt={route:4s}: rel. error of L {e:.1e}, {int(r.iterations)} "
              f"iterations, {t:.3f} s")


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rows", type=int, default=4000, help="samples (X is samples × d)")
  p.add_argument("--cols", type=int, default=100, help="data dimension d")
  p.add_argument("--rank", type=int, default=10)
  p.add_argument("--corruption", type=float, default=0.1)
  p.add_argument("--batch", type=int, default=20)
  p.add_argument("--chunk_size", type=int, default=20)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                 choices=["float32", "float64"])
  p.add_argument("--svt_accuracy", action="store_true")
  args = p.parse_args()
  if args.svt_accuracy:
    svt_accuracy(args)
  else:
    bench(args)


if __name__ == "__main__":
  main()
