"""Input pipeline: image decoding, sources (sample photos, image folders), grain iterators."""

from colorize_jax.data.decode import ImageDecodeError, load_image, resize_image, resize_square
from colorize_jax.data.pipeline import DataPipeline

__all__ = ["DataPipeline", "ImageDecodeError", "load_image", "resize_image", "resize_square"]
