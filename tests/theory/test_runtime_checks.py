"""Issue 13, section 4: traced scalar arguments are checked at run time, counts of any size are
exact in log space, and every error names its argument."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory

LOGP = jnp.log(jnp.array([[0.5, 0.3, 0.2], [0.25, 0.25, 0.5]]))
MU = jnp.array([0.5, 0.5])
RuntimeErr = RuntimeError  # jax.errors.JaxRuntimeError (jit) or equinox's (eager vmap)

TRACED_BAD = [
    (lambda n: theory.bon_law(LOGP, n), 0, r"\bn must be an integer >= 1"),
    (lambda n: theory.bon_miss_probability(LOGP, n), -3, r"\bn must be an integer >= 1"),
    (lambda g: theory.argmax_set(LOGP, g), 1.0, r"\bgamma must lie in \[0, 1\)"),
    (lambda g: theory.coverage(LOGP, MU, g), jnp.nan, r"\bgamma must lie in \[0, 1\)"),
    (lambda b: theory.kl_tilt(LOGP, b), -1.0, r"\bbeta must be a finite number > 0"),
    (lambda b: theory.kl_tilt(LOGP, b), jnp.inf, r"\bbeta must be a finite number > 0"),
    (
        lambda b: theory.concentrability_ratio(LOGP, LOGP, MU, b),
        0.0,
        r"\bbeta must be a finite number > 0",
    ),
    (
        lambda d: theory.sharpening_error(LOGP, LOGP, MU, d),
        1.0,
        r"\bdelta must lie in the open interval \(0, 1\)",
    ),
    (
        lambda e: theory.is_sharpened(LOGP, LOGP, MU, e, 0.1),
        0.0,
        r"\beps must lie in the open interval \(0, 1\)",
    ),
    (lambda p: theory.coverage(LOGP, MU, 0.0, p), 0.5, r"\bp must be >= 1\.0"),
    (
        lambda b: theory.kl_regularized_objective(LOGP, LOGP, MU, b),
        -2.0,
        r"\bbeta must be a finite number > 0",
    ),
]


@pytest.mark.parametrize(("f", "bad", "match"), TRACED_BAD)
def test_traced_scalars_are_checked_at_run_time(f, bad, match):
    value = jnp.asarray(bad)
    with pytest.raises(ValueError, match=match):  # eager: a ValueError before any work
        f(value)
    with pytest.raises(RuntimeErr, match=match):  # jit: the compiled program raises
        jax.block_until_ready(jax.jit(f)(value))


def test_jit_bon_law_with_n_zero_raises_instead_of_nan():
    with pytest.raises(RuntimeErr, match=r"\bn must be an integer >= 1"):
        jax.block_until_ready(jax.jit(theory.bon_law)(LOGP, 0))


def test_vmap_checks_every_swept_value_and_keeps_good_ones_exact():
    betas = jnp.array([0.5, 1.0, 2.0])
    got = jax.jit(jax.vmap(theory.kl_tilt, in_axes=(None, 0)))(LOGP, betas)
    want = jnp.stack([theory.kl_tilt(LOGP, float(b)) for b in betas])
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(RuntimeErr, match=r"\bbeta must be a finite number > 0"):
        jax.block_until_ready(
            jax.jit(jax.vmap(theory.kl_tilt, in_axes=(None, 0)))(LOGP, betas.at[1].set(-1.0))
        )
    ns = jnp.array([1, 2, 0])
    with pytest.raises(RuntimeErr, match=r"\bn must be an integer >= 1"):
        jax.block_until_ready(jax.vmap(theory.bon_law, in_axes=(None, 0))(LOGP, ns))


@pytest.mark.parametrize("n", [10**30, 10**400, 2**64])
def test_huge_n_puts_the_mass_on_the_argmax_set(n):
    logp = jnp.log(jnp.array([[0.4, 0.4, 0.2], [0.1, 0.2, 0.7]]))
    got = np.exp(np.asarray(theory.bon_law(logp, n)))
    np.testing.assert_allclose(got, [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], rtol=1e-14, atol=0)
    miss = np.asarray(theory.log_bon_miss_probability(logp, n))
    if n < 10**300:
        np.testing.assert_allclose(miss, [n * math.log(0.2), n * math.log(0.3)], rtol=1e-14)
    else:
        assert np.all(np.isneginf(miss))


def test_huge_n_in_float32_and_beyond_float_range():
    logp32 = jnp.log(jnp.array([[0.5, 0.3, 0.2]], jnp.float32))
    got = np.exp(np.asarray(theory.bon_law(logp32, 10**40)))  # n above float32's range
    np.testing.assert_array_equal(got, [[1.0, 0.0, 0.0]])
    # A reward that ranks a response of mass 1e-300 first: best-of-n finds it with probability
    # 1 - (1 - 1e-300)^n, i.e. 1 - exp(-0.1) at n = 10^299 (n still a float) and 1 at
    # n = 10^400 (n beyond float range, taken in log space; no inf * 0 = NaN).
    q = 1e-300
    logp = jnp.array([[math.log(q), math.log1p(-q)]])
    reward = jnp.array([[1.0, 0.0]])
    got = np.exp(np.asarray(theory.bon_law(logp, 10**299, reward)))
    np.testing.assert_allclose(got, [[-math.expm1(-0.1), math.exp(-0.1)]], rtol=1e-12)
    got = np.exp(np.asarray(theory.bon_law(logp, 10**400, reward)))
    np.testing.assert_array_equal(got, [[1.0, 0.0]])


def test_large_counts_never_raise_overflow():
    for n in (2**31, 2**63, 10**30, np.int64(2**62)):
        out = theory.bon_law(LOGP, n)
        assert np.isfinite(np.exp(np.asarray(out))).all()


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"\bbeta must be a scalar"):
        theory.kl_tilt(LOGP, jnp.ones(3))
    with pytest.raises(ValueError, match=r"\bbeta must be a scalar"):
        theory.concentrability_ratio(LOGP, LOGP, MU, jnp.ones((2, 1)))
    with pytest.raises(TypeError, match=r"\bgamma must be a real scalar"):
        theory.argmax_set(LOGP, True)
    with pytest.raises(TypeError, match=r"\bn must be an integer"):
        theory.bon_law(LOGP, 3.0)
