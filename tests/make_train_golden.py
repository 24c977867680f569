"""Write tests/data/train_golden.npz: outputs of the trainer at a given commit, for test_train_golden.

``python tests/make_train_golden.py OUT.npz`` writes the outputs of this checkout's trainer. The
golden file in the repository was written at commit 1aa56a6 (the trainer before the speed work of
issue 11) by that commit's version of this script (``git show 1aa56a6:tests/make_train_golden.py``;
the package had a flat layout then). Each case trains 8 runs (4 schemes x 2 seeds)
with ``group_program`` and stores every log, ``first_grad_step`` and the final params.
"""

from __future__ import annotations

import sys

import jax  # noqa: E402
import numpy as np  # noqa: E402

import symjax  # noqa: F401  (before jax)
from symjax.core.data import load_dataset  # noqa: E402
from symjax.core.group import GroupConfig, Run  # noqa: E402
from symjax.core.models import weight_shapes  # noqa: E402
from symjax.core.train import Arrays  # noqa: E402
from symjax.engine.devices import run_sharding  # noqa: E402
from symjax.engine.program import Programs, group_program  # noqa: E402

SCHEMES = ("lecun_normal/zeros", "zeros/zeros", "zeros/normal(1.0)", "constant(0.05)/normal(1.0)")
CASES = {  # name -> (group config, learning rate); steps cross epochs and leave a remainder after the logs
    "sgd_tanh": (GroupConfig("mnist1d", (100, 100), "tanh", "sgd", 128, 73, 10), 0.05),
    "adam_relu": (GroupConfig("mnist1d", (32,), "relu", "adam", 128, 45, 5), 0.01),
    "momentum_full_batch": (GroupConfig("xor", (8,), "tanh", "momentum", None, 30, 10), 0.1),
}


def case_outputs(cfg: GroupConfig, lr: float) -> dict[str, np.ndarray]:
    data = load_dataset(cfg.dataset)
    runs = [
        Run(i, 0, scheme, seed, lr)
        for i, (scheme, seed) in enumerate((s, k) for s in SCHEMES for k in (0, 1))
    ]
    inputs = Programs().chunk_inputs(
        runs, weight_shapes(cfg.model, data.x_train.shape[1], cfg.hidden, data.n_outputs)
    )
    arrays = jax.device_put(Arrays(*data[:4]), run_sharding().shared)
    state, logs = jax.device_get(group_program(cfg, len(data.y_train))(*inputs, arrays))
    out = {
        "train_loss": logs.train_loss,
        "test_loss": logs.test_loss,
        "test_acc": logs.test_acc,
        "first_grad_step": state.first_grad_step,
        **logs.diagnostics._asdict(),
    }
    out.update({f"w{i}": layer["w"] for i, layer in enumerate(state.params)})
    out.update({f"snapshot{i}": w for i, w in enumerate(logs.weights)})
    return {name: np.asarray(value) for name, value in out.items()}


def golden() -> dict[str, np.ndarray]:
    return {
        f"{case}/{name}": value
        for case, (cfg, lr) in CASES.items()
        for name, value in case_outputs(cfg, lr).items()
    }


if __name__ == "__main__":
    np.savez_compressed(sys.argv[1], **golden())
