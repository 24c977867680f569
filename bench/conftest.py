"""Benchmark session setup: import symjax before jax, and print a compact summary at the end.

``import symjax`` sets ``XLA_FLAGS`` to one CPU device per core; it only works if it runs
before jax is imported anywhere, so it is the first thing this conftest does. JAX's persistent
compilation cache is switched off (even if ``JAX_COMPILATION_CACHE_DIR`` is set), because the
benchmarks measure compile time.
"""

from __future__ import annotations

import jax  # noqa: E402
import pytest  # noqa: E402

import symjax  # noqa: F401  (must come before jax: sets XLA_FLAGS)

jax.config.update("jax_enable_compilation_cache", False)

_ROWS = pytest.StashKey[list]()


def pytest_configure(config):
    config.stash[_ROWS] = []


@pytest.fixture(scope="session")
def bench_summary(request) -> list:
    """A list the benchmarks append their headline numbers to (printed at the end of the session)."""
    return request.config.stash[_ROWS]


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    tr = terminalreporter
    tr.section("symjax training throughput")
    tr.write_line(f"backend={jax.default_backend()} device_count={jax.device_count()} jax={jax.__version__}")
    tr.write_line(
        f"{'impl':<14}{'N':>6}{'run-steps/s':>14}{'GFLOP/s':>10}{'compile s':>12}{'other CPU %':>13}"
    )
    for row in rows:
        if row["kind"] == "train":
            tr.write_line(
                f"{row['impl']:<14}{row['n_runs']:>6}{row['run_steps_per_s']:>14.0f}{row['gflop_per_s']:>10.1f}"
                f"{_fmt(row['compile_seconds'], '.2f'):>12}{_fmt(row['other_cpu_percent'], '.0f'):>13}"
            )
    for row in rows:
        if row["kind"] == "gemm":
            tr.write_line(f"gemm {row['shape']}: {row['gflop_per_s']:.1f} GFLOP/s")
        if row["kind"] == "compile":
            tr.write_line(
                f"compile N={row['n_runs']} steps={row['steps']}: {row['compile_seconds']:.2f} s, "
                f"{_fmt(row.get('peak_bytes_per_run', 0) / 2**20, '.2f')} MiB per run "
                f"(outputs {_fmt(row.get('output_bytes_per_run', 0) / 2**20, '.2f')} MiB)"
            )
        if row["kind"] == "cnn_side_by_side":
            rates = ", ".join(f"{impl} {rate:,.0f}" for impl, rate in row["run_steps_per_s"].items())
            tr.write_line(
                f"cnn side by side N={row['n_runs']} (run-steps/s): {rates}; vmap/vmap_lax "
                f"{row['speedup_vmap_over_lax']:.2f}, GFLOP/s over the MLP trainer's "
                f"{row['gflop_ratio_over_mlp']:.2f}, "
                f"vmap/torch {_fmt(row['speedup_vmap_over_torch'], '.2f')}, "
                f"{row['percent_of_gemm_peak']:.0f}% of the GEMM peak"
            )
        if row["kind"] == "side_by_side":
            rates = ", ".join(f"{impl} {rate:,.0f}" for impl, rate in row["run_steps_per_s"].items())
            tr.write_line(
                f"side by side N={row['n_runs']} (run-steps/s): {rates}; vmap/loop "
                f"{row['speedup_vmap_over_loop']:.2f}, "
                f"vmap/loop_devices {row['speedup_vmap_over_loop_devices']:.2f}, "
                f"vmap/torch {_fmt(row['speedup_vmap_over_torch'], '.2f')}, "
                f"{row['percent_of_gemm_peak']:.0f}% of the GEMM peak ({row['gemm_gflop_per_s']:.0f} GFLOP/s)"
            )
