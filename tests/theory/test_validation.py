"""Every bad input raises a clear error that names the argument."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory

GOOD = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
MU = np.array([0.4, 0.6])
UNNORMALIZED = np.log(np.array([[0.5, 0.6, 0.2], [0.1, 0.1, 0.8]]))
WITH_NAN = GOOD.copy()
WITH_NAN[0, 1] = np.nan
POSITIVE = GOOD.copy()
POSITIVE[0, 0] = 0.5
ALL_ZERO_ROW = GOOD.copy()
ALL_ZERO_ROW[1] = -np.inf
# 1e-6 off: a float32 table may be that far from normalized by rounding, a float64 one may not.
SLIGHTLY_OFF = np.log(np.array([[0.5 + 1e-6, 0.3, 0.2], [0.1, 0.1, 0.8]]))
TWO = np.log(np.array([[0.5, 0.5], [0.2, 0.8]]))
BAD_TABLES = {
    "unnormalized": UNNORMALIZED,
    "nan": WITH_NAN,
    "positive": POSITIVE,
    "no mass": ALL_ZERO_ROW,
    "float64 1e-6 off": SLIGHTLY_OFF,
}

# (function, keyword arguments of a valid call, names of its table arguments)
FUNCTIONS = {
    "argmax_set": (theory.argmax_set, dict(logp=GOOD), ["logp"]),
    "log_mass_on_argmax": (
        theory.log_mass_on_argmax,
        dict(logp_pi=GOOD, logp_ref=GOOD),
        ["logp_pi", "logp_ref"],
    ),
    "margin": (theory.margin, dict(logp_base=GOOD), ["logp_base"]),
    "coverage": (theory.coverage, dict(logp=GOOD, mu=MU), ["logp"]),
    "log_coverage": (theory.log_coverage, dict(logp=GOOD, mu=MU), ["logp"]),
    "adaptive_coverage": (theory.adaptive_coverage, dict(logp=GOOD, mu=MU), ["logp"]),
    "log_adaptive_coverage": (theory.log_adaptive_coverage, dict(logp=GOOD, mu=MU), ["logp"]),
    "sharpening_error": (
        theory.sharpening_error,
        dict(logp_hat=GOOD, logp_base=GOOD, mu=MU, delta=0.1),
        ["logp_hat", "logp_base"],
    ),
    "is_sharpened": (
        theory.is_sharpened,
        dict(logp_hat=GOOD, logp_base=GOOD, mu=MU, eps=0.1, delta=0.1),
        ["logp_hat", "logp_base"],
    ),
    "kl_tilt": (theory.kl_tilt, dict(logp_base=GOOD, beta=1.0), ["logp_base"]),
    "kl_regularized_objective": (
        theory.kl_regularized_objective,
        dict(logp_pi=GOOD, logp_base=GOOD, mu=MU, beta=1.0),
        ["logp_pi", "logp_base"],
    ),
    "bon_law": (theory.bon_law, dict(logp_base=GOOD, n=3), ["logp_base"]),
    "bon_miss_probability": (
        theory.bon_miss_probability,
        dict(logp_base=GOOD, n=3),
        ["logp_base"],
    ),
    "log_bon_miss_probability": (
        theory.log_bon_miss_probability,
        dict(logp_base=GOOD, n=3),
        ["logp_base"],
    ),
    "concentrability": (
        theory.concentrability,
        dict(logp_pi=GOOD, logp_base=GOOD, mu=MU),
        ["logp_pi", "logp_base"],
    ),
    "concentrability_ratio": (
        theory.concentrability_ratio,
        dict(logp_pi=GOOD, logp_pi_prime=GOOD, mu=MU, beta=0.5),
        ["logp_pi", "logp_pi_prime"],
    ),
    "kl": (theory.kl, dict(logp_p=GOOD, logp_q=GOOD, mu=MU), ["logp_p", "logp_q"]),
    "hellinger_sq": (
        theory.hellinger_sq,
        dict(logp_p=GOOD, logp_q=GOOD, mu=MU),
        ["logp_p", "logp_q"],
    ),
    "entropy": (theory.entropy, dict(logp=GOOD), ["logp"]),
}


def _cases():
    for fname, (f, kwargs, tables) in FUNCTIONS.items():
        for arg in tables:
            for kind, bad in BAD_TABLES.items():
                yield pytest.param(f, kwargs, arg, bad, ValueError, id=f"{fname}-{arg}-{kind}")
            yield pytest.param(
                f, kwargs, arg, np.array([[1, 0]]), TypeError, id=f"{fname}-{arg}-int"
            )
        if "mu" in kwargs:
            for kind, bad in {
                "negative": np.array([1.2, -0.2]),
                "unnormalized": np.array([0.5, 0.6]),
                # float64 is held to float64 precision: 1e-6 off is not rounding
                "off-by-1e-6": np.array([0.5 + 1e-6, 0.5]),
                "nan": np.array([np.nan, 1.0]),
                "shape": np.array([0.2, 0.3, 0.5]),
                "2d": np.array([[0.4, 0.6]]),
            }.items():
                yield pytest.param(f, kwargs, "mu", bad, ValueError, id=f"{fname}-mu-{kind}")
        scalar_checks = {
            "gamma": {"-0.1": -0.1, "1": 1.0, "nan": np.nan},
            "delta": {"0": 0.0, "1": 1.0, "-1": -1.0},
            "eps": {"0": 0.0, "1.5": 1.5},
            "beta": {"0": 0.0, "-1": -1.0, "nan": np.nan, "inf": np.inf},
            "p": {"0.5": 0.5, "nan": np.nan},
        }
        params = set(kwargs) | _optional_params(f)
        for arg, values in scalar_checks.items():
            if arg in params:
                for kind, bad in values.items():
                    yield pytest.param(f, kwargs, arg, bad, ValueError, id=f"{fname}-{arg}-{kind}")
                yield pytest.param(
                    f, kwargs, arg, np.array([0.1, 0.2]), ValueError, id=f"{fname}-{arg}-vector"
                )
        if "n" in kwargs:
            yield pytest.param(f, kwargs, "n", 0, ValueError, id=f"{fname}-n-0")
            yield pytest.param(f, kwargs, "n", -3, ValueError, id=f"{fname}-n-neg")
            yield pytest.param(f, kwargs, "n", 2.5, TypeError, id=f"{fname}-n-float")
            yield pytest.param(f, kwargs, "n", True, TypeError, id=f"{fname}-n-bool")
            yield pytest.param(f, kwargs, "n", jnp.array(0), ValueError, id=f"{fname}-n-array0")


def _optional_params(f):
    import inspect

    return set(inspect.signature(f).parameters)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_valid_calls_pass_validation(name):
    f, kwargs, _ = FUNCTIONS[name]
    out = np.asarray(f(**kwargs))
    assert not np.isnan(out.astype(np.float64)).any()


@pytest.mark.parametrize("f, kwargs, arg, bad, exc", list(_cases()))
def test_bad_input_names_the_argument(f, kwargs, arg, bad, exc):
    with pytest.raises(exc, match=rf"\b{arg}\b"):
        f(**{**kwargs, arg: bad})


@pytest.mark.parametrize(
    "f, kwargs",
    [
        (theory.sharpening_error, dict(logp_hat=TWO, logp_base=GOOD, mu=MU, delta=0.1)),
        (theory.kl, dict(logp_p=GOOD, logp_q=GOOD[:1], mu=MU)),
        (
            theory.concentrability,
            dict(logp_pi=GOOD[None].repeat(2, 0), logp_base=GOOD[None].repeat(3, 0), mu=MU),
        ),
        (theory.log_mass_on_argmax, dict(logp_pi=GOOD, logp_ref=TWO)),
    ],
)
def test_shape_mismatch_between_tables(f, kwargs):
    names = [k for k in kwargs if k.startswith("logp")]
    with pytest.raises(ValueError, match=f"{names[0]} and {names[1]}"):
        f(**kwargs)


def test_table_needs_prompt_axis():
    with pytest.raises(ValueError, match="logp"):
        theory.coverage(GOOD[0], np.ones(1))


def test_float32_tables_keep_the_float32_tolerance():
    logp = SLIGHTLY_OFF.astype(np.float32)
    assert np.asarray(theory.argmax_set(logp)).shape == (2, 3)
    with pytest.raises(ValueError, match="logp must be normalized"):
        theory.argmax_set(SLIGHTLY_OFF)


def test_reward_checks():
    with pytest.raises(ValueError, match="reward"):
        theory.kl_tilt(GOOD, 1.0, np.ones(4))
    bad = np.ones_like(GOOD)
    bad[0, 0] = np.nan
    for f in (lambda r: theory.kl_tilt(GOOD, 1.0, r), lambda r: theory.bon_law(GOOD, 2, r)):
        with pytest.raises(ValueError, match="reward"):
            f(bad)
    bad[0, 0] = -np.inf
    with pytest.raises(ValueError, match="reward"):
        theory.kl_regularized_objective(GOOD, GOOD, MU, 1.0, bad)
    # non-finite rewards where pi_base has no mass are fine
    base = GOOD.copy()
    base[0] = [0.0, -np.inf, -np.inf]
    r = np.zeros_like(base)
    r[0, 1] = np.nan
    assert np.isfinite(float(theory.kl_regularized_objective(base, base, MU, 1.0, r)))


def test_log_mass_checks():
    with pytest.raises(ValueError, match="log_mass"):
        theory.log_coverage_from_log_mass(np.array([0.5, -1.0]), MU)
    with pytest.raises(ValueError, match="log_mass"):
        theory.coverage_from_log_mass(np.array([np.nan, -1.0]), MU)
    with pytest.raises(ValueError, match="mu"):
        theory.coverage_from_log_mass(np.array([-1.0, -1.0, -2.0]), MU)
    with pytest.raises(ValueError, match="p"):
        theory.coverage_from_log_mass(np.array([-1.0, -1.0]), MU, p=0.9)


def test_validation_does_not_break_jit():
    # inside jit, values are tracers: only shapes are checked, and the call compiles
    f = jax.jit(lambda lp, g, n: (theory.coverage(lp, MU, g), theory.bon_law(lp, n)))
    cov, law = f(GOOD, 0.1, 4)
    np.testing.assert_allclose(float(cov), 0.4 / 0.5 + 0.6 / 0.8)
    assert math.isclose(float(jnp.exp(law).sum()), 2.0, rel_tol=1e-12)
    with pytest.raises(ValueError, match="mu"):
        jax.jit(lambda lp: theory.coverage(lp, np.ones(3) / 3))(GOOD)
    with pytest.raises(TypeError, match="n"):
        jax.jit(lambda lp, n: theory.bon_law(lp, n))(GOOD, 2.0)
