"""Results: per-run metrics from the training logs, and the tables on disk (runs, curves, diagnostics). No jax."""
