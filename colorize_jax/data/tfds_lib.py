"""tensorflow-datasets, imported on first use: it takes about a second to import, and training
with other sources never needs it. Shared by the tfds source and `data.prepare`."""

from __future__ import annotations

import functools


@functools.cache
def tfds_module():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  return tfds
