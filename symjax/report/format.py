"""Number formats, setting labels and the markdown tables of the report.

Data-flow stage: analysis -> **report** (markdown text). Pure functions of summary rows:
fixed formats (no locale, no timestamps), so the same numbers give the same bytes.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from symjax.core.axes import LATER_GROUPED


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


def fmt_diff(x: float, scale: float = 1.0, digits: int = 3) -> str:
    return _number(scale * x, f"{{:+.{digits}f}}")


def with_ci(point: str, lo: str, hi: str) -> str:
    return "n/a" if point == lo == hi == "n/a" else f"{point} [{lo}, {hi}]"


# markdown's and HTML's special characters (a `#` starts a heading only at a line's start, where no label is);
# an underscore only where it could start or end emphasis (not in
# cnn_paper)
_MARKDOWN = re.compile(r"[\\`*\[\]<>|&~]|(?<![^\W_])_|_(?![^\W_])")
LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")  # control characters, line ends among them


def text(label) -> str:
    r"""A user-given label (a file dataset's path, a plug-in's name, a bench JSON's string) as markdown text
    on one line: markdown's special characters backslash-escaped, control characters (newlines too) spaces.

    >>> print(text("file:a|b <img src=x>.npz"), text("cnn_paper"), text("[x](http:evil)\n*"))
    file:a\|b \<img src=x\>.npz cnn_paper \[x\](http:evil) \*
    """
    return _MARKDOWN.sub(lambda m: "\\" + m.group(0), LINE_BREAKS.sub(" ", str(label)))


def code(scheme: str) -> str:
    """A scheme as inline code (its ``|`` escaped for tables); as escaped text if it holds a backtick."""
    scheme = " ".join(str(scheme).split())
    return text(scheme) if "`" in scheme else "`" + scheme.replace("|", "\\|") + "`"


def _cell(value):
    """A table cell: text keeps its column (an unescaped ``|`` escaped, newlines as spaces)."""
    return re.sub(r"(?<!\\)\|", r"\|", LINE_BREAKS.sub(" ", value)) if isinstance(value, str) else value


def markdown(rows: list[dict]) -> str:
    """A pipe table of ``rows`` (one dict per row, same keys), columns in key order."""
    frame = pd.DataFrame(rows)
    return frame.map(_cell).rename(columns=_cell).to_markdown(index=False)


def architecture(row) -> str:
    """``100,100`` for an MLP (the default model), ``linear`` for one without hidden layers, ``cnn 16,16`` for
    any other model.

    >>> (architecture({"hidden": "100,100"}), architecture({"hidden": ""}),
    ...  architecture({"model": "cnn", "hidden": "16,16"}))
    ('100,100', 'linear', 'cnn 16,16')
    """
    model, hidden = row.get("model", "mlp"), str(row["hidden"])
    return (hidden or "linear") if model == "mlp" else f"{text(model)} {hidden}"


def _precision(row) -> str:
    """`` · float64`` for a float64 setting, `` · warmup_cosine`` for that schedule: each axis of
    ``LATER_GROUPED`` where it differs from its earlier value (nothing at float32, constant rate)."""
    return "".join(
        f" · {row[a.single]}" for a in LATER_GROUPED if row.get(a.single, a.earlier[0]) != a.earlier[0]
    )


def setting_label(row, lr: bool = True) -> str:
    """e.g. ``mnist1d · 100,100 · relu · adam · lr 0.01 · batch 128`` (``cnn 16,16`` for a CNN, `` · float64``
    in 64-bit precision); no lr with ``lr=False``."""
    rate = f" · lr {row['lr']:g}" if lr else ""
    return (
        f"{text(row['dataset'])} · {architecture(row)} · {row['activation']} · {row['optimizer']}{rate} · "
        f"batch {row['batch_size']}{_precision(row)}"
    )


def safe_name(text: str, limit: int = 60) -> str:
    """``text`` as a file-name part: characters other than letters, digits, ``.``, ``_`` and ``-`` become
    ``-``
    (plug-in models and file datasets name paths), cut to ``limit`` characters.

    >>> safe_name("file:data/my set.npz"), safe_name("mymodels:resmlp")
    ('file-data-my-set.npz', 'mymodels-resmlp')
    """
    return re.sub(r"[^A-Za-z0-9._-]", "-", str(text)).strip(".")[:limit] or "x"


def setting_slug(index: int, row) -> str:
    """A file name stem for one setting, e.g. ``setting03-mnist1d-cnn-16x16-relu-adam-lr0.01-b128``
    (``-float64`` added in 64-bit precision); the setting's number keeps stems of sanitized names apart."""
    hidden = safe_name(architecture(row).replace(",", "x").replace(" ", "-"))
    return (
        f"setting{index:02d}-{safe_name(row['dataset'])}-{hidden}-{row['activation']}-{row['optimizer']}-lr{row['lr']:g}"
        f"-b{row['batch_size']}{_precision(row).replace(' · ', '-')}"
    )


def loss_name(task: str) -> str:
    """What "loss" means in a setting: cross-entropy, or MSE for regression."""
    return "MSE" if task == "regression" else "loss"


def _ratio_ci(row) -> str:
    if math.isnan(row["speed_ratio"]) and row["verdict"] == "reference":
        return "1 (reference)"
    return with_ci(fmt_ratio(row["speed_ratio"]), fmt_ratio(row["speed_lo"]), fmt_ratio(row["speed_hi"]))


def _ci(row, prefix: str, fmt) -> str:
    """``median [lo, hi]`` of one metric of a summary row."""
    return with_ci(fmt(row[f"{prefix}_median"]), fmt(row[f"{prefix}_lo"]), fmt(row[f"{prefix}_hi"]))


def headline_table(summary: pd.DataFrame) -> str:
    """Verdict table, setting x scheme: verdict, speed ratio, final-loss and test-accuracy differences,
    success."""
    rows = [
        {
            "setting": setting_label(row),
            "scheme": code(row["scheme"]),
            "verdict": f"**{row['verdict']}**",
            "× reference steps [95% CI]": _ratio_ci(row),
            "final train loss − ref [95% CI]": with_ci(
                *(fmt_diff(row[k]) for k in ("loss_diff", "loss_diff_lo", "loss_diff_hi"))
            ),
            "test acc − ref, points [95% CI]": with_ci(
                *(fmt_diff(row[k], 100, 1) for k in ("acc_diff", "acc_diff_lo", "acc_diff_hi"))
            ),
            "generalization": row["generalization"],
            "reached target": f"{100 * row['reached']:.0f}%",
            "P(reaches target sooner) [95% CI]": with_ci(
                *(f"{row[k]:.2f}" for k in ("p_faster", "p_faster_lo", "p_faster_hi"))
            ),
        }
        for _, row in summary.iterrows()
    ]
    return markdown(rows)


def verdict_cell(row) -> str:
    """``slower 2.19×``: the verdict word and, when finite, the median speed ratio."""
    ratio = row["speed_ratio"]
    return row["verdict"] + (f" {fmt_ratio(ratio)}" if math.isfinite(ratio) else "")


def verdict_grid(summary: pd.DataFrame, by: list[str], reference: str, lr: bool = True) -> str:
    """One row per setting (``by`` columns), one column per scheme; the reference's column only with
    ``lr=False``
    (it then shows its chosen rate), every other cell ``verdict ratio`` plus `` · lr x`` with ``lr=False``."""
    rows = []
    for _, setting in summary.groupby(by, sort=False):
        row = {"setting": setting_label(setting.iloc[0], lr=lr)}
        for _, cell in setting.iterrows():
            if cell["scheme"] == reference:
                if not lr:
                    row[code(cell["scheme"])] = f"reference · lr {cell['lr']:g}"
                continue
            row[code(cell["scheme"])] = verdict_cell(cell) + ("" if lr else f" · lr {cell['lr']:g}")
        rows.append(row)
    return pd.DataFrame(rows).fillna("").to_markdown(index=False)


def detail_table(rows: pd.DataFrame) -> str:
    """All schemes of one setting, with IQMs and divergence; "MSE" instead of "loss" for regression."""
    loss = loss_name(rows["task"].iloc[0])
    out = []
    for _, row in rows.iterrows():
        steps = int(row["steps"])
        s = lambda key: fmt_steps(row[key], steps)  # noqa: E731
        out.append(
            {
                "scheme": code(row["scheme"]),
                "n": int(row["n"]),
                "reached": f"{100 * row['reached']:.0f}%",
                "diverged": f"{100 * row['diverged']:.0f}%",
                "steps to target: median [CI] / IQM": (
                    f"{with_ci(s('steps_median'), s('steps_lo'), s('steps_hi'))} / {s('steps_iqm')}"
                ),
                f"final train {loss}: median [CI] / IQM [CI]": f"{_ci(row, 'loss', fmt_loss)} / "
                f"{with_ci(*(fmt_loss(row[k]) for k in ('loss_iqm', 'loss_iqm_lo', 'loss_iqm_hi')))}",
                f"final test {loss}: median / IQM": f"{fmt_loss(row['test_loss_median'])} / "
                f"{fmt_loss(row['test_loss_iqm'])}",
            }
        )
        if "late_reached" in row:
            out[-1]["late target: reached / × reference steps [CI]"] = (
                f"{100 * row['late_reached']:.0f}% / "
                + (
                    "1 (reference)"
                    if row["verdict"] == "reference"
                    else with_ci(*(fmt_ratio(row[k]) for k in ("late_multiple", "late_lo", "late_hi")))
                )
            )
        if loss != "MSE":  # regression has no accuracy
            out[-1]["test accuracy: median [CI] / mean [CI]"] = (
                f"{_ci(row, 'acc', fmt_acc)} / "
                f"{with_ci(*(fmt_acc(row[k]) for k in ('acc_mean', 'acc_mean_lo', 'acc_mean_hi')))}"
            )
    return markdown(out)


def mechanism_markdown(table: pd.DataFrame) -> str:
    """The mechanism table of one setting, one row per (scheme, layer)."""

    def num(x, digits=1):
        return "n/a" if pd.isna(x) else f"{x:.{digits}f}"

    rows = [
        {
            "scheme": code(r["scheme"]),
            "layer": int(r["layer"]),
            "runs with a weight gradient": f"{100 * r['runs_with_gradient']:.0f}%",
            "first gradient at update": "never"
            if pd.isna(r["first_grad_step"])
            else num(r["first_grad_step"], 0),
            "rank at step 0 → end": f"{num(r['rank_start'], 0)} → {num(r['rank_end'], 0)}",
            "effective rank at end": num(r["effective_rank_end"]),
            "distinct units at end": num(r["distinct_units_end"], 0),
            "mean abs cos at end": num(r["mean_abs_cos_end"], 2),
            "dead units at end": "n/a"
            if pd.isna(r["dead_fraction_end"])
            else f"{100 * r['dead_fraction_end']:.0f}%",
        }
        for _, r in table.iterrows()
    ]
    return markdown(rows)


def span(values: pd.Series, fmt) -> str:
    """``lo–hi`` of the formatted min and max (one value when equal); NaN values ignored, all NaN -> n/a."""
    values = values.dropna()
    if values.empty:
        return "n/a"
    lo, hi = fmt(values.min()), fmt(values.max())
    return lo if lo == hi else f"{lo}–{hi}"
