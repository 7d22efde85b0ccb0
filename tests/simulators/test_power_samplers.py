"""The prefix oracle and the power samplers (issue 16): exact laws, Monte Carlo against them with
standard-error tolerances, fitted convergence rates, and argument checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators
import theory
from bounds import fit_loglog_slope
from bounds.claims.power import response_law

jax.config.update("jax_enable_x64", True)

Z_MAX = 4.5  # Bonferroni over a few dozen cells at a family-wise level below 1e-3


def _tree():
    return simulators.random_autoregressive(jax.random.key(0), 2, 3, 3, eos=2)


def _policies():
    tree = _tree()
    markov = simulators.random_markov(jax.random.key(1), 2, 3, 3)
    tab = simulators.TabularPolicy(jax.nn.log_softmax(jax.random.normal(jax.random.key(2), (2, 5))))
    return {
        "tabular": tab,
        "tree": tree,
        "markov": markov,
        "inhomogeneous": simulators.power_policy(markov, 1.5),
    }


def _histogram(policy, rollouts) -> np.ndarray:
    """``[P, Y]`` empirical law of the rollouts over ``to_table``'s columns."""
    return response_law(policy, rollouts.tokens)


def _max_z(empirical, law, n) -> float:
    se = np.sqrt(np.clip(law * (1 - law), 1e-300, None) / n)
    return float(np.max(np.abs(empirical - law) / np.maximum(se, 1.0 / n)))


@pytest.mark.parametrize("kind", ["tabular", "tree", "markov", "inhomogeneous"])
def test_continuation_keeps_the_prefix_and_scores_every_token(kind):
    policy = _policies()[kind]
    T = simulators.response_horizon(policy)
    x = jnp.tile(jnp.arange(2), 50)
    base = simulators.sample(jax.random.key(3), policy, jnp.arange(2), 50)
    tokens = jnp.moveaxis(base.tokens, 0, 1).reshape(100, T)
    start = jax.random.randint(jax.random.key(4), (100,), 0, T + 1)
    out, cost = simulators.continue_prefix(jax.random.key(5), policy, x, tokens, start, None, 0.7)
    t = jnp.arange(T)
    kept = (t[None] < start[:, None]) & (t[None] < out.lengths[:, None])
    assert bool(jnp.all(jnp.where(kept, out.tokens == tokens, True)))
    y = out.tokens[:, 0] if kind == "tabular" else out.tokens
    np.testing.assert_allclose(
        jnp.sum(out.token_logp, -1), simulators.log_prob(policy, x, y), rtol=0, atol=1e-12
    )
    tempered = simulators.tempered_policy(policy, 0.7)
    np.testing.assert_allclose(
        jnp.sum(out.token_logq, -1), simulators.log_prob(tempered, x, y), rtol=0, atol=1e-12
    )
    assert cost.tokens == int(jnp.sum(out.generated))
    assert cost.calls == int(jnp.sum(out.generated > 0))
    assert bool(jnp.all(out.generated == jnp.maximum(out.lengths - start, 0)))


def test_samplers_match_their_exact_laws_by_monte_carlo():
    policy = _tree()
    n, alpha = 2500, 3.0
    prompts = jnp.arange(2)
    table = simulators.to_table(policy)
    laws = {
        "temperature": np.exp(simulators.to_table(simulators.tempered_policy(policy, 1 / alpha))),
        "bon": np.exp(theory.bon_law(table, 3)),
        "mh": np.exp(simulators.mh_law(policy, alpha, num_steps=3)),
    }
    draws = {
        "temperature": simulators.temperature_sampler(jax.random.key(6), policy, prompts, n, alpha),
        "bon": simulators.bon_sampler(jax.random.key(7), policy, prompts, n, N=3),
        "mh": simulators.mh_sampler(jax.random.key(8), policy, prompts, n, alpha, num_steps=3),
    }
    for name, (rollouts, cost) in draws.items():
        assert _max_z(_histogram(policy, rollouts), np.asarray(laws[name]), n) < Z_MAX, name
        np.testing.assert_allclose(
            rollouts.logp_base,
            simulators.log_prob(policy, rollouts.prompts[:, None], rollouts.tokens),
            atol=1e-12,
        )
        assert cost.tokens >= int(jnp.sum(rollouts.lengths))
    # Best-of-N pays N samples per output.
    assert draws["bon"][1].calls == 2 * n * 3


@pytest.mark.parametrize("kind", ["tabular", "tree", "markov"])
def test_mh_exact_law_converges_to_the_power_law_geometrically(kind):
    policy = _policies()[kind]
    alpha = 4.0
    target = np.exp(np.asarray(simulators.to_table(simulators.power_policy(policy, alpha))))
    steps = np.array([4, 8, 16, 32])
    tv = np.array(
        [
            np.max(
                0.5 * np.abs(np.exp(simulators.mh_law(policy, alpha, num_steps=k)) - target).sum(-1)
            )
            for k in steps
        ]
    )
    if kind == "tabular":
        # One token per response: the proposal pi^alpha per token *is* the target, every move is
        # accepted and the law is exact after the first step.
        assert np.all(tv < 1e-12), tv
        return
    # Each block's chain is a finite ergodic chain: TV falls like rho^K, a line in log TV vs K.
    slope = np.polyfit(steps, np.log(tv), 1)[0]
    assert slope < -0.05, (kind, tv)
    assert tv[-1] < tv[0] / 10


def test_alpha_one_recovers_the_base_policy_for_every_sampler():
    policy = _tree()
    table = np.exp(np.asarray(simulators.to_table(policy)))
    np.testing.assert_allclose(
        np.exp(simulators.mh_law(policy, 1.0, num_steps=2)), table, atol=1e-12
    )
    prompts, n = jnp.arange(2), 1500
    rollouts, cost = simulators.smc_sampler(jax.random.key(9), policy, prompts, n, 1.0)
    np.testing.assert_allclose(cost.diagnostics["log_normalizer"], 0.0, atol=1e-12)
    np.testing.assert_allclose(cost.diagnostics["log_weights"], 0.0, atol=1e-12)
    assert _max_z(_histogram(policy, rollouts), table, n) < Z_MAX
    rollouts, _ = simulators.lookahead_sampler(
        jax.random.key(10), policy, prompts, n, 1.0, num_rollouts=2
    )
    assert _max_z(_histogram(policy, rollouts), table, n) < Z_MAX
    rollouts, _ = simulators.temperature_sampler(jax.random.key(11), policy, prompts, n, 1.0)
    assert _max_z(_histogram(policy, rollouts), table, n) < Z_MAX


@pytest.mark.parametrize("threshold", [0.5, 1.0])
def test_smc_normalizer_estimate_is_unbiased(threshold):
    policy = _tree()
    alpha, n = 3.0, 4000
    _, cost = simulators.smc_sampler(
        jax.random.key(12),
        policy,
        jnp.arange(2),
        n,
        alpha,
        num_particles=3,
        ess_threshold=threshold,
    )
    z_hat = np.exp(np.asarray(cost.diagnostics["log_normalizer"]))
    z = np.exp(np.asarray(simulators.power_log_normalizer(policy, alpha)))
    se = z_hat.std(axis=1, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(z_hat.mean(axis=1) - z) < 4 * se), (z_hat.mean(axis=1), z, se)


def test_power_log_normalizer_is_exact_and_finite_at_long_horizons():
    for policy in _policies().values():
        for alpha in (0.5, 3.0):
            expected = jax.scipy.special.logsumexp(alpha * simulators.to_table(policy), axis=-1)
            np.testing.assert_allclose(
                simulators.power_log_normalizer(policy, alpha), expected, rtol=1e-12
            )
    long = simulators.random_markov(jax.random.key(13), 2, 4, 200)
    log_z = simulators.power_log_normalizer(long, 4.0)
    assert bool(jnp.all(jnp.isfinite(log_z))) and float(jnp.max(log_z)) < -50


@pytest.mark.slow
def test_samplers_run_at_long_horizons():
    long = simulators.random_markov(jax.random.key(13), 2, 4, 200)
    rollouts, cost = simulators.smc_sampler(jax.random.key(14), long, jnp.arange(2), 4, 4.0)
    assert bool(jnp.all(jnp.isfinite(cost.diagnostics["log_normalizer"])))
    assert rollouts.tokens.shape == (2, 4, 200) and cost.tokens == 2 * 4 * 16 * 200
    rollouts, cost = simulators.mh_sampler(jax.random.key(15), long, jnp.arange(2), 4, 4.0)
    np.testing.assert_allclose(
        rollouts.logp_base, simulators.log_prob(long, rollouts.prompts[:, None], rollouts.tokens)
    )


def _rb_law(policy, rollouts, cost, n, M):
    """The SMC output law, Rao-Blackwellized: the mean over runs of the normalized final weights."""
    weights = np.asarray(jax.nn.softmax(cost.diagnostics["log_weights"], axis=-1))  # [P, n, M]
    tokens = cost.diagnostics["particles"].tokens.reshape(2, n * M, -1)
    return response_law(policy, tokens, weights.reshape(2, n * M)) * M


@pytest.mark.slow
def test_smc_bias_falls_like_one_over_the_particle_count():
    policy = _tree()
    alpha, n = 4.0, 20000
    target = np.exp(np.asarray(simulators.to_table(simulators.power_policy(policy, alpha))))
    counts = np.array([1, 2, 4, 8])
    tv = []
    for M in counts:
        rollouts, cost = simulators.smc_sampler(
            jax.random.key(15), policy, jnp.arange(2), n, alpha, num_particles=int(M)
        )
        tv.append(np.max(0.5 * np.abs(_rb_law(policy, rollouts, cost, n, int(M)) - target).sum(-1)))
    slope = fit_loglog_slope(counts, np.array(tv)).slope
    print(f"SMC TV vs particles {counts.tolist()}: {np.round(tv, 5).tolist()}, slope {slope:.3f}")
    assert -1.5 < slope < -0.6, (tv, slope)


@pytest.mark.slow
def test_lookahead_bias_falls_with_the_rollouts():
    policy = _tree()
    alpha, n = 4.0, 40000
    target = np.exp(np.asarray(simulators.to_table(simulators.power_policy(policy, alpha))))
    tv = {}
    for R in (2, 4, 8):
        rollouts, _ = simulators.lookahead_sampler(
            jax.random.key(16), policy, jnp.arange(2), n, alpha, num_rollouts=R, jackknife=False
        )
        tv[R] = np.max(0.5 * np.abs(_histogram(policy, rollouts) - target).sum(-1))
    print(f"look-ahead TV (no jackknife) vs rollouts: {tv}")
    assert tv[8] < tv[2]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: simulators.mh_sampler(jax.random.key(0), p, jnp.arange(2), 2, 0.0), "alpha"),
        (
            lambda p: simulators.mh_sampler(jax.random.key(0), p, jnp.arange(2), 2, float("nan")),
            "alpha",
        ),
        (
            lambda p: simulators.mh_sampler(
                jax.random.key(0), p, jnp.arange(2), 2, 2.0, num_steps=0
            ),
            "num_steps",
        ),
        (
            lambda p: simulators.mh_sampler(
                jax.random.key(0), p, jnp.arange(2), 2, 2.0, block_size=0
            ),
            "block_size",
        ),
        (
            lambda p: simulators.smc_sampler(
                jax.random.key(0), p, jnp.arange(2), 2, 2.0, num_particles=0
            ),
            "num_particles",
        ),
        (
            lambda p: simulators.smc_sampler(
                jax.random.key(0), p, jnp.arange(2), 2, 2.0, ess_threshold=0.0
            ),
            "ess_threshold",
        ),
        (
            lambda p: simulators.smc_sampler(
                jax.random.key(0), p, jnp.arange(2), 2, 2.0, ess_threshold=1.5
            ),
            "ess_threshold",
        ),
        (
            lambda p: simulators.temperature_sampler(jax.random.key(0), p, jnp.arange(2), 0, 2.0),
            "n",
        ),
        (lambda p: simulators.bon_sampler(jax.random.key(0), p, jnp.arange(2), 2, N=0), "N"),
        (
            lambda p: simulators.lookahead_sampler(
                jax.random.key(0), p, jnp.arange(2), 2, 2.0, num_rollouts=1
            ),
            "num_rollouts",
        ),
        (
            lambda p: simulators.continue_prefix(
                jax.random.key(0), p, jnp.arange(2), jnp.zeros((2, 3), int), 0, None, 0.0
            ),
            "temperature",
        ),
        (
            lambda p: simulators.continue_prefix(
                jax.random.key(0), p, jnp.arange(2), jnp.zeros((2, 2), int), 0
            ),
            "tokens",
        ),
        (
            lambda p: simulators.continue_prefix(
                jax.random.key(0), p, jnp.arange(2), jnp.zeros((2, 3), int), 4
            ),
            "start",
        ),
        (
            lambda p: simulators.continue_prefix(
                jax.random.key(0), p, jnp.arange(2), jnp.zeros((2, 3), int), 2, 1
            ),
            "stop",
        ),
        (
            lambda p: simulators.continue_prefix(
                jax.random.key(0), p, jnp.array([0, 5]), jnp.zeros((2, 3), int), 0
            ),
            "prompts",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(_tree())


def test_exact_laws_refuse_what_cannot_be_enumerated():
    long = simulators.random_markov(jax.random.key(13), 2, 4, 200)
    with pytest.raises(ValueError, match="policy"):
        simulators.mh_law(long, 2.0)
    with pytest.raises(TypeError, match="oracle"):
        simulators.mh_sampler(jax.random.key(0), object(), jnp.arange(2), 2, 2.0)
