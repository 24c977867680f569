"""The report's *Published baselines* section: MNIST-1D's published test accuracies beside this suite's.

Data-flow stage: analysis (``tables.summarize`` rows) -> **report**. Shown when the results hold a
setting with a published model (dataset, model and hidden widths match) trained with the published init;
every other way in which the setting differs from the published one is listed with it, and each row names the
listed ways that apply to its model. Figures from two sources in the mnist1d repository
(https://github.com/greydanus/mnist1d):
the headline table of its README (logistic regression 32%, MLP 68%, CNN 94%; no training setting stated
there), and its logged runs, the training logs of its notebook ``notebooks/mnist1d-classification.ipynb``
(Adam 1e-2, batches of 100, 6000 steps, PyTorch's default init; test accuracy at step 6000: 31.5%, 65.1%,
92.3%), the setting copied here. The bands are set around the logged runs. A median outside its band is a bug
to find, not a band to widen.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from symjax.core.axes import LATER_GROUPED
from symjax.report.format import code, fmt_acc, markdown, setting_label, with_ci
from symjax.results.schema import SETTING_COLUMNS

PUBLISHED_SCHEME = "torch_default/torch_default"  # PyTorch's default init, as in the published runs
REPOSITORY = "https://github.com/greydanus/mnist1d"  # Greydanus (2020), "Scaling down deep learning"
LOGGED_NOTEBOOK = (
    "notebooks/mnist1d-classification.ipynb"  # the README's "Quantifying CNN spatial priors" notebook
)
LOGGED_SOURCE = (
    "its logged runs, the training logs of the notebook "
    f"[`{LOGGED_NOTEBOOK}`]({REPOSITORY}/blob/master/{LOGGED_NOTEBOOK}) at step 6000"
)
HEADLINE_SOURCE = "the headline table of its README, *Comparing MNIST and MNIST-1D*"


class Published(NamedTuple):
    """One published baseline: its model as this suite writes it, its test accuracy in the repository's logged
    runs (LOGGED_SOURCE, the figure the band is set around), the band expected here, and the README's headline
    figure (HEADLINE_SOURCE)."""

    name: str
    model: str
    hidden: str
    accuracy: float
    band: tuple[float, float]
    headline: float = float("nan")


PUBLISHED = (
    Published("logistic regression", "mlp", "", 0.315, (0.29, 0.35), 0.32),
    Published("MLP 40-100-100-10", "mlp", "100,100", 0.651, (0.60, 0.70), 0.68),
    Published(
        "CNN: 3 conv layers of 25 channels, kernels 5/3/3, stride 2",
        "cnn_paper",
        "25,25,25",
        0.923,
        (0.85, 1.0),
        0.94,
    ),
)
PUBLISHED_SETTING = {
    "dataset": "mnist1d",
    "activation": "relu",
    "optimizer": "adam",
    "lr": 0.01,
    "batch_size": 100,
    "steps": 6000,
    **{a.single: a.earlier[0] for a in LATER_GROUPED},  # float32, constant rate, ...
}


class Difference(NamedTuple):
    """A way every setting here differs from the published one (not a setting column): a short name for the
    table,
    the text of the list below it, and the ``Published.hidden`` of the one baseline it concerns (None:
    all)."""

    short: str
    text: str
    hidden: str | None = None


DIFFERENCES = (
    Difference(
        "data",
        "Data: generated offline by the `mnist1d` package's `make_dataset` with its default arguments (4000 "
        "training and 1000 test examples of 40 features); the published runs loaded the repository's "
        "pickled copy of that data, which is not compared byte for byte here.",
    ),
    Difference("inputs", "Inputs: standardized per feature with training statistics; published: raw."),
    Difference(
        "batches",
        "Batches: a fresh shuffle every epoch; published: in order, examples `100·step mod 4000` "
        "onward, the same order every epoch.",
    ),
    Difference(
        "MLP residual",
        "The published MLP adds a residual connection to its second layer (h + relu(W₂h + b₂)); "
        "this MLP is plain.",
        "100,100",
    ),
    Difference(
        "CNN padding",
        "The published CNN pads by 1 (lengths 19, 10, 5); this one pads 'SAME' (lengths 20, 10, "
        "5): the same 125 features reach the readout.",
        "25,25,25",
    ),
    Difference(
        "accuracy",
        "Accuracy: the test accuracy after the last step; published: the test accuracy logged at "
        "the end of training.",
    ),
)
ALWAYS_DIFFERENT = [d.text for d in DIFFERENCES]  # the list below the table, in its order


def fixed_differences(baseline: Published) -> list[Difference]:
    """The DIFFERENCES that apply to ``baseline`` (all but those of the other models)."""
    return [d for d in DIFFERENCES if d.hidden is None or d.hidden == baseline.hidden]


def other_differences(baseline: Published, differences: str) -> str:
    """The table's *other differences* cell: the listed ways that apply to the baseline, then the setting
    columns that differ (``published_rows``' ``differences``), e.g. ``the 4 listed below (data, inputs,
    batches, accuracy)``."""
    fixed = fixed_differences(baseline)
    listed = f"the {len(fixed)} listed below ({', '.join(d.short for d in fixed)})"
    return f"{listed}; {differences}" if differences else listed


def published_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows of settings with a published model that trained the published init
    (``PUBLISHED_SCHEME``),
    each with ``baseline`` (its ``Published``) and ``differences`` (the setting columns that differ from the
    published setting, as text; empty at the published setting: the DIFFERENCES that always apply are not in
    it)."""
    rows = []
    with_published_init = summary.groupby(SETTING_COLUMNS, sort=False)["scheme"].transform(
        lambda schemes: (schemes == PUBLISHED_SCHEME).any()
    )
    for baseline in PUBLISHED:
        match = summary[
            (summary["dataset"] == "mnist1d")
            & (summary["model"] == baseline.model)
            & (summary["hidden"].astype(str) == baseline.hidden)
            & with_published_init.astype(bool)
        ]
        for _, row in match.iterrows():
            differences = [
                f"{column} {row[column]} (published {value})"
                for column, value in PUBLISHED_SETTING.items()
                if row[column] != value
            ]
            rows.append({**row.to_dict(), "baseline": baseline, "differences": "; ".join(differences)})
    return pd.DataFrame(rows)


SHORT_NAMES = {"": "logistic regression", "100,100": "MLP", "25,25,25": "CNN"}  # by Published.hidden


def fmt_headline(x: float) -> str:
    """A README figure as the README writes it, in whole percent (``68%``)."""
    return "n/a" if x != x else f"{100 * x:.0f}%"


def _figures(attribute: str, fmt) -> str:
    """e.g. ``logistic regression 32%, MLP 68%, CNN 94%``: one figure of each PUBLISHED baseline."""
    return ", ".join(f"{SHORT_NAMES.get(p.hidden, p.name)} {fmt(getattr(p, attribute))}" for p in PUBLISHED)


def _band(baseline: Published) -> str:
    low, high = baseline.band
    return f"{fmt_acc(low)}–{fmt_acc(high)}" if high < 1 else f"≥ {fmt_acc(low)}"


def published_lines(summary: pd.DataFrame) -> list[str]:
    """Markdown: both published test accuracies (logged runs, README headline), band and this suite's median
    [95% CI] per setting and scheme."""
    rows = published_rows(summary)
    if rows.empty:
        return []
    table = []
    for _, r in rows.iterrows():
        low, high = r["baseline"].band
        inside = low <= r["acc_median"] <= high
        published = r["scheme"] == PUBLISHED_SCHEME
        table.append(
            {
                "model": r["baseline"].name,
                "setting": setting_label(r),
                "scheme": code(r["scheme"]),
                "published: logged runs": fmt_acc(r["baseline"].accuracy),
                "published: README": fmt_headline(r["baseline"].headline),
                "expected band": _band(r["baseline"]),
                "test acc, median [95% CI]": with_ci(
                    *(fmt_acc(r[k]) for k in ("acc_median", "acc_lo", "acc_hi"))
                ),
                "in band": ("**yes**" if inside else "**no**") if published else ("yes" if inside else "no"),
                "other differences": other_differences(r["baseline"], r["differences"]),
            }
        )
    checked = rows[rows["scheme"] == PUBLISHED_SCHEME]
    held = sum(
        r["baseline"].band[0] <= r["acc_median"] <= r["baseline"].band[1] for _, r in checked.iterrows()
    )
    outside = [p.name for p in PUBLISHED if not p.band[0] <= p.headline <= p.band[1]]
    readme = (
        "the README's figures lie in the bands too"
        if not outside
        else f"the README's figure lies outside the band for {', '.join(outside)}"
    )
    return [
        "## Published baselines",
        "",
        "MNIST-1D's published test accuracies beside this suite's, from two sources in the [mnist1d "
        f"repository]({REPOSITORY}) (Greydanus 2020): {LOGGED_SOURCE} ({_figures('accuracy', fmt_acc)}), in "
        "the setting copied here (relu, Adam at 0.01, batches of 100, 6000 steps, PyTorch's default init, "
        f"here `{PUBLISHED_SCHEME}`); and {HEADLINE_SOURCE} (row MNIST-1D: "
        f"{_figures('headline', fmt_headline)}), which states no training setting. The band, set around the "
        f"logged runs, is where the published init's median must fall: {held} of {len(checked)} do "
        f"({readme}). Other schemes are shown for comparison; only the published init is held "
        "to the band.",
        "",
        markdown(table),
        "",
        "How every setting here differs from the published one (the table's last column "
        "names those that apply to its model):",
        "",
        *[f"- {line}" for line in ALWAYS_DIFFERENT],
        "",
    ]
