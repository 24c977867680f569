"""Correctness of the PyTorch peers (``bench/torch_peers.py``); nothing here is timed.

Skipped where torch is not installed (``pip install -e '.[peers]'``), and, having no
``benchmark`` fixture, under ``--benchmark-only``. Run them with
``python -m pytest bench/test_torch_peers.py -q -p no:cacheprovider``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch_peers as tp  # noqa: E402

N, STEPS = 4, 20
# One intra-op thread: the results do not depend on it, and on a loaded 2-core machine two
# OpenMP threads made these tiny steps 20-40x slower (seconds instead of 0.1 s per call).
THREADS = 1


@pytest.fixture(scope="module")
def losses() -> dict:
    """{(impl, optimizer): last-minibatch losses (N,)} after STEPS steps, plus ("step0", None)."""
    out = {("step0", None): tp.torch_bmm(N, 1, threads=THREADS)()}  # loss of the first minibatch at init
    for opt in ("sgd", "adam"):
        for name, factory in tp.IMPLS.items():
            out[name, opt] = factory(N, STEPS, opt, threads=THREADS)()
    return out


def test_plan_is_per_run_and_shared():
    w_small, b_small, idx_small = tp.plan(2, 5)
    w, b, idx = tp.plan(3, 40)
    assert [tuple(v.shape) for v in w] == [(3, 40, 100), (3, 100, 100), (3, 100, 10)]
    assert [tuple(v.shape) for v in b] == [(3, 100), (3, 100), (3, 10)] and all((v == 0).all() for v in b)
    assert idx.shape == (3, 40, 128) and idx.dtype == torch.int64
    # a run's init and batches depend on its seed only, not on n_runs or steps
    assert all(torch.equal(a, c[:2]) for a, c in zip(w_small, w)) and torch.equal(idx_small, idx[:2, :5])
    assert not torch.equal(w[0][0], w[0][1]) and not torch.equal(idx[0], idx[1])
    # epoch 0 = steps 0..30: distinct examples; std of W1 about 1/sqrt(40)
    assert len(torch.unique(idx[0, :31])) == 31 * 128
    assert abs(w[0].std().item() * np.sqrt(40) - 1) < 0.05


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("impl", list(tp.IMPLS))
def test_finite_and_decreasing(losses, impl, opt):
    final, start = losses[impl, opt], losses["step0", None]
    assert final.shape == (N,) and final.dtype == np.float32 and np.isfinite(final).all()
    assert np.isfinite(start).all() and (start > 2.0).all()  # about ln 10 at init
    if opt == "adam":
        assert (final < start - 0.2).all()
    else:  # SGD lr 1e-2 moves little in 20 steps: one minibatch can be harder than the first
        assert final.mean() < start.mean() - 0.05


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("impl", ["torch_vmap", "torch_bmm"])
def test_agrees_with_loop(losses, impl, opt):
    np.testing.assert_allclose(losses[impl, opt], losses["torch_loop", opt], rtol=1e-4)


def test_second_call_continues_and_threads_restored():
    before = torch.get_num_threads()
    train = tp.torch_bmm(2, 3, threads=1 if before > 1 else 2)
    first, second = train(), train()
    assert torch.get_num_threads() == before
    assert not np.array_equal(first, second)  # same batches, trained params


def test_flops_and_describe():
    assert tp.flops_per_run_step() == 6 * 128 * (40 * 100 + 100 * 100 + 100 * 10) == 11_520_000
    assert tp.flops_per_run_step(((2, 3),), batch=1) == 36
    info = tp.describe()
    assert info["torch_version"] == torch.__version__ and info["threads"] >= 1
    with pytest.raises(ValueError):
        tp.torch_loop(2, 3, optimizer="rmsprop")


@pytest.fixture(scope="module")
def cnn_losses() -> dict:
    """{(impl, optimizer): last-minibatch losses (N,)} of the CNN peers after STEPS steps."""
    import torch_cnn_peers as cp

    return {
        (name, opt): factory(N, STEPS, opt, threads=THREADS)()
        for opt in ("sgd", "adam")
        for name, factory in cp.IMPLS.items()
    }


def test_cnn_forward_is_symjaxs_cnn_paper():
    """Same weights, same logits: padding (XLA's "SAME" split), stride and the flattening order agree."""
    import jax.numpy as jnp
    import torch_cnn_peers as cp

    from symjax.core.models import network

    weights, _ = cp.plan(1, 1)
    model = cp.PaperCNN()
    model.load_state_dict({k: v[0] for k, v in cp.torch_layout(weights).items()})
    x = tp.data()[0][:16]
    params = [{"w": jnp.asarray(w[0].numpy()), "b": jnp.zeros(w.shape[-1])} for w in weights]
    ours = np.asarray(network(params, jnp.asarray(x.numpy()), "relu", "cnn_paper").outputs)
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), ours, rtol=1e-4, atol=1e-5)
    assert cp.pads() == [(1, 2), (0, 1), (0, 1)]


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_cnn_peers_agree_and_learn(cnn_losses, opt):
    loop, batched = cnn_losses["torch_loop", opt], cnn_losses["torch_vmap", opt]
    assert loop.shape == (N,) and np.isfinite(loop).all()
    np.testing.assert_allclose(batched, loop, rtol=1e-4, atol=1e-5)
    if opt == "adam":  # SGD at 1e-2 barely moves in 20 steps
        assert loop.mean() < 2.3  # below ln 10
