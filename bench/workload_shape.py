"""The benchmark workload's shape and FLOP count, shared by both sides of the comparison.

``workload.py`` (the JAX implementations) and ``torch_peers.py`` (the PyTorch peers) import this
module; it imports neither of them, nor jax, nor torch, so imports flow one way:
``workload`` -> ``torch_peers`` -> ``workload_shape`` (and ``workload`` -> ``workload_shape``).
``bench/test_bench_train.py`` checks that ``SIZES`` is what ``symjax.core.models.layer_sizes`` makes of it.
"""

from __future__ import annotations

DATASET, HIDDEN, ACTIVATION, OPTIMIZER, BATCH_SIZE, LR = "mnist1d", (100, 100), "tanh", "sgd", 128, 0.01
SCHEME = "lecun_normal/zeros"
N_FEATURES, N_CLASSES = 40, 10  # MNIST-1D
SIZES = tuple(zip((N_FEATURES, *HIDDEN), (*HIDDEN, N_CLASSES)))  # (fan_in, fan_out) per layer: 40-100-100-10


def flops_per_run_step(sizes=SIZES, batch: int = BATCH_SIZE) -> int:
    """Matmul FLOPs of one training step of one run: 6 x batch x sum(fan_in x fan_out)
    (forward 2, backward 4: input and weight gradients). 40-100-100-10, batch 128: 11,520,000."""
    return 6 * batch * sum(a * b for a, b in sizes)
