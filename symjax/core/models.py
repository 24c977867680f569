"""Functional networks (MLP and a small 1-D CNN): params, forward pass and losses.

Data-flow stage: **init** (``init_mlp``: params per run, scheme x seed) and **train** (``forward``,
``loss_fn``).
Params are a plain pytree: a list with one ``{"w", "b"}`` dict per layer, readout last.
A dense layer has ``w`` of shape ``(fan_in, fan_out)``; a conv layer has a 1-D kernel
``w`` of shape ``(kernel_width, in_channels, out_channels)`` (stride ``CONV_STRIDE``,
"SAME" padding). With no hidden layer (``hidden = ()``) the MLP is multinomial logistic regression. Every
layer's bias has shape ``(fan_out,)``. The forward pass picks
dense or conv from ``w.ndim``, so the same code serves both models.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from symjax.core.initializers import layer_initializers
from symjax.core.plugins import REGISTERED_MODELS, Model, is_plugin_model, plugin_model
from symjax.core.schemes import PLUGIN_NAME, Scheme

ACTIVATIONS = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "identity": lambda x: x,  # deep linear networks (Saxe et al. 2013)
}
# cnn: conv layers of the `hidden` channel counts (kernel width 5, stride 2), then a dense readout;
# cnn_paper: the same with kernel width 5 in the first conv layer and 3 in the others, as the small CNN of
# MNIST-1D's paper (Greydanus 2020: 3 conv layers of 25 channels, kernels 5/3/3, stride 2, relu).
MODELS = ("mlp", "cnn", "cnn_paper")
CNN_MODELS = ("cnn", "cnn_paper")
CNN_DATASETS = ("mnist1d",)  # a CNN reads the features as one 1-D signal
KERNEL_WIDTH = 5
LATER_KERNEL_WIDTH = 3  # cnn_paper's conv layers after the first
CONV_STRIDE = 2
MAX_HIDDEN_LAYERS = 8

Params = list  # list[dict[str, jax.Array]]


def register_model(name: str, model: Model) -> None:
    """Make ``model`` (a ``Model``) trainable as ``model = name`` in a matrix; registering a name again
    replaces it."""
    if not (isinstance(name, str) and PLUGIN_NAME.fullmatch(name)):
        raise ValueError(
            f"register_model: name {name!r} must be 1 to 64 lowercase letters, digits or '_', starting with "
            "a letter"
        )
    if name in MODELS:
        raise ValueError(f"register_model: {name!r} is a built-in model; choose another name")
    if not (isinstance(model, Model) and callable(model.shapes) and callable(model.apply)):
        raise ValueError(f"register_model: {name!r} needs symjax.Model(shapes, apply) with two functions")
    REGISTERED_MODELS[name] = model


def layer_sizes(n_in: int, hidden: tuple[int, ...], n_out: int) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every dense layer, readout last."""
    widths = [n_in, *hidden, n_out]
    return list(zip(widths[:-1], widths[1:]))


def weight_shapes(model: str, n_in: int, hidden: tuple[int, ...], n_out: int) -> list[tuple[int, ...]]:
    """Shape of every layer's weight, readout last: (fan_in, fan_out) or (kernel_width, c_in, c_out).

    >>> weight_shapes("cnn_paper", 40, (25, 25, 25), 10)
    [(5, 1, 25), (3, 25, 25), (3, 25, 25), (125, 10)]
    """
    if model == "mlp":
        return layer_sizes(n_in, hidden, n_out)
    if is_plugin_model(model):
        return [
            tuple(int(d) for d in shape) for shape in plugin_model(model).shapes(n_in, tuple(hidden), n_out)
        ]
    if model not in CNN_MODELS:
        raise ValueError(
            f"unknown model {model!r}; allowed: {', '.join(MODELS)}, or a plug-in module.path:name"
        )
    channels = (1, *hidden)
    widths = [KERNEL_WIDTH if model == "cnn" or i == 0 else LATER_KERNEL_WIDTH for i in range(len(hidden))]
    conv = [(k, c_in, c_out) for k, c_in, c_out in zip(widths, channels[:-1], channels[1:])]
    length = output_lengths(conv, n_in)[-1] if conv else n_in
    return [*conv, (length * channels[-1], n_out)]


def output_lengths(shapes: list[tuple[int, ...]], n_in: int) -> list[int]:
    """Output positions per example of every layer of ``shapes``: a conv layer (3-d weight) divides
    its input length by ``CONV_STRIDE`` ("SAME" padding, rounded up); a dense layer has 1.

    >>> output_lengths([(5, 1, 25), (3, 25, 25), (250, 10)], 40)
    [20, 10, 1]
    """
    lengths, length = [], n_in
    for shape in shapes:
        length = math.ceil(length / CONV_STRIDE) if len(shape) == 3 else 1
        lengths.append(length)
    return lengths


def init_mlp(key: jax.Array, scheme: Scheme, shapes: list[tuple[int, ...]], dtype=jnp.float32) -> Params:
    """Initialize every layer (hidden and readout) with ``scheme`` and its per-layer overrides.

    Args:
        key: a typed PRNG key; layer l uses ``fold_in(key, l)`` split into (w, b) keys.
        scheme: the (weight init, bias init) pair.
        shapes: weight shapes, ``layer_sizes(...)`` or ``weight_shapes(...)``; bias size = last dim.

    Returns:
        One ``{"w": shape, "b": (shape[-1],)}`` dict per layer, readout last.
    """
    params = []
    for index, shape in enumerate(shapes):
        w_init, b_init = layer_initializers(scheme, index, shapes)
        w_key, b_key = jax.random.split(jax.random.fold_in(key, index))
        params.append({"w": w_init(w_key, tuple(shape), dtype), "b": b_init(b_key, (shape[-1],), dtype)})
    return params


def _conv(h: jax.Array, w: jax.Array) -> jax.Array:
    """1-D convolution of h (batch, length, c_in) with w (kernel_width, c_in, c_out)."""
    return jax.lax.conv_general_dilated(h, w, (CONV_STRIDE,), "SAME", dimension_numbers=("NWC", "WIO", "NWC"))


def forward(
    params: Params, x: jax.Array, activation: str, model: str = "mlp"
) -> tuple[jax.Array, list[jax.Array] | None]:
    """(outputs (batch, n_out), post-activation output of each hidden layer: (batch, width) or (batch, length,
    channels)); a plug-in model gives its outputs and None (its hidden layers are its own)."""
    phi = ACTIVATIONS[activation]
    if model not in MODELS:
        return plugin_model(model).apply(params, x, phi), None
    hidden, h = [], x
    for layer in params[:-1]:
        if layer["w"].ndim == 3:
            h = phi(_conv(h if h.ndim == 3 else h[..., None], layer["w"]) + layer["b"])
        else:
            h = phi(h @ layer["w"] + layer["b"])
        hidden.append(h)
    return h.reshape(h.shape[0], -1) @ params[-1]["w"] + params[-1]["b"], hidden


def apply_model(params: Params, x: jax.Array, activation: str, model: str = "mlp") -> jax.Array:
    """Outputs (batch, n_out) for inputs x (batch, n_in)."""
    return forward(params, x, activation, model)[0]


def example_losses(outputs: jax.Array, y: jax.Array, task: str = "classification") -> jax.Array:
    """Loss of every example (n,): softmax cross-entropy of labels y (n,), or MSE over the outputs of targets
    y (n, n_out)."""
    if task == "regression":
        return jnp.mean(jnp.square(outputs - y), axis=-1)
    return optax.softmax_cross_entropy_with_integer_labels(outputs, y)


def mean_loss(outputs: jax.Array, y: jax.Array, task: str = "classification") -> jax.Array:
    """Mean loss (scalar) of outputs (n, n_out) over examples (see ``example_losses``)."""
    return example_losses(outputs, y, task).mean()


def loss_fn(
    params: Params,
    x: jax.Array,
    y: jax.Array,
    activation: str,
    task: str = "classification",
    model: str = "mlp",
) -> jax.Array:
    """The training loss (scalar) of one minibatch; no accuracy is computed on this hot path."""
    return mean_loss(apply_model(params, x, activation, model), y, task)
