"""Benchmark 5: wall time of ``sharpen verify --quick`` and ``sharpen reproduce --quick``.

Each command runs in a subprocess (a fresh interpreter, as a user runs it) in a temporary folder;
the wall time, exit status and the child's peak resident memory (its ``VmHWM``, sampled every
50 ms while it runs) are recorded, against the bare start-up cost of the interpreter importing
the toolkit. ``reproduce`` is resumable, so it is run twice into the same folder: the second run
measures the resume path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import _harness as H

NAME = "cli"
TITLE = "The `sharpen` command: verify and reproduce"

ROOT = Path(__file__).resolve().parent.parent


def _sharpen() -> list[str] | None:
    exe = Path(sys.executable).with_name("sharpen")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("sharpen")
    return [found] if found else None


def _hwm(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _run(cmd: list[str], cwd: str, timeout: float) -> dict:
    """Runs ``cmd``; returns wall seconds, exit status, child peak RSS and the output's tail."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = t0 + timeout
        status, peak = 0, None
        while True:
            # The child's own high-water mark, read while it runs (wait4's ru_maxrss would also
            # count the pages of this process that the fork duplicated before exec).
            hwm = _hwm(proc.pid)
            if hwm is not None:
                peak = max(peak or 0, hwm)
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, _ = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        tail = log.read().decode(errors="replace")[-2000:]
    return {
        "cmd": " ".join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd)),
        "wall_s": wall,
        "rc": proc.returncode,
        "timed_out": wall >= timeout,
        "peak_rss": peak,
        "tail": tail,
    }


def run(quick: bool = False) -> H.Section:
    sharpen = _sharpen()
    if sharpen is None:
        return H.Section(
            key=NAME,
            title=TITLE,
            status="skipped: the `sharpen` console script is not installed",
            target="verify --quick under 2 minutes, reproduce --quick under 3 minutes",
        )
    timeout = 120 if quick else 900
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(
            ("startup", _run([sys.executable, "-c", "import jax, theory, simulators"], tmp, 120))
        )
        results.append(("help", _run([*sharpen, "--help"], tmp, 120)))
        if not quick:
            results.append(
                (
                    "verify",
                    _run([*sharpen, "verify", "--quick", "--json", "claims.json"], tmp, timeout),
                )
            )
            claims_path = Path(tmp) / "claims.json"
            claims = json.loads(claims_path.read_text()) if claims_path.exists() else []
            out = str(Path(tmp) / "results")
            results.append(
                ("reproduce", _run([*sharpen, "reproduce", "--quick", "--out", out], tmp, timeout))
            )
            results.append(
                (
                    "reproduce_resume",
                    _run([*sharpen, "reproduce", "--quick", "--out", out], tmp, timeout),
                )
            )
        else:
            claims = []

    labels = {
        "startup": "interpreter + `import jax, theory, simulators` (baseline)",
        "help": "`sharpen --help`",
        "verify": "`sharpen verify --quick`",
        "reproduce": "`sharpen reproduce --quick` (fresh folder)",
        "reproduce_resume": "`sharpen reproduce --quick` again (resumes)",
    }
    rows = [
        [
            labels[k],
            H.fmt_s(r["wall_s"]),
            str(r["rc"]) + (" (timed out)" if r["timed_out"] else ""),
            H.fmt_bytes(r["peak_rss"]),
        ]
        for k, r in results
    ]
    body = H.md_table(["command", "wall time", "exit status", "peak RSS (child)"], rows)
    if claims:
        slow = sorted(claims, key=lambda c: -float(c.get("seconds", 0)))[:5]
        held = sum(bool(c.get("holds")) for c in claims)
        body += (
            f"\n\n`verify --quick`: {held} of {len(claims)} claims hold. Slowest claims:\n\n"
            + H.md_table(
                ["claim", "seconds", "holds"],
                [[c.get("id"), f"{float(c.get('seconds', 0)):.1f}", c.get("holds")] for c in slow],
            )
        )
    failed = [(k, r) for k, r in results if r["rc"] != 0]
    for k, r in failed:
        body += f"\n\n`{labels[k]}` failed; last output:\n\n```\n{r['tail'][-1200:]}\n```"
    by = dict(results)
    met = None
    if not quick:
        met = (
            by["verify"]["rc"] == 0
            and by["verify"]["wall_s"] <= 120
            and by["reproduce"]["rc"] == 0
            and by["reproduce"]["wall_s"] <= 180
        )
    start = by["startup"]["wall_s"]
    if quick:
        explanation = (
            f"The interpreter with JAX and the toolkit imported starts in {H.fmt_s(start)}; "
            f"`sharpen --help` takes {H.fmt_s(by['help']['wall_s'])} because the command imports "
            "its subcommands (and JAX) lazily. The subcommands themselves run in the full "
            "benchmark only."
        )
    else:
        v, r, rr = by["verify"], by["reproduce"], by["reproduce_resume"]
        explanation = (
            f"Start-up (Python + JAX + the toolkit) costs {H.fmt_s(start)} of each command. "
            f"`verify --quick` took {H.fmt_s(v['wall_s'])} against its 2-minute budget and "
            f"`reproduce --quick` {H.fmt_s(r['wall_s'])} against 3 minutes (exit status "
            f"{v['rc']} and {r['rc']}); their time is the claims' and figures' own experiments, "
            "each compiled once per setting group (the slowest claims are listed above). "
            f"Rerunning `reproduce` into the same folder took {H.fmt_s(rr['wall_s'])}: finished "
            "settings are read back from disk instead of recomputed. Times are wall-clock on a "
            "shared machine (see the load average)."
        )
    return H.Section(
        key=NAME,
        title=TITLE,
        explanation=explanation,
        compared=(
            "wall time of the `sharpen` subcommands in a fresh subprocess vs the interpreter's "
            "start-up with the toolkit imported"
        ),
        sizes=(
            "`--quick` settings of each command"
            if not quick
            else "benchmark quick mode: start-up and `sharpen --help` only (the subcommands run "
            "in the full benchmark)"
        ),
        body=body,
        target="`verify --quick` under 2 minutes and `reproduce --quick` under 3 minutes "
        "(the commands' documented budgets on 2 cores), both exiting 0",
        met=met,
        data={k: {kk: vv for kk, vv in r.items() if kk != "tail"} for k, r in results},
    )
