"""The count MLE kept as its examples (CountPolicy) and exact evaluation from counts.

Every quantity is compared with the dense table it stands for, computed independently in numpy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim
import theory


def _numpy_count_table(x, y, w, s, X, Y):
    counts = np.zeros((X, Y))
    np.add.at(counts, (x, y), w)
    counts += s
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            total > 0, np.log(counts) - np.log(np.where(total > 0, total, 1)), -np.log(Y)
        )


@pytest.fixture
def fitted():
    rng = np.random.default_rng(3)
    X, Y, n = 7, 11, 40
    x = rng.integers(0, X - 2, n)  # the last two prompts are never seen
    y = rng.integers(0, Y, n)
    w = (rng.random(n) < 0.7).astype(float)  # a budget mask
    return X, Y, x, y, w


@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_table_is_the_smoothed_count_mle(fitted, smoothing):
    X, Y, x, y, w = fitted
    pol = sim.mle(sim.TabularClass(X, Y, smoothing), jnp.asarray(x), jnp.asarray(y), jnp.asarray(w))
    assert isinstance(pol, sim.CountPolicy)
    want = _numpy_count_table(x, y, w, smoothing, X, Y)
    np.testing.assert_allclose(np.asarray(pol.logp), want, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(np.asarray(sim.to_table(pol)), np.asarray(pol.logp))
    # Zero-weight examples do not influence the fit.
    keep = w > 0
    alone = sim.mle(sim.TabularClass(X, Y, smoothing), jnp.asarray(x[keep]), jnp.asarray(y[keep]))
    np.testing.assert_allclose(np.asarray(alone.logp), np.asarray(pol.logp), atol=1e-14)


@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_masses_from_counts_equal_the_dense_table(fitted, smoothing):
    X, Y, x, y, w = fitted
    pol = sim.mle(sim.TabularClass(X, Y, smoothing), jnp.asarray(x), jnp.asarray(y), jnp.asarray(w))
    rng = np.random.default_rng(4)
    for _ in range(5):
        in_set = jnp.asarray(rng.random((X, Y)) < 0.3)
        got = sim.log_mass_in_set(pol, in_set)
        dense = theory.log_mass_in_set(jnp.asarray(pol.logp), in_set)
        for g, d in zip(got, dense, strict=True):
            np.testing.assert_allclose(np.asarray(g), np.asarray(d), rtol=1e-12, atol=0)


def test_metrics_match_theory_on_every_policy_type(fitted):
    X, Y, x, y, w = fitted
    logp_base = jnp.asarray(np.log(np.random.default_rng(5).dirichlet(np.ones(Y), X)))
    mu = jnp.full(X, 1 / X)
    pol = sim.mle(sim.TabularClass(X, Y), jnp.asarray(x), jnp.asarray(y), jnp.asarray(w))
    for p in (pol, sim.TabularPolicy(pol.logp)):
        for delta in (0.05, 0.3, 0.7):
            got = sim.sharpening_metrics(p, logp_base, mu, delta)
            want = theory.sharpening_error(pol.logp, logp_base, mu, delta)
            assert float(got["sharpening_error"]) == float(want)
            mass = mu @ jnp.exp(theory.log_mass_on_argmax(pol.logp, logp_base))
            np.testing.assert_allclose(float(got["mass_on_argmax"]), float(mass), rtol=1e-13)


def test_exact_tie_is_not_a_failure():
    # pi_hat(y*) = 3/4 exactly at delta = 1/4 (Def. 3.1 is strict): no failure on either path.
    logp_base = jnp.log(jnp.asarray([[0.5, 0.3, 0.2]]))
    pol = sim.mle(sim.TabularClass(1, 3), jnp.zeros(4, jnp.int32), jnp.asarray([0, 0, 0, 1]))
    got = sim.sharpening_metrics(pol, logp_base, jnp.ones(1), 0.25)
    assert float(got["sharpening_error"]) == 0.0
    assert float(theory.sharpening_error(pol.logp, logp_base, jnp.ones(1), 0.25)) == 0.0
    # One more example off the argmax tips it over.
    pol = sim.mle(sim.TabularClass(1, 3), jnp.zeros(5, jnp.int32), jnp.asarray([0, 0, 0, 1, 2]))
    assert float(sim.sharpening_metrics(pol, logp_base, jnp.ones(1), 0.25)["sharpening_error"]) == 1


def test_generic_functions_are_those_of_the_table(fitted):
    X, Y, x, y, w = fitted
    pol = sim.mle(sim.TabularClass(X, Y, 0.1), jnp.asarray(x), jnp.asarray(y), jnp.asarray(w))
    dense = sim.TabularPolicy(pol.logp)
    xs = jnp.arange(X)
    np.testing.assert_array_equal(sim.greedy(pol, xs), sim.greedy(dense, xs))
    np.testing.assert_array_equal(sim.sequence_argmax(pol, xs), sim.sequence_argmax(dense, xs))
    np.testing.assert_array_equal(sim.log_prob(pol, xs, xs % Y), sim.log_prob(dense, xs, xs % Y))
    key = jax.random.key(0)
    a, b = sim.sample(key, pol, xs, 5), sim.sample(key, dense, xs, 5)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    # Under jit and vmap it stays a pytree of its examples.
    out = jax.jit(jax.vmap(lambda ww: sim.mle(sim.TabularClass(X, Y), x, y, ww).weights))(
        jnp.stack([jnp.asarray(w)] * 2)
    )
    assert out.shape == (2, len(x))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="weights"):
        sim.CountPolicy(jnp.zeros(2, int), jnp.zeros(2, int), jnp.asarray([1.0, -1.0]), 0.0, 3, 4)
    with pytest.raises(ValueError, match=r"shape \[n\]"):
        sim.CountPolicy(jnp.zeros(2, int), jnp.zeros(3, int), jnp.ones(2), 0.0, 3, 4)
    with pytest.raises(ValueError, match="prompt ids"):
        sim.CountPolicy(jnp.asarray([0, 3]), jnp.zeros(2, int), jnp.ones(2), 0.0, 3, 4)
    with pytest.raises(ValueError, match="smoothing"):
        sim.CountPolicy(jnp.zeros(2, int), jnp.zeros(2, int), jnp.ones(2), -1.0, 3, 4)
    pol = sim.CountPolicy(jnp.zeros(2, int), jnp.zeros(2, int), jnp.ones(2), 0.0, 3, 4)
    with pytest.raises(ValueError, match="in_set"):
        sim.log_mass_in_set(pol, jnp.ones((3, 5), bool))
    with pytest.raises(ValueError, match="delta"):
        theory.sharpening_error_from_log_mass(jnp.zeros(3), jnp.zeros(3), jnp.ones(3) / 3, 1.5)
    with pytest.raises(TypeError, match="in_set"):
        theory.log_mass_in_set(jnp.zeros((1, 1)), jnp.ones((1, 1)))


def _numpy_sparse_softmax(x, y, logits, X, Y):
    pot = np.full((X, Y), -np.inf)
    np.maximum.at(pot, (x, y), logits)
    seen = np.isfinite(pot).any(axis=1, keepdims=True)
    pot = np.where(seen, pot, 0.0)
    top = pot.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return pot - top - np.log(np.exp(pot - top).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("dedup", ["dense", "sort"])
def test_squared_loss_fit_is_a_sparse_softmax_of_the_observed_potentials(monkeypatch, dedup):
    # Both ways of finding the distinct observed pairs (a dense first-index table, a sort).
    monkeypatch.setattr(sim._tabular, "_DENSE_DEDUP_FACTOR", 10**9 if dedup == "dense" else 0)
    rng = np.random.default_rng(6)
    X, Y, n, beta = 6, 9, 25, 0.3
    logp_base = np.log(rng.dirichlet(np.ones(Y), X))
    x = rng.integers(0, X - 1, n)  # the last prompt is never seen
    y, y2 = rng.integers(0, Y, n), rng.integers(0, Y, n)
    w = (rng.random(n) < 0.8).astype(float)
    lp, lp2 = logp_base[x, y], logp_base[x, y2]
    data = sim.make_pair_data(*map(jnp.asarray, (x, y, y2, lp, lp2, lp, lp2, w)))
    pol = sim.fit_squared_loss(sim.TabularClass(X, Y), data, beta)
    assert isinstance(pol, sim.SparseSoftmaxPolicy)
    keep = w > 0
    pot = np.concatenate([(lp + lp / beta)[keep], (lp2 + lp2 / beta)[keep]])
    want = _numpy_sparse_softmax(
        np.concatenate([x[keep], x[keep]]), np.concatenate([y[keep], y2[keep]]), pot, X, Y
    )
    np.testing.assert_allclose(np.asarray(pol.logp), want, atol=1e-12)
    # Exact masses from the entries equal the table's, on random sets and on the argmax set.
    for in_set in [jnp.asarray(rng.random((X, Y)) < 0.4), theory.argmax_set(jnp.asarray(want))]:
        got = sim.log_mass_in_set(pol, in_set)
        dense = theory.log_mass_in_set(jnp.asarray(want), in_set)
        for g, d in zip(got, dense, strict=True):
            np.testing.assert_allclose(np.asarray(g), np.asarray(d), rtol=1e-11, atol=1e-300)
    for delta in (0.1, 0.5):
        got = sim.sharpening_metrics(pol, jnp.asarray(logp_base), jnp.full(X, 1 / X), delta)
        want_err = theory.sharpening_error(jnp.asarray(want), logp_base, jnp.full(X, 1 / X), delta)
        assert float(got["sharpening_error"]) == float(want_err)


def test_sparse_softmax_refuses_bad_entries_and_propagates_nan():
    with pytest.raises(ValueError, match=r"\+inf"):
        sim.SparseSoftmaxPolicy(
            jnp.zeros(2, int), jnp.zeros(2, int), jnp.asarray([0, np.inf]), 2, 3
        )
    with pytest.raises(ValueError, match=r"shape \[m\]"):
        sim.SparseSoftmaxPolicy(jnp.zeros(2, int), jnp.zeros(2, int), jnp.zeros(3), 2, 3)
    pol = sim.SparseSoftmaxPolicy(
        jnp.zeros(2, int), jnp.arange(2), jnp.asarray([0.0, np.nan]), 2, 3
    )
    assert np.isnan(np.asarray(pol.logp)).all()
    assert np.isnan(np.asarray(sim.log_mass_in_set(pol, jnp.ones((2, 3), bool))[0])).all()
