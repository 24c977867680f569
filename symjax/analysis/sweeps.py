"""Bias-scale and width sweeps, numbers only: final loss and steps to target against the bias scale σ of
``zeros/normal(σ)`` (``zeros/zeros`` is σ = 0) and the constant c of ``constant(c)/normal(1.0)``, and zero W at
width 2H against random W at width H ("live width": with relu and zero W about half the units are dead).

Data-flow stage: store -> **analysis** -> report (``symjax.report.sweeps``). Inputs are ``tables.summarize``
rows and runs tables; settings are keyed by ``by`` (``LR_FREE_COLUMNS`` in the best-rate view).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symjax.analysis import stats
from symjax.analysis.tables import compare
from symjax.core.schemes import parse_scheme
from symjax.results.metrics import steps_from_curves

QUESTION = "zeros/normal(1.0)"  # the scheme set beside the reference in the width sweep
MIN_SCALES = 4  # scales of one family in a setting that make a sweep


def scale_of(scheme: str, family: str) -> float:
    """The swept scale of a scheme, NaN when it is not of ``family``: ``"bias"`` reads σ of ``zeros/normal(σ)``
    (0 for ``zeros/zeros``), ``"constant"`` reads c of ``constant(c)/normal(1.0)``.

    >>> scale_of("zeros/normal(0.3)", "bias"), scale_of("zeros/zeros", "bias"), scale_of("constant(0.2)/normal(1.0)", "constant")
    (0.3, 0.0, 0.2)
    """
    parsed = parse_scheme(scheme)
    if parsed.overrides:
        return float("nan")
    if family == "bias" and parsed.weight == "zeros":
        return {"zeros": 0.0, "normal": parsed.bias_args[0] if parsed.bias_args else float("nan")}.get(parsed.bias, float("nan"))
    if family == "constant" and parsed.weight == "constant" and (parsed.bias, parsed.bias_args) == ("normal", (1.0,)):
        return float(parsed.weight_args[0])
    return float("nan")


def scale_rows(summary: pd.DataFrame, family: str, by: list[str]) -> pd.DataFrame:
    """The summary rows of one sweep family with its ``scale`` column, in summary order, of the settings (``by``)
    that have at least MIN_SCALES scales of the family (fewer is no sweep)."""
    scales = summary["scheme"].map(lambda s: scale_of(s, family))
    rows = summary.assign(scale=scales)[scales.notna().to_numpy()]
    swept = rows.groupby(by, sort=False)["scale"].transform("nunique") >= MIN_SCALES
    return rows[swept.to_numpy()]


def best_scales(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per setting (``by``): the scale with the lowest median final training loss (ties: the smaller scale), its
    loss with CI, and whether it lies at the edge of the scales tried."""
    out = []
    for key, setting in rows.groupby(by, sort=False):
        ranked = setting.sort_values(["loss_median", "scale"], kind="stable")
        best = ranked.iloc[0]
        edge = best["scale"] in (setting["scale"].min(), setting["scale"].max())
        out.append(dict(zip(by, key), scale=best["scale"], loss_median=best["loss_median"], loss_lo=best["loss_lo"],
                        loss_hi=best["loss_hi"], at_edge=bool(edge)))
    return pd.DataFrame(out)


def width_pairs(runs: pd.DataFrame, curves: pd.DataFrame, reference: str, by: list[str]) -> pd.DataFrame:
    """Zero W (QUESTION) at width 2H against the reference at width H, one hidden layer, paired by seed.

    Args:
        runs: one row per run (e.g. ``best_lr_runs``'s), ``by``: its setting columns (``hidden`` among them).
    Returns:
        One row per (setting at width H, with 2H also present): the ``by`` columns of the reference's setting,
        ``width`` (H), the comparison (``tables.COMPARISON_COLUMNS``: steps counted against the reference's
        target at H) and ``verdict`` (``stats.equivalence_verdict``); empty without such pairs.
    """
    single = runs[runs["hidden"].astype(str).str.fullmatch(r"[0-9]+")]  # one hidden layer
    others = [c for c in by if c != "hidden"]  # with lr (the same-rate view): both at the same rate
    rows = []
    for key, setting in single.groupby(others, sort=False):
        widths = {int(h): r for h, r in setting.groupby("hidden", sort=False)}
        for width in sorted(widths):
            if 2 * width not in widths:
                continue
            ref = widths[width][widths[width]["scheme"] == reference].sort_values("seed")
            wide = widths[2 * width][widths[2 * width]["scheme"] == QUESTION].sort_values("seed")
            if ref.empty or wide.empty:
                continue
            target = np.full(len(wide), float(ref["target_loss"].iloc[0]))
            steps = steps_from_curves(wide, curves, target)
            wide = wide.assign(target_loss=target, steps_to_target=steps, reached=~steps.isna())
            row = dict(zip(others, key), width=width, **compare(wide, ref))
            row["verdict"] = stats.equivalence_verdict(float(wide["reached"].mean()), row["speed_lo"], row["speed_hi"],
                                                       row["loss_diff_lo"], row["loss_diff_hi"])
            rows.append(row)
    return pd.DataFrame(rows)
