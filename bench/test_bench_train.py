"""Throughput of the vmapped trainer against per-run loops and PyTorch, the GEMM peak, compile time; the same
for the CNN case (convolutions as products against ``lax.conv_general_dilated`` and ``nn.Conv1d``).

Data-flow stage: timings of **one jit(vmap(scan)) per group** (``symjax/core/train.py``); the
workload and implementations are in ``bench/workload.py``. Every program is compiled and
warmed outside the timer. No test asserts on timing (shared machines are noisy): they
check outputs, and record figures in ``extra_info`` (see bench/README.md), which
``symjax report`` turns into ``reports/bench.md``.
Run: ``python -m pytest bench/ --benchmark-only --benchmark-json=reports/bench.json``.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from workload import (
    CNN_STEPS,
    GEMM_SIZE,
    LOOP_MAX_N,
    N_VALUES,
    QUICK,
    SIDE_BY_SIDE_N,
    STEPS,
    CpuMonitor,
    Workload,
    config,
    gemm_fn,
    timed,
    torch_available,
)

from symjax.engine.memory import xla_bytes_per_run
from symjax.engine.program import group_program

JAX_IMPLS = ("vmap", "bare", "loop", "loop_devices")
TORCH_IMPLS = ("torch_loop", "torch_vmap", "torch_bmm")
CNN_IMPLS = ("vmap", "bare", "vmap_lax", "loop_devices")
CNN_TORCH_IMPLS = ("torch_vmap", "torch_loop")
ROUND_BUDGET_S, MAX_ROUNDS = (1.0, 3) if QUICK else (6.0, 5)
SIDE_BY_SIDE_ROUNDS = 2 if QUICK else 3
CNN_ROUNDS = 2  # a CNN round takes ~3 minutes at N=256 (the lax trainer alone ~90 s)
TORCH_LOOP_MAX_N = 16  # ~40x slower than the others: minutes per round at N=256
COMPILE_N = (16, 256)
COMPILE_STEPS = (STEPS, 4 * STEPS)
BUSY_PERCENT = 10.0  # other processes above this share of the CPU: the figure was taken on a busy machine


@pytest.fixture(scope="module")
def work() -> Workload:
    return Workload()


@pytest.fixture(scope="module")
def cnn_work() -> Workload:
    return Workload("cnn")


def machine_info(other_cpu_percent: float | None) -> dict:
    return {
        "backend": jax.default_backend(),
        "device_count": jax.device_count(),
        "jax_version": jax.__version__,
        "quick": QUICK,
        "other_cpu_percent": other_cpu_percent,
        "busy": other_cpu_percent is not None and other_cpu_percent > BUSY_PERCENT,
    }


def torch_threads(impl: str) -> dict:
    """torch's version and thread counts for a torch impl ("all threads" is part of the comparison)."""
    if impl not in TORCH_IMPLS:
        return {}
    import torch_peers

    return torch_peers.describe()


def record(benchmark, bench_summary, info: dict) -> None:
    benchmark.extra_info.update(info)
    bench_summary.append(info)


def final_losses(impl: str, out, n: int) -> np.ndarray:
    """Training loss at the last log of every run (jax impls) or of the last minibatch (torch);
    for ``bare`` (which logs nothing) the final weights' norm, a finite stand-in."""
    if impl == "bare":
        return np.sqrt(sum(np.square(layer["w"]).reshape(n, -1).sum(1) for layer in jax.device_get(out)))
    if impl in ("vmap", "vmap_lax"):
        return np.asarray(out[1].train_loss)[:, -1]
    if impl.startswith("loop"):
        return np.array([float(logs.train_loss[-1]) for _, logs in out])
    return np.asarray(out)


def rounds_for(fn) -> int:
    _, seconds = timed(fn)  # one untimed call also sizes the number of rounds
    return int(min(MAX_ROUNDS, max(1, math.ceil(ROUND_BUDGET_S / max(seconds, 1e-9)))))


@pytest.mark.parametrize("n", N_VALUES)
@pytest.mark.parametrize("impl", JAX_IMPLS + TORCH_IMPLS)
def test_train(benchmark, work, bench_summary, impl, n):
    """Train n runs for STEPS steps with one implementation."""
    if impl in TORCH_IMPLS and not torch_available():
        pytest.skip("torch is not installed (pip install -e '.[peers]')")
    if impl == "torch_loop" and n > TORCH_LOOP_MAX_N:
        pytest.skip(
            f"torch_loop is measured up to N={TORCH_LOOP_MAX_N}: its time per run-step does not depend on N"
        )
    if impl.startswith("loop") and n > LOOP_MAX_N:
        pytest.skip(f"{impl} is measured up to N={LOOP_MAX_N}: a round dispatches N programs")
    fn = work.train_fn(impl, n)
    rounds = rounds_for(fn)
    benchmark.group = f"train N={n}"
    with CpuMonitor() as monitor:
        out = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
    seconds = benchmark.stats.stats.min if benchmark.stats else float("nan")
    info = {
        "kind": "train",
        "impl": impl,
        "n_runs": n,
        "steps": STEPS,
        "rounds": rounds,
        "run_steps_per_s": n * STEPS / seconds,
        "gflop_per_s": n * STEPS * work.flops / seconds / 1e9,
        "compile_seconds": None
        if impl in TORCH_IMPLS
        else work.compile_seconds.get("loop" if impl.startswith("loop") else f"vmap{n}"),
        **machine_info(monitor.other_percent),
        **torch_threads(impl),
    }
    record(benchmark, bench_summary, info)
    losses = final_losses(impl, out, n)
    assert losses.shape == (n,) and np.isfinite(losses).all()


@pytest.mark.parametrize("every_device", [False, True], ids=["device0", "all_devices"])
def test_gemm_peak(benchmark, bench_summary, every_device):
    """The f32 GEMM throughput this machine reaches: one large product (on one device, or one per device)."""
    fn, flops, devices = gemm_fn(every_device)
    benchmark.group = "gemm"
    with CpuMonitor() as monitor:
        benchmark.pedantic(fn, rounds=rounds_for(fn) * 2, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.min if benchmark.stats else float("nan")
    info = {
        "kind": "gemm",
        "impl": "gemm",
        "shape": f"{GEMM_SIZE}^3" + (f" x {devices} devices" if every_device else ""),
        "gflop_per_s": flops / seconds / 1e9,
        **machine_info(monitor.other_percent),
    }
    record(benchmark, bench_summary, info)


def interleaved(benchmark, group: str, fns: dict, rounds: int):
    """Time every callable of ``fns`` and the GEMM probe (on device 0 and on every device) in interleaved
    rounds of one benchmark. Returns (best seconds per name, seconds per round per name, last outputs per
    impl, GEMM peak GFLOP/s, the other processes' CPU %)."""
    gemm, gemm_flops, _ = gemm_fn(every_device=False)
    gemm_all, gemm_all_flops, _ = gemm_fn(every_device=True)
    times = {name: [] for name in [*fns, "gemm", "gemm_all"]}
    outs = {}

    def one_round():
        for impl, fn in fns.items():
            outs[impl], seconds = timed(fn)
            times[impl].append(seconds)
        for name, fn in (("gemm", gemm), ("gemm_all", gemm_all)):
            times[name].append(min(timed(fn)[1] for _ in range(5)))

    benchmark.group = group
    with CpuMonitor() as monitor:
        benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=0)
    best = {name: min(values) for name, values in times.items()}
    peak = max(gemm_flops / best["gemm"], gemm_all_flops / best["gemm_all"]) / 1e9
    return best, times, outs, peak, monitor.other_percent


def test_side_by_side(benchmark, work, bench_summary):
    """Every implementation at the same N in one test, rounds interleaved; ratios of the best times."""
    n = SIDE_BY_SIDE_N
    impls = ["vmap", "bare", "loop", "loop_devices"] + (
        ["torch_vmap", "torch_bmm"] if torch_available() else []
    )
    fns = {impl: work.train_fn(impl, n) for impl in impls}
    best, times, outs, peak, other = interleaved(benchmark, "side by side", fns, SIDE_BY_SIDE_ROUNDS)
    rate = {impl: n * STEPS / best[impl] for impl in impls}
    gflops = {impl: r * work.flops / 1e9 for impl, r in rate.items()}
    torch_best = max((rate[i] for i in impls if i.startswith("torch")), default=None)
    info = {
        "kind": "side_by_side",
        "n_runs": n,
        "steps": STEPS,
        "rounds": SIDE_BY_SIDE_ROUNDS,
        "run_steps_per_s": rate,
        "gflop_per_s": gflops,
        "gemm_gflop_per_s": peak,
        "seconds_per_round": {name: values for name, values in times.items()},
        "speedup_vmap_over_bare": rate["vmap"] / rate["bare"],
        "speedup_vmap_over_loop": rate["vmap"] / rate["loop"],
        "speedup_vmap_over_loop_devices": rate["vmap"] / rate["loop_devices"],
        "speedup_vmap_over_torch": rate["vmap"] / torch_best if torch_best else None,
        "percent_of_gemm_peak": 100.0 * gflops["vmap"] / peak,
        **machine_info(other),
        **torch_threads("torch_vmap" if torch_best else "vmap"),
    }
    record(benchmark, bench_summary, info)
    reference = final_losses("vmap", outs["vmap"], n)
    for impl in ("loop", "loop_devices"):  # the same runs, trained apart: the same losses
        np.testing.assert_allclose(final_losses(impl, outs[impl], n), reference, rtol=1e-3, atol=1e-4)
    for ours, bare in zip(outs["vmap"][0].params, outs["bare"]):  # the same updates: the same final weights
        np.testing.assert_allclose(ours["w"], bare["w"], rtol=1e-4, atol=1e-6)


def test_cnn_side_by_side(benchmark, work, cnn_work, bench_summary):
    """The CNN case at the side-by-side N, rounds interleaved: the trainer (convolutions as products), its
    bare updates, the trainer with ``lax.conv_general_dilated``, the per-run loop over devices, torch's
    ``nn.Conv1d`` peers (a loop on at most ``TORCH_LOOP_MAX_N`` runs), the MLP trainer and the GEMM peak."""
    n = SIDE_BY_SIDE_N
    impls = [*CNN_IMPLS, *(CNN_TORCH_IMPLS if torch_available() else ())]
    counts = {impl: min(n, TORCH_LOOP_MAX_N) if impl == "torch_loop" else n for impl in impls}
    fns = {impl: cnn_work.train_fn(impl, counts[impl]) for impl in impls}
    fns["mlp_vmap"], counts["mlp_vmap"] = work.train_fn("vmap", n), n
    best, times, outs, peak, other = interleaved(benchmark, "cnn side by side", fns, CNN_ROUNDS)
    steps = {impl: STEPS if impl == "mlp_vmap" else CNN_STEPS for impl in fns}
    rate = {impl: counts[impl] * steps[impl] / best[impl] for impl in fns}
    gflops = {impl: r * (work if impl == "mlp_vmap" else cnn_work).flops / 1e9 for impl, r in rate.items()}
    torch_best = max((rate[i] for i in impls if i.startswith("torch")), default=None)
    info = {
        "kind": "cnn_side_by_side",
        "model": cnn_work.config().model,
        "n_runs": n,
        "steps": CNN_STEPS,
        "mlp_steps": STEPS,
        "rounds": CNN_ROUNDS,
        "run_counts": counts,
        "run_steps_per_s": rate,
        "gflop_per_s": gflops,
        "gemm_gflop_per_s": peak,
        "seconds_per_round": {name: values for name, values in times.items()},
        "speedup_vmap_over_lax": rate["vmap"] / rate["vmap_lax"],
        "speedup_vmap_over_bare": rate["vmap"] / rate["bare"],
        "speedup_vmap_over_loop_devices": rate["vmap"] / rate["loop_devices"],
        "speedup_vmap_over_torch": rate["vmap"] / torch_best if torch_best else None,
        "gflop_ratio_over_mlp": gflops["vmap"] / gflops["mlp_vmap"],
        "percent_of_gemm_peak": 100.0 * gflops["vmap"] / peak,
        **machine_info(other),
        **torch_threads("torch_vmap" if torch_best else "vmap"),
    }
    record(benchmark, bench_summary, info)
    reference = final_losses("vmap", outs["vmap"], n)
    for impl in ("vmap_lax", "loop_devices"):  # the same runs, computed apart: the same losses
        np.testing.assert_allclose(final_losses(impl, outs[impl], n), reference, rtol=1e-3, atol=1e-4)
    for ours, bare in zip(outs["vmap"][0].params, outs["bare"]):  # the same updates: the same final weights
        np.testing.assert_allclose(ours["w"], bare["w"], rtol=1e-4, atol=1e-6)
    for impl in impls:
        if impl.startswith("torch"):
            assert np.isfinite(final_losses(impl, outs[impl], counts[impl])).all()


@pytest.mark.parametrize("n,steps", [(n, STEPS) for n in COMPILE_N] + [(COMPILE_N[0], COMPILE_STEPS[1])])
def test_compile_time(benchmark, work, bench_summary, n, steps):
    """``lower(...).compile()`` from cold caches; should depend on neither N nor the number of steps.

    Also records XLA's memory analysis of the program: device bytes per run, against the
    bytes of one run's params + optimizer state + logs (its outputs)."""
    program = group_program(config(steps), work.n_train)
    specs = jax.tree.map(
        lambda v: jax.ShapeDtypeStruct((work.padded(n), *v.shape[1:]), v.dtype, sharding=work.run_sharded),
        work.inputs(1),
    )
    benchmark.group = "compile"
    with CpuMonitor() as monitor:
        compiled = benchmark.pedantic(
            lambda: program.lower(*specs, work.arrays).compile(),
            setup=jax.clear_caches,
            rounds=1 if QUICK else 2,
            iterations=1,
            warmup_rounds=0,
        )
    info = {
        "kind": "compile",
        "impl": "compile",
        "n_runs": n,
        "steps": steps,
        "compile_seconds": benchmark.stats.stats.min if benchmark.stats else float("nan"),
        **machine_info(monitor.other_percent),
    }
    measured = xla_bytes_per_run(compiled, work.arrays, work.padded(n) // work.n_devices)
    if measured is not None:
        info.update(peak_bytes_per_run=measured[0], output_bytes_per_run=measured[1])
    record(benchmark, bench_summary, info)
