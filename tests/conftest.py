"""Shared fixtures. Importing symjax first sets up one CPU device per core before JAX starts.

Compiling is most of the suite's time, and many tests, xdist workers and `symjax` subprocesses
compile the same programs: JAX's persistent compilation cache (keyed by the program's HLO, the
compile options and the jax version, so a changed program is always compiled afresh) is kept
in ``.pytest_cache/jax`` unless ``JAX_COMPILATION_CACHE_DIR`` is set. Set before jax is imported,
and inherited by subprocesses through the environment.

Plain helpers that test modules share (matrix files by ``tiny_matrix`` / ``toml_text``,
``assert_usage_error``,
``replaced``, synthetic results and benchmark JSON) are in ``tests/helpers.py``, imported as ``from helpers
import ...``; no test module imports another.
"""

import json
import os
from pathlib import Path

os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax")
)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import symjax  # noqa: F401, E402  (must precede jax)
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


@pytest.fixture
def numpy_random_state():
    """For a test that seeds or draws from numpy's global generator: its state is put back afterwards, so no
    other test's draws depend on whether this one ran first."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


RESULT_TABLES = ("runs", "curves", "diagnostics")


def _assert_same_results(first: Path, second: Path) -> None:
    """Two results folders hold the same results: the same files (chunk names are content keys), the three
    tables equal value for value (dtypes and column order included) and config.json equal but for its
    ``timing`` (seconds measured), of which only the keys must agree."""

    def listing(folder):
        return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())

    assert listing(first) == listing(second)
    for name in RESULT_TABLES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(Path(first) / f"{name}.parquet"),
            pd.read_parquet(Path(second) / f"{name}.parquet"),
            check_exact=True,
            obj=name,
        )
    configs = [json.loads((Path(folder) / "config.json").read_text()) for folder in (first, second)]
    timings = [config.pop("timing") for config in configs]
    assert timings[0].keys() == timings[1].keys()
    assert configs[0] == configs[1]


@pytest.fixture
def assert_same_results():
    """``assert_same_results(first, second)``: see ``_assert_same_results``."""
    return _assert_same_results
