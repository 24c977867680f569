"""Sections of the report across settings: the answer, per-axis breakdown, profile, aggregate, setup.

Data-flow stage: analysis -> **report** (markdown lines for ``symjax.report.build``). Each function
returns markdown lines (or one string) from summary tables; only ``profile_lines`` also draws a plot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from symjax.analysis import stats
from symjax.analysis.answer import is_question_scheme, learns  # noqa: F401  (learns: re-exported)
from symjax.analysis.tables import depth, verdict_breakdown
from symjax.core.group import RANK_EVERY
from symjax.report.format import (
    code,
    fmt_acc,
    fmt_loss,
    fmt_ratio,
    markdown,
    setting_label,
    span,
    text,
    with_ci,
)
from symjax.report.plots import plot_performance_profile
from symjax.results.metrics import TARGET_FRACTION
from symjax.results.schema import SETTING_COLUMNS

QUESTION = (
    "If weight matrices start at zero (or a constant) and only the biases are random, does training break "
    "symmetry and converge as well as random W with zero b?"
)
VERDICTS = stats.VERDICT_RULES
CONFIDENCE_PERCENT = 100 * stats.CONFIDENCE

MECHANISM = (
    "What theory predicts (docs/theory.md): with W = 0 and a random b every hidden layer starts input-blind"
    """
(rank 0); the readout gets a weight gradient at the first update and layer L−k only k updates later;
after that W is rank 1 and grows in rank slowly; with relu, units with b < 0 are dead forever
(about half); the all-zero net never gets a weight gradient. Random W starts and stays full rank.
Medians over runs; layers are numbered from the input, the readout last; *first gradient* is the
0-based update whose weight gradient was first non-zero; rank and effective rank (Roy & Vetterli
2007) are those of the weight matrix at step 0 and at the last step; distinct units and mean |cos|
are defined in `symjax/core/diagnostics.py`."""
)


def first_update_lines(ranks: pd.DataFrame) -> list[str]:
    """Markdown of ``tables.first_update_ranks``: W1's rank after each of the first updates, per setting and
    scheme."""
    if ranks.empty:
        return []
    steps = [c for c in ranks.columns if isinstance(c, (int, np.integer))]
    rows = [
        {
            "setting": setting_label(r),
            "scheme": code(r["scheme"]),
            **{f"step {s}": "n/a" if pd.isna(r[s]) else f"{r[s]:g}" for s in steps},
        }
        for _, r in ranks.iterrows()
    ]
    return [
        "Rank of the first layer's W over the first updates (median over runs; the data has a rank at every "
        "one of these steps). Theory, for zero W and a random b under full-batch SGD with one hidden layer: "
        "0 at "
        "step 0 and after the first update, exactly 1 after the second, and higher only later.",
        "",
        markdown(rows),
        "",
    ]


def verdict_counts(rows: pd.DataFrame, bold: bool = False) -> str:
    """e.g. ``slower in 2, fails in 2``, verdicts in VERDICTS order."""
    counts = rows["verdict"].value_counts()
    mark = "**" if bold else ""
    return ", ".join(f"{mark}{name}{mark} in {counts[name]}" for name in VERDICTS if name in counts)


def scheme_lines(summary: pd.DataFrame, reference: str) -> list[str]:
    """One bullet for the reference, then one per scheme: verdicts across settings, speed, loss, accuracy."""
    loss = "MSE" if (summary["task"] == "regression").all() else "loss"

    def metrics(rows: pd.DataFrame) -> str:
        accuracy = span(rows["acc_median"], fmt_acc)
        return f"median final training {loss} {span(rows['loss_median'], fmt_loss)}" + (
            "" if accuracy == "n/a" else f", median test accuracy {accuracy}"
        )

    ref = summary[summary["scheme"] == reference]
    lines = [f"- {code(reference)} (reference): {metrics(ref)}."] if len(ref) else []
    for scheme, rows in summary[summary["scheme"] != reference].groupby("scheme", sort=False):
        finite = rows["speed_ratio"][np.isfinite(rows["speed_ratio"])]
        speed = f"; median steps to target {span(finite, fmt_ratio)} the reference's" if len(finite) else ""
        lines.append(
            f"- {code(scheme)}: {verdict_counts(rows)} of {len(rows)} settings{speed}; {metrics(rows)}."
        )
    return lines


AXES = {
    "dataset": "dataset",
    "model": "model",
    "depth": "hidden layers",
    "hidden": "architecture",
    "activation": "activation",
    "optimizer": "optimizer",
    "lr": "learning rate",
    "batch_size": "batch size",
    "dtype": "precision",
}


def axis_lines(summary: pd.DataFrame) -> list[str]:
    """Per axis that varies in the matrix: verdict counts of the question schemes per value of that axis."""
    rows = summary[
        summary["scheme"].map(is_question_scheme) & (summary["hidden"].astype(str) != "")
    ]  # units to break
    rows = rows.assign(depth=lambda t: t["hidden"].map(depth))
    rows = rows.assign(
        hidden=rows["model"] + " " + rows["hidden"].astype(str), lr=rows["lr"].map("{:g}".format)
    )
    lines = []
    for column, name in AXES.items():
        if rows[column].nunique() < 2 or (
            column == "hidden"  # architecture adds nothing to model and depth
            and len(rows[["hidden"]].drop_duplicates()) == len(rows[["model", "depth"]].drop_duplicates())
        ):
            continue
        table = verdict_breakdown(rows, column, list(VERDICTS))
        out = [
            {
                name: text(value) if isinstance(value, str) else value,
                "(setting, scheme) pairs": int(r["pairs"]),
                "learns": int(r["learns"]),
                **{verdict: int(r[verdict]) for verdict in table.columns[2:]},
            }
            for value, r in table.iterrows()
        ]
        lines += [f"By {name}:", "", markdown(out), ""]
    if not lines:
        return []
    return [
        "## Does the answer change with the setting?",
        "",
        "Counts over the (setting, scheme) pairs with zero or constant W and a random b, every scheme at the "
        "matrix's learning rate, one table per axis that varies in this matrix.",
        "",
        *lines,
    ]


def setup_lines(config: dict, runs: pd.DataFrame) -> list[str]:
    """The matrix, the target rule, the statistics and the measured time, as bullets."""
    m = config["matrix"]
    timing = config.get("timing", {})
    target = (
        f"fixed at {m['target_loss']:g}"
        if m.get("target_loss") is not None
        else f"the median training loss of the reference scheme `{m['reference']}` at the logged step "
        f"nearest {TARGET_FRACTION:g} × steps, per setting"
    )
    first = lambda column: list(dict.fromkeys(runs[column]))  # noqa: E731  (matrix order)
    architectures = "; ".join(
        h if model == "mlp" else f"{model} {h}"
        for model, h in dict.fromkeys(zip(runs["model"], runs["hidden"].astype(str)))
    )
    batches = (
        ", ".join("full" if b is None else str(b) for b in m["batch_sizes"])
        if "batch_sizes" in m
        else ", ".join(map(str, first("batch_size")))
    )
    loss = (
        "cross-entropy"
        if (runs["task"] != "regression").all()
        else "cross-entropy for classification, mean squared error (MSE) on standardized targets for "
        "regression"
        if (runs["task"] == "classification").any()
        else "mean squared error (MSE) on standardized targets"
    )
    return [
        f"- Runs: {len(runs)} = {runs.groupby(SETTING_COLUMNS).ngroups} settings × "
        f"{runs['scheme'].nunique()} schemes × "
        f"{m['seeds']} seeds.",
        f"- Datasets: {', '.join(map(text, first('dataset')))}; "
        + (
            "hidden layers"
            if (runs["model"] == "mlp").all()
            else "architectures (MLP: hidden widths, CNN: channels)"
        )
        + ": "
        f"{architectures}; activations: {', '.join(first('activation'))}; optimizers: "
        f"{', '.join(first('optimizer'))}; learning rates: "
        f"{', '.join(f'{lr:g}' for lr in first('lr'))}; batch sizes: {batches}.",
        f"- Loss: {loss}. {m['steps']} steps; training loss (whole training set), test "
        f"loss{' and test accuracy' if (runs['task'] != 'regression').any() else ''} logged at step 0, every "
        f"{m['log_every']} steps and at the end. Every scheme sees the same minibatches for "
        "the same seed.",
        *(
            [f"- Weight ranks at step 0, every {m['rank_every'] * m['log_every']} steps and at the end."]
            if m.get("rank_every", RANK_EVERY) != RANK_EVERY
            else []
        ),
        *(
            [
                f"- Precision: {', '.join(first('dtype'))} (float64: jax's 64-bit mode, from the float32 "
                "twin's initial weights)."
            ]
            if set(runs["dtype"]) != {"float32"}
            else []
        ),
        f"- Target loss: {target}. *Steps to target* is the first logged step at or below it; runs that "
        "never reach "
        "it are censored (counted as never, not dropped).",
        f"- Statistics: median, IQM and mean over seeds; {int(CONFIDENCE_PERCENT)}% CIs: order statistics "
        f"for a median (distribution-free; none below {stats.MIN_PAIRS} runs), percentile bootstrap for IQMs "
        f"and means ({stats.N_BOOTSTRAP} resamples, seed {stats.BOOTSTRAP_SEED}); comparisons with the "
        "reference pair runs by seed (same seed, same data order) with a BCa bootstrap (percentile where a "
        "resampled median is censored), Wilson "
        "intervals for shares of runs.",
        f"- Measured: {timing.get('train_seconds', float('nan')):.0f} s of training, "
        f"{timing.get('compile_seconds', float('nan')):.0f} s of it compiling, on "
        f"{timing.get('backend', '?')} with {timing.get('device_count', '?')} device(s); "
        f"symjax {config.get('symjax_version', '?')}.",
    ]


def profile_lines(summary: pd.DataFrame, schemes: list[str], out: Path, name: str) -> list[str]:
    """Draw the performance profile over settings (median steps to target) and return its markdown."""
    present = [s for s in schemes if s in set(summary["scheme"])]
    scores = pd.DataFrame(
        [
            dict.fromkeys(present, np.inf) | dict(zip(rows["scheme"], rows["steps_median"]))
            for _, rows in summary.groupby(SETTING_COLUMNS, sort=False)
        ]
    )  # missing scheme: never reached
    taus = np.geomspace(1, 16, 161)
    profile = stats.performance_profile(scores.to_numpy(), taus)
    plot_performance_profile(taus, profile, list(scores.columns), out / name / "performance_profile.png")
    at = {tau: np.searchsorted(taus, tau) for tau in (1, 2, 4)}
    rows = [
        {
            "scheme": code(s),
            **{f"within {tau}× of the best": f"{100 * profile[i, k]:.0f}%" for tau, i in at.items()},
        }
        for k, s in enumerate(scores.columns)
    ]
    return [
        "Performance profile over the settings (AlgoPerf style): the fraction of settings in which a "
        "scheme's "
        "median steps to target is within τ times the best scheme's.",
        "",
        f"![performance profile]({name}/performance_profile.png)",
        "",
        markdown(rows),
        "",
    ]


def aggregate_lines(aggregate: pd.DataFrame) -> list[str]:
    """Markdown for the across-settings aggregate of relative steps to target."""
    if aggregate.empty:
        return []
    rows = [
        {
            "scheme": code(r["scheme"]),
            "settings": int(r["settings"]),
            "IQM of restricted steps to target ÷ reference median [95% CI]": with_ci(
                fmt_ratio(r["iqm"]), fmt_ratio(r["lo"]), fmt_ratio(r["hi"])
            ),
        }
        for _, r in aggregate.iterrows()
    ]
    return [
        "Across settings (rliable style): the interquartile mean of every run's restricted steps to target "
        "(a run that never reaches the target counts as its last step, so this is a lower bound where runs "
        "are censored) divided by the reference's median steps in its setting, with a stratified-bootstrap "
        "95% CI (runs "
        "resampled within each setting).",
        "",
        markdown(rows),
        "",
    ]
