"""The grain input pipeline the training loop consumes.

Host side ships uint8 RGB only; colour conversion happens on the device.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Iterable
from typing import Any

import grain
import numpy as np
from absl import flags, logging

from colorize_jax import registry
from colorize_jax.data import splits

AUTO = "auto"
# Up to this many cores, auto reads in the main process: worker processes
# only pay off where grain's per-element Python, not decoding, is the limit.
MAX_CORES_IN_PROCESS = 3
MAX_THREADS_IN_PROCESS = 8  # More threads only fight over the GIL (see _read_options).


def resolve_worker_count(value: Any, cpus: int | None = None) -> int:
  """`data.worker_count` ('auto' or a number) -> grain worker processes on this host.

  'auto' leaves one core for the training loop: no workers on hosts of at
  most MAX_CORES_IN_PROCESS cores (reader threads in the main process), else
  one worker per remaining core. A number above the host's cores is clamped,
  with a warning. Iterator checkpoints depend on the count: a resumed run
  takes the count its checkpoint was written with (colorize_jax/data/prefetch.py).
  """
  cpus = cpus or os.cpu_count() or 1
  if isinstance(value, str) and value.strip().lower() == AUTO:
    return 0 if cpus <= MAX_CORES_IN_PROCESS else cpus - 1
  try:
    count = int(value)
  except (TypeError, ValueError):
    raise ValueError(
      f"data.worker_count={value!r}: use 'auto' or a number of worker processes "
      "(0 reads in the main process)"
    ) from None
  if count < 0:
    raise ValueError(f"data.worker_count={count}: use 'auto', 0 (read in the main process) or more")
  if count > cpus:
    logging.warning(
      "data.worker_count=%d is more than this host's %d cores; using %d", count, cpus, cpus
    )
    return cpus
  return count


def worker_count_of_state(state: dict) -> int:
  """Worker processes of the train iterator that wrote `state` (grain's get_state()).

  grain's multiprocess prefetch keeps one iterator state per worker; an
  in-process iterator's state has no such list.
  """
  return len(state.get("iterators_in_use_indices", ()))


def _ignore_ctrl_c(worker_index: int, worker_count: int) -> None:
  """In each grain worker: a terminal's Ctrl-C reaches the whole process group; the training
  process stops after a checkpoint of its step (train/preemption.py) and ends its workers then,
  instead of each dying with a KeyboardInterrupt traceback."""
  del worker_index, worker_count
  signal.signal(signal.SIGINT, signal.SIG_IGN)


def _decoded(element: dict[str, Any]) -> bool:
  """Training skips records whose file failed to decode."""
  return bool(element["valid"])


def _stack_images(elements: list[dict[str, Any]]) -> dict[str, np.ndarray]:
  """The batch of decoded training images. grain's default batching maps a
  pytree over the elements: ~46 us per 128 px image under cProfile."""
  return {"image": np.stack([e["image"] for e in elements])}


def _load_or_pad(source: Any, size: int, position: int) -> dict[str, np.ndarray]:
  """Eval element at a padded position: a real example, or zeros with mask False."""
  if position >= len(source):
    return {"image": np.zeros((size, size, 3), np.uint8), "mask": np.bool_(False)}
  rec = source[position]
  return {"image": rec["image"], "mask": np.bool_(rec["valid"])}


class DataPipeline:
  """Builds train/eval iterators from `config.data` for one process of a run."""

  def __init__(
    self,
    data_cfg: Any,
    *,
    global_batch_size: int,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
  ):
    if process_count < 1 or not 0 <= process_index < process_count:
      raise ValueError(
        f"need 0 <= process_index < process_count, got {process_index} and {process_count}"
      )
    if global_batch_size < 1 or global_batch_size % process_count:
      raise ValueError(
        f"global_batch_size {global_batch_size} must be a positive multiple of "
        f"process_count {process_count}"
      )
    self._cfg = data_cfg
    self._source_cls = registry.get("source", data_cfg.source)
    self._global_batch = int(global_batch_size)
    self._local_batch = self._global_batch // process_count
    self._seed = int(seed)
    self._process_index = int(process_index)
    self._process_count = int(process_count)
    self._size = int(data_cfg.image_size)
    self._sources: dict[str, Any] = {}

  @property
  def local_batch_size(self) -> int:
    return self._local_batch

  def source(self, split: str) -> Any:
    """The split's source, built on first use (a folder split indexes its files then)."""
    splits.check_split(split)
    if split not in self._sources:
      self._sources[split] = self._source_cls(self._cfg, split)
    return self._sources[split]

  def num_examples(self, split: str) -> int:
    """Examples in the whole split, across all processes (padding excluded)."""
    return len(self.source(split))

  def _read_options(self, worker_count: int) -> grain.ReadOptions:
    cpus = os.cpu_count() or 1
    if str(self._cfg.worker_count).strip().lower() == AUTO:
      cpus = max(1, cpus - 1)  # One core is left for the training loop.
    if worker_count > 0:
      # Each worker is a process; grain's default 16 reader threads per worker
      # oversubscribe a small host and made 2 workers slower than none. The
      # workers share one reader thread per core (decoding releases the GIL).
      return grain.ReadOptions(num_threads=max(1, cpus // worker_count), prefetch_buffer_size=64)
    # In-process: the decoders release the GIL, so a thread per core gives
    # real parallelism; more threads only fight over the GIL for grain's own
    # per-element Python (on 2 cores, 8 threads delivered 2,260 images/s and 2
    # threads 3,141).
    return grain.ReadOptions(
      num_threads=max(1, min(MAX_THREADS_IN_PROCESS, cpus)), prefetch_buffer_size=256
    )

  @property
  def worker_count(self) -> int:
    """config.data.worker_count resolved for this host ('auto', clamping)."""
    return resolve_worker_count(self._cfg.worker_count)

  def train_iterator(self, worker_count: int | None = None) -> grain.DatasetIterator:
    """Infinite iterator of {"image": uint8 [local_batch, S, S, 3]}.

    This process reads its equal contiguous share of the (hash-ordered)
    split, reshuffled with a new permutation every epoch, batches never
    ragged; not augmented (the train step does that on the device). Checkpoint
    it with get_state()/set_state() or grain.checkpoint.CheckpointSave/Restore;
    resume with the same worker count (`worker_count`,
    default: config.data.worker_count resolved for this host).
    """
    source = self.source("train")
    n = len(source)
    if n < self._global_batch:
      raise ValueError(
        f"the train split has {n} examples, fewer than one global batch of "
        f"{self._global_batch}; use a smaller batch or more data ({source!r})"
      )
    # Equal shards (remainder dropped) keep every process at the same step count.
    shard_size = n // self._process_count
    start = self._process_index * shard_size
    ds = grain.MapDataset.source(source)[start : start + shard_size]
    # shuffle before repeat: grain reseeds the permutation for every epoch.
    # Augmentation is not here: it runs on the device in the train step
    # (colorize_jax/data/augment.py), keeping host cores for decoding.
    ds = ds.shuffle(seed=self._seed).repeat()
    worker_count = self.worker_count if worker_count is None else int(worker_count)
    it_ds = ds.to_iter_dataset(self._read_options(worker_count))
    it_ds = it_ds.filter(_decoded)
    it_ds = it_ds.batch(self._local_batch, drop_remainder=True, batch_fn=_stack_images)
    if worker_count > 0:
      if not flags.FLAGS.is_parsed():
        # grain reads its absl flags when starting workers; callers without
        # app.run (tests, notebooks) have not parsed any.
        flags.FLAGS.mark_as_parsed()
      it_ds = it_ds.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=worker_count),
        worker_init_fn=_ignore_ctrl_c,
      )
    logging.info(
      "train iterator: %d examples, local batch %d (process %d of %d), %d workers",
      n,
      self._local_batch,
      self._process_index,
      self._process_count,
      worker_count,
    )
    return iter(it_ds)

  def num_eval_batches(self, split: str) -> int:
    return math.ceil(self.num_examples(split) / self._global_batch)

  def eval_batches(self, split: str) -> Iterable[dict[str, np.ndarray]]:
    """One pass over the split: {"image": uint8 [local_batch, S, S, 3], "mask": bool [local_batch]}.

    The split is padded to a multiple of the global batch. Global batch b is
    positions [b*G, (b+1)*G); process p takes the p-th slice of local_batch of
    each, so all processes yield the same number of batches and every real
    example appears once. Padding, and files that failed to decode, have mask
    False and zero images. No augmentation.
    """
    source = self.source(split)
    num_batches = self.num_eval_batches(split)
    offsets = self._process_index * self._local_batch + np.arange(self._local_batch)
    positions = (np.arange(num_batches)[:, None] * self._global_batch + offsets[None]).ravel()
    ds = grain.MapDataset.source(positions.tolist()).map(
      lambda pos: _load_or_pad(source, self._size, pos)
    )
    return ds.to_iter_dataset(self._read_options(0)).batch(self._local_batch)

  def fixed_examples(self, split: str, n: int) -> np.ndarray:
    """The first n decodable examples of the split, uint8 [min(n, len), S, S, 3].

    Deterministic (index order, no augmentation), for sample grids; fewer
    than min(n, len) only if some files fail to decode.
    """
    source = self.source(split)
    images = []
    for i in range(len(source)):
      if len(images) >= n:
        break
      rec = source[i]
      if rec["valid"]:
        images.append(rec["image"])
    if not images:
      return np.zeros((0, self._size, self._size, 3), np.uint8)
    return np.stack(images)
