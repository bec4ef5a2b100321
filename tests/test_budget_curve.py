"""bench/budget_curve.py: issue 22's goal per epoch of a run, read as a curve over budgets."""

import pytest
from conftest import load_bench

budget_curve = load_bench("budget_curve")

GRAY = {"psnr": 23.0, "ab_auc": 0.89}


def _epoch(epoch, psnr, auc, dcf, gray=False):
  row = {"step": 100 * epoch, "kind": "epoch", "epoch": epoch}
  row |= {"val/psnr": psnr, "val/ab_auc": auc, "val/delta_colorfulness": dcf}
  if gray:  # The loop logs the gray baseline once per run.
    row |= {"val/gray/psnr": GRAY["psnr"], "val/gray/ab_auc": GRAY["ab_auc"]}
  return row


@pytest.mark.parametrize(
  "config, expected",
  [
    ({"optimizer": {"schedule": "constant", "warmup_steps": 100}}, True),
    ({"optimizer": {"schedule": "cosine"}}, False),
    (
      {"optimizer": {"schedule": "constant"}, "d_optimizer": {"schedule": "linear_decay"}},
      False,
    ),
    ({"optimizer": {"schedule": "constant"}, "early_stopping": {"enabled": True}}, False),
    ({"optimizer": {"schedule": "constant"}, "early_stopping": {"enabled": False}}, True),
  ],
)
def test_only_constant_rate_runs_without_early_stopping_pass_through_shorter_budgets(
  config, expected
):
  assert budget_curve.passes_through_shorter_budgets(config) is expected


def test_the_curve_carries_the_gray_baseline_logged_once_and_skips_step_rows():
  history = [
    {"step": 20, "kind": "step", "train/loss": 1.0},
    _epoch(1, 22.9, 0.890, 30.0, gray=True),
    _epoch(2, 23.3, 0.896, 20.0),
    _epoch(2, 23.3, 0.896, 20.0),  # Logged again by a resumed run.
    _epoch(3, 23.6, 0.901, 9.5),
  ]
  points = budget_curve.curve(history)
  assert [p.epoch for p in points] == [1, 2, 3]
  assert all(p.gray == GRAY for p in points)
  # Epoch 1: PSNR 0.1 dB below gray (short by 0.6 dB = 1.2 thresholds), AuC +0 (1.0), ΔCF 30 (2.0).
  assert points[0].shortfall == pytest.approx(1.2 + 1.0 + 2.0)
  assert not points[1].meets_goal  # +0.3 dB and ΔCF 20.
  assert points[2].meets_goal  # +0.6 dB, +0.011, ΔCF 9.5.
  assert budget_curve.summary(points, 16) == "meets the goal from epoch 3 (4,800 images) on"
  assert budget_curve.table_rows(points[2:], 16) == [
    "| 3 | 4,800 | +0.60 | +0.011 | 9.5 | 0.00 | yes |"
  ]


def test_a_curve_without_the_goal_says_how_far_and_where_its_colour_gap_goes():
  history = [_epoch(1, 23.0, 0.89, 30.0, gray=True)]
  history += [_epoch(e, 23.2, 0.895, 30.0 - e) for e in range(2, 11)]
  points = budget_curve.curve(history)
  shown = budget_curve.shown_epochs(points)
  assert [p.epoch for p in shown] == [1, 2, 4, 8, 10]
  text = budget_curve.summary(points, 16)
  assert text.startswith("does not meet the goal in 10 epochs (16,000 images); nearest at epoch 10")
  # ΔCF from 24 at epoch 6 to 20 at epoch 10.
  assert text.endswith("ΔCF moved -4.0 from epoch 6 to 10 (-1.00 per epoch)")


def test_no_scores_without_a_gray_baseline():
  assert budget_curve.curve([_epoch(1, 23.0, 0.9, 10.0)]) == []
  assert budget_curve.summary([], 16) == "no per-epoch scores on the held-out split"
