"""jit / vmap invariance, leading batch axes, and no recompilation across parameter values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory

X, Y, B = 6, 7, 3


@pytest.fixture
def data(rng, ref):
    base = jnp.asarray(np.stack([ref.random_table(rng, X, Y) for _ in range(B)]))
    hat = jnp.asarray(np.stack([ref.random_table(rng, X, Y, zeros=False) for _ in range(B)]))
    mu = jnp.asarray(ref.random_mu(rng, X))
    reward = jnp.asarray(rng.normal(size=(B, X, Y)))
    return base, hat, mu, reward


# Each case: (name, function of (base, hat, reward) for one [X, Y] instance).
def _cases(mu):
    return {
        "argmax_set": lambda b, h, r: theory.argmax_set(b, 0.2),
        "log_mass_on_argmax": lambda b, h, r: theory.log_mass_on_argmax(h, b, 0.1),
        "margin": lambda b, h, r: theory.margin(b),
        "coverage": lambda b, h, r: theory.coverage(b, mu, 0.1, 2.0),
        "log_coverage": lambda b, h, r: theory.log_coverage(b, mu, 0.0, jnp.inf),
        "adaptive_coverage": lambda b, h, r: theory.adaptive_coverage(b, mu),
        "log_coverage_from_log_mass": lambda b, h, r: theory.log_coverage_from_log_mass(
            b[..., 0], mu, 1.5
        ),
        "sharpening_error": lambda b, h, r: theory.sharpening_error(h, b, mu, 0.3, 0.1),
        "is_sharpened": lambda b, h, r: theory.is_sharpened(h, b, mu, 0.5, 0.3),
        "kl_tilt": lambda b, h, r: theory.kl_tilt(b, 0.4),
        "kl_tilt_reward": lambda b, h, r: theory.kl_tilt(b, 0.4, r),
        "kl_regularized_objective": lambda b, h, r: theory.kl_regularized_objective(
            h, b, mu, 0.4, r
        ),
        "bon_law": lambda b, h, r: theory.bon_law(b, 5),
        "bon_law_reward": lambda b, h, r: theory.bon_law(b, 3, r),
        "bon_miss_probability": lambda b, h, r: theory.bon_miss_probability(b, 4, 0.1),
        "concentrability": lambda b, h, r: theory.concentrability(b, h, mu),
        "concentrability_ratio": lambda b, h, r: theory.concentrability_ratio(h, b, mu, 0.5),
        "kl": lambda b, h, r: theory.kl(b, h, mu),
        "hellinger_sq": lambda b, h, r: theory.hellinger_sq(b, h, mu),
        "entropy": lambda b, h, r: theory.entropy(b),
    }


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == bool:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_jit_vmap_and_batch_axes_agree(data):
    """jit(f) == f, vmap(f) over a batch of tables == stacking f, and f on tables with a leading
    batch axis == stacking f, for every public function (one compilation per transform)."""
    base, hat, mu, reward = data
    cases = _cases(mu)

    def all_f(b, h, r):
        return {name: f(b, h, r) for name, f in cases.items()}

    def batched(b, h, r):
        return {name: f(b, h, r) for name, f in cases.items()}

    one = [all_f(base[i], hat[i], reward[i]) for i in range(B)]
    jitted = jax.jit(all_f)(base[0], hat[0], reward[0])
    mapped = jax.jit(jax.vmap(all_f))(base, hat, reward)
    native = jax.jit(batched)(base, hat, reward)
    for name in cases:
        stacked = np.stack([np.asarray(o[name]) for o in one])
        _close(jitted[name], one[0][name])
        _close(mapped[name], stacked)
        _close(native[name], stacked)


def test_parameter_sweeps_do_not_recompile(data):
    base, hat, mu, _ = data
    traces = []

    def f(b, h, gamma, delta, beta, n, p):
        traces.append(1)
        return (
            theory.sharpening_error(h, b, mu, delta, gamma),
            theory.coverage(b, mu, gamma, p),
            theory.kl_tilt(b, beta),
            theory.bon_law(b, n),
        )

    jf = jax.jit(f)
    outs = [
        jf(base[0], hat[0], g, d, bt, n, p)
        for g, d, bt, n, p in [(0.0, 0.1, 0.5, 2, 1.0), (0.3, 0.7, 2.0, 9, 3.0)]
    ]
    assert len(traces) == 1
    _close(outs[1][3], theory.bon_law(base[0], 9))
    _close(outs[1][1], theory.coverage(base[0], mu, 0.3, 3.0))


def test_vmap_over_parameters_matches_loop(data):
    base, hat, mu, _ = data
    b = base[0]
    gammas = jnp.array([0.0, 0.2, 0.5])
    betas = jnp.array([0.1, 1.0, 4.0])
    ns = jnp.array([1, 4, 100])
    got = jax.vmap(lambda g: theory.coverage(b, mu, g))(gammas)
    _close(got, [theory.coverage(b, mu, float(g)) for g in gammas])
    got = jax.vmap(lambda bt: theory.kl_tilt(b, bt))(betas)
    _close(got, np.stack([theory.kl_tilt(b, float(bt)) for bt in betas]))
    got = jax.vmap(lambda n: theory.log_bon_miss_probability(b, n))(ns)
    _close(got, np.stack([theory.log_bon_miss_probability(b, int(n)) for n in ns]))


def test_float32_tables_stay_float32(data):
    """Library code works in float32: same answers to float32 precision, float32 outputs."""
    base, hat, mu, reward = data
    cases = _cases(mu)

    def all_f(b, h, r):
        return {name: f(b, h, r) for name, f in cases.items()}

    f64 = jax.jit(all_f)(base[0], hat[0], reward[0])
    f32 = jax.jit(all_f)(*(a[0].astype(jnp.float32) for a in (base, hat, reward)))
    for name in cases:
        a, b = np.asarray(f32[name]), np.asarray(f64[name])
        if a.dtype == bool:
            np.testing.assert_array_equal(a, b, err_msg=name)
            continue
        assert a.dtype == np.float32, name
        finite = np.isfinite(b)
        np.testing.assert_array_equal(np.isfinite(a), finite, err_msg=name)
        # log-probabilities near -700 underflow in float32 exp but are kept in log space
        np.testing.assert_allclose(a[finite], b[finite], rtol=2e-4, atol=1e-5, err_msg=name)
