"""Functional MLP: params, forward pass and softmax cross-entropy.

Data-flow stage: matrix config -> **init params per run (scheme x seed)** -> train.
Params are a plain pytree: a list with one ``{"w": (fan_in, fan_out), "b": (fan_out,)}``
dict per layer; the last layer is the linear readout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from symjax.initializers import Scheme

ACTIVATIONS = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
}

Params = list  # list[dict[str, jax.Array]]


def layer_sizes(n_in: int, hidden: tuple[int, ...], n_out: int) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every layer, readout last."""
    widths = [n_in, *hidden, n_out]
    return list(zip(widths[:-1], widths[1:]))


def init_mlp(key: jax.Array, scheme: Scheme, sizes: list[tuple[int, int]], dtype=jnp.float32) -> Params:
    """Initialize every layer (hidden and readout) with ``scheme``.

    Args:
        key: a typed PRNG key; layer l uses ``fold_in(key, l)`` split into (w, b) keys.
        scheme: the (weight init, bias init) pair.
        sizes: ``layer_sizes(...)``.
    """
    w_init, b_init = scheme.weight_init(), scheme.bias_init()
    params = []
    for index, (fan_in, fan_out) in enumerate(sizes):
        w_key, b_key = jax.random.split(jax.random.fold_in(key, index))
        params.append({"w": w_init(w_key, (fan_in, fan_out), dtype), "b": b_init(b_key, (fan_out,), dtype)})
    return params


def forward(params: Params, x: jax.Array, activation: str) -> tuple[jax.Array, list[jax.Array]]:
    """(logits (batch, n_classes), post-activation output (batch, width) of each hidden layer)."""
    phi = ACTIVATIONS[activation]
    hidden, h = [], x
    for layer in params[:-1]:
        h = phi(h @ layer["w"] + layer["b"])
        hidden.append(h)
    return h @ params[-1]["w"] + params[-1]["b"], hidden


def apply_mlp(params: Params, x: jax.Array, activation: str) -> jax.Array:
    """Logits (batch, n_classes) for inputs x (batch, n_in)."""
    return forward(params, x, activation)[0]


def cross_entropy(params: Params, x: jax.Array, y: jax.Array, activation: str) -> jax.Array:
    """Mean softmax cross-entropy (scalar) of integer labels y (batch,)."""
    logits = apply_mlp(params, x, activation)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def loss_and_accuracy(logits: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean cross-entropy, accuracy) of logits (n, n_classes) against integer labels y (n,)."""
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, (logits.argmax(-1) == y).mean()
