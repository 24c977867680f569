"""Results (metrics, store): per-run metrics from the training logs, and the tables on disk (runs, curves,
diagnostics) with their checks. No jax."""
