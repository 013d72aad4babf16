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
   already corrupted) — or solves convex RPCA (PCP, eq. 14) with ``method="rpca"``. By default
   300 passes over the rows (at least 3·10⁴, at most 10⁵ Adam steps) with a KL warm-up (β rising
   0 → 1 over the first 30 %; Bowman et al. 2016): without it the VAE closes its latent code
   early and loses to RPCA on most non-linear data (``bench/decompose_bench.py``, BENCHMARKS.md);
   ``kl_warmup=0`` is the paper's protocol. The encoder sees the standardised entries winsorised
   to ±10 robust SDs (``ENCODER_CLIP``; ``encoder_clip=0`` is the paper's encoder). The fit
   records whether its loss curve had flattened (:func:`loss_trend`),
3. refines each row's latent code on that row's own VAE cost with the decoder fixed
   (``REFINE_STEPS`` Adam steps from the encoder's guess; ``refine_steps=0`` skips it): the
   encoder is an amortised guess, and on rows the fit never saw it can be far off,
4. returns L = μx(μz*) un-standardised (μz* the refined code), S = X − L (the whole residual:
   dense, small on inliers), S_sparse = where(mask, S, 0) (the sparse outlier part of eq. 13:
   *this* is "the outliers"), and the outlier mask

    mask_ij = Σx,ij > max(α, (k·σⱼ)²)  ⇔  |rᵢⱼ| > max(√α, k·σⱼ),

   where σⱼ = 1.4826·MAD of column j's residuals is a robust estimate of the inlier noise level
   (k = ``threshold``, 3 by default). The plain eq. 12 support (|r| > √α) flags every entry the
   decoder fits slightly worse than α; the robust per-column scale makes the test scale-aware.

When ``method="rpca"`` is the better choice (measured in BENCHMARKS.md): data close to low rank
(linear rank 5 + sparse at ν = 0.1; 8×8 natural-image patches at ν = 0.3), and many outliers in
few rows of many columns. On MNIST with 30 % of the pixels corrupted, the VAE's NMSE is 1.8× RPCA's
with 2000 digits, 1.1× with 5000, and 0.92–0.96× with 10⁴. At 2000 rows the NMSE is best early
and rises as the loss falls until the loss flattens: the decoder fits the outliers.

The fit also reports which of its κ latent coordinates it uses (:func:`latent_usage`: the
coordinates with mean σz² near 0, Figure 4's reading, and Sec. 5.2's W₁-column count).

Per-sample outlier scores are the fraction of flagged entries in each row. A constant column of X
holds no outliers by definition: it is never flagged and its L is the constant itself.

Bad input is a ``ValueError`` whose message names the problem (rows and columns counted from 1);
legal but odd input gives a ``UserWarning``. Reading files and writing a result directory
all-or-nothing live in :mod:`hidden_talents.matrix_io`.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import functools
import hashlib
import io as _pyio
import json
import math
import numbers
import os
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hidden_talents import io, metrics, models, rpca, sweep, train
from hidden_talents.matrix_io import (
  StagedOutput,
  _umask,
  file_fingerprint,
  load_matrix,
  read_matrix,
)
from hidden_talents.objectives.unified import (
  DECODER_VARIANCES,
  LossCoefficients,
  model_coefficients,
)

METHODS = ("vae", "rpca")
MAD_TO_SIGMA = 1.4826  # σ = 1.4826·MAD for Gaussian noise
MIN_SAMPLES = 10
CHUNK_STEPS = 250  # Adam steps per compiled chunk (the last chunk runs the remainder)
# Largest |x − median|/scale accepted: training is float32 and squares residuals (r² summed over a
# batch must stay far below float32's 3.4e38); an entry 10¹⁵ robust SDs out is a sentinel or an
# overflow, not data.
MAX_STANDARDIZED = 1e15
# Largest |x| accepted at all: 1.4826·MAD, x − median and L = median + scale·Ẑ must stay finite in
# float64 (max 1.8e308); data of consistent scale up to here are fine (standardised per column).
MAX_ABS = 1e300
# Defaults chosen from bench/decompose_bench.py (BENCHMARKS.md, "decompose on data it was not
# built on"): a KL warm-up over the first 30 % of the steps and the paper's optimised-out decoder
# variance. 3000 steps without a warm-up (the defaults before) lost to RPCA on 5 of the 6
# non-linear synthetic cases; a learned decoder variance gives up robustness there.
# At least 3·10⁴ Adam steps: the learning curves of 11 of the 12 bench cases
# (bench/decompose_curve.py) still fall from 10⁴ to 3·10⁴ steps — NMSE ReLU manifold 0.016 →
# 0.012, swiss roll 0.019 → 0.0035, torus ν = 0.3 0.116 → 0.059, MNIST uniform ν = 0.1 0.200 →
# 0.164 — and the 12th (MNIST uniform ν = 0.3) diverged without ENCODER_CLIP (below).
DEFAULT_STEPS = 30_000
# With more rows a fixed number of steps is fewer passes over the data: by default the VAE trains
# for DEFAULT_EPOCHS passes, at least DEFAULT_STEPS and at most MAX_DEFAULT_STEPS steps
# (:func:`resolve_steps`; n ≤ 10⁴ rows at batch 100 gets 3·10⁴). MNIST with 30 % uniform
# outliers, n = 10⁴: NMSE 0.273 after 10⁴ steps (100 passes), 0.224 after 3·10⁴ (300); n = 2·10⁴,
# 6·10⁴ steps: 0.208, where RPCA gives 0.222 (BENCHMARKS.md, "decompose on data it was not built
# on").
DEFAULT_EPOCHS = 300
MAX_DEFAULT_STEPS = 100_000
DEFAULT_WARMUP_FRACTION = 0.3
DEFAULT_DECODER_VARIANCE = "optimal"
# α by default (standardised units), and on tie-heavy data: when at least TIE_FRACTION of the
# entries sit exactly at their column's median (images: MNIST has 81 % exact zeros; continuous
# data have almost none, so the rule does not depend on the exact cut), the
# optimised-out decoder variance makes a constant output nearly optimal at α = 10⁻² (every tied
# entry is then reproduced exactly, at cost log α; issue 15's table), and decompose returns
# blank digits (NMSE 0.95–0.98 in the bench); at α = 1 (one robust SD) it fits them (0.16–0.64).
DEFAULT_ALPHA = 1e-2
TIED_ALPHA = 1.0
TIE_FRACTION = 0.25
# The encoder sees each standardised entry winsorised to ±ENCODER_CLIP robust SDs (the data term
# sees it unclipped; ``train.Settings.encoder_clip``). A Gaussian column has no inlier beyond 10
# SDs (probability 10⁻²³), so only gross outliers and atom-collapsed columns are touched: a pixel
# column with half its entries exactly 0 has a MAD near 0 and its digit strokes 10³–10⁴ SDs out;
# fed those, the encoder drove the KL term to 10⁶ and MNIST uniform ν = 0.3 training diverged
# (NMSE 0.636 after 10⁴ steps; 0.38, stable, with the clip — BENCHMARKS.md). Not free: MNIST
# salt-and-pepper ν = 0.3 at n = 2000 gets worse (0.37 → 0.44 on three seeds; an order-keeping
# 10·asinh(z/10) squash gives the same 0.445) while the other three MNIST cases and n = 10⁴ gain.
ENCODER_CLIP = 10.0
# Each row's latent code is refined before it is decoded: with the trained decoder fixed,
# REFINE_STEPS Adam steps (learning rate REFINE_LR decaying to 0 on a cosine, the training's τ
# reparameterised samples per step) on that row's own VAE cost — the objective training minimises
# (eq. 2 with Σx optimised out, β = 1), weighted by the observed entries — starting from the
# encoder's (μz, log σz²). The encoder is an amortised guess of each row's optimal q(z|x) (the
# "amortisation gap": Cremer et al. 2018; semi-amortised VAEs: Kim et al. 2018); Theorem 4's
# support result holds at the optimum. It matters most for rows the model was not fitted on
# (``bench/decompose_bench.py --holdout``; BENCHMARKS.md, stop 26). ``refine_steps=0`` decodes
# the encoder's μz (the paper's μx(μz[x])).
# The learning rate was chosen by the refined objective (not the NMSE) on three synthetic bench
# cases at ν = 0.3: 0.1 with the decay reached the lowest cost on the ReLU manifold and the swiss
# roll, 0.3 on the torus; without the decay the end point stays noisy.
REFINE_STEPS = 500
REFINE_LR = 0.1
_REFINE_STREAM = 0x5EF1  # folded into PRNGKey(seed): the refinement's noise stream
# Fewer rows than this are refined padded to this many: XLA's CPU matmuls round a batch of 1–16
# rows differently from one of 64+, and 500 noisy Adam steps can amplify that rounding into a
# visibly different code for some rows (stop 31: a row transformed alone moved by up to 5× its
# error); padded, a row's result is the same alone as in a large batch (measured on this CPU).
REFINE_MIN_ROWS = 64

__all__ = ["Decomposition", "RobustVAE", "StagedOutput", "check_matrix", "check_missing",
           "check_save_path", "decompose", "enable_compilation_cache", "file_fingerprint",
           "fill_missing", "latent_usage", "load_matrix", "mask_scores", "outlier_mask",
           "read_matrix", "robust_standardize", "save_outputs", "summary_figure"]


class Decomposition(NamedTuple):
  """Result of :func:`decompose` (numpy arrays in the units of X)."""

  L: np.ndarray  # (n, d) clean part: μx(μz[x]) for the VAE, the low-rank part for RPCA
  S: np.ndarray  # (n, d) outlier part, X − L
  mask: np.ndarray  # (n, d) bool, entries flagged as outliers
  sample_scores: np.ndarray  # (n,) fraction of flagged entries per sample (of its observed ones)
  noise_scale: np.ndarray  # (d,) robust inlier residual scale σⱼ per column, units of X
  info: dict[str, Any]  # method, sizes, all settings ("settings"), training loss, …
  S_sparse: np.ndarray  # (n, d) where(mask, S, 0): the sparse outliers of eq. 13 (S is dense)


def _positive_int(name: str, v: Any) -> int:
  if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
    raise ValueError(f"{name} must be a positive integer, got {v!r}")
  return int(v)


def _positive_float(name: str, v: Any) -> float:
  if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
    raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
  return float(v)


def check_matrix(X: Any, *, method: str = "vae", min_samples: int = MIN_SAMPLES) -> np.ndarray:
  """Validates a data matrix (samples as rows) and returns it as float64.

  Raises:
    ValueError: not numeric, not 2-D, NaN/Inf, fewer than ``min_samples`` rows, or (VAE) fewer
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
    raise ValueError(f"X contains NaN or Inf ({int(bad.sum())} entries; first at row {i + 1}, "
                     f"column {j + 1}, counted from 1)")
  huge = ~(np.abs(X) <= MAX_ABS)
  if huge.any():
    i, j = np.argwhere(huge)[0]
    raise ValueError(f"X has entries beyond ±{MAX_ABS:.0e} ({int(huge.sum())} entries; first "
                     f"at row {i + 1}, column {j + 1}, counted from 1: {X[i, j]:.3g}): its scales "
                     "and results would overflow float64; rescale the data (e.g. divide by 1e100)")
  n, d = X.shape
  if n < min_samples or d < 1:
    word = "sample (row)" if min_samples == 1 else "samples (rows)"
    raise ValueError(f"X needs at least {min_samples} {word} and 1 column, got shape "
                     f"{X.shape}")
  if method == "vae" and n < d:
    raise ValueError(
        f"X has fewer samples (rows, n = {n}) than dimensions (columns, d = {d}): the VAE "
        "learns the manifold from the rows and cannot do so from fewer rows than columns; pass "
        "more samples, the transpose if samples are columns, or method='rpca'")
  return X


def robust_standardize(X: np.ndarray,
                       missing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
  """(Z, center, scale) with Z = (X − center)/scale per column: median and 1.4826·MAD, falling
  back to the standard deviation where the MAD is 0 (and to 1 for a constant column), so that
  sparse gross outliers do not set the scale. ``missing`` entries (bool mask) are left out of
  the statistics (their Z is whatever X holds there)."""
  if missing is None:
    center = np.median(X, axis=0)
    scale = MAD_TO_SIGMA * np.median(np.abs(X - center), axis=0)
    std = _column_std(X, np.std)
  else:
    Xo = np.where(missing, np.nan, X)
    center = np.nanmedian(Xo, axis=0)
    scale = MAD_TO_SIGMA * np.nanmedian(np.abs(Xo - center), axis=0)
    std = _column_std(Xo, np.nanstd)
  scale = np.where(scale > 0, scale, np.where(std > 0, std, 1.0))
  return (X - center) / scale, center, scale


def _column_std(X: np.ndarray, std_fn=np.std) -> np.ndarray:
  """Per-column ``std_fn`` (``np.std`` or ``np.nanstd``) without overflow: the columns whose
  squares overflow float64 (|x| beyond ~1e154) are computed from X divided by their largest |x|."""
  with np.errstate(over="ignore", invalid="ignore"):
    std = std_fn(X, axis=0)
  big = ~np.isfinite(std)
  if big.any():
    m = np.nanmax(np.abs(X[:, big]), axis=0)
    std[big] = std_fn(X[:, big] / m, axis=0) * m
  return std


def check_missing(missing: Any, shape: tuple[int, ...]) -> np.ndarray | None:
  """The boolean mask of missing entries (None when there are none).

  Raises:
    ValueError: not boolean, another shape than X, or a column with no observed entry.
  """
  if missing is None:
    return None
  m = np.asarray(missing)
  if m.dtype != bool:
    raise ValueError(f"missing must be a boolean array (True = missing), got dtype {m.dtype}")
  if m.shape != tuple(shape):
    raise ValueError(f"missing has shape {m.shape}, but X has shape {tuple(shape)}")
  if m.ndim == 2 and m.shape[0] > 0 and m.all(axis=0).any():
    j = int(np.argmax(m.all(axis=0)))
    raise ValueError(f"column {j + 1} (counted from 1) is missing in every row: nothing to fit "
                     "it on; drop it")
  return m if m.any() else None


def fill_missing(X: Any, missing: np.ndarray | None) -> Any:
  """X with its missing entries set to 0 (their values, NaN included, are never used)."""
  if missing is None:
    return X
  return np.where(missing, 0.0, np.asarray(X))


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


def tied_fraction(Z: np.ndarray) -> float:
  """Fraction of the entries of robustly standardised Z that sit exactly at their column's median
  (Z = 0 there; :func:`robust_standardize`)."""
  return float(np.mean(Z == 0.0))


def resolve_alpha(alpha: float | None, Z: np.ndarray) -> float:
  """α as given, else ``TIED_ALPHA`` for tie-heavy data (``tied_fraction(Z) ≥ TIE_FRACTION``),
  else ``DEFAULT_ALPHA`` (see their comment)."""
  if alpha is not None:
    return float(alpha)
  return TIED_ALPHA if tied_fraction(Z) >= TIE_FRACTION else DEFAULT_ALPHA


def default_widths(d: int) -> tuple[int, int]:
  """(r1, r2) of the decoder D1(r1)-D2(r2) (encoder E1(r2)-E2(r1)), scaled with d (Sec. 5.1 uses
  (1000, 2000) for d = 100 at n = 10⁶; these are CPU sizes)."""
  r2 = int(min(512, max(64, 2 * d)))
  r1 = int(min(256, max(32, d)))
  return r1, r2


def check_magnitudes(X: np.ndarray, Z: np.ndarray) -> None:
  """Refuses entries too far out for float32 training (``MAX_STANDARDIZED``), before training.

  Raises:
    ValueError: names the first such entry (row and column counted from 1).
  """
  big = ~(np.abs(Z) <= MAX_STANDARDIZED)  # also catches inf from an overflowing x − median
  if big.any():
    i, j = np.argwhere(big)[0]
    raise ValueError(
        f"X has {int(big.sum())} entries too large for training: row {i + 1}, column {j + 1} "
        f"(counted from 1) is {X[i, j]:.3g}, more than {MAX_STANDARDIZED:.0e} robust standard "
        "deviations from its column's median (training is float32 and would overflow); remove "
        "or rescale those entries (sentinel values such as 1e200?)")


def vae_settings(n: int, d: int, *, latent_dim: int, steps: int, alpha: float,
                 hidden_widths: tuple[int, int], batch_size: int, learning_rate: float,
                 num_latent_samples: int, decoder_variance: str = "optimal",
                 encoder_clip: float = 0.0) -> train.Settings:
  r = tuple(int(w) for w in hidden_widths)
  return train.Settings(
      data_dim=d, kappa_max=1, generator_widths=(1,), encoder_widths=r[::-1], decoder_widths=r,
      latent_dim=latent_dim, num_samples=n, batch_size=min(batch_size, n),
      chunk_steps=min(CHUNK_STEPS, steps), learning_rate=learning_rate, alpha=alpha,
      decoder_variance=decoder_variance, num_latent_samples=num_latent_samples,
      eval_batch_size=min(1000, n), hist_bins=1, encoder_clip=encoder_clip)


def chunk_plan(steps: int, chunk_steps: int) -> list[int]:
  """Steps per compiled chunk: whole chunks, then the remainder (so exactly ``steps`` run)."""
  full, rest = divmod(steps, chunk_steps)
  return [chunk_steps] * full + ([rest] if rest else [])


class CompiledVAE(NamedTuple):
  """The jitted functions of one static ``train.Settings`` (:func:`compiled`)."""

  fns: train.TrainFns
  init: Callable[..., train.TrainState]
  run_chunk: Callable[..., tuple[train.TrainState, train.ChunkMetrics]]
  reconstruct: Callable[[Any, jax.Array], jax.Array]  # (params, x) -> μx(μz(x))
  encode: Callable[[Any, jax.Array], jax.Array]  # (params, x) -> log σz²(x)
  # (params, x, weight, key, steps) -> μx(μz*) with μz* refined (:func:`refine_latents`)
  refine: Callable[..., jax.Array]


# How often each cached function was traced, by name: a second call with the same settings and
# shapes must not add to it (tests).
TRACES: collections.Counter = collections.Counter()


def _counted(name: str, f: Callable) -> Callable:
  @functools.wraps(f)
  def traced(*args, **kwargs):
    TRACES[name] += 1  # runs while tracing only
    return f(*args, **kwargs)
  return traced


@functools.lru_cache(maxsize=32)
def compiled(settings: train.Settings) -> CompiledVAE:
  """The engine's functions for ``settings`` (a frozen dataclass: the cache key), jitted once per
  process: a second fit or transform with the same settings and shapes neither retraces nor
  recompiles (the CLI also keeps the compiled programs on disk, :func:`enable_compilation_cache`).
  The parameters are an argument of ``reconstruct``, never a traced-in constant."""
  fns = train.make_train(settings)
  return CompiledVAE(
      fns=fns, init=jax.jit(_counted("init", fns.init)),
      run_chunk=jax.jit(_counted("run_chunk", fns.run_chunk)),
      reconstruct=jax.jit(_counted("reconstruct", lambda p, x: fns.reconstruct(p, x)[0])),
      encode=jax.jit(_counted("encode", lambda p, x: fns.reconstruct(p, x)[2])),
      refine=jax.jit(_counted("refine", functools.partial(refined_reconstruction, fns)),
                     static_argnames=("steps",)))


def refine_latents(fns: train.TrainFns, params: Any, x: jax.Array, weight: jax.Array,
                   key: jax.Array, *, steps: int, lr: float = REFINE_LR
                   ) -> tuple[jax.Array, jax.Array]:
  """(μz, log σz²) of rows x (standardised) after ``steps`` Adam steps on each row's VAE cost with
  the decoder fixed (``REFINE_STEPS`` above), from the encoder's guess.

  The cost is the engine's ``latent_cost``, the per-sample unified cost that training minimises
  (eq. 2; Σx optimised out for ``'optimal'``, the decoder's variance head otherwise), at β = 1 and
  C2 = 1, summed over the rows: Adam's steps are per coordinate, so each row is refined on its
  own. The learning rate decays from ``lr`` to 0 on a cosine over the steps. ``weight`` (same
  shape as x, 1 = observed, 0 = missing) leaves missing entries out of the data term. ``key``
  draws the reparameterisation noise (``settings.num_latent_samples`` samples per step): one key
  for the whole batch, or one key per row (shape (b, 2), :func:`row_keys`), so that a row's noise,
  and with it its refined code, does not depend on the other rows or its position."""
  s = fns.settings
  coeffs = LossCoefficients(*[jnp.float32(v) for v in model_coefficients("vae")])
  _, mu0, lv0 = fns.reconstruct(params, x)
  per_row = key.ndim == 2

  def cost(v, k):
    mu, lv = v
    if per_row:  # (b, S, κ) from each row's key, as (S, b, κ)
      eps = jnp.swapaxes(jax.vmap(
          lambda kr: jax.random.normal(kr, (s.num_latent_samples, mu.shape[1])))(k), 0, 1)
    else:
      eps = jax.random.normal(k, (s.num_latent_samples, *mu.shape))
    return jnp.sum(fns.latent_cost(params, x, mu, lv, eps, coeffs, weight)[0])

  tx = optax.adam(optax.cosine_decay_schedule(lr, steps))

  def step(carry, k):
    v, opt = carry
    g = jax.grad(cost)(v, k)
    updates, opt = tx.update(g, opt, v)
    return (optax.apply_updates(v, updates), opt), None

  v0 = (mu0, lv0)
  keys = (jnp.swapaxes(jax.vmap(lambda kr: jax.random.split(kr, steps))(key), 0, 1) if per_row
          else jax.random.split(key, steps))
  (v, _), _ = jax.lax.scan(step, (v0, tx.init(v0)), keys)
  return v


def row_keys(base: jax.Array, Z: np.ndarray) -> jax.Array:
  """(m, 2) PRNG keys, one per row of Z: ``base`` folded with a 32-bit FNV-1a hash of the row's
  float32 bytes. The same row gets the same key in any batch, at any position."""
  bits = np.ascontiguousarray(np.asarray(Z, np.float32)).view(np.uint32).astype(np.uint64)
  h = np.full(bits.shape[0], 2166136261, np.uint64)
  for j in range(bits.shape[1]):
    h = ((h ^ bits[:, j]) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)
  return jax.vmap(lambda v: jax.random.fold_in(base, v))(jnp.asarray(h.astype(np.uint32)))


def refined_reconstruction(fns: train.TrainFns, params: Any, x: jax.Array, weight: jax.Array,
                           key: jax.Array, steps: int) -> jax.Array:
  """μx(μz*) of rows x with μz* from :func:`refine_latents`."""
  mu_z, _ = refine_latents(fns, params, x, weight, key, steps=steps)
  return fns.model.apply(params, mu_z, method=models.AutoEncoder.decode)


def compilation_cache_dir() -> str:
  """$HIDDEN_TALENTS_CACHE/jax if set, else ~/.cache/hidden_talents/jax."""
  root = os.environ.get("HIDDEN_TALENTS_CACHE") or os.path.join(
      os.path.expanduser("~"), ".cache", "hidden_talents")
  return os.path.join(root, "jax")


def enable_compilation_cache(path: str | None = None) -> str | None:
  """Keeps compiled XLA programs on disk (JAX's persistent compilation cache), so that a second
  process with the same settings and shapes loads them instead of compiling. Call before the
  first compile.

  Args:
    path: the cache directory; default :func:`compilation_cache_dir`.

  Returns:
    The directory, or None (with a warning) when it cannot be created: nothing is cached then.
  """
  path = path or compilation_cache_dir()
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    warnings.warn(f"compilation cache {path!r} unusable ({e}); compiling without it",
                  stacklevel=2)
    return None
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path


def _cell(seed: int, kl_warmup: float = 0.0) -> train.Cell:
  data_key, corrupt_key, init_key, train_key = sweep.cell_keys(seed, 1, 0.0)
  coeffs = LossCoefficients(*[np.float32(v) for v in model_coefficients("vae")])
  return train.Cell(kappa=np.int32(1), nu=np.float32(0.0), data_key=data_key,
                    corrupt_key=corrupt_key, init_key=init_key, train_key=train_key,
                    coeffs=coeffs, kl_warmup=np.float32(kl_warmup))


def loss_trend(losses: list[float], skip: int = 0) -> dict[str, Any]:
  """Had the training loss flattened? The mean chunk loss of the last tenth of the chunks after
  the first ``skip`` (the KL warm-up, where β still changes the objective) against the tenth before
  it (at least 2 chunks each).

  Returns:
    {"loss_drop": mean(before) − mean(last), "loss_drop_noise": its standard error from the
    chunk-to-chunk scatter, "converged": drop ≤ 2 × noise} — "converged" is None when fewer than 4
    chunks follow the warm-up (too short to tell) or a loss is not finite. A VAE whose loss still
    falls by more than its noise would gain from more steps (issue 16: at 3·10⁴ steps every
    bench case still improves slowly).
  """
  post = np.asarray(losses[skip:], np.float64)
  w = max(2, len(post) // 10)
  if len(post) < 2 * w or not np.all(np.isfinite(post)):
    return {"loss_drop": None, "loss_drop_noise": None, "converged": None}
  before, last = post[-2 * w:-w], post[-w:]
  drop = float(before.mean() - last.mean())
  noise = float(np.sqrt(before.var(ddof=1) / w + last.var(ddof=1) / w))
  return {"loss_drop": drop, "loss_drop_noise": noise, "converged": bool(drop <= 2 * noise)}


def latent_usage(w1_column_norms: np.ndarray, sigma_z_mean: np.ndarray) -> dict[str, Any]:
  """Which of the κ latent coordinates the fitted VAE uses, read off as the paper does.

  * ``latent_dims_sigma_z``: the coordinates whose encoder variance σz², averaged over the rows,
    is near 0 (< ``metrics.SIGMA_Z_NEAR_ZERO``; Sec. 5.3, Figure 4: a coordinate in use has
    σz² → 0, an unused one σz² → 1, the KL optimum).
  * ``latent_dims_used``: the columns of the first decoder layer W₁ that count as nonzero
    (Sec. 5.2's rule: norm ≥ 0.05 × the largest; Table 1, Figure 2b).

  Hypothesis (ii) says both count the inliers' dimension r. Measured with the defaults
  (BENCHMARKS.md, stop 28): the σz count was the rank on every linear case (rank 2–5) and 1–2
  above r on the ReLU manifold and the swiss roll; the W₁ count overcounted (13–15 for rank 5).
  On MNIST the σz count undercounts (10, where the W₁ count and the σz² gap say about 20: the
  used coordinates spread over σz² 0.02–0.36): ``sigma_z_mean`` shows the gap itself.

  Returns:
    the two counts, the κ column norms (largest first) and mean σz² (smallest first).
  """
  norms = np.asarray(w1_column_norms, np.float64)
  var = np.asarray(sigma_z_mean, np.float64)
  return {"latent_dims_used": int(metrics.nonzero_from_norms(norms)),
          "latent_dims_sigma_z": int(np.sum(var < metrics.SIGMA_Z_NEAR_ZERO)),
          "w1_column_norms": sorted((float(v) for v in norms), reverse=True),
          "sigma_z_mean": sorted(float(v) for v in var)}


def mean_sigma_z(settings: train.Settings, params: Any, Z: np.ndarray) -> np.ndarray:
  """(κ,) the encoder's σz² per latent coordinate, averaged over the rows of Z (Figure 4's
  diag (1/n) Σᵢ Σz⁽ⁱ⁾), in chunks of ``settings.eval_batch_size`` rows."""
  fns = compiled(settings)
  total = np.zeros(settings.latent_dim)
  for i in range(0, Z.shape[0], settings.eval_batch_size):
    logvar = fns.encode(params, jnp.asarray(Z[i:i + settings.eval_batch_size], jnp.float32))
    total += np.exp(np.asarray(logvar, np.float64)).sum(axis=0)
  return total / Z.shape[0]


def train_vae(Z: np.ndarray, settings: train.Settings, *, steps: int, seed: int,
              kl_warmup: int = 0, progress: bool = True) -> tuple[Any, dict[str, Any]]:
  """Trains one VAE on the rows of Z (fixed-dataset mode, ν = 0) for exactly ``steps`` Adam steps
  and returns (params as numpy arrays, info: the loss curve, whether it flattened, and which latent
  coordinates the fit uses, :func:`latent_usage`). A remainder chunk (``steps`` not a multiple of
  ``settings.chunk_steps``) is compiled separately; batches are keyed by the global step, so the
  first chunks are the same.

  Raises:
    RuntimeError: the loss turned non-finite (the engine froze the cell).
  """
  fns = compiled(settings)
  cell = _cell(seed, kl_warmup)
  data = jnp.asarray(Z, jnp.float32)
  state = fns.init(cell)
  plan = chunk_plan(steps, settings.chunk_steps)
  bar = sweep.Progress(steps, 1, settings.batch_size, "[decompose]", progress)
  bar.update(0, 0, float("nan"))
  losses, done = [], 0
  for k in plan:
    run = fns.run_chunk if k == settings.chunk_steps else compiled(
        dataclasses.replace(settings, chunk_steps=k)).run_chunk
    state, m = run(state, cell, data)
    done += k
    losses.append(float(m.loss))
    bar.update(done, int(state.failed), losses[-1])
  if bool(state.failed):
    raise RuntimeError("VAE training became non-finite; try a smaller learning rate or fewer "
                       "latent dimensions")
  info = {"loss_history": losses, "steps": int(state.step),
          **loss_trend(losses, -(-kl_warmup // settings.chunk_steps)),
          "hidden_widths": list(settings.decoder_widths), "latent_dim": settings.latent_dim,
          "alpha": settings.alpha, "kl_warmup": kl_warmup,
          "decoder_variance": settings.decoder_variance}
  params = jax.device_get(state.params)
  w1 = np.linalg.norm(np.asarray(models.first_decoder_weights(params)), axis=0)
  # NaN (missing) entries reach the encoder as 0, the column's median, as in training.
  info.update(latent_usage(w1, mean_sigma_z(settings, params, np.nan_to_num(Z, nan=0.0))))
  return params, info


def apply_vae(settings: train.Settings, params: Any, Z: np.ndarray, *, refine_steps: int = 0,
              seed: int = 0, observed: np.ndarray | None = None) -> np.ndarray:
  """μx(μz[Z]) for standardised rows Z, in chunks of ``settings.eval_batch_size`` rows (float64);
  with ``refine_steps`` > 0 each row's μz is first refined (:func:`refine_latents`, each row's
  noise from ``seed`` and the row's own values, :func:`row_keys`: a row gets the same result
  whatever rows it is transformed with), leaving the entries where ``observed`` is False out of
  its cost."""
  fns = compiled(settings)
  bsz = settings.eval_batch_size
  data = jnp.asarray(Z, jnp.float32)
  base = jax.random.fold_in(jax.random.PRNGKey(seed), _REFINE_STREAM)
  parts = []
  for i in range(0, Z.shape[0], bsz):
    if refine_steps:
      rows = data[i:i + bsz]
      weight = (jnp.ones(rows.shape, jnp.float32) if observed is None
                else jnp.asarray(observed[i:i + bsz], jnp.float32))
      keys = row_keys(base, Z[i:i + bsz])
      m = rows.shape[0]
      if m < REFINE_MIN_ROWS:  # padded (rows are refined independently; the pad is dropped)
        pad = ((0, REFINE_MIN_ROWS - m), (0, 0))
        rows, weight, keys = jnp.pad(rows, pad), jnp.pad(weight, pad), jnp.pad(keys, pad)
      out = fns.refine(params, rows, weight, keys, steps=int(refine_steps))[:m]
    else:
      out = fns.reconstruct(params, data[i:i + bsz])
    parts.append(np.asarray(out))
  return np.concatenate(parts).astype(np.float64)


def _check_settings(*, latent_dim, steps, seed, alpha, threshold, hidden_widths, batch_size,
                    learning_rate, num_latent_samples, kl_warmup=None,
                    decoder_variance=DEFAULT_DECODER_VARIANCE,
                    encoder_clip=None, refine_steps=None) -> dict[str, Any]:
  """The validated settings (``latent_dim``, ``hidden_widths``, ``steps``, ``kl_warmup``,
  ``encoder_clip`` and ``refine_steps`` may be None: set from n, d and steps, or the module
  default)."""
  steps = None if steps is None else _positive_int("steps", steps)
  refine_steps = _check_refine_steps(refine_steps)
  if encoder_clip is not None and (isinstance(encoder_clip, bool)
                                   or not isinstance(encoder_clip, numbers.Real)
                                   or not (0 <= encoder_clip < math.inf)):
    raise ValueError(f"encoder_clip must be a number ≥ 0 (robust SDs; 0 = off) or None, got "
                     f"{encoder_clip!r}")
  kl_warmup = _optional_count("kl_warmup", kl_warmup, "steps; 0 = off")
  if decoder_variance not in DECODER_VARIANCES:
    raise ValueError(f"decoder_variance must be one of {DECODER_VARIANCES}, got "
                     f"{decoder_variance!r}")
  if latent_dim is not None:
    latent_dim = _positive_int("latent_dim", latent_dim)
  if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
    raise ValueError(f"seed must be an integer, got {seed!r}")
  widths = None
  if hidden_widths is not None:
    widths = tuple(hidden_widths)
    if len(widths) < 1:
      raise ValueError("hidden_widths must name at least one layer width")
    widths = tuple(_positive_int("every hidden width", w) for w in widths)
  return {"latent_dim": latent_dim, "steps": steps, "seed": int(seed),
          "alpha": None if alpha is None else _positive_float("alpha", alpha),
          "threshold": _positive_float("threshold", threshold), "hidden_widths": widths,
          "batch_size": _positive_int("batch_size", batch_size),
          "learning_rate": _positive_float("learning_rate", learning_rate),
          "num_latent_samples": _positive_int("num_latent_samples", num_latent_samples),
          "kl_warmup": kl_warmup,
          "decoder_variance": decoder_variance,
          "encoder_clip": None if encoder_clip is None else float(encoder_clip),
          "refine_steps": refine_steps}


def _optional_count(name: str, value: Any, meaning: str) -> int | None:
  """``value`` as an int ≥ 0, or None; anything else (a bool, a float, a negative) is refused."""
  if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                            or value < 0):
    raise ValueError(f"{name} must be an integer ≥ 0 ({meaning}) or None, got {value!r}")
  return None if value is None else int(value)


def _check_refine_steps(refine_steps: Any) -> int | None:
  return _optional_count("refine_steps", refine_steps, "Adam steps per row; 0 = off")


def resolve_refine_steps(refine_steps: int | None) -> int:
  """Adam steps of latent refinement per row: ``refine_steps``, or ``REFINE_STEPS``."""
  return REFINE_STEPS if refine_steps is None else int(refine_steps)


def resolve_steps(steps: int | None, n: int, batch_size: int) -> int:
  """Adam steps of training: ``steps``, or by default ``DEFAULT_EPOCHS`` passes over n rows in
  batches of ``batch_size`` (capped at n), clipped to [``DEFAULT_STEPS``, ``MAX_DEFAULT_STEPS``]."""
  if steps is not None:
    return int(steps)
  epochs = -(-DEFAULT_EPOCHS * n // min(batch_size, n))
  return int(min(MAX_DEFAULT_STEPS, max(DEFAULT_STEPS, epochs)))


def resolve_kl_warmup(kl_warmup: int | None, steps: int) -> int:
  """Steps of KL warm-up: ``kl_warmup``, or by default ``DEFAULT_WARMUP_FRACTION`` of the steps."""
  return int(DEFAULT_WARMUP_FRACTION * steps) if kl_warmup is None else int(kl_warmup)


def _resolve_dims(d: int, latent_dim: int | None,
                  hidden_widths: tuple[int, ...] | None) -> tuple[int, tuple[int, ...]]:
  if latent_dim is None:
    latent_dim = min(20, max(1, d // 2))
  if latent_dim > d:
    raise ValueError(f"latent_dim (κ = {latent_dim}) exceeds the number of columns d = {d}: the "
                     f"rows lie in at most d dimensions; pass latent_dim <= {d}")
  return latent_dim, default_widths(d) if hidden_widths is None else tuple(hidden_widths)


def _mask(R: np.ndarray, sigma: np.ndarray, *, alpha: float, threshold: float) -> np.ndarray:
  return R**2 > np.maximum(alpha, (threshold * sigma) ** 2)


def _flat_params(params: Any) -> dict[str, np.ndarray]:
  """{"a/b/kernel": array} of a nested dict of parameters (flax's layout)."""
  out: dict[str, np.ndarray] = {}

  def walk(prefix: str, node: Any) -> None:
    if isinstance(node, Mapping):
      for k in sorted(node):
        if not isinstance(k, str) or "/" in k or not k:
          raise ValueError(f"cannot save a parameter named {k!r}")
        walk(f"{prefix}/{k}" if prefix else k, node[k])
    else:
      out[prefix] = node
  walk("", params)
  return out


def _nest_params(flat: dict[str, np.ndarray]) -> dict[str, Any]:
  tree: dict[str, Any] = {}
  for key, value in flat.items():
    node = tree
    *parents, leaf = key.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = value
  return tree


MODEL_FORMAT = "hidden_talents.RobustVAE"
MODEL_FORMAT_VERSION = 1
_PARAM_PREFIX = "param/"


def _npz_string(z: Any, key: str) -> str:
  a = z[key]
  if a.shape != () or a.dtype.kind != "U":
    raise ValueError(f"entry {key!r} is not a string")
  return str(a[()])


def check_save_path(path: str) -> str:
  """Refuses a model path that cannot be written (a directory, a missing or unwritable parent
  directory) — to be checked before training.

  Raises:
    ValueError: names the problem.
  """
  path = os.fspath(path)
  if os.path.isdir(path):
    raise ValueError(f"model path {path!r} is a directory; name a file such as model.npz")
  parent = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(parent):
    raise ValueError(f"cannot write the model {path!r}: directory {parent!r} does not exist")
  if not os.access(parent, os.W_OK | os.X_OK):
    raise ValueError(f"cannot write the model {path!r}: directory {parent!r} is not writable")
  return path


def _rows_digest(Z: np.ndarray, missing: np.ndarray | None) -> str:
  """SHA-256 of standardised rows and their missing mask: which rows a reconstruction is of."""
  h = hashlib.sha256(np.ascontiguousarray(Z).tobytes())
  h.update(b"-" if missing is None else np.packbits(missing).tobytes())
  return h.hexdigest()


class RobustVAE:
  """The VAE as a nonlinear robust PCA, fitted once and applied to new rows.

  ``RobustVAE(...).fit(X)`` standardises the columns of X robustly, trains the VAE on its rows and
  fixes each column's robust inlier residual scale σⱼ (module docstring);
  ``transform(X_new)`` applies the same standardisation, encoder/decoder and σⱼ to any rows with
  the same columns and returns a :class:`Decomposition` (the mask rule of :func:`decompose`).
  ``decompose(X)`` is ``RobustVAE(...).fit(X).transform(X)``, bit for bit.
  ``save(path)`` / ``RobustVAE.load(path)``: one ``.npz`` file (parameters, standardisation,
  scales, every setting, a format version), written atomically, read without pickle.

  The arguments are those of :func:`decompose` (without ``method``, ``lam`` and ``progress``).

  Raises:
    ValueError: a bad argument, before any work.
  """

  def __init__(self, *, latent_dim: int | None = None, steps: int | None = None, seed: int = 0,
               alpha: float | None = None, threshold: float = 3.0,
               hidden_widths: tuple[int, ...] | None = None, batch_size: int = 100,
               learning_rate: float = 1e-3, num_latent_samples: int = 1,
               kl_warmup: int | None = None,
               decoder_variance: str = DEFAULT_DECODER_VARIANCE,
               encoder_clip: float | None = None, refine_steps: int | None = None):
    self.config = _check_settings(
        latent_dim=latent_dim, steps=steps, seed=seed, alpha=alpha, threshold=threshold,
        hidden_widths=hidden_widths, batch_size=batch_size, learning_rate=learning_rate,
        num_latent_samples=num_latent_samples, kl_warmup=kl_warmup,
        decoder_variance=decoder_variance, encoder_clip=encoder_clip,
        refine_steps=refine_steps)
    self.settings: train.Settings | None = None  # the engine's static settings, once fitted
    self.params: Any = None
    self.center = self.scale = self.residual_scale = self.constant = None
    self.fit_info: dict[str, Any] = {}
    self._fit_reconstruction: tuple | None = None  # (refine_steps, digest, Ẑ) of the fit

  def __repr__(self) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
    state = f"fitted on {self.num_fitted} × {self.d}" if self.fitted else "not fitted"
    return f"RobustVAE({args}) [{state}]"

  @property
  def fitted(self) -> bool:
    return self.params is not None

  @property
  def d(self) -> int | None:
    return None if self.settings is None else self.settings.data_dim

  @property
  def num_fitted(self) -> int | None:
    return None if self.settings is None else self.settings.num_samples

  def used_settings(self) -> dict[str, Any]:
    """Every setting as used (latent_dim and widths resolved, batch size capped): summary.json's
    "settings"."""
    c, s = self.config, self.settings
    if s is None:
      raise ValueError("the model is not fitted yet: call fit(X) first")
    steps = self.steps_used
    return {"method": "vae", "seed": c["seed"], "alpha": s.alpha, "threshold": c["threshold"],
            "latent_dim": s.latent_dim, "steps": steps,
            "hidden_widths": list(s.decoder_widths), "batch_size": s.batch_size,
            "learning_rate": c["learning_rate"], "num_latent_samples": c["num_latent_samples"],
            "kl_warmup": resolve_kl_warmup(c["kl_warmup"], steps),
            "decoder_variance": c["decoder_variance"], "encoder_clip": s.encoder_clip,
            "refine_steps": resolve_refine_steps(c["refine_steps"])}

  @property
  def steps_used(self) -> int | None:
    """The Adam steps the fit ran (``steps``, or :func:`resolve_steps`'s default from n)."""
    return None if self.settings is None else int(self.fit_info["steps"])

  def _engine_settings(self, n: int, d: int, alpha: float, steps: int) -> train.Settings:
    c = self.config
    latent_dim, widths = _resolve_dims(d, c["latent_dim"], c["hidden_widths"])
    return vae_settings(n, d, latent_dim=latent_dim, steps=steps, alpha=alpha,
                        hidden_widths=widths, batch_size=c["batch_size"],
                        learning_rate=c["learning_rate"],
                        num_latent_samples=c["num_latent_samples"],
                        decoder_variance=c["decoder_variance"],
                        encoder_clip=(ENCODER_CLIP if c["encoder_clip"] is None
                                      else c["encoder_clip"]))

  def fit(self, X: Any, *, missing: Any = None, progress: bool = False) -> RobustVAE:
    """Trains on the rows of X (samples as rows); returns self.

    ``missing`` (optional bool array shaped like X, True = missing; e.g. ``np.isnan(X)``): those
    entries are left out of the standardisation, of the data term (weight 0, the engine's
    ``Settings.missing_data``) and of the residual scales; the encoder sees them at their
    column's median. Their values, NaN included, are never read.

    Raises:
      ValueError: bad X (:func:`check_matrix`) or ``missing`` (:func:`check_missing`),
        latent_dim > d, entries too large for float32 training (:func:`check_magnitudes`) — all
        before any training.
      RuntimeError: training turned non-finite.
    """
    missing = check_missing(missing, np.shape(X))
    X = check_matrix(fill_missing(X, missing), method="vae")
    n, d = X.shape
    _resolve_dims(d, self.config["latent_dim"], self.config["hidden_widths"])
    Z, center, scale = robust_standardize(X, missing)
    observed = None if missing is None else ~missing
    if observed is not None:
      Z[missing] = 0.0  # the encoder's fill value: the column's median
    check_magnitudes(X, Z)
    Z_observed = Z if observed is None else Z[observed]
    steps = resolve_steps(self.config["steps"], n, self.config["batch_size"])
    settings = self._engine_settings(n, d, resolve_alpha(self.config["alpha"], Z_observed), steps)
    if observed is None:
      constant = np.all(X == X[:1], axis=0)
      center[constant] = X[0, constant]  # exactly the constant (a median of equal values is too)
    else:
      lo = np.where(observed, X, np.inf).min(axis=0)
      constant = lo == np.where(observed, X, -np.inf).max(axis=0)
      center[constant] = lo[constant]
    train_settings = settings if missing is None else dataclasses.replace(settings,
                                                                          missing_data=True)
    params, info = train_vae(Z if missing is None else np.where(missing, np.nan, Z),
                             train_settings, steps=steps, seed=self.config["seed"],
                             kl_warmup=resolve_kl_warmup(self.config["kl_warmup"], steps),
                             progress=progress)
    refine = resolve_refine_steps(self.config["refine_steps"])
    t0 = time.perf_counter()
    Z_hat = apply_vae(settings, params, Z, refine_steps=refine, seed=self.config["seed"],
                      observed=observed)
    info["reconstruction_seconds"] = time.perf_counter() - t0  # refinement included
    # The next transform of the same rows (fit_transform, decompose) reuses this reconstruction
    # instead of refining them again; it is kept until then, keyed by a digest of the rows.
    self._fit_reconstruction = (refine, _rows_digest(Z, missing), Z_hat.copy())
    Z_hat[:, constant] = 0.0
    R = Z - Z_hat if missing is None else np.where(missing, np.nan, Z - Z_hat)
    sigma = MAD_TO_SIGMA * np.nanmedian(np.abs(R - np.nanmedian(R, axis=0)), axis=0)
    self.settings, self.params = settings, params
    self.fit_info = {**info, "tied_fraction": tied_fraction(Z_observed),
                     "missing_entries": 0 if missing is None else int(missing.sum())}
    self.center, self.scale, self.residual_scale, self.constant = center, scale, sigma, constant
    return self

  def transform(self, X: Any, *, missing: Any = None, threshold: float | None = None,
                refine_steps: int | None = None) -> Decomposition:
    """Decomposes rows X (any number, the fitted columns) with the fitted model.

    Args:
      X: (m, d) real matrix, finite where observed.
      missing: optional bool array shaped like X (True = missing): the encoder sees those entries
        at their column's median; L fills them in; S, S_sparse and the mask are 0 / False there.
      threshold: k of the mask test; default the model's.
      refine_steps: Adam steps refining each row's latent code before decoding (``REFINE_STEPS``
        in the module); default the model's; 0 decodes the encoder's μz. The residual scales σⱼ
        stay those of the fit.

    Returns:
      :class:`Decomposition`: L = μx(μz[x]) un-standardised (μz refined), S = X − L,
      mask_ij = r²ᵢⱼ > max(α, (k σⱼ)²) with the σⱼ fixed at fit time (constant columns of the
      fitted rows: L is the constant and nothing is flagged there), noise_scale = σⱼ in units of X.

    Raises:
      ValueError: not fitted, bad X, another number of columns, entries too large.
    """
    if not self.fitted:
      raise ValueError("the model is not fitted yet: call fit(X) first or RobustVAE.load(path)")
    k = self.config["threshold"] if threshold is None else _positive_float("threshold", threshold)
    refine = resolve_refine_steps(self.config["refine_steps"] if refine_steps is None
                                  else _check_refine_steps(refine_steps))
    alpha = self.settings.alpha
    missing = check_missing(missing, np.shape(X))
    X = check_matrix(fill_missing(X, missing), method="rpca", min_samples=1)
    m, d = X.shape
    if d != self.d:
      raise ValueError(f"X has {d} columns, but the model was fitted on rows of d = {self.d} "
                       "columns")
    constant = self.constant
    Z = (X - self.center) / self.scale
    if missing is not None:
      Z[missing] = 0.0
    check_magnitudes(X, Z)
    cached, self._fit_reconstruction = self._fit_reconstruction, None
    if (cached is not None and cached[0] == refine and cached[2].shape == Z.shape
        and cached[1] == _rows_digest(Z, missing)):
      Z_hat = cached[2]  # the fit's rows: the same computation, done once
    else:
      Z_hat = apply_vae(self.settings, self.params, Z, refine_steps=refine,
                        seed=self.config["seed"], observed=None if missing is None else ~missing)
    Z_hat[:, constant] = 0.0
    mask = _mask(Z - Z_hat, self.residual_scale, alpha=alpha, threshold=k)
    mask[:, constant] = False
    L = Z_hat * self.scale + self.center
    L[:, constant] = self.center[constant]
    S = X - L
    if missing is not None:
      mask[missing] = False
      S[missing] = 0.0
    settings = {**self.used_settings(), "threshold": k, "refine_steps": refine}
    # Scores are fractions of the observed entries (a row with no observed entry scores 0).
    observed = np.full(m, d) if missing is None else np.maximum((~missing).sum(axis=1), 1)
    info: dict[str, Any] = {"method": "vae", "n": m, "d": d, "fitted_rows": self.num_fitted,
                            **self.fit_info, "alpha": alpha, "threshold": k,
                            "flagged_fraction": float(mask.sum() / observed.sum()),
                            "constant_columns": int(constant.sum()), "settings": settings,
                            "missing_entries_transformed": 0 if missing is None
                            else int(missing.sum())}
    return Decomposition(L=L, S=S, mask=mask, sample_scores=mask.sum(axis=1) / observed,
                         noise_scale=self.residual_scale * self.scale, info=info,
                         S_sparse=np.where(mask, S, 0.0))

  def fit_transform(self, X: Any, *, missing: Any = None,
                    progress: bool = False) -> Decomposition:
    return self.fit(X, missing=missing, progress=progress).transform(X, missing=missing)

  def save(self, path: str) -> str:
    """Writes the fitted model to ``path`` (one ``.npz``: no pickle) atomically: a temporary
    file beside it, renamed into place, so ``path`` holds the whole model or its old content.
    The file gets the user's umask (0644 by default).

    Returns:
      The path.

    Raises:
      ValueError: not fitted, or the path cannot be written (:func:`check_save_path`).
    """
    if not self.fitted:
      raise ValueError("the model is not fitted yet: call fit(X) first")
    path = check_save_path(path)
    meta = {"config": {**self.config, "hidden_widths": None if self.config["hidden_widths"] is None
                       else list(self.config["hidden_widths"])},
            "num_fitted": self.num_fitted, "d": self.d, "alpha_used": self.settings.alpha}
    arrays = {"format": np.array(MODEL_FORMAT), "format_version": np.array(MODEL_FORMAT_VERSION),
              "meta": np.array(json.dumps(meta, sort_keys=True)),
              "fit_info": np.array(json.dumps(io.to_jsonable(self.fit_info), sort_keys=True)),
              "engine_settings": np.array(json.dumps(
                  io.to_jsonable(dataclasses.asdict(self.settings)), sort_keys=True)),
              "center": self.center, "scale": self.scale,
              "residual_scale": self.residual_scale, "constant": self.constant}
    arrays.update({_PARAM_PREFIX + k: np.asarray(v) for k, v in _flat_params(self.params).items()})
    parent = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(path)}.tmp-")
    try:
      with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
      os.chmod(tmp, 0o666 & ~_umask())
      os.replace(tmp, path)
    except BaseException:
      if os.path.exists(tmp):
        os.unlink(tmp)
      raise
    return path

  @classmethod
  def load(cls, path: str) -> RobustVAE:
    """Reads a model written by :meth:`save`.

    Raises:
      ValueError: a missing, corrupt or truncated file, not a RobustVAE model, another format
        version, or parameters that do not fit the recorded settings.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
      raise ValueError(f"model file {path!r} does not exist" if not os.path.exists(path) else
                       f"model file {path!r} is not a file")
    try:
      with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # np.load would take other bytes for a pickle or .npy
          raise zipfile.BadZipFile("not an .npz archive")
      with zipfile.ZipFile(path) as zf:  # every member's CRC, before any of it is trusted
        bad = zf.testzip()
        if bad is not None:
          raise zipfile.BadZipFile(f"member {bad} fails its CRC check")
      with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        if "format" not in keys or _npz_string(z, "format") != MODEL_FORMAT:
          raise ValueError(f"not a {MODEL_FORMAT} model file")
        version = int(z["format_version"])
        if version != MODEL_FORMAT_VERSION:
          raise ValueError(f"format version {version}; this hidden_talents reads version "
                           f"{MODEL_FORMAT_VERSION}: refit and save the model again")
        meta = json.loads(_npz_string(z, "meta"))
        fit_info = json.loads(_npz_string(z, "fit_info"))
        arrays = {k: np.array(z[k]) for k in ("center", "scale", "residual_scale", "constant")}
        flat = {k[len(_PARAM_PREFIX):]: np.array(z[k]) for k in keys
                if k.startswith(_PARAM_PREFIX)}
    except ValueError as e:
      raise ValueError(f"cannot load the model {path!r}: {e}") from e
    except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as e:
      raise ValueError(f"cannot load the model {path!r}: corrupt or not a model file "
                       f"({type(e).__name__}: {e})") from e
    try:
      # Files of earlier versions predate these settings and were trained without them.
      model = cls(**{"kl_warmup": 0, "decoder_variance": "optimal", "encoder_clip": 0.0,
                     "refine_steps": 0, **meta["config"]})
      n, d = int(meta["num_fitted"]), int(meta["d"])
      steps = int(fit_info.get("steps", resolve_steps(model.config["steps"], n,
                                                      model.config["batch_size"])))
      settings = model._engine_settings(n, d, float(meta.get("alpha_used",
                                                              meta["config"]["alpha"])), steps)
      expected = jax.eval_shape(train.make_train(settings).init, _cell(0)).params
      want = {k: (tuple(v.shape), np.dtype(v.dtype)) for k, v in _flat_params(expected).items()}
      got = {k: (v.shape, v.dtype) for k, v in flat.items()}
      if got != want:
        diff = sorted(set(got.items()) ^ set(want.items()))[:3]
        raise ValueError(f"its parameters do not match its settings ({diff} ...)")
      for k, v in arrays.items():
        if v.shape != (d,) or (k == "constant") != (v.dtype == bool):
          raise ValueError(f"entry {k!r} has shape {v.shape} and dtype {v.dtype}")
      if not all(np.all(np.isfinite(arrays[k])) for k in ("center", "scale", "residual_scale")):
        raise ValueError("its standardisation is not finite")
    except (ValueError, KeyError, TypeError) as e:
      raise ValueError(f"cannot load the model {path!r}: {e}") from e
    model.settings, model.params, model.fit_info = settings, _nest_params(flat), fit_info
    model.center, model.scale = arrays["center"], arrays["scale"]
    model.residual_scale, model.constant = arrays["residual_scale"], arrays["constant"]
    return model


def decompose(
    X: Any,
    *,
    method: str = "vae",
    latent_dim: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    alpha: float | None = None,
    threshold: float = 3.0,
    hidden_widths: tuple[int, int] | None = None,
    batch_size: int = 100,
    learning_rate: float = 1e-3,
    num_latent_samples: int = 1,
    kl_warmup: int | None = None,
    decoder_variance: str = DEFAULT_DECODER_VARIANCE,
    encoder_clip: float | None = None,
    refine_steps: int | None = None,
    lam: float | None = None,
    missing: Any = None,
    progress: bool = False,
) -> Decomposition:
  """Splits X (samples as rows) into a clean part L on a (nonlinear) manifold and S = X − L.

  The one-call shortcut of ``RobustVAE(...).fit(X).transform(X)`` (:class:`RobustVAE`: fit once,
  apply to new rows, save). The defaults need no tuning: the VAE's KL term plays the role that C2
  plays for the AEs (Sec. 5.1), and α is in units of robustly standardised columns.

  Args:
    X: (n, d) real matrix, samples as rows, finite.
    method: ``"vae"`` (nonlinear, Secs. 3 and 5) or ``"rpca"`` (convex PCP, eq. 14: the linear
      baseline).
    latent_dim: κ of the VAE, at most d; default min(20, max(1, d // 2)). Unneeded dimensions are
      switched off by the VAE itself (Sec. 5.2), so generous is fine.
    steps: Adam steps of VAE training, run exactly (compiled in chunks of 250 and a remainder);
      default ``DEFAULT_EPOCHS`` (300) passes over the rows, at least 3·10⁴ and at most 10⁵
      steps (:func:`resolve_steps`). The fit records its loss per chunk and whether that curve
      had flattened (``info["converged"]``, :func:`loss_trend`).
    seed: PRNG seed (initialisation and batches).
    alpha: decoder variance floor α, in standardised units; default ``DEFAULT_ALPHA`` (10⁻²),
      or ``TIED_ALPHA`` (1) when at least ``TIE_FRACTION`` (a quarter) of the entries equal
      their column's median (images: :func:`resolve_alpha`).
    threshold: k of the mask test |r| > max(√α, k σⱼ): an entry is an outlier when its residual
      exceeds k robust standard deviations of its column's residuals (module docstring); larger
      k flags fewer entries.
    hidden_widths: (r1, r2) of the VAE networks; default :func:`default_widths`.
    batch_size: VAE mini-batch size (capped at n).
    learning_rate: Adam step size.
    num_latent_samples: τ of eq. 4.
    kl_warmup: steps over which the KL weight β rises 0 → 1 (Bowman et al. 2016); None =
      ``DEFAULT_WARMUP_FRACTION`` of ``steps``; 0 = the paper's protocol (β = 1 throughout).
    decoder_variance: 'optimal' (Σx optimised out per entry, the paper's eqs. 68–70), 'learned'
      (a decoder head γ(z) per entry) or 'shared' (one learned γ); see the module docstring.
    encoder_clip: the encoder sees each standardised entry winsorised to ±encoder_clip robust
      SDs (the data term sees it as it is); None = ``ENCODER_CLIP`` (10), 0 = off (the paper's
      encoder). It keeps columns whose MAD nearly vanishes (an atom: half the entries exactly 0)
      from feeding the encoder values 10³–10⁴ SDs out.
    refine_steps: Adam steps that refine each row's latent code on its own VAE cost, decoder
      fixed, before decoding; None = ``REFINE_STEPS`` (500), 0 = the encoder's μz (the paper's
      μx(μz[x])).
    lam: RPCA λ in standardised units; default 1/√max(n, d).
    missing: optional bool array shaped like X, True = missing (e.g. ``np.isnan(X)``; VAE
      only): left out of the fit, filled in L, 0 in S and never flagged (:meth:`RobustVAE.fit`).
    progress: print a progress line per chunk to stderr.

  Returns:
    :class:`Decomposition`.

  Raises:
    ValueError: bad X or argument (the message names it), also latent_dim > d and entries too
      large for float32 training (:func:`check_magnitudes`) — all before any training.
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  if method == "rpca" and missing is not None:
    raise ValueError("missing= needs method='vae': convex RPCA here has no missing-entry model")
  X = check_matrix(fill_missing(X, check_missing(missing, np.shape(X))), method=method)
  kwargs = dict(latent_dim=latent_dim, steps=steps, seed=seed, alpha=alpha, threshold=threshold,
                hidden_widths=hidden_widths, batch_size=batch_size, learning_rate=learning_rate,
                num_latent_samples=num_latent_samples, kl_warmup=kl_warmup,
                decoder_variance=decoder_variance, encoder_clip=encoder_clip,
                refine_steps=refine_steps)
  if method == "vae":
    return RobustVAE(**kwargs).fit_transform(X, missing=missing, progress=progress)
  config = _check_settings(**kwargs)
  _resolve_dims(X.shape[1], config["latent_dim"], config["hidden_widths"])
  if lam is not None:
    lam = _positive_float("lam", lam)
  threshold = config["threshold"]
  n, d = X.shape
  Z, center, scale = robust_standardize(X)
  check_magnitudes(X, Z)
  alpha = resolve_alpha(config["alpha"], Z)
  constant = np.all(X == X[:1], axis=0)
  res = rpca.robust_pca(Z.astype(np.float32), lam=lam)
  Z_hat = np.asarray(res.L, np.float64)
  info: dict[str, Any] = {"method": method, "n": n, "d": d, "lam": float(res.lam),
                          "iterations": int(res.iterations), "converged": bool(res.converged)}
  settings_used = {"method": method, "seed": config["seed"], "alpha": alpha,
                   "threshold": threshold, "lam": float(res.lam)}
  if not bool(res.converged):
    print("[decompose] warning: RPCA did not converge", file=sys.stderr)
  # A constant column has no outliers: its clean part is the constant (Z = 0 there), whatever the
  # (possibly unconverged) model reconstructs.
  Z_hat[:, constant] = 0.0
  mask, sigma = outlier_mask(Z - Z_hat, alpha=alpha, threshold=threshold)
  mask[:, constant] = False
  L = Z_hat * scale + center
  L[:, constant] = X[0, constant]
  S = X - L
  info.update(alpha=alpha, threshold=threshold, flagged_fraction=float(mask.mean()),
              constant_columns=int(constant.sum()), settings=settings_used)
  return Decomposition(L=L, S=S, mask=mask, sample_scores=mask.mean(axis=1),
                       noise_scale=sigma * scale, info=info, S_sparse=np.where(mask, S, 0.0))


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


def image_side(d: int) -> int:
  """√d for a perfect square d (rows shown as √d × √d images).

  Raises:
    ValueError: d is not a perfect square.
  """
  side = math.isqrt(d)
  if side * side != d:
    raise ValueError(f"--images needs a square number of columns (d = side²), got d = {d}")
  return side


def _svals(M: np.ndarray) -> np.ndarray:
  M = M - M.mean(axis=0)
  top = np.abs(M).max()
  s = np.linalg.svd(M / top if top > 0 else M, compute_uv=False)  # scaled: no overflow
  return np.maximum(s / max(s[0], 1e-300), 1e-12)


def summary_figure(X: np.ndarray, result: Decomposition, *, images: bool = False,
                   num_rows: int | None = None):
  """Top: one sample with its flagged entries, per-sample scores, singular values. Below: a few
  rows (the most flagged; numbered from 1) of X, L and the mask side by side — as heat maps, or
  as √d × √d images with ``images=True``."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  n, d = X.shape
  side = image_side(d) if images else None
  k = min(n, num_rows or (4 if images else 12))
  rows = np.argsort(-result.sample_scores, kind="stable")[:k]
  fig = plt.figure(figsize=(15, 4 + (2.2 * k if images else 4)))
  gs = fig.add_gridspec(2, 1, height_ratios=[4, 2.2 * k if images else 4])
  top = gs[0].subgridspec(1, 3)
  ax = [fig.add_subplot(top[0, c]) for c in range(3)]
  i = int(rows[0])
  j = np.arange(d)
  ax[0].plot(j, X[i], ".-", lw=0.8, label="X (input)")
  ax[0].plot(j, result.L[i], "-", lw=1.2, label="L (clean part)")
  m = result.mask[i]
  ax[0].plot(j[m], X[i, m], "rx", label="flagged outliers")
  ax[0].set(title=f"row {i + 1} (most flagged)", xlabel="column")
  ax[0].legend(fontsize=8)
  ax[1].hist(result.sample_scores, bins=40)
  ax[1].set(title="per-row outlier score", xlabel="fraction of entries flagged", ylabel="rows")
  for M, name in ((X, "X"), (result.L, "L")):
    ax[2].semilogy(_svals(M), label=name)
  ax[2].set(title="singular values (centred, relative)", xlabel="index")
  ax[2].legend()
  lo, hi = np.percentile(result.L[rows], [1, 99]) if k else (0.0, 1.0)
  panels = (("X", X, dict(vmin=lo, vmax=hi, cmap="gray" if images else "viridis")),
            ("L", result.L, dict(vmin=lo, vmax=hi, cmap="gray" if images else "viridis")),
            ("mask", result.mask, dict(vmin=0, vmax=1, cmap="Reds")))
  if images:
    grid = gs[1].subgridspec(k, 3)
    for r, row in enumerate(rows):
      for c, (name, M, kw) in enumerate(panels):
        a = fig.add_subplot(grid[r, c])
        a.imshow(np.asarray(M[row], float).reshape(side, side), interpolation="nearest", **kw)
        a.set_xticks([])
        a.set_yticks([])
        a.set_title(f"{name}, row {row + 1}", fontsize=8)
  else:
    grid = gs[1].subgridspec(1, 3)
    for c, (name, M, kw) in enumerate(panels):
      a = fig.add_subplot(grid[0, c])
      a.imshow(np.asarray(M[rows], float), aspect="auto", interpolation="nearest", **kw)
      a.set_yticks(range(k))
      a.set_yticklabels([str(r + 1) for r in rows], fontsize=7)
      a.set(title=f"{name}: the {k} most flagged rows", xlabel="column", ylabel="row")
  fig.suptitle(f"decompose ({result.info['method']}): {100 * result.mask.mean():.2f} % of entries "
               "flagged")
  fig.tight_layout()
  return fig


def _npy_bytes(a: np.ndarray) -> bytes:
  buf = _pyio.BytesIO()
  np.save(buf, a, allow_pickle=False)
  return buf.getvalue()


def summary_record(result: Decomposition, *, input_info: dict[str, Any] | None = None,
                   argv: list[str] | None = None) -> dict[str, Any]:
  """summary.json's content: the result's info (final loss instead of the history), every setting,
  the input file (path, size, sha256, how it was read), versions and the time."""
  import hidden_talents

  rec = dict(result.info)
  history = rec.pop("loss_history", None)
  rec["final_loss"] = history[-1] if history else None
  rec["input"] = input_info
  rec["flagged_entries"] = int(result.mask.sum())
  rec["versions"] = {"hidden_talents": hidden_talents.__version__, "jax": jax.__version__,
                     "numpy": np.__version__}
  rec["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  if argv is not None:
    rec["argv"] = list(argv)
  return rec


def rows_csv(result: Decomposition) -> str:
  """Per-row scores as CSV: row (counted from 1), flagged entries, fraction flagged (of the
  row's observed entries: ``sample_scores``)."""
  lines = ["row,flagged_entries,score"]
  for i, (c, score) in enumerate(zip(result.mask.sum(axis=1), result.sample_scores)):
    lines.append(f"{i + 1},{int(c)},{score:.6g}")
  return "\n".join(lines) + "\n"


OUTPUT_FILES = ("L.npy", "S.npy", "S_sparse.npy", "mask.npy", "sample_scores.npy", "rows.csv",
                "summary.json", "summary.png")


def save_outputs(out: str | StagedOutput, X: np.ndarray, result: Decomposition, *,
                 overwrite: bool = False, input_info: dict[str, Any] | None = None,
                 images: bool = False, argv: list[str] | None = None) -> list[str]:
  """Writes ``OUTPUT_FILES`` all-or-nothing (:class:`~hidden_talents.matrix_io.StagedOutput`).

  Args:
    out: the target directory, or a :class:`StagedOutput` made before training (it then checks
      the target up front; it is committed here).
    X: the input matrix.
    result: :func:`decompose`'s result.
    overwrite: replace a non-empty target (otherwise a ``ValueError``); only with a path.
    input_info: recorded in summary.json under "input" (e.g. :func:`file_fingerprint`).
    images: draw the rows in summary.png as √d × √d images.
    argv: the command line, recorded in summary.json.

  Returns:
    The final paths of the files.
  """
  import matplotlib.pyplot as plt

  stage = out if isinstance(out, StagedOutput) else StagedOutput(out, overwrite=overwrite)
  try:
    for name in ("L", "S", "S_sparse", "mask", "sample_scores"):
      stage.write_bytes(f"{name}.npy", _npy_bytes(getattr(result, name)))
    stage.write_bytes("rows.csv", rows_csv(result).encode())
    text = json.dumps(io.to_jsonable(summary_record(result, input_info=input_info, argv=argv)),
                      indent=2, sort_keys=True, allow_nan=False)
    stage.write_bytes("summary.json", (text + "\n").encode())
    fig = summary_figure(X, result, images=images)
    buf = _pyio.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    stage.write_bytes("summary.png", buf.getvalue())
    target = stage.commit()
  except BaseException:
    stage.discard()
    raise
  return [os.path.join(target, name) for name in OUTPUT_FILES]
