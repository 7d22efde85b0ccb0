"""The inference-time protocol estimators (App. A.1) on synthetic Rollouts."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simulators import Rollouts
from simulators._protocol import (
    aggregate_subsamples,
    bon_curve,
    bon_expected,
    bon_subset_weights,
    coverage_plugin,
    default_ns,
    lift_percent,
    likelihood_by_correctness,
    pass_at_k,
    protocol_summary,
    run_protocol,
    sample_table,
    subsample_indices,
    take_per_prompt,
)
from simulators._rewards import log_likelihood, majority_vote


def make_rollouts(logp, correct=None, answers=None, lengths=None, tokens=None):
    logp = np.asarray(logp, np.float64)
    P, N = logp.shape
    if tokens is None:
        tokens = np.arange(P * N).reshape(P, N, 1)  # all distinct responses
    tokens = np.asarray(tokens)
    if lengths is None:
        lengths = np.full((P, N), tokens.shape[-1])
    return Rollouts(
        prompts=jnp.arange(P),
        tokens=jnp.asarray(tokens),
        lengths=jnp.asarray(lengths),
        logp_base=jnp.asarray(logp),
        answers=None if answers is None else jnp.asarray(answers),
        correct=None if correct is None else jnp.asarray(correct),
    )


# ---------------------------------------------------------------- exact vs brute force


@pytest.mark.parametrize("n", [1, 4, 7])
def test_pass_at_k_matches_subset_enumeration(n):
    for c in range(n + 1):
        outcomes = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(range(n), k))
            brute = np.mean([any(outcomes[i] for i in s) for s in subsets])
            np.testing.assert_allclose(pass_at_k(c, n, k), brute, rtol=1e-12, atol=1e-15)


def test_pass_at_k_special_cases():
    np.testing.assert_allclose(pass_at_k(np.array([0, 3, 10]), 10, 1), [0.0, 0.3, 1.0], rtol=1e-14)
    np.testing.assert_array_equal(pass_at_k(np.array([0, 1]), 5, 5), [0.0, 1.0])


def brute_bon_weights(row, n):
    """Enumerate every n-subset and split the win uniformly among the subset's maximizers."""
    N = len(row)
    w = np.zeros(N)
    subsets = list(itertools.combinations(range(N), n))
    for s in subsets:
        best = max(row[i] for i in s)
        winners = [i for i in s if row[i] == best]
        for i in winners:
            w[i] += 1 / len(winners) / len(subsets)
    return w


def test_bon_subset_weights_matches_enumeration_with_ties():
    scores = np.array(
        [
            [0.1, 0.5, 0.5, -1.0, 0.5, 2.0],
            [-np.inf, -np.inf, 0.0, 0.0, -3.0, 1.0],
            [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        ]
    )
    for n in range(1, 7):
        w = bon_subset_weights(scores, n)
        for p in range(scores.shape[0]):
            np.testing.assert_allclose(
                w[p], brute_bon_weights(scores[p], n), rtol=1e-12, atol=1e-15
            )
        np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-12)


def test_bon_subset_weights_stay_exact_beyond_float_binomials():
    # C(1100, 550) ~ 1e329 overflows float64: the old float terms raised OverflowError, so
    # `sharpen bon --n-max 1100` crashed after all its sampling.
    from fractions import Fraction

    N, n = 1100, 550
    scores = np.stack([np.arange(N, dtype=np.float64), np.zeros(N)])  # distinct; all tied
    scores[0, 7] = np.nan  # counts as -inf: the lowest
    w = bon_subset_weights(scores, n)
    assert np.isfinite(w).all()
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-12)
    total = math.comb(N, n)
    for j in (0, 8, 549, 550, 562, 1000, N - 1):
        a = j if j > 7 else j + 1  # draws strictly below j (the NaN one is below everything)
        want = float(Fraction(math.comb(a, n - 1), total))  # j kept iff it and n-1 lower drawn
        np.testing.assert_allclose(w[0, j], want, rtol=1e-15, atol=0)
    assert w[0, N - 1] == n / N  # the best draw wins whenever it is drawn
    assert w[0, 7] == 0.0 and w[0, 8] == 0.0  # too few lower draws (C(a, n-1) = 0)
    np.testing.assert_allclose(w[1], 1 / N, rtol=1e-15)  # ties split evenly
    # weights below 1e-300 keep full precision (j = 562: 2.4e-304), and one below the
    # smallest subnormal (j = 549: 1 / C(1100, 550) ~ 1e-329) rounds to 0, as float64 must
    assert 0 < w[0, 562] < 1e-300 and w[0, 549] == 0.0
    r = make_rollouts(scores[:1], correct=scores[:1] > 600)
    exact = bon_expected(r, [1, 550, N], rewards={"log_likelihood": log_likelihood})
    acc = exact[exact["metric"] == "accuracy"].set_index("N")["value"]
    assert acc[N] == 1.0 and acc[1] == np.mean(scores[0] > 600)


# ---------------------------------------------------------------- hand-computed values


def test_bon_curve_at_n_max_is_deterministic_and_hand_computed():
    # prompt 0: the likeliest draw (index 2) is correct; prompt 1: the likeliest (index 0) is wrong.
    logp = [[-3.0, -2.0, -1.0], [-0.5, -4.0, -2.0]]
    correct = [[False, False, True], [False, True, True]]
    answers = [[0, 0, 1], [0, 1, 1]]  # majority: prompt 0 -> answer 0 (wrong), 1 -> 1 (right)
    lengths = [[1, 2, 4], [1, 5, 2]]
    r = make_rollouts(logp, correct, answers, lengths, tokens=np.zeros((2, 3, 5), int))
    greedy = make_rollouts([[-1.0], [-1.5]], correct=[[True], [False]])
    df = bon_curve(
        jax.random.key(0),
        r,
        [3],
        rewards={"log_likelihood": log_likelihood, "majority": majority_vote},
        num_subsamples=3,
        greedy=greedy,
    )
    agg = aggregate_subsamples(df).set_index(["reward", "N", "metric"])["mean"]
    # log-likelihood picks (0, 2) and (1, 0): accuracy 1/2, greedy accuracy 1/2 -> lift 0
    assert agg[("log_likelihood", 3, "accuracy")] == 0.5
    assert agg[("log_likelihood", 3, "lift_pct")] == 0.0
    np.testing.assert_allclose(agg[("log_likelihood", 3, "logp")], (-1.0 - 0.5) / 2, rtol=1e-12)
    np.testing.assert_allclose(
        agg[("log_likelihood", 3, "logp_lift")], (-1.0 - 0.5) / 2 - (-1.25), rtol=1e-12
    )
    np.testing.assert_allclose(agg[("log_likelihood", 3, "length")], (4 + 1) / 2, rtol=1e-12)
    # majority: prompt 0 picks one of the two answer-0 draws (wrong), prompt 1 an answer-1 draw
    assert agg[("majority", 3, "accuracy")] == 0.5


def test_lift_percent_is_relative_and_nan_without_greedy_success():
    np.testing.assert_allclose(lift_percent(0.3, 0.2), 50.0, rtol=1e-12)
    np.testing.assert_allclose(lift_percent(0.1, 0.2), -50.0, rtol=1e-12)
    assert math.isnan(float(lift_percent(0.1, 0.0)))


def test_coverage_plugin_and_lower_bound_hand_computed():
    # prompt 0: draws with probs 0.5, 0.2, 0.5 where draws 0 and 2 are the same response.
    # prompt 1: probs 0.1, 0.05.
    logp = np.log([[0.5, 0.2, 0.5], [0.1, 0.05, 0.1]])
    tokens = np.array([[[1], [2], [1]], [[3], [4], [5]]])
    r = make_rollouts(logp, tokens=tokens)
    cov = coverage_plugin(r)
    # plugin: mean(1/0.5, 1/0.1) = 6
    np.testing.assert_allclose(cov["plugin"], 6.0, rtol=1e-12)
    # lower: prompt 0 distinct mass S = 0.7 -> max(0.5, 0.3) = 0.5; prompt 1 S = 0.25 -> 0.75
    np.testing.assert_allclose(cov["lower"], (1 / 0.5 + 1 / 0.75) / 2, rtol=1e-12)
    np.testing.assert_allclose(np.exp(cov["log_plugin"]), cov["plugin"], rtol=1e-12)


def test_coverage_plugin_exact_for_tiny_probabilities():
    logp = np.array([[-700.0, -800.0], [-750.0, -720.0]])
    cov = coverage_plugin(make_rollouts(logp))
    expected = np.logaddexp(700.0, 720.0) - np.log(2)
    np.testing.assert_allclose(cov["log_plugin"], expected, rtol=1e-12)
    assert np.isfinite(cov["log_lower"]) and cov["lower"] == pytest.approx(1.0)


def test_likelihood_by_correctness_auc_hand_computed():
    logp = [[-1.0, -2.0, -3.0], [-1.0, -1.0, -5.0]]
    correct = [[True, False, True], [True, False, False]]
    df = likelihood_by_correctness(make_rollouts(logp, correct)).set_index("metric")["value"]
    pos = np.array([-1.0, -3.0, -1.0])
    neg = np.array([-2.0, -1.0, -5.0])
    d = pos[:, None] - neg[None, :]
    np.testing.assert_allclose(df["auc"], np.mean((d > 0) + 0.5 * (d == 0)), rtol=1e-12)
    # within prompt: prompt 0 -> pairs (-1 vs -2, -3 vs -2) = 1/2; prompt 1 -> (-1 vs -1: 1/2,
    # -1 vs -5: 1) = 3/4
    np.testing.assert_allclose(df["auc_within_prompt"], (0.5 + 0.75) / 2, rtol=1e-12)
    np.testing.assert_allclose(df["mean_logp_correct"], pos.mean(), rtol=1e-12)


def test_summary_hand_computed():
    logp = [[-1.0, -2.0, -3.0, -4.0], [-1.0, -1.5, -2.0, -2.5]]
    correct = [[True, False, False, False], [True, True, False, True]]
    lengths = [[1, 2, 3, 4], [5, 6, 7, 8]]
    r = make_rollouts(logp, correct, lengths=lengths, tokens=np.zeros((2, 4, 8), int))
    g = make_rollouts([[-0.5], [-0.7]], correct=[[False], [True]], lengths=[[3], [5]])
    s = protocol_summary(r, [1, 2, 4], greedy=g)
    val = {(m, n): v for m, n, v in s[["metric", "N", "value"]].itertuples(index=False)}
    nan = float("nan")
    get = lambda m, n=None: next(
        v for (mm, nn), v in val.items() if mm == m and ((n is None and math.isnan(nn)) or nn == n)
    )
    assert get("greedy_accuracy") == 0.5
    np.testing.assert_allclose(get("greedy_logp"), -0.6, rtol=1e-12)
    np.testing.assert_allclose(get("naive_accuracy"), 4 / 8, rtol=1e-12)
    np.testing.assert_allclose(get("pass_at_n", 1), (1 / 4 + 3 / 4) / 2, rtol=1e-12)
    np.testing.assert_allclose(get("pass_at_n", 2), (1 - 3 / 6 + 1) / 2, rtol=1e-12)
    assert get("pass_at_n", 4) == 1.0
    assert get("length_mean") == 4.5 and get("length_max") == 8
    del nan


# ---------------------------------------------------------------- Monte Carlo vs exact


def test_bon_curve_monte_carlo_matches_exact_subset_expectation():
    key = jax.random.key(1)
    P, N = 6, 8
    k1, k2, k3 = jax.random.split(key, 3)
    # coarse log-likelihoods so that ties happen
    logp = np.round(np.asarray(jax.random.normal(k1, (P, N))), 1)
    correct = np.asarray(jax.random.bernoulli(k2, 0.4, (P, N)))
    r = make_rollouts(logp, correct)
    S = 400
    mc = bon_curve(k3, r, [1, 3, 5], rewards={"ll": log_likelihood}, num_subsamples=S)
    exact = bon_expected(r, [1, 3, 5], rewards={"ll": log_likelihood}).set_index(
        ["reward", "N", "metric"]
    )["value"]
    for (reward, n, metric), grp in mc.groupby(["reward", "N", "metric"]):
        se = grp["value"].std(ddof=1) / np.sqrt(S)
        assert abs(grp["value"].mean() - exact[(reward, n, metric)]) <= 5 * se + 1e-12, (n, metric)


def test_subsample_indices_are_distinct_and_uniform():
    idx = np.asarray(subsample_indices(jax.random.key(0), 2000, 5, 2))
    assert idx.shape == (2000, 2)
    assert (idx[:, 0] != idx[:, 1]).all()
    counts = np.bincount(idx.ravel(), minlength=5)
    p = 2 / 5
    se = np.sqrt(2000 * p * (1 - p))
    assert np.all(np.abs(counts - 2000 * p) <= 5 * se)


def test_take_per_prompt_selects_rows_independently():
    r = make_rollouts(np.arange(6.0).reshape(2, 3) * -1, tokens=np.arange(12).reshape(2, 3, 2))
    sub = take_per_prompt(r, jnp.array([[2, 0], [1, 1]]))
    np.testing.assert_array_equal(np.asarray(sub.logp_base), [[-2.0, -0.0], [-4.0, -4.0]])
    np.testing.assert_array_equal(np.asarray(sub.tokens)[0, 0], [4, 5])


# ---------------------------------------------------------------- smoke on toy rollouts, errors


def test_run_protocol_on_toy_policy_rollouts():
    from simulators._tabular import TabularPolicy, sample_indices

    key = jax.random.key(3)
    logits = jax.random.normal(key, (5, 7)) * 2
    policy = TabularPolicy.from_logits(logits)
    keys = jax.random.split(jax.random.key(4), 5)
    y = jax.vmap(sample_indices, in_axes=(0, 0, None))(keys, policy.logp, 16)
    logp = jnp.take_along_axis(policy.logp, y, axis=1)
    correct = y == jnp.argmax(policy.logp, axis=1)[:, None]
    r = Rollouts(
        prompts=jnp.arange(5),
        tokens=y[..., None],
        lengths=jnp.ones_like(y),
        logp_base=logp,
        answers=y,
        correct=correct,
    )
    greedy = make_rollouts(np.max(np.asarray(policy.logp), 1, keepdims=True), np.ones((5, 1), bool))
    out = run_protocol(jax.random.key(5), r, greedy=greedy, num_subsamples=2)
    assert set(out) == {"bon", "bon_mean", "bon_exact", "summary", "samples", "likelihood"}
    bon = aggregate_subsamples(out["bon"]).set_index(["reward", "N", "metric"])["mean"]
    # on a tabular policy, log-likelihood BoN accuracy = P[argmax drawn], which is 1 at N=16 unless
    # the argmax was never drawn; it can never exceed 1 and the exact curve is monotone in N.
    ex = out["bon_exact"].query("reward == 'log_likelihood' and metric == 'accuracy'")
    assert np.all(np.diff(ex.sort_values("N")["value"].to_numpy()) >= -1e-12)
    assert bon[("log_likelihood", 16, "accuracy")] <= 1.0
    assert len(sample_table(r)) == 5 * 16
    assert default_ns(16) == [1, 2, 4, 8, 16] and default_ns(12) == [1, 2, 4, 8, 12]


def test_bad_input_is_rejected_with_clear_errors():
    r = make_rollouts([[-1.0, -2.0]])
    with pytest.raises(ValueError, match="N_max"):
        bon_curve(jax.random.key(0), r, [3])
    with pytest.raises(ValueError, match="k must be at most"):
        pass_at_k(1, 2, 3)
    with pytest.raises(ValueError, match="num_correct"):
        pass_at_k(5, 2, 1)
    with pytest.raises(ValueError, match="correct"):
        likelihood_by_correctness(r)
    with pytest.raises(TypeError, match="rollouts"):
        protocol_summary("not rollouts")
    with pytest.raises(ValueError, match="index"):
        take_per_prompt(r, jnp.zeros((3, 1), int))
    with pytest.raises(ValueError, match="rewards"):
        bon_curve(jax.random.key(0), r, [1], rewards={})
