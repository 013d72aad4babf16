"""Robust decomposition X = L + S of a user's own matrix: the VAE as a nonlinear robust PCA.

Sec. 3 (Theorem 4, eqs. 12–13) and Sec. 6: at the VAE's optimum the decoder mean μx(μz[x]) lies on
the inlier manifold and the support of the learned decoder variance Σx marks the outliers,
``supp_α(diag Σx) = supp(s)``. With Σx optimised out per entry (eq. 69, the engine's ξα) the
optimal variance of entry j of sample i is

    Σx,ij = max(α, r²ᵢⱼ),   r = x − μx(μz[x]),

so every entry whose residual exceeds the inlier noise level gets a large variance. This module

1. standardises the columns of X (robust to outliers: median and 1.4826·MAD per column; so that α
   means the same thing for every column),
2. trains one VAE (model 1 of Sec. 5.1, κ latent dimensions, C2 = 1: no tuning) on the rows
   through the engine's fixed-dataset mode (``train.make_train`` with ``data=X``, ν = 0 since X is
   already corrupted) — or solves convex RPCA (PCP, eq. 14) with ``method="rpca"``,
3. returns L = μx(μz[X]) un-standardised, S = X − L (the whole residual: dense, small on inliers;
   ``np.where(mask, S, 0)`` is the sparse outlier part of eq. 13), and the outlier mask

    mask_ij = Σx,ij > max(α, (k·σⱼ)²)  ⇔  |rᵢⱼ| > max(√α, k·σⱼ),

   where σⱼ = 1.4826·MAD of column j's residuals is a robust estimate of the inlier noise level
   (k = ``threshold``, 3 by default). The plain eq. 12 support (|r| > √α) flags every entry the
   decoder fits slightly worse than α; the robust per-column scale makes the test scale-aware.

Per-sample outlier scores are the fraction of flagged entries in each row.
"""

from __future__ import annotations

import io as _pyio
import math
import numbers
import os
import sys
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hidden_talents import io, rpca, sweep, train
from hidden_talents.objectives.unified import LossCoefficients, model_coefficients

METHODS = ("vae", "rpca")
MAD_TO_SIGMA = 1.4826  # σ = 1.4826·MAD for Gaussian noise
MIN_SAMPLES = 10


class Decomposition(NamedTuple):
  """Result of :func:`decompose` (numpy arrays in the units of X)."""

  L: np.ndarray  # (n, d) clean part: μx(μz[x]) for the VAE, the low-rank part for RPCA
  S: np.ndarray  # (n, d) outlier part, X − L
  mask: np.ndarray  # (n, d) bool, entries flagged as outliers
  sample_scores: np.ndarray  # (n,) fraction of flagged entries per sample
  noise_scale: np.ndarray  # (d,) robust inlier residual scale σⱼ per column, units of X
  info: dict[str, Any]  # method, sizes, training loss, wall time, …


def _positive_int(name: str, v: Any) -> int:
  if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
    raise ValueError(f"{name} must be a positive integer, got {v!r}")
  return int(v)


def _positive_float(name: str, v: Any) -> float:
  if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
    raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
  return float(v)


def check_matrix(X: Any, *, method: str = "vae") -> np.ndarray:
  """Validates a data matrix (samples as rows) and returns it as float64.

  Raises:
    ValueError: not numeric, not 2-D, NaN/Inf, fewer than ``MIN_SAMPLES`` rows, or (VAE) fewer
      samples than dimensions — the message names the problem.
  """
  try:
    X = np.asarray(X)
  except (TypeError, ValueError) as e:
    raise ValueError(f"X must be a numeric array: {e}") from e
  if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
    raise ValueError(f"X must be numeric, got dtype {X.dtype}")
  if np.issubdtype(X.dtype, np.complexfloating):
    raise ValueError("X must be real, got complex values")
  if X.ndim != 2:
    raise ValueError(f"X must be 2-D (samples as rows, dimensions as columns), got shape "
                     f"{X.shape}; reshape a single signal to (n, 1) or (1, d) explicitly")
  X = X.astype(np.float64)
  bad = ~np.isfinite(X)
  if bad.any():
    i, j = np.argwhere(bad)[0]
    raise ValueError(f"X contains NaN or Inf ({int(bad.sum())} entries; first at row {i}, "
                     f"column {j})")
  n, d = X.shape
  if n < MIN_SAMPLES or d < 1:
    raise ValueError(f"X needs at least {MIN_SAMPLES} samples (rows) and 1 column, got shape "
                     f"{X.shape}")
  if method == "vae" and n < d:
    raise ValueError(
        f"X has fewer samples (rows, n = {n}) than dimensions (columns, d = {d}): the VAE "
        "learns the manifold from the rows and cannot do so from fewer rows than columns; pass "
        "more samples, the transpose if samples are columns, or method='rpca'")
  return X


def robust_standardize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(Z, center, scale) with Z = (X − center)/scale per column: median and 1.4826·MAD, falling
  back to the standard deviation where the MAD is 0 (and to 1 for a constant column), so that
  sparse gross outliers do not set the scale."""
  center = np.median(X, axis=0)
  scale = MAD_TO_SIGMA * np.median(np.abs(X - center), axis=0)
  std = X.std(axis=0)
  scale = np.where(scale > 0, scale, np.where(std > 0, std, 1.0))
  return (X - center) / scale, center, scale


def outlier_mask(R: np.ndarray, *, alpha: float, threshold: float) -> tuple[np.ndarray, np.ndarray]:
  """Entries whose optimal decoder variance max(α, r²) (eq. 69) exceeds the inlier level.

  Args:
    R: (n, d) standardised residuals x − μx.
    alpha: the decoder variance floor α (standardised units).
    threshold: k, in robust standard deviations of each column's residuals.

  Returns:
    (mask, sigma): mask_ij = r²ᵢⱼ > max(α, (k σⱼ)²) and σⱼ = 1.4826·MAD(r·ⱼ): eq. 12's support
    test |r| > √α, with this module's robust per-column noise level added (module docstring).
  """
  med = np.median(R, axis=0)
  sigma = MAD_TO_SIGMA * np.median(np.abs(R - med), axis=0)
  level = np.maximum(alpha, (threshold * sigma) ** 2)
  return R**2 > level, sigma


def default_widths(d: int) -> tuple[int, int]:
  """(r1, r2) of the decoder D1(r1)-D2(r2) (encoder E1(r2)-E2(r1)), scaled with d (Sec. 5.1 uses
  (1000, 2000) for d = 100 at n = 10⁶; these are CPU sizes)."""
  r2 = int(min(512, max(64, 2 * d)))
  r1 = int(min(256, max(32, d)))
  return r1, r2


def vae_settings(n: int, d: int, *, latent_dim: int, steps: int, alpha: float,
                 hidden_widths: tuple[int, int], batch_size: int, learning_rate: float,
                 num_latent_samples: int) -> train.Settings:
  r = tuple(int(w) for w in hidden_widths)
  return train.Settings(
      data_dim=d, kappa_max=1, generator_widths=(1,), encoder_widths=r[::-1], decoder_widths=r,
      latent_dim=latent_dim, num_samples=n, batch_size=min(batch_size, n),
      chunk_steps=min(250, steps), learning_rate=learning_rate, alpha=alpha,
      num_latent_samples=num_latent_samples, eval_batch_size=min(1000, n), hist_bins=1)


def train_vae(Z: np.ndarray, settings: train.Settings, *, steps: int, seed: int,
              progress: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
  """Trains one VAE on the rows of Z (fixed-dataset mode, ν = 0) and returns μx(μz[Z]).

  Raises:
    RuntimeError: the loss turned non-finite (the engine froze the cell).
  """
  fns = train.make_train(settings)
  data_key, corrupt_key, init_key, train_key = sweep.cell_keys(seed, 1, 0.0)
  coeffs = LossCoefficients(*[np.float32(v) for v in model_coefficients("vae")])
  cell = train.Cell(kappa=np.int32(1), nu=np.float32(0.0), data_key=data_key,
                    corrupt_key=corrupt_key, init_key=init_key, train_key=train_key,
                    coeffs=coeffs)
  data = jnp.asarray(Z, jnp.float32)
  state = jax.jit(fns.init)(cell)
  chunk = jax.jit(fns.run_chunk)
  num_chunks = -(-steps // settings.chunk_steps)
  bar = sweep.Progress(num_chunks * settings.chunk_steps, 1, settings.batch_size, "[decompose]",
                       progress)
  bar.update(0, 0, float("nan"))
  losses = []
  for c in range(num_chunks):
    state, m = chunk(state, cell, data)
    losses.append(float(m.loss))
    bar.update((c + 1) * settings.chunk_steps, int(state.failed), losses[-1])
  if bool(state.failed):
    raise RuntimeError("VAE training became non-finite; try a smaller learning rate or fewer "
                       "latent dimensions")
  recon = jax.jit(lambda x: fns.reconstruct(state.params, x)[0])
  bsz = settings.eval_batch_size
  parts = [np.asarray(recon(data[i:i + bsz])) for i in range(0, Z.shape[0], bsz)]
  info = {"loss_history": losses, "steps": num_chunks * settings.chunk_steps,
          "hidden_widths": list(settings.decoder_widths), "latent_dim": settings.latent_dim,
          "alpha": settings.alpha}
  return np.concatenate(parts).astype(np.float64), info


def decompose(
    X: Any,
    *,
    method: str = "vae",
    latent_dim: int | None = None,
    steps: int = 3000,
    seed: int = 0,
    alpha: float = 1e-2,
    threshold: float = 3.0,
    hidden_widths: tuple[int, int] | None = None,
    batch_size: int = 100,
    learning_rate: float = 1e-3,
    num_latent_samples: int = 1,
    lam: float | None = None,
    progress: bool = False,
) -> Decomposition:
  """Splits X (samples as rows) into a clean part L on a (nonlinear) manifold and outliers S = X − L.

  The defaults need no tuning: the VAE's KL term plays the role that C2 plays for the AEs
  (Sec. 5.1), and α is in units of robustly standardised columns.

  Args:
    X: (n, d) real matrix, samples as rows, finite.
    method: ``"vae"`` (nonlinear, Secs. 3 and 5) or ``"rpca"`` (convex PCP, eq. 14: linear baseline).
    latent_dim: κ of the VAE; default min(20, max(1, d // 2)). Unneeded dimensions are switched
      off by the VAE itself (Sec. 5.2), so generous is fine.
    steps: Adam steps of VAE training (rounded up to whole chunks of 250).
    seed: PRNG seed (initialisation and batches).
    alpha: decoder variance floor α, in standardised units.
    threshold: k of the mask test |r| > max(√α, k σⱼ) (module docstring).
    hidden_widths: (r1, r2) of the VAE networks; default :func:`default_widths`.
    batch_size: VAE mini-batch size (capped at n).
    learning_rate: Adam step size.
    num_latent_samples: τ of eq. 4.
    lam: RPCA λ in standardised units; default 1/√max(n, d).
    progress: print a progress line per chunk to stderr.

  Returns:
    :class:`Decomposition`.

  Raises:
    ValueError: bad X or argument (the message names it).
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  X = check_matrix(X, method=method)
  n, d = X.shape
  steps = _positive_int("steps", steps)
  if latent_dim is None:
    latent_dim = min(20, max(1, d // 2))
  latent_dim = _positive_int("latent_dim", latent_dim)
  if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
    raise ValueError(f"seed must be an integer, got {seed!r}")
  alpha = _positive_float("alpha", alpha)
  threshold = _positive_float("threshold", threshold)
  batch_size = _positive_int("batch_size", batch_size)
  learning_rate = _positive_float("learning_rate", learning_rate)
  num_latent_samples = _positive_int("num_latent_samples", num_latent_samples)
  widths = default_widths(d) if hidden_widths is None else tuple(hidden_widths)
  if len(widths) < 1:
    raise ValueError("hidden_widths must name at least one layer width")
  for w in widths:
    _positive_int("every hidden width", w)
  if lam is not None:
    lam = _positive_float("lam", lam)

  Z, center, scale = robust_standardize(X)
  info: dict[str, Any] = {"method": method, "n": n, "d": d}
  if method == "vae":
    settings = vae_settings(n, d, latent_dim=latent_dim, steps=steps, alpha=alpha,
                            hidden_widths=widths, batch_size=batch_size,
                            learning_rate=learning_rate, num_latent_samples=num_latent_samples)
    Z_hat, extra = train_vae(Z, settings, steps=steps, seed=int(seed), progress=progress)
    info.update(extra)
  else:
    res = rpca.robust_pca(Z.astype(np.float32), lam=lam)
    Z_hat = np.asarray(res.L, np.float64)
    info.update(lam=float(res.lam), iterations=int(res.iterations),
                converged=bool(res.converged))
    if not bool(res.converged):
      print("[decompose] warning: RPCA did not converge", file=sys.stderr)
  mask, sigma = outlier_mask(Z - Z_hat, alpha=alpha, threshold=threshold)
  L = Z_hat * scale + center
  info.update(alpha=alpha, threshold=threshold, flagged_fraction=float(mask.mean()))
  return Decomposition(L=L, S=X - L, mask=mask, sample_scores=mask.mean(axis=1),
                       noise_scale=sigma * scale, info=info)


def mask_scores(mask: np.ndarray, true_mask: np.ndarray) -> dict[str, float]:
  """Precision, recall and F1 of a predicted outlier mask against the true corruption mask."""
  mask, true_mask = np.asarray(mask, bool), np.asarray(true_mask, bool)
  if mask.shape != true_mask.shape:
    raise ValueError(f"mask shapes differ: {mask.shape} vs {true_mask.shape}")
  tp = float(np.sum(mask & true_mask))
  precision = tp / max(float(mask.sum()), 1.0)
  recall = tp / max(float(true_mask.sum()), 1.0)
  f1 = 2 * precision * recall / max(precision + recall, 1e-12)
  return {"precision": precision, "recall": recall, "f1": f1}


def load_matrix(path: str, *, skip_header: bool = False, delimiter: str = ",") -> np.ndarray:
  """Reads a ``.npy`` array or a delimited text (``.csv``/``.txt``) file of numbers.

  Raises:
    ValueError: unknown extension, unreadable file, or a non-numeric CSV cell (named by line).
  """
  ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
  if not os.path.isfile(path):
    raise ValueError(f"input file {path!r} does not exist")
  if ext == "npy":
    try:
      X = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
      raise ValueError(f"cannot read {path!r} as a .npy array: {e}") from e
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
      raise ValueError(f"{path!r} holds non-numeric data (dtype {X.dtype})")
    return X
  if ext not in ("csv", "txt", "tsv"):
    raise ValueError(f"input must be .npy, .csv, .tsv or .txt, got {path!r}")
  if ext == "tsv" and delimiter == ",":
    delimiter = "\t"
  rows = []
  with open(path, encoding="utf-8", errors="replace") as f:
    for lineno, line in enumerate(f, start=1):
      if skip_header and lineno == 1:
        continue
      line = line.strip()
      if not line:
        continue
      cells = [c.strip() for c in line.split(delimiter)]
      try:
        rows.append([float(c) for c in cells])
      except ValueError:
        bad = next(c for c in cells if not _is_float(c))
        hint = " (the first line looks like column names: pass --skip_header)" \
            if lineno == 1 else ""
        raise ValueError(f"{path}: line {lineno} has a non-numeric value {bad!r}{hint}") from None
  if not rows:
    raise ValueError(f"{path!r} holds no data rows")
  widths = {len(r) for r in rows}
  if len(widths) > 1:
    raise ValueError(f"{path}: rows have different numbers of columns {sorted(widths)}")
  return np.asarray(rows, np.float64)


def _is_float(s: str) -> bool:
  try:
    float(s)
  except ValueError:
    return False
  return True


def summary_figure(X: np.ndarray, result: Decomposition):
  """Three panels: one sample with its flagged entries, per-sample scores, singular values."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(1, 3, figsize=(15, 4))
  i = int(np.argmax(result.sample_scores))
  j = np.arange(X.shape[1])
  ax[0].plot(j, X[i], ".-", lw=0.8, label="X (input)")
  ax[0].plot(j, result.L[i], "-", lw=1.2, label="L (clean part)")
  m = result.mask[i]
  ax[0].plot(j[m], X[i, m], "rx", label="flagged outliers")
  ax[0].set(title=f"sample {i} (most flagged)", xlabel="column")
  ax[0].legend(fontsize=8)
  ax[1].hist(result.sample_scores, bins=40)
  ax[1].set(title="per-sample outlier score", xlabel="fraction of entries flagged",
            ylabel="samples")
  for M, name in ((X, "X"), (result.L, "L")):
    s = np.linalg.svd(M - M.mean(axis=0), compute_uv=False)
    ax[2].semilogy(np.maximum(s / s[0], 1e-12), label=name)
  ax[2].set(title="singular values (centred, relative)", xlabel="index")
  ax[2].legend()
  fig.suptitle(f"decompose ({result.info['method']}): {100 * result.mask.mean():.2f} % of entries "
               "flagged")
  fig.tight_layout()
  return fig


def save_outputs(out_dir: str, X: np.ndarray, result: Decomposition) -> list[str]:
  """Writes L.npy, S.npy, mask.npy, sample_scores.npy, summary.json and summary.png atomically
  (each file is complete or absent). Returns the paths."""
  import matplotlib.pyplot as plt

  io.ensure_dir(out_dir)
  paths = []
  for name in ("L", "S", "mask", "sample_scores"):
    buf = _pyio.BytesIO()
    np.save(buf, getattr(result, name), allow_pickle=False)
    path = os.path.join(out_dir, f"{name}.npy")
    io.atomic_write_bytes(path, buf.getvalue())
    paths.append(path)
  info = dict(result.info)
  info.pop("loss_history", None)
  info["final_loss"] = result.info.get("loss_history", [None])[-1]
  path = os.path.join(out_dir, "summary.json")
  io.atomic_write_json(path, info)
  paths.append(path)
  fig = summary_figure(X, result)
  path = os.path.join(out_dir, "summary.png")
  io.atomic_savefig(fig, path, dpi=100)
  plt.close(fig)
  paths.append(path)
  return paths
