"""Data sources, registered under kind "source"; every module here is imported by the registry.

A source is built as `cls(data_cfg, split)` with split in train/val/test and
is a grain random-access source: `__len__`, `__getitem__(i) -> {"image":
uint8 [S, S, 3], "valid": bool}`, and a stable `__repr__` (grain checks it
when restoring an iterator). A new source is one module in this folder that
uses `@registry.register("source", name)`.
"""
