"""Are two results folders the same results? Tables equal, config equal but for timing, reports
byte-identical.

    .venv/bin/python bench/same_results.py RESULTS_A RESULTS_B

Compares ``runs.parquet``, ``curves.parquet`` and ``diagnostics.parquet`` exactly (``DataFrame.equals``:
same values, NaN in the same places, same dtypes), ``config.json`` without its ``timing`` and
``symjax_version``, then writes the report of each folder with this checkout's ``symjax report``
and compares the markdown line by line: the only line allowed to differ is the one that gives the
measured training time (``- Measured: ...``). Prints one line per check; exits 1 if any differs.
Used for issue 13 (a reorganization that must not change any result): bench/same_results.txt.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

from symjax.cli import main as symjax_main

TABLES = ("runs.parquet", "curves.parquet", "diagnostics.parquet")


def config_without_timing(folder: Path) -> dict:
    config = json.loads((folder / "config.json").read_text())
    return {key: value for key, value in config.items() if key not in ("timing", "symjax_version")}


TIMING_LINE = "- Measured: "  # the report's line with the measured training time


def report_lines(folder: Path, out: Path) -> list[str]:
    assert symjax_main(["report", "--results", str(folder), "--out", str(out)]) == 0
    return next(out.glob("*.md")).read_text().splitlines()


def main(a: Path, b: Path) -> int:
    same = True
    for name in TABLES:
        equal = pd.read_parquet(a / name).equals(pd.read_parquet(b / name))
        same &= equal
        print(f"{name}: {'equal' if equal else 'DIFFERENT'}")
    equal = config_without_timing(a) == config_without_timing(b)
    same &= equal
    print(f"config.json without timing: {'equal' if equal else 'DIFFERENT'}")
    with tempfile.TemporaryDirectory() as tmp:
        lines = [report_lines(folder, Path(tmp) / side) for folder, side in ((a, "a"), (b, "b"))]
    differing = [(x, y) for x, y in zip(*lines) if x != y] + [(x, "") for x in lines[0][len(lines[1]) :]]
    unexpected = [
        (x, y) for x, y in differing if not (x.startswith(TIMING_LINE) and y.startswith(TIMING_LINE))
    ]
    same &= not unexpected and len(lines[0]) == len(lines[1])
    print(
        f"report markdown: {len(lines[0])} lines, {len(differing)} differ"
        + (
            f" (only the measured time: {differing[0][0]!r} vs {differing[0][1]!r})"
            if differing and not unexpected
            else ""
        )
        + "".join(f"\n  DIFFERENT: {x!r} vs {y!r}" for x, y in unexpected[:5])
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
