"""``sharpen verify [--quick] [--json PATH]``: run every numerically checkable claim.

The claims are THEORY.md section 6's fourteen checks, each an executable comparison of a measurement
against the theorem it cites (``bounds.CLAIMS``). The JSON output is a list of objects with keys
``id``, ``title``, ``reference``, ``holds``, ``measured``, ``predicted``, ``seconds``.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small settings (under 2 minutes)")
    parser.add_argument("--json", metavar="PATH", help="write the results as a JSON list")
    parser.add_argument(
        "--only", nargs="+", metavar="ID", help="run only these claim ids (e.g. C1 C4)"
    )


def format_table(results) -> str:
    """A fixed-width text table of claim results."""
    rows = [("id", "holds", "seconds", "reference", "measured", "predicted")]
    for r in results:
        rows.append(
            (
                r.id,
                "yes" if r.holds else "NO",
                f"{r.seconds:.1f}",
                r.reference,
                r.measured,
                r.predicted,
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from bounds import run_claims

    results = run_claims(quick=args.quick, ids=args.only, progress=True)
    print(format_table(results))
    held = sum(r.holds for r in results)
    print(f"\n{held} of {len(results)} claims hold")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.to_json() for r in results], f, indent=2)
    return 0 if held == len(results) else 1
