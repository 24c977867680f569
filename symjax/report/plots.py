"""Plots for the report: per setting, loss and accuracy (or test MSE) curves and effective rank (median with
interquartile band per scheme) with the ECDF of steps to target, and the mechanism plot per hidden layer;
across settings, the performance profile.

Data-flow stage: analysis -> **report** (PNG files, matplotlib Agg).
PNG files carry no software/version metadata, so the same results give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from symjax.analysis.stats import ecdf  # noqa: E402

PANELS = (("train_loss", "training loss (whole training set)", "log"), ("test_acc", "test accuracy", "linear"),
          ("effective_rank", "effective rank of W, first hidden layer", "linear"))
REGRESSION_PANELS = (("train_loss", "training MSE (whole training set)", "log"), ("test_loss", "test MSE", "log"),
                     PANELS[2])  # no accuracy in regression: the test MSE instead


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


def plot_setting_curves(quantiles: dict[str, pd.DataFrame], schemes: list[str], title: str,
                        target_loss: float, steps_to_target: dict[str, np.ndarray], path: Path,
                        regression: bool = False) -> None:
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
            median_band(ax, table[table["scheme"] == scheme], colors[scheme], scheme,
                        marker="." if column == "effective_rank" else None)
        if column == "train_loss":
            ax.axhline(target_loss, color="black", linestyle="--", linewidth=0.8, label="target MSE" if regression else "target loss")
        ax.set_yscale(yscale)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    plot_ecdf(axes[-1], steps_to_target, colors, max(quantiles["train_loss"]["step"].max(), 1),
              "fraction of runs at or below the target MSE" if regression else None)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save(fig, path)


def plot_mechanism(quantiles: dict[str, pd.DataFrame], schemes: list[str], title: str, path: Path) -> None:
    """Write one PNG: effective rank of W and dead-unit fraction over steps, one column per hidden layer.

    Args:
        quantiles: "effective_rank" / "dead_fraction" -> rows (scheme, layer, step, q25, q50, q75) of one setting.
    """
    colors = scheme_colors(schemes)
    layers = sorted(quantiles["effective_rank"]["layer"].unique())
    fig, axes = plt.subplots(2, len(layers), figsize=(5.5 * len(layers), 7), squeeze=False)
    for row, (column, label) in enumerate((("effective_rank", "effective rank of W"), ("dead_fraction", "dead units"))):
        for ax, layer in zip(axes[row], layers):
            table = quantiles[column][quantiles[column]["layer"] == layer]
            for scheme in schemes:
                median_band(ax, table[table["scheme"] == scheme], colors[scheme], scheme, marker=".")
            ax.set_title(f"hidden layer {layer}", fontsize=9)
            ax.set_xlabel("step")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save(fig, path)


def save(fig, path: Path) -> None:
    """Write a PNG without software metadata (same figure -> same bytes) and close the figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


def plot_ecdf(ax, steps_to_target: dict[str, np.ndarray], colors: dict[str, str], horizon: int,
              ylabel: str | None = None) -> None:
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
