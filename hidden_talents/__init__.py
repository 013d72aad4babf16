"""hidden_talents: "Hidden Talents of the Variational Autoencoder" in JAX.

Layers (see README.md): ``objectives`` (pure losses) → ``models`` / ``data`` → ``train`` →
``sweep`` → ``experiments``; ``rpca`` is the convex solver and ``baselines`` its best-λ use;
``metrics``, ``checks``, ``io`` and ``plotting`` serve the experiments; ``runtime`` is the
explicit JAX set-up (PRNG lowering, compilation cache) that launch scripts, the sweep and the
estimators call before they compile. ``hidden_talents.robust`` is the user tool: the robust
decomposition of a user's own matrix (the VAE as a nonlinear robust PCA).

``hidden_talents.decompose(X)``, ``hidden_talents.RobustVAE``, ``hidden_talents.RobustRPCA``,
``hidden_talents.RobustRDA`` and ``hidden_talents.Decomposition`` are that tool's names at the top
level.

Nothing is imported eagerly: ``import hidden_talents`` imports neither JAX nor any submodule, and
changes nothing in the process; the names above load :mod:`hidden_talents.robust` on first
access.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Decomposition", "RobustRDA", "RobustRPCA", "RobustVAE", "decompose"]


def __getattr__(name: str) -> Any:
  if name in __all__:
    from hidden_talents import robust

    return getattr(robust, name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(__all__))
