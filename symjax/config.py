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
from dataclasses import dataclass
from pathlib import Path

REFERENCE_SCHEME = "lecun_normal/zeros"
TARGET_FRACTION = 0.25  # default target: reference median train loss at this fraction of the steps


class ConfigError(ValueError):
    """Bad matrix or flag value; the message says what is wrong and what is allowed."""


class Interrupted(Exception):
    """A run stopped by Ctrl-C or SIGTERM; the message says how much is saved for resuming."""


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
    model: str = "mlp"


@dataclass(frozen=True)
class Matrix:
    """A benchmark matrix: the run set is the product of its axes times ``seeds`` seeds."""

    name: str
    datasets: tuple[str, ...] = ("mnist1d",)
    models: tuple[str, ...] = ("mlp",)
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
    excludes: tuple[tuple[tuple[str, tuple], ...], ...] = ()  # rules: ((axis, allowed values), ...)

    def groups(self) -> list[GroupConfig]:
        """One GroupConfig per combination of the static axes, in matrix order (exclusions not applied)."""
        return [
            GroupConfig(d, h, a, o, b, self.steps, self.log_every, m)
            for d, m, h, a, o, b in itertools.product(
                self.datasets, self.models, self.hidden, self.activations, self.optimizers, self.batch_sizes
            )
        ]

    def excluded(self, cfg: GroupConfig, lr: float, scheme: str) -> bool:
        """Whether an ``exclude`` rule removes the run (cfg, lr, scheme): every axis of some rule matches."""
        axes = {"dataset": cfg.dataset, "model": cfg.model, "hidden": cfg.hidden, "activation": cfg.activation,
                "optimizer": cfg.optimizer, "batch_size": cfg.batch_size, "lr": lr, "scheme": scheme}
        return any(all(axes[axis] in values for axis, values in rule) for rule in self.excludes)

    def plan(self) -> list[tuple[GroupConfig, list[tuple[float, str]]]]:
        """Every group that keeps at least one run, with its (lr, scheme) pairs in (lr, scheme) order."""
        plan = []
        for cfg in self.groups():
            pairs = [(lr, s) for lr in self.lrs for s in self.schemes if not self.excluded(cfg, lr, s)]
            if pairs:
                plan.append((cfg, pairs))
        return plan

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# TOML key -> (Matrix field, type). _convert checks types; validate() checks ranges and names.
_KEYS = {
    "name": ("name", "str"),
    "dataset": ("datasets", "strs"),
    "model": ("models", "strs"),
    "hidden": ("hidden", "widths_list"),
    "activation": ("activations", "strs"),
    "optimizer": ("optimizers", "strs"),
    "lr": ("lrs", "floats"),
    "batch_size": ("batch_sizes", "batch_sizes"),
    "schemes": ("schemes", "strs"),
    "weights": (None, "strs"),  # weights x biases: every pair is added to schemes
    "biases": (None, "strs"),
    "exclude": ("excludes", "rules"),
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
    "rules": "a list of tables, e.g. [[exclude]] optimizer = \"adam\", lr = [0.1, 0.5]",
}
# exclude-rule axis -> type of its values
_RULE_KEYS = {"dataset": "strs", "model": "strs", "hidden": "widths_list", "activation": "strs", "optimizer": "strs",
              "lr": "floats", "batch_size": "batch_sizes", "scheme": "strs"}


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
    elif kind == "rules" and isinstance(value, list) and value and all(isinstance(v, dict) and v for v in value):
        converted = tuple(_rule(f"{key}[{i}]", rule) for i, rule in enumerate(value))
    if converted is None:
        raise ConfigError(f"{key}: must be {_TYPE_NAMES[kind]}, got {value!r}")
    return converted


def _rule(where: str, rule: dict) -> tuple[tuple[str, tuple], ...]:
    """One exclude rule as ((axis, values), ...), in _RULE_KEYS order."""
    unknown = sorted(set(rule) - set(_RULE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown axis {unknown[0]!r}; allowed: {', '.join(_RULE_KEYS)}")
    return tuple((axis, _convert(f"{where}.{axis}", kind, rule[axis])) for axis, kind in _RULE_KEYS.items() if axis in rule)


def matrix_from_dict(values: dict, default_name: str) -> Matrix:
    """Build a validated Matrix (canonical scheme names) from TOML-like values; ConfigError on any bad key or value."""
    unknown = sorted(set(values) - set(_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; allowed keys: {', '.join(_KEYS)}")
    fields, grid = {"name": default_name}, {}
    for key, value in values.items():
        name, kind = _KEYS[key]
        if name is None:
            grid[key] = _convert(key, kind, value)
        else:
            fields[name] = _convert(key, kind, value)
    if len(grid) == 1:
        raise ConfigError(f"{next(iter(grid))}: weights and biases go together (every weight init x every bias init)")
    if grid:
        fields["schemes"] = tuple(f"{w}/{b}" for w in grid["weights"] for b in grid["biases"]) + fields.get("schemes", ())
    return checked(Matrix(**fields))


def validate(matrix: Matrix) -> Matrix:
    """Check names against the registries, sizes against each other and exclusions against the reference;
    return the matrix with scheme names in canonical form (scale lists expanded)."""
    from symjax.data import DATASETS
    from symjax.models import ACTIVATIONS, MAX_HIDDEN_LAYERS, MODELS
    from symjax.train import OPTIMIZERS

    for key, values, registry in (
        ("dataset", matrix.datasets, DATASETS),
        ("model", matrix.models, MODELS),
        ("activation", matrix.activations, ACTIVATIONS),
        ("optimizer", matrix.optimizers, OPTIMIZERS),
    ):
        for value in values:
            if value not in registry:
                raise ConfigError(f"{key}: unknown {key} {value!r}; allowed: {', '.join(registry)}")
    canonical = dataclasses.replace(matrix, schemes=tuple(_canonical_schemes(matrix.schemes)),
                                    reference=_canonical_schemes([matrix.reference], "reference")[0],
                                    excludes=_canonical_rules(matrix.excludes))
    schemes, reference = list(canonical.schemes), canonical.reference
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
    for key, values in (("dataset", matrix.datasets), ("lr", matrix.lrs), ("schemes", schemes)):
        if len(set(values)) != len(values):
            raise ConfigError(f"{key}: listed twice: {sorted({v for v in values if values.count(v) > 1})}")
    depths = [ws for ws in matrix.hidden if not 1 <= len(ws) <= MAX_HIDDEN_LAYERS]
    if depths:
        raise ConfigError(f"hidden: every architecture needs 1 to {MAX_HIDDEN_LAYERS} hidden layer widths, got {list(depths[0])}")
    if matrix.log_every > matrix.steps:
        raise ConfigError(f"log_every: must be at most steps ({matrix.steps}), got {matrix.log_every}")
    _validate_plan(canonical)
    return canonical


def _canonical_schemes(texts, key: str = "schemes") -> list[str]:
    """Canonical scheme names, bracketed scale lists expanded, e.g. ``normal([0.5, 1])`` -> two schemes."""
    from symjax.initializers import expand_scheme

    try:
        return [name for text in texts for name in expand_scheme(text)]
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None


def _validate_plan(matrix: Matrix) -> None:
    """Checks on the runs of a canonical matrix that remain after the exclude rules."""
    from symjax.data import TRAIN_SIZES
    from symjax.initializers import check_depth, parse_scheme
    from symjax.models import CNN_DATASETS

    reference, plan = matrix.reference, matrix.plan()
    if not plan:
        raise ConfigError("exclude: the rules remove every run of the matrix")
    for cfg, pairs in plan:
        where = f"{cfg.dataset}, {cfg.model} {list(cfg.hidden)}, {cfg.activation}, {cfg.optimizer}"
        if cfg.model == "cnn" and cfg.dataset not in CNN_DATASETS:
            raise ConfigError(f"model: cnn reads a 1-D signal; allowed datasets: {', '.join(CNN_DATASETS)} "
                              f"(exclude the others with [[exclude]] model = \"cnn\", dataset = [...]), got {cfg.dataset}")
        if cfg.batch_size is not None and cfg.batch_size > TRAIN_SIZES[cfg.dataset]:
            raise ConfigError(f"batch_size: {cfg.batch_size} is larger than the {TRAIN_SIZES[cfg.dataset]} training examples "
                              f"of {cfg.dataset}; allowed 1..{TRAIN_SIZES[cfg.dataset]} or \"full\"")
        for scheme in dict.fromkeys(s for _, s in pairs):
            try:
                check_depth(parse_scheme(scheme), len(cfg.hidden) + 1)
            except ValueError as error:
                raise ConfigError(f"schemes: {error}") from None
        lrs = {lr for lr, _ in pairs}
        missing = sorted(lr for lr in lrs if (lr, reference) not in pairs)
        if missing and matrix.target_loss is None:
            raise ConfigError(f"exclude: removes the reference scheme {reference} from ({where}, lr {missing[0]:g}), "
                              "which then has no target loss; exclude the whole setting or give target_loss")


def checked(matrix: Matrix) -> Matrix:
    """The validated matrix with scheme names in canonical form (see ``validate``)."""
    return validate(matrix)


def _canonical_rules(rules: tuple) -> tuple:
    """Exclude rules with their scheme names in canonical form."""
    return tuple(tuple((axis, tuple(_canonical_schemes(values, "exclude")) if axis == "scheme" else values)
                       for axis, values in rule) for rule in rules)


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
