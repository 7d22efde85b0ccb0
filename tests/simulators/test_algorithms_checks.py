"""Correctness and input checks of the algorithms, the oracle and the sweeps.

* tabular-type classes on an autoregressive ``pi_base`` learn on ``to_table``'s columns;
* a masked budget ``N_used < N`` never lets the self-reward see the unpaid draws;
* realizability (Assumption 4.1) is checked only for the log-likelihood self-reward;
* sweeps validate configs and budgets concretely before their traced call;
* bad prompt / response ids, negative smoothing, NaN tables are refused;
* Eq. 10's stopping rule stops at exact ties;
* XPO with the tabular class refuses a traced ``alpha``.
"""

import dataclasses
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim
import theory
from simulators._algorithms import _class_responses
from simulators._classes import pair_fit_params


def _ar_oracle(concentration, eos=None, key=1):
    pol = sim.random_autoregressive(
        jax.random.key(key), 1, 3, 2, eos=eos, concentration=concentration
    )
    return sim.make_oracle(pol)


# ----------------------------------------------------------------------------------------------
# Tabular-type classes on autoregressive base models


@pytest.mark.parametrize("eos", [None, 0])
def test_response_index_is_the_to_table_column(eos):
    """Every enumerated response maps to its own column of to_table (eos-padded order too)."""
    pol = sim.random_autoregressive(jax.random.key(0), 1, 3, 3, eos=eos)
    toks, _ = sim.enumerate_responses(pol)
    Y = sim.to_table(pol).shape[1]
    assert toks.shape[0] == Y
    idx = _class_responses(sim.TabularClass(1, Y), toks, pol)
    np.testing.assert_array_equal(np.asarray(idx), np.arange(Y))
    # and under jit, with the policy traced
    idx = jax.jit(lambda p, t: _class_responses(sim.TabularClass(1, Y), t, p))(pol, toks)
    np.testing.assert_array_equal(np.asarray(idx), np.arange(Y))
    # a Markov class keeps the tokens
    assert _class_responses(sim.MarkovClass(1, 3, 3), toks, pol).shape == toks.shape


@pytest.mark.parametrize("eos", [None, 0])
def test_sft_tabular_class_on_autoregressive_base_learns_bon_law(eos):
    """SFT-Sharpening with TabularClass(1, Y) on an AutoregressivePolicy (V = 3, H = 2) learns
    the best-of-N law pi^BoN_N of to_table(pi_base) (Assumption 4.1), entry by entry within 5
    standard errors of the empirical frequency."""
    oracle = _ar_oracle(0.5, eos)
    table = sim.to_table(oracle.policy)
    Y = table.shape[1]
    n, N = 20_000, 3
    res = sim.sft_sharpening(jax.random.key(2), oracle, sim.TabularClass(1, Y), n, N)
    assert int(res.diagnostics["realizable"]) == 1
    got = np.exp(np.asarray(res.policy.logp[0]))
    law = np.exp(np.asarray(theory.bon_law(table, N)[0]))
    se = np.sqrt(law * (1 - law) / n)
    assert np.all(np.abs(got - law) <= 5 * se + 1e-12), (got, law)
    # The BoN responses' base log-likelihoods are the table's entries at the learned support.
    assert np.all(np.isin(np.round(res.diagnostics["bon_logp_base"], 10), np.round(table[0], 10)))


def test_dpo_tabular_class_on_autoregressive_base_is_kl_tilt():
    """Eq. 8 with the tabular class on an autoregressive base: the closed-form fit is exactly
    pi*_beta = kl_tilt(to_table(pi_base), beta) once every response is observed."""
    oracle = _ar_oracle(3.0)
    table = sim.to_table(oracle.policy)
    assert float(jnp.min(table)) > np.log(0.01)  # every response is drawn w.p. ~1 below
    beta = 0.5
    res = sim.dpo_sharpening(jax.random.key(3), oracle, sim.TabularClass(1, 9), 3000, beta)
    np.testing.assert_allclose(res.policy.logp, theory.kl_tilt(table, beta), rtol=1e-10)


def test_xpo_tabular_class_on_autoregressive_base():
    """XPO (alpha = 0) on an autoregressive base evaluates its own responses as token sequences
    through the generalized oracle; the last iterate is the tabular squared-loss fit, pi*_beta."""
    oracle = _ar_oracle(3.0)
    table = sim.to_table(oracle.policy)
    beta = 0.5
    res = sim.xpo_sharpening(
        jax.random.key(4), oracle, sim.TabularClass(1, 9), 400, beta, 0.0, selection="last"
    )
    assert int(res.queries) == 800
    np.testing.assert_allclose(res.policy.logp, theory.kl_tilt(table, beta), rtol=1e-10)


# ----------------------------------------------------------------------------------------------
# Masked budgets and non-per-draw rewards


def _votes(rollouts):
    """Self-consistency on the response itself: how many of the prompt's draws equal it."""
    t = rollouts.tokens[..., 0]
    return jnp.sum(t[:, :, None] == t[:, None, :], axis=-1).astype(float)


def test_masked_budget_does_not_leak_unpaid_draws_into_a_vote_reward():
    """N = 20 draws masked to N_used = 2 under a vote-counting reward is the N = 2 run in law.

    With two draws, equal ones win and distinct ones tie (broken uniformly), so the best-of-2
    law under this reward is pi_base itself: P[y] = p_y^2 + p_y (1 - p_y) = p_y."""
    p = np.array([0.4, 0.3, 0.2, 0.1])
    oracle = sim.make_oracle(sim.TabularPolicy(jnp.log(jnp.asarray([p]))))
    cls = sim.TabularClass(1, 4)
    n = 20_000
    kw = dict(reward=_votes, realizability="skip")
    masked = sim.sft_sharpening(jax.random.key(0), oracle, cls, n, 20, N_used=2, **kw)
    true = sim.sft_sharpening(jax.random.key(1), oracle, cls, n, 2, **kw)
    assert masked.queries == true.queries == 2 * n
    a = np.exp(np.asarray(masked.policy.logp[0]))
    b = np.exp(np.asarray(true.policy.logp[0]))
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(a - p) <= 5 * se), a
    assert np.all(np.abs(a - b) <= 5 * np.sqrt(2) * se), (a, b)
    # A concrete integer scalar is taken as static: the same run as the Python int.
    c = sim.sft_sharpening(jax.random.key(0), oracle, cls, n, 20, N_used=jnp.asarray(2), **kw)
    np.testing.assert_array_equal(c.policy.logp, masked.policy.logp)
    # A traced N_used cannot slice the draws: refused for a reward outside the per-draw set...
    with pytest.raises(ValueError, match="N_used must be a static int"):
        jax.jit(
            lambda nu: sim.sft_sharpening(jax.random.key(0), oracle, cls, 50, 20, N_used=nu, **kw)
        )(jnp.asarray(2))
    # ... and accepted for a per-draw one.
    out = jax.jit(
        lambda nu: (
            sim.sft_sharpening(
                jax.random.key(0), oracle, cls, 50, 20, N_used=nu, realizability="skip"
            ).queries
        )
    )(jnp.asarray(2))
    assert int(out) == 100


# ----------------------------------------------------------------------------------------------
# Realizability follows the reward


def test_sft_realizability_is_checked_for_the_log_likelihood_reward_only():
    """Assumption 4.1's target is the log-likelihood best-of-N law. A class containing the
    best-of-N law of another reward is not refused for it (flag -1, unknown); the log-likelihood
    check still refuses it."""
    p = np.array([[0.5, 0.3, 0.2]])
    lp = jnp.log(jnp.asarray(p))
    N = 3
    inverse = theory.bon_law(lp, N, reward=-lp)  # the law under r = -log pi_base
    cls = sim.FiniteClass(jnp.stack([inverse, jnp.full_like(lp, -np.log(3))]))
    oracle = sim.make_oracle(sim.TabularPolicy(lp))

    def least_likely(rollouts):
        return -rollouts.logp_base

    res = sim.sft_sharpening(jax.random.key(0), oracle, cls, 200, N, reward=least_likely)
    assert int(res.diagnostics["realizable"]) == -1
    np.testing.assert_allclose(res.policy.logp, inverse, rtol=1e-12)  # ERM picks member 0
    with pytest.raises(ValueError, match="Assumption 4.1"):
        sim.sft_sharpening(jax.random.key(0), oracle, cls, 200, N)


# ----------------------------------------------------------------------------------------------
# Sweeps validate before their traced call


@pytest.fixture(scope="module")
def sft_config():
    pol, mu = sim.coverage_tabular(6, 20, 5.0, key=jax.random.key(0))
    return sim.TabularSFTConfig(pol.logp, mu, n=40, N=8, n_used=40, N_used=8, delta=0.1)


@pytest.mark.parametrize("method", ["per_sample", "exact_law"])
@pytest.mark.parametrize(
    "budgets, match",
    [
        ({"n_used": [40, 400], "N_used": [8, 8]}, "n_used must be <= config.n"),
        ({"n_used": [40, 0], "N_used": [8, 8]}, "n_used must be >= 1"),
        ({"n_used": [40, 40], "N_used": [8, 80]}, "N_used must be <= config.N"),
        ({"n_used": [40.0, 20.0]}, "n_used must be an integer"),
        ({"delta": [0.1, 1.5]}, "delta"),
        ({"smoothing": [0.0, -1.0]}, "smoothing"),
    ],
)
def test_sweep_refuses_bad_budgets(sft_config, method, budgets, match):
    cfg = dataclasses.replace(sft_config, method=method)
    with pytest.raises((ValueError, TypeError), match=match):
        sim.sweep(sim.run_tabular_sft, cfg, seeds=[3], budgets=budgets, progress=False)


@pytest.mark.parametrize("method", ["per_sample", "exact_law"])
@pytest.mark.parametrize(
    "field, value, match",
    [
        ("mu", "double", "config.mu"),
        ("delta", 1.5, "config.delta"),
        ("smoothing", -1.0, "config.smoothing"),
        ("n_used", 0, "config.n_used"),
        ("N_used", 9, "config.N_used"),
        ("logp_base", "nan", "config.logp_base"),
    ],
)
def test_sweep_and_eager_run_refuse_bad_configs(sft_config, method, field, value, match):
    cfg = dataclasses.replace(sft_config, method=method)
    if value == "double":
        value = cfg.mu * 2
    elif value == "nan":
        value = cfg.logp_base.at[0, 0].set(jnp.nan)
    bad = dataclasses.replace(cfg, **{field: value})
    with pytest.raises(ValueError, match=match):
        sim.sweep(sim.run_tabular_sft, bad, seeds=[3], progress=False)
    with pytest.raises(ValueError, match=match):  # one bad setting among good ones, labelled
        sim.sweep(sim.run_tabular_sft, {"good": cfg, "bad": bad}, seeds=[3], progress=False)
    with pytest.raises(ValueError, match=match):
        sim.run_tabular_sft(jax.random.key(0), bad)


def test_sweep_with_valid_budgets_matches_eager_runs(sft_config):
    """Validation changes nothing for valid input: sweep rows equal eager runs."""
    budgets = {"n_used": [10, 40], "N_used": [2, 8]}
    df = sim.sweep(sim.run_tabular_sft, sft_config, seeds=[3], budgets=budgets, progress=False)
    for b, (nu, Nu) in enumerate(zip(budgets["n_used"], budgets["N_used"], strict=True)):
        out = sim.run_tabular_sft(
            jax.random.key(3), dataclasses.replace(sft_config, n_used=nu, N_used=Nu)
        )
        for metric, value in out.items():
            got = df[(df.budget == b) & (df.metric == metric)].value
            assert len(got) == 1 and np.isclose(float(got.iloc[0]), float(value))


# ----------------------------------------------------------------------------------------------
# Bad ids, smoothing and tables


@pytest.fixture(scope="module")
def pol():
    return sim.TabularPolicy(jnp.log(jnp.array([[0.1, 0.2, 0.3, 0.4], [0.25] * 4])))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda p: sim.log_prob(p, 0, 7), ValueError, r"y must hold response ids in \[0, 4\)"),
        (lambda p: sim.log_prob(p, 0, -1), ValueError, r"y must hold response ids"),
        (lambda p: sim.log_prob(p, 5, 0), ValueError, r"x must hold prompt ids in \[0, 2\)"),
        (lambda p: sim.log_prob(p, 0, 1.7), TypeError, r"y must hold integer"),
        (
            lambda p: sim.evaluate(sim.make_oracle(p), jnp.array([0]), jnp.array([9])),
            ValueError,
            r"y must hold response ids",
        ),
        (lambda p: sim.greedy(p, jnp.array([3])), ValueError, r"x must hold prompt ids"),
        (lambda p: sim.sequence_argmax(p, jnp.array([-1])), ValueError, r"x must hold prompt"),
        (
            lambda p: sim.mle(sim.TabularClass(2, 4), jnp.array([0, 0]), jnp.array([7, 7])),
            ValueError,
            r"y must hold response ids in \[0, 4\)",
        ),
        (
            lambda p: sim.mle(sim.TabularClass(2, 4), jnp.array([5]), jnp.array([1])),
            ValueError,
            r"x must hold prompt ids in \[0, 2\)",
        ),
        (
            lambda p: sim.mle(sim.FiniteClass(jnp.stack([p.logp, p.logp[::-1]])), [0, 0], [9, 9]),
            ValueError,
            r"y must hold response ids",
        ),
        (
            lambda p: sim.fit_squared_loss(
                sim.TabularClass(2, 4),
                sim.make_pair_data([0], [8], [1], [-1.0], [-1.0]),
                0.5,
            ),
            ValueError,
            r"data.y must hold response ids",
        ),
        (
            lambda p: sim.mle(sim.TabularClass(2, 4, smoothing=-0.5), [0], [1]),
            ValueError,
            r"smoothing must be >= 0",
        ),
        (
            lambda p: sim.mle(sim.MarkovClass(2, 2, 3, smoothing=-0.5), [0], [[0, 1, 1]]),
            ValueError,
            r"smoothing must be >= 0",
        ),
        (
            lambda p: sim.sft_sharpening(
                jax.random.key(0), sim.make_oracle(p), sim.TabularClass(2, 4, smoothing=-1.0), 10, 3
            ),
            ValueError,
            r"smoothing must be >= 0",
        ),
        (
            lambda p: sim.sample_indices(jax.random.key(0), jnp.array([0.0, jnp.nan]), 3),
            ValueError,
            r"logp contains NaN",
        ),
        (
            lambda p: sim.sample_indices(jax.random.key(0), jnp.array([0.0, jnp.inf]), 3),
            ValueError,
            r"logp contains \+inf",
        ),
        (
            lambda p: sim.sample_indices(jax.random.key(0), jnp.full(3, -jnp.inf), 3),
            ValueError,
            r"all -inf",
        ),
        (
            lambda p: sim.sample(
                jax.random.key(0), sim.TabularPolicy(p.logp.at[1].set(jnp.nan)), jnp.array([0]), 2
            ),
            ValueError,
            r"\blogp contains NaN",
        ),
        (
            lambda p: sim.make_oracle(sim.TabularPolicy(p.logp.at[1].set(jnp.nan))),
            ValueError,
            r"contains NaN",
        ),
    ],
)
def test_bad_ids_smoothing_and_tables_are_refused(pol, call, error, match):
    with pytest.raises(error, match=match):
        call(pol)


def test_checked_functions_still_work_under_jit(pol):
    """Range checks run on concrete values only: traced ids pass through jit unchanged."""
    f = jax.jit(lambda x, y: sim.log_prob(pol, x, y))
    np.testing.assert_allclose(f(jnp.array([0, 1]), jnp.array([3, 2])), [np.log(0.4), np.log(0.25)])
    g = jax.jit(lambda lp: sim.sample_indices(jax.random.key(0), lp, 5))
    assert g(pol.logp[0]).shape == (5,)
    assert int(sim.log_prob(pol, 1, 3) == np.log(0.25))


# ----------------------------------------------------------------------------------------------
# Eq. 10 at exact ties


def _exact_mean_stop(p, mu):
    """E[N_mu] for Eq. 10 from P[N_mu > k] = P[k max_{j<=k} p(y_j) < mu] = F(mu/k)^k, with
    F(t) = pi_base{y : p(y) < t}, in exact rational arithmetic (ties stop)."""
    p = [Fraction(v) for v in p]
    total, k = Fraction(1), 1  # the k = 0 term
    while True:
        F = sum((v for v in p if k * v < mu), Fraction(0))
        term = F**k
        if term < Fraction(1, 10**18):
            return float(total)
        total += term
        k += 1


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_stopping_rule_stops_at_exact_ties(dtype):
    """p* = 1/4 and mu = 2: k p* reaches mu exactly at k = 8, where Eq. 10 stops."""
    lp = jnp.log(jnp.full((1, 4), 0.25, dtype))
    oracle = sim.make_oracle(sim.TabularPolicy(lp))
    ada = sim.draw_adaptive(jax.random.key(0), oracle, 50, sim.likelihood_stopping_rule(2.0), 30)
    np.testing.assert_array_equal(np.asarray(ada.num_draws), 8)
    if dtype == jnp.float64:
        res = sim.adaptive_sft_sharpening(
            jax.random.key(1), oracle, sim.TabularClass(1, 4), 20, cap=30, mu_stop=2.0
        )
        assert int(res.queries) == 20 * 8
    for p, mu, k in [(0.1, 1.0, 10), (0.2, 3.0, 15), (0.125, 3.0, 24), (0.5, 1.0, 2)]:
        stop = sim.likelihood_stopping_rule(mu)(jnp.full((1, 40), np.log(p), dtype))
        assert int(jnp.argmax(stop[0])) + 1 == k, (p, mu)


def test_adaptive_mean_draws_match_exact_sequential_value():
    """The mean of N_mu over prompts matches E[N_mu] computed exactly (sequential definition)."""
    p = [0.25, 0.25, 0.2, 0.15, 0.1, 0.05]
    mu = 2.0
    oracle = sim.make_oracle(sim.TabularPolicy(jnp.log(jnp.asarray([p]))))
    n = 100_000
    ada = sim.draw_adaptive(jax.random.key(3), oracle, n, sim.likelihood_stopping_rule(mu), 120)
    draws = np.asarray(ada.num_draws, float)
    want = _exact_mean_stop(["0.25", "0.25", "0.2", "0.15", "0.1", "0.05"], 2)
    assert abs(draws.mean() - want) <= 5 * draws.std() / np.sqrt(n), (draws.mean(), want)


# ----------------------------------------------------------------------------------------------
# XPO with the tabular class needs a concrete alpha


def test_xpo_tabular_refuses_traced_alpha(pol):
    oracle = sim.make_oracle(pol)
    cls = sim.TabularClass(2, 4)

    def run(alpha):
        return sim.xpo_sharpening(
            jax.random.key(0), oracle, cls, 5, 0.5, alpha, realizability="skip"
        ).policy.logp

    with pytest.raises(TypeError, match="alpha must be a concrete value"):
        jax.vmap(run)(jnp.array([0.0, 0.3]))
    with pytest.raises(TypeError, match="alpha must be a concrete value"):
        jax.jit(run)(0.3)
    with pytest.raises(ValueError, match="unbounded below"):
        run(jnp.asarray(0.3))
    assert np.isfinite(np.asarray(run(0.0))).any()
    # The tabular pair fit itself returns NaN, not the alpha = 0 fit, for a traced alpha > 0
    # (its table and its exact masses alike).
    data = sim.make_pair_data([0, 1], [1, 2], [3, 0], [-1.0, -1.0], [-1.2, -1.4])
    fit = jax.jit(lambda a: pair_fit_params(cls, data, 0.5, a))
    assert np.isnan(np.asarray(cls.table(fit(0.3)))).all()
    assert np.isnan(np.asarray(sim.log_mass_in_set(fit(0.3), jnp.ones((2, 4), bool))[0])).all()
    assert np.isfinite(np.asarray(cls.table(fit(0.0)))).any()


# ----------------------------------------------------------------------------------------------
# Traced budgets are checked where they become concrete (at run time)


@pytest.mark.parametrize("name", ["n_used", "N_used"])
def test_traced_budget_out_of_range_raises_at_run_time_naming_it(name):
    oracle = sim.make_oracle(sim.TabularPolicy.from_logits(jnp.zeros((2, 3))))
    cls = sim.TabularClass(2, 3)

    def queries(value):
        kw = {name: value}
        return sim.sft_sharpening(
            jax.random.key(0), oracle, cls, 8, 4, realizability="skip", **kw
        ).queries

    run = jax.jit(queries)
    assert int(run(jnp.asarray(2))) == (2 * 4 if name == "n_used" else 8 * 2)
    for bad in (0, 9):
        with pytest.raises(Exception, match=f"{name} must satisfy 1 <= {name} <= "):
            jax.block_until_ready(run(jnp.asarray(bad)))
    with pytest.raises(Exception, match="n_used must satisfy"):
        fn = jax.jit(
            lambda v: (
                sim.dpo_sharpening(
                    jax.random.key(0), oracle, cls, 8, 0.5, n_used=v, realizability="skip"
                ).queries
            )
        )
        jax.block_until_ready(fn(jnp.asarray(-1)))
