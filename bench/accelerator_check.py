"""The accelerator check: correctness against the CPU, pix2pix throughput, and the PyTorch
reference on the same device, printed as one table. Run it with bench/accelerator_check.sh
(that script's header says how to run it on a GPU host without a package index).

  python bench/accelerator_check.py --peak_tflops=989      # the full check on one H100/H200
  python bench/accelerator_check.py --quick                # tiny shapes, seconds on a CPU (CI)

Rows:
- check: one regression and one adversarial train step from the same state and batch, on
  the accelerator (stock XLA convolutions, float32 at 'highest' matmul precision) against
  the CPU (its own formulations); and on all N devices against one, where there are several.
  Parameter, optimizer and BatchNorm trees and metrics are compared to float tolerance
  (rtol 2e-4, atol 2e-5); a tiny fraction may differ where Adam's first update divides a
  near-zero gradient by its own magnitude (sign flips), so the row passes when at most
  1e-4 of the values are out of tolerance and prints that fraction and the largest difference.
- train: the loop's pix2pix train step (device augmentation, Lab conversion, D then G) at
  128 px (unet_128: batch 16, 64, 256) and 256 px (unet_256: batch 16, 64), float32 and
  bfloat16: images/s, the first step's time (compiling it included), device memory of the
  compiled step (XLA's memory analysis: arguments + outputs + temporaries - aliased), and MFU
  against --peak_tflops with FLOPs counted on the textbook convolutions.
- infer: the generator and colour merge at 256 px (unet_256), images/s.
- torch: when torch imports, junyanz/pytorch-CycleGAN-and-pix2pix's U-Net and 70x70 PatchGAN
  (built below, not vendored) with its iteration (vanilla GAN + 100 L1, Adam), eager, on
  the same device, so every ratio comes from one run. bfloat16 rows use torch.autocast.

Rows past --budget_s are skipped and say so, so the whole check stays within its time.
A configuration that does not fit in device memory prints its out-of-memory line.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # Run as a script from a checkout that is not pip-installed.
  sys.path.insert(0, ROOT)

from colorize_jax import tasks  # noqa: E402
from colorize_jax.models import conv  # noqa: E402
from colorize_jax.runtime import parallel, xla_options  # noqa: E402
from colorize_jax.tasks import base  # noqa: E402
from colorize_jax.train import optim, trainer  # noqa: E402

try:  # Optional: the reference rows.
  import torch
  from torch import nn as tnn
except ImportError:  # pragma: no cover - depends on the host
  torch = None

RTOL, ATOL, MAX_OUT_OF_TOLERANCE = 2e-4, 2e-5, 1e-4


# -- configs and tasks ------------------------------------------------------------------------


def load_config(name: str, variant: str | None = None):
  """configs/<name>.py's get_config(variant), as launch.py's config flag loads it."""
  spec = importlib.util.spec_from_file_location(
    f"configs.{name}", os.path.join(ROOT, "configs", f"{name}.py")
  )
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def build_task(config, total_steps: int = 10_000) -> tuple[Any, Callable]:
  """(task, init(rng) -> state), with the optimizers the training loop would build."""
  task = tasks.build(config)
  optimizers = optim.build_all(config, task.optimizers, total_steps)
  return task, lambda rng: task.init_state(rng, config.data.image_size, optimizers)


def pix2pix_config(size: int, batch: int, dtype: str, quick: bool):
  config = load_config("pix2pix", "smoke" if quick else ("256" if size == 256 else None))
  config.batch_size, config.dtype = batch, dtype
  return config


def uint8_batch(batch: int, size: int, seed: int = 0) -> dict[str, np.ndarray]:
  return {"image": np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), np.uint8)}


def flops_of(compiled) -> float:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis.get("flops", 0.0)) if analysis else 0.0


def memory_of(compiled) -> float | None:
  """Bytes of device memory the compiled program needs, from XLA's memory analysis."""
  try:
    m = compiled.memory_analysis()
    return float(
      m.argument_size_in_bytes
      + m.output_size_in_bytes
      + m.temp_size_in_bytes
      - m.alias_size_in_bytes
    )
  except Exception:  # pylint: disable=broad-except  (not every backend reports it)
    return None


# -- the table --------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
  section: str
  what: str
  dtype: str = ""
  batch: int | str = ""
  images_per_s: float | None = None
  first_step_s: float | None = None
  memory_gib: float | None = None
  mfu: float | None = None
  torch_images_per_s: float | None = None
  note: str = ""

  def cells(self) -> list[str]:
    fmt = lambda v, f: "" if v is None else format(v, f)
    ratio = (
      self.images_per_s / self.torch_images_per_s
      if self.images_per_s and self.torch_images_per_s
      else None
    )
    return [
      self.section,
      self.what,
      self.dtype,
      str(self.batch),
      fmt(self.images_per_s, ".1f"),
      fmt(self.first_step_s, ".1f"),
      fmt(self.memory_gib, ".2f"),
      "" if self.mfu is None else f"{100 * self.mfu:.1f}%",
      fmt(self.torch_images_per_s, ".1f"),
      "" if ratio is None else f"{ratio:.2f}x",
      self.note,
    ]


HEADER = [
  "section",
  "what",
  "dtype",
  "batch",
  "images/s",
  "first step s",
  "memory GiB",
  "MFU",
  "torch images/s",
  "ratio",
  "note",
]


def print_table(rows: list[Row], title: str) -> None:
  lines = [HEADER] + [r.cells() for r in rows]
  print(f"\n{title}\n")
  print("| " + " | ".join(HEADER) + " |")
  print("|" + "|".join("---" for _ in HEADER) + "|")
  for cells in lines[1:]:
    print("| " + " | ".join(cells) + " |")
  sys.stdout.flush()


# -- (a) correctness --------------------------------------------------------------------------


def compare_trees(a, b) -> tuple[float, float]:
  """(fraction of values out of tolerance, largest absolute difference)."""
  out, total, largest = 0, 0, 0.0
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.dtype.kind not in "fc" or x.size == 0:
      continue
    diff = np.abs(x - y)
    out += int(np.sum(diff > ATOL + RTOL * np.abs(y)))
    total += x.size
    largest = max(largest, float(diff.max()))
  return out / max(total, 1), largest


def _state_leaves(state):
  """Arrays of a train state (keys and functions dropped), for comparison."""
  return [
    x
    for x in jax.tree.leaves(state)
    if hasattr(x, "dtype") and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
  ]


def check_step(
  name: str, config, reference_device, reference_backend: str, one_device: bool = True
) -> list[Row]:
  """One train step on the reference device (its formulations) against one accelerator device
  (`one_device`) and against all of them, where there are several."""
  task, init = build_task(config)
  step = trainer.make_train_step(task, config)
  key = jax.random.key(1)
  batch = uint8_batch(config.batch_size, config.data.image_size)
  with conv.formulated_for(reference_backend), jax.default_device(reference_device):
    reference_state = jax.jit(init)(jax.random.key(0))
    expected = jax.jit(step)(
      reference_state,
      jax.device_put(batch, reference_device),
      jax.device_put(key, reference_device),
    )
  expected = jax.device_get((_state_leaves(expected[0]), expected[1]))
  host_state = jax.device_get(reference_state)
  accelerator = jax.devices()[0]
  runs = []
  if one_device or jax.device_count() == 1:
    runs.append((f"1 {accelerator.platform} device vs {reference_device.platform}", [accelerator]))
  if jax.device_count() > 1:
    runs.append((f"{jax.device_count()} devices vs {reference_device.platform}", jax.devices()))
  rows = []
  for label, devices in runs:
    mesh = jax.sharding.Mesh(np.array(devices), (parallel.DATA_AXIS,))
    rep, data = parallel.replicated(mesh), parallel.data_sharding(mesh)
    with jax.default_matmul_precision("highest"):
      got = jax.jit(step, in_shardings=(rep, data, rep), out_shardings=(rep, rep))(
        jax.device_put(host_state, rep), jax.device_put(batch, data), jax.device_put(key, rep)
      )
    got = jax.device_get((_state_leaves(got[0]), got[1]))
    fraction, largest = compare_trees(got, expected)
    ok = fraction <= MAX_OUT_OF_TOLERANCE
    rows.append(
      Row(
        "check",
        f"{name} step, {label}",
        "float32",
        config.batch_size,
        note=f"{'PASS' if ok else 'FAIL'}: {fraction:.1e} out of tolerance, "
        f"largest difference {largest:.1e}",
      )
    )
  return rows


# -- (b), (c) throughput ----------------------------------------------------------------------


def seconds_per_call(fn: Callable, steps: int, wait: Callable) -> float:
  """Seconds per call of `steps` calls, `wait(last output)` included (the device's queue)."""
  start = time.perf_counter()
  out = None
  for _ in range(steps):
    out = fn()
  wait(out)
  return (time.perf_counter() - start) / steps


def time_calls(fn, steps: int) -> float:
  """Seconds per call, the best of two timed runs of `steps` calls."""
  return min(seconds_per_call(fn, steps, jax.block_until_ready) for _ in range(2))


def make_mesh(devices) -> jax.sharding.Mesh:
  return jax.sharding.Mesh(np.array(devices), (parallel.DATA_AXIS,))


def train_row(
  what: str, config, steps: int, peak_tflops: float, devices
) -> tuple[Row, Callable | None]:
  """The row, and a function that runs one more step (None where the step did not fit)."""
  size, batch_size, dtype = config.data.image_size, config.batch_size, config.dtype
  row = Row("train", what, dtype, batch_size)
  task, init = build_task(config)
  mesh = make_mesh(devices)
  rep, data = parallel.replicated(mesh), parallel.data_sharding(mesh)
  step_fn = trainer.make_train_step(task, config)
  try:
    with xla_options.out_of_memory_hint(batch_size, dtype, what=f"pix2pix {what}"):
      state = jax.jit(init, out_shardings=rep)(jax.random.key(0))
      batch = jax.device_put(uint8_batch(batch_size, size), data)
      key = jax.device_put(jax.random.key(1), rep)
      start = time.perf_counter()
      compiled = (
        xla_options.jit(
          step_fn, in_shardings=(rep, data, rep), out_shardings=(rep, rep), donate_argnums=(0,)
        )
        .lower(state, batch, key)
        .compile()
      )
      state, metrics = compiled(state, batch, key)
      jax.block_until_ready(metrics)
      row.first_step_s = time.perf_counter() - start
      holder = {"state": state}

      def one_step():
        holder["state"], m = compiled(holder["state"], batch, key)
        return m

      one_step()
      seconds = time_calls(one_step, steps)
  except xla_options.DeviceOutOfMemoryError as e:
    row.note = str(e)
    return row, None
  row.images_per_s = batch_size / seconds
  memory = memory_of(compiled)
  row.memory_gib = None if memory is None else memory / 2**30
  if conv.target_backend() != conv.CPU_BACKEND:
    flops = flops_of(compiled)
  elif peak_tflops:  # Count useful work, not the CPU formulations' (one more compile).
    with conv.plain_xla():
      flops = flops_of(jax.jit(step_fn).lower(holder["state"], batch, key).compile())
  else:
    return row, one_step
  if peak_tflops and flops:
    row.mfu = flops / seconds / (peak_tflops * 1e12)
  row.note = f"{flops / 1e9 / batch_size:.1f} GFLOP/image"
  return row, one_step


def infer_row(what: str, config, batch_size: int, steps: int, devices) -> Row:
  size = config.data.image_size
  row = Row("infer", what, config.dtype, batch_size)
  task, init = build_task(config)
  mesh = make_mesh(devices)
  rep, data = parallel.replicated(mesh), parallel.data_sharding(mesh)
  try:
    with xla_options.out_of_memory_hint(batch_size, config.dtype, what=f"inference {what}"):
      state = jax.jit(init, out_shardings=rep)(jax.random.key(0))
      images = jax.device_put(uint8_batch(batch_size, size)["image"], data)
      predict = xla_options.jit(lambda s, x: base.predicted_rgb(task, s, x), out_shardings=data)
      start = time.perf_counter()
      jax.block_until_ready(predict(state, images))
      row.first_step_s = time.perf_counter() - start
      row.images_per_s = batch_size / time_calls(lambda: predict(state, images), steps)
  except xla_options.DeviceOutOfMemoryError as e:
    row.note = str(e)
  return row


# -- (d) the PyTorch reference (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py) ----


def torch_networks(num_downs: int, ngf: int, ndf: int):
  """UnetGenerator(1 -> 2, BatchNorm, dropout) and NLayerDiscriminator(3, n_layers=3, BatchNorm)."""

  class Block(tnn.Module):
    def __init__(
      self, outer, inner, input_nc=None, sub=None, outermost=False, innermost=False, dropout=False
    ):
      super().__init__()
      self.outermost = outermost
      input_nc = outer if input_nc is None else input_nc
      down = tnn.Conv2d(input_nc, inner, 4, 2, 1, bias=False)
      if outermost:
        layers = [
          down,
          sub,
          tnn.ReLU(True),
          tnn.ConvTranspose2d(inner * 2, outer, 4, 2, 1),
          tnn.Tanh(),
        ]
      elif innermost:
        layers = [
          tnn.LeakyReLU(0.2, True),
          down,
          tnn.ReLU(True),
          tnn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False),
          tnn.BatchNorm2d(outer),
        ]
      else:
        layers = [
          tnn.LeakyReLU(0.2, True),
          down,
          tnn.BatchNorm2d(inner),
          sub,
          tnn.ReLU(True),
          tnn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False),
          tnn.BatchNorm2d(outer),
        ]
        if dropout:
          layers.append(tnn.Dropout(0.5))
      self.model = tnn.Sequential(*layers)

    def forward(self, x):
      return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)

  block = Block(ngf * 8, ngf * 8, innermost=True)
  for _ in range(num_downs - 5):
    block = Block(ngf * 8, ngf * 8, sub=block, dropout=True)
  for mult in (4, 2, 1):
    block = Block(ngf * mult, ngf * mult * 2, sub=block)
  generator = Block(2, ngf, input_nc=1, sub=block, outermost=True)

  layers, mult = [tnn.Conv2d(3, ndf, 4, 2, 1), tnn.LeakyReLU(0.2, True)], 1
  for n in range(1, 4):
    prev, mult = mult, min(2**n, 8)
    layers += [
      tnn.Conv2d(ndf * prev, ndf * mult, 4, 2 if n < 3 else 1, 1, bias=False),
      tnn.BatchNorm2d(ndf * mult),
      tnn.LeakyReLU(0.2, True),
    ]
  layers.append(tnn.Conv2d(ndf * mult, 1, 4, 1, 1))
  return generator, tnn.Sequential(*layers)


def torch_device() -> str:
  return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def torch_row(
  row: Row,
  num_downs: int,
  ngf: int,
  ndf: int,
  size: int,
  batch: int,
  dtype: str,
  steps: int,
  train_step: bool,
  interleave_with: Callable | None = None,
  rounds: int = 0,
) -> None:
  """Fills row.torch_images_per_s: pix2pix's optimize_parameters (or G's forward), eager.

  With `interleave_with` (the JAX row's one-step function) and `rounds`, the two are timed in
  turns, `steps` steps each, `rounds` times, and both figures become medians: on a shared host
  the load drifts over minutes, which separate runs of each side turn into ratio noise, while
  neighbouring turns see the same load. The note gives the per-round ratios' median and range."""
  device = torch_device()
  if dtype == "bfloat16" and device == "cpu":
    row.note = (row.note + "; " if row.note else "") + "torch bf16 not timed on CPU"
    return
  g, d = (m.to(device) for m in torch_networks(num_downs, ngf, ndf))
  gray = torch.rand(batch, 1, size, size, device=device) * 2 - 1
  ab = torch.rand(batch, 2, size, size, device=device) * 2 - 1
  bce, l1 = tnn.BCEWithLogitsLoss(), tnn.L1Loss()
  opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
  autocast = (
    torch.autocast(device, dtype=torch.bfloat16)
    if dtype == "bfloat16"
    else torch.autocast(device, enabled=False)
  )

  def iteration():
    with autocast:
      fake = g(gray)
      opt_d.zero_grad()
      pred_fake = d(torch.cat([gray, fake.detach()], 1))
      pred_real = d(torch.cat([gray, ab], 1))
      loss_d = 0.5 * (
        bce(pred_fake, torch.zeros_like(pred_fake)) + bce(pred_real, torch.ones_like(pred_real))
      )
    loss_d.backward()
    opt_d.step()
    d.requires_grad_(False)
    with autocast:
      opt_g.zero_grad()
      pred_fake = d(torch.cat([gray, fake], 1))
      loss_g = bce(pred_fake, torch.ones_like(pred_fake)) + 100.0 * l1(fake, ab)
    loss_g.backward()
    opt_g.step()
    d.requires_grad_(True)

  def inference():
    with torch.no_grad(), autocast:
      g(gray)

  call = iteration if train_step else inference
  g.train(train_step)
  d.train(train_step)
  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
  try:
    call()
    sync()
    if interleave_with is not None and rounds:
      interleave(row, interleave_with, call, sync, batch, steps, rounds)
      return
    best = min(seconds_per_call(call, steps, lambda _: sync()) for _ in range(2))
    row.torch_images_per_s = batch / best
  except torch.cuda.OutOfMemoryError:  # pragma: no cover - GPU only
    row.note = (row.note + "; " if row.note else "") + "torch: out of device memory"
  finally:
    g = d = opt_g = opt_d = None  # Frees the device memory before empty_cache.
    if device == "cuda":
      torch.cuda.empty_cache()


def interleave(
  row: Row, jax_step: Callable, torch_step: Callable, sync: Callable, batch, steps, rounds
) -> None:
  """Times JAX and torch in alternating turns; medians into the row, ratios into its note."""
  jax_s, torch_s = [], []
  for _ in range(rounds):
    jax_s.append(seconds_per_call(jax_step, steps, jax.block_until_ready))
    torch_s.append(seconds_per_call(torch_step, steps, lambda _: sync()))
  row.images_per_s = batch / statistics.median(jax_s)
  row.torch_images_per_s = batch / statistics.median(torch_s)
  ratios = sorted(t / j for j, t in zip(jax_s, torch_s))
  note = (
    f"{rounds} interleaved turns of {steps} steps: ratio median "
    f"{statistics.median(ratios):.2f}x, range {ratios[0]:.2f}-{ratios[-1]:.2f}x"
  )
  row.note = f"{row.note}; {note}" if row.note else note


# -- main -------------------------------------------------------------------------------------


def plan(quick: bool) -> tuple[list, list]:
  """Train rows (size, batch, dtype) and inference rows (size, batch, dtype), most wanted first."""
  if quick:
    return [(32, 8, "float32"), (32, 8, "bfloat16")], [(32, 8, "float32")]
  train_rows = [
    (128, 16, "float32"),
    (128, 64, "bfloat16"),
    (128, 16, "bfloat16"),
    (128, 64, "float32"),
    (128, 256, "bfloat16"),
    (128, 256, "float32"),
    (256, 16, "float32"),
    (256, 16, "bfloat16"),
    (256, 64, "bfloat16"),
    (256, 64, "float32"),
  ]
  return train_rows, [(256, 16, "float32"), (256, 64, "bfloat16")]


def rows_arg(text: str) -> list[tuple[int, int, str]]:
  """'128x16:float32,256x64:bfloat16' -> [(128, 16, 'float32'), (256, 64, 'bfloat16')]."""
  rows = []
  for item in filter(None, (t.strip() for t in text.split(","))):
    try:
      shape, dtype = item.split(":")
      size, batch = (int(v) for v in shape.split("x"))
    except ValueError:
      raise argparse.ArgumentTypeError(
        f"{item!r}: use SIZExBATCH:DTYPE, e.g. 128x16:float32"
      ) from None
    if size not in (128, 256) or dtype not in ("float32", "bfloat16"):
      raise argparse.ArgumentTypeError(f"{item!r}: size 128 or 256, dtype float32 or bfloat16")
    rows.append((size, batch, dtype))
  return rows


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="Tiny shapes and few steps (CPU, CI).")
  parser.add_argument(
    "--peak_tflops",
    type=float,
    default=0.0,
    help="Device peak TFLOP/s for MFU, e.g. 989 (H100/H200 dense bf16); 0: no MFU.",
  )
  parser.add_argument(
    "--steps", type=int, default=0, help="Timed steps per row (0: 10, or 2 with --quick)."
  )
  parser.add_argument(
    "--budget_s",
    type=float,
    default=420.0,
    help="Rows that would start after this many seconds are skipped.",
  )
  parser.add_argument("--no_torch", action="store_true", help="Skip the PyTorch reference rows.")
  parser.add_argument(
    "--interleave",
    type=int,
    default=0,
    help="Train rows with torch: time JAX and torch in this many alternating turns of --steps "
    "steps each and report medians (for shared, noisy hosts); 0: each side's best of two.",
  )
  parser.add_argument("--skip_check", action="store_true", help="Skip the correctness rows.")
  parser.add_argument(
    "--train_rows",
    type=rows_arg,
    default=None,
    help="Instead of the plan: SIZExBATCH:DTYPE,... e.g. 128x16:float32 ('' for none).",
  )
  parser.add_argument("--infer_rows", type=rows_arg, default=None, help="Likewise for inference.")
  args = parser.parse_args(argv)
  steps = args.steps or (2 if args.quick else 10)
  start = time.perf_counter()
  device = jax.devices()[0]
  use_torch = torch is not None and not args.no_torch
  title = (
    f"accelerator check: {device.platform}:{device.device_kind} x{jax.device_count()}, "
    f"JAX {jax.__version__}, torch {torch.__version__ if use_torch else 'not used'}, "
    f"{time.strftime('%Y-%m-%d')}, {'--quick' if args.quick else f'{steps} timed steps'}"
    f", peak {args.peak_tflops or '?'} TFLOP/s"
  )
  print(title, flush=True)

  rows: list[Row] = []
  cpu = jax.devices("cpu")[0]
  regression = load_config("unet", "smoke")
  adversarial = load_config("pix2pix", "smoke")
  # On a CPU-only host the "accelerator" is the CPU: its stock formulation against the CPU's own.
  reference_backend = conv.CPU_BACKEND
  checks = (
    []
    if args.skip_check
    else [("regression (unet)", regression), ("adversarial (pix2pix)", adversarial)]
  )
  for name, config in checks:
    if jax.default_backend() == "cpu":
      with conv.formulated_for("stock"):
        rows += check_step(
          name + " stock convs", config, cpu, reference_backend, one_device=not args.quick
        )
    else:
      rows += check_step(name, config, cpu, reference_backend)
    print(rows[-1].cells(), flush=True)

  # Throughput on every device; --quick on one (what is timed there is the code path).
  devices = jax.devices()[:1] if args.quick else jax.devices()

  train_rows, infer_rows = plan(args.quick)
  quick = args.quick and args.train_rows is None and args.infer_rows is None
  train_rows = train_rows if args.train_rows is None else args.train_rows
  infer_rows = infer_rows if args.infer_rows is None else args.infer_rows
  small = dict(num_downs=5, ngf=4, ndf=4) if quick else None
  planned = [("train", r) for r in train_rows] + [("infer", r) for r in infer_rows]
  for section, (size, batch, dtype) in planned:
    what = f"{'unet_128' if size == 128 else 'unet_256'} {size}px" if not quick else "smoke 32px"
    if time.perf_counter() - start > args.budget_s:
      rows.append(Row(section, what, dtype, batch, note="skipped: time budget"))
      continue
    if batch % len(devices):
      note = f"skipped: not divisible over {len(devices)} devices"
      rows.append(Row(section, what, dtype, batch, note=note))
      continue
    config = pix2pix_config(size, batch, dtype, quick)
    if section == "train":
      row, jax_step = train_row(what, config, steps, args.peak_tflops, devices)
    else:
      row, jax_step = infer_row(what, config, batch, steps, devices), None
    if use_torch and row.images_per_s:
      net = small or dict(num_downs=7 if size == 128 else 8, ngf=64, ndf=64)
      torch_row(
        row,
        size=config.data.image_size,
        batch=batch,
        dtype=dtype,
        steps=steps,
        train_step=section == "train",
        interleave_with=jax_step,
        rounds=args.interleave,
        **net,
      )
    rows.append(row)
    print(row.cells(), flush=True)

  print_table(rows, title + f"; {time.perf_counter() - start:.0f} s")
  failed = [r for r in rows if r.section == "check" and not r.note.startswith("PASS")]
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
