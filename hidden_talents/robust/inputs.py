"""Checks of a user's matrix and its missing entries, before any work.

Bad input is a ``ValueError`` whose message names the problem, rows and columns counted from 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hidden_talents.robust.settings import defaults


def check_matrix(X: Any, *, method: str = "vae", min_samples: int | None = None) -> np.ndarray:
  """Validates a data matrix (samples as rows) and returns it as float64.

  Args:
    X: the matrix.
    method: ``"vae"`` also refuses fewer rows than columns (the VAE learns from the rows).
    min_samples: fewest rows accepted; default ``Defaults.min_samples``.

  Raises:
    ValueError: not numeric, not 2-D, NaN/Inf, entries beyond ``Defaults.max_abs``, fewer than
      ``min_samples`` rows, or (VAE) fewer samples than dimensions — the message names the
      problem.
  """
  min_samples = defaults().min_samples if min_samples is None else min_samples
  X = as_array(X)
  if X.dtype.kind in "US":
    raise ValueError(f"X must be numeric, got text (dtype {X.dtype})" + (
        f": to read the file {str(X)!r}, pass load_matrix(path) (hidden_talents.robust."
        "load_matrix)" if X.ndim == 0 else ""))
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
  max_abs = defaults().max_abs
  huge = ~(np.abs(X) <= max_abs)
  if huge.any():
    i, j = np.argwhere(huge)[0]
    raise ValueError(f"X has entries beyond ±{max_abs:.0e} ({int(huge.sum())} entries; first "
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


def as_array(X: Any) -> np.ndarray:
  """X as a numpy array (a masked array's mask dropped: :func:`checked_input` reads it first).

  Raises:
    ValueError: rows of different lengths, or something that is no array.
  """
  try:
    return np.asarray(X)
  except (TypeError, ValueError) as e:
    if "inhomogeneous" in str(e):
      raise ValueError("X must be a rectangular matrix: its rows have different lengths (a "
                       "ragged list of lists?)") from None
    raise ValueError(f"X must be a numeric array: {e}") from e


def masked_entries(X: Any, missing: Any) -> Any:
  """``missing`` with the masked entries of a ``numpy.ma`` array X added (True = missing): a
  masked entry is a missing one, as ``missing=`` says. Unchanged for any other X."""
  if not isinstance(X, np.ma.MaskedArray) or not np.ma.getmaskarray(X).any():
    return missing
  mask = np.ma.getmaskarray(X)
  return mask if missing is None else mask | check_missing(missing, np.shape(X), all_ok=True)


def check_missing(missing: Any, shape: tuple[int, ...], *,
                  all_ok: bool = False) -> np.ndarray | None:
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
  if all_ok:
    return m
  if m.ndim == 2 and m.shape[0] > 0 and m.all(axis=0).any():
    j = int(np.argmax(m.all(axis=0)))
    raise ValueError(f"column {j + 1} (counted from 1) is missing in every row: nothing to fit "
                     "it on; drop it")
  return m if m.any() else None


def fill_missing(X: Any, missing: np.ndarray | None) -> Any:
  """X with its missing entries set to 0 (their values, NaN included, are never used)."""
  if missing is None:
    return X
  return np.where(missing, 0.0, np.ma.getdata(X))


def check_magnitudes(X: np.ndarray, Z: np.ndarray) -> None:
  """Refuses standardised entries too far out for float32 training (``Defaults.max_standardized``),
  before training.

  Raises:
    ValueError: names the first such entry (row and column counted from 1).
  """
  limit = defaults().max_standardized
  big = ~(np.abs(Z) <= limit)  # also catches inf from an overflowing x − median
  if big.any():
    i, j = np.argwhere(big)[0]
    raise ValueError(
        f"X has {int(big.sum())} entries too large for training: row {i + 1}, column {j + 1} "
        f"(counted from 1) is {X[i, j]:.3g}, more than {limit:.0e} robust standard "
        "deviations from its column's median (training is float32 and would overflow); remove "
        "or rescale those entries (sentinel values such as 1e200?)")


def checked_input(X: Any, missing: Any, *, method: str,
                  min_samples: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
  """(X as float64 with missing entries 0, the missing mask or None): the masked entries of a
  ``numpy.ma`` array count as missing (:func:`masked_entries`), then :func:`check_missing`, then
  :func:`check_matrix` of the filled matrix."""
  missing = masked_entries(X, missing)
  if not isinstance(X, np.ma.MaskedArray):
    X = as_array(X)
  missing = check_missing(missing, np.shape(X))
  return check_matrix(fill_missing(X, missing), method=method, min_samples=min_samples), missing
