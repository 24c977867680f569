"""Question 2 in depth (issue 22): speed across the loss range, time to target as censored data, matched-bias
controls, and the verdict rules that use intervals (Wilson for "fails", too few runs, the resolution
limit)."""

from __future__ import annotations

import helpers
import numpy as np
import pandas as pd
import pytest

from symjax.analysis import speed, stats, survival
from symjax.analysis.tables import summarize

REFERENCE = "lecun_normal/zeros"
SETTING = {**helpers.SETTING, "lr": 0.01, "steps": 100}
STEPS = np.arange(0, 101, 10)


def _tables(curves_by_run: dict, target: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curves) from {(scheme, seed): losses (11,)}, with steps to a fixed target."""
    runs, curves = [], []
    for run_id, ((scheme, seed), losses) in enumerate(curves_by_run.items()):
        losses = np.asarray(losses, np.float64)
        below = np.flatnonzero(losses <= target)
        runs.append(
            {
                "run_id": run_id,
                **SETTING,
                "task": "classification",
                "scheme": scheme,
                "seed": seed,
                "final_train_loss": losses[-1],
                "final_test_loss": losses[-1],
                "final_test_acc": 1 - losses[-1] / 3,
                "diverged": False,
                "train_loss_auc": losses.mean(),
                "target_loss": target,
                "steps_to_target": STEPS[below[0]] if len(below) else None,
            }
        )
        curves += [
            {"run_id": run_id, "step": s, "train_loss": l, "test_loss": l, "test_acc": 1 - l / 3}
            for s, l in zip(STEPS, losses)
        ]
    runs = pd.DataFrame(runs)
    runs["steps_to_target"] = runs["steps_to_target"].astype("Int64")
    runs["reached"] = runs["steps_to_target"].notna()
    return runs, pd.DataFrame(curves)


def _decay(rate: float) -> np.ndarray:
    return 2.0 * np.exp(-rate * STEPS / 10)


def test_loss_range_ratio_follows_a_gap_that_closes():
    """A scheme twice as slow early and as fast late: its ratio falls along the loss drop."""
    rng = np.random.default_rng(0)
    curves = {}
    for seed in range(10):
        jitter = rng.uniform(0.95, 1.05)
        curves[(REFERENCE, seed)] = _decay(0.5 * jitter)
        # half the reference's rate for the first 4 logs, then catches up to the same final loss
        slow = 2.0 * np.exp(-0.25 * jitter * STEPS / 10)
        curves[("zeros/normal(1.0)", seed)] = np.minimum(
            slow, np.where(STEPS >= 60, _decay(0.5 * jitter), np.inf)
        )
    runs, table = _tables(curves, 1.0)
    rows = speed.loss_range_table(runs, table, [REFERENCE, "zeros/normal(1.0)"], REFERENCE, list(SETTING))
    assert list(rows["fraction"]) == list(survival.LOSS_DROP_FRACTIONS)
    # the first 10%: both within the first log (the log cannot tell them apart)
    assert rows["ratio"].iloc[0] == 1.0
    assert rows["ratio"].iloc[2] == pytest.approx(1.5)  # half the drop: steps 30 against 20
    assert rows["ratio"].iloc[-1] == pytest.approx(1.2)  # 90%: 60 against 50, the gap closes
    assert (rows["lo"] <= rows["ratio"]).all() and (rows["ratio"] <= rows["hi"]).all()
    reference_median = np.median(np.stack([c for (s, _), c in curves.items() if s == REFERENCE]), axis=0)
    drop = reference_median[0] - reference_median[-1]
    assert rows["target"].iloc[2] == pytest.approx(reference_median[0] - 0.5 * drop)


def test_censored_table_uses_the_horizon_and_pairs():
    curves = {}
    for seed in range(8):
        curves[(REFERENCE, seed)] = _decay(0.5)  # reaches 1.0 at step 20
        # step 30; 2 never
        curves[("zeros/normal(1.0)", seed)] = _decay(0.25) if seed < 6 else np.full(11, 2.0)
    runs, _ = _tables(curves, 1.0)
    table = speed.censored_table(
        runs, [REFERENCE, "zeros/normal(1.0)"], REFERENCE, list(SETTING), log_every=10
    )
    ref, scheme = table.iloc[0], table.iloc[1]
    assert ref["rmst"] == 20 and ref["resolution"] == pytest.approx(10 / 20)
    assert scheme["rmst"] == pytest.approx((6 * 30 + 2 * 100) / 8)  # censored runs count as the horizon
    assert scheme["reached"] == 0.75 and scheme["reached_lo"] < 0.75 < scheme["reached_hi"]
    assert scheme["hl_ratio"] == pytest.approx(1.5) and scheme["hl_pairs"] == 6
    assert scheme["rmst_ratio"] == pytest.approx(scheme["rmst"] / 20)


def test_matched_control_splits_the_gap():
    rng = np.random.default_rng(1)
    curves = {}
    for seed in range(12):
        j = rng.uniform(0.97, 1.03)
        curves[(REFERENCE, seed)] = _decay(0.8 * j)
        curves[("lecun_normal/normal(1.0)", seed)] = _decay(0.4 * j)  # the bias alone: 2x
        curves[("zeros/normal(1.0)", seed)] = _decay(0.2 * j)  # zero W on top: 2x more
    runs, _ = _tables(curves, 1.0)
    schemes = [REFERENCE, "zeros/normal(1.0)", "lecun_normal/normal(1.0)"]
    table = speed.matched_table(runs, schemes, REFERENCE, list(SETTING))
    assert len(table) == 1 and table["control"].iloc[0] == "lecun_normal/normal(1.0)"
    row = table.iloc[0]
    assert row["bias"] > 1 and row["zero_w"] > 1
    assert row["total"] == pytest.approx(row["bias"] * row["zero_w"], rel=0.35)
    assert speed.matched_table(
        runs[runs["scheme"] != "lecun_normal/normal(1.0)"], schemes, REFERENCE, list(SETTING)
    ).empty


def test_matched_control_names():
    assert speed.matched_control("zeros/normal(0.1)") == "lecun_normal/normal(0.1)"
    assert speed.matched_control("constant(0.05)/normal(1.0)") == "lecun_normal/normal(1.0)"
    assert speed.matched_control("lecun_normal/zeros") is None
    assert speed.matched_control("zeros/normal(1.0)@1=zeros/zeros") is None


def test_fails_needs_the_wilson_interval_below_one_half():
    # 4 of 10 reach: the point is below 1/2 but the interval is not: not "fails"
    low, high = survival.reached_ci(np.arange(10) < 4)[1:]
    assert low < 0.5 < high
    assert (
        stats.equivalence_verdict(0.4, 2.0, np.inf, 0.1, 0.2, reached_hi=high, n=10, ratio=np.inf) != "fails"
    )
    assert stats.equivalence_verdict(0.0, np.inf, np.inf, 0.1, 0.2, reached_hi=0.28, n=10) == "fails"


def test_infinite_ratio_is_not_slower_and_small_n_has_no_verdict():
    assert (
        stats.equivalence_verdict(0.5, 2.0, np.inf, 0.1, 0.2, reached_hi=0.7, n=10, ratio=np.inf) == "worse"
    )
    assert (
        stats.equivalence_verdict(0.5, 2.0, np.inf, -0.1, 0.2, reached_hi=0.7, n=10, ratio=np.inf)
        == "inconclusive"
    )
    assert stats.equivalence_verdict(1.0, 2.0, 3.0, 0.0, 0.0, n=5) == "too few runs"
    assert stats.equivalence_verdict(1.0, 2.0, 3.0, 0.0, 0.0, n=6) == "slower"


def test_equivalent_is_refused_when_the_logs_cannot_resolve_the_band():
    args = (1.0, 0.9, 1.1, 0.0, 0.0)
    assert stats.equivalence_verdict(*args, resolution=stats.SPEED_MARGIN / 2) == "equivalent"
    assert stats.equivalence_verdict(*args, resolution=stats.SPEED_MARGIN / 2 + 0.01) == "inconclusive"


def test_summarize_refuses_equivalent_with_coarse_logs():
    curves = {}
    for seed in range(8):
        curves[(REFERENCE, seed)] = _decay(0.5 + 0.01 * seed)
        curves[("zeros/normal(1.0)", seed)] = _decay(0.5 + 0.01 * seed)
    runs, _ = _tables(curves, 1.0)
    schemes = [REFERENCE, "zeros/normal(1.0)"]
    fine = summarize(runs, schemes, REFERENCE, log_every=1)
    coarse = summarize(runs, schemes, REFERENCE, log_every=10)  # 10 steps of a 20-step time to target: 50%
    assert fine["verdict"].iloc[1] == "equivalent"
    assert coarse["verdict"].iloc[1] == "inconclusive" and coarse["resolution"].iloc[1] == pytest.approx(0.5)


def test_log_interval_is_the_common_gap():
    assert speed.log_interval(pd.DataFrame({"step": [0, 25, 50, 75, 100, 110]})) == 25
    assert np.isnan(speed.log_interval(pd.DataFrame({"step": [0]})))
