"""A shipped model's card: MODEL_CARD.md for people and card.json for programs, and README.md's
"Shipped models" table, rendered from the facts that bench/train_pretrained.py gathers
(make_card there)."""

from __future__ import annotations

import json
import os

from colorize_jax import pretrained

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Headline metrics of the card: (key, heading, format); results_table's columns.
CARD_METRICS = (
  ("psnr", "PSNR dB", "{:.2f}"),
  ("ssim", "SSIM", "{:.3f}"),
  ("colorfulness", "colourfulness", "{:.1f}"),
  ("delta_colorfulness", "ΔCF", "{:.1f}"),
  ("ab_auc", "AuC", "{:.3f}"),
  ("fid", "FID", "{:.1f}"),
)


def _duration(seconds) -> str:
  if seconds is None:
    return "not recorded"
  if seconds < 90:
    return f"{seconds:.0f} s"
  return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def facts(card: dict) -> list[tuple[str, str]]:
  """The card's table of facts, in MODEL_CARD.md as `| field | value |` rows (a test reads them
  back against the bundle)."""
  seen = f"{card['images_seen']:,} of {card['images_budget']:,}"
  return [
    ("recipe", f"`{card['recipe']}`"),
    ("task", card["task"]),
    ("model", card["model"]),
    ("inputs", " + ".join(card["inputs"])),
    ("image size", f"{card['image_size']} px"),
    ("colour space", card["color_space"]),
    ("parameters", f"{card['parameters']:,}"),
    ("batch size", str(card["batch_size"])),
    ("step", f"{card['step']:,}"),
    ("images seen", seen + (" (complete)" if card["complete"] else " (partial)")),
    ("training wall time", _duration(card["train_seconds"])),
    ("machine", "; ".join(card["machines"]) or "not recorded"),
    ("exported", f"{card['exported']} (code {card['code']})"),
  ]


def _metric_rows(name: str, scores: dict) -> list[str]:
  model, gray = scores["model"], scores["gray"]
  cells = [fmt.format(model[k]) if k in model else "–" for k, _, fmt in CARD_METRICS]
  rows = [f"| {name} ({scores['examples']} photos): model | " + " | ".join(cells) + " |"]
  gray_cells = []
  for k, _, fmt in CARD_METRICS:
    if k == "colorfulness" and scores.get("photos_colorfulness") is not None:
      gray_cells.append("photos " + fmt.format(scores["photos_colorfulness"]))
    else:
      gray_cells.append(fmt.format(gray[k]) if k in gray else "–")
  rows.append(f"| {name}: gray input | " + " | ".join(gray_cells) + " |")
  return rows


def render_card(card: dict) -> str:
  """MODEL_CARD.md from card.json's content."""
  lines = [f"# {card['name']}: {card['title']}", ""]
  if not card["complete"]:
    lines += [
      f"**Partial run: images seen: {card['images_seen']:,} of {card['images_budget']:,}.**",
      "",
    ]
  lines += ["| field | value |", "|---|---|"]
  lines += [f"| {k} | {v} |" for k, v in facts(card)]
  lines += ["", "## Use", "", "```bash", card["commands"]["colorize"], "```", ""]
  lines += ["## Data", ""]
  data = card["data"]
  count = f"{data['train_images']:,} photos; " if data["train_images"] else ""
  lines.append(f"Trained on `{data['train_folder']}` ({count}{data['split']}).")
  lines += [f"- {note}" for note in data["notes"]]
  lines += ["", "## Metrics", ""]
  if card["metrics"]:
    lines.append(
      "Every photo of each set, centre square at the model's size, scored by the project's "
      "evaluator (`launch.py --mode=eval`) beside the gray input (the photo's L, no colour):"
    )
    lines += ["", "| set | " + " | ".join(h for _, h, _ in CARD_METRICS) + " |"]
    lines.append("|---|" + "---|" * len(CARD_METRICS))
    for name, scores in card["metrics"].items():
      lines += _metric_rows(name, scores)
    if any("fid" in scores["model"] for scores in card["metrics"].values()):
      lines += [
        "",
        "FID: of the whole set's Inception features against the photos' (evaluators/fid.py); "
        "below 2,049 photos it is biased upwards, so compare it only at equal counts.",
      ]
    for name, scores in card["metrics"].items():
      curve = scores.get("hint_curve", {}).get("psnr")
      if curve:
        points = ", ".join(f"{n} hints {v:.2f} dB" for n, v in curve.items())
        lines += ["", f"PSNR against the number of hints drawn from each photo, {name}: {points}."]
    if card.get("sample"):
      lines += ["", f"![gray, colorized, true: kodak24]({card['sample']})"]
  else:
    lines.append("Not measured (no evaluation photos were given).")
  lines += ["", "## What it is not good at", ""]
  lines += [f"- {c}" for c in card["caveats"]] or ["- (not filled in yet)"]
  lines += [f"- {c}" for c in card["caveats_generated"]]
  lines += ["", "## Commands", "", "```bash"]
  commands = card["commands"]
  lines.append(f"# regenerate: train (resumes), export, evaluate, card\n{commands['regenerate']}")
  if commands["train"]:
    lines.append(f"# its training run\n{commands['train']}")
  lines.append(f"# the export\n{commands['export']}")
  for command in commands["evaluate"]:
    lines.append(command)
  lines += ["```", ""]
  return "\n".join(lines)


def write_card(bundle_dir: str, card: dict) -> None:
  with open(os.path.join(bundle_dir, pretrained.CARD_JSON), "w") as f:
    json.dump(card, f, indent=2)
    f.write("\n")
  with open(os.path.join(bundle_dir, pretrained.MODEL_CARD), "w") as f:
    f.write(render_card(card))


README = os.path.join(ROOT, "README.md")
README_START = "<!-- shipped-models: bench/train_pretrained.py writes this table from the cards -->"
README_END = "<!-- /shipped-models -->"


def _score(scores: dict, key: str, fmt: str) -> str:
  model, gray = scores["model"].get(key), scores["gray"].get(key)
  if model is None:
    return "–"
  return fmt.format(model) + (f" ({fmt.format(gray)})" if gray is not None else "")


def readme_table(cards: list[dict]) -> str:
  """README.md's "Shipped models" table from the shipped cards (the words when there is none)."""
  if not cards:
    return (
      "None yet: `pretrained/` holds no trained bundle, so there are no numbers to show. "
      "`python bench/train_pretrained.py --data=../shared/data` trains and ships them "
      "(`--ship_partial` ships a run partway); this table is then written from their cards."
    )
  lines = [
    "| model | task | images seen | birds/val PSNR dB (gray) | SSIM (gray) | ΔCF (gray) "
    "| FID (gray) | kodak24 PSNR dB (gray) | ΔCF (gray) | card |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for card in cards:
    birds = card["metrics"].get("birds_val") or {"model": {}, "gray": {}}
    kodak = card["metrics"].get("kodak24") or {"model": {}, "gray": {}}
    seen = f"{card['images_seen']:,}" + (
      "" if card["complete"] else f" of {card['images_budget']:,}"
    )
    lines.append(
      f"| `{card['name']}` | {card['task']} | {seen} "
      f"| {_score(birds, 'psnr', '{:.2f}')} | {_score(birds, 'ssim', '{:.3f}')} "
      f"| {_score(birds, 'delta_colorfulness', '{:.1f}')} | {_score(birds, 'fid', '{:.1f}')} "
      f"| {_score(kodak, 'psnr', '{:.2f}')} "
      f"| {_score(kodak, 'delta_colorfulness', '{:.1f}')} "
      f"| [MODEL_CARD.md](pretrained/{card['name']}/MODEL_CARD.md) |"
    )
  return "\n".join(lines)


def update_readme(cards: list[dict], path: str = README) -> bool:
  """Writes `readme_table(cards)` between README_START and README_END; True if it changed."""
  with open(path) as f:
    text = f.read()
  start, end = text.index(README_START) + len(README_START), text.index(README_END)
  updated = text[:start] + "\n" + readme_table(cards) + "\n" + text[end:]
  if updated != text:
    with open(path, "w") as f:
      f.write(updated)
  return updated != text
