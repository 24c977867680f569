"""Helpers shared by the test modules: ``from helpers import ...`` (tests/ is on sys.path: pytest puts a
rootdir-less test folder with a conftest.py there). No test module imports another test module; what two of
them share is here.

- matrix files: ``toml_text`` (a small TOML writer), ``TINY`` and ``tiny_matrix`` (the tiny matrix most tests
  train or refuse, with keyword overrides), so that no test builds a matrix by replacing text;
- ``replaced``: a ``str.replace`` that fails when there is nothing to replace (plug-in module source,
  config.json text);
- usage errors: ``run_cli`` and ``assert_usage_error`` (exit 2, one line naming what is wrong, nothing
  written);
- synthetic results (no training): ``run_rows``, ``lr_grid_tables``, ``synthetic_diagnostics``,
  ``synthetic_results``;
- synthetic pytest-benchmark JSON: ``bench_json``.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from symjax.core.axes import LATER_GROUPED

# ---------------------------------------------------------------------------
# matrix files
# ---------------------------------------------------------------------------


class Raw(str):
    """A TOML value written as it is (e.g. arrays nested deeper than Python's recursion limit)."""


def toml_string(text: str) -> str:
    """A TOML basic string: quote and backslash escaped, control characters as \\uXXXX, the rest literal."""
    escaped = "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else "\\" + c if c in '"\\' else c for c in text
    )
    return f'"{escaped}"'


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_value(value) -> str:
    """A TOML literal: str, int, float (nan, inf), bool, lists (nested), dicts as inline tables (so a list of
    dicts is an array of tables, as ``[[exclude]]``), ``Raw`` text as it is."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value == math.inf else "-inf" if value == -math.inf else repr(value))
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def toml_text(values: dict) -> str:
    """A TOML document of one ``key = value`` line per item."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in values.items())


# The tiny matrix: XOR, one hidden layer of 4 tanh units, Adam at 0.01, the reference and one zero-W scheme,
# one seed of 5 steps (1 setting, 2 runs).
TINY = {
    "name": "tiny",
    "dataset": "xor",
    "hidden": [[4]],
    "activation": "tanh",
    "optimizer": "adam",
    "lr": 0.01,
    "schemes": ["lecun_normal/zeros", "zeros/normal(1.0)"],
    "seeds": 1,
    "steps": 5,
    "log_every": 5,
}


def tiny_matrix(folder, name: str | None = "tiny", *, file: str | None = None, **overrides) -> Path:
    """Write ``TINY`` named ``name``, with ``overrides`` (a value of None drops the key; ``name=None`` leaves
    the name to the file's), to ``folder/file`` (default ``<name>.toml``) and return its path."""
    values = {k: v for k, v in {**TINY, "name": name, **overrides}.items() if v is not None}
    path = Path(folder) / (file or f"{name or 'tiny'}.toml")
    path.write_text(toml_text(values), encoding="utf-8")
    return path


def replaced(text: str, old: str, new: str) -> str:
    """``text.replace(old, new)``, asserting that ``old`` occurs in ``text`` (a replacement that does nothing
    fails)."""
    assert old in text, f"{old!r} is not in the text any more"
    return text.replace(old, new)


# ---------------------------------------------------------------------------
# usage errors
# ---------------------------------------------------------------------------


class Cli(NamedTuple):
    code: int
    out: str
    err: str


def run_cli(capsys, argv) -> Cli:
    """``symjax.cli.main(argv)`` in this process: (exit status, stdout, stderr) as captured by ``capsys``."""
    from symjax.cli import main

    capsys.readouterr()  # what earlier calls printed is theirs
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return Cli(code, out, err)


def assert_usage_error(result, *words: str, folder=None) -> str:
    """A refused command: exit status 2, nothing on stdout (where known), exactly one line on stderr, starting
    ``symjax: error:`` and containing each of ``words`` (the key, flag or value at fault); with ``folder``,
    that folder does not exist or is an empty directory (nothing written). ``result``: a ``Cli`` or (code,
    out, err), a (code, err) pair, or a ``subprocess.CompletedProcess`` run with text output. Returns the
    line."""
    if isinstance(result, subprocess.CompletedProcess):
        code, out, err = result.returncode, result.stdout, result.stderr
    elif len(result) == 2:
        (code, err), out = result, None
    else:
        code, out, err = result
    assert code == 2, (code, err)
    assert out in (None, ""), out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symjax: error:"), err
    missing = [w for w in words if w not in lines[0]]
    assert not missing, f"the message does not name {missing}: {lines[0]}"
    if folder is not None and os.path.lexists(folder):
        assert os.path.isdir(folder) and not os.path.islink(folder) and os.listdir(folder) == [], (
            f"nothing may be written: {sorted(os.listdir(folder)) if os.path.isdir(folder) else folder}"
        )
    return lines[0]


# ---------------------------------------------------------------------------
# synthetic results (no training)
# ---------------------------------------------------------------------------

REFERENCE = "lecun_normal/zeros"
SCHEMES = ["zeros/zeros", REFERENCE, "zeros/normal(1.0)"]
SETTING = {
    "dataset": "mnist1d",
    "model": "mlp",
    "hidden": "8",
    "activation": "tanh",
    "optimizer": "adam",
    "batch_size": 128,
    "steps": 40,
    **{a.single: a.earlier[0] for a in LATER_GROUPED},  # float32, constant rate, ...
}
STEPS = np.array([0, 10, 20, 30, 40])


def run_rows(
    curves_by_run: dict, setting: dict, task: str = "classification"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curves) from {(scheme, lr, seed): (losses (n_logs,), diverged)}; targets and steps to target as
    in metrics."""
    runs, curves = [], []
    for run_id, ((scheme, lr, seed), (losses, diverged)) in enumerate(curves_by_run.items()):
        losses = np.asarray(losses, np.float64)
        acc = np.full_like(losses, np.nan) if task == "regression" else 1 - losses / 3
        runs.append(
            {
                "run_id": run_id,
                **setting,
                "lr": lr,
                "task": task,
                "scheme": scheme,
                "seed": seed,
                "final_train_loss": losses[-1],
                "final_test_loss": 1.1 * losses[-1],
                "final_test_acc": acc[-1],
                "diverged": diverged,
                "train_loss_auc": float(np.nanmean(losses)),
            }
        )
        curves += [
            {"run_id": run_id, "step": s, "train_loss": l, "test_loss": 1.1 * l, "test_acc": a}
            for s, l, a in zip(STEPS, losses, acc)
        ]
    runs, curves = pd.DataFrame(runs), pd.DataFrame(curves)
    wide = curves.pivot(index="run_id", columns="step", values="train_loss").loc[runs["run_id"]]
    for lr in runs["lr"].unique():
        rows = (runs["lr"] == lr).to_numpy()
        reference = wide.to_numpy()[
            rows & (runs["scheme"] == REFERENCE).to_numpy(), 1
        ]  # step nearest 0.25 * 40
        runs.loc[rows, "target_loss"] = np.median(np.where(np.isfinite(reference), reference, np.inf))
    below = wide.to_numpy() <= runs["target_loss"].to_numpy()[:, None]
    runs["steps_to_target"] = pd.array([STEPS[b.argmax()] if b.any() else None for b in below], dtype="Int64")
    runs["reached"] = runs["steps_to_target"].notna()
    return runs, curves


def lr_grid_tables():
    """Reference best at lr 0.1 (lr 1.0 has a lower loss but diverged); zeros/normal ties at 0.01 and 0.1."""
    curves = {}
    for seed in range(6):
        curves[(REFERENCE, 0.01, seed)] = ([2.3, 1.2, 0.9, 0.7, 0.5], False)  # own target 1.2
        curves[(REFERENCE, 0.1, seed)] = ([2.3, 0.5, 0.35, 0.25, 0.2], False)  # own target 0.5, best
        curves[(REFERENCE, 1.0, seed)] = ([2.3, 0.1, 0.05, 0.01, 0.001], True)  # diverged: counts as inf
        curves[("zeros/normal(1.0)", 0.01, seed)] = (
            [2.3, 2.0, 1.0, 0.45, 0.3],
            False,
        )  # best (tie, smaller lr)
        curves[("zeros/normal(1.0)", 0.1, seed)] = ([2.3, 0.8, 0.6, 0.4, 0.3], False)
        curves[("zeros/normal(1.0)", 1.0, seed)] = ([2.3, 2.3, 2.3, 2.3, np.nan], False)  # NaN loss: inf too
    return run_rows(curves, SETTING)


def synthetic_diagnostics(runs: pd.DataFrame) -> pd.DataFrame:
    """A diagnostics table for ``runs``: zero-W schemes collapsed (rank 0 at step 0, one distinct unit),
    others not."""
    rows = []
    for _, run in runs.iterrows():
        layers = len(str(run["hidden"]).split(",")) + 1
        zero_w = run["scheme"].startswith("zeros")
        for step in STEPS:
            for layer in range(1, layers + 1):
                readout = layer == layers
                rows.append(
                    {
                        "run_id": run["run_id"],
                        "step": step,
                        "layer": layer,
                        "rank": 0.0 if zero_w and step == 0 else 4.0,
                        "effective_rank": 1.0 if zero_w else 3.5,
                        "distinct_units": 1.0 if zero_w else 8.0,
                        "mean_abs_cos": 0.9 if zero_w else 0.2,
                        "dead_fraction": np.nan if readout else (0.5 if zero_w else 0.0),
                        "grad_norm": 0.1,
                        "first_grad_step": layers - layer if run["scheme"] != "zeros/zeros" else None,
                    }
                )
    table = pd.DataFrame(rows)
    table["first_grad_step"] = table["first_grad_step"].astype("Int64")
    return table


def synthetic_results(folder, legacy: bool = False):
    """A results folder: a classification MLP and a regression CNN, each at lr 0.01 and 0.1 (legacy: one MLP
    setting, no model/task columns, as results written before they existed)."""
    from symjax.matrix.spec import Matrix
    from symjax.results.metrics import with_late_target
    from symjax.results.schema import ADDED_IN, SETTING_COLUMNS
    from symjax.results.store import FORMAT_VERSION, seal, write_results

    tables = []
    for dataset, model, hidden, task in (
        [("mnist1d", "mlp", "8", "classification")]
        if legacy
        else [("mnist1d", "mlp", "8", "classification"), ("teacher_regression", "cnn", "4,4", "regression")]
    ):
        start = math.log(10) if task == "classification" else 1.0
        curves = {}
        for lr in [0.01] if legacy else [0.01, 0.1]:
            for scheme, rate in zip(SCHEMES, (0.0, 3.0, 1.5)):
                for seed in range(6):
                    r = rate * (1 + 0.05 * seed) * (1.5 if lr == 0.1 else 1.0)
                    curves[(scheme, lr, seed)] = (
                        0.05 + (start - 0.05) * np.exp(-r * STEPS / 40) if rate else [start] * 5,
                        False,
                    )
        tables.append(
            run_rows(curves, {**SETTING, "dataset": dataset, "model": model, "hidden": hidden}, task)
        )
    offset = np.cumsum([0] + [len(t[0]) for t in tables[:-1]])
    runs = pd.concat(
        [t[0].assign(run_id=t[0]["run_id"] + o) for t, o in zip(tables, offset)], ignore_index=True
    )
    curves = pd.concat(
        [t[1].assign(run_id=t[1]["run_id"] + o) for t, o in zip(tables, offset)], ignore_index=True
    )
    diagnostics = synthetic_diagnostics(runs)
    runs = with_late_target(runs, curves, SCHEMES[1], SETTING_COLUMNS)
    if legacy:
        runs = runs.drop(columns=["model", "task", *ADDED_IN[4]])
    matrix = Matrix(
        name="synthetic",
        datasets=tuple(runs["dataset"].unique()),
        hidden=((8,),),
        lrs=tuple(runs["lr"].unique()),
        schemes=tuple(SCHEMES),
        seeds=6,
        steps=40,
        log_every=10,
    ).to_dict()
    config = {
        "matrix": matrix,
        "symjax_version": "test",
        "timing": {"train_seconds": 1.0, "compile_seconds": 0.5, "backend": "cpu", "device_count": 1},
    }
    folder = write_results(folder, runs, curves, diagnostics, config)
    if legacy:  # as symjax wrote it before format 3 added model, task and diverged_step
        text = replaced(
            (folder / "config.json").read_text(), f'"format_version": {FORMAT_VERSION}', '"format_version": 2'
        )
        (folder / "config.json").write_text(text)
        seal(folder)  # published again: the manifest names the new config.json's hash
    return folder


# ---------------------------------------------------------------------------
# synthetic pytest-benchmark JSON (nothing is timed)
# ---------------------------------------------------------------------------

BENCH_STEPS = 100
TORCH = ("torch_loop", "torch_vmap", "torch_bmm")


def _bench(name: str, info: dict, mean: float = 0.5, busy_percent: float | None = 3.0) -> dict:
    common = {
        "backend": "cpu",
        "device_count": 2,
        "other_cpu_percent": busy_percent,
        "busy": busy_percent is not None and busy_percent > 10,
        "jax_version": "0.10.2",
    }
    return {
        "group": None,
        "name": name,
        "fullname": f"bench/test_bench_train.py::{name}",
        "params": None,
        "param": None,
        "extra_info": {**common, **info},
        "stats": {
            "min": mean * 0.9,
            "max": mean * 1.1,
            "mean": mean,
            "stddev": 0.01,
            "rounds": 3,
            "median": mean,
            "iqr": 0.01,
            "q1": mean,
            "q3": mean,
            "iqr_outliers": 0,
            "stddev_outliers": 0,
            "outliers": "0;0",
            "ld15iqr": mean,
            "hd15iqr": mean,
            "ops": 1 / mean,
            "total": 3 * mean,
            "iterations": 1,
        },
    }


def bench_json(
    torch: bool = True,
    vmap_over_loop: float = 2.5,
    over_devices: float = 1.6,
    over_torch: float = 2.2,
    peak_percent: float = 45.0,
    compile_large_n: float = 2.0,
    over_bare: float | None = 0.93,
    cnn_over_lax: float | None = None,
) -> dict:
    """A pytest-benchmark JSON with every kind of our benchmarks; test_train_loop[64] ran on a busy
    machine. ``cnn_over_lax``: also a CNN side-by-side benchmark with that speedup over ``vmap_lax``."""
    benches = [
        _bench(
            "test_gemm_peak",
            {"kind": "gemm", "impl": "gemm", "shape": "2048x2048x2048", "gflop_per_s": 100.0},
        )
    ]
    impls = ("vmap", "loop", "loop_devices") + (("bare",) if over_bare else ()) + (TORCH if torch else ())
    for impl in impls:
        for n, rate in ((16, 4000.0), (64, 12345.0)):
            rate = rate * {"vmap": 3.0, "loop_devices": 1.5}.get(impl, 1.0)
            benches.append(
                _bench(
                    f"test_train_{impl}[{n}]",
                    {
                        "kind": "train",
                        "impl": impl,
                        "n_runs": n,
                        "steps": BENCH_STEPS,
                        "run_steps_per_s": rate,
                        "gflop_per_s": rate / 500,
                        "compile_seconds": None if impl.startswith("torch") else 1.5,
                    },
                    busy_percent=37.4 if (impl, n) == ("loop", 64) else 3.0,
                )
            )
    rates = {impl: 10000.0 for impl in impls}
    rates["vmap"] = 10000.0 * vmap_over_loop
    rates["loop_devices"] = rates["vmap"] / over_devices
    bare = {"speedup_vmap_over_bare": over_bare} if over_bare else {}  # older JSON has no bare impl
    if over_bare:
        rates["bare"] = rates["vmap"] / over_bare
    benches.append(
        _bench(
            "test_side_by_side",
            {
                "kind": "side_by_side",
                "n_runs": 64,
                "steps": BENCH_STEPS,
                "run_steps_per_s": rates,
                "gflop_per_s": {k: v / 500 for k, v in rates.items()},
                "gemm_gflop_per_s": 110.0,
                "speedup_vmap_over_loop": vmap_over_loop,
                "speedup_vmap_over_loop_devices": over_devices,
                "speedup_vmap_over_torch": over_torch if torch else None,
                "percent_of_gemm_peak": peak_percent,
                **bare,
            },
        )
    )
    for n, steps, seconds in (
        (16, BENCH_STEPS, 1.0),
        (256, BENCH_STEPS, compile_large_n),
        (16, 20, 0.9),
        (16, 400, 1.2),
    ):
        benches.append(
            _bench(
                f"test_compile_time[{n}-{steps}]",
                {
                    "kind": "compile",
                    "impl": "compile",
                    "n_runs": n,
                    "steps": steps,
                    "compile_seconds": seconds,
                },
            )
        )
    if cnn_over_lax:
        cnn = {"vmap": 1600.0, "bare": 1700.0, "vmap_lax": 1600.0 / cnn_over_lax, "loop_devices": 400.0}
        cnn |= {"torch_vmap": 500.0, "torch_loop": 900.0} if torch else {}
        gflops = {k: v * 0.019 for k, v in cnn.items()} | {"mlp_vmap": 40.0}
        benches.append(
            _bench(
                "test_cnn_side_by_side",
                {
                    "kind": "cnn_side_by_side",
                    "model": "cnn_paper",
                    "n_runs": 64,
                    "steps": 60,
                    "run_counts": {k: 16 if k == "torch_loop" else 64 for k in cnn} | {"mlp_vmap": 64},
                    "run_steps_per_s": cnn | {"mlp_vmap": 8700.0},
                    "gflop_per_s": gflops,
                    "gemm_gflop_per_s": 110.0,
                    "speedup_vmap_over_lax": cnn_over_lax,
                    "gflop_ratio_over_mlp": gflops["vmap"] / 40.0,
                    "speedup_vmap_over_torch": 1600.0 / 900.0 if torch else None,
                    "percent_of_gemm_peak": 100 * gflops["vmap"] / 110.0,
                },
            )
        )
    return {
        "machine_info": {
            "node": "box",
            "processor": "x86_64",
            "python_version": "3.12.3",
            "cpu": {"brand_raw": "Test CPU @ 3.00GHz", "count": 2},
        },
        "commit_info": {"id": "0123456789abcdef0123", "dirty": False, "branch": "main"},
        "benchmarks": benches,
        "datetime": "2025-06-01T12:00:00.000000+00:00",
        "version": "5.3.1",
    }
