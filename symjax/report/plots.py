"""Plots for the report: per setting, loss and accuracy (or test MSE) curves and effective rank (median with
interquartile band per scheme) with the ECDF of steps to target, and the mechanism plot per hidden layer;
across settings, the performance profile.

Data-flow stage: analysis -> **report** (PNG files, matplotlib Agg).
PNG files carry no software/version metadata, so the same results give the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from symjax.analysis.stats import ecdf  # noqa: E402

PANELS = (
    ("train_loss", "training loss (whole training set)", "log"),
    ("test_acc", "test accuracy", "linear"),
    ("effective_rank", "effective rank of W, first hidden layer", "linear"),
)
REGRESSION_PANELS = (
    ("train_loss", "training MSE (whole training set)", "log"),
    ("test_loss", "test MSE", "log"),
    PANELS[2],
)  # no accuracy in regression: the test MSE instead


def scheme_colors(schemes: list[str]) -> dict[str, str]:
    """A fixed colour per scheme, in matrix order."""
    palette = plt.get_cmap("tab10").colors
    return {scheme: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, scheme in enumerate(schemes)}


def median_band(ax, rows: pd.DataFrame, color: str, label: str, marker: str | None = None) -> None:
    """Median line and 25-75% band of rows (step, q25, q50, q75); nothing when rows is empty."""
    if rows.empty:
        return
    ax.plot(rows["step"], rows["q50"], color=color, label=label, linewidth=1.6, marker=marker)
    ax.fill_between(rows["step"], rows["q25"], rows["q75"], color=color, alpha=0.18, linewidth=0)


def plot_setting_curves(
    quantiles: dict[str, pd.DataFrame],
    schemes: list[str],
    title: str,
    target_loss: float,
    steps_to_target: dict[str, np.ndarray],
    path: Path,
    regression: bool = False,
) -> None:
    """Write one PNG: per panel one median line and 25-75% band per scheme, plus the ECDF of steps to target.

    Args:
        quantiles: panel column -> rows (scheme, step, q25, q50, q75) of one setting: "train_loss",
            "effective_rank" and "test_acc" (classification) or "test_loss" (regression).
        schemes: scheme names in plotting order.
        target_loss: drawn as a dashed line on the loss panel.
        steps_to_target: scheme -> (runs,) steps to target, +inf where never reached.
        regression: label losses as MSE and show the test MSE instead of the test accuracy.
    """
    colors = scheme_colors(schemes)
    fig, grid = plt.subplots(2, 2, figsize=(12, 8))
    axes = grid.ravel()
    for ax, (column, label, yscale) in zip(axes, REGRESSION_PANELS if regression else PANELS):
        table = quantiles[column]
        for scheme in schemes:
            median_band(
                ax,
                table[table["scheme"] == scheme],
                colors[scheme],
                scheme,
                marker="." if column == "effective_rank" else None,
            )
        if column == "train_loss":
            ax.axhline(
                target_loss,
                color="black",
                linestyle="--",
                linewidth=0.8,
                label="target MSE" if regression else "target loss",
            )
        ax.set_yscale(yscale)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    plot_ecdf(
        axes[-1],
        steps_to_target,
        colors,
        max(quantiles["train_loss"]["step"].max(), 1),
        "fraction of runs at or below the target MSE" if regression else None,
    )
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(plain(title), fontsize=10)
    fig.tight_layout()
    save(fig, path)


def plot_mechanism(quantiles: dict[str, pd.DataFrame], schemes: list[str], title: str, path: Path) -> None:
    """Write one PNG: effective rank of W and dead-unit fraction over steps, one column per hidden layer.

    Args:
        quantiles: "effective_rank" / "dead_fraction" -> rows (scheme, layer, step, q25, q50, q75) of one
        setting.
    """
    colors = scheme_colors(schemes)
    layers = sorted(quantiles["effective_rank"]["layer"].unique())
    fig, axes = plt.subplots(2, len(layers), figsize=(5.5 * len(layers), 7), squeeze=False)
    for row, (column, label) in enumerate(
        (("effective_rank", "effective rank of W"), ("dead_fraction", "dead units"))
    ):
        for ax, layer in zip(axes[row], layers):
            table = quantiles[column][quantiles[column]["layer"] == layer]
            for scheme in schemes:
                median_band(ax, table[table["scheme"] == scheme], colors[scheme], scheme, marker=".")
            ax.set_title(f"hidden layer {layer}", fontsize=9)
            ax.set_xlabel("step")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(plain(title), fontsize=10)
    fig.tight_layout()
    save(fig, path)


def save(fig, path: Path, **options) -> None:
    """Write a PNG without software metadata (same figure -> same bytes) and close the figure; ``options`` go
    to
    ``savefig`` (e.g. ``bbox_inches="tight"``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None}, **options)
    plt.close(fig)


def plot_ecdf(
    ax,
    steps_to_target: dict[str, np.ndarray],
    colors: dict[str, str],
    horizon: int,
    ylabel: str | None = None,
) -> None:
    """Fraction of runs that reached the target by each step; never-reached runs keep the curve below 1."""
    grid = np.linspace(0, horizon, 201)
    for scheme, values in steps_to_target.items():
        ax.step(grid, ecdf(values, grid), where="post", color=colors[scheme], label=scheme, linewidth=1.6)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or "fraction of runs at or below the target loss")
    ax.grid(alpha=0.3)


def plot_performance_profile(taus: np.ndarray, profile: np.ndarray, schemes: list[str], path: Path) -> None:
    """Performance profile: for each scheme, the fraction of settings whose median steps to target
    is within tau times the best scheme's. profile: (len(taus), len(schemes))."""
    colors = scheme_colors(schemes)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for index, scheme in enumerate(schemes):
        ax.step(taus, profile[:, index], where="post", color=colors[scheme], label=scheme, linewidth=1.6)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("τ: median steps to target / best scheme's in the setting")
    ax.set_ylabel("fraction of settings within τ")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save(fig, path)


VERDICT_COLORS = {
    "equivalent": "#74c476",
    "faster": "#31a354",
    "better": "#9ecae1",
    "slower": "#fd8d3c",
    "worse": "#9e9ac8",
    "fails": "#cb181d",
    "inconclusive": "#d9d9d9",
    "no target": "#f0f0f0",
    "too few runs": "#bdbdbd",
    "no reference": "#ffffff",
}


def plot_verdict_map(
    cells: pd.DataFrame, settings: list[str], schemes: list[str], groups: list[str], path: Path
) -> None:
    """Write the verdict map: one row per setting, one column per scheme, each cell coloured by its verdict
    and labelled with its speed ratio.

    Args:
        cells: rows (setting, scheme, verdict, label); ``setting`` one of ``settings`` (row order, top first;
            shown up to a last `` | ``), ``scheme`` one of ``schemes`` (column order).
        groups: (len(settings),) a group name per row (e.g. the optimizer); rows of a group must be adjacent.
            Each group gets a horizontal rule and its name at the right.
    """
    height, width = len(settings), len(schemes)
    fig, ax = plt.subplots(figsize=(2.2 + 1.25 * width + 3.2, 1.6 + 0.26 * height))
    row_of, column_of = {s: i for i, s in enumerate(settings)}, {s: j for j, s in enumerate(schemes)}
    for _, cell in cells.iterrows():
        i, j = row_of[cell["setting"]], column_of[cell["scheme"]]
        ax.add_patch(
            matplotlib.patches.Rectangle(
                (j, i),
                1,
                1,
                facecolor=VERDICT_COLORS.get(cell["verdict"], "#ffffff"),
                edgecolor="white",
                linewidth=1,
            )
        )
        ax.text(j + 0.5, i + 0.5, cell["label"], ha="center", va="center", fontsize=7)
    starts = [i for i in range(height) if i == 0 or groups[i] != groups[i - 1]]
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else height
        if start:
            ax.axhline(start, color="black", linewidth=1.2)
        ax.text(width + 0.1, (start + end) / 2, groups[start], va="center", fontsize=9, fontweight="bold")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_xticks(np.arange(width) + 0.5, schemes, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(np.arange(height) + 0.5, [s.rsplit(" | ", 1)[0] for s in settings], fontsize=7)
    ax.tick_params(length=0)
    present = [v for v in VERDICT_COLORS if v in set(cells["verdict"])]
    ax.legend(
        handles=[matplotlib.patches.Patch(color=VERDICT_COLORS[v], label=v) for v in present],
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        ncol=len(present),
        fontsize=8,
        frameon=False,
    )
    save(fig, path, bbox_inches="tight")


def _panel_grid(count: int, width: float = 3.6, height: float = 2.8):
    """A figure with ``count`` small panels, at most 4 a row; unused axes hidden. Returns (fig, axes list)."""
    columns = min(4, max(count, 1))
    rows = -(-max(count, 1) // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(width * columns, height * rows + 0.6), squeeze=False)
    axes = list(grid.ravel())
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def plain(title: str) -> str:
    r"""A markdown label (``symjax.report.format.text``) as a plot title: its backslash escapes undone, ``$``
    escaped (matplotlib would read ``$...$`` as math).

    >>> plain("file:a\\|b $x$.npz")
    'file:a|b \\$x\\$.npz'
    """
    return re.sub(r"\\(.)", r"\1", title).replace("$", r"\$")


def _label_panel(ax, title: str, xlabel: str, ylabel: str) -> None:
    """Small-multiple labels: title, axis labels and ticks in small type, a light grid."""
    ax.set_title(plain(title), fontsize=7)
    ax.set_xlabel(xlabel, fontsize=7)
    ax.set_ylabel(ylabel, fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _finish_panels(fig, axes: list, legend: str, path: Path) -> None:
    """One legend on the first panel, tight layout, saved to ``path``."""
    if axes:
        axes[0].legend(fontsize=6, loc=legend)
    fig.tight_layout()
    save(fig, path)


def plot_loss_range(panels: list[tuple[str, pd.DataFrame]], schemes: list[str], path: Path) -> None:
    """Small multiples, one panel per setting: speed ratio (scheme / reference, log scale) against the
    fraction of the reference's loss drop, with its CI as a band; an infinite ratio is drawn at the top edge
    as ×.

    Args:
        panels: (title, rows (scheme, fraction, ratio, lo, hi)) per setting.
        schemes: every scheme, for fixed colours.
    """
    colors = scheme_colors(schemes)
    fig, axes = _panel_grid(len(panels))
    finite = np.concatenate(
        [t[["ratio", "lo", "hi"]].to_numpy(np.float64).ravel() for _, t in panels] or [np.ones(1)]
    )
    finite = finite[np.isfinite(finite) & (finite > 0)]
    top = float(max(finite.max(initial=2.0), 2.0)) * 1.3
    bottom = float(min(finite.min(initial=0.5), 0.5)) / 1.3
    for ax, (title, table) in zip(axes, panels):
        for scheme, rows in table.groupby("scheme", sort=False):
            x = rows["fraction"].to_numpy(np.float64)
            ratio, lo, hi = (np.minimum(rows[k].to_numpy(np.float64), top) for k in ("ratio", "lo", "hi"))
            ax.plot(x, ratio, color=colors[scheme], marker=".", linewidth=1.4, label=scheme)
            ax.fill_between(x, lo, hi, color=colors[scheme], alpha=0.15, linewidth=0)
            censored_x = x[rows["ratio"].to_numpy(np.float64) >= top]
            ax.plot(censored_x, np.full(len(censored_x), top), "x", color=colors[scheme])
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_ylim(bottom, top * 1.05)
        _label_panel(ax, title, "fraction of the reference's loss drop", "× reference steps")
    _finish_panels(fig, axes, "upper left", path)


def plot_km(panels: list[tuple[str, dict]], schemes: list[str], path: Path) -> None:
    """Small multiples, one panel per setting: Kaplan–Meier fraction of runs that reached the target by each
    step (censored at the horizon), with its pointwise 95% CI as a band.

    Args:
        panels: (title, {scheme: (steps, cdf, lo, hi, horizon)}) per setting; empty arrays: no run reached it.
        schemes: every scheme, for fixed colours.
    """
    colors = scheme_colors(schemes)
    fig, axes = _panel_grid(len(panels))
    for ax, (title, curves) in zip(axes, panels):
        for scheme, (steps, cdf, lo, hi, horizon) in curves.items():
            x = np.concatenate([[0.0], steps, [horizon]])
            pad = lambda v: np.concatenate([[0.0], v, [v[-1] if len(v) else 0.0]])  # noqa: E731
            ax.step(x, pad(cdf), where="post", color=colors[scheme], linewidth=1.4, label=scheme)
            ax.fill_between(
                x,
                pad(np.nan_to_num(lo)),
                pad(np.nan_to_num(hi, nan=1.0)),
                step="post",
                color=colors[scheme],
                alpha=0.12,
                linewidth=0,
            )
        ax.set_ylim(-0.02, 1.02)
        _label_panel(ax, title, "step", "reached the target")
    _finish_panels(fig, axes, "lower right", path)
