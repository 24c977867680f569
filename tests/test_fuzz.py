"""Property-based bad input: generated malformed matrix files and command lines (hypothesis, 500+
examples each) always end in one line on stderr, exit status 2 and no file under the results folder.
Also: unreadable and missing files, an unwritable results folder, a full disk, damaged results."""

import contextlib
import errno
import io
import json
import re
from pathlib import Path

import pytest
from helpers import toml_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symjax.cli import main
from symjax.core.data import DATASETS, TRAIN_SIZES
from symjax.core.group import DTYPES
from symjax.core.models import ACTIVATIONS, MAX_HIDDEN_LAYERS, MODELS
from symjax.core.optimizers import OPTIMIZERS
from symjax.core.plugins import REGISTERED_MODELS
from symjax.core.schemes import BIAS_INIT_ARGS, REGISTERED_INITS, SCHEME_ALIASES, WEIGHT_INIT_ARGS
from symjax.matrix.load import builtin_matrices, load_matrix, matrix_from_dict
from symjax.matrix.spec import ConfigError

VALID = {
    "dataset": "mnist1d",
    "hidden": [[8]],
    "activation": "tanh",
    "optimizer": "sgd",
    "lr": 0.1,
    "batch_size": 64,
    "schemes": ["lecun_normal/zeros", "zeros/normal(1.0)"],
    "seeds": 2,
    "steps": 4,
    "log_every": 2,
}

# every name a registry of symjax holds: datasets, models, activations, optimizers, inits, scheme aliases,
# dtypes, matrices
NAMES = frozenset(
    {
        *DATASETS,
        *MODELS,
        *ACTIVATIONS,
        *OPTIMIZERS,
        *WEIGHT_INIT_ARGS,
        *BIAS_INIT_ARGS,
        *SCHEME_ALIASES,
        *DTYPES,
        *builtin_matrices(),
    }
)


def is_a_name(text: str) -> bool:
    """Whether ``text`` names something symjax knows (plug-ins registered so far in this process included),
    also with the spaces around it that a comma-separated flag value drops."""
    return any(t in NAMES or t in REGISTERED_INITS or t in REGISTERED_MODELS for t in (text, text.strip()))


def matrix_keys() -> list[str]:
    """The keys a matrix file may hold, as symjax lists them when it refuses an unknown key."""
    with pytest.raises(ConfigError, match="allowed keys: ") as refused:
        matrix_from_dict({"?": 0}, "m")
    return str(refused.value).split("allowed keys: ", 1)[1].split(", ")


def run_flags() -> set[str]:
    """The flags of `symjax run`, without their leading dashes, as its --help lists them."""
    with contextlib.redirect_stdout(io.StringIO()) as help_text, pytest.raises(SystemExit):
        main(["run", "--help"])
    return set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)", help_text.getvalue()))


SMOKE_STEPS = load_matrix("smoke").steps
not_a_name = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12).filter(
    lambda t: not is_a_name(t)
)
wrong_type = st.one_of(
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.booleans(), min_size=1, max_size=2),
)
non_positive = st.one_of(st.integers(max_value=0), st.just(-0.5))
bad_scheme = st.one_of(
    not_a_name.filter(lambda t: "/" not in t),  # no slash
    st.sampled_from(["zeros", "lecun_normal", "constant(0.1)"]).map(lambda w: f"{w}/laplace(1.0)"),
    st.sampled_from(["normal", "uniform"]).flatmap(
        lambda b: st.floats(max_value=0).map(lambda v: f"zeros/{b}({v})")
    ),
    st.integers(min_value=9).map(lambda n: f"zeros/zeros@{n}=zeros/zeros"),
    st.text(alphabet="()[]@=,/ ", min_size=1, max_size=8),
)
BAD_VALUES = {
    "dataset": st.one_of(not_a_name, wrong_type, st.just([])),
    "model": st.one_of(not_a_name, wrong_type, st.just([])),
    "activation": st.one_of(not_a_name, wrong_type, st.just([])),
    "optimizer": st.one_of(not_a_name, wrong_type, st.just([])),
    "hidden": st.one_of(
        st.lists(non_positive, min_size=1, max_size=3),
        st.just([[-1]]),
        st.lists(st.just(4), min_size=MAX_HIDDEN_LAYERS + 1, max_size=MAX_HIDDEN_LAYERS + 4),
        wrong_type,
        not_a_name,
    ),
    "lr": st.one_of(non_positive, st.just(float("inf")), st.just(float("nan")), not_a_name, st.just([])),
    "batch_size": st.one_of(
        non_positive,
        st.integers(min_value=TRAIN_SIZES[VALID["dataset"]] + 1),
        not_a_name.filter(lambda t: t != "full"),
        st.just(1.5),
    ),
    "schemes": st.one_of(
        bad_scheme,
        st.lists(bad_scheme, min_size=1, max_size=2).map(lambda s: ["lecun_normal/zeros", *s]),
        st.just([]),
        wrong_type,
    ),
    "seeds": st.one_of(non_positive, st.floats(0.1, 10), not_a_name, wrong_type),
    "steps": st.one_of(non_positive, not_a_name, st.just(1.5)),
    "log_every": st.one_of(non_positive, st.integers(min_value=5, max_value=10**6)),  # above steps (4)
    "chunk_runs": st.one_of(non_positive, not_a_name),
    "target_loss": st.one_of(non_positive, st.just(float("nan")), not_a_name),
    "exclude": st.one_of(
        st.just({"lr": 0.1}),
        st.just([{"colour": "red"}]),
        st.just([{}]),
        st.just([{"lr": "x"}]),
        st.just([{"optimizer": "sgd"}]),
        st.just([{"scheme": "lecun_normal/zeros"}]),
        st.just([1]),
    ),
    "weights": st.just(["zeros"]),  # without biases
    "dtype": st.one_of(not_a_name, wrong_type, st.just([])),
}
MATRIX_KEYS = frozenset(matrix_keys())
unknown_key = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10).filter(
    lambda k: k not in MATRIX_KEYS
)


@st.composite
def malformed_case(draw) -> tuple[str, str, str | None]:
    """(kind, file text, the key made bad): VALID with one value made bad ("value") or one unknown key added
    ("unknown key"), or a file that is not TOML at all ("garbage", key None)."""
    values = dict(VALID)
    kind = draw(st.sampled_from(["value", "value", "value", "unknown key", "garbage"]))
    if kind == "garbage":
        return kind, "= " + draw(st.text(max_size=40)), None  # a line starting with '=' is never valid TOML
    if kind == "unknown key":
        key = draw(unknown_key)
        values[key] = draw(st.integers())
    else:
        key = draw(st.sampled_from(sorted(BAD_VALUES)))
        values[key] = draw(BAD_VALUES[key])
    return kind, toml_text(values), key


def malformed_matrix():
    return malformed_case().map(lambda case: case[1])


def assert_rejected(code: int, capsys, results: Path) -> str:
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("symjax: error: "), err
    assert not results.exists(), "nothing may be written"
    return err


FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(text=malformed_matrix())
def test_generated_malformed_matrices_are_rejected(text, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    results = tmp_path / "results"
    err = assert_rejected(
        main(["run", "--matrix", str(path), "--out", str(results), "--quiet"]), capsys, results
    )
    assert str(path) in err, "the message names the file"


BAD_FLAGS = {
    "--seeds": st.one_of(non_positive.map(str), not_a_name.filter(lambda t: not t.strip().isdigit())),
    "--steps": st.one_of(non_positive.map(str), st.just("1e3")),
    # above smoke's steps
    "--log-every": st.one_of(non_positive.map(str), st.integers(SMOKE_STEPS + 1, 10**6).map(str)),
    "--dataset": not_a_name.filter(lambda t: t.strip() and "," not in t),
    "--model": not_a_name.filter(lambda t: t.strip() and "," not in t),
    "--activation": not_a_name.filter(lambda t: t.strip() and "," not in t),
    "--optimizer": not_a_name.filter(lambda t: t.strip() and "," not in t),
    "--hidden": st.one_of(
        st.lists(non_positive, min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
        st.just("8,"),
        st.just("eight"),
        st.just(",".join(["4"] * 9)),
    ),
    "--lr": st.one_of(
        st.just("-0.1"), st.just("0"), st.just("inf"), st.just("nan"), st.just("fast"), st.just("0.1,,0.2")
    ),
    "--batch-size": st.one_of(
        non_positive.map(str),
        st.just("half"),
        st.integers(TRAIN_SIZES[load_matrix("smoke").datasets[0]] + 1, 10**7).map(str),
    ),
    "--schemes": bad_scheme.filter(lambda t: t.strip() and not t.startswith("-")),
    "--target-loss": st.one_of(st.just("-1"), st.just("nan"), st.just("low")),
    "--max-memory": st.one_of(st.just("0"), st.just("-1GB"), st.just("lots"), st.just("3x"), st.just("1KB")),
    "--dtype": not_a_name.filter(lambda t: t.strip() and "," not in t),
    "--matrix": not_a_name.filter(
        lambda t: not t.endswith(".toml") and t.strip() and not t.startswith("-") and not Path(t).exists()
    ),
}


RUN_FLAGS = frozenset(run_flags())


@st.composite
def bad_command_line(draw) -> list[str]:
    args = ["run", "--matrix", "smoke", "--quiet"]
    if draw(st.booleans()):
        flag = draw(st.sampled_from(sorted(BAD_FLAGS)))
        return [*args, flag, draw(BAD_FLAGS[flag])]
    unknown = draw(st.text("abcdefghijklmnopqrstuvwxyz-", min_size=2, max_size=10)).strip("-")
    if not unknown or any(k.startswith(unknown) for k in RUN_FLAGS):  # argparse accepts unique prefixes
        unknown = "bogus"
    return [*args, f"--{unknown}", "1"]


@FUZZ
@given(argv=bad_command_line())
def test_generated_bad_command_lines_are_rejected(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    assert_rejected(main([*argv, "--out", str(results)]), capsys, results)


@FUZZ
@given(case=malformed_case())
def test_generated_matrices_are_refused_by_symjax_naming_the_key(case, tmp_path):
    """symjax.matrix.load.load_matrix on every generated file: a file that is not TOML is refused as such;
    every other file parses, so it is symjax's own checks that must refuse it, in a message that names the
    file and the key that was made bad (and does not blame the TOML)."""
    kind, text, key = case
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_matrix(str(path))
    message = str(refused.value)
    assert message.startswith(f"{path}: "), message
    detail = message[len(f"{path}: ") :]
    if kind == "garbage":
        assert detail.startswith("not valid TOML"), detail
    elif kind == "unknown key":
        assert detail.startswith(f"unknown key {key!r}"), detail
    else:
        assert detail.startswith(key) and "not valid TOML" not in detail, (key, detail)


def test_the_valid_base_matrix_is_accepted(tmp_path):
    """VALID, which every generated file changes in one key, is a valid matrix: what refuses a generated file
    is that key."""
    path = tmp_path / "ok.toml"
    path.write_text(toml_text(VALID), encoding="utf-8")
    matrix = load_matrix(str(path))
    assert (
        matrix.name,
        matrix.datasets,
        matrix.hidden,
        matrix.activations,
        matrix.optimizers,
        matrix.lrs,
    ) == ("ok", ("mnist1d",), ((8,),), ("tanh",), ("sgd",), (0.1,))
    assert (matrix.batch_sizes, matrix.seeds, matrix.steps, matrix.log_every) == ((64,), 2, 4, 2)
    assert matrix.schemes == ("lecun_normal/zeros", "zeros/normal(1.0)")


def test_unreadable_matrix_file(tmp_path, capsys):
    folder = tmp_path / "dir.toml"
    folder.mkdir()  # a folder where a file is expected cannot be read (unlike chmod, this holds for root too)
    assert_rejected(
        main(["run", "--matrix", str(folder), "--out", str(tmp_path / "r")]), capsys, tmp_path / "r"
    )


def test_results_folder_not_writable(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    results = blocker / "results"  # under a regular file: cannot be created
    code = main(
        ["run", "--matrix", "smoke", "--out", str(results), "--quiet", "--steps", "4", "--log-every", "2"]
    )
    out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot write" in err


def test_disk_full_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    import pandas as pd

    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    results = tmp_path / "results"
    code = main(
        ["run", "--matrix", "smoke", "--out", str(results), "--quiet", "--steps", "4", "--log-every", "2"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err and len(err.strip().splitlines()) == 1
    assert not list(results.glob("*.parquet")) and not list(results.glob(".*.tmp")), "no partial results file"
    assert len(list((results / "chunks").glob("*.npz"))) == 2, "finished chunks are kept for the next try"


@pytest.mark.parametrize(
    "damage", ["partial", "old format", "damaged parquet", "config not json", "config a list"]
)
def test_report_on_bad_results_folder(damage, smoke_results, tmp_path, capsys):
    import shutil

    folder = tmp_path / "results"
    shutil.copytree(smoke_results, folder)
    if damage == "partial":
        (folder / "curves.parquet").unlink()
    elif damage == "old format":
        (folder / "config.json").write_text(json.dumps({"format_version": 1, "matrix": {}}))
    elif damage == "damaged parquet":
        (folder / "runs.parquet").write_bytes(b"not parquet")
    elif damage == "config not json":
        (folder / "config.json").write_text("{")
    else:
        (folder / "config.json").write_text("[]")
    code = main(["report", "--results", str(folder), "--out", str(tmp_path / "rep")])
    out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "rep").exists()
