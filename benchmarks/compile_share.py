"""Compile time as a share of ``sharpen verify --quick`` and ``sharpen reproduce --quick``.

Each command runs as a user runs it (the ``sharpen`` script in a fresh interpreter, a temporary
``--out`` folder), with a ``sitecustomize`` on ``PYTHONPATH`` that, in every Python process of the
run (the command and its spawned workers), registers listeners of ``jax.monitoring`` the moment
``jax._src.monitoring`` is imported, before anything is traced or compiled. They append each
duration of JAX's compile events to a log file (one unbuffered write per event, so workers that end
with ``os._exit`` lose nothing):

* ``/jax/core/compile/jaxpr_trace_duration``: tracing a function to a jaxpr (a ``jit`` inside a
  traced function is traced within its caller's trace, so these spans nest: they are counted as
  the union of each process's intervals);
* ``/jax/core/compile/jaxpr_to_mlir_module_duration``: lowering a jaxpr to StableHLO;
* ``/jax/core/compile/backend_compile_duration``: XLA's compilation (including reads of the
  persistent compilation cache, which ``reproduce`` keeps in ``OUT/.jax_cache``).

The durations are wall time inside each process; the CPU time of the whole run (user + system of
the command and every process it waited for) is read from ``getrusage(RUSAGE_CHILDREN)``.
"""

from __future__ import annotations

import collections
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from . import _harness as H
from .cli import _sharpen

NAME = "compile_share"
TITLE = "Compile time in `sharpen verify --quick` and `sharpen reproduce --quick`"

ROOT = Path(__file__).resolve().parent.parent
LOG_VAR = "SHARPEN_BENCH_COMPILE_LOG"
TRACE = "/jax/core/compile/jaxpr_trace_duration"
LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
COMPILE = "/jax/core/compile/backend_compile_duration"

# Installed as sitecustomize.py in a temporary folder on the children's PYTHONPATH.
SITECUSTOMIZE = f'''
import os
import sys

_LOG = os.environ.get({LOG_VAR!r})
_EVENTS = ({TRACE!r}, {LOWER!r}, {COMPILE!r})

if _LOG:
    import importlib.abc
    import importlib.machinery

    _fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _duration(event, duration, **kwargs):
        if event in _EVENTS:
            os.write(_fd, f"d {{os.getpid()}} {{event}} {{duration!r}}\\n".encode())

    def _span(event, start, end, **kwargs):
        if event in _EVENTS:
            os.write(_fd, f"s {{os.getpid()}} {{event}} {{start!r}} {{end!r}}\\n".encode())

    class _RegisterOnImport(importlib.abc.MetaPathFinder):
        """Registers the listeners right after jax._src.monitoring executes."""

        def find_spec(self, name, path, target=None):
            if name != "jax._src.monitoring":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                module.register_event_duration_secs_listener(_duration)
                module.register_event_time_span_listener(_span)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _RegisterOnImport())
'''


def _union_seconds(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def read_log(path: Path) -> dict:
    """Sums of the logged events: seconds per event (trace as a union of spans), processes."""
    sums: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.defaultdict(int)
    spans: dict[tuple[str, str], list] = collections.defaultdict(list)
    pids = set()
    text = path.read_text() if path.exists() else ""
    for line in text.splitlines():
        kind, pid, event, *vals = line.split()
        pids.add(pid)
        if kind == "d":
            sums[event] += float(vals[0])
            counts[event] += 1
        else:
            spans[(pid, event)].append((float(vals[0]), float(vals[1])))
    trace_union = sum(_union_seconds(v) for (_, e), v in spans.items() if e == TRACE)
    return {
        "trace_s": trace_union,
        "trace_sum_s": sums[TRACE],
        "lower_s": sums[LOWER],
        "compile_s": sums[COMPILE],
        "programs_compiled": counts[COMPILE],
        "processes": len(pids),
    }


def run_command(args: list[str], work: Path, timeout: float = 900.0) -> dict:
    """Runs ``sharpen ARGS`` with the compile-event log; wall, CPU, exit status and event sums."""
    site = work / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = work / f"events-{len(list(work.glob('events-*')))}.log"
    path = os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(":")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=path, **{LOG_VAR: str(log)})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(
        _sharpen() + args, cwd=work, env=env, capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = {
        "command": "sharpen " + " ".join(a if not a.startswith("/") else "OUT" for a in args),
        "exit": proc.returncode,
        "wall_s": wall,
        "cpu_s": cpu,
        "load": (load0, os.getloadavg()[0]),
        # the largest resident set of any process this one has waited for (KiB on Linux)
        "max_rss_bytes": after.ru_maxrss * 1024,
        **read_log(log),
    }
    if proc.returncode != 0:
        out["tail"] = (proc.stdout + proc.stderr)[-2000:]
    return out


def run(quick: bool = False) -> H.Section:
    import jax  # noqa: F401  (skip cleanly when JAX cannot be imported)

    if _sharpen() is None:
        raise ImportError("the `sharpen` script is not installed")
    with tempfile.TemporaryDirectory(prefix="sharpen-compile-") as tmp:
        work = Path(tmp)
        commands = [["verify", "--quick", "--only", "C1"]]
        if not quick:
            commands = [["verify", "--quick"], ["reproduce", "--quick", "--out", str(work / "o")]]
        results = [run_command(c, work) for c in commands]
    rows = []
    for r in results:
        traced = r["trace_s"] + r["lower_s"]
        rows.append(
            [
                f"`{r['command']}`",
                str(r["exit"]),
                H.fmt_s(r["wall_s"]),
                H.fmt_s(r["cpu_s"]),
                str(r["processes"]),
                str(r["programs_compiled"]),
                H.fmt_s(r["compile_s"]),
                H.fmt_s(traced),
                H.fmt_pct(r["compile_s"] / r["cpu_s"]),
                H.fmt_pct(traced / r["cpu_s"]),
                H.fmt_pct((r["compile_s"] + traced) / r["cpu_s"]),
                f"{r['load'][0]:.2f} / {r['load'][1]:.2f}",
            ]
        )
    headers = [
        "command",
        "exit",
        "wall",
        "CPU (all processes)",
        "processes compiling",
        "XLA compiles",
        "XLA compile",
        "trace + lower",
        "compile / CPU",
        "trace + lower / CPU",
        "total / CPU",
        "load start / end",
    ]
    body = (
        "Seconds are summed over the command's processes (it and its workers run side by side, so "
        "they can exceed the wall time); each share divides by the CPU time of all processes "
        "(compile events are wall time within a process, mostly one core busy).\n\n"
        + H.md_table(headers, rows)
    )
    for r in results:
        if r["exit"] != 0:
            body += f"\n\n`{r['command']}` failed:\n\n```\n{r.get('tail', '')}\n```"
    keys = ("compile_s", "trace_s", "lower_s", "cpu_s", "programs_compiled")
    total = {k: sum(r[k] for r in results) for k in keys}
    share = (total["compile_s"] + total["trace_s"] + total["lower_s"]) / total["cpu_s"]
    per_program = total["compile_s"] / max(total["programs_compiled"], 1)
    return H.Section(
        key=NAME,
        title=TITLE,
        compared=(
            "time inside JAX's compile events (tracing, lowering, XLA compilation; "
            "`jax.monitoring` listeners in every process) vs the commands' wall and CPU time"
        ),
        sizes="`--quick` settings"
        + (" (quick: `verify --quick --only C1` alone)" if quick else ""),
        body=body,
        target="informational: how much of the quick commands is compilation",
        met=None,
        explanation=(
            f"Over the commands run here, tracing, lowering and XLA compilation take "
            f"{H.fmt_pct(share)} of the CPU time ({H.fmt_s(total['compile_s'])} in XLA's compiler, "
            f"{H.fmt_s(total['trace_s'] + total['lower_s'])} tracing and lowering). The quick "
            f"settings compile {total['programs_compiled']} programs (XLA takes "
            f"{H.fmt_s(per_program)} per program on average) and run each a few times, so "
            "compiling them is a large part of the work; the command already compiles with "
            "LLVM -O1 and XLA's loop "
            "emitters (`paper_figs.cli.FAST_COMPILE_FLAGS`), and `reproduce` keeps programs that "
            "took a second or more in a persistent cache for reruns. The rest is the "
            "interpreter's and JAX's start-up in each process and the experiments themselves."
        ),
        data={"results": results},
    )
