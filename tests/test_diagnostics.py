"""Diagnostics on constructed matrices, and the theory of docs/theory.md read from diagnostics.parquet."""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from symjax.core.diagnostics import dead_fraction, distinct_units, mean_abs_cosine, rank_and_effective_rank


def test_rank_of_constructed_matrices():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(40, 1)), rng.normal(size=(1, 30))
    full = rng.normal(size=(3, 40, 30)).astype(np.float32)
    rank, erank = rank_and_effective_rank(np.stack([u @ v, np.zeros((40, 30)), full[0]]).astype(np.float32))
    np.testing.assert_array_equal(rank, [1, 0, 30])
    assert erank[0] == pytest.approx(1.0, rel=1e-4) and erank[1] == 0.0 and 20 < erank[2] <= 30
    identity_rank, identity_erank = rank_and_effective_rank(np.eye(16, dtype=np.float32))
    assert identity_rank == 16 and identity_erank == pytest.approx(16.0)
    assert rank_and_effective_rank(full)[0].tolist() == [30, 30, 30]  # batched


def test_rank_matches_numpy_matrix_rank():
    rng = np.random.default_rng(1)
    w = (rng.normal(size=(50, 5)) @ rng.normal(size=(5, 20))).astype(np.float32)
    assert rank_and_effective_rank(w)[0] == np.linalg.matrix_rank(w) == 5


def test_distinct_units_counts_identical_columns_with_bias():
    w = jnp.array([[1.0, 1.0, 2.0], [0.5, 0.5, 0.5]])  # (fan_in=2, units=3): units 0 and 1 equal
    assert distinct_units(w, jnp.zeros(3)) == 2
    assert distinct_units(w, jnp.array([0.0, 0.1, 0.0])) == 3, "a different bias makes a unit distinct"
    assert distinct_units(jnp.zeros((4, 5)), jnp.zeros(5)) == 1
    assert distinct_units(jnp.zeros((4, 5)), jnp.arange(5.0)) == 5


def test_mean_abs_cosine():
    w = jnp.array([[1.0, -2.0, 0.0], [0.0, 0.0, 0.0]])  # units 0,1 anti-parallel; unit 2 zero
    assert mean_abs_cosine(w) == pytest.approx(1.0)
    assert np.isnan(mean_abs_cosine(jnp.zeros((3, 3))))
    assert mean_abs_cosine(jnp.eye(3)) == pytest.approx(0.0)


def test_dead_fraction():
    h = jnp.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    assert dead_fraction(h) == pytest.approx(0.5)


def test_theory_read_from_stored_diagnostics(smoke_results):
    """Zero W + random b: the readout learns first, the hidden layer one step later, its weights
    stay at low rank; relu units with b < 0 are dead; the all-zero net never gets a weight gradient."""
    runs = pd.read_parquet(smoke_results / "runs.parquet")
    diag = pd.read_parquet(smoke_results / "diagnostics.parquet").merge(
        runs[["run_id", "scheme", "activation"]], on="run_id"
    )
    zero_w = diag[diag["scheme"] == "zeros/normal(1.0)"]
    first = zero_w.groupby("layer")["first_grad_step"].unique()
    assert list(first[2]) == [0] and list(first[1]) == [1]
    assert (zero_w[(zero_w["step"] == 0)]["rank"] == 0).all()
    relu = zero_w[(zero_w["activation"] == "relu") & (zero_w["layer"] == 1)]
    assert relu["dead_fraction"].between(0.2, 0.8).all()
    assert (relu.groupby("run_id")["dead_fraction"].nunique() == 1).all(), "dead units never revive"
    control = diag[diag["scheme"] == "zeros/zeros"]
    assert control["first_grad_step"].isna().all() and (control["rank"].dropna() == 0).all()
    reference = diag[(diag["scheme"] == "lecun_normal/zeros") & (diag["layer"] == 1)]
    assert (reference["rank"].dropna() == 16).all() and (reference["first_grad_step"] == 0).all()
