"""Reading a user's matrix: ``.npy`` or delimited text.

:func:`read_matrix` reads ``.npy``, or text (``.csv``/``.tsv``/``.txt``) whose delimiter —
comma, semicolon, tab or whitespace (numpy's ``savetxt`` default) — is detected from the lines
themselves unless given. A UTF-8 byte-order mark and one trailing delimiter per line are stripped.
The first line is skipped as a header only if none of its cells is a number (``skip_header=None``,
the default; a first line mixing numbers and text is an error, not silently dropped);
``skip_header=False`` never skips it, ``skip_header=True`` always does — and warns when the line
it drops is numeric, because then it is probably a data row. Line numbers in messages are
the file's own (1-based). With ``missing_values=True`` an empty cell and the usual missing-value
tokens (``NA``, ``N/A``, ``NaN``, ``null``, ``None``; any case) read as NaN — what pandas'
``to_csv`` writes for a missing value — and a trailing delimiter is then stripped only when every
data line ends with one (otherwise it closes an empty last cell).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from typing import Any

import numpy as np

DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "whitespace": None, " ": None}
_DETECT_ORDER = ("\t", ";", ",", None)  # None: any run of whitespace
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", None: "whitespace"}
_SNIFF_LINES = 50
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none")  # read as NaN with missing_values=True


def _is_float(s: str) -> bool:
  try:
    float(s)
  except ValueError:
    return False
  return True


def _split(line: str, delim: str | None, strip_trailing: bool = True) -> list[str]:
  """Cells of one stripped line; one trailing delimiter (``1,2,3,``) is dropped unless
  ``strip_trailing`` is False."""
  if delim is None:
    return line.split()
  if strip_trailing and line.endswith(delim):
    line = line[:-len(delim)]
  return [c.strip() for c in line.split(delim)]


def _numeric(cells: list[str]) -> bool:
  return bool(cells) and all(_is_float(c) for c in cells)


def _detect_delimiter(lines: list[str]) -> str | None:
  """The delimiter of ``_DETECT_ORDER`` that gives the sampled lines the most numeric cells, then
  the same number of cells on every line, then the most cells (earlier in the order on ties)."""
  def score(delim):
    split = [_split(s, delim) for s in lines]
    numeric = sum(_is_float(c) for cells in split for c in cells)
    return numeric, len({len(c) for c in split}) == 1, len(split[0])
  scores = [score(d) for d in _DETECT_ORDER]
  best = max(range(len(scores)), key=lambda k: (scores[k], -k))
  if scores[best][0] == 0:
    raise ValueError("cannot detect the delimiter (tried comma, semicolon, tab and whitespace: "
                     "none splits the lines into numbers); pass --delimiter (in Python: "
                     "delimiter=',')")
  return _DETECT_ORDER[best]


def file_fingerprint(path: str) -> dict[str, Any]:
  """{"path" (absolute), "size_bytes", "sha256"} of a file, to record where a result came from."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return {"path": os.path.abspath(path), "size_bytes": os.path.getsize(path),
          "sha256": h.hexdigest()}


def _check_path(path: str) -> None:
  if os.path.isdir(path):
    raise ValueError(f"input {path!r} is a directory, not a data file (.npy, .csv, .tsv, .txt)")
  if not os.path.exists(path):
    raise ValueError(f"input file {path!r} does not exist")
  if not os.access(path, os.R_OK):
    raise ValueError(f"input file {path!r} is not readable (permission denied)")
  if os.path.getsize(path) == 0:
    raise ValueError(f"input file {path!r} is empty (0 bytes)")


def read_matrix(path: str, *, skip_header: bool | None = None, delimiter: str | None = None,
                missing_values: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
  """Reads a ``.npy`` array or a delimited text file of numbers (module docstring).

  Args:
    path: ``.npy``, ``.csv``, ``.tsv`` or ``.txt``.
    skip_header: None: skip the first line only if none of its cells is a number; False: never
      (a non-numeric first line is an error); True: always (with a warning if it is numeric).
    delimiter: ``","``, ``";"``, ``"tab"``/``"\\t"``, ``"whitespace"``/``" "``, or None to detect.
    missing_values: text input: empty cells and ``MISSING_TOKENS`` read as NaN (any case).

  Returns:
    (X, info): X as read (text: float64), info = {"format", and for text "delimiter",
    "header" (the skipped line or None), "bom"}.

  Raises:
    ValueError: a directory, missing/empty/unreadable file, unknown extension, a non-numeric
      cell (named by its 1-based line and column), ragged rows, no data rows.
  """
  path = os.fspath(path)
  _check_path(path)
  ext = path.rsplit(".", 1)[-1].lower() if "." in os.path.basename(path) else ""
  if ext == "npy":
    return _read_npy(path), {"format": "npy"}
  if ext not in ("csv", "txt", "tsv"):
    raise ValueError(f"input must be .npy, .csv, .tsv or .txt, got {path!r}")
  if delimiter is not None and delimiter not in DELIMITERS:
    raise ValueError(f"delimiter must be one of {sorted(DELIMITERS)}, got {delimiter!r}")
  lines, bom = _text_lines(path)
  if delimiter is None:
    delim = _detect_delimiter([s for _, s in lines[1:_SNIFF_LINES + 1]] or [lines[0][1]])
  else:
    delim = DELIMITERS[delimiter]
  header = _header(path, lines[0], delim, skip_header, missing_values)
  X = _parse_rows(path, lines[1:] if header is not None else lines, delim,
                  detected=delimiter is None, header=header, missing_values=missing_values)
  return X, {"format": "text", "delimiter": _DELIM_NAMES[delim], "header": header, "bom": bom}


NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file (numpy.lib.format)


def _not_npy(path: str, head: bytes) -> str:
  """Why a file named ``.npy`` is not one: what its first bytes look like instead."""
  what = "not a .npy array (it lacks NumPy's header)"
  if head.startswith(b"PK\x03\x04"):
    return f"{path!r} is {what}: it is a zip archive (.npz?); save one array with np.save"
  if b"\x00" in head:  # binary
    return f"{path!r} is {what}"
  return (f"{path!r} is {what}: it looks like text; name it .csv, .tsv or .txt to read it as "
          "delimited text")


def _read_npy(path: str) -> np.ndarray:
  with open(path, "rb") as f:
    head = f.read(64)
  if not head.startswith(NPY_MAGIC):
    raise ValueError(_not_npy(path, head))
  try:
    X = np.load(path, allow_pickle=False)
  except (ValueError, OSError, EOFError) as e:
    raise ValueError(f"cannot read {path!r} as a .npy array: {e}") from e
  if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
    raise ValueError(f"{path!r} holds non-numeric data (dtype {X.dtype})")
  if X.size == 0:
    raise ValueError(f"{path!r} holds an empty array (shape {X.shape})")
  return X


def _text_lines(path: str) -> tuple[list[tuple[int, str]], bool]:
  """The non-blank lines as (1-based line number, stripped text), and whether a BOM led."""
  try:
    with open(path, "rb") as f:
      raw = f.read()
    text = raw.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise ValueError(f"{path!r} is not UTF-8 text: {e}") from None
  lines = [(i, s.strip()) for i, s in enumerate(text.splitlines(), start=1)]
  lines = [(i, s) for i, s in lines if s]
  if not lines:
    raise ValueError(f"{path!r} holds no data rows")
  return lines, raw.startswith(b"\xef\xbb\xbf")


def _header(path: str, first_line: tuple[int, str], delim, skip_header: bool | None,
            missing_values: bool = False) -> str | None:
  """The first line if it is to be skipped as a header (``read_matrix``'s ``skip_header``)."""
  first_no, first = first_line
  first_cells = _split(first, delim)
  if skip_header is None:
    if missing_values and all(c.lower() in MISSING_TOKENS for c in first_cells):
      return None  # a row of missing values (NA,NA,NA or ,,), not column names
    # Column names; a line mixing numbers and text is reported as a bad value by _parse_rows.
    return None if any(_is_float(c) for c in first_cells) else first
  if not skip_header:
    return None  # a non-numeric first line is then reported by _parse_rows
  if _numeric(first_cells):
    warnings.warn(f"{path}: --skip_header dropped line {first_no} although it is numeric "
                  f"({first[:60]!r}): if the file has no header, that was a data row; run "
                  "without --skip_header (a non-numeric first line is skipped by itself)",
                  stacklevel=3)
  return first


def _parse_rows(path: str, lines: list[tuple[int, str]], delim, *, detected: bool,
                header: str | None, missing_values: bool = False) -> np.ndarray:
  """The data lines as a float64 matrix; a non-numeric cell or ragged rows are errors."""
  rows = []
  strip = (not missing_values or delim is None
           or all(line.endswith(delim) for _, line in lines))
  for lineno, line in lines:
    cells = _split(line, delim, strip)
    try:
      rows.append([np.nan if missing_values and c.lower() in MISSING_TOKENS else float(c)
                   for c in cells])
    except ValueError:
      col, bad = next((k, c) for k, c in enumerate(cells, start=1) if not _is_float(c)
                      and not (missing_values and c.lower() in MISSING_TOKENS))
      hints = []
      if not missing_values and bad.lower() in MISSING_TOKENS:
        hints.append("if it marks a missing value, pass --missing_nan (in Python: "
                     "missing_values=True)")
      if (lineno == lines[0][0] and header is None and any(_is_float(c) for c in cells)
          and not any(ch.isdigit() for ch in bad)):  # a word among numbers: a header?
        hints.append(f"if line {lineno} is a header, pass --skip_header")
      if header is not None:
        hints.append(f"the first line was skipped as a header ({header[:40]!r})")
      if detected:
        hints.append("if the delimiter is wrong, pass --delimiter")
      elif any(c in bad for c in ",;\t "):
        hints.append("the value holds a delimiter character: is --delimiter right?")
      raise ValueError(f"{path}: line {lineno}, column {col} has a non-numeric value {bad!r} "
                       f"(delimiter: {_DELIM_NAMES[delim]}{', detected' if detected else ''})"
                       + "".join(f"; {h}" for h in hints)) from None
  if not rows:
    raise ValueError(f"{path!r} holds no data rows" + (" (only a header)" if header else ""))
  widths = {len(r) for r in rows}
  if len(widths) > 1:
    counts = [len(r) for r in rows]
    k = next(k for k, c in enumerate(counts) if c != counts[0])
    raise ValueError(f"{path}: rows have different numbers of columns {sorted(widths)} (line "
                     f"{lines[0][0]} has {counts[0]}, line {lines[k][0]} has {counts[k]})")
  return np.asarray(rows, np.float64)


def load_matrix(path: str, *, skip_header: bool | None = None,
                delimiter: str | None = None) -> np.ndarray:
  """:func:`read_matrix` without the reading info."""
  return read_matrix(path, skip_header=skip_header, delimiter=delimiter)[0]
