"""The benchmark workload and every way of training it, built once per session.

Workload (the one issue 4 names): MNIST-1D, MLP 40-100-100-10 tanh, SGD lr 0.01, batch 128,
``lecun_normal/zeros``, run *i* has seed *i*; metrics logged at step 0, half way and at the
end as in a real run. The CNN case (``Workload("cnn")``): the same with ``cnn_paper`` (25 channels,
kernels 5/3/3, relu) at batch 100, ``CNN_STEPS`` steps logged at step 0 and the end. Implementations of
"train N runs":

- ``vmap``: ``symjax.engine.program.group_program`` (jit(shard_map(vmap(scan))), run axis over all devices);
- ``vmap_lax``: the CNN trainer with ``lax.conv_general_dilated`` (``conv="lax"``, the formulation before
  convolutions as products);
- ``bare``: the same updates (model, optimizer, data order, steps: ``symjax.core.train.make_update``) in
  the same jit(shard_map(vmap(scan))), with no logging, evaluation or diagnostics: what the
  trainer would cost if it recorded nothing;
- ``loop``: the same runs, each by ``jax.jit(make_train(...))`` on device 0, in a Python loop
  (dispatched asynchronously, blocked once at the end: the loop's best case);
- ``loop_devices``: that loop dispatched round-robin over all local devices;
- ``torch_loop``, ``torch_vmap``, ``torch_bmm``: ``bench/torch_peers.py`` (when torch is installed); for the
  CNN, ``torch_loop`` and ``torch_vmap`` of ``bench/torch_cnn_peers.py`` (``nn.Conv1d``).

FLOPs are counted for the training steps only (6 x batch x multiply-adds per step), the same
for every implementation; symjax's logging and diagnostics are extra work it gets no credit for.
"""

from __future__ import annotations

import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from workload_shape import (
    ACTIVATION,
    BATCH_SIZE,
    CNN_ACTIVATION,
    CNN_BATCH_SIZE,
    CNN_HIDDEN,
    CNN_MODEL,
    DATASET,
    HIDDEN,
    LR,
    OPTIMIZER,
    SCHEME,  # noqa: E402,F401
    cnn_flops_per_run_step,
    flops_per_run_step,
)  # (the shape torch_peers.py shares; re-exported)

import symjax  # noqa: F401  (before jax: one CPU device per core)
from symjax.core.data import load_dataset  # noqa: E402
from symjax.core.group import GroupConfig, Run  # noqa: E402
from symjax.core.models import weight_shapes  # noqa: E402
from symjax.core.optimizers import make_optimizer  # noqa: E402
from symjax.core.train import Arrays, initial_perm, logged_steps, make_train, make_update  # noqa: E402
from symjax.engine.devices import RUN_AXIS, chunk_multiple, run_sharding  # noqa: E402
from symjax.engine.program import Programs, group_program, over_runs, seed_keys  # noqa: E402

QUICK = os.environ.get("SYMJAX_BENCH_QUICK", "").strip().lower() not in ("", "0", "false", "no")

STEPS = 40 if QUICK else 200
CNN_STEPS = 10 if QUICK else 100  # the lax formulation: ~300 run-steps/s, 100 steps of 256 runs ~90 s


def n_values(text: str | None) -> tuple[int, ...]:
    """The N list of ``test_train``: ``SYMJAX_BENCH_N`` (e.g. "1,16,256,4096", bench/device_check.sh) or the
    default."""
    if not text:
        return (1, 16) if QUICK else (1, 16, 64, 256)
    items = text.split(",")
    if not all(t.strip().isdigit() and 0 < int(t) <= 65536 for t in items):
        sys.exit(
            f"SYMJAX_BENCH_N={text!r}: allowed a comma-separated list of run counts from 1 to 65536, e.g. "
            "1,16,256"
        )
    return tuple(sorted({int(t) for t in items}))


N_VALUES = n_values(os.environ.get("SYMJAX_BENCH_N", "").strip())
LOOP_MAX_N = (
    256  # the per-run loops dispatch N programs a round: beyond this they would take most of a device run
)
SIDE_BY_SIDE_N = 16 if QUICK else 256
GEMM_SIZE = 1024 if QUICK else 2048


def config(steps: int = STEPS) -> GroupConfig:
    """The benchmark group: logs at step 0, half way and at the end."""
    return GroupConfig(DATASET, HIDDEN, ACTIVATION, OPTIMIZER, BATCH_SIZE, steps, max(steps // 2, 1))


def cnn_config(steps: int = CNN_STEPS) -> GroupConfig:
    """The CNN case's group: logs at step 0 and the end (an evaluation of all 5,000 examples costs as much as
    50 training steps)."""
    return GroupConfig(
        dataset=DATASET,
        model=CNN_MODEL,
        hidden=CNN_HIDDEN,
        activation=CNN_ACTIVATION,
        optimizer=OPTIMIZER,
        batch_size=CNN_BATCH_SIZE,
        steps=steps,
        log_every=steps,
    )


class CpuMonitor:
    """CPU used by OTHER processes while a benchmark ran, in % of the whole machine (Linux /proc)."""

    def __enter__(self):
        self.start = self._read()
        return self

    def __exit__(self, *exc):
        self.end = self._read()

    @staticmethod
    def _read():
        fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
        idle = fields[3] + fields[4]
        mine = [int(v) for v in open("/proc/self/stat").read().rsplit(")", 1)[1].split()[11:13]]
        return sum(fields), sum(fields) - idle, sum(mine)

    @property
    def other_percent(self) -> float | None:
        total, busy, mine = (b - a for a, b in zip(self.start, self.end))
        return None if total <= 0 else round(100.0 * max(busy - mine, 0) / total, 1)


def make_bare(cfg: GroupConfig, n_train: int):
    """``train(params, data_key, lr, arrays) -> final params`` of one run: the trainer's updates
    (``make_update``: same model, optimizer, data order and steps) in one ``lax.scan``, nothing logged."""
    update = make_update(cfg, n_train)

    def train(params, data_key, lr, arrays):
        optimizer = make_optimizer(cfg.optimizer, lr)

        def step(carry, index):
            params, opt_state, perm = carry
            params, opt_state, perm, _, _ = update(
                params, opt_state, perm, index, data_key, optimizer, arrays
            )
            return (params, opt_state, perm), None

        carry = (params, optimizer.init(params), initial_perm(cfg, n_train))
        return jax.lax.scan(step, carry, jnp.arange(cfg.steps, dtype=jnp.int32))[0][0]

    return train


def bare_program(cfg: GroupConfig, n_train: int):
    """``make_bare`` over the runs exactly as ``group_program`` runs the trainer (``over_runs``), jitted."""
    return jax.jit(over_runs(make_bare(cfg, n_train)))


def timed(fn):
    tic = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - tic


class Workload:
    """Data, inputs and compiled programs of one case ("mlp" or "cnn"), built once per session and cached per
    N."""

    def __init__(self, case: str = "mlp"):
        self.case = case
        self.steps, self.config = (CNN_STEPS, cnn_config) if case == "cnn" else (STEPS, config)
        cfg = self.config()
        data = load_dataset(DATASET)
        self.n_train = len(data.y_train)
        self.sizes = weight_shapes(cfg.model, data.x_train.shape[1], cfg.hidden, data.n_outputs)
        self.flops = cnn_flops_per_run_step(self.sizes) if case == "cnn" else flops_per_run_step(self.sizes)
        self.run_sharded, self.replicated, self.n_devices = run_sharding()
        self.devices = jax.local_devices()
        host = Arrays(*data[:4])
        self.arrays = jax.block_until_ready(jax.device_put(host, self.replicated))
        self.arrays_on = [jax.block_until_ready(jax.device_put(host, d)) for d in self.devices]
        self.n_logs = len(logged_steps(self.steps, cfg.log_every))
        self.compile_seconds: dict[str, float] = {}
        self._inputs = None
        self._vmap: dict[tuple, tuple] = {}
        self._single = None
        self._per_run: dict[tuple[int, bool], list] = {}

    def padded(self, n: int) -> int:
        """n rounded up to whole blocks on every device (as the runner pads a chunk)."""
        multiple = chunk_multiple(self.n_devices, n)
        return -(-n // multiple) * multiple

    def inputs(self, n: int):
        """(stacked params, data keys, lrs) of runs 0..n-1 (from one init of the largest N)."""
        if self._inputs is None:
            total = self.padded(SIDE_BY_SIDE_N if self.case == "cnn" else max(*N_VALUES, SIDE_BY_SIDE_N))
            runs = [Run(i, 0, SCHEME, i, LR) for i in range(total)]
            self._inputs = jax.block_until_ready(
                (
                    Programs().init_params(runs, self.sizes),
                    seed_keys(np.arange(total), 1),
                    jnp.full(total, LR, jnp.float32),
                )
            )
        return jax.tree.map(lambda v: v[:n], self._inputs)

    def vmap_fn(self, n: int, program=None, steps: int | None = None, name: str = "vmap"):
        """A callable training n runs in one call of the group program (compiled and warmed here)."""
        steps = steps or self.steps
        key = (name, n, steps)
        if key not in self._vmap:
            program = program or group_program(self.config(steps), self.n_train)
            inputs = jax.block_until_ready(jax.device_put(self.inputs(self.padded(n)), self.run_sharded))
            compiled, seconds = timed(lambda: program.lower(*inputs, self.arrays).compile())
            jax.block_until_ready(compiled(*inputs, self.arrays))  # warm-up, untimed
            self._vmap[key] = (compiled, inputs)
            self.compile_seconds[f"{name}{n}"] = seconds
        compiled, inputs = self._vmap[key]
        return lambda: jax.tree.map(lambda v: v[:n], jax.block_until_ready(compiled(*inputs, self.arrays)))

    def bare_fn(self, n: int):
        """A callable training n runs with the bare program (``make_bare``), compiled and warmed here."""
        return self.vmap_fn(n, bare_program(self.config(), self.n_train), name="bare")

    def lax_fn(self, n: int):
        """A callable training n runs with the trainer computing conv layers by
        ``lax.conv_general_dilated``."""
        train = make_train(self.config(), self.n_train, run_axis=RUN_AXIS, conv="lax")
        return self.vmap_fn(n, jax.jit(over_runs(train)), name="vmap_lax")

    def _single_program(self):
        if self._single is None:
            self._single = jax.jit(make_train(self.config(), self.n_train))
        return self._single

    def loop_fn(self, n: int, spread: bool):
        """A callable training n runs one by one (on device 0, or round-robin over devices if ``spread``)."""
        if (n, spread) not in self._per_run:
            params, keys, lrs = self.inputs(n)
            per_run = []
            for i in range(n):
                device = self.devices[i % self.n_devices] if spread else self.devices[0]
                one = (jax.tree.map(lambda v: v[i], params), keys[i], lrs[i])
                per_run.append((*jax.device_put(one, device), self.arrays_on[self.devices.index(device)]))
            train = self._single_program()
            for args in per_run[: self.n_devices if spread else 1]:  # compile and warm on each device used
                _, seconds = timed(lambda: jax.block_until_ready(train(*args)))
                self.compile_seconds.setdefault("loop", seconds)
            self._per_run[(n, spread)] = jax.block_until_ready(per_run)
        per_run, train = self._per_run[(n, spread)], self._single_program()
        return lambda: jax.block_until_ready([train(*args) for args in per_run])

    def torch_fn(self, impl: str, n: int):
        """A callable training n runs with a PyTorch peer (``bench/torch_peers.py``, the CNN's
        ``bench/torch_cnn_peers.py``)."""
        if self.case == "cnn":
            import torch_cnn_peers

            return getattr(torch_cnn_peers, impl)(n, self.steps)
        import torch_peers

        return getattr(torch_peers, impl)(n, self.steps)

    def train_fn(self, impl: str, n: int):
        if impl == "vmap":
            return self.vmap_fn(n)
        if impl == "bare":
            return self.bare_fn(n)
        if impl == "vmap_lax":
            return self.lax_fn(n)
        if impl in ("loop", "loop_devices"):
            return self.loop_fn(n, spread=impl == "loop_devices")
        return self.torch_fn(impl, n)


def gemm_fn(every_device: bool, size: int = GEMM_SIZE):
    """(callable, flops per call, devices used): one f32 (size x size) @ (size x size) product on device 0, or
    on every device at once, at full float32 precision as the trainer's products (no TF32 on a GPU)."""
    key = jax.random.key(0)
    pairs = [
        jax.device_put((jax.random.normal(key, (size, size)), jax.random.normal(key, (size, size))), d)
        for d in (jax.local_devices() if every_device else jax.local_devices()[:1])
    ]
    product = jax.jit(lambda a, b: jnp.matmul(a, b, precision="highest"))
    jax.block_until_ready([product(a, b) for a, b in pairs])
    return (
        (lambda: jax.block_until_ready([product(a, b) for a, b in pairs])),
        2.0 * size**3 * len(pairs),
        len(pairs),
    )


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
