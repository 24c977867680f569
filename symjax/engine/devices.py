"""Devices: one CPU device per core (so the run axis uses every core), sharding of the run axis.

Data-flow stage: **plan** (chunk sizes: ``chunk_multiple``) and **train** (a chunk's runs placed across
all local devices). On CPU, XLA exposes one device for the whole host by default and a vmapped group then
runs on one core; ``use_all_cpu_cores`` asks for one host device per core through
``XLA_FLAGS`` before JAX starts. Set ``SYMJAX_CPU_DEVICES=N`` to choose N yourself, or
put ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS`` (then it is left alone).
GPU and TPU devices are used as they are.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

RUN_AXIS = "runs"  # the run axis: the mesh axis over devices, and the vmap axis of a device's block of runs
CPU_RUNS_PER_BLOCK = (
    4  # runs of a CPU device vmapped together; its blocks follow one another (bench/README.md)
)
_FLAG = "--xla_force_host_platform_device_count"


def use_all_cpu_cores() -> None:
    """Set XLA_FLAGS so the CPU backend has one device per core; a no-op once jax has started."""
    flags = os.environ.get("XLA_FLAGS", "")
    if _FLAG in flags:
        return
    count = int(os.environ.get("SYMJAX_CPU_DEVICES", 0)) or len(os.sched_getaffinity(0))
    os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}={count}".strip()


def runs_per_block(runs_per_device: int) -> int:
    """How many of a device's runs are vmapped together. On CPU, small blocks whose working set stays
    in the core's cache (``CPU_RUNS_PER_BLOCK``, or the largest divisor of ``runs_per_device`` up to it:
    measured 1.2-1.3x faster than one vmap over 128 runs); on GPU and TPU all of them at once."""
    import jax

    return (
        math.gcd(runs_per_device, CPU_RUNS_PER_BLOCK) if jax.default_backend() == "cpu" else runs_per_device
    )


def chunk_multiple(n_devices: int, max_chunk: int) -> int:
    """Chunk sizes are multiples of this: the device count times a whole block of runs (``runs_per_block``),
    a smaller block where chunks of at most ``max_chunk`` runs cannot hold a full one."""
    import jax

    block = CPU_RUNS_PER_BLOCK if jax.default_backend() == "cpu" else 1
    return n_devices * max(1, min(block, max_chunk // n_devices))


def run_mesh():
    """A 1-D mesh over all local devices, its axis named ``RUN_AXIS``."""
    import jax
    import numpy as np
    from jax.sharding import Mesh

    return Mesh(np.array(jax.local_devices()), (RUN_AXIS,))


class RunSharding(NamedTuple):
    """Where a chunk's arrays live on the local devices."""

    runs: object  # NamedSharding of arrays with a leading run axis, split over the devices
    shared: object  # NamedSharding of arrays every device holds whole (the dataset)
    n_devices: int


def run_sharding() -> RunSharding:
    """The shardings of a chunk's arrays over the ``run_mesh`` of all local devices."""
    from jax.sharding import NamedSharding, PartitionSpec

    mesh = run_mesh()
    return RunSharding(
        NamedSharding(mesh, PartitionSpec(RUN_AXIS)), NamedSharding(mesh, PartitionSpec()), mesh.size
    )
