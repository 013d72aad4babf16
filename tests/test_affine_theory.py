"""End to end: the affine-theory demo at a small size shows Theorem 2, Lemma 1, Corollary 3."""

import os

import pytest

from hidden_talents.experiments import affine_theory
from launch.configs.affine_theory import get_config


def test_affine_theory_demo_end_to_end(tmp_path):
  c = get_config("quick")
  c.num_inits = 3  # otherwise the quick preset (n = 500, 3000 steps)
  s = affine_theory.run(c, str(tmp_path))
  for f in ("config.json", "results.npz", "summary.json", "column_norms.png"):
    assert os.path.exists(tmp_path / f)
  assert s["diagonal"]["nonzero_columns"] == [c.rank] * 3  # Theorem 2
  assert s["diagonal"]["max_subspace_sin_to_pca"] < 0.05  # Lemma 1
  assert s["diagonal"]["cost_max_rel_gap"] < 0.01  # Corollary 3
  assert s["full"]["cost_max_rel_gap"] < 0.03
  assert max(s["full"]["nonzero_columns"]) > c.rank  # rotations spread W over more columns


def test_affine_theory_rejects_bad_config(tmp_path):
  c = get_config("tiny")
  c.latent_dim = 2  # not over-complete
  with pytest.raises(ValueError, match="over-complete"):
    affine_theory.run(c, str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd")
