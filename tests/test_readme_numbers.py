"""Every number the README quotes from a committed file is the number in that file (issue 22).

Two kinds of quotes: training times (``N s of training ... `results/NAME/config.json```, checked against the
``timing`` the run recorded), and passages copied from a report between ``<!-- quoted from reports/NAME.md
-->`` and
``<!-- end of quote -->`` (every line must appear, word for word, in that report as committed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SECONDS = re.compile(
    r"([\d,]+(?:\.\d)?) s of training(?:, ([\d,]+(?:\.\d)?) s of it compiling)?[^`]{0,200}?"
    r"`results/([\w-]+)/config\.json`"
)
QUOTE = re.compile(r"<!-- quoted from (reports/[\w-]+\.md) -->\n(.*?)<!-- end of quote -->", re.S)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_the_readme_quotes_training_times_and_report_passages():
    assert len(SECONDS.findall(README)) >= 5  # default, horizon, sweeps, full, paper, float64 ...
    assert len(QUOTE.findall(README)) >= 3


@pytest.mark.parametrize("seconds, compiling, name", SECONDS.findall(README))
def test_training_seconds_are_the_recorded_ones(seconds, compiling, name):
    timing = json.loads((ROOT / "results" / name / "config.json").read_text())["timing"]
    digits = 1 if "." in seconds else 0
    assert _number(seconds) == round(timing["train_seconds"], digits), name
    if compiling:
        assert _number(compiling) == round(timing["compile_seconds"], 1 if "." in compiling else 0), name


@pytest.mark.parametrize("report, passage", QUOTE.findall(README))
def test_quoted_passages_are_in_their_reports(report, passage):
    text = (ROOT / report).read_text()
    for line in passage.splitlines():
        line = line.strip()
        if line.startswith(">"):
            line = line[1:].strip()
        if line:
            assert line in text, f"{report}: {line}"


def test_minutes_match_the_seconds_beside_them():
    """``**7.3 minutes** of training (435 s`` style: the minutes are the seconds / 60, to one decimal."""
    for minutes, seconds in re.findall(r"\*\*([\d.]+) minutes\*\* of training \(([\d,]+) s", README):
        assert float(minutes) == round(_number(seconds) / 60, 1)
