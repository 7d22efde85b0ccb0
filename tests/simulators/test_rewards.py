"""Self-rewards and best-of-N: exact values against brute force, tie-breaking by Monte Carlo."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim
from simulators import Rollouts


def _rollouts(P=3, N=5, T=4, seed=0, with_optional=True):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, T + 1, size=(P, N))
    tokens = rng.integers(0, 7, size=(P, N, T))
    logp = -rng.exponential(3.0, size=(P, N))
    kw = {}
    if with_optional:
        kw = dict(
            answers=rng.integers(-1, 3, size=(P, N)),
            token_entropy=rng.exponential(1.0, size=(P, N, T)),
            token_kl_uniform=rng.exponential(1.0, size=(P, N, T)),
        )
        kw = {k: jnp.asarray(v) for k, v in kw.items()}
    return Rollouts(
        prompts=jnp.arange(P),
        tokens=jnp.asarray(tokens),
        lengths=jnp.asarray(lengths),
        logp_base=jnp.asarray(logp),
        **kw,
    )


def test_log_likelihood_and_length_normalized():
    r = _rollouts()
    np.testing.assert_array_equal(sim.log_likelihood(r), r.logp_base)
    got = np.asarray(sim.length_normalized_log_likelihood(r))
    L = np.asarray(r.lengths)
    lp = np.asarray(r.logp_base)
    want = np.where(L > 0, lp / np.maximum(L, 1), lp)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_majority_vote_brute_force():
    r = _rollouts(P=4, N=7, seed=3)
    got = np.asarray(sim.majority_vote(r))
    a = np.asarray(r.answers)
    for p, i in itertools.product(range(4), range(7)):
        want = 0 if a[p, i] == -1 else sum(a[p, j] == a[p, i] for j in range(7))
        assert got[p, i] == want
    assert got.dtype.kind == "f"


def test_token_rewards_brute_force():
    r = _rollouts(P=3, N=4, T=5, seed=1)
    L = np.asarray(r.lengths)
    kl = np.asarray(r.token_kl_uniform)
    ent = np.asarray(r.token_entropy)
    sc = np.asarray(sim.self_certainty(r))
    ne = np.asarray(sim.negative_entropy(r))
    for p, i in itertools.product(range(3), range(4)):
        n = L[p, i]
        want_sc = kl[p, i, :n].mean() if n else 0.0
        want_ne = -ent[p, i, :n].mean() if n else 0.0
        np.testing.assert_allclose(sc[p, i], want_sc, rtol=1e-12)
        np.testing.assert_allclose(ne[p, i], want_ne, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "fn,field",
    [
        (sim.majority_vote, "answers"),
        (sim.self_certainty, "token_kl_uniform"),
        (sim.negative_entropy, "token_entropy"),
    ],
)
def test_missing_field_is_a_clear_error(fn, field):
    r = _rollouts(with_optional=False)
    with pytest.raises(ValueError, match=field):
        fn(r)


def test_rewards_reject_non_rollouts():
    with pytest.raises(TypeError, match="Rollouts"):
        sim.log_likelihood(jnp.zeros((2, 3)))


def test_best_of_n_picks_maximizer_and_accepts_arrays():
    r = _rollouts(P=5, N=6, seed=2, with_optional=False)
    idx = sim.best_of_n(jax.random.key(0), r)
    np.testing.assert_array_equal(idx, np.argmax(np.asarray(r.logp_base), axis=1))
    scores = -np.asarray(r.logp_base)
    idx2 = sim.best_of_n(jax.random.key(0), r, scores)
    np.testing.assert_array_equal(idx2, np.argmax(scores, axis=1))
    with pytest.raises(ValueError, match="shape"):
        sim.best_of_n(jax.random.key(0), r, scores[:, :2])


def test_best_of_n_ties_uniform():
    # S prompts with the same scores: three tied maximizers at positions 1, 3, 4.
    S = 30_000
    scores = jnp.tile(jnp.array([[0.0, 2.0, 1.0, 2.0, 2.0, -jnp.inf]]), (S, 1))
    r = Rollouts(
        prompts=jnp.zeros(S, int),
        tokens=jnp.zeros((S, 6, 1), int),
        lengths=jnp.ones((S, 6), int),
        logp_base=jnp.zeros((S, 6)),
    )
    picks = np.asarray(sim.best_of_n(jax.random.key(1), r, scores))
    assert set(np.unique(picks)) == {1, 3, 4}
    freq = np.array([(picks == j).mean() for j in (1, 3, 4)])
    se = np.sqrt((1 / 3) * (2 / 3) / S)
    assert np.all(np.abs(freq - 1 / 3) < 5 * se)


def test_best_of_n_jit_vmap_invariance():
    r = _rollouts(P=4, N=6, seed=5)
    key = jax.random.key(3)
    eager = sim.best_of_n(key, r, sim.majority_vote)
    jitted = jax.jit(lambda k, rr: sim.best_of_n(k, rr, sim.majority_vote))(key, r)
    np.testing.assert_array_equal(eager, jitted)


# --------------------------------------------------------------------------------------------
# The registry: a self-reward is one function plus its registration.


@pytest.fixture
def shortest_first():
    """A researcher's per-draw reward, registered here and removed afterwards: prefers shorter
    responses, then likelier ones."""
    import simulators

    def shortest_first(rollouts):
        return rollouts.logp_base - 10.0 * rollouts.lengths

    simulators.register_reward("shortest_first", per_draw=True)(shortest_first)
    yield shortest_first
    del simulators.REWARDS["shortest_first"]


def test_builtin_rewards_are_registered_with_their_properties():
    import simulators

    r = simulators.REWARDS
    assert list(r)[:5] == [
        "log_likelihood",
        "length_normalized",
        "majority",
        "self_certainty",
        "negative_entropy",
    ]
    assert r["majority"].fn is simulators.majority_vote and not r["majority"].per_draw
    assert r["majority"].needs == ("answers",)
    assert all(r[n].per_draw for n in ("log_likelihood", "length_normalized", "self_certainty"))
    assert simulators.get_reward(simulators.log_likelihood) is r["log_likelihood"]


def test_a_registered_reward_runs_through_the_algorithms_by_name_and_by_function(shortest_first):
    """Per-draw, so sft_sharpening accepts a traced N_used with it; and bon_accuracy gives the
    exact best-of-N accuracy under it (checked against the exact law of its reward table)."""
    import bounds
    import simulators
    import theory

    assert simulators.get_reward("shortest_first").fn is shortest_first
    assert simulators.is_per_draw(shortest_first)
    toy = simulators.length_bias_toy()
    N = np.array([1, 4, 16])
    got = bounds.bon_accuracy(toy, N, "shortest_first")
    assert np.array_equal(got, bounds.bon_accuracy(toy, N, shortest_first))
    # Brute force: the exact best-of-N law under the table r[x, y] = logp - 10 |y|.
    r = np.asarray(toy.logp) - 10.0 * np.asarray(toy.lengths)
    for k, acc in zip(N, got, strict=True):
        law = np.exp(np.asarray(theory.bon_law(toy.logp, int(k), jnp.asarray(r))))
        assert acc == pytest.approx(float(np.mean((law * np.asarray(toy.correct)).sum(1))))
    oracle = simulators.SampleEvaluateOracle(
        simulators.TabularPolicy(toy.logp), np.full(toy.num_prompts, 1 / toy.num_prompts)
    )
    res = jax.jit(
        lambda k, Nu: (
            simulators.sft_sharpening(
                k,
                oracle,
                simulators.TabularClass(*toy.logp.shape),
                8,
                4,
                reward=shortest_first,
                N_used=Nu,
                realizability="skip",
            ).queries
        )
    )(jax.random.key(0), jnp.asarray(2))
    assert int(res) == 8 * 2


def test_an_unregistered_callable_is_not_per_draw():
    import simulators

    def mine(rollouts):
        return rollouts.logp_base

    assert not simulators.is_per_draw(mine)
    toy = simulators.length_bias_toy()
    oracle = simulators.SampleEvaluateOracle(
        simulators.TabularPolicy(toy.logp), np.full(toy.num_prompts, 1 / toy.num_prompts)
    )
    with pytest.raises(ValueError, match="N_used must be a static int"):
        jax.jit(
            lambda Nu: (
                simulators.sft_sharpening(
                    jax.random.key(0),
                    oracle,
                    simulators.TabularClass(*toy.logp.shape),
                    8,
                    4,
                    reward=mine,
                    N_used=Nu,
                    realizability="skip",
                ).queries
            )
        )(jnp.asarray(2))


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda s: s.register_reward("log_likelihood", per_draw=True)(lambda r: r.logp_base),
            "registered already",
        ),
        (
            lambda s: s.register_reward("again", per_draw=True)(s.log_likelihood),
            "registered already",
        ),
        (lambda s: s.register_reward("x", per_draw="yes"), "per_draw"),
        (lambda s: s.register_reward("x", per_draw=True, needs=("nope",)), "Rollouts fields"),
        (lambda s: s.get_reward("nope"), "one of"),
    ],
)
def test_registry_refuses_bad_registrations(call, match):
    import simulators

    before = dict(simulators.REWARDS)
    with pytest.raises(ValueError, match=match):
        call(simulators)
    assert simulators.REWARDS == before


@pytest.fixture
def loglik_copies():
    """Two user registrations of r = log pi_base: one declaring it (log_base=True), one not."""
    import simulators

    def declared(rollouts):
        return rollouts.logp_base

    def undeclared(rollouts):
        return rollouts.logp_base

    simulators.register_reward("loglik_declared", per_draw=True, log_base=True)(declared)
    simulators.register_reward("loglik_undeclared", per_draw=True)(undeclared)
    yield declared, undeclared
    del simulators.REWARDS["loglik_declared"], simulators.REWARDS["loglik_undeclared"]


def test_log_base_property_decides_the_closed_form_realizability_check(loglik_copies):
    """The realizability targets (pi^BoN_N, Assumption 4.1; pi*_beta, Eq. 3 / Assumption 4.3)
    are checked for a reward registered with log_base=True, by name or by function, and not for
    an identical reward that does not declare it; the learned policies are the same."""
    import simulators

    declared, _ = loglik_copies
    assert simulators.REWARDS["log_likelihood"].log_base
    assert not any(simulators.REWARDS[n].log_base for n in ("length_normalized", "majority"))
    lp = jnp.log(jnp.asarray([[0.5, 0.3, 0.2]]))
    oracle = sim.make_oracle(sim.TabularPolicy(lp))
    # A finite class without pi^BoN_3 nor pi*_beta: the log_base check refuses it.
    cls = sim.FiniteClass(jnp.stack([jnp.full_like(lp, -np.log(3)), lp]))
    key = jax.random.key(0)
    for reward in ("loglik_declared", declared, "log_likelihood"):
        with pytest.raises(ValueError, match="Assumption 4.1"):
            sim.sft_sharpening(key, oracle, cls, 50, 3, reward=reward)
        with pytest.raises(ValueError, match="Assumption 4.3"):
            sim.dpo_sharpening(key, oracle, cls, 50, 0.5, reward=reward)
    sft = sim.sft_sharpening(key, oracle, cls, 50, 3, reward="loglik_undeclared")
    dpo = sim.dpo_sharpening(key, oracle, cls, 50, 0.5, reward="loglik_undeclared")
    assert int(sft.diagnostics["realizable"]) == -1 == int(dpo.diagnostics["realizable"])
    # Same scores, so the same fit as the built-in log-likelihood (whose check only flags here).
    runs = ((sim.sft_sharpening, dict(n=50, N=3)), (sim.dpo_sharpening, dict(n=50, beta=0.5)))
    for run, kw in runs:
        ref = run(key, oracle, cls, **kw, realizability="flag")
        got = run(key, oracle, cls, **kw, reward="loglik_declared", realizability="flag")
        assert int(ref.diagnostics["realizable"]) == 0 == int(got.diagnostics["realizable"])
        np.testing.assert_array_equal(got.policy.logp, ref.policy.logp)
    # The big tabular class contains every target: the declared reward's check passes.
    tab = sim.sft_sharpening(key, oracle, sim.TabularClass(1, 3), 50, 3, reward="loglik_declared")
    assert int(tab.diagnostics["realizable"]) == 1


def test_register_reward_refuses_a_non_bool_log_base():
    import simulators

    before = dict(simulators.REWARDS)
    with pytest.raises(ValueError, match="log_base must be True or False"):
        simulators.register_reward("x", per_draw=True, log_base=1)
    assert simulators.REWARDS == before
