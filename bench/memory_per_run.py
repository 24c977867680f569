"""XLA's device memory per run against the run's outputs (params + optimizer state + logs), nothing trained.

Reproduces the memory figures of README.md (*Benchmarks*) and bench/README.md (*Where the time goes*):
``python bench/memory_per_run.py`` compiles the first chunk's program of every group of the built-in
``default`` matrix (chunk size as ``symjax run`` picks it) and the benchmark workload's program at N=16,
the latter also with its initial parameters donated (``donate_argnums=0``), and prints XLA's memory analysis.
"""

from __future__ import annotations

import jax  # noqa: E402
from workload import LR, SCHEME, config  # noqa: E402

import symjax  # noqa: F401  (before jax: one CPU device per core)
from symjax.core.data import load_dataset  # noqa: E402
from symjax.core.group import Run  # noqa: E402
from symjax.core.models import weight_shapes  # noqa: E402
from symjax.core.train import Arrays  # noqa: E402
from symjax.engine.devices import run_sharding  # noqa: E402
from symjax.engine.memory import default_budget, xla_bytes_per_run  # noqa: E402
from symjax.engine.plan import make_plan  # noqa: E402
from symjax.engine.program import Programs, group_program  # noqa: E402
from symjax.matrix.load import load_matrix  # noqa: E402

MIB = 2**20


def analyse(program, cfg, runs: list[Run], label: str) -> None:
    """Compile ``program`` for ``runs`` of group ``cfg`` and print MiB per run, outputs per run and their
    ratio."""
    data = load_dataset(cfg.dataset)
    sizes = weight_shapes(cfg.model, data.x_train.shape[1], cfg.hidden, data.n_outputs)
    arrays = jax.device_put(Arrays(*data[:4]), run_sharding().shared)
    compiled = program.lower(*Programs().chunk_inputs(runs, sizes), arrays).compile()
    memory = compiled.memory_analysis()
    total, outputs = xla_bytes_per_run(compiled, arrays, len(runs) // run_sharding().n_devices)
    print(
        f"{label:<44} {len(runs):>4} runs  {total / MIB:5.2f} MiB/run  outputs {outputs / MIB:4.2f}  ratio "
        f"{total / outputs:4.2f}×  per device: temporaries {memory.temp_size_in_bytes / 1e6:5.2f} MB, "
        f"aliased {memory.alias_size_in_bytes / 1e6:4.2f} MB"
    )


def main() -> None:
    matrix = load_matrix("default")
    for group in make_plan(matrix, run_sharding().n_devices, default_budget()).groups:
        cfg = group.config
        analyse(
            group_program(cfg, len(load_dataset(cfg.dataset).y_train)),
            cfg,
            list(group.chunks[0].runs),
            f"default: {cfg.label()}",
        )
    cfg, runs = config(), [Run(i, 0, SCHEME, i, LR) for i in range(16)]
    program = group_program(cfg, len(load_dataset(cfg.dataset).y_train))
    analyse(program, cfg, runs, "bench workload")
    analyse(jax.jit(program, donate_argnums=0), cfg, runs, "bench workload, parameters donated")


if __name__ == "__main__":
    main()
