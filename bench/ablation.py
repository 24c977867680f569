"""Ablation of the trainer's overhead: variants of one group program, timed side by side in one process.

``python bench/ablation.py [N] [ROUNDS]`` (default N=256, 4 rounds; the benchmark workload of
``bench/workload.py``) compiles each variant, then times them in interleaved rounds (the order
reversed every other round) and prints the best time of each as run-steps/s and against ``bare``:

- ``before``: the trainer of commit 1aa56a6 (``git show 1aa56a6:symjax/train.py``): example order by
  ``jax.random.permutation`` (a key-value sort), weight-gradient norms at every step;
- ``before, fast order``: the same with ``symjax.core.data_order.permutation`` in place of
  ``jax.random.permutation`` while it is traced;
- ``trainer``: today's ``group_program``;
- ``trainer, no evaluation``: today's with the three whole-dataset evaluations replaced by
  constants while it is traced (what evaluation costs);
- ``bare``: the updates alone (``bench/workload.py``'s ``bare``).

Needs a git checkout (for ``before``). Run it alone: it measures time.
"""

from __future__ import annotations

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from workload import STEPS, Workload, bare_program, config  # noqa: E402

import symjax  # noqa: F401  (before jax)
import symjax.core.train  # noqa: E402
from symjax.core.data_order import permutation  # noqa: E402
from symjax.core.evaluation import Evaluation  # noqa: E402
from symjax.engine.program import group_program  # noqa: E402

BEFORE = "1aa56a6"
REPO = Path(__file__).resolve().parents[1]


# the package's flat layout before issue 13 -> today's modules (for the imports of an old trainer)
OLD_MODULES = {
    "symjax.config": "symjax.core.group",
    "symjax.devices": "symjax.engine.devices",
    "symjax.diagnostics": "symjax.core.diagnostics",
    "symjax.data": "symjax.core.data",
    "symjax.evaluation": "symjax.core.evaluation",
    "symjax.models": "symjax.core.models",
}


def module_at(commit: str, path: str, name: str):
    """A module loaded from ``path`` as it was at ``commit``; its imports resolve to today's package
    (old module names through ``OLD_MODULES``)."""
    for old, new in OLD_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))
    source = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def replaced(owner, attribute: str, value):
    """``owner.attribute`` is ``value`` inside the block (programs traced in it keep the replacement)."""
    saved = getattr(owner, attribute)
    setattr(owner, attribute, value)
    try:
        yield
    finally:
        setattr(owner, attribute, saved)


def no_evaluation(params, data, activation, task):
    return Evaluation(jnp.float32(0), jnp.float32(0), jnp.zeros(len(params) - 1, jnp.float32))


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 256
    rounds = int(argv[1]) if len(argv) > 1 else 4
    work = Workload()
    inputs = jax.block_until_ready(jax.device_put(work.inputs(work.padded(n)), work.run_sharded))
    before = module_at(BEFORE, "symjax/train.py", "train_before")
    fast_order = lambda key, n_items: permutation(key, n_items)  # noqa: E731
    variants = {}

    def add(name, program, *patches):
        with ExitStack() as stack:
            for patch in patches:
                stack.enter_context(replaced(*patch))
            compiled = program.lower(*inputs, work.arrays).compile()
        variants[name] = lambda: jax.block_until_ready(compiled(*inputs, work.arrays))

    add("before", before.compiled_group(config(), work.n_train))
    before.compiled_group.cache_clear()
    add(
        "before, fast order",
        before.compiled_group(config(), work.n_train),
        (jax.random, "permutation", fast_order),
    )
    add("trainer", group_program(config(), work.n_train))
    add(
        "trainer, no evaluation",
        group_program(config(), work.n_train),
        (symjax.core.train, "evaluate_on", no_evaluation),
    )
    add("bare", bare_program(config(), work.n_train))
    times = {name: [] for name in variants}
    for r in range(rounds):
        for name in list(variants) if r % 2 == 0 else list(reversed(variants)):
            variants[name]()  # untimed: the first call after another program warms the caches
            tic = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - tic)
    bare = min(times["bare"])
    print(f"N={n}, {STEPS} steps, {jax.local_device_count()} devices, best of {rounds} interleaved rounds:")
    for name, values in times.items():
        print(f"  {name:<24} {n * STEPS / min(values):8,.0f} run-steps/s  {bare / min(values):.2f}x bare")


if __name__ == "__main__":
    main(sys.argv[1:])
