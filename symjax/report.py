"""Markdown report with plots, regenerated deterministically from a results folder.

Data-flow stage: store -> stats -> **markdown + plots in reports/**. Reads files only;
never trains. Same results -> byte-identical markdown: rows in matrix order, fixed number
formats, no timestamps. Sections across settings live in ``report_sections.py``, number
formats and tables in ``report_format.py``; this module assembles them and the per-setting part.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from symjax import stats
from symjax.best_lr import LR_FREE_COLUMNS, best_lr_runs, has_lr_grid
from symjax.plots import plot_mechanism, plot_setting_curves
from symjax.report_format import (detail_table, fmt_loss, headline_table, loss_name, mechanism_markdown,
                                  setting_label, setting_slug, verdict_grid)
from symjax.report_sections import (MECHANISM, QUESTION, VERDICTS, aggregate_lines, answer_lines, axis_lines,
                                    learns, profile_lines, setup_lines, short_answer,
                                    verdict_counts)
from symjax.store import atomic_write_text, load_results
from symjax.tables import (SETTING_COLUMNS, aggregate_table, chance_losses, mechanism_table,
                           median_curves, split_by_setting, summarize)


def best_lr_lines(summary: pd.DataFrame, choices: pd.DataFrame, reference: str) -> list[str]:
    """The best-learning-rate view: how rates were chosen, then one row per setting with each scheme's rate and verdict."""
    tried = ", ".join(sorted({f"{n}" for n in choices["lrs"]}, key=int))
    bullets = []
    for scheme, rows in summary.groupby("scheme", sort=False):
        rates = ", ".join(f"{lr:g} in {n}" for lr, n in rows["lr"].value_counts(sort=False).sort_index().items())
        verdicts = f" (reference): {len(rows)}" if scheme == reference else f": {verdict_counts(rows)} of {len(rows)}"
        bullets.append(f"- `{scheme}`{verdicts} settings; learning rate chosen: {rates} settings.")
    return ["## Each scheme at its own best learning rate", "",
            f"The same comparison after giving every scheme the learning rate from the matrix's grid ({tried} rates per "
            "setting) with the lowest median final training loss (the DeepOBS protocol; diverged runs count as ∞, ties "
            f"go to the smaller rate). Each scheme's runs at its rate are compared with `{reference}`'s runs at the "
            "reference's own best rate, and steps to target are counted against one target per setting: the "
            "reference's target at its best rate.", "", *bullets, "",
            "Cells: verdict, median steps to target ÷ the reference's, chosen learning rate.", "", verdict_grid(summary, LR_FREE_COLUMNS, reference, lr=False), ""]


def setting_section(index: int, key: tuple, rows: pd.DataFrame, data: dict, out: Path, name: str) -> list[str]:
    """Plots and tables of one setting (``rows``: its summary rows; ``data``: key -> rows functions, ``split_by_setting``)."""
    first = rows.iloc[0]
    slug, label, regression = setting_slug(index, first), setting_label(first), first["task"] == "regression"
    schemes = list(rows["scheme"])
    setting_runs = data["runs"](key)
    steps = {scheme: stats.as_censored(setting_runs.loc[setting_runs["scheme"] == scheme, "steps_to_target"].astype("float64"))
             for scheme in schemes}
    curves = {c: rows_of(key) for c, rows_of in data["quantiles"].items()}
    plot_setting_curves(curves, schemes, label, float(first["target_loss"]), steps, out / name / f"{slug}.png", regression)
    plot_mechanism({c: rows_of(key) for c, rows_of in data["layer_quantiles"].items()}, schemes, label,
                   out / name / f"{slug}-mechanism.png")
    panels = "training and test MSE" if regression else "training loss and test accuracy"
    return [f"### {label}", "", f"Target {loss_name(first['task'])} {fmt_loss(first['target_loss'])}.", "",
            f"![{panels}, median and interquartile band]({name}/{slug}.png)", "",
            detail_table(rows), "", "Mechanism:", "",
            f"![effective rank and dead units per hidden layer, median and interquartile band]({name}/{slug}-mechanism.png)", "",
            mechanism_markdown(data["mechanism"](key)), ""]


def build_report(results: str | os.PathLike, out: str | os.PathLike = "reports") -> Path:
    """Write ``out/<name>.md`` and its plots under ``out/<name>/`` from a results folder."""
    loaded = load_results(results)
    runs, config = loaded.runs, loaded.config
    m = config["matrix"]
    name, reference, schemes = m["name"], m["reference"], m["schemes"]
    out = Path(out)
    summary = summarize(runs, schemes, reference)
    regression = runs[runs["task"] == "regression"]
    quantiles = {"train_loss": median_curves(runs, loaded.curves, "train_loss"),
                 "test_acc": median_curves(runs[runs["task"] != "regression"], loaded.curves, "test_acc"),
                 "test_loss": median_curves(regression, loaded.curves, "test_loss")}
    summary["learns"] = learns(summary, chance_losses(summary, quantiles["train_loss"], reference))
    hidden = loaded.diagnostics[loaded.diagnostics["dead_fraction"].notna()]  # the readout has no dead fraction
    layer_quantiles = {"effective_rank": median_curves(runs, hidden[hidden["effective_rank"].notna()], "effective_rank", ("layer",)),
                       "dead_fraction": median_curves(runs, hidden, "dead_fraction", ("layer",))}
    first_layer = layer_quantiles["effective_rank"]
    quantiles["effective_rank"] = first_layer[first_layer["layer"] == 1]
    best = best_choices = None
    if has_lr_grid(runs):
        best_runs, best_choices = best_lr_runs(runs, loaded.curves, reference)
        best = summarize(best_runs, schemes, reference, by=LR_FREE_COLUMNS)
    others = summary[summary["scheme"] != reference]
    lines = [f"# symjax report: `{name}`", "", f"> {QUESTION}", "", "## Answer", "",
             short_answer(summary, best), "",
             f"Compared with the reference `{reference}` (random W, zero b), every scheme at the same learning rate, "
             "over the settings of this matrix:", "",
             *answer_lines(summary, reference), "",
             *(["Losses of regression settings are mean squared errors; they have no test accuracy.", ""]
               if len(regression) else []),
             "## Verdicts at a glance", "",
             "One row per setting, one column per scheme: the verdict against the reference (defined under *Verdicts "
             "with confidence intervals*) and the median steps to target ÷ the reference's.", "",
             verdict_grid(summary, SETTING_COLUMNS, reference), "",
             *(best_lr_lines(best, best_choices, reference) if best is not None else []),
             *axis_lines(summary),
             "## Verdicts with confidence intervals", "",
             *(["For regression settings the loss is the mean squared error (MSE) and there is no accuracy (n/a).", ""]
               if len(regression) else []),
             headline_table(others), "",
             "Verdicts: " + "; ".join(f"**{k}**: {v}" for k, v in VERDICTS.items()) + ".", "",
             "## Across settings", "",
             *profile_lines(summary, schemes, out, name),
             *aggregate_lines(aggregate_table(runs, summary, schemes, reference)),
             "## Mechanism", "", MECHANISM, "", "The per-setting sections below hold the numbers.", "",
             "## Setup", "", *setup_lines(config, runs), "", "## Per setting", ""]
    data = {"runs": split_by_setting(runs), "mechanism": split_by_setting(mechanism_table(runs, loaded.diagnostics)),
            **{group: {c: split_by_setting(q) for c, q in tables.items()}
               for group, tables in (("quantiles", quantiles), ("layer_quantiles", layer_quantiles))}}
    for index, (key, rows) in enumerate(summary.groupby(SETTING_COLUMNS, sort=False), start=1):
        lines += setting_section(index, key, rows, data, out, name)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.md"
    atomic_write_text(path, "\n".join(lines))
    write_index(out)
    return path


def write_index(out: Path) -> Path:
    """``out/README.md``: every report in ``out`` (sorted by name) with its short answer."""
    out = Path(out)
    lines = ["# Reports", "", "Generated by `symjax report` from stored results; regenerate one with",
             "`symjax report --results results/<name> --out reports`.", ""]
    for report in sorted(p for p in out.glob("*.md") if p.name not in ("README.md", "bench.md")):
        short = next((l for l in report.read_text().splitlines() if l.startswith("**Short answer:**")), "")
        lines += [f"## [{report.stem}]({report.name})", "", short.replace("**Short answer:** ", ""), ""]
    if (out / "bench.md").exists():
        lines += ["Timings: [bench.md](bench.md).", ""]
    index = out / "README.md"
    atomic_write_text(index, "\n".join(lines))
    return index
