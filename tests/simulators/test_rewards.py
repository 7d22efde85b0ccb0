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
