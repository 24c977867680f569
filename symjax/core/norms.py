"""Normalization layers, pure functions on one run: LayerNorm and BatchNorm (the ``norm`` matrix axis).

Data-flow stage: part of **train** (``symjax.core.models``: after every hidden layer's affine map, before
its activation). A normalized layer's dict holds ``scale`` and ``shift`` (fan_out,) next to ``w`` and ``b``,
starting at 1 and 0 (``norm_params``). BatchNorm's running averages (``Running``) travel in the training
state, updated with momentum ``MOMENTUM`` after every update and used at evaluation, as flax's
``BatchNorm`` does.

Means are taken after subtracting one sample of the values (the first example, or the first unit): the
same mean in exact arithmetic, but a column whose values are all equal centers to exactly 0 in float32
too. That is what the theory's prediction "BatchNorm erases the bias of a zero-W layer" needs to hold
bit for bit (a plain ``mean`` leaves a rounding residue that ``1/sqrt(eps)`` blows up to ~1e-4).

>>> import jax.numpy as jnp
>>> z = jnp.array([[0.3, 1.0], [0.3, 3.0]])
>>> batch_norm(z, jnp.ones(2), jnp.zeros(2))[0].tolist()
[[0.0, -0.9999949932098389], [0.0, 0.9999949932098389]]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

NORMS = ("none", "layernorm", "batchnorm")
MOMENTUM = 0.9  # running = MOMENTUM * running + (1 - MOMENTUM) * batch statistic (flax's default)
BATCH_EPSILON = 1e-5  # flax's BatchNorm default
LAYER_EPSILON = 1e-6  # flax's LayerNorm default


class Running(NamedTuple):
    """BatchNorm's running averages of one layer: each (fan_out,), starting at mean 0, variance 1."""

    mean: jax.Array
    var: jax.Array


def _moments(z: jax.Array, axes: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """(mean, biased variance) of z over ``axes``, kept as size-1 axes; the mean is taken about the first
    element along ``axes`` (see the module docstring)."""
    anchor = z[tuple(slice(0, 1) if a in axes else slice(None) for a in range(z.ndim))]
    mean = anchor + jnp.mean(z - anchor, axis=axes, keepdims=True)
    return mean, jnp.mean(jnp.square(z - mean), axis=axes, keepdims=True)


def layer_norm(z: jax.Array, scale: jax.Array, shift: jax.Array) -> jax.Array:
    """z (..., units) normalized over its units, then ``scale * . + shift`` (each (units,))."""
    mean, var = _moments(z, (z.ndim - 1,))
    return (z - mean) * jax.lax.rsqrt(var + LAYER_EPSILON) * scale + shift


def batch_norm(
    z: jax.Array, scale: jax.Array, shift: jax.Array, running: Running | None = None
) -> tuple[jax.Array, Running]:
    """z (batch, [length,] units) normalized per unit over every other axis: with the minibatch's statistics
    (``running`` None: training) or with ``running`` (evaluation); returns (normalized z, the statistics
    used, each (units,))."""
    if running is None:
        mean, var = _moments(z, tuple(range(z.ndim - 1)))
        used = Running(mean.reshape(-1), var.reshape(-1))
    else:
        mean, var, used = running.mean, running.var, running
    return (z - mean) * jax.lax.rsqrt(var + BATCH_EPSILON) * scale + shift, used


def normalize(
    norm: str, z: jax.Array, layer: dict, running: Running | None = None
) -> tuple[jax.Array, Running | None]:
    """z (batch, [length,] units) through the ``norm`` of ``layer`` (its ``scale``, ``shift``); returns
    (normalized z, BatchNorm's statistics or None)."""
    if norm == "none":
        return z, None
    if norm == "layernorm":
        return layer_norm(z, layer["scale"], layer["shift"]), None
    return batch_norm(z, layer["scale"], layer["shift"], running)


def norm_params(width: int, dtype=jnp.float32) -> dict:
    """A normalization's own parameters: ``scale`` ones and ``shift`` zeros, each (width,)."""
    return {"scale": jnp.ones(width, dtype), "shift": jnp.zeros(width, dtype)}


def initial_running(widths: list[int], dtype=jnp.float32) -> tuple[Running, ...]:
    """Running averages before any update, one ``Running`` per normalized layer of ``widths``."""
    return tuple(Running(jnp.zeros(w, dtype), jnp.ones(w, dtype)) for w in widths)


def update_running(running: tuple[Running, ...], batch: tuple[Running, ...]) -> tuple[Running, ...]:
    """``MOMENTUM * running + (1 - MOMENTUM) * batch`` for every layer's mean and variance."""
    return jax.tree.map(lambda r, b: MOMENTUM * r + (1 - MOMENTUM) * b.astype(r.dtype), running, batch)
