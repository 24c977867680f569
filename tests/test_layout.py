"""The package layout: imports flow one way along the data flow, no cycle, and the report side loads no
jax."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import symjax
from symjax.engine import resume

PACKAGE = Path(symjax.__file__).parent
# layer -> the layers it may import from (its own included); the top (api, cli, ...) may import anything
ALLOWED = {
    "core": {"core"},
    "matrix": {"core", "matrix"},
    "results": {"core", "matrix", "results"},
    "engine": {"core", "matrix", "results", "engine"},
    "analysis": {"core", "matrix", "results", "analysis"},
    "report": {
        "core",
        "matrix",
        "results",
        "analysis",
        "report",
    },  # not experiments: a report reads stored files
    "experiments": {
        "core",
        "matrix",
        "results",
        "engine",
        "experiments",
    },  # trains through the engine, returns data
    "abtest": {"core", "analysis", "abtest"},  # times two revisions (their own code, in worker processes)
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """The symjax modules a file imports anywhere (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from symjax.core import data`
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules and name != "symjax"}


def graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) for path in PACKAGE.rglob("*.py")}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_every_layer_imports_only_from_the_layers_below_it():
    wrong = [
        (module, target)
        for module, targets in graph().items()
        for target in targets
        if layer(module) in ALLOWED and layer(target) not in ALLOWED[layer(module)]
    ]
    assert not wrong, f"imports against the data flow (module -> imported): {wrong}"


def test_no_import_cycle_in_the_package():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                raise AssertionError(
                    f"import cycle: {' -> '.join(path[path.index(target) :] + [module, target])}"
                )
            if target not in state:
                visit(target, path + [module])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])


def test_the_layer_check_sees_a_backward_import(tmp_path, monkeypatch):
    """The checks above can fail: a core module importing the engine is caught."""
    fake = tmp_path / "symjax"
    (fake / "core").mkdir(parents=True)
    (fake / "engine").mkdir()
    (fake / "core" / "train.py").write_text("from symjax.engine.runner import train_plan\n")
    (fake / "engine" / "runner.py").write_text("def train_plan(): pass\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(AssertionError, match="against the data flow"):
        test_every_layer_imports_only_from_the_layers_below_it()


def test_the_ab_worker_imports_nothing_of_this_symjax():
    """``symjax/abtest/worker.py`` runs as a script and imports the revision's code: none of this
    checkout's."""
    tree = ast.parse((PACKAGE / "abtest" / "worker.py").read_text())
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert names and not [name for name in names if name.split(".")[0] == "symjax"], names


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)


def test_symjax_report_imports_no_jax(smoke_results, tmp_path):
    code = (
        "import sys; from symjax.cli import main; code = main(['report', '--results', sys.argv[1], '--out', "
        "sys.argv[2]]); print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', "
        "'optax'))); sys.exit(code)"
    )
    done = run_python(code, str(smoke_results), str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", "symjax report imported jax"
    assert (tmp_path / "reports" / "smoke.md").is_file()


def test_import_symjax_and_the_report_side_import_no_jax():
    modules = [
        "symjax",
        "symjax.results.store",
        "symjax.results.metrics",
        "symjax.analysis.tables",
        "symjax.analysis.best_lr",
        "symjax.report.build",
        "symjax.report.bench",
        "symjax.matrix.spec",
        "symjax.core.schemes",
        "symjax.core.group",
    ]
    done = run_python(
        "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
        "print('jax' in sys.modules)",
        *modules,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


NOT_TRAINING = {
    "symjax",
    "symjax.core",
    "symjax.engine",
    "symjax.matrix",
    "symjax.results",
    "symjax.core.files",
    "symjax.engine.plan",
    "symjax.engine.resume",
    "symjax.engine.memory",
}  # decide no chunk's numbers


def test_the_chunk_hash_covers_every_module_that_trains():
    """Every symjax module that training loads is in resume.TRAINING_MODULES (or known not to decide results),
    so a moved or new training module cannot leave saved chunks of older code valid."""
    done = run_python(
        "import sys, json, symjax.engine.runner, symjax.engine.program\nprint(json.dumps(sorted(m for m in "
        "sys.modules if m.split('.')[0] == 'symjax')))"
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    training = {
        m for m in loaded if m not in NOT_TRAINING and not m.startswith(("symjax.matrix.", "symjax.results."))
    }
    assert training <= set(resume.TRAINING_MODULES), (
        f"not in TRAINING_MODULES: {sorted(training - set(resume.TRAINING_MODULES))}"
    )
    for name in resume.TRAINING_MODULES:
        assert Path(importlib.util.find_spec(name).origin).is_file(), name


def test_python_m_symjax_and_symjax_version():
    done = subprocess.run(
        [sys.executable, "-m", "symjax", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"symjax {symjax.version()}" and symjax.version() != "unknown"
    listed = subprocess.run(
        [sys.executable, "-m", "symjax", "list"], capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0 and "matrices:" in listed.stdout
