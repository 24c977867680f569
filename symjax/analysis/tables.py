"""Tables of the stored runs for the report, numbers only (``symjax.report`` turns them into markdown).

Data-flow stage: store -> **analysis** -> report. Row layouts:

- ``summarize``: one row per (setting, scheme): medians, IQMs, means with bootstrap CIs, the
  paired comparison with the reference, verdict;
- ``median_curves``: per (setting, scheme, [layer,] logged step): quartiles over runs;
- ``mechanism_table``: per (setting, scheme, layer): medians of the diagnostics;
- ``aggregate_table``: per scheme, across settings; ``verdict_breakdown``: per value of one axis.

Steps to target of runs that never reached the target, or diverged, are +inf (censored); final
losses and loss AUCs of diverged runs are +inf, their test accuracy 0; the speed ratio is median
steps to target of a scheme over that of the reference scheme, bootstrapped with runs paired by seed.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from symjax.analysis import stats, survival
from symjax.results.schema import SETTING_COLUMNS

METRICS = {  # summary prefix -> runs column
    "steps": "steps_to_target",
    "loss": "final_train_loss",
    "test_loss": "final_test_loss",
    "acc": "final_test_acc",
    "auc": "train_loss_auc",
}


def generalization(acc_lo: float, acc_hi: float) -> str:
    """Test-accuracy difference (scheme - reference) in words, from its CI."""
    if np.isnan(acc_lo):
        return "n/a"
    return (
        "lower test accuracy"
        if acc_hi < 0
        else "higher test accuracy"
        if acc_lo > 0
        else "no detectable difference"
    )


def _metric_summary(values: np.ndarray, prefix: str) -> dict:
    """Median (with ``_lo``/``_hi`` CI), IQM and mean of one metric, each with a bootstrap 95% CI; all NaN if
    no value is defined."""
    return dict(_cached_summary(np.ascontiguousarray(values, np.float64).tobytes(), prefix))


@functools.lru_cache(maxsize=4096)
def _cached_summary(data: bytes, prefix: str) -> dict:
    """``_metric_summary`` of the float64 values in ``data``: the median with its order-statistic CI (NaN
    bounds below 6 runs), IQM and mean with percentile-bootstrap CIs; cached because the bootstrap is seeded
    per call, so the same runs give the same numbers (the best-learning-rate view summarizes most runs a
    second time)."""
    values = np.frombuffer(data, np.float64)
    if np.isnan(values).all():  # e.g. the test accuracy of a regression run
        keys = [
            "median",
            "lo",
            "hi",
            *(f"{name}{end}" for name in ("iqm", "mean") for end in ("", "_lo", "_hi")),
        ]
        return {f"{prefix}_{key}": np.nan for key in keys}
    point, lo, hi = survival.median_ci(values)  # order statistics: distribution-free, no resampling
    out = {f"{prefix}_median": float(point), f"{prefix}_lo": lo, f"{prefix}_hi": hi}
    for name, statistic in (("iqm", stats.iqm), ("mean", stats.mean)):
        with np.errstate(invalid="ignore"):  # inf - inf inside a resample is fine: its CI bound is inf
            out[f"{prefix}_{name}"] = float(statistic(values))
            out[f"{prefix}_{name}_lo"], out[f"{prefix}_{name}_hi"] = stats.bootstrap_ci(values, statistic)
    return out


def censored(runs: pd.DataFrame, column: str) -> np.ndarray:
    """(runs,) float64 values, lower is better and censored = +inf; accuracy: diverged = 0, regression = NaN
    (undefined)."""
    values = runs[column].astype("float64").to_numpy()
    if column == "final_test_acc":
        classification = (runs["task"] != "regression").to_numpy()
        return np.where(runs["diverged"].to_numpy() & classification, 0.0, values)
    return stats.as_censored(np.where(runs["diverged"].to_numpy(), np.nan, values))


COMPARISON_COLUMNS = [
    "pairs",
    "speed_ratio",
    "speed_lo",
    "speed_hi",
    "loss_diff",
    "loss_diff_lo",
    "loss_diff_hi",
    "acc_diff",
    "acc_diff_lo",
    "acc_diff_hi",
    "p_faster",
    "p_faster_lo",
    "p_faster_hi",
    "reached_lo",
    "reached_hi",
]


def compare(scheme_runs: pd.DataFrame, reference_runs: pd.DataFrame) -> dict:
    """Paired-by-seed comparison with the reference: ``pairs`` (seeds both have), the speed ratio (median
    steps to target, scheme / reference), final-loss and test-accuracy differences of medians (scheme -
    reference), each with a paired BCa CI (percentile where a resampled median is infinite), P(scheme reaches
    the target sooner) with a percentile CI, and the Wilson interval of the scheme's share of runs reaching
    the target (``reached_lo``/``_hi``)."""
    seeds = np.intersect1d(scheme_runs["seed"], reference_runs["seed"])
    a, b = (r.set_index("seed").loc[seeds].reset_index() for r in (scheme_runs, reference_runs))
    pairs = {
        prefix: (censored(a, column), censored(b, column))
        for prefix, column in (
            ("steps", "steps_to_target"),
            ("loss", "final_train_loss"),
            ("acc", "final_test_acc"),
        )
    }
    out = {"pairs": len(seeds)}
    out.update(
        zip(
            ["speed_ratio", "speed_lo", "speed_hi"],
            survival.paired_bca_ci(*pairs["steps"], stats.median, stats.ratio),
        )
    )
    out.update(
        zip(
            ["loss_diff", "loss_diff_lo", "loss_diff_hi"],
            survival.paired_bca_ci(*pairs["loss"], stats.median, np.subtract),
        )
    )
    defined = not np.isnan(pairs["acc"][0]).all()  # no accuracy in regression
    out.update(
        zip(
            ["acc_diff", "acc_diff_lo", "acc_diff_hi"],
            survival.paired_bca_ci(*pairs["acc"], stats.median, np.subtract) if defined else (np.nan,) * 3,
        )
    )
    out.update(
        zip(["p_faster", "p_faster_lo", "p_faster_hi"], stats.probability_of_improvement(*pairs["steps"]))
    )
    out.update(
        zip(
            ["reached_lo", "reached_hi"],
            survival.reached_ci(np.isfinite(censored(scheme_runs, "steps_to_target")))[1:],
        )
    )
    return out


def runs_by_setting(runs: pd.DataFrame, schemes: list[str], reference: str, by: list[str]):
    """Yield (setting key, scheme, its runs, the reference's runs or None) per (setting, scheme): settings by
    the columns ``by`` in first-appearance order, schemes in ``schemes`` order, runs sorted by seed."""
    for key, setting_runs in runs.groupby(list(by), sort=False):
        by_scheme = {s: r.sort_values("seed") for s, r in setting_runs.groupby("scheme", sort=False)}
        for scheme in [s for s in schemes if s in by_scheme]:
            yield key, scheme, by_scheme[scheme], by_scheme.get(reference)


def summarize(
    runs: pd.DataFrame,
    schemes: list[str],
    reference: str,
    by: list[str] | None = None,
    log_every: float | None = None,
) -> pd.DataFrame:
    """Summary per (setting, scheme), settings in first-appearance order, schemes in ``schemes`` order.

    Args:
        runs: one row per run (``runs.parquet``, as ``store.load_results`` gives it).
        by: the columns that define a setting, default SETTING_COLUMNS. With fewer (e.g. without ``lr``,
            for the best-learning-rate view of ``symjax.analysis.best_lr``) each row takes the other setting
            columns from its scheme's first run, so every scheme shows its own learning rate.
        log_every: the log interval; with it each row has ``resolution`` (log_every / the reference's median
        steps to
            target), and "equivalent" is refused where that exceeds ``survival.MAX_RESOLUTION``.
    Returns:
        One row per (setting, scheme): SETTING_COLUMNS, ``task``, ``scheme``, counts, metric summaries,
        the comparison with the reference (COMPARISON_COLUMNS), ``verdict`` and ``generalization``.
    """
    rows = []
    for _, scheme, scheme_runs, ref in runs_by_setting(
        runs, schemes, reference, SETTING_COLUMNS if by is None else by
    ):
        row = {column: scheme_runs[column].iloc[0] for column in [*SETTING_COLUMNS, "task"]}
        row.update(
            scheme=scheme,
            n=len(scheme_runs),
            target_loss=float(scheme_runs["target_loss"].iloc[0]),
            reached=float(scheme_runs["reached"].mean()),
            diverged=float(scheme_runs["diverged"].mean()),
        )
        for prefix, column in METRICS.items():
            row.update(_metric_summary(censored(scheme_runs, column), prefix))
        row.update(
            dict.fromkeys(COMPARISON_COLUMNS, np.nan),
            verdict="reference",
            generalization="",
            resolution=np.nan,
        )
        if ref is not None and log_every is not None:
            row["resolution"] = survival.resolution(log_every, censored(ref, "steps_to_target"))
        if ref is not None and scheme != reference:
            row.update(compare(scheme_runs, ref))
            row["verdict"] = (
                "no target"
                if ref["diverged"].mean() > 0.5
                else stats.equivalence_verdict(
                    row["reached"],
                    row["speed_lo"],
                    row["speed_hi"],
                    row["loss_diff_lo"],
                    row["loss_diff_hi"],
                    reached_hi=row["reached_hi"],
                    n=row["pairs"],
                    resolution=row["resolution"],
                    ratio=row["speed_ratio"],
                )
            )
            row["generalization"] = generalization(row["acc_diff_lo"], row["acc_diff_hi"])
        elif scheme != reference:
            row["verdict"] = "no reference"
        rows.append(row)
    return pd.DataFrame(rows)


def split_by_setting(table: pd.DataFrame):
    """A function key -> the rows of ``table`` in that setting (the table is grouped once)."""
    parts = dict(iter(table.groupby(SETTING_COLUMNS, sort=False)))
    return lambda key: parts.get(tuple(key), table.iloc[:0])


def median_curves(
    runs: pd.DataFrame, curves: pd.DataFrame, column: str, by: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Per (setting, scheme, *by, step): 25th, 50th and 75th percentile of ``column`` over runs
    (columns SETTING_COLUMNS, scheme, *by, step, q25, q50, q75)."""
    keyed = curves.merge(runs[["run_id", *SETTING_COLUMNS, "scheme"]], on="run_id")
    grouped = keyed.groupby([*SETTING_COLUMNS, "scheme", *by, "step"], sort=False)[column]
    return (
        grouped.quantile([0.25, 0.5, 0.75])
        .unstack()
        .rename(columns={0.25: "q25", 0.5: "q50", 0.75: "q75"})
        .reset_index()
    )


def mechanism_table(runs: pd.DataFrame, diagnostics: pd.DataFrame) -> pd.DataFrame:
    """Per (setting, scheme, layer): the share of runs with a weight gradient (``runs_with_gradient``),
    medians over runs of the first update with one (among those runs), rank at step 0 and at the end, and
    effective rank, distinct units, mean |cos| and dead fraction at the end."""
    keyed = diagnostics.merge(runs[["run_id", *SETTING_COLUMNS, "scheme"]], on="run_id")
    last = keyed["step"] == keyed["steps"]
    start = keyed[keyed["step"] == 0].groupby([*SETTING_COLUMNS, "scheme", "layer"], sort=False)
    end = keyed[last].groupby([*SETTING_COLUMNS, "scheme", "layer"], sort=False)
    table = pd.DataFrame(
        {
            "runs_with_gradient": end["first_grad_step"].count() / end.size(),
            "first_grad_step": end["first_grad_step"].median(),
            "rank_start": start["rank"].median(),
            "rank_end": end["rank"].median(),
            "effective_rank_end": end["effective_rank"].median(),
            "distinct_units_end": end["distinct_units"].median(),
            "mean_abs_cos_end": end["mean_abs_cos"].median(),
            "dead_fraction_end": end["dead_fraction"].median(),
        }
    )
    return table.reset_index()


def first_update_ranks(runs: pd.DataFrame, diagnostics: pd.DataFrame, updates: int = 5) -> pd.DataFrame:
    """Median rank of the first layer's W after each of the first ``updates`` updates, where the diagnostics
    hold it (``rank_every = 1`` with ``log_every = 1``); empty otherwise.

    Returns:
        One row per (setting, scheme): SETTING_COLUMNS, ``scheme``, then one column per logged step 0..updates
        with a rank (median over runs; NaN where no run has a rank at that step).
    """
    early = diagnostics[
        (diagnostics["layer"] == 1) & (diagnostics["step"] <= updates) & diagnostics["rank"].notna()
    ]
    if not (early["step"] > 0).any():
        return pd.DataFrame()
    keyed = early.merge(runs[["run_id", *SETTING_COLUMNS, "scheme"]], on="run_id")
    table = keyed.pivot_table(
        index=[*SETTING_COLUMNS, "scheme"], columns="step", values="rank", aggfunc="median", sort=False
    )
    return table.reset_index()


def aggregate_table(
    runs: pd.DataFrame, summary: pd.DataFrame, schemes: list[str], reference: str
) -> pd.DataFrame:
    """Per scheme, across settings (rliable style): IQM of restricted steps to target (a run that never
    reaches the target counts as its last step, so the IQM stays finite however many are censored) divided by
    the reference's median in the same setting, with a stratified-bootstrap 95% CI (runs resampled within each
    setting)."""
    reference_median = summary[summary["scheme"] == reference].set_index(SETTING_COLUMNS)["steps_median"]
    rows = []
    for scheme in [s for s in schemes if s in set(runs["scheme"])]:
        groups = []
        for key, setting_runs in runs[runs["scheme"] == scheme].groupby(SETTING_COLUMNS, sort=False):
            scale = reference_median.get(key, np.nan)
            if np.isfinite(scale) and scale > 0:
                restricted = np.minimum(
                    censored(setting_runs, "steps_to_target"), setting_runs["steps"].to_numpy(np.float64)
                )
                groups.append(restricted / scale)
        if groups:
            point, lo, hi = stats.stratified_bootstrap_ci(groups, stats.iqm)
            rows.append({"scheme": scheme, "settings": len(groups), "iqm": point, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


CONTROL = "zeros/zeros"  # the all-zero negative control: a net that learns nothing but the output bias


def chance_losses(
    summary: pd.DataFrame, loss_quantiles: pd.DataFrame, reference: str, by: list[str] | None = None
) -> np.ndarray:
    """(rows,) the training loss of a net that learned nothing, per summary row's setting.

    The median final training loss of the all-zero control (CONTROL) when its setting has it,
    else 1.0 for regression (MSE of predicting 0 on standardized targets), else the reference's
    median training loss at step 0 (``loss_quantiles``: ``median_curves(..., "train_loss")``). Settings are
    keyed by ``by`` (default SETTING_COLUMNS; ``LR_FREE_COLUMNS`` for the best-rate view).
    """
    by = SETTING_COLUMNS if by is None else list(by)
    control = summary[summary["scheme"] == CONTROL].set_index(by)["loss_median"]
    start = loss_quantiles[(loss_quantiles["scheme"] == reference) & (loss_quantiles["step"] == 0)]
    start = (
        start.groupby(by, sort=False)["q50"].first()
        if len(start)  # fewer columns: the reference's rate
        else pd.Series(dtype="float64")
    )  # no reference runs (results naming a reference they lack)
    index = pd.MultiIndex.from_frame(summary[by])
    fallback = np.where(summary["task"] == "regression", 1.0, start.reindex(index).to_numpy(np.float64))
    chance = control.reindex(index).to_numpy(np.float64)
    return np.where(np.isnan(chance), fallback, chance)


def depth(hidden: str) -> int:
    """Number of hidden (dense or conv) layers of a ``hidden`` value such as ``"100,100"`` (``""``: none).

    >>> depth("100,100"), depth("")
    (2, 0)
    """
    return len(str(hidden).split(",")) if str(hidden) else 0


def verdict_breakdown(rows: pd.DataFrame, column: str, verdicts: list[str]) -> pd.DataFrame:
    """Per value of ``column`` (first-appearance order): ``pairs`` (rows), ``learns`` (rows whose
    ``learns`` is true) and the count of each verdict in ``verdicts`` order (absent ones dropped)."""
    grouped = rows.groupby(column, sort=False)
    counts = grouped["verdict"].value_counts().unstack(fill_value=0)
    counts = counts.reindex(columns=[v for v in verdicts if v in counts.columns])
    table = pd.DataFrame({"pairs": grouped.size(), "learns": grouped["learns"].sum()}).join(counts)
    return table.reindex(list(dict.fromkeys(rows[column])))
