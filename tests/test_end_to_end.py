"""End to end on the smoke matrix: files and columns, metrics, report determinism, Python API."""

import hashlib
import json

import numpy as np
import pandas as pd

import symjax
import symjax.analysis.stats
from symjax.cli import main

RUN_COLUMNS = [
    "run_id",
    "dataset",
    "model",
    "task",
    "hidden",
    "activation",
    "optimizer",
    "lr",
    "batch_size",
    "steps",
    "dtype",
    "schedule",
    "norm",
    "matmul_precision",
    "scheme",
    "seed",
    "final_train_loss",
    "final_test_loss",
    "final_test_acc",
    "target_loss",
    "steps_to_target",
    "late_target_loss",
    "steps_to_late_target",
    "reached",
    "reached_late_target",
    "diverged",
    "diverged_step",
    "train_loss_auc",
]


def test_results_files_and_columns(smoke_results):
    runs = pd.read_parquet(smoke_results / "runs.parquet")
    curves = pd.read_parquet(smoke_results / "curves.parquet")
    config = json.loads((smoke_results / "config.json").read_text())
    assert list(runs.columns) == RUN_COLUMNS
    assert list(curves.columns) == ["run_id", "step", "train_loss", "test_loss", "test_acc"]
    matrix = config["matrix"]
    assert len(runs) == len(matrix["schemes"]) * matrix["seeds"] * len(matrix["activations"])
    assert runs["run_id"].is_unique
    assert sorted(curves["step"].unique()) == [0, 20, 40, 60]
    diagnostics = pd.read_parquet(smoke_results / "diagnostics.parquet")
    assert list(diagnostics.columns) == [
        "run_id",
        "step",
        "layer",
        "rank",
        "effective_rank",
        "distinct_units",
        "mean_abs_cos",
        "dead_fraction",
        "grad_norm",
        "first_grad_step",
    ]
    assert len(diagnostics) == len(curves) * 2  # one hidden layer + readout
    assert set(runs["scheme"]) == set(matrix["schemes"])
    assert not runs["diverged"].any()
    control = runs[runs["scheme"] == "zeros/zeros"]
    np.testing.assert_allclose(control["final_train_loss"], np.log(10), atol=0.01)


def test_steps_to_target_is_first_logged_step_at_or_below_target(smoke_results):
    runs = pd.read_parquet(smoke_results / "runs.parquet")
    curves = pd.read_parquet(smoke_results / "curves.parquet")
    for _, run in runs.iterrows():
        curve = curves[curves["run_id"] == run["run_id"]].sort_values("step")
        below = curve[curve["train_loss"] <= run["target_loss"]]
        if below.empty:
            assert pd.isna(run["steps_to_target"]) and not run["reached"]
        else:
            assert run["steps_to_target"] == below["step"].iloc[0] and run["reached"]
    control = runs[runs["scheme"] == "zeros/zeros"]
    assert not control["reached"].any(), "the negative control never reaches a target below ln 10"


def digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_report_is_byte_identical_when_regenerated(smoke_results, tmp_path):
    assert main(["report", "--results", str(smoke_results), "--out", str(tmp_path / "a")]) == 0
    assert main(["report", "--results", str(smoke_results), "--out", str(tmp_path / "b")]) == 0
    first, second = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert "smoke.md" in first and any(name.endswith(".png") for name in first)
    assert first == second
    text = (tmp_path / "a" / "smoke.md").read_text()
    for heading in [
        "## Answer",
        "**Short answer:**",
        "## Mechanism",
        "## Setup",
        "## Per setting",
        "zeros/normal(1.0)",
        "lecun_normal/zeros",
        "first gradient at update",
        "performance_profile.png",
    ]:
        assert heading in text
    assert "smoke/performance_profile.png" in first
    assert "[smoke](smoke.md)" in (tmp_path / "a" / "README.md").read_text()


def test_python_api_matches_cli(smoke_results, tmp_path, assert_same_results):
    """symjax.run_matrix on the smoke matrix writes what `symjax run --matrix smoke` wrote (``smoke_results``,
    the CLI run in this process): the same files, equal tables, equal config.json but for the measured
    timing."""
    matrix = symjax.load_matrix("smoke")
    folder = symjax.run_matrix(matrix, tmp_path / "api", show_progress=False)
    assert folder == tmp_path / "api"
    assert_same_results(smoke_results, folder)
    assert symjax.load_results(folder).config["matrix"] == json.loads(json.dumps(matrix.to_dict()))


def test_python_api_summarizes_the_cli_results(smoke_results):
    results = symjax.load_results(smoke_results)
    matrix = results.config["matrix"]
    summary = symjax.summarize(results.runs, matrix["schemes"], matrix["reference"])
    assert len(summary) == len(matrix["schemes"]) * len(matrix["activations"])
    reference = summary[summary["scheme"] == matrix["reference"]]
    assert (reference["verdict"] == "reference").all()
    assert {
        "speed_ratio",
        "speed_lo",
        "speed_hi",
        "steps_median",
        "loss_iqm",
        "acc_lo",
        "loss_diff_lo",
        "acc_diff_hi",
        "p_faster",
        "auc_median",
        "generalization",
    } <= set(summary.columns)
    others = summary[summary["scheme"] != matrix["reference"]]
    assert set(others["verdict"]) <= set(symjax.analysis.stats.VERDICT_RULES)
