"""The theory of docs/theory.md, checked on real training runs on MNIST-1D."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from symjax.core.group import GroupConfig, Run
from symjax.core.models import forward, layer_sizes
from symjax.core.train import make_train
from symjax.engine.program import Programs, seed_keys


@functools.lru_cache(maxsize=None)
def program(cfg):
    return jax.jit(make_train(cfg, 4000))


def init_one(scheme, hidden, seed=0):
    return jax.tree.map(
        lambda v: v[0], Programs().init_params([Run(0, 0, scheme, seed, 0.0)], layer_sizes(40, hidden, 10))
    )


def train_one(scheme, cfg, mnist1d_arrays, seed=0, lr=0.1):
    """Train one run; returns (initial params, final params, logs)."""
    params = init_one(scheme, cfg.hidden, seed)
    state, logs = program(cfg)(params, seed_keys(np.array([seed]), 1)[0], jnp.float32(lr), mnist1d_arrays)
    return params, state.params, logs


def full_batch_sgd(scheme, hidden, updates, mnist1d_arrays, lr=0.5):
    """Params of one run after 0, 1, ..., ``updates`` full-batch SGD updates. Plain SGD on the full batch
    keeps no state but the params (no momentum, no example order), so k calls of the one-update training
    program are k steps of training: one compilation instead of one per length."""
    cfg = GroupConfig("mnist1d", hidden, "tanh", "sgd", None, 1, 1)
    params = [init_one(scheme, hidden)]
    for _ in range(updates):
        params.append(
            program(cfg)(params[-1], seed_keys(np.array([0]), 1)[0], jnp.float32(lr), mnist1d_arrays)[
                0
            ].params
        )
    return params


def class_prior_entropy(labels):
    p = np.bincount(labels) / len(labels)
    return float(-(p * np.log(p)).sum())


def test_all_zero_tanh_is_stuck_at_class_prior_entropy(mnist1d, mnist1d_arrays):
    cfg = GroupConfig("mnist1d", (32, 32), "tanh", "sgd", None, 300, 50)
    _, final, logs = train_one("zeros/zeros", cfg, mnist1d_arrays, lr=1.0)
    np.testing.assert_allclose(logs.train_loss[0], np.log(10), rtol=1e-6)
    entropy = class_prior_entropy(mnist1d.y_train)
    assert np.all(np.asarray(logs.train_loss) >= entropy - 1e-5), (
        "only the readout bias can learn: never below H(prior)"
    )
    assert abs(float(logs.train_loss[-1]) - entropy) < 2e-3
    for layer in final[:-1]:
        assert not np.any(np.asarray(layer["w"])) and not np.any(np.asarray(layer["b"])), (
            "hidden params must stay 0"
        )
    assert not np.any(np.asarray(final[-1]["w"])), "readout weights get zero gradient"


def test_zero_w_random_b_gives_rank_one_first_layer_after_two_sgd_updates(mnist1d_arrays):
    params = full_batch_sgd("zeros/normal(1.0)", (64,), 2, mnist1d_arrays)
    for steps, expected_rank in ((1, 0), (2, 1)):
        w1 = np.asarray(params[steps][0]["w"], np.float64)
        if expected_rank == 0:
            assert not np.any(w1), "after one update W1 has had no gradient"
            continue
        singular = np.linalg.svd(w1, compute_uv=False)
        assert singular[0] > 1e-6
        assert singular[1] / singular[0] < 1e-5, f"W1 must be rank 1, singular values {singular[:3]}"


def test_layer_l_minus_k_first_learns_after_k_steps(mnist1d_arrays):
    """Zero W, random b, 3 hidden layers: readout W moves at step 1, the layer below at 2, and so on."""
    params = full_batch_sgd("zeros/normal(1.0)", (16, 16, 16), 4, mnist1d_arrays)
    initial, first_change = params[0], {}
    for steps in range(1, 5):
        final = params[steps]
        for layer in range(len(final)):
            if layer not in first_change and np.any(
                np.asarray(final[layer]["w"]) != np.asarray(initial[layer]["w"])
            ):
                first_change[layer] = steps
    assert first_change == {3: 1, 2: 2, 1: 3, 0: 4}


def test_relu_units_with_negative_bias_never_change(mnist1d_arrays):
    cfg = GroupConfig("mnist1d", (64,), "relu", "adam", 128, 100, 50)
    initial, final, logs = train_one("zeros/normal(1.0)", cfg, mnist1d_arrays, lr=0.01)
    b0 = np.asarray(initial[0]["b"])
    dead, alive = b0 < 0, b0 > 0
    assert dead.sum() > 10 and alive.sum() > 10
    np.testing.assert_array_equal(np.asarray(final[0]["w"])[:, dead], 0.0)
    np.testing.assert_array_equal(np.asarray(final[0]["b"])[dead], b0[dead])
    np.testing.assert_array_equal(np.asarray(final[1]["w"])[dead], 0.0)
    assert np.all(np.abs(np.asarray(final[0]["w"])[:, alive]).sum(axis=0) > 0), "units with b > 0 learn"
    outputs = forward(final, mnist1d_arrays.x_train, "relu")[1][0]
    assert not np.any(np.asarray(outputs)[:, dead]), "dead units output 0 on every training input"
    assert float(logs.train_loss[-1]) < float(logs.train_loss[0])
