"""Several processes (jax.distributed on CPU, one device each) train one matrix into one folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pandas as pd
import pytest

from symjax.cli import main
from symjax.results.store import load_results

ARGS = ["--matrix", "smoke", "--steps", "20", "--log-every", "10", "--max-memory", "1GiB", "--quiet"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def symjax_run(*extra: str) -> subprocess.Popen:
    env = {**os.environ, "SYMJAX_CPU_DEVICES": "1", "XLA_FLAGS": ""}
    return subprocess.Popen([sys.executable, "-m", "symjax.cli", "run", *ARGS, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


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


@pytest.mark.parametrize("extra", [
    ["--coordinator", "127.0.0.1:1"],
    ["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2", "--max-memory", "1GiB"],
    ["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "0"],
    ["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "1", "--max-memory", "1GiB", "--fresh"],
])
def test_bad_process_flags_fail_in_one_line(extra, tmp_path, capsys):
    assert main(["run", "--matrix", "smoke", "--out", str(tmp_path / "r"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("symjax: error:") and "\n" not in err
    assert not (tmp_path / "r").exists()
