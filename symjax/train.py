"""Training: one ``jax.jit(jax.vmap(train))`` per group of runs, steps in ``lax.scan``.

Data-flow stage: init params per run -> **one jit(vmap(scan)) per group** -> store.
``make_train(cfg, data)`` returns ``train(params, data_key, lr) -> (final_state, logs)``
for ONE run; ``compiled_group(cfg, data)`` is that function vmapped over a leading run
axis and jitted, cached per static config so a second call never recompiles.
Logs are taken at step 0 (before any update), every ``log_every`` steps and at the
last step: training loss over the whole training set, test loss and test accuracy.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from symjax.config import GroupConfig
from symjax.models import cross_entropy, loss_and_accuracy

OPTIMIZERS = {
    "sgd": lambda lr: optax.sgd(lr),
    "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "adam": lambda lr: optax.adam(lr),
}


class TrainState(NamedTuple):
    """What travels through ``lax.scan``; ``perm`` is this epoch's shuffled example order."""

    params: list
    opt_state: optax.OptState
    perm: jax.Array  # (n_train,) int32
    step: jax.Array  # () int32, the number of updates done


class Logs(NamedTuple):
    """Per logged step (see ``logged_steps``)."""

    train_loss: jax.Array  # (n_logs,)
    test_loss: jax.Array  # (n_logs,)
    test_acc: jax.Array  # (n_logs,)


class Arrays(NamedTuple):
    """Device arrays of one dataset, passed to every group (not baked in as constants)."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array


def logged_steps(steps: int, log_every: int) -> np.ndarray:
    """Steps at which metrics are logged: 0, log_every, 2*log_every, ..., and steps."""
    return np.unique(np.r_[np.arange(0, steps, log_every), steps]).astype(np.int64)


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
    batch_size = n_train if cfg.batch_size is None else cfg.batch_size
    full_batch = batch_size >= n_train
    steps_per_epoch = max(n_train // batch_size, 1)

    def shuffled(data_key, epoch):
        return jax.random.permutation(jax.random.fold_in(data_key, epoch), n_train).astype(jnp.int32)

    def train(params, data_key, lr, arrays: Arrays):
        optimizer = make_optimizer(cfg.optimizer, lr)

        def evaluate(state):
            train_loss, _ = loss_and_accuracy(state.params, arrays.x_train, arrays.y_train, cfg.activation)
            test_loss, test_acc = loss_and_accuracy(state.params, arrays.x_test, arrays.y_test, cfg.activation)
            return train_loss, test_loss, test_acc

        def one_step(state, _):
            if full_batch:
                perm, x, y = state.perm, arrays.x_train, arrays.y_train
            else:
                epoch, position = jnp.divmod(state.step, steps_per_epoch)
                perm = jax.lax.cond(position == 0, lambda: shuffled(data_key, epoch), lambda: state.perm)
                index = jax.lax.dynamic_slice_in_dim(perm, position * batch_size, batch_size)
                x, y = arrays.x_train[index], arrays.y_train[index]
            grads = jax.grad(cross_entropy)(state.params, x, y, cfg.activation)
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
            return TrainState(params, opt_state, perm, state.step + 1), None

        def run_steps(state, n):
            return jax.lax.scan(one_step, state, length=n)[0]

        def interval(state, _):
            state = run_steps(state, cfg.log_every)
            return state, evaluate(state)

        state = TrainState(params, optimizer.init(params), jnp.zeros(n_train, jnp.int32), jnp.int32(0))
        first = evaluate(state)
        state, middle = jax.lax.scan(interval, state, length=cfg.steps // cfg.log_every)
        pieces = [jax.tree.map(lambda v: v[None], first), middle]
        if cfg.steps % cfg.log_every:
            state = run_steps(state, cfg.steps % cfg.log_every)
            pieces.append(jax.tree.map(lambda v: v[None], evaluate(state)))
        logs = Logs(*(jnp.concatenate(parts) for parts in zip(*pieces)))
        return state, logs

    return train


TRACE_COUNT = {"n": 0}  # incremented each time a group is traced; tests use it to catch recompilation


@functools.lru_cache(maxsize=None)
def compiled_group(cfg: GroupConfig, n_train: int):
    """``jit(vmap(train))`` over a leading run axis of (params, data_key, lr); arrays shared."""
    train = make_train(cfg, n_train)

    def counted(params, data_key, lr, arrays):
        TRACE_COUNT["n"] += 1
        return jax.vmap(train, in_axes=(0, 0, 0, None))(params, data_key, lr, arrays)

    return jax.jit(counted)
