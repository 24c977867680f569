"""The report's *Residual blocks, normalization and attention* section: the answer per architecture
family, and the predictions of docs/theory.md read from the stored diagnostics.

Data-flow stage: analysis (``symjax.analysis.answer.headline``) -> **report**. Only when the results hold
a residual MLP, a transformer or a normalized network (the built-in ``modern`` matrix).
"""

from __future__ import annotations

import pandas as pd

from symjax.analysis.answer import Headline, is_question_scheme
from symjax.report.format import code, fmt_loss, markdown

NORM_NAMES = {"none": "", "layernorm": " + LayerNorm", "batchnorm": " + BatchNorm"}
MODEL_NAMES = {"mlp": "plain MLP", "cnn": "1-D CNN", "cnn_paper": "1-D CNN", "resmlp": "residual MLP"}
ZERO_BRANCH = "@2=zeros/zeros"  # the resmlp zero-branch recipe's first override
# the transformer's first gradient steps in exact arithmetic, zeros/normal(1.0), two blocks (docs/theory.md)
TRANSFORMER_ORDER = [1, *[4, 3, 2, 1, 2, 1] * 2, 0]
DISTINCT_TOLERANCE = 1e-3  # symjax.core.diagnostics.DISTINCT_TOLERANCE (the report side loads no jax)


def is_modern(runs: pd.DataFrame) -> bool:
    """Whether ``runs`` hold a residual MLP, a transformer or a normalized network."""
    return bool(runs["model"].isin(["resmlp", "transformer"]).any() or (runs["norm"] != "none").any())


def family(row) -> str:
    """The architecture family of a setting, e.g. ``residual MLP + BatchNorm, warm-up-cosine``."""
    if row["model"] == "transformer":
        name = "transformer (attention)"
    else:
        name = MODEL_NAMES.get(row["model"], f"plug-in {row['model']}") + NORM_NAMES[row["norm"]]
    return name + (", warm-up–cosine" if row["schedule"] != "constant" else "")


def family_lines(h: Headline) -> list[str]:
    """One row per (family, question scheme) at its own best rate: as fast as the reference, and ends as
    good?"""
    summary = h.summary  # its ``moved``: the share of runs whose weights moved (headline with diagnostics)
    rows = summary[summary["scheme"].map(is_question_scheme)]
    if rows.empty:
        return []
    reference = summary[summary["verdict"] == "reference"].set_index(h.by)["loss_median"]
    table = [
        {
            "family": family(r),
            "activation": r["activation"],
            "scheme": code(r["scheme"]),
            "speed (steps to target)": r["verdict"],
            "end (final loss)": r["end_verdict"],
            "median final train loss (reference's)": (
                f"{fmt_loss(r['loss_median'])} ({fmt_loss(reference.loc[tuple(r[h.by])])})"
            ),
            "runs whose weights moved": f"{r['moved']:.0%}",
        }
        for _, r in rows.iterrows()
    ]
    return [
        "Each scheme at its own best rate against the reference at its own; *speed* is the verdict on steps "
        "to the target loss, *end* on the final training loss (both defined under *Definitions*); *runs "
        "whose weights moved*: some layer's weight gradient was non-zero at some update "
        "(`first_grad_step`). A "
        "network whose weights never move ends at its readout bias alone, the class prior (ln 10 = 2.303 "
        "on balanced MNIST-1D), and does not count as learning (*Definitions*) even below the chance level "
        "measured without an all-zero control (the reference's step-0 loss, above ln 10 here).",
        "",
        markdown(table),
        "",
    ]


def _check(prediction: str, shown: str, holds: bool) -> dict:
    return {
        "prediction (docs/theory.md)": prediction,
        "in the stored runs": shown,
        "holds": "yes" if holds else "no",
    }


def theory_rows(runs: pd.DataFrame, diagnostics: pd.DataFrame) -> list[dict]:
    """Each prediction of docs/theory.md's *Residual blocks, normalization and attention* that the runs can
    show, with what they show."""
    d = diagnostics.merge(runs[["run_id", "model", "norm", "activation", "scheme", "hidden"]], on="run_id")
    d["width"] = d["hidden"].astype(str).str.split(",").str[0].astype(int)  # resmlp: one width
    last = d.groupby("run_id")["layer"].transform("max")
    hidden, rows = d[d["layer"] < last], []
    bn = hidden[(hidden["norm"] == "batchnorm") & hidden["scheme"].str.startswith("zeros/normal")]
    if len(bn):
        stuck = d[d["run_id"].isin(bn["run_id"])]["first_grad_step"].isna().all()
        most = int(bn["distinct_units"].max())
        rows.append(
            _check(
                "BatchNorm after zero W: one distinct unit per normalized layer at every logged step, no "
                "weight gradient ever",
                f"{bn['run_id'].nunique()} runs: at most {most} distinct unit(s); "
                + ("no weight gradient in any layer" if stuck else "a weight gradient somewhere"),
                most == 1 and stuck,
            )
        )
    branch = d[(d["model"] == "resmlp") & d["scheme"].str.contains(ZERO_BRANCH, regex=False)]
    for activation, expected in (("tanh", "0 for every layer"), ("relu", "never for the blocks")):
        part = branch[(branch["activation"] == activation) & (branch["step"] == 0)]
        if len(part):
            blocks = part[
                (part["layer"] > 1) & (part["layer"] < part.groupby("run_id")["layer"].transform("max"))
            ]
            holds = (
                (part["first_grad_step"] == 0).all()
                if activation == "tanh"
                else blocks["first_grad_step"].isna().all()
            )
            seen = sorted(part["first_grad_step"].fillna(-1).astype(int).unique().tolist())
            rows.append(
                _check(
                    f"zero-branch recipe, {activation}: first weight gradient at update {expected}",
                    f"{part['run_id'].nunique()} runs; first_grad_step values {seen} (−1: never)",
                    bool(holds),
                )
            )
    ln = hidden[(hidden["norm"] == "layernorm") & hidden["scheme"].str.startswith("zeros/normal")]
    ln = ln[ln["step"] == 0]
    if len(ln):
        rows.append(
            _check(
                "LayerNorm after zero W: the units stay distinct from step 0 (not one unit, as under "
                "BatchNorm)",
                f"{ln['run_id'].nunique()} runs: {int(ln['distinct_units'].min())} to "
                f"{int(ln['distinct_units'].max())} distinct units of {int(ln['width'].max())} at step 0 "
                f"(holds: at least 90% distinct in every run; two units count as one when their (w, b, "
                f"scale - 1, shift) differ by at most {DISTINCT_TOLERANCE:g} x the larger norm, so random "
                "biases that close merge)",
                bool((ln["distinct_units"] >= 0.9 * ln["width"]).all()),
            )
        )
    tf = d[(d["model"] == "transformer") & (d["scheme"] == "zeros/normal(1.0)") & (d["step"] == 0)]
    if len(tf):
        median = tf.groupby("layer")["first_grad_step"].median().astype(int).tolist()
        rows.append(
            _check(
                "transformer, zeros/normal(1.0): first weight gradient per layer "
                f"{TRANSFORMER_ORDER} in exact arithmetic",
                f"median over {tf['run_id'].nunique()} runs {median}: the query's and key's float32 rounding "
                "residues (~1e-12 of the readout's gradient) count as non-zero at update 2",
                median == [min(v, 2) for v in TRANSFORMER_ORDER],
            )
        )
    return rows


def modern_lines(runs: pd.DataFrame, diagnostics: pd.DataFrame, h: Headline) -> list[str]:
    """The section's markdown; [] for results without a modern network."""
    if not is_modern(runs):
        return []
    rows = theory_rows(runs, diagnostics)
    return [
        "## Residual blocks, normalization and attention",
        "",
        *family_lines(h),
        "What theory predicted before these runs (docs/theory.md, each prediction with its test), read "
        "from this folder's `diagnostics.parquet`:",
        "",
        *([markdown(rows), ""] if rows else ["(no run here that shows them)", ""]),
    ]
