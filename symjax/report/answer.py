"""The top of a report: the short answer, then three questions, each with a verdict, CIs and the settings
where it differs, and the verdict map.

1. Is symmetry broken? (does zero or constant W with a random b learn at all)
2. Is it as fast, at tuned rates? (each scheme at its own best rate, when the matrix has a grid)
3. Does it end as good, given enough steps? (final loss and test accuracy, and the late target; with the
   long-horizon companion results when there are some)

Data-flow stage: analysis (``symjax.analysis.answer.Headline``) -> **report** (markdown lines and one PNG).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from symjax.analysis.answer import END_VERDICTS, Headline, is_question_scheme, question_pairs
from symjax.analysis.stats import LOSS_MARGIN
from symjax.analysis.survival import LOSS_DROP_FRACTIONS
from symjax.analysis.tables import CONTROL
from symjax.report.format import (
    code,
    fmt_loss,
    fmt_ratio,
    markdown,
    setting_label,
    span,
    verdict_cell,
    with_ci,
)
from symjax.report.plots import plot_verdict_map
from symjax.report.sections import verdict_counts
from symjax.report.speed import censored_lines, loss_range_cell, loss_range_lines, matched_lines, paired_cell

MAX_LISTED = 12  # settings named in "where it differs" before "and N more"
MAX_TABLE_ROWS = 40  # longer per-pair tables are left to the verdict map and the per-setting sections
AS_FAST = ("equivalent", "faster", "better")


def _label(row, by: list[str]) -> str:
    return setting_label(row, lr="lr" in by)


def _listed(rows: pd.DataFrame, by: list[str], what) -> str:
    """``setting (scheme): what(row)``, ... for at most MAX_LISTED rows; more are counted per optimizer
    instead (the axis that matters most), e.g. ``sgd 28, momentum 2`` (the verdict map shows them)."""
    if len(rows) > MAX_LISTED:
        counts = rows["optimizer"].value_counts(sort=False)
        return (
            "by optimizer "
            + ", ".join(f"{name} {n}" for name, n in counts.items())
            + " (see the verdict map)"
        )
    return "; ".join(f"{_label(r, by)} ({code(r['scheme'])}: {what(r)})" for _, r in rows.iterrows())


def _word(share_good: float) -> str:
    """Yes or No when every pair agrees, else Mostly yes or Mostly no (a tie counts as mostly yes)."""
    return (
        "Yes"
        if share_good == 1
        else "No"
        if share_good == 0
        else "Mostly yes"
        if share_good >= 0.5
        else "Mostly no"
    )


def _view(h: Headline) -> str:
    if h.choices is None:
        return "every scheme at the matrix's one learning rate (no grid: the rates are not tuned)"
    return f"every scheme at its own best learning rate from a grid of {int(h.choices['lrs'].max())} rates"


def _stuck(row) -> str:
    """The median final loss of a pair that does not learn, and why when its weights never moved."""
    moved = row.get("moved", np.nan)
    return fmt_loss(row["loss_median"]) + (
        f", weights moved in {moved:.0%} of runs" if not np.isnan(moved) and moved < 0.5 else ""
    )


def symmetry_lines(h: Headline, mechanism: pd.DataFrame) -> tuple[str, list[str]]:
    """(verdict word, lines) of question 1; ``mechanism``: ``tables.mechanism_table`` of ``h.runs``."""
    rows = question_pairs(h.summary)
    learned = int(rows["learns"].sum())
    control = "the all-zero control's" if (h.summary["scheme"] == CONTROL).any() else "the chance level"
    word = _word(learned / len(rows))
    first = mechanism[(mechanism["layer"] == 1) & mechanism["scheme"].map(is_question_scheme)]
    lines = [
        f"**{word}.** Zero or constant W with a random b learns (median final training loss at least 5% "
        f"below {control} in the same setting, and its weights moving) in {learned} of {len(rows)} (setting, "
        "scheme) pairs, "
        f"{_view(h)}: median final training loss {span(rows['loss_median'], fmt_loss)} (95% CIs within "
        f"{fmt_loss(rows['loss_lo'].min())}–{fmt_loss(rows['loss_hi'].max())})."
    ]
    if len(first):
        lines[0] += (
            f" The first layer's W starts at median rank {span(first['rank_start'], '{:.0f}'.format)} and "
            f"ends at {span(first['rank_end'], '{:.0f}'.format)} (effective rank "
            f"{span(first['effective_rank_end'], '{:.1f}'.format)})."
        )
    stuck = rows[~rows["learns"].astype(bool)]
    if len(stuck):
        lines.append(f"It does not learn in {len(stuck)}: {_listed(stuck, h.by, _stuck)}.")
    return word, lines


def speed_lines(
    h: Headline, same: pd.DataFrame, reference: str, out: Path, name: str
) -> tuple[str, list[str]]:
    """(verdict word, lines) of question 2; ``same``: the same-rate summary (one row per setting with lr,
    scheme); its plots are written under ``out/name/``."""
    rows = question_pairs(h.summary)
    word = _word(rows["verdict"].isin(AS_FAST).mean())
    finite = rows[np.isfinite(rows["speed_ratio"])]
    ratios = (
        f"; median steps to target {span(finite['speed_ratio'], fmt_ratio)} the reference's (95% CIs within "
        f"{fmt_ratio(finite['speed_lo'].min())}–{fmt_ratio(finite['speed_hi'].max())})"
        if len(finite)
        else ""
    )
    lines = [
        f"**{word}.** With {_view(h)}, against the reference `{reference}` the verdict is "
        f"{verdict_counts(rows, bold=True)} of {len(rows)} (setting, scheme) pairs{ratios}."
    ]
    if h.choices is not None:
        same_rows = question_pairs(same)
        lines[0] += (
            f" At one common rate (each rate of the grid in turn) it is {verdict_counts(same_rows)} of "
            f"{len(same_rows)}."
        )
        focus = h.choices[h.choices["scheme"].map(is_question_scheme) | (h.choices["scheme"] == reference)]
        edges = focus[focus["at_edge"].astype(bool)]
        lines.append(
            "Chosen rates at the edge of the grid (a wider grid could change them), for these schemes and "
            f"the reference: {len(edges)} of {len(focus)} (setting, scheme) pairs"
            + (f", {_listed(edges, h.by, lambda r: f'lr {r.lr:g}')}." if len(edges) else ".")
        )
    exceptions = (
        rows[rows["verdict"].isin(AS_FAST)] if word != "Yes" else rows[~rows["verdict"].isin(AS_FAST)]
    )
    if len(exceptions):
        lines.append(
            f"{'As fast' if word != 'Yes' else 'Not as fast'} in {len(exceptions)}: "
            f"{_listed(exceptions, h.by, verdict_cell)}."
        )
    fractions = "/".join(f"{100 * f:g}" for f in LOSS_DROP_FRACTIONS)
    if len(rows) <= MAX_TABLE_ROWS:
        lines += [
            "",
            markdown(
                [
                    {
                        "setting": _label(r, h.by),
                        "scheme": code(r["scheme"]),
                        "verdict": f"**{r['verdict']}**",
                        "× reference steps to target [95% CI]": with_ci(
                            *(fmt_ratio(r[k]) for k in ("speed_ratio", "speed_lo", "speed_hi"))
                        ),
                        "paired: median per-seed ratio [95% CI]": paired_cell(h.censored, r, h.by),
                        f"× at {fractions}% of the loss drop": loss_range_cell(h.loss_range, r, h.by),
                        **_rates(h, r),
                    }
                    for _, r in rows.iterrows()
                ]
            ),
        ]
    lines += [
        "",
        "The ratio of medians compares the two schemes' median runs; the paired column is the "
        "Hodges–Lehmann median of per-seed ratios (seeds share their data order), over the pairs that both "
        "reach the target, with "
        "its Wilcoxon order-statistic 95% CI.",
        "",
        *loss_range_lines(h, list(dict.fromkeys(h.summary["scheme"])), out, name),
        *matched_lines(h, "speed"),
        *censored_lines(h, list(dict.fromkeys(h.summary["scheme"])), reference, out, name),
    ]
    return word, lines


def _rates(h: Headline, row) -> dict:
    """The chosen rates of a pair (scheme's, flagged at the grid's edge, and the reference's), without a grid
    nothing."""
    if h.choices is None:
        return {}
    keys = [*h.by, "scheme"]
    chosen = h.choices.set_index(keys)
    own = chosen.loc[tuple(row[k] for k in keys)]
    setting = h.summary[(h.summary[h.by] == row[h.by]).all(axis=1) & (h.summary["verdict"] == "reference")]
    return {
        "lr (scheme)": f"{own['lr']:g}" + (" (edge)" if own["at_edge"] else ""),
        "lr (reference)": f"{setting['lr'].iloc[0]:g}" if len(setting) else "n/a",
    }


def end_rows(h: Headline) -> pd.DataFrame:
    """Question pairs with their catch-up columns (``late_reached``, ``late_multiple``, ...)."""
    keys = [*h.by, "scheme"]
    return question_pairs(h.summary).merge(h.catch_up.drop(columns="late_target_loss"), on=keys, how="left")


def end_table(h: Headline) -> str:
    """Per question pair: final-loss and test-accuracy differences, the late target and the end verdict."""
    rows = end_rows(h)
    return markdown(
        [
            {
                "setting": _label(r, h.by),
                "scheme": code(r["scheme"]),
                "ends": f"**{r['end_verdict']}**",
                "final train loss − ref [95% CI]": with_ci(
                    *(f"{r[k]:+.3f}" for k in ("loss_diff", "loss_diff_lo", "loss_diff_hi"))
                ),
                "test acc − ref, points [95% CI]": "n/a"
                if np.isnan(r["acc_diff"])
                else with_ci(*(f"{100 * r[k]:+.1f}" for k in ("acc_diff", "acc_diff_lo", "acc_diff_hi"))),
                "runs reaching the late target": f"{100 * r['late_reached']:.0f}%",
                "× reference steps to the late target [95% CI]": with_ci(
                    *(fmt_ratio(r[k]) for k in ("late_multiple", "late_lo", "late_hi"))
                ),
            }
            for _, r in rows.iterrows()
        ]
    )


def end_summary(h: Headline, steps: int) -> str:
    """One sentence: end verdicts, late-target reach and catch-up multiples of the question pairs after
    ``steps``."""
    rows = end_rows(h)
    counts = rows["end_verdict"].value_counts()
    finite = rows[np.isfinite(rows["late_multiple"])]
    multiple = (
        f"; where its median curve gets there, it takes {span(finite['late_multiple'], fmt_ratio)} the "
        "reference's steps"
        if len(finite)
        else ""
    )
    return (
        f"after {steps} steps ({_view(h)}) the end verdict is "
        + ", ".join(f"**{v}** in {counts[v]}" for v in END_VERDICTS if v in counts)
        + f" of {len(rows)} (setting, scheme) pairs; {100 * rows['late_reached'].mean():.0f}% of its runs "
        "reach the late target (the reference's median final training loss, which by construction at least "
        "half of the reference's "
        f"runs reach)" + multiple + "." + _gap_sentence(rows)
    )


def _gap_sentence(rows: pd.DataFrame) -> str:
    """Counted from the CIs: pairs whose training-loss gap has closed (CI within ±LOSS_MARGIN) while test
    accuracy stays lower (CI below 0), and pairs whose training-loss gap stays open (CI above
    +LOSS_MARGIN)."""
    accuracy = rows[rows["acc_diff_hi"].notna()]
    closed = accuracy[(accuracy["loss_diff_lo"] >= -LOSS_MARGIN) & (accuracy["loss_diff_hi"] <= LOSS_MARGIN)]
    lower = int((closed["acc_diff_hi"] < 0).sum())
    open_ = int((rows["loss_diff_lo"] > LOSS_MARGIN).sum())
    return (
        f" By the CIs, the training-loss gap has closed (within ±{LOSS_MARGIN:g}) in {len(closed)} of the "
        f"{len(accuracy)} pairs with a test accuracy, and in {lower} of those {len(closed)} the test "
        f"accuracy stays lower (CI below 0); it stays open (above +{LOSS_MARGIN:g}) in {open_} of "
        f"{len(rows)}."
    )


def end_lines(h: Headline, steps: int, horizon: tuple[Headline, int] | None) -> tuple[str, list[str]]:
    """(verdict word, lines) of question 3, from this matrix and, when given, the long-horizon results."""
    decisive, decisive_steps = horizon if horizon is not None else (h, steps)
    rows = end_rows(decisive)
    word = _word((rows["end_verdict"] == "as good").mean())
    lines = [f"**{word}.** In this matrix, {end_summary(h, steps)}"]
    if horizon is not None:
        lines += [
            "",
            f"With long horizons (the `horizon` results, {decisive_steps} steps), "
            f"{end_summary(decisive, decisive_steps)}",
            "",
            end_table(decisive),
        ]
    elif len(rows) <= MAX_TABLE_ROWS:
        lines += ["", end_table(h)]
    lines += ["", *matched_lines(decisive, "end")]
    lines += [
        "End verdicts (" + ", ".join(f"**{k}**" for k in END_VERDICTS) + ") as defined under *Definitions*."
    ]
    return word, lines


def verdict_map_lines(h: Headline, reference: str, out: Path, name: str) -> list[str]:
    """Draw the verdict map of the headline view (grouped by optimizer) and return its markdown."""
    rows = h.summary[h.summary["scheme"] != reference].copy()
    order = list(dict.fromkeys(rows["optimizer"]))
    rows["setting"] = [_label(r, h.by).replace(f" · {r['optimizer']}", "") for _, r in rows.iterrows()]
    rows = rows.sort_values("optimizer", key=lambda c: c.map(order.index), kind="stable")
    rows["label"] = [
        fmt_ratio(r) if np.isfinite(r) else ("∞" if np.isinf(r) else "") for r in rows["speed_ratio"]
    ]
    settings = list(dict.fromkeys(rows["setting"] + " | " + rows["optimizer"]))
    cells = rows.assign(setting=rows["setting"] + " | " + rows["optimizer"])
    plot_verdict_map(
        cells,
        settings,
        list(dict.fromkeys(rows["scheme"])),
        [s.rsplit(" | ", 1)[1] for s in settings],
        out / name / "verdict_map.png",
    )
    return [
        f"The verdict map ({_view(h)}): one row per setting, grouped by optimizer, one column per scheme, "
        f"each cell coloured by its verdict against `{reference}` and labelled with its median steps to "
        "target ÷ the "
        "reference's.",
        "",
        f"![verdict map]({name}/verdict_map.png)",
        "",
    ]


def answer_lines(
    h: Headline,
    same: pd.DataFrame,
    mechanism: pd.DataFrame,
    steps: int,
    horizon: tuple[Headline, int] | None,
    reference: str,
    out: Path,
    name: str,
) -> list[str]:
    """The whole ``## Answer`` section: short answer, the three questions, the verdict map."""
    if question_pairs(h.summary).empty:
        return [
            "## Answer",
            "",
            "**Short answer:** none here: this matrix has no scheme with zero or constant W and a random b "
            "(e.g. `zeros/normal(1.0)`), so the question does not arise; the sections below compare its "
            f"schemes with `{reference}`.",
            "",
        ]
    symmetry, q1 = symmetry_lines(h, mechanism)
    fast, q2 = speed_lines(h, same, reference, out, name)
    good, q3 = end_lines(h, steps, horizon)
    pairs = question_pairs(h.summary)
    ends = end_rows(horizon[0] if horizon is not None else h)
    short = (
        f"**Short answer:** is symmetry broken? **{symmetry}** (it learns in {int(pairs['learns'].sum())} of "
        f"{len(pairs)} (setting, scheme) pairs). Is it as fast as random W with zero "
        f"b{', at tuned rates' if h.choices is not None else ''}? **{fast}** ({verdict_counts(pairs)} of "
        f"{len(pairs)}). Does it end as good given enough steps? **{good}** (as good in "
        f"{int((ends['end_verdict'] == 'as good').sum())} of "
        f"{len(ends)}{', with long horizons' if horizon is not None else ''})."
    )
    question2 = (
        "Is it as fast, at tuned rates?"
        if h.choices is not None
        else "Is it as fast? (at one learning rate, not tuned)"
    )
    return [
        "## Answer",
        "",
        short,
        "",
        "### 1. Is symmetry broken?",
        "",
        *q1,
        "",
        f"### 2. {question2}",
        "",
        *q2,
        "",
        "### 3. Does it end as good, given enough steps?",
        "",
        *q3,
        "",
        *verdict_map_lines(h, reference, out, name),
    ]
