"""README's figure: a spiral lifted to 20 dimensions, 20 % of its entries corrupted, cleaned by
convex RPCA and by the VAE (``hidden_talents.decompose`` with its defaults).

  python docs/readme_figure.py      # writes docs/readme_figure.png; ~1 min on 2 CPU cores

Data: n = 1000 points t ~ U[π/2, 7π/2] on the spiral (t cos t, t sin t)/6 (columns 1–2), and 18
more columns tanh(A [x, y] + b) with A, b Gaussian, so the clean rows lie on a 1-D curve in
d = 20. A fraction 0.2 of the entries get a gross error: 4 column standard deviations × N(0, 1).
The panels show columns 1–2 of X, of RPCA's L and of the VAE's L, over the clean curve (grey);
the titles give each one's NMSE (eq. 20) against the clean matrix over all 20 columns.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import hidden_talents as ht  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "readme_figure.png")


def spiral(n: int = 1000, d: int = 20, nu: float = 0.2, seed: int = 0):
  """(X, L): the corrupted and the clean matrix (module docstring)."""
  rng = np.random.default_rng(seed)
  t = rng.uniform(0.5 * np.pi, 3.5 * np.pi, n)
  xy = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 6
  L = np.concatenate([xy, np.tanh(xy @ rng.normal(size=(2, d - 2)) + rng.normal(size=d - 2))], 1)
  mask = rng.random(L.shape) < nu
  X = np.where(mask, L + 4 * L.std(0) * rng.normal(size=L.shape), L)
  return X, L


def nmse(A: np.ndarray, L: np.ndarray) -> float:
  """‖A − L‖²_F / ‖L‖²_F (eq. 20)."""
  return float(np.sum((A - L) ** 2) / np.sum(L ** 2))


def main() -> None:
  X, L = spiral()
  vae = ht.decompose(X, seed=0).L
  rpca = ht.decompose(X, method="rpca").L
  curve = L[np.argsort(np.arctan2(L[:, 1], L[:, 0]))]
  panels = [(X, "C3", f"X, 20 % of entries corrupted (NMSE {nmse(X, L):.2f})"),
            (rpca, "C0", f"convex RPCA: L (NMSE {nmse(rpca, L):.3f})"),
            (vae, "C0", f"VAE: L (NMSE {nmse(vae, L):.4f})")]
  fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.6), sharex=True, sharey=True)
  for ax, (A, color, title) in zip(axes, panels):
    ax.plot(curve[:, 0], curve[:, 1], ",", color="0.7")
    ax.scatter(A[:, 0], A[:, 1], s=3, color=color, alpha=0.6, lw=0)
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-2.3, 2.3)
    ax.set_ylim(-2.3, 2.3)
    ax.set_aspect("equal")
  fig.tight_layout()
  fig.savefig(OUT, dpi=90)
  print(OUT, {title: round(nmse(A, L), 5) for A, _, title in panels})


if __name__ == "__main__":
  main()
