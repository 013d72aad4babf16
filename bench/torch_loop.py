"""The yardstick of issue 17: a plain PyTorch loop that trains the cells one after another.

  python bench/torch_loop.py            # needs torch (not a project dependency; BENCHMARKS.md)

The same problem and settings as the grid timed against it (``bench/whole_process.sh``):
VAE, AE-ℓ2 (C2 = 0.1) and AE-ℓ1 (C2 = 0.1) × κ ∈ {4, 12} × ν ∈ {0.1, 0.3} = 12 cells; ground
truth z(κ, padded to 20)-D1(100)-D2(200)-l(100), ReLU, He initialisation; n = 4000 samples with a
fraction ν of the entries replaced by N(0, 1); networks x-E1(200)-E2(100)-μz(50) with a log σz²
head on E2 and μz-D1(100)-D2(200)-μx(100); the per-sample cost of ``objectives.unified`` (the
decoder variance optimised out, min over γ ≥ α of u/γ + log γ, α = 1e-2; VAE: + tr Σz − log|Σz| +
‖μz‖²; AE-ℓ2: + C2‖μz‖²; AE-ℓ1: + C2‖μz‖₁), its batch mean + C1‖θ‖² (C1 = 5e-4), Adam lr 1e-3,
2000 steps of batch 100, then the NMSE of μx(μz(x)) against the clean data over all n. Written
the way a PyTorch user would: one model, one optimiser, one Python step loop per cell, the data
materialised once per cell. Prints one JSON line per cell and the total seconds.
"""

from __future__ import annotations

import json
import math
import time

import torch
from torch import nn

D, KAPPA_MAX, N, BATCH, STEPS, LR, C1, ALPHA = 100, 20, 4000, 100, 2000, 1e-3, 5e-4, 1e-2
GEN = (100, 200)
ENC, DEC, LATENT = (200, 100), (100, 200), 50
CELLS = [(m, k, nu) for m in ("vae", "ae_l2", "ae_l1") for k in (4, 12) for nu in (0.1, 0.3)]


def he_linear(fan_in: int, fan_out: int) -> nn.Linear:
  layer = nn.Linear(fan_in, fan_out)
  nn.init.trunc_normal_(layer.weight, std=math.sqrt(2.0 / fan_in))
  nn.init.zeros_(layer.bias)
  return layer


def ground_truth(kappa: int, nu: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
  z = torch.zeros(N, KAPPA_MAX)
  z[:, :kappa] = torch.randn(N, kappa, generator=g)
  sizes = [KAPPA_MAX, *GEN, D]
  h = z
  for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
    W = torch.randn(a, b, generator=g) * math.sqrt(2.0 / (kappa if i == 0 else a))
    if i == 0:
      W[kappa:] = 0.0
    h = h @ W
    if i < len(sizes) - 2:
      h = torch.relu(h)
  mask = torch.rand(N, D, generator=g) < nu
  x = torch.where(mask, torch.randn(N, D, generator=g), h)
  return x, h


class Net(nn.Module):
  def __init__(self):
    super().__init__()
    self.enc = nn.Sequential(he_linear(D, ENC[0]), nn.ReLU(), he_linear(ENC[0], ENC[1]), nn.ReLU())
    self.mu_z = nn.Linear(ENC[1], LATENT)
    self.logvar_z = nn.Linear(ENC[1], LATENT)
    nn.init.constant_(self.logvar_z.bias, -4.0)
    self.dec = nn.Sequential(he_linear(LATENT, DEC[0]), nn.ReLU(), he_linear(DEC[0], DEC[1]),
                             nn.ReLU(), nn.Linear(DEC[1], D))

  def forward(self, x):
    h = self.enc(x)
    return self.mu_z(h), self.logvar_z(h).clamp(-30.0, 20.0)


def data_cost(x, mu_x):
  u = (x - mu_x) ** 2
  return torch.where(u >= ALPHA, 1.0 + torch.log(u.clamp_min(ALPHA)), u / ALPHA + math.log(ALPHA))


def train_cell(model: str, kappa: int, nu: float, seed: int) -> dict:
  g = torch.Generator().manual_seed(seed)
  x_all, l_all = ground_truth(kappa, nu, g)
  torch.manual_seed(seed)
  net = Net()
  opt = torch.optim.Adam(net.parameters(), lr=LR)
  params = list(net.parameters())
  t0 = time.time()
  for _ in range(STEPS):
    x = x_all[torch.randint(0, N, (BATCH,), generator=g)]
    mu_z, logvar_z = net(x)
    if model == "vae":
      z = mu_z + torch.exp(0.5 * logvar_z) * torch.randn_like(mu_z)
      latent = (torch.exp(logvar_z) - logvar_z).sum(-1) + (mu_z ** 2).sum(-1)
    else:
      z = mu_z
      latent = 0.1 * ((mu_z ** 2).sum(-1) if model == "ae_l2" else mu_z.abs().sum(-1))
    cost = data_cost(x, net.dec(z)).sum(-1) + latent
    loss = cost.mean() + C1 * sum((p ** 2).sum() for p in params)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
  with torch.no_grad():
    mu_z, _ = net(x_all)
    nmse = float(((net.dec(mu_z) - l_all) ** 2).sum() / (l_all ** 2).sum())
  return {"model": model, "kappa": kappa, "nu": nu, "nmse": round(nmse, 4),
          "train_seconds": round(time.time() - t0, 2),
          "sample_steps_per_s": round(STEPS * BATCH / (time.time() - t0))}


def main() -> None:
  t0 = time.time()
  torch.set_num_threads(torch.get_num_threads())
  for i, (m, k, nu) in enumerate(CELLS):
    print(json.dumps(train_cell(m, k, nu, seed=i)), flush=True)
  print(json.dumps({"cells": len(CELLS), "total_seconds": round(time.time() - t0, 1),
                    "threads": torch.get_num_threads()}))


if __name__ == "__main__":
  main()
