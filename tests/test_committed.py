"""The committed reports are what ``symjax report`` makes of the committed results (same results, same bytes)."""

from __future__ import annotations

from pathlib import Path

from symjax.report.build import build_report

ROOT = Path(__file__).resolve().parents[1]


def test_committed_default_report_regenerates_byte_for_byte(tmp_path):
    """default.md also reads its companions, results/horizon and results/sweeps (their own reports are built by
    the same code; regenerating all three would add minutes to the suite)."""
    text = build_report(ROOT / "results" / "default", tmp_path).read_bytes()
    assert text == (ROOT / "reports" / "default.md").read_bytes()
