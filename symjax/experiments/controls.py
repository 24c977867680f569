"""Exact controls: tiny networks, trained in seconds by the matrix's own group programs, whose outcome theory
predicts exactly.

Data-flow stage: **train** (``symjax.engine.program.Programs``: the ``jit(shard_map(vmap(scan)))`` program of
``make_train`` that every matrix group trains through) -> rows (``Control``: names, booleans, numbers) ->
``symjax controls`` words them and stores them as JSON, ``symjax.report.controls`` renders them. Each control
has an ``*_observations()`` function (it trains and returns the arrays its prediction is about) and a
``*_row(observations)`` function (the verdict and the numbers the report's sentences give); ``run_controls()``
runs all four. Data only: every sentence lives in ``symjax.report.controls``. Fixed seeds: deterministic on
one machine.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from symjax.core.data import load_dataset
from symjax.core.diagnostics import rank_and_effective_rank
from symjax.core.group import GroupConfig, Run
from symjax.core.models import weight_shapes
from symjax.core.train import Arrays, as_dtype, precision, snapshot_steps
from symjax.engine.devices import run_sharding
from symjax.engine.program import Programs

SEEDS = (0, 1, 2, 3)
CONSTANT_W, CONSTANT_B = 0.05, 0.1
CONSTANT = f"constant({CONSTANT_W})/constant({CONSTANT_B})"
ZERO_W_RANDOM_B = "zeros/normal(1.0)"
XOR_SCHEMES = ("zeros/zeros", "zeros/normal(1.0)@last=zeros/zeros")  # zero W; random hidden b, zero output b
XOR_PER_CLASS = 256  # 2 x 256 = 2^9 examples: every example's output gradient is exactly +-2^-10
LEARNING_RATES = {"sgd": 0.5, "adam": 0.01}
LN2 = np.float32(np.log(2))
# the settings each control trains in (GroupConfig fields), given to the report with its numbers
CONSTANT_SETTING = {"dataset": "mnist1d", "hidden": (16, 16), "activation": "tanh", "batch_size": 128}
XOR_SETTING = {"dataset": "xor", "hidden": (16, 16), "activation": "tanh", "batch_size": None}
IDENTITY_SETTING = {"dataset": "mnist1d", "hidden": (16, 16), "activation": "identity", "batch_size": None}
FIRST_SETTING = {"dataset": "mnist1d", "hidden": (32,), "activation": "tanh", "batch_size": None}


class Control(NamedTuple):
    """One control's outcome, data only; ``symjax.report.controls`` words it (prediction, observed,
    exactness)."""

    control: str  # short name: the report's key
    holds: bool
    bitwise: bool  # True: checked with == on float32 arrays; False: exact only up to float32 rounding
    facts: dict  # settings and numbers the report's sentences give: str, int, float, None and tuples of them


def train_runs(cfg: GroupConfig, arrays: Arrays, n_out: int, runs: list[tuple[str, int]], lr: float):
    """Train (scheme, seed) runs of one group through its group program (``Programs``: float32 init cast to
    ``cfg.dtype``, the runs split over the local devices, padded with copies of the last run to a multiple of
    their count, as a matrix chunk is); (initial params, TrainState, Logs) as numpy, each (n_runs, ...)."""
    shapes = weight_shapes(cfg.model, arrays.x_train.shape[1], cfg.hidden, n_out)
    sharding, programs = run_sharding(), Programs()
    chunk = [Run(i, 0, scheme, seed, lr) for i, (scheme, seed) in enumerate(runs)]
    chunk += [chunk[-1]] * (-len(chunk) % sharding.n_devices)
    with precision(cfg.dtype):
        inputs = programs.chunk_inputs(chunk, shapes, cfg.dtype)
        data = jax.device_put(as_dtype(arrays, cfg.dtype), sharding.shared)
        state, logs = programs.group(cfg, len(arrays.y_train), inputs, data)(*inputs, data)
        return jax.tree.map(lambda v: np.asarray(v)[: len(runs)], (inputs[0], state, logs))


def dataset_arrays(name: str, keep: np.ndarray | None = None) -> Arrays:
    """A dataset's arrays (numpy); ``keep`` (n,) selects and orders training examples (default: all, as
    stored)."""
    data = load_dataset(name)
    keep = np.arange(len(data.y_train)) if keep is None else keep
    return Arrays(*map(np.asarray, (data.x_train[keep], data.y_train[keep], data.x_test, data.y_test)))


def second_ratio(w: np.ndarray) -> np.ndarray:
    """(...,) second singular value over the first of matrices w (..., m, n), float64 on the host; 0 for w =
    0."""
    s = np.linalg.svd(np.asarray(w, np.float64), compute_uv=False)
    return np.where(s[..., 0] > 0, s[..., 1] / np.where(s[..., 0] > 0, s[..., 0], 1.0), 0.0)


def extent(values) -> tuple[int, int]:
    """(min, max) of integers, as ints (the report writes 'a' or 'a-b')."""
    return int(np.min(values)), int(np.max(values))


# 1. constant W and constant b: one distinct unit per hidden layer for ever


class ConstantInit(NamedTuple):
    optimizers: tuple[str, ...]
    distinct_units: np.ndarray  # (n_optimizers, n_runs, n_logs, n_hidden) float
    columns_equal: np.ndarray  # (n_optimizers, n_runs, n_snapshots, n_hidden) bool: W's columns bitwise equal
    # (n_optimizers, n_runs, n_hidden) bool: final W columns and b entries bitwise equal
    final_units_equal: np.ndarray
    train_loss: np.ndarray  # (n_optimizers, n_runs, n_logs)


def constant_init_observations(optimizers=("adam", "sgd"), steps: int = 300) -> ConstantInit:
    """``CONSTANT_SETTING`` (minibatches of 128), ``CONSTANT`` in every layer, ``SEEDS``."""
    arrays, rows = dataset_arrays("mnist1d"), []
    for optimizer in optimizers:
        cfg = GroupConfig(**CONSTANT_SETTING, optimizer=optimizer, steps=steps, log_every=25, rank_every=1)
        _, state, logs = train_runs(
            cfg, arrays, 10, [(CONSTANT, s) for s in SEEDS], {"adam": 0.01, "sgd": 0.1}[optimizer]
        )
        hidden = range(len(cfg.hidden))
        columns = np.stack(
            [(logs.weights[l] == logs.weights[l][..., :1]).all(axis=(-2, -1)) for l in hidden], -1
        )
        final = np.stack(
            [
                (state.params[l]["w"] == state.params[l]["w"][..., :1]).all(axis=(-2, -1))
                & (state.params[l]["b"] == state.params[l]["b"][..., :1]).all(axis=-1)
                for l in hidden
            ],
            -1,
        )
        rows.append((logs.diagnostics.distinct_units[..., :-1], columns, final, logs.train_loss))
    return ConstantInit(tuple(optimizers), *map(np.stack, zip(*rows)))


def constant_init_row(o: ConstantInit) -> Control:
    n_runs, n_logs = o.distinct_units.shape[1:3]
    holds = bool((o.distinct_units == 1).all() and o.columns_equal.all() and o.final_units_equal.all())
    loss = np.median(o.train_loss, axis=1)  # (n_optimizers, n_logs)
    return Control(
        "constant W and b",
        holds,
        True,
        {
            **CONSTANT_SETTING,
            "scheme": CONSTANT,
            "w": CONSTANT_W,
            "b": CONSTANT_B,
            "optimizers": o.optimizers,
            "n_seeds": n_runs,
            "n_logs": n_logs,
            "distinct_units": extent(o.distinct_units),
            "columns_equal": float(o.columns_equal.mean()),
            "final_units_equal": float(o.final_units_equal.mean()),
            "loss_start": tuple(map(float, loss[:, 0])),
            "loss_end": tuple(map(float, loss[:, -1])),
        },
    )


# 2. balanced XOR, full batch, zero W and zero output bias: stuck at ln 2


def balanced_xor_order(per_class: int = XOR_PER_CLASS) -> np.ndarray:
    """(2 * per_class,) indices into xor's training split: the first ``per_class`` examples of each class,
    labels alternating 0, 1, 0, 1, ..., so every sum over examples pairs each +g with a -g."""
    y = load_dataset("xor").y_train
    return np.stack([np.flatnonzero(y == c)[:per_class] for c in (0, 1)], axis=1).reshape(-1)


class XorRuns(NamedTuple):
    """``XOR_SCHEMES`` x ``SEEDS`` runs of one optimizer on one training set."""

    train_loss: np.ndarray  # (n_runs, n_logs)
    unchanged: np.ndarray  # (n_runs,) bool: every W and b bitwise equal to its start at the end
    weights_zero: np.ndarray  # (n_runs,) bool: every W exactly 0 at every snapshot
    first_grad: np.ndarray  # (n_runs, n_layers) first update (1-based) with a non-zero W gradient, 0: none


class BalancedXor(NamedTuple):
    schemes: tuple[str, ...]  # per run
    balanced: dict  # optimizer -> XorRuns on the 2 x XOR_PER_CLASS balanced set, labels alternating
    unbalanced: XorRuns  # sgd on xor's whole training split
    class_counts: tuple[int, ...]  # its examples per class
    stored_order: XorRuns  # adam on 2 x min(class_counts) balanced examples in stored order


def xor_runs(optimizer: str, keep: np.ndarray | None, steps: int) -> XorRuns:
    """``XOR_SETTING`` (full batch), lr ``LEARNING_RATES[optimizer]``, on the training examples ``keep``."""
    cfg = GroupConfig(**XOR_SETTING, optimizer=optimizer, steps=steps, log_every=10, rank_every=1)
    start, state, logs = train_runs(
        cfg,
        dataset_arrays("xor", keep),
        2,
        [(s, seed) for s in XOR_SCHEMES for seed in SEEDS],
        LEARNING_RATES[optimizer],
    )
    unchanged = np.all(
        [
            (a == b).all(axis=tuple(range(1, a.ndim)))
            for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(state.params))
        ],
        axis=0,
    )
    zero = np.all([(w == 0).all(axis=tuple(range(1, w.ndim))) for w in logs.weights], axis=0)
    return XorRuns(logs.train_loss, unchanged, zero, state.first_grad_step + 1)


def balanced_xor_observations(optimizers=("sgd", "adam"), steps: int = 200) -> BalancedXor:
    """The balanced set under each of ``optimizers``; what moves it: the unbalanced split (sgd) and a balanced
    set whose sums do not cancel exactly in float32 (adam)."""
    y = load_dataset("xor").y_train
    counts = tuple(int(n) for n in np.bincount(y))
    stored = np.sort(np.concatenate([np.flatnonzero(y == c)[: min(counts)] for c in (0, 1)]))
    return BalancedXor(
        tuple(s for s in XOR_SCHEMES for _ in SEEDS),
        {o: xor_runs(o, balanced_xor_order(), steps) for o in optimizers},
        xor_runs("sgd", None, steps),
        counts,
        xor_runs("adam", stored, steps),
    )


def prior_entropy(counts) -> float:
    p = np.asarray(counts) / np.sum(counts)
    return float(-(p * np.log(p)).sum())


def balanced_xor_row(o: BalancedXor) -> Control:
    loss = np.stack([r.train_loss for r in o.balanced.values()])  # (n_optimizers, n_runs, n_logs)
    unchanged = np.stack([r.unchanged & r.weights_zero for r in o.balanced.values()])
    random_b = np.array([s != "zeros/zeros" for s in o.schemes])
    final = o.unbalanced.train_loss[:, -1]
    holds = bool(
        (loss == loss[..., :1]).all()
        and unchanged.all()
        and np.abs(loss - LN2).max() < 1e-6
        and (final < LN2 - 1e-4).all()
    )
    first = o.unbalanced.first_grad[random_b]  # (n_random_b, n_layers)
    moved = ~o.stored_order.unchanged
    return Control(
        "balanced XOR at ln 2",
        holds,
        True,
        {
            **XOR_SETTING,
            "per_class": XOR_PER_CLASS,
            "n_logs": loss.shape[-1] - 1,
            "n_runs": loss.shape[0] * loss.shape[1],
            "optimizers": tuple(o.balanced),
            "schemes": XOR_SCHEMES,
            "n_seeds": len(SEEDS),
            "loss_constant": float((loss == loss[..., :1]).all(axis=-1).mean()),
            "ln2_deviation": float(np.abs(loss - LN2).max()),
            "unchanged": float(unchanged.mean()),
            "class_counts": o.class_counts,
            "prior_entropy": prior_entropy(o.class_counts),
            "final_zero_b": float(np.median(final[~random_b])),
            "final_random_b": float(np.median(final[random_b])),
            "first_grad": tuple(extent(first[:, l]) for l in range(first.shape[1])),
            "stored_per_class": min(o.class_counts),
            "moved_random_b": int(moved[random_b].sum()),
            "n_random_b": int(random_b.sum()),
            "stored_final_random_b": float(np.median(o.stored_order.train_loss[random_b, -1])),
            "moved_zero_b": int(moved[~random_b].sum()),
            "n_zero_b": int((~random_b).sum()),
        },
    )


# 3. identity activation: the product W1 W2 W3 stays rank 1 under SGD, not under Adam


class IdentityProduct(NamedTuple):
    optimizers: tuple[str, ...]
    steps: np.ndarray  # (n_snapshots,) steps of the weight snapshots
    product_rank: np.ndarray  # (n_optimizers, n_runs, n_snapshots) numerical rank of W1 W2 ... WL
    product_ratio: np.ndarray  # (n_optimizers, n_runs, n_snapshots) its second singular value / first
    train_loss: np.ndarray  # (n_optimizers, n_runs, n_logs)


def identity_product_observations(optimizers=("sgd", "adam"), steps: int = 300) -> IdentityProduct:
    """``IDENTITY_SETTING`` (full batch), ``ZERO_W_RANDOM_B`` x ``SEEDS``; sgd lr 0.05, adam 0.001."""
    arrays, rows = dataset_arrays("mnist1d"), []
    for optimizer in optimizers:
        cfg = GroupConfig(**IDENTITY_SETTING, optimizer=optimizer, steps=steps, log_every=10, rank_every=1)
        _, _, logs = train_runs(
            cfg, arrays, 10, [(ZERO_W_RANDOM_B, s) for s in SEEDS], {"sgd": 0.05, "adam": 0.001}[optimizer]
        )
        product = logs.weights[0].astype(np.float64)
        for w in logs.weights[1:]:
            product = product @ w.astype(np.float64)
        rows.append((rank_and_effective_rank(product)[0], second_ratio(product), logs.train_loss))
    return IdentityProduct(tuple(optimizers), snapshot_steps(steps, 10, 1), *map(np.stack, zip(*rows)))


def identity_product_row(o: IdentityProduct) -> Control:
    sgd, adam = (o.optimizers.index(name) for name in ("sgd", "adam"))
    holds = bool((o.product_rank[sgd] <= 1).all() and (o.product_rank[adam].max(axis=-1) >= 2).all())
    loss = np.median(o.train_loss[:, :, -1], axis=1)
    return Control(
        "linear net: rank-1 product",
        holds,
        False,
        {
            **IDENTITY_SETTING,
            "scheme": ZERO_W_RANDOM_B,
            "n_snapshots": len(o.steps),
            "last_step": int(o.steps[-1]),
            "n_seeds": o.product_rank.shape[1],
            "sgd_rank": extent(o.product_rank[sgd].max(axis=-1)),
            "sgd_rank_one_from": extent([o.steps[np.argmax(r == 1)] for r in o.product_rank[sgd]]),
            "sgd_ratio": float(o.product_ratio[sgd].max()),
            "sgd_loss": float(loss[sgd]),
            "adam_rank": extent(o.product_rank[adam].max(axis=-1)),
            "adam_rank_two_from": extent([o.steps[np.argmax(r >= 2)] for r in o.product_rank[adam]]),
            "adam_loss": float(loss[adam]),
        },
    )


# 4. W1's rank over the first five full-batch SGD updates from zero W, random b


class FirstUpdates(NamedTuple):
    seeds: tuple[int, ...]
    lr: float
    tolerance: float  # the rank rule's tolerance over s_max: max(W1's shape) * eps(float32)
    rank32: np.ndarray  # (n_runs, 6) W1's numerical rank at steps 0..5, float32 training
    rank64: np.ndarray  # (n_runs, 6) the same for float64 twins (same initial weights)
    ratio32: np.ndarray  # (n_runs, 6) W1's second singular value / first, float32
    ratio64: np.ndarray  # (n_runs, 6) the same, float64 twins
    zero32: np.ndarray  # (n_runs, 2) bool: W1 bitwise 0 at steps 0 and 1 (float32)


def first_updates_observations(seeds=tuple(range(10)), lr: float = 0.5) -> FirstUpdates:
    """``FIRST_SETTING``, full-batch SGD, ``ZERO_W_RANDOM_B``, 5 steps; float32 and float64 twins."""
    arrays, out = dataset_arrays("mnist1d"), {}
    for dtype in ("float32", "float64"):
        cfg = GroupConfig(**FIRST_SETTING, optimizer="sgd", steps=5, log_every=1, rank_every=1, dtype=dtype)
        out[dtype] = train_runs(cfg, arrays, 10, [(ZERO_W_RANDOM_B, s) for s in seeds], lr)[2].weights[0]
    rank = {dtype: rank_and_effective_rank(w)[0].astype(int) for dtype, w in out.items()}
    return FirstUpdates(
        tuple(seeds),
        lr,
        max(out["float32"].shape[-2:]) * float(np.finfo(np.float32).eps),
        rank["float32"],
        rank["float64"],
        second_ratio(out["float32"]),
        second_ratio(out["float64"]),
        (out["float32"][:, :2] == 0).all(axis=(-2, -1)),
    )


def first_updates_row(o: FirstUpdates) -> Control:
    holds = bool(
        o.zero32.all()
        and (o.rank64[:, :3] == [0, 0, 1]).all()
        and (o.rank64[:, 5] > 1).all()
        and (o.rank32[:, 5] > 1).all()
        and np.median(o.rank32[:, 2]) == 1
    )
    off = np.flatnonzero(o.rank32[:, 2] != 1)
    return Control(
        "W1's rank, first SGD updates",
        holds,
        False,
        {
            **FIRST_SETTING,
            "lr": o.lr,
            "n_seeds": len(o.rank32),
            "median": tuple(int(v) for v in np.median(o.rank32, axis=0)),
            "ranges": tuple(extent(column) for column in o.rank32.T),
            "zero": float(o.zero32.all(axis=1).mean()),
            "rank_one_at_2": int((o.rank32[:, 2] == 1).sum()),
            "tolerance": o.tolerance,
            "exceptions": tuple(
                {
                    "seed": int(o.seeds[i]),
                    "rank": int(o.rank32[i, 2]),
                    "ratio32": float(o.ratio32[i, 2]),
                    "ratio64": float(o.ratio64[i, 2]),
                }
                for i in off
            ),
            "float64_as_predicted": int((o.rank64[:, :3] == [0, 0, 1]).all(axis=1).sum()),
            "ratio64_at_2": float(o.ratio64[:, 2].max()),
            "rank64_at_5": extent(o.rank64[:, 5]),
        },
    )


CONTROLS = (
    (constant_init_observations, constant_init_row),
    (balanced_xor_observations, balanced_xor_row),
    (identity_product_observations, identity_product_row),
    (first_updates_observations, first_updates_row),
)


def run_controls() -> list[Control]:
    """Train every control (seconds each, fixed seeds) and return its row, in ``CONTROLS`` order."""
    return [row(observe()) for observe, row in CONTROLS]
