"""What the two latent-pruning experiments (Sec. 5.2) share: trial cells, the vmapped trial run and
the training-config checks, below both ``latent_pruning`` (Table 1, Figure 2a) and
``mnist_pruning`` (Figure 2b). The metrics themselves (nonzero W₁ columns, Σz fractions, masked
means) are in ``hidden_talents.metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hidden_talents import checks, curves, metrics, sweep, train

MODELS = ("vae", "ae")
# Figure 2b also trains VAEs under another decoder variance (a separate program per variance):
# ``vae_learned`` (a decoder head γ(z) per entry) and ``vae_shared`` (one learned γ).
VARIANT_MODELS = ("vae_learned", "vae_shared")


def decoder_variance_of(name: str, default: str) -> str:
  """The decoder variance of model ``name``: its ``vae_<variant>`` suffix, else ``default``."""
  return name.removeprefix("vae_") if name in VARIANT_MODELS else default


def trial_infos(models: Sequence[tuple[str, float]], kappa: int, seed: int,
                num_trials: int) -> list[sweep.CellInfo]:
  """Cells of one program: every (model, C2) × trial; trial t uses seed ``seed + t``."""
  return [sweep.CellInfo(m, float(c2), int(kappa), 0.0, int(seed) + t)
          for m, c2 in models for t in range(num_trials)]


def model_list(config) -> list[tuple[str, float]]:
  """(engine model name, C2) per entry of ``config.models``: the AE is AE-ℓ2 at ``ae_c2``."""
  return [("ae_l2", float(config.ae_c2)) if m == "ae" else ("vae", 1.0) for m in config.models]


def run_trials(settings: train.Settings, models: Sequence[tuple[str, float]], *, kappa: int,
               seed: int, num_trials: int, num_steps: int, workdir: str | None, tag: str,
               checkpoint_every: int = 1, data=None,
               progress: bool = True) -> dict[str, np.ndarray]:
  """Trains ``num_trials`` seeds of every (model, C2) as one vmapped program (``run_sweep``).

  Returns numpy arrays with leading axes (model, trial): ``w1_col_norms`` (…, latent),
  ``nonzero`` (…; Sec. 5.2's rule at the paper's threshold), ``sigma_z_mean`` (…, latent),
  ``sigma_z_hist`` (…, bins), ``nmse``, ``failed``, ``converged`` (``curves.convergence``), and
  ``train_seconds`` / ``wall_seconds``; the learning curves ``curve_steps`` (evals,),
  ``curve_nmse`` and ``curve_nonzero`` (evals, model, trial).
  """
  infos = trial_infos(models, kappa, seed, num_trials)
  res = sweep.run_sweep(settings, sweep.make_cells(infos), num_steps=num_steps, workdir=workdir,
                        tag=tag, checkpoint_every=checkpoint_every, data=data,
                        progress=progress, labels=[i.label() for i in infos])
  conv, _ = curves.convergence(res.curve_steps, res.curves.nmse)
  shape = (len(models), num_trials)
  ev = res.eval

  def r(a):
    a = np.asarray(a)
    return a.reshape(shape + a.shape[1:])

  norms = r(ev.w1_col_norms)
  return {"w1_col_norms": norms, "nonzero": metrics.nonzero_from_norms(norms),
          "sigma_z_mean": r(ev.sigma_z_mean), "sigma_z_hist": r(ev.sigma_z_hist),
          "nmse": r(ev.nmse), "failed": r(res.failed), "converged": r(conv & ~res.failed),
          "curve_steps": np.asarray(res.curve_steps),
          "curve_nmse": res.curves.nmse.reshape((-1,) + shape),
          "curve_nonzero": res.curves.nonzero_columns.reshape((-1,) + shape),
          "train_seconds": np.float64(res.train_seconds),
          "wall_seconds": np.float64(res.wall_seconds)}


def validate_training(config, models: Sequence[str] = MODELS) -> None:
  """Checks the training fields shared by both pruning experiments (``models``: allowed names)."""
  for name in ("num_trials", "batch_size", "num_steps", "chunk_steps",
               "eval_batch_size", "checkpoint_every"):
    checks.positive_int(name, getattr(config, name))
  for name in ("learning_rate", "alpha"):
    checks.positive_number(name, getattr(config, name))
  checks.nonnegative_number("weight_decay", config.weight_decay)
  checks.finite_number("logvar_bias_init", config.logvar_bias_init)
  checks.nonnegative_int("seed", config.seed)
  checks.one_of("loss_reduction", config.loss_reduction, ("mean", "sum"))
  models = checks.subset("models", config.models, models)
  if "ae" in models:
    checks.nonnegative_number("ae_c2", config.ae_c2)
  checks.open_fraction("threshold", config.threshold)
