"""Benchmark report on synthetic pytest-benchmark JSON (nothing is timed): bench.md, its targets, determinism,
validation, the ``report --bench-only`` and ``bench-compare`` commands, and the reports index."""

from __future__ import annotations

import copy
import json
import re

import pytest
from helpers import bench_json

from symjax.cli import main
from symjax.report.bench import bench_markdown, compare_bench, load_bench, write_bench_report
from symjax.report.build import write_index


def _write(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def _target_cells(md: str) -> dict[str, str]:
    """target text -> met? cell, from the targets table."""
    section = md.split("## Targets", 1)[1].split("\n### ", 1)[0]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|")
    ]
    return {r[0]: r[2] for r in rows[2:]}


def test_bench_md_targets_met_and_missed_deterministic_busy_note(tmp_path):
    source = _write(tmp_path / "bench.json", bench_json())
    path = write_bench_report(source, tmp_path / "out")
    md = path.read_text()
    assert path.name == "bench.md"
    assert "Test CPU @ 3.00GHz, 2 cores" in md and "jax 0.10.2" in md and "2025-06-01T12:00:00" in md
    assert "`0123456789ab`" in md
    cells = _target_cells(md)
    assert cells["vmap ≥ 2× the per-run JAX loop (N=64)"] == "yes"
    assert cells["vmap ≥ 1.5× the loop dispatched round-robin over all devices (N=64)"] == "yes"
    assert cells["vmap ≥ 0.9× the bare program of the same updates (`bare`) (N=64)"] == "yes"
    assert cells["vmap ≥ 2× the best PyTorch way (N=64)"] == "yes"
    assert (
        cells["vmap ≥ 60% of the f32 GEMM peak measured in the same run (N=64, peak 110.0 GFLOP/s)"]
        == "**missed**: 15 points short"
    )
    assert cells["compile time independent of run count (within 1.5×)"] == "**missed**: 0.50× beyond 1.5×"
    assert cells["compile time independent of steps (within 1.5×)"] == "yes"  # 1.2 / 0.9 at N=16
    assert "| 2.50× " in md and "| 45% " in md and "2.00× (N=256 vs N=16)" in md
    assert "Met 5 of 7 measured targets; missed:" in md
    # 12,345 run-steps/s
    assert re.search(r"\| loop +\| 64 +\| 12,345 +\| 24\.7 +\| 25% +\| 1\.00× +\| 1\.50 +\|", md)
    assert "GEMM probe (f32, 2048x2048x2048): 100.0 GFLOP/s." in md
    assert "`test_train_loop[64]` was taken while other processes used 37% of the CPU." in md
    assert md.count("was taken while other processes used") == 1
    first = path.read_bytes()
    write_bench_report(source, tmp_path / "out")
    assert path.read_bytes() == first
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_bench_md_cnn_case_targets_and_table(tmp_path):
    md = bench_markdown(load_bench(_write(tmp_path / "b.json", bench_json(cnn_over_lax=9.5))))
    cells = _target_cells(md)
    lax = "CNN trainer ≥ 8× the same trainer with `lax.conv_general_dilated` (`vmap_lax`) (N=64)"
    assert cells[lax] == "yes"
    mlp = "CNN trainer ≥ 0.6× the MLP trainer's GFLOP/s measured beside it (`mlp_vmap`) (N=64)"
    torch = "CNN trainer ≥ 2× the best PyTorch way (`nn.Conv1d`) (N=64)"
    assert cells[mlp] == "yes" and cells[torch] == "**missed**: 0.22× short of 2×"
    assert "### CNN side by side, N=64, 60 steps" in md and "torch_loop on 16 runs" in md
    assert re.search(r"\| vmap_lax +\| 168 +\| 3\.2 +\| 3% +\| 9\.50× +\|", md)
    assert re.search(r"\| mlp_vmap +\| 8,700 +\| 40\.0 +\| 36% +\|", md)
    slow = bench_markdown(load_bench(_write(tmp_path / "s.json", bench_json(torch=False, cnn_over_lax=6.0))))
    cells = _target_cells(slow)
    assert cells[lax] == "**missed**: 2.00× short of 8×"
    assert cells[torch] == "–"
    broken = bench_json(cnn_over_lax=9.5)
    del broken["benchmarks"][-1]["extra_info"]["speedup_vmap_over_lax"]
    with pytest.raises(ValueError, match="cnn_side_by_side.*missing extra_info keys: speedup_vmap_over_lax"):
        load_bench(_write(tmp_path / "x.json", broken))


def test_bench_md_without_torch_and_missed_speedups(tmp_path):
    data = bench_json(
        torch=False,
        vmap_over_loop=1.84,
        over_devices=0.95,
        peak_percent=61.0,
        compile_large_n=1.2,
        over_bare=0.75,
    )
    md = write_bench_report(_write(tmp_path / "bench.json", data), tmp_path).read_text()
    cells = _target_cells(md)
    assert cells["vmap ≥ 2× the per-run JAX loop (N=64)"] == "**missed**: 0.16× short of 2×"
    assert (
        cells["vmap ≥ 1.5× the loop dispatched round-robin over all devices (N=64)"]
        == "**missed**: 0.55× short of 1.5×"
    )
    assert (
        cells["vmap ≥ 0.9× the bare program of the same updates (`bare`) (N=64)"]
        == "**missed**: 0.15× short of 0.9×"
    )
    assert cells["vmap ≥ 2× the best PyTorch way (N=64)"] == "–"
    assert "not measured (torch not installed)" in md
    assert "torch_bmm" not in md
    assert cells["compile time independent of run count (within 1.5×)"] == "yes"
    assert "Met 3 of 6 measured targets" in md


def test_bench_md_of_json_without_bare():
    cells = _target_cells(bench_markdown(bench_json(over_bare=None)))
    assert cells["vmap ≥ 0.9× the bare program of the same updates (`bare`) (N=64)"] == "–"


@pytest.mark.parametrize("peak, cell", [(1.9, "yes"), (4.58, "**missed**: 2.58× beyond 2×"), (None, "–")])
def test_memory_target_judges_the_worst_compiled_program(tmp_path, peak, cell):
    data = bench_json()
    compiles = [b["extra_info"] for b in data["benchmarks"] if b["extra_info"]["kind"] == "compile"]
    if peak is not None:
        for info, ratio in zip(compiles, (1.2, peak)):
            info.update(peak_bytes_per_run=ratio * 1e5, output_bytes_per_run=1e5)
    cells = _target_cells(write_bench_report(_write(tmp_path / "bench.json", data), tmp_path).read_text())
    target = "memory per run ≤ 2× its params + optimizer state + logs (XLA memory analysis)"
    assert cells[target] == cell


def _one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: "{not json", "not JSON"),
        (lambda d: {**d, "benchmarks": []}, "no benchmarks"),
        (lambda d: [1, 2], "no benchmarks"),
        (
            lambda d: d["benchmarks"][1]["extra_info"].pop("run_steps_per_s") and d,
            "missing extra_info keys: run_steps_per_s",
        ),
        (lambda d: d["benchmarks"][0]["extra_info"].update(kind="latency") or d, "kind 'latency'"),
        (lambda d: d["benchmarks"][0].pop("extra_info") and d, "no 'stats' or 'extra_info'"),
        (lambda d: d["benchmarks"][1]["extra_info"].update(n_runs="64") or d, "n_runs must be integers"),
    ],
)
def test_malformed_json_is_one_line_value_error(tmp_path, mutate, expected):
    data = mutate(copy.deepcopy(bench_json()))
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(ValueError) as error:
        load_bench(path)
    message = _one_line(error)
    assert str(path) in message and expected in message
    with pytest.raises(ValueError) as error:
        load_bench(tmp_path / "missing.json")
    assert "missing.json" in _one_line(error)


def test_cli_report_bench_only_and_index(tmp_path, capsys):
    out = tmp_path / "reports"
    out.mkdir()
    _write(out / "bench.json", bench_json())
    (out / "default.md").write_text("# r\n\n**Short answer:** yes.\n")
    assert main(["report", "--out", str(out), "--bench-only", "--results", str(tmp_path / "nowhere")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out / 'bench.md'}"
    assert (out / "bench.md").exists()
    index = (out / "README.md").read_text()
    assert "## [default](default.md)" in index and "[bench]" not in index
    assert index.count("](bench.md)") == 1 and "Timings: [bench.md](bench.md)." in index
    assert write_index(out).read_text() == index


def test_cli_report_also_writes_bench_md_when_out_has_bench_json(tmp_path, capsys, monkeypatch):
    import symjax

    def fake_build_report(results, out):  # the matrix report itself is tested in test_report.py
        path = tmp_path / "reports" / "default.md"
        path.write_text("# r\n\n**Short answer:** no.\n")
        write_index(tmp_path / "reports")
        return path

    monkeypatch.setattr(symjax, "build_report", fake_build_report)
    out = tmp_path / "reports"
    out.mkdir()
    assert main(["report", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out / 'default.md'}\n" and not (out / "bench.md").exists()
    _write(out / "bench.json", bench_json())
    assert main(["report", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out / 'default.md'}\nwrote {out / 'bench.md'}\n"
    assert "Timings: [bench.md](bench.md)." in (out / "README.md").read_text()


def test_cli_report_bench_file_and_errors(tmp_path, capsys):
    other = _write(tmp_path / "other.json", bench_json(torch=False))
    assert main(["report", "--out", str(tmp_path / "o"), "--bench", other, "--bench-only"]) == 0
    assert "not measured (torch not installed)" in (tmp_path / "o" / "bench.md").read_text()
    capsys.readouterr()
    assert main(["report", "--out", str(tmp_path / "empty"), "--bench-only"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("symjax: error: cannot read")
    assert not (tmp_path / "empty").exists()


@pytest.fixture
def baseline(tmp_path):
    return _write(tmp_path / "baseline.json", bench_json())


def _compare(tmp_path, baseline, *extra, **changes) -> int:
    current = _write(tmp_path / "current.json", bench_json(**changes))
    return main(["bench-compare", current, "--baseline", baseline, *extra])


def test_bench_compare_exit_codes(tmp_path, baseline, capsys):
    assert _compare(tmp_path, baseline) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and all(line.endswith("ok") for line in lines[:5])
    assert "N=64 speedup_vmap_over_loop: baseline 2.50×, current 2.50×, change +0%, ok" in lines
    assert _compare(tmp_path, baseline, "--margin", "0.2", vmap_over_loop=2.5 * 0.7) == 1
    out = capsys.readouterr().out
    assert "N=64 speedup_vmap_over_loop: baseline 2.50×, current 1.75×, change -30%, REGRESSION" in out
    assert _compare(tmp_path, baseline, "--margin", "0.2", vmap_over_loop=2.5 * 0.9) == 0
    assert "change -10%, ok" in capsys.readouterr().out
    assert _compare(tmp_path, baseline, torch=False) == 0  # no torch now: skipped, not a failure
    assert "N=64 speedup_vmap_over_torch: skipped (not measured in the current)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["missing.json"],
        ["current.json", "--baseline", "missing.json"],
        ["current.json", "--margin", "2"],
        ["current.json", "--baseline", "nosbs.json"],
    ],
)
def test_bench_compare_bad_input_is_one_line_exit_2(tmp_path, baseline, capsys, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "current.json", bench_json())
    data = bench_json()
    data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["kind"] != "side_by_side"]
    _write(tmp_path / "nosbs.json", data)
    code = main(["bench-compare", *args] + ([] if "--baseline" in args else ["--baseline", baseline]))
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("symjax: error:")


def test_compare_bench_api(tmp_path, baseline):
    ok, lines = compare_bench(baseline, baseline, margin=0.2)
    assert ok and len(lines) == 5
    with pytest.raises(ValueError, match="no side-by-side benchmark with the same n_runs"):
        data = bench_json()
        data["benchmarks"][-5]["extra_info"]["n_runs"] = 16
        compare_bench(_write(tmp_path / "n16.json", data), baseline)
