"""``symjax bench-ab``: the statistics, bad input, and A/B runs on a throwaway git repository.

The end-to-end tests build a tiny repository whose ``bench/workload.py`` has the same entry as
the real one (``Workload().vmap_fn(n)``, ``STEPS``, ``SIDE_BY_SIDE_N``, ``QUICK``) and a cheap
workload (a small numpy product and a sleep set in the committed code), so they take seconds.
``test_real_repository_quick_aa`` runs the real quick workload (~1 min) on this checkout.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from symjax.abtest import abba
from symjax.abtest.abba import compare, ratio_ci, verdict
from symjax.cli import main

WORKLOAD = """import os, time
import numpy as np
QUICK = os.environ.get("SYMJAX_BENCH_QUICK", "") not in ("", "0")
STEPS = 5 if QUICK else 10
SIDE_BY_SIDE_N = 4
DELAY = {delay}


class Workload:
    def vmap_fn(self, n):
        x = np.ones((32, 32))

        def train():
            for _ in range(STEPS):
                x @ x
            time.sleep(DELAY)
        train()
        return train
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git repository with commits tagged base (20 ms per call), slow (60 ms), fast (10 ms) and no-entry."""
    root = tmp_path_factory.mktemp("abrepo")
    git(root, "init", "-q")
    (root / "bench").mkdir()
    for tag, delay in (("base", 0.02), ("slow", 0.06), ("fast", 0.01)):
        (root / "bench" / "workload.py").write_text(WORKLOAD.format(delay=delay))
        git(root, "add", "bench/workload.py")
        git(root, "commit", "-q", "-m", tag)
        git(root, "tag", tag)
    git(root, "rm", "-q", "bench/workload.py")
    git(root, "commit", "-q", "-m", "no entry")
    git(root, "tag", "no-entry")
    git(root, "checkout", "-q", "base")
    return root


@pytest.fixture
def tmpdir_checked(tmp_path, monkeypatch):
    """bench-ab's temporary folders go to a fresh folder, which must be empty afterwards."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == []


def ab(capsys, monkeypatch, where: Path, *args: str):
    monkeypatch.chdir(where)
    code = main(["bench-ab", *args])
    out, err = capsys.readouterr()
    return code, out, err


def lognormal(rng, ratio: float, sigma: float):
    """A sampler: side 0 takes ~1 s, side 1 ~ratio s, each with multiplicative noise exp(N(0, sigma))."""
    return lambda side: (ratio if side else 1.0) * float(np.exp(rng.normal(0, sigma)))


def test_ratio_ci_finds_the_ratio_and_is_seeded():
    rng = np.random.default_rng(1)
    base = np.exp(rng.normal(0, 0.05, 30))
    head = 1.2 * base * np.exp(rng.normal(0, 0.05, 30))
    ratio, low, high = ratio_ci(base, head)
    assert low < 1.2 < high and 1.1 < low and high < 1.3
    assert abs(ratio - np.exp(np.mean(np.log(head / base)))) < 1e-12
    assert ratio_ci(base, head) == (ratio, low, high)
    assert ratio_ci(base, head, seed=1) != (ratio, low, high)


def test_ratio_ci_narrows_with_more_pairs():
    rng = np.random.default_rng(2)
    widths = []
    for n in (6, 60):
        base = np.exp(rng.normal(0, 0.1, n))
        head = base * np.exp(rng.normal(0, 0.1, n))
        _, low, high = ratio_ci(base, head)
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (1.15, 1.3, "regression"),
        (0.9, 1.05, "ok"),
        (0.5, 0.8, "ok"),
        (1.0, 1.1, "ok"),
        (1.05, 1.2, "inconclusive"),
        (0.9, 1.3, "inconclusive"),
        (1.1, 1.2, "inconclusive"),
    ],
)
def test_verdict(low, high, expected):
    assert verdict(low, high, 0.10) == expected


def test_compare_samples_abba_and_stops_when_clear():
    sides = []
    sampler = lognormal(np.random.default_rng(3), 2.0, 0.02)
    base, head, (ratio, low, high), outcome = compare(
        lambda s: sides.append(s) or sampler(s), 0.10, 40, start_blocks=3
    )
    assert sides == [0, 1, 1, 0] * 3 and len(base) == len(head) == 6
    assert outcome == "regression" and 1.9 < low < ratio < high < 2.1


def test_compare_adds_pairs_while_straddling_then_decides():
    """The first 3 blocks' head/base ratios swing between 0.9 and 1.8 (the CI straddles 1.1), the later ones
    are 1.3."""
    heads = iter([0.9, 1.8] * 3 + [1.3] * 100)
    base, head, (_, low, _), outcome = compare(
        lambda side: next(heads) if side else 1.0, 0.10, 40, start_blocks=3
    )
    assert verdict(*ratio_ci(base[:6], head[:6])[1:], 0.10) == "inconclusive"
    assert 6 < len(base) < 40 and outcome == "regression" and low > 1.1


def test_compare_inconclusive_at_the_cap():
    base, _, (_, low, high), outcome = compare(
        lognormal(np.random.default_rng(5), 1.1, 0.3), 0.10, 20, start_blocks=3
    )
    assert outcome == "inconclusive" and len(base) == 20 and low <= 1.1 < high


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuchrev"], "unknown revision 'nosuchrev'"),
        (["base", "nosuchrev"], "unknown revision 'nosuchrev'"),
        (["no-entry", "base"], "has no bench/workload.py"),
        (["base", "--tolerance", "-0.1"], "--tolerance"),
        (["base", "--tolerance", "nan"], "--tolerance"),
        (["base", "--tolerance", "x"], "--tolerance"),
        (["base", "--max-pairs", "1"], "--max-pairs"),
        (["base", "--max-pairs", "2.5"], "--max-pairs"),
    ],
)
def test_bad_input_one_line_exit_2(repo, tmpdir_checked, capsys, monkeypatch, args, message):
    code, out, err = ab(capsys, monkeypatch, repo, *args)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1
    assert git(repo, "worktree", "list").count("\n") == 0 and git(repo, "status", "--porcelain") == ""


def test_not_a_git_repository(tmp_path, tmpdir_checked, capsys, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    (tmp_path / "plain").mkdir()
    code, out, err = ab(capsys, monkeypatch, tmp_path / "plain", "HEAD")
    assert code == 2 and "not a git repository" in err and len(err.strip().splitlines()) == 1


def test_revision_whose_workload_fails(repo, tmp_path, tmpdir_checked, capsys, monkeypatch):
    """A revision whose entry cannot be built: one line naming it, exit 2, nothing left behind."""
    broken = tmp_path / "broken"
    subprocess.run(["git", "clone", "-q", str(repo), str(broken)], check=True)
    (broken / "bench" / "workload.py").write_text("STEPS = 1\n")
    git(broken, "commit", "-q", "-am", "no Workload")
    code, out, err = ab(capsys, monkeypatch, broken, "base", "--quick")
    assert code == 2 and "head" in err and "AttributeError" in err and len(err.strip().splitlines()) == 1


def test_worker_that_never_answers(repo, tmp_path, tmpdir_checked, capsys, monkeypatch):
    """A workload that hangs: one line after the timeout, exit 2, its worker killed, nothing left behind."""
    hung = tmp_path / "hung"
    subprocess.run(["git", "clone", "-q", str(repo), str(hung)], check=True)
    path = hung / "bench" / "workload.py"
    path.write_text(path.read_text().replace("        train()\n", "        time.sleep(600)\n"))
    git(hung, "commit", "-q", "-am", "hangs")
    monkeypatch.setattr(abba, "WORKER_TIMEOUT", 3)
    code, out, err = ab(capsys, monkeypatch, hung, "base", "--quick")
    assert code == 2 and "no answer from its worker in 3 s" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "head, expected_code, expected",
    [
        (None, 0, "| ok |"),  # A/A: the checked-out commit (base) against base
        ("slow", 1, "**regression**"),
        ("fast", 0, "| ok |"),
    ],
)
def test_end_to_end(repo, tmp_path, tmpdir_checked, capsys, monkeypatch, head, expected_code, expected):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, err = ab(capsys, monkeypatch, repo, "base", *([head] if head else []), "--quick")
    assert code == expected_code, out + err
    assert expected in out and "4 runs x 5 steps per call" in out  # --quick reached the workload
    assert out.split("\n\n")[0] in summary.read_text()
    assert git(repo, "status", "--porcelain") == ""


def test_real_repository_quick_aa(tmpdir_checked, capsys, monkeypatch):
    """SLOW (~1 min): the real quick workload, this checkout's HEAD against itself, must not be a
    regression."""
    root = Path(__file__).resolve().parents[1]
    if (
        subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD:bench/workload.py"], cwd=root, capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("not a git checkout with bench/workload.py")
    # tolerance 0.25: the suite's other worker loads the machine meanwhile; A/A tightness is
    # bench/ab_false_alarm.py's job
    code, out, err = ab(
        capsys, monkeypatch, root, "HEAD", "--quick", "--max-pairs", "12", "--tolerance", "0.25"
    )
    assert code == 0, out + err
    assert "16 runs x 40 steps per call" in out
