"""``robust.figure``: summary.png's panels, as heat maps or as √d × √d images."""

from __future__ import annotations

import pytest

from hidden_talents.robust.figure import summary_figure
from tests.robust.support import rpca_result


def test_summary_figure_images():
  import matplotlib.pyplot as plt
  X, res = rpca_result(n=20, d=16)
  fig = summary_figure(X, res, images=True)
  assert len(fig.axes) == 3 + 4 * 3  # top row + 4 rows × (X, L, mask)
  plt.close(fig)
  fig = summary_figure(X, res)
  assert len(fig.axes) == 6
  plt.close(fig)
  X, res = rpca_result(n=20, d=15)
  with pytest.raises(ValueError, match="square number"):
    summary_figure(X, res, images=True)


def test_image_side_needs_a_square_number_of_columns():
  from hidden_talents.robust.figure import image_side
  assert image_side(784) == 28 and image_side(1) == 1
  with pytest.raises(ValueError, match="square number of columns"):
    image_side(15)
