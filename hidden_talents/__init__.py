"""hidden_talents: "Hidden Talents of the Variational Autoencoder" in JAX.

Layers (see README.md): ``objectives`` (pure losses) → ``models`` / ``data`` → ``train`` →
``sweep`` → ``experiments``; ``rpca`` is the convex solver and ``baselines`` its best-λ use;
``metrics``, ``checks``, ``io`` and ``plotting`` serve the experiments.
``hidden_talents.decompose(X)`` is the user-facing robust decomposition (the VAE as a nonlinear
robust PCA) and ``hidden_talents.RobustVAE`` its reusable model (fit, transform new rows, save,
load); its module's other names are imported with
``from hidden_talents.decompose import Decomposition, mask_scores``.

Nothing heavy is imported eagerly: ``import hidden_talents.objectives`` loads the objectives
alone (no flax, no training engine, no backend start); ``hidden_talents.decompose``,
``hidden_talents.Decomposition`` and ``hidden_talents.RobustVAE`` load the decomposition module on
first access.

Importing the package imports JAX (not flax or the training engine, and no backend starts) to
lower JAX's default PRNG on the CPU without while loops: the same random bits, faster programs
(:mod:`hidden_talents.cpu_threefry`; ``HT_THREEFRY=rolled`` keeps JAX's own lowering).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from hidden_talents import cpu_threefry

__version__ = "0.1.0"

cpu_threefry.unroll()

__all__ = ["Decomposition", "RobustVAE", "decompose"]


def _decompose_module() -> types.ModuleType:
  return importlib.import_module(f"{__name__}.decompose")


class _Package(types.ModuleType):
  """This package's module type: ``decompose`` is the FUNCTION, although it is also the name of
  the submodule that defines it.

  Importing a submodule makes the import system bind it as an attribute of its package
  (``setattr(hidden_talents, "decompose", <module>)``); the setter below ignores that binding, so
  the attribute stays the function whichever is touched first. The submodule itself lives in
  ``sys.modules``, so ``from hidden_talents.decompose import mask_scores`` keeps working.
  """

  @property
  def decompose(self) -> Any:
    return _decompose_module().decompose

  @decompose.setter
  def decompose(self, value: Any) -> None:
    del value  # the submodule being bound by the import system: keep the function


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
  if name in ("Decomposition", "RobustVAE"):
    return getattr(_decompose_module(), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(__all__))
