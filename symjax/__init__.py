"""symjax: does training break symmetry from zero weights and random biases? A JAX benchmark suite.

The package follows the data flow, and each layer imports only the layers below it::

    cli, api               the commands and the Python API (top)
    report/                markdown and plots from stored tables      (no jax)
    analysis/              statistics per setting x scheme             (no jax)
    engine/                plan, compile, train chunks, resume, hosts
    results/               per-run metrics, the tables on disk         (no jax)
    matrix/                a matrix's axes, its validation, TOML files (spec: no jax)
    core/                  one run: data, schemes, models, optimizers, train

The data flows matrix -> plan -> init -> train -> store -> metrics -> analysis -> report: a matrix
(matrix/) is planned into groups and chunks (engine/plan.py); a chunk's params are initialized
(core/initializers.py, engine/program.py) and trained (core/train.py, engine/runner.py); each trained
chunk is stored at once (engine/resume.py); the joined chunks become per-run metrics
(results/metrics.py), written as tables (results/store.py) that analysis/ and report/ read. Each
module's docstring names its stage.

docs/theory.md says what the suite predicts and which test checks each prediction.
Importing symjax imports no jax; it asks XLA for one CPU device per core
(``symjax.engine.devices``) so that, once JAX starts, a vmapped group uses every core.
"""

import importlib

from symjax.engine.devices import use_all_cpu_cores

use_all_cpu_cores()

_PUBLIC = {  # name -> module; imported on first use, so `symjax report` never loads jax
    "Matrix": "symjax.matrix.spec",
    "load_matrix": "symjax.matrix.load",
    "matrix_from_dict": "symjax.matrix.load",
    "run_matrix": "symjax.api",
    "load_results": "symjax.results.store",
    "build_report": "symjax.report.build",
    "summarize": "symjax.analysis.tables",
    "register_scheme": "symjax.core.schemes",  # your own init, by name (or write module.path:function)
    "Model": "symjax.core.plugins",  # your own model: Model(shapes, apply)
    "register_model": "symjax.core.models",
}


def version() -> str:
    """The installed symjax-bench version ("unknown" in a source tree that was not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("symjax-bench")
    except PackageNotFoundError:
        return "unknown"


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'symjax' has no attribute {name!r}")


__all__ = sorted([*_PUBLIC, "version"])
