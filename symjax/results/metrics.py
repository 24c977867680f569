"""Convergence metrics per run: final losses, target loss per setting, steps to target.

Data-flow stage: store (chunks, joined into a ``GroupResult`` by ``symjax.engine.runner``) -> **metrics**
(tidy tables) -> written by ``symjax.results.store`` -> analysis (which reuses ``steps_to_target``) -> report.
A *setting* is one group config at one learning rate. Its target loss is
``matrix.target_loss`` if given, else the median training loss of the reference scheme's
runs at the logged step nearest to ``TARGET_FRACTION * steps`` (never step 0). *Steps to target* is the
first logged step whose training loss is at or below the target; runs that never reach it,
or that diverge, are censored (null steps, ``reached`` False), never dropped. The *late target* of a
setting is the reference's median final training loss: ``steps_to_late_target`` and
``reached_late_target`` say whether (and when) a run gets as low as the reference ends, censored alike. A run
is *diverged* when a logged training loss is NaN or infinite; ``diverged_step`` is the first such logged step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from symjax.core.axes import LATER_GROUPED
from symjax.core.data import dataset_task
from symjax.core.group import GroupConfig, Run, minibatch_size
from symjax.matrix.spec import Matrix

TARGET_FRACTION = 0.25  # default target: the reference's median training loss at this fraction of the steps


@dataclass
class GroupResult:
    """Logs of every run of one group, as numpy arrays: what training hands to this stage."""

    config: GroupConfig
    runs: list[Run]
    steps: np.ndarray  # (n_logs,) logged steps
    train_loss: np.ndarray  # (n_runs, n_logs)
    test_loss: np.ndarray  # (n_runs, n_logs)
    test_acc: np.ndarray  # (n_runs, n_logs)
    diagnostics: dict[str, np.ndarray]  # name -> (n_runs, n_logs, n_layers), see symjax.core.diagnostics
    first_grad_step: np.ndarray  # (n_runs, n_layers) int, -1 where a layer's weight gradient stayed 0
    n_train: int
    seconds: float  # wall time of the group's chunks, compilation included
    compile_seconds: float


def default_target(steps: np.ndarray, train_loss: np.ndarray) -> float:
    """Median over runs (n_runs, n_logs) of the loss at the logged step nearest TARGET_FRACTION * last step
    (not step 0)."""
    return median_loss_at(train_loss, max(int(np.abs(steps - TARGET_FRACTION * steps[-1]).argmin()), 1))


def median_loss_at(train_loss: np.ndarray, column: int) -> float:
    """Median over runs (n_runs, n_logs) of the loss in one logged column, diverged (non-finite) = +inf; NaN
    when there are no runs or most diverged (no target). ``column=-1``: the late target, the median final
    loss.

    >>> median_loss_at(np.array([[2.0, 1.0], [2.0, 0.5], [2.0, np.nan]]), -1)
    1.0
    """
    if not len(train_loss):
        return float("nan")
    losses = np.where(np.isfinite(train_loss[:, column]), train_loss[:, column], np.inf)
    target = float(np.median(losses))
    return target if np.isfinite(target) else float("nan")


def steps_to_target(steps: np.ndarray, curves: np.ndarray, target: float, diverged: np.ndarray) -> np.ndarray:
    """First logged step (n_runs,) whose loss (curves (n_runs, n_logs)) is at or below ``target`` (a float, or
    (n_runs, 1) one per run); NaN (censored) where never reached and where the run diverged (``diverged``
    (n_runs,)): a diverged run is a failure, whatever it reached before. The one rule for every
    steps-to-target column."""
    return np.where(diverged, np.nan, first_step_where(steps, curves <= target))


def first_step_where(steps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """First logged step where mask (n_runs, n_logs) holds, per run (n_runs,); NaN where it never does."""
    return np.where(mask.any(axis=1), steps[mask.argmax(axis=1)], np.nan)


def group_tables(group: GroupResult, matrix: Matrix) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(runs, curves, diagnostics) tables of one group, with targets computed per learning rate: one row per
    run, per (run, logged step) and per (run, logged step, layer)."""
    cfg = group.config
    n_runs, n_logs = group.train_loss.shape
    runs = pd.DataFrame(
        {
            "run_id": [r.run_id for r in group.runs],
            "dataset": cfg.dataset,
            "model": cfg.model,
            "task": dataset_task(cfg.dataset),
            "hidden": ",".join(map(str, cfg.hidden)),
            "activation": cfg.activation,
            "optimizer": cfg.optimizer,
            "lr": [r.lr for r in group.runs],
            "batch_size": minibatch_size(cfg.batch_size, group.n_train),
            "steps": cfg.steps,
            **{axis.single: getattr(cfg, axis.single) for axis in LATER_GROUPED},  # dtype, schedule, ...
            "scheme": [r.scheme for r in group.runs],
            "seed": [r.seed for r in group.runs],
            "final_train_loss": group.train_loss[:, -1].astype(np.float64),
            "final_test_loss": group.test_loss[:, -1].astype(np.float64),
            "final_test_acc": group.test_acc[:, -1].astype(np.float64),
        }
    )
    non_finite = ~np.isfinite(group.train_loss)
    diverged = non_finite.any(axis=1)
    for column in ("target_loss", "steps_to_target", "late_target_loss", "steps_to_late_target"):
        runs[column] = np.nan
    for lr in runs["lr"].unique():
        rows = (runs["lr"] == lr).to_numpy()
        reference = group.train_loss[rows & (runs["scheme"] == matrix.reference).to_numpy()]
        targets = {
            "": matrix.target_loss
            if matrix.target_loss is not None
            else default_target(group.steps, reference),
            "late_": median_loss_at(reference, -1),
        }
        for prefix, target in targets.items():
            runs.loc[rows, f"{prefix}target_loss"] = target
            runs.loc[rows, f"steps_to_{prefix}target"] = steps_to_target(
                group.steps, group.train_loss[rows], target, diverged[rows]
            )
    runs["steps_to_target"] = runs["steps_to_target"].astype("Int64")
    runs["reached"] = runs["steps_to_target"].notna()
    runs["steps_to_late_target"] = runs["steps_to_late_target"].astype("Int64")
    runs["reached_late_target"] = runs["steps_to_late_target"].notna()
    runs["diverged"] = diverged
    runs["diverged_step"] = pd.Series(first_step_where(group.steps, non_finite)).astype("Int64")
    runs["train_loss_auc"] = area_under_curve(group.steps, group.train_loss)
    curves = pd.DataFrame(
        {
            "run_id": np.repeat(runs["run_id"].to_numpy(), n_logs),
            "step": np.tile(group.steps, n_runs),
            "train_loss": group.train_loss.reshape(-1).astype(np.float64),
            "test_loss": group.test_loss.reshape(-1).astype(np.float64),
            "test_acc": group.test_acc.reshape(-1).astype(np.float64),
        }
    )
    return runs, curves, diagnostics_table(group, runs["run_id"].to_numpy())


def area_under_curve(steps: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """(n_runs,) trapezoid area under each run's curve (curves (n_runs, n_logs) at steps (n_logs,)) divided by
    the last step: the mean loss over training."""
    return np.trapezoid(curves.astype(np.float64), steps, axis=1) / steps[-1]


def diagnostics_table(group: GroupResult, run_ids: np.ndarray) -> pd.DataFrame:
    """Rows (run_id, step, layer, <diagnostics>, first_grad_step); layers numbered from 1, readout last."""
    n_runs, n_logs, n_layers = group.diagnostics["rank"].shape
    table = pd.DataFrame(
        {
            "run_id": np.repeat(run_ids, n_logs * n_layers),
            "step": np.tile(np.repeat(group.steps, n_layers), n_runs),
            "layer": np.tile(np.arange(1, n_layers + 1), n_runs * n_logs),
            **{name: values.reshape(-1).astype(np.float64) for name, values in group.diagnostics.items()},
        }
    )
    first = np.repeat(group.first_grad_step, n_logs, axis=0).reshape(-1)
    table["first_grad_step"] = pd.Series(first).where(first >= 0).astype("Int64")  # null: never non-zero
    return table


def setting_medians(runs: pd.DataFrame, values: np.ndarray, scheme: str, by: list[str]) -> np.ndarray:
    """(runs,) per run: the median of ``values`` (runs,) over the runs of ``scheme`` in the run's setting
    (columns
    ``by``), +inf counting as larger than all; NaN where the setting lacks the scheme or the median is
    infinite."""
    own = pd.Series(np.where(runs["scheme"] == scheme, values, np.nan), index=runs.index)  # NaN: not counted
    out = own.groupby([runs[c] for c in by], sort=False).transform("median").to_numpy(np.float64)
    return np.where(np.isfinite(out), out, np.nan)


def steps_from_curves(
    runs: pd.DataFrame, curves: pd.DataFrame, target: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """Int64 (runs,) steps to a per-run ``target`` (runs,) read from the ``curves`` table (``steps_to_target``
    rule)."""
    losses = curves[curves["run_id"].isin(runs["run_id"])].pivot(
        index="run_id", columns="step", values="train_loss"
    )
    losses = losses.reindex(runs["run_id"])  # (runs, steps); NaN where a run has no such logged step
    steps = steps_to_target(
        losses.columns.to_numpy(),
        losses.to_numpy(np.float64),
        np.asarray(target)[:, None],
        runs["diverged"].to_numpy(),
    )
    return pd.array(np.where(np.isnan(steps), None, steps), dtype="Int64")


def final_losses(runs: pd.DataFrame) -> np.ndarray:
    """(runs,) final training losses, diverged or non-finite = +inf."""
    losses = runs["final_train_loss"].to_numpy(np.float64)
    return np.where(runs["diverged"].to_numpy() | ~np.isfinite(losses), np.inf, losses)


def with_late_target(runs: pd.DataFrame, curves: pd.DataFrame, reference: str, by: list[str]) -> pd.DataFrame:
    """``runs`` with ``late_target_loss`` (the ``reference``'s median final training loss in the run's
    setting, the columns ``by``), ``steps_to_late_target`` and ``reached_late_target`` recomputed from
    ``curves``."""
    target = setting_medians(runs, final_losses(runs), reference, by)
    steps = steps_from_curves(runs, curves, target)
    return runs.assign(late_target_loss=target, steps_to_late_target=steps, reached_late_target=~steps.isna())


def results_tables(
    groups: list[GroupResult], matrix: Matrix
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Concatenated (runs, curves, diagnostics) tables of every group, sorted by run_id."""
    tables = [group_tables(g, matrix) for g in groups]
    runs = pd.concat([t[0] for t in tables], ignore_index=True).sort_values("run_id", ignore_index=True)
    curves = pd.concat([t[1] for t in tables], ignore_index=True).sort_values(
        ["run_id", "step"], ignore_index=True
    )
    diagnostics = pd.concat([t[2] for t in tables], ignore_index=True).sort_values(
        ["run_id", "step", "layer"], ignore_index=True
    )
    return runs, curves, diagnostics
