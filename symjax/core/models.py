"""Functional networks (MLP, a small 1-D CNN, a residual MLP, a small transformer): params, forward pass
and losses.

Data-flow stage: **init** (``init_mlp``: params per run, scheme x seed) and **train** (``forward``,
``loss_fn``).
Params are a plain pytree: a list with one ``{"w", "b"}`` dict per layer, readout last.
A dense layer has ``w`` of shape ``(fan_in, fan_out)``; a conv layer has a 1-D kernel
``w`` of shape ``(kernel_width, in_channels, out_channels)`` (stride ``CONV_STRIDE``,
"SAME" padding), applied as one matrix product of patches (``conv1d``: under ``vmap`` over runs a batched
GEMM, where ``lax.conv_general_dilated``, kept as ``conv1d_lax``, becomes a loop of grouped convolutions on
XLA:CPU). With no hidden layer (``hidden = ()``) the MLP is multinomial logistic regression. Every
layer's bias has shape ``(fan_out,)``. The forward pass picks
dense or conv from ``w.ndim``, so the same code serves both models. ``resmlp`` is an input layer
``phi(norm(x W + b))`` to ``hidden[0]`` units, then a residual block ``h + phi(norm(h W + b))`` per further
``hidden`` entry (one width), then the readout; the transformer is ``symjax.core.transformer``.
With ``norm`` other than "none" every hidden layer of mlp, cnn and resmlp is normalized after its affine
map (``symjax.core.norms``); ``complete_params`` adds the normalization's own parameters.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from symjax.core.initializers import layer_initializers
from symjax.core.norms import Running, norm_params, normalize
from symjax.core.plugins import REGISTERED_MODELS, Model, is_plugin_model, plugin_model
from symjax.core.schemes import PLUGIN_NAME, Scheme
from symjax.core.transformer import transformer_extras, transformer_forward, transformer_shapes

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
# resmlp: an input layer, one residual block per further hidden entry, the readout; transformer: see
# symjax.core.transformer
MODELS = ("mlp", "cnn", "cnn_paper", "resmlp", "transformer")
CNN_MODELS = ("cnn", "cnn_paper")
CNN_DATASETS = ("mnist1d",)  # a CNN reads the features as one 1-D signal
SIGNAL_MODELS = (*CNN_MODELS, "transformer")  # models that read the features as one 1-D signal
NORMED_MODELS = ("mlp", "cnn", "cnn_paper", "resmlp")  # models whose hidden layers the norm axis normalizes
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
    if model == "resmlp":
        if not hidden or len(set(hidden)) != 1:
            raise ValueError(f"resmlp keeps one width through its residual blocks, got hidden {list(hidden)}")
        return layer_sizes(n_in, hidden, n_out)
    if model == "transformer":
        return transformer_shapes(n_in, tuple(hidden), n_out)
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


def complete_params(params: Params, model: str, norm: str = "none", n_in: int = 0) -> Params:
    """``params`` (one ``{"w", "b"}`` per layer, from ``init_mlp``) with the parameters no scheme draws added
    where missing: each hidden layer's ``scale`` (ones) and ``shift`` (zeros) under a norm, and the
    transformer's position embedding and LayerNorms (``transformer_extras``; ``n_in`` its input size)."""
    if model == "transformer":
        return transformer_extras(params, n_in)
    if norm == "none" or model not in NORMED_MODELS:
        return params
    hidden = [{**norm_params(layer["b"].shape[-1], layer["b"].dtype), **layer} for layer in params[:-1]]
    return [*hidden, params[-1]]


def normalized_widths(model: str, norm: str, shapes: list[tuple[int, ...]]) -> list[int]:
    """Units of every layer that BatchNorm normalizes (its running averages' sizes); [] without one."""
    return [shape[-1] for shape in shapes[:-1]] if norm == "batchnorm" and model in NORMED_MODELS else []


class Pass(NamedTuple):
    """One forward pass: outputs (batch, n_out); per layer but the readout its post-activation output
    ((batch, width), (batch, length, channels) or, a layer without activation, None), or None for a plug-in
    model; BatchNorm's statistics per normalized layer (the minibatch's in training, the running averages
    given at evaluation), () without BatchNorm."""

    outputs: jax.Array
    hidden: list | None
    stats: tuple


def conv1d(h: jax.Array, w: jax.Array, stride: int = CONV_STRIDE) -> jax.Array:
    """The "SAME" 1-D convolution of h (batch, length, c_in) with w (k, c_in, c_out): (batch, out, c_out),
    out = ceil(length / stride), as ``conv1d_lax``. The k taps are static strided slices of the padded input
    (XLA's split: ``total // 2`` before), concatenated into patches (batch, out, k * c_in) times w as
    (k * c_in, c_out): under ``vmap`` over kernels a batched matrix product."""
    length, (width, c_in, c_out) = h.shape[-2], w.shape
    out = -(-length // stride)
    total = max((out - 1) * stride + width - length, 0)
    padded = jnp.pad(h, [(0, 0)] * (h.ndim - 2) + [(total // 2, total - total // 2), (0, 0)])
    axis = h.ndim - 2
    taps = [jax.lax.slice_in_dim(padded, j, j + (out - 1) * stride + 1, stride, axis) for j in range(width)]
    return jnp.concatenate(taps, axis=-1) @ w.reshape(width * c_in, c_out)


def conv1d_lax(h: jax.Array, w: jax.Array, stride: int = CONV_STRIDE) -> jax.Array:
    """``conv1d`` as ``lax.conv_general_dilated`` (the formulation before products; for benchmarks)."""
    return jax.lax.conv_general_dilated(h, w, (stride,), "SAME", dimension_numbers=("NWC", "WIO", "NWC"))


CONV_IMPLEMENTATIONS = {"products": conv1d, "lax": conv1d_lax}  # how conv layers are computed


def network(
    params: Params,
    x: jax.Array,
    activation: str,
    model: str = "mlp",
    norm: str = "none",
    running: tuple[Running, ...] | None = None,
    conv: str = "products",
) -> Pass:
    """The forward pass of inputs x (batch, n_in) (``Pass``); params from ``complete_params``. BatchNorm uses
    the minibatch's statistics when ``running`` is None (training), else ``running`` (evaluation); ``conv``
    names the conv layers' ``CONV_IMPLEMENTATIONS`` entry ("lax": the formulation before, for benchmarks)."""
    phi = ACTIVATIONS[activation]
    conv1 = CONV_IMPLEMENTATIONS[conv]
    if model == "transformer":
        return Pass(*transformer_forward(params, x, phi), ())
    if model not in MODELS:
        return Pass(plugin_model(model).apply(params, x, phi), None, ())
    hidden, stats, h = [], [], x
    for index, layer in enumerate(params[:-1]):
        if layer["w"].ndim == 3:
            z = conv1(h if h.ndim == 3 else h[..., None], layer["w"]) + layer["b"]
        else:
            z = h @ layer["w"] + layer["b"]
        z, used = normalize(norm, z, layer, None if running is None else running[index])
        branch = phi(z)
        h = h + branch if model == "resmlp" and index > 0 else branch
        hidden.append(branch)
        stats += [] if used is None else [used]
    return Pass(h.reshape(h.shape[0], -1) @ params[-1]["w"] + params[-1]["b"], hidden, tuple(stats))


def forward(
    params: Params, x: jax.Array, activation: str, model: str = "mlp", norm: str = "none"
) -> tuple[jax.Array, list | None]:
    """(outputs (batch, n_out), post-activation output of each hidden layer (see ``Pass``)) in training mode;
    a plug-in model gives its outputs and None (its hidden layers are its own)."""
    outputs, hidden, _ = network(params, x, activation, model, norm)
    return outputs, hidden


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
    norm: str = "none",
    conv: str = "products",
) -> tuple[jax.Array, tuple]:
    """(the training loss (scalar) of one minibatch, BatchNorm's minibatch statistics per normalized layer, ()
    without); no accuracy is computed on this hot path. ``conv``: see ``network``."""
    outputs, _, stats = network(params, x, activation, model, norm, conv=conv)
    return mean_loss(outputs, y, task), stats
