"""The sweep as several processes (jax.distributed): flag/env logic, host ↔ global array helpers,
and — marked slow — two real processes on this CPU host against a one-process run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import jax
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hidden_talents import distributed, io
from launch import common

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cluster_env_detected():
  assert not distributed.cluster_env_detected({})
  assert not distributed.cluster_env_detected({"SLURM_NTASKS": "1", "OMPI_COMM_WORLD_SIZE": "1"})
  assert distributed.cluster_env_detected({"SLURM_NTASKS": "4"})
  assert distributed.cluster_env_detected({"OMPI_COMM_WORLD_SIZE": "2"})
  assert distributed.cluster_env_detected({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"})
  assert not distributed.cluster_env_detected({"SLURM_NTASKS": "many"})


def _flags(mode, address=None, n=None, pid=None):
  v = lambda x: SimpleNamespace(value=x)
  return common.DistributedFlags(v(mode), v(address), v(n), v(pid), v(10))


def test_distributed_flags_off_and_auto_do_not_initialize(monkeypatch):
  calls = []
  monkeypatch.setattr(distributed, "initialize", lambda *a, **k: calls.append((a, k)))
  for var in distributed.CLUSTER_ENV:
    monkeypatch.delenv(var, raising=False)
  assert not common.maybe_initialize_distributed(None)
  assert not common.maybe_initialize_distributed(_flags("off", "localhost:1", 2, 0))
  assert not common.maybe_initialize_distributed(_flags("auto"))
  assert calls == []
  assert common.maybe_initialize_distributed(_flags("auto", "localhost:1", 2, 1))
  monkeypatch.setenv("SLURM_NTASKS", "2")
  assert common.maybe_initialize_distributed(_flags("auto"))
  assert common.maybe_initialize_distributed(_flags("on"))
  assert [c[0] for c in calls] == [("localhost:1", 2, 1), (None, None, None), (None, None, None)]
  assert all(c[1] == {"heartbeat_timeout_seconds": 10} for c in calls)


@pytest.mark.parametrize("kw, match", [
    (dict(num_processes=0), "num_processes"),
    (dict(num_processes=2, process_id=2), "process_id"),
    (dict(heartbeat_timeout_seconds=0), "timeouts"),
])
def test_initialize_rejects_bad_arguments(kw, match):
  with pytest.raises(ValueError, match=match):
    distributed.initialize("localhost:1", **kw)


def test_put_and_fetch_round_trip():
  mesh = Mesh(np.array(jax.devices()), ("cells",))
  sharded = NamedSharding(mesh, PartitionSpec("cells"))
  x = {"a": np.arange(2 * len(jax.devices()) * 3, dtype=np.float32).reshape(-1, 3),
       "b": np.arange(2 * len(jax.devices()), dtype=np.int32)}
  g = distributed.put(x, sharded)
  assert g["a"].sharding == sharded
  back = distributed.fetch(jax.jit(lambda t: jax.tree.map(lambda v: v * 2, t))(g))
  assert isinstance(back["a"], np.ndarray)
  np.testing.assert_array_equal(back["a"], 2 * x["a"])
  np.testing.assert_array_equal(back["b"], 2 * x["b"])


def test_non_writer_writes_nothing(tmp_path):
  try:
    io.set_writer(False)
    io.atomic_write_json(str(tmp_path / "s.json"), {"a": 1})
    io.atomic_write_npz(str(tmp_path / "r.npz"), {"a": np.zeros(2)})
    assert os.listdir(tmp_path) == []
  finally:
    io.set_writer(True)
  io.atomic_write_json(str(tmp_path / "s.json"), {"a": 1})
  assert os.listdir(tmp_path) == ["s.json"]


# ---- two real processes (slow) --------------------------------------------------------------

# A small sweep with one long group (the kill test needs time to kill a process mid-run).
_SMALL = ["--config.models=('vae','ae_l2')", "--config.fig4.enabled=False",
          "--config.gt_check.enabled=False", "--config.fig3_kappas=()",
          "--config.refit_head=False", "--config.num_steps=3000", "--config.chunk_steps=100"]


def _env(devices: int) -> dict:
  """Both runs alike: CPU devices, and NumPy/SciPy's OpenBLAS on one thread. Two processes on one
  host each run the RPCA baseline's SVDs; OpenBLAS's spinning threads then fight over the cores
  (measured on 2 cores: RPCA 13–60 s instead of 4.5 s, whole run 37–87 s instead of 29–30 s)."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", OPENBLAS_NUM_THREADS="1", PYTHONFAULTHANDLER="1",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  for var in distributed.CLUSTER_ENV:
    env.pop(var, None)
  return env


def _cmd(workdir, extra=()):
  return [sys.executable, "-m", "launch.phase_transition",
          "--config=launch/configs/phase_transition.py:tiny", f"--workdir={workdir}", *extra]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start_two(workdir, extra=(), heartbeat=10):
  """Two processes with one CPU device each (the mesh of a one-process run with two devices)."""
  port = _free_port()
  procs = []
  for pid in (0, 1):
    log = open(f"{workdir}.p{pid}.log", "a")
    procs.append(subprocess.Popen(
        _cmd(workdir, [*extra, f"--coordinator_address=localhost:{port}", "--num_processes=2",
                       f"--process_id={pid}", f"--heartbeat_timeout={heartbeat}"]),
        cwd=REPO, env=_env(1), stdout=log, stderr=subprocess.STDOUT))
    procs[-1].log_path = log.name
  return procs


def _wait_all(procs, timeout=600):
  """Exit codes; past the timeout every process is made to print its Python stacks (SIGABRT,
  faulthandler) and killed, and the test fails with the end of each log."""
  deadline = time.time() + timeout
  try:
    return [p.wait(timeout=max(deadline - time.time(), 1)) for p in procs]
  except subprocess.TimeoutExpired:
    for p in procs:
      if p.poll() is None:
        p.send_signal(signal.SIGABRT)
    time.sleep(5)
    for p in procs:
      p.kill()
      p.wait()
    logs = [open(p.log_path).read()[-4000:] for p in procs]
    pytest.fail(f"no exit within {timeout} s:\n" + "\n=====\n".join(logs))


def _one_process(workdir, extra=()):
  out = subprocess.run(_cmd(workdir, extra), cwd=REPO, env=_env(2), capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]


def _assert_same_results(a_dir, b_dir):
  a, b = io.load_npz(os.path.join(a_dir, "results.npz")), io.load_npz(os.path.join(b_dir,
                                                                                   "results.npz"))
  assert sorted(a) == sorted(b)
  differ = [k for k in a if k != "train_seconds"
            and not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f")]
  assert differ == []


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path):
  """The tiny preset (every sweep of Figures 1, 3, 4, the refit, the ground-truth check) as two
  processes × one device gives bit-identical results.npz to one process × two devices; only
  process 0 writes, and it prints the summary."""
  one, two = str(tmp_path / "one"), str(tmp_path / "two")
  _one_process(one)
  codes = _wait_all(_start_two(two))
  logs = [open(f"{two}.p{i}.log").read() for i in (0, 1)]
  assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
  _assert_same_results(one, two)
  summary = io.read_json(os.path.join(two, "summary.json"))
  assert summary["processes"] == 2 and len(summary["devices"]) == 2
  assert '"processes": 2' in logs[0] and '"processes": 2' not in logs[1]  # summary: process 0
  assert "step 40/40" in logs[0] and "step 40/40" not in logs[1]  # progress: process 0 only
  assert not any(f.startswith(".tmp-") for f in os.listdir(two))


@pytest.mark.slow
def test_killed_process_stops_the_other_and_rerun_resumes(tmp_path):
  """Killing process 1 mid-run makes process 0 exit non-zero within a bounded time (the
  heartbeat); the same two commands then resume from the last checkpoint and end with the
  numbers of an uninterrupted one-process run."""
  ref, two = str(tmp_path / "ref"), str(tmp_path / "two")
  procs = _start_two(two, _SMALL, heartbeat=5)
  ckpt = os.path.join(two, "main_g000.ckpt.npz")
  deadline = time.time() + 300
  while not os.path.exists(ckpt):
    assert time.time() < deadline and all(p.poll() is None for p in procs), \
        open(f"{two}.p0.log").read()[-3000:]
    time.sleep(0.2)
  procs[1].kill()
  t0 = time.time()
  code = procs[0].wait(timeout=120)
  waited = time.time() - t0
  procs[1].wait()
  assert code != 0
  assert waited < 90, waited
  assert not os.path.exists(os.path.join(two, "results.npz"))
  with open(f"{two}.p0.log", "a") as f:
    f.write("\n=== rerun ===\n")
  codes = _wait_all(_start_two(two, _SMALL))
  rerun = open(f"{two}.p0.log").read().split("=== rerun ===")[1]
  assert codes == [0, 0], rerun[-3000:]
  first = next(line for line in rerun.splitlines() if "[main 1/1] step" in line)
  assert " step 0/" not in first, first  # resumed from the checkpoint, not from step 0
  _one_process(ref, _SMALL)
  _assert_same_results(ref, two)
  print(json.dumps({"seconds_to_exit_after_kill": round(waited, 1)}))
