"""Reports (the last stage): markdown and plots from stored results via the analysis (and bench.md from
benchmark JSON). No jax."""
