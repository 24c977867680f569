"""Issue 12, nothing lost and nothing counted twice: symjax writes only folders it owns (its manifest.json),
deletes only files it recognizes, follows no symlink out, publishes results as one unit (hashes in the
manifest, checked by readers), retrains damaged chunks, and holds its lock against a racing process."""

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import bench_json, tiny_matrix

from symjax.cli import main
from symjax.engine.resume import CHUNKS, LOCK, FolderInUse, folder_lock
from symjax.results.store import FILES, MANIFEST, load_results, seal

TINY = {
    "seeds": 3,
    "chunk_runs": 2,
}  # helpers.TINY (xor, hidden [[4]], 2 schemes, 5 steps) with these changes
N_CHUNKS = 3  # 6 runs in chunks of 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(matrix file, a results folder trained once by `symjax run`)."""
    base = tmp_path_factory.mktemp("tiny")
    path = tiny_matrix(base, **TINY)
    assert main(["run", "--matrix", str(path), "--out", str(base / "results"), "--quiet"]) == 0
    return path, base / "results"


def run(matrix, folder, *flags):
    return main(["run", "--matrix", str(matrix), "--out", str(folder), "--quiet", *flags])


def one_line(capsys, *words) -> None:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert all(w in err for w in words), err


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("flags", [[], ["--fresh"], ["--dry-run"]])
def test_a_folder_that_is_not_symjaxs_is_refused(flags, tiny, tmp_path, capsys):
    folder = tmp_path / "mine"
    (folder / CHUNKS).mkdir(parents=True)
    (folder / "config.json").write_text('{"my": "experiment"}')
    np.savez(folder / CHUNKS / "exp1.npz", x=np.arange(3))
    before = snapshot(folder)
    assert run(tiny[0], folder, *flags) == 2
    one_line(capsys, "not a symjax results folder", "--out")
    assert snapshot(folder) == before and sorted(os.listdir(folder)) == [CHUNKS, "config.json"]


def test_a_symlink_out_of_the_folder_is_never_followed(tiny, tmp_path, capsys):
    folder, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    shutil.copytree(tiny[1], folder)
    shutil.copytree(folder / CHUNKS, elsewhere)
    shutil.rmtree(folder / CHUNKS)
    (folder / CHUNKS).symlink_to(elsewhere)
    before = snapshot(elsewhere)
    for flags in ([], ["--fresh"]):
        assert run(tiny[0], folder, *flags) == 2
        one_line(capsys, "symbolic link")
    assert snapshot(elsewhere) == before


def test_fresh_deletes_only_what_symjax_wrote(tiny, tmp_path, capsys):
    folder = tmp_path / "results"
    shutil.copytree(tiny[1], folder)
    (folder / "notes.md").write_text("mine")
    (folder / CHUNKS / "exp1.npz").write_bytes(b"mine")
    stale = folder / CHUNKS / ("0" * 24 + ".npz")
    stale.write_bytes(b"an old chunk")
    assert run(tiny[0], folder, "--fresh") == 0
    assert (folder / "notes.md").read_text() == "mine" and (
        folder / CHUNKS / "exp1.npz"
    ).read_bytes() == b"mine"
    assert not stale.exists() and len(list((folder / CHUNKS).glob("*.npz"))) == N_CHUNKS + 1
    assert "resuming" not in capsys.readouterr().err, "--fresh trained everything again"


def test_report_refuses_a_mixed_set(tiny, smoke_results, tmp_path, capsys):
    folder = tmp_path / "results"
    shutil.copytree(tiny[1], folder)
    for name in ("runs.parquet", "curves.parquet"):  # new tables beside the old diagnostics and config
        shutil.copy(smoke_results / name, folder / name)
    assert main(["report", "--results", str(folder), "--out", str(tmp_path / "rep")]) == 2
    one_line(capsys, "runs.parquet does not belong with the other result files")
    assert not (tmp_path / "rep").exists()


def test_a_publish_cut_short_is_never_read(tiny, tmp_path, capsys, monkeypatch):
    """A full disk while a --fresh rerun of another matrix writes diagnostics.parquet (the case of the issue,
    where runs and curves were the new matrix's, diagnostics and config the old one's): the report refuses the
    folder."""
    import symjax.results.store

    folder = tmp_path / "results"
    shutil.copytree(tiny[1], folder)
    write = symjax.results.store.atomic_write

    def full_disk(path, writer):
        if path.name == "diagnostics.parquet":
            raise OSError(28, "No space left on device", str(path))
        write(path, writer)

    monkeypatch.setattr(symjax.results.store, "atomic_write", full_disk)
    assert run(tiny[0], folder, "--fresh", "--seeds", "2") == 2
    one_line(capsys, "No space left on device")
    assert main(["report", "--results", str(folder), "--out", str(tmp_path / "rep")]) == 2
    one_line(capsys, "diagnostics.parquet")  # --fresh discarded the old set; the new one was never published
    assert not (tmp_path / "rep").exists()


def test_damaged_chunks_are_trained_again_with_one_warning_each(tiny, tmp_path, capsys):
    folder = tmp_path / "results"
    shutil.copytree(tiny[1], folder)
    chunks = sorted((folder / CHUNKS).glob("*.npz"))
    chunks[0].write_bytes(b"")  # zero length
    chunks[1].write_bytes(chunks[1].read_bytes()[:200])  # truncated
    np.savez(chunks[2], train_loss=np.zeros((2, 2)))  # foreign
    assert run(tiny[0], folder) == 0
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == N_CHUNKS and all(w.startswith("symjax: warning: ") for w in warnings), warnings
    for name in ("runs", "curves", "diagnostics"):
        pd.testing.assert_frame_equal(
            getattr(load_results(folder), name), getattr(load_results(tiny[1]), name)
        )
    assert run(tiny[0], folder) == 0 and capsys.readouterr().err == "", "healed: no warning the next time"


def test_a_lock_holding_a_huge_number_is_stale(tiny, tmp_path, capsys):
    folder = tmp_path / "results"
    shutil.copytree(tiny[1], folder)
    (folder / LOCK).write_text("9" * 400 + "\n")
    assert run(tiny[0], folder) == 0 and not (folder / LOCK).exists()


def test_a_held_lock_is_refused_and_says_how_to_clear_it(tmp_path):
    with folder_lock(tmp_path):
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"
        with pytest.raises(FolderInUse) as error:
            with folder_lock(tmp_path):
                pass
    assert f"pid {os.getpid()}" in str(error.value) and f"delete {tmp_path / LOCK}" in str(error.value)
    assert not (tmp_path / LOCK).exists()


ROUNDS = 500


def _racer(folder, barrier, taken, overlaps) -> None:
    """Each round: wait for the rival, try the lock; while held, a marker file must not exist already."""
    folder, marker = Path(folder), Path(folder) / "held"
    for round_ in range(ROUNDS):
        barrier.wait()
        try:
            with folder_lock(folder):
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    overlaps.value += 1
                time.sleep(0.0002)
                marker.unlink(missing_ok=True)
                with taken.get_lock():
                    taken[round_] += 1
        except FolderInUse:
            pass
        if (
            barrier.wait() == 0 and round_ % 2 and round_ < ROUNDS - 1
        ):  # every other round: a stale lock first
            (folder / LOCK).write_text("" if round_ % 4 == 1 else "999999999\n")
        barrier.wait()


def test_two_processes_racing_for_the_lock_never_both_hold_it(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, taken, overlaps = context.Barrier(2), context.Array("i", ROUNDS), context.Value("i", 0)
    racers = [
        context.Process(target=_racer, args=(str(tmp_path), barrier, taken, overlaps)) for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(120)
    assert [r.exitcode for r in racers] == [0, 0]
    assert overlaps.value == 0, f"both held the lock in {overlaps.value} of {ROUNDS} rounds"
    assert min(taken) >= 1, "in every round at least one process took the lock (stale ones too)"
    assert not (tmp_path / LOCK).exists()


def test_report_never_overwrites_a_file_it_did_not_write(tiny, tmp_path, capsys):
    out = tmp_path / "rep"
    out.mkdir()
    for name in ("README.md", "tiny.md"):
        (out / name).write_text("my own notes\n")
        assert main(["report", "--results", str(tiny[1]), "--out", str(out)]) == 2
        one_line(capsys, f"{out / name} was not written by symjax")
        assert os.listdir(out) == [name] and (out / name).read_text() == "my own notes\n", (
            "nothing written, no plots"
        )
        (out / name).unlink()
    (out / "bench.md").write_text("my bench notes\n")
    (out / "bench.json").write_text(json.dumps(bench_json()))
    assert main(["report", "--bench-only", "--out", str(out)]) == 2
    one_line(capsys, "bench.md was not written by symjax")
    assert (out / "bench.md").read_text() == "my bench notes\n" and not (out / "README.md").exists()


def tampered(source, folder, change) -> None:
    """Copy a results folder, apply ``change(folder)`` and publish it again (seal), as if symjax had written
    it."""
    shutil.copytree(source, folder)
    change(folder)
    seal(folder)


def _config(**matrix_changes):
    def change(folder):
        config = json.loads((folder / "config.json").read_text())
        config["matrix"].update(matrix_changes)
        config["matrix"] = {k: v for k, v in config["matrix"].items() if v is not None}
        (folder / "config.json").write_text(json.dumps(config))

    return change


def _table(name, how):
    def change(folder):
        table = pd.read_parquet(folder / f"{name}.parquet")
        how(table).to_parquet(folder / f"{name}.parquet")

    return change


TAMPERED = {
    "name ../../README": (_config(name="../../README"), "plain name"),
    "name README": (_config(name="README"), "plain name"),
    "name bench": (_config(name="bench"), "plain name"),
    "no schemes": (_config(schemes=None), "matrix.schemes"),
    "no reference": (_config(reference=None), "matrix.reference"),
    "no seeds": (_config(seeds=None), "matrix.seeds"),
    "runs with 0 rows": (_table("runs", lambda t: t.iloc[:0]), "holds no rows"),
    "curves with 0 rows": (_table("curves", lambda t: t.iloc[:0]), "holds no rows"),
    "runs with other columns": (
        _table("runs", lambda t: t.rename(columns={"scheme": "init"})),
        "lacks the column 'scheme'",
    ),
    "diagnostics with other columns": (_table("diagnostics", lambda t: t[["run_id"]]), "lacks the column"),
    "a path as activation": (_table("runs", lambda t: t.assign(activation="../../x")), "plain name"),
    "a two-line dataset": (
        _table("runs", lambda t: t.assign(dataset="mnist1d\n../../x")),
        "printable characters on one line",
    ),
    "a huge model label": (_table("runs", lambda t: t.assign(model="m" * 301)), "1 to 300 printable"),
    "losses as text": (_table("runs", lambda t: t.assign(final_train_loss="low")), "final_train_loss"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_report_on_a_tampered_folder_is_one_line(case, tiny, tmp_path, capsys):
    change, words = TAMPERED[case]
    tampered(tiny[1], tmp_path / "results", change)
    assert main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "rep")]) == 2
    one_line(capsys, words)
    assert not (tmp_path / "rep").exists() and not (tmp_path / "README").exists()


def test_a_refused_report_leaves_no_plots(tiny, tmp_path, capsys, monkeypatch):
    import symjax.report.build
    from symjax.core.errors import SymjaxError

    def fail(*args, **kwargs):  # a refusal late in the report, after the first plots were drawn
        raise SymjaxError("refused")

    monkeypatch.setattr(symjax.report.build, "mechanism_markdown", fail)
    assert main(["report", "--results", str(tiny[1]), "--out", str(tmp_path / "rep")]) == 2
    one_line(capsys, "refused")
    assert list((tmp_path / "rep").rglob("*")) == [], "no plots, no temporary folder"


@pytest.mark.parametrize("name", ["default", "full"])
def test_committed_results_are_published_sets(name):
    folder = Path(__file__).parents[1] / "results" / name
    files = json.loads((folder / MANIFEST).read_text())["files"]
    assert files == {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in FILES}


def test_atomic_write_fsyncs_the_file_and_its_folder(tmp_path, monkeypatch):
    import stat

    from symjax.core.files import atomic_write_text

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real(fd)))
    atomic_write_text(tmp_path / "a.txt", "x")
    assert synced == [False, True] and (tmp_path / "a.txt").read_text() == "x"
