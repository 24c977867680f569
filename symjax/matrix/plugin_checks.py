"""Plug-ins of a matrix tried before anything trains (``symjax.core.plugins``).

Every plug-in init is tried on small probe shapes and then on every real layer shape of the matrix's groups
(a weight's, or its bias's where the plug-in is a bias init), after the exclude rules and the per-layer
overrides; on shapes of at most ``symjax.core.plugins.MAX_REPEATED_ELEMENTS`` it is called twice with one
key and must give the same values. Every plug-in model is tried on its group's real batch sizes (the
training minibatch and the evaluation slices of the training and test sets), in the group's dtype and
activation.
Data-flow stage: **matrix** (called by ``symjax.matrix.validate``) -> plan. Loads the datasets only for a
matrix that names a plug-in.
"""

from __future__ import annotations

import jax

from symjax.core.data import load_dataset
from symjax.core.evaluation import slices
from symjax.core.group import minibatch_size
from symjax.core.models import ACTIVATIONS, CNN_MODELS, weight_shapes
from symjax.core.plugins import check_model, check_plugin
from symjax.core.schemes import is_plugin, parse_scheme
from symjax.core.train import precision
from symjax.matrix.spec import ConfigError, Matrix

PROBE_WEIGHTS, PROBE_CONV, PROBE_BIAS = (3, 4), (5, 2, 4), (4,)


def check_inits(matrix: Matrix) -> None:
    """ConfigError (one line, naming the scheme and where it was used) for a plug-in init that cannot be
    imported, is not callable, returns the wrong shape or dtype, or different values for one key, on the probe
    shapes and then on every real layer shape."""
    probes = _probe_uses(matrix)
    if probes:
        _try(probes)
        _try({use: found for use, found in _real_uses(matrix).items() if use not in probes})


def _try(uses: dict[tuple, tuple[str, str]]) -> None:
    """``check_plugin`` on each (plug-in init, shape) of ``uses``; ConfigError naming its (scheme, where)."""
    for (name, shape), (scheme, where) in uses.items():
        try:
            check_plugin(name, [shape])
        except ValueError as error:
            raise ConfigError(f"schemes: {scheme}{where}: {error}") from None


def _probe_uses(matrix: Matrix) -> dict[tuple, tuple[str, str]]:
    """{(plug-in init, probe shape): (the first scheme naming it, "")} over the schemes and the reference: a
    weight init's probe shapes (a conv kernel's too if the matrix has a CNN), a bias init's."""
    weights = [PROBE_WEIGHTS, *([PROBE_CONV] if set(matrix.models) & set(CNN_MODELS) else [])]
    uses = {}
    for scheme in dict.fromkeys([*matrix.schemes, matrix.reference]):
        parsed = parse_scheme(scheme)
        for part in [parsed, *(override for _, override in parsed.overrides)]:
            for name, shapes in ((part.weight, weights), (part.bias, [PROBE_BIAS])):
                for shape in shapes if is_plugin(name) else []:
                    uses.setdefault((name, shape), (scheme, ""))
    return uses


def _real_uses(matrix: Matrix) -> dict[tuple, tuple[str, str]]:
    """{(plug-in init, real shape): (the first scheme drawing it, " (where)")} over the runs that remain after
    the exclude rules, overrides applied: each layer's weight shape, or its bias's."""
    uses, shapes_of = {}, {}
    for cfg, pairs in matrix.kept_groups():
        network = (cfg.dataset, cfg.model, cfg.hidden)
        if network not in shapes_of:
            shapes_of[network] = _weight_shapes(*network)
        shapes = shapes_of[network]
        for scheme in dict.fromkeys(s for _, s in pairs):
            parsed = parse_scheme(scheme)
            for layer, shape in enumerate(shapes):
                part = parsed.for_layer(layer, len(shapes))
                where = f" ({cfg.dataset}, {cfg.model} {list(cfg.hidden)}, layer {layer + 1})"
                for name, drawn in ((part.weight, shape), (part.bias, shape[-1:])):
                    if is_plugin(name):
                        uses.setdefault((name, tuple(drawn)), (scheme, where))
    return uses


def _weight_shapes(dataset: str, model: str, hidden: tuple) -> list[tuple[int, ...]]:
    """Every layer's weight shape of ``model`` with ``hidden`` widths on ``dataset`` (readout last)."""
    data = load_dataset(dataset)
    return [tuple(s) for s in weight_shapes(model, data.x_train.shape[1], hidden, data.n_outputs)]


def plugin_model_layers(cfg, checked: dict) -> int:
    """Layers of a plug-in model at the group's sizes, after checking it (``check_model``) on the group's real
    batch sizes, dtype and activation; ConfigError in one line. ``checked`` remembers the settings already
    checked (one matrix's validation)."""
    data = load_dataset(cfg.dataset)
    key = (cfg.dataset, cfg.model, cfg.hidden, cfg.activation, cfg.batch_size, cfg.dtype)
    if key not in checked:
        try:
            with precision(cfg.dtype):
                check_model(
                    cfg.model,
                    data.x_train.shape[1],
                    cfg.hidden,
                    data.n_outputs,
                    batch_sizes(cfg.batch_size, len(data.y_train), len(data.y_test)),
                    cfg.dtype,
                    ACTIVATIONS[cfg.activation],
                )
        except ValueError as error:
            raise ConfigError(f"model: {error}") from None
        checked[key] = len(_weight_shapes(cfg.dataset, cfg.model, cfg.hidden))
    return checked[key]


def batch_sizes(batch_size: int | None, n_train: int, n_test: int) -> list[int]:
    """The batch sizes a network's forward pass sees in training: the minibatch, and the evaluation slices
    (``symjax.core.evaluation.slices``) of the training and the test set."""
    sizes = [minibatch_size(batch_size, n_train)]
    for n in (n_train, n_test):
        cut = jax.eval_shape(
            slices, jax.ShapeDtypeStruct((n, 1), "float32"), jax.ShapeDtypeStruct((n,), "int32")
        )
        sizes.append(cut.x.shape[1])
    return list(dict.fromkeys(sizes))
