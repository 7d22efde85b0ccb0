"""A researcher's extensions, from outside the library: EXTENDING.md, executed.

Every ``python`` block of EXTENDING.md runs here in order (a block starting ``# file: PATH`` is
written to ``PATH`` under a scratch folder on ``sys.path``, the researcher's own project), and the
tests below check what each extension produced through the library's machinery: ``sweep``, the
figure store and report, the claims runner, the model-class protocol and the reward registry. No
library file is touched: the last test checks that the working tree's library files are unchanged
by the run.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import pathlib
import re
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FILE = re.compile(r"^# file: (\S+)\n")


def _library_digest() -> str:
    h = hashlib.sha256()
    for package in ("theory", "simulators", "bounds", "paper_figs"):
        for path in sorted((ROOT / package).rglob("*.py")):
            h.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """Runs EXTENDING.md; returns its namespace (with ``OUT_DIR``, the run's output folder)."""
    import matplotlib

    matplotlib.use("Agg")
    before = _library_digest()
    project = tmp_path_factory.mktemp("project")
    namespace = {"__name__": "extending_page", "OUT_DIR": project / "results"}
    sys.path.insert(0, str(project))
    try:
        for block in BLOCK.findall((ROOT / "EXTENDING.md").read_text()):
            target = FILE.match(block)
            if target:
                path = project / target.group(1)
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a") as f:
                    f.write(block[target.end() :])
                # A file that grew is imported afresh by the next block that imports it.
                sys.modules.pop(".".join(pathlib.Path(target.group(1)).with_suffix("").parts), None)
                importlib.invalidate_caches()
            else:
                exec(compile(block, "EXTENDING.md", "exec"), namespace)  # noqa: S102
        namespace["__library_unchanged__"] = _library_digest() == before
        yield namespace
    finally:
        sys.path.remove(str(project))
        import bounds

        bounds.CLAIMS.pop("SC1", None)
        import simulators

        simulators.REWARDS.pop("answer_length_penalized", None)
        mine = ("my_extensions", "my_classes", "my_rewards", "my_claims", "my_figs")
        for name in [m for m in sys.modules if m.split(".")[0] in mine]:
            del sys.modules[name]


def test_the_algorithm_runs_through_sweep_and_sharpens(page):
    """Self-consistency distillation with C_cov = 2 (pi_base(y*|x) = 1/2, runner-up 1/3): the
    exact sharpening error falls with n, the fit concentrates on y*, the queries are n_used N."""
    df, errors = page["df"], page["errors"]
    assert set(df["metric"]) == {"sharpening_error", "mass_on_argmax", "queries"}
    queries = df[df.metric == "queries"].groupby("n_used")["value"].first()
    np.testing.assert_array_equal(queries.to_numpy(), [8 * 32, 16 * 32, 64 * 32])
    assert errors.loc[64] < errors.loc[8]
    # Sharpened: the fitted mass on y* exceeds pi_base's 1/2 by more than 5 standard errors over
    # the seeds (the mode of 32 draws is y* with probability near 1, against 1/2 for one draw).
    mass = page["mass"]
    mean, se = mass.mean().loc[64], mass.std().loc[64] / math.sqrt(mass.count().loc[64])
    assert mean - 5 * se > 0.5, (mean, se)


def test_the_algorithm_matches_a_direct_run(page):
    """The sweep's cell is exactly the function called by hand with the sweep seed's key."""
    import jax
    from my_extensions import mode_sft

    import simulators
    import theory

    policy, mu = page["policy"], page["mu"]
    oracle = simulators.SampleEvaluateOracle(policy, mu)
    res = mode_sft(
        jax.random.key(3), oracle, simulators.TabularClass(*policy.logp.shape), 64, 32, n_used=16
    )
    err = theory.sharpening_error(res.policy.logp, policy.logp, mu, 0.2)
    df = page["df"]
    cell = df[(df.metric == "sharpening_error") & (df.seed == 3) & (df.n_used == 16)]["value"]
    assert float(err) == float(cell.iloc[0])
    assert int(res.queries) == 16 * 32


def test_the_model_class_runs_through_the_protocol(page):
    import jax

    import simulators

    kl = page["kl_from_base"]
    # t = 1 at N = 1 (KL zero up to rounding), then larger t as the BoN target sharpens.
    assert kl[1] < 1e-12 < kl[8] < kl[64]
    assert isinstance(page["family"], simulators.ModelClass)
    assert simulators.log_class_size(page["family"]) == pytest.approx(np.log(5))
    with pytest.raises(TypeError, match="PowerFamily has no squared-loss fit"):
        simulators.dpo_sharpening(
            jax.random.key(0), page["oracle"], page["family"], 8, 0.5, realizability="skip"
        )


def test_the_self_reward_is_registered_and_scores_exactly(page):
    """Penalizing length favours the short (wrong) answers even more than the likelihood does:
    its exact best-of-N accuracy is at most the log-likelihood's at every N, and both fall with N
    while the length-normalized one rises (App. A.2's length bias)."""
    import simulators

    acc = page["accuracy"]
    r = simulators.get_reward("answer_length_penalized")
    assert r.per_draw and r.fn.__module__ == "my_rewards"
    assert np.all(acc["answer_length_penalized"] <= acc["log_likelihood"] + 1e-12)
    assert acc["log_likelihood"][-1] < acc["log_likelihood"][0]
    assert acc["length_normalized"][-1] > acc["length_normalized"][0]


def test_the_self_reward_trains_a_transformer_through_trl(page):
    """The page's TRL run used the researcher's reward: its logged per-step mean is finite and
    the run took one step per two prompts."""
    history = page["trl_info"]["history"]
    assert len(history) == 2 and np.isfinite(history["rewards_answer_length_penalized_mean"]).all()
    assert page["trl_info"]["rewards"][0].name == "answer_length_penalized"


def test_the_claim_runs_through_the_claims_runner_and_holds(page):
    import bounds

    r = page["claim_result"]
    assert r.id == "SC1" and r.holds, (r.measured, r.predicted)
    assert abs(r.details["q"] - 0.68256) < 1e-12  # P[Bin(5, 0.6) >= 3], by hand
    assert bounds.CLAIMS["SC1"].timeout_s == (60, 300)
    # The full settings are the registered ones (a run there is the slow suite's business).
    assert bounds.CLAIMS["SC1"].full.num_seeds == 256


def test_the_figure_is_discovered_stored_and_reported(page):
    spec = page["spec"]
    assert spec.name == "my_figs.fig_mode_sft" and spec.caption.startswith("Self-consistency")
    (outcome,) = page["figure_outcomes"]
    assert outcome.error is None and outcome.computed == 2
    out = page["OUT_DIR"]
    png = out / "figures" / "fig_mode_sft.png"
    assert png.exists() and png.stat().st_size > 1000
    assert "fig_mode_sft" in (out / "REPORT.md").read_text()
    import paper_figs

    # Rerun: every setting is read back (verified) from the store, none recomputed.
    _, again, _ = paper_figs.reproduce(
        out, quick=True, figures=[spec.name], claims=False, progress=False, workers=0
    )
    assert again[0].computed == 0 and again[0].error is None
    assert math.isfinite(paper_figs.figure_cost(spec.name))


def test_no_library_file_was_touched(page):
    assert page["__library_unchanged__"]
