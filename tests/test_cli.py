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
