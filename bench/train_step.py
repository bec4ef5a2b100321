"""Training-step throughput of any config on the current device(s).

  python bench/train_step.py --config=configs/unet.py
  python bench/train_step.py --config=configs/pix2pix.py --config.batch_size=16 --steps=10
  # The CPU choices one at a time (issue 24: keep, drop or retune them on a new jaxlib):
  python bench/train_step.py --config=configs/pix2pix.py --formulations=stock --cpu_options=default

Prints images/s, time per step, GFLOP per step from XLA's cost analysis and
the achieved GFLOP/s. The step is the loop's own (device augmentation
included). Synthetic uint8 batches: this measures the device step, not the
input pipeline (bench/input_pipeline.py does that).

FLOPs are counted on the textbook formulation of every convolution
(`conv.plain_xla()`), so GFLOP/s and MFU measure useful work: the CPU
formulations (colorize_jax/models/conv.py) count a little more arithmetic,
e.g. zero taps in the patches of inner U-Net blocks.
"""

from __future__ import annotations

import collections
import contextlib
import time

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from colorize_jax import tasks
from colorize_jax.models import conv
from colorize_jax.runtime import logs, parallel, xla_options
from colorize_jax.train import optim, trainer

config_flags.DEFINE_config_file("config", None, "Config file (with optional :variant).")
flags.DEFINE_integer("steps", 20, "Timed steps (after 2 warm-up steps).")
flags.DEFINE_integer("repeats", 3, "Timed repetitions; the best is reported (machines are shared).")
flags.DEFINE_float(
  "peak_tflops", 0.0, "Device peak TFLOP/s for MFU (e.g. 989 for an H100's bf16); 0: skip."
)
flags.DEFINE_enum(
  "formulations",
  "auto",
  ["auto", "stock"],
  "auto: the convolutions formulated for this backend (colorize_jax/models/conv.py); stock: "
  "XLA's own convolution for every layer, as GPUs and TPUs get.",
)
flags.DEFINE_enum(
  "cpu_options",
  "project",
  ["project", "default", "onednn"],
  "project: compile with runtime/xla_options.py's CPU options (convolutions kept from "
  "YNNPACK); default: this jaxlib's defaults; onednn: the project's plus XLA:CPU's oneDNN "
  "convolutions (xla_cpu_experimental_onednn_custom_call; jaxlibs built with oneDNN), best "
  "with --formulations=stock.",
)
flags.mark_flags_as_required(["config"])
FLAGS = flags.FLAGS
ONEDNN_CONVOLUTIONS = {"xla_cpu_experimental_onednn_custom_call": True}


def flops_of(compiled) -> float:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # Older JAX returned one dict per device program.
    analysis = analysis[0]
  return float(analysis.get("flops", 0.0)) if analysis else 0.0


def main(argv):
  del argv
  logs.quiet_libraries()
  config = FLAGS.config
  parallel.check_batch_size(config.batch_size)
  size = config.data.image_size
  task = tasks.build(config)
  optimizers = optim.build_all(config, task.optimizers, total_steps=10_000)
  mesh = parallel.make_mesh()
  rep, data = parallel.replicated(mesh), parallel.data_sharding(mesh)
  state = jax.jit(lambda k: task.init_state(k, size, optimizers), out_shardings=rep)(
    jax.random.key(0)
  )
  images = np.random.default_rng(0).integers(0, 256, (config.batch_size, size, size, 3), np.uint8)
  batch = jax.device_put({"image": images}, data)
  key = jax.random.key(1)

  options = {
    "project": xla_options.compiler_options(),
    "default": None,
    "onednn": (xla_options.compiler_options() or {}) | ONEDNN_CONVOLUTIONS,
  }[FLAGS.cpu_options]
  step = jax.jit(
    trainer.make_train_step(task, config),
    in_shardings=(rep, data, rep),
    out_shardings=(rep, rep),
    donate_argnums=(0,),
    compiler_options=options,
  )
  formulation = conv.plain_xla() if FLAGS.formulations == "stock" else contextlib.nullcontext()
  t0 = time.perf_counter()
  with formulation, conv.recorded() as choices:  # Chosen while tracing: lower inside both.
    compiled = step.lower(state, batch, key).compile()
  compile_s = time.perf_counter() - t0
  with conv.plain_xla():
    flops = flops_of(
      jax.jit(trainer.make_train_step(task, config)).lower(state, batch, key).compile()
    )
  for _ in range(2):
    state, metrics = compiled(state, batch, key)
  jax.block_until_ready(metrics)

  best = float("inf")
  for _ in range(FLAGS.repeats):
    t0 = time.perf_counter()
    for _ in range(FLAGS.steps):
      state, metrics = compiled(state, batch, key)
    jax.block_until_ready(metrics)
    best = min(best, (time.perf_counter() - t0) / FLAGS.steps)

  counts = task.param_counts(state)
  device = jax.devices()[0]
  print(f"device          {device.platform}:{device.device_kind} x{jax.device_count()}")
  print(
    f"model           {config.model.name} {size}x{size}, batch {config.batch_size}, "
    f"dtype {config.dtype}, params {counts}"
  )
  print(f"jax             {jax.__version__}")
  print(f"formulations    {FLAGS.formulations}, compiler options {options or 'jaxlib defaults'}")
  hows = collections.Counter(c.how for c in choices)
  print(f"convolutions    {', '.join(f'{n} {how}' for how, n in sorted(hows.items())) or 'none'}")
  print(f"compile         {compile_s:.1f} s")
  print(f"step            {best * 1000:.1f} ms (best of {FLAGS.repeats} x {FLAGS.steps})")
  print(f"images/s        {config.batch_size / best:.1f}")
  print(f"GFLOP/step      {flops / 1e9:.2f} ({flops / 1e9 / config.batch_size:.2f} per image)")
  print(f"achieved        {flops / best / 1e9:.1f} GFLOP/s")
  if FLAGS.peak_tflops:
    print(f"MFU             {100 * flops / best / (FLAGS.peak_tflops * 1e12):.1f}%")


if __name__ == "__main__":
  app.run(main)
