"""The decompose command line (``python -m launch.decompose``, ``hidden-talents-decompose``): never
lose or mix up a result; bad input is one ``error:`` line and exit 2, before any work. RPCA (no
training compile) keeps the runs that finish fast."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hidden_talents.robust.outputs import OUTPUT_FILES
from tests.robust.support import synthetic_manifold

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(*args, timeout=300):
  return subprocess.run([sys.executable, "-m", "launch.decompose", *map(str, args)], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout,
                        env=dict(os.environ, PYTHONPATH=REPO))


@pytest.fixture(autouse=True, scope="module")
def _compilation_cache(tmp_path_factory):
  """The CLI keeps compiled programs in $HT_COMPILE_CACHE: one for this file, not ~/.cache."""
  old = os.environ.get("HT_COMPILE_CACHE")
  os.environ["HT_COMPILE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
  yield
  if old is None:
    del os.environ["HT_COMPILE_CACHE"]
  else:
    os.environ["HT_COMPILE_CACHE"] = old


@pytest.fixture
def data(tmp_path):
  X = np.random.default_rng(0).normal(size=(40, 4))
  np.savetxt(tmp_path / "x.txt", X)  # numpy's default: space-delimited
  return X, tmp_path / "x.txt"


def test_records_input_and_refuses_to_overwrite(tmp_path, data):
  X, path = data
  out = tmp_path / "out"
  p = _cli(f"--input={path}", f"--output={out}", "--method=rpca", "--seed=5")
  assert p.returncode == 0, p.stderr[-2000:]
  summary = json.loads((out / "summary.json").read_text())
  assert summary["input"]["path"] == str(path)
  assert summary["input"]["size_bytes"] == os.path.getsize(path)
  assert summary["input"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
  assert summary["input"]["delimiter"] == "whitespace" and summary["input"]["rows"] == 40
  assert summary["settings"]["seed"] == 5 and summary["settings"]["method"] == "rpca"
  assert "--seed=5" in summary["argv"]
  L, S, Ss, mask = (np.load(out / f"{n}.npy") for n in ("L", "S", "S_sparse", "mask"))
  np.testing.assert_allclose(L + S, np.loadtxt(path), atol=1e-9)
  np.testing.assert_array_equal(Ss, np.where(mask, S, 0))
  assert (out / "rows.csv").read_text().splitlines()[1].startswith("1,")
  before = {n: (out / n).read_bytes() for n in os.listdir(out)}
  # A second run into the same directory: refused before any work, nothing touched.
  p = _cli(f"--input={path}", f"--output={out}", "--method=rpca", "--seed=6")
  assert p.returncode == 2 and "not empty" in p.stderr and "--overwrite" in p.stderr
  assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before
  p = _cli(f"--input={path}", f"--output={out}", "--method=rpca", "--seed=6", "--overwrite")
  assert p.returncode == 0, p.stderr[-2000:]
  assert json.loads((out / "summary.json").read_text())["settings"]["seed"] == 6
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_unwritable_output_fails_before_training(tmp_path, data):
  _, path = data
  (tmp_path / "f").write_text("")
  p = _cli(f"--input={path}", f"--output={tmp_path / 'f' / 'out'}", "--steps=5")
  assert p.returncode == 2, p.stderr[-2000:]
  assert "cannot write the output directory" in p.stderr
  assert "[decompose] step" not in p.stderr  # the progress line of training never started
  assert "Traceback" not in p.stderr


def test_skip_header_on_headerless_file_warns_and_records(tmp_path, data):
  X, path = data
  out = tmp_path / "out"
  p = _cli(f"--input={path}", f"--output={out}", "--method=rpca", "--skip_header")
  assert p.returncode == 0, p.stderr[-2000:]
  assert "warning:" in p.stderr and "data row" in p.stderr
  summary = json.loads((out / "summary.json").read_text())
  assert summary["input"]["rows"] == 39 and summary["input"]["header"] is not None


def test_bom_and_header_file(tmp_path):
  X = np.random.default_rng(1).normal(size=(12, 3))
  body = "\n".join(";".join(f"{v:.17g}" for v in r) + ";" for r in X)
  (tmp_path / "b.csv").write_text("\ufeffa;b;c\n" + body + "\n", encoding="utf-8")
  p = _cli(f"--input={tmp_path / 'b.csv'}", f"--output={tmp_path / 'o'}", "--method=rpca")
  assert p.returncode == 0, p.stderr[-2000:]
  assert "line 1 skipped as a header" in p.stderr
  L, S = np.load(tmp_path / "o" / "L.npy"), np.load(tmp_path / "o" / "S.npy")
  np.testing.assert_allclose(L + S, X, atol=1e-9)  # all 12 rows, none dropped


def test_help_explains_threshold():
  for flag in ("--help", "-h"):
    p = _cli(flag)
    assert p.returncode == 0, (flag, p.stderr[-2000:])
    assert "--threshold" in p.stdout and "robust" in p.stdout and "standard deviations" in p.stdout


def test_rpca_warns_about_vae_flags_and_logs_no_info_lines(tmp_path, data):
  _, path = data
  p = _cli(f"--input={path}", f"--output={tmp_path / 'out'}", "--method=rpca", "--steps=10",
           "--latent_dim=2")
  assert p.returncode == 0, p.stderr[-2000:]
  assert "warning: --latent_dim, --steps set the VAE and do nothing with --method=rpca" in p.stderr
  # JAX's INFO lines (absl's 'I1204 12:00:00 ...' format: no TPU found, ...) are not shown.
  assert not [s for s in p.stderr.splitlines() if s[:1] == "I" and s[1:5].isdigit()], p.stderr


@pytest.mark.parametrize("case, match", [
    ("dir", "is a directory"),
    ("empty_npy", "empty (0 bytes)"),
    ("huge", "too large for training: row 3, column 2"),
    ("overflow", "beyond ±1e+300 (40 entries; first at row 1, column 2"),
    ("nan", "row 2, column 1, counted from 1); pass --missing_nan"),
    ("inf_with_missing_nan", "row 3, column 2 is inf: an infinite value is not a missing value"),
    ("text_named_npy", "looks like text; name it .csv"),
    ("kl_warmup_long", "kl_warmup (5000 steps) is longer than the training (300 steps)"),
    ("bad_widths", "--hidden_widths must be comma-separated integers"),
    ("bad_penalty", "--penalty"),
    ("save_model_under_a_file", "is not a directory"),
    ("missing_nan_column", "column 1 (counted from 1) is missing in every row"),
    ("latent", "exceeds the number of columns"),
    ("unknown_flag", "Unknown command line flag 'config.x'"),
    ("bad_int", "--steps=abc"),
    ("negative_clip", "--encoder_clip"),
    ("negative_refine", "--refine_steps"),
    ("missing_input", "--input must have a value"),
    ("no_flags", "--input must have a value other than None.; flag --output"),
    ("extra_arg", "unexpected arguments"),
    ("images", "square number"),
    ("delimiter", "delimiter must be one of"),
    ("output_is_file", "exists and is not a directory"),
    ("model_corrupt", "cannot load the model"),
    ("model_absent", "does not exist"),
    ("save_model_dir", "is a directory"),
    ("save_model_rpca", "--method=rpca fits no reusable model"),
    ("save_model_exists", "already exists"),
])
def test_bad_input_exit_2_one_line(tmp_path, data, case, match):
  X, path = data
  out = tmp_path / "never"
  args = [f"--input={path}", f"--output={out}"]
  if case == "dir":
    args[0] = f"--input={tmp_path}"
  elif case == "empty_npy":
    (tmp_path / "e.npy").write_bytes(b"")
    args[0] = f"--input={tmp_path / 'e.npy'}"
  elif case in ("huge", "overflow", "nan", "missing_nan_column"):
    Y = X.copy()
    if case == "huge":
      Y[2, 1] = 1e200
    elif case == "overflow":  # a whole column near float64's limit: its scale would be inf
      Y[:, 1] = np.where(np.arange(len(Y)) % 2, 1e308, -1e308)
    elif case == "nan":
      Y[1, 0] = np.nan
    else:
      Y[:, 0] = np.nan
      args.append("--missing_nan")
    np.save(tmp_path / "y.npy", Y)
    args[0] = f"--input={tmp_path / 'y.npy'}"
  elif case == "inf_with_missing_nan":  # an Inf is no missing value: no "pass --missing_nan"
    Y = X.copy()
    Y[1, 0], Y[2, 1] = np.nan, np.inf
    np.save(tmp_path / "y.npy", Y)
    args = [f"--input={tmp_path / 'y.npy'}", args[1], "--missing_nan"]
  elif case == "text_named_npy":
    (tmp_path / "t.npy").write_text("1 2\n3 4\n")
    args[0] = f"--input={tmp_path / 't.npy'}"
  elif case == "kl_warmup_long":
    args += ["--steps=300", "--kl_warmup=5000"]
  elif case == "bad_widths":
    args.append("--hidden_widths=8,x")
  elif case == "bad_penalty":
    args += ["--method=rda", "--penalty=l2"]
  elif case == "save_model_under_a_file":
    (tmp_path / "f").write_text("")
    args.append(f"--save_model={tmp_path / 'f' / 'm.npz'}")
  elif case == "latent":
    args.append("--latent_dim=5")
  elif case == "unknown_flag":
    args.append("--config.x=1")
  elif case == "bad_int":
    args.append("--steps=abc")
  elif case == "negative_clip":
    args.append("--encoder_clip=-1")
  elif case == "negative_refine":
    args.append("--refine_steps=-1")
  elif case == "missing_input":
    args = args[1:]
  elif case == "no_flags":
    args = []
  elif case == "extra_arg":
    args.append("stray")
  elif case == "images":
    np.save(tmp_path / "y.npy", X[:, :3])  # d = 3: not a square
    args = [f"--input={tmp_path / 'y.npy'}", args[1], "--images"]
  elif case == "delimiter":
    args.append("--delimiter=|")
  elif case == "output_is_file":
    out.write_text("")
    args[1] = f"--output={out}"
  elif case == "model_corrupt":
    (tmp_path / "m.npz").write_bytes(b"PK\x03\x04 not really a zip")
    args.append(f"--model={tmp_path / 'm.npz'}")
  elif case == "model_absent":
    args.append(f"--model={tmp_path / 'absent.npz'}")
  elif case == "save_model_dir":
    args.append(f"--save_model={tmp_path}")
  elif case == "save_model_rpca":
    args += [f"--save_model={tmp_path / 'm.npz'}", "--method=rpca"]
  elif case == "save_model_exists":  # a result elsewhere may point at it: not replaced silently
    (tmp_path / "m.npz").write_bytes(b"an earlier model")
    args.append(f"--save_model={tmp_path / 'm.npz'}")
  p = _cli(*args)
  assert p.returncode == 2, (case, p.stderr[-2000:])
  assert match in p.stderr, (case, p.stderr[-2000:])
  assert "Traceback" not in p.stderr
  if case in ("inf_with_missing_nan", "text_named_npy"):
    assert "pass --missing_nan" not in p.stderr and "allow_pickle" not in p.stderr
  assert p.stderr.strip().splitlines()[-1].startswith("error: ")
  assert len([s for s in p.stderr.splitlines() if s.strip()]) == 1, p.stderr  # one line
  if case != "output_is_file":
    assert not out.exists()
  if case == "save_model_exists":
    assert (tmp_path / "m.npz").read_bytes() == b"an earlier model"
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


@pytest.mark.slow  # end to end, 25–65 s: CI runs it with -m slow
def test_save_model_then_apply_it(tmp_path):
  """--save_model after training; --model applies it without training: the same L and mask on the
  training rows, any number of new rows; wrong uses exit 2 in one line."""
  rng = np.random.default_rng(0)
  t = rng.uniform(0, 2 * np.pi, (75, 1))
  X = np.concatenate([np.cos(t), np.sin(t), np.cos(2 * t), np.sin(2 * t)], 1)
  np.save(tmp_path / "x.npy", X[:60])
  np.save(tmp_path / "new.npy", X[60:])
  model = tmp_path / "m.npz"
  p = _cli(f"--input={tmp_path / 'x.npy'}", f"--output={tmp_path / 'o1'}", "--steps=5",
           f"--save_model={model}", timeout=900)  # the one training compile (~13 min on a busy CPU)
  assert p.returncode == 0, p.stderr[-2000:]
  assert "[decompose] step 5/5" in p.stderr  # progress is on by default
  summary = json.loads((tmp_path / "o1" / "summary.json").read_text())
  assert summary["model_file"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no temporary model file
  p = _cli(f"--input={tmp_path / 'x.npy'}", f"--output={tmp_path / 'o2'}", f"--model={model}")
  assert p.returncode == 0, p.stderr[-2000:]
  assert "[decompose] step" not in p.stderr  # no training
  for name in ("L", "S", "S_sparse", "mask"):
    np.testing.assert_array_equal(np.load(tmp_path / "o2" / f"{name}.npy"),
                                  np.load(tmp_path / "o1" / f"{name}.npy"), err_msg=name)
  summary = json.loads((tmp_path / "o2" / "summary.json").read_text())
  assert summary["model_file"]["path"] == str(model) and summary["fitted_rows"] == 60
  p = _cli(f"--input={tmp_path / 'new.npy'}", f"--output={tmp_path / 'o3'}", f"--model={model}",
           "--threshold=4")
  assert p.returncode == 0, p.stderr[-2000:]
  assert np.load(tmp_path / "o3" / "L.npy").shape == (15, 4)
  assert json.loads((tmp_path / "o3" / "summary.json").read_text())["threshold"] == 4.0
  holes = X[60:].copy()
  holes[0, 1] = holes[3, 2] = np.nan  # missing values, with --missing_nan
  np.save(tmp_path / "holes.npy", holes)
  p = _cli(f"--input={tmp_path / 'holes.npy'}", f"--output={tmp_path / 'o4'}", f"--model={model}",
           "--missing_nan")
  assert p.returncode == 0, p.stderr[-2000:]
  L4, S4 = np.load(tmp_path / "o4" / "L.npy"), np.load(tmp_path / "o4" / "S.npy")
  assert np.all(np.isfinite(L4)) and S4[0, 1] == S4[3, 2] == 0.0
  assert not np.load(tmp_path / "o4" / "mask.npy")[[0, 3], [1, 2]].any()
  np.testing.assert_array_equal(L4[1:3], np.load(tmp_path / "o3" / "L.npy")[1:3])  # rows intact
  np.save(tmp_path / "wide.npy", np.ones((20, 5)))
  for args, match in (([f"--input={tmp_path / 'x.npy'}", "--steps=9"], "--steps cannot be used"),
                      ([f"--input={tmp_path / 'x.npy'}", "--encoder_clip=0"],
                       "--encoder_clip cannot be used"),
                      ([f"--input={tmp_path / 'x.npy'}", f"--save_model={model}"],
                       "--save_model cannot be used"),
                      ([f"--input={tmp_path / 'wide.npy'}"], "fitted on d = 4 columns")):
    p = _cli(*args, f"--output={tmp_path / 'never'}", f"--model={model}")
    assert p.returncode == 2 and match in p.stderr, (args, p.stderr[-2000:])
    assert p.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in p.stderr and not (tmp_path / "never").exists()


def test_cli_end_to_end_and_bad_inputs(tmp_path):
  X, L, _ = synthetic_manifold(seed=3, n=300, d=8, kappa=2, nu=0.1, widths=(8, 16))
  np.savetxt(tmp_path / "x.csv", X, delimiter=",")
  out = tmp_path / "out"
  proc = _cli(f"--input={tmp_path / 'x.csv'}", f"--output={out}", "--steps=250", "--quiet",
              timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  names = sorted(os.listdir(out))
  assert names == sorted(OUTPUT_FILES)
  Lh, S = np.load(out / "L.npy"), np.load(out / "S.npy")
  np.testing.assert_allclose(Lh + S, X, atol=1e-9)  # un-standardised: X's units
  assert np.load(out / "mask.npy").dtype == bool
  summary = json.loads((out / "summary.json").read_text())
  assert summary["n"] == 300 and summary["latent_dim"] == 4  # κ = d / 2
  # Which latent coordinates the fit uses is recorded; the note says when all κ are in use.
  assert len(summary["sigma_z_mean"]) == 4 and 0 <= summary["latent_dims_sigma_z"] <= 4
  assert ("latent coordinates are in use" in proc.stderr) == (summary["latent_dims_sigma_z"] == 4)
  # 250 steps are one chunk: too short to tell whether the loss had flattened, and it says so.
  assert summary["converged"] is None
  assert "note: the fit was too short to tell whether the training loss had flattened" in \
      proc.stderr
  # Bad inputs: one clear line, exit code 2, and the output directory is never created.
  (tmp_path / "nonnum.csv").write_text("1,2\nx,3\n" * 10)
  np.save(tmp_path / "vec.npy", np.arange(30.0))
  cases = [([f"--input={tmp_path / 'nonnum.csv'}"], "non-numeric"),
           ([f"--input={tmp_path / 'vec.npy'}"], "2-D"),
           ([f"--input={tmp_path / 'x.csv'}", "--steps=0"], "steps")]
  for args, match in cases:
    target = tmp_path / "never"
    proc = _cli(*args, f"--output={target}", timeout=600)
    assert proc.returncode == 2, (args, proc.stderr[-2000:])
    assert match in proc.stderr, (match, proc.stderr[-2000:])
    assert not target.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_the_console_script_shows_the_same_help():
  """``hidden-talents-decompose`` (``hidden_talents.robust.cli:run``) and ``python -m
  launch.decompose`` are one command line: the same usage text and flags."""
  entry = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'hidden-talents-"
                          "decompose'; from hidden_talents.robust import cli; cli.run()", "--help"],
                         cwd=REPO, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=REPO))
  module = _cli("--help")
  assert entry.returncode == module.returncode == 0, entry.stderr[-2000:]
  strip = lambda text: [s for s in text.splitlines() if not s.endswith(("decompose.py:",
                                                                         "decompose:"))]
  assert strip(entry.stdout) == strip(module.stdout)
  assert "--input" in entry.stdout and "Exit codes" in entry.stdout


def test_help_lists_the_required_flags_first_and_every_option():
  p = _cli("--help")
  assert p.returncode == 0, p.stderr[-2000:]
  lines = p.stdout.splitlines()
  start = next(i for i, s in enumerate(lines) if s.startswith("flags"))
  flag_lines = [s.strip() for s in lines[start:] if s.strip().startswith("--")]
  assert flag_lines[0].startswith("--input=FILE") and "(required)" in flag_lines[0]
  assert flag_lines[1].startswith("--output=DIR") and "(required)" in flag_lines[1]
  assert "--method=vae|rpca|rda" in flag_lines[2]
  for name in ("alpha", "batch_size", "hidden_widths", "learning_rate", "lam", "penalty",
               "save_model", "model", "missing_nan"):
    assert f"--{name}=" in p.stdout or f"--[no]{name}" in p.stdout, name
  prose = lines[:start]
  assert len(prose) <= 16 and len(lines) <= 75, (len(prose), len(lines))
  assert "docs/decompose.md" in p.stdout


def test_flags_of_other_methods_warn(tmp_path, data):
  """Flags that do nothing with the chosen method: one warning per method they set."""
  _, path = data
  p = _cli(f"--input={path}", f"--output={tmp_path / 'out'}", "--method=rpca", "--penalty=l21",
           "--kl_warmup=3", "--hidden_widths=4,4", "--lam=0.2")
  assert p.returncode == 0, p.stderr[-2000:]
  assert ("warning: --hidden_widths, --kl_warmup set the VAE and do nothing with --method=rpca"
          in p.stderr)
  assert "warning: --penalty sets the RDA and does nothing with --method=rpca" in p.stderr
  assert "--lam" not in p.stderr  # RPCA's λ
  summary = json.loads((tmp_path / "out" / "summary.json").read_text())
  assert summary["settings"]["lam"] == pytest.approx(0.2, rel=1e-6)  # solved in float32


def test_rpca_with_missing_values(tmp_path):
  rng = np.random.default_rng(0)
  X = rng.normal(size=(60, 2)) @ rng.normal(size=(2, 8))
  X[3, 1] = X[10, 5] = np.nan
  np.save(tmp_path / "x.npy", X)
  p = _cli(f"--input={tmp_path / 'x.npy'}", f"--output={tmp_path / 'o'}", "--method=rpca",
           "--missing_nan")
  assert p.returncode == 0, p.stderr[-2000:]
  L, S = np.load(tmp_path / "o" / "L.npy"), np.load(tmp_path / "o" / "S.npy")
  assert np.all(np.isfinite(L)) and S[3, 1] == S[10, 5] == 0.0
  assert not np.load(tmp_path / "o" / "mask.npy")[[3, 10], [1, 5]].any()
  assert json.loads((tmp_path / "o" / "summary.json").read_text())[
      "missing_entries_transformed"] == 2


def test_rda_fits_saves_into_a_new_folder_and_is_applied(tmp_path):
  """--method=rda with its flags; --save_model creates missing folders (as --output does);
  --model loads whichever class the file holds and applies it without training; flags that do
  nothing warn, flags that would retrain are refused."""
  X = np.random.default_rng(0).normal(size=(40, 4))
  np.save(tmp_path / "x.npy", X)
  model = tmp_path / "models" / "new" / "rda.npz"
  common = [f"--input={tmp_path / 'x.npy'}", "--quiet"]
  p = _cli(*common, f"--output={tmp_path / 'o1'}", "--method=rda", "--steps=20",
           "--hidden_widths=4,4", "--latent_dim=1", "--lam=0.5", "--penalty=l21",
           "--batch_size=16", "--learning_rate=0.002", "--alpha=0.5", "--kl_warmup=5",
           f"--save_model={model}", timeout=900)
  assert p.returncode == 0, p.stderr[-3000:]
  assert "warning: --kl_warmup sets the VAE and does nothing with --method=rda" in p.stderr
  summary = json.loads((tmp_path / "o1" / "summary.json").read_text())
  assert summary["method"] == "rda" and summary["settings"]["lam"] == 0.5
  assert summary["settings"]["penalty"] == "l21" and summary["settings"]["hidden_widths"] == [4, 4]
  assert summary["settings"]["batch_size"] == 16 and summary["settings"]["learning_rate"] == 0.002
  assert summary["settings"]["alpha"] == summary["alpha"] == 0.5
  assert summary["model_file"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
  p = _cli(*common, f"--output={tmp_path / 'o2'}", f"--model={model}", "--refine_steps=3")
  assert p.returncode == 0, p.stderr[-3000:]
  assert ("warning: --refine_steps sets the VAE and does nothing with the RDA model of --model"
          in p.stderr)
  for name in ("L", "S", "mask", "entry_scores", "row_scores"):
    np.testing.assert_array_equal(np.load(tmp_path / "o2" / f"{name}.npy"),
                                  np.load(tmp_path / "o1" / f"{name}.npy"), err_msg=name)
  p = _cli(*common, f"--output={tmp_path / 'never'}", f"--model={model}", "--lam=1")
  assert p.returncode == 2 and "--lam cannot be used with it" in p.stderr, p.stderr[-2000:]
  p = _cli(*common, f"--output={tmp_path / 'never'}", "--method=rda", f"--save_model={model}")
  assert p.returncode == 2 and "already exists" in p.stderr, p.stderr[-2000:]
  assert not (tmp_path / "never").exists()


def _start(tmp_path, out, *extra):
  """A decompose run that trains for hours (a tiny network, 10⁷ steps), its stderr in a file."""
  err = open(tmp_path / "stderr.txt", "w")
  # `python -m launch.decompose` with Ctrl-C delivered as a terminal delivers it: a parent that
  # ignores SIGINT (a shell running the tests as a background job) hands its children SIGINT
  # ignored, and Python then installs no KeyboardInterrupt handler.
  code = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "runpy.run_module('launch.decompose', run_name='__main__', alter_sys=True)")
  proc = subprocess.Popen(
      [sys.executable, "-c", code, f"--input={tmp_path / 'x.npy'}",
       f"--output={out}", "--steps=10000000", "--hidden_widths=4,4", "--latent_dim=1", *extra],
      cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
      env=dict(os.environ, PYTHONPATH=REPO))
  return proc, err


def _wait_for_training(proc, tmp_path, timeout=600):
  """Until two chunks of training have run (the progress line says step 500)."""
  deadline = time.time() + timeout
  while "step 500/" not in (tmp_path / "stderr.txt").read_text():
    assert proc.poll() is None and time.time() < deadline, (tmp_path / "stderr.txt").read_text()
    time.sleep(0.5)


@pytest.mark.parametrize("sig, code, said", [
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"), (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_a_signal_mid_training_leaves_the_output_as_it_was(tmp_path, sig, code, said):
  """Ctrl-C (SIGINT) and a scheduler's SIGTERM mid-training: one line saying the output was left
  as it was, exit 130 / 143 (128 + the signal), no traceback, no staging folder left."""
  np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(40, 4)))
  out = tmp_path / "out"
  out.mkdir()
  (out / "old.txt").write_text("an earlier result")
  proc, err = _start(tmp_path, out, "--overwrite")
  try:
    _wait_for_training(proc, tmp_path)
    proc.send_signal(sig)
    proc.wait(timeout=120)
  finally:
    proc.kill()
    err.close()
  stderr = (tmp_path / "stderr.txt").read_text()
  assert proc.returncode == code, stderr[-2000:]
  assert "Traceback" not in stderr
  assert stderr.strip().splitlines()[-1] == f"{said}: {str(out)!r} was left as it was"
  assert os.listdir(out) == ["old.txt"] and (out / "old.txt").read_text() == "an earlier result"
  assert sorted(os.listdir(tmp_path)) == ["out", "stderr.txt", "x.npy"]  # no staging folder


def test_a_killed_run_s_staging_folder_goes_with_the_next_run(tmp_path):
  """SIGKILL cannot be caught: the staging folder stays beside --output, until the next run of
  the same output removes it (and says so)."""
  np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(40, 4)))
  out = tmp_path / "out"
  proc, err = _start(tmp_path, out)
  try:
    _wait_for_training(proc, tmp_path)
    proc.kill()
    proc.wait(timeout=120)
  finally:
    err.close()
  stale = [n for n in os.listdir(tmp_path) if n.startswith(".tmp-out-")]
  assert len(stale) == 1 and not out.exists()
  p = _cli(f"--input={tmp_path / 'x.npy'}", f"--output={out}", "--method=rpca")
  assert p.returncode == 0, p.stderr[-2000:]
  assert "note: removed 1 staging folder(s)" in p.stderr
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]
  assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)
