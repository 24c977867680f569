"""Options of issue 15: weight ranks at every logged step (``rank_every``), float64 groups (``dtype``),
models without hidden layers (``hidden = []``), and the report sections they feed."""

import json

import jax
import numpy as np
import pandas as pd
import pytest

from symjax.cli import main
from symjax.core.axes import LATER_GROUPED
from symjax.core.group import GroupConfig, Run
from symjax.core.models import weight_shapes
from symjax.core.train import as_dtype, logged_steps, make_train, precision, snapshot_steps
from symjax.engine.program import Programs
from symjax.matrix.load import matrix_from_dict
from symjax.matrix.spec import ConfigError
from symjax.report.published import PUBLISHED, PUBLISHED_SCHEME, published_lines


def _train(arrays, **fields):
    cfg = GroupConfig("mnist1d", (8,), "tanh", "sgd", 64, 12, 2, **fields)
    shapes = weight_shapes("mlp", 40, cfg.hidden, 10)
    with precision(cfg.dtype):
        runs = [
            Run(i, 0, "zeros/normal(1.0)", 3 + i, 0.1) for i in range(2)
        ]  # a multiple of the 2 CPU devices
        params, keys, lrs = Programs().chunk_inputs(runs, shapes, cfg.dtype)
        _, logs = jax.jit(make_train(cfg, 4000))(
            jax.tree.map(lambda v: v[0], params), keys[0], lrs[0], as_dtype(arrays, cfg.dtype)
        )
        return cfg, jax.device_get(logs)


def test_rank_every_one_snapshots_every_logged_step_and_changes_nothing_else(mnist1d_arrays):
    cfg, every = _train(mnist1d_arrays, rank_every=1)
    _, default = _train(mnist1d_arrays)
    steps = logged_steps(cfg.steps, cfg.log_every)
    assert every.weights[0].shape[0] == len(steps) == 7
    assert default.weights[0].shape[0] == len(snapshot_steps(cfg.steps, cfg.log_every, 4)) == 3  # 0, 8, 12
    np.testing.assert_array_equal(every.train_loss, default.train_loss)  # snapshots do not change training
    common = np.searchsorted(steps, snapshot_steps(cfg.steps, cfg.log_every, 4))
    np.testing.assert_array_equal(every.weights[0][common], default.weights[0])


def test_float64_group_trains_in_float64_from_the_float32_start(mnist1d_arrays):
    _, single = _train(mnist1d_arrays, rank_every=1)
    _, double = _train(mnist1d_arrays, rank_every=1, dtype="float64")
    assert double.train_loss.dtype == np.float64 and double.weights[0].dtype == np.float64
    assert single.train_loss.dtype == np.float32  # 64-bit mode stays inside the float64 group
    np.testing.assert_array_equal(double.weights[1][0], single.weights[1][0].astype(np.float64))  # same start
    np.testing.assert_allclose(double.train_loss, single.train_loss, rtol=1e-5)  # same minibatches
    # other rounding
    assert not np.array_equal(double.train_loss[1:], single.train_loss[1:].astype(np.float64))


BASE = {
    "name": "t",
    "hidden": [8],
    "schemes": ["lecun_normal/zeros"],
    "steps": 10,
    "log_every": 5,
    "seeds": 1,
}


def test_matrix_keys_rank_every_dtype_and_no_hidden_layer():
    m = matrix_from_dict({**BASE, "hidden": [], "rank_every": 1, "dtype": ["float32", "float64"]}, "t")
    assert m.hidden == ((),) and m.rank_every == 1 and m.dtypes == ("float32", "float64")
    assert [(g.hidden, g.rank_every, g.dtype) for g in m.groups()] == [((), 1, "float32"), ((), 1, "float64")]
    assert matrix_from_dict({**BASE, "hidden": [[], [8, 8]]}, "t").hidden == ((), (8, 8))


@pytest.mark.parametrize(
    "changes,words",
    [
        ({"rank_every": 0}, "rank_every: must be a positive integer"),
        ({"rank_every": 1.5}, "rank_every: must be an integer"),
        ({"dtype": "float16"}, "allowed: float32, float64"),
        ({"dtype": ["float64", "float64"]}, "listed twice"),
    ],
)
def test_bad_rank_every_and_dtype_are_one_clear_error(changes, words):
    with pytest.raises(ConfigError, match=words):
        matrix_from_dict({**BASE, **changes}, "t")


def test_cli_trains_a_linear_model_in_float64_with_ranks_at_every_step(tmp_path, capsys):
    out = tmp_path / "r"
    assert (
        main(
            [
                "run",
                "--matrix",
                "smoke",
                "--out",
                str(out),
                "--quiet",
                "--hidden",
                "none",
                "--rank-every",
                "1",
                "--dtype",
                "float32,float64",
                "--steps",
                "6",
                "--log-every",
                "2",
                "--seeds",
                "2",
                "--schemes",
                "lecun_normal/zeros,lecun_normal/normal(0.1)",
            ]
        )
        == 0
    )
    runs = pd.read_parquet(out / "runs.parquet")
    diagnostics = pd.read_parquet(out / "diagnostics.parquet")
    assert set(runs["hidden"]) == {""} and set(runs["dtype"]) == {"float32", "float64"}
    assert diagnostics["rank"].notna().all() and set(diagnostics["step"]) == {0, 2, 4, 6}
    assert json.loads((out / "config.json").read_text())["matrix"]["rank_every"] == 1
    assert main(["report", "--results", str(out), "--out", str(tmp_path / "reports")]) == 0
    text = (tmp_path / "reports" / "smoke.md").read_text()
    assert "## float64 against float32" in text and "mnist1d · linear · " in text and "· float64" in text
    assert "no hidden layer" in text and "the question does not arise" in text
    assert (
        main(["run", "--matrix", "smoke", "--out", str(tmp_path / "bad"), "--dtype", "float16", "--quiet"])
        == 2
    )
    assert "float16" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def _summary_row(model, hidden, scheme, acc, steps=6000):
    return {
        "dataset": "mnist1d",
        "model": model,
        "hidden": hidden,
        "activation": "relu",
        "optimizer": "adam",
        "lr": 0.01,
        "batch_size": 100,
        "steps": steps,
        **{a.single: a.earlier[0] for a in LATER_GROUPED},  # float32, constant rate, ...
        "scheme": scheme,
        "acc_median": acc,
        "acc_lo": acc - 0.01,
        "acc_hi": acc + 0.01,
    }


def test_published_section_holds_the_published_init_to_its_band():
    rows = pd.DataFrame(
        [
            _summary_row("mlp", "", PUBLISHED_SCHEME, 0.32),
            _summary_row("mlp", "100,100", PUBLISHED_SCHEME, 0.55),
            _summary_row("cnn_paper", "25,25,25", PUBLISHED_SCHEME, 0.9, steps=500),
            _summary_row("mlp", "100,100", "zeros/normal(1.0)", 0.65),
            _summary_row("mlp", "32", PUBLISHED_SCHEME, 0.5),
        ]
    )
    text = "\n".join(published_lines(rows))
    assert "2 of 3 do" in text  # 32% in 29-35%, 55% outside 60-70%, 90% >= 85%
    assert text.count("**no**") == 1 and "steps 500 (published 6000)" in text
    assert "mnist1d · 32 ·" not in text  # a setting without a published model is not shown
    assert [p.hidden for p in PUBLISHED] == ["", "100,100", "25,25,25"]
    assert published_lines(rows.iloc[4:]) == []
    assert published_lines(rows.iloc[3:4]) == []  # a published model without the published init: not compared
