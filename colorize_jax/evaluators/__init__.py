"""Evaluation: per-example colorization metrics (metrics) and the evaluator that scores a task's
predictions on batches (evaluator)."""
