"""The epoch order's cost on this machine: ``jax.random.permutation`` against
``symjax.core.data_order.permutation``.

``python bench/permutation_speed.py`` times, on one device, 128 runs' permutations of MNIST-1D's
4000 training examples (one device's share of the N=256 benchmark, once per epoch), alternating the
two implementations (best of 7), and the two kinds of XLA sort underneath: one uint32 array, and a
key-value pair (what ``jax.random.permutation`` sorts). Both permutations are checked equal.
"""

from __future__ import annotations

import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import symjax  # noqa: F401  (before jax)
from symjax.core.data_order import permutation  # noqa: E402

RUNS, N, ROUNDS = 128, 4000, 7


def best_ms(fn, arg) -> float:
    jax.block_until_ready(fn(arg))
    times = []
    for _ in range(ROUNDS):
        tic = time.perf_counter()
        jax.block_until_ready(fn(arg))
        times.append(time.perf_counter() - tic)
    return 1e3 * min(times)


def main() -> None:
    keys = jax.random.split(jax.random.key(0), RUNS)
    theirs = jax.jit(jax.vmap(lambda k: jax.random.permutation(k, N)))
    ours = jax.jit(jax.vmap(lambda k: permutation(k, N)))
    assert bool((theirs(keys) == ours(keys)).all())
    bits = jax.random.bits(jax.random.key(1), (RUNS, N), jnp.uint32)
    one_array = jax.jit(jax.lax.sort)
    key_value = jax.jit(lambda k: jax.lax.sort_key_val(k, jnp.broadcast_to(jnp.arange(N), k.shape))[1])
    timings = {
        name: []
        for name in (
            "jax.random.permutation",
            "symjax permutation",
            "sort one uint32 array",
            "sort key-value pairs",
        )
    }
    for _ in range(2):  # alternate, so both see the same machine
        timings["jax.random.permutation"].append(best_ms(theirs, keys))
        timings["symjax permutation"].append(best_ms(ours, keys))
        timings["sort one uint32 array"].append(best_ms(one_array, bits))
        timings["sort key-value pairs"].append(best_ms(key_value, bits))
    print(f"{RUNS} runs x {N} examples, one device, best of {ROUNDS} (twice, alternated):")
    for name, values in timings.items():
        print(f"  {name:<24} {min(values):8.1f} ms")
    print(
        "  permutation speedup "
        f"{min(timings['jax.random.permutation']) / min(timings['symjax permutation']):.1f}x; key-value sort "
        "/ one-array sort "
        f"{min(timings['sort key-value pairs']) / min(timings['sort one uint32 array']):.1f}x"
    )


if __name__ == "__main__":
    main()
