"""Instance families: exact coverage and margin, Dirichlet statistics, the named instances."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim
import theory


def _coverage_direct(logp, mu):
    """C_cov = E_x[1 / pi(y*(x)|x)] (Eq. 6) for tables whose argmax is unique."""
    p = np.exp(np.asarray(logp, np.float64))
    return float(np.dot(np.asarray(mu), 1.0 / p.max(axis=1)))


COVERAGE_CASES = [
    # (X, Y, c_cov, margin, seed)
    (5, 20, 7.0, None, None),
    (3, 1000, 100.0, None, 0),
    (4, 10, 1.0, None, None),
    (4, 10, 9.99, None, 1),
    (6, 50, 10.0, 0.25, None),
    (6, 50, 10.0, 0.25, 2),
    (2, 12, 1 + 11 / 1.5, 0.5, None),  # the largest c_cov the margin allows: all others equal
    (2, 12, 1 + 1 / 1.5, 0.5, 3),  # the smallest: only the runner-up has mass
]


@pytest.mark.parametrize("X,Y,c,margin,seed", COVERAGE_CASES)
def test_coverage_tabular_sets_c_cov_exactly(X, Y, c, margin, seed):
    key = None if seed is None else jax.random.key(seed)
    policy, mu = sim.coverage_tabular(X, Y, c, margin=margin, key=key)
    logp = np.asarray(policy.logp)
    assert logp.shape == (X, Y) and mu.shape == (X,)
    np.testing.assert_allclose(np.asarray(mu).sum(), 1.0, rtol=1e-15)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, atol=1e-13)
    assert abs(_coverage_direct(logp, mu) - c) <= 1e-12 * max(1.0, c)
    assert float(theory.coverage(logp, mu)) == pytest.approx(c, rel=1e-12)
    top2 = np.sort(np.exp(logp), axis=1)[:, -2:]
    if c > 1:
        assert np.all(top2[:, 1] > top2[:, 0])  # y*(x) is unique, so C_cov is Eq. 6 exactly
    else:
        np.testing.assert_array_equal(top2[:, 0], 0.0)
    if margin is not None:
        # Assumption 4.2 with equality: max pi = (1 + gamma_margin) * (second largest).
        np.testing.assert_allclose(top2[:, 1] / top2[:, 0] - 1.0, margin, rtol=1e-12)
    if seed is not None and X > 2:
        assert len(set(np.argmax(logp, axis=1).tolist())) > 1  # y* placed at random


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        ((3, 10, 10.0), {}, "c_cov must satisfy 1 <= c_cov < Y = 10"),
        ((3, 10, 0.5), {}, "c_cov must be a finite number >= 1"),
        ((3, 10, float("nan")), {}, "c_cov must be a finite number"),
        ((3, 10, 9.0), {"margin": 0.5}, "infeasible with margin"),  # > 1 + 9/1.5 = 7
        ((3, 10, 1.5), {"margin": 0.5}, "infeasible with margin"),  # < 1 + 1/1.5
        ((3, 10, 5.0), {"margin": 0.0}, "margin must be a finite number > 0"),
        ((0, 10, 5.0), {}, "num_prompts"),
        ((3, 0, 5.0), {}, "num_responses"),
    ],
)
def test_coverage_tabular_rejects_infeasible_requests(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sim.coverage_tabular(*args, **kwargs)


def test_dirichlet_tabular_statistics():
    """Rows are Dirichlet(alpha): E[p_y] = 1/Y (z-test) and small alpha gives peaked rows."""
    X, Y = 4000, 5
    key_small, key_large = jax.random.split(jax.random.key(0))
    peaked, mu = sim.dirichlet_tabular(key_small, X, Y, 0.1)
    flat, _ = sim.dirichlet_tabular(key_large, X, Y, 10.0)
    assert mu.shape == (X,)
    for policy, alpha in ((peaked, 0.1), (flat, 10.0)):
        p = np.exp(np.asarray(policy.logp))
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
        var = (1 / Y) * (1 - 1 / Y) / (Y * alpha + 1)  # Var p_y under Dirichlet(alpha 1_Y)
        z = (p.mean(axis=0) - 1 / Y) / math.sqrt(var / X)
        assert np.max(np.abs(z)) < 5
    max_peaked = np.exp(np.asarray(peaked.logp)).max(axis=1)
    max_flat = np.exp(np.asarray(flat.logp)).max(axis=1)
    se = math.sqrt((max_peaked.var() + max_flat.var()) / X)
    assert max_peaked.mean() - max_flat.mean() > 5 * se
    assert _coverage_direct(peaked.logp, mu) < _coverage_direct(flat.logp, mu)


def test_dirichlet_rows_stay_finite_at_tiny_concentration():
    """Log-space Dirichlet draws: masses far below float range are finite log-probabilities."""
    policy, _ = sim.dirichlet_tabular(jax.random.key(1), 50, 20, 1e-3)
    logp = np.asarray(policy.logp)
    assert np.all(np.isfinite(logp))
    assert logp.min() < -745  # these masses underflow as probabilities
    np.testing.assert_allclose(np.log(np.exp(logp).sum(axis=1)), 0.0, atol=1e-12)


def test_random_constructors_follow_their_concentration():
    """Smaller concentration gives sharper sequence laws (a larger pi(y*|x) on average)."""
    x = jnp.arange(300)
    mass = {}
    for conc in (0.2, 5.0):
        policy = sim.random_autoregressive(jax.random.key(0), 300, 3, 3, eos=2, concentration=conc)
        _, logp_max = sim.autoregressive_argmax(policy, x)
        mass[conc] = np.exp(np.asarray(logp_max))
    se = math.sqrt((mass[0.2].var() + mass[5.0].var()) / 300)
    assert mass[0.2].mean() - mass[5.0].mean() > 5 * se


@pytest.mark.parametrize("name", sorted(sim.BUILTIN_INSTANCES))
def test_builtin_instances(name):
    build = sim.BUILTIN_INSTANCES[name]
    assert (build.__doc__ or "").strip(), f"{name} needs a one-line description"
    policy, mu = build()
    X = policy.num_prompts
    assert mu.shape == (X,)
    np.testing.assert_allclose(np.asarray(mu).sum(), 1.0, rtol=1e-12)
    x = jnp.arange(X)
    best = sim.sequence_argmax(policy, x)
    assert best.shape[0] == X
    if name == "markov-long":
        with pytest.raises(ValueError, match="above the limit"):
            sim.to_table(policy)
        return
    table = np.asarray(sim.to_table(policy))
    np.testing.assert_allclose(np.log(np.exp(table).sum(axis=1)), 0.0, atol=1e-12)
    # Named instances are deterministic.
    again, _ = build()
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(policy), strict=True):
        np.testing.assert_array_equal(a, b)


def test_named_coverage_instances_have_their_c_cov():
    for name, c in (("coverage-10", 10.0), ("coverage-100", 100.0), ("coverage-margin", 10.0)):
        policy, mu = sim.BUILTIN_INSTANCES[name]()
        assert _coverage_direct(policy.logp, mu) == pytest.approx(c, rel=1e-12)
