"""The sample-and-evaluate oracle (Def. 3.2), its adaptive (Def. D.1) and generalized variants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim


@pytest.fixture(scope="module")
def oracle():
    logits = jax.random.normal(jax.random.key(0), (4, 6)) * 1.5
    mu = jnp.array([0.1, 0.2, 0.3, 0.4])
    return sim.make_oracle(sim.TabularPolicy.from_logits(logits), mu)


def test_draw_counts_and_values(oracle):
    n, N = 2000, 3
    rollouts, m = sim.draw(jax.random.key(1), oracle, n, N)
    assert m == n * N and isinstance(m, int)
    assert rollouts.tokens.shape == (n, N, 1)
    # Observed likelihoods are exactly pi_base(y|x).
    want = oracle.policy.logp[rollouts.prompts[:, None], rollouts.tokens[..., 0]]
    np.testing.assert_array_equal(rollouts.logp_base, want)
    # Prompts follow mu (Monte Carlo, 5 standard errors).
    freq = np.bincount(np.asarray(rollouts.prompts), minlength=4) / n
    mu = np.asarray(oracle.mu)
    se = np.sqrt(mu * (1 - mu) / n)
    assert np.all(np.abs(freq - mu) < 5 * se)


def test_draw_jit_invariance(oracle):
    key = jax.random.key(2)
    eager, _ = sim.draw(key, oracle, 16, 4)
    jitted = jax.jit(lambda k, o: sim.draw(k, o, 16, 4)[0])(key, oracle)
    np.testing.assert_array_equal(eager.tokens, jitted.tokens)


def test_evaluate_counts_pairs(oracle):
    x = jnp.array([[0, 1, 2], [3, 3, 0]])
    y = jnp.array([[5, 0, 1], [2, 2, 4]])
    logp, m = sim.evaluate(oracle, x, y)
    assert m == 6
    np.testing.assert_array_equal(logp, oracle.policy.logp[x, y])


@pytest.mark.parametrize("n,N", [(0, 3), (3, 0), (-1, 2)])
def test_draw_refuses_empty_budgets(oracle, n, N):
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        sim.draw(jax.random.key(0), oracle, n, N)


def test_oracle_validation():
    pol = sim.TabularPolicy.from_logits(jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match="mu"):
        sim.make_oracle(pol, jnp.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="mu"):
        sim.make_oracle(pol, jnp.array([0.5, 0.6, -0.1]))
    with pytest.raises(TypeError, match="SampleEvaluateOracle"):
        sim.draw(jax.random.key(0), pol, 2, 2)
    uniform = sim.make_oracle(pol)
    np.testing.assert_allclose(uniform.mu, np.full(3, 1 / 3))


def _first_stop_bruteforce(logp, mu_stop):
    """N_mu by the definition of Eq. 10, in numpy: first k with k max_{j<=k} p_j >= mu."""
    p = np.exp(np.asarray(logp))
    out = []
    for row in p:
        best, k_stop = 0.0, len(row)
        for k, pk in enumerate(row, start=1):
            best = max(best, pk)
            if k * best >= mu_stop:
                k_stop = k
                break
        out.append(k_stop)
    return np.array(out)


def test_adaptive_draw_matches_definition(oracle):
    mu_stop = 2.0
    ada = sim.draw_adaptive(
        jax.random.key(3), oracle, 300, sim.likelihood_stopping_rule(mu_stop), cap=200
    )
    want = _first_stop_bruteforce(ada.rollouts.logp_base, mu_stop)
    np.testing.assert_array_equal(ada.num_draws, want)
    assert int(ada.m) == want.sum()
    assert not bool(ada.cap_hit)
    np.testing.assert_array_equal(ada.used.sum(axis=1), want)


def test_adaptive_draw_refuses_truncation(oracle):
    rule = sim.likelihood_stopping_rule(50.0)
    with pytest.raises(ValueError, match="cap"):
        sim.draw_adaptive(jax.random.key(4), oracle, 50, rule, cap=3)
    flagged = sim.draw_adaptive(jax.random.key(4), oracle, 50, rule, cap=3, on_cap="flag")
    assert bool(flagged.cap_hit)
    # Inside jit the truncation cannot raise; it is flagged.
    jitted = jax.jit(lambda k: sim.draw_adaptive(k, oracle, 50, rule, cap=3).cap_hit)
    assert bool(jitted(jax.random.key(4)))
    with pytest.raises(ValueError, match="mu_stop"):
        sim.likelihood_stopping_rule(0.0)


def test_lemma_i1():
    """Lemma I.1: E[N_mu] <= (mu + 1/|y*|)/P* and P[y_hat not in y*] <= exp(-|y*| mu)."""
    cases = [
        ([0.3, 0.2, 0.2, 0.15, 0.15], 2.0),  # |y*| = 1
        ([0.25, 0.25, 0.2, 0.1, 0.1, 0.1], 1.0),  # |y*| = 2
        ([0.05] + [0.95 / 40] * 40, np.log(2 / 0.1)),  # C_bar_cov = 20, mu = ln(2/delta)
    ]
    # N_mu <= ceil(mu / min_y P(y)) surely (k p(y_1) >= mu by then), so this cap is never hit.
    cap = max(int(np.ceil(mu / min(p))) for p, mu in cases)
    Y, S = max(len(p) for p, _ in cases), 20_000
    for probs, mu_stop in cases:
        probs = np.pad(np.asarray(probs), (0, Y - len(probs)))  # same shapes: one compilation
        p_star = probs.max()
        k = int(np.sum(probs == p_star))
        oracle = sim.make_oracle(sim.TabularPolicy.from_probs(probs[None]))
        rule = sim.likelihood_stopping_rule(mu_stop)
        ada = sim.draw_adaptive(jax.random.key(5), oracle, S, rule, cap=cap)
        assert not bool(ada.cap_hit)
        draws = np.asarray(ada.num_draws, dtype=float)
        mean, se = draws.mean(), draws.std(ddof=1) / np.sqrt(S)
        bound = (mu_stop + 1 / k) / p_star
        assert mean <= bound + 5 * se, (mean, bound)
        # The best response among the counted draws misses y* with probability <= e^{-k mu}.
        seen = np.where(np.asarray(ada.used), np.asarray(ada.rollouts.logp_base), -np.inf)
        miss = seen.max(axis=1) < np.log(p_star) - 1e-12
        q = np.exp(-k * mu_stop)
        assert miss.mean() <= q + 5 * np.sqrt(q * (1 - q) / S), (miss.mean(), q)
        print(
            f"|y*|={k} mu={mu_stop:.3f}: E[N_mu]={mean:.3f} (bound {bound:.3f}), "
            f"miss={miss.mean():.4f} (bound {q:.4f})"
        )


def test_queries_never_rescan_a_built_oracle(monkeypatch):
    """Validation happens once, when the oracle is built: with every table/mu validator made to
    raise, draw (eager and under jit, fresh shapes so it retraces), draw_prompts, evaluate and
    draw_adaptive still run on an already-built oracle and give the same draws as before."""
    import simulators._oracle as oracle_mod
    import simulators._tabular as tabular_mod

    logits = jax.random.normal(jax.random.key(5), (100, 1000))
    built = sim.make_oracle(sim.TabularPolicy.from_logits(logits))
    key = jax.random.key(6)
    before = sim.draw(key, built, 7, 3)[0]
    prompts_before = sim.draw_prompts(key, built, 11)
    # draw_prompts draws as sample_indices on log mu (which re-checks its argument).
    np.testing.assert_array_equal(prompts_before, sim.sample_indices(key, jnp.log(built.mu), 11))

    def rescan(*args, **kwargs):
        raise AssertionError("re-scanned a validated table")

    for mod, name in (
        (tabular_mod, "check_table_field"),
        (tabular_mod, "check_table_values"),
        (tabular_mod, "check_logp"),
        (oracle_mod, "check_mu"),
    ):
        monkeypatch.setattr(mod, name, rescan)
    with pytest.raises(AssertionError, match="re-scanned"):  # the patch is what validation calls
        sim.make_oracle(sim.TabularPolicy.from_logits(logits))

    again = sim.draw(key, built, 7, 3)[0]
    np.testing.assert_array_equal(again.tokens, before.tokens)
    np.testing.assert_array_equal(again.logp_base, before.logp_base)
    np.testing.assert_array_equal(sim.draw_prompts(key, built, 11), prompts_before)
    jitted = jax.jit(lambda k, o: sim.draw(k, o, 5, 9)[0].logp_base)(key, built)
    assert jitted.shape == (5, 9)
    lp, m = sim.evaluate(built, jnp.array([0, 99]), jnp.array([3, 999]))
    assert m == 2 and np.isfinite(np.asarray(lp)).all()
    ada = sim.draw_adaptive(key, built, 4, sim.likelihood_stopping_rule(1e-3), 8, on_cap="flag")
    assert ada.rollouts.tokens.shape == (4, 8, 1)
