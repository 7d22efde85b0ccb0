"""Smoke test of the benchmarks: ``python -m benchmarks.run --quick`` writes every section.

Speed itself is measured by the benchmarks (ratios against baselines timed in the same process),
never by timed tests; this only checks that every benchmark runs at its quick sizes and reports
what it compared, its sizes, target, verdict and explanation.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Runs every benchmark at its quick sizes in a subprocess (about two minutes on 2 cores): kept out
# of the default run; `make test-slow` runs it.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SECTION_FIELDS = ("**Compared:**", "**Sizes:**", "**Target:**", "**Met:**", "**Status:**")


def _expected_titles() -> list[str]:
    sys.path.insert(0, str(ROOT))
    try:
        import importlib

        run = importlib.import_module("benchmarks.run")
        return [importlib.import_module(f"benchmarks.{n}").TITLE for n in run.BENCHMARKS]
    finally:
        sys.path.remove(str(ROOT))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # the quick run takes well under a minute on an idle 2-core machine
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    path = out / "BENCHMARKS.md"
    assert path.exists(), proc.stderr[-2000:]
    return path.read_text()


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## \d+\. ", text, flags=re.M)[1:]
    return {p.splitlines()[0].strip(): p for p in parts}


def test_every_benchmark_has_a_section(report):
    titles = _expected_titles()
    sections = _sections(report)
    assert list(sections) == titles


def test_sections_are_complete(report):
    for title, body in _sections(report).items():
        for field in SECTION_FIELDS:
            assert field in body, f"section {title!r} lacks {field}"
        assert "**Explanation.**" in body, title
        status = re.search(r"\*\*Status:\*\* (\S+)", body).group(1)
        assert not status.startswith("error"), f"{title}: {status}"
        if status.startswith("ok"):
            # a measured section carries at least one markdown table with numbers
            assert re.search(r"^\|.*\|$", body, flags=re.M), f"{title} has no table"


def test_core_sections_were_measured(report):
    """The JAX benchmarks need no optional extra, so they must run, not be skipped."""
    sections = _sections(report)
    for title in _expected_titles()[:4]:
        assert "**Status:** ok" in sections[title], title


def test_summary_lists_every_benchmark(report):
    summary = report.split("## Summary", 1)[1].split("\n## ", 1)[0]
    for title in _expected_titles():
        assert title in summary
