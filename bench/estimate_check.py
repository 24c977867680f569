"""The dry-run's time estimate per group against the time each group took, from committed results.

``python bench/estimate_check.py [NAME ...]`` (default: paper full modern) plans each built-in matrix as
``symjax run --matrix NAME --dry-run`` does, on the device count and memory budget its
``results/NAME/config.json`` records, and prints every group's estimate (``symjax.engine.estimate``) beside
its recorded ``timing.group_seconds`` and their ratio. Trains nothing; the recorded times are this
project's 2-core CPU. ``tests/test_estimate_check.py`` holds the CNN groups within ``CNN_TOLERANCE``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from symjax.engine.estimate import group_costs, group_seconds
from symjax.engine.plan import make_plan
from symjax.matrix.load import load_matrix
from symjax.matrix.validate import checked

ROOT = Path(__file__).resolve().parents[1]
CNN_TOLERANCE = 1.5  # the bound: each CNN group's estimate within 1.5x of its measured time


def estimates(name: str) -> list[dict]:
    """One dict per group of results/NAME: label, model, estimate s, measured s, ratio estimate/measured."""
    config = json.loads((ROOT / "results" / name / "config.json").read_text())
    timing = config["timing"]
    matrix = checked(load_matrix(name))
    plan = make_plan(matrix, timing["device_count"], timing.get("max_memory_bytes"))
    rows = []
    for cost, measured in zip(group_costs(plan), timing["group_seconds"], strict=True):
        estimate = group_seconds(cost, matrix.steps, timing["device_count"])
        rows.append(
            {
                "label": cost.label,
                "model": cost.model,
                "estimate": estimate,
                "measured": measured,
                "ratio": estimate / measured,
            }
        )
    return rows


def main(names: list[str]) -> None:
    for name in names or ["paper", "full", "modern"]:
        rows = estimates(name)
        total = sum(r["estimate"] for r in rows), sum(r["measured"] for r in rows)
        print(f"{name}: estimate {total[0]:.0f} s, measured {total[1]:.0f} s ({total[0] / total[1]:.2f}x)")
        for r in rows:
            times = f"estimate {r['estimate']:.0f} s, measured {r['measured']:.1f} s"
            print(f"  {r['label']}: {times}, {r['ratio']:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
