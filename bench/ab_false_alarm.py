"""How often does ``symjax bench-ab`` cry regression when nothing changed? (A/A false alarms)

Runs ``symjax bench-ab REV REV --quick`` K times on this machine (the same revision on both
sides, each time in two fresh worker processes) and prints each run's ratio, CI and verdict,
then how many exited 1. Run from the repository: ``python bench/ab_false_alarm.py 20``
(~1 min per run on a 2-core CPU). If false alarms happen, raise ``--max-pairs`` rather than the
tolerance.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys

from symjax.cli import main


def one_run(revision: str, quick: bool, tolerance: float, max_pairs: int) -> tuple[int, list[str]]:
    """(exit status, the table's row cells) of one A/A comparison."""
    out = io.StringIO()
    args = ["bench-ab", revision, revision, "--tolerance", str(tolerance), "--max-pairs", str(max_pairs)]
    with contextlib.redirect_stdout(out):
        code = main(args + (["--quick"] if quick else []))
    rows = [line for line in out.getvalue().splitlines() if line.startswith("| `")]
    return code, [cell.strip() for cell in rows[0].strip("|").split("|")] if rows else []


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description="A/A false alarms of symjax bench-ab on this machine.")
    parser.add_argument("k", type=int, nargs="?", default=20, help="how many A/A comparisons; default 20")
    parser.add_argument("--revision", default="HEAD", help="the revision on both sides; default HEAD")
    parser.add_argument("--full", action="store_true", help="the full workload instead of --quick")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--max-pairs", type=int, default=40)
    args = parser.parse_args(argv)
    counts = {0: 0, 1: 0, 2: 0}
    for i in range(args.k):
        code, cells = one_run(args.revision, not args.full, args.tolerance, args.max_pairs)
        counts[min(code, 2)] += 1
        if code == 2:
            print(f"run {i + 1}: bad input (see above); stopping", flush=True)
            return 2
        ratio, ci, pairs, shown = cells[4:8]
        print(
            f"run {i + 1}/{args.k}: exit {code}, ratio {ratio}, CI {ci}, {pairs} pairs, {shown}", flush=True
        )
    print(
        f"false alarms (exit 1): {counts[1]} of {args.k} A/A comparisons of {args.revision} "
        f"({'full' if args.full else 'quick'} workload, tolerance {args.tolerance}, max pairs "
        f"{args.max_pairs})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run())
