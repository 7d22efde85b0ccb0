"""Rollouts: N-axis selection keeps every per-sample field aligned and absent fields absent."""

import jax
import jax.numpy as jnp
import numpy as np

import simulators as sim


def test_take_selects_samples_and_keeps_fields_aligned():
    policy, _ = sim.dirichlet_tabular(jax.random.PRNGKey(0), 3, 7, 1.0)
    r = sim.sample(jax.random.PRNGKey(1), policy, jnp.arange(3), 5)
    idx = jnp.array([4, 0, 0])
    t = r.take(idx)
    assert t.tokens.shape == (3, 3, 1)
    np.testing.assert_array_equal(t.tokens, r.tokens[:, idx])
    np.testing.assert_array_equal(t.logp_base, r.logp_base[:, idx])
    np.testing.assert_array_equal(t.prompts, r.prompts)
    # logp_base still equals the policy's log-probability of the selected tokens
    np.testing.assert_allclose(
        t.logp_base, sim.log_prob(policy, t.prompts[:, None], t.tokens[..., 0])
    )
    assert t.answers is None and t.correct is None


def test_map_samples_leaves_prompts_and_absent_fields():
    policy, _ = sim.dirichlet_tabular(jax.random.PRNGKey(0), 2, 4, 1.0)
    r = sim.sample(jax.random.PRNGKey(2), policy, jnp.arange(2), 3)
    doubled = r.map_samples(lambda a: jnp.concatenate([a, a], axis=1))
    assert doubled.tokens.shape == (2, 6, 1) and doubled.lengths.shape == (2, 6)
    np.testing.assert_array_equal(doubled.prompts, r.prompts)
    assert doubled.answers is None
