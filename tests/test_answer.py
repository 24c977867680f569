"""The answer's numbers (issue 14): late target, catch-up multiple, end verdicts, grid edges, sweeps,
companions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import REFERENCE, SETTING, lr_grid_tables, run_rows, synthetic_diagnostics, synthetic_results

from symjax.analysis import stats
from symjax.analysis.answer import end_verdict, headline
from symjax.analysis.best_lr import choose_lrs
from symjax.analysis.sweeps import best_scales, scale_of, scale_rows, width_pairs
from symjax.core.group import GroupConfig, Run
from symjax.matrix.load import load_matrix, log_grid, matrix_from_dict
from symjax.matrix.spec import ConfigError, Matrix
from symjax.report.build import build_report
from symjax.results.metrics import GroupResult, group_tables, with_late_target
from symjax.results.schema import SETTING_COLUMNS
from symjax.results.store import write_results


def _group(losses: np.ndarray, schemes: list[str]) -> GroupResult:
    steps = np.arange(losses.shape[1]) * 10
    n = len(losses)
    cfg = GroupConfig("mnist1d", (8,), "tanh", "adam", 128, int(steps[-1]), 10)
    runs = [Run(i, 0, s, i, 0.01) for i, s in enumerate(schemes)]
    return GroupResult(
        cfg,
        runs,
        steps,
        losses,
        losses,
        1 - losses / 3,
        {"rank": np.zeros((n, len(steps), 2))},
        np.zeros((n, 2), int),
        100,
        1.0,
        0.5,
    )


def test_late_target_is_the_reference_median_final_loss_and_censors_like_the_early_one():
    losses = np.array(
        [
            [2.0, 1.0, 0.50, 0.40],  # reference, final 0.40
            [2.0, 1.0, 0.45, 0.30],  # reference, final 0.30 (the median of 0.2, 0.3, 0.4)
            [2.0, 0.5, 0.25, 0.20],  # reference, final 0.20
            [2.0, 1.5, 0.30, 0.10],  # reaches 0.30 at step 20
            [2.0, 1.9, 1.80, 1.70],  # never
            [2.0, 0.1, np.nan, np.nan],
        ]
    )  # diverged: censored whatever it reached
    schemes = [REFERENCE] * 3 + ["zeros/normal(1.0)"] * 3
    runs, _, _ = group_tables(
        _group(losses, schemes), Matrix(name="t", schemes=(REFERENCE, "zeros/normal(1.0)"))
    )
    assert (runs["late_target_loss"] == 0.30).all()
    assert runs["steps_to_late_target"].tolist() == [pd.NA, 30, 20, 20, pd.NA, pd.NA]
    assert runs["reached_late_target"].tolist() == [False, True, True, True, False, False]
    assert str(runs["steps_to_late_target"].dtype) == "Int64"


def test_late_target_from_tables_equals_the_one_from_the_group():
    """Results of formats 2 and 3 derive the late-target columns from the curves: the same rule."""
    rng = np.random.default_rng(0)
    losses = np.sort(rng.uniform(0.1, 2.0, (12, 6)), axis=1)[:, ::-1].copy()
    losses[5, 3:] = np.inf
    schemes = [REFERENCE, "zeros/normal(1.0)", "zeros/zeros"] * 4
    runs, curves, _ = group_tables(
        _group(losses, schemes), Matrix(name="t", schemes=tuple(dict.fromkeys(schemes)))
    )
    derived = with_late_target(
        runs.drop(columns=["late_target_loss", "steps_to_late_target", "reached_late_target"]),
        curves,
        REFERENCE,
        SETTING_COLUMNS,
    )
    pd.testing.assert_frame_equal(derived[runs.columns], runs)


def test_catch_up_multiple_follows_the_median_curves():
    steps = np.arange(0, 110, 10)
    rng = np.random.default_rng(1)
    rates = rng.uniform(0.8, 1.2, (20, 1))
    reference = np.exp(-rates * steps / 25)  # (20, 11)
    twice = np.exp(-rates * steps / 50)
    # same curve, then flat: reaches by step 50 and stays
    stretched = np.exp(-rates * np.minimum(steps, 50) / 25)
    same = stats.paired_catch_up_ci(reference, reference, steps)
    assert same == (1.0, 1.0, 1.0)
    slow = stats.paired_catch_up_ci(twice, reference, steps)
    assert slow[0] == np.inf  # half as fast: never gets to the reference's final loss within the horizon
    early = stats.paired_catch_up_ci(np.exp(-rates * steps / 12.5), reference, steps)
    assert early[0] == pytest.approx(0.5, abs=0.1) and early[1] <= early[0] <= early[2] < 1
    assert stats.paired_catch_up_ci(stretched, reference, steps)[0] == np.inf
    diverged = reference.copy()
    diverged[:15, -1] = np.nan  # most reference runs diverged: no late target
    assert np.isnan(stats.paired_catch_up_ci(reference, diverged, steps)[0])
    with pytest.raises(ValueError):
        stats.paired_catch_up_ci(reference[:, :5], reference[:, :5], steps)
    assert np.isnan(
        stats.paired_catch_up_ci(reference[:, :0], reference[:, :0], steps[:0])
    ).all()  # nothing logged


@pytest.mark.parametrize(
    "bounds, verdict",
    [
        ((0.01, 0.04, -0.01, 0.01), "as good"),
        ((-0.3, -0.1, 0.0, 0.02), "as good"),
        ((0.06, 0.2, 0.0, 0.01), "falls short"),
        ((0.0, 0.01, -0.05, -0.03), "falls short"),
        ((0.0, 0.08, -0.01, 0.01), "undecided"),
        ((0.0, 0.01, np.nan, np.nan), "as good"),  # regression: the loss decides
        ((np.nan, np.nan, 0.0, 0.0), "undecided"),
    ],
)
def test_end_verdict(bounds, verdict):
    assert (
        end_verdict(dict(zip(["loss_diff_lo", "loss_diff_hi", "acc_diff_lo", "acc_diff_hi"], bounds)))
        == verdict
    )


def test_chosen_rates_at_the_edge_of_the_grid_are_flagged():
    runs, _ = lr_grid_tables()
    choices = choose_lrs(runs).set_index("scheme")
    # the middle of 0.01, 0.1, 1.0
    assert choices.loc[REFERENCE, "lr"] == 0.1 and not choices.loc[REFERENCE, "at_edge"]
    assert choices.loc["zeros/normal(1.0)", "lr"] == 0.01 and choices.loc["zeros/normal(1.0)", "at_edge"]


def test_lr_grid_key_makes_log_spaced_rates_and_the_default_matrix_uses_it():
    assert log_grid(0.001, 0.1, 5) == (0.001, 0.00316, 0.01, 0.0316, 0.1)
    assert matrix_from_dict({"lr_grid": {"from": 0.01, "to": 1.0, "count": 3}}, "x").lrs == (0.01, 0.1, 1.0)
    for bad in (
        {"lr_grid": {"from": 0.1, "to": 0.01, "count": 3}},
        {"lr_grid": {"from": 0.01, "to": 1.0, "count": 1}},
        {"lr_grid": {"from": 0.01, "to": 1.0}},
        {"lr_grid": [0.1]},
        {"lr": 0.1, "lr_grid": {"from": 0.01, "to": 1.0, "count": 3}},
    ):
        with pytest.raises(ConfigError, match="lr"):
            matrix_from_dict(bad, "x")
    default = load_matrix("default")
    assert len(default.lrs) >= 5 and max(default.lrs) / min(default.lrs) >= 100 and default.seeds >= 30
    assert default.companions == ("horizon", "sweeps", "modern", "batch")


def test_horizon_and_sweeps_matrices_cover_what_the_answer_needs():
    """Issue 22: long horizons for every question scheme and the matched-bias controls, >= 20 seeds, >= 8000
    steps, the default settings (Adam) and the full matrix's SGD centre, grids up to Adam 0.1 and SGD 3.16."""
    default, full, horizon, sweeps = (load_matrix(n) for n in ("default", "full", "horizon", "sweeps"))
    assert horizon.steps >= 8000 and horizon.seeds >= 20
    assert {
        "lecun_normal/zeros",
        "zeros/normal(1.0)",
        "zeros/normal(0.1)",
        "constant(0.05)/normal(1.0)",
        "lecun_normal/normal(1.0)",
    } <= set(horizon.schemes)
    groups = {(g.dataset, g.model, g.hidden, g.activation, g.optimizer) for g, _ in horizon.kept_groups()}
    wanted = {(g.dataset, g.model, g.hidden, g.activation, g.optimizer) for g, _ in default.kept_groups()}
    assert wanted <= groups  # every Adam setting of the default matrix
    sgd = {
        (g.dataset, g.model, g.hidden, g.activation, g.optimizer)
        for g, _ in full.kept_groups()
        if g.optimizer == "sgd" and g.model == "mlp"
    }
    assert (
        groups - wanted <= sgd
        and {("mnist1d", "mlp", (100, 100), a, "sgd") for a in ("tanh", "relu")} <= groups
    )
    for group, pairs in horizon.kept_groups():
        rates = sorted({lr for lr, _ in pairs})
        assert len(rates) >= 4 and rates[-1] >= (0.1 if group.optimizer == "adam" else 3.16)
    for sigma in ("0.01", "0.03", "0.1", "0.3", "1.0", "3.0"):  # every bias scale with its matched control
        assert {f"zeros/normal({sigma})", f"lecun_normal/normal({sigma})"} <= set(sweeps.schemes)
    sigmas = sorted(s for s in map(lambda x: scale_of(x, "bias"), sweeps.schemes) if s == s)
    assert sigmas[0] == 0 and sigmas[1] <= 0.01 and sigmas[-1] >= 3 and len(sigmas) >= 6
    assert sum(scale_of(s, "constant") == scale_of(s, "constant") for s in sweeps.schemes) >= 3
    widths = sorted(h[0] for h in sweeps.hidden if len(h) == 1)
    assert len(widths) >= 4 and sum(2 * w in widths for w in widths) >= 4
    assert {g.activation for g, _ in sweeps.kept_groups()} >= {"relu", "tanh"}


def _sweep_results(folder):
    """Bias-scale and width sweeps on synthetic curves: a loss that falls faster the closer sigma is to
    0.3."""
    tables = []
    for hidden in ("100", "32", "64", "128"):
        curves = {}
        schemes = [REFERENCE, "zeros/normal(1.0)"] + (
            ["zeros/zeros", "zeros/normal(0.01)", "zeros/normal(0.3)", "zeros/normal(3.0)"]
            if hidden == "100"
            else []
        )
        for scheme in schemes:
            sigma = scale_of(scheme, "bias")
            speed = 2.0 if scheme == REFERENCE else {0.0: 0.0, 0.01: 0.5, 0.3: 2.5, 1.0: 2.0, 3.0: 1.0}[sigma]
            speed *= int(hidden) / 64 if scheme != REFERENCE else int(hidden) / 32  # 2H zero-W ~ H random-W
            for seed in range(6):
                r = speed * (1 + 0.05 * seed)
                curves[(scheme, 0.01, seed)] = (
                    0.05 + 2.25 * np.exp(-r * np.array([0, 10, 20, 30, 40]) / 40),
                    False,
                )
        tables.append(run_rows(curves, {**SETTING, "hidden": hidden}))
    offset = np.cumsum([0] + [len(t[0]) for t in tables[:-1]])
    runs = pd.concat(
        [t[0].assign(run_id=t[0]["run_id"] + o) for t, o in zip(tables, offset)], ignore_index=True
    )
    curves = pd.concat(
        [t[1].assign(run_id=t[1]["run_id"] + o) for t, o in zip(tables, offset)], ignore_index=True
    )
    runs = with_late_target(runs, curves, REFERENCE, SETTING_COLUMNS)
    schemes = list(dict.fromkeys(runs["scheme"]))
    matrix = Matrix(
        name="sweeps",
        hidden=((100,), (32,), (64,), (128,)),
        schemes=tuple(schemes),
        seeds=6,
        steps=40,
        log_every=10,
    ).to_dict()
    config = {"matrix": matrix, "symjax_version": "test", "timing": {}}
    return write_results(folder, runs, curves, synthetic_diagnostics(runs), config), runs, curves


def test_sweeps_find_the_best_sigma_and_pair_width_2h_with_h(tmp_path):
    folder, runs, curves = _sweep_results(tmp_path / "sweeps")
    h = headline(runs, curves, list(dict.fromkeys(runs["scheme"])), REFERENCE)
    rows = scale_rows(h.summary, "bias", h.by)
    assert sorted(rows["scale"]) == [0.0, 0.01, 0.3, 1.0, 3.0]
    best = best_scales(rows, h.by)
    assert best["scale"].tolist() == [0.3] and not best["at_edge"].any()
    pairs = width_pairs(h.runs, curves, REFERENCE, h.by)
    assert pairs["width"].tolist() == [32, 64]  # (32 vs 64) and (64 vs 128); 128 has no 256
    assert (pairs["verdict"] == "equivalent").all(), pairs[["width", "verdict", "speed_lo", "speed_hi"]]
    text = build_report(folder, tmp_path / "out").read_text()
    assert "## Bias scale and width" in text and "constant sweep" not in text  # no constant(c) schemes here
    assert "![bias sweep](sweeps/bias_scale.png)" in text and "![width sweep](sweeps/width.png)" in text


def test_report_summarizes_companion_results_beside_its_own(tmp_path):
    folder = synthetic_results(tmp_path / "results" / "main")
    config = json.loads((folder / "config.json").read_text())
    text = build_report(folder, tmp_path / "plain").read_text()
    assert "## Long horizons, bias scale and width" not in text and "With long horizons" not in text
    _sweep_results(tmp_path / "results" / "sweeps")
    long_folder = synthetic_results(tmp_path / "results" / "horizon")  # the same runs, declared 4x longer
    long_config = json.loads((long_folder / "config.json").read_text())
    long_config["matrix"].update(name="horizon", steps=160)
    config["matrix"]["companions"] = ["horizon", "sweeps", "absent"]
    runs, curves, diagnostics = (
        pd.read_parquet(long_folder / f"{n}.parquet") for n in ("runs", "curves", "diagnostics")
    )
    write_results(
        long_folder,
        runs,
        curves,
        diagnostics,
        {k: v for k, v in long_config.items() if k != "format_version"},
    )
    runs, curves, diagnostics = (
        pd.read_parquet(folder / f"{n}.parquet") for n in ("runs", "curves", "diagnostics")
    )
    write_results(
        folder, runs, curves, diagnostics, {k: v for k, v in config.items() if k != "format_version"}
    )
    text = build_report(folder, tmp_path / "out").read_text()
    assert "With long horizons (the `horizon` results, 160 steps)" in text
    assert "From [`sweeps`](sweeps.md)" in text and "![bias sweep](synthetic/sweeps-bias_scale.png)" in text
    assert "- `absent`: no results here" in text


def test_long_lists_of_exceptions_are_counted_per_optimizer():
    from symjax.report.answer import MAX_LISTED, _listed

    rows = pd.DataFrame(
        [{**SETTING, "optimizer": opt, "scheme": "zeros/normal(1.0)"} for opt in ["sgd"] * 12 + ["adam"] * 3]
    )
    assert _listed(rows, ["dataset"], str) == "by optimizer sgd 12, adam 3 (see the verdict map)"
    assert (
        _listed(rows.head(2), ["dataset"], lambda r: "x").count("(`zeros/normal(1.0)`: x)") == 2
        and MAX_LISTED < 15
    )


def test_chance_level_in_the_best_rate_view_does_not_need_equal_rates():
    """Without the all-zero control, a scheme whose best rate differs from the reference's still gets the
    reference's step-0 loss as its chance level (it once got none, so it never 'learned')."""
    from symjax.analysis.best_lr import LR_FREE_COLUMNS
    from symjax.analysis.tables import chance_losses

    summary = pd.DataFrame(
        [
            {**SETTING, "task": "classification", "scheme": s, "lr": lr, "loss_median": loss}
            for s, lr, loss in ((REFERENCE, 0.01, 0.1), ("zeros/normal(1.0)", 0.1, 0.5))
        ]
    )
    start = pd.DataFrame([{**SETTING, "lr": 0.01, "scheme": REFERENCE, "step": 0, "q50": 2.3}])
    np.testing.assert_allclose(chance_losses(summary, start, REFERENCE, LR_FREE_COLUMNS), [2.3, 2.3])


def test_report_removes_plots_an_earlier_report_of_the_same_name_left(tmp_path):
    """A plot the earlier report linked and this one does not draw is deleted; a PNG it never linked stays."""
    folder = synthetic_results(tmp_path / "results")
    (tmp_path / "out" / "synthetic").mkdir(parents=True)
    stale = tmp_path / "out" / "synthetic" / "setting09-old.png"
    stale.write_bytes(b"an old plot")
    (tmp_path / "out" / "synthetic.md").write_text(
        "# symjax report: `synthetic`\n\n![old](synthetic/setting09-old.png)\n"
    )
    theirs = tmp_path / "out" / "synthetic" / "theirs.png"
    theirs.write_bytes(b"a plot of theirs")
    text = build_report(folder, tmp_path / "out").read_text()
    assert not stale.exists() and "verdict_map.png" in text and theirs.exists()
    theirs.unlink()
    assert sorted(p.name for p in (tmp_path / "out" / "synthetic").glob("*.png")) == sorted(
        set(__import__("re").findall(r"synthetic/([^)]+\.png)", text))
    )


def test_results_with_a_repeated_curve_row_are_refused_before_any_report_file(tmp_path):
    folder = synthetic_results(tmp_path / "results")
    runs, curves, diagnostics = (
        pd.read_parquet(folder / f"{n}.parquet") for n in ("runs", "curves", "diagnostics")
    )
    config = {
        k: v for k, v in json.loads((folder / "config.json").read_text()).items() if k != "format_version"
    }
    write_results(folder, runs, pd.concat([curves, curves.head(1)], ignore_index=True), diagnostics, config)
    with pytest.raises(ValueError, match=r"\(run_id, step\) pair appears twice"):
        build_report(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_pair_whose_weights_never_move_does_not_learn():
    """Below the chance level measured without the all-zero control, a net whose weights never got a
    gradient (BatchNorm after zero W) is still the chance net: it does not learn."""
    from symjax.analysis.answer import learns, moved_share

    summary = pd.DataFrame(
        {"setting": ["a", "a", "b"], "scheme": ["x", "y", "x"], "loss_median": [2.3, 2.3, 1.0]}
    )
    runs = pd.DataFrame(
        {"run_id": [0, 1, 2, 3, 4], "setting": ["a", "a", "a", "b", "b"], "scheme": ["x", "x", "y", "x", "x"]}
    )
    diagnostics = pd.DataFrame(
        {"run_id": [0, 0, 1, 2, 3, 4], "first_grad_step": [np.nan, np.nan, np.nan, 0.0, 3.0, np.nan]}
    )
    moved = moved_share(summary, runs, diagnostics, ["setting"])
    np.testing.assert_array_equal(moved, [0.0, 1.0, 0.5])
    chance = np.array([2.6, 2.6, 2.6])
    assert learns(summary, chance).tolist() == [True, True, True]
    assert learns(summary, chance, moved).tolist() == [False, True, True]
