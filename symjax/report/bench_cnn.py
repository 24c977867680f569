"""The CNN case of ``bench.md``: its targets and its side-by-side table (``cnn_side_by_side`` benchmarks).

Data-flow stage: **report**, outside the training flow: ``bench/test_bench_train.py::test_cnn_side_by_side``
-> ``reports/bench.json`` -> the *CNN* rows of ``reports/bench.md`` (``symjax.report.bench``).
"""

from __future__ import annotations

from symjax.report.bench_format import _fixed, _num, _pct, _ratio, _table, _target, side_by_side_rows
from symjax.report.format import text

KIND = "cnn_side_by_side"
KEYS = (  # extra_info keys a cnn_side_by_side benchmark must have, besides the common ones
    "model",
    "n_runs",
    "steps",
    "run_steps_per_s",
    "gflop_per_s",
    "gemm_gflop_per_s",
    "speedup_vmap_over_lax",
    "gflop_ratio_over_mlp",
    "speedup_vmap_over_torch",
    "percent_of_gemm_peak",
)
TARGETS = (  # (extra_info key, what the CNN trainer is set against, at least this ratio)
    ("speedup_vmap_over_lax", "× the same trainer with `lax.conv_general_dilated` (`vmap_lax`)", 8.0),
    ("gflop_ratio_over_mlp", "× the MLP trainer's GFLOP/s measured beside it (`mlp_vmap`)", 0.6),
    ("speedup_vmap_over_torch", "× the best PyTorch way (`nn.Conv1d`)", 2.0),
)


def cnn_target_rows(cases: list[dict]) -> list[dict]:
    """Rows of the targets table for every CNN side-by-side benchmark (extra_info dicts)."""
    rows = []
    for s in cases:
        for key, against, least in TARGETS:
            v = s.get(key)
            absent = "not measured (torch not installed)" if key.endswith("torch") else "not measured"
            rows.append(
                _target(
                    f"CNN trainer ≥ {least:g}{against} (N={s['n_runs']})",
                    v,
                    _ratio(v) if _num(v) else absent,
                    _num(v) and v >= least,
                    f"{least - v:.2f}× short of {least:g}×" if _num(v) else "",
                )
            )
    return rows


def cnn_section_lines(cases: list[dict]) -> list[str]:
    """The markdown of each CNN side-by-side benchmark: a heading, what was trained, its table."""
    lines = []
    for s in cases:
        counts = s.get("run_counts") or {}
        fewer = ", ".join(
            f"{text(impl)} on {n}" for impl, n in sorted(counts.items()) if _num(n) and n != s["n_runs"]
        )
        lines += [
            f"### CNN side by side, N={s['n_runs']}, {s['steps']} steps (interleaved rounds in one test)",
            "",
            f"{text(s['model'])} (3 conv layers of 25 channels, kernels 5/3/3, stride 2, relu; SGD, "
            "batch 100) with every implementation, the MLP trainer (`mlp_vmap`, its own workload) and the "
            "GEMM peak "
            f"({_fixed(s['gemm_gflop_per_s'], 1)} GFLOP/s) in the same rounds; run-steps/s per run"
            + (f" ({fewer} runs: a loop's time per run-step does not depend on N)" if fewer else "")
            + f". The trainer reaches {_pct(s['percent_of_gemm_peak'])} of the GEMM peak.",
            "",
            _table(side_by_side_rows(s)),
            "",
        ]
    return lines
