"""Check a matrix against the registries of the core (datasets, models, activations, optimizers, schemes).

Data-flow stage: **matrix** -> plan. ``validate`` refuses, in one ``ConfigError``, unknown
names, values beyond the stated bounds (``symjax.matrix.spec.LIMITS``, ``MAX_*``; checked
before anything is expanded), rates float32 cannot hold, a value listed twice on any axis and two
schemes that give every layer of a group the same init; plug-ins are tried on the matrix's real shapes
(``symjax.matrix.plugin_checks``).
"""

from __future__ import annotations

import dataclasses
import math

from symjax.core.axes import AXES, GROUPED, registry
from symjax.core.data import is_file_dataset, load_dataset, train_size
from symjax.core.models import CNN_DATASETS, MAX_HIDDEN_LAYERS, NORMED_MODELS, SIGNAL_MODELS
from symjax.core.plugins import is_plugin_model
from symjax.core.schemes import check_depth, count_schemes, expand_scheme, parse_scheme
from symjax.matrix.plugin_checks import check_inits, plugin_model_layers
from symjax.matrix.spec import (
    FLOAT32_RANGE,
    MAX_AXIS_VALUES,
    MAX_GROUPS,
    MAX_RUNS,
    ConfigError,
    Matrix,
    check_name,
    is_int,
    is_number,
    shown,
)


def validate(matrix: Matrix) -> Matrix:
    """Check names against the registries, sizes against each other and exclusions against the reference;
    return the matrix with scheme names in canonical form (scale lists expanded)."""
    check_name("name", matrix.name)
    for companion in matrix.companions:
        check_name("companions", companion)
    for axis in (a for a in AXES if a.allowed):
        allowed = registry(axis)
        for value in getattr(matrix, axis.field):
            if (
                value not in allowed
                and not (axis.key == "dataset" and is_file_dataset(value))
                and not (axis.key == "model" and is_plugin_model(value))
            ):
                more = {
                    "dataset": ", or file:PATH.npz (your own data)",
                    "model": ", or a plug-in module.path:name (a symjax.Model)",
                }.get(axis.key, "")
                raise ConfigError(
                    f"{axis.key}: unknown {axis.key} {shown(value)}; allowed: {', '.join(allowed)}{more}"
                )
    _check_sizes(matrix)
    canonical = dataclasses.replace(
        matrix,
        schemes=tuple(_canonical_schemes(matrix.schemes)),
        reference=_canonical_schemes([matrix.reference], "reference")[0],
        excludes=_canonical_rules(matrix.excludes),
    )
    schemes, reference = list(canonical.schemes), canonical.reference
    if reference not in schemes and matrix.target_loss is None:
        raise ConfigError(
            f"schemes: the reference scheme {reference} must be among the schemes (it sets the target loss), "
            "or give target_loss / --target-loss"
        )
    for axis in (a for a in AXES if a.limit is not None):
        bad = [v for v in _bounded(matrix, axis) if not (is_int(v) and 0 < v <= axis.limit)]
        if bad:
            full = ' or "full"' if axis.key == "batch_size" else ""
            raise ConfigError(
                f"{axis.key}: must be a positive integer up to {axis.limit:,}{full}, got {shown(bad[0])}"
            )
    numbers = (
        ("lr", matrix.lrs),
        ("target_loss", [] if matrix.target_loss is None else [matrix.target_loss]),
    )
    for key, values in numbers:
        bad = [v for v in values if not (is_number(v) and FLOAT32_RANGE[0] <= v <= FLOAT32_RANGE[1])]
        if bad:
            raise ConfigError(
                f"{key}: must be a positive number that float32 represents ({FLOAT32_RANGE[0]:.3g} to "
                f"{FLOAT32_RANGE[1]:.3g}), got {shown(bad[0])}"
            )
    axes = [
        (a.key, _listed(matrix, a)) for a in AXES if a.role in ("grouped", "run") and a.field != "schemes"
    ]
    axes.append(("schemes", schemes))
    for key, values in axes:
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise ConfigError(
                f"{key}: {shown(twice[0])} is listed twice; allowed: each value once (runs would be trained "
                "and counted twice)"
            )
    depths = [ws for ws in matrix.hidden if not len(ws) <= MAX_HIDDEN_LAYERS]
    if depths:
        raise ConfigError(
            f"hidden: every architecture has 0 to {MAX_HIDDEN_LAYERS} hidden layer widths ([]: logistic "
            f"regression), got {len(depths[0])}"
        )
    if matrix.log_every > matrix.steps:
        raise ConfigError(f"log_every: must be at most steps ({matrix.steps}), got {matrix.log_every}")
    _check_files(canonical)
    _validate_plan(canonical)
    check_inits(canonical)
    return canonical


def _check_files(matrix: Matrix) -> None:
    """ConfigError (one line) for a file dataset that cannot be read or used (``symjax.core.data_files``);
    reads each file as it is now."""
    for name in matrix.datasets:
        if is_file_dataset(name):
            try:
                load_dataset(name)
            except ValueError as error:
                raise ConfigError(str(error)) from None


def _check_sizes(matrix: Matrix) -> None:
    """ConfigError when an axis, the schemes after expansion or the groups exceed their bounds (checked before
    anything is expanded, so planning never grows with a huge matrix)."""
    axes = {
        a.key: getattr(matrix, a.field) for a in AXES if a.role in ("grouped", "run") and a.field != "schemes"
    }
    counts = {
        **{key: len(values) for key, values in axes.items()},
        "schemes": sum(count_schemes(s) for s in matrix.schemes if isinstance(s, str)),
    }
    for key, count in counts.items():
        if count > MAX_AXIS_VALUES:
            raise ConfigError(
                f"{key}: {count:,} values; allowed at most {MAX_AXIS_VALUES:,}"
                + (" schemes after expanding bracketed lists" if key == "schemes" else "")
            )
    groups = math.prod(len(getattr(matrix, a.field)) for a in GROUPED)
    if groups > MAX_GROUPS:
        raise ConfigError(
            f"the axes make {groups:,} groups (compiled programs); allowed at most {MAX_GROUPS:,}"
        )


def _canonical_schemes(texts, key: str = "schemes") -> list[str]:
    """Canonical scheme names, bracketed scale lists expanded, e.g. ``normal([0.5, 1])`` -> two schemes."""
    try:
        return [name for text in texts for name in expand_scheme(text)]
    except ValueError as error:
        raise ConfigError(f"{key}: {error}") from None


def _validate_plan(matrix: Matrix) -> None:
    """Checks on the runs of a canonical matrix that remain after the exclude rules."""
    reference, plan, models = matrix.reference, matrix.kept_groups(), {}
    if not plan:
        raise ConfigError("exclude: the rules remove every run of the matrix")
    runs = sum(len(pairs) for _, pairs in plan) * matrix.seeds
    if runs > MAX_RUNS:
        raise ConfigError(
            f"seeds: the matrix has {runs:,} runs; allowed at most {MAX_RUNS:,} (fewer seeds, schemes or "
            "settings)"
        )
    for cfg, pairs in plan:
        where = f"{cfg.dataset}, {cfg.model} {list(cfg.hidden)}, {cfg.activation}, {cfg.optimizer}"
        if cfg.model in SIGNAL_MODELS and cfg.dataset not in CNN_DATASETS:
            raise ConfigError(
                f"model: {cfg.model} reads a 1-D signal; allowed datasets: {', '.join(CNN_DATASETS)} "
                f'(exclude the others with [[exclude]] model = "{cfg.model}", dataset = [...]), '
                f"got {cfg.dataset}"
            )
        if cfg.batch_size is not None and cfg.batch_size > train_size(cfg.dataset):
            raise ConfigError(
                f"batch_size: {cfg.batch_size} is larger than the {train_size(cfg.dataset)} training "
                "examples "
                f'of {cfg.dataset}; allowed 1..{train_size(cfg.dataset)} or "full"'
            )
        if cfg.norm != "none" and cfg.model not in NORMED_MODELS:
            raise ConfigError(
                f"norm: {cfg.norm} normalizes the hidden layers of {', '.join(NORMED_MODELS)}; {cfg.model} "
                f'has its own (exclude it with [[exclude]] model = "{cfg.model}", norm = [...]), got '
                f"{cfg.norm}"
            )
        n_layers = plugin_model_layers(cfg, models) if is_plugin_model(cfg.model) else _builtin_layers(cfg)
        _check_distinct(pairs, n_layers, where)
        lrs = {lr for lr, _ in pairs}
        missing = sorted(lr for lr in lrs if (lr, reference) not in pairs)
        if missing and matrix.target_loss is None:
            raise ConfigError(
                f"exclude: removes the reference scheme {reference} from ({where}, lr {missing[0]:g}), which "
                "then has no target loss; exclude the whole setting or give target_loss"
            )


def _check_distinct(pairs: list[tuple[float, str]], n_layers: int, where: str) -> None:
    """ConfigError (one line) when a scheme overrides a layer the network lacks, or when two schemes at one
    rate give every one of its ``n_layers`` layers the same (weight, bias) init (the same runs)."""
    layers, seen = {}, {}
    for lr, scheme in pairs:
        if scheme not in layers:
            try:
                parsed = parse_scheme(scheme)
                check_depth(parsed, n_layers)
            except ValueError as error:
                raise ConfigError(f"schemes: {error}") from None
            layers[scheme] = tuple(parsed.for_layer(layer, n_layers) for layer in range(n_layers))
        twin = seen.setdefault((lr, layers[scheme]), scheme)
        if twin != scheme:
            raise ConfigError(
                f"schemes: {twin} and {scheme} give every layer of ({where}) the same init; allowed: schemes "
                "that differ on some layer (the same runs would be trained and counted twice)"
            )


def _builtin_layers(cfg) -> int:
    """Layers of a built-in model at the group's sizes; ConfigError in one line where its widths cannot
    build it (resmlp: one width; transformer: one width, a multiple of its heads)."""
    if cfg.model not in ("resmlp", "transformer"):
        return len(cfg.hidden) + 1
    from symjax.core.models import weight_shapes

    n_in = load_dataset(cfg.dataset).x_train.shape[1]
    try:
        return len(weight_shapes(cfg.model, n_in, cfg.hidden, 10))
    except ValueError as error:
        raise ConfigError(f"hidden: {error}") from None


def _bounded(matrix: Matrix, axis) -> list:
    """The integers an axis with a ``limit`` holds: each width of every ``hidden`` entry, each batch size but
    full."""
    values = getattr(matrix, axis.field)
    if axis.key == "hidden":
        return [w for ws in values for w in ws]
    if axis.key == "batch_size":
        return [b for b in values if b is not None]
    return [values]


def _listed(matrix: Matrix, axis) -> list:
    """A listed axis's values as messages show them: widths as lists, ``"full"`` for a full batch, rates to
    float32's 8 digits (0.1 and 0.100000001 are one rate)."""
    values = getattr(matrix, axis.field)
    if axis.key == "hidden":
        return [list(ws) for ws in values]
    if axis.key == "batch_size":
        return ["full" if b is None else b for b in values]
    if axis.key == "lr":
        return [float(f"{lr:.8g}") for lr in values]
    return list(values)


def checked(matrix: Matrix) -> Matrix:
    """The validated matrix with scheme names in canonical form (see ``validate``)."""
    return validate(matrix)


def _canonical_rules(rules: tuple) -> tuple:
    """Exclude rules with their scheme names in canonical form."""
    return tuple(
        tuple(
            (axis, tuple(_canonical_schemes(values, "exclude")) if axis == "scheme" else values)
            for axis, values in rule
        )
        for rule in rules
    )
