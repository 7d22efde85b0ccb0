"""Benchmark 7: two environment settings that change XLA's CPU timings on large tables.

1. Huge pages. On Linux with transparent huge pages in ``madvise`` mode (the default of many
   distributions and of this machine), memory is backed by 2 MiB pages only where the program asks
   for it. numpy asks for its large arrays; XLA's CPU allocator does not, so every fresh output or
   temporary buffer of a jitted call is faulted in 4 KiB at a time. glibc can make ``malloc`` ask
   on XLA's behalf: ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``.
2. XLA's experimental YNNPACK fusion (on by default in this jaxlib) turns a row reduction plus
   the elementwise work that follows it into a library call that writes a full-size temporary
   (e.g. ``logp - max`` as a whole float64 table);
   ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=`` turns it off, and XLA's own loop fusion
   keeps such temporaries out of memory.

The same large jitted calls are timed in child processes with each setting (both are read only at
process start). The ``sharpen`` command and benchmark 1 apply the first (see
``paper_figs.cli.restart_with_huge_pages``); the second is only measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from paper_figs.cli import HUGE_PAGES_TUNABLE as TUNABLE
from paper_figs.cli import transparent_huge_pages_mode

from . import _harness as H

NAME = "xla_env"
TITLE = "Environment: huge pages and XLA's YNNPACK fusion"

ROOT = Path(__file__).resolve().parent.parent
NO_YNN = "--xla_cpu_experimental_ynn_fusion_type="
# column label -> (huge pages via glibc, YNNPACK fusion off)
SETTINGS = {
    "default": (False, False),
    "huge pages": (True, False),
    "YNN fusion off": (False, True),
    "both": (True, True),
}


def _child(args: list[str], huge: bool, no_ynn: bool) -> dict:
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    if huge:
        env["GLIBC_TUNABLES"] = TUNABLE
    flags = env.get("XLA_FLAGS", "").replace(NO_YNN, "").strip()
    env["XLA_FLAGS"] = (flags + " " + NO_YNN).strip() if no_ynn else flags
    return run_child("benchmarks._alloc_child", args, env, timeout=1200)


def run_child(module: str, args: list[str], env: dict[str, str], timeout: float) -> dict:
    """Runs ``python -m MODULE ARGS`` with ``env`` (the repository on its ``PYTHONPATH``) and
    returns the JSON of its ``RESULT`` line; its stderr (progress lines) is passed on."""
    path = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=dict(env, PYTHONPATH=path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    sys.stderr.write(proc.stderr)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"child failed (exit {proc.returncode}): {proc.stderr[-1500:]}")


def run(quick: bool = False) -> H.Section:
    import simulators  # noqa: F401  (skip cleanly when the toolkit cannot be imported)

    args = ["500", "100000", "4", "1", "quick"] if quick else ["10000", "10000000", "256", "3"]
    # The smoke run only checks the mechanism: two settings.
    settings = {k: SETTINGS[k] for k in ("default", "both")} if quick else SETTINGS
    results = {name: _child(args, *flags) for name, flags in settings.items()}
    default = results["default"]
    rows, best_ratio = [], {}
    for label, d in default.items():
        times = {name: results[name][label]["median_s"] for name in settings}
        best_ratio[label] = d["median_s"] / min(times.values())
        rows.append(
            [label]
            + [H.fmt_s(times[name]) for name in settings]
            + [
                H.fmt_ratio(best_ratio[label]),
                H.fmt_bytes(d["xla_temp"]),
                H.fmt_bytes(results[list(settings)[-1]][label]["xla_temp"]),
            ]
        )
    body = (
        "Median time per call (after compilation) in a child process per setting; *huge pages* "
        f"is `GLIBC_TUNABLES={TUNABLE}`, *YNN fusion off* is `XLA_FLAGS={NO_YNN}`.\n\n"
        + H.md_table(
            ["jitted call", *settings, "best speed-up", "XLA temp (default)", "XLA temp (YNN off)"],
            rows,
        )
    )
    ratios = best_ratio
    best = max(ratios, key=ratios.get)
    # Page-fault cost per GiB of fresh output, from the copy row (its only buffer is the output).
    copy = next(iter(default))
    huge = "both" if "both" in results else "huge pages"
    out_gib = 8 * int(args[0]) ** 2 / 2**30
    fault = max(default[copy]["median_s"] - results[huge][copy]["median_s"], 0.0) / out_gib
    mode = transparent_huge_pages_mode() or "unknown"
    return H.Section(
        key=NAME,
        title=TITLE,
        compared=(
            "the same jitted calls in child processes with the default environment, with glibc "
            "asked for huge pages, with XLA's YNNPACK fusion off, and with both"
        ),
        sizes=(
            f"[{args[0]}, {args[0]}] float64 tables"
            + (
                " (quick: two calls only)"
                if quick
                else f"; {int(args[1]):.0e} draws; the SFT sweep of benchmark 4 at {args[2]} seeds"
            )
            + f"; transparent huge pages on this machine: `{mode}`"
        ),
        body=body,
        target="informational: how much of the large-table timings is the environment",
        met=None,
        explanation=(
            "Two effects of XLA's CPU backend, not of the toolkit's code, account for a large part "
            "of the gap between the jitted theory functions and numpy in benchmark 1. Page faults: "
            "with transparent huge pages in `madvise` mode, numpy's large arrays get 2 MiB pages "
            "(numpy calls `madvise(MADV_HUGEPAGE)`), but XLA's fresh output and temporary buffers "
            "are "
            f"faulted in 4 KiB pages on first touch, about {fault:.2f} s per GiB here (the copy "
            "row); the glibc tunable makes `malloc` request huge pages for XLA's large blocks. "
            "Temporaries: the YNNPACK fusion computes a row reduction together with the broadcast "
            "arithmetic after it and writes that as a full float64 table (compare the XLA temp "
            "columns); with it off, XLA's loop fusion streams the table instead. The "
            f"largest effect here is {ratios[best]:.1f}x ({best}). Both are read only when a "
            "process starts. Huge pages speed up every large call and change no result (benchmark "
            "1 compares the outputs bit for bit), so the `sharpen` command restarts itself once "
            "with the tunable set and benchmark 1 measures with it; the README tells library "
            f"users to export `GLIBC_TUNABLES={TUNABLE}`. Turning the YNNPACK fusion off helps "
            "`argmax_set` but slows the calls whose YNNPACK reductions are faster than XLA's own, "
            "so nothing turns it off. Calls with small or reused buffers are unaffected."
        ),
        data={"results": results, "thp_mode": mode},
    )
