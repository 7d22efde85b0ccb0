"""Runs the toolkit's benchmarks and writes BENCHMARKS.md.

Usage (from the repository root)::

    python -m benchmarks.run                     # every benchmark, full sizes -> BENCHMARKS.md
    python -m benchmarks.run --quick --out /tmp  # small sizes (smoke test) -> /tmp/BENCHMARKS.md
    python -m benchmarks.run --only sampling --only sweep

Every benchmark times the toolkit and its baselines in this one process, so each ratio compares
numbers taken on the same machine under the same load.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

# Benchmarks run in float64, as the toolkit's tests do; this is the benchmark program's own
# configuration, set before any JAX array exists.
import jax

jax.config.update("jax_enable_x64", True)

from . import _harness as H  # noqa: E402

# Order of the sections in BENCHMARKS.md.
BENCHMARKS = (
    "theory_tables",
    "sampling",
    "sequences",
    "sweep",
    "cli",
    "adapter",
    "xla_env",
    "per_sample",
    "compile_share",
    "vllm_backend",
    "ray_executor",
)

ROOT = Path(__file__).resolve().parent.parent


def _title(name: str) -> str:
    try:
        return importlib.import_module(f"benchmarks.{name}").TITLE
    except Exception:
        return name


def run_one(name: str, quick: bool) -> H.Section:
    """Runs one benchmark; a missing dependency gives ``skipped``, a crash ``error``."""
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        section = module.run(quick=quick)
    except ImportError as err:
        section = H.Section(
            key=name,
            title=_title(name),
            status=f"skipped: a component it measures is not available ({err})",
        )
    except Exception as err:  # report, keep going with the other benchmarks
        traceback.print_exc()
        section = H.Section(
            key=name, title=_title(name), status=f"error: {type(err).__name__}: {err}"
        )
    section.seconds = time.perf_counter() - t0
    section.load = (load0, os.getloadavg()[0])
    return section


def render(sections: list[H.Section], quick: bool, total_s: float) -> str:
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        "# Benchmarks",
        "",
        "Speed and memory of the toolkit against the baseline a careful researcher would write, "
        "each measured in the same process (`python -m benchmarks.run"
        + (" --quick" if quick else "")
        + "`, i.e. `make bench`).",
        "",
        "How to read the tables: *compile* is the ahead-of-time tracing + XLA compilation of a "
        "jitted function, timed on its own; *first call* is the first run after it (warm-up); "
        "*median* is the median of the timed repeats that follow, each ended by "
        "`block_until_ready`; *time / reference* divides a row's median by the reference row of "
        "that table; *peak RSS growth* is the growth of the process's resident set during the "
        "repeats (high-water mark reset through `/proc/self/clear_refs`); *XLA temp* is the "
        "temporary-buffer size of the compiled program (its intermediates), from "
        "`Compiled.memory_analysis()`. Each implementation's repeats run back to back; the "
        "adapter's comparisons and the sweep's stage breakdown are timed round-robin (A B A B "
        "...), so that drifts of the shared machine's load hit both "
        "sides alike.",
        "",
        f"Run on {now}, {'quick sizes' if quick else 'full sizes'}, total {H.fmt_s(total_s)}.",
        *H.environment_lines(),
        "- Load: the machine was shared with other work; each section lists the 1-minute load "
        "average at its start and end (2 cores: a load near 2 or above means contention). On "
        "such a machine the same measurement varies between runs by up to about 1.5x (other "
        "jobs, and the memory state that page-fault costs depend on, see benchmark 7); compare "
        "the ratios within a table, whose rows are measured minutes apart.",
        "",
        "## Summary",
        "",
        H.md_table(
            ["#", "benchmark", "target", "met", "status"],
            [
                [
                    i,
                    s.title,
                    s.target or "-",
                    {True: "yes", False: "no", None: "n/a"}[s.met]
                    if s.status.startswith("ok")
                    else "not measured",
                    s.status.split(":")[0],
                ]
                for i, s in enumerate(sections, 1)
            ],
        ),
        "",
    ]
    for i, s in enumerate(sections, 1):
        lines.append(s.to_markdown(i))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "BENCHMARKS.md"),
        help="output markdown file, or a directory to write BENCHMARKS.md into",
    )
    parser.add_argument("--json", default=None, help="also write the raw numbers to this file")
    args = parser.parse_args(argv)

    out = Path(args.out)
    if out.is_dir() or out.suffix.lower() != ".md":
        out = out / "BENCHMARKS.md"
    names = [b for b in BENCHMARKS if not args.only or b in args.only]

    t0 = time.perf_counter()
    sections = []
    for name in names:
        print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
        s = run_one(name, args.quick)
        print(
            f"[benchmarks] {name}: {s.status.splitlines()[0][:200]} ({H.fmt_s(s.seconds)})",
            file=sys.stderr,
            flush=True,
        )
        sections.append(s)
    total = time.perf_counter() - t0

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(sections, args.quick, total))
    print(f"[benchmarks] wrote {out}", file=sys.stderr)
    if args.json:
        raw = [
            {
                "key": s.key,
                "title": s.title,
                "status": s.status,
                "met": s.met,
                "seconds": s.seconds,
                "data": s.data,
            }
            for s in sections
        ]
        Path(args.json).write_text(json.dumps(raw, indent=1, default=str))
    return 1 if any(s.status.startswith("error") for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
