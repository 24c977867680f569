"""Devices: one CPU device per core (so the run axis uses every core), sharding of the run axis.

Data-flow stage: used by **train** to place a chunk of runs across all local devices.
On CPU, XLA exposes one device for the whole host by default and a vmapped group then
runs on one core; ``use_all_cpu_cores`` asks for one host device per core through
``XLA_FLAGS`` before JAX starts. Set ``SYMJAX_CPU_DEVICES=N`` to choose N yourself, or
put ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS`` (then it is left alone).
GPU and TPU devices are used as they are.
"""

from __future__ import annotations

import os

_FLAG = "--xla_force_host_platform_device_count"


def use_all_cpu_cores() -> None:
    """Set XLA_FLAGS so the CPU backend has one device per core; a no-op once jax has started."""
    flags = os.environ.get("XLA_FLAGS", "")
    if _FLAG in flags:
        return
    count = int(os.environ.get("SYMJAX_CPU_DEVICES", 0)) or len(os.sched_getaffinity(0))
    os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}={count}".strip()


def run_mesh():
    """A 1-D mesh named ``runs`` over all local devices."""
    import jax
    import numpy as np
    from jax.sharding import Mesh

    return Mesh(np.array(jax.local_devices()), ("runs",))


def run_sharding():
    """(sharding of arrays with a leading run axis, sharding of shared arrays, device count)."""
    from jax.sharding import NamedSharding, PartitionSpec

    mesh = run_mesh()
    return NamedSharding(mesh, PartitionSpec("runs")), NamedSharding(mesh, PartitionSpec()), mesh.size
