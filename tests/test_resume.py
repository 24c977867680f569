"""Nothing lost: interrupted runs (SIGKILL, SIGTERM, SIGINT) resume to the same files, one writer
per folder, a changed matrix is refused, results do not depend on chunk size or device count.

What takes time here is starting Python + JAX and compiling, not training (a chunk of MATRIX trains
in a fraction of a second), and a process compiles one program at a time. So every subprocess of
the module is started at once, at its first test, and watched by a thread, while this process trains
MATRIX and runs the other tests on the other core; MATRIX uses `teacher`, made in milliseconds
(MNIST-1D takes seconds to generate in every new process); the in-process runs reuse programs compiled
once (MATRIX's, and the smoke matrix's of the shared fixture).
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest
from helpers import toml_text

from symjax.cli import main
from symjax.engine.resume import CHUNKS, LOCK
from symjax.results.store import load_results

MATRIX = {
    "name": "resume",
    "dataset": "teacher",
    "hidden": [[12]],
    "activation": ["tanh", "relu"],
    "optimizer": "sgd",
    "lr": [0.1, 0.3],
    "schemes": ["zeros/normal(1.0)", "lecun_normal/zeros"],
    "seeds": 6,
    "steps": 300,
    "log_every": 50,
    "chunk_runs": 6,
}
N_CHUNKS = 8  # 2 groups x 24 runs in chunks of 6, one (lr, scheme) pair each
# zeros/normal first: a stopped run compiles only its initializer before the first chunk is saved, not
# lecun_normal's
# (a truncated normal: seconds more), and stopping it then lands while it compiles that one, in the middle of
# group 1


@pytest.fixture(scope="module")
def matrix_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "resume.toml"
    path.write_text(toml_text(MATRIX))
    return path


@pytest.fixture(scope="module")
def uninterrupted(matrix_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole") / "results"
    assert main(["run", "--matrix", str(matrix_file), "--out", str(folder), "--quiet"]) == 0
    return folder


def start(matrix_file, folder, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "symjax.cli", "run", "--matrix", str(matrix_file), "--out", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for_chunks(folder: Path, process, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not any((folder / CHUNKS).glob("*.npz")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no chunk was saved in time"
        time.sleep(0.05)


def assert_same_results(a: Path, b: Path) -> None:
    x, y = load_results(a), load_results(b)
    for name in ("runs", "curves", "diagnostics"):
        pd.testing.assert_frame_equal(getattr(x, name), getattr(y, name), check_exact=True)
    assert x.config["matrix"] == y.config["matrix"]


SIGNALS = {"kill-9": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}


class Stopped(NamedTuple):
    folder: Path  # where the run was stopped; the test of its signal resumes it there
    copy: Path  # a copy of the folder as it was left, for other tests to resume
    saved: int  # chunk files saved when the process had ended
    returncode: int
    err: str


def stop(matrix_file, folder: Path, sig: int, delay: float) -> Stopped:
    """Start `symjax run` of MATRIX, wait until it has saved a chunk, wait ``delay`` seconds, send ``sig``.

    Without JAX's persistent compilation cache: the run must still be compiling (seconds) when the signal
    lands; loaded from the suite's cache, the remaining chunks can all be trained within ``delay``."""
    process = start(matrix_file, folder, {"JAX_ENABLE_COMPILATION_CACHE": "false"})
    try:
        wait_for_chunks(folder, process)
        time.sleep(delay)
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    copy = shutil.copytree(folder, folder.with_name(f"{folder.name}-copy"))
    return Stopped(folder, copy, len(list((folder / CHUNKS).glob("*.npz"))), process.returncode, err)


DEVICES = {
    "1": 48,
    "4": 12,
}  # forced CPU devices: chunk_runs (48: one chunk of the 24 runs; 12: 3 runs per device)


def run_on_devices(folder: Path, devices: str) -> tuple[Path, int, str]:
    """`symjax run` of MATRIX's tanh group on MNIST-1D (as in the default matrix) with ``devices`` forced CPU
    devices; chunks of 12 hold one (lr, scheme) pair each, so every chunk initializes its runs with the same
    two programs."""
    path = folder.with_suffix(".toml")
    path.write_text(
        toml_text({**MATRIX, "activation": "tanh", "dataset": "mnist1d", "chunk_runs": DEVICES[devices]})
    )
    process = start(path, folder, {"SYMJAX_CPU_DEVICES": devices, "XLA_FLAGS": ""})
    try:
        _, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return folder, process.returncode, err


@pytest.fixture(scope="module")
def subprocess_runs(matrix_file, tmp_path_factory):
    """All `symjax run` subprocesses of this module, started together at its first test, each watched by a
    thread.

    Futures of {signal name: Stopped}, each run stopped by its signal at a random (seeded) moment after its
    first chunk is saved, and of {"1", "4": (folder, exit status, stderr)}, the tanh group on that many forced
    CPU devices. Asked for before `uninterrupted`, which this process trains meanwhile (it compiles one
    program at a time, so the subprocesses use the other core)."""
    base = tmp_path_factory.mktemp("subprocesses")
    with ThreadPoolExecutor(len(SIGNALS) + len(DEVICES)) as pool:
        stopped = {
            how: pool.submit(stop, matrix_file, base / how, sig, random.Random(how).uniform(0, 0.5))
            for how, sig in SIGNALS.items()
        }
        yield {
            **stopped,
            **{
                devices: pool.submit(run_on_devices, base / f"devices{devices}", devices)
                for devices in DEVICES
            },
        }


@pytest.mark.parametrize("how", SIGNALS)
def test_interrupted_run_resumes_to_identical_files(how, matrix_file, subprocess_runs, uninterrupted, capsys):
    folder, _, saved, returncode, err = subprocess_runs[how].result()
    assert 1 <= saved < N_CHUNKS and not (folder / "runs.parquet").exists(), (
        "the run must really be cut short"
    )
    if how == "kill-9":
        assert returncode == -signal.SIGKILL
    else:
        assert returncode == 130, err
        last = err.strip().splitlines()[-1]
        assert (
            last == f"symjax: interrupted; {saved} of {N_CHUNKS} chunks are saved in {folder}: run the same "
            "command to resume"
        )
        assert "Traceback" not in err
    capsys.readouterr()
    assert main(["run", "--matrix", str(matrix_file), "--out", str(folder)]) == 0
    assert f"resuming: {saved} of {N_CHUNKS} chunks done" in capsys.readouterr().err
    assert_same_results(folder, uninterrupted)
    assert not (folder / LOCK).exists()


def test_rerun_of_a_finished_folder_trains_nothing(matrix_file, uninterrupted, capsys):
    before = {p: p.stat().st_mtime_ns for p in (uninterrupted / CHUNKS).glob("*.npz")}
    assert main(["run", "--matrix", str(matrix_file), "--out", str(uninterrupted), "--quiet"]) == 0
    assert "0 compiled by this call" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (uninterrupted / CHUNKS).glob("*.npz")} == before


def test_same_command_twice_gives_identical_results(matrix_file, uninterrupted, tmp_path):
    assert (
        main(["run", "--matrix", str(matrix_file), "--out", str(tmp_path / "again"), "--quiet", "--fresh"])
        == 0
    )
    assert_same_results(tmp_path / "again", uninterrupted)


def test_changed_matrix_is_refused_unless_fresh(smoke_results, tmp_path, capsys):
    folder = tmp_path / "results"
    # a folder of runs of the smoke matrix (60 steps), written by `symjax run`
    shutil.copytree(smoke_results, folder)
    assert load_results(folder).curves["step"].max() == 60
    changed = [
        "run",
        "--matrix",
        "smoke",
        "--out",
        str(folder),
        "--quiet",
        "--steps",
        "4",
        "--log-every",
        "2",
    ]
    assert main(changed) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different matrix" in err and "--fresh" in err
    assert main([*changed, "--fresh"]) == 0  # the same program as the next test's run: compiled once
    assert load_results(folder).curves["step"].max() == 4


def test_second_writer_is_refused_and_a_stale_lock_is_taken_over(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    hold = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); fcntl.flock(fd, "
        "fcntl.LOCK_EX); os.write(fd, b'%d\\n' % os.getpid()); print(flush=True); time.sleep(60)"
    )  # another writer's lock
    holder = subprocess.Popen([sys.executable, "-c", hold, str(folder / LOCK)], stdout=subprocess.PIPE)
    try:
        holder.stdout.readline()
        assert main(["run", "--matrix", "smoke", "--out", str(folder), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and len(err.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    assert (
        main(
            ["run", "--matrix", "smoke", "--out", str(folder), "--quiet", "--steps", "4", "--log-every", "2"]
        )
        == 0
    )
    assert not (folder / LOCK).exists()


def test_results_do_not_depend_on_chunk_size_or_device_count(subprocess_runs):
    """1 device with one chunk per group vs 4 forced CPU devices with chunks of 12 (3 runs per device): equal
    within 1e-5.

    Differently batched matmuls differ by float32 rounding (~1e-7). With tanh that stays ~1e-7 over
    hundreds of steps; relu units of zero-W nets sit exactly at the kink, where rounding can switch
    a unit on or off and grow the difference (seen: 1e-4 after 300 steps), so this checks tanh."""
    results = []
    for devices in DEVICES:
        folder, returncode, err = subprocess_runs[devices].result()
        assert returncode == 0, err
        results.append(load_results(folder))
        assert results[-1].config["timing"]["device_count"] == int(devices)
    for name in ("runs", "curves"):
        pd.testing.assert_frame_equal(
            getattr(results[0], name), getattr(results[1], name), rtol=1e-5, atol=1e-6
        )
    a, b = (r.diagnostics for r in results)
    counts = [
        "rank",
        "distinct_units",
    ]  # thresholded counts: a 1e-7 change can move a value across the threshold
    pd.testing.assert_frame_equal(a.drop(columns=counts), b.drop(columns=counts), rtol=1e-5, atol=1e-6)
    changed = (a[counts].fillna(-1) != b[counts].fillna(-1)).to_numpy()
    assert changed.mean() < 0.01 and (a[counts] - b[counts]).abs().max().max() <= 1


def test_report_of_a_resumed_run_equals_the_uninterrupted_one(
    matrix_file, subprocess_runs, uninterrupted, tmp_path
):
    """Same results -> same report; only the measured-time line of the setup differs between two trainings."""
    from symjax.report.build import build_report

    killed = subprocess_runs["kill-9"].result()
    folder = killed.copy  # as the kill -9 left it
    assert 1 <= killed.saved < N_CHUNKS and not (folder / "runs.parquet").exists()
    assert main(["run", "--matrix", str(matrix_file), "--out", str(folder), "--quiet"]) == 0
    texts = [
        build_report(f, tmp_path / name).read_text() for f, name in ((folder, "a"), (uninterrupted, "b"))
    ]
    measured = [[line for line in t.splitlines() if line.startswith("- Measured:")] for t in texts]
    assert all(len(m) == 1 for m in measured)
    assert texts[0].replace(measured[0][0], "") == texts[1].replace(measured[1][0], "")
    for png in sorted((tmp_path / "b").rglob("*.png")):
        assert png.read_bytes() == (tmp_path / "a" / png.relative_to(tmp_path / "b")).read_bytes()


def test_diverging_runs_are_recorded_without_warnings(matrix_file, tmp_path, capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        # MATRIX's SGD groups with lr 100 beside 0.1: the learning rate is an input of the compiled program,
        # so
        # these are the programs the other tests of this module compiled
        assert (
            main(
                [
                    "run",
                    "--matrix",
                    str(matrix_file),
                    "--out",
                    str(tmp_path / "r"),
                    "--quiet",
                    "--lr",
                    "100,0.1",
                ]
            )
            == 0
        )
        assert main(["report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "rep")]) == 0
    runs = load_results(tmp_path / "r").runs
    diverged = runs[runs["diverged"]]
    assert len(diverged) and (diverged["lr"] == 100).all()
    assert diverged["diverged_step"].notna().all() and not diverged["reached"].any()
    assert runs.loc[runs["lr"] == 0.1, "diverged"].sum() == 0
