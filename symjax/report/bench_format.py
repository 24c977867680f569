"""Number and table formats of ``bench.md`` (``symjax.report.bench``, ``symjax.report.bench_cnn``).

Data-flow stage: **report**; pure functions of JSON values (a missing or non-numeric value shows as "–").
"""

from __future__ import annotations

import re

import pandas as pd

from symjax.report.format import LINE_BREAKS, text

IMPLS = (
    "vmap",
    "bare",
    "vmap_lax",
    "loop",
    "loop_devices",
    "torch_loop",
    "torch_vmap",
    "torch_bmm",
    "mlp_vmap",
)


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _rate(x) -> str:
    return f"{x:,.0f}" if _num(x) else "–"


def _mib(x) -> str:
    return f"{x / 2**20:.2f}" if _num(x) else "–"


def _ratio(x) -> str:
    return f"{x:.2f}×" if _num(x) else "–"


def _pct(x) -> str:
    return f"{x:.0f}%" if _num(x) else "–"


def _fixed(x, digits: int) -> str:
    return f"{x:.{digits}f}" if _num(x) else "–"


def _code(value) -> str:
    """A JSON value as one markdown code span, whatever backticks it holds."""
    line = LINE_BREAKS.sub(" ", str(value))
    fence = "`" * (max(map(len, re.findall("`+", line)), default=0) + 1)
    pad = " " if line.strip(" ") and (line[:1] in ("`", " ") or line[-1:] in ("`", " ")) else ""
    return f"{fence}{pad}{line}{pad}{fence}"


def _table(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def _target(target: str, value, measured: str, met: bool, gap: str) -> dict:
    """One row of the targets table; a missed target says by how much."""
    if not _num(value):
        return {"target": target, "measured": measured, "met?": "–"}
    return {"target": target, "measured": measured, "met?": "yes" if met else f"**missed**: {gap}"}


def _impl_key(impl: str) -> tuple:
    return (IMPLS.index(impl) if impl in IMPLS else len(IMPLS), impl)


def side_by_side_rows(s: dict) -> list[dict]:
    """One row per impl of a side-by-side test, against the GEMM peak probed in the same test."""
    peak, rates = s["gemm_gflop_per_s"], s["run_steps_per_s"]
    return [
        {
            "impl": text(impl),
            "run-steps/s": _rate(rates[impl]),
            "GFLOP/s": _fixed(s["gflop_per_s"].get(impl), 1),
            "% of GEMM peak": _pct(s["gflop_per_s"].get(impl) / peak * 100)
            if _num(s["gflop_per_s"].get(impl)) and _num(peak) and peak > 0
            else "–",
            "vmap speedup over it": _ratio(rates["vmap"] / rates[impl])
            if _num(rates["vmap"]) and _num(rates[impl]) and rates[impl] > 0
            else "–",
        }
        for impl in sorted(rates, key=_impl_key)
    ]
