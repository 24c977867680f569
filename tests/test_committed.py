"""The committed reports are what ``symjax report`` makes of the committed results (same results, same bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from symjax.report.build import build_report

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["default", "horizon", "sweeps"])
def test_committed_report_regenerates_byte_for_byte(tmp_path, name):
    """default.md also reads its companions, results/horizon and results/sweeps."""
    text = build_report(ROOT / "results" / name, tmp_path).read_bytes()
    assert text == (ROOT / "reports" / f"{name}.md").read_bytes()
