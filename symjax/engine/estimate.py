"""What a plan will cost before training: settings, groups (= compilations), runs, memory and time.

Data-flow stage: matrix -> **plan**, described (``symjax run --dry-run``); trains nothing.
Estimates are rough: floating-point work divided by a throughput measured on this
project's 2-core CPU (``CPU_FLOPS_PER_CORE``), plus a fixed cost per scan step of a
chunk and per compilation; peak memory is that of the largest chunk.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from symjax.core.data import load_dataset, train_size
from symjax.core.group import minibatch_size
from symjax.core.models import CNN_MODELS, output_lengths, weight_shapes
from symjax.core.train import logged_steps
from symjax.core.transformer import transformer_macs
from symjax.engine.memory import chunk_bytes
from symjax.engine.plan import Plan
from symjax.matrix.spec import Matrix

CPU_FLOPS_PER_CORE = (
    40e9  # effective flop/s per core of a whole MLP training group (default and full matrices)
)
CONV_SLOWDOWN = (  # convolutions as products (symjax.core.models.conv1d) run ~2.1x below an MLP's rate
    2.1  # (results/paper/config.json: the cnn_paper group, 4.91 TFLOP in 136.4 s on 2 cores)
)
FLOAT64_SLOWDOWN = (
    2.7  # a float64 group against its float32 twin (results/float64/config.json: 240.6 s and 88.3 s)
)
STEP_OVERHEAD_SECONDS = 40e-6  # fixed cost of one scan step of one chunk (small networks are bound by it)
COMPILE_SECONDS = 5.0  # one group's compilation, measured on the default matrix


@dataclass(frozen=True)
class GroupCost:
    """One compiled program of a plan: its size and costs."""

    label: str
    model: str
    dtype: str
    settings: int  # learning rates in the group
    schemes: int
    runs: int
    chunks: int
    chunk_size: int
    flops: float  # training + evaluation, all runs
    chunk_bytes: float  # device memory of one chunk


def _forward_macs(shapes: list[tuple[int, ...]], n_in: int) -> int:
    """Multiply-adds of one forward pass of one example (a conv layer applies its kernel at every output
    position)."""
    return sum(length * math.prod(shape) for length, shape in zip(output_lengths(shapes, n_in), shapes))


def group_costs(plan: Plan) -> list[GroupCost]:
    """A GroupCost per group of ``plan`` (``symjax.engine.plan.make_plan``)."""
    costs = []
    for group in plan.groups:
        cfg, n_runs = group.config, len(group.runs)
        data = load_dataset(cfg.dataset)
        n_in, n_train, n_test = data.x_train.shape[1], train_size(cfg.dataset), len(data.x_test)
        if cfg.model == "transformer":
            macs = transformer_macs(n_in, cfg.hidden, data.n_outputs)
        else:
            macs = _forward_macs(weight_shapes(cfg.model, n_in, cfg.hidden, data.n_outputs), n_in)
        n_logs = len(logged_steps(cfg.steps, cfg.log_every))
        flops_per_run = (
            2 * macs * (3 * minibatch_size(cfg.batch_size, n_train) * cfg.steps + (n_train + n_test) * n_logs)
        )
        costs.append(
            GroupCost(
                cfg.label(batch=True),
                cfg.model,
                cfg.dtype,
                len({r.lr for r in group.runs}),
                len({r.scheme for r in group.runs}),
                n_runs,
                len(group.chunks),
                group.chunk_size,
                flops_per_run * n_runs,
                chunk_bytes(cfg, group.chunk_size, plan.n_devices),
            )
        )
    return costs


def group_seconds(p: GroupCost, steps: int, cores: int) -> float:
    """Rough wall time of training one group (its compilation included) on a CPU with ``cores`` cores."""
    slowdown = (CONV_SLOWDOWN if p.model in CNN_MODELS else 1.0) * (
        FLOAT64_SLOWDOWN if p.dtype == "float64" else 1.0
    )
    work = p.flops * slowdown / (CPU_FLOPS_PER_CORE * cores)
    return work + p.chunks * steps * STEP_OVERHEAD_SECONDS + COMPILE_SECONDS


def estimate_seconds(plans: list[GroupCost], steps: int, cores: int) -> float:
    """Rough wall time of training every group on a CPU with ``cores`` cores."""
    return sum(group_seconds(p, steps, cores) for p in plans)


def describe_plan(matrix: Matrix, plan: Plan, budget: int | None = None) -> list[str]:
    """The lines ``symjax run --dry-run`` prints for ``plan``, the plan of ``matrix`` (chunks within
    ``budget`` bytes)."""
    plans = group_costs(plan)
    cores = len(os.sched_getaffinity(0))
    seconds = estimate_seconds(plans, matrix.steps, cores)
    lines = [
        f"matrix {matrix.name}: {sum(p.settings for p in plans)} settings, {len(matrix.schemes)} schemes, "
        f"{matrix.seeds} seeds, {sum(p.runs for p in plans)} runs in {len(plans)} groups ({len(plans)} "
        f"compilations), {matrix.steps} steps each"
    ]
    lines += [
        f"  group {i}: {p.label}: {p.runs} runs ({p.settings} lr, {p.schemes} schemes, {matrix.seeds} "
        f"seeds), {p.chunks} chunk(s) of {p.chunk_size}, {p.flops / 1e12:.2f} TFLOP, "
        f"~{p.chunk_bytes / 2**20:.0f} MiB per chunk, ~{group_seconds(p, matrix.steps, cores):.0f} s"
        for i, p in enumerate(plans, start=1)
    ]
    limit = "" if budget is None else f" (budget {budget / 2**30:.2f} GiB)"
    lines.append(
        f"estimated: {sum(p.flops for p in plans) / 1e12:.1f} TFLOP, peak memory "
        f"~{max(p.chunk_bytes for p in plans) / 2**30:.2f} GiB per chunk{limit}, ~{seconds / 60:.0f} min on "
        f"this {cores}-core CPU (assumes {CPU_FLOPS_PER_CORE / 1e9:.0f} GFLOP/s per core, "
        f"{CONV_SLOWDOWN:g}x less for convolutions, {FLOAT64_SLOWDOWN:g}x for float64; GPUs and TPUs are "
        "faster)"
    )
    return lines
