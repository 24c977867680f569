"""The committed reports are what ``symjax report`` makes of the committed results (same results, same
bytes)."""

from __future__ import annotations

from pathlib import Path

from symjax.report.build import build_report

ROOT = Path(__file__).resolve().parents[1]


def test_committed_default_report_regenerates_byte_for_byte(tmp_path):
    """default.md also reads its companions, results/horizon and results/sweeps (their own reports are built
    by the same code; regenerating all three would add minutes to the suite)."""
    text = build_report(ROOT / "results" / "default", tmp_path).read_bytes()
    assert text == (ROOT / "reports" / "default.md").read_bytes()


def test_committed_paper_results_reproduce_the_published_baselines():
    """``symjax run --matrix paper``: PyTorch's default init lands in the band of every published MNIST-1D
    baseline (logistic 29-35%, MLP 60-70%, CNN >= 85% test accuracy, medians over seeds), at the published
    setting."""
    from symjax.analysis.tables import summarize
    from symjax.report.published import PUBLISHED, PUBLISHED_SCHEME, published_rows
    from symjax.results.store import load_results

    loaded = load_results(ROOT / "results" / "paper")
    m = loaded.config["matrix"]
    rows = published_rows(summarize(loaded.runs, m["schemes"], m["reference"]))
    rows = rows[rows["scheme"] == PUBLISHED_SCHEME]
    assert sorted(r.hidden for r in rows["baseline"]) == sorted(p.hidden for p in PUBLISHED)
    for _, row in rows.iterrows():
        low, high = row["baseline"].band
        assert low <= row["acc_median"] <= high, (row["baseline"].name, row["acc_median"])
        assert row["differences"] == "", row["differences"]  # the published setting, step for step


def test_committed_results_belong_to_their_builtin_matrices():
    """`symjax run --matrix NAME` on a fresh clone resumes into the committed results/NAME instead of refusing
    the folder as another matrix's (keys added since it was written are filled in by
    ``symjax.core.axes.upgrade``)."""
    import json

    from symjax.engine.resume import check_folder
    from symjax.matrix.load import load_matrix
    from symjax.results.store import same_matrix

    folders = sorted((ROOT / "results").glob("*/manifest.json"))
    assert len(folders) >= 6
    for manifest in folders:
        name = manifest.parent.name
        assert same_matrix(json.loads(manifest.read_text()), load_matrix(name).to_dict()), name
        assert check_folder(manifest.parent, load_matrix(name), fresh=False) is not None, name
