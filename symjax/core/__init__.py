"""One run's math (init and train stages): the spec of a group, data, init schemes and initializers, models,
optimizers, evaluation, diagnostics, train; and safe file I/O (files.py) for every stage."""
