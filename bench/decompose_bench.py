"""``decompose`` on data families it was not built on: VAE vs convex RPCA, with defaults (issue 16).

Six families, each at two outlier ratios ν (n = 2000 rows; every family generated here from a
fixed seed, or shipped by an installed package):

* ``relu_manifold`` — the Sec. 5.1 ground truth (a random ReLU network z(κ = 8)-100-200-l(100), He
  init), a fraction ν of the entries replaced by N(0, 1) (the paper's corruption);
* ``swiss_roll`` — a 2-D swiss roll (t ∈ [1.5π, 4.5π], height h), its 3-D coordinates standardised
  and lifted nonlinearly to d = 60 by tanh(A s + b) (A, b Gaussian); gross errors: +5 column
  standard deviations × N(0, 1) added to a fraction ν of the entries;
* ``torus`` — angles (θ, φ) uniform, Fourier features cos/sin(jθ + kφ) for |j|, |k| ≤ 2, mapped
  linearly to d = 50 (smooth, periodic, rank ≈ 24 in the ambient space); outliers replaced by
  values uniform on the column's range widened by 50 %;
* ``linear`` — rank 5 in d = 50 (``data.lowrank``), ±1 sparse errors added (Candès et al.):
  RPCA's home ground, where the VAE should lose by little;
* ``mnist_uniform`` — the first 2000 MNIST digits (pixels / 255), a fraction ν of the pixels
  replaced by U[0, 1] (App. A);
* ``mnist_saltpepper`` — the same digits, a fraction ν of the pixels set to 0 or 1 at random.

Validation families, which no default of ``decompose`` was chosen on (they need scikit-learn, not
a dependency; ``--families=digits_uniform,digits_saltpepper,patches_saltpepper``): scikit-learn's
8×8 digits with uniform or salt-and-pepper outliers, and 8×8 grey patches of its two sample
photographs with salt-and-pepper (impulse) noise.

For each case: NMSE (eq. 20) of L̂ against the clean L, mask precision / recall / F1 against the
true corruption mask (RPCA's mask is the same robust residual test on its L̂), and wall time.
``--vae`` passes keyword arguments to ``decompose`` as JSON (a variant to compare against the
defaults); the RPCA numbers do not depend on it and are cached in ``--out``'s directory (recomputed
when the data or the code that standardises and solves change: :func:`rpca_fingerprint`).
Each VAE row also records ``nmse_encoder``: L̂ decoded from the encoder's μz without the latent
refinement (``refine_steps=0``), from the same fit, and how many latent coordinates the VAE uses
(``latent_dims_used``: Sec. 5.2's W₁ rule; ``latent_dims_sigma_z``: mean σz² < 0.1, Figure 4),
beside the inliers' intrinsic dimension where the generator fixes it (Hypothesis (ii)).
``--holdout=F`` holds a fraction F of each case's rows out: both methods fit the rest, and the
VAE's ``transform`` of the held-out rows is scored (``heldout_nmse``, ``heldout_nmse_encoder``).

  python bench/decompose_bench.py --out=runs/decompose_bench/defaults.json
  python bench/decompose_bench.py --vae='{"steps": 6000}' --out=runs/decompose_bench/steps6k.json
  python bench/decompose_bench.py --families=torus --holdout=0.1 --out=runs/held/torus.json
  python bench/decompose_bench.py --table runs/decompose_bench/defaults.json \
      runs/decompose_bench/steps6k.json   # Markdown: NMSE per case, one column per run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import hidden_talents
from hidden_talents import io, metrics
from hidden_talents.data import corrupt, lowrank, manifold, mnist
from hidden_talents.robust import base, estimators, standardize
from hidden_talents.robust.diagnostics import mask_scores
from hidden_talents.robust.settings import DEFAULTS

FAMILIES = ("relu_manifold", "swiss_roll", "torus", "linear", "mnist_uniform",
            "mnist_saltpepper")
NUS = (0.1, 0.3)
# Families no default of decompose was chosen on (they need scikit-learn, not a dependency):
# the check of a change made on the families above.
# The inliers' intrinsic dimension where the generator fixes it (None: unknown, e.g. images): set
# beside the VAE's counts of the latent coordinates it uses (decompose.latent_usage).
INTRINSIC_DIM = {"relu_manifold": 8, "swiss_roll": 2, "torus": 2, "linear": 5}
VALIDATION_FAMILIES = ("digits_uniform", "digits_saltpepper", "patches_saltpepper")


def relu_manifold(n: int, nu: float, seed: int):
  kg, kd, kc = jax.random.split(jax.random.PRNGKey(seed), 3)
  gen = manifold.init_generator(kg, 8, kappa_max=8, widths=(100, 200), data_dim=100)
  _, L = manifold.sample_clean(gen, kd, jnp.arange(n))
  X, mask = corrupt.gaussian_outliers(kc, jnp.arange(n), L, nu)
  return np.asarray(X, np.float64), np.asarray(L, np.float64), np.asarray(mask)


def swiss_roll(n: int, nu: float, seed: int):
  rng = np.random.default_rng(seed)
  t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, n)
  h = rng.uniform(0, 20, n)
  s = np.stack([t * np.cos(t), h, t * np.sin(t)], axis=1)
  s = (s - s.mean(0)) / s.std(0)
  L = np.tanh(s @ rng.normal(size=(3, 60)) + rng.normal(size=60))
  mask = rng.random(L.shape) < nu
  X = L + np.where(mask, 5 * L.std(0) * rng.normal(size=L.shape), 0.0)
  return X, L, mask


def torus(n: int, nu: float, seed: int):
  rng = np.random.default_rng(seed)
  th, ph = rng.uniform(0, 2 * np.pi, (2, n))
  feats = [f(j * th + k * ph) for j in range(-2, 3) for k in range(-2, 3) if (j, k) > (0, 0)
           for f in (np.cos, np.sin)]
  F = np.stack(feats, axis=1)
  L = F @ rng.normal(size=(F.shape[1], 50)) / np.sqrt(F.shape[1])
  lo, hi = L.min(0), L.max(0)
  pad = 0.25 * (hi - lo)
  mask = rng.random(L.shape) < nu
  X = np.where(mask, rng.uniform(lo - pad, hi + pad, L.shape), L)
  return X, L, mask


def linear(n: int, nu: float, seed: int):
  out = lowrank.lowrank_plus_sparse(jax.random.PRNGKey(seed), 5, nu, shape=(n, 50),
                                    outliers="sign", dtype=jnp.float64 if jax.config.x64_enabled
                                    else jnp.float32)
  return (np.asarray(out.X, np.float64), np.asarray(out.L, np.float64), np.asarray(out.mask))


def _digits(n: int) -> np.ndarray:
  images, _ = mnist.load_mnist(n)
  return images.astype(np.float64) / 255.0


def _uniform(rng, L: np.ndarray, nu: float):
  """A fraction ν of the entries of L replaced by U[0, 1]: (X, L, mask)."""
  mask = rng.random(L.shape) < nu
  return np.where(mask, rng.random(L.shape), L), L, mask


def _saltpepper(rng, L: np.ndarray, nu: float):
  """A fraction ν of the entries of L set to 0 or 1 at random: (X, L, mask); an entry set to its
  own value is not an error."""
  mask = rng.random(L.shape) < nu
  X = np.where(mask, rng.integers(0, 2, L.shape).astype(np.float64), L)
  return X, L, mask & (X != L)


def mnist_uniform(n: int, nu: float, seed: int):
  return _uniform(np.random.default_rng(seed), _digits(n), nu)


def mnist_saltpepper(n: int, nu: float, seed: int):
  return _saltpepper(np.random.default_rng(seed), _digits(n), nu)


def _sklearn_datasets():
  try:
    from sklearn import datasets  # noqa: PLC0415  (optional: the validation families only)
  except ImportError as e:
    raise SystemExit("the validation families need scikit-learn (not a project dependency): "
                     "pip install scikit-learn") from e
  return datasets


def digits_uniform(n: int, nu: float, seed: int):
  """scikit-learn's 8×8 digits (1797 images; the first min(n, 1797)), pixels / 16, a fraction ν
  of the pixels replaced by U[0, 1]."""
  return _uniform(np.random.default_rng(seed), _sklearn_datasets().load_digits().data[:n] / 16.0,
                  nu)


def digits_saltpepper(n: int, nu: float, seed: int):
  """The same digits, a fraction ν of the pixels set to 0 or 1 at random."""
  return _saltpepper(np.random.default_rng(seed),
                     _sklearn_datasets().load_digits().data[:n] / 16.0, nu)


def patches_saltpepper(n: int, nu: float, seed: int):
  """n random 8×8 grey patches (d = 64) of scikit-learn's two sample photographs (china,
  flower), grey levels / 255; a fraction ν of the pixels set to 0 or 1 (impulse noise)."""
  rng = np.random.default_rng(seed)
  images = [im.mean(axis=2) / 255.0 for im in _sklearn_datasets().load_sample_images().images]
  which = rng.integers(0, len(images), n)
  rows = [rng.integers(0, images[k].shape[0] - 8, 1)[0] for k in which]
  cols = [rng.integers(0, images[k].shape[1] - 8, 1)[0] for k in which]
  L = np.stack([images[k][r:r + 8, c:c + 8].ravel() for k, r, c in zip(which, rows, cols)])
  return _saltpepper(rng, L, nu)


def case(family: str, n: int, nu: float, seed: int):
  return globals()[family](n, nu, seed)


def split_rows(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(fitted, held-out) row indices: a random fraction ``holdout`` of the n rows held out."""
  perm = np.random.default_rng(seed).permutation(n)
  k = int(round(holdout * n))
  return np.sort(perm[k:]), np.sort(perm[:k])


def evaluate(method: str, X, L, mask, kwargs: dict, held: tuple | None = None) -> dict:
  """NMSE, mask scores, wall time and convergence of one fit. For the VAE (``decompose``'s
  ``RobustVAE(**kwargs).fit(X).transform(X)``, the same result bit for bit) also ``nmse_encoder``:
  L̂ decoded from the encoder's μz (``refine_steps=0``) from the same fit; and with ``held`` =
  (X_new, L_new) rows the fit never saw, ``heldout_nmse`` / ``heldout_nmse_encoder`` of
  ``transform(X_new)``."""
  t0 = time.time()
  if method == "vae":
    model = hidden_talents.RobustVAE(**kwargs).fit(X)
    res = model.transform(X)
  else:
    res = hidden_talents.decompose(X, method=method, **kwargs)
  seconds = time.time() - t0
  sc = mask_scores(res.mask, mask)
  # Whether the fit converged (RPCA: its stopping test within max_iter; VAE: the loss had
  # flattened, decompose.loss_trend) and how long it ran: a number without them is not a result.
  run = {k: res.info[k] for k in ("converged", "iterations", "steps") if k in res.info}
  out = {"nmse": float(metrics.nmse(L, res.L)), "precision": sc["precision"],
         "recall": sc["recall"], "f1": sc["f1"], "seconds": seconds, **run}
  if method == "vae":
    out["refine_steps"] = res.info["settings"]["refine_steps"]
    out["reconstruction_seconds"] = res.info["reconstruction_seconds"]
    out["nmse_encoder"] = float(metrics.nmse(L, model.transform(X, refine_steps=0).L))
    out.update({k: res.info[k] for k in ("latent_dims_used", "latent_dims_sigma_z")})
    if held is not None:
      X_new, L_new = held
      t0 = time.time()
      out["heldout_nmse"] = float(metrics.nmse(L_new, model.transform(X_new).L))
      out["heldout_seconds"] = time.time() - t0
      out["heldout_nmse_encoder"] = float(metrics.nmse(
          L_new, model.transform(X_new, refine_steps=0).L))
  return out


def rpca_fingerprint(X: np.ndarray) -> str:
  """What a cached RPCA result depends on: the data and the code that standardises and solves
  (``robust/standardize.py``, ``robust/base.py``, ``robust/estimators.py``, ``rpca.py``): a
  changed file recomputes."""
  h = hashlib.sha256(np.ascontiguousarray(X).tobytes())
  for mod in (standardize, base, estimators, hidden_talents.rpca):
    with open(mod.__file__, "rb") as fh:
      h.update(fh.read())
  return h.hexdigest()[:16]


def table(paths: list[str]) -> str:
  """A Markdown table of NMSE per (family, ν): the input, RPCA, then one VAE column per file."""
  runs = []
  for path in paths:
    with open(path) as fh:
      runs.append(json.load(fh))
  head = " | ".join(f"VAE {json.dumps(r['vae_kwargs']) if r['vae_kwargs'] else 'defaults'}"
                    for r in runs)
  lines = [f"| family | ν | input | RPCA | {head} |", "|---|---|---|---|" + "---|" * len(runs)]
  for row in runs[0]["rows"]:
    vals = []
    for r in runs:
      match = [x for x in r["rows"] if (x["family"], x["nu"]) == (row["family"], row["nu"])]
      vals.append(f"{match[0]['vae']['nmse']:.3f}" if match else "")
    lines.append(f"| {row['family']} | {row['nu']:g} | {row['input_nmse']:.3f} | "
                 f"{row['rpca']['nmse']:.3f} | " + " | ".join(vals) + " |")
  return "\n".join(lines)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--table", nargs="+", default=None,
                 help="print a Markdown table of these result files and exit")
  p.add_argument("--families", default=",".join(FAMILIES),
                 help="comma-separated; also the validation families "
                      f"{', '.join(VALIDATION_FAMILIES)} (need scikit-learn)")
  p.add_argument("--nus", default=",".join(str(v) for v in NUS))
  p.add_argument("--n", type=int, default=2000, help="rows per case")
  p.add_argument("--seed", type=int, default=0, help="data seed (decompose keeps its default)")
  p.add_argument("--vae", default="{}", help="JSON keyword arguments for decompose(method='vae')")
  p.add_argument("--holdout", type=float, default=0.0,
                 help="fraction of each case's rows held out: both methods fit the rest, and the "
                      "VAE's transform of the held-out rows is scored too (0 = off)")
  p.add_argument("--out", default="", help="JSON file for the results (RPCA cached beside it)")
  args = p.parse_args()
  if args.table:
    print(table(args.table))
    return
  vae_kwargs = json.loads(args.vae)
  families = [f for f in args.families.split(",") if f]
  for f in families:
    if f not in FAMILIES + VALIDATION_FAMILIES:
      p.error(f"unknown family {f!r}; choose from {', '.join(FAMILIES + VALIDATION_FAMILIES)}")
  nus = [float(v) for v in args.nus.split(",")]
  if not 0.0 <= args.holdout < 0.5:
    p.error("--holdout must be in [0, 0.5)")
  rpca_cache: dict = {}
  cache_path = ""
  if args.out:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    cache_path = os.path.join(os.path.dirname(os.path.abspath(args.out)),
                              f"rpca_n{args.n}_seed{args.seed}"
                              f"{f'_holdout{args.holdout:g}' if args.holdout else ''}.json")
    if os.path.exists(cache_path):
      with open(cache_path) as fh:
        rpca_cache = json.load(fh)
  rows = []
  print(f"{'family':18s} {'ν':>4s} | {'input':>6s} | {'VAE':>6s} {'P':>5s} {'R':>5s} {'s':>5s} | "
        f"{'RPCA':>6s} {'P':>5s} {'R':>5s} {'s':>5s} | VAE/RPCA")
  for fam in families:
    for nu in nus:
      X, L, mask = case(fam, args.n, nu, args.seed)
      held = None
      if args.holdout:
        fit, out = split_rows(X.shape[0], args.holdout, args.seed)  # digits: 1797 rows
        held = (X[out], L[out])
        X, L, mask = X[fit], L[fit], mask[fit]
      key, fp = f"{fam}/{nu:g}", rpca_fingerprint(X)
      if rpca_cache.get(key, {}).get("fingerprint") != fp:
        rpca_cache[key] = {**evaluate("rpca", X, L, mask, {}), "fingerprint": fp}
        if cache_path:  # atomic: an interrupted run never leaves a truncated cache
          io.atomic_write_json(cache_path, rpca_cache)
      rp = rpca_cache[key]
      va = evaluate("vae", X, L, mask, vae_kwargs, held)
      row = {"family": fam, "nu": nu, "input_nmse": float(metrics.nmse(L, X)), "vae": va,
             "intrinsic_dim": INTRINSIC_DIM.get(fam),
             "rpca": rp, "vae_over_rpca": va["nmse"] / rp["nmse"]}
      rows.append(row)
      print(f"{fam:18s} {nu:4.2f} | {row['input_nmse']:6.3f} | {va['nmse']:6.3f} "
            f"{va['precision']:5.2f} {va['recall']:5.2f} {va['seconds']:5.0f} | {rp['nmse']:6.3f} "
            f"{rp['precision']:5.2f} {rp['recall']:5.2f} {rp['seconds']:5.0f} | "
            f"{row['vae_over_rpca']:.2f} | encoder's μz {va['nmse_encoder']:.3f} | latent dims "
            f"W₁ {va['latent_dims_used']} / σz {va['latent_dims_sigma_z']} (inliers' "
            f"{row['intrinsic_dim'] or '?'})"
            + (f" | held out {va['heldout_nmse']:.3f} (encoder's μz "
               f"{va['heldout_nmse_encoder']:.3f})" if held is not None else ""), flush=True)
  ratios = np.array([r["vae_over_rpca"] for r in rows])
  print(f"VAE better than RPCA in {int(np.sum(ratios < 1))} of {len(rows)} cases; median "
        f"NMSE ratio VAE/RPCA {np.median(ratios):.2f}", file=sys.stderr)
  if args.out:
    with open(args.out, "w") as fh:
      json.dump({"vae_kwargs": vae_kwargs, "defaults": {
                     "steps": DEFAULTS.steps, "epochs": DEFAULTS.epochs,
                     "max_steps": DEFAULTS.max_steps,
                     "kl_warmup_fraction": DEFAULTS.warmup_fraction,
                     "decoder_variance": DEFAULTS.decoder_variance, "alpha": DEFAULTS.alpha,
                     "tied_alpha": DEFAULTS.tied_alpha, "tie_fraction": DEFAULTS.tie_fraction,
                     "encoder_clip": DEFAULTS.encoder_clip,
                     "refine_steps": DEFAULTS.refine_steps, "refine_lr": DEFAULTS.refine_lr},
                 "n": args.n, "holdout": args.holdout, "seed": args.seed, "rows": rows,
                 "argv": sys.argv, "load_average": os.getloadavg()}, fh, indent=1)


if __name__ == "__main__":
  main()
