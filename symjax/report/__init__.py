"""Reports: markdown and plots from stored results (and bench.md from benchmark JSON). No jax."""
