"""Weight and bias initializers, one per name of ``symjax.core.schemes``.

Data-flow stage: plan -> **init** (params per run: scheme x seed, ``symjax.core.models.init_mlp``) -> train.
Every initializer follows the ``jax.nn.initializers`` contract
``(key, shape, dtype) -> Array`` and reuses ``jax.nn.initializers`` where it can.
Weights have shape ``(fan_in, fan_out)`` (a layer computes ``x @ w + b``) or, for a 1-D
convolution, ``(kernel_width, in_channels, out_channels)``; biases have shape ``(fan_out,)``.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.nn import initializers as jinit
from scipy.linalg import hadamard

from symjax.core.plugins import plugin_init
from symjax.core.schemes import Scheme, is_plugin

Initializer = Callable[..., jax.Array]


def _uniform_symmetric(a: float) -> Initializer:
    """U(-a, a); ``jax.nn.initializers.uniform`` is U(0, scale), so it does not fit."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval=-a, maxval=a)

    return init


def _matrix_init(matrix: Callable[[int, int], np.ndarray]) -> Initializer:
    """Deterministic init from ``matrix(n_in, n_out)``: the whole weight for ``(n_in, n_out)``;
    for a conv kernel ``(k, n_in, n_out)`` the centre tap ``k // 2`` gets it, the other taps 0."""

    def init(key, shape, dtype=jnp.float32):
        del key  # deterministic
        if len(shape) not in (2, 3):
            raise ValueError(
                f"weight shape must be (fan_in, fan_out) or (kernel_width, in, out), got {shape}"
            )
        w = matrix(shape[-2], shape[-1])
        if len(shape) == 3:
            kernel = np.zeros(tuple(shape))
            kernel[shape[0] // 2] = w
            w = kernel
        return jnp.asarray(w, dtype)

    return init


def _zero_matrix(n_in: int, n_out: int) -> np.ndarray:
    """ZerO matrix (n_in, n_out), stored for ``x @ w``: Algorithm 1 of Zhao, Schäfer & Anandkumar,
    "ZerO Initialization: Initializing Neural Networks with only Zeros and Ones", TMLR 2022
    (arXiv:2110.12661). The paper writes W (out P x in Q); here w = W^T.

    - n_out <= n_in (identity or shrinking): partial identity ``eye(n_in, n_out)``;
    - n_out > n_in (expanding, the paper's P > Q): ``c * H_m[:n_in, :n_out]`` with the Sylvester
      Hadamard matrix H_m of order 2^m (``scipy.linalg.hadamard``, symmetric), m = ceil(log2 n_out),
      c = 2^(-(m-1)/2) as in the paper. (The authors' notebook example_mnist.ipynb divides by
      2^(m/2) instead, a factor sqrt(2) smaller.) Full rank n_in; rows orthogonal with squared
      norm c^2 2^m = 2 when n_out is a power of two.
    """
    if n_out <= n_in:
        return np.eye(n_in, n_out)
    m = math.ceil(math.log2(n_out))
    return 2.0 ** (-(m - 1) / 2) * hadamard(2**m, dtype=np.int8)[:n_in, :n_out]


# name -> factory of an Initializer, taking the numeric arguments of the name (symjax.core.schemes)
WEIGHT_INITS: dict[str, Callable[..., Initializer]] = {
    "zeros": lambda: jinit.zeros,
    "constant": lambda c: jinit.constant(c),
    "lecun_normal": jinit.lecun_normal,
    "lecun_uniform": jinit.lecun_uniform,
    "glorot_normal": jinit.glorot_normal,
    "glorot_uniform": jinit.glorot_uniform,
    "he_normal": jinit.he_normal,
    "he_uniform": jinit.he_uniform,
    # PyTorch's nn.Linear/nn.Conv1d default (kaiming_uniform_ with a = sqrt(5)): U(-1/sqrt(fan_in),
    # 1/sqrt(fan_in))
    "torch_default": lambda: jinit.variance_scaling(1 / 3, "fan_in", "uniform"),
    "orthogonal": jinit.orthogonal,
    "identity": lambda: _matrix_init(np.eye),  # (partial) identity eye(fan_in, fan_out)
    "zero_hadamard": lambda: _matrix_init(_zero_matrix),  # ZerO, see _zero_matrix
    "perturbed": lambda eps: jinit.normal(stddev=eps),  # 0 + eps * N(0, 1)
}

BIAS_INITS: dict[str, Callable[..., Initializer]] = {
    "zeros": lambda: jinit.zeros,
    "constant": lambda c: jinit.constant(c),
    "normal": lambda sigma: jinit.normal(stddev=sigma),
    "uniform": _uniform_symmetric,
}
# bias inits that depend on the layer's fan-in: name -> factory taking the fan-in
FAN_IN_BIAS_INITS: dict[str, Callable[[int], Initializer]] = {
    "torch_default": lambda fan_in: _uniform_symmetric(1 / math.sqrt(fan_in)),  # PyTorch's default bias
}


def fan_in(shape: tuple[int, ...]) -> int:
    """Inputs of one unit of a weight (fan_in, fan_out) or conv kernel (width, c_in, c_out), as PyTorch counts
    them.

    >>> fan_in((40, 100)), fan_in((3, 25, 25))
    (40, 75)
    """
    return math.prod(shape[:-1])


def weight_init(scheme: Scheme) -> Initializer:
    """The base weight initializer of ``scheme`` (its overrides ignored)."""
    if is_plugin(scheme.weight):
        return plugin_init(scheme.weight)
    return WEIGHT_INITS[scheme.weight](*scheme.weight_args)


def bias_init(scheme: Scheme, weight_shape: tuple[int, ...]) -> Initializer:
    """The base bias initializer of ``scheme`` (its overrides ignored) for a layer whose weight has
    ``weight_shape``."""
    if is_plugin(scheme.bias):
        return plugin_init(scheme.bias)
    if scheme.bias in FAN_IN_BIAS_INITS:
        return FAN_IN_BIAS_INITS[scheme.bias](fan_in(weight_shape))
    return BIAS_INITS[scheme.bias](*scheme.bias_args)


def layer_initializers(
    scheme: Scheme, layer: int, shapes: list[tuple[int, ...]]
) -> tuple[Initializer, Initializer]:
    """(weight init, bias init) of 0-based ``layer`` of a network with weight ``shapes`` (readout last),
    overrides applied."""
    plain = scheme.for_layer(layer, len(shapes))
    return weight_init(plain), bias_init(plain, tuple(shapes[layer]))
