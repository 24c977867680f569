"""The user's own data from a file: ``file:PATH.npz`` or ``file:PATH.csv#label=COLUMN`` (``.parquet`` too).

Data-flow stage: input of **train**, through ``symjax.core.data.load_dataset`` (which standardizes the
arrays and caches them by the file's status and content hash). Here: parse a name, check the file
(a regular file of at most ``MAX_DATA_BYTES``), read it once (never unpickling), and check its arrays.
PATH is relative to the current directory. An .npz holds ``x_train`` (n, d), ``y_train``, ``x_test``
(m, d), ``y_test``: integer labels 0..C-1 (n,) mean classification, float targets (n,) or (n, k)
regression, their size once decompressed bounded by their headers before any is read. A table's ``label``
column is y, every other column a feature (a parquet file's stored index too) except ``split`` (``train`` or
``test`` per row); without a split column the last 20% of its rows are the test set.
Every problem is one ValueError line naming the file and what is allowed.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import stat
from pathlib import Path

import numpy as np

from symjax.core.errors import SymjaxError, one_line
from symjax.core.files import read_bytes

FILE_PREFIX = "file:"
MAX_DATA_BYTES = 2 * 2**30  # largest data file read
MAX_ARRAY_BYTES = 2 * 2**30  # an .npz's arrays once decompressed, counted as float64 (what they become)
MAX_OUTPUTS = 100_000  # classes or regression outputs
MAX_NAME_CHARS = 300  # a dataset label is stored in the results and checked on reading them
TEST_FRACTION = 0.2  # a table without a split column: its last 20% of rows are the test set
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


class _Problem(Exception):
    """What is wrong with a data file's content (one line)."""


def is_file_dataset(name) -> bool:
    """Whether ``name`` names a file (``file:...``) rather than a built-in dataset."""
    return isinstance(name, str) and name.startswith(FILE_PREFIX)


def bad(name: str, problem: str) -> SymjaxError:
    """The one-line error for a file dataset: the name, what is wrong and what is allowed."""
    shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
    return SymjaxError(
        f"dataset {shown}: {problem}; allowed: {FILE_PREFIX}PATH.npz with arrays x_train, y_train, x_test, "
        "y_test (x 2-D numbers, y 1-D integer labels 0..C-1 or float targets), or "
        f"{FILE_PREFIX}PATH.csv#label=COLUMN (.parquet too)"
    )


def parse_name(name: str) -> tuple[Path, str]:
    """(absolute path, label column or "") of a file dataset name; ValueError for a malformed one."""
    text, label = name[len(FILE_PREFIX) :], ""
    if "#label=" in text:
        text, label = text.rsplit("#label=", 1)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise bad(name, "the name is not valid UTF-8") from None
    if not (name.isprintable() and len(name) <= MAX_NAME_CHARS):
        raise bad(name, f"the name must be printable text of at most {MAX_NAME_CHARS} characters")
    suffix = Path(text).suffix.lower()
    if not text or suffix not in (".npz", ".csv", ".parquet") or bool(label) != (suffix != ".npz"):
        raise bad(name, "not a file name ending in .npz, or in .csv or .parquet followed by #label=COLUMN")
    return Path(os.path.abspath(text)), label


def file_status(name: str) -> tuple[Path, str, tuple]:
    """(path, label, status signature: device, inode, size, times) of a usable file; ValueError if it is
    missing, no regular file or larger than ``MAX_DATA_BYTES``."""
    path, label = parse_name(name)
    try:
        info = os.stat(path)
    except OSError as error:
        raise bad(name, f"cannot read {path}: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise bad(name, f"{path} is not a regular file")
    if info.st_size > MAX_DATA_BYTES:
        raise bad(name, f"{path} has {info.st_size:,} bytes, more than the {MAX_DATA_BYTES:,} allowed")
    return path, label, (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def read_file(name: str) -> tuple[str, tuple[np.ndarray, ...], str]:
    """(sha256 of the bytes read, checked (x_train, y_train, x_test, y_test), task) of a file dataset: x
    float64 (n, d); y int64 (n,) labels 0..C-1 (classification) or float64 (n, k) targets (regression);
    ValueError (one line)."""
    path, label, _ = file_status(name)
    try:
        data = read_bytes(path, MAX_DATA_BYTES, follow=True)
    except (OSError, ValueError) as error:
        raise bad(name, f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        arrays = _npz_arrays(data) if not label else _table_arrays(data, path.suffix.lower(), label)
        checked, task = check_arrays(*arrays)
    except _Problem as problem:
        raise bad(name, f"{path}: {problem}") from None
    return hashlib.sha256(data).hexdigest(), checked, task


def _first_line(error: BaseException) -> str:
    return one_line(error)[:80]


def _npz_arrays(data: bytes) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test) of an .npz archive, never unpickling, its arrays' size bounded
    (``_check_sizes``) before any is decompressed."""
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise _Problem("it is not an .npz archive (np.savez writes one)")
        missing = [key for key in ARRAYS if key not in archive.files]
        if missing:
            raise _Problem(f"no array {missing[0]!r} (it holds {', '.join(archive.files)[:80] or 'none'})")
        _check_sizes(archive)
        return tuple(archive[key] for key in ARRAYS)
    except _Problem:
        raise
    except Exception as error:  # zipfile and numpy raise many kinds for a damaged or pickled file
        raise _Problem(f"cannot be read as .npz ({_first_line(error)})") from None


def _check_sizes(archive) -> None:
    """_Problem unless the arrays ``ARRAYS`` of an ``NpzFile`` are .npy members whose headers' shape x
    itemsize (at least float64's 8 bytes: they are converted to it) sum to at most ``MAX_ARRAY_BYTES``; reads
    only the headers."""
    total = 0
    for key in ARRAYS:
        member = key if key in archive.zip.namelist() else f"{key}.npy"  # the member NpzFile[key] reads
        with archive.zip.open(member) as stream:
            shape, dtype = _npy_header(stream, key)
        total += math.prod(shape) * max(dtype.itemsize, 8)
    if total > MAX_ARRAY_BYTES:
        raise _Problem(
            f"its arrays hold {total:,} bytes once decompressed (as float64), more than the "
            f"{MAX_ARRAY_BYTES:,} allowed"
        )


def _npy_header(stream, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the header of the .npy array ``key`` that ``stream`` starts with; _Problem if it
    is none."""
    try:
        version = np.lib.format.read_magic(stream)
    except ValueError:
        raise _Problem(f"{key} is not an .npy array (np.savez writes them)") from None
    if version not in ((1, 0), (2, 0)):
        raise _Problem(f"{key} has .npy format version {version}; allowed: 1.0 or 2.0 (np.savez writes them)")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(stream)
    return shape, dtype


def _table_arrays(data: bytes, suffix: str, label: str) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test) of a .csv or .parquet table (see the module docstring)."""
    import pandas as pd
    from pandas.api import types

    try:
        frame = pd.read_csv(io.BytesIO(data)) if suffix == ".csv" else pd.read_parquet(io.BytesIO(data))
        if frame.index.name is not None or not isinstance(frame.index, pd.RangeIndex):
            frame = frame.reset_index()  # a parquet file's stored index (set_index): its columns are features
    except Exception as error:  # pandas and pyarrow raise many kinds
        raise _Problem(f"cannot be read as {suffix} ({_first_line(error)})") from None
    if label not in frame.columns:
        raise _Problem(f"no column {label!r} (it holds {', '.join(map(str, frame.columns))[:80] or 'none'})")
    test = np.arange(len(frame)) >= int(len(frame) * (1 - TEST_FRACTION))
    if "split" in frame.columns and label != "split":
        split = frame.pop("split")
        if not split.isin(["train", "test"]).all():
            raise _Problem("column 'split' must hold only train or test")
        test = (split == "test").to_numpy()
    y = frame.pop(label)
    for column, values in [(label, y), *frame.items()]:
        if types.is_bool_dtype(values) or not types.is_numeric_dtype(values):
            raise _Problem(f"column {str(column)[:40]!r} must hold numbers, got {values.dtype}")
    y = (
        y.to_numpy(np.float64, na_value=np.nan)
        if types.is_float_dtype(y) or y.isna().any()
        else y.to_numpy(np.int64)
    )
    x = frame.to_numpy(np.float64, na_value=np.nan)
    return x[~test], y[~test], x[test], y[test]


def check_arrays(x_train, y_train, x_test, y_test) -> tuple[tuple[np.ndarray, ...], str]:
    """((x_train, y_train, x_test, y_test), task) as ``read_file`` returns them; _Problem if they cannot be a
    dataset."""
    arrays = dict(zip(ARRAYS, (x_train, y_train, x_test, y_test)))
    for key, a in arrays.items():
        if a.dtype.kind not in "iuf" or a.ndim != (2 if key[0] == "x" or a.ndim == 2 else 1):
            what = (
                "a 2-D array of numbers (examples, features)"
                if key[0] == "x"
                else "a 1-D or 2-D array of numbers"
            )
            raise _Problem(f"{key} must be {what}, got shape {a.shape} dtype {a.dtype}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise _Problem(f"{key} holds NaN or infinite values")
    for x, y in (("x_train", "y_train"), ("x_test", "y_test")):
        if len(arrays[x]) != len(arrays[y]):
            raise _Problem(f"{x} has {len(arrays[x])} rows but {y} has {len(arrays[y])}")
    if x_train.shape[1] != x_test.shape[1] or x_train.shape[1] == 0:
        raise _Problem(
            f"x_train has {x_train.shape[1]} features and x_test {x_test.shape[1]}: they must agree (>= 1)"
        )
    if len(x_train) < 2 or len(x_test) < 1:
        raise _Problem(
            f"{len(x_train)} training and {len(x_test)} test examples: at least 2 and 1 are needed"
        )
    kinds = {"i": "classification", "u": "classification", "f": "regression"}
    task = kinds[y_train.dtype.kind]
    if kinds[y_test.dtype.kind] != task or y_train.shape[1:] != y_test.shape[1:]:
        raise _Problem(
            f"y_train ({y_train.dtype}, shape {y_train.shape}) and y_test ({y_test.dtype}, shape "
            f"{y_test.shape}) must both be integer labels (n,) or float targets of one width"
        )
    x_train, x_test = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
    if task == "regression":
        y_train, y_test = (np.asarray(y, np.float64).reshape(len(y), -1) for y in (y_train, y_test))
        if y_train.shape[1] > MAX_OUTPUTS:
            raise _Problem(f"{y_train.shape[1]:,} regression outputs; at most {MAX_OUTPUTS:,} allowed")
        return (x_train, y_train, x_test, y_test), task
    if y_train.ndim != 1:
        raise _Problem(f"integer labels must be 1-D, got y_train of shape {y_train.shape}")
    low, n_classes = min(y_train.min(), y_test.min()), int(max(y_train.max(), y_test.max())) + 1
    distinct = len(np.unique(y_train))
    if low < 0 or not 2 <= n_classes <= MAX_OUTPUTS or distinct != n_classes:
        raise _Problem(
            f"labels must be 0..C-1 (2 <= C <= {MAX_OUTPUTS:,}) with every class in y_train; got "
            f"{low}..{n_classes - 1} with {distinct} distinct in y_train"
        )
    return (x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)), task
