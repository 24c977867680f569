"""Training one run: ``make_train(cfg, n_train, run_axis=None) -> train``, steps in ``lax.scan``.

``train(params, data_key, lr, arrays) -> (TrainState, Logs)``.
Data-flow stage: init -> **train** -> store. The function trains ONE run;
the engine (``symjax.engine.program``) vmaps it over a leading run axis, shards that axis
over the devices and jits it, one program per group.
Logs are taken at step 0 (before any update), every ``log_every`` steps and at the
last step: training loss over the whole training set, test loss and test accuracy, the
in-program diagnostics of ``symjax.core.diagnostics``, and (every ``cfg.rank_every`` logs, step 0
and the end) a snapshot of the weights from which the host computes ranks.
"""

from __future__ import annotations

import contextlib
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from symjax.core.data import dataset_task
from symjax.core.data_order import epoch_order
from symjax.core.diagnostics import Diagnostics, layer_diagnostics
from symjax.core.evaluation import evaluate as evaluate_on
from symjax.core.evaluation import slices
from symjax.core.group import GroupConfig, minibatch_size
from symjax.core.models import complete_params, loss_fn, normalized_widths
from symjax.core.norms import initial_running, update_running
from symjax.core.optimizers import make_optimizer


class TrainState(NamedTuple):
    """What travels through ``lax.scan``; ``perm`` is this epoch's shuffled example order."""

    params: list
    opt_state: optax.OptState
    perm: jax.Array  # (n_train,) int32; (0,) for full batch
    # (n_layers,) weight-gradient norms of the last update before the latest log (NaN before any)
    grad_norms: jax.Array
    # (n_layers,) int32: first update whose weight gradient was non-zero, -1 if none yet
    first_grad_step: jax.Array
    # BatchNorm's running averages, one ``symjax.core.norms.Running`` per normalized layer; () without
    running: tuple = ()


class Logs(NamedTuple):
    """Per logged step (see ``logged_steps``)."""

    train_loss: jax.Array  # (n_logs,)
    test_loss: jax.Array  # (n_logs,)
    test_acc: jax.Array  # (n_logs,)
    diagnostics: Diagnostics  # each field (n_logs, n_layers)
    weights: list  # per layer (n_snapshots, *weight shape), at ``snapshot_steps``


class Arrays(NamedTuple):
    """Device arrays of one dataset, passed to every group (not baked in as constants)."""

    x_train: jax.Array  # (n_train, n_features) float32
    y_train: jax.Array  # (n_train,) int32 labels, or (n_train, n_outputs) float32 targets
    x_test: jax.Array  # (n_test, n_features) float32
    y_test: jax.Array  # (n_test,) or (n_test, n_outputs)


def _every(steps: int, interval: int) -> np.ndarray:
    """0, interval, 2*interval, ... below ``steps``, and ``steps`` itself."""
    return np.unique(np.r_[np.arange(0, steps, interval), steps]).astype(np.int64)


def logged_steps(steps: int, log_every: int) -> np.ndarray:
    """Steps at which metrics are logged: 0, log_every, 2*log_every, ..., and steps."""
    return _every(steps, log_every)


def snapshot_steps(steps: int, log_every: int, rank_every: int) -> np.ndarray:
    """Steps with a weight snapshot: 0, every rank_every * log_every steps, and the last step.

    >>> snapshot_steps(10, 1, 4).tolist(), snapshot_steps(10, 5, 1).tolist()
    ([0, 4, 8, 10], [0, 5, 10])
    """
    return _every(steps, rank_every * log_every)


def precision(dtype: str):
    """The context a group of ``dtype`` is built and trained in: jax's 64-bit mode for "float64", none for
    "float32"."""
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def traced_at(matmul_precision: str):
    """Decorator: the function traces every matrix product (``dot_general``, convolutions) at
    ``matmul_precision`` (``symjax.core.group.MATMUL_PRECISIONS``) where it sets none itself: "highest" pins
    float32 products to full float32 (no TF32 on a GPU), "default" leaves them to jax's default precision. The
    precision is the compiled program's (its HLO's operand_precision), whoever jits or vmaps the function."""

    def decorate(fn):
        @functools.wraps(fn)
        def at_precision(*args, **kwargs):
            with jax.default_matmul_precision(matmul_precision):
                return fn(*args, **kwargs)

        return at_precision

    return decorate


def as_dtype(tree, dtype: str):
    """``tree`` with its floating-point leaves cast to ``dtype`` (call inside ``precision(dtype)``)."""
    return jax.tree.map(lambda v: v.astype(dtype) if jnp.issubdtype(v.dtype, jnp.floating) else v, tree)


def single(logs):
    """Give one log (any pytree) a leading axis of length 1: (...) -> (1, ...)."""
    return jax.tree.map(lambda v: v[None], logs)


def weight_grad_norms(grads: list) -> jax.Array:
    """(n_layers,) float32 Frobenius norm of every layer's weight gradient."""
    return jnp.stack([jnp.linalg.norm(g["w"]) for g in grads]).astype(jnp.float32)


def make_update(cfg: GroupConfig, n_train: int, conv: str = "products"):
    """The optimizer update of one run at one step: what every trainer of a group does per step (``conv``:
    how conv layers are computed, ``symjax.core.models.CONV_IMPLEMENTATIONS``).

    Returns ``update(params, opt_state, perm, step, data_key, optimizer, arrays, running=()) ->
    (params, opt_state, perm, grads, running)``: ``perm`` (n_train,) int32 is the current epoch's example
    order ((0,) for full batch), replaced at the first step of every epoch; ``step`` () int32
    is the update's index, unbatched (from the ``lax.scan`` that runs the steps), so under
    ``vmap`` the new epoch's order is a real branch, computed once per epoch; ``running``: BatchNorm's
    running averages, moved towards this minibatch's statistics (``symjax.core.norms.update_running``).
    """
    task = dataset_task(cfg.dataset)
    batch_size = minibatch_size(cfg.batch_size, n_train)
    full_batch = batch_size == n_train
    steps_per_epoch = max(n_train // batch_size, 1)

    @traced_at(cfg.matmul_precision)
    def update(params, opt_state, perm, step, data_key, optimizer, arrays: Arrays, running=()):
        if full_batch:
            x, y = arrays.x_train, arrays.y_train
        else:
            with jax.named_scope("example_order"):  # named scopes label the profile (bench/profile_ops.py)
                epoch, position = jnp.divmod(step, steps_per_epoch)
                perm = jax.lax.cond(
                    position == 0, lambda: epoch_order(data_key, epoch, n_train), lambda: perm
                )
                index = jax.lax.dynamic_slice_in_dim(perm, position * batch_size, batch_size)
                x, y = arrays.x_train[index], arrays.y_train[index]
        with jax.named_scope("gradient"):
            grads, stats = jax.grad(loss_fn, has_aux=True)(
                params, x, y, cfg.activation, task, cfg.model, cfg.norm, conv
            )
        with jax.named_scope("optimizer"):
            updates, opt_state = optimizer.update(grads, opt_state, params)
            running = update_running(running, stats) if running else running
            return optax.apply_updates(params, updates), opt_state, perm, grads, running

    return update


def initial_perm(cfg: GroupConfig, n_train: int) -> jax.Array:
    """The example order carried before the first epoch: (n_train,) zeros, or (0,) for full batch."""
    return jnp.zeros(0 if minibatch_size(cfg.batch_size, n_train) == n_train else n_train, jnp.int32)


def make_train(cfg: GroupConfig, n_train: int, run_axis: str | None = None, conv: str = "products"):
    """Build the single-run training function of a group.

    Args:
        cfg: the group's static settings (steps, log_every, optimizer, ...).
        n_train: training examples of ``cfg.dataset``.
        run_axis: the name of the ``vmap`` axis over runs when the function is vmapped with one
            (``symjax.engine.program``), so that a per-step check can be skipped once no run of the
            batch needs it; None for a run alone.
        conv: how conv layers are computed (``symjax.core.models.CONV_IMPLEMENTATIONS``; "lax" only for
            benchmarks).

    Returns:
        ``train(params, data_key, lr, arrays) -> (TrainState, Logs)``: params a list of
        ``{"w", "b"}`` (``symjax.core.models``); data_key a () typed key that alone decides the
        minibatch order; lr a () float32; arrays an ``Arrays``. Logs hold n_logs =
        ``len(logged_steps(cfg.steps, cfg.log_every))`` entries.

    Work per step is ``make_update``'s update plus two conditionals. Every step index comes from the
    ``lax.scan`` that runs
    it, not from per-run state, so under ``vmap`` the step's branches stay real conditionals:
    the epoch's example order is computed only at the first step of an epoch, the
    weight-gradient norms (``Diagnostics.grad_norm``) only at the last step before a log, and
    the check for ``first_grad_step`` only while some run of the batch still waits for a
    layer's first non-zero weight gradient.
    """
    task = dataset_task(cfg.dataset)
    update = make_update(cfg, n_train, conv)

    def any_run(flag):  # one flag for the whole vmapped batch of runs: a real branch, not a select
        return flag if run_axis is None else jax.lax.psum(flag.astype(jnp.int32), run_axis) > 0

    @traced_at(cfg.matmul_precision)  # its updates, evaluations and diagnostics
    def train(params, data_key, lr, arrays: Arrays):
        optimizer = make_optimizer(cfg.optimizer, lr, cfg.schedule, cfg.steps)
        n_layers = len(params)
        widths = normalized_widths(cfg.model, cfg.norm, [layer["w"].shape for layer in params])
        params = complete_params(params, cfg.model, cfg.norm, arrays.x_train.shape[1])

        train_slices, test_slices = (
            slices(arrays.x_train, arrays.y_train),
            slices(arrays.x_test, arrays.y_test),
        )

        @jax.named_scope("evaluate")
        def evaluate(state):  # slice by slice: a chunk's memory does not grow with the dataset
            net = (cfg.activation, task, cfg.model, cfg.norm, state.running, conv)
            on_train = evaluate_on(state.params, train_slices, *net)
            on_test = evaluate_on(state.params, test_slices, *net)
            diagnostics = layer_diagnostics(state.params, on_train.dead_fraction, state.grad_norms, cfg.norm)
            return on_train.loss, on_test.loss, on_test.accuracy, diagnostics

        def weights(state):
            return [layer["w"] for layer in state.params]

        def one_step(state, step, last):  # step: the update's index; last: the last update before a log
            params, opt_state, perm, grads, running = update(
                state.params, state.opt_state, state.perm, step, data_key, optimizer, arrays, state.running
            )
            with jax.named_scope("gradient_diagnostics"):
                norms = jax.lax.cond(step == last, lambda: weight_grad_norms(grads), lambda: state.grad_norms)
                waiting = state.first_grad_step < 0
                nonzero = jax.lax.cond(
                    any_run(jnp.any(waiting)),
                    lambda: weight_grad_norms(grads) > 0,
                    lambda: jnp.zeros(n_layers, bool),
                )
                first = jnp.where(waiting & nonzero, step, state.first_grad_step)
            return TrainState(params, opt_state, perm, norms, first, running)

        def run_steps(state, start, n):  # updates start, ..., start + n - 1
            steps = start + jnp.arange(n, dtype=jnp.int32)
            return jax.lax.scan(lambda s, step: (one_step(s, step, start + n - 1), None), state, steps)[0]

        def interval(state, start):
            state = run_steps(state, start, cfg.log_every)
            return state, evaluate(state)

        def block(state, start):  # rank_every logged intervals, then a weight snapshot
            starts = start + cfg.log_every * jnp.arange(cfg.rank_every, dtype=jnp.int32)
            state, logs = jax.lax.scan(interval, state, starts)
            return state, (logs, weights(state))

        n_intervals, remainder = divmod(cfg.steps, cfg.log_every)
        n_blocks, extra = divmod(n_intervals, cfg.rank_every)
        block_steps = cfg.rank_every * cfg.log_every
        state = TrainState(
            params,
            optimizer.init(params),
            initial_perm(cfg, n_train),
            jnp.full(n_layers, jnp.nan, jnp.float32),
            jnp.full(n_layers, -1, jnp.int32),
            initial_running(widths, arrays.x_train.dtype),
        )
        logs, snapshots = [single(evaluate(state))], [single(weights(state))]
        if n_blocks:
            starts = block_steps * jnp.arange(n_blocks, dtype=jnp.int32)
            state, (block_logs, block_weights) = jax.lax.scan(block, state, starts)
            logs.append(jax.tree.map(lambda v: v.reshape(-1, *v.shape[2:]), block_logs))
            snapshots.append(block_weights)
        if extra:
            starts = n_blocks * block_steps + cfg.log_every * jnp.arange(extra, dtype=jnp.int32)
            state, extra_logs = jax.lax.scan(interval, state, starts)
            logs.append(extra_logs)
        if remainder:
            state = run_steps(state, n_intervals * cfg.log_every, remainder)
            logs.append(single(evaluate(state)))
        if extra or remainder:
            snapshots.append(single(weights(state)))
        concatenate = functools.partial(jax.tree.map, lambda *parts: jnp.concatenate(parts))
        return state, Logs(*concatenate(*logs), concatenate(*snapshots))

    return train
