"""The exact controls (``symjax.experiments.controls``): each prediction asserted on the trained arrays, each
row able to fail, its wording (``symjax.report.controls``), the ``controls`` report (deterministic, its short
answer) and
``symjax controls`` (stored JSON, bad JSON)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from symjax.cli import main
from symjax.core.data import load_dataset
from symjax.experiments import controls
from symjax.report.controls import (
    BITWISE,
    FIELDS,
    JSON_HEADER,
    ROUNDING,
    WORDING,
    controls_json,
    controls_markdown,
    parse_controls,
    row_dict,
)

LN2 = np.float32(np.log(2))


@pytest.fixture(scope="module")
def constant_init():
    return controls.constant_init_observations()


@pytest.fixture(scope="module")
def balanced_xor():
    return controls.balanced_xor_observations()


@pytest.fixture(scope="module")
def identity_product():
    return controls.identity_product_observations()


@pytest.fixture(scope="module")
def first_updates():
    return controls.first_updates_observations()


@pytest.fixture(scope="module")
def rows(constant_init, balanced_xor, identity_product, first_updates):
    return [
        controls.constant_init_row(constant_init),
        controls.balanced_xor_row(balanced_xor),
        controls.identity_product_row(identity_product),
        controls.first_updates_row(first_updates),
    ]


def test_constant_w_and_b_keep_one_bitwise_unit_per_hidden_layer(constant_init):
    o = constant_init
    # 2 hidden layers, steps 0, 25, ..., 300
    assert o.distinct_units.shape[-1] == 2 and o.distinct_units.shape[2] == 13
    assert (o.distinct_units == 1).all(), "a hidden layer split into several distinct units"
    assert o.columns_equal.all(), "W's columns differ at some snapshot"
    assert o.final_units_equal.all(), "final W columns or b entries differ"
    assert (o.train_loss[..., -1] < o.train_loss[..., 0] - 0.3).all(), (
        "the runs must train (else the control is empty)"
    )
    row = controls.constant_init_row(o)
    assert row.holds and row.bitwise and row_dict(row)["exactness"] == BITWISE
    broken = o.columns_equal.copy()
    broken[1, 2, 5, 0] = False
    assert not controls.constant_init_row(o._replace(columns_equal=broken)).holds
    assert not controls.constant_init_row(
        o._replace(distinct_units=o.distinct_units + (o.distinct_units > 0) * 1)
    ).holds


def test_balanced_xor_order_is_balanced_alternating_and_a_power_of_two():
    order = controls.balanced_xor_order()
    labels = load_dataset("xor").y_train[order]
    assert len(order) == 512 and len(np.unique(order)) == 512
    assert (labels == np.arange(512) % 2).all()


def test_balanced_xor_with_zero_w_stays_at_ln2_bitwise(balanced_xor):
    o = balanced_xor
    for optimizer, runs in o.balanced.items():
        assert (runs.train_loss == runs.train_loss[:, :1]).all(), f"{optimizer}: the loss moved"
        assert np.abs(runs.train_loss - LN2).max() < 1e-6, f"{optimizer}: the loss is not ln 2"
        assert runs.unchanged.all() and runs.weights_zero.all(), f"{optimizer}: a parameter moved"
        assert (runs.first_grad == 0).all(), f"{optimizer}: some W had a non-zero gradient"
    assert set(o.balanced) == {"sgd", "adam"}
    row = controls.balanced_xor_row(o)
    assert row.holds and row_dict(row)["exactness"] == BITWISE


def test_unbalanced_xor_leaves_ln2_for_the_class_prior(balanced_xor):
    o = balanced_xor
    random_b = np.array([s != "zeros/zeros" for s in o.schemes])
    final = o.unbalanced.train_loss[:, -1]
    assert (final < LN2 - 1e-4).all()
    assert np.abs(final[~random_b] - controls.prior_entropy(o.class_counts)).max() < 1e-4
    assert o.unbalanced.weights_zero[~random_b].all(), "zero b: the hidden outputs are 0, W never moves"
    assert (o.unbalanced.first_grad[random_b] > 0).all(), "random b: every W gets a gradient"
    assert (o.unbalanced.first_grad[random_b, -1] == 1).all(), "the readout W moves at the first update"
    sgd = o.balanced["sgd"]
    assert not controls.balanced_xor_row(
        o._replace(balanced={"sgd": sgd._replace(unchanged=~sgd.unchanged)})
    ).holds
    assert not controls.balanced_xor_row(
        o._replace(unbalanced=sgd)
    ).holds  # a run that stays at ln 2 moves nothing


def test_linear_net_product_keeps_rank_one_under_sgd_not_adam(identity_product):
    o = identity_product
    sgd, adam = o.optimizers.index("sgd"), o.optimizers.index("adam")
    assert (o.product_rank[sgd, :, 0] == 0).all() and (o.product_rank[sgd, :, 1:] == 1).all()
    assert o.product_ratio[sgd].max() < 1e-6, "SGD's product is rank 1 up to rounding"
    assert (o.product_rank[adam].max(axis=-1) >= 2).all(), "Adam's product stayed rank 1"
    row = controls.identity_product_row(o)
    assert row.holds and not row.bitwise and row_dict(row)["exactness"] == ROUNDING
    assert not controls.identity_product_row(o._replace(product_rank=o.product_rank * 2)).holds


def test_first_layer_rank_over_the_first_sgd_updates(first_updates):
    o = first_updates
    assert o.rank32.shape == (10, 6)
    assert o.zero32.all() and (o.rank32[:, :2] == 0).all(), "W1 must be exactly 0 before and after update 1"
    assert (o.rank64[:, :3] == [0, 0, 1]).all(), "float64 twins: rank 1 after update 2"
    assert np.median(o.rank32[:, 2]) == 1 and o.ratio32[:, 2].max() < 1e-4, "float32: rank 1 up to rounding"
    assert o.ratio64[:, 2].max() < 1e-12
    assert (o.rank32[:, 5] > 1).all() and (o.rank64[:, 5] > 1).all(), "the rank grows by step 5"
    row = controls.first_updates_row(o)
    assert row.holds and row_dict(row)["exactness"] == ROUNDING
    assert "median [0, 0, 1," in row_dict(row)["observed"]
    assert not controls.first_updates_row(o._replace(rank64=np.maximum(o.rank64, 2))).holds


def test_markdown_is_deterministic_with_the_short_answer(rows):
    text = controls_markdown(rows)
    assert (
        text
        == controls_markdown([row_dict(r) for r in rows])
        == controls_markdown([r._asdict() for r in rows])
    )
    assert text.startswith("# symjax report: `controls`\n")
    assert (
        "\n**Short answer:** 4 of 4 exact predictions hold (2 bitwise, 2 up to float32 rounding).\n" in text
    )
    assert all(f"| {r.control} " in text for r in rows)
    failed = controls_markdown([rows[0]._replace(holds=False), *rows[1:]])
    assert (
        "**Short answer:** 3 of 4 exact predictions hold (1 bitwise, 2 up to float32 rounding). Does not "
        "hold: constant W and b."
        in failed
        and "**no**" in failed
    )


def test_rows_round_trip_through_json(rows):
    text = controls_json(rows)
    assert text.startswith(JSON_HEADER)
    assert parse_controls(text) == [row_dict(r) for r in rows] and controls_json(parse_controls(text)) == text


def test_rows_are_data_and_every_control_has_its_words(rows):
    """The experiment's rows hold names, booleans and numbers (no sentence); the report words each of them."""
    assert [r.control for r in rows] == list(WORDING)

    def plain(value):
        if isinstance(value, (tuple, list)):
            return all(map(plain, value))
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return value is None or type(value) in (str, int, float, bool)

    for row in rows:
        assert type(row.holds) is bool and type(row.bitwise) is bool and plain(row.facts), row.control
        assert not any(isinstance(v, str) and len(v.split()) > 3 for v in row.facts.values()), (
            "a sentence in the data"
        )
        words = row_dict(row)
        assert set(words) == set(FIELDS) and words["observed"].startswith(row.facts["dataset"] + ", ")


def run_cli(*args):
    return main(["controls", *map(str, args)])


def test_cli_trains_stores_json_and_writes_the_report(rows, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(controls, "run_controls", lambda: rows)  # the rows trained above: no second training
    results, out = tmp_path / "results", tmp_path / "reports"
    assert run_cli("--results", results, "--out", out) == 0
    assert (results / "controls.json").read_text() == controls_json(rows)
    assert (out / "controls.md").read_text() == controls_markdown(rows)
    assert "4 of 4 exact predictions hold" in (out / "README.md").read_text()
    (out / "controls.md").unlink()
    assert run_cli("--report-only", "--results", results, "--out", out) == 0
    assert (out / "controls.md").read_text() == controls_markdown(rows)
    assert "wrote" in capsys.readouterr().out


BAD_JSON = {
    "not json": "{rows: ",
    "wrong kind": json.dumps({"kind": "other", "rows": [{}]}),
    "no rows": json.dumps({"kind": "symjax controls", "rows": []}),
    "row missing a field": json.dumps({"kind": "symjax controls", "rows": [{"control": "x"}]}),
    "holds not a bool": json.dumps(
        {
            "kind": "symjax controls",
            "rows": [
                {"control": "x", "prediction": "p", "observed": "o", "holds": "yes", "exactness": BITWISE}
            ],
        }
    ),
    "unknown exactness": json.dumps(
        {
            "kind": "symjax controls",
            "rows": [
                {"control": "x", "prediction": "p", "observed": "o", "holds": True, "exactness": "roughly"}
            ],
        }
    ),
    "not utf-8": b"\xff\xfe",
}


@pytest.mark.parametrize("content", [*BAD_JSON.values(), None], ids=[*BAD_JSON, "missing"])
def test_report_only_with_bad_json_is_one_line_exit_2_no_report(content, tmp_path, capsys):
    results, out = tmp_path / "results", tmp_path / "reports"
    results.mkdir()
    if content is not None:
        path = results / "controls.json"
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    assert run_cli("--report-only", "--results", results, "--out", out) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("symjax: error:")
    assert not out.exists(), "no report file may be written"


def test_cli_refuses_to_replace_a_foreign_report_before_training(tmp_path, monkeypatch, capsys):
    def no_training():
        raise AssertionError("trained although the report could not be written")

    monkeypatch.setattr(controls, "run_controls", no_training)
    out = tmp_path / "reports"
    out.mkdir()
    (out / "controls.md").write_text("my own notes\n")
    assert run_cli("--results", tmp_path / "results", "--out", out) == 2
    assert "was not written by symjax" in capsys.readouterr().err
    assert (out / "controls.md").read_text() == "my own notes\n" and not (tmp_path / "results").exists()


def test_the_controls_report_imports_no_jax():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, symjax.report.controls; print('jax' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
