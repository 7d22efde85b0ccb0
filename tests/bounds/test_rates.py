"""The theorems' rates: exact values, monotonicity, exponents, validation, and the lemmas they
encode checked against exact quantities from ``theory``."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import bounds
import theory

RTOL = 1e-12


# --------------------------------------------------------------------------------------------
# Exact values on simple inputs.


def test_lower_bound_exact_value():
    # C = 1, eps = 1/e: 1 + log(C/eps) = 2, so m = log|Pi| e^2 / 2.
    m = bounds.lower_bound_sample_complexity(3.0, 1.0, 1 / math.e)
    assert m == pytest.approx(3.0 * math.e**2 / 2, rel=RTOL)
    assert bounds.lower_bound_sample_complexity(3.0, 1.0, 1 / math.e, c=0.5) == pytest.approx(
        m / 2, rel=RTOL
    )


def test_moment_lower_bound_reduces_to_thm_3_1_and_d_2():
    args = (5.0, 3.0, 0.02)
    assert bounds.moment_lower_bound_sample_complexity(*args, 1) == pytest.approx(
        bounds.lower_bound_sample_complexity(*args), rel=RTOL
    )
    assert bounds.moment_lower_bound_sample_complexity(*args, 1, adaptive=True) == pytest.approx(
        bounds.adaptive_lower_bound_sample_complexity(*args), rel=RTOL
    )
    # p = 2: eps^(3/2) and eps^(1/2) in the denominators, log(C eps^-1/2).
    L, C, eps = args
    denom_log = 1 + math.log(C * eps**-0.5)
    assert bounds.moment_lower_bound_sample_complexity(L, C, eps, 2) == pytest.approx(
        C * L / (eps**1.5 * denom_log), rel=RTOL
    )
    assert bounds.moment_lower_bound_sample_complexity(
        L, C, eps, 2, adaptive=True
    ) == pytest.approx(C * L / (eps**0.5 * denom_log), rel=RTOL)


def test_sft_exact_values():
    C_cov, log_card, eps, delta, rho = 2.0, math.log(10), 0.1, 0.5, 0.1
    L = math.log(100)  # log(|Pi| / rho)
    assert bounds.sft_sample_complexity(C_cov, log_card, eps, delta, rho) == pytest.approx(
        C_cov * L * math.log(2) / (delta * eps**2), rel=RTOL
    )
    assert bounds.sft_num_prompts(log_card, eps, delta, rho) == pytest.approx(
        L / (delta * eps), rel=RTOL
    )
    assert bounds.sft_num_responses(C_cov, eps, delta) == pytest.approx(
        C_cov * math.log(4) / eps, rel=RTOL
    )
    # the integer budget rounds each count up: ceil(L / 0.05) = 93, ceil(2 log 4 / 0.1) = 28
    assert bounds.sft_budget(C_cov, log_card, eps, delta, rho) == (93, 28)
    assert bounds.sft_budget(1.0, 0.0, 0.99, 0.99, 0.99, c=1e-6) == (1, 1)  # at least one each
    with pytest.raises(ValueError, match="scalars"):
        bounds.sft_budget(np.array([1.0, 2.0]), log_card, eps, delta, rho)
    fb = bounds.sft_failure_bound(log_card, 200, 40, C_cov, delta, rho)
    assert fb.statistical == pytest.approx(L / (delta * 200), rel=RTOL)
    assert fb.coverage == pytest.approx(C_cov / 40, rel=RTOL)
    assert fb.total == pytest.approx(fb.statistical + fb.coverage, rel=RTOL)


def test_adaptive_sft_and_lemma_i1_values():
    delta = 0.2
    mu = bounds.adaptive_sft_stopping_parameter(delta)
    assert mu == pytest.approx(math.log(10), rel=RTOL)
    # Lemma I.1 with mu = ln(2/delta) and |y*| = 1: miss <= delta / 2.
    assert bounds.adaptive_stopping_miss_bound(mu) == pytest.approx(delta / 2, rel=RTOL)
    assert bounds.adaptive_stopping_miss_bound(mu, 2) == pytest.approx((delta / 2) ** 2, rel=RTOL)
    assert bounds.adaptive_stopping_expected_draws_bound(mu, 0.25, 2) == pytest.approx(
        (mu + 0.5) / 0.25, rel=RTOL
    )
    assert bounds.adaptive_sft_expected_queries(10, 3.0, delta) == pytest.approx(
        10 * (1 + mu) * 3.0, rel=RTOL
    )
    assert bounds.adaptive_sft_sample_complexity(3.0, 1.0, 0.1, delta, 0.5) == pytest.approx(
        3.0 * (1 + math.log(2)) * math.log(5) / (delta * 0.1), rel=RTOL
    )
    assert bounds.adaptive_sft_failure_bound(1.0, 7, delta, 0.5) == pytest.approx(
        (1 + math.log(2)) / (delta * 7), rel=RTOL
    )


def test_rlhf_and_xpo_exact_values():
    assert bounds.dpo_beta(0.5, 0.1, 0.2) == pytest.approx(0.01, rel=RTOL)
    L = math.log(4.0) + 2.0 + math.log(10)  # log(C_loss |Pi| / rho)
    assert bounds.dpo_sample_complexity(3.0, 4.0, 2.0, 0.5, 0.1, 0.2, 0.1) == pytest.approx(
        3.0 * L**3 / (0.25 * 0.04 * 0.01), rel=RTOL
    )
    got = bounds.dpo_failure_bound(3.0, 4.0, 2.0, 100, 0.01, 0.5, 0.2, 0.1, gamma=0.05)
    want = (math.sqrt(3.0 * L**3 / 100) + 0.01 * math.log(3.0) + 0.05) / (0.5 * 0.2)
    assert got == pytest.approx(want, rel=RTOL)
    assert bounds.xpo_beta(0.3, 50, 0.1) == pytest.approx(0.3 / (2 * math.log(1000)), rel=RTOL)
    assert bounds.linear_softmax_beta(0.3, 50, 0.1) == bounds.xpo_beta(0.3, 50, 0.1)
    a = bounds.xpo_alpha(0.1, 2.0, 5.0, 3.0, 100, 0.05, V_max=1.0)
    want = 0.1 / 3.0 * math.sqrt((math.log(2) + 3.0 + math.log(100) + math.log(20)) / 500)
    assert a == pytest.approx(want, rel=RTOL)
    kl = bounds.xpo_kl_bound(2.0, 1.0, 5.0, 3.0, 100, 0.05, 0.1, 0.01)
    want = 3.0 * math.sqrt(5.0 * (math.log(2) + 3.0 + math.log(100) + math.log(20)) / 100)
    assert kl == pytest.approx(want + 0.1 * 0.01 * math.sqrt(500), rel=RTOL)
    assert bounds.xpo_eps_disc(0.1, 0.2, 5.0, 20) == pytest.approx(0.02 / 10, rel=RTOL)
    m = bounds.xpo_sample_complexity(2.0, 5.0, 3.0, 50, 0.5, 0.1, 0.2, 0.1)
    want = 4.0 * 5.0 * (3.0 + math.log(10)) * math.log(250) ** 2 / (0.25 * 0.01 * 0.04)
    assert m == pytest.approx(want, rel=RTOL)
    assert bounds.xpo_sample_complexity_informal(5.0, 3.0, 0.5, 0.1, 0.2, 0.1) == pytest.approx(
        5.0 * (3.0 + math.log(10)) / (0.25 * 0.04 * 0.01), rel=RTOL
    )


def test_linear_softmax_values():
    assert bounds.linear_softmax_r_max(0.5, 2.0, 10) == pytest.approx(
        math.sqrt(4 * 0.25 * 4 + (4 + math.log(10)) ** 2), rel=RTOL
    )
    assert bounds.linear_softmax_theta_norm_bound(0.3, 10.0, 50, 0.1) == pytest.approx(
        3.0 / (3 * math.log(1000)), rel=RTOL
    )
    assert bounds.linear_softmax_required_radius(1.0, 0.25) == pytest.approx(5.0, rel=RTOL)
    assert bounds.linear_softmax_log_net_size(2.0, 3, 0.1) == pytest.approx(
        3 * math.log(120), rel=RTOL
    )
    assert bounds.linear_softmax_sec_bound(4, 99) == pytest.approx(4 * math.log(100), rel=RTOL)
    a = bounds.linear_softmax_alpha(0.1, 2.0, 10, 3, 50, 0.1, 0.2, 0.05)
    num = 3 * math.log(2 * 3 * 50 / 0.02) + math.log(50 / 0.05)
    want = 0.1 / (2 + math.log(10)) * math.sqrt(num / (3 * 50 * math.log(50)))
    assert a == pytest.approx(want, rel=RTOL)


def test_bon_and_mle_values():
    assert bounds.bon_num_samples(0.1, 0.05) == pytest.approx(10 * math.log(20), rel=RTOL)
    assert bounds.bon_miss_probability(0.1, 7) == pytest.approx(0.9**7, rel=RTOL)
    assert bounds.bon_miss_probability(1.0, 3) == 0.0
    # log1p keeps relative precision for tiny p*.
    assert bounds.bon_miss_probability(1e-18, 1e6) == pytest.approx(math.exp(-1e-12), rel=RTOL)
    assert bounds.mle_hellinger_bound(2.0, 50, 0.1) == pytest.approx(
        2 * (2 + math.log(10)) / 50, rel=RTOL
    )
    assert bounds.hard_class_log_cardinality(4, 2.0, 0.01) == pytest.approx(
        4 * (1 + math.log(200)), rel=RTOL
    )
    assert bounds.kl_tilt_concentrability_bound(3.0, gamma=0.25) == pytest.approx(4.0, rel=RTOL)
    assert bounds.kl_tilt_loss_concentrability_bound(17) == 17.0


def test_xpo_num_rounds_is_smallest_solution():
    args = dict(R_max=3.0, sec=4.0, log_net_size=10.0, eps=0.3, delta=0.3, beta=0.5, rho=0.1)
    T = bounds.xpo_num_rounds(**args)
    A = args["R_max"] ** 2 * args["sec"] / (0.3**2 * 0.3**2 * 0.5**2)
    L = math.log(2) + 10.0 + math.log(10)
    assert T >= A * (L + math.log(T))
    assert T - 1 < A * (L + math.log(T - 1))
    assert bounds.xpo_num_rounds(**args, c=2.0) > T


def test_array_arguments_broadcast():
    eps = np.array([0.1, 0.05, 0.01])
    m = bounds.sft_sample_complexity(2.0, 1.0, eps, 0.5, 0.1)
    assert isinstance(m, np.ndarray) and m.shape == (3,)
    for e, v in zip(eps, m, strict=True):
        assert v == pytest.approx(bounds.sft_sample_complexity(2.0, 1.0, float(e), 0.5, 0.1))


# --------------------------------------------------------------------------------------------
# Monotonicity and exponents.

GRID = np.geomspace(0.01, 0.5, 9)


def _increasing(v):
    return np.all(np.diff(np.asarray(v)) > 0)


def test_monotone_in_eps_delta_rho_and_coverage():
    # Decreasing in eps, delta, rho; increasing in coverage and log|Pi|.
    assert _increasing(bounds.sft_sample_complexity(2.0, 1.0, GRID[::-1], 0.3, 0.1))
    assert _increasing(bounds.sft_sample_complexity(2.0, 1.0, 0.1, GRID[::-1] * 0.9, 0.1))
    assert _increasing(bounds.sft_sample_complexity(2.0, 1.0, 0.1, 0.3, GRID[::-1]))
    assert _increasing(bounds.sft_sample_complexity(np.geomspace(1, 100, 5), 1.0, 0.1, 0.3, 0.1))
    assert _increasing(bounds.sft_sample_complexity(2.0, np.linspace(0, 10, 5), 0.1, 0.3, 0.1))
    assert _increasing(bounds.lower_bound_sample_complexity(4.0, 2.0, GRID[::-1]))
    assert _increasing(bounds.lower_bound_sample_complexity(4.0, np.geomspace(1, 100, 5), 0.05))
    assert _increasing(bounds.adaptive_lower_bound_sample_complexity(4.0, 2.0, GRID[::-1]))
    assert _increasing(bounds.dpo_sample_complexity(2.0, 5.0, 1.0, GRID[::-1], 0.1, 0.3, 0.1))
    assert _increasing(bounds.adaptive_sft_sample_complexity(2.0, 1.0, GRID[::-1], 0.3, 0.1))
    fb = bounds.sft_failure_bound(1.0, np.array([10, 100, 1000]), 20, 2.0, 0.3, 0.1)
    assert _increasing(-fb.total)


@pytest.mark.parametrize(
    "fn, values, variable, exponent",
    [
        (lambda v: bounds.sft_sample_complexity(v, 1.0, 0.1, 0.3, 0.1), [1, 4, 16, 64], "C_cov", 1),
        (lambda v: bounds.sft_sample_complexity(2.0, 1.0, v, 0.3, 0.1), GRID, "eps", 2),
        (lambda v: bounds.adaptive_sft_sample_complexity(2.0, 1.0, v, 0.3, 0.1), GRID, "eps", 1),
        (
            lambda v: bounds.dpo_sample_complexity(2.0, 5.0, 1.0, v, 0.1, 0.3, 0.1),
            GRID,
            "gamma_margin",
            2,
        ),
        (lambda v: bounds.dpo_sample_complexity(2.0, 5.0, 1.0, 0.5, 0.1, v, 0.1), GRID, "delta", 2),
        (
            lambda v: bounds.xpo_sample_complexity_informal(3.0, 1.0, 0.5, v, 0.3, 0.1),
            GRID,
            "eps",
            2,
        ),
    ],
)
def test_exponents(fn, values, variable, exponent):
    # These formulas are exact power laws in the variable: the fitted slope is the exponent.
    fit = bounds.fit_scaling(values, fn(np.asarray(values, dtype=float)), variable)
    assert fit.slope == pytest.approx(exponent, rel=1e-10)


def test_moment_lower_bound_exponent_after_removing_its_log_factor():
    # Theorem 3.1' adaptive, p = 3: E[m] (1 + log(C eps^-1/3)) = C log|Pi| eps^(-1/3).
    C = 2.0
    m = bounds.moment_lower_bound_sample_complexity(4.0, C, GRID, 3, adaptive=True)
    fit = bounds.fit_scaling(
        GRID, m, "eps", divide_by=lambda e: 1 / (1 + np.log(C * e ** (-1 / 3)))
    )
    assert fit.slope == pytest.approx(1 / 3, rel=1e-10)


def test_lower_bound_log_factor_lowers_the_eps_exponent():
    # m ~ C/(eps^2 (1 + log(C/eps))): the local exponent in 1/eps is 2 - 1/(1 + log(C/eps)).
    fit = bounds.fit_scaling(GRID, bounds.lower_bound_sample_complexity(4.0, 2.0, GRID), "eps")
    assert 1.5 < fit.slope < 2.0


# --------------------------------------------------------------------------------------------
# Lemma 4.1 and the margin bound against exact tables.


def _random_tables(seed, X=3, Y=6):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(X, Y)) * 2
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    mu = rng.dirichlet(np.ones(X))
    return jnp.asarray(logp), jnp.asarray(mu)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("beta", [0.05, 0.5, 3.0])
def test_lemma_4_1_on_random_tables(seed, beta):
    logp, mu = _random_tables(seed)
    tilt = theory.kl_tilt(logp, beta)
    C_cov = float(theory.coverage(logp, mu))
    assert float(theory.concentrability(tilt, logp, mu)) <= bounds.kl_tilt_concentrability_bound(
        C_cov
    ) * (1 + 1e-12)
    loss_c = float(theory.concentrability_ratio(logp, tilt, mu, beta))
    assert loss_c <= bounds.kl_tilt_loss_concentrability_bound(logp.shape[1]) * (1 + 1e-12)


@pytest.mark.parametrize("gamma_margin", [0.05, 0.3, 1.0])
@pytest.mark.parametrize("beta", [0.02, 0.1, 1.0])
def test_margin_bound_holds_and_is_nearly_tight(gamma_margin, beta):
    Y = 8
    # Worst case: every other response exactly at the margin.
    p = np.full(Y, 1.0)
    p[0] = 1 + gamma_margin
    p /= p.sum()
    logp = jnp.log(jnp.asarray(p))[None]
    mass = float(jnp.exp(theory.kl_tilt(logp, beta))[0, 0])
    bound = bounds.kl_tilt_margin_bound(gamma_margin, beta, Y)
    tail = (Y - 1) * (1 + gamma_margin) ** (-(1 + 1 / beta))
    assert mass == pytest.approx(1 / (1 + tail), rel=1e-10)  # exact mass in this case
    assert bound <= mass + 1e-15
    assert bound == pytest.approx(1 - tail, rel=1e-12)


def test_xpo_beta_gives_half_delta_under_margin():
    # Theorem J.2's proof: with beta = gamma / (2 log(2|Y|/delta)), pi*_beta(y*) >= 1 - delta/2.
    for gamma_margin, Y, delta in [(0.05, 10, 0.1), (0.5, 1000, 0.01), (1.0, 3, 0.3)]:
        beta = bounds.xpo_beta(gamma_margin, Y, delta)
        assert bounds.kl_tilt_margin_bound(gamma_margin, beta, Y) >= 1 - delta / 2


def test_bon_num_samples_suffices():
    for p_star, rho in [(0.3, 0.1), (1e-4, 1e-3), (0.9, 0.5)]:
        N = math.ceil(bounds.bon_num_samples(p_star, rho))
        assert bounds.bon_miss_probability(p_star, N) <= rho


# --------------------------------------------------------------------------------------------
# Validation.


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: bounds.lower_bound_sample_complexity(1.0, 2.0, 0.0), "eps"),
        (lambda: bounds.lower_bound_sample_complexity(1.0, 2.0, 1.0), "eps"),
        (lambda: bounds.lower_bound_sample_complexity(1.0, 0.5, 0.1), "C"),
        (lambda: bounds.lower_bound_sample_complexity(-1.0, 2.0, 0.1), "log_card"),
        (lambda: bounds.moment_lower_bound_sample_complexity(1.0, 2.0, 0.1, 0.5), "p"),
        (lambda: bounds.sft_sample_complexity(2.0, 1.0, 0.1, 1.5, 0.1), "delta"),
        (lambda: bounds.sft_sample_complexity(2.0, 1.0, 0.1, 0.5, -0.1), "rho"),
        (lambda: bounds.sft_sample_complexity(0.5, 1.0, 0.1, 0.5, 0.1), "C_cov"),
        (lambda: bounds.sft_failure_bound(1.0, 0, 10, 2.0, 0.5, 0.1), "n"),
        (lambda: bounds.sft_failure_bound(1.0, 10, 0.5, 2.0, 0.5, 0.1), "N_star"),
        (lambda: bounds.dpo_sample_complexity(0.5, 5.0, 1.0, 0.5, 0.1, 0.3, 0.1), "C_conc"),
        (lambda: bounds.dpo_sample_complexity(2.0, 5.0, 1.0, 0.0, 0.1, 0.3, 0.1), "gamma_margin"),
        (
            lambda: bounds.dpo_failure_bound(2.0, 5.0, 1.0, 10, 0.1, 0.5, 0.3, 0.1, gamma=1.0),
            "gamma",
        ),
        (lambda: bounds.xpo_beta(0.5, 0, 0.1), "num_responses"),
        (lambda: bounds.xpo_alpha(-0.1, 1.0, 1.0, 1.0, 10, 0.1), "beta"),
        (lambda: bounds.bon_num_samples(1.5, 0.1), "p_star"),
        (lambda: bounds.bon_num_samples(0.0, 0.1), "p_star"),
        (lambda: bounds.kl_tilt_margin_bound(0.1, 0.0, 5), "beta"),
        (lambda: bounds.linear_softmax_alpha(0.1, 2.0, 10, 3, 1, 0.1, 0.2, 0.05), "T"),
        (lambda: bounds.linear_softmax_r_max(0.1, 0.5, 10), "B"),
        (lambda: bounds.sft_sample_complexity(2.0, 1.0, 0.1, 0.5, 0.1, c=0.0), "c"),
        (lambda: bounds.lower_bound_sample_complexity(1.0, 2.0, float("nan")), "eps"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()
