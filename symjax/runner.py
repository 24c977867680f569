"""Run a matrix: expand it into groups and chunks of runs, init, train, collect the logs.

Data-flow stage: matrix config -> **expand into groups -> init params per run -> one
jit(vmap(scan)) per group** -> store. Runs of a group are ordered (lr, scheme, seed);
a group is trained in equal-sized chunks of at most ``matrix.chunk_runs`` runs, and no more than
fit in the memory budget (``symjax.memory``), the last padded with copies, then dropped, so every
chunk reuses one compilation.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from symjax.config import GroupConfig, Matrix
from symjax.data import load_dataset
from symjax.devices import chunk_multiple, run_sharding
from symjax.diagnostics import NAMES as DIAGNOSTIC_NAMES
from symjax.diagnostics import as_matrix, rank_and_effective_rank
from symjax.initializers import parse_scheme
from symjax.memory import chunk_limit
from symjax.models import init_mlp, weight_shapes
from symjax.resume import chunk_key
from symjax.train import Arrays, Logs, compiled_group, logged_steps, snapshot_steps


@dataclass(frozen=True)
class Run:
    """One network trained once."""

    run_id: int
    group: int
    scheme: str
    seed: int
    lr: float


@dataclass
class GroupResult:
    """Logs of every run of one group, as numpy arrays."""

    config: GroupConfig
    runs: list[Run]
    steps: np.ndarray  # (n_logs,) logged steps
    train_loss: np.ndarray  # (n_runs, n_logs)
    test_loss: np.ndarray  # (n_runs, n_logs)
    test_acc: np.ndarray  # (n_runs, n_logs)
    diagnostics: dict[str, np.ndarray]  # name -> (n_runs, n_logs, n_layers), see symjax.diagnostics
    first_grad_step: np.ndarray  # (n_runs, n_layers) int, -1 where a layer's weight gradient stayed 0
    n_train: int
    seconds: float  # wall time of the group, compilation included
    compile_seconds: float


def expand(matrix: Matrix) -> list[tuple[GroupConfig, list[Run]]]:
    """Every group of the matrix with its runs (exclude rules applied), run ids numbered across the whole matrix."""
    plan, next_id = [], 0
    for index, (cfg, pairs) in enumerate(matrix.plan()):
        runs = []
        for lr, scheme in pairs:
            for seed in range(matrix.seeds):
                runs.append(Run(next_id, index, scheme, seed, lr))
                next_id += 1
        plan.append((cfg, runs))
    return plan


def seed_keys(seeds: np.ndarray, purpose: int) -> jax.Array:
    """Typed keys (n,) derived from seeds only: purpose 0 = init, 1 = minibatch order."""
    return jax.vmap(lambda s: jax.random.fold_in(jax.random.key(s), purpose))(jnp.asarray(seeds, jnp.uint32))


@functools.lru_cache(maxsize=None)
def _batched_init(scheme: str, sizes: tuple[tuple[int, int], ...]):
    """jit(vmap(init_mlp)) over a batch of keys for one scheme, compiled once per (scheme, sizes)."""
    parsed = parse_scheme(scheme)
    return jax.jit(jax.vmap(lambda key: init_mlp(key, parsed, list(sizes))))


def init_params(runs: list[Run], sizes: list[tuple[int, int]]) -> list:
    """Stacked params of ``runs`` (leading run axis), each run initialized by its scheme and seed."""
    blocks, order = [], []
    for scheme in dict.fromkeys(r.scheme for r in runs):
        positions = [i for i, r in enumerate(runs) if r.scheme == scheme]
        keys = seed_keys(np.array([runs[i].seed for i in positions]), 0)
        blocks.append(_batched_init(scheme, tuple(sizes))(keys))
        order += positions
    inverse = np.argsort(order)
    return jax.tree.map(lambda *leaves: jnp.concatenate(leaves)[inverse], *blocks)


def chunk_bounds(n_runs: int, max_chunk: int, multiple: int) -> tuple[int, list[tuple[int, int]]]:
    """(chunk size, [(start, stop), ...]): equal chunks, size a multiple of ``multiple``."""
    n_chunks = math.ceil(n_runs / max_chunk)
    size = math.ceil(math.ceil(n_runs / n_chunks) / multiple) * multiple
    return size, [(start, min(start + size, n_runs)) for start in range(0, n_runs, size)]


def padded_chunks(runs: list[Run], max_chunk: int, n_devices: int) -> tuple[int, list[tuple[int, int, list[Run]]]]:
    """(chunk size, [(start, stop, runs of the chunk padded to the size with copies of its last run), ...]);
    sizes are multiples of ``chunk_multiple(n_devices, max_chunk)``: whole blocks of runs on every device."""
    size, bounds = chunk_bounds(len(runs), max_chunk, chunk_multiple(n_devices, max_chunk))
    return size, [(start, stop, runs[start:stop] + [runs[stop - 1]] * (size - (stop - start))) for start, stop in bounds]


def chunk_arrays(logs: Logs, first_grad_step: np.ndarray, cfg: GroupConfig) -> dict[str, np.ndarray]:
    """Host arrays of one chunk: logs, diagnostics (n_runs, n_logs, n_layers) with rank and effective rank
    from the weight snapshots (NaN at logged steps without one), first_grad_step (n_runs, n_layers)."""
    out = {"train_loss": logs.train_loss, "test_loss": logs.test_loss, "test_acc": logs.test_acc,
           "first_grad_step": first_grad_step, **logs.diagnostics._asdict()}
    columns = np.searchsorted(logged_steps(cfg.steps, cfg.log_every), snapshot_steps(cfg.steps, cfg.log_every))
    # per layer: ((n_runs, n_snapshots),) * 2; snapshots (n_runs, n_snapshots, *weight shape)
    ranks = [rank_and_effective_rank(as_matrix(w, batch_dims=2)) for w in logs.weights]
    for index, name in enumerate(("rank", "effective_rank")):
        full = np.full(logs.train_loss.shape + (len(ranks),), np.nan)
        full[:, columns, :] = np.stack([r[index] for r in ranks], axis=-1)
        out[name] = full
    return out


def _wait(tree) -> None:
    """Block until every array of ``tree`` is computed, returning to Python often so Ctrl-C and SIGTERM act at once."""
    leaves = [leaf for leaf in jax.tree.leaves(tree) if hasattr(leaf, "is_ready")]
    while not all(leaf.is_ready() for leaf in leaves):
        time.sleep(0.02)


def chunk_inputs(chunk: list[Run], sizes) -> tuple:
    """(params, minibatch-order keys, learning rates) of a chunk, each with a leading run axis sharded over devices."""
    inputs = (init_params(chunk, sizes), seed_keys(np.array([r.seed for r in chunk]), 1),
              jnp.asarray([r.lr for r in chunk], jnp.float32))
    return jax.device_put(inputs, run_sharding()[0])


def train_chunk(program, cfg: GroupConfig, inputs: tuple, n_real: int, arrays: Arrays) -> dict[str, np.ndarray]:
    """Train one padded chunk of runs; host arrays of its first ``n_real`` runs (see ``chunk_arrays``)."""
    final_state, chunk_logs = program(*inputs, arrays)
    _wait((final_state.first_grad_step, chunk_logs))
    fetched = jax.device_get((chunk_logs, final_state.first_grad_step))  # one transfer per chunk
    return chunk_arrays(*jax.tree.map(lambda v: np.asarray(v)[:n_real], fetched), cfg)


def train_group(cfg: GroupConfig, runs: list[Run], max_chunk: int, progress=None, chunks=None,
                take=None) -> GroupResult | None:
    """Train all runs of one group, chunk by chunk; ``progress`` (tqdm) advances per run.

    With ``chunks`` (a ``symjax.resume.ChunkStore``) every finished chunk is saved at once and
    chunks saved earlier are loaded instead of trained; the group compiles only if it trains.
    With ``take`` (chunk position -> bool; several processes, ``symjax.distributed``) only the
    chunks it takes are trained, and None is returned (the group's results are not all here).
    """
    data = load_dataset(cfg.dataset)
    n_devices = run_sharding()[2]
    sizes = weight_shapes(cfg.model, data.x_train.shape[1], cfg.hidden, data.n_outputs)
    size, chunks_of_runs = padded_chunks(runs, max_chunk, n_devices)
    program, arrays, logs = None, None, []
    for position, (start, stop, chunk) in enumerate(chunks_of_runs):
        key = chunk_key(cfg, chunk, size, n_devices)
        if take is not None and (not take(position) or chunks.has(key)):
            if progress is not None:
                progress.update(stop - start)
            continue
        saved = chunks.load(key) if chunks is not None else None
        if saved is None:
            tic, compile_seconds, inputs = time.perf_counter(), 0.0, chunk_inputs(chunk, sizes)
            if program is None:
                program = compiled_group(cfg, len(data.y_train))
                arrays = jax.device_put(Arrays(*data[:4]), run_sharding()[1])
                compiling = time.perf_counter()
                program.lower(*inputs, arrays).compile()
                compile_seconds = time.perf_counter() - compiling
            saved = train_chunk(program, cfg, inputs, stop - start, arrays)
            saved.update(seconds=np.float64(time.perf_counter() - tic), compile_seconds=np.float64(compile_seconds))
            if chunks is not None:
                chunks.save(key, saved)
        logs.append(saved)
        if progress is not None:
            progress.update(stop - start)
    if take is not None:
        return None
    joined = {name: np.concatenate([chunk[name] for chunk in logs]) for name in logs[0] if "seconds" not in name}
    return GroupResult(
        config=cfg,
        runs=runs,
        steps=logged_steps(cfg.steps, cfg.log_every),
        **{name: joined[name] for name in ("train_loss", "test_loss", "test_acc", "first_grad_step")},
        diagnostics={name: joined[name] for name in DIAGNOSTIC_NAMES},
        n_train=len(data.y_train),
        seconds=float(sum(chunk["seconds"] for chunk in logs)),
        compile_seconds=float(sum(chunk["compile_seconds"] for chunk in logs)),
    )


def chunk_keys(matrix: Matrix, n_devices: int, budget: int | None = None) -> list[str]:
    """The content key of every chunk of the matrix, in training order (chunks within ``budget`` bytes)."""
    keys = []
    for cfg, runs in expand(matrix):
        size, chunks = padded_chunks(runs, chunk_limit(cfg, matrix.chunk_runs, budget, n_devices), n_devices)
        keys += [chunk_key(cfg, chunk, size, n_devices) for _, _, chunk in chunks]
    return keys


def train_matrix(matrix: Matrix, show_progress: bool = True, chunks=None, budget: int | None = None,
                 share=None) -> list[GroupResult]:
    """Train every group of the matrix (resuming from ``chunks`` if given), each chunk within ``budget``
    bytes of device memory (``symjax.memory``); a progress bar goes to stderr.

    With ``share`` (a ``symjax.distributed.Share`` of several processes) train and save only this
    process's share of the chunks (numbered across the matrix) and return []."""
    n_devices = run_sharding()[2]
    first = 0
    plan = expand(matrix)
    total = sum(len(runs) for _, runs in plan)
    results = []
    with tqdm(total=total, unit="run", disable=not show_progress, dynamic_ncols=True) as progress:
        for cfg, runs in plan:
            progress.set_description(f"{cfg.dataset} {cfg.model} {','.join(map(str, cfg.hidden))} {cfg.activation} {cfg.optimizer}")
            limit = chunk_limit(cfg, matrix.chunk_runs, budget, n_devices)
            take = None if share is None else (lambda position, first=first: share.mine(first + position))
            result = train_group(cfg, runs, limit, progress, chunks, take)
            first += len(chunk_bounds(len(runs), limit, chunk_multiple(n_devices, limit))[1])
            if result is not None:
                results.append(result)
    return results
