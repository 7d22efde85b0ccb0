"""Benchmark: ``sharpen reproduce`` on a two-process local Ray cluster vs local processes.

A Ray head node with two CPUs is started by ``ray start --head --num-cpus 2`` (two worker
processes, one CPU per task), as a user starts one; the same ``sharpen reproduce`` then runs, each
into a fresh folder, with one local worker process (``--serial``), with the default two local
worker processes, and with ``--executor ray --address`` that cluster. Each command runs in a
subprocess (as :mod:`benchmarks.cli` runs them); the CSVs of the three runs are compared byte for
byte. The overhead per task is measured apart, on no-op units (``os:getpid``): the wall time of
``N`` of them through the Ray runner and through two local worker processes, divided by ``N``, once
the workers are up. The Ray runner is an internal stage of ``paper_figs`` (timed on purpose).

The full ``sharpen reproduce`` (every figure's full sweep and the claims in full mode) takes hours
on two shared cores, so the full-size run here is a documented subset: the full settings of the
figures in :data:`FULL_FIGURES`, without the claims (``--no-claims``); the quick run is two cheap
figures at their quick settings.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import _harness as H
from .cli import _run, _sharpen

NAME = "ray_executor"
TITLE = "`sharpen reproduce` on a two-process local Ray cluster"

# The full-size subset: the full SWEEP of these figures (no claims).
FULL_FIGURES = (
    "fig_lower_bound",
    "fig_tilt",
    "fig_bon",
    "fig_loglik_by_correctness",
    "fig_nonclosure",
)
QUICK_FIGURES = ("fig_lower_bound", "fig_tilt")
NOOP_UNITS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_head(num_cpus: int, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """``ray start --head --block`` in its own session; returns it and its address, listening."""
    port = _free_port()
    head = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            f"--port={port}",
            f"--num-cpus={num_cpus}",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--block",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return head, f"127.0.0.1:{port}"
        except OSError:
            if head.poll() is not None or time.monotonic() > deadline:
                _stop_head(head)
                raise RuntimeError("`ray start --head` did not come up") from None
            time.sleep(0.2)


def _stop_head(head: subprocess.Popen) -> None:
    head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)


def _csvs(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("data/**/*.csv"))
    }


def _per_task_overhead(address: str) -> dict[str, float]:
    """Seconds per no-op unit through two local worker processes and through Ray, workers up."""
    import simulators
    from paper_figs._runner import RayRunner, Unit, WorkerRunner

    units = [[Unit(f"noop {i}", "os:getpid")] for i in range(NOOP_UNITS)]
    out = {}
    local = WorkerRunner(2)
    try:
        local.run(units[:2], keep_workers=True)  # the workers start
        t0 = time.perf_counter()
        local.run(units, keep_workers=True)
        out["local"] = (time.perf_counter() - t0) / NOOP_UNITS
    finally:
        local.close()
    ray_runner = RayRunner(simulators.RayExecutor(address=address))
    try:
        ray_runner.run(units[:4])  # the connection, the workers and their imports
        t0 = time.perf_counter()
        ray_runner.run(units)
        out["ray"] = (time.perf_counter() - t0) / NOOP_UNITS
    finally:
        ray_runner.close()
    return out


def run(quick: bool = False) -> H.Section:
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # reported skipped
        raise ImportError("Ray is not installed (the toolkit's 'ray' extra)")
    sharpen = _sharpen()
    target = (
        "informational: the Ray run's CSVs byte-identical to the local runs'; its wall time "
        "and overhead per task beside two local worker processes on the same 2 CPUs"
    )
    if sharpen is None:
        return H.Section(
            key=NAME, title=TITLE, status="skipped: no `sharpen` script", target=target
        )
    figures = QUICK_FIGURES if quick else FULL_FIGURES
    base = ["reproduce", "--no-claims", "--no-progress", "--only", *figures]
    if quick:
        base.append("--quick")
    timeout = 900 if quick else 5400
    # The cluster authenticates with Ray's token; Ray reads the mode when it is first imported.
    env = dict(os.environ, RAY_AUTH_MODE="token")
    old_auth = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "token"  # this process and the commands it starts
    head, address = _start_head(2, env)
    rows, data = [], {"figures": list(figures), "runs": {}}
    try:
        overhead = _per_task_overhead(address)
        with tempfile.TemporaryDirectory() as tmp:
            runs = {
                "`--serial` (one local worker process)": ["--serial"],
                "default (two local worker processes)": [],
                "`--executor ray --address` (2-CPU cluster, 1 CPU per task)": [
                    "--executor",
                    "ray",
                    "--address",
                    address,
                ],
            }
            outputs = {}
            for i, (label, extra) in enumerate(runs.items()):
                out = Path(tmp) / f"run{i}"
                r = _run([*sharpen, *base, "--out", str(out), *extra], tmp, timeout)
                outputs[label] = _csvs(out)
                data["runs"][label] = {k: r[k] for k in ("wall_s", "rc", "timed_out")}
                rows.append([label, H.fmt_s(r["wall_s"]), r["rc"], len(outputs[label])])
    finally:
        _stop_head(head)
        if old_auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old_auth
    labels = list(runs)
    serial, local2, on_ray = (data["runs"][k]["wall_s"] for k in labels)
    identical = all(outputs[k] == outputs[labels[0]] for k in labels) and bool(outputs[labels[0]])
    for row, k in zip(rows, labels, strict=True):
        row.append(H.fmt_ratio(data["runs"][k]["wall_s"] / serial))
    units = len(outputs[labels[0]]) + len(figures)  # settings and plots
    data |= {"identical": identical, "overhead_s": overhead, "units": units}
    body = "\n".join(
        [
            H.md_table(["run", "wall time", "exit", "CSVs", "time / serial"], rows),
            "",
            f"CSVs of the three runs byte-identical: **{'yes' if identical else 'NO'}** "
            f"({len(outputs[labels[0]])} settings).",
            "",
            H.md_table(
                ["runner (workers already up)", "overhead per task"],
                [
                    ["two local worker processes (pipes)", H.fmt_s(overhead["local"])],
                    ["Ray tasks (2-CPU cluster)", H.fmt_s(overhead["ray"])],
                ],
            ),
        ]
    )
    what = "quick settings of" if quick else "the full settings (`SWEEP`) of"
    return H.Section(
        key=NAME,
        title=TITLE,
        compared="`sharpen reproduce` with one and two local worker processes vs one Ray task "
        "per unit on a `ray start --head --num-cpus 2` cluster on the same machine; no-op units "
        "through both runners for the overhead per task",
        sizes=f"{what} {', '.join(figures)} (`--no-claims`; {units} units: settings and plots); "
        f"{NOOP_UNITS} no-op units",
        body=body,
        target=target,
        met=identical,
        explanation=(
            f"The Ray run took {H.fmt_ratio(on_ray / serial)} the wall time of one local worker "
            f"process and {H.fmt_ratio(on_ray / local2)} that of two, on the same two CPUs "
            f"({(on_ray - local2) / units:+.2f} s per unit against two local workers). What Ray "
            f"itself adds is the hand-off: {H.fmt_s(overhead['ray'])} per task against "
            f"{H.fmt_s(overhead['local'])} through a local pipe (no-op units, workers up), "
            "negligible beside settings that take seconds; besides, Ray's workers start when the "
            "first tasks arrive, and a task goes to whichever worker is free, where a local "
            "worker runs all of a figure's settings and shares their compiled programs (in a "
            "short run these start-up costs show). On a machine shared with other jobs (see the "
            "load average) one command's wall time varies between runs by up to about 1.5x, so "
            "only larger ratios here are the executor's. The results are the same bytes."
        ),
        data=data,
    )
