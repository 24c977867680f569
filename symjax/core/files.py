"""Safe file I/O for every stage: atomic writes, bounded reads that never follow links, content hashes.

Data-flow stage: none of its own; used by matrix (reading files), store (results, chunks) and
report. Free of jax. A writer never leaves a half-written file (temporary file in the same folder,
fsynced, ``os.replace``, then the folder fsynced); a reader takes only a regular file of a
bounded size.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path

from symjax.core.errors import SymjaxError

MAX_FILE_BYTES = 4 * 2**30  # largest file read (the full matrix's biggest results file is 12 MB)


def _fsync(path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write) -> None:
    """Call ``write(temporary_path)``, fsync the file, move it into place and fsync the folder. A failure
    (disk full, read-only file system) is an OSError that names ``path``, whatever raised it."""
    path = Path(path)
    try:
        _write_and_replace(path, write)
    except OSError as error:
        text = os.strerror(error.errno) if isinstance(error.errno, int) else str(error)
        raise OSError(error.errno, text, str(path)) from None


def _write_and_replace(path: Path, write) -> None:
    """``atomic_write`` without the naming of its errors."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are for everyone who can read the folder
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync(path.parent, os.O_RDONLY | os.O_DIRECTORY)  # the rename itself survives a lost machine


def read_bytes(path: str | os.PathLike, limit: int = MAX_FILE_BYTES, follow: bool = False) -> bytes:
    """The bytes of a regular file, not through a symbolic link unless ``follow``; OSError if it cannot be
    read, ValueError if it is no regular file or larger than ``limit`` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW))
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SymjaxError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise SymjaxError(f"{path} is larger than the {limit} bytes allowed")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise SymjaxError(f"{path} is larger than the {limit} bytes allowed")
    return data


def check_written(path: Path, header: str) -> None:
    """ValueError unless ``path`` is absent or a file that symjax wrote (its text starts with ``header``)."""
    if not os.path.lexists(path):
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            start = file.read(len(header.encode())) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        start = b""
    if start != header.encode():
        raise SymjaxError(
            f"{path} was not written by symjax, and symjax never overwrites such a file: move it away or "
            "choose another --out"
        )


def digest(value) -> str:
    """Short content hash of a JSON-able value (matrix hashes, chunk keys)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:24]


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
