"""Several processes (jax.distributed on CPU, one device each) train one matrix into one folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pandas as pd
import pytest
from helpers import assert_usage_error, run_cli

from symjax.results.store import load_results

ARGS = ["--matrix", "smoke", "--steps", "20", "--log-every", "10", "--max-memory", "1GiB", "--quiet"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def symjax_run(*extra: str) -> subprocess.Popen:
    env = {**os.environ, "SYMJAX_CPU_DEVICES": "1", "XLA_FLAGS": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "symjax.cli", "run", *ARGS, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_processes_give_the_results_of_one(tmp_path):
    port = free_port()
    shared = ["--out", str(tmp_path / "two"), "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    processes = [symjax_run(*shared, "--process-id", str(i)) for i in (0, 1)]
    alone = symjax_run("--out", str(tmp_path / "one"))
    outputs = [p.communicate(timeout=400) for p in (*processes, alone)]
    assert all(p.returncode == 0 for p in (*processes, alone)), outputs
    assert "process 1: saved its share" in outputs[1][0]
    two, one = load_results(tmp_path / "two"), load_results(tmp_path / "one")
    assert two.config["timing"]["processes"] == 2
    for name in ("runs", "curves", "diagnostics"):  # one device per process in both: identical
        pd.testing.assert_frame_equal(getattr(two, name), getattr(one, name), check_exact=True)


COORDINATOR = ["--coordinator", "127.0.0.1:1"]
BAD_PROCESS_FLAGS = {  # case: (flags, the words its message must hold: the flags at fault, their values)
    "coordinator alone": (COORDINATOR, ["--coordinator", "--num-processes", "--process-id", "go together"]),
    "process id out of range": (
        [*COORDINATOR, "--num-processes", "2", "--process-id", "2", "--max-memory", "1GiB"],
        ["--process-id 2", "--num-processes 2"],
    ),
    "no max memory": (
        [*COORDINATOR, "--num-processes", "2", "--process-id", "0"],
        ["--max-memory: missing", "several processes"],
    ),
    "fresh": (
        [*COORDINATOR, "--num-processes", "2", "--process-id", "1", "--max-memory", "1GiB", "--fresh"],
        ["--fresh: not allowed", "several processes"],
    ),
}


@pytest.mark.parametrize("extra,words", BAD_PROCESS_FLAGS.values(), ids=BAD_PROCESS_FLAGS.keys())
def test_bad_process_flags_fail_in_one_line(extra, words, tmp_path, capsys):
    result = run_cli(capsys, ["run", "--matrix", "smoke", "--out", tmp_path / "r", *extra])
    assert_usage_error(result, *words, folder=tmp_path / "r")
