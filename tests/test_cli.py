"""CLI: bad input gives one line on stderr, exit status 2 and no files, the line naming the key, flag or value
at fault; list and help work."""

import subprocess
import sys

import pytest
from helpers import assert_usage_error, run_cli, toml_text

from symjax.cli import main

BASE = ["run", "--matrix", "smoke", "--quiet"]  # what every case of BAD_RUN_ARGS changes
# case: (flags added to BASE, the words its message must hold: the key or flag at fault and its value)
BAD_RUN_ARGS = {
    "unknown dataset": (["--dataset", "cifar"], ["dataset:", "'cifar'"]),
    "unknown activation": (["--activation", "swish"], ["activation:", "'swish'"]),
    "unknown optimizer": (["--optimizer", "lbfgs"], ["optimizer:", "'lbfgs'"]),
    "unknown weight init": (["--schemes", "kaiming/zeros"], ["schemes:", "weight init 'kaiming'"]),
    "unknown bias init": (["--schemes", "zeros/cauchy(1.0)"], ["schemes:", "bias init 'cauchy(1.0)'"]),
    "scheme without slash": (["--schemes", "zeros"], ["schemes:", "'zeros'", "WEIGHT/BIAS"]),
    "scheme missing argument": (
        ["--schemes", "constant/zeros,lecun_normal/zeros"],
        ["schemes:", "'constant'", "1 argument"],
    ),
    "reference missing": (
        ["--schemes", "zeros/normal(1.0)"],
        ["schemes:", "reference scheme lecun_normal/zeros"],
    ),
    "zero seeds": (["--seeds", "0"], ["seeds:", "got 0"]),
    "non-integer seeds": (["--seeds", "many"], ["--seeds", "'many'"]),
    "negative steps": (["--steps", "-5"], ["steps:", "got -5"]),
    "zero log-every": (["--log-every", "0"], ["log_every:", "got 0"]),
    "log-every above steps": (["--steps", "10", "--log-every", "20"], ["log_every:", "steps (10)", "got 20"]),
    "zero batch": (["--batch-size", "0"], ["--batch-size", "'0'"]),
    "word batch": (["--batch-size", "half"], ["--batch-size", "'half'"]),
    "negative width": (["--hidden", "100,-1"], ["hidden:", "got -1"]),
    "empty width": (["--hidden", "100,"], ["--hidden", "'100,'"]),
    "non-numeric lr": (["--lr", "fast"], ["--lr", "'fast'"]),
    "negative lr": (["--lr", "0.1,-0.1"], ["lr:", "got -0.1"]),
    "negative target": (["--target-loss", "-1"], ["target_loss:", "got -1"]),
    "batch larger than the dataset": (
        ["--batch-size", "5000"],
        ["batch_size:", "5000", "4000 training examples of mnist1d"],
    ),
    "infinite lr": (["--lr", "inf"], ["lr:", "got inf"]),
    "nan target": (["--target-loss", "nan"], ["target_loss:", "got nan"]),
    "unknown matrix": (["--matrix", "huge"], ["matrix 'huge'"]),
    "unknown flag": (["--sedes", "3"], ["--sedes"]),
}


def test_the_base_command_line_is_accepted(tmp_path, capsys, monkeypatch):
    """BASE itself (the smoke matrix) is valid: what refuses each case of BAD_RUN_ARGS is its own flags."""
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, [*BASE, "--out", tmp_path / "out", "--dry-run"]).code == 0


@pytest.mark.parametrize("args,words", BAD_RUN_ARGS.values(), ids=BAD_RUN_ARGS.keys())
def test_bad_run_input_is_one_line_exit_2_nothing_written(args, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_usage_error(run_cli(capsys, [*BASE, "--out", tmp_path / "out", *args]), *words, folder=tmp_path)


def test_error_names_what_is_allowed(capsys):
    assert_usage_error(run_cli(capsys, [*BASE, "--activation", "swish"]), "swish", "tanh", "relu")
    assert_usage_error(run_cli(capsys, [*BASE, "--schemes", "kaiming/zeros"]), "kaiming", "lecun_normal")


# case: (matrix file: TOML text, or the values of its keys; the words its message must hold beside the file's
# path)
MALFORMED_TOML = {
    "syntax": ("name = 'x\nseeds = ", ["not valid TOML"]),
    "unknown key": ({"seeds": 2, "sedes": 3}, ["unknown key 'sedes'"]),
    "wrong type": ({"seeds": "two"}, ["seeds:", "'two'"]),
    "empty axis": ({"activation": []}, ["activation:", "got []"]),
    "bad hidden": ({"hidden": [[100, 0]]}, ["hidden:", "got 0"]),
    "bad batch": ({"batch_size": "most"}, ["batch_size:", "'most'"]),
    "bool seeds": ({"seeds": True}, ["seeds:", "got True"]),
    "unknown scheme": (
        {"schemes": ["lecun_normal/zeros", "zeros/laplace(1.0)"]},
        ["schemes:", "bias init 'laplace(1.0)'"],
    ),
}


@pytest.mark.parametrize("content,words", MALFORMED_TOML.values(), ids=MALFORMED_TOML.keys())
def test_malformed_matrix_file(content, words, tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text(content if isinstance(content, str) else toml_text(content))
    result = run_cli(capsys, ["run", "--matrix", path, "--out", tmp_path / "out"])
    assert_usage_error(result, f"{path}: ", *words, folder=tmp_path / "out")


def test_missing_matrix_file(tmp_path, capsys):
    assert_usage_error(run_cli(capsys, ["run", "--matrix", tmp_path / "nope.toml"]), "nope.toml")


@pytest.mark.parametrize(
    "argv,words", [([], ["command"]), (["fly"], ["'fly'"]), (["report", "--bogus"], ["--bogus"])]
)
def test_bad_commands(argv, words, capsys):
    assert_usage_error(run_cli(capsys, argv), *words)


def test_report_on_missing_or_empty_folder(tmp_path, capsys):
    for folder in (tmp_path / "none", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        result = run_cli(capsys, ["report", "--results", folder, "--out", tmp_path / "rep"])
        assert_usage_error(
            result, f"{folder} is not a results folder", "runs.parquet", folder=tmp_path / "rep"
        )


def test_list_names_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in [
        "lecun_normal",
        "orthogonal",
        "normal(x)",
        "uniform(x)",
        "mnist1d",
        "adam",
        "momentum",
        "gelu",
        "default",
        "smoke",
    ]:
        assert word in out


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["report", "--help"], ["list", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: symjax" in capsys.readouterr().out


def test_import_leaves_statistics_and_plotting_for_the_report():
    """`symjax run` starts faster: importing symjax loads neither scipy.stats nor matplotlib until a report
    needs them."""
    heavy = ("scipy.stats", "matplotlib", "symjax.report.build", "symjax.analysis.tables")
    code = (
        f"import sys, symjax; print([m for m in {heavy!r} if m in sys.modules]); symjax.summarize; "
        "symjax.build_report"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
