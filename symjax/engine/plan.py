"""The plan of a matrix, made once: its groups, their runs, the chunks each group is trained in, and their
keys.

Data-flow stage: matrix -> **plan** -> init, train (chunks: ``symjax.engine.runner``) -> store.
Runs of a group are ordered (lr, scheme, seed) and numbered across the matrix. A group is
trained in equal chunks of at most ``matrix.chunk_runs`` runs and no more than fit in the
memory budget (``symjax.engine.memory``), sized in whole blocks of runs on every device, the
last padded with copies of its last run (dropped after training), so every chunk of a group
reuses one compiled program. Chunks are numbered across the matrix (several processes split
them by number, ``symjax.engine.distributed``) and each has a content key (``chunk_key``):
the same plan serves training, resuming, several hosts and ``--dry-run``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import NamedTuple

from symjax.core.data import file_version
from symjax.core.files import digest
from symjax.core.group import GroupConfig, Run
from symjax.core.plugins import plugin_digest
from symjax.engine.devices import chunk_multiple
from symjax.engine.memory import chunk_limit
from symjax.engine.resume import code_hash
from symjax.matrix.spec import ConfigError, Matrix


@dataclass(frozen=True)
class ChunkPlan:
    """Runs ``[start, stop)`` of a group, trained in one call."""

    number: int  # position across the matrix, in training order
    start: int
    stop: int
    runs: tuple[Run, ...]  # padded to the group's chunk size with copies of the last run
    key: str  # content key of the work (``chunk_key``): names the chunk's file when saved


@dataclass(frozen=True)
class GroupPlan:
    """One compiled program: its runs and the chunks they are trained in."""

    config: GroupConfig
    runs: tuple[Run, ...]
    chunk_size: int
    chunks: tuple[ChunkPlan, ...]


@dataclass(frozen=True)
class Plan:
    """Every group of a matrix, for ``n_devices`` local devices."""

    groups: tuple[GroupPlan, ...]
    n_devices: int

    @property
    def chunks(self) -> list[ChunkPlan]:
        return [chunk for group in self.groups for chunk in group.chunks]

    @property
    def keys(self) -> list[str]:
        return [chunk.key for chunk in self.chunks]

    @property
    def n_runs(self) -> int:
        return sum(len(group.runs) for group in self.groups)


def chunk_bounds(n_runs: int, max_chunk: int, multiple: int) -> tuple[int, list[tuple[int, int]]]:
    """(chunk size, [(start, stop), ...]): the fewest chunks whose size is a multiple of ``multiple`` and at
    most
    ``max_chunk`` (one ``multiple`` when ``max_chunk`` is smaller); every chunk but the last holds exactly
    size runs.

    >>> chunk_bounds(10, 4, 2)
    (4, [(0, 4), (4, 8), (8, 10)])
    """
    # chunks of whole multiples, at most max_chunk
    n_chunks = math.ceil(n_runs / (max(max_chunk // multiple, 1) * multiple))
    size = math.ceil(math.ceil(n_runs / n_chunks) / multiple) * multiple
    return size, [(start, min(start + size, n_runs)) for start in range(0, n_runs, size)]


class KeyParts(NamedTuple):
    """What a chunk key holds besides the work itself: the training code's behaviour (``code_hash``), the
    plug-ins' digest (``plugin_digest``: their modules' source) and the sha256 of the group's file dataset (""
    for none)."""

    code: str
    plugins: str = ""
    data: str = ""


def chunk_key(cfg: GroupConfig, runs: tuple[Run, ...], size: int, n_devices: int, parts: KeyParts) -> str:
    """Content hash of one chunk's work: (group config, (scheme, seed, lr) of each run, size, devices,
    ``parts``)."""
    return digest(
        [dataclasses.asdict(cfg), [(r.scheme, r.seed, r.lr) for r in runs], size, n_devices, parts._asdict()]
    )


def expand(matrix: Matrix) -> list[tuple[GroupConfig, list[Run]]]:
    """Every group of the matrix with its runs (exclude rules applied), run ids numbered across the whole
    matrix."""
    groups, next_id = [], 0
    for index, (cfg, pairs) in enumerate(matrix.kept_groups()):
        triples = [(lr, scheme, seed) for lr, scheme in pairs for seed in range(matrix.seeds)]
        runs = [Run(next_id + i, index, scheme, seed, lr) for i, (lr, scheme, seed) in enumerate(triples)]
        next_id += len(runs)
        groups.append((cfg, runs))
    return groups


def group_plan(
    cfg: GroupConfig, runs: list[Run], max_chunk: int, n_devices: int, parts: KeyParts, first: int = 0
) -> GroupPlan:
    """The chunks of one group's ``runs``: at most ``max_chunk`` runs each (see ``chunk_bounds``), in whole
    blocks on
    ``n_devices`` devices (``chunk_multiple``), numbered from ``first``, keyed with ``parts``."""
    size, bounds = chunk_bounds(len(runs), max_chunk, chunk_multiple(n_devices, max_chunk))
    chunks = []
    for number, (start, stop) in enumerate(bounds, start=first):
        padded = tuple(runs[start:stop] + [runs[stop - 1]] * (size - (stop - start)))
        chunks.append(ChunkPlan(number, start, stop, padded, chunk_key(cfg, padded, size, n_devices, parts)))
    return GroupPlan(cfg, tuple(runs), size, tuple(chunks))


def make_plan(matrix: Matrix, n_devices: int, budget: int | None = None) -> Plan:
    """The plan of a validated matrix on ``n_devices`` devices, each chunk within ``budget`` bytes of device
    memory (``symjax.engine.memory``; None: only ``matrix.chunk_runs`` bounds a chunk). A budget too small
    for one run per device is a ConfigError, raised here, before anything is written. A file dataset is read
    as it is now, and its sha256 enters the keys of its groups' chunks (an edited file is trained again)."""
    code, plugins = code_hash(), plugin_digest([*matrix.schemes, matrix.reference], matrix.models)
    groups, first = [], 0
    try:
        versions = {name: file_version(name) for name in matrix.datasets}
    except ValueError as error:  # the file changed since the matrix was validated
        raise ConfigError(str(error)) from None
    for cfg, runs in expand(matrix):
        data = versions[cfg.dataset]["sha256"] if versions[cfg.dataset] else ""
        groups.append(
            group_plan(
                cfg,
                runs,
                chunk_limit(cfg, matrix.chunk_runs, budget, n_devices),
                n_devices,
                KeyParts(code, plugins, data),
                first,
            )
        )
        first += len(groups[-1].chunks)
    return Plan(tuple(groups), n_devices)
