"""Memory-aware chunking: sizes, the per-run estimate against XLA's memory analysis, budgets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symjax.cli import main
from symjax.core.data import load_dataset
from symjax.core.group import GroupConfig, Run
from symjax.core.models import weight_shapes
from symjax.core.train import Arrays
from symjax.engine.devices import run_sharding
from symjax.engine.memory import chunk_bytes, chunk_limit, default_budget, parse_size, xla_bytes_per_run
from symjax.engine.plan import KeyParts, group_plan
from symjax.engine.program import group_program
from symjax.matrix.spec import ConfigError
from symjax.results.store import load_results


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1000", 1000),
        ("8GiB", 8 * 2**30),
        ("500MB", 500 * 10**6),
        ("2g", 2 * 2**30),
        ("1.5 KiB", 1536),
        ("64k", 65536),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "0", "-1GB", "3x", "GB", "1e9", "8 GiBs"])
def test_parse_size_rejects_with_what_is_allowed(text):
    with pytest.raises(ValueError, match="allowed: a positive number"):
        parse_size(text)


def test_default_budget_is_positive_and_below_the_machine():
    pages = __import__("os").sysconf("SC_PHYS_PAGES") * __import__("os").sysconf("SC_PAGE_SIZE")
    assert 0 < default_budget() < pages


@pytest.mark.parametrize(
    "cfg",
    [
        GroupConfig("mnist1d", (16,), "relu", "adam", 64, 40, 10),
        GroupConfig("digits", (32, 32), "tanh", "sgd", None, 40, 20),  # full batch
        GroupConfig("mnist1d", (4, 4), "tanh", "momentum", 32, 40, 10, model="cnn"),
    ],
)
@pytest.mark.parametrize("runs_per_device", [8, 64])
def test_estimate_is_above_xla_memory_analysis_and_not_far(cfg, runs_per_device):
    """chunk_bytes >= what XLA allocates (temporaries + inputs + outputs), and within 3x of it."""
    data = load_dataset(cfg.dataset)
    run_sharded, replicated, n_devices = run_sharding()
    n = runs_per_device * n_devices
    shapes = weight_shapes(cfg.model, data.x_train.shape[1], cfg.hidden, data.n_outputs)
    params = [
        {
            "w": jax.ShapeDtypeStruct((n, *s), jnp.float32, sharding=run_sharded),
            "b": jax.ShapeDtypeStruct((n, s[-1]), jnp.float32, sharding=run_sharded),
        }
        for s in shapes
    ]
    keys = jax.ShapeDtypeStruct((n,), jax.random.key(0).dtype, sharding=run_sharded)
    lrs = jax.ShapeDtypeStruct((n,), jnp.float32, sharding=run_sharded)
    arrays = jax.device_put(Arrays(*data[:4]), replicated)
    measured = xla_bytes_per_run(
        group_program(cfg, len(data.y_train)).lower(params, keys, lrs, arrays).compile(),
        arrays,
        n // n_devices,
    )
    if measured is None:
        pytest.skip("this backend gives no memory analysis")
    per_run, estimate = measured[0], chunk_bytes(cfg, n, n_devices) / n
    assert per_run <= estimate <= 3 * per_run


def test_transformer_estimate_counts_its_tokens_and_is_above_xla():
    """The transformer's activations act at every token: the estimate stays above XLA's analysis (it was
    below it when the token axis was left out) and within 3x of it."""
    from symjax.engine.program import Programs

    cfg = GroupConfig("mnist1d", (16, 16), "relu", "adam", 32, 40, 10, model="transformer")
    data = load_dataset(cfg.dataset)
    _, replicated, n_devices = run_sharding()
    n = 8 * n_devices
    shapes = weight_shapes(cfg.model, data.x_train.shape[1], cfg.hidden, data.n_outputs)
    inputs = Programs().chunk_inputs([Run(i, 0, "lecun_normal/zeros", i, 0.01) for i in range(n)], shapes)
    arrays = jax.device_put(Arrays(*data[:4]), replicated)
    measured = xla_bytes_per_run(
        group_program(cfg, len(data.y_train)).lower(*inputs, arrays).compile(), arrays, n // n_devices
    )
    if measured is None:
        pytest.skip("this backend gives no memory analysis")
    per_run, estimate = measured[0], chunk_bytes(cfg, n, n_devices) / n
    assert per_run <= estimate <= 3 * per_run


def test_donated_inputs_that_outputs_reuse_are_counted_once():
    x = jnp.zeros((4, 1000), jnp.float32)  # 4 runs of 4000 bytes; the output reuses the donated input
    compiled = jax.jit(lambda v: v * 2, donate_argnums=0).lower(x).compile()
    memory = compiled.memory_analysis()
    if memory is None:
        pytest.skip("this backend gives no memory analysis")
    assert memory.alias_size_in_bytes == x.nbytes
    assert xla_bytes_per_run(compiled, (), 4)[0] == (memory.temp_size_in_bytes + x.nbytes) / 4


def test_chunk_limit_fits_the_budget():
    cfg = GroupConfig("mnist1d", (100, 100), "tanh", "adam", 128, 1000, 25)
    assert chunk_limit(cfg, 256, None, 2) == 256
    assert chunk_limit(cfg, 256, 10**12, 2) == 256
    limited = chunk_limit(cfg, 256, 50 * 2**20, 2)
    assert limited % 2 == 0 and 2 <= limited < 256 and chunk_bytes(cfg, limited, 2) <= 50 * 2**20
    assert chunk_bytes(cfg, limited + 2, 2) > 50 * 2**20  # the most that fit
    with pytest.raises(ConfigError, match="--max-memory .* is too small"):
        chunk_limit(cfg, 256, 1000, 2)


@settings(max_examples=300, deadline=None)
@given(
    fit=st.integers(1, 40),
    n_runs=st.integers(1, 100),
    n_devices=st.sampled_from([1, 2, 4]),
    chunk_runs=st.integers(1, 300),
)
def test_every_planned_chunk_fits_the_budget_and_chunk_runs(fit, n_runs, n_devices, chunk_runs):
    """The chunk size the plan trains (padding included) stays within the memory budget and within chunk_runs
    (unless chunk_runs is below the device count: every device trains at least one run)."""
    cfg = GroupConfig("mnist1d", (16,), "tanh", "adam", 64, 60, 20)
    runs = [Run(i, 0, "lecun_normal/zeros", i, 0.01) for i in range(n_runs)]
    # room for fit runs per device, not one more
    budget = int(chunk_bytes(cfg, fit * n_devices, n_devices)) + 1
    size = group_plan(
        cfg, runs, chunk_limit(cfg, 256, budget, n_devices), n_devices, KeyParts("test")
    ).chunk_size
    assert chunk_bytes(cfg, size, n_devices) <= budget, f"a chunk of {size} runs"
    size = group_plan(
        cfg, runs, chunk_limit(cfg, chunk_runs, None, n_devices), n_devices, KeyParts("test")
    ).chunk_size
    assert size <= max(chunk_runs, n_devices)


def test_budget_too_small_fails_cleanly_before_any_file(tmp_path, capsys):
    folder = tmp_path / "results"
    assert main(["run", "--matrix", "smoke", "--out", str(folder), "--max-memory", "10KB", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("symjax: error: --max-memory") and "\n" not in err
    assert not folder.exists()
    assert main(["run", "--matrix", "smoke", "--max-memory", "lots", "--dry-run"]) == 2


def test_a_budget_that_splits_groups_into_more_chunks_gives_the_same_results(tmp_path, capsys):
    """The smoke matrix in one chunk per group, then with a budget of a few runs per chunk."""
    args = [
        "run",
        "--matrix",
        "smoke",
        "--quiet",
        "--steps",
        "20",
        "--log-every",
        "10",
        "--activation",
        "tanh",
    ]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    cfg = GroupConfig("mnist1d", (16,), "tanh", "adam", 64, 20, 10)
    budget = int(chunk_bytes(cfg, 4, 2) + 1)  # 4 runs per chunk on 2 devices
    assert main([*args, "--out", str(tmp_path / "split"), "--max-memory", str(budget)]) == 0
    whole, split = load_results(tmp_path / "whole"), load_results(tmp_path / "split")
    assert split.config["timing"]["max_memory_bytes"] == budget
    for name in ("runs", "curves"):
        pd.testing.assert_frame_equal(getattr(whole, name), getattr(split, name), rtol=1e-5, atol=1e-6)
    capsys.readouterr()
