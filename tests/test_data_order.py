"""The fast permutation equals ``jax.random.permutation`` bit for bit, and the argsort is stable."""

from __future__ import annotations

import doctest

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symjax.core import data_order
from symjax.core.data_order import permutation, shuffle_rounds, stable_argsort_u32

argsort = jax.jit(stable_argsort_u32)


def test_docstring_examples():
    assert doctest.testmod(data_order).failed == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=300), st.integers(0, 31))
def test_argsort_is_numpy_stable_argsort(values, drop_bits):
    # many ties when drop_bits is large
    keys = np.array(values, np.uint64).astype(np.uint32) >> np.uint32(drop_bits)
    np.testing.assert_array_equal(argsort(jnp.asarray(keys)), np.argsort(keys, kind="stable"))


def test_argsort_large_and_tied():
    rng = np.random.default_rng(0)
    for n, high in ((4096, 2**32), (4097, 2**32), (70_000, 2**32), (5000, 7)):  # 12, 13 and 17 position bits
        keys = rng.integers(0, high, n, dtype=np.uint64).astype(np.uint32)
        np.testing.assert_array_equal(argsort(jnp.asarray(keys)), np.argsort(keys, kind="stable"))


def test_permutation_equals_jax_random_permutation():
    keys = jax.random.split(jax.random.key(3), 16)
    for n in (1, 2, 3, 128, 1000, 4000, 4097):
        ours = jax.jit(jax.vmap(lambda k: permutation(k, n)))(keys)
        theirs = jax.jit(jax.vmap(lambda k: jax.random.permutation(k, n)))(keys)
        np.testing.assert_array_equal(ours, theirs)
    assert [shuffle_rounds(n) for n in (1, 1000, 4000, 2**22)] == [0, 1, 2, 3]
