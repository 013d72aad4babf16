"""``robust.matrix_file``: reading ``.npy`` and delimited text, with messages that name the line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hidden_talents.robust.matrix_file import load_matrix, read_matrix


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


def test_a_file_named_npy_that_is_not_one(tmp_path):
  """Text or an .npz archive named .npy: what it is and what to do, not numpy's pickle message
  (allow_pickle= is no option of the tool)."""
  (tmp_path / "t.npy").write_text("1 2 3\n4 5 6\n")
  with pytest.raises(ValueError, match="not a .npy array.*looks like text.*name it .csv") as e:
    read_matrix(str(tmp_path / "t.npy"))
  assert "pickle" not in str(e.value)
  np.savez(tmp_path / "a.npz", x=np.ones(3))
  (tmp_path / "a.npy").write_bytes((tmp_path / "a.npz").read_bytes())
  with pytest.raises(ValueError, match="zip archive"):
    read_matrix(str(tmp_path / "a.npy"))
  (tmp_path / "b.npy").write_bytes(b"\x00\x01\x02" * 10)
  with pytest.raises(ValueError, match="not a .npy array") as e:
    read_matrix(str(tmp_path / "b.npy"))
  assert "text" not in str(e.value)
