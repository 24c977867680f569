"""The ``controls`` report: exact predictions checked on tiny networks (``symjax.engine.controls``), from stored JSON.

Data-flow stage: ``symjax controls`` stores the rows as ``<results>/controls.json`` -> **report**
(``OUT/controls.md`` and the index). Reads files only; imports no jax. Same rows -> byte-identical markdown.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from symjax.core.files import atomic_write_text, read_bytes
from symjax.report.build import check_outputs, write_index

NAME = "controls"
KIND = "symjax controls"
JSON_HEADER = '{\n  "kind": "symjax controls"'  # what controls_json writes first: check_written's header
FIELDS = {"control": str, "prediction": str, "observed": str, "holds": bool, "exactness": str}
BITWISE, ROUNDING = "exact (bitwise)", "up to float32 rounding"
MAX_JSON_BYTES = 2**20

EXPLANATIONS = {
    "constant W and b": "Every hidden unit starts with the same incoming weights and bias, so every unit computes the "
    "same output, receives the same gradient and takes the same optimizer step (Adam's moments included): the "
    "permutation symmetry of a layer can only be broken by arithmetic that treats columns differently. On this CPU "
    "the columns are computed by identical operations and stay bitwise equal.",
    "balanced XOR at ln 2": "With zero W the output is the output bias, 0, for every example, so softmax gives (1/2, 1/2) "
    "and the output gradient p - y is +-1/2 per example; on a balanced set it sums to 0, and so does every gradient "
    "further back (it is multiplied by a zero W or by an example-independent activation). The set has 2 x 256 "
    "examples so that every per-example term is exactly +-2^-10, and its labels alternate, so that the terms cancel "
    "exactly in any sequential, lane-wise or pairwise summation: float32 then computes the zeros exactly. The last "
    "part of the row shows that a balanced set whose sums do not cancel exactly (the same class counts in stored order) "
    "lets float32 rounding leave a tiny gradient, which Adam normalises into full-size steps.",
    "linear net: rank-1 product": "With identity activation and zero W, every example's activations in a hidden layer "
    "stay on the line of that layer's initial bias: under SGD each gradient of W_l and b_l is an outer product along "
    "these lines, so the network is a width-1 linear network in disguise, every W_l stays a_l u_l^T and the product "
    "W1 W2 W3 keeps rank <= 1. Adam divides each entry by its own running scale, which turns the updates off these "
    "lines: the product's rank grows.",
    "W1's rank, first SGD updates": "Update 1 changes only the readout (W1's gradient passes through the zero readout "
    "W). At update 2 the hidden activations tanh(b) are still the same for every example, so W1's gradient is the "
    "outer product of one input-space vector with one unit-space vector: rank 1. From update 3 on W1 is non-zero, "
    "tanh' varies with the example, and W1's rank grows. Each float64 twin starts from its float32 run's initial "
    "weights and trains in float64.",
}
EXACTNESS = (f"**{BITWISE}**: the prediction is checked with `==` on float32 arrays (equal losses, equal columns, "
             f"zeros); it holds because the computation that would break it is exactly zero or exactly symmetric. "
             f"**{ROUNDING}**: the prediction is exact in exact arithmetic, and the float32 runs satisfy it up to "
             "rounding: ranks use the project's numerical rank (singular values above s_max x max(shape) x "
             "eps(float32)), so a direction of rounding size can count (the row says when it did), and a float64 twin "
             "shows what rounding changed.")


def row_dict(row) -> dict:
    """A row (a dict, or a NamedTuple such as ``symjax.engine.controls.Control``) as a plain dict of ``FIELDS``."""
    row = row._asdict() if hasattr(row, "_asdict") else dict(row)
    return {field: row[field] for field in FIELDS}


def controls_json(rows: list) -> str:
    """The JSON text of ``rows`` (starts with ``JSON_HEADER``)."""
    return json.dumps({"kind": KIND, "rows": [row_dict(r) for r in rows]}, indent=2, ensure_ascii=False) + "\n"


def parse_controls(text: str, source: str = "controls JSON") -> list[dict]:
    """The rows of a controls JSON text; ValueError saying what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND or not isinstance(data.get("rows"), list) or not data["rows"]:
        raise ValueError(f"{source} is not a controls file: expected {{\"kind\": \"{KIND}\", \"rows\": [...]}} with at "
                         "least one row (`symjax controls` writes it)")
    for index, row in enumerate(data["rows"], start=1):
        wrong = [f"{field!r} ({kind.__name__})" for field, kind in FIELDS.items()
                 if not isinstance(row, dict) or not isinstance(row.get(field), kind)]
        if wrong:
            raise ValueError(f"{source}: row {index} needs {', '.join(wrong)}")
        if row["exactness"] not in (BITWISE, ROUNDING):
            raise ValueError(f"{source}: row {index} has exactness {row['exactness']!r}; allowed: {BITWISE!r}, {ROUNDING!r}")
    return [row_dict(r) for r in data["rows"]]


def load_controls(path: Path) -> list[dict]:
    """The rows stored in ``path``; ValueError (missing, unreadable, too large, malformed) naming the file."""
    try:
        data = read_bytes(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist: run `symjax controls` first") from None
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    return parse_controls(text, str(path))


def short_answer(rows: list[dict]) -> str:
    """E.g. ``4 of 4 exact predictions hold (2 bitwise, 2 up to float32 rounding).``"""
    held = [r for r in rows if r["holds"]]
    kinds = [f"{sum(r['exactness'] == kind for r in held)} {label}" for kind, label in ((BITWISE, "bitwise"),
                                                                                         (ROUNDING, ROUNDING))]
    failed = [r["control"] for r in rows if not r["holds"]]
    text = f"{len(held)} of {len(rows)} exact predictions hold ({', '.join(kinds)})."
    return text + (f" Does not hold: {'; '.join(failed)}." if failed else "")


def controls_markdown(rows: list) -> str:
    """The report ``# symjax report: `controls``` of ``rows`` (dicts or NamedTuples with ``FIELDS``)."""
    rows = [row_dict(r) for r in rows]
    table = pd.DataFrame([{**r, "holds": "yes" if r["holds"] else "**no**"} for r in rows])[list(FIELDS)]
    explained = [f"- **{r['control']}**: {EXPLANATIONS[r['control']]}" for r in rows if r["control"] in EXPLANATIONS]
    lines = [f"# symjax report: `{NAME}`", "",
             ("> Controls: tiny networks trained in seconds by symjax's own trainer (`make_train`), in settings where "
              "theory predicts the outcome exactly. A failed control points at the trainer or at the theory."), "",
             f"**Short answer:** {short_answer(rows)}", "",
             table.to_markdown(index=False, disable_numparse=True), "",
             "## Why each prediction holds", "", *explained, "",
             "## Exact and up to float32 rounding", "", EXACTNESS, "",
             ("Regenerate with `symjax controls` (trains the controls, under a minute on a CPU) or "
              "`symjax controls --report-only` (renders this file from `results/controls/controls.json`)."), ""]
    return "\n".join(lines)


def write_controls_report(json_path: Path, out: Path) -> Path:
    """Render ``out/controls.md`` from the rows stored in ``json_path`` and refresh ``out/README.md``; returns the
    report's path. ValueError (bad JSON, a file symjax did not write in the way) before any file is written."""
    rows = load_controls(Path(json_path))
    out = Path(out)
    check_outputs(out, NAME)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{NAME}.md"
    atomic_write_text(path, controls_markdown(rows))
    write_index(out)
    return path
