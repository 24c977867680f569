"""The benchmark workload's shape and FLOP count, shared by both sides of the comparison.

``workload.py`` (the JAX implementations) and ``torch_peers.py`` (the PyTorch peers) import this
module; it imports neither of them, nor jax, nor torch, so imports flow one way:
``workload`` -> ``torch_peers`` -> ``workload_shape`` (and ``workload`` -> ``workload_shape``).
``bench/test_bench_train.py`` checks that ``SIZES`` is what ``symjax.core.models.layer_sizes`` makes of it,
and ``CNN_SHAPES`` / ``CNN_LENGTHS`` what ``weight_shapes`` / ``output_lengths`` make of the CNN case.
"""

from __future__ import annotations

import math

DATASET, HIDDEN, ACTIVATION, OPTIMIZER, BATCH_SIZE, LR = "mnist1d", (100, 100), "tanh", "sgd", 128, 0.01
SCHEME = "lecun_normal/zeros"
N_FEATURES, N_CLASSES = 40, 10  # MNIST-1D
SIZES = tuple(zip((N_FEATURES, *HIDDEN), (*HIDDEN, N_CLASSES)))  # (fan_in, fan_out) per layer: 40-100-100-10


def flops_per_run_step(sizes=SIZES, batch: int = BATCH_SIZE) -> int:
    """Matmul FLOPs of one training step of one run: 6 x batch x sum(fan_in x fan_out)
    (forward 2, backward 4: input and weight gradients). 40-100-100-10, batch 128: 11,520,000."""
    return 6 * batch * sum(a * b for a, b in sizes)


# The CNN case (issue: convolutions at the machine's speed): the paper matrix's cnn_paper (3 conv layers of 25
# channels, kernels 5/3/3, stride 2, "SAME" padding, relu, dense readout) trained with SGD at batch 100.
CNN_MODEL, CNN_HIDDEN, CNN_ACTIVATION, CNN_BATCH_SIZE = "cnn_paper", (25, 25, 25), "relu", 100
CNN_SHAPES = ((5, 1, 25), (3, 25, 25), (3, 25, 25), (125, 10))  # weights: (k, c_in, c_out), readout last
CNN_LENGTHS = (20, 10, 5, 1)  # output positions per example of each layer (40 -> 20 -> 10 -> 5; readout 1)


def cnn_flops_per_run_step(shapes=CNN_SHAPES, lengths=CNN_LENGTHS, batch: int = CNN_BATCH_SIZE) -> int:
    """Multiply-add FLOPs of one training step of one CNN run, counted as for the MLP: 6 x batch x the
    forward multiply-adds of one example (a conv layer's kernel at each of its output positions), padding
    and patch copies not counted. cnn_paper, batch 100: 6 x 100 x 31,875 = 19,125,000."""
    return 6 * batch * sum(length * math.prod(shape) for shape, length in zip(shapes, lengths))
