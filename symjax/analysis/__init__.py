"""Analysis of stored tables: statistics per setting x scheme, the best-learning-rate view. No jax."""
