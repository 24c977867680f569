"""Markdown report with plots, regenerated deterministically from a results folder.

Data-flow stage: store -> analysis -> **report** (``OUT/<name>.md``, its plots in ``OUT/<name>/``, the
index ``OUT/README.md``). Reads files only; never trains, and imports no jax. Same results ->
byte-identical markdown: rows in matrix order, fixed number formats, no timestamps.
The report's sections, in order: Answer (three questions and the verdict map, ``symjax.report.answer``),
Bias scale and width (only with sweeps, ``symjax.report.sweeps``), Long horizons, bias scale and width
(only with companion matrices), Verdicts at a glance, Each scheme at its own best
learning rate (only with a learning-rate grid), Does the answer change with the setting? (only
when an axis varies), Verdicts with confidence intervals, Across settings, Mechanism, Setup,
Per setting (plots, detail table, mechanism plot and table of each setting). Sections across
settings come from ``symjax.report.sections``, number formats and tables from
``symjax.report.format``; this module assembles them, the best-learning-rate part and the
per-setting part.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from symjax.analysis import stats
from symjax.analysis.answer import Headline, catch_up_table, headline, learns, moved_share
from symjax.analysis.best_lr import LR_FREE_COLUMNS
from symjax.analysis.speed import log_interval
from symjax.analysis.tables import (
    aggregate_table,
    chance_losses,
    first_update_ranks,
    mechanism_table,
    median_curves,
    split_by_setting,
    summarize,
)
from symjax.core.files import atomic_write_text
from symjax.report.answer import answer_lines
from symjax.report.coverage import companion_kind, coverage_bullets, coverage_lines
from symjax.report.first_screen import definitions_lines, first_screen_lines
from symjax.report.format import (
    detail_table,
    fmt_loss,
    headline_table,
    loss_name,
    mechanism_markdown,
    setting_label,
    setting_slug,
    verdict_grid,
)
from symjax.report.modern import modern_lines
from symjax.report.outputs import check_outputs, publish
from symjax.report.plots import plot_mechanism, plot_setting_curves
from symjax.report.precision import precision_lines
from symjax.report.published import published_lines
from symjax.report.sections import (
    MECHANISM,
    QUESTION,
    aggregate_lines,
    axis_lines,
    first_update_lines,
    profile_lines,
    scheme_lines,
    setup_lines,
    verdict_counts,
)
from symjax.report.speed import censored_appendix_lines
from symjax.report.sweeps import sweep_lines
from symjax.results.schema import SETTING_COLUMNS
from symjax.results.store import load_results


def best_lr_lines(summary: pd.DataFrame, choices: pd.DataFrame, reference: str) -> list[str]:
    """The best-learning-rate view: how rates were chosen, then one row per setting with each scheme's rate
    and verdict."""
    tried = ", ".join(sorted({f"{n}" for n in choices["lrs"]}, key=int))
    bullets = []
    for scheme, rows in summary.groupby("scheme", sort=False):
        rates = ", ".join(
            f"{lr:g} in {n}" for lr, n in rows["lr"].value_counts(sort=False).sort_index().items()
        )
        verdicts = (
            f" (reference): {len(rows)}"
            if scheme == reference
            else f": {verdict_counts(rows)} of {len(rows)}"
        )
        bullets.append(f"- `{scheme}`{verdicts} settings; learning rate chosen: {rates} settings.")
    return [
        "## Each scheme at its own best learning rate",
        "",
        f"The same comparison after giving every scheme the learning rate from the matrix's grid ({tried} "
        "rates per setting) with the lowest median final training loss (the DeepOBS protocol; diverged runs "
        "count as ∞, ties go to the smaller rate). Each scheme's runs at its rate are compared with "
        f"`{reference}`'s runs at the reference's own best rate, and steps to target are counted against one "
        "target per setting: the "
        "reference's target at its best rate.",
        "",
        *bullets,
        "",
        "Cells: verdict, median steps to target ÷ the reference's, chosen learning rate.",
        "",
        verdict_grid(summary, LR_FREE_COLUMNS, reference, lr=False),
        "",
    ]


def setting_section(
    index: int, key: tuple, rows: pd.DataFrame, data: dict, out: Path, name: str
) -> list[str]:
    """Plots and tables of one setting (``rows``: its summary rows; ``data``: key -> rows functions,
    ``split_by_setting``);
    its two PNGs are written under ``out/name/``."""
    first = rows.iloc[0]
    slug, label, regression = setting_slug(index, first), setting_label(first), first["task"] == "regression"
    schemes = list(rows["scheme"])
    setting_runs = data["runs"](key)
    steps = {
        scheme: stats.as_censored(
            setting_runs.loc[setting_runs["scheme"] == scheme, "steps_to_target"].astype("float64")
        )
        for scheme in schemes
    }
    curves = {c: rows_of(key) for c, rows_of in data["quantiles"].items()}
    plot_setting_curves(
        curves, schemes, label, float(first["target_loss"]), steps, out / name / f"{slug}.png", regression
    )
    layers = {c: rows_of(key) for c, rows_of in data["layer_quantiles"].items()}
    mechanism = ["Mechanism: no hidden layer (a linear model has no units whose symmetry could matter).", ""]
    if len(layers["effective_rank"]):
        plot_mechanism(layers, schemes, label, out / name / f"{slug}-mechanism.png")
        mechanism = [
            "Mechanism:",
            "",
            f"![effective rank and dead units per hidden layer, median and interquartile band]"
            f"({name}/{slug}-mechanism.png)",
            "",
            mechanism_markdown(data["mechanism"](key)),
            "",
        ]
    panels = "training and test MSE" if regression else "training loss and test accuracy"
    return [
        f"#### {label}",
        "",
        f"Target {loss_name(first['task'])} {fmt_loss(first['target_loss'])}; late target (the reference's "
        "median "
        f"final training {loss_name(first['task'])}) {fmt_loss(first['late_target_loss'])}.",
        "",
        f"![{panels}, median and interquartile band]({name}/{slug}.png)",
        "",
        detail_table(rows),
        "",
        *mechanism,
    ]


def build_report(results: str | os.PathLike, out: str | os.PathLike = "reports") -> Path:
    """Write ``out/<name>.md`` and its plots under ``out/<name>/`` from a results folder. The plots are drawn
    in a temporary folder and moved into place with the markdown: a refused report leaves nothing behind."""
    loaded = load_results(results)
    config = loaded.config
    name, out = config["matrix"]["name"], Path(out)
    check_outputs(out, name)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=out))
    try:
        path = publish(out, name, _report_text(loaded, staging, name, Path(results)), staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_index(out)
    return path


def _companions(folder: Path, matrix: dict) -> list[tuple[str, object, Headline | None]]:
    """(name, Results and their Headline, or the reason they are missing and None) of each companion matrix's
    results, beside ``folder``."""
    out = []
    for companion in matrix.get("companions", []):
        try:
            loaded = load_results(folder.parent / companion)
        except ValueError as error:
            out.append((companion, str(error), None))
            continue
        m = loaded.config["matrix"]
        out.append(
            (
                companion,
                loaded,
                headline(loaded.runs, loaded.curves, m["schemes"], m["reference"], loaded.diagnostics),
            )
        )
    return out


def companion_lines(companions: list, reference: str, out: Path, name: str) -> list[str]:
    """What the companion results add: a link per companion and its sweeps (or how to make missing
    results)."""
    if not companions:
        return []
    lines = ["## Long horizons, bias scale and width", ""]
    for companion, loaded, h in companions:
        if h is None:
            lines += [
                f"- `{companion}`: no results here (`symjax run --matrix {companion}` makes them): {loaded}",
                "",
            ]
            continue
        m = loaded.config["matrix"]
        lines += [
            f"From [`{companion}`]({companion}.md) ({len(loaded.runs)} runs, {m['steps']} steps, "
            f"{m['seeds']} seeds):",
            "",
        ]
        sweeps = sweep_lines(h, loaded.curves, m["reference"], out, name, prefix=f"{companion}-")
        lines += sweeps or ["- its long-horizon comparison is question 3 above.", ""]
    return lines


def _report_text(loaded, out: Path, name: str, folder: Path) -> str:
    """The markdown of the report; its plots are written under ``out/<name>/``."""
    runs, config = loaded.runs, loaded.config
    m = config["matrix"]
    reference, schemes = m["reference"], m["schemes"]
    summary = summarize(runs, schemes, reference, log_every=log_interval(loaded.curves))
    regression = runs[runs["task"] == "regression"]
    quantiles = {
        "train_loss": median_curves(runs, loaded.curves, "train_loss"),
        "test_acc": median_curves(runs[runs["task"] != "regression"], loaded.curves, "test_acc"),
        "test_loss": median_curves(regression, loaded.curves, "test_loss"),
    }
    summary["learns"] = learns(
        summary,
        chance_losses(summary, quantiles["train_loss"], reference),
        moved_share(summary, runs, loaded.diagnostics, SETTING_COLUMNS),
    )
    late = catch_up_table(runs, loaded.curves, schemes, reference, SETTING_COLUMNS)
    summary = summary.merge(late, on=[*SETTING_COLUMNS, "scheme"], how="left")
    hidden = loaded.diagnostics[
        loaded.diagnostics["dead_fraction"].notna()
    ]  # the readout has no dead fraction
    layer_quantiles = {
        "effective_rank": median_curves(
            runs, hidden[hidden["effective_rank"].notna()], "effective_rank", ("layer",)
        ),
        "dead_fraction": median_curves(runs, hidden, "dead_fraction", ("layer",)),
    }
    first_layer = layer_quantiles["effective_rank"]
    quantiles["effective_rank"] = first_layer[first_layer["layer"] == 1]
    h = headline(runs, loaded.curves, schemes, reference, loaded.diagnostics)
    companions = _companions(folder, m)
    # the companions of this report's networks (long horizons, sweeps); others answer question 4
    own = [c for c in companions if c[2] is None or companion_kind(c[1].runs) == "other"]
    horizon = next(
        (
            (hc, c.config["matrix"]["steps"])
            for _, c, hc in own
            if hc is not None and c.config["matrix"]["steps"] > m["steps"]
        ),
        None,
    )
    mechanism = mechanism_table(runs, loaded.diagnostics)
    others = summary[summary["scheme"] != reference]
    own_sweeps = sweep_lines(h, loaded.curves, reference, out, name)
    headline_mechanism = mechanism.merge(h.runs[[*SETTING_COLUMNS, "scheme"]].drop_duplicates())
    lines = [
        f"# symjax report: `{name}`",
        "",
        f"> {QUESTION}",
        "",
        *first_screen_lines(
            h, horizon, headline_mechanism, m["steps"], reference, runs, coverage_bullets(companions)
        ),
        *answer_lines(h, summary, headline_mechanism, m["steps"], horizon, reference, out, name),
        *coverage_lines(companions),
        *definitions_lines(),
        *(["## Bias scale and width", "", *own_sweeps] if own_sweeps else []),
        *companion_lines(own, reference, out, name),
        *modern_lines(runs, loaded.diagnostics, h),
        "## Verdicts at a glance",
        "",
        f"Compared with the reference `{reference}` (random W, zero b), every scheme at the same learning "
        "rate, "
        "over the settings of this matrix:",
        "",
        *scheme_lines(summary, reference),
        "",
        *(
            ["Losses of regression settings are mean squared errors; they have no test accuracy.", ""]
            if len(regression)
            else []
        ),
        "One row per setting, one column per scheme: the verdict against the reference (defined under "
        "*Definitions*) and the median steps to target ÷ the reference's.",
        "",
        verdict_grid(summary, SETTING_COLUMNS, reference),
        "",
        *(best_lr_lines(h.summary, h.choices, reference) if h.choices is not None else []),
        *axis_lines(summary),
        *precision_lines(runs, summary, h.summary),
        "## Across settings",
        "",
        *profile_lines(summary, schemes, out, name),
        *aggregate_lines(aggregate_table(runs, summary, schemes, reference)),
        *published_lines(summary),
        "## Mechanism",
        "",
        MECHANISM,
        "",
        *first_update_lines(first_update_ranks(runs, loaded.diagnostics)),
        "The per-setting sections of the appendix hold the numbers.",
        "",
        "## Setup",
        "",
        *setup_lines(config, runs),
        "",
        "## Appendix",
        "",
        "The long tables: every pair's verdict with its confidence intervals, time to target "
        "as censored data per pair, and one section per setting.",
        "",
        "### Verdicts with confidence intervals",
        "",
        *(
            [
                "For regression settings the loss is the mean squared error (MSE) and there is no accuracy "
                "(n/a).",
                "",
            ]
            if len(regression)
            else []
        ),
        headline_table(others),
        "",
        "Verdicts as defined under *Definitions* (every scheme at the same learning rate).",
        "",
        *censored_appendix_lines(h, reference),
        "### Per setting",
        "",
    ]
    data = {
        "runs": split_by_setting(runs),
        "mechanism": split_by_setting(mechanism),
        **{
            group: {c: split_by_setting(q) for c, q in tables.items()}
            for group, tables in (("quantiles", quantiles), ("layer_quantiles", layer_quantiles))
        },
    }
    for index, (key, rows) in enumerate(summary.groupby(SETTING_COLUMNS, sort=False), start=1):
        lines += setting_section(index, key, rows, data, out, name)
    return "\n".join(lines)


def write_index(out: Path) -> Path:
    """``out/README.md``: every report in ``out`` (sorted by name) with its short answer."""
    out = Path(out)
    check_outputs(out)
    lines = [
        "# Reports",
        "",
        "Generated by `symjax report` from stored results; regenerate one with",
        "`symjax report --results results/<name> --out reports`.",
        "",
    ]
    for report in sorted(p for p in out.glob("*.md") if p.name not in ("README.md", "bench.md")):
        if report.is_symlink() or not report.is_file():
            continue  # never read through a link or from a device
        text = report.read_text(errors="replace")
        short = next((l for l in text.splitlines() if l.startswith("**Short answer:**")), "")
        lines += [f"## [{report.stem}]({report.name})", "", short.replace("**Short answer:** ", ""), ""]
    if (out / "bench.md").exists():
        lines += ["Timings: [bench.md](bench.md).", ""]
    index = out / "README.md"
    atomic_write_text(index, "\n".join(lines))
    return index
