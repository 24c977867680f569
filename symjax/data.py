"""Datasets, generated offline, standardized per feature with training-set statistics.

Data-flow stage: feeds **train** (the arrays are arguments of every compiled group).
Nothing is downloaded: MNIST-1D comes from the ``mnist1d`` package's own generator and
``digits`` from ``sklearn.datasets.load_digits`` (shipped inside scikit-learn).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """Standardized float32 inputs and int32 labels."""

    x_train: np.ndarray  # (n_train, n_features)
    y_train: np.ndarray  # (n_train,)
    x_test: np.ndarray  # (n_test, n_features)
    y_test: np.ndarray  # (n_test,)
    n_classes: int


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean, unit variance per feature using training statistics (constant features stay 0)."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def _mnist1d() -> tuple[np.ndarray, ...]:
    """MNIST-1D with the package's default arguments: 4000 train / 1000 test, 40 features, 10 classes."""
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()  # make_dataset reseeds numpy's global generator; restore it
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    return data["x"], data["y"], data["x_test"], data["y_test"]


def _digits() -> tuple[np.ndarray, ...]:
    """sklearn 8x8 digits (1797 samples, 64 features), fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return x_train, y_train, x_test, y_test


DATASETS: dict[str, Callable[[], tuple[np.ndarray, ...]]] = {
    "mnist1d": _mnist1d,
    "digits": _digits,
}


TRAIN_SIZES = {"mnist1d": 4000, "digits": 1437}  # training examples, known without loading (tested)


@functools.lru_cache(maxsize=None)
def load_dataset(name: str) -> Dataset:
    """Load a registered dataset by name; raise ValueError listing the valid names."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    x_train, y_train, x_test, y_test = DATASETS[name]()
    x_train, x_test = standardize(np.asarray(x_train, np.float64), np.asarray(x_test, np.float64))
    y_train, y_test = np.asarray(y_train, np.int32), np.asarray(y_test, np.int32)
    return Dataset(x_train, y_train, x_test, y_test, int(max(y_train.max(), y_test.max()) + 1))
