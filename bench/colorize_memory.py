"""Peak memory (RSS) and wall time of colorizing one huge photo through the real command.

  python bench/colorize_memory.py                          # 12000x8000 (96 MP) JPEG
  python bench/colorize_memory.py --width=6000 --height=4000 --format=png

Makes a synthetic photo (a smooth colour gradient with noise) in a temporary
folder, exports a tiny untrained bundle (configs/unet.py:smoke, 32x32: the
network's cost is negligible next to the full-resolution work), then runs
`python -m colorize_jax.colorize --bundle=B PHOTO --output=OUT` in a child
process and reads that child's own peak RSS from `os.wait4` (Linux: KiB). The
photo and the bundle are made in children of their own, so neither counts.
Prints the machine, the figures and the command; nothing is timed in tests.

Measured on the 2-core development CPU (AMD EPYC, 24 GiB, shared: load 8-10),
12000x8000 JPEG, one after the other: 6,247 MiB peak and 134 s before the
row-band full resolution (commit 4c89896), 1,350 MiB and 120 s after; a PNG
input of the same photo 1,395 MiB. Most of the wall time is Pillow's PNG
encoding of the 96 MP output.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_MAKE_PHOTO = """
import sys
import numpy as np
from PIL import Image
width, height, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
Image.MAX_IMAGE_PIXELS = None
rng = np.random.default_rng(0)
x = np.linspace(0.0, 1.0, width, dtype=np.float32)
out = np.empty((height, width, 3), np.uint8)
for top in range(0, height, 512):  # In bands: the generator's own memory stays small.
  y = np.linspace(0.0, 1.0, height, dtype=np.float32)[top : top + 512, None]
  red, green = 0.2 + 0.6 * x + 0.0 * y, 0.8 - 0.5 * y + 0.0 * x
  band = np.stack([red, green, 0.5 + 0.3 * np.sin(6 * (x + y))], -1)
  noise = rng.normal(0.0, 0.03, band.shape).astype(np.float32)
  out[top : top + 512] = np.clip(np.round((band + noise) * 255), 0, 255).astype(np.uint8)
options = {"quality": 90} if path.endswith(".jpg") else {"compress_level": 1}
Image.fromarray(out).save(path, **options)
"""

_MAKE_BUNDLE = """
import sys
import jax
from colorize_jax import inference, tasks
from colorize_jax.config import recipes
from colorize_jax.train import optim
config = recipes.load_module("configs/unet.py").get_config("smoke")
task = tasks.build(config)
size = config.data.image_size
state = task.init_state(jax.random.key(0), size, optim.build_all(config, task.optimizers, None))
colorizer = inference.Colorizer(config, task, task.inference_variables(state))
inference.write_bundle(colorizer, sys.argv[1])
"""


def _machine() -> str:
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  memory = ""
  try:
    with open("/proc/meminfo") as f:
      kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
    memory = f", {kib / 2**20:.0f} GiB RAM"
  except (OSError, StopIteration, ValueError):
    pass
  load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
  return f"{cpu}, {os.cpu_count()} cores{memory}{load}; Python {platform.python_version()}"


def _run(args: list[str], env: dict) -> tuple[int, float, float, str]:
  """(exit code, peak RSS in MiB, wall seconds, output tail) of one child process."""
  with tempfile.TemporaryFile("w+") as log:  # A file, not a pipe: a chatty child cannot block.
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    # wait4: this child's own rusage (RUSAGE_CHILDREN is the maximum over every child so far).
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.seek(0)
    tail = log.read()[-3000:]
  return proc.returncode, usage.ru_maxrss / 1024, seconds, tail


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--width", type=int, default=12000)
  parser.add_argument("--height", type=int, default=8000)
  parser.add_argument("--format", choices=("jpg", "png"), default="jpg")
  parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
  args = parser.parse_args()
  env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  tmp = tempfile.mkdtemp(prefix="colorize_memory_")
  photo = os.path.join(tmp, f"photo.{args.format}")
  bundle, output = os.path.join(tmp, "bundle"), os.path.join(tmp, "out")
  for script, script_args in (
    (_MAKE_PHOTO, [str(args.width), str(args.height), photo]),
    (_MAKE_BUNDLE, [bundle]),
  ):
    code, _, _, tail = _run([sys.executable, "-c", script, *script_args], env)
    if code:
      sys.exit(f"error: preparing the benchmark failed:\n{tail}")
  command = [
    sys.executable,
    "-m",
    "colorize_jax.colorize",
    f"--bundle={bundle}",
    photo,
    f"--output={output}",
  ]
  code, peak_mib, seconds, tail = _run(command, env)
  megapixels = args.width * args.height / 1e6
  decoded_mib = args.width * args.height * 3 / 2**20
  print(f"machine: {_machine()}")
  print(f"photo: {args.width}x{args.height} ({megapixels:.0f} MP) {args.format.upper()}, ", end="")
  print(f"{os.path.getsize(photo) / 2**20:.0f} MiB on disk, {decoded_mib:.0f} MiB decoded (uint8)")
  print(f"command: {' '.join(command[1:])}")
  print(f"exit code {code}; peak RSS {peak_mib:,.0f} MiB; wall time {seconds:.1f} s")
  if code:
    print(tail)
  if args.keep:
    print(f"kept {tmp}")
  else:
    import shutil  # pylint: disable=g-import-not-at-top

    shutil.rmtree(tmp, ignore_errors=True)
  sys.exit(code)


if __name__ == "__main__":
  main()
