"""Issue 27 (Reliability III), the engine's items: every process checks its folder (2), a lost process is one
line (12), bad or unreachable coordinators (13), ``--out`` a file (14), a simultaneous start (15), bench-ab
stopped or timing a changed tree (17), file errors that name their file (18), a manifest naming a foreign file
(19).

The tiny matrix of the issue (xor, ``hidden = [[4]]``, tanh, Adam 0.01, 2 seeds, 20 steps) is trained once
in this process; the tests that need several processes or a signal run ``symjax`` in subprocesses.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_usage_error, run_cli, tiny_matrix

import symjax
from symjax.abtest import abba
from symjax.cli import _os_message, main
from symjax.engine.distributed import Share
from symjax.engine.resume import ChunkStore, prepare_folder
from symjax.matrix.spec import ConfigError
from symjax.results.store import load_results

SMALL = {"seeds": 2, "steps": 20}
HOSTS = ["--num-processes", "2", "--max-memory", "1GiB"]
# the command line, with settings of the distributed engine replaced (shorter timeouts)
DRIVER = (
    "import sys; import symjax.engine.distributed as d; d.__dict__.update({settings}); "
    "from symjax.cli import entry; sys.argv[0] = 'symjax'; entry()"
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(matrix file, published results folder) of the tiny matrix, trained once."""
    folder = tmp_path_factory.mktemp("r3")
    matrix = tiny_matrix(folder, "t", **SMALL)
    assert main(["run", "--matrix", str(matrix), "--out", str(folder / "r1"), "--quiet"]) == 0
    return matrix, folder / "r1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def symjax_process(settings: dict, *args) -> subprocess.Popen:
    """``symjax ARGS`` in a subprocess with ``settings`` of symjax.engine.distributed, one CPU device."""
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(settings=settings), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SYMJAX_CPU_DEVICES": "1", "XLA_FLAGS": ""},
    )


def finish(process: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``process``; killed (and the test failed) after ``timeout`` s."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"still running after {timeout} s")
    return process.returncode, out, err


# --- item 2: every process checks its folder -----------------------------------------------------------


def test_a_process_other_than_0_refuses_a_foreign_folder(trained, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    matrix = symjax.load_matrix(str(trained[0]))
    with pytest.raises(ConfigError, match="not a symjax results folder"):
        symjax.run_matrix(matrix, foreign, show_progress=False, max_memory=2**30, share=Share(1, 2))
    assert sorted(os.listdir(foreign)) == ["thesis.tex"]


def test_a_process_other_than_0_never_follows_a_linked_chunks_folder(trained, tmp_path):
    matrix = symjax.load_matrix(str(trained[0]))
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    prepare_folder(out, matrix, fresh=False)
    (out / "chunks").symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="symbolic link"):
        symjax.run_matrix(matrix, out, show_progress=False, max_memory=2**30, share=Share(1, 2))
    store = ChunkStore(out)  # and a link put there after the checks is not followed either
    with pytest.raises(ConfigError, match="symbolic link"):
        store.save("0" * 24, {"train_loss": np.zeros((2, 3))})
    assert list(elsewhere.iterdir()) == []


def test_a_process_other_than_0_needs_the_folder_that_process_0_prepared(trained, tmp_path):
    from symjax.engine.resume import check_shared

    matrix = symjax.load_matrix(str(trained[0]))
    with pytest.raises(ConfigError, match="every process sees"):
        check_shared(tmp_path / "not-shared", matrix)
    prepare_folder(tmp_path / "shared", matrix, fresh=False)
    check_shared(tmp_path / "shared", matrix)


# --- item 12: a lost process --------------------------------------------------------------------------


def test_a_killed_process_makes_process_0_say_so_in_one_line(tmp_path):
    matrix = tiny_matrix(tmp_path, "t", chunk_runs=1, **SMALL)  # 4 chunks: 2 for each process
    out, port = tmp_path / "two", free_port()
    common = [
        "run",
        "--matrix",
        matrix,
        "--out",
        out,
        "--coordinator",
        f"127.0.0.1:{port}",
        *HOSTS,
        "--quiet",
    ]
    quick = {"HEARTBEAT_TIMEOUT_S": 5}  # process 1 is lost after 5 s of silence, not 100
    first = symjax_process(quick, *common, "--process-id", "0")
    second = symjax_process(quick, *common, "--process-id", "1")
    deadline = time.monotonic() + 120
    while not (out / "manifest.json").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # process 0 prepared the folder: both have joined, neither has trained its share
    second.kill()
    second.communicate()
    code, _, err = finish(first, 120)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symjax: error: process 1 of 2 stopped"), err
    assert str(out / "chunks") in lines[0] and "again with the same command" in lines[0]


# --- item 13: the coordinator -------------------------------------------------------------------------

BAD_HOSTS = {
    "no port": (["--coordinator", "garbage"], ["--coordinator 'garbage'", "HOST:PORT"]),
    "port 0": (["--coordinator", "127.0.0.1:0"], ["--coordinator '127.0.0.1:0'", "1 to 65535"]),
    "port too large": (["--coordinator", "127.0.0.1:70000"], ["'127.0.0.1:70000'", "1 to 65535"]),
    "empty host": (["--coordinator", ":1234"], ["':1234'", "HOST:PORT"]),
}


@pytest.mark.parametrize("flags,words", BAD_HOSTS.values(), ids=BAD_HOSTS.keys())
def test_a_bad_coordinator_is_one_line(flags, words, trained, tmp_path, capsys):
    argv = ["run", "--matrix", trained[0], "--out", tmp_path / "r", *flags, *HOSTS, "--process-id", "1"]
    assert_usage_error(run_cli(capsys, argv), *words, folder=tmp_path / "r")


def test_the_process_count_is_bounded(trained, tmp_path, capsys):
    argv = ["run", "--matrix", trained[0], "--out", tmp_path / "r", "--coordinator", "127.0.0.1:1234"]
    argv += ["--num-processes", "100000", "--process-id", "1", "--max-memory", "1GiB"]
    assert_usage_error(run_cli(capsys, argv), "--num-processes 100000", "N <= 1024", folder=tmp_path / "r")
    with pytest.raises(ConfigError, match="allowed 1 to 1024"):
        symjax.run_matrix(symjax.load_matrix(str(trained[0])), tmp_path / "r", share=Share(0, 5000))


def test_a_port_in_use_is_one_line(trained, tmp_path, capsys):
    with socket.socket() as holder:
        holder.bind(("", 0))
        holder.listen()
        port = holder.getsockname()[1]
        argv = ["run", "--matrix", trained[0], "--out", tmp_path / "r", "--coordinator", f"127.0.0.1:{port}"]
        result = run_cli(capsys, [*argv, *HOSTS, "--process-id", "0"])
    assert_usage_error(result, f"127.0.0.1:{port}", "cannot listen", folder=tmp_path / "r")


def test_an_unreachable_coordinator_is_one_line_after_the_join_timeout(trained, tmp_path):
    argv = [
        "run",
        "--matrix",
        trained[0],
        "--out",
        tmp_path / "r",
        "--coordinator",
        f"127.0.0.1:{free_port()}",
    ]
    tic = time.monotonic()
    result = finish(symjax_process({"JOIN_TIMEOUT_S": 2}, *argv, *HOSTS, "--process-id", "1"), 60)
    assert_usage_error(result, "nothing answers there after 2 s", "--process-id 0", folder=tmp_path / "r")
    assert time.monotonic() - tic < 60


# --- item 14: --out a regular file --------------------------------------------------------------------


@pytest.mark.parametrize("dry", [True, False], ids=["dry run", "run"])
def test_out_naming_a_file_is_refused_also_by_a_dry_run(dry, trained, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    argv = ["run", "--matrix", trained[0], "--out", target, "--quiet", *(["--dry-run"] if dry else [])]
    assert_usage_error(run_cli(capsys, argv), str(target), "is not a folder")
    assert target.read_text() == "mine"


# --- item 15: a simultaneous start --------------------------------------------------------------------


def test_the_loser_of_a_simultaneous_start_is_told_the_folder_is_in_use(trained, tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / ".manifest.json.k2x9_q1a.tmp").write_text('{"matrix_ha')  # the winner, writing its manifest
    lock = os.open(out / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        os.write(lock, b"4242\n")
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run_cli(capsys, ["run", "--matrix", trained[0], "--out", out, "--quiet"])
    finally:
        os.close(lock)
    assert_usage_error(result, "being written by another symjax run", "pid 4242")


def test_a_stale_temporary_file_of_symjax_does_not_make_a_folder_foreign(trained, tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / ".manifest.json.k2x9_q1a.tmp").write_text('{"matrix_ha')  # left by a run killed at its start
    result = run_cli(capsys, ["run", "--matrix", trained[0], "--out", out, "--dry-run"])
    assert result.code == 0, result.err


# --- item 17: bench-ab --------------------------------------------------------------------------------

WORKLOAD = """import time
STEPS, SIDE_BY_SIDE_N, QUICK = 5, 4, True


class Workload:
    def vmap_fn(self, n):
        time.sleep({build_s})
        return lambda: sum(range(1000))
"""


def git_repo(folder: Path, build_s: float) -> Path:
    """A git repository with one commit tagged ``base`` whose workload takes ``build_s`` seconds to build."""
    folder.mkdir()
    (folder / "bench").mkdir()
    (folder / "bench" / "workload.py").write_text(WORKLOAD.format(build_s=build_s))
    for args in (["init", "-q"], ["add", "bench"], ["commit", "-q", "-m", "base"], ["tag", "base"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True)
    return folder


def test_bench_ab_stopped_by_sigterm_removes_its_export(tmp_path):
    repo, tmp = git_repo(tmp_path / "repo", build_s=60), tmp_path / "tmp"
    tmp.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "symjax.cli", "bench-ab", "base"],
        cwd=repo,
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp.glob("symjax-ab-*/head.log")) and time.monotonic() < deadline:
        time.sleep(0.05)  # exported, both workers building their workload
    assert list(tmp.glob("symjax-ab-*/head.log")), "bench-ab never started its workers"
    process.send_signal(signal.SIGTERM)
    code, out, err = finish(process, 30)
    assert code == 130 and err.strip() == "symjax: interrupted", (code, err)
    assert list(tmp.iterdir()) == []


def test_bench_ab_warns_when_the_tree_differs_from_the_commit_it_times(tmp_path, capsys):
    repo = git_repo(tmp_path / "repo", build_s=0)
    assert abba.bench_ab("base", max_pairs=2, repo=repo) == 0
    assert capsys.readouterr().err == ""  # a clean tree: no warning
    (repo / "bench" / "workload.py").write_text(WORKLOAD.format(build_s=0.01))
    assert abba.bench_ab("base", max_pairs=2, repo=repo) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symjax: warning: 1 tracked files differ"), lines
    assert "bench/workload.py" in lines[0] and "not the working tree" in lines[0]


# --- item 18: file errors -----------------------------------------------------------------------------


@contextlib.contextmanager
def file_size_limit(limit: int = 4096):
    """Inside, no file can grow past ``limit`` bytes (EFBIG: a full disk as the writer sees it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_full_disk_names_the_file_that_could_not_be_written(tmp_path):
    store, key = ChunkStore(tmp_path / "r"), "a" * 24
    with pytest.raises(OSError) as caught, file_size_limit():
        store.save(key, {"train_loss": np.zeros((4, 4000))})
    assert caught.value.errno == errno.EFBIG and caught.value.filename == str(store.path(key))
    assert _os_message(caught.value) == f"cannot write {store.path(key)}: {os.strerror(errno.EFBIG)}"
    assert list(store.folder.iterdir()) == []  # no temporary file left


@pytest.fixture
def read_only(tmp_path):
    """An empty folder in which no file can be created: a read-only tmpfs (root), else mode 555."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("root without the right to mount: cannot make a read-only folder")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_folder_is_not_blamed_on_a_lock_file(read_only, trained, capsys):
    result = run_cli(capsys, ["run", "--matrix", trained[0], "--out", read_only, "--quiet"])
    line = assert_usage_error(result, f"cannot create the lock {read_only / '.lock'}", "symjax may write")
    assert "delete" not in line and not os.path.lexists(read_only / ".lock")


# --- item 19: a manifest naming a foreign file --------------------------------------------------------


def test_a_manifest_naming_an_unexpected_file_is_refused(trained, tmp_path, capsys):
    folder = tmp_path / "r1"
    shutil.copytree(trained[1], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="unexpected file '../../etc/passwd'"):
        load_results(folder)
    report = run_cli(capsys, ["report", "--results", folder, "--out", tmp_path / "reports"])
    assert_usage_error(report, "'../../etc/passwd'", "runs.parquet", folder=tmp_path / "reports")
    rerun = run_cli(capsys, ["run", "--matrix", trained[0], "--out", folder, "--quiet"])
    assert_usage_error(rerun, "'../../etc/passwd'")
