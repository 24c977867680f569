"""Shared fixtures. Importing symjax first sets up one CPU device per core before JAX starts."""

import symjax  # noqa: F401  (must precede jax)

import jax.numpy as jnp
import pytest

from symjax.data import load_dataset
from symjax.train import Arrays


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
