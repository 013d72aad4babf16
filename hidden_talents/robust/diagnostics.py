"""What a VAE fit says about itself: had its loss flattened, which latent coordinates it uses.

Host-side numpy on the fit's records; the notes a user reads after a fit come from here too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hidden_talents import metrics


def loss_trend(losses: list[float], skip: int = 0) -> dict[str, Any]:
  """Had the training loss flattened? The mean chunk loss of the last tenth of the chunks after
  the first ``skip`` (the KL warm-up, where β still changes the objective) against the tenth before
  it (at least 2 chunks each).

  Returns:
    {"loss_drop": mean(before) − mean(last), "loss_drop_noise": its standard error from the
    chunk-to-chunk scatter, "converged": drop ≤ 2 × noise} — "converged" is None when fewer than 4
    chunks follow the warm-up (too short to tell) or a loss is not finite. A VAE whose loss still
    falls by more than its noise would gain from more steps.
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
  (bench/decompose_bench.py): the σz count was the rank on every linear case (rank 2–5) and 1–2
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


def fit_notes(info: dict) -> list[str]:
  """What a user should know about a VAE fit (``Decomposition.info``): its loss still fell at the
  end, or the fit was too short to tell (:func:`loss_trend`'s ``converged`` is None), or every
  latent coordinate is in use (mean σz² < 0.1), so κ capped the count. Other methods: none."""
  if info.get("method", "vae") != "vae":
    return []
  notes = []
  if info.get("converged") is False:
    notes.append(f"the training loss was still falling at the end (by {info['loss_drop']:.3g} "
                 f"over the last tenth of the chunks, noise {info['loss_drop_noise']:.3g}); more "
                 "--steps may give a cleaner L (summary.json: converged = false)")
  elif "converged" in info and info["converged"] is None:
    steps = info.get("steps", "?")
    notes.append(f"the fit was too short to tell whether the training loss had flattened ({steps} "
                 f"step{'' if steps == 1 else 's'}; it takes at least 4 chunks of training after "
                 "the KL warm-up); more --steps may give a cleaner L (summary.json: converged = "
                 "null)")
  used, kappa = info.get("latent_dims_sigma_z"), info.get("latent_dim")
  if used is not None and used == kappa:
    notes.append(f"all {kappa} latent coordinates are in use (mean σz² < 0.1: "
                 "latent_dims_sigma_z), so the VAE's count of the inliers' dimension is capped "
                 "by --latent_dim; the data may need more")
  return notes


def mask_scores(mask: np.ndarray, true_mask: np.ndarray) -> dict[str, float]:
  """Precision, recall and F1 of a predicted outlier mask against the true corruption mask
  (``metrics.support_scores``: an empty mask has precision 1, an empty truth recall 1).

  Raises:
    ValueError: the shapes differ.
  """
  mask, true_mask = np.asarray(mask, bool), np.asarray(true_mask, bool)
  if mask.shape != true_mask.shape:
    raise ValueError(f"mask shapes differ: {mask.shape} vs {true_mask.shape}")
  scores = metrics.support_scores(mask, true_mask, xp=np)
  precision, recall = float(scores.precision), float(scores.recall)
  f1 = 2 * precision * recall / max(precision + recall, 1e-12)
  return {"precision": precision, "recall": recall, "f1": f1}
