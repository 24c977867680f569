"""symjax: does training break symmetry from zero weights and random biases? A JAX benchmark suite.

See the README's *What it does* for the data flow and docs/theory.md for what it predicts.
Importing symjax asks XLA for one CPU device per core (``symjax.devices``) before JAX starts,
so a vmapped group uses every core.
"""

import importlib

from symjax.devices import use_all_cpu_cores

use_all_cpu_cores()

from symjax.api import run_matrix, version  # noqa: E402
from symjax.config import Matrix, load_matrix, matrix_from_dict  # noqa: E402
from symjax.store import load_results  # noqa: E402

_LAZY = {"build_report": "symjax.report", "summarize": "symjax.tables"}  # scipy.stats, matplotlib: imported when used


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'symjax' has no attribute {name!r}")


__all__ = ["Matrix", "build_report", "load_matrix", "load_results", "matrix_from_dict", "run_matrix", "summarize", "version"]
