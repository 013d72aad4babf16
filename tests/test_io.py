"""``io``: run directories, cached results, and the one atomic writer."""

import os
import stat

import numpy as np
import pytest

from hidden_talents import io


def test_written_files_are_world_readable(tmp_path):
  path = str(tmp_path / "a.json")
  io.atomic_write_json(path, {"a": 1})
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_cached_npz_recomputes_only_when_its_key_changes(tmp_path):
  calls = []

  def compute():
    calls.append(1)
    return {"v": np.arange(3) + len(calls)}

  config = {"a": 1, "b": 2}
  key = io.config_hash(config, ("a",))
  assert key == io.config_hash({"a": 1, "b": 3}, ("a",)) != io.config_hash(config)
  first = io.cached_npz(str(tmp_path), "part", key, compute)
  again = io.cached_npz(str(tmp_path), "part", key, compute)
  assert len(calls) == 1 and set(again) == {"v"}
  np.testing.assert_array_equal(first["v"], again["v"])
  io.cached_npz(str(tmp_path), "part", io.config_hash({"a": 2}, ("a",)), compute)
  assert len(calls) == 2


def test_start_run_writes_the_config(tmp_path):
  wd = str(tmp_path / "run")
  io.start_run(wd, {"x": (1, 2)})
  assert io.read_json(os.path.join(wd, "config.json")) == {"x": [1, 2]}


def test_start_run_refuses_a_workdir_of_another_config_before_writing(tmp_path):
  wd = str(tmp_path / "run")
  io.start_run(wd, {"num_steps": 10, "nus": [0.1]})
  io.start_run(wd, {"num_steps": 20, "nus": [0.1]})  # nothing computed yet: the config may change
  io.atomic_write_npz(os.path.join(wd, "main_g000.done.npz"), {"x": np.zeros(1)})
  io.start_run(wd, {"num_steps": 20, "nus": [0.1]})  # the same config resumes
  with pytest.raises(ValueError, match="another config.*num_steps"):
    io.start_run(wd, {"num_steps": 30, "nus": [0.1]})
  assert io.read_json(os.path.join(wd, "config.json"))["num_steps"] == 20  # untouched
  # A field added to the code since the run started does not count as a difference.
  io.start_run(wd, {"num_steps": 20, "nus": [0.1], "decoder_variance": "optimal"})


def test_atomic_write_bytes_keeps_the_old_content_on_failure(tmp_path, monkeypatch):
  path = str(tmp_path / "f.bin")
  io.atomic_write_bytes(path, b"old")

  def fail(*args):
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(os, "replace", fail)
  with pytest.raises(OSError, match="No space"):
    io.atomic_write_bytes(path, b"new")
  assert open(path, "rb").read() == b"old"
  assert os.listdir(tmp_path) == ["f.bin"]  # no temporary file left


def test_atomic_write_bytes_with_the_users_umask(tmp_path):
  old = os.umask(0o077)
  try:
    io.atomic_write_bytes(str(tmp_path / "u.bin"), b"x", mode=None)
    assert io.umask() == 0o077
  finally:
    os.umask(old)
  assert stat.S_IMODE(os.stat(tmp_path / "u.bin").st_mode) == 0o600
  io.atomic_write_bytes(str(tmp_path / "d.bin"), b"x")  # the default: 0644
  assert stat.S_IMODE(os.stat(tmp_path / "d.bin").st_mode) == 0o644
  assert io.write_synced(str(tmp_path / "s.bin"), b"abc") == str(tmp_path / "s.bin")
  assert (tmp_path / "s.bin").read_bytes() == b"abc"


def test_a_process_that_is_not_the_writer_writes_nothing(tmp_path):
  io.set_writer(False)
  try:
    io.atomic_write_bytes(str(tmp_path / "x"), b"x")
  finally:
    io.set_writer(True)
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("compress", [True, False])
def test_atomic_write_npz_round_trips_compressed_or_plain(tmp_path, compress):
  import zipfile
  path = str(tmp_path / "a.npz")
  arrays = {"w": np.random.default_rng(0).normal(size=(40, 30)).astype(np.float32),
            "step": np.int64(7), "h": np.array([np.nan, 1.0])}
  io.atomic_write_npz(path, arrays, compress=compress)
  back = io.load_npz(path)
  for k, v in arrays.items():
    np.testing.assert_array_equal(back[k], v)
  with zipfile.ZipFile(path) as z:
    kinds = {i.compress_type for i in z.infolist()}
  assert kinds == ({zipfile.ZIP_DEFLATED} if compress else {zipfile.ZIP_STORED})
