"""Nothing lost: interrupted runs (SIGKILL, SIGTERM, SIGINT) resume to the same files, one writer
per folder, a changed matrix is refused, results do not depend on chunk size or device count."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from symjax.cli import main
from symjax.resume import CHUNKS, LOCK
from symjax.store import load_results

MATRIX = """name = "resume"
hidden = [[12]]
activation = ["tanh", "relu"]
optimizer = "sgd"
lr = [0.1, 0.3]
schemes = ["lecun_normal/zeros", "zeros/normal(1.0)"]
seeds = 6
steps = 300
log_every = 50
chunk_runs = 6
"""
N_CHUNKS = 8  # 2 groups x 24 runs in chunks of 6


@pytest.fixture(scope="module")
def matrix_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "resume.toml"
    path.write_text(MATRIX)
    return path


@pytest.fixture(scope="module")
def uninterrupted(matrix_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole") / "results"
    assert main(["run", "--matrix", str(matrix_file), "--out", str(folder), "--quiet"]) == 0
    return folder


def start(matrix_file, folder, env=None):
    return subprocess.Popen([sys.executable, "-m", "symjax.cli", "run", "--matrix", str(matrix_file), "--out", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def wait_for_chunks(folder: Path, process, at_least: int = 1, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(list((folder / CHUNKS).glob("*.npz"))) < at_least:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no chunk was saved in time"
        time.sleep(0.05)


def assert_same_results(a: Path, b: Path) -> None:
    x, y = load_results(a), load_results(b)
    for name in ("runs", "curves", "diagnostics"):
        pd.testing.assert_frame_equal(getattr(x, name), getattr(y, name), check_exact=True)
    assert x.config["matrix"] == y.config["matrix"]


@pytest.mark.parametrize("how", ["kill-9", "SIGTERM", "SIGINT"])
def test_interrupted_run_resumes_to_identical_files(how, matrix_file, uninterrupted, tmp_path, capsys):
    folder = tmp_path / "results"
    process = start(matrix_file, folder)
    wait_for_chunks(folder, process)
    time.sleep(random.Random(how).uniform(0, 0.5))  # a random (seeded) moment after the first chunk
    process.send_signal({"kill-9": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}[how])
    _, err = process.communicate(timeout=60)
    saved = len(list((folder / CHUNKS).glob("*.npz")))
    assert 1 <= saved < N_CHUNKS and not (folder / "runs.parquet").exists(), "the run must really be cut short"
    if how == "kill-9":
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130, err
        last = err.strip().splitlines()[-1]
        assert last == f"symjax: interrupted; {saved} of {N_CHUNKS} chunks are saved in {folder}: run the same command to resume"
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
    assert main(["run", "--matrix", str(matrix_file), "--out", str(tmp_path / "again"), "--quiet", "--fresh"]) == 0
    assert_same_results(tmp_path / "again", uninterrupted)


def test_changed_matrix_is_refused_unless_fresh(matrix_file, tmp_path, capsys):
    folder = tmp_path / "results"
    assert main(["run", "--matrix", "smoke", "--out", str(folder), "--quiet", "--steps", "4", "--log-every", "2"]) == 0
    capsys.readouterr()
    assert main(["run", "--matrix", "smoke", "--out", str(folder), "--quiet", "--steps", "6", "--log-every", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different matrix" in err and "--fresh" in err
    assert main(["run", "--matrix", "smoke", "--out", str(folder), "--quiet", "--steps", "6", "--log-every", "2", "--fresh"]) == 0
    assert load_results(folder).curves["step"].max() == 6


def test_second_writer_is_refused_and_a_stale_lock_is_taken_over(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    holder = subprocess.Popen(["sleep", "60"])
    try:
        (folder / LOCK).write_text(f"{holder.pid}\n")
        assert main(["run", "--matrix", "smoke", "--out", str(folder), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and len(err.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    assert main(["run", "--matrix", "smoke", "--out", str(folder), "--quiet", "--steps", "4", "--log-every", "2"]) == 0
    assert not (folder / LOCK).exists()


def test_results_do_not_depend_on_chunk_size_or_device_count(tmp_path):
    """1 device with one chunk per group vs 4 forced CPU devices with chunks of 4: equal within 1e-5.

    Differently batched matmuls differ by float32 rounding (~1e-7). With tanh that stays ~1e-7 over
    hundreds of steps; relu units of zero-W nets sit exactly at the kink, where rounding can switch
    a unit on or off and grow the difference (seen: 1e-4 after 300 steps), so this checks tanh."""
    results = []
    for devices, chunk in (("1", 48), ("4", 4)):
        path = tmp_path / f"m{devices}.toml"
        path.write_text(MATRIX.replace('["tanh", "relu"]', '"tanh"').replace("chunk_runs = 6", f"chunk_runs = {chunk}"))
        folder = tmp_path / f"d{devices}"
        process = start(path, folder, {"SYMJAX_CPU_DEVICES": devices, "XLA_FLAGS": ""})
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(load_results(folder))
        assert results[-1].config["timing"]["device_count"] == int(devices)
    for name in ("runs", "curves"):
        pd.testing.assert_frame_equal(getattr(results[0], name), getattr(results[1], name), rtol=1e-5, atol=1e-6)
    a, b = (r.diagnostics for r in results)
    counts = ["rank", "distinct_units"]  # thresholded counts: a 1e-7 change can move a value across the threshold
    pd.testing.assert_frame_equal(a.drop(columns=counts), b.drop(columns=counts), rtol=1e-5, atol=1e-6)
    changed = (a[counts].fillna(-1) != b[counts].fillna(-1)).to_numpy()
    assert changed.mean() < 0.01 and (a[counts] - b[counts]).abs().max().max() <= 1


def test_report_of_a_resumed_run_equals_the_uninterrupted_one(matrix_file, uninterrupted, tmp_path):
    """Same results -> same report; only the measured-time line of the setup differs between two trainings."""
    from symjax.report import build_report

    folder = tmp_path / "results"
    process = start(matrix_file, folder)
    wait_for_chunks(folder, process, at_least=3)
    process.kill()
    process.wait()
    assert main(["run", "--matrix", str(matrix_file), "--out", str(folder), "--quiet"]) == 0
    texts = [build_report(f, tmp_path / name).read_text() for f, name in ((folder, "a"), (uninterrupted, "b"))]
    measured = [[line for line in t.splitlines() if line.startswith("- Measured:")] for t in texts]
    assert all(len(m) == 1 for m in measured)
    assert texts[0].replace(measured[0][0], "") == texts[1].replace(measured[1][0], "")
    for png in sorted((tmp_path / "b").rglob("*.png")):
        assert png.read_bytes() == (tmp_path / "a" / png.relative_to(tmp_path / "b")).read_bytes()


def test_diverging_runs_are_recorded_without_warnings(tmp_path, capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["run", "--matrix", "smoke", "--out", str(tmp_path / "r"), "--quiet", "--optimizer", "sgd",
                     "--lr", "100,0.1", "--steps", "40", "--log-every", "10"]) == 0
        assert main(["report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "rep")]) == 0
    runs = load_results(tmp_path / "r").runs
    diverged = runs[runs["diverged"]]
    assert len(diverged) and (diverged["lr"] == 100).all()
    assert diverged["diverged_step"].notna().all() and not diverged["reached"].any()
    assert runs.loc[runs["lr"] == 0.1, "diverged"].sum() == 0
