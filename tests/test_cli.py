"""Smoke tests of the ``sharpen`` command line (``inspect``; argument errors)."""

import json
import os

import numpy as np
import pytest

import theory
from paper_figs import cli
from paper_figs._inspect import instance_quantities
from simulators import BUILTIN_INSTANCES, coverage_tabular, to_table


@pytest.fixture(autouse=True)
def _restore_xla_flags(monkeypatch):
    """The command adds its XLA flags to the environment; undo that after each test."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))


@pytest.mark.parametrize("name", sorted(BUILTIN_INSTANCES))
def test_inspect_every_builtin(name, capsys, tmp_path):
    path = tmp_path / "q.json"
    assert cli.main(["inspect", name, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert name in out and "C_cov" in out
    q = json.loads(path.read_text())
    assert q["instance"] == name
    c = q.get("C_cov (Eq. 6)")
    if c is not None:  # enumerable: C_cov >= 1 and log C_cov consistent
        assert c >= 1.0
        assert np.isclose(np.log(c), q["log C_cov"], rtol=1e-10)


def test_inspect_matches_theory_on_coverage_instance():
    q = instance_quantities("coverage-10")
    policy, mu = BUILTIN_INSTANCES["coverage-10"]()
    assert q["C_cov (Eq. 6)"] == pytest.approx(10.0, rel=1e-12)
    miss = np.asarray(theory.bon_miss_probability(to_table(policy), 10))
    assert q["E_x P[BoN_10 misses y*] (Prop. C.1)"] == pytest.approx(float(np.dot(mu, miss)))
    assert coverage_tabular is not None


def test_inspect_lists_instances(capsys):
    assert cli.main(["inspect"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN_INSTANCES:
        assert name in out


def test_inspect_unknown_instance_is_a_clear_error(capsys):
    assert cli.main(["inspect", "no-such-instance"]) == 2
    err = capsys.readouterr().err
    assert "instance must be one of" in err


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit):
        cli.main(["no-such-command"])


def test_a_file_system_error_is_one_line_naming_the_path(monkeypatch, capsys):
    import paper_figs._inspect as inspect_mod

    def denied(args):
        raise PermissionError(13, "Permission denied", "/srv/results/q.json")

    monkeypatch.setattr(inspect_mod, "main", denied)
    assert cli.main(["inspect"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sharpen inspect: error: ") and "/srv/results/q.json" in err
    assert err.count("\n") == 1 and "Traceback" not in err


class _Exec(Exception):
    """Raised by the stand-in for os.execve: the restart that would have happened."""


@pytest.fixture
def restart(monkeypatch):
    """A machine where the restart applies (glibc 2.36, huge pages in madvise mode, launched as
    the command); returns the environment the command would be re-executed with, or None."""
    monkeypatch.setattr(cli.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(cli, "transparent_huge_pages_mode", lambda: "madvise")
    monkeypatch.setattr(cli, "_launched_as_command", lambda: True)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.delenv(cli._RESTARTED, raising=False)

    def execve(path, args, env):
        raise _Exec(path, args, env)

    monkeypatch.setattr(cli.os, "execve", execve)

    def attempt():
        try:
            cli.restart_with_huge_pages()
        except _Exec as e:
            return e.args[2]
        return None

    return attempt


def test_the_command_restarts_once_with_huge_pages(restart, monkeypatch):
    env = restart()
    assert env["GLIBC_TUNABLES"] == cli.HUGE_PAGES_TUNABLE and env[cli._RESTARTED] == "1"
    # Other tunables are kept; in the restarted process the marker stops a second restart.
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    assert restart()["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:" + cli.HUGE_PAGES_TUNABLE
    monkeypatch.setenv(cli._RESTARTED, "1")
    assert restart() is None and cli._RESTARTED not in os.environ


@pytest.mark.parametrize(
    "case", ["user set hugetlb", "thp always", "thp never", "old glibc", "musl", "library call"]
)
def test_no_restart_where_it_changes_nothing(restart, monkeypatch, case):
    if case == "user set hugetlb":  # the user's value wins
        monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0")
    elif case.startswith("thp"):
        monkeypatch.setattr(cli, "transparent_huge_pages_mode", lambda: case.split()[1])
    elif case == "old glibc":
        monkeypatch.setattr(cli.platform, "libc_ver", lambda: ("glibc", "2.31"))
    elif case == "musl":
        monkeypatch.setattr(cli.platform, "libc_ver", lambda: ("", ""))
    else:
        monkeypatch.setattr(cli, "_launched_as_command", lambda: False)
    assert restart() is None


def test_main_with_arguments_never_restarts(restart, monkeypatch, capsys):
    monkeypatch.setattr(cli, "restart_with_huge_pages", lambda: pytest.fail("restarted"))
    assert cli.main(["inspect"]) == 0


@pytest.mark.skipif(
    cli.huge_pages_environment({}) is None, reason="huge pages would change nothing here"
)
def test_the_sharpen_script_runs_with_huge_pages(tmp_path):
    """End to end: ``python -m paper_figs.cli`` restarts itself once with the tunable set."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "sitecustomize.py").write_text(
        "import os, sys\nprint('START', os.environ.get('GLIBC_TUNABLES'), file=sys.stderr)\n"
    )
    root = Path(cli.__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", cli._RESTARTED)}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(root)])
    proc = subprocess.run(
        [sys.executable, "-m", "paper_figs.cli", "inspect"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    starts = [ln for ln in proc.stderr.splitlines() if ln.startswith("START")]
    assert starts == ["START None", f"START {cli.HUGE_PAGES_TUNABLE}"]
    assert "coverage-10" in proc.stdout
