"""Exact controls: tiny networks, trained in seconds by symjax's own trainer, whose outcome theory predicts exactly.

Data-flow stage: **train** (``symjax.core.train.make_train``: one jitted, vmapped program per optimizer and
dataset) -> rows (``Control``) -> ``symjax controls`` stores them as JSON, ``symjax.report.controls`` renders
them. Each control has an ``*_observations()`` function (it trains and returns the arrays its prediction is
about) and a ``*_row(observations)`` function (the verdict and one sentence of numbers); ``run_controls()`` runs
all four. Fixed seeds: deterministic on one machine.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from symjax.core.data import load_dataset
from symjax.core.diagnostics import rank_and_effective_rank
from symjax.core.group import GroupConfig, Run
from symjax.core.models import weight_shapes
from symjax.core.train import Arrays, as_dtype, make_train, precision, snapshot_steps
from symjax.engine.program import Programs, seed_keys

BITWISE, ROUNDING = "exact (bitwise)", "up to float32 rounding"
SEEDS = (0, 1, 2, 3)
CONSTANT = "constant(0.05)/constant(0.1)"
ZERO_W_RANDOM_B = "zeros/normal(1.0)"
XOR_SCHEMES = ("zeros/zeros", "zeros/normal(1.0)@last=zeros/zeros")  # zero W; random hidden b, zero output b
XOR_PER_CLASS = 256  # 2 x 256 = 2^9 examples: every example's output gradient is exactly +-2^-10
LEARNING_RATES = {"sgd": 0.5, "adam": 0.01}


class Control(NamedTuple):
    """One row of the ``controls`` report (``symjax.report.controls.FIELDS`` names the same fields)."""

    control: str  # short name
    prediction: str  # one sentence
    observed: str  # one sentence with the numbers
    holds: bool
    exactness: str  # BITWISE or ROUNDING


def train_runs(cfg: GroupConfig, arrays: Arrays, n_out: int, runs: list[tuple[str, int]], lr: float):
    """Train (scheme, seed) runs of one group (float32 init, cast to ``cfg.dtype``); (initial params, TrainState,
    Logs) as numpy, each with a leading run axis (n_runs,)."""
    shapes = weight_shapes(cfg.model, arrays.x_train.shape[1], cfg.hidden, n_out)
    params = Programs().init_params([Run(i, 0, s, seed, lr) for i, (s, seed) in enumerate(runs)], shapes)
    with precision(cfg.dtype):
        params, arrays = as_dtype(params, cfg.dtype), as_dtype(arrays, cfg.dtype)
        train = jax.jit(jax.vmap(make_train(cfg, arrays.x_train.shape[0]), in_axes=(0, 0, None, None)))
        done = train(params, seed_keys(np.array([seed for _, seed in runs]), 1), jnp.asarray(lr, cfg.dtype), arrays)
        return jax.tree.map(np.asarray, (params, *done))


def dataset_arrays(name: str, keep: np.ndarray | None = None) -> Arrays:
    """A dataset's arrays; ``keep`` (n,) selects and orders training examples (default: all, as stored)."""
    data = load_dataset(name)
    keep = np.arange(len(data.y_train)) if keep is None else keep
    return Arrays(*map(jnp.asarray, (data.x_train[keep], data.y_train[keep], data.x_test, data.y_test)))


def second_ratio(w: np.ndarray) -> np.ndarray:
    """(...,) second singular value over the first of matrices w (..., m, n), float64 on the host; 0 for w = 0."""
    s = np.linalg.svd(np.asarray(w, np.float64), compute_uv=False)
    return np.where(s[..., 0] > 0, s[..., 1] / np.where(s[..., 0] > 0, s[..., 0], 1.0), 0.0)


def span(values) -> str:
    """'a' or 'a-b' for the range of integers."""
    low, high = int(np.min(values)), int(np.max(values))
    return f"{low}" if low == high else f"{low}-{high}"


# 1. constant W and constant b: one distinct unit per hidden layer for ever

class ConstantInit(NamedTuple):
    optimizers: tuple[str, ...]
    distinct_units: np.ndarray  # (n_optimizers, n_runs, n_logs, n_hidden) float
    columns_equal: np.ndarray  # (n_optimizers, n_runs, n_snapshots, n_hidden) bool: W's columns bitwise equal
    final_units_equal: np.ndarray  # (n_optimizers, n_runs, n_hidden) bool: final W columns and b entries bitwise equal
    train_loss: np.ndarray  # (n_optimizers, n_runs, n_logs)


def constant_init_observations(optimizers=("adam", "sgd"), steps: int = 300) -> ConstantInit:
    """mnist1d, hidden (16, 16), tanh, minibatches of 128, ``CONSTANT`` in every layer, ``SEEDS``."""
    arrays, rows = dataset_arrays("mnist1d"), []
    for optimizer in optimizers:
        cfg = GroupConfig("mnist1d", (16, 16), "tanh", optimizer, 128, steps, 25, rank_every=1)
        _, state, logs = train_runs(cfg, arrays, 10, [(CONSTANT, s) for s in SEEDS], {"adam": 0.01, "sgd": 0.1}[optimizer])
        hidden = range(len(cfg.hidden))
        columns = np.stack([(logs.weights[l] == logs.weights[l][..., :1]).all(axis=(-2, -1)) for l in hidden], -1)
        final = np.stack([(state.params[l]["w"] == state.params[l]["w"][..., :1]).all(axis=(-2, -1))
                          & (state.params[l]["b"] == state.params[l]["b"][..., :1]).all(axis=-1) for l in hidden], -1)
        rows.append((logs.diagnostics.distinct_units[..., :-1], columns, final, logs.train_loss))
    return ConstantInit(tuple(optimizers), *map(np.stack, zip(*rows)))


def constant_init_row(o: ConstantInit) -> Control:
    n_runs, n_logs = o.distinct_units.shape[1:3]
    holds = bool((o.distinct_units == 1).all() and o.columns_equal.all() and o.final_units_equal.all())
    loss = np.median(o.train_loss, axis=1)
    return Control(
        "constant W and b", f"With W = 0.05 and b = 0.1 in every layer ({CONSTANT}), all units of a hidden layer get "
        "identical gradients, so each hidden layer keeps exactly 1 distinct unit for the whole run, under Adam and SGD "
        "with minibatches.",
        f"mnist1d, hidden (16, 16), tanh, batch 128, {len(o.optimizers) * n_runs} runs "
        f"({' and '.join(o.optimizers)} x {n_runs} seeds): distinct units per hidden layer "
        f"{span(o.distinct_units)} at all {n_logs} logged steps; W's columns bitwise identical in "
        f"{o.columns_equal.mean():.0%} of the weight snapshots, final W columns and b entries in "
        f"{o.final_units_equal.mean():.0%} of the hidden layers; median training loss "
        + ", ".join(f"{n} {a:.3f} -> {b:.3f}" for n, a, b in zip(o.optimizers, loss[:, 0], loss[:, -1]))
        + " (the readout still learns).", holds, BITWISE)


# 2. balanced XOR, full batch, zero W and zero output bias: stuck at ln 2

def balanced_xor_order(per_class: int = XOR_PER_CLASS) -> np.ndarray:
    """(2 * per_class,) indices into xor's training split: the first ``per_class`` examples of each class, labels
    alternating 0, 1, 0, 1, ..., so every sum over examples pairs each +g with a -g."""
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
    """xor, hidden (16, 16), tanh, full batch, lr ``LEARNING_RATES[optimizer]``, on the training examples ``keep``."""
    cfg = GroupConfig("xor", (16, 16), "tanh", optimizer, None, steps, 10, rank_every=1)
    start, state, logs = train_runs(cfg, dataset_arrays("xor", keep), 2, [(s, seed) for s in XOR_SCHEMES for seed in SEEDS],
                                    LEARNING_RATES[optimizer])
    unchanged = np.all([(a == b).all(axis=tuple(range(1, a.ndim)))
                        for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(state.params))], axis=0)
    zero = np.all([(w == 0).all(axis=tuple(range(1, w.ndim))) for w in logs.weights], axis=0)
    return XorRuns(logs.train_loss, unchanged, zero, state.first_grad_step + 1)


def balanced_xor_observations(optimizers=("sgd", "adam"), steps: int = 200) -> BalancedXor:
    """The balanced set under each of ``optimizers``; what moves it: the unbalanced split (sgd) and a balanced set
    whose sums do not cancel exactly in float32 (adam)."""
    y = load_dataset("xor").y_train
    counts = tuple(int(n) for n in np.bincount(y))
    stored = np.sort(np.concatenate([np.flatnonzero(y == c)[:min(counts)] for c in (0, 1)]))
    return BalancedXor(tuple(s for s in XOR_SCHEMES for _ in SEEDS),
                       {o: xor_runs(o, balanced_xor_order(), steps) for o in optimizers},
                       xor_runs("sgd", None, steps), counts, xor_runs("adam", stored, steps))


def prior_entropy(counts) -> float:
    p = np.asarray(counts) / np.sum(counts)
    return float(-(p * np.log(p)).sum())


def balanced_xor_row(o: BalancedXor) -> Control:
    ln2 = np.float32(np.log(2))
    loss = np.stack([r.train_loss for r in o.balanced.values()])  # (n_optimizers, n_runs, n_logs)
    unchanged = np.stack([r.unchanged & r.weights_zero for r in o.balanced.values()])
    random_b = np.array([s != "zeros/zeros" for s in o.schemes])
    final = o.unbalanced.train_loss[:, -1]
    holds = bool((loss == loss[..., :1]).all() and unchanged.all() and np.abs(loss - ln2).max() < 1e-6
                 and (final < ln2 - 1e-4).all())
    first = o.unbalanced.first_grad[random_b]
    layers = ", ".join(f"W{l + 1} from update {span(first[:, l])}" for l in reversed(range(first.shape[1])))
    moved = ~o.stored_order.unchanged
    return Control(
        "balanced XOR at ln 2", "On a balanced training set in full batch, zero W and zero output bias give output 0 for "
        "every example, softmax (1/2, 1/2) and p - y summing to 0, so every gradient is exactly 0: the loss stays at "
        "its step-0 value (ln 2) and every W stays 0, under SGD and Adam, with zero or random hidden biases.",
        f"xor, 2 x {XOR_PER_CLASS} examples with labels alternating, hidden (16, 16), tanh, {loss.shape[-1] - 1} logs "
        f"after step 0, {loss.shape[0] * loss.shape[1]} runs ({' and '.join(o.balanced)} x {' and '.join(XOR_SCHEMES)} "
        f"x {len(SEEDS)} seeds): training loss bitwise equal to step 0's at every logged step in "
        f"{(loss == loss[..., :1]).all(axis=-1).mean():.0%} of runs, ln 2 + {np.abs(loss - ln2).max():.1e}; every W "
        f"and b bitwise unchanged (W = 0) in {unchanged.mean():.0%}. What moves it: on the whole split "
        f"({' and '.join(map(str, o.class_counts))} per class) SGD's loss leaves ln 2 for the class-prior entropy "
        f"{prior_entropy(o.class_counts):.4f} (final {np.median(final[~random_b]):.4f} with zero b, "
        f"{np.median(final[random_b]):.4f} with random hidden b, medians) and with random hidden b the weights get "
        f"non-zero gradients ({layers}); on 2 x {min(o.class_counts)} balanced examples in stored order, float32 sums "
        f"of +-g do not cancel exactly: {moved[random_b].sum()} of {random_b.sum()} random-b runs move under Adam "
        f"(final loss {np.median(o.stored_order.train_loss[random_b, -1]):.3f}, median), "
        f"{moved[~random_b].sum()} of {(~random_b).sum()} zero-b runs.", holds, BITWISE)


# 3. identity activation: the product W1 W2 W3 stays rank 1 under SGD, not under Adam

class IdentityProduct(NamedTuple):
    optimizers: tuple[str, ...]
    steps: np.ndarray  # (n_snapshots,) steps of the weight snapshots
    product_rank: np.ndarray  # (n_optimizers, n_runs, n_snapshots) numerical rank of W1 W2 ... WL
    product_ratio: np.ndarray  # (n_optimizers, n_runs, n_snapshots) its second singular value / first
    train_loss: np.ndarray  # (n_optimizers, n_runs, n_logs)


def identity_product_observations(optimizers=("sgd", "adam"), steps: int = 300) -> IdentityProduct:
    """mnist1d, hidden (16, 16), identity, full batch, ``ZERO_W_RANDOM_B`` x ``SEEDS``; sgd lr 0.05, adam 0.001."""
    arrays, rows = dataset_arrays("mnist1d"), []
    for optimizer in optimizers:
        cfg = GroupConfig("mnist1d", (16, 16), "identity", optimizer, None, steps, 10, rank_every=1)
        _, _, logs = train_runs(cfg, arrays, 10, [(ZERO_W_RANDOM_B, s) for s in SEEDS],
                                {"sgd": 0.05, "adam": 0.001}[optimizer])
        product = logs.weights[0].astype(np.float64)
        for w in logs.weights[1:]:
            product = product @ w.astype(np.float64)
        rows.append((rank_and_effective_rank(product)[0], second_ratio(product), logs.train_loss))
    return IdentityProduct(tuple(optimizers), snapshot_steps(steps, 10, 1), *map(np.stack, zip(*rows)))


def identity_product_row(o: IdentityProduct) -> Control:
    sgd, adam = (o.optimizers.index(name) for name in ("sgd", "adam"))
    holds = bool((o.product_rank[sgd] <= 1).all() and (o.product_rank[adam].max(axis=-1) >= 2).all())
    first_two = [int(o.steps[np.argmax(r >= 2)]) for r in o.product_rank[adam]]
    one_from = [int(o.steps[np.argmax(r == 1)]) for r in o.product_rank[sgd]]
    loss = np.median(o.train_loss[:, :, -1], axis=1)
    return Control(
        "linear net: rank-1 product", "With identity activation and zero W, random b (zeros/normal(1.0)), SGD keeps "
        "every W_l of the form a_l u_l^T with shared directions, so the end-to-end map W1 W2 W3 has rank <= 1 for ever; "
        "Adam's element-wise normalisation breaks this.",
        f"mnist1d, hidden (16, 16), full batch, {len(o.steps)} snapshots to step {o.steps[-1]}, {o.product_rank.shape[1]} "
        f"seeds: SGD's product rank at most {span(o.product_rank[sgd].max(axis=-1))} at every snapshot (1 from step "
        f"{span(one_from)} on; second singular value at most "
        f"{o.product_ratio[sgd].max():.0e} of the first), final loss {loss[sgd]:.3f}; Adam's reaches rank "
        f"{span(o.product_rank[adam].max(axis=-1))} (rank 2 first at step {span(first_two)}), final loss "
        f"{loss[adam]:.3f}.", holds, ROUNDING)


# 4. W1's rank over the first five full-batch SGD updates from zero W, random b

class FirstUpdates(NamedTuple):
    tolerance: float  # the rank rule's tolerance over s_max: max(W1's shape) * eps(float32)
    rank32: np.ndarray  # (n_runs, 6) W1's numerical rank at steps 0..5, float32 training
    rank64: np.ndarray  # (n_runs, 6) the same for float64 twins (same initial weights)
    ratio32: np.ndarray  # (n_runs, 6) W1's second singular value / first, float32
    ratio64: np.ndarray  # (n_runs, 6) the same, float64 twins
    zero32: np.ndarray  # (n_runs, 2) bool: W1 bitwise 0 at steps 0 and 1 (float32)


def first_updates_observations(seeds=tuple(range(10)), lr: float = 0.5) -> FirstUpdates:
    """mnist1d, hidden (32,), tanh, full-batch SGD, ``ZERO_W_RANDOM_B``, 5 steps; float32 and float64 twins."""
    arrays, out = dataset_arrays("mnist1d"), {}
    for dtype in ("float32", "float64"):
        cfg = GroupConfig("mnist1d", (32,), "tanh", "sgd", None, 5, 1, rank_every=1, dtype=dtype)
        out[dtype] = train_runs(cfg, arrays, 10, [(ZERO_W_RANDOM_B, s) for s in seeds], lr)[2].weights[0]
    rank = {dtype: rank_and_effective_rank(w)[0].astype(int) for dtype, w in out.items()}
    return FirstUpdates(max(out["float32"].shape[-2:]) * float(np.finfo(np.float32).eps), rank["float32"],
                        rank["float64"], second_ratio(out["float32"]), second_ratio(out["float64"]),
                        (out["float32"][:, :2] == 0).all(axis=(-2, -1)))


def first_updates_row(o: FirstUpdates) -> Control:
    holds = bool(o.zero32.all() and (o.rank64[:, :3] == [0, 0, 1]).all() and (o.rank64[:, 5] > 1).all()
                 and (o.rank32[:, 5] > 1).all() and np.median(o.rank32[:, 2]) == 1)
    off = np.flatnonzero(o.rank32[:, 2] != 1)
    median = [int(v) for v in np.median(o.rank32, axis=0)]
    ranges = ", ".join(span(column) for column in o.rank32.T)
    exceptions = "; ".join(f"seed {i}'s W1 at step 2 has rank {o.rank32[i, 2]}: second singular value "
                           f"{o.ratio32[i, 2]:.1e} of the first, above the tolerance {o.tolerance:.1e} (float32 rounding "
                           f"of sums that cancel), its float64 twin's {o.ratio64[i, 2]:.0e}" for i in off)
    return Control(
        "W1's rank, first SGD updates", "From zero W and random b under full-batch SGD, W1 has rank 0 at step 0 and after "
        "update 1 (its gradient is 0 while the readout W is 0), rank 1 after update 2, then its rank grows (> 1 by "
        "step 5).",
        f"mnist1d, hidden (32,), tanh, lr 0.5, {len(o.rank32)} seeds: float32 rank at steps 0-5 median {median} "
        f"(range {ranges}); W1 bitwise 0 at steps 0 and 1 in {o.zero32.all(axis=1).mean():.0%} of runs; "
        f"{(o.rank32[:, 2] == 1).sum()} of {len(o.rank32)} have rank 1 at step 2"
        + (f" ({exceptions})" if len(off) else "")
        + f"; float64 twins: [0, 0, 1] at steps 0-2 in {(o.rank64[:, :3] == [0, 0, 1]).all(axis=1).sum()} of "
        f"{len(o.rank64)} (second singular value at step 2 at most {o.ratio64[:, 2].max():.0e} of the first), rank "
        f"{span(o.rank64[:, 5])} at step 5.", holds, ROUNDING)


CONTROLS = ((constant_init_observations, constant_init_row), (balanced_xor_observations, balanced_xor_row),
            (identity_product_observations, identity_product_row), (first_updates_observations, first_updates_row))


def run_controls() -> list[Control]:
    """Train every control (seconds each, fixed seeds) and return its row, in ``CONTROLS`` order."""
    return [row(observe()) for observe, row in CONTROLS]
