"""``robust.outputs``: a result directory is written all or nothing, with the user's umask, and
records its input."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time

import numpy as np
import pytest

import hidden_talents
from hidden_talents.robust import figure, outputs
from hidden_talents.robust.matrix_file import file_fingerprint
from hidden_talents.robust.outputs import StagedOutput, save_outputs
from tests.robust.support import fake_train, rpca_result


def test_save_outputs_refuses_nonempty_unless_overwrite(tmp_path):
  X, res = rpca_result()
  out = tmp_path / "o"
  out.mkdir()
  (out / "mine.txt").write_text("keep me")
  with pytest.raises(ValueError, match="not empty.*mine.txt.*overwrite"):
    save_outputs(str(out), X, res)
  assert os.listdir(out) == ["mine.txt"]
  save_outputs(str(out), X, res, overwrite=True)
  assert "mine.txt" not in os.listdir(out)  # replaced as a whole, not mixed
  assert sorted(os.listdir(out)) == sorted(outputs.OUTPUT_FILES)
  np.testing.assert_array_equal(np.load(out / "mask.npy"), res.mask)
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no staging left behind
  (tmp_path / "empty").mkdir()
  save_outputs(str(tmp_path / "empty"), X, res)  # an empty directory is fine


def test_save_outputs_file_modes(tmp_path):
  X, res = rpca_result()
  save_outputs(str(tmp_path / "o"), X, res)
  umask = os.umask(0)
  os.umask(umask)
  for name in outputs.OUTPUT_FILES:
    assert stat.S_IMODE(os.stat(tmp_path / "o" / name).st_mode) == 0o666 & ~umask, name
  assert stat.S_IMODE(os.stat(tmp_path / "o").st_mode) == 0o777 & ~umask


def test_save_outputs_all_or_nothing(tmp_path, monkeypatch):
  """A failure while writing (e.g. a full disk at the last file) leaves the old result intact."""
  X, res = rpca_result()
  out = tmp_path / "o"
  save_outputs(str(out), X, res)
  before = {n: (out / n).read_bytes() for n in os.listdir(out)}
  X2, res2 = rpca_result(seed=1)

  def full_disk(*a, **k):
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(figure, "summary_figure", full_disk)
  with pytest.raises(OSError, match="No space"):
    save_outputs(str(out), X2, res2, overwrite=True)
  assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before
  assert sorted(os.listdir(tmp_path)) == ["o"]
  with pytest.raises(OSError):
    save_outputs(str(tmp_path / "new"), X2, res2)
  assert sorted(os.listdir(tmp_path)) == ["o"]  # no partial directory


def test_unwritable_output_found_before_training(tmp_path, monkeypatch):
  (tmp_path / "file").write_text("")
  calls = []
  fake_train(monkeypatch, calls=calls)
  with pytest.raises(ValueError, match="cannot write the output directory"):
    with StagedOutput(str(tmp_path / "file" / "out")) as stage:
      hidden_talents.decompose(np.ones((20, 2)), steps=3)
  assert calls == []
  with pytest.raises(ValueError, match="exists and is not a directory"):
    StagedOutput(str(tmp_path / "file"))
  # The API workflow: check the target, train, write.
  X = np.random.default_rng(0).normal(size=(30, 3))
  stage = StagedOutput(str(tmp_path / "o"))
  assert not (tmp_path / "o").exists()
  paths = save_outputs(stage, X, hidden_talents.decompose(X, steps=3))
  assert calls == [3] and all(os.path.isfile(p) for p in paths)


def test_summary_records_input_seed_and_rows(tmp_path):
  X, res = rpca_result(n=12, d=2)
  np.save(tmp_path / "x.npy", X)
  fp = file_fingerprint(str(tmp_path / "x.npy"))
  assert fp["sha256"] == hashlib.sha256((tmp_path / "x.npy").read_bytes()).hexdigest()
  assert fp["size_bytes"] == os.path.getsize(tmp_path / "x.npy")
  save_outputs(str(tmp_path / "o"), X, res, input_info=fp)
  summary = json.loads((tmp_path / "o" / "summary.json").read_text())
  assert summary["input"] == fp and summary["settings"]["seed"] == 0
  assert summary["flagged_entries"] == int(res.mask.sum())
  rows = (tmp_path / "o" / "rows.csv").read_text().splitlines()
  assert rows[0] == "row,flagged_entries,score" and rows[1].startswith("1,")
  assert len(rows) == 13 and rows[-1].startswith("12,")
  np.testing.assert_array_equal(np.load(tmp_path / "o" / "S_sparse.npy"), res.S_sparse)


def test_save_outputs_atomic(tmp_path):
  X = np.random.default_rng(0).normal(size=(30, 3))
  res = hidden_talents.decompose(X, method="rpca")
  save_outputs(str(tmp_path / "o"), X, res)
  names = os.listdir(tmp_path / "o")
  assert not [n for n in names if n.startswith(".tmp-")]
  np.testing.assert_array_equal(np.load(tmp_path / "o" / "mask.npy"), res.mask)


def test_stale_staging_folders_are_removed_on_the_next_run(tmp_path):
  """A run killed outright leaves ``.tmp-<output>-*`` behind, its lock released: the next
  StagedOutput of the same output removes it. Kept: a staging folder whose lock is held (a live
  run), one without a lock file younger than a minute (its run may be starting), and the
  staging folders of other outputs."""
  X, res = rpca_result()
  out = tmp_path / "out"
  live = StagedOutput(str(out))  # a live run of the same output: its lock is held
  killed = tmp_path / ".tmp-out-abcd1234"  # as SIGKILL leaves it: its lock file, unlocked
  killed.mkdir()
  (killed / outputs.LOCK_NAME).write_text("")
  (killed / "L.npy").write_bytes(b"partial")
  old = tmp_path / ".tmp-out-zzzz9999"  # no lock file (an older version's), two minutes old
  old.mkdir()
  os.utime(old, (time.time() - 120, time.time() - 120))
  young = tmp_path / ".tmp-out-young123"
  young.mkdir()
  other = tmp_path / ".tmp-out2-abcd1234"
  other.mkdir()
  (other / outputs.LOCK_NAME).write_text("")
  stage = StagedOutput(str(out), overwrite=True)
  assert sorted(stage.removed) == [str(killed), str(old)]
  assert live.path not in stage.removed and os.path.isdir(live.path)
  save_outputs(stage, X, res)
  names = sorted(n for n in os.listdir(tmp_path) if n.startswith("."))
  assert names == sorted([young.name, other.name, os.path.basename(live.path)])
  assert sorted(os.listdir(out)) == sorted(outputs.OUTPUT_FILES)  # no lock file in the result
  live.discard()
  assert not os.path.exists(live.path)


def test_scores_are_written_beside_the_files_as_they_were(tmp_path):
  """entry_scores.npy and row_scores.npy are new files; the others hold what they held."""
  X, res = rpca_result()
  save_outputs(str(tmp_path / "o"), X, res)
  for name in ("entry_scores", "row_scores", "L", "S", "S_sparse", "mask", "sample_scores"):
    got = np.load(tmp_path / "o" / f"{name}.npy")
    np.testing.assert_array_equal(got, getattr(res, name), err_msg=name)
    assert got.dtype == getattr(res, name).dtype
  rows = (tmp_path / "o" / "rows.csv").read_text()
  assert rows.splitlines()[0] == "row,flagged_entries,score" and rows == outputs.rows_csv(res)
  summary = json.loads((tmp_path / "o" / "summary.json").read_text())
  assert "entry_scores" not in summary and "row_scores" not in summary
