"""Report sections of the bias-scale and width sweeps: plots against σ, c and width, the best scale per
setting, and zero W at width 2H beside random W at width H.

Where the results also hold the matched-bias controls ``lecun_normal/normal(σ)`` (random W with the same
bias), each sweep also splits the gap to the reference into the cost of zero (or constant) W, the scheme
against its matched control, and the cost of the bias scale, the matched control against the reference
(``symjax.analysis.sweeps``):
a table per sweep, the control's curve in the plots and one sentence per sweep. Results without them (older
ones) get exactly the sections they got before.

Data-flow stage: analysis (``symjax.analysis.sweeps``) -> **report** (markdown lines and PNGs). Each section
appears only when its results have the sweep (at least MIN_SCALES scales, or two widths H and 2H of one hidden
layer).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from symjax.analysis.answer import Headline
from symjax.analysis.sweeps import (
    QUESTION,
    best_scales,
    control_rows,
    control_splits,
    scale_rows,
    width_pairs,
)
from symjax.report.format import code, fmt_diff, fmt_loss, fmt_ratio, markdown, setting_label, with_ci
from symjax.report.plots import save, scheme_colors

FAMILIES = {
    "bias": ("σ", "zeros/normal(σ) (σ = 0: zeros/zeros)"),
    "constant": ("c", "constant(c)/normal(1.0)"),
}
WEIGHT_WORDS = {
    "bias": "zero W",
    "constant": "constant W",
}  # what the scheme of a family has instead of random W
CONTROL = "lecun_normal/normal(σ)"  # the matched-bias controls, as the text names them
CONTROL_SIGMA = (
    1.0  # the σ whose split the bias sweep's sentence gives (QUESTION's), else the largest with a control
)


def _plot_scales(
    rows: pd.DataFrame,
    by: list[str],
    symbol: str,
    reference_rows: pd.DataFrame,
    path: Path,
    controls: pd.DataFrame | None = None,
    levels: pd.DataFrame | None = None,
) -> None:
    """Median final training loss (95% CI bars) and median steps to target against the scale, one line per
    setting; the reference's median final loss dashed. A scale of 0 is drawn at a tenth of the smallest other
    scale.

    ``controls`` (matched-bias control rows with ``scale``, the bias sweep): their curves dotted with squares,
    in each setting's colour; ``levels`` (one control row per setting, the constant sweep): dotted horizontal
    lines. Without either (older results) the plot is the one drawn before there were controls."""
    controls = controls if controls is not None else rows.iloc[:0]
    levels = levels if levels is not None else rows.iloc[:0]
    settings = list(dict.fromkeys(rows[by].astype(str).agg("|".join, axis=1)))
    colors = scheme_colors(settings)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    scales = pd.concat([rows["scale"], controls["scale"]]) if len(controls) else rows["scale"]
    positive = scales[scales > 0]
    zero_at = positive.min() / 10 if len(positive) else 1.0

    def same_setting(table: pd.DataFrame, setting: pd.DataFrame) -> pd.DataFrame:
        return table[(table[by] == setting.iloc[0][by]).all(axis=1)]

    for key, setting in rows.groupby(by, sort=False):
        setting = setting.sort_values("scale", kind="stable")
        name = "|".join(map(str, key))
        x = setting["scale"].where(setting["scale"] > 0, zero_at).to_numpy(np.float64)
        label = setting_label(setting.iloc[0], lr="lr" in by)
        loss = setting["loss_median"].to_numpy(np.float64)
        bars = np.abs(np.vstack([loss - setting["loss_lo"], setting["loss_hi"] - loss]).astype(np.float64))
        axes[0].errorbar(
            x,
            loss,
            yerr=np.where(np.isfinite(bars), bars, 0),
            color=colors[name],
            marker="o",
            capsize=3,
            label=label,
        )
        ref = same_setting(reference_rows, setting)
        if len(ref):
            axes[0].axhline(
                float(ref["loss_median"].iloc[0]), color=colors[name], linestyle="--", linewidth=0.8
            )
        steps = setting["steps_median"].to_numpy(np.float64)
        axes[1].plot(
            x[np.isfinite(steps)], steps[np.isfinite(steps)], color=colors[name], marker="o", label=label
        )
        own = (
            same_setting(controls, setting).sort_values("scale", kind="stable") if len(controls) else controls
        )
        if len(own):
            cx = own["scale"].where(own["scale"] > 0, zero_at).to_numpy(np.float64)
            closs, csteps = (own[k].to_numpy(np.float64) for k in ("loss_median", "steps_median"))
            axes[0].plot(cx, closs, color=colors[name], marker="s", linestyle=":", label=f"{label}, random W")
            axes[1].plot(
                cx[np.isfinite(csteps)],
                csteps[np.isfinite(csteps)],
                color=colors[name],
                marker="s",
                linestyle=":",
                label=f"{label}, random W",
            )
        level = same_setting(levels, setting) if len(levels) else levels
        if len(level):
            for ax, column in zip(axes, ("loss_median", "steps_median")):
                value = float(level[column].iloc[0])
                if np.isfinite(value):
                    ax.axhline(value, color=colors[name], linestyle=":", linewidth=1.2)
    for ax, ylabel in zip(
        axes, ("median final training loss (dashed: reference)", "median steps to target (missing: never)")
    ):
        ax.set_xscale("log")
        ax.set_xlabel(f"{symbol} (leftmost point: {symbol} = 0)" if (scales == 0).any() else symbol)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if len(controls):
        axes[0].set_title(
            f"dotted, squares: {CONTROL}, random W with the same bias (σ = 0: the reference)", fontsize=8
        )
    elif len(levels):
        axes[0].set_title(f"dotted: {levels['scheme'].iloc[0]}, random W with the same bias", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def _key(prefix: str, column: str) -> str:
    """``{prefix}_{column}``, or ``column`` for the empty prefix (``width_pairs``' comparison with the
    reference)."""
    return f"{prefix}_{column}" if prefix else column


def _ratio_ci(row, prefix: str) -> str:
    """e.g. ``1.90× [1.60×, 2.20×]``: the ``{prefix}_speed_ratio`` of a split row with its CI."""
    return with_ci(*(fmt_ratio(row[_key(prefix, k)]) for k in ("speed_ratio", "speed_lo", "speed_hi")))


def _loss_ci(row, prefix: str) -> str:
    return with_ci(*(fmt_diff(row[_key(prefix, k)]) for k in ("loss_diff", "loss_diff_lo", "loss_diff_hi")))


def _extreme(rows: pd.DataFrame, prefix: str) -> tuple[pd.Series, pd.Series] | None:
    """The rows with the smallest and the largest defined ``{prefix}_speed_ratio`` (None when none is
    defined)."""
    ratio = rows[_key(prefix, "speed_ratio")].astype("float64")
    if ratio.isna().all():
        return None
    return rows.loc[ratio.idxmin()], rows.loc[ratio.idxmax()]


def _span(rows: pd.DataFrame, prefix: str, where, every: str) -> str:
    """``from A [CI] (where a) to B [CI] (where b)`` over rows; one value, ``(every)``, when all have the
    same."""
    ends = _extreme(rows, prefix)
    if ends is None:
        return "n/a"
    low, high = ends
    if low[_key(prefix, "speed_ratio")] == high[_key(prefix, "speed_ratio")]:
        return f"{_ratio_ci(low, prefix)} ({where(low) if len(rows) == 1 else every})"
    return f"from {_ratio_ci(low, prefix)} ({where(low)}) to {_ratio_ci(high, prefix)} ({where(high)})"


def split_sentence(splits: pd.DataFrame, family: str, by: list[str]) -> str:
    """One sentence: how the gap of the family's schemes to the reference splits, per setting
    (``control_splits`` rows).

    Bias sweep: at σ = CONTROL_SIGMA (else the largest σ with a control) the cost of zero W over random W with
    the same bias, the cost of the bias scale itself and the total, and over σ the range of the bias scale's
    cost. Constant sweep: the range over c of the cost of constant W over ``lecun_normal/normal(1.0)``, and
    the bias scale's cost."""
    symbol = FAMILIES[family][0]
    every = f"every {symbol}"

    def at(row) -> str:
        return f"{symbol} = {row['scale']:g}"

    clauses = []
    for _, setting in splits.groupby(by, sort=False):
        label = setting_label(setting.iloc[0], lr="lr" in by)
        if family == "bias":
            chosen = setting[setting["scale"] == CONTROL_SIGMA]
            r = (chosen if len(chosen) else setting.sort_values("scale", kind="stable").tail(1)).iloc[0]
            clause = (
                f"in {label}, at {at(r)} zero W costs {_ratio_ci(r, 'weight')} over random W with the same "
                f"bias and the bias scale itself costs {_ratio_ci(r, 'bias')} (total {_ratio_ci(r, 'total')})"
            )
            if setting["scale"].nunique() > 1:
                clause += f"; over σ the bias scale alone costs {_span(setting, 'bias', at, every)}"
        else:
            r = setting.iloc[0]
            clause = (
                f"in {label}, constant W costs {_span(setting, 'weight', at, every)} over random W with the "
                f"same bias ({code(r['control'])}) and the bias scale itself costs {_ratio_ci(r, 'bias')} "
                f"(total {_span(setting, 'total', at, every)})"
            )
        clauses.append(clause)
    return "How the gap to the reference splits (× median steps to target): " + "; ".join(clauses) + "."


def _split_lines(splits: pd.DataFrame, family: str, reference: str, by: list[str]) -> list[str]:
    """The matched-control table and sentence of one sweep family (``control_splits`` rows)."""
    symbol, weight = FAMILIES[family][0], WEIGHT_WORDS[family]
    table = [
        {
            "setting": setting_label(r, lr="lr" in by),
            symbol: f"{r['scale']:g}",
            f"{weight} ÷ control: steps [95% CI]": _ratio_ci(r, "weight"),
            f"{weight} − control: final train loss [95% CI]": _loss_ci(r, "weight"),
            "control ÷ reference: steps [95% CI]": _ratio_ci(r, "bias"),
            "control − reference: final train loss [95% CI]": _loss_ci(r, "bias"),
            "total ÷ reference: steps [95% CI]": _ratio_ci(r, "total"),
        }
        for _, r in splits.iterrows()
    ]
    if family == "bias":
        scheme, control = "zeros/normal(σ)", CONTROL
        intro = (
            f"Matched-bias controls: {code(CONTROL)} (random W with the same bias; dotted, squares in the "
            f"plot) for σ in {', '.join(f'{v:g}' for v in sorted(splits['scale'].unique()))}."
        )
    else:
        scheme, control = "constant(c)/normal(1.0)", splits["control"].iloc[0]
        intro = f"Matched-bias control: {code(control)} (random W with the same bias; dotted in the plot)."
    return [
        f"{intro} The gap of {code(scheme)} to the reference {code(reference)} splits into the cost of "
        f"{weight} ({code(scheme)} against {code(control)}) and the cost of the bias scale ({code(control)} "
        f"against {code(reference)}): ratios of median steps to the reference's target and differences of "
        "median final "
        "training loss, runs paired by seed (with the same seeds the two ratios multiply to the total).",
        "",
        markdown(table),
        "",
        split_sentence(splits, family, by),
        "",
    ]


def scale_lines(h: Headline, reference: str, out: Path, name: str, prefix: str) -> list[str]:
    """The bias-scale and constant sweeps of ``h`` (plots named ``prefix``-bias_scale.png, ...), each with its
    matched-bias controls where ``h`` has them."""
    lines = []
    for family, (symbol, scheme) in FAMILIES.items():
        rows = scale_rows(h.summary, family, h.by)
        if rows.empty:
            continue
        controls = control_rows(h.summary, family, h.by)
        splits = (
            control_splits(h.runs, h.summary, family, reference, h.by) if len(controls) else pd.DataFrame()
        )
        png = f"{prefix}{family}_scale.png"
        _plot_scales(
            rows,
            h.by,
            symbol,
            h.summary[h.summary["scheme"] == reference],
            out / name / png,
            controls=controls if family == "bias" else None,
            levels=controls[controls["scale"] == 1.0] if family == "constant" and len(controls) else None,
        )
        best = best_scales(rows, h.by)
        table = [
            {
                "setting": setting_label(r, lr="lr" in h.by),
                f"best {symbol}": f"{r['scale']:g}" + (" (edge)" if r["at_edge"] else ""),
                "its median final training loss [95% CI]": with_ci(
                    *(fmt_loss(r[k]) for k in ("loss_median", "loss_lo", "loss_hi"))
                ),
            }
            for _, r in best.iterrows()
        ]
        lines += [
            f"{scheme} for {symbol} in {', '.join(f'{v:g}' for v in sorted(rows['scale'].unique()))}: final "
            f"training loss and steps to target against {symbol}, and the best {symbol} per setting (lowest "
            "median final "
            "training loss; edge: the best is the smallest or largest tried).",
            "",
            f"![{family} sweep]({name}/{png})",
            "",
            markdown(table),
            "",
        ]
        if len(splits):
            lines += _split_lines(splits, family, reference, h.by)
    return lines


def width_sentence(pairs: pd.DataFrame, by: list[str]) -> str:
    """One sentence: per setting (all but the width), the range over H of zero W's cost at 2H over random W
    with the same bias at H, of the bias scale's cost at H and of the total (``width_pairs`` rows with
    controls)."""
    pairs = pairs[pairs["control"].notna()]
    others = [c for c in by if c != "hidden"]

    def at(row) -> str:
        return f"H = {row['width']}"

    clauses = []
    for _, setting in pairs.groupby(others, sort=False):
        label = setting_label({**setting.iloc[0], "hidden": "H (random W) vs 2H (zero W)"}, lr="lr" in by)
        clauses.append(
            f"in {label}, zero W at 2H costs {_span(setting, 'weight', at, 'every H')} over random W with "
            f"the same bias at H and the bias scale itself costs {_span(setting, 'bias', at, 'every H')} "
            f"(total {_span(setting, '', at, 'every H')})"
        )
    return "How the gap to the reference splits (× median steps to target): " + "; ".join(clauses) + "."


def width_lines(
    h: Headline, curves: pd.DataFrame, reference: str, out: Path, name: str, prefix: str
) -> list[str]:
    """Zero W at width 2H against the reference at width H (one hidden layer), with a plot of loss against
    width; where the results have QUESTION's matched-bias control, also against it at H."""
    pairs = width_pairs(h.runs, curves, reference, h.by, controls=True)
    if pairs.empty:
        return []
    control = (
        pairs["control"].dropna().iloc[0] if "control" in pairs and pairs["control"].notna().any() else None
    )
    shown = [reference, QUESTION] + ([control] if control else [])
    single = h.summary[
        h.summary["hidden"].astype(str).str.fullmatch(r"[0-9]+") & h.summary["scheme"].isin(shown)
    ]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = scheme_colors(shown)
    for (activation, scheme), rows in single.groupby(["activation", "scheme"], sort=False):
        rows = rows.assign(width=rows["hidden"].astype(int)).sort_values("width")
        ax.plot(
            rows["width"],
            rows["loss_median"],
            marker="o",
            color=colors[scheme],
            linestyle="-" if activation == single["activation"].iloc[0] else ":",
            label=f"{scheme}, {activation}",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width of the hidden layer")
    ax.set_ylabel("median final training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = f"{prefix}width.png"
    save(fig, out / name / png)
    table = []
    for _, r in pairs.iterrows():
        row = {
            "setting": setting_label(
                {**r, "hidden": f"{r['width']} (random W) vs {2 * r['width']} (zero W)"}, lr="lr" in h.by
            ),
            "verdict": f"**{r['verdict']}**",
            "× reference steps [95% CI]": with_ci(
                *(fmt_ratio(r[k]) for k in ("speed_ratio", "speed_lo", "speed_hi"))
            ),
            "final train loss − ref [95% CI]": with_ci(
                *(f"{r[k]:+.3f}" for k in ("loss_diff", "loss_diff_lo", "loss_diff_hi"))
            ),
            "test acc − ref, points [95% CI]": with_ci(
                *(f"{100 * r[k]:+.1f}" for k in ("acc_diff", "acc_diff_lo", "acc_diff_hi"))
            ),
        }
        if control:
            row.update(
                {
                    "× control steps [95% CI]": _ratio_ci(r, "weight"),
                    "final train loss − control [95% CI]": _loss_ci(r, "weight"),
                    "control at H: × reference steps [95% CI]": _ratio_ci(r, "bias"),
                }
            )
        table.append(row)
    lines = [
        f"Width: {code(QUESTION)} and {code(reference)} with one hidden layer of each width (solid and "
        "dotted: the two activations). If zero W loses only the dead half of its units (relu), then zero W "
        f"at width 2H should match random W at width H. The table sets {code(QUESTION)} at 2H beside "
        f"{code(reference)} at H "
        "(steps counted against the reference's target at H; runs paired by seed).",
        "",
        f"![width sweep]({name}/{png})",
        "",
        markdown(table),
        "",
    ]
    if control:
        lines[-4:-4] = [
            f"Matched-bias control: {code(control)} (random W with the same bias) at every width too, drawn "
            f"beside them. The table also sets {code(QUESTION)} at 2H beside {code(control)} at H (× "
            f"control: the cost of zero W) and {code(control)} at H beside {code(reference)} at H "
            "(control at H: the cost of the bias scale), same target, runs paired by seed.",
            "",
        ]
        lines += [width_sentence(pairs, h.by), ""]
    return lines


def sweep_lines(
    h: Headline, curves: pd.DataFrame, reference: str, out: Path, name: str, prefix: str = ""
) -> list[str]:
    """Both sweeps of ``h``, or nothing when it has neither."""
    return [
        *scale_lines(h, reference, out, name, prefix),
        *width_lines(h, curves, reference, out, name, prefix),
    ]
