"""Resumable runs: every trained chunk saved at once, a manifest, and one writer per results folder.

Data-flow stage: train -> **store** (of chunks) -> metrics. Each chunk's host arrays are written
atomically to ``DIR/chunks/<key>.npz`` as soon as it is trained; the key is a content hash
of the group config, the chunk's runs, its padded size, the device count and the training
code's behaviour (``symjax.engine.plan.chunk_key``, ``code_hash``), so a chunk file is reused only for exactly
the same work; a chunk that cannot be read or is not that work counts as missing (one warning line) and is
trained again.
``DIR/manifest.json`` marks a folder as symjax's and names its matrix: symjax writes only into
an empty folder or one holding its manifest, refuses a different matrix unless ``--fresh``,
and deletes only files it recognizes (its chunks and result files), never through a symbolic
link. ``DIR/.lock`` is held with ``fcntl.flock`` (released by the kernel when its process dies)
and names the writer's pid.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import io
import os
import re
import sys
from pathlib import Path

import numpy as np

from symjax.core.data import file_versions
from symjax.core.files import atomic_write, read_bytes
from symjax.matrix.spec import ConfigError, Matrix
from symjax.results.store import (
    FILES,
    FORMAT_VERSION,
    MANIFEST,
    matrix_digest,
    read_manifest,
    same_matrix,
    write_manifest,
)

CHUNKS, LOCK = "chunks", ".lock"
KEY = re.compile(r"[0-9a-f]{24}")  # chunk file names: chunks/<key>.npz
# symjax.core.files.atomic_write's temporary files of the manifest and result files: .<name>.<random>.tmp
TEMPORARY = re.compile(
    r"\.(" + "|".join(re.escape(name) for name in (MANIFEST, *FILES)) + r")\.[A-Za-z0-9_]+\.tmp"
)
# the modules whose code decides what a chunk's training computes (tests/test_layout.py holds this list
# complete)
TRAINING_MODULES = (
    "symjax.core.axes",
    "symjax.core.data",
    "symjax.core.data_files",
    "symjax.core.data_order",
    "symjax.core.diagnostics",
    "symjax.core.errors",
    "symjax.core.evaluation",
    "symjax.core.group",
    "symjax.core.initializers",
    "symjax.core.models",
    "symjax.core.norms",
    "symjax.core.optimizers",
    "symjax.core.plugins",
    "symjax.core.schemes",
    "symjax.core.train",
    "symjax.core.transformer",
    "symjax.engine.devices",
    "symjax.engine.program",
    "symjax.engine.runner",
)
# Raise it for a change of what training computes that the training modules' code does not show (a numerical
# change in a dependency that symjax works around, a different meaning of a stored array); saved chunks
# retrain.
TRAINER_VERSION = 1


class FolderInUse(ConfigError):
    """Another live ``symjax run`` holds the results folder."""


def behaviour(source: str) -> str:
    r"""What a module's source does, without what it says: its syntax tree with docstrings, other bare string
    statements and ``__doc__`` assignments removed, dumped without positions (comments and formatting are not
    in the tree). Two sources with the same behaviour train the same chunks.

    >>> behaviour('def f(x):\n    "Doc."\n    return x  # note') == behaviour("def f(x): return x")
    True
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [statement for statement in body if not _is_prose(statement)]
            node.body = kept or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def _is_prose(statement: ast.stmt) -> bool:
    """A bare string (a docstring) or an assignment to some ``__doc__``: words, not behaviour."""
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)
    return isinstance(statement, ast.Assign) and all(
        isinstance(target, ast.Attribute) and target.attr == "__doc__" for target in statement.targets
    )


def code_hash() -> str:
    """Hash of what ``TRAINING_MODULES`` do (``behaviour``: comments, docstrings and formatting left out), of
    ``TRAINER_VERSION`` and of the results format: chunks saved by code that trains differently are not
    reused."""
    sha = hashlib.sha256(f"format {FORMAT_VERSION}, trainer {TRAINER_VERSION}".encode())
    for name in TRAINING_MODULES:
        source = Path(importlib.util.find_spec(name).origin).read_text(encoding="utf-8")
        sha.update(name.encode() + behaviour(source).encode())
    return sha.hexdigest()[:24]


def matrix_hash(matrix: Matrix) -> str:
    return matrix_digest(matrix.to_dict())


class ChunkStore:
    """The chunk files of one results folder; ``data_files`` (``symjax.core.data.file_versions``): the
    versions of the file datasets this run trains on, checked before each save."""

    def __init__(self, folder: Path, data_files: dict | None = None):
        self.folder = Path(folder) / CHUNKS
        self.data_files = data_files or {}

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def count(self, keys: list[str]) -> int:
        """How many of ``keys`` are saved."""
        return sum(self.has(key) for key in keys)

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The saved arrays of a chunk, or None if it was never finished or cannot be used (damaged,
        truncated, another chunk's or no symjax chunk at all: then one warning line on stderr, and it is
        trained again)."""
        if not os.path.lexists(self.path(key)):
            return None
        try:
            with np.load(io.BytesIO(read_bytes(self.path(key)))) as saved:
                arrays = {name: saved[name] for name in saved.files}
            if str(arrays.pop("chunk_key", "")) != key:
                raise ValueError("it is not the chunk of this work")
            if len({a.shape[0] for a in arrays.values() if a.ndim}) != 1:
                raise ValueError("its arrays disagree in their number of runs")
        except Exception as error:  # numpy and zipfile raise many kinds for a damaged file
            print(
                f"symjax: warning: {self.path(key)} cannot be used "
                f"({str(error).strip()[:120] or type(error).__name__}); "
                "training that chunk again",
                file=sys.stderr,
            )
            return None
        return arrays

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Write a chunk atomically (a reader sees the whole file or none), with its key inside; ConfigError
        if a file dataset was read again in another version than the run started with (it changed while
        training)."""
        now = file_versions(self.data_files)
        changed = [name for name in self.data_files if now[name] != self.data_files[name]]
        if changed:
            raise ConfigError(
                f"{changed[0]} changed while symjax was training (its sha256 differs from the one this run "
                "started with); nothing trained on the new version was saved: run the same command again to "
                "train on it"
            )
        if self.folder.is_symlink():  # replaced by a link since the folder was checked
            raise ConfigError(
                f"{self.folder} is a symbolic link; symjax never follows links out of its results folder"
            )
        self.folder.mkdir(parents=True, exist_ok=True)

        def write(tmp):
            with open(tmp, "wb") as file:
                np.savez(file, **arrays, chunk_key=np.array(key))

        atomic_write(self.path(key), write)

    def prune(self, keep: set[str] = frozenset()) -> None:
        """Delete the chunk files (named by a key) of work that is not in ``keep``; other files stay."""
        if self.folder.is_dir() and not self.folder.is_symlink():
            for entry in os.scandir(self.folder):
                if (
                    entry.name.endswith(".npz")
                    and KEY.fullmatch(entry.name[:-4])
                    and entry.name[:-4] not in keep
                ):
                    Path(entry.path).unlink(missing_ok=True)


def check_folder(folder: Path, matrix: Matrix, fresh: bool) -> dict | None:
    """The folder's manifest (None for a new or empty folder) if symjax may write ``matrix``'s runs there;
    ConfigError if it is no folder, is not symjax's, holds another matrix (unless ``fresh``) or links out.
    Its lock and symjax's temporary files (another run's, starting) do not make a folder symjax's nor
    foreign."""
    folder = Path(folder)
    allowed = "symjax writes only into a new or empty folder or one that it wrote: choose another --out"
    if os.path.lexists(folder) and not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; {allowed}")
    if not folder.is_dir():
        return None
    try:
        manifest = read_manifest(folder)
    except ValueError as error:
        raise ConfigError(f"{error}; {allowed}") from None
    if manifest is None and any(
        name != LOCK and not TEMPORARY.fullmatch(name) for name in os.listdir(folder)
    ):
        raise ConfigError(
            f"{folder} is not empty and has no symjax {MANIFEST}, so it is not a symjax results folder (with "
            f"or without --fresh); {allowed}"
        )
    linked = [name for name in (CHUNKS, MANIFEST, *FILES) if (folder / name).is_symlink()]
    if linked:
        raise ConfigError(
            f"{folder}/{linked[0]} is a symbolic link; symjax never follows links out of its results folder: "
            "remove the link or choose another --out"
        )
    if manifest is not None and not fresh and not same_matrix(manifest, matrix.to_dict()):
        raise ConfigError(
            f"{folder} holds runs of a different matrix; pass --fresh to discard them, or --out another "
            "folder"
        )
    return manifest


def check_shared(folder: Path, matrix: Matrix) -> None:
    """For a process other than 0, once process 0 has prepared the folder: ConfigError unless ``check_folder``
    passes and the folder holds this matrix's manifest (it is the folder that process 0 sees)."""
    if check_folder(folder, matrix, fresh=False) is None:
        raise ConfigError(
            f"{folder} holds no symjax {MANIFEST} after process 0 prepared it; allowed: an --out folder that "
            "every process sees (a shared file system)"
        )


def prepare_folder(folder: Path, matrix: Matrix, fresh: bool) -> ChunkStore:
    """Check the folder (``check_folder``), with ``fresh`` delete the chunks and result files symjax wrote
    there, and write the manifest of this matrix (the published files stay named while they are this matrix's)
    with the versions of its file datasets as this process loaded them (for ``make_plan``: the versions in the
    chunk keys)."""
    manifest = check_folder(folder, matrix, fresh)
    folder.mkdir(parents=True, exist_ok=True)
    keep = {"files": manifest["files"]} if manifest and not fresh and "files" in manifest else {}
    data_files = file_versions(matrix.datasets)
    write_manifest(
        folder,
        {
            "matrix_hash": matrix_hash(matrix),
            "matrix": matrix.to_dict(),
            **keep,
            **({"data_files": data_files} if data_files else {}),
        },
    )
    chunks = ChunkStore(folder, data_files)
    if fresh and manifest is not None:
        chunks.prune()
        for name in FILES:
            (folder / name).unlink(missing_ok=True)
    return chunks


def _unopened(lock: Path, error: OSError) -> str:
    """Why the lock cannot be opened: deleting it helps only when it exists on a writable file system."""
    if os.path.lexists(lock) and error.errno != errno.EROFS:
        return f"cannot open the lock {lock} ({error.strerror}); delete it if no symjax run writes the folder"
    return f"cannot create the lock {lock} ({error.strerror}); allowed: an --out folder that symjax may write"


def _holder(path: Path) -> str:
    """The pid written in a lock file, for messages ("unknown" if it holds none)."""
    try:
        text = read_bytes(path, 64).decode("ascii").strip()
    except (OSError, ValueError):
        return "unknown"
    return text if text.isdigit() and len(text) <= 10 else "unknown"


@contextlib.contextmanager
def folder_lock(folder: Path):
    """Hold ``folder/.lock`` while writing: ``fcntl.flock`` on the lock file, which then names this pid.

    The kernel releases a dead process's lock, so a stale file is simply locked again (no race: one of
    two takers gets the flock). Only the holder deletes the file, while holding it; a taker whose file
    was deleted or replaced meanwhile tries again."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            raise FolderInUse(_unopened(path, error)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = _holder(path)
            raise FolderInUse(
                f"{folder} is being written by another symjax run (pid {pid}); wait for it to finish or stop "
                f"it; if no symjax run is writing it, delete {path}"
            ) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder deleted it after we opened it: take the new one
    else:
        raise FolderInUse(
            f"{folder}: could not take the lock {path}; delete it if no symjax run is writing the folder"
        )
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # still ours: nobody else takes a file we hold
        os.close(fd)
