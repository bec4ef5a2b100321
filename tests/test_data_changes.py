"""Issue 23: files added to or removed from a data folder between launch and resume.

A file's split depends on its own path, so changes never move other files between splits; a
run records its lists, refuses a resume on a changed list in one line, and with
--allow_data_change continues on the new list with epochs of the new length.
"""

import json
import os
import random

import pytest
from conftest import load_config, train_until_first_checkpoint
from PIL import Image

from colorize_jax import inference, registry
from colorize_jax.data import splits
from colorize_jax.outputs.writer import read_metrics
from colorize_jax.train import data_guard, resume_guard, trainer

FRACTIONS = (0.7, 0.1, 0.2)


def _random_paths(rng: random.Random, n: int) -> list[str]:
  return [
    f"{rng.choice(['birds', 'cats', 'a/b'])}/{rng.randrange(10**9):09d}_{i}.jpg" for i in range(n)
  ]


def _assignment(paths, fractions=FRACTIONS, method="path") -> dict[str, str]:
  return {
    p: s for s in splits.SPLITS for p in splits.split_by_hash(paths, fractions, s, method=method)
  }


@pytest.mark.parametrize("seed", range(20))
def test_adding_and_removing_files_never_moves_another_file_between_splits(seed):
  rng = random.Random(seed)
  fractions = rng.choice([FRACTIONS, (0.8, 0.2, 0.0), (0.5, 0.25, 0.25), (1.0, 0.0, 0.0)])
  paths = _random_paths(rng, rng.randrange(1, 400))
  before = _assignment(paths, fractions)
  assert sorted(before) == sorted(paths)  # Every file in exactly one split.
  removed = set(rng.sample(paths, rng.randrange(0, len(paths) + 1)))
  added = _random_paths(random.Random(seed + 1000), rng.randrange(0, 400))
  after = _assignment([p for p in paths if p not in removed] + added, fractions)
  for path, split in after.items():
    if path in before:
      assert split == before[path], path
    assert split == splits.split_of(path, fractions)  # Its own path decides, nothing else.
  assert all(fractions[splits.SPLITS.index(s)] > 0 for s in after.values())


def test_the_rank_method_of_older_runs_moved_files_and_path_follows_the_fractions():
  rng = random.Random(0)
  paths = _random_paths(rng, 100)
  more = paths + _random_paths(random.Random(1), 10)
  old, new = _assignment(paths, method="rank"), _assignment(more, method="rank")
  assert any(old[p] != new[p] for p in paths)  # The bug: existing files changed split.
  counts = {s: 0 for s in splits.SPLITS}
  for split in _assignment(_random_paths(rng, 20000)).values():
    counts[split] += 1
  for split, fraction in zip(splits.SPLITS, FRACTIONS):
    assert counts[split] / 20000 == pytest.approx(fraction, abs=0.015)


def _image(path, i):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.new("RGB", (40, 40), (37 * i % 256, 91 * i % 256, 200 - i % 200)).save(path)


def _folder(root, names):
  for i, name in enumerate(names):
    _image(root / name, i)
  return root


def _config(root, **overrides):
  config = load_config("unet", "smoke")
  config.data.source, config.data.path = "folder", str(root)
  config.data.split_fractions = (0.8, 0.1, 0.1)
  config.early_stopping.enabled = config.early_stopping.restore_best = False
  config.update(overrides)
  return config


def _counts(config) -> dict[str, int]:
  return {s: len(registry.get("source", "folder")(config.data, s)) for s in splits.SPLITS}


def _train_count(config):
  return _counts(config)["train"]


def _change(root, rng):
  """Ten images added, five removed; returns the per-split counts added and removed."""
  names = sorted(str(p.relative_to(root)) for p in root.rglob("*.png"))
  removed = rng.sample(names, 5)
  for name in removed:
    (root / name).unlink()
  added = [f"new/{i:02d}.png" for i in range(10)]
  for i, name in enumerate(added):
    _image(root / name, 100 + i)
  fractions = (0.8, 0.1, 0.1)
  return {
    s: (
      sum(splits.split_of(n, fractions) == s for n in added),
      sum(splits.split_of(n, fractions) == s for n in removed),
    )
    for s in splits.SPLITS
  }


def _epoch_steps(workdir):
  return [r["step"] for r in read_metrics(str(workdir)) if r["kind"] == "epoch"]


def test_a_changed_list_is_refused_in_one_line_then_allowed_with_epochs_of_the_new_length(
  tmp_path, monkeypatch
):
  root = _folder(tmp_path / "photos", [f"c{i % 3}/{i:03d}.png" for i in range(40)])
  workdir = tmp_path / "run"
  config = _config(root, num_epochs=2)
  before = _train_count(config) // config.batch_size
  train_until_first_checkpoint(config, str(workdir), monkeypatch)  # The end of epoch 1.
  record = json.loads((workdir / data_guard.DATA_FILE).read_text())
  assert record["splits"]["train"]["count"] == _train_count(config)
  counts_before = _counts(config)
  changed = _change(root, random.Random(0))
  counts_after = _counts(config)
  with pytest.raises(data_guard.DataChangedError) as info:
    trainer.train_and_evaluate(config, str(workdir))
  message = str(info.value)
  assert "\n" not in message
  expected = ", ".join(  # e.g. "train +8 -4 (32 -> 36), test +2 -1 (4 -> 5)"
    f"{s} +{a} -{r} ({counts_before[s]} -> {counts_after[s]})"
    for s, (a, r) in changed.items()
    if a or r
  )
  assert f"changed since its checkpoint of step {before}: {expected}; existing files" in message
  assert f"data.path {root}" in message and "--allow_data_change" in message
  assert (workdir / data_guard.DATA_FILE).read_text() == json.dumps(record, indent=2)

  after = _train_count(config) // config.batch_size
  assert after != before
  result = trainer.train_and_evaluate(config, str(workdir), allow_data_change=True)
  assert _epoch_steps(workdir) == [before, before + after]  # Epoch 2: the new list's length.
  assert result["step"] == before + after and result["epochs"] == 2
  assert json.loads((workdir / f"data.{before}.json").read_text()) == record
  assert json.loads((workdir / data_guard.DATA_FILE).read_text())["splits"]["train"]["count"] == (
    _train_count(config)
  )


def test_after_an_allowed_change_mid_epoch_the_epoch_starts_again_on_the_new_list(
  tmp_path, monkeypatch
):
  root = _folder(tmp_path / "photos", [f"{i:03d}.png" for i in range(40)])
  workdir = tmp_path / "run"
  config = _config(root, num_epochs=2, checkpoint=dict(every_steps=1))
  train_until_first_checkpoint(config, str(workdir), monkeypatch)  # Step 1, mid-epoch.
  _change(root, random.Random(1))
  after = _train_count(config) // config.batch_size
  result = trainer.train_and_evaluate(config, str(workdir), allow_data_change=True)
  assert _epoch_steps(workdir) == [1 + after, 1 + 2 * after]
  assert result["step"] == 1 + 2 * after


def test_a_launch_allowed_a_new_list_that_dies_before_its_first_checkpoint_records_nothing(
  tmp_path, monkeypatch
):
  """Otherwise the next launch, without --allow_data_change, would resume the old iterator
  position on the new list."""
  root = _folder(tmp_path / "photos", [f"{i:03d}.png" for i in range(40)])
  workdir = tmp_path / "run"
  config = _config(root, num_epochs=2)
  train_until_first_checkpoint(config, str(workdir), monkeypatch)
  record = (workdir / data_guard.DATA_FILE).read_bytes()
  listing = (workdir / data_guard.LIST_FILE).read_bytes()
  _change(root, random.Random(2))

  def die_before_the_first_step(*args, **kwargs):
    raise KeyboardInterrupt

  with monkeypatch.context() as patch:
    patch.setattr(trainer.Trainer, "_train", die_before_the_first_step)
    with pytest.raises(KeyboardInterrupt):
      trainer.train_and_evaluate(config, str(workdir), allow_data_change=True)
  assert (workdir / data_guard.DATA_FILE).read_bytes() == record
  assert (workdir / data_guard.LIST_FILE).read_bytes() == listing
  with pytest.raises(data_guard.DataChangedError, match="changed since its checkpoint"):
    trainer.train_and_evaluate(config, str(workdir))
  assert (workdir / data_guard.DATA_FILE).read_bytes() == record


@pytest.mark.parametrize("split", ["train", "val"])
def test_best_restarts_when_the_split_the_monitor_scores_changes(tmp_path, monkeypatch, split):
  """val/loss on other photos measures another thing: the old best must not outrank the new."""
  root = _folder(tmp_path / "photos", [f"{i:03d}.png" for i in range(40)])
  workdir = tmp_path / "run"
  config = _config(root, num_epochs=2)
  train_until_first_checkpoint(config, str(workdir), monkeypatch)  # The end of epoch 1.
  (first,) = [int(d) for d in os.listdir(workdir / "checkpoints") if d.isdigit()]
  assert (workdir / "checkpoints" / str(first) / "metrics").is_dir()  # The best so far.
  names = [f"more/{i:03d}.png" for i in range(200)]
  for i, name in enumerate([n for n in names if splits.split_of(n, (0.8, 0.1, 0.1)) == split][:3]):
    _image(root / name, 60 + i)
  trainer.train_and_evaluate(config, str(workdir), allow_data_change=True)
  kept = (workdir / "checkpoints" / str(first) / "metrics").is_dir()
  assert kept == (split == "train")


def test_a_run_without_a_record_records_its_list_and_old_runs_keep_their_split(tmp_path):
  saved = resume_guard.resolved_json(load_config("unet", "smoke"))
  del saved["data"]["split_method"]  # A run begun before the fields.
  del saved["data"]["skip_gray_photos"]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  config = load_config("unet", "smoke")
  resume = resume_guard.check_resume(str(tmp_path), config, 3)
  assert config.data.split_method == "rank" and not resume.restart_best
  assert config.data.skip_gray_photos is False
  old = inference.workdir_config(str(tmp_path)).data
  assert (old.split_method, old.skip_gray_photos) == ("rank", False)
  fresh = load_config("unet", "smoke")
  resume_guard.check_resume(str(tmp_path / "new"), fresh, None)
  assert (fresh.data.split_method, fresh.data.skip_gray_photos) == ("path", True)
