"""``robust.engine``: exactly the requested steps, in chunks; programs compiled once per settings;
the default budget in passes over the rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import hidden_talents
import hidden_talents as ht
from hidden_talents.robust import engine, settings
from hidden_talents.robust.engine import chunk_plan
from hidden_talents.robust.settings import DEFAULTS
from tests.helpers import ROBUST_KW as KW
from tests.helpers import circle
from tests.robust.support import same_result, synthetic_manifold


@pytest.fixture(scope="module")
def fitted():
  X, L = circle(200, seed=0, nu=0.1)
  return X, L, ht.RobustVAE(**KW).fit(X)


def test_chunk_plan_runs_exactly_the_steps():
  assert chunk_plan(DEFAULTS.steps, 250) == [250] * 120  # the default
  assert chunk_plan(251, 250) == [250, 1]
  assert chunk_plan(9, 4) == [4, 4, 1]
  assert sum(chunk_plan(997, 250)) == 997


def test_steps_not_a_multiple_of_the_chunk_run_exactly(monkeypatch):
  """The engine's own step counter: 9 steps with chunks of 4 are 4 + 4 + 1, not 12."""
  monkeypatch.setattr(settings, "DEFAULTS", dataclasses.replace(settings.DEFAULTS, chunk_steps=4))
  X, _, _ = synthetic_manifold(seed=0, n=40, d=3, kappa=1, nu=0.0, widths=(4, 4))
  res = hidden_talents.decompose(X, steps=9, hidden_widths=(4, 4), batch_size=8)
  assert res.info["steps"] == 9
  assert len(res.info["loss_history"]) == 3


def test_second_fit_and_transform_do_not_retrace(fitted):
  X, _, model = fitted
  model.transform(X[:50])
  before = dict(engine.TRACES)
  other = ht.RobustVAE(**{**KW, "seed": 7}).fit(X + 0.5)  # same shapes, other values and seed
  other.transform(X[:50])
  assert dict(engine.TRACES) == before
  assert not np.array_equal(other.transform(X).L, model.transform(X).L)


def test_default_steps_are_passes_over_the_rows(monkeypatch, tmp_path):
  """steps=None trains ``Defaults.epochs`` passes over the rows, clipped to [``Defaults.steps``,
  ``Defaults.max_steps``]; the steps run and the warm-up derived from them are recorded and survive
  save/load; a given steps wins."""
  assert engine.resolve_steps(None, 2000, 100) == DEFAULTS.steps == 30_000  # 300 passes = 6000
  assert engine.resolve_steps(None, 10_000, 100) == 30_000  # 300 passes = 30 000
  assert engine.resolve_steps(None, 20_000, 100) == 60_000
  assert engine.resolve_steps(None, 10**6, 100) == DEFAULTS.max_steps == 100_000
  assert engine.resolve_steps(None, 40, 100) == DEFAULTS.steps  # batch capped at n: 300 passes
  assert engine.resolve_steps(251, 10**6, 100) == 251
  monkeypatch.setattr(settings, "DEFAULTS", dataclasses.replace(DEFAULTS, steps=10, epochs=3))
  X, _ = circle(200, seed=0, nu=0.1)
  model = ht.RobustVAE(**{**KW, "steps": None}).fit(X)  # ⌈3 · 200 / 32⌉ = 19 steps
  assert model.fit_info_["steps"] == 19 == model.used_settings()["steps"]
  assert model.used_settings()["kl_warmup"] == int(DEFAULTS.warmup_fraction * 19)
  assert len(model.fit_info_["loss_history"]) == 1  # one chunk of 19 steps
  loaded = ht.RobustVAE.load(model.save(str(tmp_path / "m.npz")))
  assert loaded.steps is None and loaded.used_settings() == model.used_settings()
  same_result(loaded.transform(X), model.transform(X))
