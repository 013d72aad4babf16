"""A fitted network model (:class:`~hidden_talents.robust.estimators.RobustVAE`,
:class:`~hidden_talents.robust.autoencoder.RobustRDA`) in one ``.npz`` file.

The file holds plain arrays and JSON strings only (read without pickle): ``format`` and
``format_version``, ``meta`` (the arguments as checked, rows and columns fitted, α used),
``fit_info``, ``engine_settings``, the standardisation (``center``, ``scale``), the residual
scales, the constant columns, and every network parameter as ``param/<path>``. It is written
atomically (:func:`hidden_talents.io.atomic_write_bytes`), with the user's umask. Files of earlier
versions of the code, which lack the newer arguments, load as they were trained.
"""

from __future__ import annotations

import dataclasses
import io as _pyio
import json
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from hidden_talents import io, train
from hidden_talents.robust import engine

FORMAT = "hidden_talents.RobustVAE"  # the VAE's; another model class writes its own name
FORMAT_VERSION = 1
PARAM_PREFIX = "param/"
# Arguments a VAE file of an earlier version lacks, as those versions trained without them (a
# class may name its own as ``legacy_arguments``).
LEGACY_ARGUMENTS = {"kl_warmup": 0, "decoder_variance": "optimal", "encoder_clip": 0.0,
                    "refine_steps": 0}
_ARRAYS = ("center", "scale", "residual_scale", "constant")


def format_name(cls: type) -> str:
  """The ``format`` entry of a model file of class ``cls``."""
  return f"hidden_talents.{cls.__name__}"


def flat_params(params: Any) -> dict[str, np.ndarray]:
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


def nest_params(flat: dict[str, np.ndarray]) -> dict[str, Any]:
  """The nested dict of :func:`flat_params`'s output."""
  tree: dict[str, Any] = {}
  for key, value in flat.items():
    node = tree
    *parents, leaf = key.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = value
  return tree


def check_save_path(path: str, *, overwrite: bool = False) -> str:
  """Refuses a model path that cannot be written — a directory, an existing file unless
  ``overwrite``, a parent that cannot be created or written — to be checked before training.
  Missing parent directories are created by :func:`save` (as a result directory's are).

  Raises:
    ValueError: names the problem.
  """
  path = os.fspath(path)
  if os.path.isdir(path):
    raise ValueError(f"model path {path!r} is a directory; name a file such as model.npz")
  if os.path.lexists(path) and not overwrite:
    raise ValueError(f"model file {path!r} already exists (a result may point at it); pass "
                     "overwrite=True (command line: --overwrite) to replace it, or name another "
                     "file")
  ancestor = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise ValueError(f"cannot write the model {path!r}: {ancestor!r} is not a directory")
  if not os.access(ancestor, os.W_OK | os.X_OK):
    raise ValueError(f"cannot write the model {path!r}: directory {ancestor!r} is not writable")
  return path


def save(model: Any, path: str, *, overwrite: bool = False) -> str:
  """Writes a fitted model to ``path`` atomically (``path`` holds the whole model or its old
  content), creating missing parent directories; the file gets the user's umask (0644 by
  default). An existing file is replaced only with ``overwrite`` (the rule of result
  directories, :class:`~hidden_talents.robust.outputs.StagedOutput`).

  Returns:
    The path.

  Raises:
    ValueError: not fitted, or the path cannot be written (:func:`check_save_path`).
  """
  if not model.fitted:
    raise ValueError("the model is not fitted yet: call fit(X) first")
  path = check_save_path(path, overwrite=overwrite)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  config = model.config_
  meta = {"config": {**config, "hidden_widths": None if config["hidden_widths"] is None
                     else list(config["hidden_widths"])},
          "num_fitted": model.n_samples_fit_, "d": model.n_features_in_,
          "alpha_used": model.engine_settings_.alpha}
  arrays = {"format": np.array(format_name(type(model))),
            "format_version": np.array(FORMAT_VERSION),
            "meta": np.array(json.dumps(meta, sort_keys=True)),
            "fit_info": np.array(json.dumps(io.to_jsonable(model.fit_info_), sort_keys=True)),
            "engine_settings": np.array(json.dumps(
                io.to_jsonable(dataclasses.asdict(model.engine_settings_)), sort_keys=True)),
            "center": model.center_, "scale": model.scale_,
            "residual_scale": model.residual_scale_, "constant": model.constant_}
  arrays.update({PARAM_PREFIX + k: np.asarray(v) for k, v in flat_params(model.params_).items()})
  buf = _pyio.BytesIO()
  np.savez(buf, **arrays)
  io.atomic_write_bytes(path, buf.getvalue(), mode=None)
  return path


def _string(z: Any, key: str) -> str:
  a = z[key]
  if a.shape != () or a.dtype.kind != "U":
    raise ValueError(f"entry {key!r} is not a string")
  return str(a[()])


def _read(path: str, fmt: str) -> tuple[dict, dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
  """(meta, fit_info, arrays, flat parameters) of a model file, every zip member CRC-checked."""
  with open(path, "rb") as f:
    if f.read(4) != b"PK\x03\x04":  # np.load would take other bytes for a pickle or .npy
      raise zipfile.BadZipFile("not an .npz archive")
  with zipfile.ZipFile(path) as zf:  # every member's CRC, before any of it is trusted
    bad = zf.testzip()
    if bad is not None:
      raise zipfile.BadZipFile(f"member {bad} fails its CRC check")
  with np.load(path, allow_pickle=False) as z:
    keys = set(z.files)
    if "format" not in keys or _string(z, "format") != fmt:
      found = _string(z, "format") if "format" in keys else None
      raise ValueError(f"not a {fmt} model file" + (
          f" (it holds a {found} model: load it with that class)" if found else ""))
    version = int(z["format_version"])
    if version != FORMAT_VERSION:
      raise ValueError(f"format version {version}; this hidden_talents reads version "
                       f"{FORMAT_VERSION}: refit and save the model again")
    meta = json.loads(_string(z, "meta"))
    fit_info = json.loads(_string(z, "fit_info"))
    arrays = {k: np.array(z[k]) for k in _ARRAYS}
    flat = {k[len(PARAM_PREFIX):]: np.array(z[k]) for k in keys if k.startswith(PARAM_PREFIX)}
  return meta, fit_info, arrays, flat


def load(cls: type, path: str) -> Any:
  """Reads a model written by :func:`save` into a new ``cls`` (RobustVAE).

  Raises:
    ValueError: a missing, corrupt or truncated file, not a RobustVAE model, another format
      version, or parameters that do not fit the recorded settings.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise ValueError(f"model file {path!r} does not exist" if not os.path.exists(path) else
                     f"model file {path!r} is not a file")
  try:
    meta, fit_info, arrays, flat = _read(path, format_name(cls))
  except ValueError as e:
    raise ValueError(f"cannot load the model {path!r}: {e}") from e
  except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as e:
    raise ValueError(f"cannot load the model {path!r}: corrupt or not a model file "
                     f"({type(e).__name__}: {e})") from e
  try:
    args = {**getattr(cls, "legacy_arguments", LEGACY_ARGUMENTS), **meta["config"]}
    if isinstance(args.get("hidden_widths"), list):  # a tuple, as given to the model saved
      args["hidden_widths"] = tuple(args["hidden_widths"])
    model = cls(**args)
    config = model._checked_params()
    n, d = int(meta["num_fitted"]), int(meta["d"])
    alpha = float(meta.get("alpha_used", config["alpha"]))
    steps = int(fit_info.get("steps", engine.resolve_steps(config["steps"], n,
                                                           config["batch_size"])))
    settings = model._engine_settings(n, d, alpha, steps, config)
    _check_arrays(settings, flat, arrays, d)
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"cannot load the model {path!r}: {e}") from e
  state = {"config_": config, "alpha_": settings.alpha, "n_features_in_": d, "n_samples_fit_": n,
           "engine_settings_": settings, "params_": nest_params(flat), "fit_info_": fit_info,
           "center_": arrays["center"], "scale_": arrays["scale"],
           "constant_": arrays["constant"], "residual_scale_": arrays["residual_scale"],
           **model._loaded_state(fit_info)}
  for name, value in state.items():
    setattr(model, name, value)
  return model


def model_classes() -> dict[str, type]:
  """{``format`` entry: class} of every model class that has a model file."""
  from hidden_talents.robust.autoencoder import RobustRDA
  from hidden_talents.robust.estimators import RobustVAE

  return {format_name(cls): cls for cls in (RobustVAE, RobustRDA)}


def file_format(path: str) -> str | None:
  """The ``format`` entry of a model file (which class wrote it), or None where the file has
  none or cannot be read as an ``.npz`` (:func:`load` then says why)."""
  try:
    with open(path, "rb") as f:
      if f.read(4) != b"PK\x03\x04":
        return None
    with np.load(os.fspath(path), allow_pickle=False) as z:
      return _string(z, "format") if "format" in z.files else None
  except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile):
    return None


def load_any(path: str) -> Any:
  """Reads a model file into the class that wrote it (its ``format`` entry: ``RobustVAE`` or
  ``RobustRDA``), as that class's ``load`` does.

  Raises:
    ValueError: as :func:`load`; a file of no known model class is read as a RobustVAE's and
      refused with its reason.
  """
  classes = model_classes()
  return load(classes.get(file_format(path) or "", classes[FORMAT]), path)


def _check_arrays(settings: train.Settings, flat: dict[str, np.ndarray],
                  arrays: dict[str, np.ndarray], d: int) -> None:
  """Refuses parameters or standardisation arrays that do not fit the recorded settings."""
  expected = jax.eval_shape(train.make_train(settings).init, engine.vae_cell(0)).params
  want = {k: (tuple(v.shape), np.dtype(v.dtype)) for k, v in flat_params(expected).items()}
  got = {k: (v.shape, v.dtype) for k, v in flat.items()}
  if got != want:
    diff = sorted(set(got.items()) ^ set(want.items()))[:3]
    raise ValueError(f"its parameters do not match its settings ({diff} ...)")
  for k, v in arrays.items():
    if v.shape != (d,) or (k == "constant") != (v.dtype == bool):
      raise ValueError(f"entry {k!r} has shape {v.shape} and dtype {v.dtype}")
  if not all(np.all(np.isfinite(arrays[k])) for k in ("center", "scale", "residual_scale")):
    raise ValueError("its standardisation is not finite")


class SavedModel:
  """``save`` / ``load`` of a fitted network model (:func:`save`, :func:`load`: one ``.npz``
  file naming its class); mixed into the estimators that have one."""

  def save(self, path: str, *, overwrite: bool = False) -> str:
    """Writes the fitted model to ``path`` (:func:`save`: missing parent directories are created,
    an existing file is replaced only with ``overwrite``); returns the path."""
    return save(self, path, overwrite=overwrite)

  @classmethod
  def load(cls, path: str) -> Any:
    """Reads a model of this class written by :meth:`save` (:func:`load`)."""
    return load(cls, path)

