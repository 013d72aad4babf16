"""The per-cell loop's cells as ONE vmapped functional PyTorch model (``torch.func``).

  python bench/torch_ensemble.py                      # the 12-cell grid, eager
  python bench/torch_ensemble.py --compile            # the same under torch.compile
  python bench/torch_ensemble.py --preset=grid604     # 604 cells on the paper's 10 × 10 grid
  python bench/torch_ensemble.py --check              # losses agree with bench/torch_loop.py?
  python bench/torch_ensemble.py --check --compile --preset=grid12

Needs torch (not a project dependency; see ``bench/torch_loop.py``). What a PyTorch user picks to
train many small models at once (PyTorch's "model ensembling" recipe): the cells' networks,
initialised one by one exactly as ``bench/torch_loop.py`` initialises them (same seeds, same
flax-style initialisation), are stacked with ``torch.func.stack_module_state``; the cost of one
cell is ``functional_call`` of the loop's ``Net`` in its unified form (``objectives.unified``: per
cell coefficients (noise, kl, c2, c1), so VAE, KL warm-up VAE, AE-ℓ2 and AE-ℓ1 cells are one
program), ``torch.func.vmap`` maps it over the cell axis, and ONE Adam (``weight_decay = 2·C1``,
fused) steps every cell's stacked parameters: Adam is elementwise, so this is each cell's own
Adam. Each step draws (cells, batch) indices into the cells' data (one (cells, n, d) tensor) and
(cells, batch, 50) reparameterisation noise (multiplied by 0 for the AEs, as in the project).
``--compile`` wraps the vmapped loss in ``torch.compile`` (forward and backward through
AOTAutograd/Inductor; the fused Adam stays eager). Nothing synchronises with the host inside the
step loop; the per-step losses go into a preallocated tensor.

``--check`` trains the preset's cells both ways from the same data, initialisation, batches and
noise: this ensemble, and the per-cell loop's own code (``torch_loop.cell_cost``, one Adam per
cell), and prints the largest difference of every cell's loss (cost + C1‖θ‖²) at step 0 and of its
cost after each of ``--check_steps`` Adam steps; exit status 1 when they differ by more than
float rounding (``STEP0_TOL``, ``STEP_TOL``).

Prints one JSON line: preset, cells, steps, compile, threads, import_seconds (torch), setup_seconds
(data, networks, stacking), first_step_seconds (includes torch.compile's work), train_seconds (all
steps), eval_seconds (NMSE over all n, eq. 20), total_seconds (process start to the end),
sample_steps_per_s (cells × steps × batch over train_seconds) and steady_sample_steps_per_s (the
same after the first ``WARM_STEPS`` steps), the median NMSE and final loss.
"""

from __future__ import annotations

import time

T_IMPORT = time.perf_counter()

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import NamedTuple  # noqa: E402

import torch  # noqa: E402
from torch.func import functional_call, stack_module_state, vmap  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_loop as tl  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - T_IMPORT
WARM_STEPS = 5  # steps excluded from the steady throughput (compilation, allocator warm-up)
STEP0_TOL = 1e-5  # |loss difference| / max(|loss|, 1) at step 0: float32 rounding
STEP_TOL = 1e-3  # the same for the cost after a few Adam steps (rounding, amplified by Adam)
EVAL_CELLS = 64  # cells per evaluation call (bounds the activations' memory)


class Ensemble(NamedTuple):
  base: tl.Net  # the network's structure on the meta device (no storage)
  params: dict[str, torch.Tensor]  # (cells, …) stacked parameters, leaves with requires_grad
  buffers: dict[str, torch.Tensor]
  x: torch.Tensor  # (cells, n, d) observed rows
  l: torch.Tensor  # (cells, n, d) clean rows
  coeffs: torch.Tensor  # (cells, 4): noise, kl, c2, c1
  warmup: torch.Tensor  # (cells,) KL warm-up steps; 0 = off


def cell_data(p: tl.Problem, cell: tl.CellSpec) -> tuple[torch.Tensor, torch.Tensor]:
  """(X, L) of a cell, exactly as ``torch_loop.train_cell`` generates them."""
  return tl.ground_truth(p, cell.kappa, cell.nu, torch.Generator().manual_seed(cell.seed))


def build(p: tl.Problem, cells: tuple[tl.CellSpec, ...]) -> Ensemble:
  """Data, per-cell networks (``torch_loop.make_net``) and their stacked parameters."""
  data = [cell_data(p, c) for c in cells]
  nets = [tl.make_net(p, c.seed) for c in cells]
  params, buffers = stack_module_state(nets)
  return Ensemble(
      base=copy.deepcopy(nets[0]).to("meta"), params=params, buffers=buffers,
      x=torch.stack([x for x, _ in data]), l=torch.stack([l for _, l in data]),
      coeffs=torch.tensor([tl.coefficients(c) for c in cells], dtype=torch.float32),
      warmup=torch.tensor([c.warmup for c in cells], dtype=torch.float32))


def make_loss(base: tl.Net, compile_mode: str = ""):
  """(params, buffers, x (C, B, d), eps (C, B, κ), coeffs (C, 4)) → (C,) batch-mean costs; under
  ``torch.compile`` when ``compile_mode`` is given ('default', 'max-autotune-no-cudagraphs', …)."""

  def one(params, buffers, x, eps, coeffs):
    return functional_call(base, (params, buffers), (x, eps, coeffs)).mean()

  loss = vmap(one)
  return torch.compile(loss, mode=compile_mode, dynamic=False) if compile_mode else loss


def step_coeffs(ens: Ensemble, step: int) -> torch.Tensor:
  """(C, 4) coefficients at ``step``: kl, c2 and c1 scaled by the KL warm-up's β
  (``torch_loop.kl_weight``)."""
  beta = torch.where(ens.warmup > 0, (step / ens.warmup.clamp_min(1.0)).clamp(max=1.0), 1.0)
  return torch.cat([ens.coeffs[:, :1], ens.coeffs[:, 1:] * beta[:, None]], dim=1)


class Batcher:
  """Per step: (C, B) sample indices into each cell's rows and (C, B, κ) noise, one generator."""

  def __init__(self, ens: Ensemble, p: tl.Problem, seed: int):
    c, n, d = ens.x.shape
    self.p, self.c, self.n, self.d = p, c, n, d
    self.flat = ens.x.reshape(c * n, d)
    self.offsets = torch.arange(c)[:, None] * n
    self.g = torch.Generator().manual_seed(seed)

  def draw(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(indices (C, B), x (C, B, d), eps (C, B, κ))."""
    idx = torch.randint(0, self.n, (self.c, self.p.batch), generator=self.g)
    x = self.flat[(idx + self.offsets).view(-1)].view(self.c, self.p.batch, self.d)
    eps = torch.randn(self.c, self.p.batch, self.p.latent, generator=self.g)
    return idx, x, eps


def evaluate(ens: Ensemble) -> torch.Tensor:
  """(C,) NMSE of μx(μz(X)) against L over all n (eq. 20), ``EVAL_CELLS`` cells at a time."""
  recon = vmap(lambda prm, buf, x: functional_call(ens.base, (prm, buf), (x,)))
  out = []
  with torch.inference_mode():
    for lo in range(0, ens.x.shape[0], EVAL_CELLS):
      sl = slice(lo, lo + EVAL_CELLS)
      l = ens.l[sl]
      l_hat = recon({k: v[sl] for k, v in ens.params.items()},
                    {k: v[sl] for k, v in ens.buffers.items()}, ens.x[sl])
      out.append(((l_hat - l) ** 2).sum((1, 2)) / (l**2).sum((1, 2)))
  return torch.cat(out)


def train(ens: Ensemble, p: tl.Problem, steps: int, loss_fn, seed: int = 0) -> dict:
  """``steps`` Adam steps of every cell at once; per-step losses and the timings."""
  opt = tl.make_adam(ens.params.values(), p)
  batches = Batcher(ens, p, seed)
  warm_until = float(ens.warmup.max()) if len(ens.warmup) else 0.0
  hist = torch.empty(steps, ens.x.shape[0])
  t0 = time.perf_counter()
  t_first = t_warm = t0
  for t in range(steps):
    _, x, eps = batches.draw()
    coeffs = step_coeffs(ens, t) if t < warm_until else ens.coeffs
    losses = loss_fn(ens.params, ens.buffers, x, eps, coeffs)
    opt.zero_grad(set_to_none=True)
    losses.sum().backward()
    opt.step()
    hist[t] = losses.detach()
    if t == 0:
      t_first = time.perf_counter()
    if t == WARM_STEPS - 1:
      t_warm = time.perf_counter()
  end = time.perf_counter()
  steady = steps - WARM_STEPS
  return {"history": hist, "first_step_seconds": t_first - t0, "train_seconds": end - t0,
          "steady_seconds": (end - t_warm) if steady > 0 else float("nan"), "steady_steps": steady}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
  return float(((a - b).abs() / torch.maximum(a.abs(), torch.ones_like(a))).max())


def check(p: tl.Problem, cells: tuple[tl.CellSpec, ...], steps: int, compile_mode: str) -> dict:
  """Same data, initialisation, batches and noise through the ensemble and through the per-cell
  loop's code: the largest relative loss difference at step 0 and after each Adam step."""
  ens = build(p, cells)
  nets = [tl.make_net(p, c.seed) for c in cells]
  opts = [tl.make_adam(net.parameters(), p) for net in nets]
  ens_opt = tl.make_adam(ens.params.values(), p)
  loss_fn = make_loss(ens.base, compile_mode)
  batches = Batcher(ens, p, seed=0)
  by_step, step0 = [], {}
  for t in range(steps + 1):
    idx, x, eps = batches.draw()
    ens_cost = loss_fn(ens.params, ens.buffers, x, eps, step_coeffs(ens, t))
    loop_cost = torch.stack([
        tl.cell_cost(net, c, ens.x[i][idx[i]], eps[i], tl.kl_weight(t, c.warmup)).mean()
        for i, (net, c) in enumerate(zip(nets, cells))])
    if t == 0:
      with torch.no_grad():
        ens_wd = p.c1 * sum((v**2).flatten(1).sum(1) for v in ens.params.values())
        loop_wd = torch.stack([tl.weight_decay_term(net.parameters(), p.c1) for net in nets])
        a, b = (ens_cost + ens_wd).detach(), (loop_cost + loop_wd).detach()
        step0 = {"step0_loss_max_abs_diff": float((a - b).abs().max()),
                 "step0_loss_max_rel_diff": _rel(a, b),
                 "step0_loss_range": [round(float(b.min()), 4), round(float(b.max()), 4)]}
    by_step.append(_rel(ens_cost.detach(), loop_cost.detach()))
    if t == steps:
      break
    for opt in (ens_opt, *opts):
      opt.zero_grad(set_to_none=True)
    (ens_cost.sum() + loop_cost.sum()).backward()
    for opt in (ens_opt, *opts):
      opt.step()
  ok = step0["step0_loss_max_rel_diff"] <= STEP0_TOL and max(by_step[1:], default=0) <= STEP_TOL
  return {"check": True, "cells": len(cells), "compile": compile_mode or None, **step0,
          "cost_max_rel_diff_by_step": [float(f"{v:.3g}") for v in by_step],
          "tolerance": {"step0": STEP0_TOL, "after_steps": STEP_TOL}, "ok": bool(ok)}


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--preset", default="grid12", choices=sorted(tl.PRESETS))
  ap.add_argument("--compile", action="store_true", help="the vmapped loss under torch.compile")
  ap.add_argument("--compile_mode", default="default", help="torch.compile's mode with --compile")
  ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = the cores available")
  ap.add_argument("--steps", type=int, default=0, help="Adam steps; 0 = the preset's")
  ap.add_argument("--cells", type=int, default=0, help="only the first N cells; 0 = all")
  ap.add_argument("--check", action="store_true", help="compare with the per-cell loop, no timing")
  ap.add_argument("--check_steps", type=int, default=5, help="Adam steps compared by --check")
  args = ap.parse_args(argv)
  for name in ("threads", "steps", "cells", "check_steps"):
    if getattr(args, name) < 0:
      ap.error(f"--{name} must be ≥ 0")
  torch.set_num_threads(args.threads or tl.cores())
  p = tl.PRESETS[args.preset]
  cells = p.cells[:args.cells] if args.cells else p.cells
  mode = args.compile_mode if args.compile else ""
  if args.check:
    row = check(p, cells, args.check_steps, mode)
    print(json.dumps({"preset": args.preset, **row}))
    return 0 if row["ok"] else 1
  steps = args.steps or p.steps
  t0 = time.perf_counter()
  ens = build(p, cells)
  setup_s = time.perf_counter() - t0
  r = train(ens, p, steps, make_loss(ens.base, mode))
  t0 = time.perf_counter()
  nmse = evaluate(ens)
  eval_s = time.perf_counter() - t0
  work = len(cells) * p.batch
  print(json.dumps({
      "preset": args.preset, "cells": len(cells), "steps": steps, "compile": mode or None,
      "threads": torch.get_num_threads(), "torch": torch.__version__,
      "import_seconds": round(IMPORT_SECONDS, 2), "setup_seconds": round(setup_s, 2),
      "first_step_seconds": round(r["first_step_seconds"], 2),
      "train_seconds": round(r["train_seconds"], 2), "eval_seconds": round(eval_s, 2),
      "total_seconds": round(tl.seconds_since_process_start(), 2),
      "sample_steps_per_s": round(steps * work / r["train_seconds"]),
      "steady_sample_steps_per_s": (round(r["steady_steps"] * work / r["steady_seconds"])
                                    if r["steady_steps"] > 0 else None),
      "nmse_median": round(float(nmse.median()), 4),
      "final_loss_median": round(float(r["history"][-1].median()), 4),
      "loadavg": round(os.getloadavg()[0], 2)}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
