"""Analysis of stored tables: statistics, tables per setting x scheme (and per layer, per axis), the
best-learning-rate view. No jax."""
