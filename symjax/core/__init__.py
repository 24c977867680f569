"""One run's math: the spec of a group, data, init schemes and initializers, models, optimizers, evaluation, diagnostics, train."""
