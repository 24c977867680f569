"""The report's *Published baselines* section: MNIST-1D's published test accuracies beside this suite's.

Data-flow stage: analysis (``tables.summarize`` rows) -> **report**. Shown when the results hold a
setting with a published model (dataset, model and hidden widths match) trained with the published init;
every other way in which the setting differs from the published one is listed with it. Figures: Greydanus (2020), "Scaling
down deep learning" and the mnist1d repository's logged runs (Adam 1e-2, batches of 100, 6000
steps, PyTorch's default init). A median outside its band is a bug to find, not a band to widen.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from symjax.report.format import code, fmt_acc, markdown, setting_label, with_ci
from symjax.results.schema import SETTING_COLUMNS

PUBLISHED_SCHEME = "torch_default/torch_default"  # PyTorch's default init, as in the published runs


class Published(NamedTuple):
    """One published baseline: its model as this suite writes it, its test accuracy and the band expected here."""

    name: str
    model: str
    hidden: str
    accuracy: float
    band: tuple[float, float]


PUBLISHED = (
    Published("logistic regression", "mlp", "", 0.315, (0.29, 0.35)),
    Published("MLP 40-100-100-10", "mlp", "100,100", 0.65, (0.60, 0.70)),
    Published("CNN: 3 conv layers of 25 channels, kernels 5/3/3, stride 2", "cnn_paper", "25,25,25", 0.92, (0.85, 1.0)),
)
PUBLISHED_SETTING = {"dataset": "mnist1d", "activation": "relu", "optimizer": "adam", "lr": 0.01, "batch_size": 100,
                     "steps": 6000, "dtype": "float32"}
ALWAYS_DIFFERENT = [
    "Data: generated offline by the `mnist1d` package's `make_dataset` with its default arguments (4000 training and "
    "1000 test examples of 40 features); the published runs loaded the repository's pickled copy of that data, which "
    "is not compared byte for byte here.",
    "Inputs: standardized per feature with training statistics; published: raw.",
    "Batches: a fresh shuffle every epoch; published: in order, examples `100·step mod 4000` onward, the same order "
    "every epoch.",
    "The published MLP adds a residual connection to its second layer (h + relu(W₂h + b₂)); this MLP is plain.",
    "The published CNN pads by 1 (lengths 19, 10, 5); this one pads 'SAME' (lengths 20, 10, 5): the same 125 features "
    "reach the readout.",
    "Accuracy: the test accuracy after the last step; published: the test accuracy logged at the end of training.",
]


def published_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows of settings with a published model that trained the published init (``PUBLISHED_SCHEME``),
    each with ``baseline`` (its ``Published``) and ``differences`` (the setting columns that differ from the
    published setting, as text)."""
    rows = []
    with_published_init = summary.groupby(SETTING_COLUMNS, sort=False)["scheme"].transform(
        lambda schemes: (schemes == PUBLISHED_SCHEME).any())
    for baseline in PUBLISHED:
        match = summary[(summary["dataset"] == "mnist1d") & (summary["model"] == baseline.model)
                        & (summary["hidden"].astype(str) == baseline.hidden) & with_published_init.astype(bool)]
        for _, row in match.iterrows():
            differences = [f"{column} {row[column]} (published {value})" for column, value in PUBLISHED_SETTING.items()
                           if row[column] != value]
            rows.append({**row.to_dict(), "baseline": baseline, "differences": "; ".join(differences)})
    return pd.DataFrame(rows)


def published_lines(summary: pd.DataFrame) -> list[str]:
    """Markdown: published test accuracy, band and this suite's median [95% CI] per setting and scheme."""
    rows = published_rows(summary)
    if rows.empty:
        return []
    table = []
    for _, r in rows.iterrows():
        low, high = r["baseline"].band
        inside = low <= r["acc_median"] <= high
        published = r["scheme"] == PUBLISHED_SCHEME
        table.append({"model": r["baseline"].name, "setting": setting_label(r), "scheme": code(r["scheme"]),
                      "published": fmt_acc(r["baseline"].accuracy),
                      "expected band": f"{fmt_acc(low)}–{fmt_acc(high)}" if high < 1 else f"≥ {fmt_acc(low)}",
                      "test acc, median [95% CI]": with_ci(*(fmt_acc(r[k]) for k in ("acc_median", "acc_lo", "acc_hi"))),
                      "in band": ("**yes**" if inside else "**no**") if published else ("yes" if inside else "no"),
                      "other differences": r["differences"] or "none"})
    checked = rows[rows["scheme"] == PUBLISHED_SCHEME]
    held = sum(r["baseline"].band[0] <= r["acc_median"] <= r["baseline"].band[1] for _, r in checked.iterrows())
    return ["## Published baselines", "",
            f"MNIST-1D's published test accuracies (Greydanus 2020 and the mnist1d repository's logged runs: relu, Adam "
            f"at 0.01, batches of 100, 6000 steps, PyTorch's default init, here `{PUBLISHED_SCHEME}`) beside this "
            f"suite's. The band is where the published init's median must fall: {held} of {len(checked)} do. Other "
            "schemes are shown for comparison; only the published init is held to the band.", "",
            markdown(table), "", "How every setting here differs from the published one:", "",
            *[f"- {line}" for line in ALWAYS_DIFFERENT], ""]
