"""Training-step throughput of any config on the current device(s).

  python bench/train_step.py --config=configs/unet.py
  python bench/train_step.py --config=configs/pix2pix.py --config.batch_size=16 --steps=10
  # The CPU choices one at a time (issue 24: keep, drop or retune them on a new jaxlib):
  python bench/train_step.py --config=configs/pix2pix.py --formulations=stock --cpu_options=default
  # Several XLA:CPU option sets, timed in alternating turns (a shared host drifts between runs):
  python bench/train_step.py --config=configs/pix2pix.py --steps=3 --repeats=4 \
      --cpu_options=project,vector_width_512,concurrency_scheduler,ynn_fused_dots,ynn_elementwise

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
import statistics
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
flags.DEFINE_integer(
  "repeats",
  3,
  "Timed turns; the best is reported (machines are shared), and with several "
  "--cpu_options the median of each set's turns.",
)
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
flags.DEFINE_list(
  "cpu_options",
  ["project"],
  "Named XLA:CPU compiler option sets (CPU_OPTION_SETS), comma-separated; several are timed in "
  "alternating turns and compared with the first. project: runtime/xla_options.py's "
  "(convolutions kept from YNNPACK); default: this jaxlib's own.",
)
flags.mark_flags_as_required(["config"])
FLAGS = flags.FLAGS

_YNN = "xla_cpu_experimental_ynn_fusion_type"
# Each tried on pix2pix (README's benchmark section has the figures); only 'project' is used.
CPU_OPTION_SETS: dict[str, dict[str, object]] = {
  "project": {},  # Resolved by xla_options.compiler_options(): the loop's, None off the CPU.
  "default": {},
  # XLA:CPU's oneDNN custom calls (jaxlibs built with oneDNN: 0.12, not 0.10.2); slower
  # under either --formulations (README). bench/conv_formulations.py's 'onednn' is the same set.
  "onednn": xla_options.CPU_OPTIONS | {"xla_cpu_experimental_onednn_custom_call": True},
  "vector_width_512": xla_options.CPU_OPTIONS | {"xla_cpu_prefer_vector_width": 512},
  "concurrency_scheduler": xla_options.CPU_OPTIONS
  | {"xla_cpu_enable_concurrency_optimized_scheduler": True},
  "ynn_fused_dots": {_YNN: "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE"},
  "ynn_elementwise": {
    _YNN: xla_options.CPU_OPTIONS[_YNN] + ",LIBRARY_FUSION_TYPE_ELTWISE",
  },
}


def option_sets(names: list[str]) -> dict[str, dict[str, object] | None]:
  unknown = [n for n in names if n not in CPU_OPTION_SETS]
  if unknown or not names:
    raise app.UsageError(
      f"--cpu_options: unknown option set(s) {unknown}; valid: {', '.join(CPU_OPTION_SETS)}"
    )
  return {
    n: xla_options.compiler_options() if n == "project" else CPU_OPTION_SETS[n] or None
    for n in names
  }


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
  init = jax.jit(lambda k: task.init_state(k, size, optimizers), out_shardings=rep)
  state = init(jax.random.key(0))
  images = np.random.default_rng(0).integers(0, 256, (config.batch_size, size, size, 3), np.uint8)
  batch = jax.device_put({"image": images}, data)
  key = jax.random.key(1)

  sets = option_sets(FLAGS.cpu_options)
  formulation = conv.plain_xla() if FLAGS.formulations == "stock" else contextlib.nullcontext()
  compiled, states, compile_s = {}, {}, {}
  for name, options in sets.items():
    step = jax.jit(
      trainer.make_train_step(task, config),
      in_shardings=(rep, data, rep),
      out_shardings=(rep, rep),
      donate_argnums=(0,),
      compiler_options=options,
    )
    t0 = time.perf_counter()
    try:
      with formulation, conv.recorded() as choices:  # Chosen while tracing: lower inside both.
        compiled[name] = step.lower(state, batch, key).compile()
    except Exception as e:  # pylint: disable=broad-except
      # Option names change between jaxlibs: an unknown one is this set's result, not a crash.
      print(f"option set {name!r} rejected by jax {jax.__version__}: {str(e)[:300]}")
      continue
    compile_s[name] = time.perf_counter() - t0
    states[name] = init(jax.random.key(0))
  if not compiled:
    raise SystemExit("no option set compiled; see the lines above")
  with conv.plain_xla():
    flops = flops_of(
      jax.jit(trainer.make_train_step(task, config)).lower(state, batch, key).compile()
    )
  for name, fn in compiled.items():
    for _ in range(2):
      states[name], metrics = fn(states[name], batch, key)
    jax.block_until_ready(metrics)

  turns: dict[str, list[float]] = {name: [] for name in compiled}
  for _ in range(FLAGS.repeats):  # Alternating turns: every set sees the same host load.
    for name, fn in compiled.items():
      t0 = time.perf_counter()
      for _ in range(FLAGS.steps):
        states[name], metrics = fn(states[name], batch, key)
      jax.block_until_ready(metrics)
      turns[name].append((time.perf_counter() - t0) / FLAGS.steps)
  first = next(iter(compiled))
  best = min(turns[first])
  state = states[first]

  counts = task.param_counts(state)
  device = jax.devices()[0]
  print(f"device          {device.platform}:{device.device_kind} x{jax.device_count()}")
  print(
    f"model           {config.model.name} {size}x{size}, batch {config.batch_size}, "
    f"dtype {config.dtype}, params {counts}"
  )
  print(f"jax             {jax.__version__}")
  print(
    f"formulations    {FLAGS.formulations}, compiler options {sets[first] or 'jaxlib defaults'}"
  )
  hows = collections.Counter(c.how for c in choices)
  print(f"convolutions    {', '.join(f'{n} {how}' for how, n in sorted(hows.items())) or 'none'}")
  print(f"compile         {compile_s[first]:.1f} s")
  print(f"step            {best * 1000:.1f} ms (best of {FLAGS.repeats} x {FLAGS.steps})")
  print(f"images/s        {config.batch_size / best:.1f}")
  print(f"GFLOP/step      {flops / 1e9:.2f} ({flops / 1e9 / config.batch_size:.2f} per image)")
  print(f"achieved        {flops / best / 1e9:.1f} GFLOP/s")
  if FLAGS.peak_tflops:
    print(f"MFU             {100 * flops / best / (FLAGS.peak_tflops * 1e12):.1f}%")
  if len(sets) > 1:
    print(f"option sets     median of {FLAGS.repeats} alternating turns of {FLAGS.steps} steps")
    base = statistics.median(turns[first])
    for name, seconds in turns.items():
      median = statistics.median(seconds)
      print(
        f"  {name:22s} {median * 1000:8.1f} ms  {config.batch_size / median:6.2f} images/s  "
        f"{base / median:.3f}x {first}  (turns: {', '.join(f'{t * 1000:.0f}' for t in seconds)} ms)"
      )


if __name__ == "__main__":
  app.run(main)
