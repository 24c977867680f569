"""Training: one ``jax.jit(shard_map(jax.vmap(train)))`` per group of runs, steps in ``lax.scan``.

Data-flow stage: init params per run -> **one jit(vmap(scan)) per group** -> store.
``make_train(cfg, data)`` returns ``train(params, data_key, lr) -> (final_state, logs)``
for ONE run; ``compiled_group(cfg, data)`` is that function vmapped over a leading run
axis and jitted, cached per static config so a second call never recompiles.
Logs are taken at step 0 (before any update), every ``log_every`` steps and at the
last step: training loss over the whole training set, test loss and test accuracy, the
in-program diagnostics of ``symjax.diagnostics``, and (every ``RANK_EVERY`` logs, step 0
and the end) a snapshot of the weights from which the host computes ranks.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec

from symjax.config import GroupConfig
from symjax.devices import run_mesh
from symjax.diagnostics import Diagnostics, layer_diagnostics
from symjax.data import TASKS
from symjax.evaluation import evaluate as evaluate_on, slices
from symjax.models import loss_fn

OPTIMIZERS = {
    "sgd": lambda lr: optax.sgd(lr),
    "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "nesterov": lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
    "adam": lambda lr: optax.adam(lr),
    "adamw": lambda lr: optax.adamw(lr, weight_decay=1e-4),
}
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adam": 2, "adamw": 2}  # state arrays per parameter


RANK_EVERY = 4  # weight snapshots (for rank, effective rank) at step 0, every 4th logged step and the end


class TrainState(NamedTuple):
    """What travels through ``lax.scan``; ``perm`` is this epoch's shuffled example order."""

    params: list
    opt_state: optax.OptState
    perm: jax.Array  # (n_train,) int32; (0,) for full batch
    step: jax.Array  # () int32, the number of updates done
    grad_norms: jax.Array  # (n_layers,) weight-gradient norms of the last update (NaN before any)
    first_grad_step: jax.Array  # (n_layers,) int32: first update whose weight gradient was non-zero, -1 if none yet


class Logs(NamedTuple):
    """Per logged step (see ``logged_steps``)."""

    train_loss: jax.Array  # (n_logs,)
    test_loss: jax.Array  # (n_logs,)
    test_acc: jax.Array  # (n_logs,)
    diagnostics: Diagnostics  # each field (n_logs, n_layers)
    weights: list  # per layer (n_snapshots, fan_in, fan_out), at ``snapshot_steps``


class Arrays(NamedTuple):
    """Device arrays of one dataset, passed to every group (not baked in as constants)."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array


def _every(steps: int, interval: int) -> np.ndarray:
    """0, interval, 2*interval, ... below ``steps``, and ``steps`` itself."""
    return np.unique(np.r_[np.arange(0, steps, interval), steps]).astype(np.int64)


def logged_steps(steps: int, log_every: int) -> np.ndarray:
    """Steps at which metrics are logged: 0, log_every, 2*log_every, ..., and steps."""
    return _every(steps, log_every)


def snapshot_steps(steps: int, log_every: int) -> np.ndarray:
    """Steps with a weight snapshot: 0, every RANK_EVERY * log_every steps, and the last step."""
    return _every(steps, RANK_EVERY * log_every)


def single(logs):
    """Give one log (any pytree) a leading axis of length 1."""
    return jax.tree.map(lambda v: v[None], logs)


def make_optimizer(name: str, lr: jax.Array) -> optax.GradientTransformation:
    """An optax optimizer whose learning rate is a (traced, per-run) hyperparameter."""
    return optax.inject_hyperparams(OPTIMIZERS[name])(lr=lr)


def make_train(cfg: GroupConfig, n_train: int):
    """Build the single-run training function of a group.

    Returns:
        ``train(params, data_key, lr, arrays) -> (TrainState, Logs)``: params a list of
        ``{"w", "b"}``; data_key a typed key that alone decides the minibatch order;
        lr a scalar; arrays an ``Arrays``.
    """
    task = TASKS[cfg.dataset]
    batch_size = n_train if cfg.batch_size is None else cfg.batch_size
    full_batch = batch_size >= n_train
    steps_per_epoch = max(n_train // batch_size, 1)

    def shuffled(data_key, epoch):
        return jax.random.permutation(jax.random.fold_in(data_key, epoch), n_train).astype(jnp.int32)

    def train(params, data_key, lr, arrays: Arrays):
        optimizer = make_optimizer(cfg.optimizer, lr)
        n_layers = len(params)

        train_slices, test_slices = slices(arrays.x_train, arrays.y_train), slices(arrays.x_test, arrays.y_test)

        def evaluate(state):  # slice by slice: a chunk's memory does not grow with the dataset
            on_train = evaluate_on(state.params, train_slices, cfg.activation, task)
            on_test = evaluate_on(state.params, test_slices, cfg.activation, task)
            diagnostics = layer_diagnostics(state.params, on_train.dead_fraction, state.grad_norms)
            return on_train.loss, on_test.loss, on_test.accuracy, diagnostics

        def weights(state):
            return [layer["w"] for layer in state.params]

        def one_step(state, _):
            if full_batch:
                perm, x, y = state.perm, arrays.x_train, arrays.y_train
            else:
                epoch, position = jnp.divmod(state.step, steps_per_epoch)
                perm = jax.lax.cond(position == 0, lambda: shuffled(data_key, epoch), lambda: state.perm)
                index = jax.lax.dynamic_slice_in_dim(perm, position * batch_size, batch_size)
                x, y = arrays.x_train[index], arrays.y_train[index]
            grads = jax.grad(loss_fn)(state.params, x, y, cfg.activation, task)
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
            norms = jnp.stack([jnp.linalg.norm(g["w"]) for g in grads])
            first = jnp.where((state.first_grad_step < 0) & (norms > 0), state.step, state.first_grad_step)
            return TrainState(params, opt_state, perm, state.step + 1, norms, first), None

        def run_steps(state, n):
            return jax.lax.scan(one_step, state, length=n)[0]

        def interval(state, _):
            state = run_steps(state, cfg.log_every)
            return state, evaluate(state)

        def block(state, _):  # RANK_EVERY logged intervals, then a weight snapshot
            state, logs = jax.lax.scan(interval, state, length=RANK_EVERY)
            return state, (logs, weights(state))

        n_intervals, remainder = divmod(cfg.steps, cfg.log_every)
        n_blocks, extra = divmod(n_intervals, RANK_EVERY)
        no_perm = jnp.zeros(0 if full_batch else n_train, jnp.int32)  # full batch: no example order to carry
        state = TrainState(params, optimizer.init(params), no_perm, jnp.int32(0),
                           jnp.full(n_layers, jnp.nan, jnp.float32), jnp.full(n_layers, -1, jnp.int32))
        logs, snapshots = [single(evaluate(state))], [single(weights(state))]
        if n_blocks:
            state, (block_logs, block_weights) = jax.lax.scan(block, state, length=n_blocks)
            logs.append(jax.tree.map(lambda v: v.reshape(-1, *v.shape[2:]), block_logs))
            snapshots.append(block_weights)
        if extra:
            state, extra_logs = jax.lax.scan(interval, state, length=extra)
            logs.append(extra_logs)
        if remainder:
            state = run_steps(state, remainder)
            logs.append(single(evaluate(state)))
        if extra or remainder:
            snapshots.append(single(weights(state)))
        concatenate = functools.partial(jax.tree.map, lambda *parts: jnp.concatenate(parts))
        return state, Logs(*concatenate(*logs), concatenate(*snapshots))

    return train


TRACE_COUNT = {"n": 0}  # incremented each time a group is traced; tests use it to catch recompilation


@functools.lru_cache(maxsize=None)
def compiled_group(cfg: GroupConfig, n_train: int):
    """``jit(shard_map(vmap(train)))`` over a leading run axis of (params, data_key, lr); arrays shared.

    ``shard_map`` gives each local device its own slice of runs with no communication at
    all (runs are independent); the run count must be a multiple of the device count.
    Keep LAPACK calls (SVD, eigh, QR) out of this program: with several CPU devices running
    one at once, XLA:CPU deadlocked (jaxlib 0.10.2); ranks are computed on the host instead.
    """
    train = make_train(cfg, n_train)
    runs, shared = PartitionSpec("runs"), PartitionSpec()

    def counted(params, data_key, lr, arrays):
        TRACE_COUNT["n"] += 1
        per_device = jax.vmap(train, in_axes=(0, 0, 0, None))
        sharded = jax.shard_map(per_device, mesh=run_mesh(), in_specs=(runs, runs, runs, shared),
                                out_specs=runs, check_vma=False)
        return sharded(params, data_key, lr, arrays)

    return jax.jit(counted)
