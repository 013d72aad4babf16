"""The per-cell PyTorch yardstick: one model, one optimiser, one Python step loop per cell.

  python bench/torch_loop.py                   # the 12-cell grid of bench/whole_process_bench.py
  python bench/torch_loop.py --preset=grid604  # 604 cells on the paper's 10 × 10 grid
  python bench/torch_loop.py --preset=tiny --threads=1

Needs torch (not a project dependency; a separate environment, e.g.
``python3 -m venv ENV && ENV/bin/pip install torch numpy``). ``bench/torch_ensemble.py`` trains
the same cells as one vmapped ``torch.func`` model and imports the problem from here.

The model is the project's (``hidden_talents.train``, ``objectives.unified``):

* data: ground truth z(κ, padded to κ_max)-D1(r1)-D2(r2)-l(d), ReLU, He-initialised (first layer
  fan-in κ), zero biases; n samples with a fraction ν of the entries replaced by N(0, 1);
* networks x-E1(r2)-E2(r1)-μz(50) with a log σz² head on E2, and μz-D1(r1)-D2(r2)-μx(d), ReLU;
  flax's initialisation as the project has it: He truncated normal on the hidden layers, LeCun
  truncated normal on the three linear heads, zero biases, the log σz² bias at −4;
* the per-sample cost of ``objectives.unified`` with the decoder variance optimised out per entry,
  Σⱼ (u/ξ + log ξ) with u = (xⱼ − μx,ⱼ)², ξ = max(u, α) (eqs. 68–70, 86–87), plus
  VAE: tr Σz − log|Σz| + ‖μz‖² (z reparameterised); AE-ℓ2: C2‖μz‖²; AE-ℓ1: C2‖μz‖₁ (z = μz);
  the KL warm-up VAE scales that latent term by β = min(1, step / warm-up);
* the batch mean of that cost + C1‖θ‖² over every parameter (``train.make_train``'s loss), Adam
  at lr 1e-3; then the NMSE of μx(μz(x)) against the clean data over all n (eq. 20).

Written as a careful PyTorch user writes it:

* threads: ``torch.set_num_threads`` to the cores this process may use (``--threads``);
* data as tensors, generated once per cell; the batch indices and the VAE's reparameterisation
  noise of all steps drawn up front (one call each instead of one per step);
* no host synchronisation inside the step loop (no ``.item()``, no printing);
* weight decay as Adam's own ``weight_decay = 2·C1`` (PyTorch's Adam adds weight_decay·θ to the
  gradient before its moments: exactly the gradient of C1‖θ‖², the project's loss term, without
  building ten squared-norm nodes into every step's graph); ``fused=True`` Adam;
* the AEs do not evaluate the log σz² head (it does not enter their cost); so those two head
  tensors get no gradient and Adam leaves them alone, where the project decays them toward 0.
  They affect no AE's μz, μx or NMSE;
* the data term as u/ξ + log ξ (four elementwise ops; the earlier branch with ``torch.where`` took
  six), evaluation under ``torch.inference_mode``.

The first version of this loop set the thread count to itself
(``set_num_threads(get_num_threads())``, a no-op), added the weight decay as a Python sum of ten
squared norms per step (ten more nodes forward and backward), drew every batch's indices and noise
in separate calls, ran the unfused Adam, and initialised the three heads with PyTorch's default
``nn.Linear`` scheme (uniform, non-zero biases) instead of the project's.
``bench/torch_ensemble.py --check`` verifies that this loop's losses and the ensemble's agree.

Prints one JSON line per cell, then one with the totals: cells, total_seconds (process start to
the end), train_seconds (the step loops), sample_steps_per_s (cells × steps × batch over
train_seconds), threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time

import torch
from torch import nn
from whole_process_bench import seconds_since_process_start

# flax's truncated normal: N(0, 1) truncated to [−2, 2], rescaled by this to unit variance.
TRUNC_STD = 0.87962566103423978
MODELS = ("vae", "vae_warmup", "ae_l2", "ae_l1")


@dataclasses.dataclass(frozen=True)
class CellSpec:
  """One cell: model, its C2 (the VAEs': 1), manifold dimension κ, outlier ratio ν, KL warm-up
  steps (0 = off) and the seed of its data, initialisation and batches."""

  model: str
  c2: float
  kappa: int
  nu: float
  warmup: float
  seed: int


@dataclasses.dataclass(frozen=True)
class Problem:
  """Sizes and hyper-parameters shared by every cell; ``widths`` = (r1, r2) as in the launch
  configs' ``hidden_widths``: decoder D1(r1)-D2(r2), encoder E1(r2)-E2(r1), generator the same."""

  widths: tuple[int, int]
  num_samples: int
  steps: int
  cells: tuple[CellSpec, ...]
  batch: int = 100
  data_dim: int = 100
  latent: int = 50
  kappa_max: int = 20
  lr: float = 1e-3
  c1: float = 5e-4
  alpha: float = 1e-2
  logvar_bias: float = -4.0


def _grid(models: list[tuple[str, float, float]], kappas, nus) -> tuple[CellSpec, ...]:
  """Model × κ × ν in the launch script's order, plus nothing else; seeds 0, 1, 2, …"""
  cells = [(m, c2, k, nu, w) for m, c2, w in models for k in kappas for nu in nus]
  return tuple(CellSpec(m, c2, k, nu, w, i) for i, (m, c2, k, nu, w) in enumerate(cells))


def _grid604_cells() -> tuple[CellSpec, ...]:
  """``bench/whole_process_bench.py``'s grid604 network cells: VAE, VAE with a 1000-step KL
  warm-up, AE-ℓ2 and AE-ℓ1 at C2 ∈ {0.1, 10³}, κ ∈ {2, …, 20} × ν ∈ {0.05, …, 0.5}, and the
  four ν = 0 VAE cells of Figure 3 (κ ∈ {2, 8, 14, 20}): 604 cells."""
  models = [("vae", 1.0, 0.0), ("vae_warmup", 1.0, 1000.0), ("ae_l2", 0.1, 0.0),
            ("ae_l2", 1000.0, 0.0), ("ae_l1", 0.1, 0.0), ("ae_l1", 1000.0, 0.0)]
  nus = [round(0.05 * i, 6) for i in range(1, 11)]
  cells = list(_grid(models, range(2, 21, 2), nus))
  cells += [CellSpec("vae", 1.0, k, 0.0, 0.0, len(cells) + j) for j, k in enumerate((2, 8, 14, 20))]
  return tuple(cells)


PRESETS = {
    # bench/whole_process_bench.py's grid: VAE, AE-ℓ2, AE-ℓ1 (C2 = 0.1) × κ {4, 12} × ν {0.1, 0.3}.
    "grid12": Problem(widths=(100, 200), num_samples=4000, steps=2000, cells=_grid(
        [("vae", 1.0, 0.0), ("ae_l2", 0.1, 0.0), ("ae_l1", 0.1, 0.0)], (4, 12), (0.1, 0.3))),
    "grid604": Problem(widths=(50, 100), num_samples=2000, steps=2000, cells=_grid604_cells()),
    # For tests: every model kind, seconds on one core.
    "tiny": Problem(widths=(16, 32), num_samples=300, steps=20, batch=50, latent=8, kappa_max=6,
                    cells=_grid([("vae", 1.0, 0.0), ("vae_warmup", 1.0, 10.0), ("ae_l2", 0.1, 0.0),
                                 ("ae_l1", 0.1, 0.0)], (2, 6), (0.1, 0.3))),
}


def cores() -> int:
  """The cores this process may run on."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def ground_truth(p: Problem, kappa: int, nu: float,
                 g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
  """(X, L), each (n, d): clean rows of the cell's manifold and the rows with outliers."""
  z = torch.zeros(p.num_samples, p.kappa_max)
  z[:, :kappa] = torch.randn(p.num_samples, kappa, generator=g)
  sizes = [p.kappa_max, *p.widths, p.data_dim]
  h = z
  for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
    W = torch.randn(a, b, generator=g) * math.sqrt(2.0 / (kappa if i == 0 else a))
    if i == 0:
      W[kappa:] = 0.0
    h = h @ W
    if i < len(sizes) - 2:
      h = torch.relu(h)
  mask = torch.rand(p.num_samples, p.data_dim, generator=g) < nu
  x = torch.where(mask, torch.randn(p.num_samples, p.data_dim, generator=g), h)
  return x, h


def _linear(fan_in: int, fan_out: int, scale: float, bias: float = 0.0) -> nn.Linear:
  """A linear layer initialised as flax's ``variance_scaling(scale, 'fan_in',
  'truncated_normal')`` kernel (He: scale 2, LeCun: 1) with a constant bias."""
  layer = nn.Linear(fan_in, fan_out)
  std = math.sqrt(scale / fan_in) / TRUNC_STD
  nn.init.trunc_normal_(layer.weight, std=std, a=-2.0 * std, b=2.0 * std)
  nn.init.constant_(layer.bias, bias)
  return layer


def data_cost(x: torch.Tensor, mu_x: torch.Tensor, alpha: float) -> torch.Tensor:
  """Σⱼ min_{γ ≥ α} u/γ + log γ = Σⱼ u/ξ + log ξ, ξ = max(u, α), u = (xⱼ − μx,ⱼ)² (eq. 87)."""
  u = (x - mu_x) ** 2
  s = u.clamp_min(alpha)
  return (u / s + torch.log(s)).sum(-1)


class Net(nn.Module):
  """x-E1(r2)-E2(r1)-μz with a log σz² head, μz-D1(r1)-D2(r2)-μx; ReLU hidden layers."""

  def __init__(self, p: Problem):
    super().__init__()
    r1, r2 = p.widths
    self.alpha = p.alpha
    self.enc = nn.Sequential(_linear(p.data_dim, r2, 2.0), nn.ReLU(), _linear(r2, r1, 2.0),
                             nn.ReLU())
    self.mu_z = _linear(r1, p.latent, 1.0)
    self.logvar_z = _linear(r1, p.latent, 1.0, p.logvar_bias)
    self.dec = nn.Sequential(_linear(p.latent, r1, 2.0), nn.ReLU(), _linear(r1, r2, 2.0),
                             nn.ReLU(), _linear(r2, p.data_dim, 1.0))

  def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h = self.enc(x)
    return self.mu_z(h), self.logvar_z(h).clamp(-30.0, 20.0)

  def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None,
              coeffs: torch.Tensor | None = None) -> torch.Tensor:
    """Without ``eps``: the reconstruction μx(μz(x)). With ``eps`` (B, κ) and ``coeffs`` (4,) =
    (noise, kl, c2, c1): the unified per-sample cost (B,) of ``objectives.unified_cost``, every
    model one formula (the form ``bench/torch_ensemble.py`` vmaps)."""
    if eps is None:
      return self.dec(self.mu_z(self.enc(x)))
    mu_z, lv = self.encode(x)
    z = mu_z + coeffs[0] * torch.exp(0.5 * lv) * eps
    data = data_cost(x, self.dec(z), self.alpha)
    kl = (torch.exp(lv) - lv).sum(-1)
    return (data + coeffs[1] * kl + coeffs[2] * (mu_z**2).sum(-1)
            + coeffs[3] * mu_z.abs().sum(-1))


def make_net(p: Problem, seed: int) -> Net:
  torch.manual_seed(seed)
  return Net(p)


def coefficients(cell: CellSpec) -> tuple[float, float, float, float]:
  """(noise, kl, c2, c1) of ``objectives.unified.model_coefficients``."""
  if cell.model in ("vae", "vae_warmup"):
    return (1.0, 1.0, 1.0, 0.0)
  if cell.model == "ae_l2":
    return (0.0, 0.0, cell.c2, 0.0)
  if cell.model == "ae_l1":
    return (0.0, 0.0, 0.0, cell.c2)
  raise ValueError(f"unknown model {cell.model!r}; expected one of {MODELS}")


def kl_weight(step: int, warmup: float) -> float:
  """β = min(1, step / warm-up), 1 without warm-up (``train.kl_weight``)."""
  return min(1.0, step / warmup) if warmup > 0 else 1.0


def cell_cost(net: Net, cell: CellSpec, x: torch.Tensor, eps: torch.Tensor | None,
              beta: float) -> torch.Tensor:
  """The per-sample cost (B,) of ``cell``'s model, each model its own branch (what a per-model
  PyTorch loop writes): the AEs skip the log σz² head and the noise."""
  if cell.model in ("vae", "vae_warmup"):
    mu_z, lv = net.encode(x)
    z = mu_z + torch.exp(0.5 * lv) * eps
    latent = (torch.exp(lv) - lv).sum(-1) + (mu_z**2).sum(-1)
  else:
    mu_z = z = net.mu_z(net.enc(x))
    latent = cell.c2 * ((mu_z**2).sum(-1) if cell.model == "ae_l2" else mu_z.abs().sum(-1))
  return data_cost(x, net.dec(z), net.alpha) + beta * latent


def weight_decay_term(params, c1: float) -> torch.Tensor:
  """C1‖θ‖² over every parameter: the project's loss term (reported, not trained through)."""
  return c1 * sum((q**2).sum() for q in params)


def make_adam(params, p: Problem) -> torch.optim.Adam:
  """Adam with ``weight_decay = 2·C1``: the gradient of C1‖θ‖² is 2·C1·θ (module docstring)."""
  return torch.optim.Adam(params, lr=p.lr, weight_decay=2.0 * p.c1, fused=True)


def nmse(net: Net, x_all: torch.Tensor, l_all: torch.Tensor) -> float:
  """‖L − μx(μz(X))‖²_F / ‖L‖²_F over all n (eq. 20)."""
  with torch.inference_mode():
    return float(((net(x_all) - l_all) ** 2).sum() / (l_all**2).sum())


def train_cell(p: Problem, cell: CellSpec, steps: int) -> dict:
  """Trains one cell for ``steps`` Adam steps and evaluates it; one JSON-able row."""
  g = torch.Generator().manual_seed(cell.seed)
  x_all, l_all = ground_truth(p, cell.kappa, cell.nu, g)
  net = make_net(p, cell.seed)
  opt = make_adam(net.parameters(), p)
  vae = cell.model in ("vae", "vae_warmup")
  t0 = time.perf_counter()
  idx = torch.randint(0, p.num_samples, (steps, p.batch), generator=g)
  eps = torch.randn(steps, p.batch, p.latent, generator=g) if vae else None
  for t in range(steps):
    cost = cell_cost(net, cell, x_all[idx[t]], eps[t] if vae else None,
                     kl_weight(t, cell.warmup)).mean()
    opt.zero_grad(set_to_none=True)
    cost.backward()
    opt.step()
  train_s = time.perf_counter() - t0
  return {"model": cell.model, "c2": cell.c2, "kappa": cell.kappa, "nu": cell.nu,
          "nmse": round(nmse(net, x_all, l_all), 4), "final_cost": round(float(cost.detach()), 4),
          "train_seconds": round(train_s, 3),
          "sample_steps_per_s": round(steps * p.batch / train_s)}


def main(argv: list[str] | None = None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--preset", default="grid12", choices=sorted(PRESETS))
  ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = the cores available")
  ap.add_argument("--steps", type=int, default=0, help="Adam steps per cell; 0 = the preset's")
  ap.add_argument("--cells", type=int, default=0, help="train only the first N cells; 0 = all")
  args = ap.parse_args(argv)
  for name in ("threads", "steps", "cells"):
    if getattr(args, name) < 0:
      ap.error(f"--{name} must be ≥ 0")
  p = PRESETS[args.preset]
  torch.set_num_threads(args.threads or cores())
  steps = args.steps or p.steps
  cells = p.cells[:args.cells] if args.cells else p.cells
  train_s = 0.0
  for cell in cells:
    row = train_cell(p, cell, steps)
    train_s += row["train_seconds"]
    print(json.dumps(row), flush=True)
  print(json.dumps({"preset": args.preset, "cells": len(cells), "steps": steps,
                    "total_seconds": round(seconds_since_process_start(), 2),
                    "train_seconds": round(train_s, 2),
                    "sample_steps_per_s": round(len(cells) * steps * p.batch / train_s),
                    "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "loadavg": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
  sys.exit(main())
