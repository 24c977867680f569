"""The ``controls`` report: exact predictions checked on tiny networks (``symjax.experiments.controls``), from
stored JSON; every sentence of it, those stored in the JSON included.

Data-flow stage: the experiment's rows (names, booleans, numbers) -> ``worded`` (prediction and observed
sentences, ``WORDING``) -> ``symjax controls`` stores them as ``<results>/controls.json`` -> **report**
(``OUT/controls.md`` and the index). Reads files only; imports no jax (nor the experiment). Same rows ->
byte-identical markdown.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from symjax.core.errors import SymjaxError
from symjax.core.files import atomic_write_text, read_bytes
from symjax.report.build import check_outputs, write_index

NAME = "controls"
KIND = "symjax controls"
JSON_HEADER = '{\n  "kind": "symjax controls"'  # what controls_json writes first: check_written's header
FIELDS = {"control": str, "prediction": str, "observed": str, "holds": bool, "exactness": str}
BITWISE, ROUNDING = "exact (bitwise)", "up to float32 rounding"
MAX_JSON_BYTES = 2**20

EXPLANATIONS = {
    "constant W and b": "Every hidden unit starts with the same incoming weights and bias, so every unit "
    "computes the same output, receives the same gradient and takes the same optimizer step (Adam's moments "
    "included): the permutation symmetry of a layer can only be broken by arithmetic that treats columns "
    "differently. On this CPU "
    "the columns are computed by identical operations and stay bitwise equal.",
    "balanced XOR at ln 2": "With zero W the output is the output bias, 0, for every example, so softmax "
    "gives (1/2, 1/2) and the output gradient p - y is +-1/2 per example; on a balanced set it sums to 0, "
    "and so does every gradient further back (it is multiplied by a zero W or by an example-independent "
    "activation). The set has 2 x 256 examples so that every per-example term is exactly +-2^-10, and its "
    "labels alternate, so that the terms cancel exactly in any sequential, lane-wise or pairwise summation: "
    "float32 then computes the zeros exactly. The last part of the row shows that a balanced set whose sums "
    "do not cancel exactly (the same class counts in stored order) "
    "lets float32 rounding leave a tiny gradient, which Adam normalises into full-size steps.",
    "linear net: rank-1 product": "With identity activation and zero W, every example's activations in a "
    "hidden layer stay on the line of that layer's initial bias: under SGD each gradient of W_l and b_l is "
    "an outer product along these lines, so the network is a width-1 linear network in disguise, every W_l "
    "stays a_l u_l^T and the product W1 W2 W3 keeps rank <= 1. Adam divides each entry by its own running "
    "scale, which turns the updates off these "
    "lines: the product's rank grows.",
    "W1's rank, first SGD updates": "Update 1 changes only the readout (W1's gradient passes through the "
    "zero readout W). At update 2 the hidden activations tanh(b) are still the same for every example, so "
    "W1's gradient is the outer product of one input-space vector with one unit-space vector: rank 1. From "
    "update 3 on W1 is non-zero, tanh' varies with the example, and W1's rank grows. Each float64 twin "
    "starts from its float32 run's initial "
    "weights and trains in float64.",
}
EXACTNESS = (
    f"**{BITWISE}**: the prediction is checked with `==` on float32 arrays (equal losses, equal columns, "
    "zeros); it holds because the computation that would break it is exactly zero or exactly symmetric. "
    f"**{ROUNDING}**: the prediction is exact in exact arithmetic, and the float32 runs satisfy it up to "
    "rounding: ranks use the project's numerical rank (singular values above s_max x max(shape) x "
    "eps(float32)), so a direction of rounding size can count (the row says when it did), and a float64 "
    "twin shows what rounding changed."
)


def span(extent) -> str:
    """'a' or 'a-b' for an extent (low, high) of integers."""
    low, high = extent
    return f"{low}" if low == high else f"{low}-{high}"


def _constant_words(f: dict) -> tuple[str, str]:
    losses = ", ".join(
        f"{n} {a:.3f} -> {b:.3f}" for n, a, b in zip(f["optimizers"], f["loss_start"], f["loss_end"])
    )
    prediction = (
        f"With W = {f['w']:g} and b = {f['b']:g} in every layer ({f['scheme']}), all units of a hidden layer "
        "get identical gradients, so each hidden layer keeps exactly 1 distinct unit for the whole run, "
        "under Adam and SGD with minibatches."
    )
    observed = (
        f"{f['dataset']}, hidden {f['hidden']}, {f['activation']}, batch {f['batch_size']}, "
        f"{len(f['optimizers']) * f['n_seeds']} runs ({' and '.join(f['optimizers'])} x {f['n_seeds']} "
        f"seeds): distinct units per hidden layer {span(f['distinct_units'])} at all {f['n_logs']} logged "
        f"steps; W's columns bitwise identical in {f['columns_equal']:.0%} of the weight snapshots, final W "
        f"columns and b entries in {f['final_units_equal']:.0%} of the hidden layers; median training loss "
        f"{losses} (the readout still learns)."
    )
    return prediction, observed


def _xor_words(f: dict) -> tuple[str, str]:
    layers = ", ".join(
        f"W{l + 1} from update {span(e)}" for l, e in reversed(list(enumerate(f["first_grad"])))
    )
    prediction = (
        "On a balanced training set in full batch, zero W and zero output bias give output 0 for every "
        "example, softmax (1/2, 1/2) and p - y summing to 0, so every gradient is exactly 0: the loss stays "
        "at its step-0 value (ln 2) and every W stays 0, under SGD and Adam, with zero or random hidden "
        "biases."
    )
    observed = (
        f"{f['dataset']}, 2 x {f['per_class']} examples with labels alternating, hidden {f['hidden']}, "
        f"{f['activation']}, {f['n_logs']} logs after step 0, {f['n_runs']} runs "
        f"({' and '.join(f['optimizers'])} x {' and '.join(f['schemes'])} x {f['n_seeds']} seeds): training "
        f"loss bitwise equal to step 0's at every logged step in {f['loss_constant']:.0%} of runs, ln 2 + "
        f"{f['ln2_deviation']:.1e}; every W and b bitwise unchanged (W = 0) in {f['unchanged']:.0%}. What "
        f"moves it: on the whole split ({' and '.join(map(str, f['class_counts']))} per class) SGD's loss "
        f"leaves ln 2 for the class-prior entropy {f['prior_entropy']:.4f} (final {f['final_zero_b']:.4f} "
        f"with zero b, {f['final_random_b']:.4f} with random hidden b, medians) and with random hidden b the "
        f"weights get non-zero gradients ({layers}); on 2 x {f['stored_per_class']} balanced examples in "
        f"stored order, float32 sums of +-g do not cancel exactly: {f['moved_random_b']} of "
        f"{f['n_random_b']} random-b runs move under Adam (final loss {f['stored_final_random_b']:.3f}, "
        f"median), {f['moved_zero_b']} of {f['n_zero_b']} zero-b runs."
    )
    return prediction, observed


def _identity_words(f: dict) -> tuple[str, str]:
    prediction = (
        f"With identity activation and zero W, random b ({f['scheme']}), SGD keeps every W_l of the form a_l "
        "u_l^T with shared directions, so the end-to-end map W1 W2 W3 has rank <= 1 for ever; Adam's "
        "element-wise normalisation breaks this."
    )
    observed = (
        f"{f['dataset']}, hidden {f['hidden']}, full batch, {f['n_snapshots']} snapshots to step "
        f"{f['last_step']}, {f['n_seeds']} seeds: SGD's product rank at most {span(f['sgd_rank'])} at every "
        f"snapshot (1 from step {span(f['sgd_rank_one_from'])} on; second singular value at most "
        f"{f['sgd_ratio']:.0e} of the first), final loss {f['sgd_loss']:.3f}; Adam's reaches rank "
        f"{span(f['adam_rank'])} (rank 2 first at step {span(f['adam_rank_two_from'])}), final loss "
        f"{f['adam_loss']:.3f}."
    )
    return prediction, observed


def _first_updates_words(f: dict) -> tuple[str, str]:
    exceptions = "; ".join(
        f"seed {e['seed']}'s W1 at step 2 has rank {e['rank']}: second singular value {e['ratio32']:.1e} of "
        f"the first, above the tolerance {f['tolerance']:.1e} (float32 rounding of sums that cancel), its "
        f"float64 twin's {e['ratio64']:.0e}"
        for e in f["exceptions"]
    )
    n = f["n_seeds"]
    prediction = (
        "From zero W and random b under full-batch SGD, W1 has rank 0 at step 0 and after update 1 (its "
        "gradient is 0 while the readout W is 0), rank 1 after update 2, then its rank grows (> 1 by step "
        "5)."
    )
    observed = (
        f"{f['dataset']}, hidden {f['hidden']}, {f['activation']}, lr {f['lr']:g}, {n} seeds: float32 rank "
        f"at steps 0-5 median {list(f['median'])} (range {', '.join(map(span, f['ranges']))}); W1 bitwise 0 "
        f"at steps 0 and 1 in {f['zero']:.0%} of runs; {f['rank_one_at_2']} of {n} have rank 1 at step 2"
        + (f" ({exceptions})" if exceptions else "")
        + f"; float64 twins: [0, 0, 1] at steps 0-2 in {f['float64_as_predicted']} of {n} (second singular "
        f"value at step 2 at most {f['ratio64_at_2']:.0e} of the first), rank {span(f['rank64_at_5'])} at "
        "step 5."
    )
    return prediction, observed


WORDING = {
    "constant W and b": _constant_words,
    "balanced XOR at ln 2": _xor_words,
    "linear net: rank-1 product": _identity_words,
    "W1's rank, first SGD updates": _first_updates_words,
}


def worded(row) -> dict:
    """An experiment row (``symjax.experiments.controls.Control``: control, holds, bitwise, facts; or its
    dict) as a dict of ``FIELDS``: prediction and observed from ``WORDING[control](facts)``, exactness BITWISE
    or ROUNDING."""
    row = row._asdict() if hasattr(row, "_asdict") else dict(row)
    prediction, observed = WORDING[row["control"]](row["facts"])
    return {
        "control": row["control"],
        "prediction": prediction,
        "observed": observed,
        "holds": bool(row["holds"]),
        "exactness": BITWISE if row["bitwise"] else ROUNDING,
    }


def row_dict(row) -> dict:
    """A row as a plain dict of ``FIELDS``: a stored row (a dict with ``FIELDS``) as it is, an experiment row
    (with
    ``facts``, see ``worded``) worded."""
    row = row._asdict() if hasattr(row, "_asdict") else dict(row)
    return worded(row) if "facts" in row else {field: row[field] for field in FIELDS}


def controls_json(rows: list) -> str:
    """The JSON text of ``rows`` (experiment rows, worded, or stored dicts; starts with ``JSON_HEADER``)."""
    return (
        json.dumps({"kind": KIND, "rows": [row_dict(r) for r in rows]}, indent=2, ensure_ascii=False) + "\n"
    )


def parse_controls(text: str, source: str = "controls JSON") -> list[dict]:
    """The rows of a controls JSON text; SymjaxError saying what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SymjaxError(f"{source} is not valid JSON: {error}") from None
    if (
        not isinstance(data, dict)
        or data.get("kind") != KIND
        or not isinstance(data.get("rows"), list)
        or not data["rows"]
    ):
        raise SymjaxError(
            f'{source} is not a controls file: expected {{"kind": "{KIND}", "rows": [...]}} with at '
            "least one row (`symjax controls` writes it)"
        )
    for index, row in enumerate(data["rows"], start=1):
        wrong = [
            f"{field!r} ({kind.__name__})"
            for field, kind in FIELDS.items()
            if not isinstance(row, dict) or not isinstance(row.get(field), kind)
        ]
        if wrong:
            raise SymjaxError(f"{source}: row {index} needs {', '.join(wrong)}")
        if row["exactness"] not in (BITWISE, ROUNDING):
            raise SymjaxError(
                f"{source}: row {index} has exactness {row['exactness']!r}; allowed: {BITWISE!r}, "
                f"{ROUNDING!r}"
            )
    return [row_dict(r) for r in data["rows"]]


def load_controls(path: Path) -> list[dict]:
    """The rows stored in ``path``; SymjaxError (missing, unreadable, too large, malformed) naming the
    file."""
    try:
        data = read_bytes(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise SymjaxError(f"{path} does not exist: run `symjax controls` first") from None
    except OSError as error:
        raise SymjaxError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SymjaxError(f"{path} is not UTF-8 text") from None
    return parse_controls(text, str(path))


def short_answer(rows: list[dict]) -> str:
    """E.g. ``4 of 4 exact predictions hold (2 bitwise, 2 up to float32 rounding).``"""
    held = [r for r in rows if r["holds"]]
    kinds = [
        f"{sum(r['exactness'] == kind for r in held)} {label}"
        for kind, label in ((BITWISE, "bitwise"), (ROUNDING, ROUNDING))
    ]
    failed = [r["control"] for r in rows if not r["holds"]]
    text = f"{len(held)} of {len(rows)} exact predictions hold ({', '.join(kinds)})."
    return text + (f" Does not hold: {'; '.join(failed)}." if failed else "")


def controls_markdown(rows: list) -> str:
    """The report ``# symjax report: `controls``` of ``rows`` (stored dicts with ``FIELDS``, or experiment
    rows)."""
    rows = [row_dict(r) for r in rows]
    table = pd.DataFrame([{**r, "holds": "yes" if r["holds"] else "**no**"} for r in rows])[list(FIELDS)]
    explained = [
        f"- **{r['control']}**: {EXPLANATIONS[r['control']]}" for r in rows if r["control"] in EXPLANATIONS
    ]
    lines = [
        f"# symjax report: `{NAME}`",
        "",
        (
            "> Controls: tiny networks trained in seconds by symjax's own trainer (`make_train`), in "
            "settings where theory predicts the outcome exactly. A failed control points at the trainer or "
            "at the theory."
        ),
        "",
        f"**Short answer:** {short_answer(rows)}",
        "",
        table.to_markdown(index=False, disable_numparse=True),
        "",
        "## Why each prediction holds",
        "",
        *explained,
        "",
        "## Exact and up to float32 rounding",
        "",
        EXACTNESS,
        "",
        (
            "Regenerate with `symjax controls` (trains the controls, under a minute on a CPU) or `symjax "
            "controls --report-only` (renders this file from `results/controls/controls.json`)."
        ),
        "",
    ]
    return "\n".join(lines)


def write_controls_report(json_path: Path, out: Path) -> Path:
    """Render ``out/controls.md`` from the rows stored in ``json_path`` and refresh ``out/README.md``; returns
    the report's path. SymjaxError (bad JSON, a file symjax did not write in the way) before any file is
    written."""
    rows = load_controls(Path(json_path))
    out = Path(out)
    check_outputs(out, NAME)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{NAME}.md"
    atomic_write_text(path, controls_markdown(rows))
    write_index(out)
    return path
