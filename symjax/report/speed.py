"""Question 2 in depth: speed across the whole loss range, time to target as censored data, and the
matched-bias split of the gap into the cost of zero W and the cost of the large bias.

Data-flow stage: analysis (``symjax.analysis.speed`` tables on a ``Headline``) -> **report** (markdown lines
and two PNGs of small multiples, one panel per setting).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from symjax.analysis import survival
from symjax.analysis.stats import SPEED_MARGIN
from symjax.report.format import code, fmt_diff, fmt_ratio, markdown, setting_label, span, with_ci
from symjax.report.plots import plot_km, plot_loss_range


def _ci(row, point: str, lo: str, hi: str, fmt=fmt_ratio) -> str:
    return with_ci(fmt(row[point]), fmt(row[lo]), fmt(row[hi]))


def _key(row, by: list[str]) -> tuple:
    return tuple(row[c] for c in by)


def loss_range_cell(table: pd.DataFrame, row, by: list[str]) -> str:
    """``2.25 / 1.70 / 1.40 / 1.27 / 1.20``: a pair's speed ratios at the reference's 10 ... 90% loss drop (∞:
    never)."""
    rows = table[
        (table["scheme"] == row["scheme"]) & (table[by] == pd.Series(_key(row, by), index=by)).all(axis=1)
    ]
    if rows.empty:
        return "n/a"
    return " / ".join(fmt_ratio(r).rstrip("×") for r in rows["ratio"])


def paired_cell(censored: pd.DataFrame, row, by: list[str]) -> str:
    """Hodges–Lehmann ratio [CI] (pairs that both reach the target) of one pair, from
    ``speed.censored_table``."""
    match = censored[
        (censored["scheme"] == row["scheme"])
        & (censored[by] == pd.Series(_key(row, by), index=by)).all(axis=1)
    ]
    if match.empty or not match["hl_pairs"].iloc[0] > 0:
        return "n/a (no pair reaches it)"
    r = match.iloc[0]
    return f"{_ci(r, 'hl_ratio', 'hl_lo', 'hl_hi')} ({int(r['hl_pairs'])} pairs)"


def _panels(table: pd.DataFrame, by: list[str], lr: bool):
    for key, rows in table.groupby(by, sort=False):
        yield setting_label(dict(zip(by, key)), lr=lr), rows


def loss_range_lines(h, schemes: list[str], out: Path, name: str) -> list[str]:
    """Markdown of the speed ratio across the loss range, with its plot ``out/name/loss_range.png``."""
    table = h.loss_range
    if table.empty:
        return []
    lr = "lr" in h.by
    plot_loss_range(list(_panels(table, h.by, lr)), schemes, out / name / "loss_range.png")
    fractions = ", ".join(f"{100 * f:g}" for f in survival.LOSS_DROP_FRACTIONS)
    return [
        f"One target is one point of the curve. The column *× at {fractions}% of the loss drop* gives the "
        "ratio of median steps (scheme / reference, seeds paired) to the training loss at which the "
        "reference's median curve has made that fraction of its drop from step 0 to its last step: a ratio "
        "that falls along the row is a gap that closes, one that rises is a gap that opens (∞: the scheme's "
        "median run never gets there). "
        "One panel per setting, with paired BCa 95% CIs:",
        "",
        f"![speed ratio across the loss range]({name}/loss_range.png)",
        "",
    ]


def censored_lines(h, schemes: list[str], reference: str, out: Path, name: str) -> list[str]:
    """Markdown of time to target as censored data (Kaplan–Meier curves, RMST, Wilson intervals,
    resolution)."""
    table = h.censored
    if table.empty:
        return []
    lr = "lr" in h.by
    panels = []
    for key, setting in h.runs.groupby(h.by, sort=False):
        curves = {}
        for scheme in [s for s in schemes if s in set(setting["scheme"])]:
            own = setting[setting["scheme"] == scheme]
            times = own["steps_to_target"].astype("float64").to_numpy()
            times = np.where(own["diverged"].to_numpy(), np.nan, times)
            horizon = float(own["steps"].iloc[0])
            curves[scheme] = (*survival.km_curve(times, horizon), horizon)
        panels.append((setting_label(dict(zip(h.by, key)), lr=lr), curves))
    plot_km(panels, schemes, out / name / "time_to_target.png")
    coarse = table[table["resolution"] > survival.MAX_RESOLUTION]
    resolution = (
        f"The log interval ({h.log_every:g} steps) is at most {100 * table['resolution'].max():.1f}% of the "
        f"reference's median steps to target, within half the ±{100 * SPEED_MARGIN:g}% band "
        f"({100 * survival.MAX_RESOLUTION:g}%), so *equivalent* can be resolved everywhere."
        if coarse.empty
        else f"In {coarse.groupby(h.by, sort=False).ngroups} setting(s) the log interval ({h.log_every:g} "
        f"steps) exceeds {100 * survival.MAX_RESOLUTION:g}% of the reference's median steps to target (half "
        f"the ±{100 * SPEED_MARGIN:g}% band), so *equivalent* is refused there: the logs cannot resolve the "
        "band."
    )
    return [
        "Time to target as censored data: a run that never reaches the target is censored at its last step, "
        "not dropped. The Kaplan–Meier curve (`scipy.stats.ecdf` on `scipy.stats.CensoredData`; with every "
        "censoring at the horizon it equals the empirical CDF) gives the fraction that has reached the "
        "target by each step; the restricted mean time to target (RMST, the area under the survival curve "
        "up to the horizon) stays finite however many runs are censored (per pair in the appendix). CIs: "
        "BCa bootstrap (RMST ratio: seeds paired), "
        "Wilson for the share reached.",
        "",
        f"![time to target, Kaplan–Meier]({name}/time_to_target.png)",
        "",
        resolution,
        "",
    ]


def censored_appendix_lines(h, reference: str) -> list[str]:
    """The appendix table of time to target as censored data, one row per (setting, scheme) of the headline
    view."""
    table = h.censored
    if table.empty:
        return []
    lr = "lr" in h.by
    rows = [
        {
            "setting": setting_label(r, lr=lr),
            "scheme": code(r["scheme"]),
            "reached [Wilson 95% CI]": with_ci(
                *(f"{100 * r[k]:.0f}%" for k in ("reached", "reached_lo", "reached_hi"))
            ),
            "RMST, steps [95% CI]": with_ci(*(f"{r[k]:.0f}" for k in ("rmst", "rmst_lo", "rmst_hi"))),
            "RMST × reference [95% CI]": "1 (reference)"
            if r["scheme"] == reference
            else _ci(r, "rmst_ratio", "rmst_ratio_lo", "rmst_ratio_hi"),
            "log interval ÷ reference's median steps": "n/a"
            if np.isnan(r["resolution"])
            else f"{100 * r['resolution']:.1f}%",
        }
        for _, r in table.iterrows()
    ]
    return [
        "### Time to target as censored data",
        "",
        "Per (setting, scheme) of the answer's view: the share of runs that reach the early target (Wilson "
        "95% CI), the restricted mean steps to it (RMST, censored at the horizon) with its BCa 95% CI and "
        "its paired ratio to "
        "the reference's, and the log interval as a fraction of the reference's median steps to target.",
        "",
        markdown(rows),
        "",
    ]


def matched_lines(h, what: str = "speed") -> list[str]:
    """The matched-bias split of each question pair's gap: ``speed`` (ratios of median steps to target) or
    ``end``
    (final training-loss differences); nothing without matched controls."""
    table = h.matched
    if table.empty:
        return []
    lr = "lr" in h.by
    if what == "speed":
        rows = [
            {
                "setting": setting_label(r, lr=lr),
                "scheme": code(r["scheme"]),
                "control": code(r["control"]),
                "total: × reference [95% CI]": _ci(r, "total", "total_lo", "total_hi"),
                "cost of zero W: × control [95% CI]": _ci(r, "zero_w", "zero_w_lo", "zero_w_hi"),
                "cost of the bias: control × reference [95% CI]": _ci(r, "bias", "bias_lo", "bias_hi"),
            }
            for _, r in table.iterrows()
        ]
        finite = table[np.isfinite(table["zero_w"])]
        return [
            "Matched-bias control: a zero- or constant-W scheme with a random bias of scale σ differs from "
            "the reference in two ways, its W and its bias. `lecun_normal/<the same bias>` has the "
            "reference's W and the scheme's bias, so the gap splits into the *cost of zero W* (scheme "
            "against its control, seeds paired) and the *cost of the bias* (control against the reference): "
            f"zero W costs {span(finite['zero_w'], fmt_ratio)} the control's steps to target where finite, "
            "the bias "
            f"{span(table['bias'], fmt_ratio)} the reference's.",
            "",
            markdown(rows),
            "",
        ]
    diff = lambda r, k: with_ci(*(fmt_diff(r[x]) for x in (k, f"{k}_lo", f"{k}_hi")))  # noqa: E731
    rows = [
        {
            "setting": setting_label(r, lr=lr),
            "scheme": code(r["scheme"]),
            "control": code(r["control"]),
            "cost of zero W: final loss − control's [95% CI]": diff(r, "zero_w_loss"),
            "cost of the bias: control's − reference's [95% CI]": diff(r, "bias_loss"),
        }
        for _, r in table.iterrows()
    ]
    return [
        "The final training-loss gap split the same way (the matched-bias control against the scheme, then "
        "against the reference):",
        "",
        markdown(rows),
        "",
    ]
