"""Benchmark timings: pytest-benchmark JSON -> ``bench.md``, and a comparison with a baseline JSON.

Data-flow stage: **report**, outside the training flow: ``bench/`` (pytest-benchmark) ->
``reports/bench.json``
-> ``reports/bench.md``.
Reads files only. Same JSON -> byte-identical markdown: fixed orders and number formats, and the
only date is the JSON's own ``datetime``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from symjax.core.errors import SymjaxError, one_line
from symjax.core.files import atomic_write_text, check_written, read_bytes
from symjax.report import bench_cnn
from symjax.report.bench_format import (
    _code,
    _fixed,
    _impl_key,
    _mib,
    _num,
    _pct,
    _rate,
    _ratio,
    _table,
    _target,
    side_by_side_rows,
)
from symjax.report.format import text

KINDS = {  # extra_info keys each kind must have, besides COMMON
    "train": ("impl", "n_runs", "steps", "run_steps_per_s", "gflop_per_s", "compile_seconds"),
    "gemm": ("impl", "shape", "gflop_per_s"),
    "compile": ("impl", "n_runs", "steps", "compile_seconds"),
    "side_by_side": (
        "n_runs",
        "steps",
        "run_steps_per_s",
        "gflop_per_s",
        "gemm_gflop_per_s",
        "speedup_vmap_over_loop",
        "speedup_vmap_over_loop_devices",
        "percent_of_gemm_peak",
    ),
    bench_cnn.KIND: bench_cnn.KEYS,
}
COMMON = ("kind", "backend", "device_count", "other_cpu_percent", "busy")
COMPARED = (
    "speedup_vmap_over_bare",
    "speedup_vmap_over_loop",
    "speedup_vmap_over_loop_devices",
    "percent_of_gemm_peak",
    "speedup_vmap_over_torch",
)
COMPILE_SPREAD = 1.5  # compile time "independent" of a size: within this factor from smallest to largest
MEMORY_RATIO = 2.0  # device memory per run at most this many times its params + optimizer state + logs
MAX_JSON_BYTES = 256 * 2**20  # a benchmark JSON (a full run's is ~100 KB)
FLOAT_DIGITS = 309  # an integer with more digits than this cannot be a float (the largest is ~1.8e308)


class _LongInt(str):
    """An integer literal of more than FLOAT_DIGITS digits, kept as text to be refused by name."""


def _parse_int(text: str) -> int | _LongInt:
    return _LongInt(text) if len(text.lstrip("-")) > FLOAT_DIGITS else int(text)


def _key(key: str) -> str:
    return key if key.isidentifier() else json.dumps(key)


def _too_large(data) -> str | None:
    """The path (``benchmarks[3].extra_info.steps``) of the first number in ``data`` that is no float: an
    integer beyond ±1.8e308; None if there is none."""
    stack = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack += reversed([(f"{path}.{_key(k)}" if path else _key(k), v) for k, v in value.items()])
        elif isinstance(value, list):
            stack += reversed([(f"{path}[{i}]", v) for i, v in enumerate(value)])
        elif isinstance(value, _LongInt) or type(value) is int and abs(value) > sys.float_info.max:
            return path
    return None


def load_bench(path: str | os.PathLike) -> dict:
    """The pytest-benchmark JSON at ``path``, checked to carry our ``extra_info``; ValueError (one line) if
    not."""
    path = Path(path)
    try:
        data = json.loads(read_bytes(path, MAX_JSON_BYTES, follow=True), parse_int=_parse_int)
    except OSError as error:
        raise SymjaxError(f"cannot read {path}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SymjaxError(f"{path}: not JSON ({one_line(error)})") from None
    except RecursionError:
        raise SymjaxError(
            f"{path}: JSON nested deeper than Python parses; pytest-benchmark JSON nests a few levels"
        ) from None
    field = _too_large(data)
    if field is not None:
        raise SymjaxError(
            f"{path}: {field or 'the top level'} is an integer too large for a float; allowed: numbers "
            "within ±1.8e308"
        )
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list) or not data["benchmarks"]:
        raise SymjaxError(
            f"{path}: no benchmarks (expected pytest-benchmark JSON with a non-empty 'benchmarks' list)"
        )
    for i, bench in enumerate(data["benchmarks"]):
        name = bench.get("name", f"#{i}") if isinstance(bench, dict) else f"#{i}"
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        if not isinstance(info, dict) or not isinstance(bench.get("stats"), dict):
            raise SymjaxError(f"{path}: benchmark {name} has no 'stats' or 'extra_info' object")
        if not isinstance(info.get("kind"), str) or info["kind"] not in KINDS:
            raise SymjaxError(
                f"{path}: benchmark {name} has extra_info kind {info.get('kind')!r}; allowed: "
                f"{', '.join(KINDS)}"
            )
        missing = [k for k in COMMON + KINDS[info["kind"]] if k not in info]
        if missing:
            raise SymjaxError(
                f"{path}: benchmark {name} ({info['kind']}) is missing extra_info keys: {', '.join(missing)}"
            )
        not_int = [k for k in ("n_runs", "steps", "device_count") if k in info and type(info[k]) is not int]
        if not_int:
            raise SymjaxError(f"{path}: benchmark {name}: extra_info {', '.join(not_int)} must be integers")
        not_str = [k for k in ("impl", "backend") if k in info and not isinstance(info[k], str)]
        if not_str:
            raise SymjaxError(f"{path}: benchmark {name}: extra_info {', '.join(not_str)} must be strings")
        least = {"side_by_side": {"vmap", "loop"}, bench_cnn.KIND: {"vmap"}}.get(info["kind"])
        if least and not all(
            isinstance(info[k], dict) and least <= info[k].keys() for k in ("run_steps_per_s", "gflop_per_s")
        ):
            raise SymjaxError(
                f"{path}: benchmark {name} ({info['kind']}): run_steps_per_s and gflop_per_s must be objects "
                f"impl -> value with at least {' and '.join(sorted(least, key=len, reverse=True))}"
            )
    return data


def _of_kind(data: dict, kind: str) -> list[dict]:
    """extra_info (plus ``name``) of the benchmarks of one kind, in file order."""
    return [
        {"name": b.get("name", ""), **b["extra_info"]}
        for b in data["benchmarks"]
        if b["extra_info"]["kind"] == kind
    ]


def compile_spreads(compiles: list[dict]) -> dict[str, tuple]:
    """{"n_runs"/"steps": (ratio largest/smallest, small, large)} among compile benchmarks with the other size
    fixed (the fixed value with the most distinct sizes, the smallest on ties)."""
    out = {}
    for axis, other in (("n_runs", "steps"), ("steps", "n_runs")):
        groups: dict = {}
        for c in compiles:
            if _num(c[axis]) and _num(c["compile_seconds"]):
                groups.setdefault(c[other], {})[c[axis]] = c["compile_seconds"]
        if not groups:
            continue
        times = groups[min(groups, key=lambda k: (-len(groups[k]), k))]
        small, large = min(times), max(times)
        if small != large and times[small] > 0:
            out[axis] = (times[large] / times[small], small, large)
    return out


SPEEDUP_TARGETS = (  # (side-by-side extra_info key, the trainer against what, at least this ratio)
    ("speedup_vmap_over_bare", "the bare program of the same updates (`bare`)", 0.9),
    ("speedup_vmap_over_loop", "the per-run JAX loop", 2.0),
    ("speedup_vmap_over_loop_devices", "the loop dispatched round-robin over all devices", 1.5),
    ("speedup_vmap_over_torch", "the best PyTorch way", 2.0),
)
GEMM_TARGET = 60.0  # % of the GEMM probe's peak


def target_rows(data: dict) -> list[dict]:
    """The targets table: the speedups and GEMM share of every side-by-side test, then compile time
    against run count and steps, then memory."""
    rows = []
    for s in _of_kind(data, "side_by_side"):
        at = f" (N={s['n_runs']})"
        for key, against, least in SPEEDUP_TARGETS:
            v = s.get(key)
            absent = "not measured (torch not installed)" if key.endswith("torch") else "not measured"
            rows.append(
                _target(
                    f"vmap ≥ {least:g}× {against}" + at,
                    v,
                    _ratio(v) if _num(v) else absent,
                    _num(v) and v >= least,
                    f"{least - v:.2f}× short of {least:g}×" if _num(v) else "",
                )
            )
        v = s["percent_of_gemm_peak"]
        rows.append(
            _target(
                f"vmap ≥ {GEMM_TARGET:g}% of the f32 GEMM peak measured in the same run (N={s['n_runs']}, "
                f"peak {_fixed(s['gemm_gflop_per_s'], 1)} GFLOP/s)",
                v,
                _pct(v),
                _num(v) and v >= GEMM_TARGET,
                f"{GEMM_TARGET - v:.0f} points short" if _num(v) else "",
            )
        )
    spreads = compile_spreads(_of_kind(data, "compile"))
    for axis, label in (("n_runs", "run count"), ("steps", "steps")):
        target = f"compile time independent of {label} (within {COMPILE_SPREAD:g}×)"
        if axis not in spreads:
            rows.append({"target": target, "measured": f"not measured (one {label} value)", "met?": "–"})
            continue
        r, small, large = spreads[axis]
        spread = max(r, 1 / r)
        name = "N" if axis == "n_runs" else "steps"
        rows.append(
            _target(
                target,
                r,
                f"{_ratio(r)} ({name}={large} vs {name}={small})",
                spread <= COMPILE_SPREAD,
                f"{spread - COMPILE_SPREAD:.2f}× beyond {COMPILE_SPREAD:g}×",
            )
        )
    rows.append(memory_target_row(_of_kind(data, "compile")))
    return rows + bench_cnn.cnn_target_rows(_of_kind(data, bench_cnn.KIND))


def memory_ratio(compile_info: dict) -> float | None:
    """Device memory per run over the run's outputs (params + optimizer state + logs); None if not
    measured."""
    peak, outputs = compile_info.get("peak_bytes_per_run"), compile_info.get("output_bytes_per_run")
    return peak / outputs if _num(peak) and _num(outputs) and outputs > 0 else None


def memory_target_row(compiles: list[dict]) -> dict:
    """Device memory per run ≤ MEMORY_RATIO × the run's outputs, judged on the worst compiled program
    measured."""
    target = f"memory per run ≤ {MEMORY_RATIO:g}× its params + optimizer state + logs (XLA memory analysis)"
    ratios = [(memory_ratio(c), c["n_runs"], c["steps"]) for c in compiles if memory_ratio(c) is not None]
    if not ratios:
        return {"target": target, "measured": "not measured (no memory analysis)", "met?": "–"}
    worst, n, steps = max(ratios)
    return _target(
        target,
        worst,
        f"{_ratio(worst)} (worst: N={n}, steps={steps})",
        worst <= MEMORY_RATIO,
        f"{worst - MEMORY_RATIO:.2f}× beyond {MEMORY_RATIO:g}×",
    )


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _machine_lines(data: dict) -> list[str]:
    """The machine section: CPU, backend, date and commit, every string from the JSON as markdown text."""
    machine, commit = _object(data.get("machine_info")), _object(data.get("commit_info"))
    infos = [b["extra_info"] for b in data["benchmarks"]]
    cpu = _object(machine.get("cpu"))
    cores = cpu.get("count")
    backends = ", ".join(sorted({text(i["backend"]) for i in infos}))
    devices = ", ".join(sorted({str(i["device_count"]) for i in infos}))
    jax_version = machine.get("jax_version") or next(
        (i["jax_version"] for i in infos if i.get("jax_version")), None
    )
    lines = [
        f"- CPU: {text(cpu.get('brand_raw') or machine.get('processor') or 'unknown')}"
        + (f", {text(cores)} cores" if cores else ""),
        f"- JAX backend: {backends}, {devices} device(s)"
        + (f"; jax {text(jax_version)}" if jax_version else ""),
        f"- taken: {text(data.get('datetime', 'unknown'))}",
    ]
    if commit.get("id"):
        lines.append(
            f"- commit: {_code(str(commit['id'])[:12])}"
            + (" (uncommitted changes)" if commit.get("dirty") else "")
            + (f" on {text(commit['branch'])}" if commit.get("branch") else "")
        )
    return lines


def throughput_rows(data: dict) -> list[dict]:
    """impl × N: run-steps/s, GFLOP/s, % of the GEMM probe's peak, speedup over ``loop`` at the same N,
    compile s."""
    trains = sorted(_of_kind(data, "train"), key=lambda t: (_impl_key(t["impl"]), t["n_runs"]))
    peak = max((g["gflop_per_s"] for g in _of_kind(data, "gemm") if _num(g["gflop_per_s"])), default=None)
    loop = {t["n_runs"]: t["run_steps_per_s"] for t in trains if t["impl"] == "loop"}
    rows = []
    for t in trains:
        rate, base = t["run_steps_per_s"], loop.get(t["n_runs"])
        rows.append(
            {
                "impl": text(t["impl"]),
                "N": str(t["n_runs"]),
                "run-steps/s": _rate(rate),
                "GFLOP/s": _fixed(t["gflop_per_s"], 1),
                "% of GEMM peak": _pct(t["gflop_per_s"] / peak * 100)
                if _num(t["gflop_per_s"]) and peak
                else "–",
                "speedup over loop": _ratio(rate / base) if _num(rate) and _num(base) and base > 0 else "–",
                "compile s": _fixed(t["compile_seconds"], 2),
            }
        )
    return rows


def bench_markdown(data: dict, source: str = "bench.json") -> str:
    """The whole ``bench.md`` text for a loaded (``load_bench``) JSON."""
    version = data.get("version")
    lines = [
        "# symjax benchmarks",
        "",
        f"Timings from {_code(source)}"
        + (f" (pytest-benchmark {text(version)})" if version else "")
        + ", written by `symjax report`; how they are taken: `bench/README.md`.",
        "",
        "## Machine",
        "",
        *_machine_lines(data),
        "",
        "## Targets",
        "",
    ]
    targets = target_rows(data)
    measured = [r for r in targets if r["met?"] != "–"]
    missed = [r for r in measured if r["met?"] != "yes"]
    if not _of_kind(data, "side_by_side"):
        lines += [
            "No side-by-side benchmark in this file: the speedup and GEMM-peak targets are not measured.",
            "",
        ]
    lines += [
        _table(targets),
        "",
        f"Met {len(measured) - len(missed)} of {len(measured)} measured targets"
        + (
            "; missed: "
            f"{'; '.join(r['target'] + ' — ' + r['met?'].removeprefix('**missed**: ') for r in missed)}."
            if missed
            else "."
        ),
        "",
    ]
    if missed:
        lines += [
            "What limits the vmapped trainer where a target is missed, and what was tried: "
            "`bench/README.md`, *Where the time goes* (the MLP) and *Convolutions as products* (the CNN).",
            "",
        ]
    for s in _of_kind(data, "side_by_side"):
        lines += [
            f"### Side by side, N={s['n_runs']}, {s['steps']} steps (interleaved rounds in one test)",
            "",
            _table(side_by_side_rows(s)),
            "",
        ]
    lines += bench_cnn.cnn_section_lines(_of_kind(data, bench_cnn.KIND))
    trains = throughput_rows(data)
    if trains:
        lines += ["## Throughput", "", "A run-step is one optimizer step of one run.", "", _table(trains), ""]
    for g in _of_kind(data, "gemm"):
        lines += [f"GEMM probe (f32, {text(g['shape'])}): {_fixed(g['gflop_per_s'], 1)} GFLOP/s.", ""]
    compiles = sorted(_of_kind(data, "compile"), key=lambda c: (c["n_runs"], c["steps"]))
    if compiles:
        lines += [
            "## Compile time and memory",
            "",
            "Trace + lower + XLA compile of the training program; device memory per run from XLA's memory "
            "analysis of the compiled program (temporaries + inputs + outputs), against the run's outputs "
            f"(params + optimizer state + logs). Target: memory per run ≤ {MEMORY_RATIO:g}× the outputs.",
            "",
            _table(
                [
                    {
                        "N": str(c["n_runs"]),
                        "steps": str(c["steps"]),
                        "compile s": _fixed(c["compile_seconds"], 2),
                        "MiB per run": _mib(c.get("peak_bytes_per_run")),
                        "outputs MiB per run": _mib(c.get("output_bytes_per_run")),
                        "ratio": _ratio(memory_ratio(c)),
                    }
                    for c in compiles
                ]
            ),
            "",
        ]
    busy = [
        (b.get("name", ""), b["extra_info"]["other_cpu_percent"])
        for b in data["benchmarks"]
        if b["extra_info"]["busy"]
    ]
    if busy:
        lines += ["## Busy machine", ""]
        lines += [
            f"- Note: {_code(name)} was taken while other processes used "
            f"{_pct(p) if _num(p) else 'an unknown share'} of the CPU."
            for name, p in busy
        ]
        lines.append("")
    return "\n".join(lines)


def write_bench_report(json_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/bench.md`` (atomically) from a pytest-benchmark JSON; returns its path."""
    data = load_bench(json_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench.md"
    check_written(path, "# symjax benchmarks\n")  # never a bench.md that symjax did not write
    atomic_write_text(path, bench_markdown(data, Path(json_path).name))
    return path


def _shown(value) -> str:
    """A JSON value as JSON, cut to 40 characters."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _ratio_of(path, side_by_side: dict, metric: str) -> float | None:
    """One compared ratio of a side-by-side test: a finite number, or None when not measured; SymjaxError for
    anything else (a string, a bool, a list, NaN, infinity)."""
    value = side_by_side.get(metric)
    if value is None or _num(value) and math.isfinite(value):
        return value
    raise SymjaxError(
        f"{path}: benchmark {side_by_side['name']} (side_by_side, N={side_by_side['n_runs']}): {metric} is "
        f"{_shown(value)}; allowed: a finite number, or null when not measured"
    )


def _ratios(path) -> dict[int, dict]:
    """{n_runs: {metric: value or None}} of the side-by-side tests of the benchmark JSON at ``path``."""
    return {
        s["n_runs"]: {metric: _ratio_of(path, s, metric) for metric in COMPARED}
        for s in _of_kind(load_bench(path), "side_by_side")
    }


def compare_bench(current_path, baseline_path, margin: float = 0.2) -> tuple[bool, list[str]]:
    """Ratio metrics of the side-by-side tests at the same N, current vs baseline: a metric regresses when it
    is below ``baseline × (1 − margin)``; one that is null is not measured, one that is no finite number is
    refused (SymjaxError). Returns (no regression, one line per metric)."""
    current, baseline = _ratios(current_path), _ratios(baseline_path)
    common = sorted(set(current) & set(baseline))
    if not common:
        raise SymjaxError(
            f"{current_path} and {baseline_path} have no side-by-side benchmark with the same n_runs "
            f"(current: {sorted(current) or 'none'}; baseline: {sorted(baseline) or 'none'})"
        )
    ok, lines, compared = True, [], 0
    for n in common:
        for metric in COMPARED:
            b, c = baseline[n][metric], current[n][metric]
            label = f"N={n} {metric}"
            if not (_num(b) and b > 0 and _num(c)):  # a zero or negative baseline measured nothing
                side = " and ".join(
                    w
                    for w, measured in (("baseline", _num(b) and b > 0), ("current", _num(c)))
                    if not measured
                )
                lines.append(f"{label}: skipped (not measured in the {side})")
                continue
            fmt = _pct if metric == "percent_of_gemm_peak" else _ratio
            compared += 1
            good = c >= b * (1 - margin)
            ok &= good
            change = f"{c / b - 1:+.0%}" if b else "n/a"
            lines.append(
                f"{label}: baseline {fmt(b)}, current {fmt(c)}, change {change}, "
                + ("ok" if good else f"REGRESSION (more than {margin:.0%} below the baseline)")
            )
    if not compared:
        raise SymjaxError(
            f"nothing to compare: no ratio is measured in both {current_path} and {baseline_path} (compared: "
            f"{', '.join(COMPARED)})"
        )
    return ok, lines
