"""The VAE's training and reconstruction programs on the project's engine (``train.make_train``).

One VAE (model 1 of Sec. 5.1, C2 = 1: no tuning) trains on the rows of a standardised matrix in
the engine's fixed-dataset mode (``data=Z``, ν = 0 since the data are already corrupted), for
exactly the requested number of Adam steps, compiled in chunks. The compiled functions are cached
per static ``train.Settings``: a second fit or transform with the same settings and shapes neither
retraces nor recompiles (:data:`TRACES` counts the traces).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hidden_talents import models, runtime, sweep, train
from hidden_talents.objectives.unified import LossCoefficients, model_coefficients
from hidden_talents.robust import diagnostics, refine
from hidden_talents.robust.settings import defaults


def default_widths(d: int) -> tuple[int, int]:
  """(r1, r2) of the decoder D1(r1)-D2(r2) (encoder E1(r2)-E2(r1)), scaled with d (Sec. 5.1 uses
  (1000, 2000) for d = 100 at n = 10⁶; these are CPU sizes)."""
  r2 = int(min(512, max(64, 2 * d)))
  r1 = int(min(256, max(32, d)))
  return r1, r2


def resolve_dims(d: int, latent_dim: int | None,
                 hidden_widths: tuple[int, ...] | None) -> tuple[int, tuple[int, ...]]:
  """(κ, widths): ``latent_dim`` or min(20, max(1, d // 2)), ``hidden_widths`` or
  :func:`default_widths`.

  Raises:
    ValueError: κ > d.
  """
  if latent_dim is None:
    latent_dim = min(20, max(1, d // 2))
  if latent_dim > d:
    raise ValueError(f"latent_dim (κ = {latent_dim}) exceeds the number of columns d = {d}: the "
                     f"rows lie in at most d dimensions; pass latent_dim <= {d}")
  return latent_dim, default_widths(d) if hidden_widths is None else tuple(hidden_widths)


def resolve_steps(steps: int | None, n: int, batch_size: int) -> int:
  """Adam steps of training: ``steps``, or by default ``Defaults.epochs`` passes over n rows in
  batches of ``batch_size`` (capped at n), clipped to [``Defaults.steps``,
  ``Defaults.max_steps``]."""
  if steps is not None:
    return int(steps)
  d = defaults()
  epochs = -(-d.epochs * n // min(batch_size, n))
  return int(min(d.max_steps, max(d.steps, epochs)))


def resolve_kl_warmup(kl_warmup: int | None, steps: int) -> int:
  """Steps of KL warm-up: ``kl_warmup``, or by default ``Defaults.warmup_fraction`` of the steps."""
  return int(defaults().warmup_fraction * steps) if kl_warmup is None else int(kl_warmup)


def resolve_refine_steps(refine_steps: int | None) -> int:
  """Adam steps of latent refinement per row: ``refine_steps``, or ``Defaults.refine_steps``."""
  return defaults().refine_steps if refine_steps is None else int(refine_steps)


def vae_settings(n: int, d: int, *, latent_dim: int, steps: int, alpha: float,
                 hidden_widths: tuple[int, ...], batch_size: int, learning_rate: float,
                 num_latent_samples: int, decoder_variance: str = "optimal",
                 encoder_clip: float = 0.0) -> train.Settings:
  """The engine's static settings of one VAE on n rows of d columns."""
  r = tuple(int(w) for w in hidden_widths)
  return train.Settings(
      data_dim=d, kappa_max=1, generator_widths=(1,), encoder_widths=r[::-1], decoder_widths=r,
      latent_dim=latent_dim, num_samples=n, batch_size=min(batch_size, n),
      chunk_steps=min(defaults().chunk_steps, steps), learning_rate=learning_rate, alpha=alpha,
      decoder_variance=decoder_variance, num_latent_samples=num_latent_samples,
      eval_batch_size=min(1000, n), hist_bins=1, encoder_clip=encoder_clip)


def network_settings(n: int, d: int, alpha: float, steps: int, config: dict[str, Any], *,
                     num_latent_samples: int, decoder_variance: str) -> train.Settings:
  """:func:`vae_settings` from an estimator's checked arguments (``latent_dim``,
  ``hidden_widths``, ``batch_size``, ``learning_rate``, ``encoder_clip``; None = the default)."""
  latent_dim, widths = resolve_dims(d, config["latent_dim"], config["hidden_widths"])
  clip = defaults().encoder_clip if config["encoder_clip"] is None else config["encoder_clip"]
  return vae_settings(
      n, d, latent_dim=latent_dim, steps=steps, alpha=alpha, hidden_widths=widths,
      batch_size=config["batch_size"], learning_rate=config["learning_rate"],
      num_latent_samples=num_latent_samples, decoder_variance=decoder_variance,
      encoder_clip=clip)


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
  # (params, x, weight, key, steps) -> μx(μz*) with μz* refined (refine.refine_latents)
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
  process. The parameters are an argument of ``reconstruct``, never a traced-in constant."""
  runtime.setup()
  fns = train.make_train(settings)
  return CompiledVAE(
      fns=fns, init=jax.jit(_counted("init", fns.init)),
      run_chunk=jax.jit(_counted("run_chunk", fns.run_chunk)),
      reconstruct=jax.jit(_counted("reconstruct", lambda p, x: fns.reconstruct(p, x)[0])),
      encode=jax.jit(_counted("encode", lambda p, x: fns.reconstruct(p, x)[2])),
      refine=jax.jit(_counted("refine", functools.partial(refine.refined_reconstruction, fns)),
                     static_argnames=("steps",)))


def vae_cell(seed: int, kl_warmup: float = 0.0) -> train.Cell:
  """The engine's one cell: the VAE's loss coefficients, keys from ``seed``, ν = 0."""
  data_key, corrupt_key, init_key, train_key = sweep.cell_keys(seed, 1, 0.0)
  coeffs = LossCoefficients(*[np.float32(v) for v in model_coefficients("vae")])
  return train.Cell(kappa=np.int32(1), nu=np.float32(0.0), data_key=data_key,
                    corrupt_key=corrupt_key, init_key=init_key, train_key=train_key,
                    coeffs=coeffs, kl_warmup=np.float32(kl_warmup))


def mean_sigma_z(settings: train.Settings, params: Any, Z: np.ndarray) -> np.ndarray:
  """(κ,) the encoder's σz² per latent coordinate, averaged over the rows of Z (Figure 4's
  diag (1/n) Σᵢ Σz⁽ⁱ⁾), in chunks of ``settings.eval_batch_size`` rows."""
  fns = compiled(settings)
  total = np.zeros(settings.latent_dim)
  for i in range(0, Z.shape[0], settings.eval_batch_size):
    logvar = fns.encode(params, jnp.asarray(Z[i:i + settings.eval_batch_size], jnp.float32))
    total += np.exp(np.asarray(logvar, np.float64)).sum(axis=0)
  return total / Z.shape[0]


def run_steps(settings: train.Settings, state: train.TrainState, cell: train.Cell,
              Z: np.ndarray, steps: int, bar: sweep.Progress | None = None
              ) -> tuple[train.TrainState, list[float]]:
  """``steps`` more Adam steps of one cell on the rows of Z (NaN = missing with
  ``settings.missing_data``), in compiled chunks (a remainder chunk compiled separately); returns
  (the state, the mean loss of each chunk). Batches are keyed by the state's global step, so
  training continued over several calls is the same as one call. ``bar`` shows the progress."""
  fns = compiled(settings)
  data = jnp.asarray(Z, jnp.float32)
  losses = []
  for k in chunk_plan(steps, settings.chunk_steps):
    run = fns.run_chunk if k == settings.chunk_steps else compiled(
        dataclasses.replace(settings, chunk_steps=k)).run_chunk
    state, m = run(state, cell, data)
    losses.append(float(m.loss))
    if bar is not None:
      bar.update(int(state.step), int(state.failed), losses[-1])
  return state, losses


def train_vae(Z: np.ndarray, settings: train.Settings, *, steps: int, seed: int,
              kl_warmup: int = 0, progress: bool = True) -> tuple[Any, dict[str, Any]]:
  """Trains one VAE on the rows of Z (NaN = missing with ``settings.missing_data``) for exactly
  ``steps`` Adam steps; returns (params as numpy arrays, info: the loss per chunk, whether that
  curve had flattened, :func:`diagnostics.loss_trend`, and which latent coordinates the fit
  uses, :func:`diagnostics.latent_usage`). A remainder chunk is compiled separately; batches are
  keyed by the global step, so the first chunks are the same.

  Raises:
    RuntimeError: the loss turned non-finite (the engine froze the cell).
  """
  cell = vae_cell(seed, kl_warmup)
  state = compiled(settings).init(cell)
  bar = sweep.Progress(steps, 1, settings.batch_size, "[decompose]", progress)
  bar.update(0, 0, float("nan"))
  state, losses = run_steps(settings, state, cell, Z, steps, bar)
  if bool(state.failed):
    raise RuntimeError("VAE training became non-finite; try a smaller learning rate or fewer "
                       "latent dimensions")
  info = {"loss_history": losses, "steps": int(state.step),
          **diagnostics.loss_trend(losses, -(-kl_warmup // settings.chunk_steps)),
          "hidden_widths": list(settings.decoder_widths), "latent_dim": settings.latent_dim,
          "alpha": settings.alpha, "kl_warmup": kl_warmup,
          "decoder_variance": settings.decoder_variance}
  params = jax.device_get(state.params)
  w1 = np.linalg.norm(np.asarray(models.first_decoder_weights(params)), axis=0)
  # NaN (missing) entries reach the encoder as 0, the column's median, as in training.
  info.update(diagnostics.latent_usage(
      w1, mean_sigma_z(settings, params, np.nan_to_num(Z, nan=0.0))))
  return params, info


def apply_vae(settings: train.Settings, params: Any, Z: np.ndarray, *, refine_steps: int = 0,
              seed: int = 0, observed: np.ndarray | None = None) -> np.ndarray:
  """μx(μz[Z]) for standardised rows Z, in chunks of ``settings.eval_batch_size`` rows (float64);
  with ``refine_steps`` > 0 each row's μz is first refined (:func:`refine.refine_latents`, each
  row's noise from ``seed`` and the row's own values, :func:`refine.row_keys`: a row gets the same
  result whatever rows it is transformed with), leaving the entries where ``observed`` is False
  out of its cost. Fewer than ``Defaults.refine_min_rows`` rows are refined padded to that many."""
  fns = compiled(settings)
  bsz = settings.eval_batch_size
  data = jnp.asarray(Z, jnp.float32)
  base = refine.refine_key(seed)
  min_rows = defaults().refine_min_rows
  parts = []
  for i in range(0, Z.shape[0], bsz):
    if refine_steps:
      rows = data[i:i + bsz]
      weight = (jnp.ones(rows.shape, jnp.float32) if observed is None
                else jnp.asarray(observed[i:i + bsz], jnp.float32))
      keys = refine.row_keys(base, Z[i:i + bsz])
      m = rows.shape[0]
      if m < min_rows:  # padded (rows are refined independently; the pad is dropped)
        pad = ((0, min_rows - m), (0, 0))
        rows, weight, keys = jnp.pad(rows, pad), jnp.pad(weight, pad), jnp.pad(keys, pad)
      out = fns.refine(params, rows, weight, keys, steps=int(refine_steps))[:m]
    else:
      out = fns.reconstruct(params, data[i:i + bsz])
    parts.append(np.asarray(out))
  return np.concatenate(parts).astype(np.float64)
