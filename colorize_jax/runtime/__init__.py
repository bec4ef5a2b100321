"""The process around the model: device mesh and shardings (parallel), XLA settings
(xla_options), logging (logs)."""
