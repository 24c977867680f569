"""``symjax bench-ab BASE [HEAD]``: is HEAD's trainer slower than BASE's, measured side by side?

Both git revisions of the repository in the current folder are exported (``git archive``) into
a temporary folder and each is driven by its own warm worker process (``symjax/abtest/worker.py``,
this checkout's, run as a script) through the revision's ``bench/workload.py``:
``Workload().vmap_fn(SIDE_BY_SIDE_N)``, compiled and warmed before any timing. Samples are taken
in ABBA blocks (base, head, head, base), each the best of K calls; a block gives two pairs
(base, head). The ratio head/base of time per run-step is the geometric mean of the pairs'
ratios, with a seeded percentile-bootstrap 95% CI over pairs (``symjax.analysis.stats.bootstrap_ci``
of the mean log ratio). A CI entirely above 1 + tolerance is a regression (exit 1); one entirely
at or below it passes; one that straddles it gets more blocks until ``--max-pairs``, then is
reported ``inconclusive`` (exit 0).
Data-flow stage: none (a tool): it times the **train** stage of two revisions.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from symjax.analysis.stats import bootstrap_ci, mean
from symjax.core.errors import SymjaxError

START_BLOCKS = 3  # ABBA blocks before the first verdict (2 pairs each)
MORE_BLOCKS = 2  # blocks added per round while inconclusive
SAMPLE_SECONDS = 1.0  # a sample is the best of K calls, K chosen so that K calls take about this long
MAX_CALLS = 5
WORKER_TIMEOUT = 900  # seconds a worker may take to build its workload or to answer one request
RESAMPLES, SEED, LEVEL = 10_000, 0, 0.95
WORKER = Path(__file__).with_name("worker.py")  # run by path, not as a module: it must not import this symjax
ENTRY = "bench/workload.py"


class AbError(SymjaxError):
    """Bad input or a revision that cannot be benchmarked; the message is one line."""


def ratio_ci(base, head, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL):
    """Geometric-mean ratio head/base over pairs and its percentile-bootstrap CI.

    base, head: (n_pairs,) positive times of paired samples. Returns (ratio, low, high), floats:
    exp of the mean log ratio, and exp of the percentile-bootstrap ``level`` CI of the mean log ratio
    (``symjax.analysis.stats.bootstrap_ci``: ``resamples`` resamplings of the pairs, numpy generator
    seeded ``seed``, quantiles without interpolation).
    """
    logs = np.log(np.asarray(head, float)) - np.log(np.asarray(base, float))  # (n_pairs,)
    low, high = bootstrap_ci(logs, mean, np.random.default_rng(seed), resamples, level)
    return float(np.exp(logs.mean())), float(np.exp(low)), float(np.exp(high))


def verdict(low: float, high: float, tolerance: float) -> str:
    """``regression`` when the CI lies entirely above 1 + tolerance, ``ok`` when entirely at or below it, else
    ``inconclusive``."""
    if low > 1 + tolerance:
        return "regression"
    return "ok" if high <= 1 + tolerance else "inconclusive"


def compare(sample, tolerance: float, max_pairs: int, start_blocks: int = START_BLOCKS):
    """Sample ABBA blocks until the verdict is not ``inconclusive`` or ``max_pairs`` pairs are taken.

    ``sample(side)`` (side 0 = base, 1 = head) returns one time. Returns (base, head, (ratio, low,
    high), verdict): base and head are (n_pairs,) lists, pair i = (base[i], head[i]).
    """
    base, head = [], []
    blocks = max(1, min(start_blocks, max_pairs // 2))
    while True:
        for _ in range(blocks):
            a1, b1, b2, a2 = (sample(side) for side in (0, 1, 1, 0))
            base += [a1, a2]
            head += [b1, b2]
        stats = ratio_ci(base, head)
        outcome = verdict(stats[1], stats[2], tolerance)
        blocks = min(MORE_BLOCKS, (max_pairs - len(base)) // 2)
        if outcome != "inconclusive" or blocks < 1:
            return base, head, stats, outcome


def _git(repo: Path, *args: str, what: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    except FileNotFoundError:
        raise AbError("git is not installed (bench-ab compares git revisions)") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise AbError(what + (f" (git: {lines[-1]})" if lines else ""))
    return done.stdout.strip()


def resolve(repo: Path, revision: str) -> str:
    """The commit hash of ``revision``; AbError if unknown or without the benchmark entry."""
    commit = _git(
        repo,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{revision}^{{commit}}",
        what=f"unknown revision {revision!r} in {repo}",
    )
    _git(
        repo,
        "cat-file",
        "-e",
        f"{commit}:{ENTRY}",
        what=f"revision {revision!r} has no {ENTRY} (bench-ab drives its Workload().vmap_fn, STEPS, "
        "SIDE_BY_SIDE_N)",
    )
    return commit


def warn_uncommitted(repo: Path, commits: list[str]) -> None:
    """One warning line on stderr when a timed commit is the checked-out one and tracked files differ from it:
    bench-ab times commits, not the working tree."""
    checked_out = _git(repo, "rev-parse", "HEAD", what=f"{repo} has no commit checked out")
    if checked_out not in commits:
        return
    changed = _git(
        repo, "diff", "--name-only", "HEAD", what="cannot compare the working tree with HEAD"
    ).splitlines()
    if changed:
        print(
            f"symjax: warning: {len(changed)} tracked files differ from the checked-out commit (e.g. "
            f"{changed[0]}); bench-ab times the committed {checked_out[:12]}, not the working tree",
            file=sys.stderr,
        )


def export(repo: Path, commit: str, folder: Path) -> Path:
    """``git archive`` of ``commit`` extracted into ``folder`` (created); returns it."""
    folder.mkdir()
    archive = subprocess.Popen(["git", "archive", "--format=tar", commit], cwd=repo, stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(folder)], stdin=archive.stdout, capture_output=True)
    archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0:
        raise AbError(f"cannot export {commit[:12]} into {folder}: {untar.stderr.decode().strip()[:200]}")
    return folder


class Worker:
    """A warm worker process for one checkout (see ``symjax/abtest/worker.py``)."""

    def __init__(self, checkout: Path, label: str, quick: bool, log: Path):
        env = {**os.environ, "SYMJAX_BENCH_QUICK": "1" if quick else "0"}
        self.label, self.log = label, log
        self.process = subprocess.Popen(
            [sys.executable, "-P", str(WORKER), str(checkout)],
            cwd=checkout,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )

    def read(self) -> dict:
        if not select.select([self.process.stdout], [], [], WORKER_TIMEOUT)[
            0
        ]:  # one line per request: no read-ahead
            raise AbError(f"{self.label}: no answer from its worker in {WORKER_TIMEOUT} s")
        line = self.process.stdout.readline()
        message = json.loads(line) if line.strip() else {"error": self._last_log_line()}
        if "error" in message:
            raise AbError(f"{self.label}: cannot run its benchmark workload: {message['error']}")
        return message

    def _last_log_line(self) -> str:
        self.process.wait()
        lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1] if lines else f"worker exited with status {self.process.returncode}"

    def time(self, calls: int) -> float:
        self.process.stdin.write(f"time {calls}\n")
        self.process.stdin.flush()
        return self.read()["seconds_per_run_step"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()


def table(rows: dict) -> str:
    """A one-row markdown table of the comparison."""
    return "\n".join(
        ["| " + " | ".join(rows) + " |", "|" + "---|" * len(rows), "| " + " | ".join(rows.values()) + " |"]
    )


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def check_options(tolerance: float, max_pairs: int) -> None:
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise AbError(f"--tolerance {tolerance}: allowed a number >= 0, e.g. 0.1")
    if max_pairs < 2:
        raise AbError(f"--max-pairs {max_pairs}: allowed an integer >= 2 (one ABBA block gives 2 pairs)")


def bench_ab(
    base: str,
    head: str | None = None,
    quick: bool = False,
    tolerance: float = 0.10,
    max_pairs: int = 40,
    repo: str | Path = ".",
) -> int:
    """Compare two revisions of the git repository at ``repo``; print the table; 1 on a regression, else 0.
    Warns first when the working tree differs from a timed commit (``warn_uncommitted``)."""
    check_options(tolerance, max_pairs)
    top = Path(
        _git(Path(repo), "rev-parse", "--show-toplevel", what=f"not a git repository: {Path(repo).resolve()}")
    )
    commits = [resolve(top, base), resolve(top, head or "HEAD")]
    warn_uncommitted(top, commits)
    # removed also when stopped: the command line turns SIGTERM into KeyboardInterrupt
    with tempfile.TemporaryDirectory(prefix="symjax-ab-") as tmp:
        folders = {c: export(top, c, Path(tmp) / c[:12]) for c in dict.fromkeys(commits)}
        workers = []
        try:
            for side, commit in zip(("base", "head"), commits):
                workers.append(
                    Worker(folders[commit], f"{side} {commit[:12]}", quick, Path(tmp) / f"{side}.log")
                )
            ready = [w.read() for w in workers]  # both compile and warm up at the same time
            calls = max(1, min(MAX_CALLS, math.ceil(SAMPLE_SECONDS / max(ready[0]["call_seconds"], 1e-9))))
            tic = time.perf_counter()
            times, heads, (ratio, low, high), outcome = compare(
                lambda s: workers[s].time(calls), tolerance, max_pairs
            )
        finally:
            for worker in workers:
                worker.close()
    n, steps = ready[1]["n"], ready[1]["steps"]
    shown = {
        "regression": f"**regression** (CI above {1 + tolerance:.2f})",
        "ok": "ok",
        "inconclusive": f"inconclusive (CI straddles {1 + tolerance:.2f})",
    }[outcome]
    names = [
        f"`{c[:12]}`" + ("" if c.startswith(name) else f" ({name})")
        for c, name in zip(commits, (base, head or "HEAD"))
    ]
    text = table(
        {
            "base": names[0],
            "head": names[1],
            "base time per run-step": _us(float(np.median(times))),
            "head time per run-step": _us(float(np.median(heads))),
            "ratio head/base": f"{ratio:.3f}",
            "95% CI": f"[{low:.3f}, {high:.3f}]",
            "pairs": str(len(times)),
            "verdict": shown,
        }
    )
    note = (
        f"{'quick' if quick else 'full'} workload: {n} runs x {steps} steps per call, best of {calls} calls "
        f"per sample, ABBA blocks, {time.perf_counter() - tic:.0f} s of timing; tolerance {tolerance:.0%}"
    )
    print(f"{text}\n\n{note}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as out:
            out.write(f"### symjax bench-ab\n\n{text}\n\n{note}\n\n")
    return 1 if outcome == "regression" else 0
