"""Every scheme at its own best learning rate: the second view of a fair comparison (DeepOBS protocol).

Data-flow stage: store -> **analysis** (a runs table at the best rates, then ``tables.summarize``) -> report.
When a matrix tries several learning rates per setting, each scheme gets the rate from the
grid with the lowest median final training loss (diverged runs count as +inf; ties go to the
smaller rate, so the choice is deterministic; Schneider, Balles & Hennig, DeepOBS, ICLR 2019).
Its runs at that rate are then compared with the reference's runs at the reference's own best
rate. Steps to target are recomputed from the curves against one common target per setting:
the reference's target at its best rate. Numbers only; ``symjax.report.build`` formats them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symjax.analysis.tables import censored
from symjax.results.metrics import setting_medians, steps_from_curves, with_late_target
from symjax.results.schema import SETTING_COLUMNS

LR_FREE_COLUMNS = [c for c in SETTING_COLUMNS if c != "lr"]  # a setting of the best-lr view


def has_lr_grid(runs: pd.DataFrame) -> bool:
    """True when some setting (all columns but ``lr``) was trained at more than one learning rate."""
    return bool((runs.groupby(LR_FREE_COLUMNS, sort=False)["lr"].nunique() > 1).any())


def choose_lrs(runs: pd.DataFrame) -> pd.DataFrame:
    """The best learning rate per (setting without lr, scheme).

    Args:
        runs: one row per run (``runs.parquet``).
    Returns:
        One row per (LR_FREE_COLUMNS, scheme) in first-appearance order, with ``lr`` (the chosen
        rate), ``loss_median`` (its median final training loss, +inf when most runs diverged) and
        ``lrs`` (how many rates were tried) and ``at_edge`` (the chosen rate is the smallest or the largest
        tried, so the grid may have been too narrow). Lowest median wins; ties go to the smaller rate.
    """
    keys = [*LR_FREE_COLUMNS, "scheme"]
    losses = runs[[*keys, "lr"]].assign(loss_median=censored(runs, "final_train_loss"))
    medians = losses.groupby([*keys, "lr"], sort=False)["loss_median"].median().reset_index()
    rates = medians.groupby(keys, sort=False)["lr"]
    at_edge = (medians["lr"] <= rates.transform("min")) | (medians["lr"] >= rates.transform("max"))
    tried = rates.transform("size")
    ranked = medians.assign(lrs=tried, at_edge=at_edge & (tried > 1)).sort_values(
        ["loss_median", "lr"], kind="stable"
    )
    return ranked.groupby(keys, sort=False).head(1).sort_index().reset_index(drop=True)


def best_lr_runs(
    runs: pd.DataFrame, curves: pd.DataFrame, reference: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, choices): each scheme's runs at its own best learning rate, against one target per setting.

    Args:
        runs: one row per run; curves: (run_id, step, train_loss, ...) rows of those runs.
        reference: the scheme whose target (at its own best rate) every scheme must reach.
    Returns:
        runs: the chosen runs (their ``lr`` is the scheme's chosen rate) with ``target_loss``,
            ``steps_to_target`` (Int64, null when never reached, as in ``metrics``) and
            ``reached`` recomputed against the reference's target, and the late-target columns against
            the reference's median final loss at its best rate. Settings without the reference keep their
            own (early) targets. Summarize with ``summarize(..., by=LR_FREE_COLUMNS)``.
        choices: ``choose_lrs(runs)``.
    """
    choices = choose_lrs(runs)
    keys = [*LR_FREE_COLUMNS, "scheme", "lr"]
    chosen = runs.merge(choices[keys], on=keys, how="inner")
    chosen = chosen.sort_values("run_id", kind="stable", ignore_index=True)
    common = setting_medians(chosen, chosen["target_loss"].to_numpy(np.float64), reference, LR_FREE_COLUMNS)
    target = np.where(np.isnan(common), chosen["target_loss"].to_numpy(np.float64), common)
    chosen["target_loss"] = target
    chosen["steps_to_target"] = steps_from_curves(chosen, curves, target)
    chosen["reached"] = chosen["steps_to_target"].notna()
    return with_late_target(chosen, curves, reference, LR_FREE_COLUMNS), choices
