"""The workload's SGD steps as a bare jit(shard_map(vmap(scan))), without symjax's logging, evaluation or diagnostics.

Answers "how fast can XLA run these steps at all?" for ``bench/README.md`` (*Where the time goes*):
``python bench/bare_vmap.py`` prints run-steps/s at N=256 (200 steps, min of 3 calls) with
per-run minibatches (``x[idx]``, as symjax trains) and with one minibatch shared by every run.
"""

from __future__ import annotations

import symjax  # noqa: F401  (before jax: one CPU device per core)

import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from jax.sharding import PartitionSpec  # noqa: E402

from symjax.data import load_dataset  # noqa: E402
from symjax.devices import run_mesh, run_sharding  # noqa: E402
from workload import BATCH_SIZE, LR, SIZES  # noqa: E402

N, STEPS = 256, 200


def loss(params, x, y):
    h = x
    for layer in params[:-1]:
        h = jnp.tanh(h @ layer["w"] + layer["b"])
    return optax.softmax_cross_entropy_with_integer_labels(h @ params[-1]["w"] + params[-1]["b"], y).mean()


def make_train(shared_batch: bool, n_train: int):
    per_epoch = n_train // BATCH_SIZE

    def train(params, key, x_all, y_all):
        order = jax.random.permutation(key, n_train)

        def step(params, i):
            start = (i % per_epoch) * BATCH_SIZE
            if shared_batch:
                x, y = (jax.lax.dynamic_slice_in_dim(v, start, BATCH_SIZE) for v in (x_all, y_all))
            else:
                index = jax.lax.dynamic_slice_in_dim(order, start, BATCH_SIZE)
                x, y = x_all[index], y_all[index]
            grads = jax.grad(loss)(params, x, y)
            return jax.tree.map(lambda p, g: p - LR * g, params, grads), None

        return jax.lax.scan(step, params, jnp.arange(STEPS))[0]

    return train


def init(key):
    keys = jax.random.split(key, len(SIZES))
    return [{"w": jax.random.normal(k, (a, b)) / jnp.sqrt(a), "b": jnp.zeros(b)} for k, (a, b) in zip(keys, SIZES)]


def main():
    data = load_dataset("mnist1d")
    run_sharded, replicated, _ = run_sharding()
    params = jax.device_put(jax.vmap(init)(jax.random.split(jax.random.key(0), N)), run_sharded)
    keys = jax.device_put(jax.random.split(jax.random.key(1), N), run_sharded)
    x, y = jax.device_put((jnp.asarray(data.x_train), jnp.asarray(data.y_train)), replicated)
    runs, shared = PartitionSpec("runs"), PartitionSpec()
    for shared_batch in (False, True):
        train = jax.vmap(make_train(shared_batch, len(data.y_train)), in_axes=(0, 0, None, None))
        program = jax.jit(jax.shard_map(train, mesh=run_mesh(), in_specs=(runs, runs, shared, shared),
                                        out_specs=runs, check_vma=False))
        jax.block_until_ready(program(params, keys, x, y))
        best = float("inf")
        for _ in range(3):
            tic = time.perf_counter()
            jax.block_until_ready(program(params, keys, x, y))
            best = min(best, time.perf_counter() - tic)
        label = "one minibatch shared by every run" if shared_batch else "per-run minibatches (x[idx])"
        print(f"{label}: {N * STEPS / best:,.0f} run-steps/s ({jax.local_device_count()} devices)")


if __name__ == "__main__":
    main()
