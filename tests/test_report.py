"""Report stage on synthetic results (no training): best-learning-rate view, per-axis counts, chance levels,
regression rows, labels, older results and byte-identical regeneration."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE, SCHEMES, SETTING, lr_grid_tables, run_rows, synthetic_results

from symjax.analysis.best_lr import LR_FREE_COLUMNS, best_lr_runs, choose_lrs, has_lr_grid
from symjax.analysis.tables import chance_losses, median_curves, summarize, verdict_breakdown
from symjax.report.build import build_report
from symjax.report.format import detail_table, headline_table, setting_label, setting_slug, verdict_grid
from symjax.report.sections import axis_lines, is_question_scheme, learns
from symjax.results.schema import SETTING_COLUMNS

# ---------------------------------------------------------------------------
# best learning rate per scheme
# ---------------------------------------------------------------------------


def test_choose_lrs_lowest_median_diverged_as_inf_ties_to_smaller_lr():
    runs, _ = lr_grid_tables()
    choices = choose_lrs(runs)
    assert list(choices["scheme"]) == [REFERENCE, "zeros/normal(1.0)"]  # matrix order
    assert list(choices["lr"]) == [0.1, 0.01]
    assert list(choices["loss_median"]) == [0.2, 0.3]
    assert list(choices["lrs"]) == [3, 3]
    # the choice does not depend on row order
    shuffled = choose_lrs(runs.sample(frac=1.0, random_state=0))
    assert sorted(zip(shuffled["scheme"], shuffled["lr"])) == sorted(zip(choices["scheme"], choices["lr"]))


def test_best_lr_runs_recompute_steps_against_the_reference_target():
    runs, curves = lr_grid_tables()
    assert has_lr_grid(runs) and not has_lr_grid(runs[runs["lr"] == 0.1])
    best, _ = best_lr_runs(runs, curves, REFERENCE)
    assert len(best) == 12
    ref, other = best[best["scheme"] == REFERENCE], best[best["scheme"] != REFERENCE]
    assert (ref["lr"] == 0.1).all() and (other["lr"] == 0.01).all()
    assert (best["target_loss"] == 0.5).all()  # the reference's own target at its best rate
    assert (ref["steps_to_target"] == 10).all()
    # zeros/normal at 0.01 reached its own target (1.2) at step 20, the common target (0.5) only at 30
    assert (runs.loc[runs["run_id"].isin(other["run_id"]), "steps_to_target"] == 20).all()
    assert (other["steps_to_target"] == 30).all() and other["reached"].all()
    assert str(best["steps_to_target"].dtype) == "Int64"


def test_best_lr_view_verdict_and_chosen_rates_in_the_grid():
    runs, curves = lr_grid_tables()
    best, _ = best_lr_runs(runs, curves, REFERENCE)
    summary = summarize(best, SCHEMES, REFERENCE, by=LR_FREE_COLUMNS)
    assert list(summary["lr"]) == [0.1, 0.01]
    row = summary.iloc[1]
    assert (row["speed_ratio"], row["speed_lo"], row["speed_hi"]) == (3.0, 3.0, 3.0)
    assert row["verdict"] == "slower"
    grid = verdict_grid(summary, LR_FREE_COLUMNS, REFERENCE, lr=False)
    assert "reference · lr 0.1" in grid and "slower 3.00× · lr 0.01" in grid
    assert setting_label(summary.iloc[0], lr=False) == "mnist1d · 8 · tanh · adam · batch 128"


def test_best_lr_target_never_reached_is_censored():
    curves = {
        (s, lr, seed): ([2.3, 1.0, 0.8, 0.6, 0.5] if s == REFERENCE else [2.3, 2.0, 1.9, 1.8, 1.7], False)
        for s in (REFERENCE, "zeros/normal(1.0)")
        for lr in (0.01, 0.1)
        for seed in range(6)
    }
    runs, curves = run_rows(curves, SETTING)
    best, _ = best_lr_runs(runs, curves, REFERENCE)
    other = best[best["scheme"] != REFERENCE]
    assert other["steps_to_target"].isna().all() and not other["reached"].any()
    summary = summarize(best, SCHEMES, REFERENCE, by=LR_FREE_COLUMNS)
    assert summary.iloc[1]["verdict"] == "fails"


# ---------------------------------------------------------------------------
# per-axis counts, chance levels, short answer
# ---------------------------------------------------------------------------


def _summary_rows(rows: list[tuple]) -> pd.DataFrame:
    """Hand-made summary rows (activation, hidden, scheme, verdict, loss_median, task)."""
    return pd.DataFrame(
        [
            {
                **SETTING,
                "lr": 0.01,
                "activation": a,
                "hidden": h,
                "scheme": s,
                "verdict": v,
                "loss_median": loss,
                "task": task,
                "speed_ratio": 2.0,
            }
            for a, h, s, v, loss, task in rows
        ]
    )


def test_verdict_breakdown_and_axis_tables():
    summary = _summary_rows(
        [
            ("tanh", "8", "zeros/normal(1.0)", "slower", 0.5, "classification"),
            ("tanh", "8", "constant(0.05)/normal(1.0)", "slower", 0.6, "classification"),
            ("relu", "8", "zeros/normal(1.0)", "fails", 2.3, "classification"),
            ("relu", "8,8", "zeros/normal(1.0)", "equivalent", 0.4, "classification"),
            ("relu", "8,8", REFERENCE, "reference", 0.3, "classification"),
            ("relu", "8,8", "zeros/zeros", "fails", 2.3, "classification"),
        ]
    )
    summary["learns"] = summary["loss_median"] < 2.0
    question = summary[summary["scheme"].map(is_question_scheme)]
    table = verdict_breakdown(question, "activation", ["fails", "equivalent", "slower", "faster"])
    assert list(table.index) == ["tanh", "relu"]
    assert list(table.columns) == ["pairs", "learns", "fails", "equivalent", "slower"]
    assert table.loc["tanh"].tolist() == [2, 2, 0, 0, 2]
    assert table.loc["relu"].tolist() == [2, 1, 1, 1, 0]
    text = "\n".join(axis_lines(summary))
    assert "By activation:" in text and "By hidden layers:" in text
    assert "By dataset:" not in text and "By optimizer:" not in text and "By architecture:" not in text


def test_chance_level_control_else_step0_else_mse_one():
    summary = _summary_rows(
        [
            ("tanh", "8", "zeros/zeros", "fails", 2.2, "classification"),
            (
                "tanh",
                "8",
                "zeros/normal(1.0)",
                "slower",
                2.1,
                "classification",
            ),  # 2.1 > 0.95 * 2.2: does not learn
            ("relu", "8", REFERENCE, "reference", 0.3, "classification"),
            ("relu", "8", "zeros/normal(1.0)", "slower", 2.0, "classification"),  # 2.0 <= 0.95 * 2.4: learns
            ("gelu", "8", REFERENCE, "reference", 0.3, "regression"),
            ("gelu", "8", "zeros/normal(1.0)", "slower", 0.96, "regression"),  # 0.96 > 0.95 * 1.0
        ]
    )
    start = summary[summary["scheme"] == REFERENCE][SETTING_COLUMNS].assign(
        scheme=REFERENCE, step=0, q50=[2.4, 5.0]
    )
    chance = chance_losses(summary, start, REFERENCE)
    np.testing.assert_allclose(chance, [2.2, 2.2, 2.4, 2.4, 1.0, 1.0])
    summary["learns"] = learns(summary, chance)
    assert summary["learns"].tolist() == [False, False, True, True, True, False]


def test_question_schemes_and_labels():
    assert is_question_scheme("zeros/normal(1.0)") and is_question_scheme("constant(0.05)/uniform(1.0)")
    assert is_question_scheme("zeros/normal(1.0)@last=lecun_normal/zeros")
    for scheme in (
        "lecun_normal/zeros@last=zeros/zeros",
        "zero_hadamard/zeros",
        "identity/normal(1.0)",
        "perturbed(0.01)/zeros",
        "zeros/zeros",
        "constant(0.05)/constant(0.1)",
    ):
        assert not is_question_scheme(scheme), scheme
    row = pd.Series({**SETTING, "model": "cnn", "hidden": "16,16", "lr": 0.01})
    assert setting_label(row) == "mnist1d · cnn 16,16 · tanh · adam · lr 0.01 · batch 128"
    assert setting_slug(3, row) == "setting03-mnist1d-cnn-16x16-tanh-adam-lr0.01-b128"
    mlp = pd.Series({**SETTING, "hidden": "100,100", "lr": 0.01})
    assert setting_slug(1, mlp) == "setting01-mnist1d-100x100-tanh-adam-lr0.01-b128"


# ---------------------------------------------------------------------------
# regression settings
# ---------------------------------------------------------------------------


def _regression_tables(diverge: bool = True):
    curves = {}
    for seed in range(6):
        curves[(REFERENCE, 0.01, seed)] = ([1.0, 0.5, 0.3, 0.2, 0.15 + 0.01 * seed], False)
        curves[("zeros/zeros", 0.01, seed)] = ([1.0] * 5, False)
        bad = diverge and seed == 0
        curves[("zeros/normal(1.0)", 0.01, seed)] = (
            [1.0, 0.8, np.nan, np.nan, np.nan] if bad else [1.0, 0.8, 0.5, 0.3, 0.2 + 0.01 * seed],
            bad,
        )
    return run_rows(curves, {**SETTING, "dataset": "teacher_regression"}, task="regression")


def test_regression_rows_render_na_without_warnings():
    runs, curves = _regression_tables()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = summarize(runs, SCHEMES, REFERENCE)
        quantiles = median_curves(runs, curves, "train_loss")
    assert summary["acc_median"].isna().all() and summary["acc_diff_lo"].isna().all()
    assert (summary.loc[summary["scheme"] != REFERENCE, "generalization"] == "n/a").all()
    assert summary.iloc[2]["diverged"] == pytest.approx(1 / 6)
    others = summary[summary["scheme"] != REFERENCE]
    table = headline_table(others)
    assert table.count("| n/a ") >= 2 and "nan" not in table
    detail = detail_table(summary)
    assert "final train MSE" in detail and "final test MSE" in detail and "nan" not in detail
    summary["learns"] = learns(summary, chance_losses(summary, quantiles, REFERENCE))
    assert summary["learns"].tolist() == [False, True, True]  # the control sits at chance (MSE 1)


# ---------------------------------------------------------------------------
# whole report from a results folder
# ---------------------------------------------------------------------------


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_report_from_results_is_byte_identical_and_structured(tmp_path):
    folder = synthetic_results(tmp_path / "results")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        first = build_report(folder, tmp_path / "a")
    build_report(folder, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    text = first.read_text()
    headings = [
        "## In short",
        "## Answer",
        "### 1. Is symmetry broken?",
        "### 2. Is it as fast, at tuned rates?",
        "### 3. Does it end as good, given enough steps?",
        "## Definitions",
        "## Verdicts at a glance",
        "## Each scheme at its own best learning rate",
        "## Does the answer change with the setting?",
        "## Across settings",
        "## Mechanism",
        "## Setup",
        "## Appendix",
        "### Verdicts with confidence intervals",
        "### Time to target as censored data",
        "### Per setting",
    ]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert (
        "**Short answer:** is symmetry broken? **Yes** (it learns in 2 of 2 (setting, scheme) pairs). Is it "
        "as fast as random W with zero b, at tuned rates? **No** (slower in 2 of 2). Does it end as good "
        "given enough steps? **No** (as good in 0 of 2)."
    ) in text
    assert (
        "With every scheme at its own best learning rate from a grid of 2 rates, against the reference "
        "`lecun_normal/zeros` the verdict is **slower** in 2 of 2 (setting, scheme) pairs"
    ) in text
    assert (
        "at the edge of the grid" in text
        and "after 40 steps" in text
        and "synthetic/verdict_map.png" in _digest(tmp_path / "a")
    )
    assert "teacher_regression · cnn 4,4 · tanh · adam · lr 0.1 · batch 128" in text
    assert "reference · lr 0.1" in text and "By learning rate:" in text and "By dataset:" in text
    assert (
        "- `zeros/normal(1.0)`: slower in 2 of 2 settings; learning rate chosen: 0.1 in 2 settings." in text
    )
    assert "Target MSE" in text and "final train MSE" in text and " nan" not in text and "nan%" not in text
    assert "synthetic/setting04-teacher_regression-cnn-4x4-tanh-adam-lr0.1-b128.png" in _digest(
        tmp_path / "a"
    )
    assert "[synthetic](synthetic.md)" in (tmp_path / "a" / "README.md").read_text()


def test_report_reads_results_without_model_and_task_columns(tmp_path):
    folder = synthetic_results(tmp_path / "results", legacy=True)
    text = build_report(folder, tmp_path / "out").read_text()
    assert (
        "mnist1d · 8 · tanh · adam · lr 0.01 · batch 128" in text and "mlp" not in text.split("## Setup")[0]
    )
    assert "## Each scheme at its own best learning rate" not in text  # one rate per setting: no best-lr view
    assert "**Short answer:**" in text and "MSE" not in text
