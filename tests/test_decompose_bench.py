"""bench/decompose_bench.py's RPCA cache: reused for the same data and code, recomputed otherwise.

A cache keyed on (n, seed) alone could serve RPCA numbers computed by other code (e.g. another
column scale); each entry carries a fingerprint of the data and the code.
"""

import importlib.util
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
  spec = importlib.util.spec_from_file_location(
      "decompose_bench", os.path.join(ROOT, "bench", "decompose_bench.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


def _run(bench, monkeypatch, out):
  monkeypatch.setattr(sys, "argv", [
      "decompose_bench.py", "--families=linear", "--nus=0.1", "--n=200", "--methods=vae,rpca",
      '--vae={"steps": 100, "hidden_widths": [16, 32]}', f"--out={out}"])
  bench.main()
  with open(out) as fh:
    return json.load(fh)


def test_fingerprint_follows_the_data(bench):
  X, _, _ = bench.case("linear", 200, 0.1, 0)
  assert bench.rpca_fingerprint(X) == bench.rpca_fingerprint(X.copy())
  assert bench.rpca_fingerprint(X) != bench.rpca_fingerprint(X + 1e-9)


def test_rpca_cache_reused_only_when_the_fingerprint_matches(bench, monkeypatch, tmp_path):
  out = str(tmp_path / "run.json")
  cache_path = tmp_path / "rpca_n200_seed0.json"
  first = _run(bench, monkeypatch, out)["rows"][0]["rpca"]
  assert first["converged"] is True and first["iterations"] >= 1
  cache = json.loads(cache_path.read_text())
  assert cache["linear/0.1"]["fingerprint"]

  cache["linear/0.1"]["nmse"] = 123.0  # a marked value: served only from the cache
  cache_path.write_text(json.dumps(cache))
  assert _run(bench, monkeypatch, out)["rows"][0]["rpca"]["nmse"] == 123.0

  cache["linear/0.1"]["fingerprint"] = "written-by-other-code"
  cache_path.write_text(json.dumps(cache))
  again = _run(bench, monkeypatch, out)["rows"][0]["rpca"]
  assert again["nmse"] == pytest.approx(first["nmse"])
  assert json.loads(cache_path.read_text())["linear/0.1"]["fingerprint"] == first["fingerprint"]


def test_four_methods_resume_and_table(bench, monkeypatch, tmp_path, capsys):
  """VAE, RDA, the plain MSE autoencoder and RPCA on one case; a rerun keeps the network fits it
  holds; the table marks the best NMSE of the case."""
  out = str(tmp_path / "peers.json")
  argv = ["decompose_bench.py", "--families=linear", "--nus=0.3", "--n=200",
          '--vae={"steps": 100, "hidden_widths": [16, 32]}',
          '--rda={"steps": 100, "hidden_widths": [16, 32], "outer_iterations": 2}', f"--out={out}"]
  monkeypatch.setattr(sys, "argv", argv)
  bench.main()
  with open(out) as fh:
    run = json.load(fh)
  (row,) = run["rows"]
  assert set(row) >= {"vae", "rda", "ae", "rpca"} and run["methods"] == list(bench.METHODS)
  assert row["rda"]["outer_iterations"] <= 2 and row["ae"]["outer_iterations"] == 1
  assert all(row[m]["nmse"] > 0 for m in bench.METHODS)
  row["ae"]["nmse"] = 1e-9  # a marked value: kept by the rerun, and the best of the case
  with open(out, "w") as fh:
    json.dump(run, fh)
  bench.main()
  with open(out) as fh:
    assert json.load(fh)["rows"][0]["ae"]["nmse"] == 1e-9
  capsys.readouterr()
  monkeypatch.setattr(sys, "argv", ["decompose_bench.py", "--table", out])
  bench.main()
  text = capsys.readouterr().out
  assert '| family | ν | n | input | VAE {"hidden_widths": [16, 32], "steps": 100} | RDA | ' \
      'MSE AE | RPCA |' in text
  assert "**0.0000" in text and "| linear | 0.3 | 200 |" in text
