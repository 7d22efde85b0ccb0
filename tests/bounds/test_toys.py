"""Proposition E.1 (MAX-CUT), Proposition E.2 (non-closure) and the self-reward toys of THEORY.md
section 6 items 12-13."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bounds
import simulators

# --------------------------------------------------------------------------------------------
# Proposition E.1.

TRIANGLE = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
C4 = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]])


def _random_graph(seed, n):
    rng = np.random.default_rng(seed)
    A = np.triu((rng.random((n, n)) < 0.5).astype(int), 1)
    return A + A.T


def test_brute_force_max_cut_known_graphs():
    assert bounds.brute_force_max_cut(TRIANGLE)[0] == 2
    best, arg = bounds.brute_force_max_cut(C4)
    assert best == 4 and len(arg) == 2  # the two alternating colorings
    assert bounds.brute_force_max_cut(np.ones((4, 4), int) - np.eye(4, dtype=int))[0] == 4
    np.testing.assert_array_equal(
        bounds.cut_value(C4, [1, 0, 1, 0]), bounds.cut_value(C4, [1, -1, 1, -1])
    )


def test_maxcut_model_matches_closed_form_and_to_table():
    A = _random_graph(0, 4)
    policy = bounds.maxcut_policy(A)
    H = 6
    table = bounds.sequence_log_probs(policy)[0]
    np.testing.assert_allclose(table, np.asarray(simulators.to_table(policy))[0], rtol=1e-12)
    sig = lambda z: 1 / (1 + np.exp(-z))
    for col in range(2**H):
        t = np.array([(col >> (H - 1 - h)) & 1 for h in range(H)])
        y = 2 * t - 1
        s = -(y[:4] @ A @ y[:4])
        p_last = (sig(8.0) if t[5] else sig(-8.0)) if t[4] else 0.5
        want = 2.0 ** -(H - 2) * sig(2 * s * y[4]) * p_last
        assert table[col] == pytest.approx(math.log(want), rel=1e-12)
    assert np.all(np.linalg.norm(np.asarray(policy.theta), axis=1) <= H)
    assert policy.theta.shape == (H, H + H**2 + H**3)


@pytest.mark.parametrize(
    "A", [TRIANGLE, C4, _random_graph(1, 5), _random_graph(2, 6), np.zeros((3, 3), int)]
)
def test_maxcut_argmax_is_a_max_cut(A):
    r = bounds.maxcut_report(A)
    assert r.argmax_is_max_cut
    assert r.brute_force_evaluations == 2**r.H and r.restricted_evaluations == 2 ** (r.H - 2)
    assert r.sampling_cost == r.H
    assert np.all(r.theta_norms <= r.H)


def test_maxcut_dp_argmax_and_greedy():
    r = bounds.maxcut_report(C4, check_dp=True)
    assert r.dp_argmax_agrees
    policy = bounds.maxcut_policy(C4)
    np.testing.assert_array_equal(
        r.greedy_tokens, np.asarray(simulators.greedy(policy, jnp.zeros((1,), jnp.int32)))[0]
    )
    # Greedy decoding does not find the cut: the first H - 2 tokens are uniform.
    assert not r.greedy_is_argmax


# --------------------------------------------------------------------------------------------
# Proposition E.2.


def test_nonclosure_table_and_greedy_match_the_policy():
    theta = np.array([[1.3, -0.4], [0.7, 2.0]])
    want = np.asarray(simulators.to_table(bounds.nonclosure_policy(7, theta)))[0]
    np.testing.assert_allclose(bounds.nonclosure_table(7, theta).ravel(), want, rtol=1e-12)
    r = bounds.nonclosure_report(jax.random.key(0), 7, num_random=8)
    base = bounds.nonclosure_policy(7)
    gr = np.asarray(simulators.greedy(base, jnp.zeros((1,), jnp.int32)))[0]
    np.testing.assert_array_equal(r.greedy_tokens, gr)
    np.testing.assert_allclose(np.exp(want[7]), np.exp(bounds.nonclosure_table(7, theta)[1, 0]))


@pytest.mark.parametrize("n", [10, 200])
def test_nonclosure(n):
    r = bounds.nonclosure_report(jax.random.key(n), n, num_random=32)
    # pi_base(2, 1) = Omega(1) (about 1/6 with B = log n) and the argmax; the rest O(1/n).
    assert r.base_argmax_is_21 and r.base_mass_21 >= 1 / 7
    assert r.base_max_other <= 1 / n
    # Every model of the class: pi(2, 1) <= pi(y_1 = 2) = pi(y_1 = 1) <= 1/2.
    assert r.first_token_tie
    assert r.class_sup_21 <= 0.5 + 1e-12
    assert r.class_sup_21 > 0.49  # the bound is approached (B' large)
    # Temperature scaling approaches 1/2 from below, never beyond.
    assert np.all(r.tempered_mass_21 <= 0.5 + 1e-12) and r.tempered_mass_21[-1] > 0.49
    # Greedy decoding picks token 0 ("1") at the tie and then "1": not (2, 1).
    assert tuple(r.greedy_tokens) == (0, 0)
    # Inference-time BoN gets (2, 1) with probability above 1/2 for moderate N.
    assert r.bon_hit[0] == pytest.approx(r.base_mass_21, rel=1e-12)
    assert np.all(np.diff(r.bon_hit) > 0) and r.bon_hit[-1] > 0.99


# --------------------------------------------------------------------------------------------
# Self-reward toys.

NS = np.array([1, 2, 4, 8, 16, 32, 64])


def test_length_bias_exact_curves():
    toy = simulators.length_bias_toy()
    s = np.array([0.2, 0.25, 0.3, 0.35])
    rest = 1 - s - 0.5
    ll = bounds.bon_accuracy(toy, NS)
    # BoN(log pi) is correct iff the short response is absent and some correct one is drawn.
    want = np.mean((1 - s[None]) ** NS[:, None] - rest[None] ** NS[:, None], axis=1)
    np.testing.assert_allclose(ll, want, rtol=1e-10, atol=1e-15)
    norm = bounds.bon_accuracy(toy, NS, "length_normalized")
    # Length normalization ranks the long correct responses first.
    np.testing.assert_allclose(norm, 1 - 0.5**NS, rtol=1e-10)
    assert np.all(np.diff(ll) < 0) and np.all(np.diff(norm) > 0)
    assert ll[0] == pytest.approx(0.5, rel=1e-12) and norm[0] == pytest.approx(0.5, rel=1e-12)


def test_majority_vs_likelihood_exact_curve():
    toy = simulators.majority_vs_likelihood_toy()
    ll = bounds.bon_accuracy(toy, NS)
    np.testing.assert_allclose(ll, 0.7**NS - 0.2**NS, rtol=1e-10, atol=1e-15)
    assert np.all(np.diff(ll) < 0)
    # Equal lengths: normalization changes nothing.
    np.testing.assert_allclose(bounds.bon_accuracy(toy, NS, "length_normalized"), ll, rtol=1e-12)


MAJORITY_N, MAJORITY_DRAWS = 25, 800


@pytest.mark.parametrize(
    "make",
    [
        simulators.length_bias_toy,
        # Same [X, Y] = [4, 21] shapes as the length-bias toy, so sampling compiles once.
        lambda: simulators.majority_vs_likelihood_toy(4, num_correct_paths=10, num_other_paths=10),
    ],
)
def test_majority_vote_improves_with_N(make):
    toy = make()
    # N = 1 is plain sampling: its accuracy is the base mass on correct answers, 0.5 in both toys
    # (exactly the N = 1 best-of-N accuracy under any reward).
    base = bounds.bon_accuracy(toy, 1)
    assert base == pytest.approx(0.5, rel=1e-12)
    acc, se = bounds.majority_accuracy(jax.random.key(1), toy, MAJORITY_N, MAJORITY_DRAWS)
    assert acc - base > 5 * se
    # ... while best-of-N under the sequence likelihood has lost accuracy.
    assert bounds.bon_accuracy(toy, MAJORITY_N) < base < acc


def test_answer_toy_rollouts():
    toy = simulators.length_bias_toy()
    # The shapes of the majority test above, so that sampling is compiled once.
    x = jnp.repeat(jnp.arange(toy.num_prompts), MAJORITY_DRAWS)
    r = simulators.sample(jax.random.key(0), toy, x, MAJORITY_N)
    simulators.check_rollouts(r)
    y = np.asarray(r.tokens[..., 0]) - 1  # first token encodes the response index
    x = np.asarray(r.prompts)[:, None]
    np.testing.assert_array_equal(np.asarray(r.lengths), np.asarray(toy.lengths)[x, y])
    np.testing.assert_array_equal(np.asarray(r.answers), np.asarray(toy.answers)[x, y])
    np.testing.assert_array_equal(np.asarray(r.correct), np.asarray(toy.answers)[x, y] == 0)
    np.testing.assert_allclose(np.asarray(r.logp_base), np.asarray(toy.logp)[x, y], rtol=1e-12)
    mask = np.asarray(r.mask)
    assert np.all((np.asarray(r.tokens) > 0) == mask)
    # The length-normalized self-reward reads the lengths.
    np.testing.assert_allclose(
        np.asarray(simulators.length_normalized_log_likelihood(r)),
        np.asarray(r.logp_base) / np.asarray(r.lengths),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: bounds.maxcut_policy(np.array([[0, 1], [0, 0]])), "symmetric"),
        (lambda: bounds.maxcut_policy(np.array([[0, 2], [2, 0]])), "0/1"),
        (lambda: bounds.nonclosure_policy(2), "n"),
        (lambda: bounds.nonclosure_table(5, np.zeros(3)), "theta"),
        (lambda: simulators.length_bias_toy(short_mass=0.6), "short_mass"),
        (lambda: simulators.majority_vs_likelihood_toy(top_wrong_mass=1.2), "top_wrong_mass"),
        (lambda: bounds.bon_accuracy(simulators.length_bias_toy(), 4, "majority"), "reward"),
        (
            lambda: simulators.AnswerToy.create(
                np.full((1, 2), 0.5), np.ones((1, 2), int), np.zeros((1, 3), int), [0]
            ),
            "answers",
        ),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bon_accuracy_uses_the_closed_form_for_a_log_base_reward():
    """A reward registered with log_base=True takes bon_accuracy's closed form (r = log pi_base,
    bon_law's default): its function is never called, and the curve is the built-in
    log-likelihood's bit for bit."""
    import simulators

    def loglik(rollouts):
        raise AssertionError("the closed form should not score the responses")

    simulators.register_reward("toys_loglik", per_draw=True, log_base=True)(loglik)
    try:
        toy = simulators.length_bias_toy()
        N = np.array([1, 3, 9])
        np.testing.assert_array_equal(
            bounds.bon_accuracy(toy, N, "toys_loglik"), bounds.bon_accuracy(toy, N)
        )
    finally:
        del simulators.REWARDS["toys_loglik"]
