"""Execute a plan: train its chunks, save each at once, and join a group's chunks into its logs.

Data-flow stage: plan -> **init, train** (chunks, one compiled program per group) -> store (chunk files,
``symjax.engine.resume``) -> metrics (``GroupResult``).
``train_chunks`` trains and saves the chunks it is given that are not saved yet (one
process's share, ``symjax.engine.distributed``); ``train_plan`` trains what is missing
and returns every group's logs, loading the chunks saved earlier (resuming).
"""

from __future__ import annotations

import itertools
import time

import jax
import numpy as np
from tqdm.auto import tqdm

from symjax.core.data import load_dataset
from symjax.core.diagnostics import NAMES as DIAGNOSTIC_NAMES
from symjax.core.diagnostics import as_matrix, rank_and_effective_rank
from symjax.core.group import GroupConfig
from symjax.core.models import weight_shapes
from symjax.core.train import Arrays, Logs, as_dtype, logged_steps, precision, snapshot_steps
from symjax.engine.devices import run_sharding
from symjax.engine.plan import ChunkPlan, GroupPlan, Plan
from symjax.engine.program import Programs
from symjax.engine.resume import ChunkStore
from symjax.matrix.spec import ConfigError
from symjax.results.metrics import GroupResult


def chunk_arrays(logs: Logs, first_grad_step: np.ndarray, cfg: GroupConfig) -> dict[str, np.ndarray]:
    """Host arrays of one chunk: logs (n_runs, n_logs), diagnostics (n_runs, n_logs, n_layers) with rank and
    effective rank from the weight snapshots (NaN at logged steps without one), first_grad_step (n_runs,
    n_layers)."""
    out = {
        "train_loss": logs.train_loss,
        "test_loss": logs.test_loss,
        "test_acc": logs.test_acc,
        "first_grad_step": first_grad_step,
        **logs.diagnostics._asdict(),
    }
    columns = np.searchsorted(
        logged_steps(cfg.steps, cfg.log_every), snapshot_steps(cfg.steps, cfg.log_every, cfg.rank_every)
    )
    # per layer: ((n_runs, n_snapshots),) * 2; snapshots (n_runs, n_snapshots, *weight shape)
    ranks = [rank_and_effective_rank(as_matrix(w, batch_dims=2)) for w in logs.weights]
    for index, name in enumerate(("rank", "effective_rank")):
        full = np.full(logs.train_loss.shape + (len(ranks),), np.nan)
        full[:, columns, :] = np.stack([r[index] for r in ranks], axis=-1)
        out[name] = full
    return out


def _wait(tree) -> None:
    """Block until every array of ``tree`` is computed, returning to Python often so Ctrl-C and SIGTERM act at
    once."""
    leaves = [leaf for leaf in jax.tree.leaves(tree) if hasattr(leaf, "is_ready")]
    while not all(leaf.is_ready() for leaf in leaves):
        time.sleep(0.02)


class GroupTrainer:
    """Trains the chunks of one group; loads its dataset and compiles its program (through ``programs``) on
    first use."""

    def __init__(self, group: GroupPlan, programs: Programs):
        self.group, self.programs, self.arrays = group, programs, None
        try:
            self.data = load_dataset(group.config.dataset)
        except ValueError as error:  # a data file deleted or damaged since the matrix was checked: one line
            raise ConfigError(str(error)) from None
        cfg = group.config
        self.shapes = weight_shapes(cfg.model, self.data.x_train.shape[1], cfg.hidden, self.data.n_outputs)

    def train(self, chunk: ChunkPlan) -> dict[str, np.ndarray]:
        """Host arrays of the chunk's first ``stop - start`` runs (``chunk_arrays``, leading axis of that
        length), with
        ``seconds`` (wall time, compilation included) and ``compile_seconds`` (scalars)."""
        cfg, tic = self.group.config, time.perf_counter()
        with precision(cfg.dtype):
            inputs = self.programs.chunk_inputs(list(chunk.runs), self.shapes, cfg.dtype)
            if self.arrays is None:
                self.arrays = jax.device_put(
                    as_dtype(Arrays(*map(np.asarray, self.data[:4])), cfg.dtype), run_sharding().shared
                )
            compiled_before = self.programs.compile_seconds
            program = self.programs.group(cfg, len(self.data.y_train), inputs, self.arrays)
            final_state, logs = program(*inputs, self.arrays)
            _wait((final_state.first_grad_step, logs))
            fetched = jax.device_get((logs, final_state.first_grad_step))  # one transfer per chunk
        n_real = chunk.stop - chunk.start
        out = chunk_arrays(*jax.tree.map(lambda v: np.asarray(v)[:n_real], fetched), cfg)
        out.update(
            seconds=np.float64(time.perf_counter() - tic),
            compile_seconds=np.float64(self.programs.compile_seconds - compiled_before),
        )
        return out


def join_group(trainer: GroupTrainer, chunks: list[dict[str, np.ndarray]]) -> GroupResult:
    """The logs of every run of a group (``GroupResult``: (n_runs, n_logs, ...) arrays) from the host arrays
    of its chunks, concatenated in chunk order."""
    joined = {
        name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0] if "seconds" not in name
    }
    group, cfg = trainer.group, trainer.group.config
    return GroupResult(
        config=cfg,
        runs=list(group.runs),
        steps=logged_steps(cfg.steps, cfg.log_every),
        **{name: joined[name] for name in ("train_loss", "test_loss", "test_acc", "first_grad_step")},
        diagnostics={name: joined[name] for name in DIAGNOSTIC_NAMES},
        n_train=len(trainer.data.y_train),
        seconds=float(sum(chunk["seconds"] for chunk in chunks)),
        compile_seconds=float(sum(chunk["compile_seconds"] for chunk in chunks)),
    )


def _walk(plan: Plan, programs: Programs, show_progress: bool):
    """(the group's trainer, chunk) for every chunk of ``plan`` in training order; a progress bar on stderr
    advances after each chunk."""
    with tqdm(total=plan.n_runs, unit="run", disable=not show_progress, dynamic_ncols=True) as progress:
        for group in plan.groups:
            progress.set_description(group.config.label())
            trainer = GroupTrainer(group, programs)  # compiles only if it trains
            for chunk in group.chunks:
                yield trainer, chunk
                progress.update(chunk.stop - chunk.start)


def train_chunks(plan: Plan, take, store: ChunkStore, programs: Programs, show_progress: bool = True) -> None:
    """Train and save every chunk of ``plan`` for which ``take(chunk)`` holds and that ``store`` does not hold
    yet."""
    for trainer, chunk in _walk(plan, programs, show_progress):
        if take(chunk) and not store.has(chunk.key):
            store.save(chunk.key, trainer.train(chunk))


def train_plan(
    plan: Plan, store: ChunkStore, programs: Programs, show_progress: bool = True
) -> list[GroupResult]:
    """Every group's logs: chunks saved in ``store`` are loaded, the others trained and saved at once
    (a group is compiled only if it trains); a progress bar goes to stderr."""
    done = []  # (the group's trainer, host arrays of the chunk) in training order
    for trainer, chunk in _walk(plan, programs, show_progress):
        saved = store.load(chunk.key)
        if saved is None:
            saved = trainer.train(chunk)
            store.save(chunk.key, saved)
        done.append((trainer, saved))
    return [
        join_group(trainer, [arrays for _, arrays in pairs])
        for trainer, pairs in itertools.groupby(done, key=lambda pair: pair[0])
    ]
