"""Models: the 1-D CNN against a numpy convolution, every activation, the regression loss,
and whole training groups of every model and task (vmapped == alone)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symjax.core.data import DATASETS, TASKS, load_dataset
from symjax.core.evaluation import evaluate, slices
from symjax.core.group import GroupConfig, Run
from symjax.core.models import ACTIVATIONS, CONV_STRIDE, KERNEL_WIDTH, forward, init_mlp, weight_shapes
from symjax.core.schemes import parse_scheme
from symjax.core.train import Arrays, make_train
from symjax.engine.program import Programs, group_program, seed_keys


def numpy_conv(h, w):
    """'SAME' 1-D convolution with stride CONV_STRIDE, written out (h (n, L, c_in), w (k, c_in, c_out))."""
    n, length, _ = h.shape
    width = w.shape[0]
    out_length = -(-length // CONV_STRIDE)
    pad_total = max((out_length - 1) * CONV_STRIDE + width - length, 0)
    padded = np.pad(h, ((0, 0), (pad_total // 2, pad_total - pad_total // 2), (0, 0)))
    return np.stack(
        [
            np.einsum("nkc,kcd->nd", padded[:, i * CONV_STRIDE : i * CONV_STRIDE + width], w)
            for i in range(out_length)
        ],
        axis=1,
    )


def test_cnn_shapes():
    assert weight_shapes("cnn", 40, (16, 8), 10) == [
        (KERNEL_WIDTH, 1, 16),
        (KERNEL_WIDTH, 16, 8),
        (10 * 8, 10),
    ]
    assert weight_shapes("mlp", 40, (16, 8), 10) == [(40, 16), (16, 8), (8, 10)]
    with pytest.raises(ValueError, match="mlp"):
        weight_shapes("rnn", 40, (16,), 10)


def test_paper_cnn_shapes_and_linear_model():
    """cnn_paper: MNIST-1D's CNN (kernels 5, 3, 3, stride 2: lengths 20, 10, 5, so 125 features reach the
    readout); no hidden layer: one (n_in, n_out) readout, multinomial logistic regression."""
    assert weight_shapes("cnn_paper", 40, (25, 25, 25), 10) == [
        (5, 1, 25),
        (3, 25, 25),
        (3, 25, 25),
        (125, 10),
    ]
    assert weight_shapes("mlp", 40, (), 10) == [(40, 10)]
    params = init_mlp(jax.random.key(0), parse_scheme("lecun_normal/normal(0.5)"), [(40, 10)])
    x = np.random.default_rng(0).normal(size=(7, 40)).astype(np.float32)
    outputs, hidden = forward(params, jnp.asarray(x), "relu")  # the activation is never applied
    assert hidden == []
    np.testing.assert_allclose(
        outputs, x @ np.asarray(params[0]["w"]) + np.asarray(params[0]["b"]), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("model", ["cnn", "cnn_paper"])
def test_cnn_forward_matches_numpy(model):
    shapes = weight_shapes(model, 40, (6, 4), 3)
    params = init_mlp(jax.random.key(0), parse_scheme("lecun_normal/normal(0.5)"), shapes)
    x = np.random.default_rng(0).normal(size=(7, 40)).astype(np.float32)
    outputs, hidden = forward(params, jnp.asarray(x), "tanh")
    h = x[..., None]
    for layer, got in zip(params[:-1], hidden):
        h = np.tanh(numpy_conv(h, np.asarray(layer["w"])) + np.asarray(layer["b"]))
        np.testing.assert_allclose(got, h, rtol=1e-4, atol=1e-5)
    expected = h.reshape(7, -1) @ np.asarray(params[-1]["w"]) + np.asarray(params[-1]["b"])
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_runs_and_identity_is_linear(activation):
    params = init_mlp(
        jax.random.key(1), parse_scheme("lecun_normal/zeros"), weight_shapes("mlp", 5, (4, 4), 2)
    )
    x = jnp.ones((3, 5))
    outputs = forward(params, x, activation)[0]
    assert outputs.shape == (3, 2) and bool(jnp.isfinite(outputs).all())
    if activation == "identity":
        product = params[0]["w"] @ params[1]["w"] @ params[2]["w"]
        np.testing.assert_allclose(outputs, x @ product, rtol=1e-4, atol=1e-6)


def test_regression_loss_is_mean_squared_error_and_has_no_accuracy():
    identity_readout = [{"w": jnp.eye(2), "b": jnp.zeros(2)}]  # outputs = inputs
    data = slices(jnp.array([[1.0, 2.0], [0.0, 0.0]]), jnp.array([[0.0, 0.0], [1.0, 1.0]]), size=1)
    loss, acc, _ = evaluate(identity_readout, data, "tanh", "regression")
    np.testing.assert_allclose(loss, (1 + 4 + 1 + 1) / 4)
    assert np.isnan(acc)


CASES = [("mnist1d", "cnn"), ("mnist1d", "cnn_paper"), *[(name, "mlp") for name in DATASETS]]


@pytest.mark.parametrize("dataset,model", CASES, ids=[f"{d}-{m}" for d, m in CASES])
def test_group_of_every_model_and_dataset_equals_runs_alone(dataset, model):
    """One compiled group per (dataset, model): finite losses, the vmapped runs equal the runs alone,
    all-zero nets start at chance (ln n_classes, or the targets' mean square for regression).

    MLPs have one hidden layer, the CNN two (a conv layer on a conv layer's channels): compiling each
    layer's random initializers takes about a second per scheme, and the properties do not depend on depth."""
    data = load_dataset(dataset)
    arrays = Arrays(*(jnp.asarray(a) for a in data[:4]))
    cfg = GroupConfig(dataset, (6,) if model == "mlp" else (6, 6), "relu", "sgd", 32, 6, 3, model)
    shapes = weight_shapes(model, data.x_train.shape[1], cfg.hidden, data.n_outputs)
    runs = [
        Run(i, 0, s, 0, 0.05)
        for i, s in enumerate(
            ["zeros/zeros", "lecun_normal/zeros", "zero_hadamard/normal(1.0)", "perturbed(0.01)/zeros"]
        )
    ]
    params = Programs().init_params(runs, shapes)
    keys, lrs = seed_keys(np.zeros(4), 1), jnp.full(4, 0.05, jnp.float32)
    _, logs = group_program(cfg, len(data.y_train))(params, keys, lrs, arrays)
    assert np.isfinite(np.asarray(logs.train_loss)).all()
    chance = np.mean(np.square(data.y_train)) if TASKS[dataset] == "regression" else np.log(data.n_outputs)
    np.testing.assert_allclose(logs.train_loss[0, 0], chance, rtol=1e-5)
    assert np.isnan(np.asarray(logs.test_acc)).all() == (TASKS[dataset] == "regression")
    if (dataset, model) not in (("mnist1d", "cnn"), ("teacher_regression", "mlp")):
        return  # compiling the single run costs seconds; the new model and the new task are enough
    _, alone = jax.jit(make_train(cfg, len(data.y_train)))(
        jax.tree.map(lambda v: v[1], params), keys[1], lrs[1], arrays
    )
    np.testing.assert_allclose(logs.train_loss[1], alone.train_loss, rtol=1e-5, atol=1e-6)
