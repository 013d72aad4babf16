"""hidden_talents: "Hidden Talents of the Variational Autoencoder" in JAX.

Layers (see README.md): ``objectives`` (pure losses) → ``models`` / ``data`` → ``train`` →
``sweep`` → ``experiments``; ``rpca`` is the convex baseline; ``io`` and ``plotting`` serve the
experiments.
"""

__version__ = "0.1.0"
