"""Bad input to the toy policies fails loudly, naming the argument; large enumerations refuse."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim

AR_PROBS = np.full((1, 7, 2), 0.5)  # V = 2, H = 3
MARKOV_INIT = np.full((2, 3), 1 / 3)
MARKOV_TRANS = np.full((2, 3, 3), 1 / 3)


def _unnormalized(a):
    a = np.array(a)
    a[..., 0] *= 2
    return a


def _with_nan(a):
    a = np.array(a, dtype=float)
    a.flat[1] = np.nan
    return a


def _negative(a):
    a = np.array(a)
    a.flat[0], a.flat[1] = -0.5, 1.0
    return a


AR = sim.AutoregressivePolicy
MK = sim.MarkovPolicy
LS = sim.LinearSoftmaxPolicy
ML = sim.MultiLayerSoftmaxPolicy

BAD = [
    # Tabular
    (lambda: sim.TabularPolicy.from_table(np.log(_unnormalized(np.full((2, 3), 1 / 3)))), "logp"),
    (lambda: sim.TabularPolicy.from_logits(_with_nan(np.zeros((2, 3)))), "logits"),
    (lambda: sim.TabularPolicy.from_logits(np.full((2, 3), -np.inf)), "logits"),
    (lambda: sim.TabularPolicy.from_probs(_negative(np.full((2, 3), 1 / 3))), "probs"),
    (lambda: sim.TabularPolicy.from_probs(np.full(3, 1 / 3)), "probs"),
    # Autoregressive
    (lambda: AR.from_probs(_unnormalized(AR_PROBS)), "probs"),
    (lambda: AR.from_probs(_negative(AR_PROBS)), "probs"),
    (lambda: AR.from_table(np.log(_unnormalized(AR_PROBS))), "logp"),
    (lambda: AR.from_logits(_with_nan(np.zeros((1, 7, 2)))), "logits"),
    (
        lambda: AR.from_logits(np.zeros((1, 6, 2))),
        "logits",
    ),  # S != (V^H-1)/(V-1)
    (lambda: AR.from_logits(np.zeros((7, 2))), "logits"),
    (lambda: AR.from_logits(np.zeros((1, 7, 2)), eos=2), "eos"),
    (lambda: sim.random_autoregressive(None, 0, 2, 2), "num_prompts"),
    (lambda: sim.random_autoregressive(None, 1, 1, 2), "V"),
    # Markov
    (
        lambda: MK.from_probs(MARKOV_INIT, _unnormalized(MARKOV_TRANS), 4),
        "trans_probs",
    ),
    (lambda: MK.from_probs(_negative(MARKOV_INIT), MARKOV_TRANS, 4), "init_probs"),
    (
        lambda: MK.from_table(np.log(MARKOV_INIT), np.log(MARKOV_TRANS[:1]), 4),
        "trans",
    ),
    (lambda: MK.from_logits(_with_nan(MARKOV_INIT), MARKOV_TRANS, 4), "init_logits"),
    (lambda: MK.from_probs(MARKOV_INIT, MARKOV_TRANS, 0), "H"),
    # Linear softmax
    (lambda: LS.create(np.zeros((2, 5, 3)), np.zeros(4)), "theta"),
    (
        lambda: LS.create(_with_nan(np.zeros((2, 5, 3))), np.zeros(3)),
        "features",
    ),
    (lambda: LS.create(np.zeros((5,)), np.zeros(3)), "features"),
    (lambda: LS.create(np.zeros((5, 3)), np.zeros(3), np.zeros(5)), "logp0"),
    (
        lambda: LS.create(np.zeros((2, 5, 3)), np.zeros(3), np.full((3, 5), -np.log(5))),
        "logp0",
    ),
    # Multi-layer softmax
    (lambda: ML.create(np.zeros((1, 3, 2, 4)), np.zeros((3, 4))), "theta"),
    (
        lambda: ML.create(np.zeros((1, 4, 2, 4)), np.zeros((2, 4))),
        "features",
    ),
    (
        lambda: ML.from_step_features([np.zeros((2, 3)), np.zeros((3, 3))], np.zeros((2, 3))),
        "step_features[1]",
    ),
]


@pytest.mark.parametrize("build,name", BAD)
def test_bad_constructor_input_names_the_argument(build, name):
    with pytest.raises((ValueError, TypeError), match=r"\b" + re.escape(name)):
        build()


def test_bad_call_arguments_name_the_argument():
    policy = sim.AutoregressivePolicy.from_probs(AR_PROBS)
    with pytest.raises(ValueError, match=r"\by must be a \[\.\.\., 3\] token array"):
        sim.log_prob(policy, 0, jnp.zeros((4, 2), jnp.int32))
    with pytest.raises(ValueError, match=r"\by must hold token ids in \[0, 2\)"):
        sim.log_prob(policy, 0, jnp.full((4, 3), 2))
    with pytest.raises(ValueError, match=r"\bx must hold prompt ids in \[0, 1\)"):
        sim.sample(None, policy, jnp.array([0, 1]), 3)
    with pytest.raises(TypeError, match=r"\bn must be an integer"):
        sim.sample(None, policy, jnp.array([0]), 2.5)
    tab = sim.TabularPolicy.from_probs(np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"\bx must hold prompt ids"):
        sim.sample(None, tab, jnp.array([2]), 3)


def test_to_table_refuses_above_the_limit():
    policy = sim.AutoregressivePolicy.from_probs(AR_PROBS)
    assert sim.to_table(policy, max_entries=8).shape == (1, 8)
    with pytest.raises(ValueError, match=r"AutoregressivePolicy.*above the limit of 7"):
        sim.to_table(policy, max_entries=7)
    with pytest.raises(ValueError, match="above the limit"):
        sim.enumerate_responses(policy, max_entries=10)
    markov = sim.MarkovPolicy.from_probs(MARKOV_INIT, MARKOV_TRANS, 200)
    with pytest.raises(ValueError, match=r"MarkovPolicy \(V = 3, H = 200\).*above the limit"):
        sim.to_table(markov)
    linear = sim.LinearSoftmaxPolicy.create(np.zeros((5, 3)), np.zeros(3), num_prompts=4)
    with pytest.raises(ValueError, match="LinearSoftmaxPolicy.*above the limit"):
        sim.to_table(linear, max_entries=19)


def test_valid_constructors_accept_zero_mass():
    """-inf (zero mass) entries are valid wherever a row keeps some mass."""
    probs = np.array(AR_PROBS)
    probs[0, 0] = [1.0, 0.0]
    policy = sim.AutoregressivePolicy.from_probs(probs)
    table = np.exp(np.asarray(sim.to_table(policy)))
    np.testing.assert_allclose(table.sum(), 1.0)
    assert np.all(table[0, 4:] == 0.0)  # first token 1 has no mass
    r = sim.sample(jax.random.key(0), policy, jnp.zeros(1, jnp.int32), 500)
    assert np.all(np.asarray(r.tokens[..., 0]) == 0)
