"""Python API for notebooks: the same path as the CLI.

Data-flow stage: all of them. ``run_matrix``: plan -> init -> train -> store (chunks) -> metrics ->
results tables on disk; ``build_report``: stored tables -> analysis -> report.

    import symjax
    matrix = symjax.load_matrix("smoke")              # or a path to your own .toml
    folder = symjax.run_matrix(matrix, "results/smoke")
    results = symjax.load_results(folder)             # .runs, .curves, .diagnostics (pandas), .config
    symjax.summarize(results.runs, matrix.schemes, matrix.reference)
    symjax.build_report(folder, "reports")            # reports/smoke.md + plots
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jax

from symjax import version
from symjax.engine.distributed import Share, check_options, train_share
from symjax.engine.interrupted import Interrupted
from symjax.engine.memory import default_budget
from symjax.engine.plan import make_plan
from symjax.engine.program import Programs
from symjax.engine.resume import ChunkStore, check_folder, check_shared, folder_lock, prepare_folder
from symjax.engine.runner import train_plan
from symjax.matrix.spec import Matrix
from symjax.results.metrics import results_tables
from symjax.results.store import write_results


def results_folder(matrix: Matrix, out: str | os.PathLike | None) -> Path:
    """``out``, default ``results/<matrix name>``."""
    return Path(out) if out is not None else Path("results") / matrix.name


def run_matrix(
    matrix: Matrix,
    out: str | os.PathLike | None = None,
    show_progress: bool = True,
    fresh: bool = False,
    max_memory: int | None = None,
    share: Share = Share(),
) -> Path:
    """Train every run of ``matrix`` and write ``runs.parquet``, ``curves.parquet``, ``diagnostics.parquet``,
    ``config.json``.

    Every finished chunk is saved in ``out/chunks`` at once: after an interruption the same
    call trains only what is missing. A folder holding another matrix's runs is refused
    (``ConfigError``) unless ``fresh``, which discards them; so is a non-empty folder that symjax did
    not write (no ``manifest.json``), with or without ``fresh``.

    Args:
        matrix: a validated Matrix (``load_matrix`` or ``matrix_from_dict``).
        out: results folder; default ``results/<matrix.name>``.
        fresh: discard saved chunks and start over.
        max_memory: bytes one chunk may use on the devices (``symjax.engine.memory``); default: half of
            what the devices hold (CPU: half the memory available now).
        share: this process's place among several (``symjax.engine.distributed``): every process checks
            ``out`` as above and trains its share of the chunks into it (a folder all of them see, refused
            otherwise); process 0 writes the results. ``PeerLost`` when another process stopped.

    Returns:
        The results folder.
    """
    out = results_folder(matrix, out)
    check_options(share.count, max_memory, fresh)
    budget = default_budget() if max_memory is None else max_memory
    # a budget too small fails here, before any file
    plan = make_plan(matrix, jax.local_device_count(), budget)
    programs = Programs()  # the compiled programs of this call
    check_folder(out, matrix, fresh)  # every process, before process 0 takes the lock
    if share.index > 0:  # its share, into the folder that process 0 prepared; process 0 writes the results
        train_share(plan, ChunkStore(out), programs, share, show_progress, lambda: check_shared(out, matrix))
        return out
    with folder_lock(out):
        chunks = prepare_folder(out, matrix, fresh)
        keys = plan.keys
        done = chunks.count(keys)
        if done and show_progress:
            print(f"resuming: {done} of {len(keys)} chunks done", file=sys.stderr)
        started = time.perf_counter()
        try:
            if share.count > 1:  # this process's share first; once all are done, load every chunk below
                train_share(plan, chunks, programs, share, show_progress)
            groups = train_plan(plan, chunks, programs, show_progress)
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted; {chunks.count(keys)} of {len(keys)} chunks are saved in {out}: run the same "
                "command to resume"
            ) from None
        runs, curves, diagnostics = results_tables(groups, matrix)
        config = {
            "matrix": matrix.to_dict(),
            "symjax_version": version(),
            "timing": {  # seconds as measured when each chunk was trained, also after a resume
                "train_seconds": round(sum(g.seconds for g in groups), 1),
                "compile_seconds": round(sum(g.compile_seconds for g in groups), 1),
                "group_seconds": [round(g.seconds, 1) for g in groups],
                "this_call_seconds": round(time.perf_counter() - started, 1),
                "resumed_chunks": done,
                "groups": len(groups),
                # group programs compiled by this call (0 when all chunks were saved)
                "compilations": programs.compilations,
                "backend": jax.default_backend(),
                "device_count": jax.local_device_count(),
                "max_memory_bytes": budget,
                "processes": share.count,
            },
        }
        folder = write_results(out, runs, curves, diagnostics, config)
        chunks.prune(set(keys))
        return folder
