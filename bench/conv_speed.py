"""The CNN trainer with convolutions as products against the same trainer with ``lax.conv_general_dilated``.

``python bench/conv_speed.py [N] [STEPS]`` compiles the group program (jit(shard_map(vmap(scan))), as
``symjax run``) of the paper matrix's CNN group (``cnn_paper``: 25 channels, kernels 5/3/3, relu, Adam
0.01, batch 100, MNIST-1D, logged every 250 steps) for N runs (default 64) and STEPS steps (default 250),
once with ``conv="products"`` (the trainer) and once with ``conv="lax"`` (the formulation before), then
times them in interleaved rounds (best of 3) and prints run-steps/s of each and their ratio, with the
largest difference of the final parameters per scheme. Run it alone: it measures time.
"""

from __future__ import annotations

import sys
import time

import jax
import numpy as np

import symjax  # noqa: F401  (before jax: one CPU device per core)
from symjax.core.data import load_dataset
from symjax.core.group import GroupConfig, Run
from symjax.core.models import weight_shapes
from symjax.core.train import Arrays, make_train
from symjax.engine.devices import run_sharding
from symjax.engine.program import RUN_AXIS, Programs, over_runs

ROUNDS = 3


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 64
    steps = int(argv[1]) if len(argv) > 1 else 250
    cfg = GroupConfig(
        dataset="mnist1d",
        model="cnn_paper",
        hidden=(25, 25, 25),
        activation="relu",
        optimizer="adam",
        batch_size=100,
        steps=steps,
        log_every=250,
    )
    data = load_dataset(cfg.dataset)
    _, replicated, _ = run_sharding()
    arrays = jax.device_put(Arrays(*data[:4]), replicated)
    runs = [Run(i, 0, "zeros/normal(1.0)" if i % 2 else "lecun_normal/zeros", i, 0.01) for i in range(n)]
    shapes = weight_shapes(cfg.model, data.x_train.shape[1], cfg.hidden, data.n_outputs)
    inputs = Programs().chunk_inputs(runs, shapes)
    programs = {}
    for conv in ("products", "lax"):
        train = make_train(cfg, len(data.y_train), run_axis=RUN_AXIS, conv=conv)
        tic = time.perf_counter()
        programs[conv] = jax.jit(over_runs(train)).lower(*inputs, arrays).compile()
        print(f"{conv}: compiled in {time.perf_counter() - tic:.1f} s", file=sys.stderr)
    times, finals = {conv: [] for conv in programs}, {}
    for r in range(ROUNDS):
        for conv in programs if r % 2 == 0 else list(programs)[::-1]:
            finals[conv] = jax.block_until_ready(programs[conv](*inputs, arrays))
            tic = time.perf_counter()
            jax.block_until_ready(programs[conv](*inputs, arrays))
            times[conv].append(time.perf_counter() - tic)
    rate = {conv: n * steps / min(t) for conv, t in times.items()}
    a, b = (jax.tree.leaves(finals[c][0].params) for c in ("products", "lax"))
    # per run: the largest difference of its final parameters (runs alternate reference, zero W)
    diff = np.max(
        [np.max(np.abs(np.asarray(x) - np.asarray(y)).reshape(n, -1), axis=1) for x, y in zip(a, b)], 0
    )
    print(
        f"cnn_paper, N={n}, {steps} steps, {jax.local_device_count()} devices: run-steps/s products "
        f"{rate['products']:,.0f}, lax {rate['lax']:,.0f}; products / lax = "
        f"{rate['products'] / rate['lax']:.2f}x; "
        f"largest final-parameter difference: lecun_normal/zeros runs {diff[::2].max():.1e}, "
        f"zeros/normal(1.0) runs {diff[1::2].max():.1e} (float32 rounding that training amplifies)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
