"""Matched-bias controls in the bias-scale and width sweeps: the gap of zero (or constant) W to the reference
splits into the cost of the W (scheme against ``lecun_normal/normal(σ)``, paired by seed) and the cost of the
bias scale (``lecun_normal/normal(σ)`` against ``lecun_normal/zeros``); results without the controls report as
before."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE, SETTING, STEPS, run_rows

from symjax.analysis.sweeps import (
    bias_scale_of,
    control_rows,
    control_splits,
    matched_control,
    scale_of,
    width_pairs,
)
from symjax.analysis.tables import summarize
from symjax.report.format import fmt_ratio
from symjax.report.sweeps import sweep_lines
from symjax.results.schema import SETTING_COLUMNS

NEVER = None  # a run that never reaches the target
# Steps to target per seed (6 seeds); the reference's target is its median loss at step 10 (1.6 here: three of
# its
# six runs are at 0.9 there, three at 2.3), which a curve reaches exactly at its step.
REF_STEPS = [10, 10, 10, 20, 20, 20]  # median 15
SWEEP = {  # hidden 100: the bias and constant sweeps with their controls
    REFERENCE: REF_STEPS,
    "zeros/zeros": [NEVER] * 6,
    "zeros/normal(0.01)": [30] * 6,  # median 30
    "zeros/normal(0.3)": [20, 20, 20, 30, 30, 30],  # 25
    "zeros/normal(1.0)": [30, 30, 40, 40, 40, 40],  # 40
    "zeros/normal(3.0)": [40, 40, 40, 40, 40, 40],  # 40
    "lecun_normal/normal(0.01)": REF_STEPS,  # 15
    "lecun_normal/normal(0.3)": [10, 10, 20, 20, 20, 20],  # 20
    "lecun_normal/normal(1.0)": [20, 20, 20, 20, 30, 30],  # 20
    "lecun_normal/normal(3.0)": [30, 30, 30, 40, 40, 40],  # 35
    "constant(0.01)/normal(1.0)": [20, 20, 20, 30, 30, 30],  # 25
    "constant(0.05)/normal(1.0)": [30] * 6,  # 30
    "constant(0.2)/normal(1.0)": [40] * 6,  # 40
    "constant(1.0)/normal(1.0)": [NEVER] * 6,
}
WIDTHS = {  # one hidden layer of H: the reference, zeros/normal(1.0) and its matched control
    "32": {
        REFERENCE: REF_STEPS,
        "zeros/normal(1.0)": [40] * 6,
        "lecun_normal/normal(1.0)": [20, 20, 20, 20, 30, 30],
    },
    "64": {
        REFERENCE: REF_STEPS,
        "zeros/normal(1.0)": [20, 20, 20, 30, 30, 30],
        "lecun_normal/normal(1.0)": [10, 20, 20, 20, 20, 30],
    },
    "128": {
        REFERENCE: REF_STEPS,
        "zeros/normal(1.0)": [30, 30, 30, 30, 40, 40],
        "lecun_normal/normal(1.0)": REF_STEPS,
    },
}


def _losses(step):
    """A training-loss curve that is 2.3 before ``step`` and at most 0.9 from it on (flat 2.3: never)."""
    if step is None:
        return np.full(len(STEPS), 2.3)
    return np.where(STEPS < step, 2.3, 0.9 - 0.01 * (STEPS - step) / 10)


def _tables(controls: bool = True):
    """(runs, curves) of the sweeps above, one setting per hidden width; without ``controls`` the
    ``lecun_normal/normal(σ)`` runs are left out (results from before the controls)."""
    tables = []
    for hidden, schemes in {"100": SWEEP, **WIDTHS}.items():
        curves = {
            (s, 0.01, seed): (_losses(step), False)
            for s, steps in schemes.items()
            for seed, step in enumerate(steps)
            if controls or not s.startswith("lecun_normal/normal")
        }
        tables.append(run_rows(curves, {**SETTING, "hidden": hidden}))
    offset = np.cumsum([0] + [len(t[0]) for t in tables[:-1]])
    runs = pd.concat(
        [t[0].assign(run_id=t[0]["run_id"] + o) for t, o in zip(tables, offset)], ignore_index=True
    )
    curves = pd.concat(
        [t[1].assign(run_id=t[1]["run_id"] + o) for t, o in zip(tables, offset)], ignore_index=True
    )
    return runs, curves


def _headline(runs):
    """The parts of an ``analysis.answer.Headline`` the sweeps read (one rate: every scheme at the
    matrix's)."""
    return SimpleNamespace(
        summary=summarize(runs, list(dict.fromkeys(runs["scheme"])), REFERENCE), runs=runs, by=SETTING_COLUMNS
    )


def _median(steps):
    return float(np.median([np.inf if s is None else s for s in steps]))


@pytest.fixture(scope="module")
def tables():
    return _tables()


def test_scale_of_reads_the_control_family_and_matches_each_scheme_with_its_control():
    assert scale_of("lecun_normal/normal(0.3)", "control") == 0.3 and scale_of(REFERENCE, "control") == 0.0
    for scheme in (
        "zeros/normal(0.3)",
        "constant(0.2)/normal(1.0)",
        "lecun_normal/uniform(0.3)",
        "torch_default/normal(0.3)",
    ):
        assert np.isnan(scale_of(scheme, "control")), scheme
    assert np.isnan(scale_of("lecun_normal/normal(0.3)", "bias")) and np.isnan(
        scale_of("lecun_normal/normal(1.0)", "constant")
    )
    assert bias_scale_of("constant(0.05)/normal(1.0)") == 1.0 and np.isnan(bias_scale_of(REFERENCE))
    schemes = list(SWEEP)
    assert matched_control("zeros/normal(3.0)", schemes) == "lecun_normal/normal(3.0)"
    assert matched_control("constant(0.2)/normal(1.0)", schemes) == "lecun_normal/normal(1.0)"
    assert matched_control("zeros/zeros", schemes) == REFERENCE  # σ = 0: the reference is its own control
    assert (
        matched_control("zeros/normal(0.1)", schemes) is None and matched_control(REFERENCE, schemes) is None
    )


def test_steps_to_target_are_the_designed_ones(tables):
    runs, _ = tables
    for hidden, schemes in {"100": SWEEP, **WIDTHS}.items():
        for scheme, steps in schemes.items():
            got = runs[(runs["hidden"] == hidden) & (runs["scheme"] == scheme)].sort_values("seed")[
                "steps_to_target"
            ]
            assert [None if pd.isna(s) else int(s) for s in got] == steps, (hidden, scheme)


def test_bias_sweep_splits_the_gap_into_zero_w_and_the_bias_scale(tables):
    runs, _ = tables
    h = _headline(runs)
    splits = control_splits(h.runs, h.summary, "bias", REFERENCE, h.by)
    assert splits["scale"].tolist() == [0.01, 0.3, 1.0, 3.0]  # σ = 0's control is the reference itself
    assert splits["control"].tolist() == [f"lecun_normal/normal({s})" for s in ("0.01", "0.3", "1.0", "3.0")]
    assert (splits["hidden"] == "100").all()  # the width settings have one σ: no sweep
    for _, r in splits.iterrows():
        own, control = _median(SWEEP[r["scheme"]]), _median(SWEEP[r["control"]])
        assert r["weight_speed_ratio"] == pytest.approx(own / control), r["scheme"]
        assert r["bias_speed_ratio"] == pytest.approx(control / _median(REF_STEPS)), r["scheme"]
        assert r["total_speed_ratio"] == pytest.approx(own / _median(REF_STEPS)), r["scheme"]
        assert r["total_speed_ratio"] == pytest.approx(r["weight_speed_ratio"] * r["bias_speed_ratio"])
        for prefix in ("weight", "bias", "total"):
            lo, point, hi = (r[f"{prefix}_{k}"] for k in ("speed_lo", "speed_ratio", "speed_hi"))
            assert not lo > point and not point > hi, (r["scheme"], prefix, lo, point, hi)
    at_one = splits.set_index("scale").loc[1.0]
    assert at_one["weight_speed_ratio"] == pytest.approx(2.0) and at_one["bias_speed_ratio"] == pytest.approx(
        4 / 3
    )
    final = {s: np.median([_losses(step)[-1] for step in steps]) for s, steps in SWEEP.items()}
    assert at_one["weight_loss_diff"] == pytest.approx(
        final["zeros/normal(1.0)"] - final["lecun_normal/normal(1.0)"]
    )
    assert at_one["bias_loss_diff"] == pytest.approx(final["lecun_normal/normal(1.0)"] - final[REFERENCE])


def test_constant_sweep_is_set_beside_random_w_with_the_same_bias(tables):
    runs, _ = tables
    h = _headline(runs)
    splits = control_splits(h.runs, h.summary, "constant", REFERENCE, h.by)
    assert splits["scale"].tolist() == [0.01, 0.05, 0.2, 1.0]
    assert (splits["control"] == "lecun_normal/normal(1.0)").all()
    np.testing.assert_allclose(splits["weight_speed_ratio"], [25 / 20, 30 / 20, 40 / 20, np.inf])
    np.testing.assert_allclose(splits["bias_speed_ratio"], [20 / 15] * 4)
    rows = control_rows(h.summary, "bias", h.by)
    assert sorted(rows["scale"]) == [0.0, 0.01, 0.3, 1.0, 3.0] and set(rows["hidden"]) == {"100"}


def test_width_sweep_sets_zero_w_at_2h_beside_its_control_at_h(tables):
    runs, curves = tables
    h = _headline(runs)
    plain = width_pairs(h.runs, curves, REFERENCE, h.by)
    pairs = width_pairs(h.runs, curves, REFERENCE, h.by, controls=True)
    assert "control" not in plain and pairs["width"].tolist() == [32, 64] == plain["width"].tolist()
    # the comparison with the reference is unchanged
    pd.testing.assert_frame_equal(pairs[plain.columns], plain)
    for _, r in pairs.iterrows():
        h_, wide = str(r["width"]), str(2 * r["width"])
        own, control = (
            _median(WIDTHS[wide]["zeros/normal(1.0)"]),
            _median(WIDTHS[h_]["lecun_normal/normal(1.0)"]),
        )
        assert r["control"] == "lecun_normal/normal(1.0)"
        assert r["speed_ratio"] == pytest.approx(own / _median(REF_STEPS))
        assert r["weight_speed_ratio"] == pytest.approx(own / control)
        assert r["bias_speed_ratio"] == pytest.approx(control / _median(REF_STEPS))
    assert pairs["weight_speed_ratio"].tolist() == pytest.approx([25 / 20, 30 / 20])


def test_sweep_lines_show_the_controls_and_say_how_the_gap_splits(tables, tmp_path):
    runs, curves = tables
    lines = sweep_lines(_headline(runs), curves, REFERENCE, tmp_path, "sweeps")
    text = "\n".join(lines)
    assert "`lecun_normal/normal(σ)`" in text and "`lecun_normal/normal(1.0)`" in text
    assert text.count("How the gap to the reference splits") == 3  # one sentence per sweep
    bias, constant, width = (
        next(line for line in lines if line.startswith("How the gap") and word in line)
        for word in ("zero W costs", "constant W costs", "zero W at 2H")
    )
    assert (
        f"at σ = 1 zero W costs {fmt_ratio(2.0)} [" in bias
        and f"the bias scale itself costs {fmt_ratio(4 / 3)} [" in bias
    )
    assert f"(total {fmt_ratio(40 / 15)} [" in bias
    assert (
        f"over σ the bias scale alone costs from {fmt_ratio(1.0)} [" in bias
        and f"to {fmt_ratio(35 / 15)} [" in bias
    )
    assert f"from {fmt_ratio(1.25)} [" in constant and "(c = 0.01) to ∞" in constant and "(c = 1)" in constant
    assert f"from {fmt_ratio(1.25)} [" in width and f"(H = 32) to {fmt_ratio(1.5)} [" in width
    header = next(line for line in text.splitlines() if "zero W ÷ control" in line)
    assert "control ÷ reference" in header and "total ÷ reference" in header
    row = next(
        line for line in text.splitlines() if line.startswith("| mnist1d") and re.search(r"\|\s+1\s+\|", line)
    )
    assert row.count(fmt_ratio(2.0)) >= 1 and fmt_ratio(4 / 3) in row and fmt_ratio(40 / 15) in row
    assert "× control steps [95% CI]" in text and "control at H: × reference steps [95% CI]" in text
    assert {p.name for p in (tmp_path / "sweeps").glob("*.png")} == {
        "bias_scale.png",
        "constant_scale.png",
        "width.png",
    }


def test_results_without_controls_give_the_sections_they_gave_before(tmp_path):
    runs, curves = _tables(controls=False)
    h = _headline(runs)
    assert control_rows(h.summary, "bias", h.by).empty
    assert control_splits(h.runs, h.summary, "bias", REFERENCE, h.by).empty
    assert "control" not in width_pairs(h.runs, curves, REFERENCE, h.by, controls=True)
    lines = sweep_lines(h, curves, REFERENCE, tmp_path / "old", "sweeps")
    text = "\n".join(lines)
    assert "lecun_normal/normal" not in text and "control" not in text and "How the gap" not in text
    # 3 tables, 6 lines per section
    assert len(lines) == 18 and sum(line.startswith("|:") for line in text.splitlines()) == 3
    width_header = next(line for line in text.splitlines() if "× reference steps" in line)
    assert [c.strip() for c in width_header.strip("|").split("|")] == [
        "setting",
        "verdict",
        "× reference steps [95% CI]",
        "final train loss − ref [95% CI]",
        "test acc − ref, points [95% CI]",
    ]
    with_controls = sweep_lines(_headline(_tables()[0]), _tables()[1], REFERENCE, tmp_path / "new", "sweeps")
    bias_part = lines[
        :6
    ]  # intro, plot and best-σ table of the bias sweep: the same with and without the controls
    assert with_controls[:6] == bias_part
