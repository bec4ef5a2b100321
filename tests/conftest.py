"""Every test runs on 8 fake CPU devices, so data parallelism is exercised without a GPU."""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

# Backend optimisation level 0: a smoke model's step compiles in about 60% of the time (pix2pix
# smoke, one run: 41 s against 69 s, load 4-6) and runs as fast at these sizes; results are the
# same up to float rounding, and every comparison in the suite is between runs compiled alike.
# Speed is measured in bench/, never here. An XLA_FLAGS set outside (as in
# `XLA_FLAGS=--xla_force_host_platform_device_count=8 pytest`) is completed with what it lacks.
QUICK_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def xla_flags(devices: int = 8) -> str:
  """XLA_FLAGS for a test's subprocess: `devices` fake CPU devices, compiled quickly."""
  return f"--xla_force_host_platform_device_count={devices} {QUICK_COMPILE_FLAGS}"


def _completed_xla_flags(given: str) -> str:
  flags = given.split()
  if not any(f.startswith("--xla_force_host_platform_device_count") for f in flags):
    flags.append("--xla_force_host_platform_device_count=8")
  if not any(f.startswith("--xla_backend_optimization_level") for f in flags):
    flags += QUICK_COMPILE_FLAGS.split()
  return " ".join(flags)


os.environ["XLA_FLAGS"] = _completed_xla_flags(os.environ.get("XLA_FLAGS", ""))
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Partitionable threefry makes XLA:CPU compile parameter init ~8x slower
# (8.4 s against 1.1 s for a tiny cGAN). Results stay deterministic and equal
# across device counts either way; subprocess tests inherit the setting.
os.environ.setdefault("JAX_THREEFRY_PARTITIONABLE", "0")
# FID weights converted into the user's cache would add Inception passes to every run's final
# report: the suite never looks there (tests/test_fid.py sets its own path).
os.environ.setdefault("COLORIZE_JAX_FID_WEIGHTS", os.path.join(os.devnull, "no-fid-weights.npz"))

import pytest  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pytest_configure(config):
  """One XLA compilation cache for the whole session: its xdist workers and the runs tests start
  in subprocesses. Compiling is most of a smoke run's time, and the suite compiles the same tiny
  models again and again (a resume test alone compiles each step three times): the cache took
  test_gan_stabilisers' smoke-and-resume test from 212 s to 133 s (load 6-8, 2 cores). Made
  here, before any worker or JAX starts, so they all inherit it; removed at the end. A
  JAX_COMPILATION_CACHE_DIR set outside is used as it is."""
  if hasattr(config, "workerinput") or "JAX_COMPILATION_CACHE_DIR" in os.environ:
    return
  config.colorize_xla_cache = tempfile.mkdtemp(prefix="colorize_jax_tests_xla_cache_")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = config.colorize_xla_cache
  # Every executable, however quick to compile or small: a smoke model's are both. Two workers
  # writing one entry at once at worst make a reader warn and compile it itself.
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"


def pytest_unconfigure(config):
  directory = getattr(config, "colorize_xla_cache", None)
  if directory:
    shutil.rmtree(directory, ignore_errors=True)


def load_config(name: str, variant: str | None = None):
  """configs/<name>.py's get_config(variant), as config_flags would load it."""
  spec = importlib.util.spec_from_file_location(f"configs.{name}", ROOT / "configs" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def parse_config(config: str, *overrides: str):
  """`launch.py --config=CONFIG --config.x=y ...` as launch.py parses it (config_flags, which
  finds the overrides in the argv it is given): CONFIG is configs/<file>.py[:variant], relative
  to the repository root or absolute."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

  argv = ["launch.py", f"--config={ROOT / config}", *overrides]
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", flag_values=flag_values, sys_argv=argv)
  flag_values(argv)
  return flag_values.config


@pytest.fixture(name="load_config")
def load_config_fixture():
  return load_config


def smoke_config(**data_overrides):
  """configs/unet.py:smoke with `config.data` overrides (Lab targets: a tanh output, which
  reaches their negative half; preflight refuses the recipe's sigmoid there)."""
  config = load_config("unet", "smoke")
  config.data.update(data_overrides)
  if config.data.color_space == "lab":
    config.model.output_activation = "tanh"
  return config


def trained_run(tmp_path_factory, name="unet_rgb", **data_overrides) -> str:
  """A smoke run trained once per test session and worker, shared by name across modules."""
  from colorize_jax.train import trainer

  workdir = tmp_path_factory.getbasetemp() / "trained_runs" / name
  if not (workdir / "final_metrics.json").exists():
    trainer.train_and_evaluate(smoke_config(**data_overrides), str(workdir))
  return str(workdir)


def step_on_1_and_8_devices(step_fn, state, batch, rng):
  """`step_fn(state, batch, rng)` jitted on one device, then with the batch sharded over 8.

  Returns ((state, metrics) on 1 device, (state, metrics) on 8 devices).
  """
  import jax  # Deferred: XLA_FLAGS above must be set before JAX starts.

  from colorize_jax.runtime import parallel

  assert jax.device_count() == 8
  one = jax.devices()[0]
  single = jax.jit(step_fn)(jax.device_put(state, one), jax.device_put(batch, one), rng)
  mesh = parallel.make_mesh()
  rep, data = parallel.replicated(mesh), parallel.data_sharding(mesh)
  sharded = jax.device_put(batch, data)
  assert len(jax.tree.leaves(sharded)[0].addressable_shards) == 8
  step8 = jax.jit(step_fn, in_shardings=(rep, data, rep), out_shardings=(rep, rep))
  return single, step8(jax.device_put(state, rep), sharded, rng)


class Killed(Exception):
  """Stands in for a run killed right after its first checkpoint."""


def train_until_first_checkpoint(config, workdir, monkeypatch, **launch):
  """Trains `config` in `workdir` until its first checkpoint is complete, then 'dies' (raises
  Killed); `launch`: train_and_evaluate's flags."""
  # Deferred: XLA_FLAGS above must be set before JAX starts.
  from colorize_jax.train import checkpoint, trainer

  save = checkpoint.Checkpoints.save

  def save_then_die(self, *args, **kwargs):
    save(self, *args, **kwargs)
    self.close()  # Let the asynchronous write finish, as a killed run's last complete checkpoint.
    raise Killed

  with monkeypatch.context() as patch:
    patch.setattr(checkpoint.Checkpoints, "save", save_then_die)
    with pytest.raises(Killed):
      trainer.train_and_evaluate(config, workdir, **launch)


def killed_then_resumed(config, workdir, monkeypatch) -> dict:
  """The final metrics of `config` trained in `workdir`, killed right after its first
  checkpoint and launched again."""
  from colorize_jax.train import trainer

  train_until_first_checkpoint(config, workdir, monkeypatch)
  return trainer.train_and_evaluate(config, workdir)


def assert_same_run(resumed: dict, straight: dict) -> None:
  """A resumed run ends where an uninterrupted one does: epochs, val and test metrics."""
  assert resumed["epochs"] == straight["epochs"]
  assert resumed["val"] == pytest.approx(straight["val"], rel=1e-5)
  assert resumed["test"] == pytest.approx(straight["test"], rel=1e-5)


def load_bench(name: str):
  """bench/<name>.py as a module (the bench scripts are not a package)."""
  spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # dataclasses look their module up there.
  spec.loader.exec_module(module)
  return module


def colorize_cli(*args: str) -> subprocess.CompletedProcess:
  """`python -m colorize_jax.colorize ARGS` from the checkout, as a user runs it."""
  return subprocess.run(
    [sys.executable, "-m", "colorize_jax.colorize", *args],
    capture_output=True,
    text=True,
    timeout=300,
    cwd=ROOT,
  )


def checkpoint_steps(workdir) -> list[int]:
  """The saved checkpoint steps of a run, ascending ([] before the first)."""
  directory = os.path.join(workdir, "checkpoints")
  return (
    sorted(int(d) for d in os.listdir(directory) if d.isdigit()) if os.path.isdir(directory) else []
  )


def restored_state(workdir, step):
  """A checkpoint's train state as saved (no target tree)."""
  import orbax.checkpoint as ocp

  return ocp.StandardCheckpointer().restore(
    os.path.join(workdir, "checkpoints", str(step), "state")
  )


def step_losses(workdir) -> dict:
  from colorize_jax.outputs.writer import read_metrics

  return {r["step"]: r["train/loss"] for r in read_metrics(workdir) if r["kind"] == "step"}


def epoch_records(workdir) -> list[dict]:
  """Epoch records without their wall time: train means (over the whole epoch) and validation."""
  from colorize_jax.outputs.writer import read_metrics

  return [
    {k: v for k, v in r.items() if not k.startswith("time/")}
    for r in read_metrics(workdir)
    if r["kind"] == "epoch"
  ]
