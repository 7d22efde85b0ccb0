"""`sharpen reproduce`: resumable per-setting results, the report, and the claims section."""

import os
import sys

import pytest

import paper_figs._reproduce as reproduce_mod
from bounds import ClaimResult
from paper_figs import cli
from paper_figs._figlib import FIGURES, figure_cost
from paper_figs._report import ClaimsOutcome, FigureOutcome, write_report

# A cheap figure (exact numpy computations, 6 quick settings, a few seconds).
TINY = ["fig_lower_bound"]


def _csvs(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted((out / "data").rglob("*.csv"))}


def test_resume_recomputes_only_the_deleted_setting(tmp_path):
    out = tmp_path / "run"
    _, first, _ = reproduce_mod.reproduce(
        out, quick=True, figures=TINY, claims=False, progress=False, workers=1
    )
    assert [o.error for o in first] == [None]
    assert [o.computed for o in first] == [len(o.settings) for o in first]
    before = _csvs(out)
    assert len(before) == sum(len(o.settings) for o in first)

    victim = sorted(before)[1]
    (out / victim).unlink()
    _, second, _ = reproduce_mod.reproduce(
        out, quick=True, figures=TINY, claims=False, progress=False, workers=1
    )
    computed = [sid for o in second for sid in o.computed_ids]
    assert computed == [victim.stem]
    assert _csvs(out) == before  # recomputed bit for bit, nothing else touched or lost

    _, third, _ = reproduce_mod.reproduce(
        out, quick=True, figures=TINY, claims=False, progress=False, workers=0
    )
    assert [o.computed for o in third] == [0]


def test_interrupted_run_keeps_finished_settings(tmp_path, monkeypatch):
    from paper_figs.fig_lower_bound import sweep

    out = tmp_path / "run"
    real_run = sweep.run
    calls = []

    def interrupted(setting):
        calls.append(setting)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_run(setting)

    monkeypatch.setattr(sweep, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce_mod.reproduce(
            out, quick=True, figures=["fig_lower_bound"], claims=False, progress=False, workers=0
        )
    assert len(_csvs(out)) == 2  # the two finished settings were saved
    assert not list((out / "data").rglob("*.tmp"))  # no partial file left behind
    monkeypatch.setattr(sweep, "run", real_run)
    _, outcomes, _ = reproduce_mod.reproduce(
        out, quick=True, figures=["fig_lower_bound"], claims=False, progress=False, workers=0
    )
    assert outcomes[0].computed == len(sweep.QUICK) - 2


def test_report_has_claims_table_and_figures(tmp_path, monkeypatch):
    import bounds

    def fake_run_claims(quick=False, ids=None, progress=True):
        fake = {
            "C1": ClaimResult("C1", "BoN | hit", "Prop. C.1", True, "0.99", ">= 0.95", 0.1),
            "C4": ClaimResult(
                "C4", "lower bound", "Thm 3.1", False, "slope 1.5", "[1.8, 2.2]", 0.2
            ),
        }
        return [fake[i] for i in (ids if ids is not None else fake)]

    monkeypatch.setattr(bounds, "run_claims", fake_run_claims)
    monkeypatch.setattr(reproduce_mod, "_claim_ids", lambda run: ["C1", "C4"])
    report, outcomes, claims = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=TINY, claims=True, progress=False, workers=0
    )
    text = report.read_text()
    assert "| id | claim | reference | holds | measured | predicted | seconds |" in text
    assert "| C1 | BoN \\| hit | Prop. C.1 | yes | 0.99 | >= 0.95 | 0.1 |" in text
    assert "| C4 | lower bound | Thm 3.1 | **NO** |" in text
    for name in TINY:
        assert f"![{name}](figures/{name}.png)" in text
        assert (tmp_path / "figures" / f"{name}.png").exists()
        assert (tmp_path / "figures" / f"{name}.pdf").exists()
    assert "## Package versions" in text and "| jax |" in text
    assert "## Settings" in text and "## Wall time" in text
    # Claims are cached per claim: a second run loads them.
    _, _, again = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=TINY, claims=True, progress=False, workers=0
    )
    assert again.loaded == 2 and [r["id"] for r in again.results] == ["C1", "C4"]


def test_claims_skipped_with_a_message_when_missing(tmp_path, monkeypatch):
    import bounds

    monkeypatch.delattr(bounds, "run_claims")
    report, _, claims = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=TINY, claims=True, progress=False, workers=0
    )
    assert claims.skipped and "run_claims" in claims.skipped
    assert "Claims skipped:" in report.read_text()


def test_report_lists_every_figure(tmp_path):
    figs = [
        FigureOutcome(
            name=n,
            caption=f"What to see in {n}.",
            png=f"figures/{n}.png",
            pdf=f"figures/{n}.pdf",
            settings=[{"seed": 0, "N": [1, 2]}],
        )
        for n in FIGURES
    ]
    figs[3] = FigureOutcome(name=FIGURES[3], error="ImportError: nope")
    path = write_report(
        tmp_path,
        quick=False,
        figures=figs,
        claims=ClaimsOutcome(skipped="test"),
        wall_seconds=12.0,
        command="sharpen reproduce",
    )
    text = path.read_text()
    for i, n in enumerate(FIGURES):
        assert f"`{n}`" in text
        if i != 3:
            assert f"![{n}](figures/{n}.png)" in text and f"What to see in {n}." in text
    assert "Not made: ImportError: nope" in text
    assert "Mode: full" in text


def test_cli_reproduce(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["sharpen", "reproduce"])
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # the command sets it
    rc = cli.main(
        [
            "reproduce",
            "--quick",
            "--out",
            str(tmp_path),
            "--only",
            "fig_lower_bound",
            "--no-claims",
            "--no-progress",
            "--no-compile-cache",
        ]
    )
    assert rc == 0
    assert (tmp_path / "REPORT.md").exists()
    assert (tmp_path / "figures" / "fig_lower_bound.png").exists()
    assert not (tmp_path / ".jax_cache").exists()


def test_cli_rejects_unknown_figure(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--out", str(tmp_path), "--only", "fig_nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_figures_shared_by_two_workers(tmp_path):
    """Two worker processes take the figures from the longest-first schedule."""
    figures = ["fig_lower_bound", "fig_nonclosure"]
    _, outcomes, claims = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=figures, claims=False, progress=False
    )
    assert [o.name for o in outcomes] == figures  # in the requested order, whoever made them
    assert [o.error for o in outcomes] == [None, None]
    assert [o.computed for o in outcomes] == [len(o.settings) for o in outcomes]
    assert claims.skipped
    _, again, _ = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=figures, claims=False, progress=False, workers=0
    )
    assert [o.computed for o in again] == [0, 0]


def test_longest_first_schedule():
    assert reproduce_mod._schedule(["fig_lower_bound", "fig_new", "fig_separation"]) == [
        "fig_separation",
        "fig_lower_bound",
        "fig_new",
    ]
    # Every library figure declares its cost (and place in the report) in its sweep.py.
    costs = [figure_cost(n) for n in FIGURES]
    assert all(0 < c < float("inf") for c in costs), dict(zip(FIGURES, costs, strict=True))


def test_cli_prefers_fast_compiles(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "")
    cli.prefer_fast_compiles()
    assert os.environ["XLA_FLAGS"].split() == list(cli.FAST_COMPILE_FLAGS)
    # A flag the user set wins; the others are added once.
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
    cli.prefer_fast_compiles()
    cli.prefer_fast_compiles()
    assert os.environ["XLA_FLAGS"].split() == [
        "--xla_backend_optimization_level=3",
        "--xla_cpu_use_fusion_emitters=false",
    ]


def test_figure_data_runs_given_settings():
    from paper_figs._figlib import figure_data
    from paper_figs.fig_lower_bound import sweep

    df = figure_data(sweep, settings=sweep.QUICK[2:4])
    assert df["setting_id"].nunique() == 2 and set(df["kind"]) == {"threshold"}


@pytest.mark.slow
def test_full_quick_reproduce(tmp_path):
    """The whole quick job, claims in a second process; every figure and the claims table."""
    report, outcomes, claims = reproduce_mod.reproduce(tmp_path, quick=True, progress=False)
    assert [o.name for o in outcomes if o.error] == []
    assert claims.skipped is None and claims.results
    text = report.read_text()
    for name in FIGURES:
        assert f"![{name}](figures/{name}.png)" in text
    assert "| id | claim | reference | holds |" in text


# --------------------------------------------------------------------------------------------
# Nothing read back is trusted: bad files are named, set aside and recomputed (issue 13, sec. 2).


def _fake_claims(monkeypatch, ids=("C1", "C2", "C3"), raising=()):
    """bounds.run_claims replaced by a recorder (for runs in this process, ``workers=0``)."""
    import bounds

    calls = []

    def fake_run_claims(quick=False, ids=None, progress=True):
        calls.extend(ids or [])
        for i in ids or []:
            if i in raising:
                raise RuntimeError(f"{i} broke")
        return [ClaimResult(i, f"title {i}", "Thm", True, "m", "p", 0.0) for i in ids or []]

    monkeypatch.setattr(bounds, "run_claims", fake_run_claims)
    monkeypatch.setattr(reproduce_mod, "_claim_ids", lambda run: list(ids))
    return calls


def test_a_garbage_cached_claim_recomputes_only_that_claim(tmp_path, monkeypatch):
    calls = _fake_claims(monkeypatch)
    _, _, first = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=TINY, claims=True, progress=False, workers=0
    )
    assert calls == ["C1", "C2", "C3"] and first.loaded == 0
    (bad,) = tmp_path.glob("data/claims/quick/C2-*.json")
    bad.write_text("{garbage")
    calls.clear()
    report, _, again = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=TINY, claims=True, progress=False, workers=0
    )
    assert calls == ["C2"]  # the two valid records were reused
    assert again.loaded == 2 and [r["id"] for r in again.results] == ["C1", "C2", "C3"]
    assert [p for p, _ in again.set_aside] == [str(bad)]
    assert list(bad.parent.glob(f"{bad.name}.corrupt-*"))
    assert str(bad) in report.read_text()  # the report names it


@pytest.mark.parametrize("which", ["csv_cut", "csv_empty", "csv_garbage", "sidecar_garbage"])
def test_a_bad_setting_file_is_recomputed_by_the_next_run(tmp_path, which):
    _, first, _ = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=TINY, claims=False, progress=False, workers=0
    )
    csvs = sorted((tmp_path / "data" / TINY[0]).glob("*.csv"))
    victim = csvs[2]
    good = victim.read_bytes()
    if which == "csv_cut":
        victim.write_bytes(good[: len(good) // 2])
    elif which == "csv_empty":
        victim.write_bytes(b"")
    elif which == "csv_garbage":
        victim.write_bytes(b"\x00garbage,,\n\xff")
    else:
        victim.with_suffix(".json").write_text("]]not json")
    report, outcomes, _ = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=TINY, claims=False, progress=False, workers=0
    )
    assert [o.error for o in outcomes] == [None]  # made, not "not made" forever
    assert outcomes[0].computed_ids == [victim.stem]
    assert victim.read_bytes() == good
    assert [p for p, _ in outcomes[0].set_aside] == [str(victim)]
    assert "Problems in this run" in report.read_text()


def test_a_failing_claim_is_reported_and_the_rest_runs(tmp_path, monkeypatch, capsys):
    _fake_claims(monkeypatch, raising=("C2",))
    report, outcomes, claims = reproduce_mod.reproduce(
        tmp_path, quick=True, figures=TINY, claims=True, progress=False, workers=0
    )
    assert [o.error for o in outcomes] == [None]
    assert [r["id"] for r in claims.results] == ["C1", "C2", "C3"]
    assert claims.failed and claims.failed[0][0] == "C2" and "C2 broke" in claims.failed[0][1]
    text = report.read_text()
    (row,) = [line for line in text.splitlines() if line.startswith("| C2 |")]
    assert "| **NOT MEASURED** | not measured: RuntimeError: C2 broke" in row
    assert "* claim `C2`: not measured: RuntimeError: C2 broke" in text
    # A failed claim is not cached: the next run tries it again.
    assert not list(tmp_path.glob("data/claims/quick/C2-*.json"))


def test_cli_reproduce_checks_out_before_any_work(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for bad in (a_file, a_file / "out", "/proc/sharpen-out"):
        rc = cli.main(["reproduce", "--quick", "--out", str(bad), "--only", "fig_lower_bound"])
        err = capsys.readouterr().err
        assert rc == 2
        assert err.startswith(f"sharpen reproduce: error: --out {bad}") and err.count("\n") == 1
        assert "Traceback" not in err
    assert not (tmp_path / "data").exists()


def test_cli_reproduce_rejects_bad_timeouts(capsys):
    for bad in ("-1", "nan", "soon"):
        with pytest.raises(SystemExit) as exc:
            cli.main(["reproduce", "--unit-timeout", bad])
        assert exc.value.code == 2
        assert "--unit-timeout" in capsys.readouterr().err


def test_a_failing_setting_is_named_the_others_are_kept_and_the_exit_status_says_so(
    tmp_path, monkeypatch, capsys
):
    from paper_figs.fig_lower_bound import sweep

    real_run, bad = sweep.run, sweep.QUICK[2]

    def run(setting):
        if setting == bad:
            raise RuntimeError("this setting broke")
        return real_run(setting)

    monkeypatch.setattr(sweep, "run", run)
    monkeypatch.setattr(sys, "argv", ["sharpen", "reproduce"])
    args = ["reproduce", "--quick", "--out", str(tmp_path), "--only", "fig_lower_bound"]
    rc = cli.main([*args, "--no-claims", "--no-progress", "--no-compile-cache", "--in-process"])
    err = capsys.readouterr().err
    assert rc == 1
    from paper_figs._figlib import load_figure

    sid = reproduce_mod.setting_id(bad, load_figure("fig_lower_bound").version)
    assert f"fig_lower_bound: not made: fig_lower_bound/{sid}: RuntimeError: this setting" in err
    assert "more failed" not in err  # the plot not attempted is not another failure
    assert len(_csvs(tmp_path)) == len(sweep.QUICK) - 1  # the others were computed and kept
    text = (tmp_path / "REPORT.md").read_text()
    assert f"* `fig_lower_bound/{sid}`: failed: RuntimeError: this setting broke" in text
    assert "* `fig_lower_bound (plot)`: failed: not attempted" in text
