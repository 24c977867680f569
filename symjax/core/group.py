"""The spec of a group: the static settings that decide one compiled program, and the runs it trains.

A *group* is every run that shares dataset, model, widths, activation, optimizer, batch size,
steps, log and rank intervals and float precision (``GroupConfig``); its runs differ only in per-run values (scheme,
seed, learning rate: ``Run``) that vary along the vmapped run axis.
Data-flow stage: **plan** (``symjax.matrix.spec.Matrix.groups`` makes them, ``symjax.engine.plan``
numbers the runs); train and metrics read them too. Free of jax.
"""

from __future__ import annotations

from dataclasses import dataclass

RANK_EVERY = 4  # default: weight snapshots at step 0, every 4th logged step and the end
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class GroupConfig:
    """Everything that decides one compiled program (hashable: a key of the engine's program cache)."""

    dataset: str
    hidden: tuple[int, ...]
    activation: str
    optimizer: str
    batch_size: int | None  # None: full batch
    steps: int
    log_every: int
    model: str = "mlp"
    rank_every: int = RANK_EVERY  # a weight snapshot (rank, effective rank) every rank_every logged steps
    dtype: str = "float32"  # or "float64": the group trains with jax's 64-bit mode on

    def label(self, batch: bool = False) -> str:
        """For progress bars and messages, e.g. ``mnist1d mlp 100,100 tanh adam`` (``batch``: `` batch 128``)."""
        text = f"{self.dataset} {self.model} {','.join(map(str, self.hidden)) or 'linear'} {self.activation} {self.optimizer}"
        text += "" if self.dtype == "float32" else f" {self.dtype}"
        return f"{text} batch {self.batch_size or 'full'}" if batch else text


@dataclass(frozen=True)
class Run:
    """One network trained once: its number across the matrix, its group's index, and its per-run values."""

    run_id: int
    group: int
    scheme: str
    seed: int
    lr: float


def minibatch_size(batch_size: int | None, n_train: int) -> int:
    """Examples per update: ``batch_size``, or all ``n_train`` for full batch (None) or a larger batch size.

    >>> minibatch_size(128, 4000), minibatch_size(None, 4000), minibatch_size(5000, 4000)
    (128, 4000, 4000)
    """
    return n_train if batch_size is None else min(batch_size, n_train)
