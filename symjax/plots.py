"""Plots for the report: loss and accuracy curves, median with interquartile band per scheme.

Data-flow stage: stats -> **plots** (PNG, matplotlib Agg) -> report.
PNG files carry no software/version metadata, so the same results give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

PANELS = (("train_loss", "training loss (whole training set)", "log"), ("test_acc", "test accuracy", "linear"),
          ("effective_rank", "effective rank of W, first hidden layer", "linear"))


def scheme_colors(schemes: list[str]) -> dict[str, str]:
    """A fixed colour per scheme, in matrix order."""
    palette = plt.get_cmap("tab10").colors
    return {scheme: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, scheme in enumerate(schemes)}


def plot_setting_curves(quantiles: dict[str, pd.DataFrame], schemes: list[str], title: str,
                        target_loss: float, path: Path) -> None:
    """Write one PNG: for each panel, one median line and 25-75% band per scheme.

    Args:
        quantiles: panel column -> rows (scheme, step, q25, q50, q75) of one setting.
        schemes: scheme names in plotting order.
        target_loss: drawn as a dashed line on the loss panel.
    """
    colors = scheme_colors(schemes)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 4.2))
    for ax, (column, label, yscale) in zip(axes, PANELS):
        table = quantiles[column]
        for scheme in schemes:
            rows = table[table["scheme"] == scheme]
            if rows.empty:
                continue
            ax.plot(rows["step"], rows["q50"], color=colors[scheme], label=scheme, linewidth=1.6,
                    marker="." if column == "effective_rank" else None)
            ax.fill_between(rows["step"], rows["q25"], rows["q75"], color=colors[scheme], alpha=0.18, linewidth=0)
        if column == "train_loss":
            ax.axhline(target_loss, color="black", linestyle="--", linewidth=0.8, label="target loss")
        ax.set_yscale(yscale)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
