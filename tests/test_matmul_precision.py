"""The matmul_precision axis: the precision reaches the compiled program, changes nothing on a CPU, a bad
value is refused, and the runs record it (results written before it read as "highest")."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import assert_usage_error, run_cli

from symjax.core.group import MATMUL_PRECISIONS, GroupConfig
from symjax.core.models import weight_shapes
from symjax.core.train import as_dtype, precision
from symjax.engine.devices import run_sharding
from symjax.engine.program import Programs, group_program
from symjax.experiments.controls import dataset_arrays
from symjax.matrix.load import load_matrix
from symjax.results.store import load_results, matrix_digest

ROOT = Path(__file__).resolve().parents[1]


def lowered_group(matmul_precision: str, dtype: str = "float32"):
    """The lowered group program of xor, one hidden layer of 4, 5 full-batch steps, two runs."""
    from symjax.core.group import Run

    cfg = GroupConfig("xor", (4,), "tanh", "adam", None, 5, 5, dtype=dtype, matmul_precision=matmul_precision)
    arrays = dataset_arrays("xor")
    shapes = weight_shapes(cfg.model, arrays.x_train.shape[1], cfg.hidden, 2)
    sharding = run_sharding()
    chunk = [Run(i, 0, "lecun_normal/zeros", i % 2, 0.1) for i in range(2 * sharding.n_devices)]
    with precision(dtype):
        inputs = Programs().chunk_inputs(chunk, shapes, dtype)
        data = jax.device_put(as_dtype(arrays, dtype), sharding.shared)
        return group_program(cfg, len(arrays.y_train)).lower(*inputs, data)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_precision_is_every_product_of_the_compiled_program(dtype):
    """StableHLO: every dot_general at precision [HIGHEST, HIGHEST] under "highest", [DEFAULT, DEFAULT] under
    "default"; the compiled HLO keeps operand_precision={highest,highest} on every dot, and none under
    "default" (XLA prints no precision config at DEFAULT)."""
    for value in MATMUL_PRECISIONS:
        lowered = lowered_group(value, dtype)
        products = re.findall(r"stablehlo\.(?:dot_general|convolution).*", lowered.as_text())
        assert len(products) >= 4, value  # forward and backward products of both layers, the evaluations
        word = value.upper()
        assert all(f"precision = [{word}, {word}]" in p for p in products), (value, products[:2])
        with precision(dtype):
            compiled = lowered.compile().as_text()
        dots = [line for line in compiled.splitlines() if re.search(r"= \S+ (dot|convolution)\(", line)]
        assert dots, value
        highest = [line for line in dots if "operand_precision={highest,highest}" in line]
        assert len(highest) == (len(dots) if value == "highest" else 0), (value, dots[:2])


def tiny(**changes):
    return dataclasses.replace(load_matrix("smoke"), seeds=1, steps=20, log_every=10, **changes)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU computes float32 products alike")
def test_on_a_cpu_both_precisions_train_bitwise_alike_and_the_runs_record_it(tmp_path):
    from symjax.api import run_matrix
    from symjax.report.format import setting_label

    matrix = tiny(matmul_precisions=("highest", "default"))
    assert {g.matmul_precision for g in matrix.groups()} == set(MATMUL_PRECISIONS)
    assert len(matrix.groups()) == 2 * len(tiny().groups())
    loaded = load_results(run_matrix(matrix, tmp_path / "r", show_progress=False))
    runs, curves = loaded.runs, loaded.curves
    assert list(runs.columns[runs.columns.get_loc("norm") :][:2]) == ["norm", "matmul_precision"]
    assert set(runs["matmul_precision"]) == set(MATMUL_PRECISIONS)
    key = ["dataset", "model", "hidden", "activation", "optimizer", "lr", "batch_size", "scheme", "seed"]
    high, default = (runs[runs["matmul_precision"] == v].sort_values(key) for v in MATMUL_PRECISIONS)
    assert len(high) == len(default) > 0
    for column in ("final_train_loss", "final_test_loss", "final_test_acc"):
        assert np.array_equal(high[column].to_numpy(), default[column].to_numpy()), column  # bitwise
    by_run = curves.set_index("run_id")
    for a, b in zip(high["run_id"], default["run_id"]):
        assert np.array_equal(by_run.loc[a, "train_loss"].to_numpy(), by_run.loc[b, "train_loss"].to_numpy())
    labels = {setting_label(row): row["matmul_precision"] for _, row in runs.iterrows()}
    assert all(label.endswith(" · default") == (v == "default") for label, v in labels.items())
    assert not any("highest" in label for label in labels)
    assert matrix_digest(matrix.to_dict()) != matrix_digest(tiny().to_dict())


def test_the_flag_and_the_toml_key_set_the_axis(tmp_path):
    from symjax.cli import build_parser, matrix_from_args

    args = build_parser().parse_args(["run", "--matrix", "smoke", "--matmul-precision", "default"])
    assert matrix_from_args(args).matmul_precisions == ("default",)
    assert load_matrix("smoke").matmul_precisions == ("highest",)
    (tmp_path / "m.toml").write_text('name = "m"\nmatmul_precision = ["highest", "default"]\n')
    assert load_matrix(str(tmp_path / "m.toml")).matmul_precisions == ("highest", "default")


@pytest.mark.parametrize("how", ["flag", "toml"])
def test_a_bad_precision_is_one_line_exit_2_and_no_files(capsys, tmp_path, how):
    out = tmp_path / "r"
    if how == "flag":
        flags = ["--matmul-precision", "tf32"]
    else:
        (tmp_path / "m.toml").write_text('name = "m"\nmatmul_precision = ["highest", "tf32"]\n')
        flags = ["--matrix", tmp_path / "m.toml"]
    result = run_cli(
        capsys, ["run", "--out", out, "--steps", "2", "--log-every", "1", "--seeds", "1", *flags]
    )
    assert_usage_error(result, "matmul_precision", "tf32", "highest, default", folder=out)


def test_results_written_before_the_axis_read_as_highest():
    """results/paper, format 7: trained on a CPU before the key existed; its runs read as "highest", its
    matrix is still the built-in paper matrix."""
    import json

    from symjax.results.store import same_matrix

    assert json.loads((ROOT / "results" / "paper" / "config.json").read_text())["format_version"] == 7
    loaded = load_results(ROOT / "results" / "paper")
    assert set(loaded.runs["matmul_precision"]) == {"highest"}
    assert "matmul_precisions" not in loaded.config["matrix"]
    manifest = json.loads((ROOT / "results" / "paper" / "manifest.json").read_text())
    assert same_matrix(manifest, load_matrix("paper").to_dict())
    assert not same_matrix(
        manifest, dataclasses.replace(load_matrix("paper"), matmul_precisions=("default",)).to_dict()
    )
