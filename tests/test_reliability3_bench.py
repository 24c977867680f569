"""Reliability III (issue 27) on benchmark JSON: a compared ratio that is no finite number fails
``bench-compare`` (item 7), an integer too large for a float is one line naming its field (item 11), and every
string of the JSON is text in ``bench.md`` (item 9)."""

from __future__ import annotations

import json
import re

import pytest
from helpers import bench_json
from hypothesis import given, settings
from hypothesis import strategies as st

from symjax.cli import main
from symjax.report.bench import _code, compare_bench, load_bench, write_bench_report
from symjax.report.format import text as _text

HOSTILE = "2025 <script>alert(1)</script> | `x` [a](http:evil) *b* _c_ ~~d~~ &lt;\n# heading\r\\"
SPECIALS = "\\`*[]<>|&~"


def _write(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def _side_by_side(data: dict) -> dict:
    return next(b["extra_info"] for b in data["benchmarks"] if b["extra_info"]["kind"] == "side_by_side")


def _error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("symjax: error: ")
    return err


@pytest.fixture
def baseline(tmp_path):
    return _write(tmp_path / "baseline.json", bench_json())


# item 7: a compared ratio that is no finite number


@pytest.mark.parametrize(
    "value, shown",
    [
        ("skipped", '"skipped"'),
        (True, "true"),
        (False, "false"),
        ([2.5], "[2.5]"),
        ({"vmap": 2.5}, '{"vmap": 2.5}'),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
    ],
)
def test_bench_compare_refuses_a_ratio_that_is_no_finite_number(tmp_path, baseline, capsys, value, shown):
    data = bench_json()
    _side_by_side(data)["speedup_vmap_over_loop"] = value
    current = _write(tmp_path / "current.json", data)
    assert main(["bench-compare", current, "--baseline", baseline]) == 2
    err = _error_line(capsys)
    assert current in err and "N=64" in err and f"speedup_vmap_over_loop is {shown};" in err
    assert "allowed: a finite number, or null when not measured" in err


def test_bench_compare_refuses_such_a_ratio_in_the_baseline_too(tmp_path, capsys):
    data = bench_json()
    _side_by_side(data)["percent_of_gemm_peak"] = "x" * 100
    bad = _write(tmp_path / "baseline.json", data)
    assert main(["bench-compare", _write(tmp_path / "c.json", bench_json()), "--baseline", bad]) == 2
    err = _error_line(capsys)
    assert bad in err and f'percent_of_gemm_peak is "{"x" * 38}…;' in err
    with pytest.raises(ValueError, match="percent_of_gemm_peak"):
        compare_bench(tmp_path / "c.json", bad)


def test_bench_compare_still_skips_a_ratio_not_measured(tmp_path, baseline, capsys):
    data = bench_json()
    _side_by_side(data)["speedup_vmap_over_loop"] = None
    _side_by_side(data)["speedup_vmap_over_loop_devices"] = 10**300  # a large number that is a float
    assert main(["bench-compare", _write(tmp_path / "c.json", data), "--baseline", baseline]) == 0
    out = capsys.readouterr().out
    assert "N=64 speedup_vmap_over_loop: skipped (not measured in the current)" in out
    assert "N=64 speedup_vmap_over_loop_devices: baseline 1.60×" in out


# item 11: an integer too large for a float


def _with_long_int(data: dict, where: str, digits: str) -> str:
    """``data`` as JSON text with one field (a ``where`` key of the side-by-side test) set to ``digits``."""
    marker = "__LONG_INT__"
    info = _side_by_side(data)
    if where == "stats":
        next(b for b in data["benchmarks"] if b["extra_info"] is info)["stats"]["rounds"] = marker
    else:
        info[where] = marker
    return json.dumps(data).replace(f'"{marker}"', digits)


@pytest.mark.parametrize(
    "where, digits, field",
    [
        ("speedup_vmap_over_loop", "1" + "0" * 400, "extra_info.speedup_vmap_over_loop"),
        ("gemm_gflop_per_s", "-" + "9" * 401, "extra_info.gemm_gflop_per_s"),
        ("n_runs", "2" + "0" * 308, "extra_info.n_runs"),  # 309 digits, above 1.8e308
        ("stats", "7" * 5000, "stats.rounds"),  # beyond Python's 4300 digits for int()
        ("my key", "1" * 401, 'extra_info."my key"'),
    ],
)
def test_an_integer_too_large_for_a_float_is_one_line_naming_file_and_field(
    tmp_path, baseline, capsys, where, digits, field
):
    path = tmp_path / "big.json"
    path.write_text(_with_long_int(bench_json(), where, digits))
    index = next(i for i, b in enumerate(bench_json()["benchmarks"]) if b["name"] == "test_side_by_side")
    expected = (
        f"{path}: benchmarks[{index}].{field} is an integer too large for a float; allowed: numbers within "
        "±1.8e308"
    )
    assert main(["bench-compare", str(path), "--baseline", baseline]) == 2
    assert _error_line(capsys) == f"symjax: error: {expected}\n"
    out = tmp_path / "reports"
    assert main(["report", "--bench", str(path), "--bench-only", "--out", str(out)]) == 2
    assert _error_line(capsys) == f"symjax: error: {expected}\n"
    assert not out.exists()


def test_an_integer_at_the_top_level_is_named_too(tmp_path):
    path = tmp_path / "top.json"
    path.write_text("1" * 400)
    with pytest.raises(ValueError, match="top.json: the top level is an integer too large for a float"):
        load_bench(path)


# item 9: every string of the benchmark JSON is text in bench.md


def _hostile_json() -> dict:
    data = bench_json()
    data.update(datetime=HOSTILE, version="5 <b>|</b>")
    data["machine_info"]["cpu"]["brand_raw"] = "CPU | <img src=x>"
    data["commit_info"].update(id="`a`<i>|b", branch="[main](http:evil)")
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        bench["name"] = "test ``x`` <u>"
        info["backend"] = "cpu|<s>"
        if info["kind"] == "train" and info["impl"] == "bare":
            info["impl"] = "a|b <em>_c_"
        if info["kind"] == "gemm":
            info["shape"] = "2048 | *x*"
    for rates in (_side_by_side(data)["run_steps_per_s"], _side_by_side(data)["gflop_per_s"]):
        rates["a|b <em>_c_"] = rates.pop("bare")
    return data


def _unescaped(line: str) -> str:
    """``line`` without its code spans and backslash escapes: the characters markdown reads as markup."""
    line = re.sub(r"(`+)(.+?)(?<!`)\1(?!`)", "", line)
    return re.sub(r"\\.", "", line)


def _cells(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_bench_md_keeps_every_json_string_text(tmp_path):
    md = write_bench_report(_write(tmp_path / "x <y>.json", _hostile_json()), tmp_path / "out").read_text()
    assert not any(line.startswith("# heading") for line in md.splitlines())
    taken = next(line for line in md.splitlines() if line.startswith("- taken: "))
    assert taken == (
        r"- taken: 2025 \<script\>alert(1)\</script\> \| \`x\` \[a\](http:evil) \*b\* \_c\_ \~\~d\~\~ \&lt;"
        r" # heading \\"
    )
    assert "- commit: `` `a`<i>|b ``" in md and r"on \[main\](http:evil)" in md
    assert "Timings from `x <y>.json` (pytest-benchmark 5 \\<b\\>\\|\\</b\\>)" in md
    assert "- Note: ```test ``x`` <u>``` was taken" in md
    assert r"GEMM probe (f32, 2048 \| \*x\*)" in md
    for line in md.splitlines():
        assert not set(_unescaped(line)) & set("<>[]~&`"), line  # * and _: bench.md's own emphasis
        if not line.startswith("|"):
            assert "|" not in _unescaped(line), line
    tables = re.findall(r"(?:^\|.*\n)+", md, flags=re.M)
    assert len(tables) >= 4
    for table in tables:
        rows = table.splitlines()
        assert {_cells(row) for row in rows} == {_cells(rows[0])}, table


def test_bench_md_of_odd_machine_and_commit_objects(tmp_path):
    data = bench_json()
    data.update(machine_info="a string", commit_info={"id": 1234567890123456, "branch": ["x"]})
    md = write_bench_report(_write(tmp_path / "b.json", data), tmp_path).read_text()
    assert "- CPU: unknown" in md and "- commit: `123456789012` on \\['x'\\]" in md


@pytest.mark.parametrize("field", ["impl", "backend"])
def test_an_impl_or_backend_that_is_no_string_is_refused(tmp_path, field):
    data = bench_json()
    data["benchmarks"][1]["extra_info"][field] = ["vmap"]
    with pytest.raises(ValueError, match=f"extra_info {field} must be strings"):
        load_bench(_write(tmp_path / "b.json", data))


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_text_is_the_string_with_no_markup_left(text):
    escaped = _text(text)
    flat = re.sub(r"[\x00-\x1f\x7f\x85\u2028\u2029]", " ", text)
    assert "\n" not in escaped and "\r" not in escaped and _unescape(escaped) == flat
    bare = re.sub(r"\\.", "\0", escaped)
    assert not set(bare) & set(SPECIALS)
    assert not re.search(r"(?<![^\W_])_|_(?![^\W_])", bare.replace("\0", " "))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("`a <|\\\n")))
def test_code_is_one_span_holding_the_string(text):
    span = _code(text)
    fence = re.match("`+", span).group()
    inner = span[len(fence) : -len(fence)]
    assert span.endswith(fence) and "\n" not in span
    assert all(len(run) != len(fence) for run in re.findall("`+", inner))
    flat = text.replace("\n", " ")
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip(" "):
        inner = inner[1:-1]  # CommonMark strips one space on each side
    assert inner == flat or not flat
