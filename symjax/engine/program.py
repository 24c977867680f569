"""The compiled programs of a group: its training program over all runs, its init programs, their inputs.

Data-flow stage: plan -> **init** (``Programs.init_params``) -> **train** (one compiled program per
group, its chunks trained by ``symjax.engine.runner``) -> store. ``group_program`` is
``jit(shard_map(vmap(train)))`` of ``symjax.core.train.make_train``: the run axis is split
over the local devices, and each device trains its runs a block at a time. ``Programs``
holds the compiled programs of one caller (``run_matrix`` makes one per call), so a group
is compiled once however many chunks it has, counts what it compiled, and lets the programs
go with it.

Keep LAPACK calls (SVD, eigh, QR) out of these programs: with several CPU devices running
one at once, XLA:CPU deadlocked (jaxlib 0.10.2); ranks are computed on the host instead.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from symjax.core.group import GroupConfig, Run
from symjax.core.models import init_mlp
from symjax.core.schemes import parse_scheme
from symjax.core.train import Arrays, as_dtype, make_train
from symjax.engine.devices import RUN_AXIS, run_mesh, run_sharding, runs_per_block


def over_runs(per_run):
    """``shard_map`` over the local devices of ``per_run(params, data_key, lr, arrays)`` vmapped over a
    leading run axis of its first three arguments (``arrays`` shared); returns the unjitted function.

    Each device trains its slice of the runs with no communication at all (runs are independent),
    ``runs_per_block`` runs at a time (``vmap`` with axis name ``RUN_AXIS``), its blocks one after
    another in ``lax.map``. The run count must be a multiple of the device count. ``check_vma=False``: with
    the check on, ``lax.scan`` refuses carries that start as constants (the initial training state's
    NaN gradient norms, the -1 first-gradient steps) and come back varying over the device axis (a TypeError,
    "carry input and carry output must have equal types"); no value is ever shared across devices.
    """
    vmapped = jax.vmap(per_run, in_axes=(0, 0, 0, None), axis_name=RUN_AXIS)

    def per_device(params, data_key, lr, arrays):
        n = data_key.shape[0]
        block = runs_per_block(n)
        if block == n:
            return vmapped(params, data_key, lr, arrays)
        blocks = jax.tree.map(lambda v: v.reshape(n // block, block, *v.shape[1:]), (params, data_key, lr))
        out = jax.lax.map(lambda args: vmapped(*args, arrays), blocks)
        return jax.tree.map(lambda v: v.reshape(n, *v.shape[2:]), out)

    runs, shared = PartitionSpec(RUN_AXIS), PartitionSpec()
    return jax.shard_map(
        per_device, mesh=run_mesh(), in_specs=(runs, runs, runs, shared), out_specs=runs, check_vma=False
    )


def group_program(cfg: GroupConfig, n_train: int):
    """``jit(over_runs(train))``: the group's runs along a leading axis of (params, data_key, lr), arrays
    shared. A new jitted function each call: hold it (or use ``Programs``) to compile it once."""
    return jax.jit(over_runs(make_train(cfg, n_train, run_axis=RUN_AXIS)))


def seed_keys(seeds: np.ndarray, purpose: int) -> jax.Array:
    """Typed keys (n,) derived from seeds (n,) only: purpose 0 = init, 1 = minibatch order."""
    return jax.vmap(lambda s: jax.random.fold_in(jax.random.key(s), purpose))(jnp.asarray(seeds, jnp.uint32))


class Programs:
    """The compiled programs of one caller, built on first use and dropped with the object.

    ``compilations`` counts the group programs this object compiled; ``compile_seconds`` their time.
    """

    def __init__(self):
        self.compilations = 0
        self.compile_seconds = 0.0
        self._groups: dict[GroupConfig, jax.stages.Compiled] = {}
        self._inits: dict[tuple, object] = {}

    def group(self, cfg: GroupConfig, n_train: int, inputs: tuple, arrays: Arrays) -> jax.stages.Compiled:
        """The group's compiled program for chunks shaped and placed like ``inputs`` ((params, keys, lrs),
        see ``chunk_inputs``); compiled at the first call for ``cfg``, the same object afterwards."""
        if cfg not in self._groups:
            tic = time.perf_counter()
            self._groups[cfg] = group_program(cfg, n_train).lower(*inputs, arrays).compile()
            self.compile_seconds += time.perf_counter() - tic
            self.compilations += 1
        return self._groups[cfg]

    def init(self, scheme: str, shapes: tuple[tuple[int, ...], ...]):
        """``jit(vmap(init_mlp))`` for one scheme and weight shapes: keys (n,) -> params with a leading (n,)
        run axis."""
        if (scheme, shapes) not in self._inits:
            parsed = parse_scheme(scheme)
            self._inits[scheme, shapes] = jax.jit(jax.vmap(lambda key: init_mlp(key, parsed, list(shapes))))
        return self._inits[scheme, shapes]

    def init_params(self, runs: list[Run], shapes: list[tuple[int, ...]]) -> list:
        """Stacked params of ``runs`` (leading run axis (n_runs,)), each run initialized by its scheme and
        seed."""
        blocks, order = [], []
        for scheme in dict.fromkeys(r.scheme for r in runs):
            positions = [i for i, r in enumerate(runs) if r.scheme == scheme]
            keys = seed_keys(np.array([runs[i].seed for i in positions]), 0)
            blocks.append(self.init(scheme, tuple(shapes))(keys))
            order += positions
        inverse = np.argsort(order)
        return jax.tree.map(lambda *leaves: jnp.concatenate(leaves)[inverse], *blocks)

    def chunk_inputs(self, chunk: list[Run], shapes: list[tuple[int, ...]], dtype: str = "float32") -> tuple:
        """(params, minibatch-order keys (n_runs,), learning rates (n_runs,)) of a chunk, each with a leading
        run axis sharded over the devices (``run_sharding``). Params are drawn in float32 and then cast to
        ``dtype``,
        so a float64 run starts from exactly the weights of its float32 twin; call inside
        ``precision(dtype)``."""
        inputs = (
            as_dtype(self.init_params(chunk, shapes), dtype),
            seed_keys(np.array([r.seed for r in chunk]), 1),
            jnp.asarray([r.lr for r in chunk], dtype),
        )
        return jax.device_put(inputs, run_sharding().runs)
