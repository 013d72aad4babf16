"""``hidden_talents.RobustVAE``: fit once, transform new rows, save/load, no recompiling (issue 16,
section 2). Tiny networks and few steps: one compile of the shared settings serves the file."""

from __future__ import annotations

import importlib
import json
import os
import stat
import zipfile

import numpy as np
import pytest

import hidden_talents as ht
from hidden_talents import metrics
from tests.helpers import ROBUST_KW as KW
from tests.helpers import circle

DM = importlib.import_module("hidden_talents.decompose")  # the module, not the function


@pytest.fixture(scope="module")
def fitted():
  X, L = circle(200, seed=0, nu=0.1)
  return X, L, ht.RobustVAE(**KW).fit(X)


def _same(a, b):
  for name in ("L", "S", "mask", "S_sparse", "sample_scores", "noise_scale"):
    np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_decompose_is_fit_then_transform(fitted):
  X, _, model = fitted
  res = ht.decompose(X, **KW)
  _same(res, model.transform(X))
  assert res.info["settings"] == model.used_settings()
  assert res.info["loss_history"] == model.fit_info["loss_history"]
  np.testing.assert_allclose(res.L + res.S, X, atol=1e-12)


def test_second_fit_and_transform_do_not_retrace(fitted):
  X, _, model = fitted
  model.transform(X[:50])
  before = dict(DM.TRACES)
  other = ht.RobustVAE(**{**KW, "seed": 7}).fit(X + 0.5)  # same shapes, other values and seed
  other.transform(X[:50])
  assert dict(DM.TRACES) == before
  assert not np.array_equal(other.transform(X).L, model.transform(X).L)


def test_transform_new_rows_of_the_same_manifold(fitted):
  X, L, model = fitted
  X_new, L_new = circle(60, seed=5, nu=0.1)
  res = model.transform(X_new)
  assert res.L.shape == res.S.shape == res.mask.shape == (60, 4)
  assert res.sample_scores.shape == (60,) and res.info["n"] == 60
  assert res.info["fitted_rows"] == 200
  np.testing.assert_array_equal(res.noise_scale, model.transform(X).noise_scale)  # fitted σⱼ
  nmse_new, nmse_input = float(metrics.nmse(L_new, res.L)), float(metrics.nmse(L_new, X_new))
  print(f"new rows: NMSE {nmse_new:.4f} vs input {nmse_input:.4f}")
  assert np.isfinite(nmse_new) and nmse_new < nmse_input  # 400 steps: better than doing nothing
  one = model.transform(X_new[:1])  # a single row is fine
  assert one.L.shape == (1, 4) and np.all(np.isfinite(one.L))
  # The encoder's reconstruction of a row does not depend on the rows beside it. The refined one
  # does, a little: Adam's noisy steps amplify the rounding of other matmul shapes (BENCHMARKS.md,
  # stop 26), so only the unrefined row is compared.
  np.testing.assert_allclose(model.transform(X_new[:1], refine_steps=0).L,
                             model.transform(X_new, refine_steps=0).L[:1], rtol=1e-6, atol=1e-6)
  stricter = model.transform(X_new, threshold=30.0)
  assert stricter.mask.sum() <= res.mask.sum() and stricter.info["threshold"] == 30.0


def test_transform_refuses_bad_rows(fitted):
  X, _, model = fitted
  with pytest.raises(ValueError, match="3 columns, but the model was fitted on rows of d = 4"):
    model.transform(X[:, :3])
  with pytest.raises(ValueError, match="NaN or Inf"):
    model.transform(np.full((2, 4), np.nan))
  Y = X[:5].copy()
  Y[2, 1] = 1e200
  with pytest.raises(ValueError, match="too large for training: row 3, column 2"):
    model.transform(Y)
  with pytest.raises(ValueError, match="not fitted"):
    ht.RobustVAE().transform(X)
  with pytest.raises(ValueError, match="not fitted"):
    ht.RobustVAE().save("never.npz")
  with pytest.raises(ValueError, match="steps"):
    ht.RobustVAE(steps=0)


def test_save_load_round_trip_is_bit_identical(fitted, tmp_path):
  X, _, model = fitted
  path = str(tmp_path / "model.npz")
  assert model.save(path) == path
  umask = os.umask(0)
  os.umask(umask)
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
  assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left
  with np.load(path, allow_pickle=False) as z:  # plain arrays: no pickle needed
    assert str(z["format"]) == DM.MODEL_FORMAT and int(z["format_version"]) == 1
  loaded = ht.RobustVAE.load(path)
  assert loaded.config == model.config and loaded.settings == model.settings
  assert loaded.used_settings() == model.used_settings()
  X_new, _ = circle(30, seed=9, nu=0.1)
  for rows in (X, X_new):
    _same(loaded.transform(rows), model.transform(rows))
  assert "fitted on 200 × 4" in repr(loaded)
  model.save(path)  # replacing an existing file is fine (atomic rename)
  with pytest.raises(ValueError, match="is a directory"):
    model.save(str(tmp_path))
  with pytest.raises(ValueError, match="does not exist"):
    model.save(str(tmp_path / "no" / "m.npz"))


def _rewrite(src: str, dst: str, **changes) -> None:
  with np.load(src, allow_pickle=False) as z:
    arrays = {k: z[k] for k in z.files}
  arrays.update(changes)
  arrays = {k: v for k, v in arrays.items() if v is not None}
  np.savez(dst, **arrays)


def test_a_model_is_applied_with_the_encoder_clip_it_was_trained_with(fitted, tmp_path):
  """The encoder clip is part of the model: saved, loaded, and 0 for files from before it."""
  X, _, model = fitted
  assert model.settings.encoder_clip == DM.ENCODER_CLIP > 0
  path, old = str(tmp_path / "m.npz"), str(tmp_path / "old.npz")
  model.save(path)
  assert ht.RobustVAE.load(path).settings.encoder_clip == DM.ENCODER_CLIP
  meta = json.loads(str(np.load(path)["meta"]))
  assert meta["config"].pop("encoder_clip") is None  # None = the default, resolved at fit
  _rewrite(path, old, meta=np.array(json.dumps(meta)))
  legacy = ht.RobustVAE.load(old)
  assert legacy.settings.encoder_clip == 0.0
  far = X[:5].copy()
  far[:, 0] = model.center[0] + 100 * DM.ENCODER_CLIP * model.scale[0]  # beyond the clip
  assert not np.allclose(legacy.transform(far).L, model.transform(far).L)
  _same(legacy.transform(X[:5] * 0 + model.center), model.transform(X[:5] * 0 + model.center))


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


def test_compilation_cache_dir(monkeypatch, tmp_path):
  monkeypatch.setenv("HIDDEN_TALENTS_CACHE", str(tmp_path / "c"))
  assert DM.compilation_cache_dir() == str(tmp_path / "c" / "jax")
  monkeypatch.delenv("HIDDEN_TALENTS_CACHE")
  assert DM.compilation_cache_dir() == os.path.expanduser("~/.cache/hidden_talents/jax")
  (tmp_path / "f").write_text("")
  with pytest.warns(UserWarning, match="compiling without it"):
    assert DM.enable_compilation_cache(str(tmp_path / "f" / "jax")) is None


def test_warmup_and_decoder_variance_settings(fitted, tmp_path):
  """kl_warmup and decoder_variance reach the engine: a warm-up changes the fit, a learned
  decoder variance has its own parameters and survives save/load; bad values are refused."""
  X, _, model = fitted
  assert model.used_settings()["kl_warmup"] == DM.resolve_kl_warmup(None, KW["steps"])
  off = ht.RobustVAE(**{**KW, "kl_warmup": 0}).fit(X)
  warm = ht.RobustVAE(**{**KW, "kl_warmup": 200}).fit(X)
  assert warm.used_settings()["kl_warmup"] == 200 and warm.fit_info["kl_warmup"] == 200
  assert not np.array_equal(warm.transform(X).L, off.transform(X).L)
  learned = ht.RobustVAE(**{**KW, "decoder_variance": "learned"}).fit(X)
  assert learned.settings.decoder_variance == "learned"
  assert set(DM._flat_params(learned.params)) > set(DM._flat_params(off.params))
  path = str(tmp_path / "learned.npz")
  learned.save(path)
  loaded = ht.RobustVAE.load(path)
  assert loaded.used_settings()["decoder_variance"] == "learned"
  _same(loaded.transform(X), learned.transform(X))
  for kw, match in (({"kl_warmup": -1}, "kl_warmup"), ({"kl_warmup": 1.5}, "kl_warmup"),
                    ({"decoder_variance": "diagonal"}, "decoder_variance")):
    with pytest.raises(ValueError, match=match):
      ht.RobustVAE(**{**KW, **kw})


def test_files_without_the_newer_settings_load_as_trained(fitted, tmp_path):
  """A model file written before kl_warmup / decoder_variance existed was trained without a
  warm-up and with the optimised-out Σx: it loads as such, whatever today's defaults are."""
  X, _, _ = fitted
  old = ht.RobustVAE(**{**KW, "kl_warmup": 0, "decoder_variance": "optimal"}).fit(X)
  good = str(tmp_path / "new.npz")
  old.save(good)
  meta = json.loads(str(np.load(good)["meta"]))
  for key in ("kl_warmup", "decoder_variance"):
    del meta["config"][key]
  _rewrite(good, str(tmp_path / "old.npz"), meta=np.array(json.dumps(meta)))
  loaded = ht.RobustVAE.load(str(tmp_path / "old.npz"))
  assert loaded.config["kl_warmup"] == 0 and loaded.config["decoder_variance"] == "optimal"
  _same(loaded.transform(X), old.transform(X))


def test_alpha_default_follows_ties_in_the_data():
  """α = 10⁻² on continuous data; α = 1 when a quarter or more of the entries equal their
  column's median (images), where α = 10⁻² makes a constant output nearly optimal; a given α
  always wins."""
  rng = np.random.default_rng(0)
  Xc = rng.normal(size=(300, 8))
  Zc, _, _ = DM.robust_standardize(Xc)
  assert DM.tied_fraction(Zc) < 0.01 and DM.resolve_alpha(None, Zc) == DM.DEFAULT_ALPHA
  Xt = np.where(rng.random((300, 8)) < 0.7, 0.0, rng.random((300, 8)))  # 70 % exact zeros
  Zt, _, _ = DM.robust_standardize(Xt)
  assert DM.tied_fraction(Zt) > 0.6 and DM.resolve_alpha(None, Zt) == DM.TIED_ALPHA == 1.0
  assert DM.resolve_alpha(0.3, Zt) == 0.3
  model = ht.RobustVAE(**KW).fit(Xt)
  assert model.settings.alpha == 1.0 == model.used_settings()["alpha"]
  assert model.transform(Xt).info["alpha"] == 1.0 and model.fit_info["tied_fraction"] > 0.6


def test_missing_entries_are_left_out_and_filled_in():
  """Entries marked missing never enter the fit (any values there give bit-identical results),
  are filled in L from the other entries of their row (better than the column median), and are
  0 in S and never flagged; an all-False mask is the same as no mask."""
  rng = np.random.default_rng(3)
  L = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 4))  # rank 2 in R⁴: learnt in 1000 steps
  X = L + 0.01 * rng.normal(size=L.shape)
  missing = rng.random(X.shape) < 0.1
  kw = {**KW, "steps": 1000}
  a = ht.RobustVAE(**kw).fit(np.where(missing, 1e3, X), missing=missing)
  b = ht.RobustVAE(**kw).fit(np.where(missing, np.nan, X), missing=missing)
  ra = a.transform(np.where(missing, -7.0, X), missing=missing)
  rb = b.transform(np.where(missing, np.nan, X), missing=missing)
  _same(ra, rb)
  assert a.fit_info["missing_entries"] == int(missing.sum())
  assert np.all(np.isfinite(ra.L)) and not ra.mask[missing].any()
  assert np.all(ra.S[missing] == 0.0) and np.all(ra.S_sparse[missing] == 0.0)
  fill_err = np.mean((ra.L[missing] - L[missing]) ** 2)
  median_err = np.mean((np.median(X, axis=0)[np.nonzero(missing)[1]] - L[missing]) ** 2)
  print(f"fill-in MSE {fill_err:.4f} vs column median {median_err:.4f}")
  assert fill_err < 0.5 * median_err  # measured 0.93 vs 2.06
  plain = ht.RobustVAE(**kw).fit(X)
  _same(ht.RobustVAE(**kw).fit(X, missing=np.zeros(X.shape, bool)).transform(X),
        plain.transform(X))
  np.testing.assert_array_equal(ht.decompose(X, missing=missing, **kw).L, rb.L)


def test_bad_missing_masks_are_refused():
  X, _ = circle(50, seed=1, nu=0.1)
  for missing, match in ((np.zeros((50, 3), bool), "shape"), (np.zeros(X.shape), "boolean"),
                         (np.eye(50, 4, dtype=bool) | (np.arange(4)[None] == 2), "column 3")):
    with pytest.raises(ValueError, match=match):
      ht.RobustVAE(**KW).fit(X, missing=missing)
  with pytest.raises(ValueError, match="method='vae'"):
    ht.decompose(X, method="rpca", missing=np.zeros(X.shape, bool))


def test_default_steps_are_passes_over_the_rows(monkeypatch, tmp_path):
  """steps=None trains DEFAULT_EPOCHS passes over the rows, clipped to [DEFAULT_STEPS,
  MAX_DEFAULT_STEPS]; the steps run and the warm-up derived from them are recorded and survive
  save/load; a given steps wins."""
  assert DM.resolve_steps(None, 2000, 100) == DM.DEFAULT_STEPS == 30_000  # 300 passes = 6000
  assert DM.resolve_steps(None, 10_000, 100) == 30_000  # 300 passes = 30 000
  assert DM.resolve_steps(None, 20_000, 100) == 60_000
  assert DM.resolve_steps(None, 10**6, 100) == DM.MAX_DEFAULT_STEPS == 100_000
  assert DM.resolve_steps(None, 40, 100) == DM.DEFAULT_STEPS  # batch capped at n: 300 passes
  assert DM.resolve_steps(251, 10**6, 100) == 251
  monkeypatch.setattr(DM, "DEFAULT_STEPS", 10)
  monkeypatch.setattr(DM, "DEFAULT_EPOCHS", 3)
  X, _ = circle(200, seed=0, nu=0.1)
  model = ht.RobustVAE(**{**KW, "steps": None}).fit(X)  # ⌈3 · 200 / 32⌉ = 19 steps
  assert model.fit_info["steps"] == 19 == model.used_settings()["steps"]
  assert model.used_settings()["kl_warmup"] == int(DM.DEFAULT_WARMUP_FRACTION * 19)
  assert len(model.fit_info["loss_history"]) == 1  # one chunk of 19 steps
  loaded = ht.RobustVAE.load(model.save(str(tmp_path / "m.npz")))
  assert loaded.config["steps"] is None and loaded.used_settings() == model.used_settings()
  _same(loaded.transform(X), model.transform(X))
