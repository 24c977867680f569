"""Throughput of the vmapped trainer against a per-run Python loop, and compile time.

Data-flow stage: timings of **one jit(vmap(scan)) per group** (``symjax/train.py``).
Every benchmark compiles and warms up outside the timer, then times
``jax.block_until_ready(...)`` of whole training calls with ``benchmark.pedantic``.
Run with ``python -m pytest bench/ --benchmark-only``; ``SYMJAX_BENCH_QUICK=1`` for CI.
No test asserts on timing (shared machines are noisy); they only check the outputs.
"""

from __future__ import annotations

import symjax  # noqa: F401  (before jax: one CPU device per core)

import math  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from typing import NamedTuple  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.sharding import SingleDeviceSharding  # noqa: E402

from symjax.config import GroupConfig  # noqa: E402
from symjax.data import load_dataset  # noqa: E402
from symjax.devices import run_sharding  # noqa: E402
from symjax.models import layer_sizes  # noqa: E402
from symjax.runner import Run, chunk_bounds, init_params, seed_keys  # noqa: E402
from symjax.train import Arrays, compiled_group, logged_steps, make_train  # noqa: E402

QUICK = os.environ.get("SYMJAX_BENCH_QUICK", "").strip().lower() not in ("", "0", "false", "no")

DATASET = "mnist1d"
HIDDEN = (100, 100)  # MLP 40-100-100-10
ACTIVATION = "tanh"
OPTIMIZER = "adam"
BATCH_SIZE = 128
LR = 1e-2
SCHEME = "lecun_normal/zeros"
STEPS, LOG_EVERY = (20, 10) if QUICK else (100, 50)
N_VALUES = (1, 16) if QUICK else (1, 16, 64, 256)
SIDE_BY_SIDE_N = 16 if QUICK else 64
SIDE_BY_SIDE_ROUNDS = 3
N_MAX = max(*N_VALUES, SIDE_BY_SIDE_N)
COMPILE_N_VALUES = (16, 256)  # compiling needs no data of that size, so quick mode keeps both
COMPILE_ROUNDS = 1 if QUICK else 2
# Timed rounds per benchmark: about ROUND_BUDGET_S seconds of timed work, clamped.
ROUND_BUDGET_S, MIN_ROUNDS, MAX_ROUNDS = (1.0, 2, 5) if QUICK else (5.0, 2, 10)

CFG = GroupConfig(DATASET, HIDDEN, ACTIVATION, OPTIMIZER, BATCH_SIZE, STEPS, LOG_EVERY)


def choose_rounds(seconds_per_round: float) -> int:
    return int(min(MAX_ROUNDS, max(MIN_ROUNDS, math.ceil(ROUND_BUDGET_S / max(seconds_per_round, 1e-9)))))


def timed(fn):
    tic = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - tic


class Compiled(NamedTuple):
    executable: jax.stages.Compiled
    inputs: tuple  # placed (params, data keys, lrs)
    arrays: Arrays
    compile_seconds: float
    warm_seconds: float  # the untimed warm-up call (sizes the number of timed rounds)


class Context:
    """Data, params and compiled programs, built once per module and cached per N."""

    def __init__(self):
        data = load_dataset(DATASET)
        self.n_train = len(data.y_train)
        self.sizes = layer_sizes(data.x_train.shape[1], CFG.hidden, data.n_outputs)
        self.run_sharded, self.replicated, self.n_devices = run_sharding()
        self.device0 = jax.local_devices()[0]
        self.single = SingleDeviceSharding(self.device0)
        host_arrays = Arrays(*data[:4])
        self.arrays_replicated = jax.block_until_ready(jax.device_put(host_arrays, self.replicated))
        self.arrays_device0 = jax.block_until_ready(jax.device_put(host_arrays, self.device0))
        self.program = compiled_group(CFG, self.n_train)
        self.n_logs = len(logged_steps(CFG.steps, CFG.log_every))
        self._inputs, self._vmap, self._loop_inputs, self._loop = {}, {}, {}, None
        self._all_inputs = None

    # -- placement: the run axis is always sharded over all devices (the program is a
    # shard_map); a run count that does not divide evenly is padded up, as the runner does
    # (N=1 on 2 devices trains 2 runs and keeps 1).
    def sharded(self, n: int) -> bool:
        return self.n_devices > 1

    def padded(self, n: int) -> int:
        return chunk_bounds(n, n, self.n_devices)[0]

    def placement(self, n: int):
        return self.run_sharded, self.arrays_replicated

    def inputs(self, n: int):
        """(stacked params, data keys, lrs) of runs 0..n-1, unplaced; run i has seed i.

        ``init_params`` is called once, for the largest N, and smaller N take the first n
        runs: a run's params depend only on its scheme and seed, and every call of
        ``init_params`` with a new run count costs seconds of op-by-op compilation.
        """
        if self._all_inputs is None:
            runs = [Run(i, 0, SCHEME, i, LR) for i in range(self.padded(N_MAX))]
            self._all_inputs = jax.block_until_ready((
                init_params(runs, self.sizes),
                seed_keys(np.arange(self.padded(N_MAX)), 1),
                jnp.asarray([r.lr for r in runs], jnp.float32),
            ))
        if n not in self._inputs:
            if n > self.padded(N_MAX):
                raise ValueError(f"n={n} > N_MAX={N_MAX}")
            self._inputs[n] = jax.tree.map(lambda v: v[:n], self._all_inputs)
        return self._inputs[n]

    def vmap(self, n: int):
        """The compiled jit(vmap) program for n runs with its placed inputs, compiled and warmed once."""
        if n not in self._vmap:
            sharding, arrays = self.placement(n)
            inputs = jax.block_until_ready(jax.device_put(self.inputs(self.padded(n)), sharding))
            compiled, seconds = timed(lambda: self.program.lower(*inputs, arrays).compile())
            _, warm = timed(lambda: jax.block_until_ready(compiled(*inputs, arrays)))  # warm-up, untimed
            self._vmap[n] = Compiled(compiled, inputs, arrays, seconds, warm)
        return self._vmap[n]

    def loop(self):
        """(compiled single-run program on device 0, compile seconds); one compilation for every N."""
        if self._loop is None:
            params, key, lr = self.loop_inputs(1)[0]
            train = jax.jit(make_train(CFG, self.n_train))
            compiled, seconds = timed(lambda: train.lower(params, key, lr, self.arrays_device0).compile())
            jax.block_until_ready(compiled(params, key, lr, self.arrays_device0))  # warm-up, untimed
            self._loop = (compiled, seconds)
        return self._loop

    def loop_inputs(self, n: int) -> list:
        """Per-run (params, key, lr) on device 0: the same runs as ``inputs(n)``, unstacked."""
        if n not in self._loop_inputs:
            params, keys, lrs = self.inputs(n)
            per_run = [(jax.tree.map(lambda v, i=i: v[i], params), keys[i], lrs[i]) for i in range(n)]
            self._loop_inputs[n] = jax.block_until_ready(jax.device_put(per_run, self.device0))
        return self._loop_inputs[n]

    def vmap_fn(self, n: int):
        compiled, inputs, arrays, _, _ = self.vmap(n)
        return lambda: jax.tree.map(lambda v: v[:n], jax.block_until_ready(compiled(*inputs, arrays)))

    def loop_fn(self, n: int):
        compiled, _ = self.loop()
        per_run, arrays = self.loop_inputs(n), self.arrays_device0

        def run_all():
            # Dispatched asynchronously, blocked once at the end: the loop's best case.
            return jax.block_until_ready([compiled(p, k, lr, arrays) for p, k, lr in per_run])

        return run_all


@pytest.fixture(scope="module")
def ctx() -> Context:
    return Context()


def common_info(impl: str, n: int, compile_seconds: float, sharded: bool, n_devices: int) -> dict:
    return {
        "impl": impl,
        "n_runs": n,
        "steps": STEPS,
        "log_every": LOG_EVERY,
        "batch_size": BATCH_SIZE,
        "model": f"40-{'-'.join(map(str, HIDDEN))}-10 {ACTIVATION}",
        "optimizer": OPTIMIZER,
        "dataset": DATASET,
        "backend": jax.default_backend(),
        "device_count": jax.device_count(),
        "devices_used": n_devices,
        "sharded": sharded,
        "compile_seconds": round(compile_seconds, 4),
        "quick": QUICK,
        "jax_version": jax.__version__,
    }


def mean_seconds(benchmark) -> float:
    """The benchmark's own mean round time (NaN under --benchmark-disable, which keeps no stats)."""
    stats = getattr(benchmark, "stats", None)
    return stats.stats.mean if stats is not None else float("nan")


def check_logs(train_loss: np.ndarray, test_acc: np.ndarray, n: int, n_logs: int) -> None:
    assert train_loss.shape == (n, n_logs) and test_acc.shape == (n, n_logs)
    assert np.isfinite(train_loss).all() and np.isfinite(test_acc).all()
    assert (train_loss[:, -1] < train_loss[:, 0]).all(), "training did not lower the training loss"


@pytest.mark.parametrize("n", N_VALUES)
def test_train_vmap(benchmark, ctx, bench_summary, n):
    """One jit(vmap(scan)) call trains all n runs."""
    fn = ctx.vmap_fn(n)
    rounds = choose_rounds(ctx.vmap(n).warm_seconds)
    benchmark.group = f"train N={n}"
    _, logs = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)

    seconds = mean_seconds(benchmark)
    compile_seconds = ctx.vmap(n).compile_seconds
    sharded = ctx.sharded(n)
    info = common_info("vmap", n, compile_seconds, sharded, ctx.n_devices if sharded else 1)
    info.update(rounds=rounds, mean_seconds=seconds, run_steps_per_s=n * STEPS / seconds)
    benchmark.extra_info.update(info)
    bench_summary.append({"kind": "train", **info})
    check_logs(np.asarray(logs.train_loss), np.asarray(logs.test_acc), n, ctx.n_logs)


@pytest.mark.parametrize("n", N_VALUES)
def test_train_loop(benchmark, ctx, bench_summary, n):
    """The same n runs, each trained alone by a jitted single-run function in a Python loop."""
    fn = ctx.loop_fn(n)
    compiled, compile_seconds = ctx.loop()
    params, key, lr = ctx.loop_inputs(n)[0]
    _, one = timed(lambda: jax.block_until_ready(compiled(params, key, lr, ctx.arrays_device0)))
    rounds = choose_rounds(one * n)
    benchmark.group = f"train N={n}"
    outs = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)

    seconds = mean_seconds(benchmark)
    info = common_info("loop", n, compile_seconds, False, 1)
    info.update(rounds=rounds, mean_seconds=seconds, run_steps_per_s=n * STEPS / seconds)
    benchmark.extra_info.update(info)
    bench_summary.append({"kind": "train", **info})
    check_logs(
        np.stack([np.asarray(logs.train_loss) for _, logs in outs]),
        np.stack([np.asarray(logs.test_acc) for _, logs in outs]),
        n,
        ctx.n_logs,
    )


def test_side_by_side_vmap_vs_loop(benchmark, ctx, bench_summary):
    """vmap and loop at the same N in one test, rounds interleaved; ratio of the minimum times."""
    n = SIDE_BY_SIDE_N
    vmap_fn, loop_fn = ctx.vmap_fn(n), ctx.loop_fn(n)
    times = {"vmap": [], "loop": []}
    results = {}

    def pair():
        for name, fn in (("vmap", vmap_fn), ("loop", loop_fn)):
            results[name], seconds = timed(fn)
            times[name].append(seconds)

    benchmark.group = "side by side"
    benchmark.pedantic(pair, rounds=SIDE_BY_SIDE_ROUNDS, iterations=1, warmup_rounds=0)

    vmap_s, loop_s = min(times["vmap"]), min(times["loop"])
    speedup = loop_s / vmap_s
    sharded = ctx.sharded(n)
    info = common_info("side_by_side", n, ctx.vmap(n).compile_seconds, sharded, ctx.n_devices if sharded else 1)
    pair_mean = mean_seconds(benchmark)
    info.update(
        rounds=SIDE_BY_SIDE_ROUNDS,
        mean_seconds=pair_mean,
        run_steps_per_s=2 * n * STEPS / pair_mean,  # both impls' run-steps per timed (vmap, loop) pair
        compile_seconds_vmap=round(ctx.vmap(n).compile_seconds, 4),
        compile_seconds_loop=round(ctx.loop()[1], 4),
        vmap_seconds=vmap_s,
        loop_seconds=loop_s,
        vmap_seconds_rounds=times["vmap"],
        loop_seconds_rounds=times["loop"],
        vmap_run_steps_per_s=n * STEPS / vmap_s,
        loop_run_steps_per_s=n * STEPS / loop_s,
        speedup_vmap_over_loop=speedup,
    )
    benchmark.extra_info.update(info)
    bench_summary.append({"kind": "side_by_side", "n_runs": n, "vmap_seconds": vmap_s, "loop_seconds": loop_s,
                          "rounds": SIDE_BY_SIDE_ROUNDS, "speedup": speedup})
    print(f"\nN={n}: vmap {vmap_s:.3f} s, loop {loop_s:.3f} s, speedup_vmap_over_loop = {speedup:.2f}")

    # Correctness only: both implementations train the same runs to the same logs.
    _, vmap_logs = results["vmap"]
    loop_loss = np.stack([np.asarray(logs.train_loss) for _, logs in results["loop"]])
    vmap_loss = np.asarray(vmap_logs.train_loss)
    assert np.isfinite(vmap_loss).all() and np.isfinite(loop_loss).all()
    np.testing.assert_allclose(vmap_loss, loop_loss, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("n", COMPILE_N_VALUES)
def test_compile_time(benchmark, ctx, bench_summary, n):
    """``program.lower(...).compile()`` from cold caches (tracing + lowering + XLA compile)."""
    sharding, arrays = ctx.placement(n)
    specs = jax.tree.map(lambda v: jax.ShapeDtypeStruct((ctx.padded(n), *v.shape[1:]), v.dtype, sharding=sharding),
                         ctx.inputs(1))
    benchmark.group = "compile"
    compiled = benchmark.pedantic(
        lambda: ctx.program.lower(*specs, arrays).compile(),
        setup=jax.clear_caches,  # untimed; otherwise the second round hits JAX's in-memory caches
        rounds=COMPILE_ROUNDS,
        iterations=1,
        warmup_rounds=0,
    )
    assert isinstance(compiled, jax.stages.Compiled)
    seconds = mean_seconds(benchmark)
    sharded = ctx.sharded(n)
    info = common_info("compile", n, seconds, sharded, ctx.n_devices if sharded else 1)
    info.update(rounds=COMPILE_ROUNDS, mean_seconds=seconds)
    benchmark.extra_info.update(info)
    bench_summary.append({"kind": "compile", "n_runs": n, "compile_seconds": seconds})
