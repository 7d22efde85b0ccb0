"""Label-free self-training (issue 17): every update against a brute-force computation of the same
step, the exact laws of iterated sharpening, TTRL's toy, and the refusals of bad input."""

import collections
import dataclasses
import itertools
import math
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim
import theory
from simulators.experiments import IteratedConfig, LabelFreeConfig, run_iterated, run_label_free

# --------------------------------------------------------------------------------------------
# Instances: a tabular table, a Markov chain (Y = V^H = 4) and a linear-softmax class.


def _tabular():
    logits = jnp.array([[0.3, -0.2, 0.8], [1.0, 0.1, -0.5]])
    base = sim.TabularPolicy.from_logits(logits)
    cls = sim.TabularClass(2, 3)
    # A current policy away from the base, so the KL term and log pi_theta rewards matter.
    params = jnp.array([[0.9, -0.4, 0.2], [0.1, 0.5, -0.3]])
    answers = jnp.array([[0, 1, 0], [2, 2, 1]])
    return cls, base, params, answers, jnp.array([0.35, 0.65])


def _markov():
    init = jnp.log(jnp.array([[0.45, 0.55]]))
    trans = jnp.log(jnp.array([[[0.1, 0.9], [0.55, 0.45]]]))
    base = sim.MarkovPolicy(init, trans, 2)
    cls = sim.MarkovClass(1, 2, 2)
    params = (jnp.array([[0.2, -0.1]]), jnp.array([[[0.3, 0.0], [-0.4, 0.6]]]))
    answers = jnp.array([[0, 1, 1, 0]])
    return cls, base, params, answers, jnp.ones(1)


def _linear():
    key = jax.random.key(3)
    phi = jax.random.normal(key, (2, 4, 2))
    base = sim.LinearSoftmaxPolicy.create(phi, jnp.array([0.5, -0.3]))
    cls = sim.LinearSoftmaxClass(phi, radius=5.0)
    return cls, base, jnp.array([0.8, 0.1]), None, jnp.array([0.5, 0.5])


# --------------------------------------------------------------------------------------------
# Brute force: enumerate every group of G responses.


def _flat_jacobian(fn, params):
    """``[X, Y, D]`` gradients of ``fn(params) [X, Y]`` w.r.t. the flattened parameters."""
    jac = jax.jacrev(fn)(params)
    leaves = jax.tree_util.tree_leaves(jac)
    X, Y = fn(params).shape
    return np.concatenate([np.asarray(v).reshape(X, Y, -1) for v in leaves], axis=-1)


def _flatten(tree):
    return np.concatenate([np.asarray(v).ravel() for v in jax.tree_util.tree_leaves(tree)])


def _token_laws(policy, Y):
    """Per response, the list of next-token log-laws along it (independent of the library's
    enumeration: built from the policy's own tables)."""
    if isinstance(policy, sim.MarkovPolicy):
        init, trans = np.asarray(policy.init_logp), np.asarray(policy.trans_logp)
        V, H = policy.V, policy.H
        out = []
        for x in range(init.shape[0]):
            rows = []
            for y in range(Y):
                toks = [(y // V ** (H - 1 - h)) % V for h in range(H)]
                rows.append([init[x]] + [trans[x, toks[h - 1]] for h in range(1, H)])
            out.append(rows)
        return out
    table = np.asarray(sim.to_table(policy))
    return [[[table[x]] for _ in range(Y)] for x in range(table.shape[0])]


def _entropy(lp):
    p = np.exp(lp)
    return float(-(p * np.where(p > 0, lp, 0.0)).sum())


def _reward_table(name, policy, logp_base):
    """``[X, Y]`` per-draw rewards, computed without the library's reward functions."""
    logp = np.asarray(sim.to_table(policy))
    X, Y = logp.shape
    laws = _token_laws(policy, Y)
    if name == "log_likelihood":
        return np.asarray(logp_base)
    if name == "em_sequence":
        return logp
    if name == "em_token":
        return np.array(
            [[-sum(_entropy(lp) for lp in laws[x][y]) for y in range(Y)] for x in range(X)]
        )
    if name == "self_certainty":
        return np.array(
            [
                [np.mean([-np.log(lp.size) - lp.mean() for lp in laws[x][y]]) for y in range(Y)]
                for x in range(X)
            ]
        )
    raise ValueError(name)


def _ttrl_rewards(answers_of_group):
    """TTRL's reward of each response of a group: 1 / #tied answers for the answers tied for the
    most votes (the uniform tie-break in expectation), 0 otherwise."""
    counts = collections.Counter(answers_of_group)
    top = max(counts.values())
    tied = [a for a, c in counts.items() if c == top]
    return np.array([1.0 / len(tied) if a in tied else 0.0 for a in answers_of_group])


def _brute_force(cls, params, logp_base, mu, G, beta, reward, advantage, answers, entropy_weight):
    param = sim.softmax_parametrization(cls)
    policy = param.to_policy(params)

    def table(p):
        # The library's log_prob (the Markov chain's own recursion, not the class's enumeration).
        pol = param.to_policy(p)
        Y = param.num_responses
        y = jnp.asarray(param.tokens()) if param.tokens().shape[1] > 1 else jnp.arange(Y)
        x = jnp.arange(param.num_prompts)[:, None]
        return sim.log_prob(pol, x, y[None])

    logp = np.asarray(table(params))
    grad_logp = _flat_jacobian(table, params)
    X, Y = logp.shape
    lb = np.asarray(logp_base)
    per_draw = None if reward in ("ttrl", None) else _reward_table(reward, policy, logp_base)
    total = np.zeros(grad_logp.shape[-1])
    for x in range(X if reward is not None else 0):
        for group in itertools.product(range(Y), repeat=G):
            group = list(group)
            prob = np.prod(np.exp(logp[x, group]))
            if reward == "ttrl":
                r = _ttrl_rewards([int(answers[x, y]) for y in group])
            else:
                r = per_draw[x, group]
            r = r - beta * (logp[x, group] - lb[x, group])
            mean = r.mean()
            if advantage == "rloo":
                A = r - (r.sum() - r) / (G - 1)
            else:
                A = r - mean
            est = (A[:, None] * grad_logp[x, group]).mean(axis=0)
            total += mu[x] * prob * est
    if entropy_weight:

        def weighted(p):
            pol = param.to_policy(p)
            laws = _token_laws_jnp(pol, Y)
            return jnp.sum(jnp.asarray(mu)[:, None] * jnp.exp(logp) * laws)

        total -= entropy_weight * _flatten(jax.grad(weighted)(params))
    return total


def _token_laws_jnp(policy, Y):
    """``[X, Y]`` mean next-token entropy along each response, differentiable (EM-FT's loss)."""

    def H(lp):
        return -jnp.sum(jnp.exp(lp) * lp, axis=-1)

    if isinstance(policy, sim.MarkovPolicy):
        V, Hn = policy.V, policy.H
        rows = []
        for y in range(Y):
            toks = [(y // V ** (Hn - 1 - h)) % V for h in range(Hn)]
            ents = [H(policy.init_logp)] + [
                H(policy.trans_logp[:, toks[h - 1]]) for h in range(1, Hn)
            ]
            rows.append(sum(ents) / Hn)
        return jnp.stack(rows, axis=-1)
    table = sim.to_table(policy)
    return jnp.broadcast_to(H(table)[:, None], table.shape)


CASES = [
    ("tabular", "log_likelihood", "rloo", 0.7, 0.0),
    ("tabular", "ttrl", "rloo", 0.2, 0.0),
    ("tabular", (), "rloo", 0.0, 1.0),  # EM-FT
    ("markov", "em_token", "rloo", 0.0, 0.0),
    *(
        pytest.param(*c, marks=pytest.mark.slow)
        for c in (
            ("tabular", "log_likelihood", "group_mean", 0.0, 0.0),
            ("tabular", "em_sequence", "rloo", 0.3, 0.0),
            ("tabular", "ttrl", "group_mean", 0.0, 0.0),
            ("markov", "em_sequence", "rloo", 0.4, 0.0),
            ("markov", "self_certainty", "group_mean", 0.0, 0.0),
            ("markov", (), "rloo", 0.0, 1.0),  # EM-FT, token level
            ("linear", "log_likelihood", "rloo", 0.5, 0.0),
        )
    ),
]


INSTANCES = {"tabular": _tabular, "markov": _markov, "linear": _linear}


@pytest.mark.parametrize("kind, reward, advantage, beta, lam", CASES)
def test_expected_update_is_the_brute_force_expectation(kind, reward, advantage, beta, lam):
    """The exact expected update against the expectation of the sampled estimator over every
    group of G = 3 responses (Y^G groups), rewards and gradients computed independently."""
    cls, base, params, answers, mu = INSTANCES[kind]()
    logp_base = sim.to_table(base)
    G = 3
    got = sim.expected_update(
        cls,
        params,
        logp_base,
        mu,
        G,
        beta,
        reward=reward,
        advantage=advantage,
        answer_extractor=answers if reward == "ttrl" else None,
        entropy_weight=lam,
    )
    want = _brute_force(
        cls, params, logp_base, np.asarray(mu), G, beta, reward or None, advantage, answers, lam
    )
    np.testing.assert_allclose(_flatten(got), want, rtol=1e-10, atol=1e-13)


@pytest.mark.slow
def test_tabular_expected_update_is_the_gradient_of_eq3():
    """Tabular, r = log pi_base: c_G mu(x) pi (r~ - E r~), the logit gradient of J_beta (Eq. 3)."""
    cls, base, params, _, mu = _tabular()
    beta, G = 0.4, 5
    got = sim.expected_update(cls, params, base.logp, mu, G, beta, advantage="group_mean")
    lp = jax.nn.log_softmax(params, axis=-1)
    rt = base.logp - beta * (lp - base.logp)
    p = jnp.exp(lp)
    want = (G - 1) / G * mu[:, None] * p * (rt - jnp.sum(p * rt, -1, keepdims=True))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    J = jax.grad(
        lambda t: theory.kl_regularized_objective(jax.nn.log_softmax(t), base.logp, mu, beta)
    )
    np.testing.assert_allclose(got, (G - 1) / G * J(params), rtol=1e-10)


MC_CASES = [
    ("tabular", "log_likelihood", "rloo", 0.7, 0.0),
    pytest.param("tabular", "ttrl", "rloo", 0.2, 0.0, marks=pytest.mark.slow),
    pytest.param("markov", "em_token", "rloo", 0.0, 0.0, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("kind, reward, advantage, beta, lam", MC_CASES)
def test_sampled_update_averages_to_the_expected_update(kind, reward, advantage, beta, lam):
    """Monte Carlo: the mean of 2000 sampled updates (2 prompts x G each) lies within the
    Bonferroni-corrected normal bound (level 1e-3) of the exact expected update, coordinatewise."""
    cls, base, params, answers, mu = INSTANCES[kind]()
    oracle = sim.make_oracle(base, mu)
    kw = dict(
        reward=reward, advantage=advantage, answer_extractor=answers if reward == "ttrl" else None
    )
    G, K = 3, 2000
    keys = jax.random.split(jax.random.key(11), K)
    draws = jax.vmap(
        lambda k: sim.sampled_update(k, oracle, cls, params, G, beta, num_prompts=2, **kw)[0]
    )(keys)
    draws = np.concatenate(
        [np.asarray(v).reshape(K, -1) for v in jax.tree_util.tree_leaves(draws)], axis=1
    )
    exact = _flatten(sim.expected_update(cls, params, sim.to_table(base), mu, G, beta, **kw))
    se = draws.std(axis=0, ddof=1) / math.sqrt(K)
    crit = NormalDist().inv_cdf(1 - 1e-3 / (2 * exact.size))
    ok = np.where(
        se > 0, np.abs(draws.mean(0) - exact) <= crit * se, np.isclose(draws.mean(0), exact)
    )
    assert ok.all(), (draws.mean(0), exact, se)


def test_ttrl_expected_advantage_by_enumeration():
    """E[A_1 | a_1 = a] from the multinomial sum against all K^(G-1) answer tuples."""
    q = np.array([0.5, 0.3, 0.2])
    G = 4
    for advantage in ("rloo", "group_mean"):
        got = np.asarray(sim.ttrl_expected_advantage(jnp.log(jnp.asarray(q)), G, advantage))
        for a in range(3):
            total = 0.0
            for others in itertools.product(range(3), repeat=G - 1):
                r = _ttrl_rewards([a, *others])
                base = r[1:].mean() if advantage == "rloo" else r.mean()
                total += np.prod(q[list(others)]) * (r[0] - base)
            assert got[a] == pytest.approx(total, rel=1e-12, abs=1e-15)


def test_ttrl_reward_and_group_advantages():
    answers = jnp.array([[3, 3, 1, 1, 2], [0, 0, 0, 2, -1]])
    r = sim.Rollouts(
        jnp.arange(2),
        answers[..., None],
        jnp.ones_like(answers),
        jnp.zeros((2, 5)),
        answers=answers,
    )
    np.testing.assert_allclose(sim.ttrl_reward(r), [[0.5, 0.5, 0.5, 0.5, 0.0], [1, 1, 1, 0, 0]])
    rew = jnp.array([[1.0, 2.0, 6.0]])
    np.testing.assert_allclose(sim.group_advantages(rew, "group_mean"), [[-2.0, -1.0, 3.0]])
    np.testing.assert_allclose(sim.group_advantages(rew, "rloo"), [[-3.0, -1.5, 4.5]])


# --------------------------------------------------------------------------------------------
# The algorithms and their limits.


@pytest.mark.slow
def test_pg_expected_dynamics_reach_kl_tilt_in_the_linear_class():
    """Linear softmax with pi_base = pi_theta*: pi*_beta = pi_{(1 + 1/beta) theta*} is in the ball,
    and the expected-update dynamics of the log-likelihood reward reach it (Theorem J.3's proof)."""
    cls, base, _, _, mu = _linear()
    beta = 1.0
    oracle = sim.make_oracle(base, mu)
    res = sim.pg_sharpening(
        jax.random.key(0),
        oracle,
        cls,
        2000,
        4,
        beta,
        learning_rate=2.0,
        update="expected",
        logp_base=sim.to_table(base),
    )
    np.testing.assert_allclose(res.diagnostics["params"], (1 + 1 / beta) * base.theta, atol=1e-6)
    target = theory.kl_tilt(sim.to_table(base), beta)
    assert float(theory.kl(sim.to_table(res.policy), target, mu)) < 1e-12
    assert res.queries == 2000 * 1 * 4


@pytest.mark.slow
def test_em_ft_makes_no_query_and_tracks_with_a_monitor():
    cls, base, _, _, mu = _tabular()
    oracle = sim.make_oracle(base, mu)
    mon = sim.sharpening_monitor(base.logp, mu, 0.1)
    res = sim.em_ft(jax.random.key(1), oracle, cls, 20, monitor=mon, learning_rate=1.0)
    assert res.queries == 0 and res.diagnostics["samples"] == 20
    ent = np.asarray(res.diagnostics["trace"]["entropy"])
    assert ent.shape == (21,) and ent[0] == pytest.approx(float(theory.entropy(base.logp) @ mu))
    assert ent[-1] < ent[0]


def test_iterated_kl_tilt_is_the_t_fold_tilt():
    """pi_0^((1 + 1/beta)^t) / Z against kl_tilt applied t times (Eq. 3 iterated)."""
    policy, _ = sim.dirichlet_tabular(jax.random.key(5), 3, 4, 2.0)
    closed = sim.iterated_kl_tilt(policy.logp, 0.5, 4)
    table = policy.logp
    for t in range(4):
        table = theory.kl_tilt(table, 0.5)
        np.testing.assert_allclose(table, closed[t], rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_iterated_bon_law_is_the_t_fold_bon_law():
    policy, _ = sim.dirichlet_tabular(jax.random.key(5), 3, 4, 2.0)
    laws = sim.iterated_bon_law(policy.logp, 3, 2)
    np.testing.assert_allclose(laws[0], theory.bon_law(policy.logp, 3), rtol=1e-12)
    np.testing.assert_allclose(laws[1], theory.bon_law(laws[0], 3), rtol=1e-12)


@pytest.mark.slow
def test_iterated_rlhf_with_full_coverage_is_the_closed_form():
    """Two rounds of the squared loss (Eq. 8) that observe every response: pi_0^((1+1/beta)^2)."""
    logp = jnp.log(jnp.array([[0.4, 0.35, 0.25]]))
    oracle = sim.make_oracle(sim.TabularPolicy(logp), jnp.ones(1))
    res = sim.iterated_rlhf_sharpening(
        jax.random.key(2), oracle, sim.TabularClass(1, 3), 2, 300, 2.0
    )
    tables = res.diagnostics["tables"]
    assert np.isfinite(np.asarray(tables)).all()  # every response seen in both rounds
    np.testing.assert_allclose(tables, sim.iterated_kl_tilt(logp, 2.0, 2), atol=1e-12)
    assert int(res.queries) == 2 * 2 * 300 and int(res.diagnostics["base_queries"]) == 600


def test_plurality_toy():
    toy = sim.plurality_toy(8, 0.25)
    p = np.exp(np.asarray(toy.logp))
    answers, correct = np.asarray(toy.answers), np.asarray(toy.correct)
    star = np.asarray(theory.argmax_set(toy.logp))
    assert (star[:, 0] & (star.sum(1) == 1)).all() and (answers[:, 0] == 1).all()  # y* = runner-up
    mode = np.asarray(sim.answer_mode_mask(toy.logp, toy.answers))
    np.testing.assert_allclose((p * mode).sum(1), 0.45)
    np.testing.assert_array_equal(correct[:, 0], np.arange(8) < 2)  # wrong plurality on 2 of 8
    np.testing.assert_array_equal(correct[:, 1], np.arange(8) >= 2)


# --------------------------------------------------------------------------------------------
# Bad input.


def test_bad_input_is_refused_naming_the_argument():
    cls, base, _, answers, mu = _tabular()
    oracle = sim.make_oracle(base, mu)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="G .*>= 2"):
        sim.pg_sharpening(key, oracle, cls, 5, 1, 0.1)
    with pytest.raises(ValueError, match="G .*>= 2"):
        sim.ttrl(key, oracle, cls, 5, 1, answer_extractor=answers)
    with pytest.raises(ValueError, match="beta"):
        sim.pg_sharpening(key, oracle, cls, 5, 4, -0.1)
    with pytest.raises(ValueError, match="beta"):
        sim.em_rl(key, oracle, cls, 5, 4, -1.0)
    with pytest.raises(ValueError, match="answer_extractor"):
        sim.ttrl(key, oracle, cls, 5, 4)
    with pytest.raises(ValueError, match="answer_extractor"):
        sim.pg_sharpening(key, oracle, cls, 5, 4, 0.0, reward="ttrl")
    with pytest.raises(ValueError, match="answer_extractor"):
        sim.pg_sharpening(key, oracle, cls, 5, 4, 0.0, reward="majority")
    with pytest.raises(ValueError, match="answer_extractor"):
        sim.expected_update(cls, base.logp, base.logp, mu, 4, 0.0, reward="ttrl")
    with pytest.raises(ValueError, match="rounds"):
        sim.iterated_sft_sharpening(key, oracle, cls, 0, 10, 2)
    with pytest.raises(ValueError, match="rounds"):
        sim.iterated_rlhf_sharpening(key, oracle, cls, 0, 10, 1.0)
    with pytest.raises(ValueError, match="rounds"):
        sim.iterated_kl_tilt(base.logp, 1.0, 0)
    with pytest.raises(ValueError, match="rounds"):
        sim.iterated_bon_law(base.logp, 2, 0)
    with pytest.raises(ValueError, match="form"):
        sim.em_rl(key, oracle, cls, 5, 4, form="word")
    with pytest.raises(ValueError, match="advantage"):
        sim.pg_sharpening(key, oracle, cls, 5, 4, 0.1, advantage="grpo")
    with pytest.raises(ValueError, match="optimizer"):
        sim.pg_sharpening(key, oracle, cls, 5, 4, 0.1, optimizer="lion")
    with pytest.raises(ValueError, match="logp_base"):
        sim.pg_sharpening(key, oracle, cls, 5, 4, 0.1, update="expected")
    with pytest.raises(ValueError, match="reward_weights"):
        sim.pg_sharpening(
            key, oracle, cls, 5, 4, 0.1, reward=("log_likelihood",), reward_weights=[1.0, 2.0]
        )
    with pytest.raises(ValueError, match="entropy_weight"):
        sim.pg_sharpening(key, oracle, cls, 5, 4, 0.1, entropy_weight=-1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        sim.pg_sharpening(key, oracle, cls, 5, 4, 0.1, learning_rate=0.0)
    with pytest.raises(ValueError, match="answer_extractor must be an"):
        sim.ttrl(key, oracle, cls, 5, 4, answer_extractor=jnp.zeros((2, 2), int))
    with pytest.raises(ValueError, match="not per-draw"):
        sim.expected_update(
            cls, base.logp, base.logp, mu, 4, 0.0, reward="majority", answer_extractor=answers
        )
    with pytest.raises(TypeError, match="softmax parametrization"):
        sim.softmax_parametrization(sim.FiniteClass(base.logp[None]))


def test_experiment_configs_are_refused_naming_the_field():
    cls, base, _, answers, mu = _tabular()
    cfg = LabelFreeConfig(base, cls, mu, steps=5, G=4)
    check = run_label_free.validate_config
    with pytest.raises(ValueError, match="config.G"):
        check(dataclasses.replace(cfg, G=1))
    with pytest.raises(ValueError, match="config.beta"):
        check(dataclasses.replace(cfg, beta=-0.5))
    with pytest.raises(ValueError, match="config.answers"):
        check(dataclasses.replace(cfg, rewards=("ttrl",)))
    with pytest.raises(ValueError, match="config.steps_used"):
        check(cfg, {"steps_used": np.array([0, 6])})
    with pytest.raises(ValueError, match="config.reward_weights"):
        check(dataclasses.replace(cfg, reward_weights=jnp.ones(2)))
    it = IteratedConfig(base.logp, mu, rounds=2)
    with pytest.raises(ValueError, match="config.rounds"):
        run_iterated.validate_config(dataclasses.replace(it, rounds=0))
    with pytest.raises(ValueError, match="config.rounds_used"):
        run_iterated.validate_config(it, {"rounds_used": np.array([3])})


@pytest.mark.slow
def test_label_free_experiment_reads_the_trajectory():
    """A sweep over steps_used reads one run's exact trace: step 0 is pi_base itself."""
    toy = sim.plurality_toy(2, 0.5)
    X, Y = toy.logp.shape
    cfg = LabelFreeConfig(
        toy,
        sim.TabularClass(X, Y),
        jnp.ones(X) / X,
        answers=toy.answers,
        correct=toy.correct,
        rewards=("ttrl",),
        beta=0.0,
        learning_rate=4.0,
        steps=30,
        G=4,
        num_prompts=2,
    )
    df = sim.sweep(run_label_free, cfg, 2, {"steps_used": [0, 30]}, progress=False)
    v = df.pivot_table(index=["seed", "steps_used"], columns="metric", values="value")
    start = v.xs(0, level="steps_used")
    np.testing.assert_allclose(start["mass_on_answer_mode"], 0.45)
    np.testing.assert_allclose(start["accuracy"], 0.5 * 0.3 + 0.5 * 0.45)
    assert (v.xs(30, level="steps_used")["queries"] == 30 * 2 * 4).all()
    assert (v.xs(30, level="steps_used")["mass_on_answer_mode"] > 0.45).all()


# --------------------------------------------------------------------------------------------
# Slow: the measurements behind the report (exact, or Monte Carlo against exact).


@pytest.mark.slow
def test_iterated_sft_rounds_follow_bon_law_of_the_previous_round():
    """Given round t-1's output, round t's count MLE is n draws of bon_law(pi_{t-1}, N): the pooled
    z-score of every entry's counts over seeds is within the Bonferroni bound."""
    policy, mu = sim.dirichlet_tabular(jax.random.key(9), 2, 4, 1.5)
    oracle = sim.make_oracle(policy, mu)
    cls = sim.TabularClass(2, 4)
    n, N, S = 400, 3, 64
    tables = jax.vmap(
        lambda k: sim.iterated_sft_sharpening(k, oracle, cls, 3, n, N).diagnostics["tables"]
    )(jax.random.split(jax.random.key(1), S))
    prev = jnp.concatenate([jnp.broadcast_to(policy.logp, (S, 1, 2, 4)), tables[:, :-1]], axis=1)
    law = np.exp(np.asarray(jax.vmap(jax.vmap(lambda t: theory.bon_law(t, N)))(prev)))
    est = np.exp(np.asarray(tables))
    # pi_t = k / n_x with n_x ~ Bin(n, mu_x): E[pi_t | pi_{t-1}] = law; Var ~ law (1 - law) / (n mu)
    var = law * (1 - law) / (n * np.asarray(mu))[None, None, :, None]
    ok = var.sum(0) > 0
    z = (est - law).sum(0)[ok] / np.sqrt(var.sum(0)[ok])
    crit = NormalDist().inv_cdf(1 - 1e-3 / (2 * ok.sum()))
    assert (np.abs(z) < crit).all(), z


@pytest.mark.slow
def test_token_level_entropy_minimization_goes_to_the_greedy_path():
    """On the greedy counterexample (Prop. 3.1 is tight) as a Markov chain: EM-FT's exact dynamics
    sharpen onto token-wise greedy 'ba', sequence-level EM-RL onto the sequence argmax 'ab'."""
    joint = np.array([[0.05, 0.40], [0.30, 0.25]])
    base = sim.MarkovPolicy.from_probs(
        joint.sum(1)[None], (joint / joint.sum(1, keepdims=True))[None], 2
    )
    cls, mu = sim.MarkovClass(1, 2, 2), jnp.ones(1)
    oracle, logp = sim.make_oracle(base, mu), sim.to_table(base)
    kw = dict(update="expected", logp_base=logp, learning_rate=1.0, optimizer="adam")
    ft = sim.em_ft(jax.random.key(0), oracle, cls, 400, **kw)
    rl = sim.em_rl(jax.random.key(0), oracle, cls, 400, 4, **kw)
    # columns: aa, ab, ba, bb
    assert float(jnp.exp(sim.to_table(ft.policy))[0, 2]) > 0.99
    assert float(jnp.exp(sim.to_table(rl.policy))[0, 1]) > 0.99
