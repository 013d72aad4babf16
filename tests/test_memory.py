"""The device-memory model of a sweep group (hidden_talents/memory.py)."""

import jax
import pytest
from helpers import TINY

from hidden_talents import memory, sweep, train


# Compiling the programs for their memory analysis takes ~10–30 s on 2 cores: slow tests.
@pytest.fixture(scope="module")
def sizes():
  return {g: memory.group_bytes(TINY, g) for g in (1, 2, 4)}


@pytest.mark.slow
def test_state_bytes_are_parameters_and_adam(sizes):
  fns = train.make_train(TINY)
  cell = jax.tree.map(lambda a: a[0], sweep.make_cells([sweep.CellInfo("vae", 1.0, 2, 0.1, 0)]))
  st = jax.eval_shape(fns.init, cell)
  params = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(st.params))
  # Adam keeps two moments per parameter: the state is at least three copies of the parameters.
  assert 3 * params <= sizes[1].state < 3 * params + 1024


@pytest.mark.slow
def test_peak_grows_linearly_with_cells(sizes):
  assert sizes[1].peak < sizes[2].peak < sizes[4].peak
  assert sizes[4].state == 4 * sizes[1].state
  model = memory.fit_model(sizes[1], sizes[2])
  assert model.per_cell > sizes[1].state  # state + gradients + activations
  assert abs(model.bytes_for(4) / sizes[4].peak - 1) < 0.3


def test_fit_cells_per_group():
  model = memory.MemoryModel(intercept=1000, per_cell=500, state_per_cell=300)
  fit = lambda budget, cells=100, devices=2: memory.fit_cells_per_group(
      TINY, cells, budget_bytes=budget, num_devices=devices, data_bytes=0, model=model)
  assert fit(1000 + 3 * 500 + 499) == 6  # 3 cells per device × 2 devices
  assert fit(1000 + 3 * 500, cells=5) == 5  # never more than the cells
  with pytest.raises(ValueError, match="budget"):
    fit(1000 + 499)
  with pytest.raises(ValueError, match="num_cells"):
    fit(10**9, cells=0)


def test_cells_per_group_on_the_cpu_is_about_ten_per_device_in_even_groups():
  """``cells_per_group = -1`` on the CPU: at most 10 cells per device, the groups evened out;
  the memory model is not consulted (no compilation)."""
  group = lambda cells, devices=2: memory.cells_per_group(TINY, cells, backend="cpu",
                                                          num_devices=devices)
  assert group(12) == 12  # fewer cells than 10 per device: one program, as before
  assert group(20) == 20
  assert group(21) == 11  # two groups of 11 (the second padded by one), not 20 + 1
  assert group(39) == 20
  assert group(604) == 20  # 31 groups
  assert group(604, devices=1) == 10
  assert group(5, devices=4) == 5
  with pytest.raises(ValueError, match="num_cells"):
    group(0)
