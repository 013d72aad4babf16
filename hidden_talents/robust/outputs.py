"""A result directory written all or nothing: the arrays, rows.csv, summary.json and the figure.

:class:`StagedOutput` checks the target directory (not a file, empty unless ``overwrite``, its
parent writable) *before* any work by creating a staging directory beside it; all files go into
the staging directory, which is renamed into place at the end. A failure at any point leaves the
target as it was: a result set is all or nothing, and never mixed with an older one. Files are
created with the user's umask (0644 by default), not mkstemp's 0600.

A staging directory ``.tmp-<target>-*`` holds a lock file that its run keeps locked (``flock``)
until it commits or discards; a run killed outright (SIGKILL, a power cut) leaves it behind,
unlocked, and the next :class:`StagedOutput` of the same target removes it (a staging directory
whose lock is held belongs to a live run and is kept).
"""

from __future__ import annotations

import datetime
import fcntl
import io as _pyio
import json
import os
import re
import shutil
import tempfile
import time
from typing import Any

import numpy as np

from hidden_talents import io
from hidden_talents.robust import figure
from hidden_talents.robust.base import Decomposition


class StagedOutput:
  """A result directory written all-or-nothing (module docstring).

  ``StagedOutput(target)`` checks the target and creates the staging directory at once (so an
  unwritable target fails before any work); write files under :attr:`path`, then :meth:`commit`.
  As a context manager it commits on success and discards the staging directory on error.

  Raises:
    ValueError: the target is a file, is a non-empty directory and ``overwrite`` is False, or its
      parent cannot be written.
  """

  def __init__(self, target: str, *, overwrite: bool = False):
    self.target = os.path.abspath(os.fspath(target))
    self.overwrite = overwrite
    parent, name = os.path.split(self.target)
    # Staging directories of this target left by killed runs (paths): removed first.
    self.removed = remove_stale_staging(parent, name)
    self._check_target()
    self._lock_fd = None
    self.path = None
    try:
      os.makedirs(parent, exist_ok=True)
      self.path = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{name}-")
      self._lock_fd = _hold_lock(self.path)  # also the probe that the directory is writable
    except OSError as e:
      if self.path is not None:
        shutil.rmtree(self.path, ignore_errors=True)
      raise ValueError(f"cannot write the output directory {target!r}: {e.strerror or e}") from e
    os.chmod(self.path, 0o777 & ~io.umask())
    self.done = False

  def _check_target(self) -> None:
    t = self.target
    if os.path.exists(t) and not os.path.isdir(t):
      raise ValueError(f"--output {t!r} exists and is not a directory")
    if os.path.isdir(t) and os.listdir(t) and not self.overwrite:
      names = sorted(os.listdir(t))
      shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
      raise ValueError(f"--output {t!r} is not empty ({shown}); pass --overwrite (in Python: "
                       "overwrite=True) to replace it, or choose another directory")

  def file(self, name: str) -> str:
    return os.path.join(self.path, name)

  def write_bytes(self, name: str, data: bytes) -> str:
    """Writes one file of the result set into the staging directory (flushed to disk)."""
    return io.write_synced(self.file(name), data)

  def commit(self) -> str:
    """Renames the staging directory into place (replacing the target's old contents if
    ``overwrite``); returns the target path."""
    self._check_target()
    t, old = self.target, None
    os.remove(os.path.join(self.path, LOCK_NAME))  # still held: its descriptor stays open
    if os.path.isdir(t) and os.listdir(t):
      old = tempfile.mkdtemp(dir=os.path.dirname(t), prefix=f".old-{os.path.basename(t)}-")
      os.replace(t, os.path.join(old, "d"))
    try:
      os.replace(self.path, t)  # onto a missing or an empty directory: atomic on POSIX
    except BaseException:
      if old is not None:
        os.replace(os.path.join(old, "d"), t)
        os.rmdir(old)
      raise
    self.done = True
    self._release()
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
    try:
      fd = os.open(os.path.dirname(t), os.O_RDONLY)
      try:
        os.fsync(fd)
      finally:
        os.close(fd)
    except OSError:
      pass
    return t

  def discard(self) -> None:
    if not self.done:
      shutil.rmtree(self.path, ignore_errors=True)
      self._release()

  def _release(self) -> None:
    if self._lock_fd is not None:
      os.close(self._lock_fd)
      self._lock_fd = None

  def __enter__(self) -> StagedOutput:
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if exc_type is None:
      self.commit()
    else:
      self.discard()


LOCK_NAME = ".lock"  # inside a staging directory, locked by its run (removed before the commit)
# A staging directory without a lock file is left alone for this long (its run may be between
# creating it and locking it, or between unlinking the lock and the rename); older, it is stale.
STALE_SECONDS = 60.0
_MKDTEMP_SUFFIX = re.compile(r"[a-z0-9_]{8}")  # tempfile.mkdtemp's random part


def _hold_lock(path: str) -> int:
  """Creates ``path``/.lock under a temporary name, locks it (``flock``, released by the kernel
  when the process dies, however it dies) and renames it into place, so that a ``.lock`` file is
  never seen unlocked while its run lives; returns the open descriptor that holds the lock."""
  tmp = os.path.join(path, LOCK_NAME + "-new")
  fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o666 & ~io.umask())
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.rename(tmp, os.path.join(path, LOCK_NAME))
  except BaseException:
    os.close(fd)
    raise
  return fd


def _abandoned(path: str) -> bool:
  """Whether staging directory ``path`` was left by a run that no longer lives: its lock file can
  be locked, or it has none and is older than ``STALE_SECONDS``."""
  try:
    fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR)
  except FileNotFoundError:
    try:
      return time.time() - os.stat(path).st_mtime > STALE_SECONDS
    except OSError:
      return False
  except OSError:
    return False
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:  # held: a live run
    return False
  finally:
    os.close(fd)  # releases the lock taken just now
  return True


def remove_stale_staging(parent: str, name: str) -> list[str]:
  """Removes the staging directories ``.tmp-<name>-*`` in ``parent`` that no live run holds
  (:func:`_abandoned`); returns their paths."""
  try:
    entries = os.listdir(parent)
  except OSError:
    return []
  prefix, removed = f".tmp-{name}-", []
  for entry in sorted(entries):
    path = os.path.join(parent, entry)
    if (entry.startswith(prefix) and _MKDTEMP_SUFFIX.fullmatch(entry[len(prefix):])
        and os.path.isdir(path) and not os.path.islink(path) and _abandoned(path)):
      shutil.rmtree(path, ignore_errors=True)
      removed.append(path)
  return removed


def _npy_bytes(a: np.ndarray) -> bytes:
  buf = _pyio.BytesIO()
  np.save(buf, a, allow_pickle=False)
  return buf.getvalue()


def summary_record(result: Decomposition, *, input_info: dict[str, Any] | None = None,
                   argv: list[str] | None = None) -> dict[str, Any]:
  """summary.json's content: the result's info (final loss instead of the history), every setting,
  the input file (path, size, sha256, how it was read), versions and the time."""
  import jax

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


OUTPUT_FILES = ("L.npy", "S.npy", "S_sparse.npy", "mask.npy", "sample_scores.npy",
                "entry_scores.npy", "row_scores.npy", "rows.csv", "summary.json", "summary.png")


def save_outputs(out: str | StagedOutput, X: np.ndarray, result: Decomposition, *,
                 overwrite: bool = False, input_info: dict[str, Any] | None = None,
                 images: bool = False, argv: list[str] | None = None) -> list[str]:
  """Writes ``OUTPUT_FILES`` all-or-nothing (:class:`StagedOutput`).

  Args:
    out: the target directory, or a :class:`StagedOutput` made before training (it then checks
      the target up front; it is committed here).
    X: the input matrix.
    result: the decomposition of X.
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
    for name in ("L", "S", "S_sparse", "mask", "sample_scores", "entry_scores", "row_scores"):
      stage.write_bytes(f"{name}.npy", _npy_bytes(getattr(result, name)))
    stage.write_bytes("rows.csv", rows_csv(result).encode())
    text = json.dumps(io.to_jsonable(summary_record(result, input_info=input_info, argv=argv)),
                      indent=2, sort_keys=True, allow_nan=False)
    stage.write_bytes("summary.json", (text + "\n").encode())
    fig = figure.summary_figure(X, result, images=images)
    buf = _pyio.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    stage.write_bytes("summary.png", buf.getvalue())
    target = stage.commit()
  except BaseException:
    stage.discard()
    raise
  return [os.path.join(target, name) for name in OUTPUT_FILES]
