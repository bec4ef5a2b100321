"""What a run leaves in its workdir: metrics, TensorBoard events, grids, plots, the metric
vocabulary. Nothing is imported here, so the light readers need neither JAX nor matplotlib."""
