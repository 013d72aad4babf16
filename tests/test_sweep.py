"""The sweep host loop: resume = uninterrupted, sharded = unsharded, groups, NaN reporting."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from hidden_talents import sweep, train
from hidden_talents.data import stream
from tests.helpers import TINY

SPECS = [("vae", 1.0, 2, 0.1), ("ae_l2", 0.1, 3, 0.2), ("ae_l1", 10.0, 4, 0.3),
         ("vae", 1.0, 4, 0.0), ("ae_l2", 1000.0, 1, 0.45)]


def _cells():
  return sweep.make_cells([sweep.CellInfo(m, c2, k, nu, 0) for m, c2, k, nu in SPECS])


def test_make_cells_shares_data_and_init_between_models_of_a_cell():
  cells = sweep.make_cells([sweep.CellInfo("vae", 1.0, 3, 0.2, 0),
                            sweep.CellInfo("ae_l1", 5.0, 3, 0.2, 0),
                            sweep.CellInfo("vae", 1.0, 3, 0.3, 0)])
  for f in ("data_key", "corrupt_key", "init_key", "train_key"):
    np.testing.assert_array_equal(getattr(cells, f)[0], getattr(cells, f)[1])
  np.testing.assert_array_equal(cells.data_key[0], cells.data_key[2])  # same manifold
  assert not np.array_equal(cells.corrupt_key[0], cells.corrupt_key[2])  # other corruption


@pytest.mark.slow  # end to end, 25–65 s: CI runs it with -m slow
def test_resume_after_interruption_gives_identical_results(tmp_path):
  cells = _cells()
  full = sweep.run_sweep(TINY, cells, num_steps=20, workdir=str(tmp_path / "a"), progress=False)
  wd = str(tmp_path / "b")
  assert sweep.run_sweep(TINY, cells, num_steps=20, workdir=wd, progress=False,
                         stop_after_chunks=2) is None  # "killed" after 2 of 4 chunks
  ckpt = os.path.join(wd, "sweep_g000.ckpt.npz")
  with zipfile.ZipFile(ckpt) as z:  # uncompressed: zlib on float weights is slow, saves ~7 %
    assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
  resumed = sweep.run_sweep(TINY, cells, num_steps=20, workdir=wd, progress=False)
  np.testing.assert_array_equal(full.eval.nmse, resumed.eval.nmse)
  np.testing.assert_array_equal(full.eval.w1_col_norms, resumed.eval.w1_col_norms)
  np.testing.assert_array_equal(full.history, resumed.history)
  # a finished run is loaded, not recomputed, and a different config is refused
  again = sweep.run_sweep(TINY, cells, num_steps=20, workdir=wd, progress=False)
  np.testing.assert_array_equal(again.eval.nmse, full.eval.nmse)
  with pytest.raises(ValueError, match="different run"):
    sweep.run_sweep(TINY, cells, num_steps=25, workdir=wd, progress=False)


@pytest.mark.slow  # end to end, 25–65 s: CI runs it with -m slow
def test_groups_equal_one_program():
  cells = _cells()
  one = sweep.run_sweep(TINY, cells, num_steps=10, progress=False)
  grouped = sweep.run_sweep(TINY, cells, num_steps=10, progress=False, cells_per_group=2)
  np.testing.assert_allclose(one.eval.nmse, grouped.eval.nmse, rtol=1e-4)


def test_failed_cell_is_reported_and_masked():
  cells = _cells()
  c2 = np.asarray(cells.coeffs.c2).copy()
  c2[1] = np.inf
  cells = cells._replace(coeffs=cells.coeffs._replace(c2=c2))
  res = sweep.run_sweep(TINY, cells, num_steps=10, progress=False)
  assert res.failed.tolist() == [False, True, False, False, False]
  assert np.isnan(res.eval.nmse[1]) and np.all(np.isfinite(np.delete(res.eval.nmse, 1)))
  assert res.failed_at_step[1] == 0


def test_rejects_bad_kappa_and_steps():
  with pytest.raises(ValueError, match="κ"):
    sweep.run_sweep(TINY, sweep.make_cells([sweep.CellInfo("vae", 1.0, 9, 0.1, 0)]),
                    num_steps=5, progress=False)
  with pytest.raises(ValueError, match="num_steps"):
    sweep.run_sweep(TINY, _cells(), num_steps=0, progress=False)


SHARDED = r"""
import json, sys
import jax
from hidden_talents import sweep, train
from tests.helpers import TINY
from tests.test_sweep import _cells
assert len(jax.local_devices()) == 4, jax.local_devices()
res = sweep.run_sweep(TINY, _cells(), num_steps=10, progress=False)
print(json.dumps(res.eval.nmse.tolist()))
"""


@pytest.mark.slow  # end to end, 25–65 s: CI runs it with -m slow
def test_sharded_over_four_cpu_devices_equals_unsharded():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run([sys.executable, "-c", SHARDED], env=env, cwd=root, capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0, out.stderr
  sharded = np.asarray(json.loads(out.stdout.strip().splitlines()[-1]))
  plain = sweep.run_sweep(TINY, _cells(), num_steps=10, progress=False).eval.nmse
  np.testing.assert_allclose(sharded, plain, rtol=1e-4)


def test_fingerprint_hashes_only_settings_that_differ_from_defaults():
  import dataclasses
  cells = _cells()
  base = sweep.fingerprint(train.Settings(), cells, 10)
  # A field at its default (as a field added later would be) leaves old runs resumable…
  assert sweep.fingerprint(dataclasses.replace(train.Settings(), outlier_scale=1.0), cells,
                           10) == base
  # …while every real change of settings, steps or cells is a different run.
  assert sweep.fingerprint(dataclasses.replace(train.Settings(), alpha=0.1), cells, 10) != base
  assert sweep.fingerprint(train.Settings(), cells, 11) != base
  assert sweep.fingerprint(train.Settings(), sweep.take(cells, np.array([0])), 10) != base


def test_clean_table_equals_the_streamed_samples():
  cells = _cells()  # κ = 2, 3, 4, 4, 1: the two κ = 4 cells share one manifold
  table, slot = stream.clean_table(TINY.data_spec, cells)
  assert table.shape == (4, TINY.num_samples, TINY.data_dim) and slot[2] == slot[3]
  fns = train.make_train(TINY)
  idx = np.array([0, 7, TINY.num_samples - 1])
  for c in range(len(SPECS)):
    cell = sweep.take(cells, np.array(c))
    _, l, _ = fns.sample_batch(cell, idx)
    np.testing.assert_allclose(table[slot[c], idx], np.asarray(l), rtol=1e-5, atol=1e-6)
  assert stream.clean_table(TINY.data_spec, cells, max_bytes=1000) is None  # too large: stream


@pytest.mark.slow  # end to end, 25–65 s: CI runs it with -m slow
def test_cached_sweep_agrees_with_the_streamed_one():
  cells = _cells()
  cached = sweep.run_sweep(TINY, cells, num_steps=20, progress=False)
  streamed = sweep.run_sweep(TINY, cells, num_steps=20, progress=False, cache_bytes=0)
  np.testing.assert_allclose(cached.eval.nmse, streamed.eval.nmse, rtol=1e-3)
  np.testing.assert_allclose(cached.eval.nmse_input, streamed.eval.nmse_input, rtol=1e-5)
  np.testing.assert_allclose(cached.history, streamed.history, rtol=1e-3, atol=1e-4)


def test_progress_line_of_one_fit_and_of_a_grid(capsys):
  """One fit (decompose) shows no grid words; the first update says it is compiling; no 'nan'."""
  bar = sweep.Progress(500, 1, 100, "[decompose]")
  bar.update(0, 0, float("nan"))
  bar.update(250, 0, 1.5)
  bar.update(500, 0, 1.25)
  lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
  assert lines[0].startswith("[decompose] step 0/500") and "(compiling)" in lines[0]
  assert not any("cells" in s or "failed" in s or "nan" in s for s in lines), lines
  assert "loss 1.25" in lines[-1] and "samples/s" in lines[-1]
  grid = sweep.Progress(500, 6, 100, "[sweep]")
  grid.update(0, 0, float("nan"))
  grid.update(250, 1, 2.0)
  lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
  assert "6 cells" in lines[-1] and "failed 1" in lines[-1] and "median loss 2" in lines[-1]
