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


SCHEDULES = ("constant", "warmup_cosine")
WARMUP_FRACTION = 0.05  # warmup_cosine: linear warm-up over this share of the steps


def rate_schedule(name: str, lr: jax.Array, steps: int):
    """The learning rate at each update: ``lr`` (constant), or optax's ``warmup_cosine_decay_schedule`` from
    0 to ``lr`` over the first 5% of ``steps`` and cosine decay to 0 at the last step (built with peak 1 and
    scaled by ``lr``, which is traced per run)."""
    if name == "constant":
        return lr
    warmup = max(1, round(WARMUP_FRACTION * steps))
    unit = optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup, max(steps, warmup + 1), 0.0)
    return lambda count: lr * unit(count)


def make_optimizer(
    name: str, lr: jax.Array, schedule: str = "constant", steps: int = 1
) -> optax.GradientTransformation:
    """An optax optimizer whose learning rate ``lr`` (a scalar, traced per run) is a hyperparameter, following
    ``schedule`` over ``steps`` updates (``rate_schedule``)."""
    return optax.inject_hyperparams(OPTIMIZERS[name])(lr=rate_schedule(schedule, lr, steps))
