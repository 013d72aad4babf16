"""``robust.model_file``: a fitted RobustVAE in one .npz, written atomically, read without pickle,
bit-identical after loading; corrupt or foreign files refused; files of earlier versions load as
they were trained."""

from __future__ import annotations

import json
import os
import pickle
import stat
import zipfile

import numpy as np
import pytest

import hidden_talents as ht
from hidden_talents.robust import model_file
from hidden_talents.robust.settings import DEFAULTS
from tests.helpers import ROBUST_KW as KW
from tests.helpers import circle
from tests.robust.support import same_result


@pytest.fixture(scope="module")
def fitted():
  X, L = circle(200, seed=0, nu=0.1)
  return X, L, ht.RobustVAE(**KW).fit(X)


def test_save_load_round_trip_is_bit_identical(fitted, tmp_path):
  X, _, model = fitted
  path = str(tmp_path / "model.npz")
  assert model.save(path) == path
  umask = os.umask(0)
  os.umask(umask)
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
  assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left
  with np.load(path, allow_pickle=False) as z:  # plain arrays: no pickle needed
    assert str(z["format"]) == model_file.FORMAT and int(z["format_version"]) == 1
  loaded = ht.RobustVAE.load(path)
  assert loaded.config_ == model.config_ and loaded.engine_settings_ == model.engine_settings_
  assert loaded.get_params() == model.get_params()
  assert loaded.used_settings() == model.used_settings()
  X_new, _ = circle(30, seed=9, nu=0.1)
  for rows in (X, X_new):
    same_result(loaded.transform(rows), model.transform(rows))
  assert "fitted on 200 × 4" in repr(loaded)
  # One rule with result directories (StagedOutput) and the command line: an existing file is
  # replaced only when asked (then atomically), missing parent directories are created.
  with pytest.raises(ValueError, match="already exists.*overwrite=True"):
    model.save(path)
  assert model.save(path, overwrite=True) == path
  same_result(ht.RobustVAE.load(path).transform(X[:5]), model.transform(X[:5]))
  with pytest.raises(ValueError, match="is a directory"):
    model.save(str(tmp_path))
  deep = str(tmp_path / "no" / "such" / "m.npz")
  assert model.save(deep) == deep and os.path.isfile(deep)
  (tmp_path / "file").write_text("")
  with pytest.raises(ValueError, match="is not a directory"):
    model.save(str(tmp_path / "file" / "m.npz"))


def _rewrite(src: str, dst: str, **changes) -> None:
  with np.load(src, allow_pickle=False) as z:
    arrays = {k: z[k] for k in z.files}
  arrays.update(changes)
  arrays = {k: v for k, v in arrays.items() if v is not None}
  np.savez(dst, **arrays)


def test_a_model_is_applied_with_the_encoder_clip_it_was_trained_with(fitted, tmp_path):
  """The encoder clip is part of the model: saved, loaded, and 0 for files from before it."""
  X, _, model = fitted
  assert model.engine_settings_.encoder_clip == DEFAULTS.encoder_clip > 0
  path, old = str(tmp_path / "m.npz"), str(tmp_path / "old.npz")
  model.save(path)
  assert ht.RobustVAE.load(path).engine_settings_.encoder_clip == DEFAULTS.encoder_clip
  meta = json.loads(str(np.load(path)["meta"]))
  assert meta["config"].pop("encoder_clip") is None  # None = the default, resolved at fit
  _rewrite(path, old, meta=np.array(json.dumps(meta)))
  legacy = ht.RobustVAE.load(old)
  assert legacy.engine_settings_.encoder_clip == 0.0
  far = X[:5].copy()
  far[:, 0] = model.center_[0] + 100 * DEFAULTS.encoder_clip * model.scale_[0]  # beyond the clip
  assert not np.allclose(legacy.transform(far).L, model.transform(far).L)
  same_result(legacy.transform(X[:5] * 0 + model.center_),
              model.transform(X[:5] * 0 + model.center_))


def _write(path: str, data: bytes) -> None:
  with open(path, "wb") as f:
    f.write(data)


def test_corrupt_or_foreign_files_are_refused(fitted, tmp_path):
  _, _, model = fitted
  good = str(tmp_path / "good.npz")
  model.save(good)
  raw = open(good, "rb").read()
  first = next(n[:-4] for n in zipfile.ZipFile(good).namelist() if n.startswith("param/"))
  cases = {
      "truncated.npz": ("corrupt or not a model", lambda p: _write(p, raw[:len(raw) // 2])),
      "garbage.npz": ("corrupt or not a model", lambda p: _write(p, b"\x00" * 100)),
      "other.npz": ("not a hidden_talents.RobustVAE model", lambda p: np.savez(p, a=np.ones(3))),
      "v2.npz": ("format version 2", lambda p: _rewrite(good, p, format_version=np.array(2))),
      "shape.npz": ("do not match its settings", lambda p: _rewrite(
          good, p, meta=np.array(json.dumps({**json.loads(str(np.load(good)["meta"])),
                                             "d": 5})))),
      "noparam.npz": ("do not match its settings", lambda p: _rewrite(good, p, **{first: None})),
  }
  for name, (match, make) in cases.items():
    path = str(tmp_path / name)
    make(path)
    with pytest.raises(ValueError, match=match):
      ht.RobustVAE.load(path)
  flipped = bytearray(raw)
  flipped[len(raw) // 3] ^= 0xFF  # a flipped byte inside the data: the zip CRC catches it
  (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
  with pytest.raises(ValueError, match="cannot load the model"):
    ht.RobustVAE.load(str(tmp_path / "flipped.npz"))
  with pytest.raises(ValueError, match="does not exist"):
    ht.RobustVAE.load(str(tmp_path / "absent.npz"))


def test_files_without_the_newer_settings_load_as_trained(fitted, tmp_path):
  """A model file written before kl_warmup / decoder_variance existed was trained without a
  warm-up and with the optimised-out Σx: it loads as such, whatever the current defaults are."""
  X, _, _ = fitted
  old = ht.RobustVAE(**{**KW, "kl_warmup": 0, "decoder_variance": "optimal"}).fit(X)
  good = str(tmp_path / "new.npz")
  old.save(good)
  meta = json.loads(str(np.load(good)["meta"]))
  for key in ("kl_warmup", "decoder_variance"):
    del meta["config"][key]
  _rewrite(good, str(tmp_path / "old.npz"), meta=np.array(json.dumps(meta)))
  loaded = ht.RobustVAE.load(str(tmp_path / "old.npz"))
  assert loaded.config_["kl_warmup"] == 0 and loaded.config_["decoder_variance"] == "optimal"
  assert loaded.kl_warmup == 0 and loaded.decoder_variance == "optimal"
  same_result(loaded.transform(X), old.transform(X))


def test_refine_steps_are_saved_and_old_files_load_without(fitted, tmp_path):
  X, _, model = fitted
  other = pickle.loads(pickle.dumps(model))  # same network, other setting
  other.config_ = {**model.config_, "refine_steps": 50}
  path = str(tmp_path / "m.npz")
  other.save(path)
  loaded = ht.RobustVAE.load(path)
  assert loaded.config_["refine_steps"] == 50 == loaded.refine_steps
  np.testing.assert_array_equal(loaded.transform(X).L, model.transform(X, refine_steps=50).L)
  # A file from before refinement existed decodes the encoder's mean, as it did then.
  with np.load(path, allow_pickle=False) as z:
    arrays = {k: z[k] for k in z.files}
  meta = json.loads(str(arrays["meta"]))
  del meta["config"]["refine_steps"]
  arrays["meta"] = np.array(json.dumps(meta))
  old = str(tmp_path / "old.npz")
  np.savez(old, **arrays)
  assert ht.RobustVAE.load(old).config_["refine_steps"] == 0
  np.testing.assert_array_equal(ht.RobustVAE.load(old).transform(X).L,
                                model.transform(X, refine_steps=0).L)



def test_the_file_layout(fitted, tmp_path):
  """The entries of a model file: format, format_version, meta, fit_info, engine_settings, the
  four arrays and param/..., with the arguments under meta["config"]."""
  _, _, model = fitted
  path = model.save(str(tmp_path / "m.npz"))
  names = set(zipfile.ZipFile(path).namelist())
  assert {"format.npy", "format_version.npy", "meta.npy", "fit_info.npy", "engine_settings.npy",
          "center.npy", "scale.npy", "residual_scale.npy", "constant.npy"} <= names
  meta = json.loads(str(np.load(path)["meta"]))
  assert set(meta) == {"config", "num_fitted", "d", "alpha_used"}
  assert set(meta["config"]) == set(ht.RobustVAE._param_names())


DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def test_a_file_written_by_the_single_module_code_loads_and_gives_its_results():
  """``data/robust_vae_format1.npz`` was saved by the code that kept the whole tool in one module
  (format version 1, ``tests.helpers.circle(200, seed=0, nu=0.1)``, ROBUST_KW with 250 steps);
  ``..._expected.npz`` holds what that code's transform gave for six new rows. Loaded here, the
  model gives the same L and mask bit for bit."""
  model = ht.RobustVAE.load(os.path.join(DATA, "robust_vae_format1.npz"))
  want = np.load(os.path.join(DATA, "robust_vae_format1_expected.npz"))
  assert model.n_features_in_ == 4 and model.n_samples_fit_ == 200 and model.steps == 250
  np.testing.assert_array_equal(model.transform(want["X"], refine_steps=0).L, want["L"])
  np.testing.assert_array_equal(model.transform(want["X"], refine_steps=0).mask, want["mask"])
  np.testing.assert_array_equal(model.transform(want["X"], refine_steps=20).L, want["L_refined"])


def test_load_any_reads_the_class_the_file_names(fitted, tmp_path):
  """``model_file.load_any`` (the CLI's --model): a VAE file loads as a RobustVAE (an RDA file as
  a RobustRDA: tests/robust/test_autoencoder.py); other files are refused as RobustVAE.load
  refuses them."""
  X, _, model = fitted
  path = model.save(str(tmp_path / "m.npz"))
  loaded = model_file.load_any(path)
  assert type(loaded) is ht.RobustVAE
  same_result(loaded.transform(X[:20]), model.transform(X[:20]))
  np.savez(tmp_path / "other.npz", a=np.ones(3))
  (tmp_path / "text.npz").write_text("not a model")
  for name, match in (("other.npz", "not a hidden_talents.RobustVAE model"),
                      ("text.npz", "corrupt or not a model"), ("absent.npz", "does not exist")):
    with pytest.raises(ValueError, match=match):
      model_file.load_any(str(tmp_path / name))
