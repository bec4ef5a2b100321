"""Forward + backward time of each convolution formulation on pix2pix's layer shapes.

  python bench/conv_formulations.py                  # batch 16, unet_128 + PatchGAN shapes
  python bench/conv_formulations.py --batch=4 --repeats=5
  python bench/conv_formulations.py --options=eigen,onednn   # jaxlib >= 0.12 (oneDNN)
  python bench/conv_formulations.py --options=eigen --torch  # beside PyTorch's layers

The evidence behind colorize_jax/models/conv.py and xla_options.py: for every
distinct convolution of pix2pix at 128x128 it times output + both gradients
under XLA:CPU's default compiler options ("ynn": YNNPACK convolutions) and
under xla_options' ("eigen"; `--options=ynn,eigen,onednn` adds XLA:CPU's oneDNN
custom calls), for each formulation, and marks the one `auto` picks. `--torch`
adds the same layer in PyTorch (NCHW, its own kernels) and every column's total
over the layers of the formulations `auto` picks, to tell the convolutions'
share of a train step's gap to PyTorch from the rest of the step's.
Milliseconds, best of --repeats; compare within one run only.
"""

from __future__ import annotations

import collections
import os
import time

import jax
import numpy as np
from absl import app, flags

from colorize_jax.models import conv
from colorize_jax.runtime import xla_options

flags.DEFINE_integer("batch", 16, "Batch size.")
flags.DEFINE_integer("repeats", 3, "Timed runs per measurement; the best is printed.")
flags.DEFINE_list(
  "options",
  ["ynn", "eigen"],
  "Compiler option sets to time each formulation under: ynn (XLA:CPU's defaults), eigen "
  "(xla_options', what the project runs), onednn (xla_options' plus XLA:CPU's oneDNN custom "
  "calls; jaxlibs built with oneDNN only).",
)
flags.DEFINE_bool("torch", False, "Also time each layer in PyTorch (needs torch).")
flags.DEFINE_list(
  "layers", [], "Only these layers, by their printed names (e.g. 'G up 8->16'); default: all."
)
FLAGS = flags.FLAGS

PAD1 = ((1, 1), (1, 1))
# (name, input H=W, input channels, output channels, kernel, stride, padding)
CONVS = [
  ("G down 128->64", 128, 1, 64, 4, 2, PAD1),
  ("G down 64->32", 64, 64, 128, 4, 2, PAD1),
  ("G down 32->16", 32, 128, 256, 4, 2, PAD1),
  ("G down 16->8", 16, 256, 512, 4, 2, PAD1),
  ("G down 8->4", 8, 512, 512, 4, 2, PAD1),
  ("G down 4->2", 4, 512, 512, 4, 2, PAD1),
  ("G down 2->1", 2, 512, 512, 4, 2, PAD1),
  ("D 128->64", 128, 3, 64, 4, 2, PAD1),
  ("D 16->15 (stride 1)", 16, 256, 512, 4, 1, ((1, 2), (1, 2))),
]
# (name, input H=W, input channels, output channels): 4x4 stride 2 transposed.
TRANSPOSED = [
  ("G up 1->2", 1, 512, 512),
  ("G up 2->4", 2, 1024, 512),
  ("G up 4->8", 4, 1024, 512),
  ("G up 8->16", 8, 1024, 256),
  ("G up 16->32", 16, 512, 128),
  ("G up 32->64", 32, 256, 64),
  ("G up 64->128 (output)", 64, 128, 2),
]


def seconds(fn, *args) -> float:
  jax.block_until_ready(fn(*args))
  best = float("inf")
  for _ in range(FLAGS.repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    best = min(best, time.perf_counter() - start)
  return best


def forward_backward(apply, options):
  def step(x, kernel):
    y, pull_back = jax.vjp(apply, x, kernel)
    return y, pull_back(y)

  return jax.jit(step, compiler_options=options)


def option_sets() -> list[tuple[str, dict | None]]:
  project = xla_options.compiler_options()
  known = {
    "ynn": None,
    "eigen": project,
    "onednn": {**(project or {}), "xla_cpu_experimental_onednn_custom_call": True},
  }
  unknown = [name for name in FLAGS.options if name not in known]
  if unknown:
    raise app.UsageError(f"--options: unknown {unknown}; valid: {sorted(known)}")
  return [(name, known[name]) for name in FLAGS.options]


def torch_seconds(torch_layer, kernel_axes, x, kernel, out_shape) -> float:
  """PyTorch's forward + both gradients of the same layer, best of --repeats after one warm-up."""
  import torch  # pylint: disable=import-outside-toplevel

  def once():
    xt = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    # Contiguous in PyTorch's own weight layout, as an nn.Conv2d's parameter is.
    wt = torch.from_numpy(np.asarray(kernel).transpose(kernel_axes).copy()).requires_grad_(True)
    start = time.perf_counter()
    y = torch_layer(xt, wt)
    y.backward(y.detach())
    seconds = time.perf_counter() - start
    nhwc = (y.shape[0], y.shape[2], y.shape[3], y.shape[1])
    assert nhwc == tuple(out_shape), f"PyTorch's layer gives {nhwc}, JAX's {out_shape}"
    return seconds

  once()
  return min(once() for _ in range(FLAGS.repeats))


def row(name, x, kernel, variants, chosen, totals, torch_layer=None, kernel_axes=None):
  cells = []
  for label, apply in variants:
    for backend_label, options in option_sets():
      ms = 1e3 * seconds(forward_backward(apply, options), x, kernel)
      mark = "*" if label == chosen and backend_label == "eigen" else " "
      cells.append(f"{label}/{backend_label} {ms:7.1f}{mark}")
      if label == chosen:
        totals[backend_label] += ms
  if torch_layer is not None:
    out_shape = jax.eval_shape(variants[0][1], x, kernel).shape
    ms = 1e3 * torch_seconds(torch_layer, kernel_axes, x, kernel, out_shape)
    cells.append(f"torch {ms:7.1f}")
    totals["torch"] += ms
  print(f"  {name:24s} " + "  ".join(cells), flush=True)


def main(argv):
  del argv
  option_sets()  # a bad --options is an error before any timing
  names = [c[0] for c in CONVS] + [t[0] for t in TRANSPOSED]
  unknown = [name for name in FLAGS.layers if name not in names]
  if unknown:
    raise app.UsageError(f"--layers: unknown {unknown}; valid: {names}")
  wanted = lambda name: not FLAGS.layers or name in FLAGS.layers
  torch_fn = _torch_functional() if FLAGS.torch else None
  totals = collections.Counter()
  b = FLAGS.batch
  key = jax.random.key(0)
  load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
  print(
    f"conv formulations, forward + both gradients, batch {b}, ms (best of {FLAGS.repeats}); "
    f"{jax.devices()[0].platform} x{jax.device_count()}, load {load}; * = what auto runs"
  )
  print("convolutions (patches / subpixel_grad / xla):")
  for name, size, cin, cout, k, stride, pad in filter(lambda c: wanted(c[0]), CONVS):
    x = jax.random.normal(key, (b, size, size, cin))
    kernel = jax.random.normal(key, (k, k, cin, cout)) * 0.05
    chosen = conv.formulation(x.shape, kernel.shape, (stride, stride), pad, backend="cpu")
    variants = [
      (how, lambda a, w, how=how, s=stride, p=pad: conv.conv2d(a, w, (s, s), p, how=how))
      for how in ("patches", "subpixel_grad", "xla")
      if how != "subpixel_grad" or stride > 1
    ]
    torch_layer = None
    if torch_fn is not None:
      (top, bottom), (left, right) = pad

      def torch_layer(xt, wt, s=stride, t=top, b_=bottom, le=left, r=right):
        if (t, le) != (b_, r):  # PyTorch pads only symmetrically inside its convolution.
          xt, t, le = torch_fn.pad(xt, (le, r, t, b_)), 0, 0
        return torch_fn.conv2d(xt, wt, stride=s, padding=(t, le))

    row(name, x, kernel, variants, chosen, totals, torch_layer, (3, 2, 0, 1))
  print("transposed convolutions (phases / merged):")
  for name, size, cin, cout in filter(lambda t: wanted(t[0]), TRANSPOSED):
    x = jax.random.normal(key, (b, size, size, cin))
    kernel = jax.random.normal(key, (4, 4, cin, cout)) * 0.05
    chosen = conv.transpose_formulation((2, 2), cout)
    variants = [
      (how, lambda a, w, how=how: conv.conv_transpose2d(a, w, (2, 2), how=how))
      for how in ("phases", "merged")
    ]
    torch_layer = None
    if torch_fn is not None:
      # PyTorch's 4x4, stride 2, padding 1 transposed convolution: the same 2x upsampling.
      def torch_layer(xt, wt):
        return torch_fn.conv_transpose2d(xt, wt, stride=2, padding=1)

    row(name, x, kernel, variants, chosen, totals, torch_layer, (2, 3, 0, 1))
  summed = ", ".join(f"{label} {ms:.1f} ms" for label, ms in totals.items())
  print(f"total of what auto runs: {summed}")


def _torch_functional():
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise app.UsageError(f"--torch needs PyTorch ({e}); pip install torch") from e
  print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
  return torch.nn.functional


if __name__ == "__main__":
  app.run(main)
