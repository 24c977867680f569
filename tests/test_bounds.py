"""Issue 12, bad input before any work: duplicates, upper bounds, float32, matrix files (empty, random bytes,
BOM, /dev/zero, nested 5000 deep), non-UTF-8 paths, --max-memory, bench JSON and bench-compare baselines. Each
case ends in one line on stderr, exit 2, nothing written, the same with --dry-run as in a real run."""

import json
import os
import time

import pytest
from helpers import Raw, bench_json, tiny_matrix

from symjax.cli import main
from symjax.matrix.load import matrix_from_dict
from symjax.matrix.spec import MAX_RUNS, ConfigError


@pytest.fixture
def tiny(tmp_path):
    return tiny_matrix(tmp_path)


def refused(argv, capsys, results) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == "", err
    assert (
        len(err.strip().splitlines()) == 1 and err.startswith("symjax: error: ") and "Traceback" not in err
    ), err
    assert not os.path.lexists(results), "nothing may be written"
    return err


BAD_FLAGS = [
    (["--activation", "tanh,tanh"], "listed twice"),
    (["--lr", "0.1,0.1000000001"], "listed twice"),  # one float32 rate
    (["--hidden", "4", "--schemes", "lecun_normal/zeros,lecun_normal/zeros"], "listed twice"),
    (["--seeds", "99999999999999999999"], "up to 100,000"),
    (["--steps", "10000000000"], "up to 10,000,000"),
    (["--hidden", "100000"], "up to 16,384"),
    (["--lr", "1e300"], "float32"),
    (["--lr", "1e-320"], "float32"),
    (["--target-loss", "1e-320"], "float32"),
    (["--max-memory", "0.5"], "memory size"),
    (["--max-memory", "9" * 400], "memory size"),
    (
        [
            "--schemes",
            "lecun_normal/zeros,zeros/normal(["
            + ", ".join(map(str, range(1, 41)))
            + "])@1=zeros/normal(["
            + ", ".join(map(str, range(1, 41)))
            + "])",
        ],
        "at most 1,000",
    ),
    (
        [
            "--seeds",
            "100000",
            "--schemes",
            "lecun_normal/zeros,zeros/normal([" + ", ".join(map(str, range(1, 21))) + "])",
        ],
        f"at most {MAX_RUNS:,}",
    ),
]


@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize("flags,word", BAD_FLAGS)
def test_bad_values_refused_alike_in_dry_run_and_real_run(flags, word, dry_run, tiny, tmp_path, capsys):
    started = time.monotonic()
    results = tmp_path / "results"
    err = refused(
        [
            "run",
            "--matrix",
            str(tiny),
            "--out",
            str(results),
            "--quiet",
            *flags,
            *(["--dry-run"] if dry_run else []),
        ],
        capsys,
        results,
    )
    assert word in err and time.monotonic() - started < 10, "refused at once, before any planning of the runs"


@pytest.mark.parametrize(
    "changes,word",
    [
        ({"hidden": [[4], [4]]}, "listed twice"),
        ({"dataset": ["xor", "xor"]}, "listed twice"),
        ({"batch_size": [128, 128]}, "listed twice"),
        ({"optimizer": ["sgd", "sgd"]}, "listed twice"),
        ({"name": "../../README"}, "plain name"),
        ({"name": "README"}, "plain name"),
        ({"name": "bench"}, "plain name"),
        ({"name": "a/b"}, "plain name"),
        ({"hidden": Raw("[" * 5000 + "]" * 5000)}, "nest too deeply"),
        ({"hidden": [[[[[[4]]]]]]}, "nest too deeply"),
        ({"lr": 1e300}, "float32"),
    ],
)
def test_bad_matrix_files(changes, word, tmp_path, capsys):
    path = tiny_matrix(tmp_path, **{"file": "m.toml", **changes})
    results = tmp_path / "results"
    assert word in refused(["run", "--matrix", str(path), "--out", str(results)], capsys, results)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\ufeff"])
def test_empty_matrix_file_is_refused(text, tmp_path, capsys):
    path = tmp_path / "m.toml"
    path.write_text(text)
    assert "empty" in refused(
        ["run", "--matrix", str(path), "--out", str(tmp_path / "r")], capsys, tmp_path / "r"
    )


@pytest.mark.parametrize(
    "content,word",
    [
        (os.urandom(300) + b"\xff", "UTF-8"),
        ("é".encode("latin-1") + b" = 1", "UTF-8"),
        ("x".encode("utf-16"), "UTF-8"),
    ],
)
def test_matrix_file_of_other_bytes(content, word, tmp_path, capsys):
    path = tmp_path / "m.toml"
    path.write_bytes(content)
    assert word in refused(
        ["run", "--matrix", str(path), "--out", str(tmp_path / "r"), "--dry-run"], capsys, tmp_path / "r"
    )


def test_matrix_file_with_a_byte_order_mark_is_read(tiny, tmp_path, capsys):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + tiny.read_bytes())
    # not results/tiny here
    assert main(["run", "--matrix", str(path), "--out", str(tmp_path / "r"), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("matrix tiny: 1 settings, 2 schemes")


def test_matrix_that_is_no_regular_file(tmp_path, capsys):
    assert "not a regular file" in refused(
        ["run", "--matrix", "/dev/zero", "--out", str(tmp_path / "r")], capsys, tmp_path / "r"
    )


def test_non_utf8_paths_fail_before_training(tiny, tmp_path, capsys):
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff\xfe")
    assert "not valid UTF-8" in refused(["run", "--matrix", str(tiny), "--out", out, "--quiet"], capsys, out)
    assert "not valid UTF-8" in refused(
        ["report", "--results", out, "--out", str(tmp_path / "rep")], capsys, tmp_path / "rep"
    )


def test_duplicates_after_canonicalization():
    with pytest.raises(ConfigError, match="listed twice"):
        matrix_from_dict({"schemes": ["lecun_normal/zeros", "zeros/normal(1)", "zeros/normal(1.0)"]}, "m")
    with pytest.raises(ConfigError, match="listed twice"):
        matrix_from_dict({"batch_size": ["full", "full"]}, "m")


def _bench(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_bench_compare_against_an_empty_baseline_is_refused(tmp_path, capsys):
    from symjax.report.bench import COMPARED

    current = bench_json()
    empty = json.loads(json.dumps(current))
    for bench in empty["benchmarks"]:
        if bench["extra_info"]["kind"] == "side_by_side":
            for key in COMPARED:  # not measured, or zero
                bench["extra_info"][key] = 0 if key == "percent_of_gemm_peak" else None
    argv = [
        "bench-compare",
        _bench(tmp_path, "current.json", current),
        "--baseline",
        _bench(tmp_path, "base.json", empty),
    ]
    assert "nothing to compare" in refused(argv, capsys, tmp_path / "none")


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, '{"benchmarks": ' + "[" * 5000 + "]" * 5000 + "}"])
def test_bench_json_nested_5000_deep(text, tmp_path, capsys):
    path = _bench(tmp_path, "deep.json", text)
    refused(
        ["bench-compare", path, "--baseline", _bench(tmp_path, "b.json", bench_json())],
        capsys,
        tmp_path / "none",
    )
    refused(
        ["report", "--bench-only", "--bench", path, "--out", str(tmp_path / "rep")], capsys, tmp_path / "rep"
    )
