"""Benchmark session setup: import symjax before jax, and print a compact summary at the end.

``import symjax`` sets ``XLA_FLAGS`` to one CPU device per core; it only works if it runs
before jax is imported anywhere, so it is the first thing this conftest does.
"""

from __future__ import annotations

import symjax  # noqa: F401  (must come before jax: sets XLA_FLAGS)

import jax  # noqa: E402
import pytest  # noqa: E402

_ROWS = pytest.StashKey[list]()


def pytest_configure(config):
    config.stash[_ROWS] = []


@pytest.fixture(scope="session")
def bench_summary(request) -> list:
    """A list the benchmarks append their headline numbers to (printed at the end of the session)."""
    return request.config.stash[_ROWS]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    tr = terminalreporter
    tr.section("symjax training throughput")
    tr.write_line(f"backend={jax.default_backend()} device_count={jax.device_count()} jax={jax.__version__}")
    tr.write_line(f"{'impl':<14}{'N':>6}{'run-steps/s':>14}{'compile s':>12}")
    for row in rows:
        if row["kind"] == "train":
            tr.write_line(f"{row['impl']:<14}{row['n_runs']:>6}{row['run_steps_per_s']:>14.0f}{row['compile_seconds']:>12.2f}")
    for row in rows:
        if row["kind"] == "compile":
            tr.write_line(f"{'compile':<14}{row['n_runs']:>6}{'':>14}{row['compile_seconds']:>12.2f}")
    compiles = {row["n_runs"]: row["compile_seconds"] for row in rows if row["kind"] == "compile"}
    if len(compiles) >= 2:
        small, large = min(compiles), max(compiles)
        tr.write_line(f"compile time N={large} / N={small}: {compiles[large] / compiles[small]:.2f}")
    for row in rows:
        if row["kind"] == "side_by_side":
            tr.write_line(
                f"side by side N={row['n_runs']}: vmap {row['vmap_seconds']:.3f} s, loop {row['loop_seconds']:.3f} s "
                f"(min of {row['rounds']} interleaved rounds) -> speedup_vmap_over_loop = {row['speedup']:.2f}"
            )
