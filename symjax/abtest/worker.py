"""Worker of ``symjax bench-ab``: one warm process timing one checked-out revision's workload.

Run as ``python -P symjax/abtest/worker.py CHECKOUT`` (``-P``: this file's folder is not put on
``sys.path``). It imports ``CHECKOUT/bench/workload.py`` (and the ``symjax`` it imports) from
CHECKOUT, checks that they really come from there (not from the editable install), builds
``Workload().vmap_fn(SIDE_BY_SIDE_N)`` (compiled and warmed, untimed), then answers on stdout,
one JSON line per request read from stdin:

- at start: ``{"n", "steps", "call_seconds", "symjax"}`` or ``{"error": "..."}``;
- ``time K``: ``{"seconds_per_run_step": best of K calls / (n * steps)}``;
- anything else or end of input: exit.

It only uses the standard library itself, so any revision's code can be driven by it.
Data-flow stage: none (a tool of ``symjax.abtest.abba``).
"""

import json
import os
import sys
import time


def _call_seconds(fn) -> float:
    tic = time.perf_counter()
    fn()
    return time.perf_counter() - tic


def _from(module, checkout: str) -> bool:
    return os.path.realpath(module.__file__).startswith(checkout + os.sep)


def main() -> int:
    checkout = os.path.realpath(sys.argv[1])
    answer = os.fdopen(os.dup(1), "w")  # the protocol; whatever the revision prints goes to stderr
    os.dup2(2, 1)

    def reply(message: dict) -> None:
        answer.write(json.dumps(message) + "\n")
        answer.flush()

    sys.path[:0] = [checkout, os.path.join(checkout, "bench")]
    try:
        import workload

        mine = sys.modules.get("symjax")
        for module in (workload, mine):
            if module is not None and not _from(module, checkout):
                raise ImportError(
                    f"{module.__name__} was imported from {module.__file__}, not from {checkout}"
                )
        n, steps = int(workload.SIDE_BY_SIDE_N), int(workload.STEPS)
        fn = workload.Workload().vmap_fn(n)
        reply({"n": n, "steps": steps, "call_seconds": _call_seconds(fn), "symjax": mine and mine.__file__})
    except Exception as error:  # the revision cannot be benchmarked: one line for the parent
        reply(
            {
                "error": f"{type(error).__name__}: "
                f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            }
        )
        return 1
    for line in sys.stdin:
        words = line.split()
        if len(words) != 2 or words[0] != "time":
            break
        best = min(_call_seconds(fn) for _ in range(int(words[1])))
        reply({"seconds_per_run_step": best / (n * steps)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
