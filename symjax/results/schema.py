"""What a loaded results folder must hold before a report reads it: config keys and table columns.

Data-flow stage: **store** (checks on reading) -> analysis -> report. ``store.load_results`` calls
these after the hash check, so a folder whose files were edited consistently (or written by
other software) still ends in one line naming what is wrong, never in a traceback. Activation and
optimizer must be plain names; dataset and model labels (``file:PATH.npz``, a plug-in's import path), which
the report sanitizes where they become file names, printable single lines of at most 300 characters.
"""

from __future__ import annotations

import math

import pandas as pd
from pandas.api import types

from symjax.core.axes import SETTING_COLUMNS  # noqa: F401 (a setting: every grouped axis, the rate, the horizon)
from symjax.core.errors import SymjaxError
from symjax.core.group import DTYPES, MATMUL_PRECISIONS
from symjax.matrix.spec import ConfigError, check_name, shown

INT, FLOAT, BOOL, STR = "an integer", "a number", "a boolean", "a string"
RUNS = {
    "run_id": INT,
    "dataset": STR,
    "model": STR,
    "task": STR,
    "hidden": STR,
    "activation": STR,
    "optimizer": STR,
    "lr": FLOAT,
    "batch_size": INT,
    "steps": INT,
    "scheme": STR,
    "seed": INT,
    "final_train_loss": FLOAT,
    "final_test_loss": FLOAT,
    "final_test_acc": FLOAT,
    "target_loss": FLOAT,
    "steps_to_target": FLOAT,
    "reached": BOOL,
    "diverged": BOOL,
    "train_loss_auc": FLOAT,
    "late_target_loss": FLOAT,
    "steps_to_late_target": FLOAT,
    "reached_late_target": BOOL,
    "dtype": STR,
    "schedule": STR,
    "norm": STR,
    "matmul_precision": STR,
}  # the columns the report reads
ADDED_IN = {  # results format -> the runs columns it added
    3: ("model", "task"),
    4: ("late_target_loss", "steps_to_late_target", "reached_late_target"),
    5: ("dtype",),
    6: ("schedule",),
    7: ("norm",),
    8: ("matmul_precision",),
}
CURVES = {"run_id": INT, "step": INT, "train_loss": FLOAT, "test_loss": FLOAT, "test_acc": FLOAT}
DIAGNOSTICS = {
    "run_id": INT,
    "step": INT,
    "layer": INT,
    "rank": FLOAT,
    "effective_rank": FLOAT,
    "distinct_units": FLOAT,
    "mean_abs_cos": FLOAT,
    "dead_fraction": FLOAT,
    "grad_norm": FLOAT,
    "first_grad_step": FLOAT,
}
NAME_LABELS = (
    "activation",
    "optimizer",
    "schedule",
    "norm",
    "matmul_precision",
)  # plain names (parts of the report's plot file names)
FREE_LABELS = (
    "dataset",
    "model",
)  # any printable line: file datasets and plug-in models (sanitized in file names)
MAX_LABEL_CHARS = 300
TASKS = ("classification", "regression")


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_config(folder, config: dict) -> None:
    """ValueError unless ``config["matrix"]`` has the keys the report reads, with usable values."""
    m = config.get("matrix")
    problem = None
    if not isinstance(m, dict):
        problem = "matrix: must be an object"
    elif not (
        isinstance(m.get("schemes"), list)
        and m["schemes"]
        and all(isinstance(s, str) and s for s in m["schemes"])
    ):
        problem = "matrix.schemes: must be a non-empty list of scheme names"
    elif not isinstance(m.get("reference"), str):
        problem = "matrix.reference: must be a scheme name"
    elif not all(_is_count(m.get(key)) for key in ("seeds", "steps", "log_every")):
        problem = "matrix.seeds, steps and log_every: must be positive integers"
    elif m.get("target_loss") is not None and not (
        isinstance(m["target_loss"], (int, float)) and math.isfinite(m["target_loss"])
    ):
        problem = "matrix.target_loss: must be a finite number or null"
    elif "batch_sizes" in m and not (
        isinstance(m["batch_sizes"], list) and all(b is None or _is_count(b) for b in m["batch_sizes"])
    ):
        problem = "matrix.batch_sizes: must be a list of positive integers or null (full batch)"
    elif not isinstance(config.get("timing", {}), dict) or not all(
        isinstance(v, (int, float, str, list)) for v in config.get("timing", {}).values()
    ):
        problem = "timing: must be an object of numbers and names"
    if problem is None:
        try:
            check_name("matrix.name", m.get("name"))
        except ConfigError as error:
            problem = str(error)
    if problem:
        raise SymjaxError(f"{folder}/config.json is not symjax's: {problem}")


def _check_columns(where: str, table: pd.DataFrame, columns: dict[str, str]) -> None:
    if table.empty:
        raise SymjaxError(f"{where} holds no rows")
    for name, kind in columns.items():
        if name not in table.columns:
            raise SymjaxError(f"{where} lacks the column {name!r}; expected: {', '.join(columns)}")
        column = table[name]
        ok = {
            INT: types.is_integer_dtype,
            BOOL: types.is_bool_dtype,
            FLOAT: lambda c: types.is_numeric_dtype(c) and not types.is_bool_dtype(c),
            STR: lambda c: c.map(lambda v: isinstance(v, str)).all(),
        }[kind](column)
        if not ok:
            raise SymjaxError(f"{where}: column {name!r} must hold {kind}s, got {column.dtype}")


def check_tables(
    folder, config: dict, runs: pd.DataFrame, curves: pd.DataFrame, diagnostics: pd.DataFrame
) -> None:
    """ValueError unless the tables have symjax's columns and types, rows, consistent run ids and plain
    labels."""
    version = config["format_version"]
    later = {column for added, columns in ADDED_IN.items() if version < added for column in columns}
    expected = {k: v for k, v in RUNS.items() if k not in later}
    for name, table, columns in (
        ("runs", runs, expected),
        ("curves", curves, CURVES),
        ("diagnostics", diagnostics, DIAGNOSTICS),
    ):
        _check_columns(f"{folder}/{name}.parquet", table, columns)
    where = f"{folder}/runs.parquet"
    if runs["run_id"].duplicated().any():
        raise SymjaxError(f"{where}: a run_id appears twice")
    if curves.duplicated(["run_id", "step"]).any():
        raise SymjaxError(f"{folder}/curves.parquet: a (run_id, step) pair appears twice")
    for table, name in ((curves, "curves"), (diagnostics, "diagnostics")):
        if not table["run_id"].isin(runs["run_id"]).all():
            raise SymjaxError(f"{folder}/{name}.parquet names runs that runs.parquet does not hold")
    for column in FREE_LABELS if version >= 3 else ("dataset",):
        for value in runs[column].unique():
            if not (0 < len(value) <= MAX_LABEL_CHARS and value.isprintable()):
                raise SymjaxError(
                    f"{where}: {column}: {shown(value)} is not a label symjax writes; allowed: 1 to "
                    f"{MAX_LABEL_CHARS} printable characters on one line"
                )
    for column in (c for c in NAME_LABELS if c in expected):
        for value in runs[column].unique():
            try:
                check_name(column, value, reserved=False)
            except ConfigError as error:
                raise SymjaxError(f"{where}: {error}") from None
    bad = [
        (c, ok)
        for c, ok in (
            ("hidden", runs["hidden"].str.fullmatch(r"|[0-9]{1,6}(,[0-9]{1,6}){0,7}").all()),
            ("dtype", runs["dtype"].isin(DTYPES).all() if version >= 5 else True),
            (
                "matmul_precision",
                runs["matmul_precision"].isin(MATMUL_PRECISIONS).all() if version >= 8 else True,
            ),
            ("lr", ((runs["lr"] > 0) & (runs["lr"] < math.inf)).all()),
            ("batch_size", (runs["batch_size"] > 0).all()),
            ("steps", (runs["steps"] > 0).all()),
            ("task", runs["task"].isin(TASKS).all() if version >= 3 else True),
        )
        if not ok
    ]
    if bad:
        raise SymjaxError(f"{where}: column {bad[0][0]!r} holds a value symjax never writes")
    unknown = set(runs["scheme"].unique()) - set(config["matrix"]["schemes"])
    if unknown:
        raise SymjaxError(f"{where}: scheme {sorted(unknown)[0]!r} is not among config.json's matrix.schemes")
