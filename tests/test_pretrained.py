"""Shipped bundles (pretrained/, colorize_jax/pretrained.py) and the script that makes them
(bench/train_pretrained.py).

Every bundle shipped in pretrained/ must load, colorize a photo and match its card; so must one
generated here from a tiny run by the script's own export, evaluation and card functions, so the
checks run before any real bundle ships."""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import ROOT, load_bench, load_config, trained_run
from PIL import Image

from colorize_jax import color, colorize, inference, pretrained, registry
from colorize_jax.data.sources import sample

train_pretrained = load_bench("train_pretrained")
model_card = load_bench("model_card")
TINY = train_pretrained.Model("tiny", "configs/unet.py:smoke", "a tiny test model")
SHIPPED = [m.name for m in pretrained.shipped()]


def _photo(name="chelsea", size=None) -> np.ndarray:
  image = Image.open(sample.photo_path(name)).convert("RGB")
  return np.asarray(image.resize(size) if size else image)


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory):
  """DATA/birds/val and DATA/kodak24 of three small photos each."""
  data = tmp_path_factory.mktemp("data")
  for sub, names in (("birds/val/x", ("coffee", "rocket", "china")), ("kodak24", ("flower",) * 3)):
    os.makedirs(data / sub)
    for i, name in enumerate(names):
      Image.fromarray(_photo(name, (72, 48))).save(data / sub / f"{name}{i}.png")
  return str(data)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, eval_data):
  """A tiny run (configs/unet.py:smoke) shipped by the script's ship(): export, --mode=eval on
  both sets, card; (pretrained root, its card)."""
  workdir = trained_run(tmp_path_factory)
  root = str(tmp_path_factory.mktemp("pretrained"))
  step = train_pretrained.latest_step(workdir)
  card = train_pretrained.ship(
    TINY,
    workdir=workdir,
    step=step,
    root=root,
    data=eval_data,
    train_sets=["sample"],
    budget_images=train_pretrained.BUDGET_IMAGES,
    regenerate="python bench/train_pretrained.py --only=tiny",
  )
  return root, card


@pytest.fixture(params=["generated:tiny"] + [f"shipped:{name}" for name in SHIPPED])
def bundle(request) -> str:
  """Each bundle folder: the generated one, then every one shipped in pretrained/."""
  kind, name = request.param.split(":")
  if kind == "generated":
    return os.path.join(request.getfixturevalue("generated")[0], name)
  return pretrained.find(name).path


def _card(bundle: str) -> tuple[dict, str]:
  with open(os.path.join(bundle, pretrained.CARD_JSON)) as f:
    card = json.load(f)
  with open(os.path.join(bundle, pretrained.MODEL_CARD)) as f:
    return card, f.read()


def _table(markdown: str) -> dict[str, str]:
  """MODEL_CARD.md's `| field | value |` facts."""
  rows = re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", markdown, flags=re.M)
  return {k: v for k, v in rows if k not in ("field",) and not set(k) <= {"-"}}


def test_a_bundle_loads_and_colorizes_a_photo(bundle):
  colorizer = inference.from_bundle(bundle)
  photo = _photo()  # 451 x 300, not square.
  (out,) = colorize.colorize_images(colorizer, [photo])
  assert out.shape == photo.shape and out.dtype == np.uint8
  lab_out, lab_in = (np.asarray(color.rgb_to_lab(color.to_unit(x))) for x in (out, photo))
  # The photo's own lightness (up to the gamut and rounding), with colour of the model's.
  assert np.mean(np.abs(lab_out[..., 0] - lab_in[..., 0])) < 2.0
  assert np.mean(np.hypot(lab_out[..., 1], lab_out[..., 2])) > 1.0


def test_a_bundle_matches_its_card(bundle):
  card, markdown = _card(bundle)
  with open(os.path.join(bundle, "bundle.json")) as f:
    meta = json.load(f)
  config = inference.config_from_json(os.path.join(bundle, "config.json"))
  colorizer = inference.from_bundle(bundle)
  params = sum(int(x.size) for x in jax.tree.leaves(colorizer.variables["params"]))
  assert card["name"] == os.path.basename(bundle)
  assert (
    (card["task"], card["model"])
    == (config.task, config.model.name)
    == (
      meta["task"],
      meta["model"],
    )
  )
  assert card["image_size"] == config.data.image_size == meta["image_size"]
  assert card["color_space"] == meta["color_space"]
  assert card["inputs"] == [i["name"] for i in meta["inputs"]]
  assert card["parameters"] == params
  assert card["step"] == meta["step"] and card["batch_size"] == config.batch_size
  assert card["images_seen"] == card["step"] * card["batch_size"]
  assert card["complete"] == (card["images_seen"] >= card["images_budget"])
  # The recipe the card names builds this network.
  path, _, variant = card["recipe"].partition(":")
  recipe = load_config(os.path.basename(path).removesuffix(".py"), variant or None)
  # A field the recipe gained after the bundle was trained counts at its network's default.
  defaults = {
    f.name: f.default for f in dataclasses.fields(registry.get("model", config.model.name))
  }
  wanted = {
    k: v
    for k, v in recipe.model.to_dict().items()
    if k in config.model or v != defaults.get(k, dataclasses.MISSING)
  }
  assert wanted == config.model.to_dict()
  assert (recipe.task, recipe.data.color_space) == (config.task, config.data.color_space)
  # MODEL_CARD.md states the same facts.
  for key, value in model_card.facts(card):
    assert _table(markdown)[key] == value, key
  assert _table(markdown)["image size"] == f"{config.data.image_size} px"
  assert _table(markdown)["parameters"] == f"{params:,}"
  if not card["complete"]:
    seen = f"images seen: {card['images_seen']:,} of {card['images_budget']:,}"
    assert seen in markdown


def test_what_is_shipped_fits_the_repository():
  assert pretrained.folder_bytes(pretrained.directory()) <= pretrained.MAX_TOTAL_BYTES
  train_pretrained.check_total_size(pretrained.directory())


def test_the_generated_card_holds_the_run(generated):
  root, card = generated
  # 2 epochs of the smoke run: a partial run of the 86,016-image budget.
  assert not card["complete"] and card["images_budget"] == 86_016
  assert card["step"] == train_pretrained.latest_step(card["source_workdir"])
  with open(os.path.join(root, "tiny", "bundle.json")) as f:
    assert json.load(f)["source_workdir"] == card["source_workdir"]  # Not the snapshot's.
  assert os.path.exists(os.path.join(card["source_workdir"], "eval", "pretrained_kodak24.json"))
  assert card["train_seconds"] > 0
  for name in ("birds_val", "kodak24"):
    scores = card["metrics"][name]
    assert scores["examples"] == 3
    assert set(scores["model"]) == {"psnr", "ssim", "colorfulness", "delta_colorfulness", "ab_auc"}
    assert scores["gray"]["psnr"] > 0 and scores["photos_colorfulness"] > 0
  _, markdown = _card(os.path.join(root, "tiny"))
  assert "| birds_val (3 photos): model |" in markdown
  assert "| kodak24: gray input |" in markdown
  assert "A partial run:" in markdown
  assert os.path.exists(os.path.join(root, "tiny", card["sample"]))
  assert "launch.py --config=configs/unet.py:smoke" in card["commands"]["evaluate"][0]
  # Scored on a snapshot of the step (a run still training may delete it), shown on the run.
  assert f"--workdir={card['source_workdir']} " in card["commands"]["evaluate"][0]


def test_a_bundle_over_the_size_limit_is_refused(generated, monkeypatch, tmp_path):
  root, _ = generated
  size = pretrained.folder_bytes(os.path.join(root, "tiny"))
  monkeypatch.setattr(pretrained, "MAX_TOTAL_BYTES", size - 1)
  with pytest.raises(SystemExit, match=r"pretrained/ would hold .* MB, above the"):
    train_pretrained.check_total_size(root)
  monkeypatch.setattr(pretrained, "MAX_TOTAL_BYTES", size)
  assert train_pretrained.check_total_size(root) == size


@pytest.fixture(scope="module")
def two_shipped(generated, tmp_path_factory):
  """A pretrained folder with the tiny bundle shipped as 'alpha' and as the default's name (which
  sorts after 'alpha', so coming first is the default's doing)."""
  root = tmp_path_factory.mktemp("two")
  assert "alpha" < pretrained.DEFAULT
  for name in ("alpha", pretrained.DEFAULT):
    shutil.copytree(os.path.join(generated[0], "tiny"), root / name)
  os.makedirs(root / "not_a_bundle")
  return str(root)


def test_the_default_comes_first_and_names_resolve(two_shipped):
  models = pretrained.shipped(two_shipped)
  default = pretrained.DEFAULT
  assert [m.name for m in models] == [default, "alpha"]
  assert pretrained.default(two_shipped).name == default
  alpha = os.path.join(two_shipped, "alpha")
  assert pretrained.resolve_bundle("pretrained:alpha", two_shipped) == alpha
  assert pretrained.resolve_bundle("alpha", two_shipped) == alpha
  assert pretrained.resolve_bundle(alpha, two_shipped) == alpha
  with pytest.raises(ValueError, match=rf"no shipped model 'nope' .*; shipped: {default}, alpha"):
    pretrained.resolve_bundle("pretrained:nope", two_shipped)
  assert re.search(
    rf"{default} \(regression, 32 px, [\d,]+ images seen of 86,016\)", models[0].describe()
  )
  empty = os.path.join(two_shipped, "not_a_bundle")
  assert pretrained.shipped(empty) == [] and pretrained.default(empty) is None
  with pytest.raises(ValueError, match=r"train and ship one with `python bench/train_pretrained"):
    pretrained.load(root=empty)


def _colorize(args, pretrained_dir, tmp_path):
  """`python -m colorize_jax.colorize photo.jpg ARGS` in tmp_path, as a newcomer types it."""
  env = dict(os.environ, COLORIZE_JAX_PRETRAINED=pretrained_dir)
  Image.fromarray(_photo()).save(tmp_path / "photo.jpg")
  return subprocess.run(
    [sys.executable, "-m", "colorize_jax.colorize", "photo.jpg"] + args,
    cwd=tmp_path,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )


@pytest.mark.slow
def test_colorize_without_a_model_uses_the_default_shipped_bundle(two_shipped, tmp_path):
  proc = _colorize([], two_shipped, tmp_path)
  assert proc.returncode == 0, proc.stderr
  said = [line for line in proc.stderr.splitlines() if "the shipped model" in line]
  assert len(said) == 1 and f"{pretrained.DEFAULT} (regression, 32 px" in said[0], proc.stderr
  assert os.path.join(two_shipped, pretrained.DEFAULT) in said[0]
  # No --output either: ./colorized, named in the log.
  assert (tmp_path / "colorized" / "photo.png").exists()
  assert f"no --output: writing to {tmp_path / 'colorized'}" in proc.stderr


@pytest.mark.slow
def test_colorize_without_a_shipped_bundle_says_how_to_make_one(two_shipped, tmp_path):
  proc = _colorize([], os.path.join(two_shipped, "not_a_bundle"), tmp_path)
  assert proc.returncode == 1
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: no trained bundle is shipped in ")
  assert "python bench/train_pretrained.py --data=../shared/data" in last
  proc = _colorize(["--bundle=pretrained:nope"], two_shipped, tmp_path)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1].endswith(f"shipped: {pretrained.DEFAULT}, alpha")


def test_the_regeneration_plan(tmp_path):
  data = tmp_path / "data"
  for sub in ("birds/train/a", "birds/val/a", "kodak24"):
    os.makedirs(data / sub)
  Image.fromarray(_photo("coffee", (40, 30))).save(data / "birds/train/a/1.jpg")
  proc = subprocess.run(
    [sys.executable, "bench/train_pretrained.py", f"--data={data}", "--dry_run"]
    + [f"--out={tmp_path / 'runs'}", f"--pretrained={tmp_path / 'p'}"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr
  out = proc.stdout
  assert "budget: 86,016 images = 5,376 steps of 16 at 128 px" in out
  commands = [line for line in out.splitlines() if line.startswith("$ python launch.py")]
  recipes = ("configs/classification.py:recommended", "configs/unet.py", "configs/hints.py")
  assert len(commands) == len(recipes)
  for recipe, command in zip(recipes, commands):
    assert f"--config={recipe} " in command
    for flag in ("max_train_steps=5376", "image_size=128", "batch_size=16", "every_steps=200"):
      assert flag in command
    assert f"--config.data.path={data}/birds/train" in command
    assert f"--eval_folder=kodak24={data}/kodak24" in command
  assert not os.path.exists(tmp_path / "runs" / "unet")  # A dry run trains nothing.


def test_the_readme_table_is_written_from_the_shipped_cards(generated):
  with open(ROOT / "README.md") as f:
    readme = f.read()
  block = readme.split(model_card.README_START)[1].split(model_card.README_END)[0]
  assert block.strip() == model_card.readme_table([m.card for m in pretrained.shipped()])
  _, card = generated
  table = model_card.readme_table([card])
  row = table.splitlines()[2]
  assert row.startswith(f"| `tiny` | regression | {card['images_seen']:,} of 86,016 | ")
  birds = card["metrics"]["birds_val"]
  assert f"{birds['model']['psnr']:.2f} ({birds['gray']['psnr']:.2f})" in row
  assert row.endswith("| [MODEL_CARD.md](pretrained/tiny/MODEL_CARD.md) |")


def _train_pretrained(*flags: str) -> str:
  """bench/train_pretrained.py with these flags, from the repository root: its stdout."""
  proc = subprocess.run(
    [sys.executable, "bench/train_pretrained.py", *flags],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  return proc.stdout


@pytest.mark.slow
def test_ship_partial_ships_the_latest_checkpoint_once(tmp_path_factory, eval_data, tmp_path):
  """The command's --ship_partial: a run partway (here the smoke run, as runs/pretrained/unet)
  is exported, scored and carded as partial; run again, it finds nothing new to ship."""
  runs = tmp_path / "runs"
  shutil.copytree(trained_run(tmp_path_factory), runs / "unet")
  os.makedirs(os.path.join(eval_data, "birds", "train"), exist_ok=True)
  flags = (
    f"--data={eval_data}",
    f"--out={runs}",
    f"--pretrained={tmp_path / 'shipped'}",
    "--only=unet",
    "--ship_partial",
  )
  step = train_pretrained.latest_step(str(runs / "unet"))
  out = _train_pretrained(*flags)
  assert f"=== unet (configs/unet.py): step {step:,} of 5,376, shipping partway" in out
  commands = [line for line in out.splitlines() if line.startswith("$ python launch.py")]
  assert len(commands) == 2 and all("--mode=eval" in c for c in commands)  # Nothing trained.
  card, markdown = _card(str(tmp_path / "shipped" / "unet"))
  assert card["step"] == step and not card["complete"]
  assert f"images seen: {step * card['batch_size']:,} of 86,016" in markdown
  assert set(card["metrics"]) == {"birds_val", "kodak24"}
  assert f"pretrained/unet already holds step {step:,}: nothing to ship" in _train_pretrained(
    *flags
  )


@pytest.mark.slow
def test_ship_from_ships_a_finished_study_run_as_it_was_trained(
  tmp_path_factory, eval_data, tmp_path
):
  """--ship_from=DIR: the reference study's finished run DIR/<name> is shipped as trained, its
  card taking the study's record (command, machine) and saying what budget that is; an
  unfinished one is first trained there by the reference study's own command (here --dry_run
  shows it), or shipped as it is with --ship_partial."""
  study_runs = tmp_path / "study"
  workdir = study_runs / "unet"
  shutil.copytree(trained_run(tmp_path_factory), workdir)
  record = {
    "recipe": "unet",
    "commands": {"train": "python launch.py --config=configs/unet.py --workdir=study/unet"},
    "sessions": [{"machine_text": "cpu:cpu x1, a test machine"}],
  }
  (workdir / "study.json").write_text(json.dumps(record))
  os.makedirs(os.path.join(eval_data, "birds", "train"), exist_ok=True)
  flags = (
    f"--data={eval_data}",
    f"--ship_from={study_runs}",
    f"--pretrained={tmp_path / 'shipped'}",
    "--only=unet",
  )
  os.rename(workdir / "final_metrics.json", tmp_path / "final_metrics.json")
  out = _train_pretrained(*flags, "--dry_run")
  assert ", training it with the reference study" in out
  assert (
    f"$ python bench/reference_study.py --data={eval_data} --out={study_runs} --recipes=unet"
    in out.splitlines()
  )
  assert not os.path.exists(tmp_path / "shipped" / "unet")
  out = _train_pretrained(*flags, "--study_epochs=32", "--dry_run")
  assert (
    f"$ python bench/reference_study.py --data={eval_data} --out={study_runs} --recipes=unet "
    "--regression_epochs=32 --adversarial_epochs=32" in out.splitlines()
  )
  os.rename(tmp_path / "final_metrics.json", workdir / "final_metrics.json")

  out = _train_pretrained(*flags)
  assert "shipping it as trained there" in out
  assert not [
    line for line in out.splitlines() if "--mode=eval" not in line and "$ python launch" in line
  ]
  card, markdown = _card(str(tmp_path / "shipped" / "unet"))
  assert card["trained_by"] == "study" and card["step"] == train_pretrained.latest_step(
    str(workdir)
  )
  # Finished at the study's budget: complete, its own images its budget (not this script's).
  assert card["complete"] and card["images_budget"] == card["images_seen"]
  assert card["commands"]["train"] == record["commands"]["train"]
  assert card["machines"] == ["cpu:cpu x1, a test machine"]
  assert f"--ship_from={study_runs}" in card["commands"]["regenerate"]
  seen = card["images_seen"]
  share = (
    f"{seen / train_pretrained.STUDY_IMAGES:g}x the reference study's budget ({seen:,} images)"
  )
  assert f"Trained at {share}" in markdown
  assert "It has not been trained yet." in markdown
  assert record["commands"]["train"] in markdown


@pytest.mark.parametrize(
  "seen, size, expected",
  [
    (21_504, 64, "Trained at the reference study's budget by bench/reference_study.py at 64 px"),
    (86_016, 64, "Trained at 4x the reference study's budget (86,016 images) by"),
    (21_504, 128, "is 4x the images at 1x the pixels"),
    (86_016, 64, "is 1x the images at 4x the pixels"),
  ],
)
def test_a_study_runs_card_states_its_own_budget(seen, size, expected):
  card = {
    "data": {"train_sets": ["birds"], "train_images": 2_999},
    "image_size": size,
    "trained_by": "study",
    "images_seen": seen,
    "images_budget": seen,
    "complete": True,
    "metrics": {},
  }
  assert any(expected in line for line in train_pretrained.generated_caveats(card))
