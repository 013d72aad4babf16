"""``decompose(X)``: the one-call shortcut of the robust decomposition."""

from __future__ import annotations

from typing import Any

from hidden_talents import checks
from hidden_talents.robust import inputs
from hidden_talents.robust.autoencoder import RobustRDA
from hidden_talents.robust.base import Decomposition
from hidden_talents.robust.estimators import RobustRPCA, RobustVAE
from hidden_talents.robust.settings import DEFAULTS

METHODS = ("vae", "rpca", "rda")


def decompose(
    X: Any,
    *,
    method: str = "vae",
    latent_dim: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    alpha: float | None = None,
    threshold: float = DEFAULTS.threshold,
    hidden_widths: tuple[int, ...] | None = None,
    batch_size: int = DEFAULTS.batch_size,
    learning_rate: float = DEFAULTS.learning_rate,
    num_latent_samples: int = DEFAULTS.num_latent_samples,
    kl_warmup: int | None = None,
    decoder_variance: str = DEFAULTS.decoder_variance,
    encoder_clip: float | None = None,
    refine_steps: int | None = None,
    lam: float | None = None,
    penalty: str = "l1",
    missing: Any = None,
    progress: bool = False,
) -> Decomposition:
  """Splits X (samples as rows) into a clean part L on a (nonlinear) manifold and S = X − L.

  ``RobustVAE(...).fit_transform(X)`` (``method="vae"``), ``RobustRPCA(...).fit_transform(X)``
  (``"rpca"``) or ``RobustRDA(...).fit_transform(X)`` (``"rda"``, the robust deep autoencoder)
  in one call; the estimators fit once and apply to new rows. The defaults need no
  tuning: the VAE's KL term plays the role that C2 plays for the AEs (Sec. 5.1), and α is in
  units of robustly standardised columns.

  Args:
    X: (n, d) real matrix, samples as rows, finite.
    method: ``"vae"`` (nonlinear, Secs. 3 and 5), ``"rpca"`` (convex PCP, eq. 14: the linear
      baseline) or ``"rda"`` (the robust deep autoencoder of Zhou & Paffenroth 2017: the
      nonlinear peer, same networks and budget as the VAE).
    latent_dim, steps, seed, alpha, threshold, hidden_widths, batch_size, learning_rate,
      num_latent_samples, kl_warmup, decoder_variance, encoder_clip, refine_steps: the
      arguments of :class:`~hidden_talents.robust.estimators.RobustVAE` (seed, alpha and
      threshold also of RPCA; the VAE's are checked with either method).
    lam: RPCA: λ of eq. 14 in standardised units, default 1/√max(n, d) (1/√(ρ·max(n, d))
      with a fraction ρ observed); RDA: the proximal threshold in robust column SDs, default
      ``Defaults.rda_lam``.
    penalty: RDA's sparsity penalty: ``"l1"`` (outlying entries) or ``"l21"`` (outlying rows).
    missing: optional bool array shaped like X, True = missing (e.g. ``np.isnan(X)``; every
      method): left out of the fit, filled in L, 0 in S and never flagged. The masked entries
      of a ``numpy.ma`` array X are missing too.
    progress: print a progress line per training chunk to stderr.

  Returns:
    :class:`~hidden_talents.robust.base.Decomposition`.

  Raises:
    ValueError: bad X or argument (the message names it), also latent_dim > d and entries too
      large for float32 training — all before any training.
  """
  checks.one_of("method", method, METHODS)
  X, missing = inputs.checked_input(X, missing, method=method)
  vae = RobustVAE(latent_dim=latent_dim, steps=steps, seed=seed, alpha=alpha,
                  threshold=threshold, hidden_widths=hidden_widths, batch_size=batch_size,
                  learning_rate=learning_rate, num_latent_samples=num_latent_samples,
                  kl_warmup=kl_warmup, decoder_variance=decoder_variance,
                  encoder_clip=encoder_clip, refine_steps=refine_steps)
  if method == "vae":
    return vae.fit_transform(X, missing=missing, progress=progress)
  if method == "rda":
    return RobustRDA(lam=lam, penalty=penalty, latent_dim=latent_dim, steps=steps, seed=seed,
                     alpha=alpha, threshold=threshold, hidden_widths=hidden_widths,
                     batch_size=batch_size, learning_rate=learning_rate,
                     encoder_clip=encoder_clip).fit_transform(X, missing=missing,
                                                              progress=progress)
  config = vae._checked_params()
  vae._check_shape(*X.shape, config)
  return RobustRPCA(lam=lam, alpha=alpha, threshold=threshold, seed=seed).fit_transform(
      X, missing=missing)
