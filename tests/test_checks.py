"""``checks``: one wording for every bad config field or argument."""

import numpy as np
import pytest

from hidden_talents import checks


@pytest.mark.parametrize("check,value,message", [
    (checks.positive_int, 0, "x must be an integer ≥ 1, got 0"),
    (checks.positive_int, 2.0, "x must be an integer, got 2.0"),
    (checks.positive_int, True, "x must be an integer, got True"),
    (checks.nonnegative_int, -1, "x must be an integer ≥ 0, got -1"),
    (checks.finite_number, float("nan"), "x must be a finite number, got nan"),
    (checks.positive_number, 0.0, "x must be > 0, got 0.0"),
    (checks.nonnegative_number, -0.5, "x must be ≥ 0, got -0.5"),
    (checks.fraction, 1.0, "x must lie in [0, 1), got 1.0"),
    (checks.open_fraction, 0.0, "x must lie in (0, 1), got 0.0"),
    (checks.nonempty, (), "x must not be empty"),
    (checks.distinct, (1, 1), "x must be distinct, got (1, 1)"),
])
def test_checks_word_every_mistake_the_same_way(check, value, message):
  with pytest.raises(ValueError) as e:
    check("x", value)
  assert str(e.value) == message


def test_checks_return_plain_values_and_the_set_checks():
  assert checks.positive_int("x", np.int64(3)) == 3 and type(checks.positive_int("x", 3)) is int
  assert checks.fraction("x", 0) == 0.0
  assert checks.number("x", 2.0, lo=1.0, lo_open=True) == 2.0
  assert checks.subset("m", ["a"], ("a", "b")) == ("a",)
  with pytest.raises(ValueError, match=r"m must be a non-empty subset of \('a', 'b'\)"):
    checks.subset("m", ("a", "a"), ("a", "b"))
  with pytest.raises(ValueError, match=r"svt must be one of \('x',\), got 'y'"):
    checks.one_of("svt", "y", ("x",))
  with pytest.raises(ValueError, match=r"batch_size \(5\) exceeds num_samples \(4\)"):
    checks.at_most("batch_size", 5, 4, "num_samples")
