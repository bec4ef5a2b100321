"""2-D convolution and transposed convolution layers, formulated per backend.

`Conv` and `ConvTranspose` have `flax.linen.Conv` / `ConvTranspose(padding=
'SAME')`'s parameter names, shapes and init, and compute the same outputs and
gradients (tests hold them to 1e-5), so checkpoints and bundles move between
backends. Which formulation runs is chosen while tracing, from the backend the
computation is formulated for: `jax.default_backend()`, or the one named by
`formulated_for(backend)` (tests name 'gpu' or 'tpu' on a CPU-only host).

- GPU, TPU and any backend other than CPU: every layer is one stock
  `lax.conv_general_dilated` / `lax.conv_transpose`, the computation of
  `nn.Conv` / `nn.ConvTranspose`; cuDNN and the TPU compiler need no help.
- CPU, where XLA's own convolutions are slow on these shapes (timings per
  pix2pix layer: bench/conv_formulations.py; figures in the README's benchmark
  section):
  - convolutions with at most 16 output pixels (the inner U-Net blocks) run
    as one matrix product of explicit patches;
  - strided convolutions with at least 16x16 output pixels and 16 or more
    input channels get their input gradient sub-pixel style: one ordinary
    convolution per stride phase, interleaved, where autodiff would dilate the
    output gradient with zeros and do stride^2 times the arithmetic;
  - everything else is XLA's convolution;
  - transposed convolutions are computed from ordinary convolutions: one per
    output phase (sub-pixel), or, for at most 64 outputs across all phases
    (the generators' 2- or 3-channel output layers), one convolution whose
    output channels are all phases at once, with depth to space after (more
    arithmetic, but one weight gradient instead of stride^2).

`recorded()` lists every choice made while tracing, for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
MAX_PATCH_OUTPUT_PIXELS = 16
MIN_SUBPIXEL_OUTPUT_PIXELS = 16 * 16
MIN_SUBPIXEL_CHANNELS = 16
MAX_MERGED_PHASE_OUTPUTS = 64

Padding = tuple[tuple[int, int], tuple[int, int]]

# The backend that 'auto' formulates for while tracing; None: jax.default_backend().
_BACKEND: contextvars.ContextVar[str | None] = contextvars.ContextVar("conv_backend", default=None)
# Where `recorded()` collects the choices made while tracing; None: not recording.
_RECORD: contextvars.ContextVar[list | None] = contextvars.ContextVar("conv_record", default=None)
CPU_BACKEND = "cpu"


@contextlib.contextmanager
def formulated_for(backend: str) -> Iterator[None]:
  """While tracing inside this, 'auto' picks the formulations of `backend` ('cpu', 'gpu', 'tpu').

  For computations placed on a backend other than the default one (a CPU
  reference on a GPU host), and for tests of another backend's choices.
  """
  token = _BACKEND.set(str(backend))
  try:
    yield
  finally:
    _BACKEND.reset(token)


def plain_xla():
  """Stock XLA convolutions whatever the backend: benchmarks count FLOPs on them."""
  return formulated_for("stock")


def target_backend() -> str:
  """The backend 'auto' formulates for now."""
  return _BACKEND.get() or jax.default_backend()


@dataclasses.dataclass(frozen=True)
class Choice:
  """One layer's formulation, as recorded while tracing."""

  op: str  # "conv" or "conv_transpose"
  input_shape: tuple[int, ...]
  kernel_shape: tuple[int, ...]
  strides: tuple[int, ...]
  backend: str
  how: str


@contextlib.contextmanager
def recorded() -> Iterator[list[Choice]]:
  """Collects a `Choice` for every convolution traced inside (jit caches skip tracing)."""
  choices: list[Choice] = []
  token = _RECORD.set(choices)
  try:
    yield choices
  finally:
    _RECORD.reset(token)


def _record(op, x, kernel, strides, backend, how) -> None:
  choices = _RECORD.get()
  if choices is not None:
    choices.append(Choice(op, tuple(x.shape), tuple(kernel.shape), tuple(strides), backend, how))


def explicit_padding(
  padding: str | Sequence[tuple[int, int]],
  kernel: Sequence[int],
  strides: Sequence[int],
  spatial: Sequence[int],
) -> Padding:
  """'SAME' / 'VALID' / pairs -> ((top, bottom), (left, right))."""
  if isinstance(padding, str):
    pads = lax.padtype_to_pads(tuple(spatial), tuple(kernel), tuple(strides), padding.upper())
  else:
    pads = padding
  (top, bottom), (left, right) = pads
  return (int(top), int(bottom)), (int(left), int(right))


def _xla_conv(x, kernel, strides, padding):
  return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=_DIMENSIONS)


def _output_size(size: int, kernel: int, stride: int, pad: tuple[int, int]) -> int:
  return (size + pad[0] + pad[1] - kernel) // stride + 1


def _windows(x_padded, kernel_hw, strides, out_hw):
  """The kh x kw strided windows of a padded input, each [B, H', W', C]."""
  (kh, kw), (sh, sw), (oh, ow) = kernel_hw, strides, out_hw
  b, _, _, c = x_padded.shape
  return [
    lax.slice(
      x_padded, (0, i, j, 0), (b, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, c), (1, sh, sw, 1)
    )
    for i in range(kh)
    for j in range(kw)
  ]


def _patches_conv(x, kernel, strides, padding):
  """The convolution as one matrix product: [B*H'*W', kh*kw*C] @ [kh*kw*C, F]."""
  kh, kw, c, f = kernel.shape
  out_hw = tuple(
    _output_size(x.shape[1 + d], kernel.shape[d], strides[d], padding[d]) for d in range(2)
  )
  x_padded = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
  patches = jnp.concatenate(_windows(x_padded, (kh, kw), strides, out_hw), axis=-1)
  return jnp.einsum("bhwk,kf->bhwf", patches, kernel.reshape(kh * kw * c, f))


def _phase_input_grad(g, kernel, strides, padding, x_shape):
  """dLoss/dx of a strided convolution, one stride-1 convolution per phase.

  Padded input position t = s*q + r receives g[q - d] through tap s*d + r,
  so phase r is g correlated with that phase's taps reversed; the phases
  are interleaved and the padding cropped off.
  """
  kh, kw, c, _ = kernel.shape
  b, height, width, _ = x_shape
  padded = (height + sum(padding[0]), width + sum(padding[1]))
  phases = tuple(-(-padded[d] // strides[d]) for d in range(2))  # Phase grid size.
  zero = jnp.zeros((), g.dtype)
  outputs = []
  for rh in range(strides[0]):
    for rw in range(strides[1]):
      taps = (range(rh, kh, strides[0]), range(rw, kw, strides[1]))
      if not taps[0] or not taps[1]:  # Stride wider than the kernel: no tap reaches it.
        outputs.append(jnp.zeros((b, *phases, c), g.dtype))
        continue
      # Rows of this phase actually present in the padded input.
      present = tuple(-(-(padded[d] - r) // strides[d]) for d, r in enumerate((rh, rw)))
      sub = kernel[rh :: strides[0], rw :: strides[1]][::-1, ::-1]
      g_padded = lax.pad(
        g,
        zero,
        [(0, 0, 0)]
        + [(len(taps[d]) - 1, present[d] - g.shape[1 + d], 0) for d in range(2)]
        + [(0, 0, 0)],
      )
      phase = lax.conv_general_dilated(
        g_padded, sub, (1, 1), "VALID", dimension_numbers=("NHWC", "HWOI", "NHWC")
      )
      outputs.append(
        lax.pad(
          phase,
          zero,
          [(0, 0, 0), (0, phases[0] - present[0], 0), (0, phases[1] - present[1], 0), (0, 0, 0)],
        )
      )
  dx_padded = _depth_to_space(jnp.concatenate(outputs, axis=-1), strides, c)
  return dx_padded[:, padding[0][0] : padding[0][0] + height, padding[1][0] : padding[1][0] + width]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_subpixel_grad(x, kernel, strides, padding):
  return _xla_conv(x, kernel, strides, padding)


def _subpixel_fwd(x, kernel, strides, padding):
  return _xla_conv(x, kernel, strides, padding), (x, kernel)


def _subpixel_bwd(strides, padding, residuals, g):
  x, kernel = residuals
  dx = _phase_input_grad(g, kernel, strides, padding, x.shape)
  (dkernel,) = jax.vjp(lambda k: _xla_conv(x, k, strides, padding), kernel)[1](g)
  return dx.astype(x.dtype), dkernel


_conv_subpixel_grad.defvjp(_subpixel_fwd, _subpixel_bwd)


def formulation(x_shape, kernel_shape, strides, padding, backend: str | None = None) -> str:
  """'patches', 'subpixel_grad' or 'xla' for this convolution on `backend` (default: the
  current target, see `target_backend`); only CPU gets anything but 'xla'."""
  if (backend or target_backend()) != CPU_BACKEND:
    return "xla"
  out_pixels = 1
  for d in range(2):
    out_pixels *= _output_size(x_shape[1 + d], kernel_shape[d], strides[d], padding[d])
  if out_pixels <= MAX_PATCH_OUTPUT_PIXELS:
    return "patches"
  if (
    tuple(strides) != (1, 1)
    and out_pixels >= MIN_SUBPIXEL_OUTPUT_PIXELS
    and x_shape[-1] >= MIN_SUBPIXEL_CHANNELS
  ):
    return "subpixel_grad"
  return "xla"


_FORMULATIONS: dict[str, Callable] = {
  "patches": _patches_conv,
  "subpixel_grad": _conv_subpixel_grad,
  "xla": _xla_conv,
}


def conv2d(x, kernel, strides: Sequence[int], padding: Padding, how: str = "auto"):
  """NHWC x HWIO -> NHWC convolution; `how` forces one formulation ('auto' picks)."""
  strides = tuple(int(s) for s in strides)
  padding = tuple((int(lo), int(hi)) for lo, hi in padding)
  if how == "auto":
    backend = target_backend()
    how = formulation(x.shape, kernel.shape, strides, padding, backend)
    _record("conv", x, kernel, strides, backend, how)
  if how not in _FORMULATIONS:
    raise ValueError(
      f"unknown convolution formulation {how!r}; valid: auto, {', '.join(_FORMULATIONS)}"
    )
  return _FORMULATIONS[how](x, kernel, strides, padding)


class _KernelLayer(nn.Module):
  """A float32 HWIO kernel (flax's names, shapes and init) and optional bias,
  applied in `dtype` by the subclass's `_apply_kernel`."""

  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  use_bias: bool = True
  dtype: Any = None
  kernel_init: Callable = nn.initializers.lecun_normal()

  def _apply_kernel(self, x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
    raise NotImplementedError

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    kh, kw = self.kernel_size
    kernel = self.param(
      "kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features), jnp.float32
    )
    dtype = self.dtype or jnp.result_type(x, kernel)
    y = self._apply_kernel(x.astype(dtype), kernel.astype(dtype))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(dtype)
    return y


class Conv(_KernelLayer):
  """`nn.Conv` for 2-D NHWC inputs (same parameter names, shapes and init), via `conv2d`."""

  padding: Any = "SAME"

  def _apply_kernel(self, x, kernel):
    padding = explicit_padding(self.padding, self.kernel_size, self.strides, x.shape[1:3])
    return conv2d(x, kernel, self.strides, padding)


def _transpose_padding(kernel: int, stride: int) -> tuple[int, int]:
  # lax.conv_transpose's 'SAME' padding, so outputs are exactly stride x the input.
  pad_len = kernel + stride - 2
  pad_before = kernel - 1 if stride > kernel - 1 else -(-pad_len // 2)
  return pad_before, pad_len - pad_before


def _phase_taps(kernel: int, stride: int, phase: int) -> tuple[slice, int, int]:
  """Kernel taps (a strided slice), and input padding (before, after), for one output phase.

  With 'SAME' transposed-conv padding, output o = stride*q + phase reads
  input q + (phase + k - pad) // stride through tap k, for the taps k with
  (phase + k - pad) % stride == 0; their input offsets are consecutive.
  Static slices rather than index arrays: a gather's gradient is a scatter,
  which made the inner blocks' weight gradients 10-20x slower.
  """
  pad = _transpose_padding(kernel, stride)[0]
  taps = [k for k in range(kernel) if (phase + k - pad) % stride == 0]
  offsets = [(phase + k - pad) // stride for k in taps]
  return slice(taps[0], taps[-1] + 1, stride), -offsets[0], offsets[-1]


def _depth_to_space(y, strides, features):
  b, h, w, _ = y.shape
  sh, sw = strides
  return (
    y.reshape(b, h, w, sh, sw, features)
    .transpose(0, 1, 3, 2, 4, 5)
    .reshape(b, h * sh, w * sw, features)
  )


def _conv_transpose_phases(x, kernel, strides):
  """One ordinary convolution per output phase, interleaved."""
  (kh, kw), (sh, sw) = kernel.shape[:2], strides
  zero = jnp.zeros((), x.dtype)
  phases = []
  for py in range(sh):
    taps_y, top, bottom = _phase_taps(kh, sh, py)
    for px in range(sw):
      taps_x, left, right = _phase_taps(kw, sw, px)
      # Negative padding crops: lax.pad takes both.
      padded = lax.pad(x, zero, [(0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)])
      phases.append(conv2d(padded, kernel[taps_y, taps_x], (1, 1), ((0, 0), (0, 0))))
  return _depth_to_space(jnp.concatenate(phases, axis=-1), strides, kernel.shape[-1])


def _conv_transpose_merged(x, kernel, strides):
  """All phases as the output channels of one convolution, then depth to space."""
  (kh, kw), (sh, sw) = kernel.shape[:2], strides
  spans = ([_phase_taps(kh, sh, p) for p in range(sh)], [_phase_taps(kw, sw, p) for p in range(sw)])
  # The window covering every phase's input offsets.
  lo = [max(top for _, top, _ in spans[d]) for d in range(2)]
  hi = [max(after for _, _, after in spans[d]) for d in range(2)]
  size = [lo[d] + hi[d] + 1 for d in range(2)]
  parts = []
  for taps_y, top, _ in spans[0]:
    for taps_x, left, _ in spans[1]:
      sub = kernel[taps_y, taps_x]
      at = (lo[0] - top, lo[1] - left)
      parts.append(
        jnp.pad(
          sub,
          [
            (at[0], size[0] - at[0] - sub.shape[0]),
            (at[1], size[1] - at[1] - sub.shape[1]),
            (0, 0),
            (0, 0),
          ],
        )
      )
  merged = jnp.concatenate(parts, axis=-1)
  y = conv2d(x, merged, (1, 1), ((lo[0], hi[0]), (lo[1], hi[1])))
  return _depth_to_space(y, strides, kernel.shape[-1])


def _conv_transpose_xla(x, kernel, strides):
  """XLA's transposed convolution, as `nn.ConvTranspose(padding='SAME')` computes it."""
  return lax.conv_transpose(x, kernel, strides, "SAME", dimension_numbers=_DIMENSIONS)


_TRANSPOSE_FORMULATIONS: dict[str, Callable] = {
  "phases": _conv_transpose_phases,
  "merged": _conv_transpose_merged,
  "xla": _conv_transpose_xla,
}


def transpose_formulation(strides: Sequence[int], features: int, backend: str | None = None) -> str:
  """'merged', 'phases' or 'xla' for a transposed convolution on `backend` (default: the
  current target); only CPU gets anything but 'xla'."""
  if (backend or target_backend()) != CPU_BACKEND:
    return "xla"
  outputs = int(strides[0]) * int(strides[1]) * int(features)
  return "merged" if outputs <= MAX_MERGED_PHASE_OUTPUTS else "phases"


def conv_transpose2d(x, kernel, strides: Sequence[int], how: str = "auto"):
  """`nn.ConvTranspose(padding='SAME')`'s output for an HWIO kernel; how: auto, phases, merged or
  xla."""
  strides = tuple(int(s) for s in strides)
  if how == "auto":
    backend = target_backend()
    how = transpose_formulation(strides, kernel.shape[-1], backend)
    _record("conv_transpose", x, kernel, strides, backend, how)
  if how not in _TRANSPOSE_FORMULATIONS:
    raise ValueError(
      f"unknown transposed-convolution formulation {how!r}; "
      f"valid: auto, {', '.join(_TRANSPOSE_FORMULATIONS)}"
    )
  return _TRANSPOSE_FORMULATIONS[how](x, kernel, strides)


class ConvTranspose(_KernelLayer):
  """`nn.ConvTranspose(padding='SAME')` with the same parameters and outputs.

  Off the CPU this is nn.ConvTranspose's own `lax.conv_transpose`. On the CPU,
  XLA computes that one's weight gradient several times slower (docs/DESIGN.md),
  so ordinary convolutions run instead (see the module docstring).
  """

  kernel_size: Sequence[int] = (4, 4)
  strides: Sequence[int] = (2, 2)

  def _apply_kernel(self, x, kernel):
    return conv_transpose2d(x, kernel, self.strides)
