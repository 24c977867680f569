"""`symjax report` touches only files it wrote (its plots are those its report links to), and user-given
labels stay text: escaped where they enter markdown, every table keeping its column count."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import run_cli, synthetic_results
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from symjax.core.data_files import parse_name
from symjax.core.errors import SymjaxError
from symjax.report.build import build_report
from symjax.report.format import text
from symjax.report.outputs import publish
from symjax.results.store import load_results, write_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return synthetic_results(tmp_path_factory.mktemp("r") / "results")


def staged(tmp_path, names):
    staging = tmp_path / "staging"
    (staging / "r").mkdir(parents=True)
    for name in names:
        (staging / "r" / name).write_bytes(b"new " + name.encode())
    return staging


def report_text(*plots):
    return "# symjax report: `r`\n" + "".join(f"![plot](r/{p})\n" for p in plots)


def test_publish_replaces_and_deletes_only_the_plots_its_report_linked(tmp_path):
    out = tmp_path / "out"
    publish(out, "r", report_text("a.png", "old.png"), staged(tmp_path, ["a.png", "old.png"]))
    (out / "r" / "holiday.png").write_bytes(b"photo")
    publish(out, "r", report_text("a.png", "b.png"), staged(tmp_path / "2", ["a.png", "b.png"]))
    assert sorted(p.name for p in (out / "r").iterdir()) == ["a.png", "b.png", "holiday.png"]
    assert (out / "r" / "holiday.png").read_bytes() == b"photo"
    assert (out / "r" / "a.png").read_bytes() == b"new a.png"


def test_publish_refuses_a_plot_over_a_file_it_did_not_write(tmp_path):
    out = tmp_path / "out"
    (out / "r").mkdir(parents=True)
    (out / "r" / "a.png").write_bytes(b"mine")
    with pytest.raises(SymjaxError, match="was not written by symjax"):
        publish(out, "r", report_text("a.png"), staged(tmp_path, ["a.png"]))
    assert sorted(p.name for p in out.rglob("*")) == ["a.png", "r"]
    assert (out / "r" / "a.png").read_bytes() == b"mine"


def test_report_keeps_pngs_it_did_not_write(results, tmp_path, capsys):
    """Through the CLI: a photo in the plots folder survives; a file of the user's under a plot's name is
    refused (one line, exit 2, nothing written)."""
    out = tmp_path / "reports"
    (out / "synthetic").mkdir(parents=True)
    (out / "synthetic" / "holiday.png").write_bytes(b"photo")
    (out / "synthetic" / "loss_range.png").write_bytes(b"mine")
    result = run_cli(capsys, ["report", "--results", results, "--out", out])
    assert result.code == 2 and "was not written by symjax" in result.err and result.err.count("\n") == 1
    assert sorted(p.name for p in out.rglob("*")) == ["holiday.png", "loss_range.png", "synthetic"]
    (out / "synthetic" / "loss_range.png").unlink()
    assert run_cli(capsys, ["report", "--results", results, "--out", out]).code == 0
    assert (out / "synthetic" / "holiday.png").read_bytes() == b"photo"


def relabeled(results, folder, name):
    """``results`` with its mnist1d setting renamed ``file:FOLDER/name`` (a file dataset's label; the file
    exists, as loading its results checks); returns (results folder, label)."""
    folder.mkdir(parents=True)
    x, y = np.zeros((4, 3), np.float32), np.array([0, 1, 0, 1])
    np.savez(folder / name, x_train=x, y_train=y, x_test=x, y_test=y)
    label = f"file:{folder / name}"
    loaded = load_results(results)
    runs = loaded.runs.assign(dataset=loaded.runs["dataset"].replace("mnist1d", label))
    config = dict(loaded.config)
    config["matrix"] = {**config["matrix"], "datasets": list(dict.fromkeys(runs["dataset"]))}
    config.pop("format_version", None)
    return write_results(folder / "results", runs, loaded.curves, loaded.diagnostics, config), label


def tables(text: str) -> list[list[str]]:
    blocks, block = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            block.append(line)
        elif block:
            blocks, block = [*blocks, block], []
    return blocks + ([block] if block else [])


def columns(row: str) -> int:
    return len(re.findall(r"(?<!\\)\|", row))


LABELS = st.text(alphabet=st.sampled_from("ab |<>`*_[]()#$\n.x"), min_size=1, max_size=20)


@given(label=LABELS)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_labels_stay_text_in_every_table(results, tmp_path_factory, label):
    try:
        parse_name(f"file:{label}.npz")
    except SymjaxError:
        assume(False)  # not a name a file dataset can have
    folder, label = relabeled(results, tmp_path_factory.mktemp("l") / "data", f"{label}.npz")
    report = build_report(folder, tmp_path_factory.mktemp("out")).read_text()
    for block in tables(report):
        assert len({columns(row) for row in block}) == 1, block
    assert text(label) in report  # the label enters escaped, never raw
    assert label == text(label) or label not in report


def test_a_hostile_label_is_escaped_where_it_enters(results, tmp_path):
    folder, label = relabeled(results, tmp_path / "data", "a|b <img src=x> [x](http:evil) `c`.npz")
    report = build_report(folder, tmp_path / "out").read_text()
    assert not re.search(r"(?<!\\)<img|(?<!\\)\[x(?<!\\)\]\(http", report)
    for block in tables(report):
        assert len({columns(row) for row in block}) == 1, block
    assert r"a\|b \<img src=x\> \[x\](http:evil) \`c\`.npz" in report
