"""Pure training of one cell (one model on one data set), to be vmapped over a grid of cells.

``make_train(settings)`` closes over the static settings (shapes, steps, sizes) and returns pure
functions of array arguments only:

* ``init(cell) -> TrainState``
* ``run_chunk(state, cell, data=None) -> (TrainState, ChunkMetrics)`` — ``settings.chunk_steps``
  Adam steps under ``lax.scan``;
* ``evaluate(state, cell, data=None) -> EvalMetrics`` — NMSE (eq. 20) over all n samples, in
  chunks, plus Σz statistics (Sec. 5.3), the first decoder layer's column norms (Sec. 5.2), the
  objectives and the exact-fit regime (``metrics.FitRegime``: inlier entries within √α, NMSE on
  inlier and outlier entries apart);
* ``curve_point(state, cell, data=None) -> CurveMetrics`` — one learning-curve point on a fixed
  evaluation subset (the first ``eval_subset`` samples);
* ``refit_logvar_head(state, cell, data=None) -> TrainState`` — ``refit_steps`` Adam steps on the
  encoder's log σz² head alone under the VAE objective (every other parameter frozen): the VAE
  objective of an autoencoder's solution, with the best Σz head given its μz and decoder.

A cell is described by arrays (``Cell``): manifold dimension κ, outlier ratio ν, PRNG keys and the
model's loss coefficients; so ``jax.vmap`` over cells trains a whole grid (several models
included) as one program. Data is streamed: every batch is generated from (key, sample index) by
``data.stream.sample`` with the data's own settings ``Settings.data_spec`` (the one data stream
that evaluation, the sweep's cache, the baselines and the checks read too).

Fixed-dataset mode: ``run_chunk``, ``evaluate`` and ``sample_batch`` take an optional ``data``
argument, a (n, d) array of clean rows shared by every cell (vmap it with ``in_axes=None``). Sample
i of a cell is then ``data[i]`` instead of the ground-truth decoder's output, corrupted by the
cell's ν with the same streamed outliers (MNIST, users' own matrices). A (slots, n, d) table is
indexed by each cell's ``data_slot`` instead: the sweep uses one to cache the streamed manifolds
when they fit in memory (``stream.clean_table``).

The decoder variance (``Settings.decoder_variance``: 'optimal', 'learned' or 'shared', see
``objectives.unified``) is static: it selects the data term's branch and the decoder's variance
head at trace time, for the cell's own objective and its VAE objective alike; models with
different decoder variances are separate programs (separate sweeps).

A cell whose loss or parameters turn non-finite during a chunk is marked ``failed`` and frozen at
the parameters it had at the start of that chunk; the other cells of the vmapped program are
unaffected.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hidden_talents import metrics, models
from hidden_talents.data import stream
from hidden_talents.objectives.unified import (
  LossCoefficients,
  check_decoder_variance,
  clip_logvar,
  reparameterize,
  unified_cost,
)

LR_SCHEDULES = ("constant", "cosine", "exponential")
PRECISIONS = ("float32", "bf16_matmul")
VAE_COEFFICIENTS = LossCoefficients(noise=1.0, kl=1.0, c2=1.0, c1=0.0)


@dataclasses.dataclass(frozen=True)
class Settings:
  """Static settings of a sweep: everything that fixes shapes or the compiled program."""

  data_dim: int = 100
  kappa_max: int = 20
  generator_widths: tuple[int, ...] = (100, 200)  # ground truth z-D1(r1)-D2(r2)-l(d)
  encoder_widths: tuple[int, ...] = (200, 100)  # x-E1-E2-μz
  decoder_widths: tuple[int, ...] = (100, 200)  # μz-D1-D2-μx
  latent_dim: int = 50
  num_samples: int = 5000  # n per cell
  batch_size: int = 100
  chunk_steps: int = 500
  learning_rate: float = 1e-3
  alpha: float = 1e-2
  # Decoder variance Σx = diag γ, floor α (objectives.unified.DECODER_VARIANCES): 'optimal'
  # (optimised out per entry, eqs. 68–70, 86–87; the paper's), 'learned' (a decoder head γ(z)) or
  # 'shared' (one learned scalar γ). Static: models with different decoder variances run as
  # separate sweeps. 'optimal' has no parameters (checkpoints and fingerprints unchanged).
  decoder_variance: str = "optimal"
  weight_decay: float = 5e-4  # C1
  loss_reduction: str = "mean"  # 'mean' over the batch, or 'sum' (n/B · batch sum, eq. 2)
  num_latent_samples: int = 1  # τ of eq. 4
  logvar_bias_init: float = 0.0
  eval_batch_size: int = 1000
  hist_range: tuple[float, float] = (-8.0, 1.0)  # log10 σz² histogram range
  hist_bins: int = 90
  outliers: str = "gaussian"  # 'gaussian' (Sec. 5.1) or 'uniform'
  uniform_range: tuple[float, float] = (0.0, 255.0)  # [low, high] of 'uniform' outliers (App. A)
  outlier_scale: float = 1.0  # 'gaussian' outliers are outlier_scale · N(0, 1) (Sec. 5.1: 1)
  grad_clip: float = 0.0  # global-norm clip; 0 = off
  # Learning rate: 'constant' (the paper's), or 'cosine' / 'exponential' decay from learning_rate
  # to lr_end over schedule_steps steps (then held at lr_end).
  lr_schedule: str = "constant"
  lr_end: float = 1e-5
  schedule_steps: int = 1
  eval_subset: int = 1000  # rows (the first ones) of the fixed learning-curve evaluation subset
  # Missing entries (fixed-dataset mode): NaN entries of ``data`` are missing — filled with 0
  # before the encoder and left out of the data term (weight 0). Static; off = bit-identical.
  missing_data: bool = False
  refit_steps: int = 500  # steps of refit_logvar_head
  # 'float32' (the paper's) or 'bf16_matmul': the networks' matmuls in bfloat16 with float32
  # parameters, log-variance heads and loss math (``models`` docstring). For accelerators.
  precision: str = "float32"
  # Encoder input winsorised to [−c, c] (the data term still sees the raw x); 0 = off (the paper's,
  # bit-identical). ``decompose`` sets it: robust standardisation of a column with an atom (half
  # its entries exactly 0) has a MAD near 0, its other entries sit 10³–10⁴ robust SDs out, and
  # an encoder fed those blows up the KL term (loss spikes of 10⁶; BENCHMARKS.md).
  encoder_clip: float = 0.0

  def __post_init__(self):
    for name in ("data_dim", "kappa_max", "latent_dim", "num_samples", "batch_size", "chunk_steps",
                 "num_latent_samples", "eval_batch_size", "hist_bins"):
      if int(getattr(self, name)) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
    for name in ("generator_widths", "encoder_widths", "decoder_widths"):
      if any(int(w) <= 0 for w in getattr(self, name)):
        raise ValueError(f"{name} must be positive integers, got {getattr(self, name)!r}")
    if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
      raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
    if not (self.alpha > 0 and math.isfinite(self.alpha)):
      raise ValueError(f"alpha must be > 0, got {self.alpha!r}")
    check_decoder_variance(self.decoder_variance)
    if not self.weight_decay >= 0:
      raise ValueError(f"weight_decay must be ≥ 0, got {self.weight_decay!r}")
    if self.loss_reduction not in ("mean", "sum"):
      raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {self.loss_reduction!r}")
    _ = self.data_spec  # validates outliers, outlier_scale, uniform_range (stream.DataSpec)
    if self.lr_schedule not in LR_SCHEDULES:
      raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
    if self.lr_schedule != "constant":
      if not (0 < self.lr_end <= self.learning_rate and math.isfinite(self.lr_end)):
        raise ValueError(f"lr_end must lie in (0, learning_rate={self.learning_rate}], got "
                         f"{self.lr_end!r}")
      if int(self.schedule_steps) <= 0:
        raise ValueError(f"schedule_steps must be a positive integer, got {self.schedule_steps!r}")
    for name in ("eval_subset", "refit_steps"):
      if int(getattr(self, name)) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
    if not (self.encoder_clip >= 0 and math.isfinite(self.encoder_clip)):
      raise ValueError(f"encoder_clip must be ≥ 0 (0 = off), got {self.encoder_clip!r}")
    if self.precision not in PRECISIONS:
      raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
    if self.batch_size > self.num_samples:
      raise ValueError(
          f"batch_size ({self.batch_size}) must not exceed num_samples ({self.num_samples})")

  @property
  def data_spec(self) -> stream.DataSpec:
    """The settings of the cells' data alone (``data.stream``): shapes, generator, outliers."""
    return stream.DataSpec(
        data_dim=int(self.data_dim), kappa_max=int(self.kappa_max),
        generator_widths=tuple(self.generator_widths), num_samples=int(self.num_samples),
        outliers=self.outliers, outlier_scale=self.outlier_scale,
        uniform_range=tuple(self.uniform_range))


class Cell(NamedTuple):
  """One training run. Every field is an array, so a grid is a ``Cell`` with a leading axis.

  ``kappa`` is the latent size of the data's generator (``data.stream``), ≤ ``kappa_max``, and it
  seeds the cell's keys (``sweep.cell_keys``). Its meaning depends on the experiment (the name is
  kept: it is in checkpoints and fingerprints):

  * ``phase_transition``, ``latent_pruning``: the manifold dimension κ of the nonlinear ground
    truth (Sec. 5.1);
  * ``linear_phase_transition``: the rank r of L (``generator_widths=()``: an affine generator
    with its latent masked to r);
  * ``mnist_pruning``: the model's latent size κ (fixed data: it only seeds the keys);
  * ``mnist_denoising``, ``decompose``: a dummy 1 (fixed data: it only seeds the keys).
  """

  kappa: jax.Array  # int32, the generator's latent size: κ, rank r or a dummy 1 (see above)
  nu: jax.Array  # float32, outlier ratio ν ∈ [0, 1)
  data_key: jax.Array  # uint32[2]: ground-truth decoder and latent samples
  corrupt_key: jax.Array  # uint32[2]: outlier mask and values
  init_key: jax.Array  # uint32[2]: model initialisation
  train_key: jax.Array  # uint32[2]: batches and reparameterisation noise
  coeffs: LossCoefficients
  # int32: this cell's row of a (slots, n, d) table of clean data given as ``data`` (the sweep's
  # cache of streamed manifolds, ``stream.clean_table``); unused otherwise.
  data_slot: Any = np.int32(0)
  # float32: KL warm-up (Bowman et al. 2016): the latent penalty (kl, c2, c1 terms) is scaled by
  # β = min(1, step / kl_warmup) during training; 0 = off (the paper's protocol, β = 1).
  kl_warmup: Any = np.float32(0.0)


class TrainState(NamedTuple):
  params: Any
  opt_state: Any
  step: jax.Array  # int32, global step (batches are keyed by it, so resuming is exact)
  failed: jax.Array  # bool: a non-finite loss/gradient was met; the cell is frozen


class ChunkMetrics(NamedTuple):
  loss: jax.Array  # mean training loss over the chunk's steps (NaN for a failed cell)
  data: jax.Array  # mean data term per sample
  kl: jax.Array  # mean tr Σz − log|Σz| per sample


class EvalMetrics(NamedTuple):
  nmse: jax.Array  # ‖L − L̂‖²_F / ‖L‖²_F with L̂ = μx(μz(X)) (eq. 20)
  nmse_input: jax.Array  # ‖L − X‖²_F / ‖L‖²_F: doing nothing
  sigma_z_mean: jax.Array  # (latent_dim,) mean over samples of diag Σz
  sigma_z_hist: jax.Array  # (hist_bins,) counts of log10 diag Σz over all samples and dims
  w1_col_norms: jax.Array  # (latent_dim,) column norms of the first decoder layer W₁ (eq. 21)
  objective: jax.Array  # the cell's own training cost per sample (β = 1, no weight decay)
  vae_objective: jax.Array  # the VAE cost per sample (eq. 2, settings' Σx) of this solution
  # The exact-fit regime (metrics.FitRegime): inlier entries within √α of L, NMSE on the inlier
  # and on the outlier entries of X apart (NaN when the cell has no outliers).
  inlier_exact_fraction: jax.Array
  nmse_inliers: jax.Array
  nmse_outliers: jax.Array


# fold_in tags of the evaluation, curve and refit noise: far above any step (the training batches
# are fold_in(train_key, step)), so they never reuse a training batch's key.
_EVAL_TAG, _CURVE_TAG, _REFIT_TAG = 2**32 - 1, 2**32 - 2, 2**32 - 3


class CurveMetrics(NamedTuple):
  """One learning-curve point of a cell on the fixed evaluation subset (the first rows)."""

  nmse: jax.Array  # eq. 20 of μx(μz(x)) on the subset
  objective: jax.Array  # the cell's training cost per sample (with β = 1; no weight decay)
  data: jax.Array  # its data term per sample (Σⱼ log ξα …, eq. 87, or eq. 2 for a given Σx)
  kl: jax.Array  # tr Σz − log|Σz| per sample
  vae_objective: jax.Array  # the VAE cost per sample of this solution (encoder's Σz head)
  sigma_z_near_zero: jax.Array  # latent dimensions with mean σz² < metrics.SIGMA_Z_NEAR_ZERO
  nonzero_columns: jax.Array  # W₁ columns above the Sec. 5.2 threshold
  inlier_exact_fraction: jax.Array  # metrics.FitRegime on the subset (as in EvalMetrics)
  nmse_inliers: jax.Array
  nmse_outliers: jax.Array


class TrainFns(NamedTuple):
  settings: Settings
  model: models.AutoEncoder
  init: Callable[[Cell], TrainState]
  run_chunk: Callable[..., tuple[TrainState, ChunkMetrics]]
  evaluate: Callable[..., EvalMetrics]
  sample_batch: Callable[..., tuple[jax.Array, jax.Array, jax.Array]]
  reconstruct: Callable[[Any, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]
  # loss(params, x, eps, coeffs) -> (loss, (data, kl)): one training-batch objective
  loss: Callable[..., tuple[jax.Array, tuple[jax.Array, jax.Array]]]
  curve_point: Callable[..., CurveMetrics]
  refit_logvar_head: Callable[..., TrainState]
  # latent_cost(params, x, mu_z, logvar_z, eps, coeffs, weight=None) -> (per-row cost, parts)
  latent_cost: Callable[..., tuple[jax.Array, dict]]


def make_model(s: Settings) -> models.AutoEncoder:
  return models.AutoEncoder(
      encoder_widths=tuple(s.encoder_widths), decoder_widths=tuple(s.decoder_widths),
      latent_dim=s.latent_dim, data_dim=s.data_dim, logvar_bias_init=s.logvar_bias_init,
      decoder_variance=s.decoder_variance,
      matmul_dtype=jnp.bfloat16 if s.precision == "bf16_matmul" else None)


def kl_weight(step: jax.Array, warmup: jax.Array) -> jax.Array:
  """KL warm-up weight β = min(1, step / warmup) at 0-based ``step``; 1 when ``warmup`` is 0."""
  step = jnp.asarray(step, jnp.float32)
  return jnp.where(warmup > 0, jnp.minimum(1.0, step / jnp.maximum(warmup, 1.0)), 1.0)


def warmup_coefficients(coeffs: LossCoefficients, warmup: jax.Array,
                        step: jax.Array) -> LossCoefficients:
  """The latent penalty (kl, c2, c1: the VAE's whole 2·KL of eq. 3) scaled by ``kl_weight``; the
  data term is untouched. With ``warmup`` = 0 the coefficients are unchanged (β = 1 exactly)."""
  beta = kl_weight(step, warmup)
  return coeffs._replace(kl=beta * coeffs.kl, c2=beta * coeffs.c2, c1=beta * coeffs.c1)


def learning_rate(s: Settings) -> float | optax.Schedule:
  """The constant learning rate, or the ``lr_schedule`` decay to ``lr_end`` over
  ``schedule_steps`` steps (held at ``lr_end`` afterwards)."""
  if s.lr_schedule == "cosine":
    return optax.cosine_decay_schedule(s.learning_rate, s.schedule_steps,
                                       alpha=s.lr_end / s.learning_rate)
  if s.lr_schedule == "exponential":
    return optax.exponential_decay(s.learning_rate, s.schedule_steps,
                                   decay_rate=s.lr_end / s.learning_rate, end_value=s.lr_end)
  return s.learning_rate


def make_optimizer(s: Settings) -> optax.GradientTransformation:
  adam = optax.adam(learning_rate(s))
  if s.grad_clip > 0:
    return optax.chain(optax.clip_by_global_norm(s.grad_clip), adam)
  return adam


def _tree_where(pred, a, b):
  return jax.tree.map(lambda u, v: jnp.where(pred, u, v), a, b)


def _tree_all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
  return jnp.all(jnp.stack(leaves))


def make_train(s: Settings) -> TrainFns:
  """Builds the pure per-cell functions for static settings ``s`` (see module docstring).

  Long by design, in the ``make_train`` style of purejaxrl (``STYLE.md``): one closure over the
  static settings holds the ten small nested functions (batch sampling, the loss, one Adam step,
  the chunk's ``lax.scan``, evaluation, curve points, the Σz head refit) that share ``model``,
  ``tx`` and ``s``; each of them is short, and splitting the closure would thread those three
  through every signature.
  """
  model = make_model(s)
  tx = make_optimizer(s)

  spec = s.data_spec
  generator = functools.partial(stream.generator, spec)
  check_data = functools.partial(stream.check_data, spec)

  def sample_batch(cell: Cell, indices: jax.Array, gen=None, data=None):
    """(x, l, mask) for sample indices of this cell: ``stream.sample`` with ``s.data_spec``."""
    return stream.sample(spec, cell, indices, gen, data)

  def encode(params, x):
    """(μz, log σz²) of rows x; the input winsorised to ±``s.encoder_clip`` when that is > 0."""
    if s.encoder_clip > 0:
      x = jnp.clip(x, -s.encoder_clip, s.encoder_clip)
    return model.apply(params, x, method=models.AutoEncoder.encode)

  def init(cell: Cell) -> TrainState:
    params = model.init(cell.init_key, jnp.zeros((1, s.data_dim)))
    return TrainState(params=params, opt_state=tx.init(params), step=jnp.zeros((), jnp.int32),
                      failed=jnp.zeros((), bool))

  def latent_cost(params, x, mu_z, logvar_z, eps, coeffs, weight=None):
    """Per-sample unified cost (B,) and its parts of rows x at given q(z|x) = N(μz, diag σz²),
    under ``s.decoder_variance``: Σx optimised out for ``'optimal'`` (eqs. 86–87), the decoder's
    variance head otherwise. ``weight`` (B, d), when given, leaves entries out of the data term
    (0 = missing). Shared by training (μz, σz² from the encoder) and ``decompose``'s latent
    refinement (μz, σz² optimised per row)."""
    z = reparameterize(mu_z[None], logvar_z[None], eps, coeffs.noise)  # (τ, B, κ)
    w_axis = None if weight is None else 0
    if s.decoder_variance == "optimal":
      mu_x = model.apply(params, z, method=models.AutoEncoder.decode)  # (τ, B, d)
      return jax.vmap(
          lambda xi, mxi, mzi, lvi, wi: unified_cost(xi, mxi, mzi, lvi, coeffs, alpha=s.alpha,
                                                     weight=wi),
          in_axes=(0, 1, 0, 0, w_axis))(x, mu_x, mu_z, logvar_z, weight)
    # (τ, B, d) each: s = log(γ − α) at the same z as μx.
    mu_x, logvar_x = model.apply(params, z, method=models.AutoEncoder.decode_with_variance)
    return jax.vmap(
        lambda xi, mxi, mzi, lvi, lgi, wi: unified_cost(
            xi, mxi, mzi, lvi, coeffs, alpha=s.alpha, decoder_variance=s.decoder_variance,
            logvar_x=lgi, weight=wi),
        in_axes=(0, 1, 0, 0, 1, w_axis))(x, mu_x, mu_z, logvar_z, logvar_x, weight)

  def per_sample(params, x, eps, coeffs):
    """Per-sample unified cost (B,) of a batch and its parts, with q(z|x) from the encoder; with
    ``s.missing_data`` NaN entries of x are missing (filled with 0, weight 0 in the data term)."""
    weight = None
    if s.missing_data:
      observed = ~jnp.isnan(x)
      x, weight = jnp.where(observed, x, 0.0), observed.astype(x.dtype)
    mu_z, logvar_z = encode(params, x)
    return latent_cost(params, x, mu_z, logvar_z, eps, coeffs, weight)

  def per_sample_cost(params, x, eps, coeffs):
    return per_sample(params, x, eps, coeffs)[0]

  def cost_fn(params, x, eps, coeffs):
    """Mean per-sample unified cost of a batch and its (data, kl) parts; no weight decay."""
    cost, parts = per_sample(params, x, eps, coeffs)
    return jnp.mean(cost), (jnp.mean(parts["data"]), jnp.mean(parts["kl"]))

  def loss_fn(params, x, eps, coeffs):
    cost, parts = cost_fn(params, x, eps, coeffs)
    scale = 1.0 if s.loss_reduction == "mean" else float(s.num_samples)
    wd = s.weight_decay * sum(jnp.sum(p**2) for p in jax.tree.leaves(params))
    return scale * cost + wd, parts

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def run_chunk(state: TrainState, cell: Cell, data=None) -> tuple[TrainState, ChunkMetrics]:
    check_data(data)
    gen = generator(cell) if data is None else None
    train_key = cell.train_key

    def step(st, _):
      k = jax.random.fold_in(train_key, st.step)
      k_idx, k_eps = jax.random.split(k)
      idx = jax.random.randint(k_idx, (s.batch_size,), 0, s.num_samples)
      x, _, _ = sample_batch(cell, idx, gen, data)
      eps = jax.random.normal(k_eps, (s.num_latent_samples, s.batch_size, s.latent_dim))
      coeffs = warmup_coefficients(cell.coeffs, cell.kl_warmup, st.step)
      (loss, (data_term, kl)), grads = grad_fn(st.params, x, eps, coeffs)
      updates, new_opt = tx.update(grads, st.opt_state, st.params)
      new = TrainState(optax.apply_updates(st.params, updates), new_opt, st.step + 1, st.failed)
      return new, jnp.stack([loss, data_term, kl])

    end, ms = jax.lax.scan(step, state, None, length=s.chunk_steps)
    # Finiteness is checked once per chunk, not per step (a per-step check selects over every
    # parameter and Adam moment at every step; bench/step_breakdown.py finds the difference within
    # its noise at the quick sizes): a non-finite gradient makes the parameters non-finite, so
    # checking the losses of every step and the final parameters catches it. A cell that fails,
    # in this chunk or before, keeps the parameters it had at the start of the chunk.
    ok = ~state.failed & jnp.all(jnp.isfinite(ms)) & _tree_all_finite(end.params)
    new = TrainState(_tree_where(ok, end.params, state.params),
                     _tree_where(ok, end.opt_state, state.opt_state), end.step, ~ok)
    ms = jnp.where(ok, jnp.mean(ms, axis=0), jnp.nan)
    return new, ChunkMetrics(ms[0], ms[1], ms[2])

  def eval_eps(cell: Cell, chunk) -> jax.Array:
    """Fixed reparameterisation noise of evaluation chunk ``chunk`` (same at every evaluation)."""
    key = jax.random.fold_in(jax.random.fold_in(cell.train_key, _EVAL_TAG), chunk)
    return jax.random.normal(key, (s.num_latent_samples, bsz_eval, s.latent_dim))

  bsz_eval = min(s.eval_batch_size, s.num_samples)
  m_curve = min(s.eval_subset, s.num_samples)

  def curve_point(state: TrainState, cell: Cell, data=None) -> CurveMetrics:
    check_data(data)
    gen = generator(cell) if data is None else None
    idx = jnp.arange(m_curve)
    x, l, mask = sample_batch(cell, idx, gen, data)
    key = jax.random.fold_in(cell.train_key, _CURVE_TAG)
    eps = jax.random.normal(key, (s.num_latent_samples, m_curve, s.latent_dim))
    objective, (data_term, kl) = cost_fn(state.params, x, eps, cell.coeffs)
    vae_objective, _ = cost_fn(state.params, x, eps, VAE_COEFFICIENTS)
    l_hat, _, logvar_z = reconstruct(state.params, x)
    var_mean = jnp.mean(jnp.exp(logvar_z), axis=0)
    W1 = models.first_decoder_weights(state.params)
    regime = metrics.fit_regime(l, l_hat, mask, alpha=s.alpha)
    return CurveMetrics(
        nmse=jnp.sum((l - l_hat) ** 2) / jnp.sum(l**2), objective=objective, data=data_term,
        kl=kl, vae_objective=vae_objective,
        sigma_z_near_zero=jnp.sum(var_mean < metrics.SIGMA_Z_NEAR_ZERO),
        nonzero_columns=metrics.nonzero_columns(W1), **regime._asdict())

  head_tx = optax.adam(s.learning_rate)

  def refit_logvar_head(state: TrainState, cell: Cell, data=None) -> TrainState:
    check_data(data)
    gen = generator(cell) if data is None else None
    enc = state.params["params"]["encoder"]

    def with_head(head):
      return {**state.params, "params": {**state.params["params"],
                                         "encoder": {**enc, "logvar_z": head}}}

    def step(carry, t):
      head, opt = carry
      k_idx, k_eps = jax.random.split(
          jax.random.fold_in(jax.random.fold_in(cell.train_key, _REFIT_TAG), t))
      idx = jax.random.randint(k_idx, (s.batch_size,), 0, s.num_samples)
      x, _, _ = sample_batch(cell, idx, gen, data)
      eps = jax.random.normal(k_eps, (s.num_latent_samples, s.batch_size, s.latent_dim))
      g = jax.grad(lambda h: cost_fn(with_head(h), x, eps, VAE_COEFFICIENTS)[0])(head)
      upd, opt = head_tx.update(g, opt, head)
      return (optax.apply_updates(head, upd), opt), None

    head0 = enc["logvar_z"]
    (head, _), _ = jax.lax.scan(step, (head0, head_tx.init(head0)), jnp.arange(s.refit_steps))
    return state._replace(params=with_head(head))

  def reconstruct(params, x):
    """(L̂, μz, log σz²) for rows x: the deterministic reconstruction μx(μz(x))."""
    mu_z, logvar_z = encode(params, x)
    return model.apply(params, mu_z, method=models.AutoEncoder.decode), mu_z, clip_logvar(logvar_z)

  def evaluate(state: TrainState, cell: Cell, data=None) -> EvalMetrics:
    check_data(data)
    gen = generator(cell) if data is None else None
    bsz = bsz_eval
    num_chunks = -(-s.num_samples // bsz)
    lo, hi = s.hist_range
    edges = jnp.linspace(lo, hi, s.hist_bins + 1)

    def body(acc, c):
      idx = c * bsz + jnp.arange(bsz)
      valid = idx < s.num_samples
      idx = jnp.minimum(idx, s.num_samples - 1)
      x, l, mask = sample_batch(cell, idx, gen, data)
      l_hat, _, logvar_z = reconstruct(state.params, x)
      w = valid[:, None].astype(x.dtype)
      err = jnp.sum(w * (l - l_hat) ** 2)
      err_in = jnp.sum(w * (l - x) ** 2)
      energy = jnp.sum(w * l**2)
      var = jnp.exp(logvar_z)
      var_sum = jnp.sum(w * var, axis=0)
      logv = jnp.clip(logvar_z / jnp.log(10.0), lo, hi - 1e-6)
      hist = jnp.sum(
          (logv[..., None] >= edges[:-1]) & (logv[..., None] < edges[1:]) & valid[:, None, None],
          axis=(0, 1))
      eps = eval_eps(cell, c)
      costs = [jnp.sum(valid * per_sample_cost(state.params, x, eps, co))
               for co in (cell.coeffs, VAE_COEFFICIENTS)]
      regime = metrics.regime_sums(l, l_hat, mask, alpha=s.alpha, weight=w)
      new = (acc[0] + err, acc[1] + err_in, acc[2] + energy, acc[3] + var_sum, acc[4] + hist,
             acc[5] + costs[0], acc[6] + costs[1], acc[7] + regime)
      return new, None

    zeros = (jnp.zeros(()), jnp.zeros(()), jnp.zeros(()), jnp.zeros((s.latent_dim,)),
             jnp.zeros((s.hist_bins,), jnp.int32), jnp.zeros(()), jnp.zeros(()),
             jnp.zeros((metrics.REGIME_SUMS,)))
    (err, err_in, energy, var_sum, hist, obj, vae_obj, regime), _ = jax.lax.scan(
        body, zeros, jnp.arange(num_chunks))
    W1 = models.first_decoder_weights(state.params)
    return EvalMetrics(
        nmse=err / energy, nmse_input=err_in / energy, sigma_z_mean=var_sum / s.num_samples,
        sigma_z_hist=hist, w1_col_norms=jnp.linalg.norm(W1, axis=0),
        objective=obj / s.num_samples, vae_objective=vae_obj / s.num_samples,
        **metrics.regime_metrics(regime)._asdict())

  return TrainFns(s, model, init, run_chunk, evaluate, sample_batch, reconstruct, loss_fn,
                  curve_point, refit_logvar_head, latent_cost)
