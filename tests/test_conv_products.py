"""Convolutions as products: ``conv1d`` (patches times the reshaped kernel) equals
``lax.conv_general_dilated`` ("SAME", ``conv1d_lax``) in outputs and in gradients w.r.t. input and kernel,
within float32 rounding, for every built-in CNN's layer shapes, odd lengths, odd and even kernel widths,
strides 1 to 3, and under ``vmap`` over runs' kernels, where it lowers to matrix products, no convolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symjax.core.models import (
    CONV_STRIDE,
    complete_params,
    conv1d,
    conv1d_lax,
    init_mlp,
    loss_fn,
    network,
    output_lengths,
    weight_shapes,
)
from symjax.core.schemes import parse_scheme

RTOL = 1e-5  # float32 rounding; atol is RTOL times the reference's largest magnitude


def model_layers(model, n_in, hidden):
    """(length, kernel shape) of every conv layer of a built-in CNN on inputs of n_in features."""
    shapes = weight_shapes(model, n_in, hidden, 10)[:-1]
    return list(zip([n_in, *output_lengths(shapes, n_in)[:-1]], shapes))


# every built-in CNN's conv layers: cnn (kernels 5) and cnn_paper (5/3/3) of the matrices' widths, MNIST-1D's
# 40 features and odd lengths
MODEL_CASES = sorted(
    {
        (length, *shape)
        for model, n_in, hidden in [
            ("cnn", 40, (16, 16)),
            ("cnn", 40, (32, 16, 8)),
            ("cnn_paper", 40, (25, 25, 25)),
            ("cnn_paper", 40, (25, 25, 25, 25)),  # a fourth layer on length 5 (odd)
            ("cnn_paper", 37, (8, 8, 8)),
            ("cnn", 11, (4, 4)),
        ]
        for length, shape in model_layers(model, n_in, hidden)
    }
)
# odd and even lengths and kernel widths, kernels wider than the input, length 1: every (length, stride)
# pair with three widths in turn, so that every width meets every stride and every length three widths
LENGTHS, WIDTHS, STRIDES = (1, 2, 3, 7, 8, 13), (1, 2, 3, 4, 5, 6, 9), (1, 2, 3)
PAIRS = [(length, stride) for length in LENGTHS for stride in STRIDES]
EDGE_WIDTHS = {pair: [WIDTHS[(3 * i + j) % len(WIDTHS)] for j in range(3)] for i, pair in enumerate(PAIRS)}


def assert_close(actual, expected):
    expected = np.asarray(expected)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=RTOL, atol=RTOL * max(scale, 1e-30))


@jax.jit(static_argnames="stride")
def both_ways(cases, stride):
    """Per (h, w, cotangent) of ``cases``: outputs and (input, kernel) gradients of conv1d, of conv1d_lax."""
    results = []
    for h, w, cotangent in cases:
        for conv in (conv1d, conv1d_lax):
            out, vjp = jax.vjp(lambda h, w: conv(h, w, stride), h, w)
            results.append((out, *vjp(cotangent)))
    return results


def check(batch, length, widths, c_in, c_out, stride, seed=0):
    """conv1d == conv1d_lax, outputs and gradients, for each kernel width of ``widths``."""
    rng = np.random.default_rng(seed)
    out_length = -(-length // stride)
    cases = [
        (
            jnp.asarray(rng.normal(size=(batch, length, c_in)), jnp.float32),
            jnp.asarray(rng.normal(size=(width, c_in, c_out)) / np.sqrt(width * c_in), jnp.float32),
            jnp.asarray(rng.normal(size=(batch, out_length, c_out)), jnp.float32),
        )
        for width in widths
    ]
    results = both_ways(cases, stride=stride)
    for products, lax in zip(results[::2], results[1::2]):
        assert products[0].shape == lax[0].shape == (batch, out_length, c_out)
        for actual, expected in zip(products, lax):  # outputs, d/dh, d/dw
            assert actual.shape == expected.shape and actual.dtype == expected.dtype
            assert_close(actual, expected)


@pytest.mark.parametrize("length,width,c_in,c_out", MODEL_CASES)
def test_every_model_layer_equals_lax(length, width, c_in, c_out):
    check(7, length, [width], c_in, c_out, CONV_STRIDE)


@pytest.mark.parametrize("length,stride", PAIRS)
def test_odd_lengths_widths_and_strides_equal_lax(length, stride):
    check(3, length, EDGE_WIDTHS[length, stride], 2, 3, stride, seed=length * 10 + stride)


def test_edge_cases_cover_every_width_at_every_stride():
    met = {(width, stride) for (_, stride), widths in EDGE_WIDTHS.items() for width in widths}
    assert met == {(width, stride) for width in WIDTHS for stride in STRIDES}
    assert all(len(set(widths)) == 3 for widths in EDGE_WIDTHS.values())


def test_model_cases_cover_the_paper_cnn():
    assert {(40, 5, 1, 25), (20, 3, 25, 25), (10, 3, 25, 25), (40, 5, 1, 16), (20, 5, 16, 16)} <= set(
        MODEL_CASES
    )
    assert any(length % 2 for length, *_ in MODEL_CASES)


def test_float64_equals_lax():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        h, w = jnp.asarray(rng.normal(size=(4, 13, 3))), jnp.asarray(rng.normal(size=(4, 3, 5)))
        assert conv1d(h, w).dtype == jnp.float64
        np.testing.assert_allclose(conv1d(h, w), conv1d_lax(h, w), rtol=1e-12, atol=1e-12)


def vmapped_step(conv, shared_input):
    """Over a batch of runs' kernels (the trainer's vmap): outputs and gradients w.r.t. input and kernel."""

    def one_run(h, w):
        return jax.value_and_grad(lambda h, w: jnp.sum(jnp.sin(conv(h, w))), argnums=(0, 1))(h, w)

    return jax.vmap(one_run, in_axes=(None if shared_input else 0, 0))


@pytest.mark.parametrize(
    "shared_input,length,width,c_in,c_out",
    [(True, 40, 5, 1, 25), (False, 40, 5, 1, 25), (False, 20, 3, 25, 25), (False, 5, 3, 25, 25)],
)
def test_vmap_over_kernels_equals_lax_and_is_products(shared_input, length, width, c_in, c_out):
    rng = np.random.default_rng(2)
    runs = 4
    h = rng.normal(size=(8, length, c_in) if shared_input else (runs, 8, length, c_in))
    h = jnp.asarray(h, jnp.float32)
    w = jnp.asarray(rng.normal(size=(runs, width, c_in, c_out)) / np.sqrt(width * c_in), jnp.float32)
    products = jax.jit(vmapped_step(conv1d, shared_input))(h, w)
    lax = jax.jit(vmapped_step(conv1d_lax, shared_input))(h, w)
    for actual, expected in zip(jax.tree.leaves(products), jax.tree.leaves(lax)):
        assert actual.shape == expected.shape
        assert_close(actual, expected)
    jaxpr = str(jax.make_jaxpr(vmapped_step(conv1d, shared_input))(h, w))
    assert "conv_general_dilated" not in jaxpr and "dot_general" in jaxpr
    assert "conv_general_dilated" in str(jax.make_jaxpr(vmapped_step(conv1d_lax, shared_input))(h, w))


def paper_cnn(n_in=40, hidden=(25, 25, 25), seed=0, norm="none"):
    shapes = weight_shapes("cnn_paper", n_in, hidden, 10)
    params = init_mlp(jax.random.key(seed), parse_scheme("lecun_normal/normal(0.1)"), shapes)
    return complete_params(params, "cnn_paper", norm, n_in)


@pytest.mark.parametrize("norm", ["none", "layernorm"])
def test_whole_paper_cnn_equals_lax(norm):
    params = paper_cnn(norm=norm)
    x = jnp.asarray(np.random.default_rng(3).normal(size=(16, 40)), jnp.float32)

    @jax.jit
    def passes(params, x):  # with products, with lax, with the default
        passes = [network(params, x, "relu", "cnn_paper", norm, conv=c) for c in ("products", "lax")]
        return [*passes, network(params, x, "relu", "cnn_paper", norm)]

    products, lax, default = passes(params, x)
    assert_close(products.outputs, lax.outputs)
    for actual, expected in zip(products.hidden, lax.hidden):
        assert_close(actual, expected)
    np.testing.assert_array_equal(default.outputs, products.outputs)


def test_the_trainer_takes_either_convolution():
    """Under vmap over runs' params, as the trainer: the loss gradients with ``conv="lax"`` use lax's
    convolution, the default none, and both give the same gradients."""
    params = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[paper_cnn(seed=s) for s in range(3)])
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(20, 40)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, size=20), jnp.int32)

    def step(conv):
        return jax.vmap(
            lambda p: jax.grad(loss_fn, has_aux=True)(p, x, y, "relu", model="cnn_paper", conv=conv)[0]
        )

    assert "conv_general_dilated" in str(jax.make_jaxpr(step("lax"))(params))
    assert "conv_general_dilated" not in str(jax.make_jaxpr(step("products"))(params))
    for actual, expected in zip(
        jax.tree.leaves(step("products")(params)), jax.tree.leaves(step("lax")(params))
    ):
        assert_close(actual, expected)
