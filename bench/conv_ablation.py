"""Where the CNN case's time goes: its update and its parts, side by side in one process.

``python bench/conv_ablation.py [N] [ROUNDS]`` (default N=256, 3 rounds) builds the benchmark's CNN case
(``Workload("cnn")``: ``cnn_paper``, SGD, batch 100, ``CNN_STEPS`` steps), and programs that each run one
part of its work for the same runs and steps, over the runs exactly as the trainer (``over_runs``: the run
axis sharded over the devices, blocks of runs vmapped):

- ``trainer``: the group program (logging and evaluation included);
- ``bare``: the updates alone (``bench/workload.py``'s ``bare``);
- ``conv layers, forward + backward``: the gradient of the three conv layers' summed output with respect to
  their kernels on one minibatch (no readout, loss or optimizer);
- ``conv products only``: the three matrix products per conv layer that the update runs (forward, input
  gradient, kernel gradient) on patch matrices of the same shapes, with no slicing, padding or concatenation;
- ``patches only``: the slicing and concatenation into patches (and their gradient), with no products;
- ``dense products of the same FLOPs``: one (batch, 125) @ (125, 245) dense layer's three products per
  step, whose multiply-adds equal the conv layers' (a product shape an MLP has).

Prints run-steps/s and GFLOP/s of each (FLOPs of the whole update: ``cnn_flops_per_run_step``; the parts get
the same count, so their GFLOP/s say how fast the update would be if that part were all of it). Run it
alone: it measures time.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
from workload import CNN_STEPS, Workload, bare_program

from symjax.core.models import conv1d
from symjax.engine.program import group_program, over_runs

ROUNDS = 3


def scanned(step_fn):
    """``per_run(params, data_key, lr, arrays)`` running ``step_fn(params, x, flat) -> params`` CNN_STEPS
    times on the first minibatch x (100, 40, 1) of the training set; ``flat``: the training inputs as one
    vector (real data to cut product operands from). The carry keeps every step's work live."""

    def per_run(params, data_key, lr, arrays):
        x, flat = arrays.x_train[:100, :, None], arrays.x_train.reshape(-1)

        def body(carry, _):
            return step_fn(carry, x, flat), None

        return jax.lax.scan(body, params, None, length=CNN_STEPS)[0]

    return per_run


def conv_stack(params, x):
    """The three conv layers (relu) of cnn_paper: (batch, positions, channels)."""
    h = x
    for layer in params[:-1]:
        h = jax.nn.relu(conv1d(h, layer["w"]) + layer["b"])
    return h


def _descend(params, grads):
    return jax.tree.map(lambda p, g: p - 1e-6 * g, params, grads)


def conv_layers_step(params, x, flat):
    return _descend(params, jax.grad(lambda p: conv_stack(p, x).sum())(params))


def products_step(params, x, flat):
    """The conv layers' three products each (patches (100 * positions, k * c_in) from real data)."""
    out, length = [], x.shape[1]
    for layer in params[:-1]:
        k, c_in, c_out = layer["w"].shape
        length = -(-length // 2)
        w = layer["w"].reshape(k * c_in, c_out)
        patches = flat[: 100 * length * k * c_in].reshape(100 * length, k * c_in) + w[0, 0]
        z = patches @ w  # forward
        d_w = patches.T @ z  # kernel gradient
        d_patches = z @ w.T  # input gradient
        out.append(layer | {"w": layer["w"] - 1e-6 * (d_w.reshape(layer["w"].shape) + d_patches.sum())})
    return [*out, params[-1]]


def patches_step(params, x, flat):
    """Slicing and concatenation into patches and their gradient; a 1-tap channel map in place of products."""

    def patches_only(p):
        h, total = x, 0.0
        for layer in p[:-1]:
            k, c_in, c_out = layer["w"].shape
            out = -(-h.shape[1] // 2)
            total_pad = max((out - 1) * 2 + k - h.shape[1], 0)
            padded = jnp.pad(h, [(0, 0), (total_pad // 2, total_pad - total_pad // 2), (0, 0)])
            taps = [jax.lax.slice_in_dim(padded, j, j + (out - 1) * 2 + 1, 2, 1) for j in range(k)]
            patches = jnp.concatenate(taps, axis=-1) * layer["w"][0, 0, 0]
            h = (
                jnp.resize(patches[..., :c_out], (*patches.shape[:2], c_out))
                if c_out <= k * c_in
                else patches
            )
            total = total + patches.sum()
        return total

    return _descend(params, jax.grad(patches_only)(params))


DENSE = (125, 245)  # 125 x 245 = 30,625 multiply-adds per example: the conv layers' (2,500 + 18,750 + 9,375)


def dense_step(params, x, flat):
    """One dense layer's three products per step with the conv layers' multiply-adds."""
    w1 = params[1]["w"]
    w = jnp.tile(w1.reshape(-1), -(-DENSE[0] * DENSE[1] // w1.size))[: DENSE[0] * DENSE[1]].reshape(DENSE)
    h = flat[: 100 * DENSE[0]].reshape(100, DENSE[0]) + w[0, 0]
    z = h @ w
    d_w = h.T @ z
    d_h = z @ w.T
    return [params[0], params[1] | {"w": w1 - 1e-6 * (d_w.sum() + d_h.sum())}, *params[2:]]


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 256
    rounds = int(argv[1]) if len(argv) > 1 else ROUNDS
    work = Workload("cnn")
    inputs = jax.block_until_ready(jax.device_put(work.inputs(work.padded(n)), work.run_sharded))
    programs = {
        "trainer": group_program(work.config(), work.n_train),
        "bare": bare_program(work.config(), work.n_train),
        "conv layers, forward + backward": jax.jit(over_runs(scanned(conv_layers_step))),
        "conv products only": jax.jit(over_runs(scanned(products_step))),
        "patches only": jax.jit(over_runs(scanned(patches_step))),
        "dense products of the same FLOPs": jax.jit(over_runs(scanned(dense_step))),
    }
    compiled = {name: p.lower(*inputs, work.arrays).compile() for name, p in programs.items()}
    times = {name: [] for name in compiled}
    for r in range(rounds):
        for name in list(compiled) if r % 2 == 0 else list(reversed(compiled)):
            jax.block_until_ready(compiled[name](*inputs, work.arrays))  # untimed warm-up
            tic = time.perf_counter()
            jax.block_until_ready(compiled[name](*inputs, work.arrays))
            times[name].append(time.perf_counter() - tic)
    print(
        f"cnn_paper, SGD, batch 100, N={n}, {CNN_STEPS} steps, {jax.local_device_count()} devices, best of "
        f"{rounds} interleaved rounds (GFLOP/s: the whole update's FLOPs over each part's time):"
    )
    for name, values in times.items():
        rate = n * CNN_STEPS / min(values)
        print(f"  {name:<34} {rate:8,.0f} run-steps/s  {rate * work.flops / 1e9:6.1f} GFLOP/s")


if __name__ == "__main__":
    main(sys.argv[1:])
