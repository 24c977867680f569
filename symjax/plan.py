"""The plan of a matrix before training: settings, groups (= compilations), runs, memory and time.

Data-flow stage: matrix config -> **plan** (``symjax run --dry-run``); trains nothing.
Estimates are rough: floating-point work divided by a throughput measured on this
project's 2-core CPU (``CPU_FLOPS_PER_CORE``), plus a fixed cost per scan step of a
chunk and per compilation; peak memory is that of the largest chunk.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from symjax.config import Matrix
from symjax.data import TRAIN_SIZES, load_dataset
from symjax.devices import chunk_multiple
from symjax.models import CONV_STRIDE, weight_shapes
from symjax.memory import chunk_bytes, chunk_limit
from symjax.runner import chunk_bounds
from symjax.train import logged_steps

CPU_FLOPS_PER_CORE = 40e9  # effective flop/s per core of a whole MLP training group (default and full matrices)
CONV_SLOWDOWN = 12.0  # vmapped 1-D convolutions run ~12x below that on XLA:CPU (full matrix: 2.7 TFLOP in ~370 s)
STEP_OVERHEAD_SECONDS = 40e-6  # fixed cost of one scan step of one chunk (small networks are bound by it)
COMPILE_SECONDS = 5.0  # one group's compilation, measured on the default matrix


@dataclass(frozen=True)
class GroupPlan:
    """One compiled program: its runs, chunks and costs."""

    label: str
    model: str
    settings: int  # learning rates in the group
    schemes: int
    runs: int
    chunks: int
    chunk_size: int
    flops: float  # training + evaluation, all runs
    chunk_bytes: float  # device memory of one chunk


def _forward_macs(shapes: list[tuple[int, ...]], n_in: int) -> int:
    """Multiply-adds of one forward pass of one example."""
    macs, length = 0, n_in
    for shape in shapes:
        if len(shape) == 3:  # conv: every output position applies the whole kernel
            length = math.ceil(length / CONV_STRIDE)
            macs += length * math.prod(shape)
        else:
            macs += math.prod(shape)
    return macs


def plan_matrix(matrix: Matrix, n_devices: int = 1, budget: int | None = None) -> list[GroupPlan]:
    """A GroupPlan per group of the (validated) matrix; chunks padded to whole blocks on ``n_devices`` devices,
    at most as large as fits in ``budget`` bytes (see ``symjax.memory``). Counts runs without listing them,
    so planning memory grows with the groups, not the runs."""
    plans = []
    for cfg, pairs in matrix.plan():
        n_runs = len(pairs) * matrix.seeds
        data = load_dataset(cfg.dataset)
        n_in, n_train, n_test = data.x_train.shape[1], TRAIN_SIZES[cfg.dataset], len(data.x_test)
        shapes = weight_shapes(cfg.model, n_in, cfg.hidden, data.n_outputs)
        macs = _forward_macs(shapes, n_in)
        batch = n_train if cfg.batch_size is None else cfg.batch_size
        n_logs = len(logged_steps(cfg.steps, cfg.log_every))
        flops_per_run = 2 * macs * (3 * batch * cfg.steps + (n_train + n_test) * n_logs)
        limit = chunk_limit(cfg, matrix.chunk_runs, budget, n_devices)
        size, bounds = chunk_bounds(n_runs, limit, chunk_multiple(n_devices, limit))
        label = f"{cfg.dataset} {cfg.model} {','.join(map(str, cfg.hidden))} {cfg.activation} {cfg.optimizer} batch {cfg.batch_size or 'full'}"
        plans.append(GroupPlan(label, cfg.model, len({lr for lr, _ in pairs}), len({s for _, s in pairs}), n_runs, len(bounds),
                               size, flops_per_run * n_runs, chunk_bytes(cfg, size, n_devices)))
    return plans


def estimate_seconds(plans: list[GroupPlan], steps: int, cores: int) -> float:
    """Rough wall time of training every group on a CPU with ``cores`` cores."""
    work = sum(p.flops * (CONV_SLOWDOWN if p.model == "cnn" else 1.0) for p in plans) / (CPU_FLOPS_PER_CORE * cores)
    overhead = sum(p.chunks for p in plans) * steps * STEP_OVERHEAD_SECONDS
    return work + overhead + COMPILE_SECONDS * len(plans)


def describe_plan(matrix: Matrix, n_devices: int, budget: int | None = None) -> list[str]:
    """The lines ``symjax run --dry-run`` prints (chunks within ``budget`` bytes, if given)."""
    plans = plan_matrix(matrix, n_devices, budget)
    cores = len(os.sched_getaffinity(0))
    seconds = estimate_seconds(plans, matrix.steps, cores)
    lines = [f"matrix {matrix.name}: {sum(p.settings for p in plans)} settings, {len(matrix.schemes)} schemes, "
             f"{matrix.seeds} seeds, {sum(p.runs for p in plans)} runs in {len(plans)} groups "
             f"({len(plans)} compilations), {matrix.steps} steps each"]
    lines += [f"  group {i}: {p.label}: {p.runs} runs ({p.settings} lr, {p.schemes} schemes, {matrix.seeds} seeds), "
              f"{p.chunks} chunk(s) of {p.chunk_size}, {p.flops / 1e12:.2f} TFLOP, "
              f"~{p.chunk_bytes / 2**20:.0f} MiB per chunk" for i, p in enumerate(plans, start=1)]
    limit = "" if budget is None else f" (budget {budget / 2**30:.2f} GiB)"
    lines.append(f"estimated: {sum(p.flops for p in plans) / 1e12:.1f} TFLOP, peak memory ~{max(p.chunk_bytes for p in plans) / 2**30:.2f} GiB "
                 f"per chunk{limit}, ~{seconds / 60:.0f} min on this {cores}-core CPU "
                 f"(assumes {CPU_FLOPS_PER_CORE / 1e9:.0f} GFLOP/s per core, {CONV_SLOWDOWN:.0f}x less for convolutions; "
                 "GPUs and TPUs are faster)")
    return lines
