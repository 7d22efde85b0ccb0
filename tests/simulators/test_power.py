"""Exact laws of power distributions (simulators.power_policy) and token-level tempering.

References are brute force: ``pi^alpha`` normalized over every enumerated response of the base
policy's table, independent of the look-ahead recursions.
"""

from __future__ import annotations

import statistics

import jax
import numpy as np
import pytest

import simulators as sim
import theory

ALPHAS = (0.3, 1.0, 2.5, 7.0)


def _brute_power(policy, alpha):
    """``[X, Y]`` log of ``pi^alpha / Z`` over the enumerated responses (float64 numpy)."""
    logits = alpha * np.asarray(sim.to_table(policy), np.float64)
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def _assert_same_log_table(got, want, atol=1e-10):
    got, want = np.asarray(got), np.asarray(want)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    np.testing.assert_allclose(got[np.isfinite(got)], want[np.isfinite(want)], rtol=0, atol=atol)


def _tv(logp, logq):
    """Total variation per prompt ``[X]``."""
    return 0.5 * np.abs(np.exp(np.asarray(logp)) - np.exp(np.asarray(logq))).sum(axis=-1)


AR_EOS = sim.random_autoregressive(jax.random.key(0), 2, 3, 3, eos=2, concentration=0.5)
AR_EOS0 = sim.random_autoregressive(jax.random.key(1), 2, 4, 3, eos=0, concentration=0.8)
AR_FIXED = sim.random_autoregressive(jax.random.key(2), 2, 2, 4, concentration=0.5)
MARKOV = sim.random_markov(jax.random.key(3), 2, 3, 4, concentration=0.5)
MARKOV_LONG = sim.random_markov(jax.random.key(4), 2, 4, 200, concentration=0.5)
IDS = ("ar-eos2", "ar-eos0", "ar-fixed", "markov")


# --------------------------------------------------------------------------------------------------
# Exact laws against brute force.


@pytest.mark.parametrize("alpha", (1.5, 2.0, 4.0, 11.0))
def test_tabular_power_is_the_kl_tilt(alpha):
    policy, _ = sim.dirichlet_tabular(jax.random.key(5), 4, 30, 0.3)
    got = sim.power_policy(policy, alpha)
    assert isinstance(got, sim.TabularPolicy)
    want = theory.kl_tilt(policy.logp, 1.0 / (alpha - 1.0))  # Eq. 3: pi_base^(1 + 1/beta)
    _assert_same_log_table(got.logp, want, atol=1e-12)
    _assert_same_log_table(sim.tempered_policy(policy, 1.0 / alpha).logp, got.logp, atol=1e-12)


@pytest.mark.parametrize("policy", (AR_EOS, AR_EOS0, AR_FIXED, MARKOV), ids=IDS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_power_matches_brute_force(policy, alpha):
    got = sim.power_policy(policy, alpha)
    if isinstance(policy, sim.AutoregressivePolicy):
        assert isinstance(got, sim.AutoregressivePolicy)
        assert (got.H, got.eos) == (policy.H, policy.eos)
    assert got.num_responses == policy.num_responses
    _assert_same_log_table(sim.to_table(got), _brute_power(policy, alpha))
    if alpha == 1.0:  # the identity
        _assert_same_log_table(sim.to_table(got), sim.to_table(policy), atol=1e-12)


@pytest.mark.parametrize("policy", (AR_EOS, MARKOV), ids=("autoregressive", "markov"))
def test_power_of_power_multiplies_exponents(policy):
    twice = sim.power_policy(sim.power_policy(policy, 2.0), 1.5)
    _assert_same_log_table(sim.to_table(twice), sim.to_table(sim.power_policy(policy, 3.0)))


def test_power_under_jit_matches_eager():
    f = jax.jit(lambda a: sim.power_policy(AR_EOS, a).logp)
    np.testing.assert_allclose(f(2.5), sim.power_policy(AR_EOS, 2.5).logp, rtol=0, atol=1e-13)


# --------------------------------------------------------------------------------------------------
# Monte Carlo: draws follow the exact table.


@pytest.mark.parametrize(
    "policy, alpha", ((AR_EOS, 2.5), (AR_EOS0, 0.5), (MARKOV, 3.0)), ids=("ar", "ar-eos0", "mk")
)
def test_samples_follow_the_table(policy, alpha):
    power = sim.power_policy(policy, alpha)
    table = np.exp(np.asarray(sim.to_table(power)))
    toks, _ = sim.enumerate_responses(power)
    column = {tuple(row): i for i, row in enumerate(np.asarray(toks).tolist())}
    n = 20_000
    x = np.arange(power.num_prompts)
    r = sim.sample(jax.random.key(6), power, x, n)
    np.testing.assert_allclose(
        r.logp_base, sim.log_prob(power, x[:, None], r.tokens), rtol=0, atol=1e-12
    )
    counts = np.zeros_like(table)
    for p, rows in enumerate(np.asarray(r.tokens).tolist()):
        for row in rows:
            counts[p, column[tuple(row)]] += 1
    # Per-cell z test, Bonferroni over the cells at family-wise level 1e-4.
    z = statistics.NormalDist().inv_cdf(1 - 1e-4 / (2 * table.size))
    se = np.sqrt(n * table * (1 - table))
    assert np.all(np.abs(counts - n * table) <= z * se + 1e-9), np.abs(counts - n * table) / se
    assert np.all(counts[table == 0] == 0)


# --------------------------------------------------------------------------------------------------
# Long Markov chains and argmaxes.


@pytest.mark.parametrize("alpha", (0.5, 4.0))
def test_long_markov_power_is_finite_and_exact(alpha):
    power = sim.power_policy(MARKOV_LONG, alpha)
    assert power.H == 200 and power.num_responses == 4**200
    x = np.arange(2)
    r = sim.sample(jax.random.key(7), power, x, 64)
    lp = sim.log_prob(power, x[:, None], r.tokens)
    assert np.all(np.isfinite(lp))
    np.testing.assert_allclose(r.logp_base, lp, rtol=0, atol=1e-9)
    best = sim.sequence_argmax(power, x)
    np.testing.assert_array_equal(best, sim.markov_viterbi(MARKOV_LONG, x)[0])
    lp_best = sim.log_prob(power, x, best)
    assert np.all(np.isfinite(lp_best)) and np.all(lp_best >= lp.max(axis=1) - 1e-9)
    # log p_alpha(y) = alpha log pi(y) - log Z_alpha: differences across responses scale by alpha.
    base = sim.log_prob(MARKOV_LONG, x[:, None], r.tokens)
    np.testing.assert_allclose(lp - lp[:, :1], alpha * (base - base[:, :1]), rtol=1e-10, atol=1e-8)
    assert sim.greedy(power, x).shape == (2, 200)


@pytest.mark.parametrize("policy", (AR_EOS, AR_EOS0, AR_FIXED, MARKOV), ids=IDS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_sequence_argmax_is_the_base_argmax(policy, alpha):
    x = np.arange(policy.num_prompts)
    power = sim.power_policy(policy, alpha)
    np.testing.assert_array_equal(sim.sequence_argmax(power, x), sim.sequence_argmax(policy, x))
    best = np.asarray(sim.to_table(power)).max(axis=1)
    np.testing.assert_allclose(sim.log_prob(power, x, sim.sequence_argmax(power, x)), best)
    lp_greedy = sim.log_prob(power, x, sim.greedy(power, x))
    assert np.all(np.isfinite(lp_greedy)) and np.all(lp_greedy <= best + 1e-12)


def test_greedy_on_the_power_law_finds_the_sequence_argmax():
    # Prop. 3.1's counterexample: greedy on pi returns 'ba'; on pi^4 the look-ahead favours 'a'.
    policy, _ = sim.greedy_counterexample()
    x = np.array([0])
    np.testing.assert_array_equal(sim.greedy(policy, x), [[1, 0]])
    np.testing.assert_array_equal(sim.greedy(sim.power_policy(policy, 4.0), x), [[0, 1]])
    np.testing.assert_array_equal(sim.greedy(sim.tempered_policy(policy, 0.25), x), [[1, 0]])


# --------------------------------------------------------------------------------------------------
# Tempered (token-level) against power (sequence-level).


def test_tempered_and_power_differ_exactly():
    from bounds import power_spread_instance, power_spread_tv

    policy = power_spread_instance()
    alpha = 4.0
    power = sim.to_table(sim.power_policy(policy, alpha))
    tempered = sim.to_table(sim.tempered_policy(policy, 1.0 / alpha))
    # Exact: power puts .4^4 / (4 .15^4 + .4^4) on '1 eos', tempering .4^4 / (.6^4 + .4^4).
    want = power_spread_tv(alpha)
    tv = _tv(power, tempered)
    np.testing.assert_allclose(tv, [want], rtol=1e-12)
    assert tv[0] >= 0.1


@pytest.mark.parametrize("policy", (AR_EOS, MARKOV), ids=("autoregressive", "markov"))
def test_tempered_rows(policy):
    t = 0.7
    got = sim.tempered_policy(policy, t)
    assert type(got) is type(policy)
    if isinstance(policy, sim.MarkovPolicy):
        pairs = ((got.init_logp, policy.init_logp), (got.trans_logp, policy.trans_logp))
    else:
        pairs = ((got.logp, policy.logp),)
    for new, old in pairs:
        _assert_same_log_table(new, _log_normalize_np(np.asarray(old) / t), atol=1e-12)
    # Tempering the power law of a chain keeps it an exact (time-inhomogeneous) chain.
    power = sim.power_policy(policy, 2.0)
    assert type(sim.tempered_policy(power, t)) is type(power)


def _log_normalize_np(z):
    top = z.max(axis=-1, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis=-1, keepdims=True))


# --------------------------------------------------------------------------------------------------
# Bad input.


@pytest.mark.parametrize("bad", (0.0, -1.0, float("nan"), float("inf"), -np.inf))
@pytest.mark.parametrize("fn, name", ((sim.power_policy, "alpha"), (sim.tempered_policy, "temp")))
def test_bad_exponents_are_refused(fn, name, bad):
    with pytest.raises(ValueError, match=name):
        fn(AR_EOS, bad)


@pytest.mark.parametrize("bad", (True, "2", np.array([1.0, 2.0])))
@pytest.mark.parametrize("fn, name", ((sim.power_policy, "alpha"), (sim.tempered_policy, "temp")))
def test_non_scalar_exponents_are_refused(fn, name, bad):
    with pytest.raises((TypeError, ValueError), match=name):
        fn(MARKOV, bad)


@pytest.mark.parametrize("fn", (sim.power_policy, sim.tempered_policy))
def test_other_policies_are_refused(fn):
    linear = sim.random_linear_softmax(jax.random.key(8), 2, 5, 3)
    for policy in (linear, "policy", np.zeros((2, 3))):
        with pytest.raises(TypeError, match="policy"):
            fn(policy, 2.0)


@pytest.mark.parametrize("policy", (AR_EOS, MARKOV), ids=("autoregressive", "markov"))
def test_too_large_is_refused(policy):
    with pytest.raises(ValueError, match="policy"):
        sim.power_policy(policy, 2.0, max_entries=10)
    with pytest.raises(ValueError, match="to_table|entries"):
        sim.to_table(sim.power_policy(MARKOV_LONG, 2.0))


def test_inhomogeneous_chain_validates():
    cls = type(sim.power_policy(MARKOV, 2.0))
    good = sim.power_policy(MARKOV, 2.0)
    with pytest.raises(ValueError, match="trans_logp"):
        cls(good.init_logp, good.trans_logp + 0.1)
    with pytest.raises(ValueError, match="trans_logp"):
        cls(good.init_logp, good.trans_logp[:, :, :2])
    assert cls(good.init_logp, good.trans_logp).H == MARKOV.H
