"""Robust decomposition X = L + S of a user's own matrix: the VAE as a nonlinear robust PCA (Secs.
3 and 6), with convex RPCA (eq. 14) as the linear baseline and the robust deep autoencoder (Zhou &
Paffenroth 2017) as the nonlinear one.

``decompose(X)`` is the one-call shortcut; ``RobustVAE`` / ``RobustRPCA`` / ``RobustRDA`` fit once
and apply to new rows (scikit-learn's estimator conventions). One concern per module:

* ``settings``      the defaults, each with its reason
* ``inputs``        checks of the matrix, its missing entries and magnitudes
* ``standardize``   robust column centring/scaling, tie detection, the outlier mask
* ``engine``        the VAE's training and reconstruction programs on ``train.make_train``
* ``refine``        per-row latent refinement
* ``diagnostics``   loss trend, latent usage, notes after a fit, mask scores
* ``base``          what every method shares (standardise → reconstruct → mask → scores → result)
* ``estimators``    ``RobustVAE``, ``RobustRPCA``
* ``autoencoder``   ``RobustRDA``, the robust deep autoencoder (the nonlinear peer)
* ``shortcut``      ``decompose``
* ``model_file``    saving and loading a fitted VAE or RDA (``load_any``: whichever a file holds)
* ``matrix_file``   reading ``.npy`` / text matrices
* ``outputs``       result directories (all or nothing), summary; ``figure``: summary.png
* ``cli``           the command line (``python -m launch.decompose``, ``hidden-talents-decompose``)

The names below load their module on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Decomposition": "base", "RobustEstimator": "base", "RobustRPCA": "estimators",
    "RobustRDA": "autoencoder",
    "RobustVAE": "estimators", "decompose": "shortcut", "mask_scores": "diagnostics",
    "StagedOutput": "outputs", "save_outputs": "outputs", "load_matrix": "matrix_file",
    "read_matrix": "matrix_file", "file_fingerprint": "matrix_file",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
  if name in _EXPORTS:
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(__all__))
