"""The trained bundles shipped in the repository's `pretrained/` folder: list them, pick the
default, load one by name.

  python -m colorize_jax.pretrained                  # what is shipped, the default first
  python -m colorize_jax.colorize photo.jpg --output=out/              # the default bundle
  python -m colorize_jax.colorize --bundle=pretrained:hints photo.jpg --output=out/
  python -m colorize_jax.colorize --bundle=hints photo.jpg --output=out/   # a name works too

Each shipped model is a folder `pretrained/<name>/`: an exported bundle (bundle.json,
config.json, variables/; colorize_jax/export.py) plus its card, `MODEL_CARD.md` for people and
`card.json` for programs (recipe, data, images seen, wall time, machine, metrics beside the gray
input). `bench/train_pretrained.py` trains, exports, evaluates and cards them, and refuses a
`pretrained/` above `MAX_TOTAL_BYTES`. The folder is found beside the package (a source
checkout or an editable install) or at $COLORIZE_JAX_PRETRAINED.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

# The model colorize and the demo use when none is named; the first shipped one otherwise.
DEFAULT = "classification_l1_ema"  # RESULTS.md's recommended recipe.
PREFIX = "pretrained:"
ENV_DIR = "COLORIZE_JAX_PRETRAINED"
CARD_JSON = "card.json"
MODEL_CARD = "MODEL_CARD.md"
# Everything under pretrained/ together (bundles and cards): what the repository can carry.
MAX_TOTAL_BYTES = 30_000_000

TRAIN_COMMAND = "python bench/train_pretrained.py --data=../shared/data"
NONE_SHIPPED = (
  "no trained bundle is shipped in {directory} yet: train and ship one with "
  f"`{TRAIN_COMMAND}` (add --ship_partial to ship a run that is partway), "
  "or name a model with --bundle=DIR or --workdir=RUN"
)


def directory() -> str:
  """$COLORIZE_JAX_PRETRAINED, else `pretrained/` beside the colorize_jax package."""
  here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return os.path.abspath(os.environ.get(ENV_DIR) or os.path.join(here, "pretrained"))


@dataclasses.dataclass(frozen=True)
class Shipped:
  """One shipped model: its name (the folder's), bundle folder and card (card.json, {} if none)."""

  name: str
  path: str
  card: dict

  @property
  def complete(self) -> bool:
    """Trained for its whole budget (a partial run's card says how far it got)."""
    return bool(self.card.get("complete"))

  def describe(self) -> str:
    """One line: name, task, size, how much it saw, and where it lies."""
    card = self.card
    seen, budget = card.get("images_seen"), card.get("images_budget")
    trained = (
      f"{seen:,} images seen" + ("" if self.complete or not budget else f" of {budget:,}")
      if isinstance(seen, int)
      else "no card"
    )
    what = ", ".join(
      str(v)
      for v in (
        card.get("task"),
        f"{card['image_size']} px" if card.get("image_size") else None,
        trained,
      )
      if v
    )
    return f"{self.name} ({what}): {self.path}"


def is_bundle(path: str) -> bool:
  return os.path.isfile(os.path.join(path, "bundle.json"))


def shipped(root: str | None = None) -> list[Shipped]:
  """Every bundle folder of `root` (default `directory()`), DEFAULT first, then by name."""
  root = root or directory()
  if not os.path.isdir(root):
    return []
  found = []
  for name in sorted(os.listdir(root)):
    path = os.path.join(root, name)
    if name.startswith(".") or not is_bundle(path):
      continue
    card = {}
    if os.path.isfile(os.path.join(path, CARD_JSON)):
      with open(os.path.join(path, CARD_JSON)) as f:
        card = json.load(f)
    found.append(Shipped(name, path, card))
  return sorted(found, key=lambda s: (s.name != DEFAULT, s.name))


def default(root: str | None = None) -> Shipped | None:
  """DEFAULT when shipped, else the first shipped model (None when nothing is shipped)."""
  models = shipped(root)
  return models[0] if models else None


def none_shipped(root: str | None = None) -> str:
  return NONE_SHIPPED.format(directory=root or directory())


def find(name: str, root: str | None = None) -> Shipped:
  """The shipped model called `name` (a leading 'pretrained:' is allowed); ValueError naming
  the shipped ones otherwise."""
  name = name.removeprefix(PREFIX)
  models = shipped(root)
  for model in models:
    if model.name == name:
      return model
  if not models:
    raise ValueError(f"no shipped model {name!r}: {none_shipped(root)}")
  names = ", ".join(m.name for m in models)
  raise ValueError(f"no shipped model {name!r} in {root or directory()}; shipped: {names}")


def resolve_bundle(spec: str, root: str | None = None) -> str:
  """A bundle folder from `--bundle`: 'pretrained:NAME', a folder holding bundle.json, or the
  name of a shipped model."""
  if spec.startswith(PREFIX):
    return find(spec, root).path
  if os.path.isdir(spec) and is_bundle(spec):
    return spec
  if os.sep not in spec and not os.path.exists(spec):
    return find(spec, root).path
  return spec  # inference.from_bundle says what is wrong with it.


def load(name: str | None = None, root: str | None = None):
  """The Colorizer of a shipped model (default: `default()`); ValueError when there is none."""
  from colorize_jax import inference  # pylint: disable=g-import-not-at-top  (JAX on demand)

  model = find(name, root) if name else default(root)
  if model is None:
    raise ValueError(none_shipped(root))
  return inference.from_bundle(model.path)


def folder_bytes(path: str) -> int:
  """Bytes of every file under `path`."""
  return sum(
    os.path.getsize(os.path.join(dirpath, f))
    for dirpath, _, files in os.walk(path)
    for f in files
    if not os.path.islink(os.path.join(dirpath, f))
  )


def main(argv: list[str]) -> int:
  root = argv[1] if len(argv) > 1 else None
  models = shipped(root)
  if not models:
    print(none_shipped(root))
    return 0
  total = folder_bytes(root or directory())
  print(f"{len(models)} shipped model(s), {total / 1e6:.1f} MB of {MAX_TOTAL_BYTES / 1e6:.0f} MB:")
  for i, model in enumerate(models):
    print(("* " if i == 0 else "  ") + model.describe())
  print("* the default (python -m colorize_jax.colorize photo.jpg --output=out/)")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
