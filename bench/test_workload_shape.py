"""The shape both sides of the benchmark share: symjax's own layer sizes, and imports that flow one way
(``workload`` -> ``torch_peers`` -> ``workload_shape``; ``workload_shape`` imports none of them)."""

from __future__ import annotations

import ast
from pathlib import Path

from workload_shape import (
    BATCH_SIZE,
    CNN_HIDDEN,
    CNN_LENGTHS,
    CNN_MODEL,
    CNN_SHAPES,
    DATASET,
    HIDDEN,
    SIZES,
    cnn_flops_per_run_step,
    flops_per_run_step,
)

from symjax.core.data import load_dataset
from symjax.core.models import layer_sizes, output_lengths, weight_shapes
from symjax.engine.estimate import _forward_macs

BENCH = Path(__file__).parent


def imported(module: str) -> set[str]:
    """Top-level names of the modules a bench file imports anywhere (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse((BENCH / f"{module}.py").read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_the_shared_sizes_are_symjaxs():
    data = load_dataset(DATASET)
    assert SIZES == tuple(layer_sizes(data.x_train.shape[1], HIDDEN, data.n_outputs))
    assert flops_per_run_step() == 6 * BATCH_SIZE * sum(a * b for a, b in SIZES) == 11_520_000


def test_the_cnn_case_is_symjaxs_cnn_paper():
    data = load_dataset(DATASET)
    shapes = weight_shapes(CNN_MODEL, data.x_train.shape[1], CNN_HIDDEN, data.n_outputs)
    assert CNN_SHAPES == tuple(shapes)
    assert CNN_LENGTHS == tuple(output_lengths(shapes, data.x_train.shape[1]))
    # the FLOP count is the estimate's (symjax run --dry-run) multiply-adds per example, x 6 x batch 100
    assert cnn_flops_per_run_step() == 6 * 100 * _forward_macs(shapes, 40) == 19_125_000


def test_imports_flow_one_way():
    assert not imported("workload_shape") & {"workload", "torch_peers", "jax", "torch", "symjax"}
    assert "workload" not in imported("torch_peers"), (
        "torch_peers.py imports workload.py, which imports it: a cycle"
    )
    assert {"workload_shape", "torch_peers"} <= imported("workload")
    assert "workload" not in imported("torch_cnn_peers") and "torch_cnn_peers" in imported("workload")
