"""Datasets: offline generation, sizes, standardization with training statistics."""

import numpy as np
import pytest

from symjax.data import DATASETS, TRAIN_SIZES, load_dataset, standardize


def test_mnist1d_has_the_package_default_shape(mnist1d):
    assert mnist1d.x_train.shape == (4000, 40) and mnist1d.x_test.shape == (1000, 40)
    assert mnist1d.y_train.shape == (4000,) and mnist1d.n_classes == 10
    assert mnist1d.x_train.dtype == np.float32 and mnist1d.y_train.dtype == np.int32
    assert set(np.unique(mnist1d.y_train)) == set(range(10))


@pytest.mark.parametrize("name", DATASETS)
def test_standardized_with_training_statistics(name):
    data = load_dataset(name)
    assert TRAIN_SIZES[name] == len(data.y_train), "TRAIN_SIZES is used to validate batch sizes"
    std = data.x_train.std(axis=0)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(std[std > 0], 1, atol=1e-4)
    assert np.isfinite(data.x_test).all()


def test_standardize_uses_train_statistics_only():
    train, test = np.array([[0.0, 5.0], [2.0, 5.0]]), np.array([[4.0, 7.0]])
    x_train, x_test = standardize(train, test)
    np.testing.assert_allclose(x_train, [[-1, 0], [1, 0]])
    np.testing.assert_allclose(x_test, [[3, 2]])


def test_generation_leaves_numpy_global_state_alone():
    load_dataset.cache_clear()
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    load_dataset("mnist1d")
    assert np.random.rand() == expected


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="mnist1d"):
        load_dataset("cifar10")
