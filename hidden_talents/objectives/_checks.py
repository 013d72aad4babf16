"""Input checks that run outside jit (skipped when the inputs are tracers)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def is_concrete(*xs: Any) -> bool:
  return not any(isinstance(x, jax.core.Tracer) for x in xs)


def check_finite(name: str, x: Any) -> None:
  if is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
    raise ValueError(f"{name} contains NaN or Inf")


def check_positive(name: str, x: Any) -> None:
  if is_concrete(x):
    a = np.asarray(x)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
      raise ValueError(f"{name} must be finite and > 0, got {a if a.size < 5 else '...'}")


def check_ndim(name: str, x: Any, ndim: int) -> None:
  if np.ndim(x) != ndim:
    raise ValueError(f"{name} must be {ndim}-D, got shape {np.shape(x)}")
