"""Training invariants: vmapped == alone, jit == no jit, no recompilation, logging, data order.

Compiling, not training, is what takes time: tests that can share a program do (``alone`` caches
the single-run program of a config; ``SGD`` is the config of the vmapped test's SGD case, whose
single-run program the logging and data-order tests reuse; the chunking tests share one group).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symjax.core.group import GroupConfig, Run
from symjax.core.models import layer_sizes
from symjax.core.optimizers import OPTIMIZERS
from symjax.core.train import logged_steps, make_train
from symjax.engine.devices import run_sharding
from symjax.engine.plan import KeyParts, Plan, chunk_bounds, group_plan
from symjax.engine.program import Programs, group_program, seed_keys
from symjax.engine.resume import ChunkStore
from symjax.engine.runner import train_plan

SCHEMES = ["lecun_normal/zeros", "zeros/normal(1.0)", "constant(0.05)/normal(1.0)", "he_normal/uniform(0.5)"]


def make_runs(schemes, seeds, lr=0.01):
    return [
        Run(i, 0, s, seed, lr) for i, (s, seed) in enumerate((s, seed) for s in schemes for seed in seeds)
    ]


def group_inputs(runs, n_in=40, hidden=(16,), n_out=10):
    params = Programs().init_params(runs, layer_sizes(n_in, hidden, n_out))
    return (
        params,
        seed_keys(np.array([r.seed for r in runs]), 1),
        jnp.asarray([r.lr for r in runs], jnp.float32),
    )


def take(tree, i):
    return jax.tree.map(lambda v: v[i], tree)


@functools.lru_cache(maxsize=None)
def alone(cfg: GroupConfig):
    """The jitted single-run training function of ``cfg`` (MNIST-1D), compiled once per test session."""
    return jax.jit(make_train(cfg, 4000))


def vmapped_config(optimizer: str) -> GroupConfig:
    return GroupConfig("mnist1d", (16,), "tanh", optimizer, 64, 30, 10)


SGD = vmapped_config("sgd")


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_vmapped_run_equals_run_alone(optimizer, mnist1d_arrays):
    # A batched and a single matmul sum in different orders (float32 rounding ~1e-7). Adam's first
    # update is lr * sign(g), so from a constant-W state, where many gradient entries are within
    # rounding of 0, it turns rounding into O(lr) differences: Adam is checked on random-W schemes.
    schemes = (
        [s for s in SCHEMES if not s.startswith(("constant", "zeros"))]
        if optimizer.startswith("adam")
        else SCHEMES
    )
    cfg = vmapped_config(optimizer)
    runs = make_runs(schemes, [0, 1, 2, 3])  # SGD: 16 runs, 8 per device of 2, vmapped in blocks of 4 on CPU
    params, keys, lrs = group_inputs(runs)
    _, logs = group_program(cfg, 4000)(params, keys, lrs, mnist1d_arrays)
    alone_program = alone(cfg)
    for k in range(len(runs)):
        _, single = alone_program(take(params, k), keys[k], lrs[k], mnist1d_arrays)
        for path, batched, one in zip(
            jax.tree_util.tree_leaves_with_path(logs), jax.tree.leaves(logs), jax.tree.leaves(single)
        ):
            np.testing.assert_allclose(
                batched[k],
                one,
                rtol=1e-5,
                atol=1e-6,
                err_msg=f"run {k} ({runs[k].scheme}) {jax.tree_util.keystr(path[0])}",
            )


def test_jit_equals_no_jit(mnist1d_arrays):
    # Without jit every operation is compiled on its own, once per distinct shape: with widths 10 (as many as
    # the
    # classes) the second hidden layer and the readout share their shapes, which saves about a sixth of the
    # time.
    cfg = GroupConfig("mnist1d", (10, 10), "relu", "adam", 32, 6, 3)
    runs = make_runs(["lecun_normal/normal(1.0)"], [3])
    params, keys, lrs = group_inputs(runs, hidden=(10, 10))
    train = make_train(cfg, 4000)
    args = (take(params, 0), keys[0], lrs[0], mnist1d_arrays)
    jitted = jax.jit(train)(*args)
    with jax.disable_jit():
        eager = train(*args)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
        if jnp.issubdtype(a.dtype, jnp.floating):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(a, b)


def train_runs(cfg: GroupConfig, runs: list[Run], max_chunk: int, programs: Programs, folder):
    """The GroupResult of ``runs`` trained in chunks of at most ``max_chunk`` runs, saved in ``folder``."""
    group = group_plan(cfg, runs, max_chunk, run_sharding().n_devices, KeyParts("test"))
    return train_plan(
        Plan((group,), run_sharding().n_devices), ChunkStore(folder), programs, show_progress=False
    )[0]


@pytest.fixture(scope="module")
def trained_in_chunks(tmp_path_factory):
    """Five runs of one group trained twice in chunks of at most 2 (3 chunks of 2, the last padded) with one
    ``Programs``, and the number of group programs it compiled after the first and after both."""
    cfg = GroupConfig("mnist1d", (16,), "gelu", "momentum", 100, 8, 4)
    runs = [*make_runs(SCHEMES[:2], [0, 1]), Run(4, 0, SCHEMES[0], 2, 0.01)]
    programs = Programs()
    first = train_runs(cfg, runs, 2, programs, tmp_path_factory.mktemp("first"))
    compiled_first = programs.compilations
    second = train_runs(cfg, runs, 2, programs, tmp_path_factory.mktemp("second"))
    return cfg, runs, first, second, compiled_first, programs.compilations


def test_group_compiles_once_across_chunks_and_calls(trained_in_chunks):
    _, _, first, second, compiled_first, compiled_both = trained_in_chunks
    assert compiled_first == 1, "three chunks of one group share one compiled program"
    assert compiled_both == 1, "a second call with the same group must not compile again"
    np.testing.assert_array_equal(first.train_loss, second.train_loss)


def test_a_second_call_of_a_group_program_does_not_retrace(mnist1d_arrays):
    cfg = GroupConfig("mnist1d", (16,), "relu", "sgd", 128, 20, 5)
    program = group_program(cfg, 4000)
    inputs = group_inputs(make_runs(SCHEMES[:1], [0, 1, 2, 3]))
    jax.block_until_ready(program(*inputs, mnist1d_arrays))
    jax.block_until_ready(program(*inputs, mnist1d_arrays))
    assert program._cache_size() == 1


def test_chunking_never_changes_results(trained_in_chunks, tmp_path):
    cfg, runs, chunked, _, _, _ = trained_in_chunks  # padded last chunk
    whole = train_runs(cfg, runs, 64, Programs(), tmp_path)  # one chunk
    np.testing.assert_allclose(whole.train_loss, chunked.train_loss, rtol=1e-5)


def check_equal_chunks(n_runs: int, max_chunk: int, multiple: int) -> None:
    """What ``chunk_bounds`` promises. With ``cap`` the largest multiple of ``multiple`` not above
    ``max_chunk`` (one
    ``multiple`` if ``max_chunk`` is smaller: every device needs a run): the size is a multiple of
    ``multiple`` and at
    most ``cap`` (a memory budget or ``chunk_runs`` is never exceeded); the chunks are the fewest such chunks,
    ceil(n_runs / cap); they cover the runs in order and every chunk but the last has exactly ``size`` runs
    (the last 1 to ``size``, padded to ``size`` by ``group_plan``); and the size is the smallest multiple that
    covers the runs in that many chunks, so the padding is below one ``multiple`` per chunk."""
    size, bounds = chunk_bounds(n_runs, max_chunk, multiple)
    cap = max(max_chunk // multiple, 1) * multiple
    assert size % multiple == 0 and 0 < size <= cap
    assert len(bounds) == math.ceil(n_runs / cap), "the fewest chunks"
    assert bounds[0][0] == 0 and bounds[-1][1] == n_runs
    assert all(b[1] == c[0] for b, c in zip(bounds, bounds[1:])), "in order, no gap, no overlap"
    assert all(stop - start == size for start, stop in bounds[:-1]), "equal chunks"
    assert 0 < bounds[-1][1] - bounds[-1][0] <= size
    assert len(bounds) * size - n_runs < len(bounds) * multiple, (
        "a smaller multiple would cover the runs as well"
    )


@pytest.mark.parametrize(
    "n_runs,max_chunk,multiple",
    [
        (1, 256, 1),
        (10, 4, 2),
        (500, 256, 2),
        (7, 7, 4),
        (9, 10, 8),
        (19, 10, 8),
        (3, 1, 2),
        (256, 256, 8),
        (257, 256, 8),
    ],
)
def test_chunk_bounds_cover_runs_in_equal_chunks(n_runs, max_chunk, multiple):
    check_equal_chunks(n_runs, max_chunk, multiple)


@settings(max_examples=2000, deadline=None)
@given(n_runs=st.integers(1, 5000), max_chunk=st.integers(1, 600), multiple=st.integers(1, 64))
def test_chunk_bounds_property(n_runs, max_chunk, multiple):
    check_equal_chunks(n_runs, max_chunk, multiple)


def test_chunk_bounds_examples():
    assert chunk_bounds(10, 4, 2) == (4, [(0, 4), (4, 8), (8, 10)])
    assert chunk_bounds(500, 256, 8) == (256, [(0, 256), (256, 500)])
    assert chunk_bounds(19, 10, 8) == (8, [(0, 8), (8, 16), (16, 19)])  # not 2 chunks of 16 > 10
    assert chunk_bounds(5, 7, 4) == (4, [(0, 4), (4, 5)])  # not one chunk of 8 > 7
    assert chunk_bounds(3, 1, 2) == (
        2,
        [(0, 2), (2, 3)],
    )  # max_chunk below one multiple: chunks of one multiple


def test_group_plan_pads_each_chunk_to_its_size_with_its_last_run():
    cfg = GroupConfig("mnist1d", (16,), "tanh", "sgd", 64, 10, 5)
    runs = make_runs(SCHEMES[:1], range(11))
    group = group_plan(cfg, runs, 8, 2, KeyParts("test"), first=3)  # blocks of 4 on 2 devices: multiple 8
    assert group.chunk_size == 8 and [(c.number, c.start, c.stop) for c in group.chunks] == [
        (3, 0, 8),
        (4, 8, 11),
    ]
    assert group.chunks[0].runs == tuple(runs[:8])
    assert group.chunks[1].runs == (*runs[8:], runs[10], runs[10], runs[10], runs[10], runs[10])
    assert len({c.key for c in group.chunks}) == 2


def test_logged_steps_include_zero_every_k_and_last():
    np.testing.assert_array_equal(logged_steps(10, 5), [0, 5, 10])
    np.testing.assert_array_equal(logged_steps(11, 5), [0, 5, 10, 11])
    np.testing.assert_array_equal(logged_steps(3, 5), [0, 3])


def test_log_at_step_zero_is_before_any_update(mnist1d_arrays):
    runs = make_runs(["zeros/zeros"], [0])
    params, keys, lrs = group_inputs(runs)
    _, logs = alone(SGD)(take(params, 0), keys[0], lrs[0], mnist1d_arrays)
    np.testing.assert_allclose(logs.train_loss[0], np.log(10), rtol=1e-6)
    assert logs.train_loss.shape == (4,)  # steps 0, 10, 20, 30


def test_data_order_depends_only_on_seed(mnist1d_arrays):
    """Paired design: runs of different schemes with one seed see the same minibatches; another seed sees
    others."""
    runs = make_runs(SCHEMES, [0, 1])  # (scheme, seed) pairs in scheme-major order: seeds alternate
    params, keys, lrs = group_inputs(runs)
    perms = [
        np.asarray(alone(SGD)(take(params, k), keys[k], lrs[k], mnist1d_arrays)[0].perm)
        for k in range(len(runs))
    ]
    for k, run in enumerate(runs):  # 30 steps of batch 64, all in the first epoch: perm is its shuffled order
        np.testing.assert_array_equal(perms[k], perms[run.seed])  # runs 0 and 1 have seeds 0 and 1
    assert not np.array_equal(perms[0], perms[1])
    assert sorted(perms[0]) == list(range(4000))


def test_diverging_runs_are_recorded_not_raised(mnist1d_arrays):
    cfg = GroupConfig("mnist1d", (16,), "relu", "sgd", 128, 20, 5)
    runs = [Run(0, 0, "lecun_normal/zeros", 0, 1e4), Run(1, 0, "lecun_normal/zeros", 0, 0.01)]
    params, keys, lrs = group_inputs(runs)
    _, logs = group_program(cfg, 4000)(params, keys, lrs, mnist1d_arrays)
    assert not np.isfinite(np.asarray(logs.train_loss[0])).all()
    assert np.isfinite(np.asarray(logs.train_loss[1])).all()
