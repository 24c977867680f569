"""Reliability III (issue 27), hostile inputs: plug-ins that exit, ignore their key or are right only on the
probe shapes or at batch 2; schemes that restate themselves; a parquet index column; an .npz whose arrays
decompress beyond the bound; values near float64's limit. Each is one line, exit 2, nothing written (or, for
the index column, the feature kept)."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import warnings
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from helpers import assert_usage_error, run_cli, tiny_matrix

import symjax.core.data_files
from symjax.core.data import load_dataset
from symjax.core.data_files import read_file
from symjax.core.errors import SymjaxError
from symjax.core.models import register_model
from symjax.core.plugins import REGISTERED_MODELS, Model, plugin_init, plugin_model
from symjax.matrix.load import load_matrix
from symjax.matrix.plugin_checks import batch_sizes

FAST = {"seeds": 2, "steps": 20, "log_every": 5}


def _module(folder, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


def _refused(capsys, tmp_path, argv, *words) -> None:
    """``symjax run`` with ``argv`` refused in one line naming ``words``, with and without --dry-run, leaving
    no results folder."""
    matrix = tiny_matrix(tmp_path, "t", **FAST)
    for dry in ([], ["--dry-run"]):
        result = run_cli(
            capsys, ["run", "--matrix", matrix, "--out", tmp_path / "res", "--quiet", *argv, *dry]
        )
        assert_usage_error(result, *words, folder=tmp_path / "res")
        assert not (tmp_path / "res").exists()


EXITING = """
    import sys

    import jax.numpy as jnp


    class Escape(BaseException):
        pass


    def exits(key, shape, dtype=jnp.float32):
        sys.exit(0)


    def escapes(key, shape, dtype=jnp.float32):
        raise Escape("not an Exception")


    def interrupts(key, shape, dtype=jnp.float32):
        raise KeyboardInterrupt
"""


# item 3: SystemExit (and any BaseException but KeyboardInterrupt) from a plug-in is a plug-in failure


def test_a_plugin_module_that_exits_on_import_is_refused_by_the_command(tmp_path):
    _module(tmp_path, "exit_on_import", "import sys\nsys.exit(0)\n\ndef f(key, shape, dtype):\n    pass\n")
    tiny_matrix(tmp_path, "t", **FAST)
    for dry in ([], ["--dry-run"]):
        done = subprocess.run(
            [sys.executable, "-m", "symjax", "run", "--matrix", "t.toml", "--out", "res", "--quiet", *dry]
            + ["--schemes", "lecun_normal/zeros,exit_on_import:f/zeros"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert_usage_error(done, "exit_on_import", "SystemExit", folder=tmp_path / "res")
        assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("init,words", [("exits", "SystemExit: 0"), ("escapes", "Escape: not an Exception")])
def test_a_plugin_init_that_exits_when_called_is_one_line_exit_2(init, words, tmp_path, monkeypatch, capsys):
    module = "exiting_inits"
    _module(tmp_path, module, EXITING)
    monkeypatch.chdir(tmp_path)
    _refused(
        capsys,
        tmp_path,
        ["--schemes", f"lecun_normal/zeros,{module}:{init}/zeros"],
        f"{module}:{init}",
        words,
    )


def test_a_plugin_called_in_training_cannot_exit_but_can_be_interrupted(tmp_path, monkeypatch):
    _module(tmp_path, "exiting_inits", EXITING)
    monkeypatch.chdir(tmp_path)
    key = jax.random.key(0)
    for name in ("exits", "escapes"):
        with pytest.raises(SymjaxError, match=f"plug-in exiting_inits:{name} failed"):
            plugin_init(f"exiting_inits:{name}")(key, (2, 3), jnp.float32)
    with pytest.raises(KeyboardInterrupt):
        plugin_init("exiting_inits:interrupts")(key, (2, 3), jnp.float32)
    exits = plugin_init("exiting_inits:exits")  # as training calls it: jit(vmap(init))
    with pytest.raises(SymjaxError, match="SystemExit"):
        jax.jit(jax.vmap(lambda k: exits(k, (2, 3), jnp.float32)))(jax.random.split(key, 3))


def _linear_shapes(n_in, hidden, n_out):
    return [(n_in, hidden[0]), (hidden[0], n_out)]


def _linear(params, x, phi):
    return phi(x @ params[0]["w"] + params[0]["b"]) @ params[1]["w"] + params[1]["b"]


def _exit_apply(params, x, phi):
    sys.exit(0)


def _batch_2_apply(params, x, phi):  # right for a batch of 2 only
    return _linear(params, x, phi).reshape(2, -1)


@pytest.fixture
def models():
    """Registered plug-in models: ``own_linear`` (right), ``own_leaves`` (exits when applied), ``own_pair``
    (right only for batch 2)."""
    added = {"own_linear": _linear, "own_leaves": _exit_apply, "own_pair": _batch_2_apply}
    for name, apply in added.items():
        register_model(name, Model(_linear_shapes, apply))
    yield
    for name in added:
        REGISTERED_MODELS.pop(name)


def test_a_plugin_model_that_exits_is_one_line_exit_2(models, tmp_path, capsys):
    _refused(capsys, tmp_path, ["--model", "own_leaves"], "plug-in model own_leaves", "SystemExit")
    guarded = plugin_model("own_leaves")
    with pytest.raises(SymjaxError, match="plug-in own_leaves failed: SystemExit"):
        guarded.apply([], jnp.zeros((2, 2)), jnp.tanh)


# item 4 and the Contents: an init is drawn twice with one key, and must give the same values

NONDETERMINISTIC = """
    import itertools

    import jax
    import jax.numpy as jnp
    import numpy as np

    _calls = itertools.count()


    def numpy_draw(key, shape, dtype=jnp.float32):
        return jnp.asarray(np.random.default_rng().normal(size=shape), dtype)


    def counter(key, shape, dtype=jnp.float32):
        return jax.random.normal(jax.random.fold_in(key, next(_calls)), shape, dtype)


    def keyed(key, shape, dtype=jnp.float32):
        return 0.1 * jax.random.normal(key, shape, dtype)
"""


@pytest.mark.parametrize("init", ["numpy_draw", "counter"])
def test_an_init_that_ignores_its_key_is_refused_before_training(init, tmp_path, monkeypatch, capsys):
    module = "nondeterministic_inits"
    _module(tmp_path, module, NONDETERMINISTIC)
    monkeypatch.chdir(tmp_path)
    schemes = f"lecun_normal/zeros,{module}:{init}/zeros"
    _refused(
        capsys, tmp_path, ["--schemes", schemes], f"{module}:{init}", "different values for the same key"
    )


def test_a_deterministic_init_still_passes_its_checks(tmp_path, monkeypatch, capsys):
    _module(tmp_path, "nondeterministic_inits", NONDETERMINISTIC)
    monkeypatch.chdir(tmp_path)
    matrix = tiny_matrix(tmp_path, "t", **FAST)
    keyed = "nondeterministic_inits:keyed"
    schemes = f"lecun_normal/zeros,{keyed}/zeros,lecun_normal/zeros@last={keyed}/{keyed}"
    result = run_cli(
        capsys, ["run", "--matrix", matrix, "--out", tmp_path / "res", "--dry-run", "--schemes", schemes]
    )
    assert result.code == 0, result.err


# item 10 and the Contents: every real layer shape, every real batch size

SHAPED = """
    import jax.numpy as jnp


    def probes_only(key, shape, dtype=jnp.float32):  # right on the probe shapes (3, 4) and (4,) only
        return jnp.zeros(shape if shape in ((3, 4), (4,)) else (1,), dtype)


    def no_readout(key, shape, dtype=jnp.float32):  # fails on the readout of xor with 4 hidden units
        if shape == (4, 2):
            raise RuntimeError("no readout here")
        return jnp.zeros(shape, dtype)
"""


@pytest.mark.parametrize(
    "scheme,words",
    [
        ("{m}:probes_only/zeros", ["layer 1", "for shape (2, 4)"]),
        ("zeros/{m}:probes_only", ["layer 2", "for shape (2,)"]),
        ("lecun_normal/zeros@last={m}:no_readout/zeros", ["layer 2", "RuntimeError: no readout here"]),
    ],
)
def test_an_init_right_only_on_the_probe_shapes_is_one_line_exit_2(
    scheme, words, tmp_path, monkeypatch, capsys
):
    _module(tmp_path, "shaped_inits", SHAPED)
    monkeypatch.chdir(tmp_path)
    scheme = scheme.format(m="shaped_inits")
    _refused(capsys, tmp_path, ["--schemes", f"lecun_normal/zeros,{scheme}"], scheme, "xor, mlp [4]", *words)


def test_an_init_wrong_only_on_an_overridden_layer_is_accepted(tmp_path, monkeypatch, capsys):
    _module(tmp_path, "shaped_inits", SHAPED)
    monkeypatch.chdir(tmp_path)
    matrix = tiny_matrix(tmp_path, "t", **FAST)
    schemes = "lecun_normal/zeros,shaped_inits:no_readout/zeros@last=zeros/zeros"
    result = run_cli(
        capsys, ["run", "--matrix", matrix, "--out", tmp_path / "res", "--dry-run", "--schemes", schemes]
    )
    assert result.code == 0, result.err


def test_a_model_right_only_for_batch_2_is_one_line_exit_2(models, tmp_path, capsys):
    _refused(capsys, tmp_path, ["--model", "own_pair"], "plug-in model own_pair", "inputs (128, 2)")
    argv = ["--model", "own_pair", "--batch-size", "2"]
    _refused(capsys, tmp_path, argv, "plug-in model own_pair", "inputs (500, 2)")


def test_a_right_model_passes_at_every_batch_size_and_dtype(models, tmp_path, capsys):
    matrix = tiny_matrix(tmp_path, "t", **FAST, batch_size=[2, "full"], dtype=["float32", "float64"])
    result = run_cli(
        capsys, ["run", "--matrix", matrix, "--out", tmp_path / "res", "--dry-run", "--model", "own_linear"]
    )
    assert result.code == 0, result.err


def test_the_batch_sizes_a_model_sees_are_the_minibatch_and_the_evaluation_slices():
    assert batch_sizes(128, 1000, 1000) == [128, 500]
    assert batch_sizes(None, 1437, 360) == [1437, 479, 360]
    assert batch_sizes(5000, 300, 300) == [300]


# item 5: a scheme that restates itself through overrides is the same runs

X = "lecun_normal/zeros"


@pytest.mark.parametrize(
    "schemes",
    [
        [X, f"{X}@1={X}"],
        [X, f"{X}@last={X}@1={X}"],
        [X, f"{X}@last={X}@1={X}", "zeros/normal(1.0)", f"{X}@1={X}"],
        [
            X,
            "zeros/zeros@last=zeros/normal(0.5)",
            "zeros/zeros@2=zeros/normal(0.5)",
        ],  # the readout is layer 2
        [X, "zeros/zeros@1=zeros/normal(1.0)@2=zeros/zeros", "zeros/zeros@2=zeros/zeros@1=zeros/normal(1.0)"],
    ],
)
def test_schemes_that_give_every_layer_the_same_init_are_refused(schemes, tmp_path, capsys):
    _refused(
        capsys, tmp_path, ["--schemes", ",".join(schemes)], schemes[-1], "the same init", "counted twice"
    )


def test_schemes_the_same_only_in_a_shallower_network_count_where_they_differ(tmp_path, capsys):
    deep = tiny_matrix(tmp_path, "deep", **FAST, hidden=[[4, 4]])
    argv = ["--schemes", f"{X},zeros/zeros@last={X},zeros/zeros@2={X}"]
    result = run_cli(capsys, ["run", "--matrix", deep, "--out", tmp_path / "res", "--dry-run", *argv])
    assert result.code == 0, result.err
    both = tiny_matrix(tmp_path, "both", **FAST, hidden=[[4], [4, 4]])
    result = run_cli(capsys, ["run", "--matrix", both, "--out", tmp_path / "res", "--dry-run", *argv])
    assert_usage_error(result, "xor, mlp [4], tanh", "the same init")


def test_builtin_scheme_names_are_kept():
    assert f"{X}@last=zeros/zeros" in load_matrix("full").schemes
    assert f"{X}@2=zeros/zeros@3=zeros/zeros@4=zeros/zeros@5=zeros/zeros" in load_matrix("modern").schemes


# item 6: a parquet file's stored index is a feature


def test_a_parquet_index_column_stays_a_feature(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "y": np.arange(60) % 2})
    frame.set_index("a").to_parquet(tmp_path / "indexed.parquet")
    frame.set_index(["a", "b"]).to_parquet(tmp_path / "both.parquet")
    frame.to_parquet(tmp_path / "plain.parquet")
    plain = read_file(f"file:{tmp_path / 'plain.parquet'}#label=y")[1]
    for name in ("indexed", "both"):
        x_train, y_train, x_test, y_test = read_file(f"file:{tmp_path / name}.parquet#label=y")[1]
        assert x_train.shape == (48, 2) and x_test.shape == (12, 2)
        np.testing.assert_array_equal(np.sort(x_train, axis=1), np.sort(plain[0], axis=1))
        np.testing.assert_array_equal(y_train, plain[1])
    frame.set_index("y").to_parquet(tmp_path / "label.parquet")  # the label itself as the index
    assert read_file(f"file:{tmp_path / 'label.parquet'}#label=y")[1][0].shape == (48, 2)


# item 8: an .npz's decompressed size is bounded by its headers before anything is decompressed


def _npz(path, **members: bytes) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return f"file:{path}"


def _npy(array=None, header: dict | None = None, tail: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    if header is None:
        np.save(buffer, array)
    else:
        np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + tail


def _small_arrays() -> dict[str, bytes]:
    x = np.random.default_rng(0).normal(size=(20, 2))
    return {
        "x_train.npy": _npy(x),
        "y_train.npy": _npy(np.arange(20) % 2),
        "x_test.npy": _npy(x[:5]),
        "y_test.npy": _npy(np.arange(5) % 2),
    }


@pytest.fixture
def no_array_read(monkeypatch):
    """Any .npy array read fails the test: a refused file is refused from its headers alone."""

    def read_array(*args, **kwargs):
        raise AssertionError("an array was read")

    monkeypatch.setattr(np.lib.format, "read_array", read_array)


def test_an_npz_declaring_huge_arrays_is_refused_from_its_headers(
    no_array_read, tmp_path, monkeypatch, capsys
):
    huge = {"descr": "<f8", "fortran_order": False, "shape": (30_000_000, 10)}  # 2.4 GB
    name = _npz(
        tmp_path / "huge.npz", **{**_small_arrays(), "x_train.npy": _npy(header=huge, tail=bytes(8192))}
    )
    assert (tmp_path / "huge.npz").stat().st_size < 100_000
    _refused(
        capsys, tmp_path, ["--dataset", name], "huge.npz", "once decompressed", "more than the 2,147,483,648"
    )


def test_an_npz_of_compressed_zeros_beyond_the_bound_is_refused(no_array_read, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(symjax.core.data_files, "MAX_ARRAY_BYTES", 100_000)
    np.savez_compressed(
        tmp_path / "zeros.npz",
        x_train=np.zeros((10_000, 2), np.float32),  # 80 KB as float32, 160 KB as float64
        y_train=np.arange(10_000) % 2,
        x_test=np.zeros((10, 2), np.float32),
        y_test=np.arange(10) % 2,
    )
    _refused(
        capsys, tmp_path, ["--dataset", f"file:{tmp_path / 'zeros.npz'}"], "once decompressed", "100,000"
    )


def test_an_npz_member_that_is_no_npy_array_is_one_line(tmp_path, capsys):
    name = _npz(tmp_path / "raw.npz", **{**_small_arrays(), "x_train": bytes(1000)})
    _refused(capsys, tmp_path, ["--dataset", name], "x_train is not an .npy array")


def test_an_npz_within_the_bound_still_loads(tmp_path):
    name = _npz(tmp_path / "fine.npz", **_small_arrays())
    assert load_dataset(name).x_train.shape == (20, 2)


# item 16: values near float64's limit: one error line, no numpy warnings, never features silently zero


@pytest.mark.parametrize("scale", [1e307, 1e200])
def test_values_near_the_float64_limit_are_one_line_without_warnings(scale, tmp_path, capsys):
    x = np.full((40, 2), scale)
    x[::2] *= 1.5
    path = tmp_path / f"large_{scale:.0e}.npz"
    np.savez(path, x_train=x, y_train=np.arange(40) % 2, x_test=x[:8], y_test=np.arange(8) % 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _refused(
            capsys,
            tmp_path,
            ["--dataset", f"file:{path}", "--batch-size", "full"],
            "too large to standardize",
        )
    assert not caught, [str(w.message) for w in caught]


def test_large_values_that_standardize_well_still_load(tmp_path):
    x = np.full((40, 2), 1e30)
    x[::2] *= 1.5
    np.savez(tmp_path / "ok.npz", x_train=x, y_train=np.arange(40) % 2, x_test=x[:8], y_test=np.arange(8) % 2)
    data = load_dataset(f"file:{tmp_path / 'ok.npz'}")
    np.testing.assert_allclose(np.abs(data.x_train), 1.0, rtol=1e-6)
