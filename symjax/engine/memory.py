"""Memory budget of a chunk: how many runs fit at once, and the budget's default from the devices.

Data-flow stage: **plan** (groups -> chunks: ``symjax.engine.plan``, ``estimate``). A group's runs are trained
in chunks of at most ``matrix.chunk_runs`` runs and, with a memory budget (``--max-memory``),
at most as many as fit in it, by ``chunk_bytes``: an estimate that the tests hold above
XLA's own memory analysis of the compiled program. Chunking never changes a run's result
beyond float32 rounding of differently batched products (README, *Interrupting and resuming*).
"""

from __future__ import annotations

import math
import re

import jax

from symjax.core.data import load_dataset, train_size
from symjax.core.evaluation import EVAL_SLICE
from symjax.core.group import GroupConfig, minibatch_size
from symjax.core.models import output_lengths, weight_shapes
from symjax.core.optimizers import OPTIMIZER_SLOTS
from symjax.core.train import logged_steps, snapshot_steps
from symjax.core.transformer import HEADS, LAYERS_PER_BLOCK, PATCH
from symjax.engine.devices import CPU_RUNS_PER_BLOCK
from symjax.matrix.spec import ConfigError

UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 10**3,
    "kib": 2**10,
    "m": 2**20,
    "mb": 10**6,
    "mib": 2**20,
    "g": 2**30,
    "gb": 10**9,
    "gib": 2**30,
    "t": 2**40,
    "tb": 10**12,
    "tib": 2**40,
}
DEFAULT_FRACTION = 0.5  # of the memory free at start (CPU) or of the devices' limit (GPU, TPU)
FLOAT_BYTES = 4
MAX_BYTES = 2**60  # the largest --max-memory (1 EiB)


def parse_size(text: str) -> int:
    """Bytes of a size like ``8GiB``, ``500MB``, ``2g`` or ``1000000``; ValueError with what is allowed."""
    match = re.fullmatch(r"\s*([0-9]{1,30}\.?[0-9]{0,30}|\.[0-9]{1,30})\s*([a-zA-Z]{0,3})\s*", str(text))
    unit = match and match.group(2).lower()
    size = float(match.group(1)) * UNITS[unit] if match and unit in UNITS else 0.0
    if not 1 <= size <= MAX_BYTES:
        shown = str(text) if len(str(text)) <= 40 else str(text)[:37] + "..."
        raise ValueError(
            f"{shown!r} is not a memory size; allowed: a positive number with an optional unit (B, KB, MB, "
            "GB, TB, KiB, MiB, GiB, TiB, K, M, G, T), from 1 byte to 1 EiB, e.g. 8GiB"
        )
    return int(size)


def default_budget() -> int:
    """Half of what the local devices can hold: their ``bytes_limit`` (GPU, TPU) or the host's available
    memory (CPU)."""
    limits = [(d.memory_stats() or {}).get("bytes_limit") for d in jax.local_devices()]
    if all(limits):
        return int(DEFAULT_FRACTION * sum(limits))
    with open("/proc/meminfo") as meminfo:
        available = next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    return int(DEFAULT_FRACTION * available)


def _activations(shapes: list[tuple[int, ...]], n_in: int, model: str = "mlp") -> int:
    """Hidden activations plus outputs of one example (summed over layers). For the transformer: its
    residual stream at every token, once per block and once more (what the backward pass keeps; XLA fuses
    each block's other intermediates), and each block's attention probabilities (heads x tokens^2); fitted
    to XLA's memory analysis within the factor tests/test_memory.py allows."""
    if model == "transformer":
        tokens, width = n_in // PATCH, shapes[0][-1]
        blocks = (len(shapes) - 2) // LAYERS_PER_BLOCK
        return tokens * width * (blocks + 1) + blocks * HEADS * tokens**2 + shapes[-1][-1]
    return sum(length * shape[-1] for length, shape in zip(output_lengths(shapes, n_in), shapes))


def run_bytes(cfg: GroupConfig) -> tuple[float, float]:
    """(held, working) device bytes of one run of the group. Held for the whole chunk: params in and
    out, optimizer state, logs (weight snapshots, per-step metrics) and the epoch's example order.
    Working only while the run's block trains (``symjax.engine.devices.runs_per_block``): gradients,
    updates, and the activations of a minibatch (forward and backward) and of an evaluation slice."""
    data = load_dataset(cfg.dataset)
    n_in, n_train = data.x_train.shape[1], train_size(cfg.dataset)
    shapes = weight_shapes(cfg.model, n_in, cfg.hidden, data.n_outputs)
    weights = sum(math.prod(s) for s in shapes)
    params = weights + sum(s[-1] for s in shapes)
    batch = minibatch_size(cfg.batch_size, n_train)
    logs = len(snapshot_steps(cfg.steps, cfg.log_every, cfg.rank_every)) * weights + len(
        logged_steps(cfg.steps, cfg.log_every)
    ) * (3 + 4 * len(shapes))
    held = params * (2 + OPTIMIZER_SLOTS[cfg.optimizer]) + logs + n_train
    working = 2 * params + _activations(shapes, n_in, cfg.model) * (4 * batch + 3 * min(EVAL_SLICE, n_train))
    scale = FLOAT_BYTES * (2 if cfg.dtype == "float64" else 1)
    return scale * held, scale * working


def _block_limit() -> int | None:
    """Most runs of a device that train at once: a block on CPU (``symjax.engine.devices``), all of them
    elsewhere (None)."""
    return CPU_RUNS_PER_BLOCK if jax.default_backend() == "cpu" else None


def chunk_bytes(cfg: GroupConfig, n_runs: int, n_devices: int) -> float:
    """Device bytes of a chunk of ``n_runs`` runs on ``n_devices`` devices: every run's held bytes and the
    working bytes of the runs that train at once (at most a block per device; ``run_bytes``). Held above
    XLA's memory analysis of the compiled program (tests/test_memory.py)."""
    held, working = run_bytes(cfg)
    block = _block_limit()
    at_once = n_runs if block is None else min(n_runs, n_devices * block)
    return n_runs * held + at_once * working


def chunk_limit(cfg: GroupConfig, chunk_runs: int, budget: int | None, n_devices: int) -> int:
    """Most runs of the group in one chunk: ``chunk_runs``, fewer if they would not fit in ``budget`` bytes
    (``chunk_bytes``), then a multiple of ``n_devices``; a budget too small for one run per device is a
    ConfigError."""
    if budget is None:
        return chunk_runs
    held, working = run_bytes(cfg)
    if chunk_bytes(cfg, n_devices, n_devices) > budget:
        raise ConfigError(
            f"--max-memory {budget / 2**20:.0f} MiB is too small: the group {cfg.label()} needs "
            f"{chunk_bytes(cfg, n_devices, n_devices) / 2**20:.1f} MiB for one run per device ({n_devices} "
            "devices); allowed: at least that"
        )
    block = _block_limit()
    # from this many runs on, the working bytes stop growing
    full = None if block is None else n_devices * block
    if full is not None and chunk_bytes(cfg, full, n_devices) <= budget:
        fitting = int((budget - full * working) // held)
    else:
        fitting = int(budget // (held + working))
    return max(min(chunk_runs, fitting // n_devices * n_devices), 1)


def xla_bytes_per_run(compiled, shared_arrays, runs_per_device: int) -> tuple[float, float] | None:
    """(device bytes per run, output bytes per run) from XLA's memory analysis of a compiled group program
    (the program of one device): temporaries + inputs + outputs, less the shared dataset arrays and the
    donated inputs that outputs reuse (counted once); None if the backend gives no analysis. Outputs are
    the run's params, optimizer state and logs."""
    memory = compiled.memory_analysis()
    if memory is None:
        return None
    shared = sum(a.nbytes for a in jax.tree.leaves(shared_arrays))
    total = (
        memory.temp_size_in_bytes
        + memory.argument_size_in_bytes
        - shared
        + memory.output_size_in_bytes
        - memory.alias_size_in_bytes
    )
    return total / runs_per_device, memory.output_size_in_bytes / runs_per_device
