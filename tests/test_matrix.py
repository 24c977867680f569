"""Matrix files: axes, exclude rules, the weights x biases grid, depth limits, the plan and --dry-run."""

import dataclasses

import pytest

from symjax.cli import main
from symjax.engine.estimate import group_costs
from symjax.engine.plan import expand, make_plan
from symjax.matrix.load import builtin_matrices, load_matrix, matrix_from_dict
from symjax.matrix.spec import ConfigError

BASE = {
    "dataset": "mnist1d",
    "hidden": [[8]],
    "activation": "tanh",
    "optimizer": "sgd",
    "lr": [0.1, 0.5],
    "schemes": ["lecun_normal/zeros", "zeros/normal(1.0)"],
    "seeds": 2,
    "steps": 4,
    "log_every": 2,
}


def matrix(**changes):
    return matrix_from_dict({**BASE, **changes}, "test")


def runs_of(m):
    return [(cfg, r.lr, r.scheme) for cfg, runs in expand(m) for r in runs]


def test_run_set_is_the_product_of_the_axes_times_seeds():
    m = matrix(activation=["tanh", "relu"], optimizer=["sgd", "adam"])
    plan = expand(m)
    assert len(plan) == 4, "activation x optimizer groups; lr and scheme vary inside a group"
    assert sum(len(runs) for _, runs in plan) == 4 * 2 * 2 * 2
    assert [r.run_id for _, runs in plan for r in runs] == list(range(32))


def test_exclude_rules_remove_matching_runs_and_empty_groups():
    m = matrix(
        optimizer=["sgd", "adam"],
        exclude=[{"optimizer": "adam", "lr": 0.5}, {"optimizer": "sgd", "lr": [0.1]}],
    )
    pairs = {(cfg.optimizer, lr) for cfg, lr, _ in runs_of(m)}
    assert pairs == {("adam", 0.1), ("sgd", 0.5)}
    m = matrix(activation=["tanh", "relu"], exclude=[{"activation": "relu"}])
    assert {cfg.activation for cfg, _ in expand(m)} == {"tanh"}


def test_exclude_by_scheme_uses_canonical_names():
    m = matrix(exclude=[{"scheme": "zeros/normal(1)", "lr": 0.5}])
    assert "zeros/normal(1.0)" not in {s for _, lr, s in runs_of(m) if lr == 0.5}
    assert "zeros/normal(1.0)" in {s for _, lr, s in runs_of(m) if lr == 0.1}


def test_weights_times_biases_grid_and_scale_lists():
    m = matrix(
        schemes=["lecun_normal/zeros"], weights=["zeros", "constant(0.05)"], biases=["normal([0.5, 1])"]
    )
    assert m.schemes == (
        "zeros/normal(0.5)",
        "zeros/normal(1.0)",
        "constant(0.05)/normal(0.5)",
        "constant(0.05)/normal(1.0)",
        "lecun_normal/zeros",
    )


def test_models_and_depths():
    m = matrix(model=["mlp", "cnn"], hidden=[[4, 4], [2] * 8])
    assert {(cfg.model, len(cfg.hidden)) for cfg, _ in expand(m)} == {
        ("mlp", 2),
        ("mlp", 8),
        ("cnn", 2),
        ("cnn", 8),
    }


BAD_MATRICES = {
    "exclude not a list of tables": ({"exclude": {"lr": 0.1}}, "exclude"),
    "exclude unknown axis": ({"exclude": [{"colour": "red"}]}, "colour"),
    "exclude wrong type": ({"exclude": [{"lr": "fast"}]}, "lr"),
    "exclude removes everything": ({"exclude": [{"optimizer": "sgd"}]}, "every run"),
    "exclude removes the reference": (
        {"exclude": [{"scheme": "lecun_normal/zeros", "lr": 0.1}]},
        "reference",
    ),
    "weights without biases": ({"weights": ["zeros"]}, "biases"),
    "too deep": ({"hidden": [[4] * 9]}, "0 to 8"),
    "unknown model": ({"model": "resnet"}, "cnn"),
    "cnn on digits": ({"model": "cnn", "dataset": "digits"}, "mnist1d"),
    "override beyond depth": ({"schemes": ["lecun_normal/zeros", "zeros/zeros@5=zeros/zeros"]}, "5"),
    "dataset twice": ({"dataset": ["mnist1d", "mnist1d"]}, "twice"),
    "scheme twice via grid": ({"weights": ["lecun_normal"], "biases": ["zeros"]}, "twice"),
    "bad scale list": ({"schemes": ["lecun_normal/zeros", "zeros/normal([0.5, x])"]}, "normal"),
}


@pytest.mark.parametrize("changes,word", BAD_MATRICES.values(), ids=BAD_MATRICES.keys())
def test_bad_matrices_raise_one_clear_config_error(changes, word):
    with pytest.raises(ConfigError, match=word) as info:
        matrix(**changes)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["default", "smoke", "full"])
def test_builtin_matrices_load(name):
    assert name in builtin_matrices()
    assert load_matrix(name).name == name


def test_full_matrix_covers_every_axis():
    from symjax.core.data import DATASETS
    from symjax.core.models import ACTIVATIONS, MODELS
    from symjax.core.optimizers import OPTIMIZERS

    m = load_matrix("full")
    plan = expand(m)
    assert {cfg.dataset for cfg, _ in plan} == set(DATASETS)
    covered = {cfg.model for name in ("paper", "modern") for cfg, _ in expand(load_matrix(name))}
    assert {cfg.model for cfg, _ in plan} | covered == set(MODELS)
    assert {cfg.norm for cfg, _ in expand(load_matrix("modern"))} == {"none", "layernorm", "batchnorm"}
    assert {cfg.activation for cfg, _ in plan} == set(ACTIVATIONS)
    assert {cfg.optimizer for cfg, _ in plan} == set(OPTIMIZERS)
    assert {len(cfg.hidden) for cfg, _ in plan} >= {1, 2, 8}
    assert all(len({r.lr for r in runs}) >= 2 for _, runs in plan), (
        "every setting has an lr grid for the best-lr view"
    )
    schemes = set(m.schemes)
    assert {"zeros/zeros", "lecun_normal/zeros", "zeros/normal(1.0)", "zero_hadamard/zeros"} <= schemes
    assert any("@" in s for s in schemes) and any(s.startswith("perturbed") for s in schemes)


def test_plan_counts_groups_runs_and_memory():
    m = matrix(activation=["tanh", "relu"], chunk_runs=3)
    plans = group_costs(make_plan(m, n_devices=2))
    assert len(plans) == 2
    assert all(p.runs == 8 and p.settings == 2 and p.schemes == 2 for p in plans)
    # chunk_runs 3 on 2 devices: chunks of whole multiples of 2 (one run per device), at most 3 runs
    assert all(p.chunk_size == 2 and p.chunks == 4 for p in plans), (
        "chunks in device multiples, within chunk_runs"
    )
    bigger = group_costs(make_plan(dataclasses.replace(m, hidden=((64, 64),)), n_devices=2))
    assert bigger[0].flops > plans[0].flops and bigger[0].chunk_bytes > plans[0].chunk_bytes


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--matrix", "full", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "compilations" in out and "runs" in out and "GiB" in out and "min" in out
    assert "group 48:" in out
    assert list(tmp_path.iterdir()) == []


def test_run_prints_and_records_one_compilation_per_group(tmp_path, capsys):
    import json

    path = tmp_path / "m.toml"
    # two new programs (no other test trains sigmoid or gelu with Nesterov); the layer sizes and 4 runs per
    # scheme
    # are the smoke matrix's, whose initializer programs (seconds to compile) are then reused
    path.write_text(
        'name = "m"\nhidden = [[16]]\nactivation = ["sigmoid", "gelu"]\noptimizer = "nesterov"\nlr = [0.1, '
        "0.2]\n"
        'schemes = ["lecun_normal/zeros", "zeros/normal(1.0)"]\nseeds = 2\nsteps = 4\nlog_every = 2\n'
    )
    assert main(["run", "--matrix", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert "(2 groups; 2 compiled by this call)" in capsys.readouterr().out
    timing = json.loads((tmp_path / "out" / "config.json").read_text())["timing"]
    assert timing["groups"] == timing["compilations"] == 2
