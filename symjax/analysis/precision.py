"""float64 beside float32: the same runs trained twice, compared per (setting, scheme) and per seed.

Data-flow stage: store -> **analysis** -> report (the report's *float64 against float32* section). Pure
pandas/numpy on the runs table. A float64 run starts from exactly the weights of its float32 twin
and sees the same minibatches (``symjax.engine.program.Programs.chunk_inputs``), so a pair of runs
differs only in the rounding of training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symjax.results.schema import SETTING_COLUMNS

TWIN_COLUMNS = [c for c in SETTING_COLUMNS if c != "dtype"]  # a setting up to its precision


def precision_table(runs: pd.DataFrame, summary: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (setting, scheme) trained in both precisions.

    Args:
        runs: one row per run with ``dtype``; summary: ``tables.summarize`` rows (for the verdicts) or None.
    Returns:
        TWIN_COLUMNS, ``scheme``, ``pairs`` (seeds in both), median final training loss and test accuracy per
        precision (``loss32``, ``loss64``, ``acc32``, ``acc64``), the median and largest per-seed
        |final loss float64 - float32| (``abs_diff_median``, ``abs_diff_max``), and with a summary the verdict
        per precision (``verdict32``, ``verdict64``).
    """
    keys = [*TWIN_COLUMNS, "scheme", "seed"]
    columns = ["final_train_loss", "final_test_acc"]
    single = runs[runs["dtype"] == "float32"][[*keys, *columns]]
    double = runs[runs["dtype"] == "float64"][[*keys, *columns]]
    pairs = single.merge(double, on=keys, suffixes=("32", "64"))
    if pairs.empty:
        return pd.DataFrame()
    pairs["abs_diff"] = (pairs["final_train_loss64"] - pairs["final_train_loss32"]).abs()
    table = (
        pairs.groupby([*TWIN_COLUMNS, "scheme"], sort=False)
        .agg(
            pairs=("seed", "size"),
            loss32=("final_train_loss32", "median"),
            loss64=("final_train_loss64", "median"),
            acc32=("final_test_acc32", "median"),
            acc64=("final_test_acc64", "median"),
            abs_diff_median=("abs_diff", "median"),
            abs_diff_max=("abs_diff", "max"),
        )
        .reset_index()
    )
    if summary is not None:
        verdicts = summary.set_index([*SETTING_COLUMNS, "scheme"])["verdict"]
        for dtype, column in (("float32", "verdict32"), ("float64", "verdict64")):
            index = pd.MultiIndex.from_frame(
                table[[*TWIN_COLUMNS, "scheme"]].assign(dtype=dtype)[[*SETTING_COLUMNS, "scheme"]]
            )
            table[column] = verdicts.reindex(index).to_numpy()
    return table


def relative_change(table: pd.DataFrame) -> np.ndarray:
    """(rows,) |median loss float64 - float32| / median loss float32 of a ``precision_table``."""
    return np.abs(table["loss64"] - table["loss32"]).to_numpy() / table["loss32"].to_numpy()
