"""Shared fixtures. Importing symjax first sets up one CPU device per core before JAX starts.

Compiling is most of the suite's time, and many tests, xdist workers and `symjax` subprocesses
compile the same programs: JAX's persistent compilation cache (keyed by the program's HLO, the
compile options and the jax version, so a changed program is always compiled afresh) is kept
in ``.pytest_cache/jax`` unless ``JAX_COMPILATION_CACHE_DIR`` is set. Set before jax is imported,
and inherited by subprocesses through the environment.
"""

import os
from pathlib import Path

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"))

import symjax  # noqa: F401, E402  (must precede jax)

import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402

from symjax.core.data import load_dataset  # noqa: E402
from symjax.core.train import Arrays  # noqa: E402


@pytest.fixture(scope="session")
def mnist1d():
    return load_dataset("mnist1d")


@pytest.fixture(scope="session")
def mnist1d_arrays(mnist1d):
    return Arrays(*(jnp.asarray(a) for a in mnist1d[:4]))


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    """The built-in smoke matrix trained once through the CLI; returns the results folder."""
    from symjax.cli import main

    folder = tmp_path_factory.mktemp("results") / "smoke"
    assert main(["run", "--matrix", "smoke", "--out", str(folder), "--quiet"]) == 0
    return folder
