"""The report's *float64 against float32* section: does float32 rounding itself change the answer?

Data-flow stage: analysis (``symjax.analysis.precision``) -> **report**. Only when the results hold
settings trained in both precisions (the ``dtype`` axis, e.g. the built-in ``float64`` matrix).
"""

from __future__ import annotations

import pandas as pd

from symjax.analysis.precision import precision_table, relative_change
from symjax.report.format import code, fmt_acc, fmt_loss, markdown, setting_label


def _end_line(best: pd.DataFrame | None) -> list[str]:
    """Question 3's end verdicts (each scheme at its best rate: ``best``, a headline summary with ``dtype``)
    per precision."""
    if best is None or "end_verdict" not in best or best["dtype"].nunique() < 2:
        return []
    keys = [
        c
        for c in best.columns
        if c in ("dataset", "model", "hidden", "activation", "optimizer", "batch_size", "steps")
    ] + ["scheme"]
    rows = best[best["end_verdict"] != "reference"]
    wide = rows.pivot_table(index=keys, columns="dtype", values="end_verdict", aggfunc="first", sort=False)
    if not {"float32", "float64"} <= set(wide.columns):
        return []
    changed = wide[wide["float32"] != wide["float64"]]
    listed = (
        "; changed for "
        + ", ".join(
            f"{code(k[-1])} ({a} → {b})"
            for k, a, b in zip(changed.index, changed["float32"], changed["float64"])
        )
        if len(changed)
        else ""
    )
    return [
        "- End verdicts of question 3 (each scheme at its own best rate): the same in "
        f"{len(wide) - len(changed)} of {len(wide)}{listed}."
    ]


def precision_lines(runs: pd.DataFrame, summary: pd.DataFrame, best: pd.DataFrame | None = None) -> list[str]:
    """Markdown: counts of changed verdicts (and of end verdicts at the best rates, from ``best``), the
    largest change of a median, what the comparison covers, then one row per (setting, scheme)."""
    table = precision_table(runs, summary)
    if table.empty:
        return []
    changed = table[table["verdict32"] != table["verdict64"]]
    relative = relative_change(table)
    worst = table.iloc[int(relative.argmax())]
    rows = [
        {
            "setting": setting_label(r),
            "scheme": code(r["scheme"]),
            "runs": int(r["pairs"]),
            "final train loss f32 → f64 (median)": f"{fmt_loss(r['loss32'])} → {fmt_loss(r['loss64'])}",
            "per seed abs(f64 − f32), median / max": f"{r['abs_diff_median']:.1e} / {r['abs_diff_max']:.1e}",
            "test acc f32 → f64": f"{fmt_acc(r['acc32'])} → {fmt_acc(r['acc64'])}",
            "verdict f32 → f64": r["verdict32"]
            if r["verdict32"] == r["verdict64"]
            else f"**{r['verdict32']} → {r['verdict64']}**",
        }
        for _, r in table.iterrows()
    ]
    return [
        "## float64 against float32",
        "",
        "Every float64 run starts from exactly the weights of its float32 twin and sees the same "
        "minibatches, so a pair differs only in the rounding of training. If float32 rounding helped break "
        "symmetry, the zero-W "
        "schemes would learn less in float64.",
        "",
        f"- Verdicts against the reference: the same in {len(table) - len(changed)} of {len(table)} "
        "(setting, scheme) pairs"
        + (
            ""
            if changed.empty
            else "; changed in " + ", ".join(f"{code(r.scheme)} at lr {r.lr:g}" for r in changed.itertuples())
        )
        + ".",
        *_end_line(best),
        f"- Median final training loss: the largest change is {100 * relative.max():.2f}% "
        f"({code(worst['scheme'])} at lr {worst['lr']:g}: {fmt_loss(worst['loss32'])} → "
        f"{fmt_loss(worst['loss64'])}).",
        f"- Covered: activation {', '.join(dict.fromkeys(table['activation']))}"
        + (
            ""
            if "relu" in set(table["activation"])
            else "; relu, whose kink at 0 makes it the case most sensitive to rounding, is not covered"
        )
        + ".",
        "",
        markdown(rows),
        "",
    ]
