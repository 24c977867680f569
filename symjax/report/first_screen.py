"""The first screen of a report, for the student who asked: five lines of effect sizes, the mechanism in one
sentence, the scope, and the practical takeaway; and the report's *Definitions* (every verdict word, defined
once).

Data-flow stage: analysis (``Headline`` rows, the mechanism table) -> **report** (markdown lines).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symjax.analysis.answer import END_VERDICTS, LEARNS_FRACTION, Headline, is_question_scheme, question_pairs
from symjax.analysis.stats import VERDICT_RULES
from symjax.report.format import code, fmt_ratio, span, text
from symjax.report.sections import verdict_counts

MECHANISM_SENTENCE = (
    "Why: with W = 0 every hidden layer starts input-blind (it outputs φ(b) for every input), so a layer "
    "starts learning only after the layer above it has moved (layer L−k after k updates), its first updates "
    "have rank 1, and relu units whose bias starts at or below 0 never get a gradient."
)
SAFE = ("equivalent", "faster", "better")


def _points(values: pd.Series) -> str:
    """``−12.0 to −0.1`` (one value when equal): signed points, joined by words since both ends may be
    negative."""
    lo, hi = (f"{100 * v:+.1f}".replace("-", "−") for v in (values.min(), values.max()))
    return lo if lo == hi else f"{lo} to {hi}"


def _dead_line(h: Headline, mechanism: pd.DataFrame, reference: str) -> str | None:
    relu = mechanism[(mechanism["activation"] == "relu") & mechanism["dead_fraction_end"].notna()]
    zero = relu[relu["scheme"].map(lambda s: is_question_scheme(s) and s.startswith("zeros/"))]
    if zero.empty:
        return None
    ref = relu[relu["scheme"] == reference]
    against = (
        f" (the reference's: {span(100 * ref['dead_fraction_end'], '{:.0f}%'.format)})" if len(ref) else ""
    )
    return (
        f"- **Dead units:** with relu and zero W, {span(100 * zero['dead_fraction_end'], '{:.0f}%'.format)} "
        f"of a hidden layer's units are dead at the end (median over runs){against}."
    )


def _and(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _scope(runs: pd.DataFrame) -> tuple[str, list[str]]:
    """(the architectures the runs cover, e.g. ``plain MLPs and a 1-D CNN``; the families of residual,
    normalized and attention networks they leave out)."""
    models = set(runs["model"])
    plain = models & {"mlp", "cnn", "cnn_paper"}
    parts = []
    if plain:
        parts.append(
            "plain MLPs" if plain == {"mlp"} else "plain MLPs and a 1-D CNN" if "mlp" in plain else "1-D CNNs"
        )
    norms = [n for n in ("layernorm", "batchnorm") if n in set(runs["norm"])]
    if "resmlp" in models:
        parts.append("residual MLPs" + (f" (also with {' and '.join(norms)})" if norms else ""))
    if "transformer" in models:
        parts.append("a small transformer")
    if models - {"mlp", "cnn", "cnn_paper", "resmlp", "transformer"}:
        parts.append("plug-in models")
    if parts == ["plain MLPs and a 1-D CNN", "plug-in models"] or (plain and parts[1:] == ["plug-in models"]):
        parts = ["plain MLPs, 1-D CNNs and plug-in models"]
    present = {
        "residual": "resmlp" in models,
        "normalized": bool(norms),
        "attention": "transformer" in models,
    }
    scope = _and(parts)
    return scope, [name for name, there in present.items() if not there]


def first_screen_lines(
    h: Headline,
    horizon: tuple[Headline, int] | None,
    mechanism: pd.DataFrame,
    steps: int,
    reference: str,
    runs: pd.DataFrame,
    coverage: tuple[list[str], list[str]] = ([], []),
) -> list[str]:
    """The ``## In short`` section: effect sizes, mechanism, scope and takeaway; nothing without question
    pairs. ``coverage``: the companions' bullets and the families they cover
    (``symjax.report.coverage.coverage_bullets``)."""
    pairs = question_pairs(h.summary)
    if pairs.empty:
        return []
    decisive, decisive_steps = horizon if horizon is not None else (h, steps)
    ends = question_pairs(decisive.summary)
    finite = pairs[np.isfinite(pairs["speed_ratio"])]
    tuned = "at each scheme's own best learning rate" if h.choices is not None else "at one learning rate"
    fails = int((pairs["verdict"] == "fails").sum())
    lines = [
        f"- **Symmetry breaks:** zero or constant W with a random b learns in {int(pairs['learns'].sum())} "
        f"of {len(pairs)} (setting, scheme) pairs (median final training loss at most {LEARNS_FRACTION:g} × "
        "chance).",
        (
            f"- **Slower:** {tuned} it needs {span(finite['speed_ratio'], fmt_ratio)} the reference's steps "
            "to the early target"
            + (f", and fails to reach it in {fails} of {len(pairs)} pairs" if fails else "")
            + "."
            if len(finite)
            else f"- **Not as fast:** {tuned} its median run never reaches the reference's early target "
            f"(verdicts: {verdict_counts(pairs)} of {len(pairs)} pairs)."
        ),
    ]
    dead = _dead_line(h, mechanism, reference)
    if dead:
        lines.append(dead)
    accuracy = ends["acc_diff"].dropna()
    good = int((ends["end_verdict"] == "as good").sum())
    lines.append(
        f"- **At the longest horizon ({decisive_steps} steps):** it ends as good in {good} of {len(ends)} "
        "pairs"
        + (f"; test accuracy {_points(accuracy)} points against the reference" if len(accuracy) else "")
        + "."
    )
    matched = h.matched
    if len(matched):
        lines.append(
            "- **Part of the gap is the large bias:** random W with the same random bias is itself "
            f"{span(matched['bias'], fmt_ratio)} the reference's steps; zero W on top of it costs "
            f"{span(matched.loc[np.isfinite(matched['zero_w']), 'zero_w'], fmt_ratio)}."
        )
    extra, covered = coverage
    lines += extra
    scope, missing = _scope(runs)
    missing = [name for name in missing if name not in covered]
    datasets = ", ".join(map(text, dict.fromkeys(runs["dataset"])))
    safe = [
        s
        for s, rows in question_pairs(decisive.summary).groupby("scheme", sort=False)
        if rows["verdict"].isin(SAFE).all() and (rows["end_verdict"] == "as good").all()
    ]
    unsafe = [s for s in dict.fromkeys(ends["scheme"]) if s not in safe]
    takeaway = (
        f"Takeaway: initialize W randomly (`{reference}`); "
        + (
            f"{', '.join(map(code, unsafe))} learn{'s' if len(unsafe) == 1 else ''} but "
            f"{'is' if len(unsafe) == 1 else 'are'} not safe here (slower, or not as good at the end, in "
            "some settings)"
            if unsafe
            else ""
        )
        + (f"; as fast and as good in every setting here: {', '.join(map(code, safe))}" if safe else "")
        + "."
    )
    return [
        "## In short",
        "",
        *lines,
        "",
        MECHANISM_SENTENCE,
        "",
        f"Scope: {scope} on small data ({datasets}), trained from scratch"
        + (f"; {_and(covered)} networks from companion results (question 4)" if covered else "")
        + (
            f"; other architectures ({', '.join(missing)}) are not covered by this report."
            if missing
            else "."
        ),
        "",
        takeaway,
        "",
    ]


def definitions_lines() -> list[str]:
    """``## Definitions``: every verdict word of the three questions, each defined once."""
    return [
        "## Definitions",
        "",
        f"- **learns** (question 1): the median final training loss is at most {LEARNS_FRACTION:g} × the "
        "chance level of its setting (the all-zero control's, where trained, else the reference's at step "
        "0), and at least half its runs' weights got a gradient (a net whose weights never move is the "
        "chance net itself: its readout bias alone).",
        "- Speed verdicts (question 2, each against the reference in the same setting, seeds paired):",
        *[f"  - **{word}**: {rule}." for word, rule in VERDICT_RULES.items()],
        "- End verdicts (question 3, at the last step):",
        *[f"  - **{word}**: {rule}." for word, rule in END_VERDICTS.items()],
        "- The early target of a setting is the reference's median training loss at 25% of the steps; the "
        "late "
        "target its median final training loss. 95% intervals throughout.",
        "",
    ]
