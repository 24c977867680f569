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
TRANSFORMER_SLOWDOWN = 2.3  # results/modern/config.json: the transformer group, 950 s against 415 estimated
MODEL_SLOWDOWN = {**dict.fromkeys(CNN_MODELS, CONV_SLOWDOWN), "transformer": TRANSFORMER_SLOWDOWN}
NORM_SLOWDOWN = 1.4  # LayerNorm or BatchNorm after every hidden layer (results/modern: 153-193 s against
# 121-179 s for the same resmlp groups without)
FLOAT64_SLOWDOWN = (
    2.7  # a float64 group against its float32 twin (results/float64/config.json: 240.6 s and 88.3 s)
)
STEP_OVERHEAD_SECONDS = 40e-6  # fixed cost of one scan step of one chunk (small networks are bound by it)
COMPILE_SECONDS = 5.0  # one group's compilation, measured on the default matrix
INIT_COMPILE_SECONDS = 2.5  # compiling one scheme's initializer for weight shapes no earlier group had: the
# first group of each architecture in results/full/config.json took 20-50 s (12 schemes) more than the next


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
    new_inits: int = 0  # (scheme, weight shapes) pairs whose initializer no earlier group compiled
    norm: str = "none"


def _forward_macs(shapes: list[tuple[int, ...]], n_in: int) -> int:
    """Multiply-adds of one forward pass of one example (a conv layer applies its kernel at every output
    position)."""
    return sum(length * math.prod(shape) for length, shape in zip(output_lengths(shapes, n_in), shapes))


def group_costs(plan: Plan) -> list[GroupCost]:
    """A GroupCost per group of ``plan`` (``symjax.engine.plan.make_plan``)."""
    costs, inits = [], set()
    for group in plan.groups:
        cfg, n_runs = group.config, len(group.runs)
        data = load_dataset(cfg.dataset)
        n_in, n_train, n_test = data.x_train.shape[1], train_size(cfg.dataset), len(data.x_test)
        shapes = tuple(weight_shapes(cfg.model, n_in, cfg.hidden, data.n_outputs))
        new_inits = {(r.scheme, shapes) for r in group.runs} - inits
        inits |= new_inits
        if cfg.model == "transformer":
            macs = transformer_macs(n_in, cfg.hidden, data.n_outputs)
        else:
            macs = _forward_macs(list(shapes), n_in)
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
                len(new_inits),
                cfg.norm,
            )
        )
    return costs


def group_seconds(p: GroupCost, steps: int, cores: int) -> float:
    """Rough wall time of training one group (its compilation included) on a CPU with ``cores`` cores."""
    slowdown = (
        MODEL_SLOWDOWN.get(p.model, 1.0)
        * (NORM_SLOWDOWN if p.norm != "none" else 1.0)
        * (FLOAT64_SLOWDOWN if p.dtype == "float64" else 1.0)
    )
    work = p.flops * slowdown / (CPU_FLOPS_PER_CORE * cores)
    compiling = COMPILE_SECONDS + p.new_inits * INIT_COMPILE_SECONDS
    return work + p.chunks * steps * STEP_OVERHEAD_SECONDS + compiling


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
        f"{CONV_SLOWDOWN:g}x less for convolutions, {TRANSFORMER_SLOWDOWN:g}x for the transformer, "
        f"{NORM_SLOWDOWN:g}x with a norm, {FLOAT64_SLOWDOWN:g}x for float64; GPUs and TPUs are "
        "faster)"
    )
    return lines
