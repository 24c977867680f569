"""The dry-run's time estimate of every CNN group of the committed paper and full results, and of the
transformer's group of the modern results, is within ``CNN_TOLERANCE`` of the time the group took
(``bench/estimate_check.py`` prints every group)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from estimate_check import CNN_TOLERANCE, estimates  # noqa: E402

from symjax.core.models import CNN_MODELS  # noqa: E402


@pytest.mark.parametrize(
    "name, models", [("paper", CNN_MODELS), ("full", CNN_MODELS), ("modern", ["transformer"])]
)
def test_cnn_and_transformer_group_estimates_follow_the_measured_speed(name, models):
    groups = [r for r in estimates(name) if r["model"] in models]
    assert groups, f"results/{name} has no {' or '.join(models)} group"
    for r in groups:
        assert 1 / CNN_TOLERANCE <= r["ratio"] <= CNN_TOLERANCE, (
            f"{r['label']}: estimate {r['estimate']:.0f} s, measured {r['measured']:.1f} s"
        )
