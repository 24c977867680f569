"""Markdown report with plots, regenerated deterministically from a results folder.

Data-flow stage: store -> stats -> **markdown + plots in reports/**. Reads files only;
never trains. Same results -> byte-identical markdown: rows in matrix order, fixed number
formats, no timestamps.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from symjax import stats
from symjax.config import TARGET_FRACTION
from symjax.metrics import SETTING_COLUMNS
from symjax.plots import plot_mechanism, plot_performance_profile, plot_setting_curves
from symjax.store import atomic_write_text, load_results
from symjax.tables import aggregate_table, mechanism_table, median_curves, setting_rows, summarize

QUESTION = (
    "If weight matrices start at zero (or a constant) and only the biases are random, "
    "does training break symmetry and converge as well as random W with zero b?"
)
VERDICTS = stats.VERDICT_RULES
CONFIDENCE_PERCENT = 100 * stats.CONFIDENCE


def _number(x: float, finite: str, infinite: str = "∞") -> str:
    """``finite`` (a format string for x) unless x is NaN ("n/a") or infinite."""
    return "n/a" if math.isnan(x) else infinite if math.isinf(x) else finite.format(x)


def fmt_loss(x: float) -> str:
    return _number(x, "{:.3f}")


def fmt_acc(x: float) -> str:
    return _number(100 * x, "{:.1f}%")


def fmt_steps(x: float, horizon: int) -> str:
    return _number(x, "{:.0f}", f">{horizon}")


def fmt_ratio(x: float) -> str:
    return _number(x, "{:.2f}×")


def with_ci(point: str, lo: str, hi: str) -> str:
    return f"{point} [{lo}, {hi}]"


def setting_label(row) -> str:
    """e.g. ``mnist1d · 100,100 · relu · adam · lr 0.01 · batch 128``."""
    return f"{row['dataset']} · {row['hidden']} · {row['activation']} · {row['optimizer']} · lr {row['lr']:g} · batch {row['batch_size']}"


def setting_slug(index: int, row) -> str:
    hidden = str(row["hidden"]).replace(",", "x")
    return f"setting{index:02d}-{row['dataset']}-{hidden}-{row['activation']}-{row['optimizer']}-lr{row['lr']:g}-b{row['batch_size']}"


def _cells(row) -> dict:
    steps = int(row["steps"])
    s = lambda key: fmt_steps(row[key], steps)  # noqa: E731
    return {
        "reached": f"{100 * row['reached']:.0f}%",
        "steps": with_ci(s("steps_median"), s("steps_lo"), s("steps_hi")),
        "ratio": with_ci(fmt_ratio(row["speed_ratio"]), fmt_ratio(row["speed_lo"]), fmt_ratio(row["speed_hi"]))
        if not math.isnan(row["speed_ratio"]) or row["verdict"] != "reference" else "1 (reference)",
        "loss": with_ci(fmt_loss(row["loss_median"]), fmt_loss(row["loss_lo"]), fmt_loss(row["loss_hi"])),
        "acc": with_ci(fmt_acc(row["acc_median"]), fmt_acc(row["acc_lo"]), fmt_acc(row["acc_hi"])),
    }


def fmt_diff(x: float, scale: float = 1.0, digits: int = 3) -> str:
    return _number(scale * x, f"{{:+.{digits}f}}")


def headline_table(summary: pd.DataFrame) -> str:
    """Verdict table, setting x scheme: verdict, speed ratio, final-loss and test-accuracy differences, success."""
    rows = []
    for _, row in summary.iterrows():
        rows.append({
            "setting": setting_label(row), "scheme": f"`{row['scheme']}`", "verdict": f"**{row['verdict']}**",
            "× reference steps [95% CI]": _cells(row)["ratio"],
            "final train loss − ref [95% CI]": with_ci(*(fmt_diff(row[k]) for k in ("loss_diff", "loss_diff_lo", "loss_diff_hi"))),
            "test acc − ref, points [95% CI]": with_ci(*(fmt_diff(row[k], 100, 1) for k in ("acc_diff", "acc_diff_lo", "acc_diff_hi"))),
            "generalization": row["generalization"],
            "reached target": _cells(row)["reached"],
            "P(reaches target sooner) [95% CI]": with_ci(*(f"{row[k]:.2f}" for k in ("p_faster", "p_faster_lo", "p_faster_hi"))),
        })
    return pd.DataFrame(rows).to_markdown(index=False)


MECHANISM = """What theory predicts (DESIGN.md): with W = 0 and a random b every hidden layer starts input-blind
(rank 0); the readout gets a weight gradient at the first update and layer L−k only k updates later;
after that W is rank 1 and grows in rank slowly; with relu, units with b < 0 are dead forever
(about half); the all-zero net never gets a weight gradient. Random W starts and stays full rank.
Medians over runs; layers are numbered from the input, the readout last; *first gradient* is the
0-based update whose weight gradient was first non-zero; rank and effective rank (Roy & Vetterli
2007) are those of the weight matrix at step 0 and at the last step; distinct units and mean |cos|
are defined in `symjax/diagnostics.py`."""


def mechanism_markdown(table: pd.DataFrame) -> str:
    """The mechanism table of one setting, one row per (scheme, layer)."""
    def num(x, digits=1):
        return "n/a" if pd.isna(x) else f"{x:.{digits}f}"

    rows = [{"scheme": f"`{r['scheme']}`", "layer": int(r["layer"]),
             "runs with a weight gradient": f"{100 * r['runs_with_gradient']:.0f}%",
             "first gradient at update": "never" if pd.isna(r["first_grad_step"]) else num(r["first_grad_step"], 0),
             "rank at step 0 → end": f"{num(r['rank_start'], 0)} → {num(r['rank_end'], 0)}",
             "effective rank at end": num(r["effective_rank_end"]),
             "distinct units at end": num(r["distinct_units_end"], 0),
             "mean abs cos at end": num(r["mean_abs_cos_end"], 2),
             "dead units at end": "n/a" if pd.isna(r["dead_fraction_end"]) else f"{100 * r['dead_fraction_end']:.0f}%"}
            for _, r in table.iterrows()]
    return pd.DataFrame(rows).to_markdown(index=False)


def detail_table(rows: pd.DataFrame) -> str:
    """All schemes of one setting, with IQMs and divergence."""
    out = []
    for _, row in rows.iterrows():
        steps = int(row["steps"])
        out.append({"scheme": f"`{row['scheme']}`", "n": int(row["n"]), "reached": f"{100 * row['reached']:.0f}%",
                    "diverged": f"{100 * row['diverged']:.0f}%",
                    "steps to target: median [CI] / IQM": f"{_cells(row)['steps']} / {fmt_steps(row['steps_iqm'], steps)}",
                    "final train loss: median [CI] / IQM [CI]": f"{_cells(row)['loss']} / "
                    f"{with_ci(*(fmt_loss(row[k]) for k in ('loss_iqm', 'loss_iqm_lo', 'loss_iqm_hi')))}",
                    "final test loss: median / IQM": f"{fmt_loss(row['test_loss_median'])} / {fmt_loss(row['test_loss_iqm'])}",
                    "test accuracy: median [CI] / mean [CI]": f"{_cells(row)['acc']} / "
                    f"{with_ci(*(fmt_acc(row[k]) for k in ('acc_mean', 'acc_mean_lo', 'acc_mean_hi')))}"})
    return pd.DataFrame(out).to_markdown(index=False)


def _span(values: pd.Series, fmt) -> str:
    lo, hi = fmt(values.min()), fmt(values.max())
    return lo if lo == hi else f"{lo}–{hi}"


def is_question_scheme(scheme: str) -> bool:
    """Zero or constant W with a random bias: the schemes the question asks about."""
    weight, bias = scheme.split("/")
    return weight.startswith(("zeros", "constant")) and bias.startswith(("normal", "uniform"))


def verdict_counts(rows: pd.DataFrame, bold: bool = False) -> str:
    """e.g. ``slower in 2, fails in 2``, verdicts in VERDICTS order."""
    counts = rows["verdict"].value_counts()
    mark = "**" if bold else ""
    return ", ".join(f"{mark}{name}{mark} in {counts[name]}" for name in VERDICTS if name in counts)


def short_answer(summary: pd.DataFrame) -> str:
    """One sentence over all (setting, scheme) pairs with zero/constant W and random b."""
    rows = summary[summary["scheme"].map(is_question_scheme)]
    if rows.empty:
        return "This matrix has no scheme with zero or constant W and a random bias."
    control = summary.loc[summary["scheme"] == "zeros/zeros", "loss_median"]
    threshold = 0.95 * (control.min() if len(control) else np.log(10))  # ln 10: the all-zero loss on 10 classes
    learned = int((rows["loss_median"] < threshold).sum())
    return (f"**Short answer:** zero or constant W with a random b learns (its median final training loss ends at "
            f"least 5% below the all-zero control's) in {learned} of {len(rows)} (setting, scheme) pairs, so symmetry is "
            f"broken; against random W with zero b the verdict (defined below) is {verdict_counts(rows, bold=True)} of them.")


def answer_lines(summary: pd.DataFrame, reference: str) -> list[str]:
    """One bullet for the reference, then one per scheme: verdicts across settings, speed, loss, accuracy."""
    ref = summary[summary["scheme"] == reference]
    lines = [f"- `{reference}` (reference): median final training loss {_span(ref['loss_median'], fmt_loss)}, "
             f"median test accuracy {_span(ref['acc_median'], fmt_acc)}."] if len(ref) else []
    for scheme, rows in summary[summary["scheme"] != reference].groupby("scheme", sort=False):
        finite = rows["speed_ratio"][np.isfinite(rows["speed_ratio"])]
        speed = f"; median steps to target {_span(finite, fmt_ratio)} the reference's" if len(finite) else ""
        lines.append(f"- `{scheme}`: {verdict_counts(rows)} of {len(rows)} settings{speed}; median final training loss "
                     f"{_span(rows['loss_median'], fmt_loss)}, median test accuracy {_span(rows['acc_median'], fmt_acc)}.")
    return lines


def setup_lines(config: dict, runs: pd.DataFrame) -> list[str]:
    """The matrix, the target rule, the statistics and the measured time, as bullets."""
    m = config["matrix"]
    timing = config.get("timing", {})
    target = (f"fixed at {m['target_loss']:g}" if m.get("target_loss") is not None else
              f"the median training loss of the reference scheme `{m['reference']}` at the logged step nearest "
              f"{TARGET_FRACTION:g} × steps, per setting")
    return [
        f"- Runs: {len(runs)} = {runs.groupby(SETTING_COLUMNS).ngroups} settings × {len(m['schemes'])} schemes × {m['seeds']} seeds.",
        f"- Datasets: {', '.join(m['datasets'])}; hidden layers: {'; '.join(','.join(map(str, h)) for h in m['hidden'])}; "
        f"activations: {', '.join(m['activations'])}; optimizers: {', '.join(m['optimizers'])}; "
        f"learning rates: {', '.join(f'{lr:g}' for lr in m['lrs'])}; batch sizes: "
        f"{', '.join('full' if b is None else str(b) for b in m['batch_sizes'])}.",
        f"- {m['steps']} steps; training loss (whole training set), test loss and test accuracy logged at step 0, "
        f"every {m['log_every']} steps and at the end. Every scheme sees the same minibatches for the same seed.",
        f"- Target loss: {target}. *Steps to target* is the first logged step at or below it; runs that never reach "
        "it are censored (counted as never, not dropped).",
        f"- Statistics: median, IQM and mean over seeds; {int(CONFIDENCE_PERCENT)}% percentile-bootstrap CIs "
        f"({stats.N_BOOTSTRAP} resamples, seed {stats.BOOTSTRAP_SEED}); the speed ratio resamples seeds in pairs "
        "(same seed, same data order).",
        f"- Measured: {timing.get('train_seconds', float('nan')):.0f} s of training, {timing.get('compile_seconds', float('nan')):.0f} s "
        f"of it compiling, on {timing.get('backend', '?')} with {timing.get('device_count', '?')} device(s); symjax {config.get('symjax_version', '?')}.",
    ]


def profile_lines(summary: pd.DataFrame, schemes: list[str], out: Path, name: str) -> list[str]:
    """Draw the performance profile over settings (median steps to target) and return its markdown."""
    scores = summary.pivot_table(index=SETTING_COLUMNS, columns="scheme", values="steps_median", sort=False)
    scores = scores[[s for s in schemes if s in scores.columns]]
    taus = np.geomspace(1, 16, 161)
    profile = stats.performance_profile(scores.to_numpy(), taus)
    plot_performance_profile(taus, profile, list(scores.columns), out / name / "performance_profile.png")
    at = {tau: np.searchsorted(taus, tau) for tau in (1, 2, 4)}
    rows = [{"scheme": f"`{s}`", **{f"within {tau}× of the best": f"{100 * profile[i, k]:.0f}%" for tau, i in at.items()}}
            for k, s in enumerate(scores.columns)]
    return ["Performance profile over the settings (AlgoPerf style): the fraction of settings in which a scheme's "
            "median steps to target is within τ times the best scheme's.", "",
            f"![performance profile]({name}/performance_profile.png)", "", pd.DataFrame(rows).to_markdown(index=False), ""]


def aggregate_lines(aggregate: pd.DataFrame) -> list[str]:
    """Markdown for the across-settings aggregate of relative steps to target."""
    if aggregate.empty:
        return []
    rows = [{"scheme": f"`{r['scheme']}`", "settings": int(r["settings"]),
             "IQM of steps to target ÷ reference median [95% CI]": with_ci(fmt_ratio(r["iqm"]), fmt_ratio(r["lo"]), fmt_ratio(r["hi"]))}
            for _, r in aggregate.iterrows()]
    return ["Across settings (rliable style): the interquartile mean of every run's steps to target divided by the "
            "reference's median steps in its setting (never reached = ∞), with a stratified-bootstrap 95% CI "
            "(runs resampled within each setting).", "", pd.DataFrame(rows).to_markdown(index=False), ""]


def build_report(results: str | os.PathLike, out: str | os.PathLike = "reports") -> Path:
    """Write ``out/<name>.md`` and its plots under ``out/<name>/`` from a results folder."""
    loaded = load_results(results)
    runs, config = loaded.runs, loaded.config
    m = config["matrix"]
    name, reference, schemes = m["name"], m["reference"], m["schemes"]
    out = Path(out)
    summary = summarize(runs, schemes, reference)
    quantiles = {c: median_curves(runs, loaded.curves, c) for c in ("train_loss", "test_acc")}
    hidden = loaded.diagnostics[loaded.diagnostics["dead_fraction"].notna()]  # the readout has no dead fraction
    layer_quantiles = {"effective_rank": median_curves(runs, hidden[hidden["effective_rank"].notna()], "effective_rank", ("layer",)),
                       "dead_fraction": median_curves(runs, hidden, "dead_fraction", ("layer",))}
    first_layer = layer_quantiles["effective_rank"]
    quantiles["effective_rank"] = first_layer[first_layer["layer"] == 1]
    mechanism = mechanism_table(runs, loaded.diagnostics)
    lines = [f"# symjax report: `{name}`", "", f"> {QUESTION}", "", "## Answer", "",
             short_answer(summary), "",
             f"Compared with the reference `{reference}` (random W, zero b), over the settings of this matrix:", "",
             *answer_lines(summary, reference), "",
             headline_table(summary[summary["scheme"] != reference]), "",
             "Verdicts: " + "; ".join(f"**{k}**: {v}" for k, v in VERDICTS.items()) + ".", "",
             *profile_lines(summary, schemes, out, name),
             *aggregate_lines(aggregate_table(runs, summary, schemes, reference)),
             "## Mechanism", "", MECHANISM, "", "The per-setting sections below hold the numbers.", "",
             "## Setup", "", *setup_lines(config, runs), "", "## Per setting", ""]
    for index, (key, rows) in enumerate(summary.groupby(SETTING_COLUMNS, sort=False), start=1):
        first = rows.iloc[0]
        slug = setting_slug(index, first)
        plot_path = out / name / f"{slug}.png"
        per_setting = {c: setting_rows(q, key) for c, q in quantiles.items()}
        setting_runs = setting_rows(runs, key)
        steps = {scheme: stats.as_censored(setting_runs.loc[setting_runs["scheme"] == scheme, "steps_to_target"].astype("float64"))
                 for scheme in rows["scheme"]}
        plot_setting_curves(per_setting, list(rows["scheme"]), setting_label(first), float(first["target_loss"]), steps, plot_path)
        plot_mechanism({c: setting_rows(q, key) for c, q in layer_quantiles.items()}, list(rows["scheme"]),
                       setting_label(first), out / name / f"{slug}-mechanism.png")
        lines += [f"### {setting_label(first)}", "", f"Target loss {fmt_loss(first['target_loss'])}.", "",
                  f"![training loss and test accuracy, median and interquartile band]({name}/{slug}.png)", "",
                  detail_table(rows), "", "Mechanism:", "",
                  f"![effective rank and dead units per hidden layer, median and interquartile band]({name}/{slug}-mechanism.png)", "",
                  mechanism_markdown(setting_rows(mechanism, key)), ""]
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.md"
    atomic_write_text(path, "\n".join(lines))
    write_index(out)
    return path


def write_index(out: Path) -> Path:
    """``out/README.md``: every report in ``out`` (sorted by name) with its short answer."""
    lines = ["# Reports", "", "Generated by `symjax report` from stored results; regenerate one with",
             "`symjax report --results results/<name> --out reports`.", ""]
    for report in sorted(p for p in out.glob("*.md") if p.name != "README.md"):
        short = next((l for l in report.read_text().splitlines() if l.startswith("**Short answer:**")), "")
        lines += [f"## [{report.stem}]({report.name})", "", short.replace("**Short answer:** ", ""), ""]
    if (out / "bench.md").exists():
        lines += ["Timings: [bench.md](bench.md).", ""]
    index = out / "README.md"
    atomic_write_text(index, "\n".join(lines))
    return index
