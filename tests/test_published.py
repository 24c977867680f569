"""The *Published baselines* section: both published figures with their sources, and an *other differences*
column that names the listed ways in which every setting differs instead of saying "none"."""

from __future__ import annotations

import re

import pandas as pd

from symjax.report.published import (
    ALWAYS_DIFFERENT,
    DIFFERENCES,
    PUBLISHED,
    PUBLISHED_SCHEME,
    PUBLISHED_SETTING,
    REPOSITORY,
    fixed_differences,
    other_differences,
    published_lines,
    published_rows,
)


def _row(model, hidden, scheme, acc, **setting):
    return {
        "dataset": "mnist1d",
        "model": model,
        "hidden": hidden,
        **{**PUBLISHED_SETTING, **setting},
        "scheme": scheme,
        "acc_median": acc,
        "acc_lo": acc - 0.01,
        "acc_hi": acc + 0.01,
    }


def _summary():
    return pd.DataFrame(
        [
            _row("mlp", "", PUBLISHED_SCHEME, 0.32),
            _row("mlp", "100,100", PUBLISHED_SCHEME, 0.66),
            _row("mlp", "100,100", "lecun_normal/zeros", 0.66),
            _row("cnn_paper", "25,25,25", PUBLISHED_SCHEME, 0.93, steps=500),
        ]
    )


def _table(lines):
    """The section's table as {model: [cells of each row]} with the header's column names."""
    text = "\n".join(lines).splitlines()
    rows = [line for line in text if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in r.strip("|").split("|")))) for r in rows[2:]]


def test_other_differences_never_say_none_while_the_list_below_applies():
    lines = published_lines(_summary())
    table = _table(lines)
    assert len(table) == 4 and all(r["other differences"] != "none" for r in table)
    by_model = {(r["model"], r["scheme"]): r["other differences"] for r in table}
    assert (
        by_model[("logistic regression", f"`{PUBLISHED_SCHEME}`")]
        == "the 4 listed below (data, inputs, batches, accuracy)"
    )
    mlp = by_model[("MLP 40-100-100-10", f"`{PUBLISHED_SCHEME}`")]
    assert mlp == "the 5 listed below (data, inputs, batches, MLP residual, accuracy)"
    cnn = next(v for (m, _), v in by_model.items() if m.startswith("CNN"))
    assert (
        cnn == "the 5 listed below (data, inputs, batches, CNN padding, accuracy); steps 500 (published 6000)"
    )
    for line in ALWAYS_DIFFERENT:  # every listed difference is in the list below the table
        assert f"- {line}" in lines
    assert len(ALWAYS_DIFFERENT) == len(DIFFERENCES) == 6


def test_fixed_differences_apply_to_their_model_only():
    logistic, mlp, cnn = PUBLISHED
    assert [d.short for d in fixed_differences(logistic)] == ["data", "inputs", "batches", "accuracy"]
    assert "MLP residual" in [d.short for d in fixed_differences(mlp)] and "CNN padding" not in [
        d.short for d in fixed_differences(mlp)
    ]
    assert "CNN padding" in [d.short for d in fixed_differences(cnn)]
    assert other_differences(mlp, "") == "the 5 listed below (data, inputs, batches, MLP residual, accuracy)"
    assert other_differences(logistic, "lr 0.1 (published 0.01)").endswith("; lr 0.1 (published 0.01)")


def test_setting_column_differences_stay_empty_at_the_published_setting():
    rows = published_rows(_summary())
    assert rows["differences"].tolist() == ["", "", "", "steps 500 (published 6000)"]


def test_both_published_figures_are_given_with_their_sources():
    assert [(p.accuracy, p.headline) for p in PUBLISHED] == [(0.315, 0.32), (0.651, 0.68), (0.923, 0.94)]
    for p in PUBLISHED:  # the band stays where it was: around the logged runs, wide enough for the README too
        assert p.band[0] <= p.accuracy <= p.band[1] and p.band[0] <= p.headline <= p.band[1]
    assert [p.band for p in PUBLISHED] == [(0.29, 0.35), (0.60, 0.70), (0.85, 1.0)]
    lines = published_lines(_summary())
    text = "\n".join(lines)
    table = _table(lines)
    mlp = next(r for r in table if r["model"] == "MLP 40-100-100-10")
    assert (mlp["published: logged runs"], mlp["published: README"]) == ("65.1%", "68%")
    cnn = next(r for r in table if r["model"].startswith("CNN"))
    assert (cnn["published: logged runs"], cnn["published: README"]) == ("92.3%", "94%")
    assert (
        "logistic regression 32%, MLP 68%, CNN 94%" in text
        and "logistic regression 31.5%, MLP 65.1%, CNN 92.3%" in text
    )
    assert (
        "README" in text and "Comparing MNIST and MNIST-1D" in text and "mnist1d-classification.ipynb" in text
    )
    assert REPOSITORY == "https://github.com/greydanus/mnist1d" and f"]({REPOSITORY})" in text
    # every link points at the public repository, none at a local file
    assert not re.search(r"\]\((?!https://)", text)
    assert "3 of 3 do" in text and "the README's figures lie in the bands too" in text


def test_band_check_is_unchanged():
    rows = _summary()
    rows.loc[1, "acc_median"] = 0.68  # the README's MLP figure: still inside 60-70%
    rows.loc[0, "acc_median"] = 0.36  # logistic regression above 35%: outside
    text = "\n".join(published_lines(rows))
    assert "2 of 3 do" in text and text.count("**no**") == 1 and text.count("**yes**") == 2
    assert published_lines(rows.iloc[2:3]) == []  # no published init in the setting: not compared
