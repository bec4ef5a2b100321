"""Device mesh and shardings: one data axis over every device of every process."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh() -> jax.sharding.Mesh:
  # Auto axis types: with the default explicit types a plain reshape inside a
  # model raises ShardingTypeError (DESIGN.md).
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


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
        f"({processes} process(es)); use a multiple of {devices}, e.g. {options}")


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Process-local numpy batches -> global arrays sharded on the data axis."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local.items()}
