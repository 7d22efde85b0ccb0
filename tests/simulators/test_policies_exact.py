"""Exact results against brute force: tables, greedy vs sequence argmax (Prop. 3.1), Viterbi.

The references are plain Python loops over the definitions, independent of the library's prefix
indexing and log-space recursions.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim


def _softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def _brute_autoregressive(policy, x, tokens):
    """``pi(y | x)`` by walking the prefix tree from its definition (node = parent * V + 1 + v)."""
    probs = np.exp(np.asarray(policy.logp[x], np.float64))
    node, p = 0, 1.0
    for t in tokens:
        p *= probs[node, t]
        if policy.eos is not None and t == policy.eos:
            break
        node = node * policy.V + 1 + t
    return p


@pytest.mark.parametrize("eos", [None, 1])
def test_autoregressive_table_matches_brute_force(eos):
    V, H = 3, 3
    logits = 1.5 * jax.random.normal(jax.random.key(0), (2, 13, V))
    policy = sim.AutoregressivePolicy.from_logits(logits, eos=eos)
    table = np.exp(np.asarray(sim.to_table(policy)))
    toks, lengths = sim.enumerate_responses(policy)
    toks, lengths = np.asarray(toks), np.asarray(lengths)
    # The response set: every sequence that ends at its first eos (padded with eos) or at H.
    want = []
    for seq in itertools.product(range(V), repeat=H):
        if eos is not None and eos in seq:
            end = seq.index(eos) + 1
            if any(t != eos for t in seq[end:]):
                continue
        want.append(seq)
    np.testing.assert_array_equal(toks, np.array(want))
    assert policy.num_responses == len(want)
    for i, seq in enumerate(want):
        end = seq.index(eos) + 1 if eos is not None and eos in seq else H
        assert lengths[i] == end
        for x in range(2):
            assert table[x, i] == pytest.approx(_brute_autoregressive(policy, x, seq), rel=1e-12)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, rtol=1e-12)


def test_markov_table_matches_brute_force():
    V, H = 3, 4
    k1, k2 = jax.random.split(jax.random.key(1))
    policy = sim.MarkovPolicy.from_logits(
        jax.random.normal(k1, (2, V)), jax.random.normal(k2, (2, V, V)), H
    )
    table = np.exp(np.asarray(sim.to_table(policy)))
    init = np.exp(np.asarray(policy.init_logp))
    trans = np.exp(np.asarray(policy.trans_logp))
    for i, seq in enumerate(itertools.product(range(V), repeat=H)):
        for x in range(2):
            p = init[x, seq[0]] * math.prod(trans[x, a, b] for a, b in itertools.pairwise(seq))
            assert table[x, i] == pytest.approx(p, rel=1e-12)
    # Greedy is token-wise argmax of the stored rows.
    g = np.asarray(sim.greedy(policy, jnp.arange(2)))
    for x in range(2):
        want = [int(np.argmax(init[x]))]
        for _ in range(H - 1):
            want.append(int(np.argmax(trans[x, want[-1]])))
        np.testing.assert_array_equal(g[x], want)


def test_multilayer_softmax_matches_eq_11():
    """Eq. 11 from one feature table per step, with lexicographic prefix rows."""
    V, H, d = 3, 3, 2
    rng = np.random.default_rng(2)
    steps = [rng.normal(size=(2, V**h, d)) for h in range(1, H + 1)]
    theta = rng.normal(size=(H, d)) * 1.5
    policy = sim.MultiLayerSoftmaxPolicy.from_step_features(steps, theta)
    table = np.exp(np.asarray(sim.to_table(policy)))

    def lex(prefix):
        return sum(t * V ** (len(prefix) - 1 - i) for i, t in enumerate(prefix))

    for i, seq in enumerate(itertools.product(range(V), repeat=H)):
        for x in range(2):
            p = 1.0
            for h in range(1, H + 1):
                logits = [
                    steps[h - 1][x, lex(seq[: h - 1] + (v,))] @ theta[h - 1] for v in range(V)
                ]
                p *= _softmax(logits)[seq[h - 1]]
            assert table[x, i] == pytest.approx(p, rel=1e-12)
    # The shared-features form ([V^h, d]) broadcasts over prompts.
    shared = sim.MultiLayerSoftmaxPolicy.from_step_features([s[0] for s in steps], theta)
    np.testing.assert_allclose(sim.to_table(shared)[0], np.log(table[0]), rtol=1e-12)


def test_linear_softmax_matches_definition():
    rng = np.random.default_rng(3)
    phi = rng.normal(size=(3, 7, 4))
    theta = rng.normal(size=4)
    logp0 = np.log(rng.dirichlet(np.ones(7), size=3))
    policy = sim.LinearSoftmaxPolicy.create(phi, theta, logp0)
    table = np.exp(np.asarray(sim.to_table(policy)))
    w = np.exp(logp0) * np.exp(phi @ theta)
    np.testing.assert_allclose(table, w / w.sum(-1, keepdims=True), rtol=1e-12)
    # Uniform pi_0 by default; [Y, d] features are shared by all prompts.
    shared = sim.LinearSoftmaxPolicy.create(phi[0], theta, num_prompts=2)
    w = np.exp(phi[0] @ theta)
    np.testing.assert_allclose(np.exp(sim.to_table(shared)), np.stack([w / w.sum()] * 2))
    lp = sim.linear_softmax_logp(jnp.asarray(phi), jnp.asarray(theta), jnp.asarray(logp0))
    np.testing.assert_allclose(np.exp(lp), table, rtol=1e-12)
    # Differentiable in theta: d/dtheta log pi(y) = phi(y) - E_pi[phi].
    grad = jax.grad(lambda t: sim.linear_softmax_logp(jnp.asarray(phi), t, logp0)[0, 2])(
        jnp.asarray(theta)
    )
    np.testing.assert_allclose(grad, phi[0, 2] - table[0] @ phi[0], rtol=1e-10)


@pytest.mark.parametrize("V,H,eos", [(3, 3, None), (3, 4, 2)])
def test_greedy_equals_sequence_argmax_when_sharpened(V, H, eos):
    """Prop. 3.1: pi(y*|x) > 1/2 implies greedy decoding returns y*(x); failures exist below."""
    X = 400
    sharp, failures_below = 0, 0
    for i, conc in enumerate([0.1, 0.3, 1.0]):
        policy = sim.random_autoregressive(jax.random.key(i), X, V, H, eos=eos, concentration=conc)
        x = jnp.arange(X)
        table = np.asarray(sim.to_table(policy))
        toks, _ = sim.enumerate_responses(policy)
        best = np.argmax(table, axis=1)
        argmax_tokens = np.asarray(toks)[best]
        p_star = np.exp(table[np.arange(X), best])
        # The dynamic-programming argmax agrees with enumeration, with its log-probability.
        dp_tokens, dp_logp = sim.autoregressive_argmax(policy, x)
        np.testing.assert_array_equal(dp_tokens, argmax_tokens)
        np.testing.assert_allclose(dp_logp, table[np.arange(X), best], rtol=1e-12)
        np.testing.assert_array_equal(sim.sequence_argmax(policy, x), argmax_tokens)
        agree = np.all(np.asarray(sim.greedy(policy, x)) == argmax_tokens, axis=1)
        assert np.all(agree[p_star > 0.5]), "greedy missed y* although pi(y*|x) > 1/2"
        sharp += int(np.sum(p_star > 0.5))
        failures_below += int(np.sum(~agree & (p_star <= 0.5)))
    assert sharp >= 100  # the check above is not vacuous
    assert failures_below > 0  # Prop. 3.1 is tight: below 1/2 greedy can fail


def test_greedy_counterexample():
    """THEORY.md section 6 item 6: greedy returns "ba" (.30), the sequence argmax is "ab" (.40)."""
    policy, mu = sim.greedy_counterexample()
    np.testing.assert_allclose(mu, [1.0])
    table = np.exp(np.asarray(sim.to_table(policy)))[0]
    np.testing.assert_allclose(table, [0.05, 0.40, 0.30, 0.25], rtol=1e-12)  # aa, ab, ba, bb
    x = jnp.zeros(1, jnp.int32)
    np.testing.assert_array_equal(sim.greedy(policy, x), [[1, 0]])
    np.testing.assert_array_equal(sim.sequence_argmax(policy, x), [[0, 1]])
    assert table.max() <= 0.5


@pytest.mark.parametrize("V,H", [(3, 5), (4, 3)])
def test_viterbi_equals_enumerated_argmax(V, H):
    X = 50
    policy = sim.random_markov(jax.random.key(V), X, V, H, concentration=0.5)
    table = np.asarray(sim.to_table(policy))
    toks, _ = sim.enumerate_responses(policy)
    best = np.argmax(table, axis=1)
    top = table[np.arange(X), best]
    path, score = sim.markov_viterbi(policy, jnp.arange(X))
    np.testing.assert_allclose(score, top, rtol=1e-12)
    np.testing.assert_allclose(sim.log_prob(policy, jnp.arange(X), path), top, rtol=1e-12)
    # Reordering transitions gives exact ties (same multiset of factors), which rounding breaks
    # either way; where the maximizer is unique by a clear margin the paths must be identical.
    runner_up = np.sort(table, axis=1)[:, -2]
    unique = top - runner_up > 1e-9
    assert unique.sum() >= X // 2
    np.testing.assert_array_equal(np.asarray(path)[unique], np.asarray(toks)[best][unique])
    np.testing.assert_array_equal(sim.sequence_argmax(policy, jnp.arange(X)), path)


def test_long_markov_is_exact_in_log_space():
    """H = 300 over V = 20 near-uniform tokens: sequence masses ~e^-900, far below float range."""
    V, H = 20, 300
    policy = sim.random_markov(jax.random.key(0), 2, V, H, concentration=50.0)
    x = jnp.arange(2)
    path, score = sim.markov_viterbi(policy, x)
    assert np.all(np.isfinite(score)) and np.all(np.asarray(score) < -745)  # exp underflows
    np.testing.assert_allclose(sim.log_prob(policy, x, path), score, rtol=1e-12)
    r = sim.sample(jax.random.key(1), policy, x, 500)
    lp = np.asarray(r.logp_base)
    assert np.all(np.isfinite(lp)) and np.all(lp < -745)
    # The Viterbi path beats every sampled response and the greedy one.
    assert np.all(lp <= np.asarray(score)[:, None] + 1e-9)
    greedy_lp = sim.log_prob(policy, x, sim.greedy(policy, x))
    assert np.all(np.asarray(greedy_lp) <= np.asarray(score) + 1e-9)
    # log_prob equals the direct sum of the stored log-probabilities.
    t = np.asarray(r.tokens[1, 7])
    init, trans = np.asarray(policy.init_logp[1]), np.asarray(policy.trans_logp[1])
    direct = init[t[0]] + sum(trans[a, b] for a, b in itertools.pairwise(t))
    assert lp[1, 7] == pytest.approx(direct, rel=1e-12)
    with pytest.raises(ValueError, match="above the limit"):
        sim.to_table(policy)


def test_viterbi_breaks_ties_by_lowest_enumeration_index():
    """Exact ties (a uniform chain): the argmax is the all-zeros sequence, column 0."""
    policy = sim.MarkovPolicy.from_logits(jnp.zeros((1, 3)), jnp.zeros((1, 3, 3)), 4)
    np.testing.assert_array_equal(sim.sequence_argmax(policy, jnp.zeros(1, jnp.int32)), [[0] * 4])
    ar = sim.AutoregressivePolicy.from_logits(jnp.zeros((1, 7, 2)))
    np.testing.assert_array_equal(sim.sequence_argmax(ar, jnp.zeros(1, jnp.int32)), [[0] * 3])
