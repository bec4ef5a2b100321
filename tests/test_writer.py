"""outputs.RunWriter: what a resumed run leaves in metrics.jsonl and TensorBoard."""

from __future__ import annotations

import glob
import os
import struct

from tensorboardX.proto import event_pb2

from colorize_jax.outputs.writer import RunWriter, read_metrics


def _events(path: str):
  """The Event protos of one TFRecord file (length, crc, payload, crc)."""
  with open(path, "rb") as f:
    data = f.read()
  at = 0
  while at + 12 <= len(data):
    (length,) = struct.unpack("<Q", data[at : at + 8])
    yield event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
    at += 12 + length + 4


def _visible_scalars(logdir: str, tag: str) -> list[tuple[int, float]]:
  """(step, value) as TensorBoard shows them: a SessionLog START at step s hides every earlier
  event at step >= s (how TensorBoard drops what a crashed run logged past its checkpoint)."""
  points: list[tuple[int, float]] = []
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    for event in _events(path):
      if event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
        points = [(s, v) for s, v in points if s < event.step]
      for value in event.summary.value:
        if value.tag == tag:
          points.append((event.step, value.simple_value))
  return points


def test_a_resumed_run_hides_what_the_killed_run_logged_after_its_checkpoint(tmp_path):
  workdir = str(tmp_path)
  first = RunWriter(workdir)
  for step in range(1, 11):
    first.scalars(step, {"train/loss": 1.0}, kind="step")
  first.close()  # Killed after step 10; the last checkpoint was at step 5.

  resumed = RunWriter(workdir)
  resumed.truncate_after(5)
  for step in range(6, 9):
    resumed.scalars(step, {"train/loss": 2.0}, kind="step")
  resumed.close()

  expected = [(s, 1.0) for s in range(1, 6)] + [(s, 2.0) for s in range(6, 9)]
  assert _visible_scalars(os.path.join(workdir, "tensorboard"), "train/loss") == expected
  assert [(r["step"], r["train/loss"]) for r in read_metrics(workdir)] == expected
