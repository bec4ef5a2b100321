"""Training: the one loop (trainer), what a run is built from (run_setup), the end-of-epoch
hooks, checkpoints, optimizers, profiling, and the pre-flight run before anything is written
(preflight: config values; resume_guard: the config against the workdir's; workdir_lock)."""
