"""Python API for notebooks: the same path as the CLI.

    import symjax
    matrix = symjax.load_matrix("smoke")              # or a path to your own .toml
    folder = symjax.run_matrix(matrix, "results/smoke")
    results = symjax.load_results(folder)             # .runs, .curves (pandas), .config
    symjax.summarize(results.runs, matrix.schemes, matrix.reference)
    symjax.build_report(folder, "reports")            # reports/smoke.md + plots
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import jax

from symjax.config import Matrix
from symjax.metrics import results_tables
from symjax.runner import train_matrix
from symjax.store import write_results
from symjax.train import TRACE_COUNT


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("symjax-bench")
    except PackageNotFoundError:
        return "unknown"


def run_matrix(matrix: Matrix, out: str | os.PathLike | None = None, show_progress: bool = True) -> Path:
    """Train every run of ``matrix`` and write ``runs.parquet``, ``curves.parquet``, ``diagnostics.parquet``, ``config.json``.

    Args:
        matrix: a validated Matrix (``load_matrix`` or ``matrix_from_dict``).
        out: results folder; default ``results/<matrix.name>``.

    Returns:
        The results folder.
    """
    out = Path(out) if out is not None else Path("results") / matrix.name
    started, traced = time.perf_counter(), TRACE_COUNT["n"]
    groups = train_matrix(matrix, show_progress=show_progress)
    runs, curves, diagnostics = results_tables(groups, matrix)
    config = {
        "matrix": matrix.to_dict(),
        "symjax_version": version(),
        "timing": {
            "train_seconds": round(time.perf_counter() - started, 1),
            "compile_seconds": round(sum(g.compile_seconds for g in groups), 1),
            "groups": len(groups),
            "compilations": TRACE_COUNT["n"] - traced,  # 0 for groups this process had already compiled
            "group_seconds": [round(g.seconds, 1) for g in groups],
            "backend": jax.default_backend(),
            "device_count": jax.local_device_count(),
        },
    }
    return write_results(out, runs, curves, diagnostics, config)
