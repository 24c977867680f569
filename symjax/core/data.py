"""Datasets: built-in ones generated offline, or the user's own from a file; standardized with training
statistics.

Data-flow stage: input of **train** (the arrays are arguments of every compiled group); matrix and
plan read the sizes (``train_size``: matrix validation, the memory estimate) and a file's version
(``file_version``: the resume key, config.json).
Nothing is downloaded: MNIST-1D comes from the ``mnist1d`` package's own generator,
``digits`` from ``sklearn.datasets.load_digits`` (shipped inside scikit-learn), and the
synthetic sets (``teacher``, ``teacher_regression``, ``spirals``, ``xor``) from a fixed
``np.random.default_rng`` seed each, never from numpy's global random state.
``file:PATH.npz`` or ``file:PATH.csv#label=COLUMN`` names the user's own data (``symjax.core.data_files``);
it is read again when the file changes. Classification sets have int32 labels; regression sets have float32
targets of shape
``(n, n_outputs)``, standardized per output with training statistics (predicting 0
gives a mean squared error of about 1).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from symjax.core.data_files import bad, file_status, is_file_dataset, parse_name, read_file
from symjax.core.errors import SymjaxError


class Dataset(NamedTuple):
    """Standardized float32 inputs; int32 labels (classification) or float32 targets (regression)."""

    x_train: np.ndarray  # (n_train, n_features)
    y_train: np.ndarray  # classification: (n_train,) int32; regression: (n_train, n_outputs) float32
    x_test: np.ndarray  # (n_test, n_features)
    y_test: np.ndarray  # classification: (n_test,) int32; regression: (n_test, n_outputs) float32
    n_outputs: int  # classes (classification) or output dimensions (regression)
    task: str  # "classification" or "regression"


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


def _split(x: np.ndarray, y: np.ndarray, n_train: int) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test): the first n_train rows train, the rest test."""
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _teacher_mlp(rng: np.random.Generator, x: np.ndarray, n_hidden: int, n_out: int) -> np.ndarray:
    """Outputs (n, n_out) of a random tanh MLP with LeCun-normal weights and N(0, 1) biases."""
    w1 = rng.normal(size=(x.shape[1], n_hidden)) / np.sqrt(x.shape[1])
    b1 = rng.normal(size=n_hidden)
    w2 = rng.normal(size=(n_hidden, n_out)) / np.sqrt(n_hidden)
    b2 = rng.normal(size=n_out)
    return np.tanh(x @ w1 + b1) @ w2 + b2


def _teacher() -> tuple[np.ndarray, ...]:
    """Teacher-student classification: 20-d N(0, I) inputs, label = argmax of a 20-50-10 tanh teacher.

    Each teacher logit is shifted and scaled to zero mean and unit variance over the training
    inputs (fixed per-class offsets), so all 10 classes occur with similar frequency.
    """
    rng = np.random.default_rng(1001)
    x = rng.normal(size=(3000, 20))
    logits = _teacher_mlp(rng, x, 50, 10)
    logits = (logits - logits[:2000].mean(axis=0)) / logits[:2000].std(axis=0)
    return _split(x, logits.argmax(axis=1), 2000)


def _teacher_regression() -> tuple[np.ndarray, ...]:
    """Teacher-student regression: 20-d N(0, I) inputs, targets of a 20-50-5 tanh teacher plus noise.

    The noise is Gaussian with 0.1 times each output's standard deviation over the training inputs.
    """
    rng = np.random.default_rng(1002)
    x = rng.normal(size=(3000, 20))
    y = _teacher_mlp(rng, x, 50, 5)
    y = y + rng.normal(size=y.shape) * 0.1 * y[:2000].std(axis=0)
    return _split(x, y, 2000)


def _spirals() -> tuple[np.ndarray, ...]:
    """Two interleaved 2-D spirals (1.5 turns each, radius <= 1, noise std 0.04), 2 balanced classes."""
    rng = np.random.default_rng(1003)
    n = 2000
    y = rng.permutation(np.arange(n) % 2)
    angle = rng.uniform(np.pi / 2, 3 * np.pi, size=n)
    radius = angle / (3 * np.pi)
    x = radius[:, None] * np.stack([np.cos(angle + np.pi * y), np.sin(angle + np.pi * y)], axis=1)
    return _split(x + rng.normal(scale=0.04, size=x.shape), y, 1000)


def _xor() -> tuple[np.ndarray, ...]:
    """2-D XOR: equal Gaussian blobs (std 0.35) at (+-1, +-1); label 1 where sign(x1) != sign(x2)."""
    rng = np.random.default_rng(1004)
    n = 2000
    centers = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    x = centers[rng.permutation(np.arange(n) % 4)] + rng.normal(scale=0.35, size=(n, 2))
    return _split(x, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(np.int32), 1000)


DATASETS: dict[str, Callable[[], tuple[np.ndarray, ...]]] = {
    "mnist1d": _mnist1d,
    "digits": _digits,
    "teacher": _teacher,
    "teacher_regression": _teacher_regression,
    "spirals": _spirals,
    "xor": _xor,
}

# Known without loading (both tested against the loaded data): training examples, used to
# validate batch sizes, and the task type.
TRAIN_SIZES = {
    "mnist1d": 4000,
    "digits": 1437,
    "teacher": 2000,
    "teacher_regression": 2000,
    "spirals": 1000,
    "xor": 1000,
}
TASKS = {name: "classification" for name in DATASETS} | {"teacher_regression": "regression"}
_FILES: dict[
    tuple[Path, str], tuple[tuple, str, Dataset]
] = {}  # file datasets: (path, label) -> (status, sha256, data)


def train_size(name: str) -> int:
    """Training examples of a dataset (a built-in one without loading it; a file as this process loaded it
    last)."""
    return TRAIN_SIZES[name] if name in TRAIN_SIZES else len(_loaded(name).y_train)


def dataset_task(name: str) -> str:
    """``"classification"`` or ``"regression"`` (a built-in one without loading it; a file as loaded last)."""
    return TASKS[name] if name in TASKS else _loaded(name).task


def load_dataset(name: str) -> Dataset:
    """Load a dataset by name, standardized with training statistics (cached; a file while its status is
    unchanged).

    Args:
        name: a key of ``DATASETS``, or ``file:PATH.npz`` / ``file:PATH.csv#label=COLUMN``
        (``symjax.core.data_files``).

    Returns:
        A ``Dataset``: x float32 (n, n_features); y int32 (n,) for classification, or float32
        (n, n_outputs) standardized per output for regression.

    Raises:
        ValueError: one line, for an unknown name (listing the valid ones) or a file that cannot be used.
    """
    return _load_file(name)[1] if is_file_dataset(name) else _load_builtin(name)


def file_version(name: str, reload: bool = True) -> dict | None:
    """``{"path": absolute path, "sha256": hex digest of its bytes}`` of a file dataset, None for a built-in
    one:
    the file as it is now (``reload``) or as this process loaded it last (loading it if it never did)."""
    if not is_file_dataset(name):
        return None
    cached = _FILES.get(parse_name(name))
    sha = cached[1] if cached and not reload else _load_file(name)[0]
    return {"path": str(parse_name(name)[0]), "sha256": sha}


def file_versions(names, reload: bool = False) -> dict[str, dict]:
    """``{name: file_version(name, reload)}`` for the file datasets among ``names`` (for config.json, the
    manifest)."""
    return {name: file_version(name, reload) for name in dict.fromkeys(names) if is_file_dataset(name)}


def _loaded(name: str) -> Dataset:
    """A file dataset as this process loaded it last (loading it if it never did), or a built-in one."""
    cached = _FILES.get(parse_name(name)) if is_file_dataset(name) else None
    return cached[2] if cached else load_dataset(name)


def _load_file(name: str) -> tuple[str, Dataset]:
    """(sha256, dataset) of a file dataset, read again when the file's status (inode, size, times) has
    changed."""
    path, label, status = file_status(name)
    cached = _FILES.get((path, label))
    if cached is None or cached[0] != status:
        sha, arrays, task = read_file(name)
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):  # an error, not numpy's warnings
                dataset = _standardized(*arrays, task)
        except FloatingPointError:
            dataset = None
        if dataset is None or not all(np.isfinite(a).all() for a in dataset[:4]):
            raise bad(
                name,
                f"{path}: values too large to standardize (a feature's variance beyond float64's range, "
                "or standardized values beyond float32's: values near float64's limit, or a feature nearly "
                "constant in x_train?)",
            )
        cached = _FILES[(path, label)] = (status, sha, dataset)
    return cached[1], cached[2]


def _standardized(x_train, y_train, x_test, y_test, task: str) -> Dataset:
    """A Dataset: x standardized per feature with training statistics, regression targets (n, k) per
    output."""
    x_train, x_test = standardize(np.asarray(x_train, np.float64), np.asarray(x_test, np.float64))
    if task == "regression":
        y_train, y_test = standardize(np.asarray(y_train, np.float64), np.asarray(y_test, np.float64))
        return Dataset(x_train, y_train, x_test, y_test, y_train.shape[1], "regression")
    y_train, y_test = np.asarray(y_train, np.int32), np.asarray(y_test, np.int32)
    return Dataset(
        x_train, y_train, x_test, y_test, int(max(y_train.max(), y_test.max()) + 1), "classification"
    )


@functools.lru_cache(maxsize=None)
def _load_builtin(name: str) -> Dataset:
    """A registered dataset (a key of ``DATASETS``), standardized; ValueError for an unknown name."""
    if name not in DATASETS:
        raise SymjaxError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    return _standardized(*DATASETS[name](), TASKS[name])
