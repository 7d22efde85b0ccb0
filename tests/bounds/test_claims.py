"""The claims registry behind ``sharpen verify`` (the paper's numerically checkable claims) and its
helpers."""

import dataclasses
import functools
import itertools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import bounds
import simulators as sim
import theory
from bounds.claims import CLAIMS, ClaimResult, Outcome, _stats, claim, claim_order, run_claims
from bounds.claims import linear as linear_claims
from bounds.claims import self_rewards as self_reward_claims
from bounds.claims import sft as sft_claims

# The library's claims, discovered from the registry (a claim added to bounds.claims is tested
# without editing this file).
IDS = claim_order(cid for cid, c in CLAIMS.items() if c.check.__module__.startswith("bounds."))
JSON_KEYS = {"id", "title", "reference", "holds", "measured", "predicted", "seconds"}


# --------------------------------------------------------------------------------------------
# The registry.


def test_every_claim_is_registered():
    # The paper's claims C1..C14, all registered once bounds.claims is imported.
    assert {f"C{i}" for i in range(1, 15)} <= set(IDS)
    for cid in IDS:
        c = CLAIMS[cid]
        assert c.id == cid and c.title and c.reference and callable(c.check)
    assert bounds.CLAIMS is CLAIMS
    assert bounds.claim is claim and bounds.Outcome is Outcome


@pytest.mark.parametrize("cid", IDS)
def test_every_claim_has_frozen_quick_and_full_settings_and_a_timeout(cid):
    c = CLAIMS[cid]
    assert dataclasses.is_dataclass(c.quick) and type(c.quick) is type(c.full)
    assert type(c.quick).__dataclass_params__.frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(c.quick, dataclasses.fields(c.quick)[0].name, None)
    assert c.settings(True) is c.quick and c.settings(False) is c.full
    quick_s, full_s = c.timeout_s
    assert 0 < quick_s <= full_s and c.timeout(True) == quick_s and c.timeout(False) == full_s


@dataclasses.dataclass(frozen=True)
class _ToySettings:
    draws: int


@pytest.fixture
def outside_claim():
    """A claim registered from this file (as a researcher's module would), removed afterwards."""
    seen = []

    @claim(
        "X1",
        "a toy claim from outside the library",
        "none",
        quick=_ToySettings(draws=3),
        full=_ToySettings(draws=30),
        timeout_s=(5.0, 50.0),
    )
    def check(s: _ToySettings) -> Outcome:
        seen.append(s)
        return Outcome(holds=s.draws < 10, measured=f"{s.draws} draws", predicted="< 10 draws")

    try:
        yield seen
    finally:
        del CLAIMS["X1"]


def test_a_claim_registered_outside_the_library_runs(outside_claim):
    (quick,) = run_claims(quick=True, ids=["X1"], progress=False)
    (full,) = run_claims(quick=False, ids=["X1"], progress=False)
    assert outside_claim == [_ToySettings(3), _ToySettings(30)]  # each mode's own settings
    assert quick.holds and quick.measured == "3 draws" and quick.title.startswith("a toy")
    assert not full.holds and full.measured == "30 draws"
    assert "X1" not in IDS  # the library's ids do not include it


def test_outside_claim_is_removed_after_its_test():
    assert "X1" not in CLAIMS


def test_claim_rejects_bad_settings_and_timeouts():
    @dataclasses.dataclass
    class Mutable:
        draws: int

    ok = dict(quick=_ToySettings(1), full=_ToySettings(2), timeout_s=(1.0, 2.0))
    with pytest.raises(ValueError, match="frozen"):
        claim("X2", "t", "r", **{**ok, "quick": Mutable(1), "full": Mutable(2)})
    with pytest.raises(ValueError, match="one dataclass"):
        claim("X2", "t", "r", **{**ok, "full": CLAIMS["C1"].full})
    with pytest.raises(ValueError, match="timeout_s"):
        claim("X2", "t", "r", **{**ok, "timeout_s": (1.0, 0.0)})
    with pytest.raises(ValueError, match="registered twice"):
        claim("C1", "t", "r", **ok)
    assert "X2" not in CLAIMS


def test_unknown_id_is_a_clear_error():
    with pytest.raises(ValueError, match="claim ids"):
        run_claims(quick=True, ids=["C99"], progress=False)


def _check_result(r: ClaimResult, cid: str):
    assert r.id == cid and r.title == CLAIMS[cid].title
    assert isinstance(r.holds, bool)
    assert isinstance(r.measured, str) and r.measured
    assert isinstance(r.predicted, str) and r.predicted
    assert r.seconds >= 0 and isinstance(r.details, dict)
    j = r.to_json()
    assert set(j) == JSON_KEYS
    json.dumps(j)  # serializable
    json.dumps(r.details, default=float)


@pytest.mark.parametrize("cid", ["C4", "C10"])
def test_fast_claims_hold_quick(cid):
    (r,) = run_claims(quick=True, ids=[cid], progress=False)
    _check_result(r, cid)
    assert r.holds, r.measured


def test_verify_command_writes_the_json_format(tmp_path, capsys):
    from paper_figs import cli

    path = tmp_path / "claims.json"
    assert cli.main(["verify", "--quick", "--only", "C4", "C10", "--json", str(path)]) == 0
    out = json.loads(path.read_text())
    assert [o["id"] for o in out] == ["C4", "C10"]
    assert all(set(o) == JSON_KEYS for o in out)
    assert "2 of 2 claims hold" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("cid", IDS)
def test_every_claim_runs_quick(cid):
    (r,) = run_claims(quick=True, ids=[cid], progress=False)
    _check_result(r, cid)
    assert r.holds, f"{cid}: measured {r.measured}; predicted {r.predicted}; {r.details}"


# --------------------------------------------------------------------------------------------
# Helpers of the rate claims.


def test_least_nN_on_a_synthetic_grid():
    n_grid, N_grid = np.array([2, 4, 8]), np.array([1, 2, 4, 8, 16])
    S = 10
    errors = np.ones((3, 5, S))
    errors[0, 4] = 0.0  # n=2 succeeds only at N=16: m = 32
    errors[1, 2:] = 0.0  # n=4 from N=4 on: m = 16
    errors[2, 1] = 0.0  # n=8 at N=2 but fails at N=4 again: its least N is 8 (monotone): m = 64
    errors[2, 3:] = 0.0
    assert _stats.least_nN(errors, n_grid, N_grid, eps=0.1, rho=0.2) == (16.0, 4, 4)
    assert _stats.least_nN(np.ones((3, 5, S)), n_grid, N_grid, 0.1, 0.2)[0] == math.inf


def test_stopping_cap_is_never_reached():
    # Near-uniform rows stop latest: k max_j p_j reaches mu only at k ~ mu / p_min.
    policy, mu = sim.coverage_tabular(4, 12, 11.5)
    oracle = sim.make_oracle(policy, mu)

    @functools.partial(jax.jit, static_argnames="cap")
    def draws(mu_stop, cap):
        rule = sim.likelihood_stopping_rule(mu_stop)
        ada = sim.draw_adaptive(jax.random.key(5), oracle, 300, rule, cap, on_cap="flag")
        return ada.num_draws.max(), ada.cap_hit

    for mu_stop in (0.5, 3.0):
        cap = sft_claims._stopping_cap(policy.logp, mu_stop)
        most, cap_hit = draws(mu_stop, cap)
        assert not bool(cap_hit) and int(most) <= cap - 1
        # and the cap is not loose by more than one step: some prompt needs cap - 1 draws
        assert int(most) == cap - 1


def _exact_majority_accuracy(toy, N):
    """P[best-of-N under majority vote is correct] by enumerating answer outcomes (one prompt)."""
    p = np.exp(np.asarray(toy.logp[0]))
    answers = np.asarray(toy.answers[0])
    labels = np.unique(answers)
    q = np.array([p[answers == a].sum() for a in labels])  # answer marginal
    correct = labels == np.asarray(toy.answers[0])[np.asarray(toy.correct[0])][0]
    total = 0.0
    for outcome in itertools.product(range(len(labels)), repeat=N):
        counts = np.bincount(outcome, minlength=len(labels))
        top = counts == counts.max()
        # Every sample of a top answer is equally likely to be picked: the chosen answer is a top
        # answer with probability proportional to its count.
        win = (counts * top)[correct].sum() / (counts * top).sum()
        total += np.prod(q[list(outcome)]) * win
    return total


def test_majority_prefixes_match_exact_enumeration():
    toy = sim.majority_vs_likelihood_toy(num_correct_paths=3, num_other_paths=2)
    ns = (1, 2, 3, 4)
    per_draw = self_reward_claims.majority_accuracy_prefixes(jax.random.key(6), toy, ns, 10_000)
    for i, N in enumerate(ns):
        exact = _exact_majority_accuracy(toy, N)
        se = per_draw[i].std(ddof=1) / math.sqrt(per_draw.shape[1])
        assert abs(per_draw[i].mean() - exact) <= 5 * se, (N, per_draw[i].mean(), exact)


def test_xpo_output_is_the_best_J_iterate_so_far():
    rng = np.random.default_rng(0)
    J = rng.normal(size=(2, 3, 9))
    mass = rng.random((2, 3, 9))
    out = linear_claims._xpo_output_mass(mass, J)
    for a, s, t in itertools.product(range(2), range(3), range(9)):
        assert out[a, s, t] == mass[a, s, int(np.argmax(J[a, s, : t + 1]))]


def test_sft_exact_queries_against_brute_force():
    logp = jnp.log(jnp.asarray([[0.3, 0.25, 0.25, 0.2]]))
    delta, rho = 0.2, 0.2
    m = linear_claims._sft_exact_queries(logp, delta, rho, n_max=6)

    def success(n, N):
        hit = 1 - 0.7**N
        return stats.binom.sf(math.ceil((1 - delta) * n) - 1, n, hit) >= 1 - rho

    brute = min(n * N for n in range(1, 7) for N in range(1, 200) if success(n, N))
    assert m == brute


def test_pad_table_keeps_the_instance():
    policy, mu = sim.coverage_tabular(3, 5, 2.0)
    logp, m = sft_claims._pad_table(policy.logp, mu, 6, 9)
    assert logp.shape == (6, 9) and float(m.sum()) == pytest.approx(1.0)
    np.testing.assert_array_equal(np.asarray(logp[:3, :5]), np.asarray(policy.logp))
    assert float(theory.coverage(logp, m)) == pytest.approx(2.0, rel=1e-12)
    for delta in (0.1, 0.6):  # pi(y*) = 1/2 everywhere: unsharpened at 0.1, sharpened at 0.6
        want = theory.sharpening_error(policy.logp, policy.logp, mu, delta)
        assert float(theory.sharpening_error(logp, logp, m, delta)) == float(want)


def test_pad_linear_is_the_same_model():
    inst = sim.spherical_code_instance(jax.random.key(7), 3, 50, max_inner=0.7, num_candidates=500)
    policy, beta, radius = linear_claims._pad_linear(inst, inst.num_responses + 4, 5)
    table = sim.linear_softmax_logp(policy.features, policy.theta, policy.logp0)
    np.testing.assert_allclose(table[:, : inst.num_responses], inst.logp_base, rtol=1e-12)
    assert np.all(np.isneginf(np.asarray(table[:, inst.num_responses :])))
    assert beta == pytest.approx(
        bounds.linear_softmax_beta(inst.gamma_margin, inst.num_responses, 0.1)
    ) and radius >= (1 + 1 / beta)


_SPINNING_CLAIM = """
import dataclasses

from bounds.claims import Outcome, claim


@dataclasses.dataclass(frozen=True)
class Spin:
    pass


@claim("X3", "a check that never ends (test)", "none", quick=Spin(), full=Spin(), timeout_s=(3, 3))
def _x3(settings):
    while True:  # uses CPU time: only a time limit ends it
        pass
"""


def test_verify_ends_a_claim_at_its_declared_timeout(tmp_path, monkeypatch):
    import importlib
    import sys

    from paper_figs._runner import Limits
    from paper_figs._verify import verify

    (tmp_path / "sharpen_spinning_claim.py").write_text(_SPINNING_CLAIM)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module("sharpen_spinning_claim")
        # The listing gets the runner's own limit (60 s); the claim its declared 3 s.
        limits = Limits(unit_seconds=60.0)
        (record,) = verify(["X3"], quick=True, workers=1, limits=limits, progress=False)
    finally:
        CLAIMS.pop("X3", None)
        sys.modules.pop("sharpen_spinning_claim", None)
    assert record["measured"] == "not measured"
    assert "still running after 3 s" in record["error"]


def test_reproduce_ends_a_claim_at_its_declared_timeout(tmp_path, monkeypatch):
    import importlib
    import sys

    from paper_figs import _reproduce as reproduce_mod
    from paper_figs._runner import Limits

    (tmp_path / "sharpen_spinning_claim.py").write_text(_SPINNING_CLAIM)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(reproduce_mod, "_claim_ids", lambda run: ["X3"])
    try:
        importlib.import_module("sharpen_spinning_claim")
        _, _, claims = reproduce_mod.reproduce(
            tmp_path / "out",
            quick=True,
            figures=[],
            progress=False,
            workers=1,
            limits=Limits(unit_seconds=60.0),
        )
    finally:
        CLAIMS.pop("X3", None)
        sys.modules.pop("sharpen_spinning_claim", None)
    assert claims.failed == [("X3", "still running after 3 s (its declared timeout), ended")]
