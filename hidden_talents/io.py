"""Run directories and atomic writes.

A run writes one directory: ``config.json`` (:func:`start_run`, on entry), ``results.npz``,
``summary.json``, figures (PNG), checkpoints and cached intermediate results (:func:`cached_npz`:
``<name>.npz`` keyed by :func:`config_hash` of the config fields that made it, recomputed when
they change). Every file is written to a temporary name in the same directory and renamed into
place, so an interrupted run never leaves a file that looks complete; files are mode 0644.

In a multi-process run (``distributed``) only process 0 writes: :func:`set_writer` turns every
write of this module into a no-op on the other processes, which read the same directory.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

FILE_MODE = 0o644  # what open() would give under the usual umask; mkstemp alone gives 0600

_writer = True  # False on the processes of a multi-process run other than process 0


def set_writer(flag: bool) -> None:
  """Whether this process writes files (``distributed.initialize``: process 0 only)."""
  global _writer
  _writer = bool(flag)


def is_writer() -> bool:
  return _writer


def ensure_dir(path: str) -> str:
  """Creates ``path`` (and parents) if needed; returns it."""
  os.makedirs(path, exist_ok=True)
  return path


def umask() -> int:
  """The process's file-creation mask (read without changing it for longer than the call)."""
  mask = os.umask(0)
  os.umask(mask)
  return mask


def write_synced(path: str, data: bytes) -> str:
  """Writes ``data`` to ``path`` and flushes it to disk (``fsync``) before returning the path."""
  with open(path, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  return path


def atomic_write_bytes(path: str, data: bytes, *, mode: int | None = FILE_MODE) -> None:
  """Writes ``data`` to ``path`` via a temporary file + ``os.replace`` (atomic on POSIX): ``path``
  holds the whole new content or its old one. ``mode``: the file's permissions, or None for what
  ``open()`` gives (0666 less the umask). A no-op on a process that is not the writer
  (``set_writer``)."""
  if not _writer:
    return
  directory = os.path.dirname(os.path.abspath(path))
  ensure_dir(directory)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    os.fchmod(fd, 0o666 & ~umask() if mode is None else mode)
    os.close(fd)
    write_synced(tmp, data)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _to_jsonable(obj: Any) -> Any:
  if isinstance(obj, Mapping):
    return {str(k): _to_jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_to_jsonable(v) for v in obj]
  if isinstance(obj, np.generic):
    return obj.item()
  if isinstance(obj, np.ndarray):
    return obj.tolist()
  if hasattr(obj, "to_dict"):  # ml_collections.ConfigDict
    return _to_jsonable(obj.to_dict())
  if isinstance(obj, float) and not np.isfinite(obj):
    return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
  return obj


def to_jsonable(obj: Any) -> Any:
  """Converts numpy scalars/arrays, tuples and ConfigDicts to plain JSON types (NaN → null)."""
  return _to_jsonable(obj)


def atomic_write_json(path: str, obj: Any) -> None:
  """Writes ``obj`` as indented JSON, atomically."""
  text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
  atomic_write_bytes(path, (text + "\n").encode())


def read_json(path: str) -> Any:
  with open(path) as f:
    return json.load(f)


def atomic_write_npz(path: str, arrays: Mapping[str, Any], *, compress: bool = True) -> None:
  """Writes an ``.npz`` of numpy arrays, atomically; zlib-compressed unless ``compress`` is False
  (checkpoints: trained float32 weights barely compress and zlib costs ~1 s per 40 MB).
  ``np.load`` reads both."""
  buf = _io.BytesIO()
  save = np.savez_compressed if compress else np.savez
  save(buf, **{k: np.asarray(v) for k, v in arrays.items()})
  atomic_write_bytes(path, buf.getvalue())


def load_npz(path: str) -> dict[str, np.ndarray]:
  with np.load(path, allow_pickle=False) as f:
    return {k: f[k] for k in f.files}


def atomic_savefig(fig: Any, path: str, **kwargs: Any) -> None:
  """Saves a matplotlib figure as PNG, atomically."""
  buf = _io.BytesIO()
  fig.savefig(buf, format="png", **kwargs)
  atomic_write_bytes(path, buf.getvalue())


def start_run(workdir: str, config: Any) -> str:
  """Creates the run directory and writes ``config.json`` (the config that made the run).

  A directory that already holds results or checkpoints of a *different* config is refused with
  a ``ValueError`` before anything is written, so ``config.json`` always describes the files
  beside it (the same config resumes; a directory with only a config.json is reused).
  """
  path = os.path.join(workdir, "config.json")
  new = to_jsonable(config)
  if os.path.exists(path):
    old = read_json(path)
    new_json = json.loads(json.dumps(new))
    # A field the old config lacks is one added to the code since (with a default that keeps the
    # old behaviour, as the sweep fingerprint assumes): it does not make the configs differ.
    changed = sorted(k for k in old if old.get(k) != new_json.get(k))
    if changed:
      outputs = sorted(f for f in os.listdir(workdir) if f.endswith((".npz", ".jsonl")))
      if outputs:
        raise ValueError(
            f"{workdir} holds results of another config (differs in {', '.join(changed[:6])}; "
            f"{len(outputs)} result/checkpoint files); use a new --workdir or delete it")
  ensure_dir(workdir)
  atomic_write_json(path, config)
  return workdir


def config_hash(config: Any, fields: Sequence[str] | None = None) -> str:
  """A 16-hex-digit hash of the config, or of only ``fields`` (what a cached result depends on;
  a field the config lacks hashes as null)."""
  d = to_jsonable(config)
  if fields is not None:
    d = {f: d.get(f) for f in fields}
  return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def cached_npz(workdir: str, name: str, key: str,
               compute: Callable[[], Mapping[str, Any]]) -> dict[str, np.ndarray]:
  """``<workdir>/<name>.npz`` if it was written under the same ``key``, else ``compute()``, saved.

  ``key`` is usually :func:`config_hash` of the fields the result depends on; it is stored in the
  file as ``config_hash`` and not returned.
  """
  path = os.path.join(workdir, f"{name}.npz")
  if os.path.exists(path):
    d = load_npz(path)
    if str(d.pop("config_hash", "")) == key:
      return d
  out = dict(compute())
  atomic_write_npz(path, dict(out, config_hash=np.asarray(key)))
  return out


def finished_summary(workdir: str, config: Any) -> dict | None:
  """The ``summary.json`` of a finished run of ``config`` in ``workdir``, else None.

  Every experiment writes ``summary.json`` last (after its results and figures), so its presence
  means the run finished; the run is this config's when ``config.json`` holds exactly the same
  fields and values (a field added to the config since, or an override of it, makes another run).
  """
  summary_path = os.path.join(workdir, "summary.json")
  config_path = os.path.join(workdir, "config.json")
  if not (os.path.isfile(summary_path) and os.path.isfile(config_path)):
    return None
  if read_json(config_path) != json.loads(json.dumps(to_jsonable(config))):
    return None
  return read_json(summary_path)
