"""What a run leaves in its workdir: metrics, TensorBoard events, grids, plots, its config."""

from colorize_jax.outputs.grids import comparison_grid, sample_grid, save_png  # noqa: F401
from colorize_jax.outputs.plots import plot_curves, plot_runs  # noqa: F401
from colorize_jax.outputs.writer import RunWriter, read_metrics  # noqa: F401
