"""symjax's group program with its training-step scan unrolled 1, 2 and 4 times: speed, and whether results
change.

Reproduces the unroll figures of bench/README.md (*Where the time goes*): ``python bench/scan_unroll.py``
compiles the benchmark workload's program (N=256, 200 steps) once per unroll factor (timed), times the
programs in interleaved rounds (best of 4 calls each), and says whether each one's outputs are bitwise those
of unroll=1.
"""

from __future__ import annotations

import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from workload import STEPS, Workload, config  # noqa: E402

import symjax  # noqa: F401  (before jax: one CPU device per core)
from symjax.engine.program import group_program  # noqa: E402

jax.config.update("jax_enable_compilation_cache", False)  # compile times are printed
N, ROUNDS, UNROLLS = 256, 4, (1, 2, 4)
_SCAN = jax.lax.scan


def training_steps_unrolled(unroll: int):
    """``jax.lax.scan`` that unrolls the scan over training steps (``train.one_step``) and no other."""

    def scan(f, *args, **kwargs):
        if f.__name__ == "one_step":
            kwargs["unroll"] = unroll
        return _SCAN(f, *args, **kwargs)

    return scan


def compile_unrolled(work: Workload, inputs, unroll: int):
    """(compiled program, compile seconds) with the training steps unrolled ``unroll`` times."""
    jax.lax.scan = training_steps_unrolled(unroll)  # symjax.core.train looks jax.lax.scan up while tracing
    try:
        tic = time.perf_counter()
        return group_program(config(), work.n_train).lower(
            *inputs, work.arrays
        ).compile(), time.perf_counter() - tic
    finally:
        jax.lax.scan = _SCAN


def main() -> None:
    work = Workload()
    inputs = jax.device_put(work.inputs(N), work.run_sharded)
    compiled = {unroll: compile_unrolled(work, inputs, unroll) for unroll in UNROLLS}
    programs = {unroll: program for unroll, (program, _) in compiled.items()}
    outputs = {
        unroll: jax.device_get(program(*inputs, work.arrays)) for unroll, program in programs.items()
    }  # warm-up
    best = dict.fromkeys(UNROLLS, float("inf"))
    for _ in range(ROUNDS):
        for unroll, program in programs.items():
            tic = time.perf_counter()
            jax.block_until_ready(program(*inputs, work.arrays))
            best[unroll] = min(best[unroll], time.perf_counter() - tic)
    reference = jax.tree.leaves(outputs[UNROLLS[0]])
    for unroll in UNROLLS:
        same = all(
            np.array_equal(a, b, equal_nan=True) for a, b in zip(reference, jax.tree.leaves(outputs[unroll]))
        )
        print(
            f"unroll={unroll}: {N * STEPS / best[unroll]:,.0f} run-steps/s (best of {ROUNDS}), compiled in "
            f"{compiled[unroll][1]:.1f} s; outputs {'bitwise equal to' if same else 'differ from'} "
            f"unroll={UNROLLS[0]}'s"
        )


if __name__ == "__main__":
    main()
