"""Question 4 of a report: the answer per architecture family and per batch size, from companion results
(``symjax.report.coverage``)."""

import numpy as np
import pandas as pd
import pytest

from symjax.analysis.answer import Headline
from symjax.report.coverage import batch_answer, companion_kind, covered_families, family_answer

BY = [
    "dataset",
    "model",
    "hidden",
    "activation",
    "optimizer",
    "batch_size",
    "steps",
    "dtype",
    "schedule",
    "norm",
]


def summary(rows: list[dict]) -> pd.DataFrame:
    base = {
        "dataset": "mnist1d",
        "model": "mlp",
        "hidden": "100",
        "activation": "tanh",
        "optimizer": "adam",
        "batch_size": 32,
        "steps": 1000,
        "dtype": "float32",
        "schedule": "constant",
        "norm": "none",
        "speed_ratio": 2.0,
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def view(rows: list[dict]) -> Headline:
    return Headline(summary(rows), None, None, BY, None, None, None, None, 25.0)


def runs(**columns) -> pd.DataFrame:
    frame = summary([{"seed": s} for s in range(3)])
    return frame.assign(**columns)


def test_companion_kinds():
    assert companion_kind(runs()) == "other"
    assert companion_kind(runs(batch_size=[32, 512, 32])) == "batch"
    assert companion_kind(runs(norm=["none", "batchnorm", "none"])) == "families"
    assert covered_families(runs(model=["resmlp", "transformer", "mlp"])) == ["residual", "attention"]


@pytest.mark.parametrize(
    "verdicts, word",
    [
        ([("slower", "falls short"), ("slower", "falls short")], "No"),
        ([("slower", "falls short"), ("inconclusive", "undecided")], "No"),  # different, not contradicting
        ([("slower", "falls short"), ("equivalent", "falls short")], "Yes"),  # speed contradicts
        ([("slower", "falls short"), ("slower", "as good")], "Yes"),  # end contradicts
    ],
)
def test_the_batch_answer_says_yes_only_for_contradicting_verdicts(verdicts, word):
    rows = [
        {"batch_size": size, "scheme": "zeros/normal(1.0)", "verdict": v, "end_verdict": e}
        for size, (v, e) in zip((32, 512), verdicts)
    ]
    rows.append({"batch_size": 32, "scheme": "lecun_normal/zeros", "verdict": "reference", "end_verdict": ""})
    text = "\n".join(batch_answer("batch", view(rows), runs(batch_size=[32, 512, 32])))
    assert f"Does the answer depend on the batch size? **{word}**" in text
    assert "- batch 32: " in text and "- batch 512: " in text
    identical = verdicts[0] == verdicts[1]
    assert ("identical at every batch size in 1" in text) == identical
    assert ("batch 32 slower 2.00×, falls short" in text) == (not identical)


def test_the_family_answer_has_one_line_per_family():
    rows = [
        {
            "model": "resmlp",
            "norm": "batchnorm",
            "scheme": "zeros/normal(1.0)",
            "verdict": "fails",
            "end_verdict": "falls short",
            "speed_ratio": np.inf,
        },
        {
            "model": "resmlp",
            "norm": "none",
            "scheme": "zeros/normal(1.0)",
            "verdict": "slower",
            "end_verdict": "as good",
            "speed_ratio": 2.5,
        },
        {
            "model": "transformer",
            "activation": "relu",
            "scheme": "zeros/normal(0.1)",
            "verdict": "equivalent",
            "end_verdict": "as good",
            "speed_ratio": 1.0,
        },
        {
            "model": "resmlp",
            "norm": "none",
            "scheme": "lecun_normal/zeros",
            "verdict": "reference",
            "end_verdict": "",
        },
    ]
    lines = family_answer("modern", view(rows), runs(model="resmlp"))
    bullets = [line for line in lines if line.startswith("- ")]
    assert bullets == [
        "- **residual MLP + BatchNorm** (tanh; `zeros/normal(1.0)`): fails in 1 of 1; ends as good in 0 "
        "of 1.",
        "- **residual MLP** (tanh; `zeros/normal(1.0)`): slower in 1 of 1 (2.50× the reference's steps to "
        "target); ends as good in 1 of 1.",
        "- **transformer (attention)** (relu; `zeros/normal(0.1)`): equivalent in 1 of 1 (1.00× the "
        "reference's steps to target); ends as good in 1 of 1.",
    ]
