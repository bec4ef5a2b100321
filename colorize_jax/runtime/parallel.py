"""Device mesh and shardings: one data axis over every device of every process."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"
T = TypeVar("T")


def make_mesh() -> jax.sharding.Mesh:
  # Auto axis types: with the default explicit types a plain reshape inside a
  # model raises ShardingTypeError (docs/DESIGN.md, "Library facts").
  return jax.make_mesh(
    (jax.device_count(),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,)
  )


def data_sharding(mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_size(global_batch_size: int, what: str = "batch_size") -> None:
  """Fail before any compilation when the devices cannot split the batch evenly."""
  devices, processes = jax.device_count(), jax.process_count()
  if global_batch_size <= 0 or global_batch_size % devices:
    lower = global_batch_size // devices * devices
    options = ", ".join(str(b) for b in sorted({max(lower, devices), lower + devices}))
    raise ValueError(
      f"{what}={global_batch_size} cannot be split evenly over {devices} devices "
      f"({processes} process(es)); use a multiple of {devices}, e.g. {options}"
    )


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Process-local numpy batches -> global arrays sharded on the data axis."""
  return {
    k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local.items()
  }


class PeerFailedError(RuntimeError):
  """Another process of a multi-process run failed a step every process must pass."""


def agree_on(fn: Callable[[], T], what: str) -> T:
  """fn() on this process; when it raises on any process of a multi-process run, every
  process raises, rather than the others waiting at their next collective forever."""
  try:
    result, error = fn(), None
  except Exception as e:  # Re-raised below, after the peers have heard of it.
    result, error = None, e
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    failed = np.asarray(multihost_utils.process_allgather(np.int32(error is not None)))
    if error is None and failed.any():
      raise PeerFailedError(
        f"{what} failed on process(es) {np.flatnonzero(failed).tolist()} (their logs say why); "
        f"process {jax.process_index()} stops too"
      )
  if error is not None:
    raise error
  return result


def _cluster_detected() -> bool:
  """True where `jax.distributed.initialize()` can find its peers by itself."""
  import os

  if os.environ.get("JAX_COORDINATOR_ADDRESS"):
    return True
  if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
    return True
  # Multi-host TPU slices: one worker hostname per host.
  return len([h for h in os.environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1


def initialize_distributed(
  coordinator_address: str = "", num_processes: int = 0, process_id: int = -1
) -> bool:
  """Join a multi-process run when asked to (flags) or when a cluster says so (env).

  Must run before anything touches a JAX device. Returns whether it joined.
  """
  if coordinator_address or num_processes > 1:
    if not (coordinator_address and num_processes > 1 and 0 <= process_id < num_processes):
      raise ValueError(
        "a multi-process run needs --coordinator_address=HOST:PORT, --num_processes=N (>1) and "
        f"--process_id in [0, N); got {coordinator_address!r}, {num_processes}, {process_id}"
      )
    jax.distributed.initialize(
      coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )
    return True
  if _cluster_detected():
    jax.distributed.initialize()
    return True
  return False
