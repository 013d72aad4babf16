"""bench/gpu_check.py: its plan and estimate arithmetic (fast), and the whole command on the CPU at
tiny sizes (slow), so that it is known to run before an accelerator sees it."""

import json
import math
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
import gpu_check  # noqa: E402

from hidden_talents import memory  # noqa: E402


def test_paper_plan_times_the_paper_presets_programs():
  plan = gpu_check.make_plan(tiny=False, cells=(1, 8, 64), repeats=3)
  s = gpu_check.settings(plan, "bf16_matmul")
  assert s.decoder_widths == (1000, 2000) and s.encoder_widths == (2000, 1000)
  assert s.precision == "bf16_matmul" and s.chunk_steps == 100 and s.batch_size == 100
  assert s.num_samples == plan.eval_rows == s.eval_batch_size * 2
  assert plan.e2e_steps == 1000
  assert gpu_check.make_plan(tiny=True, cells=(1,), repeats=1).preset == "tiny"


def test_estimate_is_cells_times_steps_times_batch_over_throughput():
  plan = gpu_check.make_plan(tiny=False, cells=(1, 64), repeats=1)
  rows = [{"precision": p, "cells": c, "sample_steps_per_s": sps, "evaluate_seconds": 2.0,
           "eval_rows_per_cell": 2000}
          for p, sps in (("float32", 1e6), ("bf16_matmul", 2e6)) for c in (1, 64)]
  model = memory.MemoryModel(intercept=2**30, per_cell=2**28, state_per_cell=2**26)
  f32, bf16 = gpu_check.estimate(plan, rows, model)
  cells = f32["figure1_cells"]
  assert cells == 10 * 10 * (1 + 2 * 5) + 4  # κ × ν × (VAE + AE-ℓ2, AE-ℓ1 at 5 C2) + Figure 3
  assert f32["steps"] == 2_000_000 and f32["batch"] == 100
  assert math.isclose(f32["train_hours"], cells * 2e6 * 100 / 1e6 / 3600, rel_tol=1e-3)
  assert math.isclose(bf16["train_hours"], f32["train_hours"] / 2, rel_tol=1e-3)
  # evaluation: 2 s for 64 cells × 2000 rows, scaled to 10⁶ rows per cell
  assert math.isclose(f32["evaluation_hours"], cells * 2.0 / 64 * 500 / 3600, rel_tol=1e-3)
  assert f32["memory_model_cells_per_group"] >= 1


def test_bad_cell_counts_are_a_usage_error(capsys):
  with pytest.raises(SystemExit) as e:
    gpu_check.parse_args(["--cells=1,x"])
  assert e.value.code == 2
  assert "--cells" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    gpu_check.parse_args(["--cells=0,2"])


@pytest.mark.slow
def test_tiny_run_on_cpu_prints_every_section():
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "bench/gpu_check.py", "--cells=1,3", "--repeats=1"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
  assert out.returncode == 0, out.stderr[-3000:]
  rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
  by = {}
  for r in rows:
    by.setdefault(r["section"], []).append(r)
  assert by["device"][0]["size"] == "tiny"  # automatic on a CPU
  (e2e,) = by["e2e"]
  assert e2e["returncode"] == 0 and e2e["cells"] == 2 and e2e["steps"] == 20
  assert e2e["wall_seconds"] >= e2e["run_wall_seconds"] > e2e["train_seconds"] > 0
  assert all(0 < v < 10 for v in e2e["nmse"])
  tp = by["throughput"]
  assert {(r["precision"], r["cells"]) for r in tp} == {
      (p, c) for p in ("float32", "bf16_matmul") for c in (1, 3)}
  assert all(r["sample_steps_per_s"] > 0 and r["finite"] for r in tp)
  mem = by["memory"]
  assert [r["cells"] for r in mem] == [1, 3]
  assert 0 < mem[0]["predicted_bytes"] < mem[1]["predicted_bytes"]
  assert all(r["measured_peak_bytes"] is None for r in mem)  # the CPU reports no statistics
  assert by["evaluation"][0]["seconds"] > 0
  est = by["estimate"]
  assert [r["precision"] for r in est] == ["float32", "bf16_matmul"]
  assert all(r["figure1_cells"] == 18 and r["total_hours"] > 0 for r in est)
  (summary,) = by["summary"]
  assert set(summary["sample_steps_per_s"]) == {"float32@1", "float32@3", "bf16_matmul@1",
                                                "bf16_matmul@3"}
  assert summary["total_seconds"] > 0
