"""The one table of matrix axes: every key a matrix file, the command line and a results folder know.

Data-flow stage: none of its own; the data model of every stage. ``symjax.matrix.spec.Matrix`` (its
fields and defaults), ``symjax.core.group.GroupConfig`` (the static fields of a compiled program),
the TOML keys and their types (``symjax.matrix.load``), the single-setting flags of ``symjax run``
(``symjax.cli``), bounds and registries (``symjax.matrix.validate``), the runs table's setting
columns (``symjax.results``) and the matrix identity (``upgrade``, ``symjax.results.store``) are all
derived from ``AXES``. Adding an axis is one entry here plus its effect in the trainer. Free of jax.

Roles: ``grouped`` axes list values that each make their own groups (compiled programs); ``group``
axes hold one static value shared by every group; ``run`` axes list values vmapped inside a group;
``matrix`` keys describe the run set (seeds, the reference, chunking, exclude rules, ...).

>>> [a.key for a in AXES if a.role == "grouped"]  # doctest: +NORMALIZE_WHITESPACE
['dataset', 'model', 'hidden', 'activation', 'optimizer', 'batch_size', 'dtype', 'schedule', 'norm',
 'matmul_precision']
>>> upgrade({"seeds": 3})["rank_every"], upgrade({"seeds": 3})["dtypes"]
(4, ['float32'])
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

REFERENCE_SCHEME = "lecun_normal/zeros"
# 2 added models and excludes; 3 rank_every and dtypes; 4 schedules; 5 norms; 6 matmul_precisions
MATRIX_VERSION = 6
REQUIRED = object()  # the default of a key every matrix must give (its name)


class Axis(NamedTuple):
    """One matrix key: where it lives, how it is read and checked, and since when it exists."""

    field: str  # attribute of Matrix, e.g. "datasets"
    key: str  # TOML key (an exclude rule names grouped and run axes by ``single``)
    # value type, read by symjax.matrix.load: str, strs, int, float, floats, widths_list, batch_sizes, rules
    kind: str
    default: object
    role: str  # grouped | group | run | matrix (see the module docstring)
    single: str | None = None  # the field of GroupConfig / the runs table / an exclude rule, e.g. "dataset"
    flag: str | None = None  # single-setting flag of `symjax run`, e.g. "--dataset"
    help: str = ""
    limit: int | None = None  # largest allowed integer (each value of the axis)
    allowed: str | None = None  # "module:NAME" of the registry its values must be in
    since: int = 1  # MATRIX_VERSION that added it
    earlier: object = None  # the value every matrix had before ``since`` (upgrade fills it in)


# fmt: off
AXES = (
    Axis("name", "name", "str", REQUIRED, "matrix"),
    Axis("datasets", "dataset", "strs", ("mnist1d",), "grouped", "dataset", "--dataset",
         "e.g. mnist1d, or file:PATH.npz (your own data)", allowed="symjax.core.data:DATASETS"),
    Axis("models", "model", "strs", ("mlp",), "grouped", "model", "--model",
         "mlp, cnn, cnn_paper, resmlp or transformer (a cnn: --hidden gives conv channels)",
         allowed="symjax.core.models:MODELS",
         since=2, earlier=("mlp",)),
    Axis("hidden", "hidden", "widths_list", ((100,),), "grouped", "hidden", "--hidden",
         "hidden widths, e.g. 100,100; none: no hidden layer (logistic regression)", limit=16_384),
    Axis("activations", "activation", "strs", ("tanh",), "grouped", "activation", "--activation",
         "e.g. tanh", allowed="symjax.core.models:ACTIVATIONS"),
    Axis("optimizers", "optimizer", "strs", ("adam",), "grouped", "optimizer", "--optimizer",
         "sgd, momentum, nesterov, adam or adamw", allowed="symjax.core.optimizers:OPTIMIZERS"),
    Axis("lrs", "lr", "floats", (0.01,), "run", "lr", "--lr",
         "learning rate(s), e.g. 0.1 or 0.1,0.5 (vmapped in one group)"),
    Axis("batch_sizes", "batch_size", "batch_sizes", (128,), "grouped", "batch_size", "--batch-size",
         "a positive integer or 'full'", limit=1_000_000),
    Axis("schemes", "schemes", "strs", (REFERENCE_SCHEME,), "run", "scheme", "--schemes",
         "W/b schemes, e.g. lecun_normal/zeros,zeros/normal(1.0)"),
    Axis("seeds", "seeds", "int", 10, "matrix", None, "--seeds",
         "seeds per scheme and setting", limit=100_000),
    Axis("steps", "steps", "int", 1000, "group", "steps", "--steps",
         "training steps per run", limit=10_000_000),
    Axis("log_every", "log_every", "int", 25, "group", "log_every", "--log-every",
         "log metrics every K steps", limit=10_000_000),
    Axis("rank_every", "rank_every", "int", 4, "group", "rank_every", "--rank-every",
         "weight ranks every K logged steps (1: at every logged step); default 4", limit=10_000_000,
         since=3, earlier=4),
    Axis("dtypes", "dtype", "strs", ("float32",), "grouped", "dtype", "--dtype",
         "float32 (default) or float64 (jax's 64-bit mode), or both: float32,float64",
         allowed="symjax.core.group:DTYPES", since=3, earlier=("float32",)),
    Axis("schedules", "schedule", "strs", ("constant",), "grouped", "schedule", "--schedule",
         "constant (default) or warmup_cosine (linear warm-up over the first 5%% of the steps, then cosine "
         "decay to 0)", allowed="symjax.core.optimizers:SCHEDULES", since=4, earlier=("constant",)),
    Axis("norms", "norm", "strs", ("none",), "grouped", "norm", "--norm",
         "none (default), layernorm or batchnorm after every hidden layer's affine map (mlp, cnn, resmlp)",
         allowed="symjax.core.norms:NORMS", since=5, earlier=("none",)),
    # earlier: every result before the key was trained on a CPU, whose float32 products are the same at
    # either precision (jax's default there is full float32), so they read as "highest"
    Axis("matmul_precisions", "matmul_precision", "strs", ("highest",), "grouped", "matmul_precision",
         "--matmul-precision",
         "highest (default: every float32 matrix product in full float32) or default (jax's: TF32 on an "
         "NVIDIA GPU since Ampere, one bfloat16 pass on a TPU; the same products on a CPU)",
         allowed="symjax.core.group:MATMUL_PRECISIONS", since=6, earlier=("highest",)),
    Axis("target_loss", "target_loss", "float", None, "matrix", None, "--target-loss",
         "fixed target training loss for steps to target"),
    Axis("reference", "reference", "str", REFERENCE_SCHEME, "matrix"),
    Axis("chunk_runs", "chunk_runs", "int", 256, "matrix", limit=1_000_000),
    Axis("excludes", "exclude", "rules", (), "matrix", since=2, earlier=()),
    Axis("companions", "companions", "strs", (), "matrix"),
)
# fmt: on
BY_FIELD = {axis.field: axis for axis in AXES}
GROUPED = tuple(axis for axis in AXES if axis.role == "grouped")  # in the order groups are expanded
RULE_AXES = tuple(axis for axis in AXES if axis.role in ("grouped", "run"))  # what an exclude rule can name
# grouped axes added from version 3 on (dtype, schedule, ...): the runs table holds each as a column of its
# value (results written before it get ``earlier``), and a label names it only where it differs from that
LATER_GROUPED = tuple(axis for axis in GROUPED if axis.since >= 3)
# the runs table's columns that make a setting: every grouped axis, the rate and the horizon
SETTING_COLUMNS = [a.single for a in AXES if a.role == "grouped" or a.field in ("lrs", "steps")]


def registry(axis: Axis):
    """The registry (a dict or tuple of names) an axis's values must be in, imported on first use."""
    module, name = axis.allowed.split(":")
    return getattr(importlib.import_module(module), name)


def upgrade(matrix: dict) -> dict:
    """A stored matrix (``Matrix.to_dict()`` as config.json or a manifest holds it, written by any version) in
    the current form: each key added later than its writer gets the value every earlier matrix had, and each
    exclude rule's axes are in name order. Two stored matrices are the same matrix when their upgrades are
    equal."""
    plain = dict(matrix)
    for axis in AXES:
        if axis.since > 1 and axis.field not in plain:
            plain[axis.field] = list(axis.earlier) if isinstance(axis.earlier, tuple) else axis.earlier
    if isinstance(plain.get("excludes"), list):
        plain["excludes"] = [
            sorted(rule, key=str) if isinstance(rule, list) else rule for rule in plain["excludes"]
        ]
    return plain
