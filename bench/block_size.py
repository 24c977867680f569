"""How many runs a CPU device should vmap at once: the trainer with blocks of 1, 2, 4, 8 and all runs.

``python bench/block_size.py [CONFIG] [BLOCKS]`` compiles the group program of CONFIG (``bench``:
the benchmark workload; ``default1`` / ``default2``: the default matrix's one- and two-layer Adam
groups at 200 steps, logged every 25) for N=256 runs (128 per device on 2 devices) with
``symjax.engine.devices.CPU_RUNS_PER_BLOCK`` set to each of BLOCKS (default 1,2,4,8,128) while it is
traced, then times them in interleaved rounds (best of 3) and prints run-steps/s. 128 is one vmap
over all of a device's runs, as before blocks. Run it alone: it measures time.
"""

from __future__ import annotations

import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
from workload import Workload, config  # noqa: E402

import symjax  # noqa: F401  (before jax)
import symjax.engine.devices  # noqa: E402
from symjax.core.group import GroupConfig, Run  # noqa: E402
from symjax.core.models import weight_shapes  # noqa: E402
from symjax.engine.program import Programs, group_program  # noqa: E402

N, ROUNDS = 256, 3
CONFIGS = {
    "bench": config(),
    "default1": GroupConfig("mnist1d", (100,), "tanh", "adam", 128, 200, 25),
    "default2": GroupConfig("mnist1d", (100, 100), "relu", "adam", 128, 200, 25),
}


def main(argv: list[str]) -> None:
    cfg = CONFIGS[argv[0] if argv else "bench"]
    blocks = [int(b) for b in (argv[1] if len(argv) > 1 else "1,2,4,8,128").split(",")]
    work = Workload()
    runs = [Run(i, 0, "zeros/normal(1.0)" if i % 2 else "lecun_normal/zeros", i, 0.01) for i in range(N)]
    inputs = Programs().chunk_inputs(runs, weight_shapes("mlp", 40, cfg.hidden, 10))
    programs, saved = {}, symjax.engine.devices.CPU_RUNS_PER_BLOCK
    for block in blocks:
        symjax.engine.devices.CPU_RUNS_PER_BLOCK = block
        programs[block] = group_program(cfg, work.n_train).lower(*inputs, work.arrays).compile()
    symjax.engine.devices.CPU_RUNS_PER_BLOCK = saved
    times = {block: [] for block in blocks}
    for r in range(ROUNDS):
        for block in blocks if r % 2 == 0 else blocks[::-1]:
            jax.block_until_ready(programs[block](*inputs, work.arrays))
            tic = time.perf_counter()
            jax.block_until_ready(programs[block](*inputs, work.arrays))
            times[block].append(time.perf_counter() - tic)
    print(
        f"{argv[0] if argv else 'bench'}: N={N}, {cfg.steps} steps, {jax.local_device_count()} devices, "
        "run-steps/s "
        "by runs per block: " + ", ".join(f"{b}: {N * cfg.steps / min(t):,.0f}" for b, t in times.items())
    )


if __name__ == "__main__":
    main(sys.argv[1:])
