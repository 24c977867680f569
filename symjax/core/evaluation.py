"""Evaluation of one network on a whole dataset, slice by slice, inside the training program.

Data-flow stage: part of **train** (every logged step). The dataset is cut into slices of
``EVAL_SLICE`` examples (the last one padded and masked) and reduced with ``lax.scan``, so
the activations held at once are those of one slice, not of the whole training set: under
``vmap`` that is what bounds a chunk's memory (MNIST-1D: 4000 examples x 210 units x 4 bytes
= 3.4 MB per run for the whole set, 0.4 MB per slice).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from symjax.core.diagnostics import alive_units
from symjax.core.models import example_losses, network

EVAL_SLICE = 500


class Slices(NamedTuple):
    """A dataset cut into equal slices."""

    x: jax.Array  # (n_slices, EVAL_SLICE, *features)
    y: jax.Array  # (n_slices, EVAL_SLICE) labels or (n_slices, EVAL_SLICE, n_out) targets
    mask: jax.Array  # (n_slices, EVAL_SLICE) bool, False on padding


def slices(x: jax.Array, y: jax.Array, size: int = EVAL_SLICE) -> Slices:
    """Cut (x (n, ...), y (n, ...)) into ceil(n / size) slices of ``size`` examples, padding the last."""
    n = x.shape[0]
    count = math.ceil(n / size)
    size = math.ceil(n / count)  # as even as possible: less padding
    pad = count * size - n

    def cut(v):
        return jnp.pad(v, [(0, pad)] + [(0, 0)] * (v.ndim - 1)).reshape(count, size, *v.shape[1:])

    return Slices(cut(x), cut(y), (jnp.arange(count * size) < n).reshape(count, size))


class Evaluation(NamedTuple):
    """One network's numbers over a whole dataset."""

    loss: jax.Array  # () mean loss over the dataset
    accuracy: jax.Array  # () fraction correct (NaN for regression)
    dead_fraction: jax.Array  # (n_hidden,) units whose output is 0 on every example


def evaluate(
    params: list,
    data: Slices,
    activation: str,
    task: str,
    model: str = "mlp",
    norm: str = "none",
    running: tuple = (),
    conv: str = "products",
) -> Evaluation:
    """Mean loss, accuracy and dead-unit fractions of one network (params: list of ``{"w", "b"}``, see
    ``symjax.core.models.network``) over every example of ``data`` (padding masked out), BatchNorm with its
    ``running`` averages (``conv``: see ``network``); the dead fraction is NaN for a plug-in model's layers
    and for a layer without an activation (the transformer's attention layers)."""
    n = data.mask.sum()

    def net(x):
        return network(params, x, activation, model, norm, running if norm == "batchnorm" else None, conv)

    layout = jax.eval_shape(lambda x: net(x).hidden, data.x[0])  # None where a layer has no activation
    activated = [h is not None for h in layout] if layout is not None else []
    alive0 = tuple(jnp.zeros(h.shape[-1], bool) for h in layout if h is not None) if layout else ()

    def one_slice(carry, part):
        loss_sum, correct, alive = carry
        x, y, mask = part
        outputs, hidden, _ = net(x)
        hidden = [h for h in hidden or [] if h is not None]
        loss_sum += jnp.sum(jnp.where(mask, example_losses(outputs, y, task), 0.0))
        if task != "regression":
            correct += jnp.sum(mask & (outputs.argmax(-1) == y), dtype=jnp.int32)
        # non-zero on some real example
        alive = tuple(a | alive_units(h, mask) for a, h in zip(alive, hidden))
        return (loss_sum, correct, alive), None

    start = (jnp.zeros((), data.x.dtype), jnp.int32(0), alive0)  # float32, or float64 in a float64 group
    (loss_sum, correct, alive), _ = jax.lax.scan(one_slice, start, data)
    accuracy = jnp.float32(jnp.nan) if task == "regression" else (correct / n).astype(jnp.float32)
    if layout is None:  # a plug-in model: its hidden layers are its own, no dead fraction
        dead = jnp.full(len(params) - 1, jnp.nan)
    else:
        fractions = iter(jnp.mean(~a) for a in alive)
        dead = [next(fractions) if has else jnp.float32(jnp.nan) for has in activated]
        dead = jnp.stack(dead) if dead else jnp.zeros(0)
    return Evaluation(loss_sum / n, accuracy, dead.astype(jnp.float32))
