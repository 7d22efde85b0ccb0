"""Catalogue: long runs and the files they leave (issue 13, sections 1, 2 and 5).

Each test is one way a demanding user breaks a run: a unit that hangs (deadlock: no CPU) or spins,
a worker that dies, a run killed with SIGKILL and started again, two runs on one folder, and output
paths that cannot be written. The hanging units are ordinary importable functions and claims in a
module written to the test's own folder, so the library has no test-only code path.
"""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paper_figs import cli
from paper_figs._runner import Limits, Unit, WorkerRunner, make_runner
from paper_figs._store import ResultStore, setting_id

REPO = Path(__file__).resolve().parents[2]
SHARPEN = [sys.executable, "-c", "import sys; from paper_figs.cli import main; sys.exit(main())"]

_UNITS = '''
import os
import time


def echo(x):
    return x


def pid():
    return os.getpid()


def sleep_forever():
    time.sleep(10**6)  # like a deadlock: the process uses no CPU time


def spin_forever():
    while True:  # busy: CPU time grows, only the wall-clock limit ends it
        pass


def die():
    os._exit(3)  # like the out-of-memory killer


def fail():
    raise ValueError("bad value")


def write_same_settings(root, seed):
    """Writes and re-reads the same three settings many times (a concurrent run's store)."""
    import dataclasses

    import pandas as pd

    from paper_figs._store import ResultStore

    @dataclasses.dataclass(frozen=True)
    class S:
        n: int

    store = ResultStore(root)
    for _ in range(15):
        for n in range(3):
            s = S(n)
            store.save("fig_x", s, "v", pd.DataFrame({"n": [n] * 50, "seed": [seed] * 50}), 0.0)
            store.load("fig_x", s, "v")
    return [p for p, _ in store.set_aside]
'''

_HANGING_CLAIM = """
import dataclasses
import time

from bounds.claims import Outcome, claim


@dataclasses.dataclass(frozen=True)
class Never:
    seconds: float = 10**6


@claim(
    "C99",
    "a check that never finishes (test)",
    "none",
    quick=Never(),
    full=Never(),
    timeout_s=(10**6, 10**6),
)
def _c99(settings):
    time.sleep(settings.seconds)
    return Outcome(True, "never", "never")
"""


@pytest.fixture(autouse=True)
def _restore_xla_flags(monkeypatch):
    """The command adds its XLA flags to the environment; undo that after each test."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))


@pytest.fixture
def units_module(tmp_path, monkeypatch):
    """An importable module of unit functions (spawned workers inherit ``sys.path``)."""
    folder = tmp_path / "mods"
    folder.mkdir()
    (folder / "sharpen_catalogue_units.py").write_text(_UNITS)
    monkeypatch.syspath_prepend(str(folder))
    return "sharpen_catalogue_units"


@pytest.fixture
def hanging_claim(tmp_path, monkeypatch):
    """Claim C99, registered from outside the library, whose check sleeps forever."""
    import importlib

    import bounds

    folder = tmp_path / "claims_mod"
    folder.mkdir()
    (folder / "sharpen_catalogue_claims.py").write_text(_HANGING_CLAIM)
    monkeypatch.syspath_prepend(str(folder))
    bounds.run_claims(quick=True, ids=[], progress=False)  # the library's claims first
    importlib.import_module("sharpen_catalogue_claims")
    yield "C99"
    bounds.CLAIMS.pop("C99", None)
    sys.modules.pop("sharpen_catalogue_claims", None)


# --------------------------------------------------------------------------------------------
# The watchdog: no unit hangs a run silently.


def test_a_unit_without_progress_is_killed_by_name_and_the_rest_runs(units_module):
    m = units_module
    groups = [
        [Unit("first", f"{m}:pid"), Unit("hangs", f"{m}:sleep_forever"), Unit("after", f"{m}:pid")],
        [Unit("other group", f"{m}:echo", {"x": 7})],
    ]
    runner = WorkerRunner(1, Limits(unit_seconds=120.0, stall_seconds=2.0))
    results = {r.unit.name: r for r in runner.run(groups)}
    assert results["hangs"].killed and "no progress for 2 s" in results["hangs"].error
    assert results["first"].ok and results["after"].ok and results["other group"].value == 7
    # The killed worker was replaced by a fresh one for the rest.
    assert results["first"].value != results["after"].value


def test_a_spinning_unit_is_killed_at_its_time_limit(units_module):
    m = units_module
    runner = WorkerRunner(1, Limits(unit_seconds=3.0, stall_seconds=60.0))
    spin, after = runner.run(
        [[Unit("spins", f"{m}:spin_forever"), Unit("after", f"{m}:echo", {"x": 1})]]
    )
    assert spin.killed and "still running after 3 s" in spin.error
    assert after.ok and after.value == 1


def test_a_dying_worker_fails_only_its_unit(units_module):
    m = units_module
    plot = Unit("plot", f"{m}:echo", {"x": 2}, needs_group=True)
    results = WorkerRunner(2, Limits(stall_seconds=60.0)).run(
        [
            [Unit("dies", f"{m}:die"), plot],
            [Unit("raises", f"{m}:fail"), Unit("ok", f"{m}:echo", {"x": 3})],
        ]
    )
    by = {r.unit.name: r for r in results}
    assert "worker process died (exit code 3)" in by["dies"].error and not by["dies"].killed
    assert by["plot"].error == "not attempted: dies failed"  # it needed its group
    assert by["raises"].error.startswith("ValueError: bad value")
    assert by["ok"].value == 3  # an exception does not cost the worker


def test_the_in_process_runner_has_the_same_results(units_module):
    m = units_module
    results = make_runner(0).run(
        [[Unit("raises", f"{m}:fail"), Unit("next", f"{m}:echo", {"x": 4}, needs_group=True)]]
    )
    assert (
        results[0].error.startswith("ValueError")
        and results[1].error == "not attempted: raises failed"
    )
    with pytest.raises(ValueError, match="stall_seconds"):
        Limits(stall_seconds=-1)
    with pytest.raises(ValueError, match="workers"):
        WorkerRunner(0)


def test_verify_reports_a_hanging_claim_and_runs_the_others(hanging_claim, tmp_path, capsys):
    path = tmp_path / "claims.json"
    rc = cli.main(
        ["verify", "--quick", "--only", "C99", "C4", "--json", str(path), "--stall-timeout", "3"]
    )
    captured = capsys.readouterr()
    assert rc == 1
    out = json.loads(path.read_text())
    assert [o["id"] for o in out] == ["C99", "C4"]
    assert out[0]["holds"] is False and "no progress for 3 s" in out[0]["error"]
    assert out[1]["holds"] is True and "error" not in out[1]
    assert "C99" in captured.out and "FAILED" in captured.out
    assert "not measured (failed or killed): C99" in captured.err


def test_reproduce_reports_a_hanging_claim_and_makes_the_figures(
    hanging_claim, tmp_path, monkeypatch, capsys
):
    import paper_figs._reproduce as reproduce_mod

    monkeypatch.setattr(reproduce_mod, "_claim_ids", lambda run: ["C99"])
    monkeypatch.setattr(sys, "argv", ["sharpen", "reproduce"])
    rc = cli.main(
        [
            "reproduce",
            "--quick",
            "--out",
            str(tmp_path / "r"),
            "--only",
            "fig_lower_bound",
            "--no-progress",
            "--no-compile-cache",
            "--stall-timeout",
            "3",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1  # something was not made
    assert "C99: not measured: no progress for 3 s" in err
    text = (tmp_path / "r" / "REPORT.md").read_text()
    assert "## Problems in this run" in text and "* claim `C99`: not measured: no progress" in text
    assert "![fig_lower_bound](figures/fig_lower_bound.png)" in text
    assert (tmp_path / "r" / "figures" / "fig_lower_bound.png").exists()


# --------------------------------------------------------------------------------------------
# Killed and concurrent runs: nothing half-written is trusted, finished work is reused.


def _settings_files(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((data / "fig_lower_bound").glob("*.csv"))}


def _reproduce_cmd(out: Path) -> list[str]:
    return SHARPEN + [
        "reproduce",
        "--quick",
        "--out",
        str(out),
        "--only",
        "fig_lower_bound",
        "--no-claims",
        "--no-progress",
        "--no-compile-cache",
        "--serial",
    ]


def test_a_run_killed_with_sigkill_resumes_and_trusts_nothing_half_written(tmp_path):
    old = os.umask(0o022)
    try:
        _kill_and_resume(tmp_path)
    finally:
        os.umask(old)


def _kill_and_resume(tmp_path):
    out = tmp_path / "run"
    data = out / "data"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Its own process group: the kill takes the worker too, as a killed terminal session would.
    proc = subprocess.Popen(
        _reproduce_cmd(out),
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while len(list((data / "fig_lower_bound").glob("*.json"))) < 2:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no setting finished in 300 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = _settings_files(data)
    assert len(finished) >= 2
    # What a writer that is not atomic (or a disk) can leave besides: one finished file cut short,
    # a stray temporary of a dead process.
    names = sorted(finished)
    cut = data / "fig_lower_bound" / names[0]
    cut.write_bytes(finished[names[0]][:-10])
    stray = data / "fig_lower_bound" / f".{names[1]}.999999999.0123abcd.tmp"
    stray.write_bytes(b"half")

    rc = subprocess.run(_reproduce_cmd(out), cwd=REPO, env=env, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    assert f"set aside and recomputed: {cut}" in rc.stderr
    after = _settings_files(data)
    assert len(after) == 6 and not stray.exists()
    assert after[names[0]] == finished[names[0]]  # recomputed bit for bit
    for name in names[1:]:  # finished results reused, untouched
        assert after[name] == finished[name]
    text = (out / "REPORT.md").read_text()
    assert f"{6 - len(finished) + 1} computed in this run" in text
    # Files are readable by others (0644 under umask 022), not 0600.
    for p in [*(data / "fig_lower_bound").iterdir(), out / "REPORT.md"]:
        if p.is_file() and ".corrupt-" not in p.name and p.name != ".lock":
            assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_two_processes_writing_one_store_never_trust_a_mixed_pair(tmp_path, units_module):
    import concurrent.futures
    import importlib
    import multiprocessing

    write = importlib.import_module(units_module).write_same_settings
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        asides = list(pool.map(write, [str(tmp_path)] * 2, [1, 2]))
    # Each (CSV, record) pair is written under the store's lock: every read verified, none set
    # aside, and what is left is one writer's complete pair.
    assert asides == [[], []]
    store = ResultStore(tmp_path)
    for p in (tmp_path / "fig_x").glob("*.csv"):
        assert json.loads(p.with_suffix(".json").read_text())["payload"]["rows"] == 50
    assert not list((tmp_path / "fig_x").glob(".*.tmp"))
    assert store.set_aside == []


@pytest.mark.slow
def test_two_reproduce_runs_on_one_folder_both_finish(tmp_path):
    out = tmp_path / "run"
    procs = [
        subprocess.Popen(
            _reproduce_cmd(out), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()
    from paper_figs._figlib import load_figure

    spec = load_figure("fig_lower_bound")
    store = ResultStore(out / "data")
    for s in spec.settings(True):
        assert store.has("fig_lower_bound", s, spec.version), setting_id(s, spec.version)


# --------------------------------------------------------------------------------------------
# Output paths: checked before any work, one-line errors naming the argument, exit status 2.


@pytest.mark.parametrize("where", ["folder", "missing_folder", "under_a_file", "proc"])
def test_verify_checks_json_before_running_any_claim(tmp_path, where, capsys, monkeypatch):
    import bounds

    def must_not_run(*args, **kwargs):
        raise AssertionError("a claim ran before --json was checked")

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    bad = {
        "folder": tmp_path,
        "missing_folder": tmp_path / "nope" / "c.json",
        "under_a_file": a_file / "c.json",
        "proc": Path("/proc/c.json"),
    }[where]
    monkeypatch.setattr(bounds, "run_claims", must_not_run)
    rc = cli.main(["verify", "--quick", "--only", "C4", "--json", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"sharpen verify: error: --json {bad}") or err.startswith(
        f"sharpen verify: error: --json '{bad}'"
    )


def test_verify_unknown_claim_is_a_one_line_error(capsys):
    assert cli.main(["verify", "--quick", "--only", "C4", "C123"]) == 2
    err = capsys.readouterr().err
    assert "--only" in err and "C123" in err and err.count("\n") == 1
