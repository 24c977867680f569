"""Property-based bad files (hypothesis), beside test_fuzz.py's matrices and command lines: `symjax report` on
tampered results folders (published again or not), `bench-compare` on generated JSON, matrix files of any
bytes (BOMs, other encodings), paths that are not UTF-8, and nesting of any depth. Never a traceback: exit 0
(or 1 for a regression), or one line on stderr with exit 2 and nothing written."""

import json
import os
import shutil
import uuid

import pandas as pd
import pytest
from helpers import bench_json, tiny_matrix
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from symjax.cli import main
from symjax.results.store import FILES, seal

FAST = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def outcome(argv, capsys, written) -> int:
    """Run the command line; on exit 2 check the one line and that ``written`` was not created."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (0, 1, 2), code
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("symjax: error: "), err
        assert not os.path.lexists(written), "a refused command writes nothing"
    return code


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    path = tiny_matrix(base, seeds=2)
    assert main(["run", "--matrix", str(path), "--out", str(base / "results"), "--quiet"]) == 0
    return base / "results"


CONFIG_KEYS = (
    "format_version",
    "matrix",
    "timing",
    "matrix.name",
    "matrix.reference",
    "matrix.schemes",
    "matrix.seeds",
    "matrix.steps",
    "matrix.log_every",
    "matrix.target_loss",
    "matrix.batch_sizes",
)
COLUMN_VALUES = st.sampled_from(["x", "../x", "", None, -1, 0, 1.5, float("nan"), float("inf"), True])


@st.composite
def tampering(draw):
    """(what, how, argument, publish again?)."""
    if draw(st.booleans()):
        return (
            "config",
            draw(st.sampled_from(CONFIG_KEYS)),
            draw(st.one_of(st.just("delete"), json_values)),
            draw(st.booleans()),
        )
    table = draw(st.sampled_from(FILES[:3]))
    how = draw(st.sampled_from(["no rows", "drop column", "set column", "bytes"]))
    argument = (
        draw(st.binary(max_size=64)) if how == "bytes" else (draw(st.integers(0, 20)), draw(COLUMN_VALUES))
    )
    return table, how, argument, draw(st.booleans())


def tamper(folder, what, how, argument) -> None:
    if what == "config":
        config = json.loads((folder / "config.json").read_text())
        *parents, key = how.split(".")
        holder = config[parents[0]] if parents else config
        if argument == "delete":
            holder.pop(key, None)
        else:
            holder[key] = argument
        (folder / "config.json").write_text(json.dumps(config))
    elif how == "bytes":
        (folder / what).write_bytes(argument)
    else:
        table = pd.read_parquet(folder / what)
        column = table.columns[argument[0] % len(table.columns)]
        table = (
            table.iloc[:0]
            if how == "no rows"
            else table.drop(columns=column)
            if how == "drop column"
            else table.assign(**{column: argument[1]})
        )
        table.to_parquet(folder / what)


@settings(FAST, max_examples=80)
@given(change=tampering())
@example(change=("config", "matrix", None, True))  # a null matrix: its hash once crashed seal (matrix_digest)
def test_report_on_tampered_results_folders(change, tiny_results, tmp_path, capsys):
    what, how, argument, publish = change
    folder, out = tmp_path / uuid.uuid4().hex, tmp_path / uuid.uuid4().hex
    shutil.copytree(tiny_results, folder)
    tamper(folder, what, how, argument)
    if publish:
        try:
            seal(folder)
        except (ValueError, KeyError, TypeError):  # config.json no longer names a matrix: left unpublished
            pass
    code = outcome(["report", "--results", str(folder), "--out", str(out)], capsys, out)
    assert code in (0, 2)
    if not publish:
        assert code == 2, "a file changed after publishing is never read"


def bench_documents():
    valid = bench_json()
    mutated = st.tuples(st.integers(0, len(valid["benchmarks"]) - 1), st.text(max_size=30), json_values).map(
        lambda c: _mutate(valid, *c)
    )
    return st.one_of(json_values, mutated, st.just(valid))


def _mutate(valid, index, key, value):
    data = json.loads(json.dumps(valid))
    info = data["benchmarks"][index]["extra_info"]
    info[sorted(info)[len(key) % len(info)] if key else "kind"] = value
    return data


@FAST
@given(current=bench_documents(), baseline=bench_documents(), raw=st.none() | st.binary(max_size=40))
def test_bench_compare_on_generated_json(current, baseline, raw, tmp_path, capsys):
    paths = [tmp_path / "current.json", tmp_path / "baseline.json"]
    paths[0].write_text(json.dumps(current))
    paths[1].write_bytes(json.dumps(baseline).encode() if raw is None else raw)
    outcome(["bench-compare", str(paths[0]), "--baseline", str(paths[1])], capsys, tmp_path / "none")


@FAST
@given(content=st.binary(max_size=200), bom=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]))
def test_matrix_files_of_any_bytes(content, bom, tmp_path, capsys):
    path = tmp_path / "m.toml"
    path.write_bytes(bom + content)
    code = outcome(
        ["run", "--matrix", str(path), "--out", str(tmp_path / "r"), "--dry-run"], capsys, tmp_path / "r"
    )
    assert code == 2, "random bytes are no matrix"


@FAST
@given(
    name=st.binary(min_size=1, max_size=12).filter(
        lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
    ),
    flag=st.sampled_from(["run --out", "run --matrix", "report --results", "report --out", "report --bench"]),
)
def test_paths_that_are_not_utf8(name, flag, tmp_path, capsys):
    path = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff" + name)
    command, option = flag.split()
    argv = [
        command,
        option,
        path,
        *(["--out", str(tmp_path / "o")] if command == "report" and option != "--out" else []),
    ]
    assert outcome([*argv, "--dry-run"] if command == "run" else argv, capsys, path) == 2


@FAST
@given(depth=st.integers(1, 6000), kind=st.sampled_from(["[", "{a = ", "{"]))
def test_nesting_of_any_depth(depth, kind, tmp_path, capsys):
    toml, bench = tmp_path / "m.toml", tmp_path / "b.json"
    close = {"[": "]", "{a = ": "}", "{": "}"}[kind]
    toml.write_text("hidden = " + kind * depth + "4" * (kind == "[") + close * depth + "\n")
    json_open = {"[": "[", "{a = ": '{"a": ', "{": '{"b": '}[kind]
    bench.write_text(json_open * depth + "1" + close * depth)
    code = outcome(
        ["run", "--matrix", str(toml), "--out", str(tmp_path / "r"), "--dry-run"], capsys, tmp_path / "r"
    )
    assert code == 2 or (kind == "[" and depth <= 2), "hidden = [4] and [[4]] are the only valid ones"
    assert outcome(["bench-compare", str(bench), "--baseline", str(bench)], capsys, tmp_path / "none") == 2
