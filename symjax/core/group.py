"""The spec of a group: the static settings that decide one compiled program, and the runs it trains.

A *group* is every run that shares dataset, model, widths, activation, optimizer, batch size,
steps, log and rank intervals and float precision (``GroupConfig``); its runs differ only in per-run values
(scheme, seed, learning rate: ``Run``) that vary along the vmapped run axis.
A core type: the trainer (``symjax.core.train``) compiles one program per GroupConfig; ``Matrix.groups``
(``symjax.matrix.spec``) makes them and ``symjax.engine.plan`` numbers the runs. Free of jax.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from symjax.core.axes import AXES, BY_FIELD, LATER_GROUPED

RANK_EVERY = BY_FIELD["rank_every"].default  # weight snapshots at step 0, every 4th logged step and the end
DTYPES = ("float32", "float64")
# how float32 matrix products are computed (``jax.default_matmul_precision``): "highest" in full float32
# everywhere; "default" lets an accelerator round them (TF32 on NVIDIA GPUs since Ampere, one bfloat16
# pass on a TPU); a CPU computes both alike
MATMUL_PRECISIONS = ("highest", "default")


def _label(self, batch: bool = False) -> str:
    """For progress bars and messages, e.g. ``mnist1d mlp 100,100 tanh adam`` (``batch``: `` batch 128``)."""
    widths = ",".join(map(str, self.hidden)) or "linear"
    text = f"{self.dataset} {self.model} {widths} {self.activation} {self.optimizer}"
    text += "".join(
        f" {getattr(self, a.single)}" for a in LATER_GROUPED if getattr(self, a.single) != a.earlier[0]
    )
    return f"{text} batch {self.batch_size or 'full'}" if batch else text


def _fields() -> list[tuple]:
    """GroupConfig's fields: the grouped and group axes of ``AXES`` (one value each), those of the first
    matrix version first (positional), those added later with their default (code written before them keeps
    working)."""
    axes = [a for a in AXES if a.role in ("grouped", "group")]
    first = [(a.single, object) for a in axes if a.since == 1]
    later = [
        (a.single, object, dataclasses.field(default=a.default[0] if a.role == "grouped" else a.default))
        for a in axes
        if a.since > 1
    ]
    return first + later


GroupConfig = dataclasses.make_dataclass("GroupConfig", _fields(), frozen=True, namespace={"label": _label})
GroupConfig.__module__ = __name__  # (make_dataclass takes module= only from Python 3.12)
GroupConfig.__doc__ = """Everything that decides one compiled program (hashable: a key of the program cache).

Fields, from ``symjax.core.axes.AXES``: dataset, hidden (widths), activation, optimizer, batch_size (None:
full batch), steps, log_every, then model, rank_every (a weight snapshot every rank_every logged steps),
dtype ("float64": the group trains with jax's 64-bit mode on), schedule (of the learning rate), norm
(after every hidden affine map: none, layernorm or batchnorm), matmul_precision (of every matrix product the
program traces: highest or default, ``MATMUL_PRECISIONS``)."""


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
