"""``hidden_talents.decompose``: VAE vs RPCA on a manifold it was not tuned on, the outlier mask,
bad inputs (Python API and CLI), atomic outputs."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import stat
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hidden_talents
from hidden_talents import metrics
from hidden_talents.data import corrupt, manifold
from hidden_talents.decompose import (
  StagedOutput,
  check_matrix,
  chunk_plan,
  file_fingerprint,
  load_matrix,
  mask_scores,
  outlier_mask,
  read_matrix,
  robust_standardize,
  save_outputs,
  summary_figure,
)

DM = importlib.import_module("hidden_talents.decompose")  # the module, not the function

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def synthetic_manifold(seed: int, n: int, d: int, kappa: int, nu: float,
                       widths=(40, 80)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(X, L, true mask): the engine's ground-truth ReLU decoder (Sec. 5.1) + N(0, 1) outliers."""
  kg, kd, kc = jax.random.split(jax.random.PRNGKey(seed), 3)
  gen = manifold.init_generator(kg, kappa, kappa_max=kappa, widths=widths, data_dim=d)
  _, L = manifold.sample_clean(gen, kd, jnp.arange(n))
  X, mask = corrupt.gaussian_outliers(kc, jnp.arange(n), L, nu)
  return np.asarray(X, np.float64), np.asarray(L, np.float64), np.asarray(mask)


@pytest.mark.slow  # ~30 s on 2 cores (VAE 3·10⁴ steps of a small network + RPCA)
def test_vae_beats_rpca_on_unseen_manifold():
  """Defaults were checked on (seed 0, n 2000, d 50, κ 4, ν 0.1); this is another manifold."""
  X, L, true_mask = synthetic_manifold(seed=11, n=1500, d=40, kappa=3, nu=0.15)
  vae = hidden_talents.decompose(X, method="vae", seed=1)
  rp = hidden_talents.decompose(X, method="rpca")
  nmse_vae, nmse_rpca = float(metrics.nmse(L, vae.L)), float(metrics.nmse(L, rp.L))
  sc_vae, sc_rpca = mask_scores(vae.mask, true_mask), mask_scores(rp.mask, true_mask)
  print(f"NMSE vae {nmse_vae:.4f} rpca {nmse_rpca:.4f} input {float(metrics.nmse(L, X)):.4f}; "
        f"mask vae {sc_vae}, rpca {sc_rpca}")
  assert nmse_vae < nmse_rpca
  np.testing.assert_allclose(vae.L + vae.S, X, atol=1e-9)
  # Measured (CPU, jax 0.10.2, the 3000-step defaults of before 2026-12-02): NMSE VAE 0.023 vs
  # RPCA 0.127 (input 0.259); VAE mask precision 0.82, recall 0.76 (RPCA's residual mask:
  # 0.50 / 0.66). Floors are these minus a margin. With the 3·10⁴-step defaults (stop 23): VAE
  # 0.0019, precision / recall 0.92 / 0.91, 31 s.
  assert sc_vae["precision"] > 0.7 and sc_vae["recall"] > 0.65
  assert sc_vae["f1"] > sc_rpca["f1"]
  assert vae.sample_scores.shape == (1500,)
  # Samples with more true outliers get higher scores.
  assert np.corrcoef(vae.sample_scores, true_mask.mean(axis=1))[0, 1] > 0.5


def test_outlier_mask_on_known_residuals():
  """Gaussian residuals with per-column scales σⱼ plus gross errors: the robust test recovers the
  gross entries and σⱼ, whatever the column scale (a plain |r| > √α test does not)."""
  rng = np.random.default_rng(0)
  n, d = 4000, 6
  sigma = np.array([0.01, 0.03, 0.1, 0.3, 1.0, 3.0])
  R = rng.normal(size=(n, d)) * sigma
  gross = rng.random((n, d)) < 0.05
  R[gross] += 20 * sigma[np.nonzero(gross)[1]] * rng.choice([-1, 1], gross.sum())
  mask, est = outlier_mask(R, alpha=1e-4, threshold=4.0)
  np.testing.assert_allclose(est, sigma, rtol=0.08)
  sc = mask_scores(mask, gross)
  assert sc["precision"] > 0.99 and sc["recall"] > 0.99
  plain = R**2 > 1e-2  # eq. 12 support with α = 1e-2 and no scale: wrong in both directions
  assert mask_scores(plain, gross)["precision"] < 0.5


def test_robust_standardize_ignores_outliers():
  rng = np.random.default_rng(1)
  X = rng.normal(3.0, 2.0, size=(5000, 3))
  X[:, 2] = 7.0  # constant column: centred, scale 1
  X[rng.random(5000) < 0.05, 0] = 1e6
  Z, center, scale = robust_standardize(X)
  np.testing.assert_allclose(center[:2], 3.0, atol=0.25)  # mean would be ≈ 5·10⁴
  np.testing.assert_allclose(scale[:2], 2.0, rtol=0.1)
  assert scale[2] == 1.0 and np.all(Z[:, 2] == 0)
  np.testing.assert_allclose(Z * scale + center, X)


def test_mask_scores():
  t = np.array([[1, 1, 0, 0]], bool)
  p = np.array([[1, 0, 1, 0]], bool)
  assert mask_scores(p, t) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}


@pytest.mark.parametrize("X, match", [
    (np.array([["a", "b"]] * 20), "numeric"),
    (np.arange(50.0), "2-D"),
    (np.zeros((20, 3, 2)), "2-D"),
    (np.where(np.eye(20, 4) > 0, np.nan, 1.0), "NaN or Inf"),
    (np.where(np.eye(20, 4) > 0, np.inf, 1.0), "NaN or Inf"),
    (np.ones((5, 3)), "at least 10 samples"),
    (np.ones((20, 30)), "fewer samples"),
    (np.ones((20, 2)) + 1j, "real"),
    (np.where(np.arange(60).reshape(20, 3) == 14, np.nan, 1.0), "row 5, column 3, counted from 1"),
])
def test_bad_matrix(X, match):
  with pytest.raises(ValueError, match=match):
    hidden_talents.decompose(X, steps=1)


def test_wide_matrix_allowed_for_rpca_only():
  X = np.random.default_rng(0).normal(size=(20, 30))
  check_matrix(X, method="rpca")
  with pytest.raises(ValueError, match="transpose"):
    check_matrix(X, method="vae")


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "steps"), ({"steps": -5}, "steps"), ({"steps": 2.5}, "steps"),
    ({"latent_dim": 0}, "latent_dim"), ({"latent_dim": -1}, "latent_dim"),
    ({"method": "pca"}, "method"), ({"threshold": 0.0}, "threshold"),
    ({"alpha": -1.0}, "alpha"), ({"seed": "x"}, "seed"), ({"hidden_widths": (8, 0)}, "width"),
    ({"method": "rpca", "lam": 0.0}, "lam"), ({"latent_dim": 5}, "exceeds the number of columns")])
def test_bad_arguments(kwargs, match):
  X = np.random.default_rng(0).normal(size=(40, 4))
  with pytest.raises(ValueError, match=match):
    hidden_talents.decompose(X, **kwargs)


def test_load_matrix(tmp_path):
  X = np.arange(24.0).reshape(12, 2)
  np.save(tmp_path / "x.npy", X)
  np.testing.assert_array_equal(load_matrix(str(tmp_path / "x.npy")), X)
  (tmp_path / "h.csv").write_text("a,b\n" + "\n".join(f"{r[0]},{r[1]}" for r in X) + "\n")
  np.testing.assert_array_equal(load_matrix(str(tmp_path / "h.csv")), X)  # header: skipped
  np.testing.assert_array_equal(load_matrix(str(tmp_path / "h.csv"), skip_header=True), X)
  with pytest.raises(ValueError, match="line 1, column 1 has a non-numeric value 'a'"):
    load_matrix(str(tmp_path / "h.csv"), skip_header=False)
  (tmp_path / "bad.csv").write_text("1,2\n3,oops\n")
  with pytest.raises(ValueError, match="line 2, column 2 has a non-numeric value 'oops'"):
    load_matrix(str(tmp_path / "bad.csv"))
  (tmp_path / "ragged.csv").write_text("1,2\n3,4\n3\n")
  with pytest.raises(ValueError, match="different numbers of columns.*line 3 has 1"):
    load_matrix(str(tmp_path / "ragged.csv"))
  (tmp_path / "x.json").write_text("[]")
  with pytest.raises(ValueError, match=".npy, .csv"):
    load_matrix(str(tmp_path / "x.json"))
  with pytest.raises(ValueError, match="does not exist"):
    load_matrix(str(tmp_path / "missing.npy"))
  with pytest.raises(ValueError, match="is a directory"):
    load_matrix(str(tmp_path))
  (tmp_path / "empty.npy").write_bytes(b"")
  with pytest.raises(ValueError, match="empty"):
    load_matrix(str(tmp_path / "empty.npy"))
  np.save(tmp_path / "zero.npy", np.zeros((0, 3)))
  with pytest.raises(ValueError, match="empty array"):
    load_matrix(str(tmp_path / "zero.npy"))
  (tmp_path / "trunc.npy").write_bytes((tmp_path / "x.npy").read_bytes()[:20])
  with pytest.raises(ValueError, match="cannot read"):
    load_matrix(str(tmp_path / "trunc.npy"))


X_CSV = np.array([[1.5, -2.0, 3.0], [4.0, 5.25, -6.0], [7.0, 8.0, 9e-3], [1e5, 0.0, 2.0]])


@pytest.mark.parametrize("name, text, delimiter", [
    ("comma.csv", "\n".join(",".join(map(str, r)) for r in X_CSV), "comma"),
    ("semi.csv", "\n".join(";".join(map(str, r)) for r in X_CSV), "semicolon"),
    ("tab.tsv", "\n".join("\t".join(map(str, r)) for r in X_CSV), "tab"),
    ("space.txt", "\n".join(" ".join(map(str, r)) for r in X_CSV), "whitespace"),
    ("trailing.csv", "\n".join(",".join(map(str, r)) + "," for r in X_CSV), "comma"),
    ("crlf.csv", "\r\n".join(", ".join(map(str, r)) for r in X_CSV) + "\r\n", "comma"),
    ("bom.csv", "\ufeff" + "\n".join(",".join(map(str, r)) for r in X_CSV), "comma"),
    ("bomhead.csv", "\ufeffa;b;c\n" + "\n".join(";".join(map(str, r)) for r in X_CSV),
     "semicolon"),
])
def test_csv_dialects_read_every_row(tmp_path, name, text, delimiter):
  """Delimiter detected, BOM and trailing delimiters stripped, and no data row dropped."""
  (tmp_path / name).write_text(text + "\n", encoding="utf-8")
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    X, info = read_matrix(str(tmp_path / name))
  np.testing.assert_array_equal(X, X_CSV)
  assert info["delimiter"] == delimiter
  assert info["bom"] == ("bom" in name)
  assert (info["header"] is not None) == ("head" in name)


def test_savetxt_default_and_explicit_delimiter(tmp_path):
  np.savetxt(tmp_path / "s.txt", X_CSV)  # numpy's default: space-delimited, '%.18e'
  np.testing.assert_array_equal(load_matrix(str(tmp_path / "s.txt")), X_CSV)
  (tmp_path / "semi.csv").write_text("1;2\n3;4\n")
  np.testing.assert_array_equal(load_matrix(str(tmp_path / "semi.csv"), delimiter=";"),
                                [[1, 2], [3, 4]])
  with pytest.raises(ValueError, match="line 2, column 1 has a non-numeric value .3;4."):
    load_matrix(str(tmp_path / "semi.csv"), delimiter=",")
  with pytest.raises(ValueError, match="delimiter must be one of"):
    load_matrix(str(tmp_path / "semi.csv"), delimiter="|")
  (tmp_path / "euro.csv").write_text("1,5;2,5\n3,5;4,5\n")  # decimal commas: not read
  with pytest.raises(ValueError,
                     match=r"line 1, column 2 .*'5;2'.*detected\); if the delimiter is wrong, "
                           "pass --delimiter"):
    load_matrix(str(tmp_path / "euro.csv"))
  (tmp_path / "typo.csv").write_text("1,2,x\n3,4,5\n")  # a data row with a typo: not a header
  with pytest.raises(ValueError, match="line 1, column 3 has a non-numeric value 'x'"):
    load_matrix(str(tmp_path / "typo.csv"))
  (tmp_path / "words.csv").write_text("a b\nc d\n")
  with pytest.raises(ValueError, match="cannot detect the delimiter"):
    load_matrix(str(tmp_path / "words.csv"))


def test_skip_header_on_headerless_file_warns(tmp_path):
  """Documented choice: --skip_header always drops line 1 (for headers of numbers), but warns
  when that line is numeric, since it is then probably a data row."""
  (tmp_path / "x.csv").write_text("\n".join(",".join(map(str, r)) for r in X_CSV))
  with pytest.warns(UserWarning, match="dropped line 1 although it is numeric"):
    X = load_matrix(str(tmp_path / "x.csv"), skip_header=True)
  np.testing.assert_array_equal(X, X_CSV[1:])


def _fake_train(monkeypatch, noise: float = 0.3, calls: list | None = None):
  """Replaces the VAE training and its reconstruction by Z + heavy-tailed noise (fast and known;
  the same noise for the same rows, so fit and transform agree)."""
  def fake(Z, settings, *, steps, seed, kl_warmup=0, progress=True):
    if calls is not None:
      calls.append(steps)
    return {"seed": seed}, {"loss_history": [1.0], "steps": steps}

  def fake_apply(settings, params, Z, **refine):
    rng = np.random.default_rng(params["seed"])
    return Z + noise * rng.standard_t(2, size=Z.shape)
  monkeypatch.setattr(DM, "train_vae", fake)
  monkeypatch.setattr(DM, "apply_vae", fake_apply)


def test_constant_column_gets_no_spurious_flags(monkeypatch):
  rng = np.random.default_rng(0)
  X = rng.normal(size=(400, 4))
  X[:, 1] = 3.25
  _fake_train(monkeypatch)
  res = hidden_talents.decompose(X, steps=5)
  # Without the rule the heavy-tailed reconstruction error of column 2 is flagged (√α = 0.1 in
  # units of its fallback scale 1); other columns keep their flags.
  assert not res.mask[:, 1].any()
  assert res.mask[:, [0, 2, 3]].any()
  np.testing.assert_array_equal(res.L[:, 1], 3.25)
  assert res.info["constant_columns"] == 1
  np.testing.assert_array_equal(res.S_sparse, np.where(res.mask, res.S, 0.0))
  assert np.all(res.S_sparse[~res.mask] == 0) and np.any(res.S[~res.mask] != 0)


def test_huge_values_refused_before_training(monkeypatch):
  calls = []
  _fake_train(monkeypatch, calls=calls)
  X = np.random.default_rng(0).normal(size=(50, 3))
  X[7, 2] = -1e200
  for method in ("vae", "rpca"):
    with pytest.raises(ValueError, match="row 8, column 3 .* too large|too large.*row 8, column 3"):
      hidden_talents.decompose(X, method=method)
  assert calls == []
  X[7, 2] = 1e300
  X[8, 2] = -1e300  # x − median would overflow float64 too
  with pytest.raises(ValueError, match="too large"):
    hidden_talents.decompose(X)
  Xs = np.random.default_rng(0).normal(size=(50, 3)) * 1e200  # large but consistent units: fine
  res = hidden_talents.decompose(Xs, steps=5)
  assert np.all(np.isfinite(res.L)) and calls == [5]


def test_overflowing_values_refused_and_huge_scales_without_overflow(monkeypatch):
  _fake_train(monkeypatch)
  X = np.random.default_rng(0).normal(size=(50, 3))
  X[:, 1] = np.where(np.arange(50) % 2, 1e308, -1e308)  # 1.4826·MAD would be inf
  for method in ("vae", "rpca"):
    with pytest.raises(ValueError, match=r"beyond ±1e\+300 \(50 entries; first at row 1, column 2"):
      hidden_talents.decompose(X, method=method)
  X[:, 1] /= 1e108  # ±1e200: a legal column, but its squares overflow float64
  X[:10, 2] = 0.0
  X[10:, 2] = np.where(np.arange(40) % 2, 1e200, 0.0)  # MAD 0: the std fallback squares 1e200
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # no 'overflow encountered in square'
    Z, _, scale = robust_standardize(X)
    res = hidden_talents.decompose(X, steps=5)
  assert np.all(np.isfinite(scale)) and np.all(np.isfinite(Z))
  np.testing.assert_allclose(scale[2], np.std(X[:, 2] / 1e200) * 1e200)
  assert np.all(np.isfinite(res.L))


def test_missing_value_tokens_in_text(tmp_path):
  (tmp_path / "pd.csv").write_text("a,b,c\n1,,3\nNA,2,n/a\n4,5,\n")  # pandas' to_csv of NaN
  X = read_matrix(str(tmp_path / "pd.csv"), missing_values=True)[0]
  np.testing.assert_array_equal(X, [[1, np.nan, 3], [np.nan, 2, np.nan], [4, 5, np.nan]])
  with pytest.raises(ValueError, match="line 2, column 2 has a non-numeric value ''.*pass "
                                       "--missing_nan"):
    read_matrix(str(tmp_path / "pd.csv"))
  (tmp_path / "trail.csv").write_text("1,2,\n3,4,\n")  # every line ends with ',': no empty cell
  np.testing.assert_array_equal(read_matrix(str(tmp_path / "trail.csv"), missing_values=True)[0],
                                [[1, 2], [3, 4]])
  (tmp_path / "years.csv").write_text("id,2019,2020\n1,2,3\n")  # a header holding numbers
  with pytest.raises(ValueError, match="'id'.*if line 1 is a header, pass --skip_header"):
    read_matrix(str(tmp_path / "years.csv"))
  (tmp_path / "na_first.csv").write_text("NA,NA\n1,2\n")  # a row of missing values: data
  X, info = read_matrix(str(tmp_path / "na_first.csv"), missing_values=True)
  assert X.shape == (2, 2) and np.isnan(X[0]).all() and info["header"] is None
  (tmp_path / "semi.csv").write_text("1;2\n3;4\n")  # the wrong --delimiter: line 1 looks a header
  with pytest.raises(ValueError, match="line 2.*first line was skipped as a header.*delimiter "
                                       "character: is --delimiter right"):
    read_matrix(str(tmp_path / "semi.csv"), delimiter=",")


def test_sample_scores_count_observed_entries(monkeypatch):
  _fake_train(monkeypatch, noise=1.0)
  X = np.random.default_rng(1).normal(size=(200, 4))
  missing = np.zeros(X.shape, bool)
  missing[:20, :2] = True
  res = hidden_talents.decompose(X, missing=missing, steps=5)
  assert res.mask[:20].any()
  np.testing.assert_array_equal(res.sample_scores, res.mask.sum(1) / (~missing).sum(1))
  assert res.info["flagged_fraction"] == res.mask.sum() / (~missing).sum()
  score = float(DM.rows_csv(res).splitlines()[1].split(",")[2])
  np.testing.assert_allclose(score, res.mask[0].sum() / 2, rtol=1e-5)


def test_settings_recorded(monkeypatch):
  _fake_train(monkeypatch)
  X = np.random.default_rng(0).normal(size=(50, 6))
  s = hidden_talents.decompose(X, steps=7, seed=3, threshold=2.5).info["settings"]
  assert s == {"method": "vae", "seed": 3, "alpha": 1e-2, "threshold": 2.5, "latent_dim": 3,
               "steps": 7, "hidden_widths": [32, 64], "batch_size": 50, "learning_rate": 1e-3,
               "num_latent_samples": 1, "kl_warmup": 2, "decoder_variance": "optimal",
               "encoder_clip": DM.ENCODER_CLIP, "refine_steps": DM.REFINE_STEPS}


def test_loss_trend_tells_a_falling_curve_from_a_flat_one(monkeypatch):
  rng = np.random.default_rng(0)
  noise = 0.3 * rng.normal(size=120)
  warm = [1e6] * 20  # the warm-up's chunks are skipped
  flat = DM.loss_trend(warm + list(5.0 + noise), skip=20)
  falling = DM.loss_trend(warm + list(5.0 + noise - 0.05 * np.arange(120)), skip=20)
  assert flat["converged"] is True and falling["converged"] is False
  # 120 chunks: windows of 12; the drop is 12 chunks × 0.05 = 0.6, its standard error ~0.12.
  assert abs(falling["loss_drop"] - 0.6) < 3 * falling["loss_drop_noise"]
  assert abs(flat["loss_drop"]) < 3 * flat["loss_drop_noise"]
  assert DM.loss_trend(warm + [1.0, 2.0, 3.0], skip=20)["converged"] is None  # too short
  assert DM.loss_trend([1.0] * 10 + [float("nan")] + [1.0] * 9)["converged"] is None
  monkeypatch.setattr(DM, "CHUNK_STEPS", 4)  # 10 chunks of 4 steps: windows of 2
  res = hidden_talents.decompose(rng.normal(size=(60, 3)), steps=40, kl_warmup=0,
                                 hidden_widths=(8, 8))
  want = DM.loss_trend(res.info["loss_history"])
  assert len(res.info["loss_history"]) == 10 and want["converged"] is not None
  assert {k: res.info[k] for k in want} == want


def test_latent_usage_reads_w1_and_sigma_z_as_the_paper_does():
  """Sec. 5.2: a W₁ column counts when its norm is ≥ 0.05 × the largest (exact zeros never);
  Sec. 5.3 / Figure 4: a coordinate whose mean σz² is near 0 (< 0.1) is in use."""
  got = DM.latent_usage(np.array([0.04, 2.0, 0.11, 0.0, 0.09]),
                        np.array([0.002, 0.95, 0.099, 1.0, 0.3]))
  assert got == {"latent_dims_used": 2, "latent_dims_sigma_z": 2,
                 "w1_column_norms": [2.0, 0.11, 0.09, 0.04, 0.0],
                 "sigma_z_mean": [0.002, 0.099, 0.3, 0.95, 1.0]}
  assert DM.latent_usage(np.zeros(4), np.ones(4))["latent_dims_used"] == 0
  norms = np.random.default_rng(0).exponential(size=(7,))
  assert (DM.latent_usage(norms, np.ones(7))["latent_dims_used"]
          == int(metrics.nonzero_from_norms(norms)))


@pytest.mark.parametrize("rank, n, d, seed", [
    (2, 600, 20, 2), pytest.param(4, 800, 24, 3, marks=pytest.mark.slow)])  # ~12 s each
def test_sigma_z_count_finds_the_rank_of_linear_data(rank, n, d, seed):
  """Hypothesis (ii) read off Σz (Sec. 5.3, Figure 4) on RPCA's home ground: rank r + 10 % ±1
  sparse errors, κ = 8 > r. The coordinates in use get mean σz² ≈ 0, the others ≈ 1. Measured
  (stop 28, 6000 steps, these two cases and rank 3 on two seeds): the σz count was the rank every
  time, the used coordinates at σz² ≤ 0.023 and the unused at ≥ 0.24. It needs the budget: at
  3000 steps the rank-2 case still had a third coordinate at 0.096 (counted). Sec. 5.2's W₁ rule
  counted 6–8 here (it overcounts under these budgets, BENCHMARKS.md), so it is only checked to
  be ≥ the rank."""
  from hidden_talents.data import lowrank
  out = lowrank.lowrank_plus_sparse(jax.random.PRNGKey(seed), rank, 0.1, shape=(n, d))
  info = hidden_talents.RobustVAE(latent_dim=8, steps=6000, seed=0).fit(
      np.asarray(out.X, np.float64)).fit_info
  assert info["latent_dims_sigma_z"] == rank, info["sigma_z_mean"]
  assert rank <= info["latent_dims_used"] <= 8
  assert len(info["sigma_z_mean"]) == len(info["w1_column_norms"]) == 8


def test_chunk_plan_runs_exactly_the_steps():
  assert chunk_plan(DM.DEFAULT_STEPS, 250) == [250] * 120  # the default
  assert chunk_plan(251, 250) == [250, 1]
  assert chunk_plan(9, 4) == [4, 4, 1]
  assert sum(chunk_plan(997, 250)) == 997


def test_steps_not_a_multiple_of_the_chunk_run_exactly(monkeypatch):
  """The engine's own step counter: 9 steps with chunks of 4 are 4 + 4 + 1, not 12."""
  monkeypatch.setattr(DM, "CHUNK_STEPS", 4)
  X, _, _ = synthetic_manifold(seed=0, n=40, d=3, kappa=1, nu=0.0, widths=(4, 4))
  res = hidden_talents.decompose(X, steps=9, hidden_widths=(4, 4), batch_size=8)
  assert res.info["steps"] == 9
  assert len(res.info["loss_history"]) == 3


def _result(n=30, d=4, seed=0):
  X = np.random.default_rng(seed).normal(size=(n, d))
  return X, hidden_talents.decompose(X, method="rpca")


def test_save_outputs_refuses_nonempty_unless_overwrite(tmp_path):
  X, res = _result()
  out = tmp_path / "o"
  out.mkdir()
  (out / "mine.txt").write_text("keep me")
  with pytest.raises(ValueError, match="not empty.*mine.txt.*overwrite"):
    save_outputs(str(out), X, res)
  assert os.listdir(out) == ["mine.txt"]
  save_outputs(str(out), X, res, overwrite=True)
  assert "mine.txt" not in os.listdir(out)  # replaced as a whole, not mixed
  assert sorted(os.listdir(out)) == sorted(DM.OUTPUT_FILES)
  np.testing.assert_array_equal(np.load(out / "mask.npy"), res.mask)
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no staging left behind
  (tmp_path / "empty").mkdir()
  save_outputs(str(tmp_path / "empty"), X, res)  # an empty directory is fine


def test_save_outputs_file_modes(tmp_path):
  X, res = _result()
  save_outputs(str(tmp_path / "o"), X, res)
  umask = os.umask(0)
  os.umask(umask)
  for name in DM.OUTPUT_FILES:
    assert stat.S_IMODE(os.stat(tmp_path / "o" / name).st_mode) == 0o666 & ~umask, name
  assert stat.S_IMODE(os.stat(tmp_path / "o").st_mode) == 0o777 & ~umask


def test_save_outputs_all_or_nothing(tmp_path, monkeypatch):
  """A failure while writing (e.g. a full disk at the last file) leaves the old result intact."""
  X, res = _result()
  out = tmp_path / "o"
  save_outputs(str(out), X, res)
  before = {n: (out / n).read_bytes() for n in os.listdir(out)}
  X2, res2 = _result(seed=1)

  def full_disk(*a, **k):
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(DM, "summary_figure", full_disk)
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
  _fake_train(monkeypatch, calls=calls)
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
  X, res = _result(n=12, d=2)
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


def test_summary_figure_images():
  import matplotlib.pyplot as plt
  X, res = _result(n=20, d=16)
  fig = summary_figure(X, res, images=True)
  assert len(fig.axes) == 3 + 4 * 3  # top row + 4 rows × (X, L, mask)
  plt.close(fig)
  fig = summary_figure(X, res)
  assert len(fig.axes) == 6
  plt.close(fig)
  X, res = _result(n=20, d=15)
  with pytest.raises(ValueError, match="square number"):
    summary_figure(X, res, images=True)


def _cli(args):
  return subprocess.run([sys.executable, "-m", "launch.decompose", *args], cwd=REPO,
                        capture_output=True, text=True, timeout=600,
                        env=dict(os.environ, PYTHONPATH=REPO))


def test_cli_end_to_end_and_bad_inputs(tmp_path):
  X, L, _ = synthetic_manifold(seed=3, n=300, d=8, kappa=2, nu=0.1, widths=(8, 16))
  np.savetxt(tmp_path / "x.csv", X, delimiter=",")
  out = tmp_path / "out"
  proc = _cli([f"--input={tmp_path / 'x.csv'}", f"--output={out}", "--steps=250", "--quiet"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  names = sorted(os.listdir(out))
  assert names == sorted(DM.OUTPUT_FILES)
  Lh, S = np.load(out / "L.npy"), np.load(out / "S.npy")
  np.testing.assert_allclose(Lh + S, X, atol=1e-9)  # un-standardised: X's units
  assert np.load(out / "mask.npy").dtype == bool
  summary = json.loads((out / "summary.json").read_text())
  assert summary["n"] == 300 and summary["latent_dim"] == 4  # κ = d / 2
  # Which latent coordinates the fit uses is recorded; the note says when all κ are in use.
  assert len(summary["sigma_z_mean"]) == 4 and 0 <= summary["latent_dims_sigma_z"] <= 4
  assert ("latent coordinates are in use" in proc.stderr) == (summary["latent_dims_sigma_z"] == 4)
  # Bad inputs: one clear line, exit code 2, and the output directory is never created.
  (tmp_path / "nonnum.csv").write_text("1,2\nx,3\n" * 10)
  np.save(tmp_path / "vec.npy", np.arange(30.0))
  cases = [([f"--input={tmp_path / 'nonnum.csv'}"], "non-numeric"),
           ([f"--input={tmp_path / 'vec.npy'}"], "2-D"),
           ([f"--input={tmp_path / 'x.csv'}", "--steps=0"], "steps")]
  for args, match in cases:
    target = tmp_path / "never"
    proc = _cli([*args, f"--output={target}"])
    assert proc.returncode == 2, (args, proc.stderr[-2000:])
    assert match in proc.stderr, (match, proc.stderr[-2000:])
    assert not target.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_save_outputs_atomic(tmp_path):
  X = np.random.default_rng(0).normal(size=(30, 3))
  res = hidden_talents.decompose(X, method="rpca")
  save_outputs(str(tmp_path / "o"), X, res)
  names = os.listdir(tmp_path / "o")
  assert not [n for n in names if n.startswith(".tmp-")]
  np.testing.assert_array_equal(np.load(tmp_path / "o" / "mask.npy"), res.mask)
