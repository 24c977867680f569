"""Optimizers by name: optax transformations whose learning rate is a per-run (traced) value.

Data-flow stage: **train**; the plan sizes the optimizer state with ``OPTIMIZER_SLOTS``
(``symjax.engine.memory``).

>>> sorted(OPTIMIZERS) == sorted(OPTIMIZER_SLOTS)
True
"""

from __future__ import annotations

import jax
import optax

OPTIMIZERS = {
    "sgd": lambda lr: optax.sgd(lr),
    "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "nesterov": lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
    "adam": lambda lr: optax.adam(lr),
    "adamw": lambda lr: optax.adamw(lr, weight_decay=1e-4),
}
OPTIMIZER_SLOTS = {
    "sgd": 0,
    "momentum": 1,
    "nesterov": 1,
    "adam": 2,
    "adamw": 2,
}  # state arrays per parameter


def make_optimizer(name: str, lr: jax.Array) -> optax.GradientTransformation:
    """An optax optimizer whose learning rate ``lr`` (a scalar, traced per run) is a hyperparameter."""
    return optax.inject_hyperparams(OPTIMIZERS[name])(lr=lr)
