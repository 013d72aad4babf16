"""The defaults of the robust decomposition, each with the reason it has its value.

One frozen dataclass, :class:`Defaults`, read through :func:`defaults` at call time (so a test may
swap :data:`DEFAULTS` for a cheaper one). Where a value was chosen by measurement, its comment
names the bench script that measures it; BENCHMARKS.md holds the current numbers.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Defaults:
  """Every default of :mod:`hidden_talents.robust`, one line of reason each."""

  # --- inputs -----------------------------------------------------------------------------------
  # Fewer rows than this leave too little to estimate a column's median and MAD from.
  min_samples: int = 10
  # Largest |x| accepted: the 1.4826·MAD, x − median and L = median + scale·Ẑ must stay finite
  # in float64 (max 1.8e308); data of consistent scale up to here are fine (per-column scales).
  max_abs: float = 1e300
  # Largest |x − median|/scale accepted: training is float32 and squares residuals; an entry 10¹⁵
  # robust SDs out is a sentinel or an overflow, not data.
  max_standardized: float = 1e15

  # --- standardisation and the outlier test -----------------------------------------------------
  # σ = 1.4826·MAD for Gaussian noise: the robust scale of a column and of its residuals.
  mad_to_sigma: float = 1.4826
  # k of the mask test |r| > max(√α, k σⱼ): about 0.3 % of Gaussian inlier noise is flagged.
  threshold: float = 3.0
  # α (standardised units) on continuous data: the decoder variance floor of eq. 69.
  alpha: float = 1e-2
  # α on tie-heavy data (images): at α = 10⁻² a constant output is nearly optimal there and the
  # digits come back blank (NMSE 0.95–0.98); at one robust SD they are fitted
  # (bench/decompose_bench.py).
  tied_alpha: float = 1.0
  # Tie-heavy = at least this fraction of entries at their column's median (MNIST: 81 % exact
  # zeros; continuous data almost none, so the rule does not hinge on the exact cut).
  tie_fraction: float = 0.25

  # --- training ---------------------------------------------------------------------------------
  # At least this many Adam steps: 11 of the 12 bench learning curves still fall from 10⁴ to
  # 3·10⁴ steps (bench/decompose_curve.py).
  steps: int = 30_000
  # Passes over the rows by default (more rows = more steps); MNIST ν = 0.3 at n = 2·10⁴ gains
  # from 300 passes over 100 (bench/decompose_bench.py).
  epochs: int = 300
  # ... and at most this many steps, so that the default stays a few CPU minutes.
  max_steps: int = 100_000
  # KL warm-up over this fraction of the steps (Bowman et al. 2016): without it the VAE closes
  # its code early and lost to RPCA on 5 of 6 non-linear bench cases (bench/decompose_bench.py).
  warmup_fraction: float = 0.3
  # Σx optimised out per entry (the paper's eqs. 68–70): a learned variance gives up robustness.
  decoder_variance: str = "optimal"
  # Encoder input winsorised to ±10 robust SDs: a Gaussian column has no inlier beyond 10 SDs,
  # while atom-collapsed pixel columns put strokes 10³–10⁴ SDs out and made MNIST ν = 0.3
  # training diverge without it (bench/decompose_bench.py).
  encoder_clip: float = 10.0
  # Mini-batch rows (capped at n): the engine's batch of Sec. 5.1's protocol.
  batch_size: int = 100
  # Adam's step size for the networks.
  learning_rate: float = 1e-3
  # τ of eq. 4: one reparameterised sample per row and step.
  num_latent_samples: int = 1
  # Adam steps per compiled chunk (the last chunk runs the remainder, so exactly `steps` run).
  chunk_steps: int = 250

  # --- latent refinement ------------------------------------------------------------------------
  # Adam steps refining each row's code on its own cost before decoding: the encoder is an
  # amortised guess, far off on rows the fit never saw (bench/decompose_bench.py --holdout).
  refine_steps: int = 500
  # The refinement's learning rate (cosine decay to 0): 0.1 reached the lowest refined cost on
  # two of three synthetic bench cases at ν = 0.3, 0.3 on the third (bench/decompose_bench.py).
  refine_lr: float = 0.1
  # Fewer rows are refined padded to this many: XLA's CPU matmuls round batches of 1–16 rows
  # differently, and 500 noisy steps amplify it; padded, a row's L is the same alone as in a
  # large batch (bench/refine_keys.py; tests/robust/test_refine.py).
  refine_min_rows: int = 64

  # --- the robust deep autoencoder (RDA) --------------------------------------------------------
  # λ in robust column SDs: the proximal threshold of S, set once by bench/rda_lambda.py's rule
  # (lowest geometric-mean NMSE over the 8 synthetic bench cases; grid 0.1–2: 0.317, 0.289,
  # 0.297, 0.313, 0.350), never per data set.
  rda_lam: float = 0.25
  # Outer iterations (autoencoder training + proximal step): the paper's public code's 20.
  rda_outer: int = 20
  # Stop when ‖X − L_D − S‖_F / ‖X‖_F changes by less than this relative amount.
  rda_tol: float = 1e-4
  # New rows: the trained autoencoder's plain reconstruction D(E(X)) (the authors' getRecon);
  # more proximal iterations from S = 0 drift (robust/autoencoder.py's docstring).
  rda_transform_iterations: int = 1


DEFAULTS = Defaults()


def defaults() -> Defaults:
  """The defaults in force (:data:`DEFAULTS`)."""
  return DEFAULTS
