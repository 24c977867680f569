"""The table of matrix axes: what is derived from it, the versioned matrix identity, and the resume key's code
hash."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from symjax.cli import build_parser, matrix_from_args
from symjax.core.axes import AXES, GROUPED, MATRIX_VERSION, REQUIRED, SETTING_COLUMNS, registry, upgrade
from symjax.core.group import GroupConfig
from symjax.engine import resume
from symjax.engine.plan import make_plan
from symjax.matrix.load import _KEYS, load_matrix, matrix_from_dict
from symjax.matrix.spec import LIMITS, ConfigError, Matrix
from symjax.results.store import matrix_digest, same_matrix

DATA = Path(__file__).parent / "data"


def test_matrix_fields_and_defaults_are_the_table():
    fields = dataclasses.fields(Matrix)
    assert [f.name for f in fields] == [a.field for a in AXES]
    for field, axis in zip(fields, AXES):
        assert (field.default is dataclasses.MISSING) == (axis.default is REQUIRED), axis.field
        if axis.default is not REQUIRED:
            assert field.default == axis.default, axis.field


def test_group_config_holds_the_grouped_and_group_axes_first_versions_first():
    names = [f.name for f in dataclasses.fields(GroupConfig)]
    axes = [a for a in AXES if a.role in ("grouped", "group")]
    assert sorted(names) == sorted(a.single for a in axes)
    first = [a.single for a in axes if a.since == 1]
    assert names[: len(first)] == first  # code written for the first version builds it positionally
    assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(GroupConfig)[len(first) :])


def test_every_axis_is_a_toml_key_a_bound_and_where_it_has_one_a_flag():
    assert {a.key for a in AXES} <= set(_KEYS)
    assert LIMITS == {a.key: a.limit for a in AXES if a.limit is not None}
    flags = {
        option
        for action in build_parser()._subparsers._group_actions[0].choices["run"]._actions
        for option in action.option_strings
    }
    assert {a.flag for a in AXES if a.flag} <= flags
    for axis in (a for a in AXES if a.allowed):
        assert len(registry(axis)) >= 1, axis.field
    assert set(SETTING_COLUMNS) >= {a.single for a in GROUPED}


@pytest.mark.parametrize("axis", [a for a in AXES if a.allowed], ids=lambda a: a.key)
def test_an_unknown_value_of_a_registry_axis_names_its_key(axis):
    with pytest.raises(ConfigError, match=rf"^{axis.key}: unknown {axis.key} 'nonsense'; allowed: "):
        matrix_from_dict({axis.key: ["nonsense"]}, "t")


@pytest.mark.parametrize("axis", [a for a in AXES if a.limit is not None], ids=lambda a: a.key)
def test_a_value_beyond_an_axis_bound_names_its_key(axis):
    value = (
        [[axis.limit + 1]]
        if axis.key == "hidden"
        else ([axis.limit + 1] if axis.kind != "int" else axis.limit + 1)
    )
    with pytest.raises(ConfigError, match=rf"^{axis.key}: must be a positive integer up to {axis.limit:,}"):
        matrix_from_dict({axis.key: value}, "t")


@pytest.mark.parametrize(
    "axis", [a for a in AXES if a.flag and a.kind in ("int", "strs")], ids=lambda a: a.key
)
def test_each_flag_replaces_its_axis(axis):
    smoke = load_matrix("smoke")
    if axis.kind == "int":
        candidates = ["1"]
    elif axis.allowed:
        candidates = [name for name in registry(axis) if (name,) != getattr(smoke, axis.field)]
    else:
        candidates = [smoke.reference]
    more = [] if axis.key == "log_every" else ["--log-every", "1"]
    for value in candidates:  # the first value that makes a valid matrix with smoke's other axes
        try:
            matrix = matrix_from_args(
                build_parser().parse_args(["run", "--matrix", "smoke", axis.flag, value, *more])
            )
        except ConfigError:
            continue
        expected = 1 if axis.kind == "int" else (value,)
        assert getattr(smoke, axis.field) != expected  # so the flag visibly replaced the matrix's value
        assert getattr(matrix, axis.field) == expected
        return
    pytest.fail(f"no value of {axis.flag} makes a valid matrix: {candidates}")


def test_later_axes_say_what_earlier_matrices_had():
    later = [a for a in AXES if a.since > 1]
    assert later and all(a.since <= MATRIX_VERSION and a.earlier is not None for a in later)
    assert max(a.since for a in AXES) == MATRIX_VERSION


def test_a_matrix_written_before_later_keys_keeps_its_identity():
    """tests/data/manifest_before_rank_every.json: results/default/manifest.json as written before rank_every
    and dtypes existed (git show 1821910^:results/default/manifest.json)."""
    old = json.loads((DATA / "manifest_before_rank_every.json").read_text())
    assert "rank_every" not in old["matrix"] and "dtypes" not in old["matrix"]
    # the default matrix as it was then: modern and batch joined its companions later
    default = dataclasses.replace(load_matrix("default"), companions=("horizon", "sweeps"))
    assert same_matrix(old, default.to_dict())
    assert not same_matrix(old, dataclasses.replace(default, rank_every=2).to_dict())
    assert not same_matrix(old, dataclasses.replace(default, dtypes=("float64",)).to_dict())
    assert not same_matrix(old, dataclasses.replace(default, seeds=default.seeds + 1).to_dict())


def test_upgrade_fills_only_missing_keys_and_orders_rule_axes():
    assert upgrade({"rank_every": 2})["rank_every"] == 2
    rules = [[["scheme", ["a/b"]], ["dtype", ["float64"]]]]
    assert upgrade({"excludes": rules})["excludes"] == [[["dtype", ["float64"]], ["scheme", ["a/b"]]]]
    assert matrix_digest({"excludes": rules}) == matrix_digest({"excludes": [rules[0][::-1]]})


def _edited_code_hash(monkeypatch, tmp_path, module: str, edit) -> str:
    """code_hash() with the source of ``module`` replaced by ``edit(source)``."""
    real = importlib.util.find_spec
    source = Path(real(module).origin).read_text()
    edited = tmp_path / f"{module.rsplit('.', 1)[-1]}.py"
    edited.write_text(edit(source))
    assert edited.read_text() != source

    def find_spec(name, *args):
        return importlib.util.spec_from_file_location(name, edited) if name == module else real(name, *args)

    monkeypatch.setattr(resume.importlib.util, "find_spec", find_spec)
    try:
        return resume.code_hash()
    finally:
        monkeypatch.undo()


def _prose_edit(source: str) -> str:
    """Comments, a docstring's words and the formatting changed; no operation changed."""
    first_doc = source.index('"""') + 3
    text = source[:first_doc] + "Edited words. " + source[first_doc:]
    text = text.replace("def ", "# a new comment\n\n\ndef ", 1)
    return text.replace("(", "( ", 3) + "\n# edited\n"


@pytest.mark.parametrize("module", ["symjax.core.train", "symjax.core.group", "symjax.engine.program"])
def test_a_comment_docstring_or_format_edit_keeps_every_saved_chunk(monkeypatch, tmp_path, module):
    before = resume.code_hash()
    assert resume.code_hash() == before  # deterministic
    assert _edited_code_hash(monkeypatch, tmp_path, module, _prose_edit) == before
    matrix = load_matrix("smoke")
    keys = make_plan(matrix, 1).keys
    monkeypatch.setattr("symjax.engine.plan.code_hash", lambda: before)
    assert make_plan(matrix, 1).keys == keys


def test_a_changed_operation_retrains(monkeypatch, tmp_path):
    before = resume.code_hash()
    changed = _edited_code_hash(
        monkeypatch,
        tmp_path,
        "symjax.core.optimizers",
        lambda s: s.replace("momentum=0.9)", "momentum=0.8)", 1),
    )
    assert changed != before
    monkeypatch.setattr(resume, "TRAINER_VERSION", resume.TRAINER_VERSION + 1)
    assert resume.code_hash() != before


def test_warmup_cosine_rises_to_the_rate_over_5_percent_then_decays_to_zero():
    import jax.numpy as jnp

    from symjax.core.optimizers import rate_schedule

    rates = [
        float(rate_schedule("warmup_cosine", jnp.float32(0.1), 200)(step)) for step in (0, 5, 10, 105, 200)
    ]
    assert rates[0] == 0 and rates[1] == pytest.approx(0.05) and rates[2] == pytest.approx(0.1)
    assert rates[3] == pytest.approx(0.05, rel=0.02) and rates[4] == pytest.approx(0, abs=1e-9)
    assert rate_schedule("constant", 0.1, 200) == 0.1


def test_the_schedule_axis_makes_groups_columns_and_labels(tmp_path):
    """The axis added by one table entry and its trainer effect reaches groups, runs, labels, identity."""
    from symjax.api import run_matrix
    from symjax.report.format import setting_label
    from symjax.results.store import load_results

    matrix = dataclasses.replace(
        load_matrix("smoke"), schedules=("constant", "warmup_cosine"), seeds=1, steps=20, log_every=10
    )
    assert {g.schedule for g in matrix.groups()} == {"constant", "warmup_cosine"}
    runs = load_results(run_matrix(matrix, tmp_path / "r", show_progress=False)).runs
    assert set(runs["schedule"]) == {"constant", "warmup_cosine"}
    labels = {setting_label(row) for _, row in runs.iterrows()}
    assert any(label.endswith(" · warmup_cosine") for label in labels)
    assert not any("constant" in label for label in labels)
    assert matrix_digest(matrix.to_dict()) != matrix_digest(load_matrix("smoke").to_dict())


def test_only_refused_input_is_one_line_an_internal_bug_keeps_its_traceback(monkeypatch, capsys):
    import symjax.cli as cli
    from symjax.core.errors import SymjaxError

    def empty(args):
        raise SymjaxError("")

    def bug(args):
        raise ValueError("an internal bug")

    monkeypatch.setattr(cli, "_list", empty)
    assert cli.main(["list"]) == 2
    assert capsys.readouterr().err == "symjax: error: SymjaxError\n"  # an empty message still makes one line
    monkeypatch.setattr(cli, "_list", bug)
    with pytest.raises(ValueError, match="an internal bug"):
        cli.main(["list"])
