"""Theorem 3.1''s hard instance: the exact Bayes errors against brute force and Monte Carlo,
Lemma H.3's constant, and the threshold's scaling in C, eps and d."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bounds
import theory

# --------------------------------------------------------------------------------------------
# The instance.


@pytest.mark.parametrize("M, gamma", [(2, 0.5), (5, 0.5), (9, 0.5), (6, 0.25)])
def test_instance_tables(M, gamma):
    I = np.array([1, M, 2])
    logp, mu = bounds.hard_instance(I, M, 0.3, gamma=gamma)
    p = np.exp(np.asarray(logp))
    assert p.shape == (4, M + 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(mu), [0.7, 0.1, 0.1, 0.1], rtol=1e-14)
    assert p[0, 0] == 1.0
    for i, j in enumerate(I, start=1):
        assert p[i, j] == pytest.approx(1 / ((1 - gamma) * M), rel=1e-14)
        assert np.argmax(p[i]) == j
        others = np.delete(p[i, 1:], j - 1)
        np.testing.assert_allclose(others, (1 - gamma / ((M - 1) * (1 - gamma))) / M, rtol=1e-14)
    # y*_gamma is the singleton {y_{j_i}} (Lemma H.1).
    mask = np.asarray(theory.argmax_set(logp, gamma))
    assert mask.sum(axis=1).tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("M, Delta", [(8, 0.16), (50, 0.02), (3, 1.0)])
def test_coverage_formula_matches_theory(p, M, Delta):
    logp, mu = bounds.hard_instance(np.array([2, 1, 3, 2]), M, Delta)
    got = float(theory.coverage(logp, mu, gamma=0.5, p=p))
    assert got == pytest.approx(bounds.hard_instance_coverage(M, Delta, p=p), rel=1e-12)
    assert bounds.hard_instance_coverage(M, Delta, p=p) == pytest.approx(
        ((1 - Delta) + (M / 2) ** p * Delta) ** (1 / p), rel=1e-14
    )


@pytest.mark.parametrize("p", [200.0, np.inf])
def test_coverage_formula_at_large_moments(p):
    # (M (1 - gamma))^p overflows a float at p = 200 for M = 1000; p = inf is the supremum.
    logp, mu = bounds.hard_instance(np.array([2, 1, 3, 2]), 1000, 0.1)
    got = float(theory.coverage(logp, mu, gamma=0.5, p=p))
    assert bounds.hard_instance_coverage(1000, 0.1, p=p) == pytest.approx(got, rel=1e-12)


def test_params_and_cardinality():
    M, Delta = bounds.hard_instance_params(2.0, 0.01)
    assert (M, Delta) == (201, pytest.approx(0.16))
    M2, _ = bounds.hard_instance_params(2.0, 0.01, p=2)
    assert M2 == math.ceil(1 + 2.0 * 0.01**-0.5)
    assert bounds.hard_instance_log_cardinality(201, 4) == pytest.approx(4 * math.log(201))
    # sup_pi C_cov,1/2 <~ C: (1 - 16 eps) + (M/2) 16 eps = 1 + 8 C - 8 eps when M = 1 + C/eps.
    assert bounds.hard_instance_coverage(M, Delta) == pytest.approx(1 + 8 * 2.0 - 8 * 0.01)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: bounds.hard_instance(np.array([0, 1]), 5, 0.5), "I"),
        (lambda: bounds.hard_instance(np.array([6]), 5, 0.5), "I"),
        (lambda: bounds.hard_instance(np.array([1]), 1, 0.5), "M"),
        (lambda: bounds.hard_instance(np.array([1]), 5, 1.5), "Delta"),
        (lambda: bounds.hard_instance(np.array([1]), 5, 0.5, gamma=0.9), "gamma"),
        (lambda: bounds.hard_instance_params(2.0, 0.1), "eps"),
        (lambda: bounds.nonadaptive_bayes_error(-1, 5, 2, 0.5), "n"),
        (lambda: bounds.nonadaptive_threshold(5, 2, 0.5, 1.5), "target"),
        (lambda: bounds.adaptive_threshold(5, 2, 0.1, strategy="greedy"), "strategy"),
        (lambda: bounds.bayes_error_after_draws(np.array([-1]), 5), "k"),
    ],
)
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


# --------------------------------------------------------------------------------------------
# Exact Bayes errors against brute force (the posterior computed from the tables, without the
# structure the closed forms use).


def _brute_force_error(M, p, n, N, gamma=0.5):
    """Bayes error at x_1 with d = 1 (visit probability p), by enumerating every data set.

    The oracle shows each response y together with its likelihood v = P_{j*}(y) (Definition 3.2),
    so hypothesis j is consistent with an observation iff P_j(y) = v; the posterior is computed
    from the tables alone, without the structure the closed forms use.
    """
    probs = np.stack(
        [
            np.exp(np.asarray(bounds.hard_instance(np.array([j]), M, 0.5, gamma=gamma)[0]))[1]
            for j in range(1, M + 1)
        ]
    )  # probs[j - 1, y] = P_j(y)
    total = 0.0
    # Each of the n prompt slots is x_0 (no information) or x_1 with N responses in {1..M}.
    slot_outcomes = [None] + list(itertools.product(range(1, M + 1), repeat=N))
    for data in itertools.product(slot_outcomes, repeat=n):
        ys = [y for slot in data if slot is not None for y in slot]
        visits = sum(slot is not None for slot in data)
        weight = p**visits * (1 - p) ** (n - visits)
        for j_star in range(M):
            like_true = np.prod([probs[j_star, y] for y in ys])
            if like_true == 0:
                continue
            post = np.array(
                [
                    np.prod([probs[j, y] * (probs[j, y] == probs[j_star, y]) for y in ys])
                    for j in range(M)
                ]
            )
            post /= post.sum()
            total += weight * like_true / M * (1 - post.max())
    return total


@pytest.mark.parametrize(
    "M, p, n, N", [(3, 0.4, 3, 1), (4, 0.7, 2, 2), (5, 1.0, 4, 1), (3, 0.5, 2, 3)]
)
def test_nonadaptive_error_matches_brute_force(M, p, n, N):
    got = bounds.nonadaptive_bayes_error(n, M, 1, p, N=N)
    assert got == pytest.approx(_brute_force_error(M, p, n, N), rel=1e-12, abs=1e-15)


def test_error_after_draws_matches_brute_force_gamma():
    # gamma != 1/2 changes both the hit probability and the others' mass.
    for k in range(5):
        got = bounds.bayes_error_after_draws(k, 4, gamma=0.3)
        assert got == pytest.approx(
            _brute_force_error(4, 1.0, k, 1, gamma=0.3), rel=1e-12, abs=1e-15
        )


def test_error_after_draws_closed_form_limits():
    M = 7
    err = bounds.bayes_error_after_draws(np.arange(4), M)
    assert err[0] == pytest.approx(1 - 1 / M, rel=1e-14)
    # One draw: reveal w.p. 2/M, else one index ruled out: (1 - 2/M)(1 - 1/(M - 1)).
    assert err[1] == pytest.approx((1 - 2 / M) * (1 - 1 / (M - 1)), rel=1e-14)
    assert np.all(np.diff(bounds.bayes_error_after_draws(np.arange(200), M)) <= 0)


def test_one_response_per_prompt_is_the_best_split():
    M, d, Delta, m = 30, 3, 0.4, 240
    e1 = bounds.nonadaptive_bayes_error(m, M, d, Delta, N=1)
    for N in (2, 4, 8):
        assert bounds.nonadaptive_bayes_error(m // N, M, d, Delta, N=N) > e1


# --------------------------------------------------------------------------------------------
# Monte Carlo of the learner on oracle draws (tolerance: 5 standard errors of the estimate).


def test_nonadaptive_monte_carlo_matches_exact():
    M, d, Delta, n, S = 20, 4, 0.5, 60, 600
    errs = np.asarray(
        bounds.simulate_nonadaptive_bayes_learner(jax.random.key(0), M, d, Delta, n, S)
    )
    exact = bounds.nonadaptive_bayes_error(n, M, d, Delta)
    se = errs.std(ddof=1) / math.sqrt(S)
    assert abs(errs.mean() - exact) <= 5 * se
    assert 0.1 < exact < 0.9  # a regime where the comparison has power


def test_adaptive_monte_carlo_matches_exact():
    M, d, K, S = 20, 4, 12, 2000
    errs, queries = bounds.simulate_adaptive_bayes_learner(jax.random.key(1), M, d, K, S)
    errs, queries = np.asarray(errs), np.asarray(queries)
    exact_q, exact_e = bounds.adaptive_cap_bayes_error(K, M)
    assert abs(errs.mean() - exact_e) <= 5 * errs.std(ddof=1) / math.sqrt(S)
    assert abs(queries.mean() - exact_q) <= 5 * queries.std(ddof=1) / math.sqrt(S)


def test_bayes_guess_reads_the_revealing_draw():
    from simulators import Rollouts

    M, d = 6, 2
    q, other = math.log(2 / M), math.log((M - 2) / (M * (M - 1)))
    r = Rollouts(
        prompts=jnp.array([1, 2, 0]),
        tokens=jnp.array([[[3], [5]], [[1], [2]], [[0], [0]]]),
        lengths=jnp.ones((3, 2), jnp.int32),
        logp_base=jnp.array([[other, q], [other, other], [0.0, 0.0]]),
    )
    guess = jax.jit(jax.vmap(lambda k: bounds.hard_instance_bayes_guess(k, r, M, d)))
    g = np.asarray(guess(jax.random.split(jax.random.key(0), 4000)))
    assert (g[:, 0] == 5).all()  # revealed
    # Uniform over the unseen indices {3, 4, 5, 6} (5 standard errors per frequency).
    counts = np.array([(g[:, 1] == j).sum() for j in (3, 4, 5, 6)])
    assert counts.sum() == len(g)
    se = math.sqrt(len(g) * 0.25 * 0.75)
    assert np.all(np.abs(counts - len(g) / 4) <= 5 * se)


# --------------------------------------------------------------------------------------------
# Adaptive oracle.


def test_cap_rule_wald_identity_and_frontier():
    M = 25
    q = 2 / M
    K = np.arange(0, 60)
    tau, err = bounds.adaptive_cap_bayes_error(K, M)
    # Wald: P[revealed] = q E[tau] for a rule that stops when revealed.
    np.testing.assert_allclose(q * tau, 1 - (1 - q) ** K, rtol=1e-12)
    f = bounds.adaptive_optimal_frontier(M)
    assert f.error[0] == pytest.approx(1 - 1 / M)
    assert f.expected_draws[0] == 0.0 and f.error[-1] == 0.0
    assert f.expected_draws[-1] <= 1 / q + 1e-12
    # The frontier is convex, decreasing, and lies below every capped rule.
    x, y = f.expected_draws[f.hull], f.error[f.hull]
    assert np.all(np.diff(x) > 0) and np.all(np.diff(y) < 0)
    slopes = np.diff(y) / np.diff(x)
    assert np.all(np.diff(slopes) >= -1e-12)
    for t, e in zip(tau[1:], err[1:], strict=True):
        if e > 0:
            assert f.min_expected_draws(e) <= t + 1e-9


def test_adaptive_optimal_matches_dynamic_programming_lagrangian():
    # Value iteration over D for E[tau] + lam * error agrees with the best point of the frontier.
    M = 12
    q = 2 / M
    r = (1 - q) / (M - 1)
    f = bounds.adaptive_optimal_frontier(M)
    for lam in (1.0, 5.0, 20.0, 100.0):
        W = 0.0  # value at D = M - 1 (stop with error 0)
        for D in range(M - 2, -1, -1):
            stop = lam * (1 - 1 / (M - D))
            cont = (1 + (M - 1 - D) * r * W) / (1 - D * r)
            W = min(stop, cont)
        best = np.min(f.expected_draws + lam * f.error)
        assert W == pytest.approx(best, rel=1e-12)


def test_adaptive_thresholds():
    M, d = 60, 3
    target = 1 / 16
    opt = bounds.adaptive_threshold(M, d, target)
    cap = bounds.adaptive_threshold(M, d, target, strategy="cap")
    assert opt <= cap * (1 + 1e-12)
    assert cap <= opt * 1.02  # capping the draws is nearly optimal here
    # About (1 - target) M / 2 draws per prompt (Wald), up to the uniform-guess bonus.
    assert opt == pytest.approx(d * (1 - target) * M / 2, rel=0.05)


# --------------------------------------------------------------------------------------------
# Non-adaptive threshold and Lemma H.3.


def test_nonadaptive_threshold_is_the_least_budget():
    M, d, Delta, target = 40, 3, 0.3, 1 / 16
    m = bounds.nonadaptive_threshold(M, d, Delta, target)
    assert bounds.nonadaptive_bayes_error(m, M, d, Delta) <= target
    assert bounds.nonadaptive_bayes_error(m - 1, M, d, Delta) > target
    m2 = bounds.nonadaptive_threshold(M, d, Delta, target, N=3)
    assert m2 % 3 == 0 and m2 >= m


def test_lemma_h3_constant():
    res = bounds.lemma_h3_constant(8)
    assert res.c_star == pytest.approx(0.77481, abs=5e-5)
    assert res.c_star <= min(res.c_deterministic, res.c_poisson)
    # Holds for c < c*: on instances with M >= 8, error >= 1/8 at m = floor(c* d M / Delta).
    for M, d, Delta in [(8, 1, 1.0), (8, 1, 0.8855), (8, 3, 0.5), (12, 2, 0.9), (40, 5, 0.1)]:
        m = math.floor(res.c_star * (1 - 1e-9) * d * M / Delta)
        assert bounds.nonadaptive_bayes_error(m, M, d, Delta) >= 1 / 8
    # Fails just above c*: the instance where the infimum is approached.
    Delta = res.p_visit * (1 + 1e-6)
    assert res.m <= res.c_star * (1 + 2e-6) * 8 / Delta
    assert bounds.nonadaptive_bayes_error(res.m, 8, 1, Delta) < 1 / 8
    # Larger M only helps the lemma: c*(M) increases towards ln(8)/2.
    cs = [bounds.lemma_h3_constant(M).c_star for M in (8, 12, 24, 48)]
    assert np.all(np.diff(cs) > 0) and cs[-1] < math.log(8) / 2


# --------------------------------------------------------------------------------------------
# Threshold scaling (Theorem 3.1 / 3.1' / D.2): slopes on a log-log grid.

EPS = 0.01
D = 4


def _thresholds(values, key, **fixed):
    out = [bounds.hard_instance_thresholds(**{**fixed, key: v}) for v in values]
    return np.array([t.nonadaptive for t in out], float), np.array([t.adaptive for t in out])


def test_threshold_slope_in_C():
    Cs = [1.0, 2.0, 4.0, 8.0]
    non, ada = _thresholds(Cs, "C", eps=EPS, d=D)
    for m in (non, ada):
        fit = bounds.fit_loglog_slope(Cs, m)
        assert 0.8 <= fit.slope <= 1.2


def test_threshold_slope_in_eps():
    # m ~ d C / eps^2 non-adaptive (Theorem 3.1), E[m] ~ d C / eps adaptive (Theorem D.2).
    epss = [0.002, 0.004, 0.008, 0.016, 0.03, 0.06]
    non, ada = _thresholds(epss, "eps", C=2.0, d=D)
    fit_non = bounds.fit_scaling(epss, non, "eps")
    fit_ada = bounds.fit_scaling(epss, ada, "eps")
    assert 1.8 <= fit_non.slope <= 2.2
    assert 0.8 <= fit_ada.slope <= 1.2


def test_threshold_slope_in_eps_p2():
    # Theorem 3.1' with p = 2: eps^-(3/2) non-adaptive and eps^-(1/2) adaptive.
    epss = [0.002, 0.004, 0.008, 0.016, 0.03, 0.06]
    non, ada = _thresholds(epss, "eps", C=2.0, d=D, p=2.0)
    assert 1.3 <= bounds.fit_scaling(epss, non, "eps").slope <= 1.7
    assert 0.3 <= bounds.fit_scaling(epss, ada, "eps").slope <= 0.7


def test_threshold_slope_in_d():
    ds = [1, 2, 4, 8, 16]
    non, ada = _thresholds(ds, "d", C=2.0, eps=EPS)
    for m in (non, ada):
        assert 0.8 <= bounds.fit_loglog_slope(ds, m).slope <= 1.2


def test_threshold_tracks_theorem_3_1_formula():
    # The exact threshold over Theorem 3.1's formula stays within a constant factor across C and
    # eps (the formula's own constant is unspecified).
    ratios = []
    for C, eps in itertools.product([1.0, 4.0, 16.0], [0.003, 0.01, 0.03]):
        t = bounds.hard_instance_thresholds(C, eps, D)
        ratios.append(t.nonadaptive / bounds.lower_bound_sample_complexity(t.log_card, C, eps))
    assert max(ratios) / min(ratios) < 1.5


def test_lemma_h4_as_transcribed_fails_for_stop_when_found():
    # THEORY.md transcribes Lemma H.4 as E[1{j_hat != j*}] >= P[m_i <= M/3] / (4e). The rule "draw
    # until y_{j*} is seen" has error 0 (up to the 1e-17 table tolerance) while
    # P[m_i <= M/3] = 1 - (1 - 2/M)^floor(M/3) ~ 1 - e^(-2/3): the statement needs the
    # probability under a reference law (the "infinite tape"), not the learner's own.
    M = 30
    K = 10_000  # effectively unbounded
    _, err = bounds.adaptive_cap_bayes_error(K, M)
    p_small = 1 - (1 - 2 / M) ** (M // 3)
    assert err < 1e-15 and p_small / (4 * math.e) > 0.04
    # What survives is E[m_i] ~ M: by Wald, every rule that stops once y_{j*} is seen has
    # P[found] = q E[tau], and the frontier's rule s errs exactly when not found, w.p.
    # 1 - 1/(M - s); so q E[tau_s] + error_s / (1 - 1/(M - s)) = 1.
    f = bounds.adaptive_optimal_frontier(M)
    s = np.arange(M - 1)
    np.testing.assert_allclose(
        (2 / M) * f.expected_draws[s] + f.error[s] / (1 - 1 / (M - s)), 1.0, rtol=1e-12
    )
