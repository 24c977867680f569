"""Resumable runs: every trained chunk saved at once, a manifest, and one writer per results folder.

Data-flow stage: between **train** and **store**. Each chunk's host arrays are written
atomically to ``DIR/chunks/<key>.npz`` as soon as it is trained; the key is a content hash
of the group config, the chunk's runs, its padded size, the device count and the symjax
code, so a chunk file is reused only for exactly the same work. ``DIR/manifest.json``
names the matrix a folder belongs to; a different matrix is refused unless ``--fresh``.
``DIR/.lock`` holds the writer's pid; a lock left by a dead process is taken over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from symjax.config import ConfigError, GroupConfig, Matrix
from symjax.store import FORMAT_VERSION, atomic_write, atomic_write_text

CHUNKS, MANIFEST, LOCK = "chunks", "manifest.json", ".lock"
TRAINING_MODULES = ("config", "data", "devices", "diagnostics", "evaluation", "initializers", "models", "runner", "train")


class FolderInUse(ConfigError):
    """Another live ``symjax run`` holds the results folder."""


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=None)
def code_hash() -> str:
    """Hash of the modules that decide training and of the results format: other code's chunks are not reused."""
    package = Path(__file__).parent
    digest = hashlib.sha256(str(FORMAT_VERSION).encode())
    for name in TRAINING_MODULES:
        digest.update(name.encode() + (package / f"{name}.py").read_bytes())
    return digest.hexdigest()[:24]


def chunk_key(cfg: GroupConfig, runs: list, size: int, n_devices: int) -> str:
    """Content hash of one chunk's work: (group config, (scheme, seed, lr) of each run, size, devices, code)."""
    work = [dataclasses.asdict(cfg), [(r.scheme, r.seed, r.lr) for r in runs], size, n_devices, code_hash()]
    return _digest(work)


def matrix_hash(matrix: Matrix) -> str:
    return _digest(matrix.to_dict())


class ChunkStore:
    """The chunk files of one results folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder) / CHUNKS

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def count(self, keys: list[str]) -> int:
        """How many of ``keys`` are saved."""
        return sum(self.has(key) for key in keys)

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The saved arrays of a chunk, or None if it was never finished."""
        if not self.has(key):
            return None
        with np.load(self.path(key)) as saved:
            return {name: saved[name] for name in saved.files}

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Write a chunk atomically: a reader sees the whole file or none."""
        self.folder.mkdir(parents=True, exist_ok=True)

        def write(tmp):
            with open(tmp, "wb") as file:
                np.savez(file, **arrays)

        atomic_write(self.path(key), write)

    def prune(self, keep: set[str]) -> None:
        """Delete chunk files of work that is no longer in the matrix (other code or matrix)."""
        for path in self.folder.glob("*.npz"):
            if path.stem not in keep:
                path.unlink(missing_ok=True)


def prepare_folder(folder: Path, matrix: Matrix, fresh: bool) -> ChunkStore:
    """Check the folder belongs to this matrix (or start over with ``fresh``) and write the manifest."""
    manifest = folder / MANIFEST
    if fresh:
        shutil.rmtree(folder / CHUNKS, ignore_errors=True)
        manifest.unlink(missing_ok=True)
    elif manifest.is_file():
        try:
            old = json.loads(manifest.read_text()).get("matrix_hash")
        except (json.JSONDecodeError, AttributeError):
            old = None
        if old != matrix_hash(matrix):
            raise ConfigError(f"{folder} holds runs of a different matrix; pass --fresh to discard them, "
                              "or --out another folder")
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"matrix_hash": matrix_hash(matrix), "matrix": matrix.to_dict()}, indent=2, sort_keys=True) + "\n"
    atomic_write_text(manifest, text)
    return ChunkStore(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def folder_lock(folder: Path):
    """Hold ``folder/.lock`` while writing; refuse if a live process holds it, take over a dead one's."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise FolderInUse(f"{folder} is being written by another symjax run (pid {pid}); "
                                  "wait for it to finish or stop it") from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as file:
            file.write(f"{os.getpid()}\n")
        break
    else:
        raise FolderInUse(f"{folder}: could not take the lock {path}")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
