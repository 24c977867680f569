"""Where the trainer's time goes, op by op: a ``jax.profiler`` trace of one call of the group program.

``python bench/profile_ops.py [N] [TOP]`` (default N=256, the benchmark workload of
``bench/workload.py``; the ``bare`` program with ``--bare``) compiles the program, warms it,
traces one call and prints the TOP leaf operations of XLA:CPU (thunks: library fusions such as
``ynn_fusion``, Eigen ``dot``, loop fusions, sorts) by time summed over the devices, each with
its share, call count and the JAX operation it comes from (HLO ``op_name``), then the shares by
kind of work: training step (forward / backward), evaluation and logging, example order.
The trace itself is left in ``$TMPDIR/symjax-profile`` (open it in Perfetto or TensorBoard).
"""

from __future__ import annotations

import collections  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
from workload import Workload, bare_program, config  # noqa: E402

import symjax  # noqa: F401  (before jax: one CPU device per core)
from symjax.engine.program import group_program  # noqa: E402

CONTAINERS = ("ThunkExecutor", "$", "while", "conditional", "call")  # events that contain others


SCOPES = {  # jax.named_scope in symjax/core/train.py -> kind of work
    "example_order": "example order (a permutation per epoch, the minibatch gather)",
    "transpose(jvp(": "training step: backward (dX and dW products)",
    "gradient": "training step: forward",
    "optimizer": "optimizer update",
    "gradient_diagnostics": "weight-gradient norms and first_grad_step",
    "evaluate": "evaluation and diagnostics at logged steps",
}


def kind_of(op_name: str) -> str:
    """The kind of work of an HLO op_name: the first SCOPES key in it, in that order of precedence."""
    for order in (
        "example_order",
        "gradient_diagnostics",
        "evaluate",
        "optimizer",
        "transpose(jvp(",
        "gradient",
    ):
        if order in op_name:
            return SCOPES[order]
    return "other (loop control, copies, logs)"


def main(argv: list[str]) -> None:
    bare = "--bare" in argv
    args = [a for a in argv if not a.startswith("--")]
    n, top = (int(args[0]) if args else 256), (int(args[1]) if len(args) > 1 else 25)
    work = Workload()
    inputs = jax.device_put(work.inputs(work.padded(n)), work.run_sharded)
    program = bare_program(config(), work.n_train) if bare else group_program(config(), work.n_train)
    compiled = program.lower(*inputs, work.arrays).compile()
    names = dict(re.findall(r'%([\w.\-]+) = [^\n]*?metadata=\{op_name="([^"]+)"', compiled.as_text()))
    jax.block_until_ready(compiled(*inputs, work.arrays))
    folder = Path(tempfile.gettempdir()) / "symjax-profile"
    shutil.rmtree(folder, ignore_errors=True)
    with jax.profiler.trace(str(folder)):
        jax.block_until_ready(compiled(*inputs, work.arrays))
    trace = max(folder.glob("**/*.trace.json.gz"), key=lambda p: p.stat().st_mtime)
    total, calls = collections.Counter(), collections.Counter()
    for event in json.load(gzip.open(trace))["traceEvents"]:
        if event.get("ph") == "X" and not event["name"].startswith(CONTAINERS):
            total[event["name"]] += event["dur"]
            calls[event["name"]] += 1
    everything = sum(total.values())
    print(
        f"{'bare' if bare else 'trainer'}, N={n}: {everything / 1e3:,.0f} ms of leaf operations, summed over "
        f"{jax.local_device_count()} devices (profiling slows the program)"
    )
    for name, micros in total.most_common(top):
        print(
            f"{100 * micros / everything:5.1f}% {calls[name]:6d} calls  {name:<28} "
            f"{names.get(name, '')[-90:]}"
        )
    kinds = collections.Counter()
    for name, micros in total.items():
        kinds[kind_of(names.get(name, ""))] += micros
    print("by kind of work:")
    for kind, micros in kinds.most_common():
        print(f"{100 * micros / everything:5.1f}%  {kind}")


if __name__ == "__main__":
    main(sys.argv[1:])
