"""Matrix files: TOML keys and their types, reading a file (built-in or the user's) into a validated Matrix.

Data-flow stage: **matrix** (a file -> ``symjax.matrix.spec.Matrix``, checked by ``symjax.matrix.validate``)
-> plan. A file is read only if it is a regular file of at most ``MAX_MATRIX_BYTES``, UTF-8 (a byte-order mark
is dropped), not empty, and nests arrays and tables at most ``MAX_NESTING`` deep; anything else is
one ``ConfigError`` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from pathlib import Path

import numpy as np

from symjax.core.axes import AXES, RULE_AXES
from symjax.core.files import read_bytes
from symjax.matrix.spec import MAX_AXIS_VALUES, ConfigError, Matrix, is_int, is_number, shown
from symjax.matrix.validate import checked

MAX_MATRIX_BYTES = 2**20  # a matrix file
MAX_NESTING = 4  # arrays and tables inside each other in a matrix file ([[exclude]] hidden = [[8]] is 4)

# TOML key -> (Matrix field, type), from the table of axes, and the keys that expand into an axis: lr_grid
# into
# lrs, weights x biases into schemes. _convert checks types; validate() checks ranges and names.
_KEYS = {
    **{axis.key: (axis.field, axis.kind) for axis in AXES},
    "lr_grid": ("lrs", "lr_grid"),  # log-spaced: {from = 0.001, to = 0.1, count = 5}
    "weights": (None, "strs"),
    "biases": (None, "strs"),
}  # weights x biases: every pair is added to schemes
_TYPE_NAMES = {
    "str": "a non-empty string",
    "strs": "a string or a list of strings",
    "int": "an integer",
    "float": "a number",
    "floats": "a number or a list of numbers",
    "lr_grid": "a table {from = 0.001, to = 0.1, count = 5}: count >= 2 log-spaced rates from 'from' to 'to'",
    "batch_sizes": 'an integer or "full", or a list of them',
    "widths_list": "a list of layer widths or a list of such lists, e.g. [[100], [100, 100]] ([] : no hidden "
    "layer)",
    "rules": 'a list of tables, e.g. [[exclude]] optimizer = "adam", lr = [0.1, 0.5]',
}
# exclude-rule axis -> type of its values
_RULE_KEYS = {axis.single: axis.kind for axis in RULE_AXES}


def _depth(value) -> int:
    """How deeply lists and tables nest in a parsed TOML value (iterative: any depth)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, (list, dict)):
            stack += [(v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def _convert(key: str, kind: str, value):
    """Check one TOML value's type; return it as the Matrix field wants it (lists as tuples)."""
    items = value if isinstance(value, list) else [value]
    converted = None
    if kind == "str" and isinstance(value, str) and value:
        converted = value
    elif kind == "int" and is_int(value):
        converted = value
    elif kind == "float" and is_number(value):
        converted = float(value)
    elif kind == "strs" and items and all(isinstance(v, str) and v for v in items):
        converted = tuple(items)
    elif kind == "floats" and items and all(is_number(v) for v in items):
        converted = tuple(float(v) for v in items)
    elif (
        kind == "lr_grid"
        and isinstance(value, dict)
        and set(value) == {"from", "to", "count"}
        and is_number(value["from"])
        and is_number(value["to"])
        and is_int(value["count"])
        and 0 < value["from"] < value["to"]
        and 2 <= value["count"] <= MAX_AXIS_VALUES
    ):
        converted = log_grid(value["from"], value["to"], value["count"])
    elif kind == "batch_sizes" and items and all(v == "full" or is_int(v) for v in items):
        converted = tuple(None if v == "full" else v for v in items)
    elif kind == "widths_list" and isinstance(value, list):  # [] alone: no hidden layer (logistic regression)
        lists = items if items and all(isinstance(v, list) for v in items) else [items]
        if all(is_int(w) for widths in lists for w in widths):
            converted = tuple(tuple(widths) for widths in lists)
    elif (
        kind == "rules"
        and isinstance(value, list)
        and value
        and all(isinstance(v, dict) and v for v in value)
    ):
        converted = tuple(_rule(f"{key}[{i}]", rule) for i, rule in enumerate(value))
    if converted is None:
        raise ConfigError(f"{key}: must be {_TYPE_NAMES[kind]}, got {shown(value)}")
    return converted


def log_grid(low: float, high: float, count: int) -> tuple[float, ...]:
    """``count`` log-spaced learning rates from ``low`` to ``high``, each rounded to 3 significant digits.

    >>> log_grid(0.001, 0.1, 5)
    (0.001, 0.00316, 0.01, 0.0316, 0.1)
    """
    return tuple(float(f"{lr:.3g}") for lr in np.geomspace(low, high, count))


def _rule(where: str, rule: dict) -> tuple[tuple[str, tuple], ...]:
    """One exclude rule as ((axis, values), ...), in _RULE_KEYS order."""
    unknown = sorted(set(rule) - set(_RULE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown axis {unknown[0]!r}; allowed: {', '.join(_RULE_KEYS)}")
    return tuple(
        (axis, _convert(f"{where}.{axis}", kind, rule[axis]))
        for axis, kind in _RULE_KEYS.items()
        if axis in rule
    )


def matrix_from_dict(values: dict, default_name: str) -> Matrix:
    """Build a validated Matrix (canonical scheme names) from TOML-like values; ConfigError on any bad key or
    value."""
    unknown = sorted(set(values) - set(_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; allowed keys: {', '.join(_KEYS)}")
    if "lr" in values and "lr_grid" in values:
        raise ConfigError("lr and lr_grid: give one of them (lr_grid makes the list of rates)")
    fields, grid = {"name": default_name}, {}
    for key, value in values.items():
        name, kind = _KEYS[key]
        if name is None:
            grid[key] = _convert(key, kind, value)
        else:
            fields[name] = _convert(key, kind, value)
    if len(grid) == 1:
        raise ConfigError(
            f"{next(iter(grid))}: weights and biases go together (every weight init x every bias init)"
        )
    if grid:
        fields["schemes"] = tuple(f"{w}/{b}" for w in grid["weights"] for b in grid["biases"]) + fields.get(
            "schemes", ()
        )
    return checked(Matrix(**fields))


def builtin_matrices() -> list[str]:
    """Names of the matrices shipped in ``symjax/matrix/builtin``."""
    files = importlib.resources.files("symjax.matrix") / "builtin"
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def _read_text(path: Path) -> str:
    """A matrix file's text: a regular file of at most MAX_MATRIX_BYTES, UTF-8 (a byte-order mark is
    dropped)."""
    try:
        data = read_bytes(path, MAX_MATRIX_BYTES, follow=True)
    except OSError as error:
        raise ConfigError(f"cannot read matrix file {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise ConfigError(
            f"{error}; allowed: a TOML file of at most {MAX_MATRIX_BYTES // 1024} KiB"
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {error.start}); allowed: a UTF-8 TOML file"
        ) from None


def load_matrix(name_or_path: str) -> Matrix:
    """Load a built-in matrix by name or a user's TOML file by path, validated (canonical scheme names);
    ConfigError naming the file, the key and what is allowed."""
    path = Path(name_or_path)
    if name_or_path in builtin_matrices():
        text = (importlib.resources.files("symjax.matrix") / "builtin" / f"{name_or_path}.toml").read_text()
        where, default_name = f"matrix {name_or_path}", name_or_path
    elif path.suffix == ".toml" or path.exists():
        text = _read_text(path)
        where, default_name = str(path), path.stem
    else:
        raise ConfigError(
            f"unknown matrix {shown(name_or_path)}; built-in: {', '.join(builtin_matrices())}, or a path to "
            "a .toml file"
        )
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML: {error}") from None
    except RecursionError:  # deeper than the parser goes
        values = None
    if values is None or _depth(values) > MAX_NESTING + 1:  # the top-level table counts one
        raise ConfigError(f"{where}: arrays and tables nest too deeply; allowed at most {MAX_NESTING} levels")
    if not values:
        raise ConfigError(f"{where}: the matrix file is empty; allowed keys: {', '.join(_KEYS)}")
    try:
        return matrix_from_dict(values, default_name)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
