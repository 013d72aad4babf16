"""``decompose`` against its peers on data families it was not built on: the VAE, the robust deep
autoencoder (RDA), the plain MSE autoencoder and convex RPCA, each with its defaults.

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
  RPCA's home ground;
* ``mnist_uniform`` — the first n MNIST digits (pixels / 255), a fraction ν of the pixels
  replaced by U[0, 1] (App. A);
* ``mnist_saltpepper`` — the same digits, a fraction ν of the pixels set to 0 or 1 at random.

The full bench (the default) adds ν = 0.45 on ``relu_manifold`` and ``swiss_roll`` and the two
MNIST families at 10⁴ rows (:data:`EXTRA_CASES`); it takes hours on 2 CPU cores with all four
methods, and resumes from ``--out`` after an interruption. ``--quick`` is the routine check: the
four synthetic families at ν = 0.3, the VAE against RPCA (a few minutes).

Methods (``--methods``): ``vae`` (``RobustVAE``), ``rda`` (``RobustRDA``: Zhou & Paffenroth's
robust deep autoencoder on the same engine — the VAE's widths, latent size, optimiser and budget,
λ in robust column SDs set once by ``bench/rda_lambda.py``), ``ae`` (the same autoencoder trained
on X alone: one outer iteration, no S) and ``rpca`` (convex PCP, eq. 14, at λ = 1/√max(n, d)).
Every method gets the same robust standardisation and the same outlier-mask rule.

Validation families, which no default of ``decompose`` was chosen on (they need scikit-learn, not
a dependency; ``--families=digits_uniform,digits_saltpepper,patches_saltpepper``): scikit-learn's
8×8 digits with uniform or salt-and-pepper outliers, and 8×8 grey patches of its two sample
photographs with salt-and-pepper (impulse) noise.

For each case and method: NMSE (eq. 20) of L̂ against the clean L, mask precision / recall / F1
against the true corruption mask, wall time and whether the fit converged (RPCA: its stopping
test; the networks: their training loss had flattened, ``robust.diagnostics.loss_trend``; RDA:
also whether its criterion stalled). ``--vae`` / ``--rda`` pass keyword arguments as JSON (a
variant to compare against the defaults); RPCA's numbers are cached beside ``--out``
(recomputed when the data or the code that standardises and solves change:
:func:`rpca_fingerprint`). Each VAE row also records ``nmse_encoder`` (L̂ decoded from the
encoder's μz without the latent refinement) and the latent coordinates it uses beside the
inliers' intrinsic dimension where the generator fixes it (Hypothesis (ii)). ``--holdout=F``
holds a fraction F of each case's rows out and scores the networks' ``transform`` of them.

  python bench/decompose_bench.py --out=runs/decompose_bench/peers.json        # the full bench
  python bench/decompose_bench.py --quick --out=runs/decompose_bench/quick.json
  python bench/decompose_bench.py --methods=vae,rpca --extra=0 --vae='{"steps": 6000}' \
      --out=runs/decompose_bench/steps6k.json
  python bench/decompose_bench.py --table runs/decompose_bench/peers.json  # Markdown
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
from hidden_talents.robust import base, diagnostics, estimators, standardize
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


METHODS = ("vae", "rda", "ae", "rpca")
# The full bench's cases beyond families × NUS: ν = 0.45 on two synthetic families, and the MNIST
# families at 10⁴ rows (where the VAE catches up with RPCA) — (family, ν, n or None = --n).
EXTRA_CASES = (("relu_manifold", 0.45, None), ("swiss_roll", 0.45, None),
               ("mnist_uniform", 0.1, 10_000), ("mnist_uniform", 0.3, 10_000),
               ("mnist_saltpepper", 0.1, 10_000), ("mnist_saltpepper", 0.3, 10_000))
# --quick: the routine check — the synthetic families at ν = 0.3, the VAE against RPCA.
QUICK = {"families": ("relu_manifold", "swiss_roll", "torus", "linear"), "nus": (0.3,),
         "methods": ("vae", "rpca")}


def _estimator(method: str, kwargs: dict):
  """The fitted-once estimator of a network method: the VAE, RDA, or the plain MSE autoencoder
  (RDA's autoencoder trained on X itself: one outer iteration, the whole budget)."""
  if method == "vae":
    return hidden_talents.RobustVAE(**kwargs)
  if method == "rda":
    return hidden_talents.RobustRDA(**kwargs)
  return hidden_talents.RobustRDA(**{**kwargs, "outer_iterations": 1})


def evaluate(method: str, X, L, mask, kwargs: dict, held: tuple | None = None) -> dict:
  """NMSE, mask scores, wall time and convergence of one fit (``fit_transform(X)``, which is
  ``decompose``'s result bit for bit; for RDA the outer loop's own last L). For the VAE also
  ``nmse_encoder``: L̂ decoded from the encoder's μz (``refine_steps=0``) from the same fit, and
  the latent coordinates it uses; for RDA the outer iterations run. With ``held`` = (X_new,
  L_new), rows the fit never saw, ``heldout_nmse`` of ``transform(X_new)``."""
  t0 = time.time()
  if method == "rpca":
    res, model = hidden_talents.decompose(X, method="rpca", **kwargs), None
  else:
    model = _estimator(method, kwargs)
    res = model.fit_transform(X)
  seconds = time.time() - t0
  sc = mask_scores(res.mask, mask)
  out = {"nmse": float(metrics.nmse(L, res.L)), "precision": sc["precision"],
         "recall": sc["recall"], "f1": sc["f1"], "seconds": seconds}
  # Whether the fit converged — RPCA: its stopping test within max_iter; the networks: their
  # training loss had flattened (diagnostics.loss_trend); RDA also whether its criterion
  # stalled — and how long it ran: a number without them is not a result.
  if method == "rpca":
    out.update({k: res.info[k] for k in ("converged", "iterations")})
  elif method == "vae":
    out.update({k: res.info[k] for k in ("converged", "steps", "latent_dims_used",
                                         "latent_dims_sigma_z", "reconstruction_seconds")})
    out["refine_steps"] = res.info["settings"]["refine_steps"]
    out["nmse_encoder"] = float(metrics.nmse(L, model.transform(X, refine_steps=0).L))
  else:
    info = model.fit_info_
    out.update(converged=diagnostics.loss_trend(info["loss_history"])["converged"],
               steps=info["steps_run"], outer_iterations=info["outer_iterations"],
               criterion_stalled=info["criterion_stalled"], lam=info["lam"],
               reconstruction_seconds=info["reconstruction_seconds"])
  if held is not None and model is not None:
    X_new, L_new = held
    t0 = time.time()
    out["heldout_nmse"] = float(metrics.nmse(L_new, model.transform(X_new).L))
    out["heldout_seconds"] = time.time() - t0
    if method == "vae":
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


NAMES = {"vae": "VAE", "rda": "RDA", "ae": "MSE AE", "rpca": "RPCA"}


def table(paths: list[str]) -> str:
  """Markdown: NMSE per case (family, ν, n) of every method of every file (a file's VAE variant
  named by its --vae keyword arguments), the best marked in bold, and each fit's convergence
  (* = its loss, or RPCA's stopping test, had not settled)."""
  runs = []
  for path in paths:
    with open(path) as fh:
      runs.append(json.load(fh))
  cols = []  # (run, method, title)
  for r in runs:
    kw = r.get("vae_kwargs") or {}
    for m in r.get("methods", ("vae", "rpca")):
      title = NAMES[m] + (f" {json.dumps(kw)}" if m == "vae" and kw else "")
      if m != "vae" and any(c[1] == m for c in cols):
        continue  # the same peer in every file: one column
      cols.append((r, m, title))
  lines = ["| family | ν | n | input | " + " | ".join(c[2] for c in cols) + " |",
           "|---|---|---|---|" + "---|" * len(cols)]
  for row in runs[0]["rows"]:
    key = (row["family"], row["nu"], row["n"])
    vals = []
    for r, m, _ in cols:
      match = [x for x in r["rows"] if (x["family"], x["nu"], x["n"]) == key and m in x]
      vals.append(match[0][m] if match else None)
    best = min((v["nmse"] for v in vals if v is not None), default=None)
    cells = []
    for v in vals:
      if v is None:
        cells.append("")
        continue
      text = f"{v['nmse']:.4f}" + ("" if v.get("converged") in (True, None) else "*")
      cells.append(f"**{text}**" if v["nmse"] == best else text)
    lines.append(f"| {row['family']} | {row['nu']:g} | {row['n']} | {row['input_nmse']:.3f} | "
                 + " | ".join(cells) + " |")
  return "\n".join(lines)


def cases(families, nus, n: int, extra: bool) -> list[tuple[str, float, int]]:
  """(family, ν, n) of the run: families × nus at n rows, plus :data:`EXTRA_CASES` of those
  families when ``extra``."""
  out = [(f, nu, n) for f in families for nu in nus]
  if extra:
    out += [(f, nu, m or n) for f, nu, m in EXTRA_CASES if f in families]
  return out


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--table", nargs="+", default=None,
                 help="print a Markdown table of these result files and exit")
  p.add_argument("--families", default=",".join(FAMILIES),
                 help="comma-separated; also the validation families "
                      f"{', '.join(VALIDATION_FAMILIES)} (need scikit-learn)")
  p.add_argument("--nus", default=",".join(str(v) for v in NUS))
  p.add_argument("--methods", default=",".join(METHODS),
                 help="comma-separated, of vae, rda (robust deep autoencoder), ae (the plain MSE "
                      "autoencoder: RDA's network trained on X alone), rpca")
  p.add_argument("--extra", type=int, default=1,
                 help="1: add ν = 0.45 on relu_manifold and swiss_roll and the MNIST families at "
                      "10⁴ rows to the cases (the full bench); 0: only families × nus")
  p.add_argument("--quick", action="store_true",
                 help="the routine check: the synthetic families at ν = 0.3, VAE and RPCA")
  p.add_argument("--n", type=int, default=2000, help="rows per case")
  p.add_argument("--seed", type=int, default=0, help="data seed (decompose keeps its default)")
  p.add_argument("--vae", default="{}", help="JSON keyword arguments for the VAE (RobustVAE)")
  p.add_argument("--rda", default="{}",
                 help="JSON keyword arguments for RDA and the MSE autoencoder (RobustRDA)")
  p.add_argument("--holdout", type=float, default=0.0,
                 help="fraction of each case's rows held out: every method fits the rest, and the "
                      "networks' transform of the held-out rows is scored too (0 = off)")
  p.add_argument("--out", default="",
                 help="JSON file for the results; a rerun with the same arguments keeps the "
                      "network results it holds (RPCA is cached beside it by data and code)")
  args = p.parse_args()
  if args.table:
    print(table(args.table))
    return
  vae_kwargs, rda_kwargs = json.loads(args.vae), json.loads(args.rda)
  families = list(QUICK["families"]) if args.quick else [f for f in args.families.split(",") if f]
  for f in families:
    if f not in FAMILIES + VALIDATION_FAMILIES:
      p.error(f"unknown family {f!r}; choose from {', '.join(FAMILIES + VALIDATION_FAMILIES)}")
  nus = list(QUICK["nus"]) if args.quick else [float(v) for v in args.nus.split(",")]
  methods = list(QUICK["methods"]) if args.quick else [m for m in args.methods.split(",") if m]
  for m in methods:
    if m not in METHODS:
      p.error(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
  if not 0.0 <= args.holdout < 0.5:
    p.error("--holdout must be in [0, 0.5)")
  todo = cases(families, nus, args.n, bool(args.extra) and not args.quick)
  kwargs = {"vae": vae_kwargs, "rda": rda_kwargs, "ae": rda_kwargs, "rpca": {}}
  done: dict = {}
  if args.out:
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if os.path.exists(args.out):  # resume: the network fits of the same arguments
      with open(args.out) as fh:
        prev = json.load(fh)
      if (prev.get("vae_kwargs"), prev.get("rda_kwargs"), prev.get("seed"),
          prev.get("holdout")) == (vae_kwargs, rda_kwargs, args.seed, args.holdout):
        done = {(r["family"], r["nu"], r["n"]): r for r in prev["rows"]}
  rows = []
  t_start = time.time()
  for fam, nu, n in todo:
    X, L, mask = case(fam, n, nu, args.seed)
    held = None
    if args.holdout:
      fit, out = split_rows(X.shape[0], args.holdout, args.seed)  # digits: 1797 rows
      held = (X[out], L[out])
      X, L, mask = X[fit], L[fit], mask[fit]
    row = {"family": fam, "nu": nu, "n": n, "input_nmse": float(metrics.nmse(L, X)),
           "intrinsic_dim": INTRINSIC_DIM.get(fam)}
    for m in methods:
      prev_row = done.get((fam, nu, n), {})
      if m == "rpca":
        row[m] = _rpca_cached(args, n, fam, nu, X, L, mask)
      elif m in prev_row:
        row[m] = prev_row[m]
      else:
        row[m] = evaluate(m, X, L, mask, kwargs[m], held)
      print(json.dumps({"family": fam, "nu": nu, "n": n, "method": m,
                        **{k: v for k, v in row[m].items() if k != "fingerprint"}}), flush=True)
    rows.append(row)
    if args.out:  # after every case: an interrupted bench resumes from here
      _write(args, rows, methods, vae_kwargs, rda_kwargs, time.time() - t_start)
  _report(rows, methods)


def _rpca_cached(args, n: int, fam: str, nu: float, X, L, mask) -> dict:
  """RPCA's result from the cache beside --out when the data and the code are the same."""
  cache_path = ""
  cache: dict = {}
  if args.out:
    cache_path = os.path.join(os.path.dirname(os.path.abspath(args.out)),
                              f"rpca_n{n}_seed{args.seed}"
                              f"{f'_holdout{args.holdout:g}' if args.holdout else ''}.json")
    if os.path.exists(cache_path):
      with open(cache_path) as fh:
        cache = json.load(fh)
  key, fp = f"{fam}/{nu:g}", rpca_fingerprint(X)
  if cache.get(key, {}).get("fingerprint") != fp:
    cache[key] = {**evaluate("rpca", X, L, mask, {}), "fingerprint": fp}
    if cache_path:  # atomic: an interrupted run never leaves a truncated cache
      io.atomic_write_json(cache_path, cache)
  return cache[key]


def _write(args, rows, methods, vae_kwargs, rda_kwargs, seconds: float) -> None:
  io.atomic_write_json(args.out, {
      "vae_kwargs": vae_kwargs, "rda_kwargs": rda_kwargs, "methods": methods,
      "defaults": {"steps": DEFAULTS.steps, "epochs": DEFAULTS.epochs,
                   "max_steps": DEFAULTS.max_steps, "kl_warmup_fraction": DEFAULTS.warmup_fraction,
                   "decoder_variance": DEFAULTS.decoder_variance, "alpha": DEFAULTS.alpha,
                   "tied_alpha": DEFAULTS.tied_alpha, "tie_fraction": DEFAULTS.tie_fraction,
                   "encoder_clip": DEFAULTS.encoder_clip, "refine_steps": DEFAULTS.refine_steps,
                   "refine_lr": DEFAULTS.refine_lr, "rda_lam": DEFAULTS.rda_lam,
                   "rda_outer": DEFAULTS.rda_outer},
      "n": args.n, "holdout": args.holdout, "seed": args.seed, "rows": rows, "argv": sys.argv,
      "wall_seconds": seconds, "load_average": os.getloadavg()})


def _report(rows: list[dict], methods: list[str]) -> None:
  """The winner of every case, on stderr."""
  wins = {m: 0 for m in methods}
  for row in rows:
    best = min(methods, key=lambda m: row[m]["nmse"])
    wins[best] += 1
  print("best NMSE per case: " + ", ".join(f"{NAMES[m]} {wins[m]}" for m in methods)
        + f" of {len(rows)}", file=sys.stderr)


if __name__ == "__main__":
  main()
