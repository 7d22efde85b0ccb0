"""Regression test for the XLA CPU deadlock that hung ``sharpen verify`` (full) at fa9eff2.

Root cause (native stacks from ``gdb -p`` on the hung process, jaxlib 0.10.2, 2 cores): two
threads of XLA's intra-op pool sat in ``jax::ParallelBatchMap`` -> ``BlockingCounter::Wait``
inside ``lapack_dsyevd_ffi`` (the batched ``eigh`` of ``simulators._classes._ball_least_squares``,
vmapped over seeds and XPO's alphas), called from ``xla::cpu::CustomCallThunk::Execute`` on pool
workers; the executable's thread waited in ``CpuPjRtRawLoadedExecutable::Execute``; every other
pool thread slept in ``Eigen::ThreadPoolTempl::WaitForWork``; Python's main thread waited in
``block_until_ready``. The program below (two independent batched ``eigh`` in a loop) is the
reduction: with ``jnp.linalg.eigh`` it hung in 5 of 5 runs at batch 512 (4 of 5 with
``--xla_cpu_multi_thread_eigen=false``), never at batch 128.

A first cure, ``jax.custom_batching.sequential_vmap`` (a loop of single-matrix LAPACK calls),
only made it rarer: it hung in a clean-clone test run, and in the first of 12 runs of a loop,
with the same two stacks (a single-matrix call still enters ``ParallelBatchMap``). The toolkit
now computes these on the host (:mod:`simulators._linalg`: ``jax.pure_callback`` into
``numpy.linalg``), which never enters XLA's pool: 0 hangs in 72 runs of this program (4 s
each, against 58 s to the hang before) and in the C9 loop.

A hang is detected by the child's CPU time not moving (a slow machine is not a hang).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

PROGRAM = """
import sys
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
if sys.argv[1] == "toolkit":
    from simulators._linalg import eigh
else:
    eigh = jnp.linalg.eigh

@jax.jit
def f(a, b):
    def body(_, carry):  # two independent batched eigh: XLA may run them concurrently
        a, b = carry
        la, qa = eigh(a)
        lb, qb = eigh(b)
        a = a + 1e-3 * jnp.einsum("...ij,...j,...kj->...ik", qa, la, qa)
        b = b + 1e-3 * jnp.einsum("...ij,...j,...kj->...ik", qb, lb, qb)
        return a, b
    return jax.lax.fori_loop(0, 30, body, (a, b))

x = jax.random.normal(jax.random.PRNGKey(0), (512, 12, 12))
a = x @ jnp.swapaxes(x, -1, -2)
for _ in range(2):
    jax.block_until_ready(f(a, a + 1.0))
print("finished")
"""


def _cpu_ticks(pid: int) -> int:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _run(which: str, stall_s: float, cap_s: float = 600.0) -> str:
    """Runs PROGRAM in a child; returns "finished", "hang" (CPU time frozen for ``stall_s``)
    or raises on a crash or on ``cap_s``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, which],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    start, last, since = time.monotonic(), -1, time.monotonic()
    try:
        while proc.poll() is None:
            time.sleep(0.5)
            try:
                ticks = _cpu_ticks(proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            now = time.monotonic()
            if ticks != last:
                last, since = ticks, now
            elif now - since > stall_s:
                return "hang"
            if now - start > cap_s:
                raise AssertionError(f"{which}: still running after {cap_s} s")
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0]
    assert proc.returncode == 0, out[-2000:]
    assert "finished" in out
    return "finished"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for CPU time")
def test_concurrent_batched_eigh_through_the_toolkit_finishes():
    assert _run("toolkit", stall_s=30.0) == "finished"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for CPU time")
def test_raw_batched_eigh_still_deadlocks_in_this_jaxlib():
    """Documents the upstream bug: if this fails, jaxlib no longer deadlocks and the sequential
    batching in ``simulators._linalg`` could be reconsidered (keep the test above either way)."""
    outcomes = [_run("raw", stall_s=15.0) for _ in range(3)]
    assert "hang" in outcomes, outcomes


def test_library_calls_lapack_only_through_simulators_linalg():
    """Batched LAPACK calls are the program shape that deadlocks: the library reaches LAPACK
    only through ``simulators._linalg``, whose functions batch sequentially."""
    lapack = re.compile(
        r"(jnp|jax\.numpy)\.linalg\.(eigh|eigvalsh|eig|svd|lstsq|solve|inv|pinv|cholesky|qr|"
        r"det|slogdet|matrix_rank)\b|jax\.scipy\.linalg|lax\.linalg|jax\.lax\.linalg"
    )
    offenders = []
    for package in ("theory", "simulators", "bounds", "paper_figs"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "_linalg.py" or "hf" in path.relative_to(ROOT).parts:
                continue
            for i, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if lapack.search(code) and not code.lstrip().startswith(('"', "'")):
                    offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, "use simulators._linalg instead:\n" + "\n".join(offenders)
