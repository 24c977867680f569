"""Symmetry diagnostics of one network, per layer, computed inside the compiled training group.

Data-flow stage: part of **train** (called at every logged step; rank and effective rank
from the weight snapshots, on the host, right after each chunk: ``symjax.engine.runner``)
-> store -> metrics (``symjax.results.metrics.diagnostics_table``) -> ``diagnostics.parquet``.
In-program functions are pure jnp on one run (vmapped with it).
Definitions (the report quotes them):

- rank: number of singular values of W above ``s_max * max(fan_in, fan_out) * eps(float32)``
  (numpy's ``matrix_rank`` default); 0 for W = 0.
- effective rank: ``exp(entropy(s / sum(s)))`` (Roy & Vetterli 2007); 0 for W = 0.
- distinct units: units whose (incoming weights, bias) vector differs from every earlier
  unit's by more than ``DISTINCT_TOLERANCE`` times the larger of the two norms. A normalized layer's
  vector also holds its ``scale - 1`` and ``shift`` (their changes from the initial 1 and 0, so that a
  scale of 1 shared by all units does not inflate the norm and merge close biases); under BatchNorm it
  leaves the bias out (BatchNorm subtracts each unit's mean over the minibatch, so the bias never reaches
  the output).
- mean |cos|: mean over unit pairs with non-zero incoming weights of |cosine similarity|
  of their incoming weight vectors (NaN when no such pair).
- dead fraction: units whose output is exactly 0 on every training input (hidden layers).
- grad norm: Frobenius norm of the layer's weight gradient in the update that led here (NaN at step 0).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

DISTINCT_TOLERANCE = 1e-3
NAMES = ("rank", "effective_rank", "distinct_units", "mean_abs_cos", "dead_fraction", "grad_norm")


class Diagnostics(NamedTuple):
    """Computed inside the training program, one value per layer (readout last): each (n_layers,) float32
    (``dead_fraction`` is NaN for the readout)."""

    distinct_units: jax.Array
    mean_abs_cos: jax.Array
    dead_fraction: jax.Array
    grad_norm: jax.Array


def rank_and_effective_rank(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(numerical rank, effective rank), each (...,) float64, of weight matrices w (..., fan_in, fan_out), on
    the host; NaN for a matrix with a non-finite entry.

    Singular values come from ``eigvalsh`` of the float64 Gram matrix of the smaller side
    (accurate to ~1e-8 * s_max, well below the rank tolerance of float32 weights). This runs
    in numpy after training: an SVD inside the training program deadlocked XLA:CPU when
    several CPU devices ran it at once (jaxlib 0.10.2).
    """
    w = np.asarray(w, np.float64)
    finite = np.isfinite(w).all(axis=(-2, -1))  # a diverged run's weights: rank and effective rank are NaN
    w = np.where(finite[..., None, None], w, 0.0)
    wt = np.swapaxes(w, -1, -2)
    gram = wt @ w if w.shape[-2] >= w.shape[-1] else w @ wt
    s = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None))
    s_max = s.max(axis=-1, keepdims=True)
    tolerance = s_max * max(w.shape[-2:]) * np.finfo(np.float32).eps
    rank = (s > tolerance).sum(axis=-1).astype(np.float64)
    total = s.sum(axis=-1, keepdims=True)
    p = s / np.where(total > 0, total, 1.0)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)
    effective = np.where(s_max[..., 0] > 0, np.exp(entropy), 0.0)
    return np.where(finite, rank, np.nan), np.where(finite, effective, np.nan)


def as_matrix(w, batch_dims: int = 0):
    """A weight as a (fan_in, fan_out) matrix after ``batch_dims`` leading axes: a conv kernel
    (*batch, k, c_in, c_out) becomes (*batch, k * c_in, c_out); a dense weight is returned as it is."""
    return w if w.ndim - batch_dims == 2 else w.reshape(*w.shape[:batch_dims], -1, w.shape[-1])


def distinct_units(w: jax.Array, b: jax.Array) -> jax.Array:
    """() float32: units (columns of w (fan_in, fan_out) with their bias b (fan_out,)) not equal to an earlier
    unit, within tolerance."""
    return distinct_rows(jnp.concatenate([w.T, b[:, None]], axis=1))


def unit_vectors(layer: dict, norm: str = "none") -> jax.Array:
    """(fan_out, features): what makes each unit of ``layer`` (a ``{"w", "b"}`` dict, maybe with a norm's
    ``scale`` and ``shift``) what it is: its incoming weights, its bias (not under BatchNorm), its scale's
    change from 1 and its shift."""
    parts = [as_matrix(layer["w"]).T]
    normalized = "scale" in layer
    if not (normalized and norm == "batchnorm"):
        parts.append(layer["b"][:, None])
    if normalized:
        parts += [layer["scale"][:, None] - 1.0, layer["shift"][:, None]]
    return jnp.concatenate(parts, axis=1)


def distinct_rows(units: jax.Array) -> jax.Array:
    """() float32: rows of units (n_units, features) not equal to an earlier row, within tolerance."""
    gram = units @ units.T
    squared = jnp.diag(gram)
    distance2 = jnp.maximum(squared[:, None] + squared[None, :] - 2 * gram, 0.0)
    scale2 = jnp.maximum(squared[:, None], squared[None, :]) * DISTINCT_TOLERANCE**2
    same = distance2 <= scale2
    earlier = jnp.tril(jnp.ones_like(same), k=-1)
    duplicate = jnp.any(same & earlier, axis=1)
    return (units.shape[0] - duplicate.sum()).astype(jnp.float32)


def mean_abs_cosine(w: jax.Array) -> jax.Array:
    """() float32: mean |cos| between incoming weight vectors (columns of w (fan_in, fan_out)) of units with
    non-zero weights; NaN when fewer than two such units."""
    norms = jnp.linalg.norm(w, axis=0)
    alive = norms > 0
    cos = (w.T @ w) / jnp.where(alive, norms, 1.0)[:, None] / jnp.where(alive, norms, 1.0)[None, :]
    pairs = alive[:, None] & alive[None, :] & jnp.triu(jnp.ones(cos.shape, bool), k=1)
    count = pairs.sum()
    return jnp.where(count > 0, jnp.sum(jnp.where(pairs, jnp.abs(cos), 0.0)) / jnp.maximum(count, 1), jnp.nan)


def alive_units(h: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """(units,) bool: units (last axis of h: (n_examples, units) or, conv, (n_examples, length, channels))
    whose output is non-zero on some example (``mask`` (n_examples,) bool: the examples that count)."""
    nonzero = h != 0
    if mask is not None:
        nonzero &= mask.reshape(-1, *[1] * (h.ndim - 1))
    return jnp.any(nonzero.reshape(-1, h.shape[-1]), axis=0)


def dead_fraction(h: jax.Array) -> jax.Array:
    """() float32: fraction of units of h (see ``alive_units``) that are 0 on every example."""
    return jnp.mean(~alive_units(h)).astype(jnp.float32)


def layer_diagnostics(
    params: list, dead_fractions: jax.Array, grad_norms: jax.Array, norm: str = "none"
) -> Diagnostics:
    """All diagnostics of one network.

    Args:
        params: list of ``{"w", "b"}`` per layer (a normalized layer's with ``scale`` and ``shift``: ``norm``
            says which), readout last.
        dead_fractions: (n_hidden,) dead-unit fraction of each hidden layer on the training set
            (``symjax.core.evaluation.evaluate``; ``dead_fraction`` for one array of outputs).
        grad_norms: (n_layers,) weight-gradient norms of the last update.

    Returns:
        ``Diagnostics``, each field (n_layers,).
    """
    matrices = [as_matrix(layer["w"]) for layer in params]
    return Diagnostics(
        distinct_units=jnp.stack([distinct_rows(unit_vectors(layer, norm)) for layer in params]),
        mean_abs_cos=jnp.stack([mean_abs_cosine(w) for w in matrices]),
        dead_fraction=jnp.concatenate(
            [dead_fractions.astype(jnp.float32), jnp.full(1, jnp.nan, jnp.float32)]
        ),
        grad_norm=grad_norms.astype(jnp.float32),
    )
