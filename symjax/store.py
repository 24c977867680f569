"""Results on disk: ``runs.parquet``, ``curves.parquet``, ``config.json`` in one folder.

Data-flow stage: metrics -> **tidy tables on disk** -> stats -> report.
Every file is written atomically (temporary file in the same folder + ``os.replace``),
so a reader never sees a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import pandas as pd

FORMAT_VERSION = 3  # 3 added runs.model, runs.task, runs.diverged_step
READABLE_VERSIONS = (2, 3)
FILES = ("runs.parquet", "curves.parquet", "diagnostics.parquet", "config.json")


class Results(NamedTuple):
    """A results folder loaded into memory."""

    runs: pd.DataFrame  # one row per run
    curves: pd.DataFrame  # one row per (run, logged step)
    diagnostics: pd.DataFrame  # one row per (run, logged step, layer)
    config: dict  # the fully expanded matrix and run metadata


def atomic_write(path: Path, write) -> None:
    """Call ``write(temporary_path)`` then move the file into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are for everyone who can read the folder
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_results(folder: str | os.PathLike, runs: pd.DataFrame, curves: pd.DataFrame, diagnostics: pd.DataFrame,
                  config: dict) -> Path:
    """Write the result files atomically into ``folder`` (created if needed), config.json last."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "runs.parquet", lambda p: runs.to_parquet(p, index=False))
    atomic_write(folder / "curves.parquet", lambda p: curves.to_parquet(p, index=False))
    atomic_write(folder / "diagnostics.parquet", lambda p: diagnostics.to_parquet(p, index=False))
    text = json.dumps({"format_version": FORMAT_VERSION, **config}, indent=2, sort_keys=True) + "\n"
    atomic_write_text(folder / "config.json", text)
    return folder


def read_config(folder: str | os.PathLike) -> dict:
    """``folder/config.json`` (the expanded matrix and timings); ValueError if it cannot be read."""
    try:
        return json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{folder}/config.json cannot be read: {error}") from None


def load_results(folder: str | os.PathLike) -> Results:
    """Load a results folder; raise ValueError with a clear message if it is missing or incomplete."""
    folder = Path(folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder} is not a results folder: missing {', '.join(missing)} (run `symjax run --out {folder}` first)")
    config = read_config(folder)
    if not isinstance(config, dict) or config.get("format_version") not in READABLE_VERSIONS:
        config = config if isinstance(config, dict) else {}
        raise ValueError(f"{folder} has results format {config.get('format_version')!r}; this symjax reads formats "
                         f"{', '.join(map(str, READABLE_VERSIONS))}")
    try:
        runs, curves, diagnostics = (pd.read_parquet(folder / name) for name in FILES[:3])
    except Exception as error:  # pyarrow raises several kinds for a damaged file
        raise ValueError(f"{folder} has a damaged results file ({error}); run `symjax run` again") from None
    if config["format_version"] == 2:  # every format-2 run was an MLP classifier
        runs.insert(runs.columns.get_loc("dataset") + 1, "model", "mlp")
        runs.insert(runs.columns.get_loc("model") + 1, "task", "classification")
        runs["diverged_step"] = pd.array([pd.NA] * len(runs), dtype="Int64")  # format 2 did not record it
        config["matrix"].setdefault("models", ["mlp"])
        config["matrix"].setdefault("excludes", [])
    return Results(runs, curves, diagnostics, config)
