"""Resuming loses nothing: damaged checkpoints, saves in flight at an error, mid-epoch means,
config changes."""

import errno
import json
import os
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from conftest import load_config, train_until_first_checkpoint

from colorize_jax import inference
from colorize_jax.outputs.writer import read_metrics
from colorize_jax.train import (
  checkpoint,
  hooks,
  pending_change,
  resume_guard,
  run_setup,
  trainer,
)

RESUMABLE = dict(
  num_epochs=2,
  checkpoint=dict(every_steps=1),
  early_stopping=dict(enabled=False, restore_best=False),
)


def _config(**overrides):
  config = load_config("unet", "smoke")  # 3 steps an epoch.
  config.update(RESUMABLE)
  config.update(overrides)
  return config


def _steps(workdir):
  return sorted(int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit())


def _epochs(workdir):
  """Epoch records without their wall time."""
  return [
    {k: v for k, v in r.items() if not k.startswith("time/")}
    for r in read_metrics(str(workdir))
    if r["kind"] == "epoch"
  ]


@pytest.fixture(scope="module", name="reference")
def reference_fixture(tmp_path_factory):
  """An uninterrupted 2-epoch run, checkpointed every step."""
  workdir = tmp_path_factory.mktemp("reference")
  result = trainer.train_and_evaluate(_config(), str(workdir))
  return str(workdir), result


def _interrupted_at(workdir, stop_after: int, **overrides):
  """Trains until step `stop_after` is saved, then fails as a crash would (in the loop)."""
  config = _config(**overrides)
  original = hooks.StepLog.__call__

  def crash(self, step, pending, epoch):
    if step > stop_after:
      raise KeyboardInterrupt
    return original(self, step, pending, epoch)

  hooks.StepLog.__call__ = crash
  try:
    with pytest.raises(KeyboardInterrupt):
      trainer.train_and_evaluate(config, str(workdir))
  finally:
    hooks.StepLog.__call__ = original


@pytest.mark.portability
def test_epoch_means_after_a_mid_epoch_resume_equal_the_uninterrupted_runs(reference, tmp_path):
  ref_dir, ref_result = reference
  _interrupted_at(tmp_path, stop_after=4)  # Epoch 2 is one step in.
  assert max(_steps(tmp_path)) == 4
  result = trainer.train_and_evaluate(_config(), str(tmp_path))
  assert _epochs(tmp_path) == _epochs(ref_dir)
  assert result["val"] == ref_result["val"]


def test_an_error_in_the_loop_waits_for_the_save_in_flight(tmp_path, monkeypatch):
  config = _config()
  make_train_step = run_setup.make_train_step

  def nan_loss_from_step_2(task, config):
    # Step 1 is finite and saved; step 2's loss is NaN, so the error comes while step 1's save
    # may be in flight. (A NaN learning rate no longer does this: the step's parameter norm is
    # non-finite at step 1 already, and nothing is saved.)
    step_fn = make_train_step(task, config)

    def step(state, batch, key):
      state_after, metrics = step_fn(state, batch, key)
      loss = jnp.where(state.step >= 1, jnp.nan, metrics["loss"])
      return state_after, dict(metrics, loss=loss)

    return step

  monkeypatch.setattr(run_setup, "make_train_step", nan_loss_from_step_2)
  with pytest.raises(trainer.NonFiniteLossError, match="last good checkpoint is step 1"):
    trainer.train_and_evaluate(config, str(tmp_path))
  assert _steps(tmp_path) == [1]
  assert not [d for d in os.listdir(tmp_path / "checkpoints") if "tmp" in d]


@pytest.mark.parametrize("where", ["asynchronous write", "save call"])
def test_a_failed_save_stops_the_run_at_the_step_after_it_naming_that_step(
  tmp_path, monkeypatch, where
):
  """Issue 23: a full disk used to surface at the next save, an epoch after the one that failed."""
  from orbax.checkpoint._src.handlers import json_checkpoint_handler

  def full_disk(path):
    return OSError(errno.ENOSPC, "No space left on device", path)

  if where == "asynchronous write":  # In Orbax's background commit of step 3's JSON items.
    write = json_checkpoint_handler.JsonCheckpointHandler._save_fn

    async def failing_write(self, x, directory):
      if "/3.orbax-checkpoint-tmp" in str(directory):
        raise full_disk(str(directory / "metadata"))
      return await write(self, x, directory)

    monkeypatch.setattr(json_checkpoint_handler.JsonCheckpointHandler, "_save_fn", failing_write)
  else:  # Where the save is issued (e.g. its folder cannot be made).
    save = ocp.CheckpointManager.save

    def failing_save(self, step, *args, **kwargs):
      if step == 3:
        raise full_disk(f"{self.directory}/3.orbax-checkpoint-tmp")
      return save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", failing_save)
  config = _config(num_epochs=3, checkpoint=dict(every_steps=0))  # Saves at steps 3, 6 and 9.
  with pytest.raises(checkpoint.CheckpointSaveError) as info:
    trainer.train_and_evaluate(config, str(tmp_path))
  message = str(info.value)
  assert "\n" not in message
  assert message.startswith(
    f"the checkpoint of step 3 could not be written to {tmp_path}/checkpoints: OSError: "
    "[Errno 28] No space left on device"
  )
  stopped_at = 4 if where == "asynchronous write" else 3  # The step after the save, or at it.
  assert f"Training stopped at step {stopped_at}; the last complete checkpoint is none yet" in (
    message
  )
  assert "relaunch" in message
  assert max(r["step"] for r in read_metrics(str(tmp_path)) if r["kind"] == "step") == 3
  assert _steps(tmp_path) == []


def _damage(step_dir, how):
  if how == "truncated state file":
    files = [
      os.path.join(d, f)
      for d, _, fs in os.walk(os.path.join(step_dir, "state"))
      for f in fs
      if os.path.getsize(os.path.join(d, f)) > 100
    ]
    for path in files:
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
  elif how == "truncated data file":  # Array data only: TensorStore's error ends in `})>.`.
    for d, _, fs in os.walk(os.path.join(step_dir, "state")):
      for f in fs if os.path.basename(d) == "d" else ():
        path = os.path.join(d, f)
        with open(path, "r+b") as fh:
          fh.truncate(os.path.getsize(path) // 2)
  elif how == "missing state":
    shutil.rmtree(os.path.join(step_dir, "state"))
  elif how == "empty progress":
    open(os.path.join(step_dir, "progress", "metadata"), "w").close()


def _restore_copy(reference, tmp_path, damaged_steps, how):
  """Damages steps of a copy of the reference run, then restores it as a relaunch would."""
  workdir = tmp_path / "run"
  shutil.copytree(reference, workdir)
  for step in damaged_steps:
    _damage(workdir / "checkpoints" / str(step), how)
  run = trainer.Trainer(_config(), str(workdir))
  return workdir, run.init_or_restore(run.data.train_iterator())


@pytest.mark.parametrize(
  "how", ["truncated state file", "truncated data file", "missing state", "empty progress"]
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_next_older(reference, tmp_path, how, caplog):
  ref_dir, _ = reference
  assert _steps(ref_dir) == [3, 4, 5, 6]  # The latest three and the best (3).
  with caplog.at_level("INFO"):
    workdir, (state, progress) = _restore_copy(ref_dir, tmp_path, [6], how)
  assert "checkpoint step 6:" in caplog.text and "trying the next older one" in caplog.text
  if how == "empty progress":
    assert "6/progress/metadata: JSONDecodeError" in caplog.text
  if how.startswith("truncated"):  # The damaged file is named (it now lies in 6.corrupt).
    named = re.search(r"checkpoint step 6: (\S+): (.*); trying", caplog.text)
    step_dir = f"{workdir}/checkpoints/6/state/"
    assert named and named.group(1).startswith(step_dir), caplog.text
    assert os.path.isfile(named.group(1).replace("/6/", "/6.corrupt/"))
    assert "})>." not in named.group(2)
  assert "resuming at step 5" in caplog.text and int(state.step) == 5
  assert (workdir / "checkpoints" / "6.corrupt").is_dir() and _steps(workdir) == [3, 4, 5]
  expected = ocp.StandardCheckpointer().restore(os.path.join(ref_dir, "checkpoints", "5", "state"))
  for a, b in zip(jax.tree.leaves(expected["params"]), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(a, b)


def test_a_damaged_checkpoint_that_eval_asks_for_names_its_file_and_what_to_do(reference, tmp_path):
  """Issue 23: a truncated array file was reported as `Exception: })>.`, naming no file."""
  ref_dir, _ = reference
  workdir = tmp_path / "run"
  shutil.copytree(ref_dir, workdir)
  _damage(workdir / "checkpoints" / "6", "truncated data file")
  with pytest.raises(checkpoint.CheckpointError) as info:
    inference.restore_state(_config(), str(workdir), 6)
  message = str(info.value)
  assert "\n" not in message and "})>." not in message
  named = re.match(r"step 6: (\S+): ValueError: ", message)
  assert named and os.path.isfile(named.group(1)), message
  assert named.group(1).startswith(f"{workdir}/checkpoints/6/state/")
  assert f"move {workdir}/checkpoints/6 aside or delete it" in message
  assert "saved steps besides it: [3, 4, 5]" in message


def test_when_no_checkpoint_restores_the_error_lists_each_and_moves_none(reference, tmp_path):
  ref_dir, _ = reference
  with pytest.raises(
    checkpoint.CheckpointError,
    match="could be restored; tried step 6: .* step 5: .* step 4: .* step 3: ",
  ):
    _restore_copy(ref_dir, tmp_path, [3, 4, 5, 6], "missing state")
  assert _steps(tmp_path / "run") == [3, 4, 5, 6]


def test_a_learning_change_is_refused_with_a_diff_and_allowed_on_request(reference, tmp_path):
  ref_dir, _ = reference
  workdir = tmp_path / "run"
  shutil.copytree(ref_dir, workdir)
  changed = _config(num_epochs=3, loss="l1")
  changed.optimizer.learning_rate = 0.05
  with pytest.raises(resume_guard.ConfigChangedError) as info:
    trainer.train_and_evaluate(changed, str(workdir))
  message = str(info.value)
  assert f"workdir {workdir} holds a run with a different config" in message
  assert "loss: 'mse' -> 'l1'" in message and "optimizer.learning_rate: 0.001 -> 0.05" in message
  assert "num_epochs" not in message  # A safe change is not part of the refusal.
  assert "--workdir" in message and "--allow_config_change" in message
  assert json.loads((workdir / "config.json").read_text())["loss"] == "mse"

  changed.early_stopping.restore_best = True
  result = trainer.train_and_evaluate(changed, str(workdir), allow_config_change=True)
  assert json.loads((workdir / "config.6.json").read_text())["loss"] == "mse"
  assert json.loads((workdir / "config.json").read_text())["loss"] == "l1"
  # "best" restarted: the L1 continuation's own best, not an MSE value from before the change.
  assert result["step"] == 9 and result["best_step"] == 9


def test_a_safe_change_resumes_with_a_log_line(reference, tmp_path, caplog):
  ref_dir, _ = reference
  workdir = tmp_path / "run"
  shutil.copytree(ref_dir, workdir)
  with caplog.at_level("INFO"):
    result = trainer.train_and_evaluate(_config(num_epochs=3, log_every_steps=2), str(workdir))
  assert "do not change what is learned: log_every_steps 1 -> 2, num_epochs 2 -> 3" in caplog.text
  assert result["step"] == 9
  assert json.loads((workdir / "config.6.json").read_text())["num_epochs"] == 2


def test_fields_the_data_source_does_not_read_are_not_changes(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps(resume_guard.resolved_json(_config())))
  changed = _config()
  changed.data.split_fractions = (0.5, 0.25, 0.25)  # The sample source splits by photo.
  assert resume_guard.check_resume(str(tmp_path), changed, 3).changes == []
  changed.data.sample_crops_per_photo = 5
  assert [
    k for k, _, _ in resume_guard.check_resume(str(tmp_path), changed, 3, allow_change=True).changes
  ] == ["data.sample_crops_per_photo"]


def test_options_added_by_a_later_version_pass_and_removed_ones_are_refused(tmp_path):
  saved = resume_guard.resolved_json(_config())
  del saved["eval"]["max_examples"], saved["model"]["name"]
  saved["an_option_since_removed"] = 1
  (tmp_path / "config.json").write_text(json.dumps(saved))
  with pytest.raises(resume_guard.ConfigChangedError) as refused:
    resume_guard.check_resume(str(tmp_path), _config(), 3)
  assert "an_option_since_removed" in str(refused.value)
  # A field the run's config lacks is safe however it is named: the old code had no such option.
  assert "model.name" not in str(refused.value) and "max_examples" not in str(refused.value)
  del saved["an_option_since_removed"]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  resume = resume_guard.check_resume(str(tmp_path), _config(), 3)
  assert {k for k, _, _ in resume.changes} == {"eval.max_examples", "model.name"}
  assert not resume.restart_best


@pytest.mark.parametrize("schedule", ["linear_decay", "cosine"])
@pytest.mark.parametrize("field, value", [("num_epochs", 4), ("max_train_steps", 100)])
def test_a_new_budget_that_would_re_time_a_schedule_is_refused_unless_asked(
  tmp_path, schedule, field, value
):
  """Issue 25, point 3: linear_decay and cosine are timed by the step budget; a new budget
  on resume would change the learning rate of steps already planned (pix2pix's at step 75
  of 100: 1e-4 -> 2e-4 when the budget doubles)."""
  saved = _config()
  saved.optimizer.schedule = schedule
  (tmp_path / "config.json").write_text(json.dumps(resume_guard.resolved_json(saved)))
  changed = _config(**{field: value})
  changed.optimizer.schedule = schedule
  with pytest.raises(
    resume_guard.ConfigChangedError, match=rf"{field} \(re-times optimizer.schedule='{schedule}'\)"
  ):
    resume_guard.check_resume(str(tmp_path), changed, 3)
  resume = resume_guard.check_resume(str(tmp_path), changed, 3, allow_change=True)
  assert resume.restart_best
  # A constant schedule has no timing: the budget stays a safe change.
  saved.optimizer.schedule = changed.optimizer.schedule = "constant"
  (tmp_path / "config.json").write_text(json.dumps(resume_guard.resolved_json(saved)))
  resume = resume_guard.check_resume(str(tmp_path), changed, 3)
  assert [k for k, _, _ in resume.changes] == [field] and not resume.restart_best


def _monitored(workdir):
  return [s for s in _steps(workdir) if (workdir / "checkpoints" / str(s) / "metrics").is_dir()]


def test_a_changed_launch_that_dies_before_its_first_checkpoint_leaves_the_records(
  reference, tmp_path
):
  """Otherwise the next launch, without --allow_config_change, would resume the MSE checkpoint
  under the L1 config, and the old best would have lost its monitored value."""
  ref_dir, _ = reference
  workdir = tmp_path / "run"
  shutil.copytree(ref_dir, workdir)
  saved, monitored = (workdir / "config.json").read_bytes(), _monitored(workdir)
  assert monitored  # The reference's best is known by its monitored value.
  changed = _config(num_epochs=3, loss="l1")
  original = hooks.StepLog.__call__

  def die_at_the_first_step(self, step, pending, epoch):
    assert (workdir / pending_change.PENDING_FILE).exists()  # Written ahead of the step.
    raise KeyboardInterrupt

  hooks.StepLog.__call__ = die_at_the_first_step
  try:
    with pytest.raises(KeyboardInterrupt):
      trainer.train_and_evaluate(changed, str(workdir), allow_config_change=True)
  finally:
    hooks.StepLog.__call__ = original
  assert _steps(workdir)[-1] == 6
  assert (workdir / "config.json").read_bytes() == saved and not (
    workdir / "config.6.json"
  ).exists()
  assert _monitored(workdir) == monitored
  with pytest.raises(resume_guard.ConfigChangedError, match="loss: 'mse' -> 'l1'"):
    trainer.train_and_evaluate(changed, str(workdir))
  assert not (workdir / pending_change.PENDING_FILE).exists()  # Dropped: it never held.


def test_a_change_checkpointed_before_the_launch_died_is_recorded_by_the_next(
  reference, tmp_path, monkeypatch
):
  """Killed between its first save and recording the change: the checkpoint of step 7 is L1's,
  so the next launch continues it as L1 without the flag, and 'best' is among L1's steps."""
  ref_dir, _ = reference
  workdir = tmp_path / "run"
  shutil.copytree(ref_dir, workdir)
  changed = _config(num_epochs=3, loss="l1")
  changed.early_stopping.restore_best = True
  train_until_first_checkpoint(changed, str(workdir), monkeypatch, allow_config_change=True)
  assert _steps(workdir)[-1] == 7
  assert json.loads((workdir / "config.json").read_text())["loss"] == "mse"  # Not yet recorded.
  result = trainer.train_and_evaluate(changed, str(workdir))
  assert json.loads((workdir / "config.json").read_text())["loss"] == "l1"
  assert json.loads((workdir / "config.6.json").read_text())["loss"] == "mse"
  assert not (workdir / pending_change.PENDING_FILE).exists()
  assert result["step"] == 9 and result["best_step"] > 6
  assert all(s > 6 for s in _monitored(workdir))


def test_a_damaged_pending_change_is_dropped_and_the_records_kept(tmp_path, caplog):
  (tmp_path / "config.json").write_text('{"loss": "mse"}')
  (tmp_path / pending_change.PENDING_FILE).write_text('{"step": 3, "conf')  # Cut short.
  with caplog.at_level("WARNING"):
    pending_change.settle(str(tmp_path))
  assert f"{pending_change.PENDING_FILE} cannot be read" in caplog.text
  assert not (tmp_path / pending_change.PENDING_FILE).exists()
  assert (tmp_path / "config.json").read_text() == '{"loss": "mse"}'
