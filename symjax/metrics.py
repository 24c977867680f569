"""Convergence metrics per run: final losses, target loss per setting, steps to target.

Data-flow stage: train -> **tidy tables with per-run metrics** -> store -> stats -> report.
A *setting* is one group config at one learning rate. Its target loss is
``matrix.target_loss`` if given, else the median training loss of the reference scheme's
runs at the logged step nearest to ``TARGET_FRACTION * steps`` (never step 0). *Steps to target* is the
first logged step whose training loss is at or below the target; runs that never reach it
are censored (null steps, ``reached`` False), never dropped. A run is *diverged* when a
logged training loss is NaN or infinite.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symjax.config import TARGET_FRACTION, Matrix
from symjax.runner import GroupResult

SETTING_COLUMNS = ["dataset", "hidden", "activation", "optimizer", "lr", "batch_size", "steps"]


def default_target(steps: np.ndarray, train_loss: np.ndarray) -> float:
    """Median over runs (n_runs, n_logs) of the loss at the logged step nearest TARGET_FRACTION * last step (not step 0)."""
    column = max(int(np.abs(steps - TARGET_FRACTION * steps[-1]).argmin()), 1)
    losses = np.where(np.isfinite(train_loss[:, column]), train_loss[:, column], np.inf)
    return float(np.median(losses))


def first_step_at_or_below(steps: np.ndarray, curves: np.ndarray, target: float) -> np.ndarray:
    """First logged step with loss <= target per run (n_runs,), NaN where never reached."""
    below = curves <= target
    return np.where(below.any(axis=1), steps[below.argmax(axis=1)], np.nan)


def group_tables(group: GroupResult, matrix: Matrix) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs table, curves table) of one group, with targets computed per learning rate."""
    cfg = group.config
    n_runs, n_logs = group.train_loss.shape
    runs = pd.DataFrame(
        {
            "run_id": [r.run_id for r in group.runs],
            "dataset": cfg.dataset,
            "hidden": ",".join(map(str, cfg.hidden)),
            "activation": cfg.activation,
            "optimizer": cfg.optimizer,
            "lr": [r.lr for r in group.runs],
            "batch_size": cfg.batch_size or group.n_train,
            "steps": cfg.steps,
            "scheme": [r.scheme for r in group.runs],
            "seed": [r.seed for r in group.runs],
            "final_train_loss": group.train_loss[:, -1].astype(np.float64),
            "final_test_loss": group.test_loss[:, -1].astype(np.float64),
            "final_test_acc": group.test_acc[:, -1].astype(np.float64),
        }
    )
    runs["target_loss"] = np.nan
    runs["steps_to_target"] = np.nan
    for lr in runs["lr"].unique():
        rows = (runs["lr"] == lr).to_numpy()
        reference = rows & (runs["scheme"] == matrix.reference).to_numpy()
        if matrix.target_loss is not None:
            target = matrix.target_loss
        else:
            target = default_target(group.steps, group.train_loss[reference])
        runs.loc[rows, "target_loss"] = target
        runs.loc[rows, "steps_to_target"] = first_step_at_or_below(group.steps, group.train_loss[rows], target)
    runs["steps_to_target"] = runs["steps_to_target"].astype("Int64")
    runs["reached"] = runs["steps_to_target"].notna()
    runs["diverged"] = ~np.isfinite(group.train_loss).all(axis=1)
    curves = pd.DataFrame(
        {
            "run_id": np.repeat(runs["run_id"].to_numpy(), n_logs),
            "step": np.tile(group.steps, n_runs),
            "train_loss": group.train_loss.reshape(-1).astype(np.float64),
            "test_loss": group.test_loss.reshape(-1).astype(np.float64),
            "test_acc": group.test_acc.reshape(-1).astype(np.float64),
        }
    )
    return runs, curves


def results_tables(groups: list[GroupResult], matrix: Matrix) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenated (runs, curves) tables of every group, sorted by run_id."""
    pairs = [group_tables(g, matrix) for g in groups]
    runs = pd.concat([p[0] for p in pairs], ignore_index=True).sort_values("run_id", ignore_index=True)
    curves = pd.concat([p[1] for p in pairs], ignore_index=True).sort_values(["run_id", "step"], ignore_index=True)
    return runs, curves
