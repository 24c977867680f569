"""Benchmark matrices: TOML files (built-in or the user's) expanded into groups of runs.

Data-flow stage: **matrix config** -> expand into groups of runs that share one compiled
program -> init -> train. Static fields (``GroupConfig``) decide compilation; per-run
values (scheme, seed, learning rate) vary inside a group along the vmapped run axis.
``validate`` refuses, in one ``ConfigError``, unknown names, values beyond the stated bounds
(``LIMITS``, ``MAX_*``; checked before anything is expanded), rates float32 cannot hold, and
a value listed twice on any axis. Reading TOML files: ``symjax.matrix_file``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass

REFERENCE_SCHEME = "lecun_normal/zeros"
TARGET_FRACTION = 0.25  # default target: reference median train loss at this fraction of the steps
# Upper bounds (a matrix beyond them would not fit this kind of machine, or takes longer than anyone waits)
LIMITS = {"seeds": 100_000, "steps": 10_000_000, "log_every": 10_000_000, "chunk_runs": 1_000_000, "hidden": 16_384,
          "batch_size": 1_000_000}
MAX_AXIS_VALUES = 1_000  # values on one axis, schemes after expanding bracketed lists
MAX_GROUPS = 10_000  # compiled programs
MAX_RUNS = 1_000_000  # runs after the exclude rules
FLOAT32_RANGE = (1.1754944e-38, 3.4028235e38)  # smallest normal and largest finite float32
RESERVED_NAMES = ("readme", "bench")  # reports/README.md (the index) and reports/bench.md
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


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


def check_name(key: str, value, reserved: bool = True) -> str:
    """``value`` if it is a plain name that can become a file name; ConfigError otherwise."""
    if not (isinstance(value, str) and _PLAIN.fullmatch(value)) or (reserved and value.lower() in RESERVED_NAMES):
        raise ConfigError(f"{key}: {_show(value)} is not a plain name; allowed: 1 to 64 letters, digits, '.', '_' or "
                          f"'-', starting with a letter or digit{', not README or bench' if reserved else ''}")
    return value


def _show(value) -> str:
    """repr of a value, cut to 60 characters for one-line messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate(matrix: Matrix) -> Matrix:
    """Check names against the registries, sizes against each other and exclusions against the reference;
    return the matrix with scheme names in canonical form (scale lists expanded)."""
    from symjax.data import DATASETS
    from symjax.models import ACTIVATIONS, MAX_HIDDEN_LAYERS, MODELS
    from symjax.train import OPTIMIZERS

    check_name("name", matrix.name)
    for key, values, registry in (
        ("dataset", matrix.datasets, DATASETS),
        ("model", matrix.models, MODELS),
        ("activation", matrix.activations, ACTIVATIONS),
        ("optimizer", matrix.optimizers, OPTIMIZERS),
    ):
        for value in values:
            if value not in registry:
                raise ConfigError(f"{key}: unknown {key} {_show(value)}; allowed: {', '.join(registry)}")
    _check_sizes(matrix)
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
        bad = [v for v in values if not (_is_int(v) and 0 < v <= LIMITS[key])]
        if bad:
            allowed = f"a positive integer up to {LIMITS[key]:,}" + (' or "full"' if key == "batch_size" else "")
            raise ConfigError(f"{key}: must be {allowed}, got {_show(bad[0])}")
    numbers = (("lr", matrix.lrs), ("target_loss", [] if matrix.target_loss is None else [matrix.target_loss]))
    for key, values in numbers:
        bad = [v for v in values if not (_is_number(v) and FLOAT32_RANGE[0] <= v <= FLOAT32_RANGE[1])]
        if bad:
            raise ConfigError(f"{key}: must be a positive number that float32 represents ({FLOAT32_RANGE[0]:.3g} "
                              f"to {FLOAT32_RANGE[1]:.3g}), got {_show(bad[0])}")
    axes = (("dataset", matrix.datasets), ("model", matrix.models), ("hidden", [list(h) for h in matrix.hidden]),
            ("activation", matrix.activations), ("optimizer", matrix.optimizers),
            ("lr", [float(f"{lr:.8g}") for lr in matrix.lrs]),  # float32 keeps ~7 digits: 0.1 and 0.100000001 are one rate
            ("batch_size", ["full" if b is None else b for b in matrix.batch_sizes]), ("schemes", schemes))
    for key, values in axes:
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise ConfigError(f"{key}: {_show(twice[0])} is listed twice; allowed: each value once (runs would be "
                              "trained and counted twice)")
    depths = [ws for ws in matrix.hidden if not 1 <= len(ws) <= MAX_HIDDEN_LAYERS]
    if depths:
        raise ConfigError(f"hidden: every architecture needs 1 to {MAX_HIDDEN_LAYERS} hidden layer widths, got {list(depths[0])}")
    if matrix.log_every > matrix.steps:
        raise ConfigError(f"log_every: must be at most steps ({matrix.steps}), got {matrix.log_every}")
    _validate_plan(canonical)
    return canonical


def _check_sizes(matrix: Matrix) -> None:
    """ConfigError when an axis, the schemes after expansion or the groups exceed their bounds (checked before
    anything is expanded, so planning never grows with a huge matrix)."""
    from symjax.initializers import count_schemes

    axes = {"dataset": matrix.datasets, "model": matrix.models, "hidden": matrix.hidden, "activation": matrix.activations,
            "optimizer": matrix.optimizers, "lr": matrix.lrs, "batch_size": matrix.batch_sizes}
    counts = {**{key: len(values) for key, values in axes.items()},
              "schemes": sum(count_schemes(s) for s in matrix.schemes if isinstance(s, str))}
    for key, count in counts.items():
        if count > MAX_AXIS_VALUES:
            raise ConfigError(f"{key}: {count:,} values; allowed at most {MAX_AXIS_VALUES:,}"
                              + (" schemes after expanding bracketed lists" if key == "schemes" else ""))
    groups = math.prod(len(values) for key, values in axes.items() if key != "lr")
    if groups > MAX_GROUPS:
        raise ConfigError(f"the axes make {groups:,} groups (compiled programs); allowed at most {MAX_GROUPS:,}")


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
    runs = sum(len(pairs) for _, pairs in plan) * matrix.seeds
    if runs > MAX_RUNS:
        raise ConfigError(f"seeds: the matrix has {runs:,} runs; allowed at most {MAX_RUNS:,} (fewer seeds, schemes or settings)")
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


def __getattr__(name: str):
    """Matrix files (TOML keys, reading, built-in matrices) live in ``symjax.matrix_file``; imported from here too."""
    if name in ("builtin_matrices", "load_matrix", "matrix_from_dict"):
        from symjax import matrix_file

        return getattr(matrix_file, name)
    raise AttributeError(f"module 'symjax.config' has no attribute {name!r}")
