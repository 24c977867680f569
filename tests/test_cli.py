"""CLI: bad input gives one line on stderr, exit status 2 and no files; list and help work."""

import subprocess
import sys

import pytest

from symjax.cli import main

BAD_RUN_ARGS = {
    "unknown dataset": ["--dataset", "cifar"],
    "unknown activation": ["--activation", "swish"],
    "unknown optimizer": ["--optimizer", "lbfgs"],
    "unknown weight init": ["--schemes", "kaiming/zeros"],
    "unknown bias init": ["--schemes", "zeros/cauchy(1.0)"],
    "scheme without slash": ["--schemes", "zeros"],
    "scheme missing argument": ["--schemes", "constant/zeros,lecun_normal/zeros"],
    "reference missing": ["--schemes", "zeros/normal(1.0)"],
    "zero seeds": ["--seeds", "0"],
    "non-integer seeds": ["--seeds", "many"],
    "negative steps": ["--steps", "-5"],
    "zero log-every": ["--log-every", "0"],
    "log-every above steps": ["--steps", "10", "--log-every", "20"],
    "zero batch": ["--batch-size", "0"],
    "word batch": ["--batch-size", "half"],
    "negative width": ["--hidden", "100,-1"],
    "empty width": ["--hidden", "100,"],
    "non-numeric lr": ["--lr", "fast"],
    "negative lr": ["--lr", "0.1,-0.1"],
    "negative target": ["--target-loss", "-1"],
    "batch larger than the dataset": ["--batch-size", "5000"],
    "infinite lr": ["--lr", "inf"],
    "nan target": ["--target-loss", "nan"],
    "unknown matrix": ["--matrix", "huge"],
    "unknown flag": ["--sedes", "3"],
}


def assert_one_line_usage_error(capsys, code):
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("symjax: error:")
    return lines[0]


@pytest.mark.parametrize("args", BAD_RUN_ARGS.values(), ids=BAD_RUN_ARGS.keys())
def test_bad_run_input_is_one_line_exit_2_nothing_written(args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    code = main(["run", "--matrix", "smoke", "--out", str(out), "--quiet", *args] if "--matrix" not in args
                else ["run", "--out", str(out), "--quiet", *args])
    assert_one_line_usage_error(capsys, code)
    assert list(tmp_path.iterdir()) == [], "nothing may be written"


def test_error_names_what_is_allowed(capsys):
    line = assert_one_line_usage_error(capsys, main(["run", "--matrix", "smoke", "--activation", "swish"]))
    assert "swish" in line and "tanh" in line and "relu" in line
    line = assert_one_line_usage_error(capsys, main(["run", "--matrix", "smoke", "--schemes", "kaiming/zeros"]))
    assert "kaiming" in line and "lecun_normal" in line


MALFORMED_TOML = {
    "syntax": "name = 'x\nseeds = ",
    "unknown key": 'seeds = 2\nsedes = 3\n',
    "wrong type": 'seeds = "two"\n',
    "empty axis": "activation = []\n",
    "bad hidden": "hidden = [[100, 0]]\n",
    "bad batch": 'batch_size = "most"\n',
    "bool seeds": "seeds = true\n",
    "unknown scheme": 'schemes = ["lecun_normal/zeros", "zeros/laplace(1.0)"]\n',
}


@pytest.mark.parametrize("text", MALFORMED_TOML.values(), ids=MALFORMED_TOML.keys())
def test_malformed_matrix_file(text, tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    line = assert_one_line_usage_error(capsys, main(["run", "--matrix", str(path), "--out", str(tmp_path / "out")]))
    assert str(path) in line
    assert not (tmp_path / "out").exists()


def test_missing_matrix_file(tmp_path, capsys):
    line = assert_one_line_usage_error(capsys, main(["run", "--matrix", str(tmp_path / "nope.toml")]))
    assert "nope.toml" in line


@pytest.mark.parametrize("argv", [[], ["fly"], ["report", "--bogus"]])
def test_bad_commands(argv, capsys):
    assert_one_line_usage_error(capsys, main(argv))


def test_report_on_missing_or_empty_folder(tmp_path, capsys):
    line = assert_one_line_usage_error(capsys, main(["report", "--results", str(tmp_path / "none"), "--out", str(tmp_path / "rep")]))
    assert "runs.parquet" in line
    assert not (tmp_path / "rep").exists()
    (tmp_path / "empty").mkdir()
    assert_one_line_usage_error(capsys, main(["report", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "rep")]))


def test_list_names_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ["lecun_normal", "orthogonal", "normal(x)", "uniform(x)", "mnist1d", "adam", "momentum", "gelu", "default", "smoke"]:
        assert word in out


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["report", "--help"], ["list", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: symjax" in capsys.readouterr().out


def test_import_leaves_statistics_and_plotting_for_the_report():
    """`symjax run` starts faster: importing symjax loads neither scipy.stats nor matplotlib until a report needs them."""
    heavy = ("scipy.stats", "matplotlib", "symjax.report.build", "symjax.analysis.tables")
    code = f"import sys, symjax; print([m for m in {heavy!r} if m in sys.modules]); symjax.summarize; symjax.build_report"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
