"""The answer as three questions, numbers only: is symmetry broken, is it as fast at tuned rates, does it end
as good.

Data-flow stage: store -> **analysis** -> report (``symjax.report.answer`` words them).

- *Catch-up* (``catch_up_table``): per (setting, scheme), the share of runs that reach the late target (the
  reference's median final training loss) and how many times the reference's steps the scheme needs to get
  there (``stats.paired_catch_up_ci``: median curves, seeds resampled in pairs).
- *End verdict* (``end_verdict``): whether a scheme ends as good as the reference, from the CIs of the
  final-loss and test-accuracy differences of a ``tables.summarize`` row.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from symjax.analysis import speed, stats
from symjax.analysis.best_lr import LR_FREE_COLUMNS, best_lr_runs, has_lr_grid
from symjax.analysis.tables import chance_losses, median_curves, runs_by_setting, summarize
from symjax.core.schemes import parse_scheme
from symjax.results.schema import SETTING_COLUMNS

LEARNS_FRACTION = (
    0.95  # "learns": median final training loss at most this fraction of the setting's chance level
)
END_ACC_MARGIN = 0.02  # "as good": the test-accuracy difference's CI lies above -2 points
END_VERDICTS = {
    "as good": (
        "the CI of the final training-loss difference (scheme − reference) lies below "
        f"+{stats.LOSS_MARGIN:g} and that of the test-accuracy difference above −{100 * END_ACC_MARGIN:g} "
        "points"
    ),
    "falls short": (
        f"the CI of the final training-loss difference lies above +{stats.LOSS_MARGIN:g}, or that of the "
        f"test-accuracy difference below −{100 * END_ACC_MARGIN:g} points"
    ),
    "undecided": "neither is established",
}
CATCH_UP_COLUMNS = ["late_target_loss", "late_reached", "late_multiple", "late_lo", "late_hi"]


def is_question_scheme(scheme: str) -> bool:
    """Zero or constant W with a random bias in the hidden layers (an ``@`` override of some layer is
    ignored)."""
    parsed = parse_scheme(scheme)
    return parsed.weight in ("zeros", "constant") and parsed.bias in ("normal", "uniform", "torch_default")


def question_pairs(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows with zero or constant W and a random b in a model with hidden units: the pairs the question is
    about (a model without hidden layers, logistic regression, has no units whose symmetry could break)."""
    return summary[summary["scheme"].map(is_question_scheme) & (summary["hidden"].astype(str) != "")]


def learns(summary: pd.DataFrame, chance: np.ndarray, moved: np.ndarray | None = None) -> np.ndarray:
    """(rows,) True where the median final training loss is at least 5% below the setting's chance level
    and (``moved`` (rows,): the share of runs whose weights moved, NaN where unknown) at least half the runs'
    weights got a gradient: a net whose weights never move is the chance net itself (its readout bias alone,
    below a chance level measured without the all-zero control)."""
    below = summary["loss_median"].to_numpy(np.float64) <= LEARNS_FRACTION * np.asarray(chance, np.float64)
    if moved is None:
        return below
    moved = np.asarray(moved, np.float64)
    return below & (np.isnan(moved) | (moved >= 0.5))


def weights_moved(diagnostics: pd.DataFrame) -> pd.Series:
    """(run_id -> bool) whether some layer's weight gradient was non-zero at some update (a non-NaN
    ``first_grad_step``)."""
    return diagnostics.groupby("run_id")["first_grad_step"].apply(lambda v: v.notna().any()).rename("moved")


def moved_share(
    summary: pd.DataFrame, runs: pd.DataFrame, diagnostics: pd.DataFrame, by: list[str]
) -> np.ndarray:
    """(rows,) per summary row (keyed by ``by`` and scheme): the share of its ``runs`` whose weights moved
    (``weights_moved``); NaN for a row without diagnostics."""
    keyed = runs.merge(weights_moved(diagnostics), left_on="run_id", right_index=True)
    share = keyed.groupby([*by, "scheme"], sort=False)["moved"].mean()
    return share.reindex(pd.MultiIndex.from_frame(summary[[*by, "scheme"]])).to_numpy(np.float64)


def end_verdict(row) -> str:
    """A key of END_VERDICTS for one ``summarize`` row (``loss_diff_lo``/``_hi``, ``acc_diff_lo``/``_hi``; NaN
    accuracy bounds in regression, where the loss decides alone)."""
    loss_lo, loss_hi, acc_lo, acc_hi = (
        float(row[k]) for k in ("loss_diff_lo", "loss_diff_hi", "acc_diff_lo", "acc_diff_hi")
    )
    if np.isnan(loss_lo) or np.isnan(loss_hi):
        return "undecided"
    if loss_lo > stats.LOSS_MARGIN or acc_hi < -END_ACC_MARGIN:
        return "falls short"
    if loss_hi <= stats.LOSS_MARGIN and (np.isnan(acc_lo) or acc_lo >= -END_ACC_MARGIN):
        return "as good"
    return "undecided"


def _curves(losses: pd.DataFrame, runs: pd.DataFrame) -> np.ndarray:
    """(n, T) training-loss curves of ``runs`` (rows of ``losses``: run_id x step); diverged runs all +inf."""
    values = losses.reindex(runs["run_id"]).to_numpy(np.float64)
    return np.where(runs["diverged"].to_numpy()[:, None], np.inf, values)


def catch_up_table(
    runs: pd.DataFrame, curves: pd.DataFrame, schemes: list[str], reference: str, by: list[str]
) -> pd.DataFrame:
    """Per (setting, scheme), settings by the columns ``by`` in first-appearance order, schemes in ``schemes``
    order:
    ``by`` columns, ``scheme``, ``late_target_loss``, ``late_reached`` (share of runs reaching it) and
    ``late_multiple`` with its CI (``late_lo``, ``late_hi``; NaN without the reference in the setting).

    Args:
        runs: one row per run with the late-target columns (``runs.parquet``, or ``best_lr_runs``'s runs).
        curves: (run_id, step, train_loss, ...) rows of those runs.
    """
    losses = curves[curves["run_id"].isin(runs["run_id"])].pivot(
        index="run_id", columns="step", values="train_loss"
    )
    rows = []
    for key, scheme, own, ref in runs_by_setting(runs, schemes, reference, by):
        row = dict(
            zip(by, key),
            scheme=scheme,
            late_target_loss=float(own["late_target_loss"].iloc[0]),
            late_reached=float(own["reached_late_target"].mean()),
        )
        multiple = (np.nan,) * 3
        if ref is not None:
            seeds = np.intersect1d(own["seed"], ref["seed"])
            a, b = (r[r["seed"].isin(seeds)] for r in (own, ref))
            logged = losses.loc[pd.concat([a["run_id"], b["run_id"]])].notna().any(axis=0)
            columns = logged.index[logged.to_numpy()]
            multiple = stats.paired_catch_up_ci(
                _curves(losses[columns], a), _curves(losses[columns], b), columns.to_numpy(np.float64)
            )
        rows.append(row | dict(zip(["late_multiple", "late_lo", "late_hi"], multiple)))
    return pd.DataFrame(rows)


class Headline(NamedTuple):
    """The view the answer is given in: each scheme at its own best rate when the matrix has a learning-rate
    grid, else every scheme at the matrix's rate."""

    summary: pd.DataFrame  # tables.summarize rows, with ``learns`` and ``end_verdict``
    catch_up: pd.DataFrame  # catch_up_table rows, same order
    runs: pd.DataFrame  # the runs behind them
    by: list[str]  # the setting columns: LR_FREE_COLUMNS (best rates) or SETTING_COLUMNS
    choices: pd.DataFrame | None  # best_lr.choose_lrs (with ``at_edge``), None without a grid
    loss_range: pd.DataFrame  # speed.loss_range_table: speed ratios across the reference's loss drop
    censored: pd.DataFrame  # speed.censored_table: Kaplan-Meier view of steps to target
    matched: pd.DataFrame  # speed.matched_table: cost of zero W against the matched-bias control
    log_every: float  # the log interval of the curves


def headline(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    schemes: list[str],
    reference: str,
    diagnostics: pd.DataFrame | None = None,
) -> Headline:
    """The Headline of a results folder's runs and curves (``learns`` is measured against
    ``tables.chance_losses``, and with ``diagnostics`` needs the runs' weights to move)."""
    if has_lr_grid(runs):
        view, choices = best_lr_runs(runs, curves, reference)
        by = LR_FREE_COLUMNS
    else:
        view, choices, by = runs, None, SETTING_COLUMNS
    log_every = speed.log_interval(curves)
    summary = summarize(view, schemes, reference, by=by, log_every=log_every)
    start = median_curves(view[view["scheme"] == reference], curves, "train_loss")
    moved = None if diagnostics is None else moved_share(summary, view, diagnostics, by)
    summary["learns"] = learns(summary, chance_losses(summary, start, reference, by), moved)
    summary["moved"] = np.nan if moved is None else moved
    summary["end_verdict"] = [
        end_verdict(row) if row["scheme"] != reference else "reference" for _, row in summary.iterrows()
    ]
    return Headline(
        summary,
        catch_up_table(view, curves, schemes, reference, by),
        view,
        by,
        choices,
        speed.loss_range_table(view, curves, schemes, reference, by),
        speed.censored_table(view, schemes, reference, by, log_every),
        speed.matched_table(view, schemes, reference, by),
        log_every,
    )
