"""Combines per-section benchmark files (``benchmarks/gpu.sh`` writes one per section) into one.

Usage (from the repository root)::

    python -m benchmarks.combine OUT.md SECTION.md [SECTION.md ...] [--machine machine.txt]

The first file's preamble is kept (with the machine description appended when given), the
summary tables are merged and the sections renumbered in the order given.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_SECTION = re.compile(r"^## (\d+)\. ")


def _split(text: str) -> tuple[list[str], list[str], list[str]]:
    """``(preamble, summary rows, section lines)`` of one BENCHMARKS file."""
    lines = text.splitlines()
    start = lines.index("## Summary")
    first = next(i for i, line in enumerate(lines) if _SECTION.match(line))
    rows = [line for line in lines[start:first] if line.startswith("| ") and line[2:3].isdigit()]
    return lines[:start], rows, lines[first:]


def combine(files: list[Path], machine: str | None = None) -> str:
    preamble: list[str] = []
    summary: list[str] = []
    body: list[str] = []
    for k, path in enumerate(files):
        head, rows, sections = _split(path.read_text())
        if k == 0:
            preamble = head
        for row in rows:
            summary.append(re.sub(r"^\| \d+ \|", f"| {len(summary) + 1} |", row))
        number = len(summary) - len(rows)
        for line in sections:
            m = _SECTION.match(line)
            if m:
                number += 1
                line = f"## {number}. " + line[m.end() :]
            body.append(line)
        body.append("")
    if machine:
        while preamble and not preamble[-1].strip():
            preamble.pop()
        preamble += ["- Machine: " + "; ".join(machine.strip().splitlines()), ""]
    table = ["| # | benchmark | target | met | status |", "|---|---|---|---|---|", *summary]
    return "\n".join([*preamble, "## Summary", "", *table, "", *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.combine", description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--machine", type=Path, default=None, help="a one-line machine file")
    args = parser.parse_args(argv)
    files = [f for f in args.files if f.exists()]
    if not files:
        print("no section files found", file=sys.stderr)
        return 1
    machine = args.machine.read_text() if args.machine and args.machine.exists() else None
    args.out.write_text(combine(files, machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
