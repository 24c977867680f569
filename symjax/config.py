"""Benchmark matrices: TOML files (built-in or the user's) expanded into groups of runs.

Data-flow stage: **matrix config** -> expand into groups of runs that share one compiled
program -> init -> train. Static fields (``GroupConfig``) decide compilation; per-run
values (scheme, seed, learning rate) vary inside a group along the vmapped run axis.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import itertools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REFERENCE_SCHEME = "lecun_normal/zeros"
TARGET_FRACTION = 0.25  # default target: reference median train loss at this fraction of the steps


class ConfigError(ValueError):
    """Bad matrix or flag value; the message says what is wrong and what is allowed."""


@dataclass(frozen=True)
class GroupConfig:
    """Everything that decides one compiled program (hashable: used as a cache key)."""

    dataset: str
    hidden: tuple[int, ...]
    activation: str
    optimizer: str
    batch_size: int | None  # None: full batch
    steps: int
    log_every: int


@dataclass(frozen=True)
class Matrix:
    """A benchmark matrix: the run set is the product of its axes times ``seeds`` seeds."""

    name: str
    datasets: tuple[str, ...] = ("mnist1d",)
    hidden: tuple[tuple[int, ...], ...] = ((100,),)
    activations: tuple[str, ...] = ("tanh",)
    optimizers: tuple[str, ...] = ("adam",)
    lrs: tuple[float, ...] = (0.01,)
    batch_sizes: tuple[int | None, ...] = (128,)
    schemes: tuple[str, ...] = (REFERENCE_SCHEME,)
    seeds: int = 10
    steps: int = 1000
    log_every: int = 25
    target_loss: float | None = None
    reference: str = REFERENCE_SCHEME
    chunk_runs: int = 256  # at most this many runs in one vmapped call

    def groups(self) -> list[GroupConfig]:
        """One GroupConfig per combination of the static axes, in matrix order."""
        return [
            GroupConfig(d, h, a, o, b, self.steps, self.log_every)
            for d, h, a, o, b in itertools.product(
                self.datasets, self.hidden, self.activations, self.optimizers, self.batch_sizes
            )
        ]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# TOML key -> (Matrix field, type). _convert checks types; validate() checks ranges and names.
_KEYS = {
    "name": ("name", "str"),
    "dataset": ("datasets", "strs"),
    "hidden": ("hidden", "widths_list"),
    "activation": ("activations", "strs"),
    "optimizer": ("optimizers", "strs"),
    "lr": ("lrs", "floats"),
    "batch_size": ("batch_sizes", "batch_sizes"),
    "schemes": ("schemes", "strs"),
    "seeds": ("seeds", "int"),
    "steps": ("steps", "int"),
    "log_every": ("log_every", "int"),
    "target_loss": ("target_loss", "float"),
    "reference": ("reference", "str"),
    "chunk_runs": ("chunk_runs", "int"),
}
_TYPE_NAMES = {
    "str": "a non-empty string",
    "strs": "a string or a list of strings",
    "int": "an integer",
    "float": "a number",
    "floats": "a number or a list of numbers",
    "batch_sizes": 'an integer or "full", or a list of them',
    "widths_list": "a list of layer widths or a list of such lists, e.g. [[100], [100, 100]]",
}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _convert(key: str, kind: str, value):
    """Check one TOML value's type; return it as the Matrix field wants it (lists as tuples)."""
    items = value if isinstance(value, list) else [value]
    converted = None
    if kind == "str" and isinstance(value, str) and value:
        converted = value
    elif kind == "int" and _is_int(value):
        converted = value
    elif kind == "float" and _is_number(value):
        converted = float(value)
    elif kind == "strs" and items and all(isinstance(v, str) and v for v in items):
        converted = tuple(items)
    elif kind == "floats" and items and all(_is_number(v) for v in items):
        converted = tuple(float(v) for v in items)
    elif kind == "batch_sizes" and items and all(v == "full" or _is_int(v) for v in items):
        converted = tuple(None if v == "full" else v for v in items)
    elif kind == "widths_list" and items:
        lists = items if all(isinstance(v, list) for v in items) else [items]
        if all(_is_int(w) for widths in lists for w in widths):
            converted = tuple(tuple(widths) for widths in lists)
    if converted is None:
        raise ConfigError(f"{key}: must be {_TYPE_NAMES[kind]}, got {value!r}")
    return converted


def matrix_from_dict(values: dict, default_name: str) -> Matrix:
    """Build a validated Matrix (canonical scheme names) from TOML-like values; ConfigError on any bad key or value."""
    unknown = sorted(set(values) - set(_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; allowed keys: {', '.join(_KEYS)}")
    fields = {"name": default_name}
    for key, value in values.items():
        name, kind = _KEYS[key]
        fields[name] = _convert(key, kind, value)
    return checked(Matrix(**fields))


def validate(matrix: Matrix) -> None:
    """Check names against the registries and the sizes against each other."""
    from symjax.data import DATASETS, TRAIN_SIZES
    from symjax.initializers import canonical_scheme
    from symjax.models import ACTIVATIONS
    from symjax.train import OPTIMIZERS

    for key, values, registry in (
        ("dataset", matrix.datasets, DATASETS),
        ("activation", matrix.activations, ACTIVATIONS),
        ("optimizer", matrix.optimizers, OPTIMIZERS),
    ):
        for value in values:
            if value not in registry:
                raise ConfigError(f"{key}: unknown {key} {value!r}; allowed: {', '.join(registry)}")
    try:
        schemes = [canonical_scheme(s) for s in matrix.schemes]
        reference = canonical_scheme(matrix.reference)
    except ValueError as error:
        raise ConfigError(f"schemes: {error}") from None
    if len(set(schemes)) != len(schemes):
        raise ConfigError(f"schemes: listed twice: {sorted(s for s in set(schemes) if schemes.count(s) > 1)}")
    if reference not in schemes and matrix.target_loss is None:
        raise ConfigError(
            f"schemes: the reference scheme {reference} must be among the schemes (it sets the target loss), "
            "or give target_loss / --target-loss"
        )
    integers = (("seeds", [matrix.seeds]), ("steps", [matrix.steps]), ("log_every", [matrix.log_every]),
                ("chunk_runs", [matrix.chunk_runs]), ("hidden", [w for ws in matrix.hidden for w in ws]),
                ("batch_size", [b for b in matrix.batch_sizes if b is not None]))
    for key, values in integers:
        bad = [v for v in values if not (_is_int(v) and v > 0)]
        if bad:
            allowed = 'a positive integer or "full"' if key == "batch_size" else "a positive integer"
            raise ConfigError(f"{key}: must be {allowed}, got {bad[0]!r}")
    numbers = (("lr", matrix.lrs), ("target_loss", [] if matrix.target_loss is None else [matrix.target_loss]))
    for key, values in numbers:
        bad = [v for v in values if not (_is_number(v) and math.isfinite(v) and v > 0)]
        if bad:
            raise ConfigError(f"{key}: must be a positive finite number, got {bad[0]!r}")
    for dataset in matrix.datasets:
        too_big = [b for b in matrix.batch_sizes if b is not None and b > TRAIN_SIZES[dataset]]
        if too_big:
            raise ConfigError(f"batch_size: {too_big[0]} is larger than the {TRAIN_SIZES[dataset]} training examples "
                              f"of {dataset}; allowed 1..{TRAIN_SIZES[dataset]} or \"full\"")
    if not all(matrix.hidden):
        raise ConfigError("hidden: every architecture needs at least one hidden layer width")
    if matrix.log_every > matrix.steps:
        raise ConfigError(f"log_every: must be at most steps ({matrix.steps}), got {matrix.log_every}")


def checked(matrix: Matrix) -> Matrix:
    """``validate`` the matrix, then return it with scheme names in canonical form."""
    from symjax.initializers import canonical_scheme

    validate(matrix)
    return dataclasses.replace(
        matrix,
        schemes=tuple(canonical_scheme(s) for s in matrix.schemes),
        reference=canonical_scheme(matrix.reference),
    )


def builtin_matrices() -> list[str]:
    """Names of the matrices shipped in ``symjax/matrices``."""
    files = importlib.resources.files("symjax") / "matrices"
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def load_matrix(name_or_path: str) -> Matrix:
    """Load a built-in matrix by name or a user's TOML file by path."""
    path = Path(name_or_path)
    if name_or_path in builtin_matrices():
        text = (importlib.resources.files("symjax") / "matrices" / f"{name_or_path}.toml").read_text()
        where, default_name = f"matrix {name_or_path}", name_or_path
    elif path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text()
        except OSError as error:
            raise ConfigError(f"cannot read matrix file {path}: {error.strerror}") from None
        where, default_name = str(path), path.stem
    else:
        raise ConfigError(f"unknown matrix {name_or_path!r}; built-in: {', '.join(builtin_matrices())}, or a path to a .toml file")
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML: {error}") from None
    try:
        return matrix_from_dict(values, default_name)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
