"""The answer beyond a report's own runs, from its companion results: per architecture family (a companion
with residual, normalized or attention networks, e.g. ``modern``) and per batch size (a companion whose
runs vary ``batch_size``, e.g. ``batch``).

Data-flow stage: analysis (each companion's ``Headline``) -> **report**. Every verdict is the companion's
own, each scheme at its own best rate in its own matrix (``symjax.analysis.answer.headline``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symjax.analysis.answer import Headline, question_pairs
from symjax.report.format import code, fmt_ratio, setting_label, span
from symjax.report.modern import family, is_modern
from symjax.report.sections import verdict_counts

FAMILY_ORDER = ("residual", "normalized", "attention")
NOT_AS_FAST = {"fails", "slower", "worse"}  # decisive speed verdicts against the scheme
AS_FAST = {"equivalent", "faster", "better"}  # and for it


def companion_kind(runs: pd.DataFrame) -> str:
    """``families`` (residual, normalized or attention networks), ``batch`` (more than one batch size) or
    ``other`` (long horizons, sweeps)."""
    if is_modern(runs):
        return "families"
    return "batch" if runs["batch_size"].nunique() > 1 else "other"


def _verdicts(rows: pd.DataFrame) -> str:
    """e.g. ``slower in 4 of 4 (2.1×–2.9× the reference's steps to target); ends as good in 0 of 4``."""
    finite = rows.loc[np.isfinite(rows["speed_ratio"]), "speed_ratio"]
    ratios = f" ({span(finite, fmt_ratio)} the reference's steps to target)" if len(finite) else ""
    good = int((rows["end_verdict"] == "as good").sum())
    return f"{verdict_counts(rows)} of {len(rows)}{ratios}; ends as good in {good} of {len(rows)}"


def covered_families(runs: pd.DataFrame) -> list[str]:
    """The families of residual, normalized and attention networks that ``runs`` hold (FAMILY_ORDER)."""
    present = {
        "residual": (runs["model"] == "resmlp").any(),
        "normalized": (runs["norm"] != "none").any(),
        "attention": (runs["model"] == "transformer").any(),
    }
    return [name for name in FAMILY_ORDER if present[name]]


def family_answer(name: str, h: Headline, runs: pd.DataFrame) -> list[str]:
    """One bullet per architecture family of a ``families`` companion: is zero W with a random b as fast,
    does it end as good?"""
    rows = question_pairs(h.summary)
    if rows.empty:
        return [f"- `{name}` has no scheme with zero or constant W and a random b.", ""]
    families = rows.apply(family, axis=1)
    lines = [
        f"From [`{name}`]({name}.md) ({len(runs)} runs, {int(runs['steps'].max())} steps, "
        f"{runs['seed'].nunique()} seeds), each scheme at its own best rate; per family, zero or constant W "
        "with a random b against the reference:",
        "",
    ]
    for label, part in rows.groupby(families, sort=False):
        activations = ", ".join(dict.fromkeys(part["activation"]))
        schemes = ", ".join(map(code, dict.fromkeys(part["scheme"])))
        lines.append(f"- **{label}** ({activations}; {schemes}): {_verdicts(part)}.")
    return [*lines, ""]


def _without_batch(row) -> str:
    return setting_label(row, lr=False).replace(f" · batch {row['batch_size']}", "")


def batch_answer(name: str, h: Headline, runs: pd.DataFrame) -> list[str]:
    """Per batch size of a ``batch`` companion: the verdicts, and whether they change with the batch size
    (the same (setting, scheme) compared across batch sizes)."""
    rows = question_pairs(h.summary)
    if rows.empty:
        return [f"- `{name}` has no scheme with zero or constant W and a random b.", ""]
    lines = [
        f"From [`{name}`]({name}.md) ({len(runs)} runs, {int(runs['steps'].max())} steps, "
        f"{runs['seed'].nunique()} seeds), each scheme at its own best rate, zero or constant W with a "
        "random b against the reference:",
        "",
    ]
    for size, part in rows.groupby("batch_size", sort=True):
        lines.append(f"- batch {int(size)}: {_verdicts(part)}.")
    others = [c for c in h.by if c != "batch_size"]
    pairs = [part.sort_values("batch_size") for _, part in rows.groupby([*others, "scheme"], sort=False)]
    same = [p for p in pairs if p["verdict"].nunique() == 1 and p["end_verdict"].nunique() == 1]
    opposed = [p for p in pairs if _opposed(p)]
    word = "Yes" if opposed else "No"
    lines += [
        "",
        f"Does the answer depend on the batch size? **{word}**: a decisive verdict at one batch size "
        f"contradicts one at another (e.g. slower against as fast, falls short against as good) in "
        f"{len(opposed)} of {len(pairs)} (setting, scheme) pairs; the speed and end verdicts are identical "
        f"at every batch size in {len(same)}"
        + (
            "; elsewhere they differ without contradicting each other (a decisive verdict beside an "
            "inconclusive or undecided one, or two on the same side): "
            + "; ".join(_by_batch(p) for p in pairs if not any(p is q for q in same))
            if len(same) < len(pairs)
            else ""
        )
        + ".",
        "",
    ]
    return lines


def _opposed(part: pd.DataFrame) -> bool:
    """Whether a decisive verdict of one batch size contradicts one of another (speed or end)."""
    speed, end = set(part["verdict"]), set(part["end_verdict"])
    return bool((speed & NOT_AS_FAST and speed & AS_FAST) or {"as good", "falls short"} <= end)


def _by_batch(part: pd.DataFrame) -> str:
    """e.g. ``mnist1d · 100 · tanh · adam (`zeros/normal(1.0)`: batch 32 slower 1.71×, falls short; ...)``."""
    first = part.iloc[0]
    cells = [
        f"batch {int(r['batch_size'])} {r['verdict']}"
        + (f" {fmt_ratio(r['speed_ratio'])}" if np.isfinite(r["speed_ratio"]) else "")
        + f", {r['end_verdict']}"
        for _, r in part.iterrows()
    ]
    return f"{_without_batch(first)} ({code(first['scheme'])}: {'; '.join(cells)})"


def coverage_bullets(companions: list) -> tuple[list[str], list[str]]:
    """(the *In short* bullets of the ``families`` and ``batch`` companions, the families they cover)."""
    bullets, covered = [], []
    for name, loaded, h in companions:
        if h is None or question_pairs(h.summary).empty:
            continue
        rows, kind = question_pairs(h.summary), companion_kind(loaded.runs)
        if kind == "families":
            families = covered_families(loaded.runs)
            covered += [f for f in families if f not in covered]
            bullets.append(
                f"- **Other architectures** ({', '.join(families)}; from `{name}`, question 4): "
                f"{_verdicts(rows)} (family, scheme) pairs."
            )
        elif kind == "batch":
            sizes = sorted(int(b) for b in loaded.runs["batch_size"].unique())
            bullets.append(
                f"- **Batch size** ({', '.join(map(str, sizes))}; from `{name}`, question 4): "
                f"{_verdicts(rows)} (setting, scheme) pairs."
            )
    return bullets, covered


def coverage_lines(companions: list) -> list[str]:
    """``### 4. Other architectures and batch sizes``: what the ``families`` and ``batch`` companions
    answer; [] when there are none (``companions``: ``build._companions``'s (name, Results or reason,
    Headline or None))."""
    parts = []
    for name, loaded, h in companions:
        if h is None:
            continue
        kind = companion_kind(loaded.runs)
        if kind == "families":
            parts += family_answer(name, h, loaded.runs)
        elif kind == "batch":
            parts += batch_answer(name, h, loaded.runs)
    if not parts:
        return []
    return ["### 4. Other architectures and batch sizes", "", *parts]
