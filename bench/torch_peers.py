"""PyTorch peers of the throughput benchmark: N independent MLP runs trained three ways.

Workload (as ``bench/test_bench_train.py``): MNIST-1D (4000 x 40 standardized, 10 classes),
MLP 40-100-100-10 tanh, softmax cross-entropy, batch 128, float32. Run *i* has its own
LeCun-normal init (W ~ N(0, 1/fan_in), zero biases) and its own minibatch order (a fresh
permutation of the 4000 examples per epoch, 31 steps per epoch, remainder dropped), both
drawn from ``torch.Generator().manual_seed(i)`` by ``plan`` once, so the three impls start
from identical params and see identical batches. SGD (lr 1e-2) by default, or Adam (lr 1e-2).

Each factory sets everything up (params, data tensors, the (N, steps, 128) index tensor)
and returns a zero-argument callable that trains ``steps`` steps and returns the per-run
loss of the last minibatch (computed before that step's update), float32 numpy (N,). A
second call trains ``steps`` more steps from where the first stopped, on the same batches.
Nothing is logged. torch uses ``torch.get_num_threads()`` threads (all cores by default);
``threads=k`` sets k only while the callable runs, then restores the previous setting.
On a 2-core machine busy with other work, 2 OpenMP threads were 2x (batched) to 30x
(loop: tiny ops, a barrier each) slower than ``threads=1``: quote the thread count.

Import only where torch is installed (tests do ``pytest.importorskip("torch")``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, vmap
from workload_shape import (
    BATCH_SIZE as BATCH,
)  # the JAX workload's sizes and FLOP count (not workload.py: no cycle)
from workload_shape import SIZES, flops_per_run_step  # noqa: F401

LRS = {"sgd": 1e-2, "adam": 1e-2}


def describe() -> dict:
    """torch version and its thread counts (intra-op, inter-op)."""
    return {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
    }


@functools.lru_cache(maxsize=1)
def data() -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-1D training set from ``symjax.core.data``: x float32 (4000, 40), y int64 (4000,)."""
    from symjax.core.data import load_dataset

    ds = load_dataset("mnist1d")
    return torch.from_numpy(np.ascontiguousarray(ds.x_train, np.float32)), torch.from_numpy(
        ds.y_train.astype(np.int64)
    )


def plan(n_runs: int, steps: int, n_train: int = 4000, sizes=SIZES, batch: int = BATCH):
    """Initial params and batch indices of runs 0..n_runs-1, shared by the three impls.

    Returns ``(weights, biases, idx)``: weights[l] float32 (N, fan_in, fan_out), biases[l]
    float32 (N, fan_out) zeros, idx int64 (N, steps, batch). Run i draws, from a generator
    seeded with i, its weights layer by layer and then one permutation per epoch, so a run's
    init and batches do not depend on n_runs or steps.
    """
    if n_runs < 1 or steps < 1:
        raise ValueError(f"need n_runs >= 1 and steps >= 1, got {n_runs}, {steps}")
    per_epoch = n_train // batch
    epochs = -(-steps // per_epoch)
    ws, idx = [], []
    for i in range(n_runs):
        g = torch.Generator().manual_seed(i)
        ws.append([torch.randn(fi, fo, generator=g) / math.sqrt(fi) for fi, fo in sizes])
        perms = [torch.randperm(n_train, generator=g)[: per_epoch * batch] for _ in range(epochs)]
        idx.append(torch.cat(perms).view(-1, batch)[:steps])
    weights = [torch.stack([w[l] for w in ws]) for l in range(len(sizes))]
    biases = [torch.zeros(n_runs, fo) for _, fo in sizes]
    return weights, biases, torch.stack(idx)


def _optimizer(params, optimizer: str) -> torch.optim.Optimizer:
    """torch.optim SGD (plain) or Adam (default betas, eps 1e-8), lr from ``LRS``."""
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=LRS["sgd"])
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=LRS["adam"])
    raise ValueError(f"unknown optimizer {optimizer!r}; allowed: sgd, adam")


def _mlp(sizes=SIZES, device=None) -> nn.Sequential:
    """nn.Sequential Linear-Tanh-...-Linear with the given (fan_in, fan_out) layers."""
    layers = []
    for fan_in, fan_out in sizes:
        layers += [nn.Linear(fan_in, fan_out, device=device), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def _with_threads(fn, threads: int | None):
    """``fn`` run with ``threads`` intra-op threads (restored afterwards); unchanged if None."""
    if threads is None:
        return fn

    def run():
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)

    return run


def run_after_run(models: list, opts: list, idx: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
    """The callable that trains each (model, optimizer) pair in turn on its batches idx[i] (steps, batch) of
    (x, y), eager autograd; -> last-minibatch losses (N,) float32 numpy."""

    def train() -> np.ndarray:
        losses = torch.empty(len(models))
        for i, (model, opt) in enumerate(zip(models, opts)):
            for s in range(idx.shape[1]):
                b = idx[i, s]
                loss = F.cross_entropy(model(x[b]), y[b])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            losses[i] = loss.detach()
        return losses.numpy()

    return train


def torch_loop(n_runs: int, steps: int, optimizer: str = "sgd", threads: int | None = None):
    """One ``nn.Sequential`` and one ``torch.optim`` optimizer per run, trained run after run
    in a Python loop (eager autograd, the ordinary way). Returns the callable -> losses (N,)."""
    x, y = data()
    weights, biases, idx = plan(n_runs, steps, len(y))
    models, opts = [], []
    for i in range(n_runs):
        model = _mlp()
        with torch.no_grad():
            for l, layer in enumerate(model[::2]):  # nn.Linear holds W as (fan_out, fan_in)
                layer.weight.copy_(weights[l][i].T)
                layer.bias.copy_(biases[l][i])
        models.append(model)
        opts.append(_optimizer(model.parameters(), optimizer))

    return _with_threads(run_after_run(models, opts, idx, x, y), threads)


def torch_vmap(n_runs: int, steps: int, optimizer: str = "sgd", threads: int | None = None):
    """The torch.func model-ensembling recipe: ``vmap(grad_and_value(loss))`` over stacked
    params (a dict of (N, ...) tensors for ``functional_call`` on one stateless
    ``nn.Sequential``), batches (N, 128, 40). SGD updates the stacked tensors in place under
    ``torch.no_grad()``; Adam is ``torch.optim.Adam`` on them (elementwise, so per run the
    same as one Adam per run). Returns the callable -> losses (N,)."""
    x, y = data()
    weights, biases, idx = plan(n_runs, steps, len(y))
    base = _mlp(device="meta")
    params = {}
    for l in range(len(SIZES)):
        params[f"{2 * l}.weight"] = weights[l].transpose(1, 2).contiguous()  # (N, fan_out, fan_in)
        params[f"{2 * l}.bias"] = biases[l].clone()  # (N, fan_out)
    tensors = list(params.values())
    opt = _optimizer(tensors, optimizer) if optimizer != "sgd" else None
    lr = LRS["sgd"]

    def loss_fn(p, xb, yb):
        return F.cross_entropy(functional_call(base, p, (xb,)), yb)

    step = vmap(grad_and_value(loss_fn))  # (params, (N,128,40), (N,128)) -> (grads, losses (N,))

    def train() -> np.ndarray:
        for s in range(steps):
            b = idx[:, s]  # (N, 128)
            grads, losses = step(params, x[b], y[b])
            with torch.no_grad():
                if opt is None:
                    torch._foreach_add_(tensors, [grads[k] for k in params], alpha=-lr)
                else:
                    for k, t in params.items():
                        t.grad = grads[k]
                    opt.step()
        return losses.detach().numpy()

    return _with_threads(train, threads)


def torch_bmm(n_runs: int, steps: int, optimizer: str = "sgd", threads: int | None = None):
    """Hand-batched MLP: h = tanh(baddbmm(b, h, W)) on stacked W (N, fan_in, fan_out) and
    b (N, 1, fan_out) leaf tensors; autograd on the sum of the per-run mean losses (each
    run's gradient is its own); ``torch.optim`` on the stacked tensors. Returns the
    callable -> losses (N,)."""
    x, y = data()
    weights, biases, idx = plan(n_runs, steps, len(y))
    ws = [w.clone().requires_grad_() for w in weights]
    bs = [b.unsqueeze(1).clone().requires_grad_() for b in biases]
    opt = _optimizer(ws + bs, optimizer)
    n_out = SIZES[-1][1]

    def train() -> np.ndarray:
        for s in range(steps):
            b = idx[:, s]  # (N, 128)
            h = x[b]  # (N, 128, 40)
            for l, (w, bias) in enumerate(zip(ws, bs)):
                h = torch.baddbmm(bias, h, w)
                if l < len(ws) - 1:
                    h = torch.tanh(h)
            per_example = F.cross_entropy(h.reshape(-1, n_out), y[b].reshape(-1), reduction="none")
            losses = per_example.view(n_runs, -1).mean(1)  # (N,)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step()
        return losses.detach().numpy()

    return _with_threads(train, threads)


IMPLS = {"torch_loop": torch_loop, "torch_vmap": torch_vmap, "torch_bmm": torch_bmm}
