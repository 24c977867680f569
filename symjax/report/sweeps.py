"""Report sections of the bias-scale and width sweeps: plots against σ, c and width, the best scale per setting,
and zero W at width 2H beside random W at width H.

Data-flow stage: analysis (``symjax.analysis.sweeps``) -> **report** (markdown lines and PNGs). Each section
appears only when its results have the sweep (at least 3 scales, or two widths H and 2H of one hidden layer).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from symjax.analysis.answer import Headline
from symjax.analysis.sweeps import QUESTION, best_scales, scale_rows, width_pairs
from symjax.report.format import code, fmt_loss, fmt_ratio, markdown, setting_label, with_ci
from symjax.report.plots import save, scheme_colors

FAMILIES = {"bias": ("σ", "zeros/normal(σ) (σ = 0: zeros/zeros)"), "constant": ("c", "constant(c)/normal(1.0)")}


def _plot_scales(rows: pd.DataFrame, by: list[str], symbol: str, reference_rows: pd.DataFrame, path: Path) -> None:
    """Median final training loss (95% CI bars) and median steps to target against the scale, one line per setting;
    the reference's median final loss dashed. A scale of 0 is drawn at a tenth of the smallest other scale."""
    settings = list(dict.fromkeys(rows[by].astype(str).agg("|".join, axis=1)))
    colors = scheme_colors(settings)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    positive = rows.loc[rows["scale"] > 0, "scale"]
    zero_at = positive.min() / 10 if len(positive) else 1.0
    for key, setting in rows.groupby(by, sort=False):
        setting = setting.sort_values("scale", kind="stable")
        name = "|".join(map(str, key))
        x = setting["scale"].where(setting["scale"] > 0, zero_at).to_numpy(np.float64)
        label = setting_label(setting.iloc[0], lr="lr" in by)
        loss = setting["loss_median"].to_numpy(np.float64)
        bars = np.abs(np.vstack([loss - setting["loss_lo"], setting["loss_hi"] - loss]).astype(np.float64))
        axes[0].errorbar(x, loss, yerr=np.where(np.isfinite(bars), bars, 0), color=colors[name], marker="o",
                         capsize=3, label=label)
        ref = reference_rows[(reference_rows[by] == setting.iloc[0][by]).all(axis=1)]
        if len(ref):
            axes[0].axhline(float(ref["loss_median"].iloc[0]), color=colors[name], linestyle="--", linewidth=0.8)
        steps = setting["steps_median"].to_numpy(np.float64)
        axes[1].plot(x[np.isfinite(steps)], steps[np.isfinite(steps)], color=colors[name], marker="o", label=label)
    for ax, ylabel in zip(axes, ("median final training loss (dashed: reference)", "median steps to target (missing: never)")):
        ax.set_xscale("log")
        ax.set_xlabel(f"{symbol} (leftmost point: {symbol} = 0)" if (rows["scale"] == 0).any() else symbol)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def scale_lines(h: Headline, reference: str, out: Path, name: str, prefix: str) -> list[str]:
    """The bias-scale and constant sweeps of ``h`` (plots named ``prefix``-bias_scale.png, ...)."""
    lines = []
    for family, (symbol, scheme) in FAMILIES.items():
        rows = scale_rows(h.summary, family, h.by)
        if rows.empty:
            continue
        png = f"{prefix}{family}_scale.png"
        _plot_scales(rows, h.by, symbol, h.summary[h.summary["scheme"] == reference], out / name / png)
        best = best_scales(rows, h.by)
        table = [{"setting": setting_label(r, lr="lr" in h.by), f"best {symbol}": f"{r['scale']:g}" + (" (edge)" if r["at_edge"] else ""),
                  "its median final training loss [95% CI]": with_ci(*(fmt_loss(r[k]) for k in ("loss_median", "loss_lo", "loss_hi")))}
                 for _, r in best.iterrows()]
        lines += [f"{scheme} for {symbol} in {', '.join(f'{v:g}' for v in sorted(rows['scale'].unique()))}: final training "
                  f"loss and steps to target against {symbol}, and the best {symbol} per setting (lowest median final "
                  "training loss; edge: the best is the smallest or largest tried).", "",
                  f"![{family} sweep]({name}/{png})", "", markdown(table), ""]
    return lines


def width_lines(h: Headline, curves: pd.DataFrame, reference: str, out: Path, name: str, prefix: str) -> list[str]:
    """Zero W at width 2H against the reference at width H (one hidden layer), with a plot of loss against width."""
    pairs = width_pairs(h.runs, curves, reference, h.by)
    if pairs.empty:
        return []
    single = h.summary[h.summary["hidden"].astype(str).str.fullmatch(r"[0-9]+") & h.summary["scheme"].isin([reference, QUESTION])]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = scheme_colors([reference, QUESTION])
    for (activation, scheme), rows in single.groupby(["activation", "scheme"], sort=False):
        rows = rows.assign(width=rows["hidden"].astype(int)).sort_values("width")
        ax.plot(rows["width"], rows["loss_median"], marker="o", color=colors[scheme],
                linestyle="-" if activation == single["activation"].iloc[0] else ":", label=f"{scheme}, {activation}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width of the hidden layer")
    ax.set_ylabel("median final training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = f"{prefix}width.png"
    save(fig, out / name / png)
    table = [{"setting": setting_label({**r, "hidden": f"{r['width']} (random W) vs {2 * r['width']} (zero W)"}, lr="lr" in h.by),
              "verdict": f"**{r['verdict']}**",
              "× reference steps [95% CI]": with_ci(*(fmt_ratio(r[k]) for k in ("speed_ratio", "speed_lo", "speed_hi"))),
              "final train loss − ref [95% CI]": with_ci(*(f"{r[k]:+.3f}" for k in ("loss_diff", "loss_diff_lo", "loss_diff_hi"))),
              "test acc − ref, points [95% CI]": with_ci(*(f"{100 * r[k]:+.1f}" for k in ("acc_diff", "acc_diff_lo", "acc_diff_hi")))}
             for _, r in pairs.iterrows()]
    return [f"Width: {code(QUESTION)} and {code(reference)} with one hidden layer of each width (solid and dotted: "
            "the two activations). If zero W loses only the dead half of its units (relu), then zero W at width 2H "
            f"should match random W at width H. The table sets {code(QUESTION)} at 2H beside {code(reference)} at H "
            "(steps counted against the reference's target at H; runs paired by seed).", "",
            f"![width sweep]({name}/{png})", "", markdown(table), ""]


def sweep_lines(h: Headline, curves: pd.DataFrame, reference: str, out: Path, name: str, prefix: str = "") -> list[str]:
    """Both sweeps of ``h``, or nothing when it has neither."""
    return [*scale_lines(h, reference, out, name, prefix), *width_lines(h, curves, reference, out, name, prefix)]
