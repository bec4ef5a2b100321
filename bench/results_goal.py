"""Issue 22's goal in RESULTS.md: the ablations and their verdicts on held-out photos, the
recommended recipe, the goal by training budget and the classification head's decoding
temperature (docs/DESIGN.md, "Judging an ablation" and "A run's epochs as budgets")."""

from __future__ import annotations

import collections
import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _path in (ROOT, BENCH):  # Run as a script from a checkout that is not pip-installed.
  if _path not in sys.path:
    sys.path.insert(0, _path)

import budget_curve  # noqa: E402
import recipe_goal  # noqa: E402
import temperature_sweep  # noqa: E402
from results_markdown import COLUMNS, fmt, status, table  # noqa: E402
from study_runs import CLAIMS_EVAL, EVALS, Run, image_size  # noqa: E402

# Issue 22's goal, on birds/val at the reference budget, in these (corrected) metrics.
GOAL_PSNR_DB, GOAL_AUC, GOAL_DCF = (recipe_goal.GOAL[k] for k in recipe_goal.KEYS)


def goal_check(run: Run, eval_name: str = CLAIMS_EVAL) -> tuple[bool, str] | None:
  """(met, evidence) of issue 22's goal for one run: PSNR >= gray + 0.5 dB, AuC >= gray + 0.01
  and ΔCF (ours, per image) <= 10; None when unmeasured."""
  model = {k: run.metric(eval_name, k) for k in recipe_goal.KEYS}
  gray = {k: run.metric(eval_name, k, gray=True) for k in ("psnr", "ab_auc")}
  if None in model.values() or None in gray.values():
    return None
  evidence = (
    f"PSNR {model['psnr'] - gray['psnr']:+.2f} dB, AuC {model['ab_auc'] - gray['ab_auc']:+.3f} "
    f"over gray, ΔCF {model['delta_colorfulness']:.1f}"
  )
  r = run.metric(eval_name, "colourfulness_r")
  if r is not None:
    evidence += f" (colourfulness r {r:.2f})"
  return recipe_goal.meets_goal(model, gray), evidence


# Issue 22 keeps the changes that measurably help, judged on the held-out 10% of birds/train
# (`val`, which every run scores at its end), never on birds/val or kodak24, which only report.
# A change helps when it moves one of the goal's metrics past its margin the right way and none
# past it the wrong way. The margins are about twice the photo-sampling standard error of a
# difference between two models on ~300 photos (docs/DESIGN.md, "Judging an ablation").
HELD_OUT = "val"
MARGINS = (  # (metric, title, margin, +1 if higher is better else -1, format of a Δ)
  ("psnr", "PSNR dB", 0.2, 1, "+.2f"),
  ("ab_auc", "AuC", 0.003, 1, "+.3f"),
  ("delta_colorfulness", "ΔCF", 1.0, -1, "+.1f"),
)


def held_out(run: Run, key: str) -> float | None:
  value = ((run.final or {}).get(HELD_OUT) or {}).get(key)
  return float(value) if isinstance(value, (int, float)) else None


def held_out_photos(run: Run) -> tuple[str | None, bool]:
  """What a run's held-out split holds: its training folder (flowers mixed in: other photos)
  and whether gray photos were left out (data.skip_gray_photos; runs from before the field kept
  them; docs/DESIGN.md "Gray photos")."""
  data = run.config.get("data") or {}
  return data.get("path"), bool(data.get("skip_gray_photos", False))


def reference_photos(runs: list[Run]) -> tuple[str | None, bool] | None:
  """The held-out photos most of the study's own recipes (not its ablations) were scored on."""
  found = [held_out_photos(r) for r in runs if not r.study.get("ablation_of")]
  return collections.Counter(found).most_common(1)[0][0] if found else None


def held_out_verdict(run: Run, base: Run | None) -> tuple[str, list[str]]:
  """(verdict, the deltas' cells) of an ablation against its base on the held-out split."""
  if base is None:
    return "no base run", ["–"] * len(MARGINS)
  if held_out_photos(run) != held_out_photos(base):
    return "not comparable: other held-out photos", ["–"] * len(MARGINS)
  cells, better, worse = [], [], []
  for key, title, margin, sign, spec in MARGINS:
    value, base_value = held_out(run, key), held_out(base, key)
    if value is None or base_value is None:
      return "not measured yet", ["–"] * len(MARGINS)
    delta = value - base_value
    cells.append(format(delta, spec))
    if sign * delta >= margin:
      better.append(title)
    elif sign * delta <= -margin:
      worse.append(title)
  if better and not worse:
    return f"**helps** ({', '.join(better)})", cells
  if worse and not better:
    return f"hurts ({', '.join(worse)})", cells
  if better:
    return f"mixed (better {', '.join(better)}; worse {', '.join(worse)})", cells
  return "no measurable change", cells


def ablation_section(runs: list[Run], ablations: list[Run]) -> list[str]:
  """Issue 22: each ablation beside the recipe it changes, and which run meets the goal."""
  by_name = {r.name: r for r in runs}
  md = ["", "## Ablations and the recipe goal", ""]
  md += [
    f"Goal (issue 22, `{CLAIMS_EVAL}`, equal budget): PSNR at least {GOAL_PSNR_DB:g} dB and "
    f"AuC at least {GOAL_AUC:g} above the gray input's, and ΔCF at most {GOAL_DCF:g}, all in "
    "one recipe. Each ablation changes one thing of the recipe named beside it (its command "
    "is under Recipes).",
    "",
  ]
  rows, verdict_rows, kept = [], [], []
  for run in ablations:
    base = by_name.get(run.study["ablation_of"])
    cells = [run.name, run.study["ablation_of"]]
    for key, _, spec, _ in COLUMNS[:6]:
      value = run.metric(CLAIMS_EVAL, key)
      base_value = base.metric(CLAIMS_EVAL, key) if base else None
      delta = f" ({value - base_value:+.3g})" if None not in (value, base_value) else ""
      cells.append(fmt(value, spec) + delta if value is not None else "–")
    rows.append(cells)
    verdict, deltas = held_out_verdict(run, base)
    verdict_rows.append([run.name, run.study["ablation_of"], *deltas, verdict])
    kept += [run.name] if verdict.startswith("**helps**") else []
  if rows:
    margins = ", ".join(f"{title} {margin:g}" for _, title, margin, _, _ in MARGINS)
    md += [
      "Kept or not, on the held-out 10% of `birds/train` (the runs' `val` split at their last "
      "weights; birds/val and kodak24 only report): Δ against the base recipe, and the verdict "
      f"at margins of {margins} (about twice the photo-sampling standard error).",
      "",
    ]
    md += table(
      ["ablation", "of"] + [f"held-out {title} Δ" for _, title, _, _, _ in MARGINS] + ["verdict"],
      verdict_rows,
    )
    md += ["", f"Changes that measurably help: {', '.join(kept) if kept else 'none yet'}.", ""]
    md += [f"On `{CLAIMS_EVAL}`:", ""]
    md += table(
      ["ablation", "of"] + [f"{title} (Δ vs its base)" for _, title, _, _ in COLUMNS[:6]], rows
    )
    md += [""]
  return md + goal_lines(runs) + recommendation_section(runs)


def goal_lines(runs: list[Run]) -> list[str]:
  """Each measured run's goal evidence on CLAIMS_EVAL, then which runs meet it."""
  checked = [(r, goal_check(r)) for r in runs]
  met = [r.name for r, c in checked if c and c[0]]
  md = [f"- {r.name}: {c[1]}{' — **meets the goal**' if c[0] else ''}." for r, c in checked if c]
  md += ["", f"Recipes that meet the goal: {', '.join(met) if met else 'none yet'}."]
  return md + constant_colourfulness_lines(runs)


def constant_colourfulness_lines(runs: list[Run]) -> list[str]:
  """The ΔCF floor of a recipe that colours every photo equally vividly, on the goal's photos
  and the held-out split (recipe_goal.colourfulness_spread), beside the goal's ΔCF."""
  floors = []
  reference = reference_photos(runs)
  for eval_name, label in ((CLAIMS_EVAL, f"`{CLAIMS_EVAL}`"), (HELD_OUT, "the held-out split")):
    # The held-out split's photos differ between runs on other folders: the reference ones.
    same = [r for r in runs if eval_name != HELD_OUT or held_out_photos(r) == reference]
    floor = next((f for r in same if (f := r.metric(eval_name, "constant_dcf", gray=True))), None)
    if floor is not None:
      floors.append(f"{floor:.1f} on {label}")
  if not floors:
    return []
  return [
    "",
    f"Per-image ΔCF rewards knowing how colourful each photo is: colouring every photo at its "
    f"set's median colourfulness (the best a recipe can do without telling vivid photos from "
    f"dull ones) scores ΔCF {' and '.join(floors)}, against the goal's "
    f"{GOAL_DCF:g}. Below that floor a recipe's colourfulness must follow the photos' "
    f"(colourfulness r: the correlation of predicted and true colourfulness per photo).",
  ]


def goal_shortfall(run: Run) -> tuple[float, list[float]] | None:
  """How far a run's held-out scores fall short of the goal (recipe_goal.shortfall): (the sum,
  [PSNR, AuC, ΔCF]). The gray baseline is the held-out split's own (eval/val.json); None when
  either is missing."""
  if HELD_OUT not in run.evals:
    return None
  gray = run.evals[HELD_OUT][1]
  model = {k: held_out(run, k) for k in recipe_goal.KEYS}
  if None in model.values() or not {"psnr", "ab_auc"} <= gray.keys():
    return None
  return recipe_goal.shortfall(model, gray)


def ranked(runs: list[Run]) -> list[tuple[Run, tuple[float, list[float]]]]:
  """The runs scored on the study's held-out photos (`reference_photos`) by their goal shortfall
  there, nearest first."""
  reference = reference_photos(runs)
  scored = [(r, goal_shortfall(r)) for r in runs if held_out_photos(r) == reference]
  return sorted([(r, s) for r, s in scored if s is not None], key=lambda x: x[1][0])


def recommendation_section(runs: list[Run]) -> list[str]:
  """The recipe to start from: the birds-only run nearest the goal on the held-out split
  (chosen where birds/val and kodak24 play no part), ranked by its summed shortfall."""
  scored = ranked(runs)
  if not scored:
    return []
  md = ["", "### Recommended recipe", ""]
  md += [
    "Ranked by the distance from the goal on the held-out 10% of `birds/train` (against "
    "its own gray input): the shortfall of each criterion in units of its threshold "
    f"({GOAL_PSNR_DB:g} dB, {GOAL_AUC:g} AuC, ΔCF {GOAL_DCF:g}; 0 where met), summed. Runs "
    "trained on other photos (flowers mixed in) or without the gray photos are left out: their "
    "held-out photos differ.",
    "",
  ]
  rows = [[r.name, f"{total:.2f}"] + [f"{p:.2f}" for p in parts] for r, (total, parts) in scored]
  md += table(["recipe", "shortfall", "PSNR", "AuC", "ΔCF"], rows)
  best = scored[0][0]
  md += ["", f"Recommended: **{best.name}**, the nearest to the goal at this budget.", ""]
  return md


def budget_section(runs: list[Run], budget_runs: list[Run]) -> list[str]:
  """Issue 22's "at what budget": the goal per epoch on the held-out split, for the
  recommended recipe of the reference study and every run of the longer-budget study
  (bench/budget_curve.py says why one run's epochs stand for shorter runs)."""
  nearest = ranked(runs)[:1]
  by_name = {r.name: r for r in runs}
  shown = [(r, "reference study") for r, _ in nearest] + [(r, "longer budget") for r in budget_runs]
  md = []
  for run, where in shown:
    if not budget_curve.passes_through_shorter_budgets(run.config):
      md += [
        f"- {run.name} ({where}): its learning rate decays over the run, so its epochs "
        "are not shorter budgets.",
        "",
      ]
      continue
    points = budget_curve.curve(run.history, HELD_OUT)
    if not points:
      continue
    progress = "" if status(run) == "finished" else f"; {status(run)}"
    md += [
      f"**{run.name}** ({where}, {image_size(run)} px, batch {run.batch_size}{progress}): "
      f"{budget_curve.summary(points, run.batch_size)}.",
      "",
    ]
    reference = by_name.get(run.name)
    if (
      where == "longer budget"
      and reference is not None
      and image_size(reference) == image_size(run)
    ):
      check = budget_curve.reproduction(points, budget_curve.curve(reference.history, HELD_OUT))
      if check:
        md += [f"Checking the premise against the reference study's {run.name}: {check}.", ""]
    md += (
      budget_curve.TABLE_HEADER
      + budget_curve.table_rows(budget_curve.shown_epochs(points), run.batch_size)
      + [""]
    )
  if not md:
    return []
  intro = (
    "Issue 22's goal at every budget a run passed through, on the held-out 10% of "
    "`birds/train` against its gray input: at a constant learning rate and without early "
    "stopping, a run's weights after epoch k are those of a k-epoch run (`bench/budget_curve.py`)."
    " Shortfall: as under Recommended recipe."
  )
  return ["", "## By training budget", "", intro, ""] + md


def temperature_curve(run: Run, set_name: str) -> dict[float, dict]:
  """{temperature: {"metrics", "gray_baseline"}} of a run's bench/temperature_sweep.py reports
  on one set ({} without a sweep)."""
  curve = {}
  for name, (model, gray) in run.evals.items():
    head, _, value = name.rpartition("_t")
    if head == set_name:
      try:
        curve[float(value)] = {"metrics": model, "gray_baseline": gray}
      except ValueError:
        pass  # Another report whose name has a "_t" in it.
  return curve


def temperature_section(runs: list[Run]) -> list[str]:
  """Each classification run's decoding-temperature sweep: held-out val (where a temperature
  may be chosen), then birds/val (reports only), with issue 22's goal per temperature."""
  swept = [r for r in runs if temperature_curve(r, "val")]
  if not swept:
    return []
  md = ["", "## Decoding temperature of the classification head", ""]
  md += [
    "The annealed mean (Zhang et al. 2016) decodes the predicted ab distribution at a "
    "temperature: 1 is its mean (smooth, the best PSNR), towards 0 its mode (vivid); the "
    "recipes decode at 0.38, the paper's choice. The temperature only decodes the trained "
    "logits, so one run's last weights give the whole trade-off "
    "(`bench/temperature_sweep.py`; gains against the gray input; goal: issue 22's, per row).",
    "",
  ]
  for run in swept:
    for set_name, heading in (("val", "held-out 10% of birds/train"), (CLAIMS_EVAL, None)):
      curve = temperature_curve(run, set_name)
      if curve:
        title = heading or dict(EVALS).get(set_name, set_name)
        md += [f"**{run.name} on {title}**", ""]
        md += temperature_sweep.TABLE_HEADER + temperature_sweep.table_rows(curve) + [""]
  return md
