"""Issue 13, section 3: every policy kind and the oracle are checked at construction, ids are
checked by every kind, and sizes are refused before anything is allocated."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim

KEY = jax.random.key(0)


def _markov():
    return sim.random_markov(KEY, 2, 3, 4)


def _autoregressive():
    return sim.random_autoregressive(KEY, 2, 3, 3, eos=2)


def _linear():
    return sim.random_linear_softmax(KEY, 2, 5, 3)


def _multilayer():
    return sim.random_multilayer_softmax(KEY, 2, 2, 2, 3)


def _tabular():
    return sim.dirichlet_tabular(KEY, 2, 4)[0]


KINDS = {
    "tabular": _tabular,
    "markov": _markov,
    "autoregressive": _autoregressive,
    "linear": _linear,
    "multilayer": _multilayer,
}


def _response(policy, n=1):
    """A valid response array for ``policy`` (``n`` of them)."""
    H = getattr(policy, "H", None)
    if H is None:
        return jnp.zeros((n,), jnp.int32)
    return jnp.zeros((n, H), jnp.int32)


# --- the oracle's two halves cannot disagree -----------------------------------------------------


def test_half_mass_table_is_refused_by_the_policy_and_the_oracle():
    half = jnp.log(jnp.full((2, 2), 0.25))  # rows summing to 0.5
    with pytest.raises(ValueError, match=r"\blogp must be normalized.*sums to 0\.5"):
        sim.TabularPolicy(half)
    with pytest.raises(ValueError, match=r"\blogp must be normalized"):
        sim.make_oracle(sim.TabularPolicy(half), jnp.array([0.5, 0.5]))


def test_make_oracle_rechecks_a_policy_rebuilt_by_tree_map():
    # tree_map rebuilds skip the checks (so jit outputs are not re-scanned); make_oracle runs
    # the policy's checks again, once.
    bad = jax.tree.map(lambda a: a - jnp.log(2.0), _tabular())
    with pytest.raises(ValueError, match=r"\blogp must be normalized"):
        sim.make_oracle(bad)


def test_oracle_draws_agree_with_the_table():
    policy = _tabular()
    rollouts, _ = sim.draw(KEY, sim.make_oracle(policy), 3, 5)
    want = policy.logp[rollouts.prompts[:, None], rollouts.tokens[..., 0]]
    np.testing.assert_array_equal(np.asarray(rollouts.logp_base), np.asarray(want))


# --- every kind checks what TabularPolicy checks, at construction -------------------------------

NAN_TABLES = [
    (lambda p: sim.TabularPolicy(p.logp.at[0, 0].set(jnp.nan)), _tabular, r"\blogp contains NaN"),
    (
        lambda p: sim.MarkovPolicy(p.init_logp.at[0, 0].set(jnp.nan), p.trans_logp, p.H),
        _markov,
        r"\binit_logp contains NaN",
    ),
    (
        lambda p: sim.MarkovPolicy(p.init_logp, p.trans_logp.at[0, 0, 0].set(jnp.nan), p.H),
        _markov,
        r"\btrans_logp contains NaN",
    ),
    (
        lambda p: sim.MarkovPolicy(p.init_logp, p.trans_logp + 0.1, p.H),
        _markov,
        r"\btrans_logp (must be normalized|contains positive)",
    ),
    (
        lambda p: sim.AutoregressivePolicy(p.logp.at[0, 0, 0].set(jnp.inf), p.H, p.eos),
        _autoregressive,
        r"\blogp contains \+inf",
    ),
    (
        lambda p: sim.AutoregressivePolicy(p.logp - 1.0, p.H, p.eos),
        _autoregressive,
        r"\blogp must be normalized",
    ),
    (
        lambda p: sim.LinearSoftmaxPolicy(p.features.at[0, 0, 0].set(jnp.nan), p.theta, p.logp0),
        _linear,
        r"\bfeatures must be finite",
    ),
    (
        lambda p: sim.LinearSoftmaxPolicy(p.features, p.theta, p.logp0 + 1.0),
        _linear,
        r"\blogp0 ",
    ),
    (
        lambda p: sim.MultiLayerSoftmaxPolicy(p.features, p.theta.at[0, 0].set(jnp.inf)),
        _multilayer,
        r"\btheta must be finite",
    ),
]


@pytest.mark.parametrize(("build", "make", "match"), NAN_TABLES)
def test_raw_constructors_refuse_bad_values(build, make, match):
    policy = make()
    with pytest.raises(ValueError, match=match):
        build(policy)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_replace_revalidates_and_tree_rebuilds_do_not(kind):
    policy = KINDS[kind]()
    field = dataclasses.fields(policy)[0].name
    value = getattr(policy, field)
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        dataclasses.replace(policy, **{field: value.at[(0,) * value.ndim].set(jnp.nan)})
    # jit outputs, vmapped stacks and tree_map placeholders are rebuilt without checks
    out = jax.jit(lambda p: p)(policy)
    assert type(out) is type(policy)
    stacked = jax.vmap(lambda _: policy)(jnp.arange(2))
    assert getattr(stacked, field).shape == (2,) + value.shape
    assert jax.tree.map(lambda _: None, policy) is not None


def test_wrong_dtypes_and_shapes_are_refused():
    with pytest.raises(TypeError, match=r"\blogp must be a floating-point array"):
        sim.TabularPolicy(jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(ValueError, match=r"\blogp must have shape \[X, Y\]"):
        sim.TabularPolicy(jnp.zeros((3,)))
    with pytest.raises(ValueError, match=r"\blogp must have non-empty axes"):
        sim.TabularPolicy(jnp.zeros((0, 3)))
    m = _markov()
    with pytest.raises(TypeError, match="init_logp and trans_logp must have the same dtype"):
        sim.MarkovPolicy(m.init_logp.astype(jnp.float32), m.trans_logp, m.H)
    with pytest.raises(TypeError, match=r"\bH must be an integer"):
        sim.MarkovPolicy(m.init_logp, m.trans_logp, True)
    a = _autoregressive()
    with pytest.raises(ValueError, match=r"\blogp has S = 13 prefixes, which means H = 3"):
        sim.AutoregressivePolicy(a.logp, 4, a.eos)
    with pytest.raises(ValueError, match=r"\beos must be None or a token id"):
        sim.AutoregressivePolicy(a.logp, a.H, 7)


def test_oracle_constructor_checks_policy_and_mu():
    with pytest.raises(TypeError, match=r"\bpolicy must be a policy registered"):
        sim.SampleEvaluateOracle(jnp.zeros((2, 2)), jnp.array([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"\bmu must"):
        sim.SampleEvaluateOracle(_tabular(), jnp.array([0.7, 0.7]))
    with pytest.raises(ValueError, match=r"\bmu must be a probability vector of shape \(2,\)"):
        sim.SampleEvaluateOracle(_tabular(), jnp.ones(3) / 3)


# --- ids out of range are refused by every kind ---------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("bad", [5, -1])
def test_prompt_ids_out_of_range_are_refused_by_every_kind(kind, bad):
    policy = KINDS[kind]()
    x = jnp.array([bad])
    match = r"\bx must hold prompt ids in \[0, 2\)"
    with pytest.raises(ValueError, match=match):
        sim.log_prob(policy, x, _response(policy))
    with pytest.raises(ValueError, match=match):
        sim.greedy(policy, x)
    with pytest.raises(ValueError, match=match):
        sim.sequence_argmax(policy, x)
    with pytest.raises(ValueError, match=match):
        sim.sample(KEY, policy, x, 2)


def test_argmax_helpers_check_prompt_ids():
    with pytest.raises(ValueError, match=r"\bx must hold prompt ids"):
        sim.markov_viterbi(_markov(), jnp.array([2]))
    with pytest.raises(ValueError, match=r"\bx must hold prompt ids"):
        sim.autoregressive_argmax(_autoregressive(), jnp.array([-1]))
    with pytest.raises(TypeError, match=r"\bpolicy must be a MarkovPolicy"):
        sim.markov_viterbi(_autoregressive(), jnp.array([0]))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_response_and_token_ids_out_of_range_are_refused(kind):
    policy = KINDS[kind]()
    y = _response(policy) + 99
    with pytest.raises(ValueError, match=r"\by must hold (response|token) ids in \[0, \d+\)"):
        sim.log_prob(policy, jnp.array([0]), y)
    oracle = sim.make_oracle(policy)
    with pytest.raises(ValueError, match=r"\by must hold (response|token) ids"):
        sim.evaluate(oracle, jnp.array([0]), y)


# --- sizes are refused before anything is allocated -----------------------------------------------


def test_huge_instances_are_refused_up_front():
    with pytest.raises(
        ValueError, match=r"num_prompts, num_responses: allocating .*above the limit"
    ):
        sim.dirichlet_tabular(KEY, 1, 10**10)
    with pytest.raises(ValueError, match=r"num_prompts, V: allocating .*above the limit"):
        sim.random_markov(KEY, 10, 10**5, 3)
    with pytest.raises(ValueError, match=r"num_prompts, V, H: allocating .*above the limit"):
        sim.random_autoregressive(KEY, 1, 2, 40)
    with pytest.raises(ValueError, match=r"num_prompts, V, H: allocating"):
        sim.random_autoregressive(KEY, 1, 2, 10**6)  # V^H is not even formed
    with pytest.raises(ValueError, match=r"num_prompts, num_responses, dim: allocating"):
        sim.random_linear_softmax(KEY, 10, 10**6, 10**4)
    with pytest.raises(ValueError, match=r"num_prompts, V, H, dim: allocating"):
        sim.random_multilayer_softmax(KEY, 1, 2, 30, 8)
    with pytest.raises(ValueError, match=r"num_prompts, num_responses: allocating"):
        sim.coverage_tabular(10**5, 10**6, 2.0)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_huge_draws_are_refused_up_front(kind):
    policy = KINDS[kind]()
    with pytest.raises(ValueError, match=r"\bn: allocating the \[P, N, T\].*above the limit"):
        sim.sample(KEY, policy, jnp.array([0]), 10**12)
    with pytest.raises(ValueError, match=r"\bn: allocating"):
        sim.draw(KEY, sim.make_oracle(policy), 1, 10**12)


def test_huge_prompt_draws_are_refused_up_front():
    oracle = sim.make_oracle(_tabular())
    with pytest.raises(ValueError, match=r"\bn: allocating .*draws"):
        sim.draw_prompts(KEY, oracle, 10**12)
    with pytest.raises(ValueError, match=r"\bn: allocating"):
        sim.sample_indices(KEY, jnp.log(jnp.ones(3) / 3), 10**11)
