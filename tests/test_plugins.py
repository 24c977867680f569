"""Plug-ins (issue 16): your own init as module.path:function or by name, your own model as symjax.Model."""

from __future__ import annotations

import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from helpers import replaced

import symjax
from symjax.cli import main
from symjax.core.plugins import plugin_digest
from symjax.core.schemes import REGISTERED_INITS, canonical_scheme

SMALL = ["--matrix", "smoke", "--quiet", "--steps", "40", "--seeds", "2"]


def _module(folder, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


INITS = """
    import jax
    import jax.numpy as jnp


    def orthogonal_small(key, shape, dtype=jnp.float32):
        return 0.1 * jax.nn.initializers.orthogonal()(key, shape, dtype)


    def half(key, shape, dtype=jnp.float32):
        return jnp.full(shape, 0.5, dtype)


    def wrong_shape(key, shape, dtype=jnp.float32):
        return jnp.zeros((2,), dtype)


    def wrong_dtype(key, shape, dtype=jnp.float32):
        return jnp.zeros(shape, jnp.int32)


    def raises(key, shape, dtype=jnp.float32):
        raise RuntimeError("boom")


    NOT_A_FUNCTION = 3
"""


def test_import_path_init_trains_and_keeps_its_name(tmp_path, monkeypatch, capsys):
    _module(tmp_path, "inits_a", INITS)
    monkeypatch.chdir(tmp_path)  # the current directory is searched first, as `python -m` does
    scheme = "inits_a:orthogonal_small/normal(1.0)"
    assert (
        main(["run", *SMALL, "--out", "res", "--schemes", f"lecun_normal/zeros,{scheme},zeros/inits_a:half"])
        == 0
    )
    runs = pd.read_parquet(tmp_path / "res" / "runs.parquet")
    assert set(runs["scheme"]) == {"lecun_normal/zeros", scheme, "zeros/inits_a:half"}
    assert main(["report", "--results", "res", "--out", "reports"]) == 0
    assert f"`{scheme}`" in (tmp_path / "reports" / "smoke.md").read_text()
    diagnostics = pd.read_parquet(tmp_path / "res" / "diagnostics.parquet").merge(runs[["run_id", "scheme"]])
    start = diagnostics[(diagnostics["step"] == 0) & (diagnostics["layer"] == 1)]
    assert (start.loc[start["scheme"] == scheme, "rank"] == 16).all()  # orthogonal: full rank
    assert (start.loc[start["scheme"] == "zeros/inits_a:half", "rank"] == 0).all()  # zero W, the plug-in bias


@pytest.mark.parametrize(
    "init,words",
    [
        ("inits_b:wrong_shape/zeros", "returned shape (2,)"),
        ("zeros/inits_b:wrong_shape", "for shape (4,)"),
        ("inits_b:wrong_dtype/zeros", "dtype int32"),
        ("inits_b:raises/zeros", "RuntimeError: boom"),
        ("inits_b:NOT_A_FUNCTION/zeros", "not a function"),
        ("inits_b:missing/zeros", "has no 'missing'"),
        ("no_such_module_x:f/zeros", "cannot import no_such_module_x"),
        ("inits_b:/zeros", "unknown weight init"),
    ],
)
def test_a_bad_plugin_is_one_line_exit_2_and_no_files(init, words, tmp_path, monkeypatch, capsys):
    _module(tmp_path, "inits_b", INITS)
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--dry-run"]):
        assert main(["run", *SMALL, "--out", "res", "--schemes", f"lecun_normal/zeros,{init}", *extra]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("symjax: error: ") and words in err, err
        assert not (tmp_path / "res").exists()


def test_editing_a_plugin_changes_the_resume_key(tmp_path, monkeypatch):
    _module(tmp_path, "inits_c", INITS)
    monkeypatch.chdir(tmp_path)
    schemes = ["lecun_normal/zeros", "inits_c:half/zeros"]
    before = plugin_digest(schemes)
    assert before and plugin_digest(["lecun_normal/zeros"]) == ""
    # the module file is hashed, not the loaded code
    _module(
        tmp_path, "inits_c", replaced(INITS, "jnp.full(shape, 0.5, dtype)", "jnp.full(shape, 0.25, dtype)")
    )
    assert plugin_digest(schemes) != before


def test_register_scheme_from_python(tmp_path):
    def tiny_normal(key, shape, dtype=jnp.float32):
        return 0.01 * jax.random.normal(key, shape, dtype)

    symjax.register_scheme("tiny_normal", tiny_normal)
    try:
        assert canonical_scheme("tiny_normal/zeros") == "tiny_normal/zeros"
        matrix = symjax.matrix_from_dict(
            {
                "name": "reg",
                "hidden": [8],
                "steps": 20,
                "log_every": 10,
                "seeds": 2,
                "batch_size": 64,
                "schemes": ["lecun_normal/zeros", "tiny_normal/zeros"],
            },
            "reg",
        )
        runs = symjax.load_results(symjax.run_matrix(matrix, tmp_path / "reg", show_progress=False)).runs
        assert set(runs["scheme"]) == {"lecun_normal/zeros", "tiny_normal/zeros"}
        assert np.isfinite(runs["final_train_loss"]).all()
    finally:
        REGISTERED_INITS.pop("tiny_normal")


@pytest.mark.parametrize(
    "name,fn,words",
    [
        ("Bad Name", lambda k, s, d: None, "lowercase"),
        ("normal", lambda k, s, d: None, "built-in"),
        ("ok_name", 3, "needs a function"),
    ],
)
def test_register_scheme_refuses_bad_names_and_non_functions(name, fn, words):
    with pytest.raises(ValueError, match=words):
        symjax.register_scheme(name, fn)


def _linear_shapes(n_in, hidden, n_out):
    return [(n_in, hidden[0]), (hidden[0], n_out)]


def _linear_apply(params, x, phi):
    return phi(x @ params[0]["w"] + params[0]["b"]) @ params[1]["w"] + params[1]["b"]


def test_registered_model_trains_in_a_group_and_reports(tmp_path):
    from symjax.core.plugins import REGISTERED_MODELS

    symjax.register_model("twolayer", symjax.Model(_linear_shapes, _linear_apply))
    try:
        values = {
            "name": "own",
            "hidden": [8],
            "steps": 20,
            "log_every": 10,
            "seeds": 2,
            "batch_size": 64,
            "schemes": ["lecun_normal/zeros", "zeros/normal(1.0)"],
        }
        matrix = symjax.matrix_from_dict({**values, "model": "twolayer"}, "own")
        folder = symjax.run_matrix(matrix, tmp_path / "own", show_progress=False)
        loaded = symjax.load_results(folder)
        assert (
            set(loaded.runs["model"]) == {"twolayer"} and np.isfinite(loaded.runs["final_train_loss"]).all()
        )
        # the same network as the built-in one-hidden-layer MLP: the same losses, run for run
        mlp = symjax.matrix_from_dict(values, "own")
        twin = symjax.load_results(symjax.run_matrix(mlp, tmp_path / "mlp", show_progress=False)).runs
        np.testing.assert_allclose(loaded.runs["final_train_loss"], twin["final_train_loss"], rtol=1e-5)
        assert loaded.diagnostics["dead_fraction"].isna().all()  # its hidden layers are its own
        assert symjax.build_report(folder, tmp_path / "reports").exists()
    finally:
        REGISTERED_MODELS.pop("twolayer")


MODELS = """
    import symjax


    def shapes(n_in, hidden, n_out):
        return [(n_in, hidden[0]), (hidden[0], n_out)]


    def apply(params, x, phi):
        return phi(x @ params[0]["w"] + params[0]["b"]) @ params[1]["w"] + params[1]["b"]


    def bad_apply(params, x, phi):
        return x @ params[0]["w"]


    good = symjax.Model(shapes, apply)
    wrong_outputs = symjax.Model(shapes, bad_apply)
    bad_shapes = symjax.Model(lambda n_in, hidden, n_out: [(n_in, 0)], apply)
    not_a_model = 3
"""


def test_import_path_model_through_the_cli(tmp_path, monkeypatch):
    _module(tmp_path, "models_a", MODELS)
    monkeypatch.chdir(tmp_path)
    assert main(["run", *SMALL, "--out", "res", "--model", "models_a:good", "--hidden", "8"]) == 0
    assert main(["report", "--results", "res", "--out", "reports"]) == 0
    assert set(pd.read_parquet(tmp_path / "res" / "runs.parquet")["model"]) == {"models_a:good"}
    # sanitized file names
    assert any("models_a-good" in p.name for p in (tmp_path / "reports" / "smoke").iterdir())


@pytest.mark.parametrize(
    "model,words",
    [
        ("models_b:wrong_outputs", "allowed: float32 outputs (2, 10)"),
        ("models_b:bad_shapes", "positive integers"),
        ("models_b:not_a_model", "not symjax.Model"),
        ("models_b:missing", "has no 'missing'"),
    ],
)
def test_a_bad_model_is_one_line_exit_2_and_no_files(model, words, tmp_path, monkeypatch, capsys):
    _module(tmp_path, "models_b", MODELS)
    monkeypatch.chdir(tmp_path)
    assert main(["run", *SMALL, "--out", "res", "--model", model, "--hidden", "8"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert not (tmp_path / "res").exists()


def test_an_edited_plugin_is_retrained_with_its_new_code_in_the_same_process(tmp_path, monkeypatch):
    """A notebook edits its plug-in module and runs again: the runs of the plug-in scheme train again, with
    the new code (the module is imported again), and the built-in scheme's runs resume."""
    _module(tmp_path, "inits_d", INITS)
    monkeypatch.chdir(tmp_path)
    matrix = symjax.matrix_from_dict(
        {
            "name": "edit",
            "hidden": [8],
            "steps": 20,
            "log_every": 10,
            "seeds": 2,
            "batch_size": 64,
            "schemes": ["lecun_normal/zeros", "zeros/inits_d:half"],
        },
        "edit",
    )
    first = symjax.load_results(symjax.run_matrix(matrix, tmp_path / "r", show_progress=False)).runs
    _module(
        tmp_path, "inits_d", replaced(INITS, "jnp.full(shape, 0.5, dtype)", "jnp.full(shape, 0.25, dtype)")
    )
    second = symjax.load_results(symjax.run_matrix(matrix, tmp_path / "r", show_progress=False)).runs
    changed = first["final_train_loss"].to_numpy() != second["final_train_loss"].to_numpy()
    assert (changed == (first["scheme"] == "zeros/inits_d:half").to_numpy()).all()


def test_plugins_work_in_toml_grids_and_overrides(tmp_path, monkeypatch):
    _module(tmp_path, "inits_e", INITS)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.toml").write_text(
        textwrap.dedent("""
        name = "own"
        hidden = [[8, 8]]
        batch_size = 64
        weights = ["zeros", "inits_e:orthogonal_small"]
        biases = ["inits_e:half"]
        schemes = ["lecun_normal/zeros", "lecun_normal/zeros@last=inits_e:orthogonal_small/zeros"]
        seeds = 1
        steps = 20
        log_every = 10
    """)
    )
    assert main(["run", "--matrix", "m.toml", "--out", "res", "--quiet", "--seeds", "2"]) == 0
    assert set(pd.read_parquet(tmp_path / "res" / "runs.parquet")["scheme"]) == {
        "zeros/inits_e:half",
        "inits_e:orthogonal_small/inits_e:half",
        "lecun_normal/zeros",
        "lecun_normal/zeros@last=inits_e:orthogonal_small/zeros",
    }
