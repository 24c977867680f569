"""PyTorch peers of the benchmark's CNN case: N independent ``cnn_paper`` runs with ``nn.Conv1d``, two ways.

Workload (as ``Workload("cnn")`` in ``bench/workload.py``): MNIST-1D's 4000 x 40 training set read as a
1-channel signal; conv layers of 25 channels, kernels 5/3/3, stride 2, "SAME" padding as XLA pads it
(``total = max((out - 1) * 2 + k - length, 0)``, ``total // 2`` before), relu, a dense readout of the
flattened (position, channel) features, softmax cross-entropy, batch 100, float32, SGD (lr 1e-2) by
default or Adam. Run *i* draws from ``torch.Generator().manual_seed(i)`` its LeCun-normal weights
(std ``1 / sqrt(k * c_in)``, zero biases) and then one permutation per epoch (40 steps per epoch), once, in
``plan``, so both impls start from identical params and see identical batches.

Each factory returns a zero-argument callable that trains ``steps`` steps and returns the per-run loss of
the last minibatch, float32 numpy (N,); a second call trains ``steps`` more. ``threads`` as in
``bench/torch_peers.py``. Import only where torch is installed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, vmap
from torch_peers import LRS, _optimizer, _with_threads, data, run_after_run
from workload_shape import CNN_BATCH_SIZE as BATCH
from workload_shape import CNN_SHAPES

STRIDE = 2


def pads(shapes=CNN_SHAPES, n_in: int = 40) -> list[tuple[int, int]]:
    """(before, after) zero padding of every conv layer's input, as XLA's "SAME" pads it."""
    out, length = [], n_in
    for width, _, _ in shapes[:-1]:
        positions = -(-length // STRIDE)
        total = max((positions - 1) * STRIDE + width - length, 0)
        out.append((total // 2, total - total // 2))
        length = positions
    return out


class PaperCNN(nn.Module):
    """cnn_paper as modules: ``nn.Conv1d`` layers (weights (c_out, c_in, k)) and an ``nn.Linear`` readout."""

    def __init__(self, shapes=CNN_SHAPES, device=None):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, c_out, width, stride=STRIDE, device=device) for width, c_in, c_out in shapes[:-1]
        )
        self.readout = nn.Linear(*shapes[-1], device=device)
        self.pads = pads(shapes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, 10) of x (batch, 40)."""
        h = x.unsqueeze(1)  # (batch, 1 channel, 40)
        for conv, pad in zip(self.convs, self.pads):
            h = F.relu(conv(F.pad(h, pad)))
        return self.readout(h.transpose(1, 2).flatten(1))  # (position, channel) order, as the JAX model


def plan(n_runs: int, steps: int, n_train: int = 4000, shapes=CNN_SHAPES, batch: int = BATCH):
    """Initial params and batch indices of runs 0..n_runs-1, shared by both impls.

    Returns ``(weights, idx)``: weights[l] float32 (N, *shape) in the JAX layout ((k, c_in, c_out) or
    (fan_in, fan_out)), idx int64 (N, steps, batch); biases start at zero."""
    per_epoch = n_train // batch
    epochs = -(-steps // per_epoch)
    ws, idx = [], []
    for i in range(n_runs):
        g = torch.Generator().manual_seed(i)
        ws.append([torch.randn(*shape, generator=g) / math.sqrt(math.prod(shape[:-1])) for shape in shapes])
        perms = [torch.randperm(n_train, generator=g)[: per_epoch * batch] for _ in range(epochs)]
        idx.append(torch.cat(perms).view(-1, batch)[:steps])
    return [torch.stack([w[l] for w in ws]) for l in range(len(shapes))], torch.stack(idx)


def torch_layout(weights: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """``PaperCNN``'s state (weights and zero biases) from JAX-layout weights with a leading run axis."""
    state = {}
    for l, w in enumerate(weights[:-1]):
        state[f"convs.{l}.weight"] = w.permute(0, 3, 2, 1).contiguous()  # (N, c_out, c_in, k)
        state[f"convs.{l}.bias"] = torch.zeros(w.shape[0], w.shape[-1])
    state["readout.weight"] = weights[-1].transpose(1, 2).contiguous()  # (N, out, in)
    state["readout.bias"] = torch.zeros(weights[-1].shape[0], weights[-1].shape[-1])
    return state


def torch_loop(n_runs: int, steps: int, optimizer: str = "sgd", threads: int | None = None):
    """One ``PaperCNN`` and one ``torch.optim`` optimizer per run, trained run after run (eager autograd)."""
    x, y = data()
    weights, idx = plan(n_runs, steps, len(y))
    state = torch_layout(weights)
    models, opts = [], []
    for i in range(n_runs):
        model = PaperCNN()
        model.load_state_dict({k: v[i] for k, v in state.items()})
        models.append(model)
        opts.append(_optimizer(model.parameters(), optimizer))

    return _with_threads(run_after_run(models, opts, idx, x, y), threads)


def torch_vmap(n_runs: int, steps: int, optimizer: str = "sgd", threads: int | None = None):
    """The torch.func ensembling recipe on ``PaperCNN``: ``vmap(grad_and_value(loss))`` over stacked params
    and batches (N, 100, 40); SGD in place, or ``torch.optim.Adam`` on the stacked tensors."""
    x, y = data()
    weights, idx = plan(n_runs, steps, len(y))
    base = PaperCNN(device="meta")
    params = torch_layout(weights)
    tensors = list(params.values())
    opt = _optimizer(tensors, optimizer) if optimizer != "sgd" else None

    def loss_fn(p, xb, yb):
        return F.cross_entropy(functional_call(base, p, (xb,)), yb)

    step = vmap(grad_and_value(loss_fn))

    def train() -> np.ndarray:
        for s in range(steps):
            b = idx[:, s]
            grads, losses = step(params, x[b], y[b])
            with torch.no_grad():
                if opt is None:
                    torch._foreach_add_(tensors, [grads[k] for k in params], alpha=-LRS["sgd"])
                else:
                    for k, t in params.items():
                        t.grad = grads[k]
                    opt.step()
        return losses.detach().numpy()

    return _with_threads(train, threads)


IMPLS = {"torch_loop": torch_loop, "torch_vmap": torch_vmap}
