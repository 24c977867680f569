"""The README's section *Your own scheme, data or model*: every shell block runs as written, in a scratch
copy of the repository's examples, with the installed ``symjax`` command, and makes its report."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Your own scheme, data or model"


def _blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_the_section_has_a_block_for_each_of_scheme_data_and_model():
    blocks = _blocks()
    assert len(blocks) >= 3
    assert any(":orthogonal_small/" in b for b in blocks) and all("\nsymjax " not in "\n" + b for b in blocks)
    assert any("--dataset file:" in b for b in blocks)
    assert any("--model examples.resmlp:model" in b for b in blocks)


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_readme_block_runs_as_written(index, tmp_path):
    block = _blocks()[index]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the README's commands call .venv/bin/symjax
    done = subprocess.run(
        ["bash", "-e", "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outs = re.findall(r"symjax report --results \S+ --out (\S+)", block)
    assert outs, "every block ends in a report"
    for out in outs:
        reports = [p for p in (tmp_path / out).glob("*.md") if p.name != "README.md"]
        assert reports and all(p.read_text().startswith("# symjax report: ") for p in reports)
