"""Registers every data source under kind "source".

A source is built as `cls(data_cfg, split)` with split in train/val/test and
is a grain random-access source: `__len__`, `__getitem__(i) -> {"image":
uint8 [S, S, 3], "valid": bool}`, and a stable `__repr__` (grain checks it
when restoring an iterator). A new source (e.g. "tfds") is one module that
uses `@registry.register("source", name)`, imported here.
"""

from colorize_jax.data import (
  folder,  # noqa: F401  (registers "folder")
  sample,  # noqa: F401  (registers "sample")
  tfds_source,  # noqa: F401  (registers "tfds")
)
