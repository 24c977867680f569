"""What XLA:CPU makes of a group's training program, read from the compiled HLO and pinned.

These are decisions that speed depends on and that a refactor could lose without changing a
single result (bench/README.md, *Where the time goes*, has the measurements behind them):

- the epoch's example order is sorted with single-array sorts (XLA:CPU's fast path), never a
  key-value sort, and only inside a conditional branch (once per epoch, not every step);
- in the training step, the forward products and the input gradients run in library (YNNPACK)
  fusions; the weight gradients ``dW = hᵀ·dZ``, which contract over the minibatch axis, are the
  only dots outside them: one per layer;
- evaluation computes the first layer of all runs of a device as one product
  ``[examples, in] @ [in, runs·hidden]`` (the inputs are shared).
"""

from __future__ import annotations

import re

import jax
import pytest

from symjax.core.evaluation import EVAL_SLICE
from symjax.core.group import GroupConfig, Run
from symjax.core.models import weight_shapes
from symjax.core.train import Arrays
from symjax.engine.devices import run_sharding
from symjax.engine.program import Programs, group_program

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="pins XLA:CPU's compiled program")

HIDDEN = (32, 32)
CFG = GroupConfig("mnist1d", HIDDEN, "tanh", "sgd", 128, 40, 20)
REFERENCE = re.compile(r"(?:calls|to_apply|body|condition)=%([\w.\-]+)|branch_computations=\{([^}]*)\}")


def computations(hlo: str) -> dict[str, list[str]]:
    """Computation name -> its instruction lines."""
    out, current = {}, None
    for line in hlo.splitlines():
        header = re.match(r"^(?:ENTRY )?%([\w.\-]+) \(", line)
        if header and line.rstrip().endswith("{"):
            current = out.setdefault(header.group(1), [])
        elif line.startswith("}"):
            current = None
        elif current is not None:
            current.append(line)
    return out


def reachable(comps: dict[str, list[str]], roots: set[str]) -> set[str]:
    """Computations called, directly or not, from ``roots`` (roots included)."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in comps:
            continue
        seen.add(name)
        for line in comps[name]:
            for direct, branches in REFERENCE.findall(line):
                todo += [direct] if direct else [b.strip().lstrip("%") for b in branches.split(",")]
    return seen


@pytest.fixture(scope="module")
def hlo(mnist1d) -> str:
    runs = [Run(i, 0, "lecun_normal/zeros", i, 0.01) for i in range(2 * run_sharding().n_devices)]
    inputs = Programs().chunk_inputs(
        runs, weight_shapes("mlp", mnist1d.x_train.shape[1], HIDDEN, mnist1d.n_outputs)
    )
    arrays = jax.device_put(Arrays(*mnist1d[:4]), run_sharding().shared)
    return group_program(CFG, len(mnist1d.y_train)).lower(*inputs, arrays).compile().as_text()


def test_example_order_uses_single_array_sorts_inside_a_branch(hlo):
    comps = computations(hlo)
    sorts = [(name, line) for name, lines in comps.items() for line in lines if re.search(r" sort\(", line)]
    assert sorts, "the minibatch order is no longer sorted in the program: update this pin"
    for _, line in sorts:
        operands = re.search(r" sort\(([^)]*)\)", line).group(1)
        assert operands.count("%") == 1, (
            f"a multi-array (key-value) sort, XLA:CPU's slow path: {line.strip()[:120]}"
        )
    branches = {
        b.strip().lstrip("%")
        for lines in comps.values()
        for line in lines
        for b in sum((m.split(",") for m in re.findall(r"branch_computations=\{([^}]*)\}", line)), [])
    }
    in_branches = reachable(comps, branches)
    assert all(name in in_branches for name, _ in sorts), (
        "a sort runs outside a conditional: every step, not every epoch"
    )


def test_only_the_weight_gradients_run_outside_library_fusions(hlo):
    comps = computations(hlo)
    fused = {
        m.group(2): m.group(1)
        for lines in comps.values()
        for line in lines
        if (m := re.search(r" fusion\(.*kind=(\w+), calls=%([\w.\-]+)", line))
    }
    step_dots = [
        (fused.get(name, "unfused"), line)
        for name, lines in comps.items()
        for line in lines
        if re.search(r" dot\(", line) and "jvp(" in line
    ]  # the training step's forward and backward
    n_layers = len(HIDDEN) + 1
    outside = [line for kind, line in step_dots if kind != "kCustom"]
    assert len(outside) == n_layers and all("transpose(jvp())" in line for line in outside), outside
    # forward, and dX but the first layer's
    assert sum(kind == "kCustom" for kind, _ in step_dots) == 2 * n_layers - 1


def test_evaluation_first_layer_is_one_product_over_the_runs_of_a_device(hlo):
    per_device = 2 * HIDDEN[0]  # 2 runs per device
    slice_size = 4000 // -(-4000 // EVAL_SLICE)
    assert re.search(rf"f32\[{slice_size},{per_device}\]\{{1,0\}} dot\(", hlo)
