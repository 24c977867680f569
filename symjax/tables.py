"""Summary tables: one row per setting x scheme with medians, IQMs and bootstrap CIs.

Data-flow stage: store -> metrics -> **statistics per setting x scheme** -> report.
Numbers only (no formatting): ``report.py`` turns them into markdown.
Steps to target of runs that never reached the target are +inf (censored); final losses
of diverged runs are +inf; the speed ratio is median steps to target of a scheme over
that of the reference scheme, bootstrapped with runs paired by seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symjax import stats
from symjax.metrics import SETTING_COLUMNS

METRICS = {  # summary prefix -> runs column
    "steps": "steps_to_target",
    "loss": "final_train_loss",
    "test_loss": "final_test_loss",
    "acc": "final_test_acc",
}


def verdict(reached: float, ratio_lo: float, ratio_hi: float) -> str:
    """Plain-words answer for one scheme against the reference in one setting."""
    if reached < 0.5:
        return "fails"
    if np.isnan(ratio_lo):
        return "undetermined"
    if ratio_lo > 1:
        return "slower"
    if ratio_hi < 1:
        return "faster"
    return "as fast"


def _metric_summary(values: np.ndarray, prefix: str) -> dict:
    lo, hi = stats.bootstrap_ci(values, stats.median)
    return {f"{prefix}_median": float(stats.median(values)), f"{prefix}_lo": lo, f"{prefix}_hi": hi,
            f"{prefix}_iqm": float(stats.iqm(values))}


def _censored(runs: pd.DataFrame, column: str) -> np.ndarray:
    values = runs[column].astype("float64").to_numpy()
    if column == "final_test_acc":
        return np.where(runs["diverged"].to_numpy(), 0.0, values)
    return stats.as_censored(np.where(runs["diverged"].to_numpy(), np.nan, values))


def summarize(runs: pd.DataFrame, schemes: list[str], reference: str) -> pd.DataFrame:
    """Summary per (setting, scheme), settings in first-appearance order, schemes in ``schemes`` order."""
    rows = []
    for setting, setting_runs in runs.groupby(SETTING_COLUMNS, sort=False):
        by_scheme = {s: r.sort_values("seed") for s, r in setting_runs.groupby("scheme", sort=False)}
        ref = by_scheme.get(reference)
        for scheme in [s for s in schemes if s in by_scheme]:
            scheme_runs = by_scheme[scheme]
            row = dict(zip(SETTING_COLUMNS, setting))
            row.update(scheme=scheme, n=len(scheme_runs), target_loss=float(scheme_runs["target_loss"].iloc[0]),
                       reached=float(scheme_runs["reached"].mean()), diverged=float(scheme_runs["diverged"].mean()))
            for prefix, column in METRICS.items():
                row.update(_metric_summary(_censored(scheme_runs, column), prefix))
            row.update(speed_ratio=np.nan, speed_lo=np.nan, speed_hi=np.nan, verdict="reference")
            if ref is not None and scheme != reference:
                paired = scheme_runs.merge(ref, on="seed", suffixes=("", "_ref"))
                ratio = stats.paired_ratio_ci(
                    stats.as_censored(paired["steps_to_target"].astype("float64")),
                    stats.as_censored(paired["steps_to_target_ref"].astype("float64")),
                )
                row.update(speed_ratio=ratio[0], speed_lo=ratio[1], speed_hi=ratio[2],
                           verdict=verdict(row["reached"], ratio[1], ratio[2]))
            elif scheme != reference:
                row["verdict"] = "no reference"
            rows.append(row)
    return pd.DataFrame(rows)


def median_curves(runs: pd.DataFrame, curves: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per (setting, scheme, step): 25th, 50th and 75th percentile of ``column`` over runs."""
    keyed = curves.merge(runs[["run_id", *SETTING_COLUMNS, "scheme"]], on="run_id")
    grouped = keyed.groupby([*SETTING_COLUMNS, "scheme", "step"], sort=False)[column]
    return grouped.quantile([0.25, 0.5, 0.75]).unstack().rename(columns={0.25: "q25", 0.5: "q50", 0.75: "q75"}).reset_index()
