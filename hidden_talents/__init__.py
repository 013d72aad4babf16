"""hidden_talents: "Hidden Talents of the Variational Autoencoder" in JAX.

Layers (see README.md): ``objectives`` (pure losses) → ``models`` / ``data`` → ``train`` →
``sweep`` → ``experiments``; ``rpca`` is the convex baseline; ``io`` and ``plotting`` serve the
experiments. ``hidden_talents.decompose(X)`` is the user-facing robust decomposition (the VAE as a
nonlinear robust PCA); its module's other names are imported with
``from hidden_talents.decompose import Decomposition, mask_scores``.
"""

__version__ = "0.1.0"

from hidden_talents.decompose import Decomposition, decompose  # noqa: E402

__all__ = ["Decomposition", "decompose"]
