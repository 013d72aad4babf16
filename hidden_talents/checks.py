"""Config-field checks shared by every experiment's ``validate(config)``, with one wording.

Each check raises ``ValueError`` naming the field ("``<name>`` must …, got …") and returns the
value converted to a plain Python type, so a validator reads as a list of field rules and every
experiment words the same mistake the same way, e.g. ``fraction("every outlier ratio ν", nu)``
→ "every outlier ratio ν must lie in [0, 1), got 1.5".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any


def integer(name: str, v: Any, *, minimum: int | None = None) -> int:
  """An integer (not a bool, not a float) ≥ ``minimum`` (no bound when None)."""
  if isinstance(v, bool) or not isinstance(v, numbers.Integral):
    raise ValueError(f"{name} must be an integer, got {v!r}")
  if minimum is not None and v < minimum:
    raise ValueError(f"{name} must be an integer ≥ {minimum}, got {v!r}")
  return int(v)


def positive_int(name: str, v: Any) -> int:
  """An integer ≥ 1."""
  return integer(name, v, minimum=1)


def nonnegative_int(name: str, v: Any) -> int:
  """An integer ≥ 0."""
  return integer(name, v, minimum=0)


def _bound(x: float) -> str:
  return "∞" if x == math.inf else "−∞" if x == -math.inf else f"{x:g}"


def number(name: str, v: Any, *, lo: float = -math.inf, hi: float = math.inf,
           lo_open: bool = False, hi_open: bool = False) -> float:
  """A finite real number (not a bool) in the interval from ``lo`` to ``hi``.

  The message names the interval: "must lie in [0, 1)", or "must be > 0" / "must be ≥ 0" when
  only the lower end is finite.
  """
  if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
    raise ValueError(f"{name} must be a finite number, got {v!r}")
  if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
    if hi == math.inf and lo > -math.inf:
      rule = f"be {'>' if lo_open else '≥'} {_bound(lo)}"
    elif lo == -math.inf and hi < math.inf:
      rule = f"be {'<' if hi_open else '≤'} {_bound(hi)}"
    else:
      rule = (f"lie in {'(' if lo_open else '['}{_bound(lo)}, {_bound(hi)}"
              f"{')' if hi_open else ']'}")
    raise ValueError(f"{name} must {rule}, got {v!r}")
  return float(v)


def finite_number(name: str, v: Any) -> float:
  """Any finite real number."""
  return number(name, v)


def positive_number(name: str, v: Any) -> float:
  """A finite number > 0."""
  return number(name, v, lo=0.0, lo_open=True)


def nonnegative_number(name: str, v: Any) -> float:
  """A finite number ≥ 0."""
  return number(name, v, lo=0.0)


def fraction(name: str, v: Any) -> float:
  """A fraction in [0, 1), e.g. an outlier ratio ν (ν = 1 leaves no inlier)."""
  return number(name, v, lo=0.0, hi=1.0, hi_open=True)


def open_fraction(name: str, v: Any) -> float:
  """A number in (0, 1), e.g. a tolerance or a nonzero corruption level."""
  return number(name, v, lo=0.0, hi=1.0, lo_open=True, hi_open=True)


def nonempty(name: str, values: Iterable[Any]) -> tuple:
  """A non-empty sequence; returned as a tuple."""
  values = tuple(values)
  if not values:
    raise ValueError(f"{name} must not be empty")
  return values


def distinct(name: str, values: Iterable[Any]) -> tuple:
  """A sequence without repeated entries; returned as a tuple."""
  values = tuple(values)
  if len(set(values)) != len(values):
    raise ValueError(f"{name} must be distinct, got {values}")
  return values


def one_of(name: str, v: Any, choices: Sequence[Any]) -> Any:
  """One of ``choices``."""
  if v not in tuple(choices):
    raise ValueError(f"{name} must be one of {tuple(choices)}, got {v!r}")
  return v


def subset(name: str, values: Iterable[Any], allowed: Sequence[Any]) -> tuple:
  """A non-empty selection from ``allowed`` without repeats; returned as a tuple."""
  values = tuple(values)
  if not values or any(x not in tuple(allowed) for x in values) or \
      len(set(values)) != len(values):
    raise ValueError(f"{name} must be a non-empty subset of {tuple(allowed)} without repeats, "
                     f"got {values}")
  return values


def at_most(name: str, v: Any, limit: Any, limit_name: str) -> None:
  """``v`` ≤ ``limit`` (e.g. a batch size against the number of samples)."""
  if v > limit:
    raise ValueError(f"{name} ({v}) exceeds {limit_name} ({limit})")
