"""A catalogue of bad and extreme inputs across the library (issue 13): theory functions, every
policy kind, the oracle, sweep configs, huge sizes, NaN / inf / -inf, wrong dtypes and shapes,
booleans for numbers, jit and vmap. Each case asserts a clear error naming the argument, or an
exact value."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim
import theory

KEY = jax.random.key(0)
LOGP = jnp.log(jnp.array([[0.5, 0.3, 0.2], [0.25, 0.25, 0.5]]))
MU = jnp.array([0.5, 0.5])
TAB = sim.TabularPolicy(LOGP)
MARKOV = sim.random_markov(KEY, 2, 3, 4)
AR = sim.random_autoregressive(KEY, 2, 3, 3, eos=2)
LIN = sim.random_linear_softmax(KEY, 2, 5, 3)
ML = sim.random_multilayer_softmax(KEY, 2, 2, 2, 3)


def _sft_config(**kw):
    base = dict(logp_base=LOGP, mu=MU, n=4, N=3)
    return sim.TabularSFTConfig(**(base | kw))


ERRORS = [
    # theory: tables
    (
        "nan table",
        lambda: theory.coverage(LOGP.at[0, 0].set(jnp.nan), MU),
        ValueError,
        r"\blogp contains NaN",
    ),
    (
        "+inf table",
        lambda: theory.entropy(LOGP.at[0, 0].set(jnp.inf)),
        ValueError,
        r"\blogp contains \+inf",
    ),
    (
        "all -inf row",
        lambda: theory.kl_tilt(LOGP.at[1].set(-jnp.inf), 1.0),
        ValueError,
        r"\blogp_base has a row with no mass",
    ),
    (
        "int table",
        lambda: theory.bon_law(jnp.zeros((2, 3), jnp.int32), 2),
        TypeError,
        r"\blogp_base must be a floating-point array",
    ),
    (
        "bool table",
        lambda: theory.argmax_set(jnp.ones((2, 3), bool)),
        TypeError,
        r"\blogp must be a floating-point array",
    ),
    ("string table", lambda: theory.entropy("abc"), TypeError, r"\blogp must be"),
    (
        "empty responses",
        lambda: theory.entropy(jnp.zeros((2, 0))),
        ValueError,
        r"\blogp must have a non-empty response axis",
    ),
    (
        "mu wrong length",
        lambda: theory.coverage(LOGP, jnp.ones(3) / 3),
        ValueError,
        r"\bmu must be a probability vector of shape \(2,\)",
    ),
    (
        "mu negative",
        lambda: theory.coverage(LOGP, jnp.array([1.5, -0.5])),
        ValueError,
        r"\bmu contains negative",
    ),
    (
        "shape mismatch",
        lambda: theory.kl(LOGP, jnp.log(jnp.full((2, 2), 0.5)), MU),
        ValueError,
        r"\blogp_p and logp_q must have the same last 2 axes",
    ),
    (
        "reward nan on support",
        lambda: theory.bon_law(LOGP, 2, jnp.full((2, 3), jnp.nan)),
        ValueError,
        r"\breward must be finite",
    ),
    (
        "reward wrong shape",
        lambda: theory.kl_tilt(LOGP, 1.0, jnp.zeros(4)),
        ValueError,
        r"\breward must broadcast",
    ),
    # theory: scalars
    (
        "gamma = 1",
        lambda: theory.argmax_set(LOGP, 1.0),
        ValueError,
        r"\bgamma must lie in \[0, 1\)",
    ),
    ("gamma = -inf", lambda: theory.margin(LOGP, -jnp.inf), ValueError, r"\bgamma must lie"),
    ("gamma bool", lambda: theory.coverage(LOGP, MU, False), TypeError, r"\bgamma must be a real"),
    ("beta = 0", lambda: theory.kl_tilt(LOGP, 0.0), ValueError, r"\bbeta must be a finite number"),
    (
        "beta nan",
        lambda: theory.kl_regularized_objective(LOGP, LOGP, MU, jnp.nan),
        ValueError,
        r"\bbeta must be a finite number",
    ),
    ("beta string", lambda: theory.kl_tilt(LOGP, "1"), TypeError, r"\bbeta must be a real scalar"),
    (
        "delta = 0",
        lambda: theory.sharpening_error(LOGP, LOGP, MU, 0.0),
        ValueError,
        r"\bdelta must lie in the open interval",
    ),
    (
        "eps = inf",
        lambda: theory.is_sharpened(LOGP, LOGP, MU, jnp.inf, 0.1),
        ValueError,
        r"\beps must lie in the open interval",
    ),
    ("p = nan", lambda: theory.coverage(LOGP, MU, 0.0, jnp.nan), ValueError, r"\bp must be >= 1"),
    ("n = True", lambda: theory.bon_law(LOGP, True), TypeError, r"\bn must be an integer"),
    ("n = 0", lambda: theory.bon_miss_probability(LOGP, 0), ValueError, r"\bn must be an integer"),
    (
        "n float array",
        lambda: theory.bon_law(LOGP, jnp.asarray(2.0)),
        TypeError,
        r"\bn must be an integer scalar",
    ),
    (
        "n vector",
        lambda: theory.bon_law(LOGP, jnp.array([1, 2])),
        TypeError,
        r"\bn must be an integer scalar",
    ),
    # policies
    (
        "tabular 3-d",
        lambda: sim.TabularPolicy(LOGP[None]),
        ValueError,
        r"\blogp must have shape \[X, Y\]",
    ),
    (
        "tabular positive logp",
        lambda: sim.TabularPolicy(LOGP + 1.0),
        ValueError,
        r"\blogp contains positive",
    ),
    (
        "tabular from_probs bool",
        lambda: sim.TabularPolicy.from_probs(np.ones((2, 2), bool)),
        ValueError,
        r"\bprobs must sum to 1",
    ),
    (
        "markov H = 0",
        lambda: sim.MarkovPolicy(MARKOV.init_logp, MARKOV.trans_logp, 0),
        ValueError,
        r"\bH must be an integer >= 1",
    ),
    (
        "markov H float",
        lambda: sim.MarkovPolicy(MARKOV.init_logp, MARKOV.trans_logp, 2.0),
        TypeError,
        r"\bH must be an integer",
    ),
    (
        "markov trans wrong X",
        lambda: sim.MarkovPolicy(MARKOV.init_logp, MARKOV.trans_logp[:1], 4),
        ValueError,
        r"\btrans_logp must have shape \[X, V, V\]",
    ),
    (
        "ar V = 1",
        lambda: sim.AutoregressivePolicy(jnp.zeros((1, 3, 1)), 3),
        ValueError,
        r"\blogp must have a vocabulary of V >= 2",
    ),
    (
        "ar eos bool",
        lambda: sim.AutoregressivePolicy(AR.logp, AR.H, True),
        ValueError,
        r"\beos must be None or a token id",
    ),
    (
        "linear theta wrong d",
        lambda: sim.LinearSoftmaxPolicy(LIN.features, jnp.zeros(4), LIN.logp0),
        ValueError,
        r"\btheta must have shape \[d\] = \(3,\)",
    ),
    (
        "linear logp0 wrong X",
        lambda: sim.LinearSoftmaxPolicy(LIN.features, LIN.theta, LIN.logp0[:1]),
        ValueError,
        r"\blogp0 must have shape \[X, Y\] = \(2, 5\)",
    ),
    (
        "linear bool features",
        lambda: sim.LinearSoftmaxPolicy(jnp.ones((2, 5, 3), bool), LIN.theta, LIN.logp0),
        TypeError,
        r"\bfeatures must be a real",
    ),
    (
        "multilayer theta wrong H",
        lambda: sim.MultiLayerSoftmaxPolicy(ML.features, ML.theta[:1]),
        ValueError,
        r"\btheta must have shape \[H, d\]",
    ),
    (
        "replace with nan",
        lambda: dataclasses.replace(TAB, logp=LOGP.at[1, 1].set(jnp.nan)),
        ValueError,
        r"\blogp contains NaN",
    ),
    # calls on policies
    (
        "float prompt ids",
        lambda: sim.log_prob(TAB, jnp.array([0.0]), jnp.array([0])),
        TypeError,
        r"\bx must hold integer prompt ids",
    ),
    (
        "bool response ids",
        lambda: sim.log_prob(TAB, jnp.array([0]), jnp.array([True])),
        TypeError,
        r"\by must hold integer response ids",
    ),
    (
        "token row too short",
        lambda: sim.log_prob(MARKOV, jnp.array([0]), jnp.zeros((1, 3), int)),
        ValueError,
        r"\by must be a \[\.\.\., 4\] token array",
    ),
    (
        "negative token",
        lambda: sim.log_prob(AR, jnp.array([0]), jnp.array([[0, -1, 2]])),
        ValueError,
        r"\by must hold token ids in \[0, 3\)",
    ),
    (
        "sample 2-d prompts",
        lambda: sim.sample(KEY, MARKOV, jnp.zeros((1, 1), int), 2),
        ValueError,
        r"\bx must be a 1-d array of prompt ids",
    ),
    (
        "sample n bool",
        lambda: sim.sample(KEY, TAB, jnp.array([0]), True),
        TypeError,
        r"\bn must be an integer",
    ),
    (
        "sample n huge (multilayer)",
        lambda: sim.sample(KEY, ML, jnp.array([0]), 10**12),
        ValueError,
        r"\bn: allocating .*above the limit",
    ),
    # oracle
    (
        "oracle mu nan",
        lambda: sim.make_oracle(TAB, jnp.array([jnp.nan, 1.0])),
        ValueError,
        r"\bmu contains NaN",
    ),
    (
        "oracle not a policy",
        lambda: sim.make_oracle(LOGP, MU),
        TypeError,
        r"\bpolicy must be a policy registered",
    ),
    (
        "oracle draw N = 0",
        lambda: sim.draw(KEY, sim.make_oracle(TAB), 2, 0),
        ValueError,
        r"\bN must be an integer >= 1",
    ),
    (
        "oracle draw n huge",
        lambda: sim.draw(KEY, sim.make_oracle(MARKOV), 10**7, 10**6),
        ValueError,
        r"\bn: allocating",
    ),
    (
        "oracle evaluate bad prompt",
        lambda: sim.evaluate(sim.make_oracle(LIN), jnp.array([9]), jnp.array([0])),
        ValueError,
        r"\bx must hold prompt ids in \[0, 2\)",
    ),
    # instances and sizes
    (
        "dirichlet 10^10",
        lambda: sim.dirichlet_tabular(KEY, 1, 10**10),
        ValueError,
        r"num_prompts, num_responses: allocating .* above the limit",
    ),
    (
        "dirichlet concentration 0",
        lambda: sim.dirichlet_tabular(KEY, 2, 3, 0.0),
        ValueError,
        r"\bconcentration must be a finite number > 0",
    ),
    (
        "coverage c_cov nan",
        lambda: sim.coverage_tabular(2, 5, float("nan")),
        ValueError,
        r"\bc_cov must be a finite number",
    ),
    (
        "spherical code huge",
        lambda: sim.random_spherical_code(KEY, 10**5, 3, 0.5, num_candidates=10**6),
        ValueError,
        r"num_candidates, d: allocating",
    ),
    (
        "linear instance beta vector",
        lambda: sim.spherical_code_instance(KEY, 3, 4).model_class(jnp.ones(2)),
        ValueError,
        r"\bbeta must be a scalar",
    ),
    # sweeps
    (
        "sweep empty budget column",
        lambda: sim.sweep(sim.run_tabular_sft, _sft_config(), 1, {"n_used": []}, progress=False),
        ValueError,
        r"budgets\['n_used'\] is empty",
    ),
    (
        "sweep 2-d budget column",
        lambda: sim.sweep(
            sim.run_tabular_sft, _sft_config(), 1, {"n_used": [[1, 2]]}, progress=False
        ),
        ValueError,
        r"budgets\['n_used'\] must be a 1-d",
    ),
    (
        "sweep unequal budget columns",
        lambda: sim.sweep(
            sim.run_tabular_sft, _sft_config(), 1, {"n_used": [1, 2], "N_used": [1]}, progress=False
        ),
        ValueError,
        r"one length B",
    ),
    (
        "sweep string budget",
        lambda: sim.sweep(sim.run_tabular_sft, _sft_config(), 1, {"n_used": ["a"]}, progress=False),
        TypeError,
        r"budgets\['n_used'\] must hold int",
    ),
    (
        "sweep mismatched budget dicts",
        lambda: sim.sweep(
            sim.run_tabular_sft, _sft_config(), 1, [{"n_used": 1}, {"N_used": 1}], progress=False
        ),
        ValueError,
        r"budgets\[1\] sets",
    ),
    (
        "sweep seeds huge",
        lambda: sim.sweep(sim.run_tabular_sft, _sft_config(), 10**12, progress=False),
        ValueError,
        r"\bseeds: allocating",
    ),
    (
        "sweep seeds bool",
        lambda: sim.sweep(sim.run_tabular_sft, _sft_config(), True, progress=False),
        ValueError,
        r"\bseeds must be an int count",
    ),
    (
        "sft config n x N huge",
        lambda: sim.run_tabular_sft(KEY, _sft_config(n=10**6, N=10**6)),
        ValueError,
        r"config\.n, config\.N: allocating",
    ),
    (
        "sft config delta = 1",
        lambda: sim.run_tabular_sft(KEY, _sft_config(delta=1.0)),
        ValueError,
        r"config\.delta must lie in the open interval",
    ),
    (
        "sft config smoothing -1",
        lambda: sim.run_tabular_sft(KEY, _sft_config(smoothing=-1.0)),
        ValueError,
        r"config\.smoothing must be >= 0",
    ),
    (
        "sft config unnormalized",
        lambda: sim.run_tabular_sft(KEY, _sft_config(logp_base=LOGP - 0.1)),
        ValueError,
        r"config\.logp_base must be normalized",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "match"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_bad_input_gives_a_clear_error_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


JIT_ERRORS = [
    ("jit n = 0", lambda: jax.jit(theory.bon_law)(LOGP, 0), r"\bn must be an integer >= 1"),
    ("jit gamma = 1", lambda: jax.jit(theory.argmax_set)(LOGP, 1.0), r"\bgamma must lie"),
    ("jit beta = -1", lambda: jax.jit(theory.kl_tilt)(LOGP, -1.0), r"\bbeta must be a finite"),
    (
        "jit delta nan",
        lambda: jax.jit(lambda d: theory.sharpening_error(LOGP, LOGP, MU, d))(jnp.nan),
        r"\bdelta must lie",
    ),
    (
        "vmap gamma",
        lambda: jax.vmap(lambda g: theory.coverage(LOGP, MU, g))(jnp.array([0.0, 1.5])),
        r"\bgamma must lie",
    ),
    (
        "jit p = 0",
        lambda: jax.jit(lambda p: theory.log_coverage(LOGP, MU, 0.0, p))(0.0),
        r"\bp must be >= 1",
    ),
]


@pytest.mark.parametrize(
    ("call", "match"), [c[1:] for c in JIT_ERRORS], ids=[c[0] for c in JIT_ERRORS]
)
def test_traced_scalars_raise_at_run_time(call, match):
    with pytest.raises(RuntimeError, match=match):
        jax.block_until_ready(call())


# --- exact values at the extremes -----------------------------------------------------------------


def test_bon_law_with_n_10_to_30_is_the_argmax_law():
    got = np.exp(np.asarray(theory.bon_law(LOGP, 10**30)))
    np.testing.assert_array_equal(got, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def test_bon_law_traced_n_equals_eager_under_jit_and_vmap():
    ns = jnp.array([1, 3, 50])
    got = jax.jit(jax.vmap(theory.bon_law, in_axes=(None, 0)))(LOGP, ns)
    for i, n in enumerate((1, 3, 50)):
        np.testing.assert_allclose(
            np.asarray(got[i]), np.asarray(theory.bon_law(LOGP, n)), rtol=1e-13
        )


def test_tiny_masses_stay_exact():
    logp = jnp.array([[math.log1p(-1e-300), math.log(1e-300)]])
    np.testing.assert_allclose(float(theory.coverage(logp, jnp.ones(1))), 1.0, rtol=1e-15)
    np.testing.assert_allclose(
        float(theory.entropy(logp)[0]), 1e-300 * (1 + 300 * math.log(10)), rtol=1e-12
    )


def test_zero_mass_responses_keep_zero_mass_through_kl_tilt():
    logp = jnp.log(jnp.array([[0.5, 0.5, 0.0]]))
    out = np.asarray(theory.kl_tilt(logp, 1e-300))
    assert np.isneginf(out[0, 2])
    np.testing.assert_allclose(np.exp(out[0, :2]), [0.5, 0.5], rtol=1e-15)


@pytest.mark.parametrize(
    "policy",
    [TAB, MARKOV, AR, LIN, ML],
    ids=["tabular", "markov", "autoregressive", "linear", "multilayer"],
)
def test_every_kind_survives_jit_vmap_and_tree_map(policy):
    out = jax.jit(lambda p: p)(policy)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), out, policy))
    stacked = jax.vmap(lambda _: policy)(jnp.arange(3))
    assert jax.tree.leaves(stacked)[0].shape[0] == 3
    # placeholders (in_axes specs) are rebuilt without checks
    assert jax.tree.structure(jax.tree.map(lambda _: 0, policy)) == jax.tree.structure(policy)


def test_sample_log_probs_agree_with_log_prob_for_every_kind():
    for policy in (TAB, MARKOV, AR, LIN, ML):
        r = sim.sample(KEY, policy, jnp.array([0, 1]), 3)
        y = r.tokens[..., 0] if getattr(policy, "H", None) is None else r.tokens
        want = sim.log_prob(policy, r.prompts[:, None], y)
        np.testing.assert_allclose(np.asarray(r.logp_base), np.asarray(want), rtol=1e-12)
