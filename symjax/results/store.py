"""Results on disk: ``runs.parquet``, ``curves.parquet``, ``diagnostics.parquet``, ``config.json`` in one
folder.

Data-flow stage: metrics -> **store** (tidy tables on disk) -> analysis -> report.
Every file is written atomically (temporary file in the same folder, fsynced, ``os.replace``,
then the folder fsynced), so a reader never sees a half-written file. The set is published as
one unit: ``manifest.json`` (the mark of a symjax folder) names the sha256 of every result file
and is written last; readers check the hashes and refuse a set whose files disagree.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from symjax.core.axes import LATER_GROUPED, upgrade
from symjax.core.data import file_versions
from symjax.core.errors import SymjaxError, one_line
from symjax.core.files import atomic_write, atomic_write_text, digest, read_bytes

# 3 added runs.model, runs.task, runs.diverged_step; 4 the late-target columns; 5 runs.dtype; 6 runs.schedule;
# 7 runs.norm; 8 runs.matmul_precision
FORMAT_VERSION = 8
READABLE_VERSIONS = (2, 3, 4, 5, 6, 7, 8)
FILES = ("runs.parquet", "curves.parquet", "diagnostics.parquet", "config.json")
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 2**20


class Results(NamedTuple):
    """A results folder loaded into memory."""

    runs: pd.DataFrame  # one row per run
    curves: pd.DataFrame  # one row per (run, logged step)
    diagnostics: pd.DataFrame  # one row per (run, logged step, layer)
    config: dict  # the fully expanded matrix and run metadata


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """``folder/manifest.json`` if the folder is symjax's (a dict naming a matrix_hash, its ``files`` none but
    the result files); None when there is no manifest; ValueError when there is a file of that name that is
    not symjax's manifest."""
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(read_bytes(path, MAX_MANIFEST_BYTES))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as error:
        raise SymjaxError(f"{path} cannot be read as symjax's manifest ({one_line(error)})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("matrix_hash"), str):
        raise SymjaxError(f"{path} is not symjax's manifest (no matrix_hash)")
    files = manifest.get("files")
    unexpected = sorted(name for name in files if name not in FILES) if isinstance(files, dict) else []
    if unexpected:
        raise SymjaxError(
            f"{path} names an unexpected file {unexpected[0]!r}; allowed in its files: {', '.join(FILES)}"
        )
    return manifest


def write_manifest(folder: Path, manifest: dict) -> None:
    """Write ``folder/manifest.json`` atomically."""
    atomic_write_text(Path(folder) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def matrix_digest(matrix: dict) -> str:
    """The identity of a matrix (``Matrix.to_dict()``, or the ``matrix`` that config.json or a manifest holds,
    written by any version): the hash of its upgrade to the current form (``symjax.core.axes.upgrade``), so a
    folder written before a key existed still names the same matrix."""
    plain = json.loads(json.dumps(matrix, default=str))  # tuples as lists, as config.json holds them
    return digest(upgrade(plain) if isinstance(plain, dict) else plain)  # a damaged matrix is hashed as it is


def same_matrix(manifest: dict, matrix: dict) -> bool:
    """Whether a folder's manifest names ``matrix``: its stored matrix upgraded, else (a manifest that holds
    only the hash) its hash."""
    stored = manifest.get("matrix")
    if isinstance(stored, dict):
        return matrix_digest(stored) == matrix_digest(matrix)
    return manifest["matrix_hash"] == matrix_digest(matrix)


def seal(folder: str | os.PathLike) -> None:
    """Publish the result files of ``folder``: write the manifest (last) with the sha256 of each file."""
    folder = Path(folder)
    files = {name: hashlib.sha256(read_bytes(folder / name)).hexdigest() for name in FILES}
    matrix = json.loads(read_bytes(folder / "config.json"))["matrix"]
    write_manifest(
        folder,
        {
            **(read_manifest(folder) or {}),
            "matrix_hash": matrix_digest(matrix),
            "matrix": matrix,
            "files": files,
        },
    )


def write_results(
    folder: str | os.PathLike,
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    diagnostics: pd.DataFrame,
    config: dict,
) -> Path:
    """Write the result files atomically into ``folder`` (created if needed), then publish them (``seal``).
    config.json gains ``data_files``, ``{dataset: {"path", "sha256"}}`` of the file datasets trained on: the
    versions the manifest names (the run's, ``symjax.engine.resume.prepare_folder``), else those this process
    loaded."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    datasets = config.get("matrix", {}).get("datasets", [])
    data_files = (read_manifest(folder) or {}).get("data_files") or file_versions(datasets)
    if data_files:
        config = {**config, "data_files": data_files}
    atomic_write(folder / "runs.parquet", lambda p: runs.to_parquet(p, index=False))
    atomic_write(folder / "curves.parquet", lambda p: curves.to_parquet(p, index=False))
    atomic_write(folder / "diagnostics.parquet", lambda p: diagnostics.to_parquet(p, index=False))
    text = json.dumps({"format_version": FORMAT_VERSION, **config}, indent=2, sort_keys=True) + "\n"
    atomic_write_text(folder / "config.json", text)
    seal(folder)
    return folder


def read_config(folder: str | os.PathLike) -> dict:
    """``folder/config.json`` (the expanded matrix and timings); ValueError if it cannot be read."""
    try:
        return json.loads(read_bytes(Path(folder) / "config.json"))
    except (OSError, ValueError, RecursionError) as error:
        raise SymjaxError(f"{folder}/config.json cannot be read: {one_line(error)}") from None


def _published(folder: Path) -> dict[str, bytes]:
    """The bytes of every result file, checked against the hashes the manifest names; ValueError if any
    is missing, unreadable or not of the published set."""
    manifest = read_manifest(folder)
    missing = [name for name in FILES if not os.path.lexists(folder / name)]
    if missing or manifest is None:
        what = f"missing {', '.join(missing)}" if missing else f"no {MANIFEST}"
        raise SymjaxError(f"{folder} is not a results folder: {what} (run `symjax run --out {folder}` first)")
    files, data = manifest.get("files"), {}
    if not isinstance(files, dict):
        raise SymjaxError(
            f"{folder} holds no published results ({MANIFEST} names no files: its run has not finished); run "
            "the same `symjax run` command again"
        )
    for name in FILES:
        try:
            data[name] = read_bytes(folder / name)
        except (OSError, ValueError) as error:
            raise SymjaxError(f"{folder}/{name} cannot be read: {one_line(error)}") from None
        if hashlib.sha256(data[name]).hexdigest() != files.get(name):
            raise SymjaxError(
                f"{folder}: {name} does not belong with the other result files (its hash differs from the "
                f"one in {MANIFEST}; a run stopped while writing them?); run `symjax run` again"
            )
    return data


def load_results(folder: str | os.PathLike) -> Results:
    """Load a published results folder; ValueError (one line) if it is missing, incomplete, mixed or
    malformed."""
    from symjax.results.schema import check_config, check_tables

    folder = Path(folder)
    data = _published(folder)
    try:
        config = json.loads(data["config.json"])
    except (ValueError, RecursionError) as error:
        raise SymjaxError(f"{folder}/config.json cannot be read: {one_line(error)}") from None
    if not isinstance(config, dict) or config.get("format_version") not in READABLE_VERSIONS:
        config = config if isinstance(config, dict) else {}
        raise SymjaxError(
            f"{folder} has results format {config.get('format_version')!r}; this symjax reads formats "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    check_config(folder, config)
    try:
        runs, curves, diagnostics = (pd.read_parquet(io.BytesIO(data[name])) for name in FILES[:3])
    except Exception as error:  # pyarrow raises several kinds for a damaged file
        raise SymjaxError(
            f"{folder} has a damaged results file ({one_line(error)}); run `symjax run` again"
        ) from None
    check_tables(folder, config, runs, curves, diagnostics)
    if config["format_version"] == 2:  # every format-2 run was an MLP classifier
        runs.insert(runs.columns.get_loc("dataset") + 1, "model", "mlp")
        runs.insert(runs.columns.get_loc("model") + 1, "task", "classification")
        runs["diverged_step"] = pd.array([pd.NA] * len(runs), dtype="Int64")  # format 2 did not record it
        config["matrix"].setdefault("models", ["mlp"])
        config["matrix"].setdefault("excludes", [])
    for (
        axis
    ) in LATER_GROUPED:  # written before the axis existed (dtype: format 5): every run had its earlier value
        if axis.single not in runs:
            runs[axis.single] = axis.earlier[0]
    if config["format_version"] < 4:  # derivable from the curves
        from symjax.results.metrics import with_late_target
        from symjax.results.schema import SETTING_COLUMNS

        runs = with_late_target(runs, curves, config["matrix"]["reference"], SETTING_COLUMNS)
    return Results(runs, curves, diagnostics, config)
