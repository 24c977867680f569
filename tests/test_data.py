"""Datasets: offline generation, sizes, tasks, standardization with training statistics, difficulty."""

import numpy as np
import pytest

from symjax.core.data import (
    DATASETS,
    TASKS,
    TRAIN_SIZES,
    Dataset,
    _load_builtin,
    dataset_task,
    load_dataset,
    standardize,
    train_size,
)

CLASSIFICATION = [name for name in DATASETS if TASKS[name] == "classification"]
REGRESSION = [name for name in DATASETS if TASKS[name] == "regression"]


def _least_squares_fit(x, targets):
    """Fitted values of an affine least-squares fit of targets (n, k) on x (n, d)."""
    design = np.c_[x, np.ones(len(x))]
    coef, *_ = np.linalg.lstsq(design, targets, rcond=None)
    return design @ coef


def test_dataset_fields():
    assert Dataset._fields == ("x_train", "y_train", "x_test", "y_test", "n_outputs", "task")


def test_registries_agree():
    assert set(TRAIN_SIZES) == set(TASKS) == set(DATASETS)
    assert set(TASKS.values()) <= {"classification", "regression"}
    assert {"mnist1d", "digits", "teacher", "teacher_regression", "spirals", "xor"} <= set(DATASETS)


def test_mnist1d_has_the_package_default_shape(mnist1d):
    assert mnist1d.x_train.shape == (4000, 40) and mnist1d.x_test.shape == (1000, 40)
    assert mnist1d.y_train.shape == (4000,) and mnist1d.n_outputs == 10
    assert mnist1d.task == "classification"
    assert mnist1d.x_train.dtype == np.float32 and mnist1d.y_train.dtype == np.int32
    assert set(np.unique(mnist1d.y_train)) == set(range(10))


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("teacher", (2000, 20, 1000, 10)),
        ("teacher_regression", (2000, 20, 1000, 5)),
        ("spirals", (1000, 2, 1000, 2)),
        ("xor", (1000, 2, 1000, 2)),
    ],
)
def test_synthetic_sizes(name, shape):
    data = load_dataset(name)
    n_train, n_features, n_test, n_outputs = shape
    assert data.x_train.shape == (n_train, n_features) and data.x_test.shape == (n_test, n_features)
    assert data.n_outputs == n_outputs


@pytest.mark.parametrize("name", DATASETS)
def test_shapes_dtypes_and_registries_match_the_data(name):
    data = load_dataset(name)
    assert TRAIN_SIZES[name] == train_size(name) == len(data.y_train), (
        "train_size is used to validate batch sizes"
    )
    assert TASKS[name] == dataset_task(name) == data.task
    assert data.x_train.dtype == data.x_test.dtype == np.float32
    assert data.x_train.ndim == 2 and data.x_test.shape[1] == data.x_train.shape[1]
    assert len(data.x_train) == len(data.y_train) and len(data.x_test) == len(data.y_test)
    assert isinstance(data.n_outputs, int)
    if data.task == "classification":
        assert data.y_train.dtype == data.y_test.dtype == np.int32
        assert data.y_train.ndim == data.y_test.ndim == 1
        assert data.y_train.min() >= 0 and data.y_test.min() >= 0
        assert max(data.y_train.max(), data.y_test.max()) == data.n_outputs - 1
    else:
        assert data.y_train.dtype == data.y_test.dtype == np.float32
        assert data.y_train.shape[1] == data.y_test.shape[1] == data.n_outputs


@pytest.mark.parametrize("name", DATASETS)
def test_standardized_with_training_statistics(name):
    data = load_dataset(name)
    std = data.x_train.std(axis=0)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(std[std > 0], 1, atol=1e-4)
    assert np.isfinite(data.x_test).all()


@pytest.mark.parametrize("name", DATASETS)
def test_generation_is_deterministic_and_leaves_numpy_global_state_alone(name, numpy_random_state):
    """Generated twice (``_load_builtin.__wrapped__``: past the process-wide cache, which this test neither
    reads first nor clears) to equal arrays, without moving numpy's global generator; the cache returns the
    same values."""
    generate = _load_builtin.__wrapped__
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    first = generate(name)
    assert np.random.rand() == expected
    second = generate(name)
    assert first is not second
    for data in (second, load_dataset(name)):
        for a, b in zip(first[:4], data[:4]):
            np.testing.assert_array_equal(a, b)
        assert first[4:] == data[4:]


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_every_class_occurs_in_train_and_test(name):
    data = load_dataset(name)
    assert set(np.unique(data.y_train)) == set(np.unique(data.y_test)) == set(range(data.n_outputs))


def test_teacher_classes_are_not_badly_imbalanced():
    data = load_dataset("teacher")
    for y in (data.y_train, data.y_test):
        freq = np.bincount(y, minlength=10) / len(y)
        assert freq.max() < 0.3 and freq.min() > 0.02, freq


@pytest.mark.parametrize("name", ["spirals", "xor"])
def test_two_class_sets_are_roughly_balanced(name):
    data = load_dataset(name)
    for y in (data.y_train, data.y_test):
        assert 0.45 < y.mean() < 0.55


@pytest.mark.parametrize("name", ["spirals", "xor"])
def test_two_class_sets_need_a_hidden_layer(name):
    """A linear classifier (least squares on one-hot) is near chance; random tanh features solve it."""
    data = load_dataset(name)
    linear = _least_squares_fit(data.x_train, np.eye(2)[data.y_train]).argmax(axis=1)
    assert (linear == data.y_train).mean() < 0.65
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(2, 500)) / np.sqrt(2), rng.normal(size=500)
    features = np.tanh(np.concatenate([data.x_train, data.x_test]) @ w + b)
    design = np.c_[features, np.ones(len(features))]
    n = len(data.y_train)
    coef, *_ = np.linalg.lstsq(design[:n], np.eye(2)[data.y_train], rcond=None)
    assert ((design[n:] @ coef).argmax(axis=1) == data.y_test).mean() > 0.95


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_targets_are_standardized_with_training_statistics(name):
    data = load_dataset(name)
    np.testing.assert_allclose(data.y_train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(data.y_train.std(axis=0), 1, atol=1e-4)
    assert 0.8 < np.mean(data.y_test**2) < 1.2, "predicting 0 should give a test MSE of about 1"


def test_teacher_regression_is_not_linear_but_partly_linear():
    data = load_dataset("teacher_regression")
    residual = data.y_train - _least_squares_fit(data.x_train, data.y_train)
    r2 = 1 - np.mean(residual**2) / np.mean(data.y_train.var(axis=0))
    assert 0.5 < r2 < 0.92, r2  # about 0.84; the noise alone would cap R^2 near 0.99


def test_standardize_uses_train_statistics_only():
    train, test = np.array([[0.0, 5.0], [2.0, 5.0]]), np.array([[4.0, 7.0]])
    x_train, x_test = standardize(train, test)
    np.testing.assert_allclose(x_train, [[-1, 0], [1, 0]])
    np.testing.assert_allclose(x_test, [[3, 2]])


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="mnist1d.*teacher_regression"):
        load_dataset("cifar10")
