"""The PyTorch yardsticks (bench/torch_loop.py, bench/torch_ensemble.py) at tiny sizes.

torch is not a project dependency: the whole module is skipped where it is not importable.
"""

import json
import math
import os
import sys

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "bench"))
import torch_ensemble  # noqa: E402
import torch_loop  # noqa: E402

TINY = torch_loop.PRESETS["tiny"]


@pytest.fixture(autouse=True)
def one_thread():
  """One torch thread: the sizes are tiny, and more threads only contend on a shared machine."""
  before = torch.get_num_threads()
  torch.set_num_threads(1)
  yield
  torch.set_num_threads(before)


def _rows(capsys) -> list[dict]:
  return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_ensemble_losses_equal_the_per_cell_loop_at_step_0_and_after_adam_steps():
  row = torch_ensemble.check(TINY, TINY.cells, steps=3, compile_mode="")
  assert row["ok"]
  assert row["step0_loss_max_rel_diff"] <= torch_ensemble.STEP0_TOL
  assert len(row["cost_max_rel_diff_by_step"]) == 4
  assert max(row["cost_max_rel_diff_by_step"]) <= torch_ensemble.STEP_TOL
  # every model kind is among the compared cells
  assert {c.model for c in TINY.cells} == set(torch_loop.MODELS)


def test_check_fails_when_the_ensemble_computes_another_model(monkeypatch):
  # every cell as a VAE in the ensemble; the loop keeps its own models: the AEs must differ
  monkeypatch.setattr(torch_loop, "coefficients", lambda cell: (1.0, 1.0, 1.0, 0.0))
  row = torch_ensemble.check(TINY, TINY.cells, steps=1, compile_mode="")
  assert not row["ok"]
  assert row["step0_loss_max_rel_diff"] > 1e-3


def test_adam_weight_decay_2c1_is_the_gradient_of_c1_squared_norm():
  """torch_loop's Adam(weight_decay=2·C1) takes the same step as Adam on cost + C1‖θ‖² (the
  project's loss term); C1 alone would not."""
  cell = TINY.cells[0]
  g = torch.Generator().manual_seed(0)
  x = torch.randn(TINY.batch, TINY.data_dim, generator=g)
  eps = torch.randn(TINY.batch, TINY.latent, generator=g)
  c1 = 0.05  # large, so that a wrong factor shows

  def params_after_one_step(weight_decay: float, loss_term: bool) -> list:
    net = torch_loop.make_net(TINY, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=weight_decay)
    loss = torch_loop.cell_cost(net, cell, x, eps, 1.0).mean()
    if loss_term:
      loss = loss + torch_loop.weight_decay_term(net.parameters(), c1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    # a second step: Adam's first step is sign-like, the second depends on the gradients' size
    loss = torch_loop.cell_cost(net, cell, x, eps, 1.0).mean()
    if loss_term:
      loss = loss + torch_loop.weight_decay_term(net.parameters(), c1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return [q.detach().clone() for q in net.parameters()]

  reference = params_after_one_step(0.0, loss_term=True)
  ours = params_after_one_step(2 * c1, loss_term=False)
  wrong = params_after_one_step(c1, loss_term=False)
  diff = lambda a, b: max(float((u - v).abs().max()) for u, v in zip(a, b))
  assert diff(reference, ours) < 1e-6
  assert diff(reference, wrong) > 1e-4


def test_per_cell_loop_prints_a_row_per_cell_and_totals(capsys):
  torch_loop.main(["--preset=tiny", "--threads=1", "--steps=5", "--cells=4"])
  rows = _rows(capsys)
  assert len(rows) == 5
  assert [r["model"] for r in rows[:4]] == [c.model for c in TINY.cells[:4]]
  assert all(math.isfinite(r["nmse"]) and r["nmse"] > 0 for r in rows[:4])
  total = rows[-1]
  assert total["cells"] == 4 and total["steps"] == 5 and total["threads"] == 1
  assert total["total_seconds"] >= total["train_seconds"] > 0
  assert total["sample_steps_per_s"] > 0


def test_ensemble_prints_the_whole_process_numbers(capsys):
  assert torch_ensemble.main(["--preset=tiny", "--threads=1", "--steps=8"]) == 0
  (row,) = _rows(capsys)
  for key in ("import_seconds", "setup_seconds", "first_step_seconds", "train_seconds",
              "eval_seconds", "total_seconds", "sample_steps_per_s", "steady_sample_steps_per_s"):
    assert row[key] > 0, key
  assert row["cells"] == len(TINY.cells) and row["steps"] == 8 and row["compile"] is None
  assert row["total_seconds"] >= row["train_seconds"]
  assert 0 < row["nmse_median"] < 10 and math.isfinite(row["final_loss_median"])


def test_presets_have_the_cells_of_the_grids_they_name():
  grid, quick = torch_loop.PRESETS["grid12"], torch_loop.PRESETS["grid604"]
  assert len(grid.cells) == 12 and grid.widths == (100, 200) and grid.num_samples == 4000
  assert len(quick.cells) == 604 and quick.widths == (50, 100) and quick.num_samples == 2000
  assert sum(c.model == "vae_warmup" for c in quick.cells) == 100
  assert sum(c.nu == 0.0 for c in quick.cells) == 4
  assert len({c.seed for c in quick.cells}) == 604


@pytest.mark.slow
def test_compiled_ensemble_losses_equal_the_per_cell_loop():
  row = torch_ensemble.check(TINY, TINY.cells[::4], steps=2, compile_mode="default")
  assert row["ok"], row
