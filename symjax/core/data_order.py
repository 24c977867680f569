"""Minibatch order: the same permutations as ``jax.random.permutation``, computed with fast sorts.

Data-flow stage: part of **train** (once per epoch of every run). ``jax.random.permutation(key,
n)`` shuffles by stable-sorting ``arange(n)`` by fresh random uint32 keys, in
``ceil(3 ln n / ln(2**32 - 1))`` rounds (2 for n = 4000). XLA:CPU runs that key-value sort
through a generic comparator callback, about 6x slower than a sort of one uint32 array, which
it hands to ``std::stable_sort`` with ``std::less``. ``permutation`` here reproduces the same
result bit for bit with single-array sorts only: a stable argsort of the keys as a radix sort
whose passes sort ``digit << b | position`` (``b`` bits hold a position), so every sorted
value is unique and its low bits say where it came from. ``bench/permutation_speed.py``
measures the two side by side; ``tests/test_data_order.py`` checks the equality.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def shuffle_rounds(n: int) -> int:
    """How many sort rounds ``jax.random.permutation`` uses for n items."""
    return int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))


def stable_argsort_u32(keys: jax.Array) -> jax.Array:
    """(n,) int32 indices that stably sort uint32 ``keys`` (n,): ``np.argsort(keys, kind="stable")``.

    >>> import numpy as np
    >>> stable_argsort_u32(jnp.array([3, 1, 3, 0], jnp.uint32)).tolist()
    [3, 1, 0, 2]
    """
    n = keys.shape[0]
    position_bits = max(1, math.ceil(math.log2(max(n, 2))))
    if position_bits > 31:
        raise ValueError(f"cannot sort {n} keys: at most 2**31")
    digit_bits = 32 - position_bits
    positions = jnp.arange(n, dtype=jnp.uint32)
    order = positions
    for shift in range(0, 32, digit_bits):  # least significant digit first; each pass is stable
        digit = (keys[order] >> shift) & jnp.uint32((1 << min(digit_bits, 32 - shift)) - 1)
        packed = jax.lax.sort((digit << position_bits) | positions)
        order = order[packed & jnp.uint32((1 << position_bits) - 1)]
    return order.astype(jnp.int32)


def permutation(key: jax.Array, n: int) -> jax.Array:
    """(n,) int32: exactly ``jax.random.permutation(key, n)``, sorted faster on CPU.

    >>> key = jax.random.key(7)
    >>> bool((permutation(key, 1000) == jax.random.permutation(key, 1000)).all())
    True
    """
    order = jnp.arange(n, dtype=jnp.int32)
    for _ in range(shuffle_rounds(n)):
        key, subkey = jax.random.split(key)
        order = order[stable_argsort_u32(jax.random.bits(subkey, (n,), jnp.uint32))]
    return order


def epoch_order(data_key: jax.Array, epoch: jax.Array, n: int) -> jax.Array:
    """(n,) int32: the example order of one epoch of one run; depends only on the run's data key."""
    return permutation(jax.random.fold_in(data_key, epoch), n)
