"""Bias-scale and width sweeps, numbers only: final loss and steps to target against the bias scale σ of
``zeros/normal(σ)`` (``zeros/zeros`` is σ = 0) and the constant c of ``constant(c)/normal(1.0)``, and zero W
at width 2H against random W at width H ("live width": with relu and zero W about half the units are dead).

Matched-bias controls: ``lecun_normal/normal(σ)`` (random W with the same bias; ``lecun_normal/zeros``, the
reference, is σ = 0) is itself slower than the reference at large σ, so the total gap of ``zeros/normal(σ)``
(or
``constant(c)/normal(1.0)``) to the reference splits into the cost of the W init (the scheme against its
matched control, paired by seed) and the cost of the bias scale (the matched control against the reference).
Ratios of median steps to the same target, so the two point estimates multiply to the total when the three
share their seeds.

Data-flow stage: store -> **analysis** -> report (``symjax.report.sweeps``). Inputs are ``tables.summarize``
rows and runs tables; settings are keyed by ``by`` (``LR_FREE_COLUMNS`` in the best-rate view).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symjax.analysis import stats
from symjax.analysis.tables import COMPARISON_COLUMNS, compare
from symjax.core.schemes import parse_scheme
from symjax.results.metrics import steps_from_curves

QUESTION = "zeros/normal(1.0)"  # the scheme set beside the reference in the width sweep
MIN_SCALES = 4  # scales of one family in a setting that make a sweep
CONTROL_WEIGHT = "lecun_normal"  # the W init of the matched-bias controls (the reference's)


def scale_of(scheme: str, family: str) -> float:
    """The swept scale of a scheme, NaN when it is not of ``family``: ``"bias"`` reads σ of
    ``zeros/normal(σ)``
    (0 for ``zeros/zeros``), ``"constant"`` reads c of ``constant(c)/normal(1.0)``, ``"control"`` reads σ of
    the matched-bias control ``lecun_normal/normal(σ)`` (0 for ``lecun_normal/zeros``).

    >>> (scale_of("zeros/normal(0.3)", "bias"), scale_of("zeros/zeros", "bias"),
    ...  scale_of("constant(0.2)/normal(1.0)", "constant"))
    (0.3, 0.0, 0.2)
    >>> (scale_of("lecun_normal/normal(3.0)", "control"), scale_of("lecun_normal/zeros", "control"),
    ...  scale_of("zeros/zeros", "control"))
    (3.0, 0.0, nan)
    """
    parsed = parse_scheme(scheme)
    if parsed.overrides:
        return float("nan")
    if (family == "bias" and parsed.weight == "zeros") or (
        family == "control" and parsed.weight == CONTROL_WEIGHT and not parsed.weight_args
    ):
        return {"zeros": 0.0, "normal": parsed.bias_args[0] if parsed.bias_args else float("nan")}.get(
            parsed.bias, float("nan")
        )
    if (
        family == "constant"
        and parsed.weight == "constant"
        and (parsed.bias, parsed.bias_args) == ("normal", (1.0,))
    ):
        return float(parsed.weight_args[0])
    return float("nan")


def bias_scale_of(scheme: str) -> float:
    """σ of the bias of a scheme of the ``bias`` or ``constant`` family (the σ of its matched control), else
    NaN.

    >>> (bias_scale_of("zeros/normal(0.3)"), bias_scale_of("constant(0.2)/normal(1.0)"),
    ...  bias_scale_of("zeros/zeros"))
    (0.3, 1.0, 0.0)
    """
    sigma = scale_of(scheme, "bias")
    if not np.isnan(sigma):
        return sigma
    return float("nan") if np.isnan(scale_of(scheme, "constant")) else 1.0


def matched_control(scheme: str, schemes) -> str | None:
    """The scheme among ``schemes`` that is ``scheme``'s matched-bias control (``lecun_normal/normal(σ)`` with
    σ the bias scale of ``scheme``; ``lecun_normal/zeros`` for σ = 0), None when there is none (or ``scheme``
    has no σ)."""
    sigma = bias_scale_of(scheme)
    return next((s for s in schemes if scale_of(s, "control") == sigma), None)


def scale_rows(summary: pd.DataFrame, family: str, by: list[str]) -> pd.DataFrame:
    """The summary rows of one sweep family with its ``scale`` column, in summary order, of the settings
    (``by``) that have at least MIN_SCALES scales of the family (fewer is no sweep)."""
    scales = summary["scheme"].map(lambda s: scale_of(s, family))
    rows = summary.assign(scale=scales)[scales.notna().to_numpy()]
    swept = rows.groupby(by, sort=False)["scale"].transform("nunique") >= MIN_SCALES
    return rows[swept.to_numpy()]


def control_rows(summary: pd.DataFrame, family: str, by: list[str]) -> pd.DataFrame:
    """The summary rows of the matched-bias controls (with ``scale``: their σ) of the settings that sweep
    ``family``,
    in summary order; empty when those settings have no control other than the reference (older results)."""
    swept = scale_rows(summary, family, by)
    if swept.empty:
        return swept
    scales = summary["scheme"].map(lambda s: scale_of(s, "control"))
    rows = summary.assign(scale=scales)[scales.notna().to_numpy()]
    keys = pd.MultiIndex.from_frame(swept[by].drop_duplicates())
    rows = rows[pd.MultiIndex.from_frame(rows[by]).isin(keys)]
    return rows if (rows["scale"] > 0).any() else rows.iloc[:0]


def _prefixed(prefix: str, comparison: dict) -> dict:
    return {f"{prefix}_{k}": comparison[k] for k in COMPARISON_COLUMNS}


def _split(own: pd.DataFrame, control: pd.DataFrame, reference: pd.DataFrame) -> dict:
    """``total_`` (scheme vs reference), ``weight_`` (scheme vs its matched control: the cost of zero or
    constant W) and
    ``bias_`` (control vs reference: the cost of the bias scale) comparisons of one scheme's runs."""
    return {
        **_prefixed("total", compare(own, reference)),
        **_prefixed("weight", compare(own, control)),
        **_prefixed("bias", compare(control, reference)),
    }


def control_splits(
    runs: pd.DataFrame, summary: pd.DataFrame, family: str, reference: str, by: list[str]
) -> pd.DataFrame:
    """How the gap of each scheme of a sweep family to the reference splits into the cost of its W and of its
    bias.

    Args:
        runs: one row per run (``Headline.runs``), ``summary``: its ``tables.summarize`` rows, ``by``: the
        setting
            columns; ``family``: ``"bias"`` or ``"constant"`` (``scale_of``).
    Returns:
        One row per (setting that sweeps ``family``, scheme of the family whose matched control, not the
        reference, is in the setting), settings in summary order, scales ascending: the ``by`` columns,
        ``scale`` (σ or
        c),
        ``scheme``, ``control``, and with each prefix the COMPARISON_COLUMNS (``total_speed_ratio``:
        scheme ÷ reference, ``weight_speed_ratio``: scheme ÷ control, ``bias_speed_ratio``: control ÷
        reference, each of median steps to target with a 95% CI, runs paired by seed). Empty without controls.
    """
    swept = scale_rows(summary, family, by)
    if swept.empty:
        return pd.DataFrame()
    settings = dict(iter(runs.groupby(by, sort=False)))
    rows = []
    for key, setting in swept.groupby(by, sort=False):
        own_runs = settings.get(key)
        if own_runs is None:
            continue
        by_scheme = {s: r.sort_values("seed") for s, r in own_runs.groupby("scheme", sort=False)}
        if reference not in by_scheme:
            continue
        for _, row in setting.sort_values("scale", kind="stable").iterrows():
            control = matched_control(row["scheme"], by_scheme)
            if control is None or control == reference or row["scheme"] not in by_scheme:
                continue
            rows.append(
                dict(
                    zip(by, key),
                    scale=row["scale"],
                    scheme=row["scheme"],
                    control=control,
                    **_split(by_scheme[row["scheme"]], by_scheme[control], by_scheme[reference]),
                )
            )
    return pd.DataFrame(rows)


def best_scales(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per setting (``by``): the scale with the lowest median final training loss (ties: the smaller scale),
    its loss with CI, and whether it lies at the edge of the scales tried."""
    out = []
    for key, setting in rows.groupby(by, sort=False):
        ranked = setting.sort_values(["loss_median", "scale"], kind="stable")
        best = ranked.iloc[0]
        edge = best["scale"] in (setting["scale"].min(), setting["scale"].max())
        out.append(
            dict(
                zip(by, key),
                scale=best["scale"],
                loss_median=best["loss_median"],
                loss_lo=best["loss_lo"],
                loss_hi=best["loss_hi"],
                at_edge=bool(edge),
            )
        )
    return pd.DataFrame(out)


def width_pairs(
    runs: pd.DataFrame, curves: pd.DataFrame, reference: str, by: list[str], controls: bool = False
) -> pd.DataFrame:
    """Zero W (QUESTION) at width 2H against the reference at width H, one hidden layer, paired by seed.

    Args:
        runs: one row per run (e.g. ``best_lr_runs``'s), ``by``: its setting columns (``hidden`` among them).
        controls: also split the gap by QUESTION's matched-bias control at width H
        (``lecun_normal/normal(1.0)``),
            where the setting at H has it.
    Returns:
        One row per (setting at width H, with 2H also present): the ``by`` columns of the reference's setting,
        ``width`` (H), the comparison (``tables.COMPARISON_COLUMNS``: steps counted against the reference's
        target at H) and ``verdict`` (``stats.equivalence_verdict``); empty without such pairs. With
        ``controls``,
        rows whose setting at H has the control add ``control`` and the ``weight_`` (zero W at 2H ÷ the
        control at H) and ``bias_`` (the control at H ÷ the reference at H) COMPARISON_COLUMNS (columns absent
        when no row has them).
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
            row["verdict"] = stats.equivalence_verdict(
                float(wide["reached"].mean()),
                row["speed_lo"],
                row["speed_hi"],
                row["loss_diff_lo"],
                row["loss_diff_hi"],
            )
            control = matched_control(QUESTION, widths[width]["scheme"].unique()) if controls else None
            if control is not None and control != reference:
                own = widths[width][widths[width]["scheme"] == control].sort_values("seed")
                row.update(
                    control=control,
                    **_prefixed("weight", compare(wide, own)),
                    **_prefixed("bias", compare(own, ref)),
                )
            rows.append(row)
    return pd.DataFrame(rows)
