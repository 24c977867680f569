"""Datasets from files (issue 16): file:PATH.npz (and .csv/.parquet#label=COLUMN) through validation,
training, results, resuming and the report; every bad file is one line, exit 2, before any file is written."""

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest

import symjax.core.data_files
from symjax.cli import main
from symjax.core.data import dataset_task, file_version, load_dataset, train_size
from symjax.engine.plan import make_plan
from symjax.engine.resume import ChunkStore
from symjax.matrix.spec import ConfigError, Matrix
from symjax.matrix.validate import checked
from symjax.results.store import load_results, seal

RUN = ["run", "--matrix", "smoke", "--activation", "tanh", "--seeds", "2", "--steps", "40", "--quiet"]


def classification(seed=0, n_train=120, n_test=40, d=6, classes=3):
    """(x_train, y_train, x_test, y_test): Gaussian inputs, labels from the first two features, every class
    present."""
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, size=(n_train + n_test, d))
    y = np.digitize(
        x[:, 0] + x[:, 1], np.quantile(x[:n_train, 0] + x[:n_train, 1], np.linspace(0, 1, classes + 1)[1:-1])
    )
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def save(path, x_train, y_train, x_test, y_test, **more):
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, **more)
    return path


def one_error_line(capsys, *words):
    err = capsys.readouterr().err
    assert (
        len(err.strip().splitlines()) == 1 and err.startswith("symjax: error: ") and "Traceback" not in err
    ), err
    assert all(w in err for w in words), err


def test_classification_file_end_to_end_resumes_and_retrains_when_edited(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save(tmp_path / "mine.npz", *classification())
    assert main([*RUN, "--dataset", "file:mine.npz", "--out", "res"]) == 0
    runs = pd.read_parquet(tmp_path / "res" / "runs.parquet")
    assert set(runs["dataset"]) == {"file:mine.npz"} and set(runs["task"]) == {"classification"}
    assert runs["final_test_acc"].notna().all() and set(runs["batch_size"]) == {64}
    sha = hashlib.sha256((tmp_path / "mine.npz").read_bytes()).hexdigest()
    config = json.loads((tmp_path / "res" / "config.json").read_text())
    assert config["data_files"] == {"file:mine.npz": {"path": str(tmp_path / "mine.npz"), "sha256": sha}}
    assert config["matrix"]["datasets"] == ["file:mine.npz"]
    assert main(["report", "--results", "res", "--out", "rep"]) == 0
    assert "file:mine.npz" in (tmp_path / "rep" / "smoke.md").read_text()
    chunks = {p.name for p in (tmp_path / "res" / "chunks").iterdir()}

    # unchanged file: everything resumes
    assert main([*RUN, "--dataset", "file:mine.npz", "--out", "res"]) == 0
    timing = json.loads((tmp_path / "res" / "config.json").read_text())["timing"]
    assert timing["compilations"] == 0 and timing["resumed_chunks"] == len(chunks)

    save(tmp_path / "mine.npz", *classification(seed=1))  # edited: every chunk is trained again
    assert main([*RUN, "--dataset", "file:mine.npz", "--out", "res"]) == 0
    config = json.loads((tmp_path / "res" / "config.json").read_text())
    assert config["timing"]["resumed_chunks"] == 0 and config["timing"]["compilations"] > 0
    assert (
        config["data_files"]["file:mine.npz"]["sha256"]
        == hashlib.sha256((tmp_path / "mine.npz").read_bytes()).hexdigest()
    )
    assert not chunks & {p.name for p in (tmp_path / "res" / "chunks").iterdir()}
    assert not pd.read_parquet(tmp_path / "res" / "runs.parquet").equals(runs)

    # labels a plug-in or a file gives (a model's import path) load, and a report names them
    table = pd.read_parquet(tmp_path / "res" / "runs.parquet").assign(model="mypkg.models:resmlp")
    table.to_parquet(tmp_path / "res" / "runs.parquet", index=False)
    seal(tmp_path / "res")
    assert set(load_results(tmp_path / "res").runs["model"]) == {"mypkg.models:resmlp"}


def test_regression_file_trains_with_mse(tmp_path, capsys):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(150, 4))
    y = (x @ rng.normal(size=4) + 0.1 * rng.normal(size=150)).astype(np.float32) * 50 + 7
    path = save(tmp_path / "reg.npz", x[:100], y[:100], x[100:], y[100:])
    assert (
        main([*RUN, "--dataset", f"file:{path}", "--out", str(tmp_path / "res"), "--batch-size", "full"]) == 0
    )
    runs = load_results(tmp_path / "res").runs
    assert set(runs["task"]) == {"regression"} and runs["final_test_acc"].isna().all()
    trained = runs[runs["scheme"] == "lecun_normal/zeros"]["final_train_loss"]
    assert (trained < 0.5).all(), "standardized targets: predicting 0 scores about 1, a fit far less"
    assert set(runs["batch_size"]) == {100}


def test_standardized_with_training_statistics(tmp_path):
    x_train, y_train, x_test, y_test = classification()
    x_train[:, 2] = 5.0  # a constant feature stays 0
    data = load_dataset(f"file:{save(tmp_path / 'c.npz', x_train, y_train, x_test, y_test)}")
    mean, std = x_train.mean(axis=0), np.where(x_train.std(axis=0) > 0, x_train.std(axis=0), 1)
    np.testing.assert_allclose(data.x_train, (x_train - mean) / std, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(data.x_test, (x_test - mean) / std, rtol=1e-5, atol=1e-6)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32 and data.n_outputs == 3
    # 2-D float targets: standardized per output
    targets = np.random.default_rng(3).normal(10, 3, size=(160, 2))
    name = f"file:{save(tmp_path / 'r.npz', x_train, targets[:120], x_test, targets[120:])}"
    data = load_dataset(name)
    np.testing.assert_allclose(
        data.y_test, (targets[120:] - targets[:120].mean(0)) / targets[:120].std(0), rtol=1e-5
    )
    assert (data.task, data.n_outputs, dataset_task(name), train_size(name)) == (
        "regression",
        2,
        "regression",
        120,
    )


def test_an_edited_file_is_read_again_and_changes_the_chunk_keys(tmp_path):
    path = save(tmp_path / "k.npz", *classification())
    name = f"file:{path}"
    matrix = checked(
        Matrix(name="k", datasets=(name,), hidden=((4,),), seeds=2, steps=4, log_every=2, batch_sizes=(None,))
    )
    keys = make_plan(matrix, 1).keys
    assert (
        make_plan(matrix, 1).keys == keys
        and file_version(name)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    save(path, *classification(seed=5, n_train=90))
    assert train_size(name) == 120, "as loaded last, until the file is read again"
    assert load_dataset(name).x_train.shape == (90, 6) and train_size(name) == 90
    assert not set(make_plan(matrix, 1).keys) & set(keys)


def test_a_chunk_trained_on_another_version_of_the_file_is_not_saved(tmp_path):
    name = f"file:{save(tmp_path / 'v.npz', *classification())}"
    load_dataset(name)
    store = ChunkStore(tmp_path / "res", {name: {**file_version(name), "sha256": "0" * 64}})
    with pytest.raises(ConfigError, match="changed while symjax was training"):
        store.save("a" * 24, {"train_loss": np.zeros((1, 2))})
    assert not (tmp_path / "res").exists()
    ChunkStore(tmp_path / "res", {name: file_version(name)}).save("a" * 24, {"train_loss": np.zeros((1, 2))})


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _bad_files():
    x_train, y_train, x_test, y_test = classification()
    nan = x_train.copy()
    nan[3, 1] = np.nan

    def write(**arrays):
        return lambda path: np.savez(
            path, **{**dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test), **arrays}
        )

    return {
        "missing file": (lambda path: None, "No such file"),
        "a directory": (lambda path: path.mkdir(), "not a regular file"),
        "missing array": (
            lambda path: np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test),
            "no array 'y_test'",
        ),
        "mismatched lengths": (write(y_train=y_train[:-1]), "x_train has 120 rows but y_train has 119"),
        "NaN": (write(x_train=nan), "x_train holds NaN"),
        "infinite target": (
            write(y_train=np.full(120, np.inf), y_test=np.ones(40)),
            "y_train holds NaN or infinite",
        ),
        "1-D inputs": (write(x_test=x_test[:, 0]), "x_test must be a 2-D array"),
        "3-D labels": (write(y_train=y_train[:, None, None]), "y_train must be a 1-D or 2-D array"),
        "2-D integer labels": (
            write(y_train=y_train[:, None], y_test=y_test[:, None]),
            "integer labels must be 1-D",
        ),
        "features differ": (write(x_test=x_test[:, :5]), "x_train has 6 features and x_test 5"),
        "labels 1..3": (write(y_train=y_train + 1, y_test=y_test + 1), "labels must be 0..C-1"),
        "negative labels": (write(y_train=y_train - 1, y_test=y_test - 1), "labels must be 0..C-1"),
        "one class": (write(y_train=np.zeros(120, int), y_test=np.zeros(40, int)), "labels must be 0..C-1"),
        "class only in test": (write(y_test=np.full(40, 3)), "labels must be 0..C-1"),
        "labels and targets": (write(y_test=y_test.astype(float)), "must both be integer labels"),
        "boolean labels": (write(y_train=y_train > 0, y_test=y_test > 0), "y_train must be"),
        "text inputs": (write(x_train=x_train.astype(str)), "x_train must be a 2-D array of numbers"),
        "one training example": (write(x_train=x_train[:1], y_train=y_train[:1]), "at least 2"),
        "pickled objects": (write(x_train=np.array([object()] * 3)), "cannot be read as .npz"),
        "not an npz": (lambda path: path.write_bytes(b"x_train,y_train\n1,2\n"), "cannot be read as .npz"),
        "a single array": (lambda path: path.write_bytes(npy(x_train)), "not an .npz archive"),
        "too big": (write(), "more than the 1,000 allowed"),
    }


BAD = _bad_files()


@pytest.mark.parametrize("case", BAD)
def test_a_bad_file_is_one_line_exit_2_and_no_folder(case, tmp_path, monkeypatch, capsys):
    make, words = BAD[case]
    path = tmp_path / "bad.npz"
    make(path)
    if case == "too big":
        monkeypatch.setattr(symjax.core.data_files, "MAX_DATA_BYTES", 1000)
    for dry in ([], ["--dry-run"]):
        assert main([*RUN, "--dataset", f"file:{path}", "--out", str(tmp_path / "res"), *dry]) == 2
        one_error_line(capsys, "dataset 'file:", str(path), words, "allowed: file:PATH.npz")
        assert not (tmp_path / "res").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--dataset", "file:a,b.npz"], "cannot hold a comma"),
        (["--dataset", "file:mine.txt"], "not a file name ending in .npz"),
        (["--dataset", "file:mine.npz#label=y"], "not a file name ending in .npz"),
        (["--dataset", "file:mine.csv"], "not a file name ending in .npz"),
        (
            ["--dataset", "file:mine.npz", "--batch-size", "200"],
            "batch_size: 200 is larger than the 120 training examples",
        ),
        (["--dataset", "file:mine.npz", "--model", "cnn"], "cnn reads a 1-D signal"),
        (["--dataset", "mnist1e"], "or file:PATH.npz"),
    ],
)
def test_names_and_settings_a_file_cannot_take(args, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save(tmp_path / "mine.npz", *classification())
    assert main([*RUN, *args, "--out", "res"]) == 2
    one_error_line(capsys, words)
    assert not (tmp_path / "res").exists()


def test_csv_and_parquet_tables(tmp_path):
    x_train, y_train, x_test, y_test = classification()
    frame = pd.DataFrame(np.r_[x_train, x_test], columns=[f"f{i}" for i in range(6)]).assign(
        kind=np.r_[y_train, y_test]
    )
    frame.to_csv(tmp_path / "t.csv", index=False)  # no split column: the last 20% of rows are the test set
    data = load_dataset(f"file:{tmp_path / 't.csv'}#label=kind")
    assert (len(data.y_train), len(data.y_test), data.task, data.x_train.shape[1]) == (
        128,
        32,
        "classification",
        6,
    )
    np.testing.assert_array_equal(data.y_train, np.r_[y_train, y_test][:128])
    frame.assign(split=["train"] * 120 + ["test"] * 40, kind=frame["kind"] * 0.5).to_parquet(
        tmp_path / "t.parquet"
    )
    data = load_dataset(f"file:{tmp_path / 't.parquet'}#label=kind")
    assert (len(data.y_train), len(data.y_test), data.task, data.x_train.shape[1]) == (
        120,
        40,
        "regression",
        6,
    )
    frame.assign(f0="a").to_csv(tmp_path / "s.csv", index=False)
    for name, words in (
        (f"file:{tmp_path / 't.csv'}#label=nope", "no column 'nope'"),
        (f"file:{tmp_path / 's.csv'}#label=kind", "column 'f0' must hold numbers"),
    ):
        with pytest.raises(ValueError, match=words):
            load_dataset(name)
