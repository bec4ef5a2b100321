"""Global device batches, prepared ahead while the current step runs.

`DevicePrefetcher` wraps the process-local grain train iterator: a thread
pulls the next host batches and places them on the devices
(`parallel.global_batch`), `buffer_size` ahead of the loop.

Exact resume: the position it reports for checkpoints (`get_state`) is the
grain iterator's state right after the last batch the loop *took*, recorded
when that batch was read, not the iterator's own state, which runs ahead by
the prefetched batches. It is also a checkpointable item for
`grain.checkpoint.CheckpointSave` / `CheckpointRestore` (bytes holding the
grain state's JSON, the same file grain writes for its own iterators).

A checkpoint written with another number of grain workers (e.g. 'auto' on a
host with other cores) is resumed with that number: the iterator is rebuilt
with the checkpoint's count, so the next batches are exactly the saved run's.
"""

from __future__ import annotations

import copy
import json
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from absl import logging

from colorize_jax.data import pipeline
from colorize_jax.runtime import parallel


class _Failure:
  """An exception raised by the reading thread, handed to the loop."""

  def __init__(self, error: BaseException):
    self.error = error


class DevicePrefetcher:
  """Iterator of global, sharded device batches from `make_iterator(worker_count=None)`.

  `make_iterator` builds the host iterator (e.g. `DataPipeline.train_iterator`);
  it is called again with a worker count when a checkpoint needs another.
  """

  def __init__(
    self, make_iterator: Callable[..., Iterator[dict]], sharding: Any, buffer_size: int = 2
  ):
    if buffer_size < 1:
      raise ValueError(f"buffer_size={buffer_size}: prefetch at least one batch")
    self._make_iterator = make_iterator
    self._sharding = sharding
    self._buffer_size = buffer_size
    self._host = make_iterator()
    self._position = copy.deepcopy(self._host.get_state())
    self._queue: queue.Queue | None = None
    self._thread: threading.Thread | None = None
    self._stop = threading.Event()

  # -- iteration ------------------------------------------------------------

  def __iter__(self) -> DevicePrefetcher:
    return self

  def __next__(self) -> dict:
    if self._thread is None:
      self._start()
    item = self._queue.get()
    if isinstance(item, _Failure):
      self._halt()
      raise item.error
    batch, self._position = item
    return batch

  def _start(self) -> None:
    self._stop.clear()
    self._queue = queue.Queue(maxsize=self._buffer_size)
    self._thread = threading.Thread(
      target=self._read,
      args=(self._host, self._queue, self._stop),
      name="device_prefetch",
      daemon=True,
    )
    self._thread.start()

  def _read(self, host, out: queue.Queue, stop: threading.Event) -> None:
    try:
      while not stop.is_set():
        local = next(host)
        # The position after this batch, read before the next one is pulled.
        after = copy.deepcopy(host.get_state())
        item = (parallel.global_batch(local, self._sharding), after)
        while not stop.is_set():
          try:
            out.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
    except BaseException as e:  # pylint: disable=broad-except  (StopIteration too)
      # Never block on a full queue once stopped: close() joins this thread.
      while not stop.is_set():
        try:
          out.put(_Failure(e), timeout=0.1)
          break
        except queue.Full:
          continue

  def _halt(self) -> None:
    """Stops the reading thread; the batches it read ahead are dropped and the host
    iterator is set back to the position after the last batch taken."""
    if self._thread is not None:
      self._stop.set()
      self._thread.join()
      self._thread = None
      self._host.set_state(copy.deepcopy(self._position))
    self._queue = None

  # -- checkpointing (grain.checkpoint's protocol for non-grain iterators) ---

  def get_state(self) -> bytes:
    """The host iterator's position after the last batch the loop took, as JSON bytes."""
    return json.dumps(self._position, indent=4).encode()

  def set_state(self, state: bytes | str | dict) -> None:
    """Resume after the batch `state` was saved at; prepared batches are discarded."""
    if isinstance(state, (bytes, str)):
      state = json.loads(state)
    self._halt()
    saved = pipeline.worker_count_of_state(state)
    current = pipeline.worker_count_of_state(self._host.get_state())
    if saved != current:
      logging.warning(
        "the checkpoint's data iterator ran %d grain worker(s), this host's setting "
        "gives %d; resuming with %d so the next batches are exactly the saved run's",
        saved,
        current,
        saved,
      )
      self._close_host()
      self._host = self._make_iterator(worker_count=saved)
    self._host.set_state(state)
    self._position = copy.deepcopy(state)

  def start_prefetch(self) -> None:
    """Called by grain's checkpoint restore; reading starts with the first batch taken."""

  def _close_host(self) -> None:
    close = getattr(self._host, "close", None)
    if close is not None:
      close()

  def close(self) -> None:
    """Stops reading and closes the host iterator (its worker processes)."""
    if self._thread is not None:
      self._stop.set()
      self._thread.join()
      self._thread = None
    self._close_host()
