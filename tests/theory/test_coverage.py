"""Argmax sets, masses on them and coverage coefficients against brute force (Eq. 6, App. D, H)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import theory


def _log(a):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(a, dtype=np.float64))


@pytest.mark.parametrize("gamma", [0.0, 0.1, 0.5])
def test_argmax_set_and_mass_match_brute_force(rng, ref, gamma):
    for _ in range(5):
        logp = ref.random_table(rng, 6, 7)
        mask = np.asarray(theory.argmax_set(logp, gamma))
        log_mass = np.asarray(theory.log_mass_on_argmax(logp, gamma=gamma))
        for x in range(6):
            want = ref.argmax_set(logp[x], gamma)
            np.testing.assert_array_equal(mask[x], want)
            np.testing.assert_allclose(log_mass[x], ref.mass(logp[x], want), rtol=1e-12, atol=1e-15)


def test_argmax_set_keeps_exact_ties_and_excludes_zero_mass():
    logp = _log([[0.4, 0.4, 0.2, 0.0], [0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_array_equal(
        theory.argmax_set(logp), [[True, True, False, False], [True, True, True, True]]
    )
    # gamma = 1/2: y with pi(y) >= max/2 = 0.2 joins the set
    np.testing.assert_array_equal(theory.argmax_set(logp, 0.5)[0], [True, True, True, False])


@pytest.mark.parametrize("one_minus_gamma", [1, 2, 3, 4, 10])
def test_argmax_set_keeps_responses_exactly_on_the_threshold(rng, one_minus_gamma):
    # Integer weights with w_b = w_max / k put b exactly on App. F.1's threshold (1 - gamma) max
    # at gamma = 1 - 1/k: it is in y*_gamma (the inequality is not strict), whatever side of it
    # the rounded logarithms land on; a weight 1e-9 (relative) below the threshold is not.
    k = one_minus_gamma
    gamma = 1.0 - 1.0 / k
    for _ in range(200):
        top = int(rng.integers(1, 10**6)) * k
        w = rng.integers(1, top // k + 1, size=5).astype(np.float64)
        w = np.r_[top, top // k, top // k * (1 - 1e-9), w]
        logp = np.log(w) - np.log(w.sum())
        member = np.asarray(theory.argmax_set(logp, gamma))
        assert member[0] and member[1] and not member[2]
        np.testing.assert_array_equal(member[3:], w[3:] >= top / k)


def test_quantities_at_the_threshold_follow_app_f1():
    # pi = [0.3, 0.1, 0.6] at gamma = 1/2: y*_gamma = {0, 2} (0.3 = (1 - 1/2) 0.6).
    logp = np.log(np.array([[0.3, 0.1, 0.6]]))
    mu = np.ones(1)
    assert float(theory.coverage(logp, mu, gamma=0.5)) == pytest.approx(1 / 0.9, rel=1e-14)
    assert float(theory.margin(logp, gamma=0.5)[0]) == pytest.approx(5.0, rel=1e-12)
    assert float(theory.bon_miss_probability(logp, 1, gamma=0.5)[0]) == pytest.approx(
        0.1, rel=1e-12
    )
    hat = _log([[0.45, 0.0, 0.55]])
    assert float(theory.sharpening_error(hat, logp, mu, delta=0.05, gamma=0.5)) == 0.0


def test_log_mass_under_another_policy_matches_brute_force(rng, ref):
    base = ref.random_table(rng, 5, 6)
    pi = ref.random_table(rng, 5, 6)
    for gamma in (0.0, 0.3):
        got = np.asarray(theory.log_mass_on_argmax(pi, base, gamma))
        for x in range(5):
            want = ref.mass(pi[x], ref.argmax_set(base[x], gamma))
            np.testing.assert_allclose(got[x], want, rtol=1e-12, atol=1e-15)


def test_log_mass_near_one_is_exact():
    # pi(y*) = 1 - 1e-20 rounds to 1 in float64; its logarithm -1e-20 does not.
    tiny = 1e-20
    logp = np.array([[math.log1p(-tiny), math.log(tiny / 2), math.log(tiny / 2)]])
    got = float(theory.log_mass_on_argmax(logp)[0])
    np.testing.assert_allclose(got, -tiny, rtol=1e-12)
    np.testing.assert_allclose(float(theory.log_coverage(logp, np.ones(1))), tiny, rtol=1e-12)


def test_log_mass_is_minus_inf_when_pi_misses_the_set():
    base = np.log(np.array([[0.7, 0.3]]))
    pi = _log([[0.0, 1.0]])
    assert float(theory.log_mass_on_argmax(pi, base)[0]) == -np.inf


def _brute_coverage(logp, mu, gamma, p):
    masses = [math.exp(_brute_log_mass(row, gamma)) for row in logp]
    if p == np.inf:
        return max(1 / m for m, w in zip(masses, mu, strict=True) if w > 0)
    moment = math.fsum(w * m**-p for m, w in zip(masses, mu, strict=True) if w > 0)
    return moment ** (1 / p)


def _brute_log_mass(row, gamma):
    p = [math.exp(v) if v > -math.inf else 0.0 for v in row]
    top = max(p)
    return math.log(math.fsum(q for q in p if q > 0 and q >= (1 - gamma) * top))


@pytest.mark.parametrize("gamma", [0.0, 0.25])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.5, np.inf])
def test_coverage_matches_brute_force(rng, ref, gamma, p):
    for _ in range(4):
        logp = ref.random_table(rng, 6, 8)
        mu = ref.random_mu(rng, 6)
        got = float(theory.coverage(logp, mu, gamma, p))
        want = _brute_coverage(logp, mu, gamma, p)
        np.testing.assert_allclose(got, want, rtol=1e-10)
        np.testing.assert_allclose(
            float(theory.log_coverage(logp, mu, gamma, p)), math.log(want), rtol=1e-10, atol=1e-14
        )


def test_coverage_orderings(rng, ref):
    """C_cov,gamma <= C_cov <= adaptive coverage <= |Y|, and C_cov,p increases with p."""
    for _ in range(10):
        logp = ref.random_table(rng, 5, 6)
        mu = ref.random_mu(rng, 5)
        c = float(theory.coverage(logp, mu))
        assert float(theory.coverage(logp, mu, gamma=0.3)) <= c * (1 + 1e-12)
        assert c <= float(theory.adaptive_coverage(logp, mu)) * (1 + 1e-12)
        assert float(theory.adaptive_coverage(logp, mu)) <= 6 * (1 + 1e-12)
        moments = [float(theory.coverage(logp, mu, p=p)) for p in (1.0, 2.0, 4.0, np.inf)]
        assert all(a <= b * (1 + 1e-12) for a, b in zip(moments, moments[1:], strict=False))


def test_adaptive_coverage_matches_brute_force(rng, ref):
    for _ in range(5):
        logp = ref.random_table(rng, 6, 7)
        mu = ref.random_mu(rng, 6)
        want = math.fsum(w / math.exp(max(row)) for row, w in zip(logp, mu, strict=True) if w > 0)
        np.testing.assert_allclose(float(theory.adaptive_coverage(logp, mu)), want, rtol=1e-12)
        np.testing.assert_allclose(
            float(theory.log_adaptive_coverage(logp, mu)), math.log(want), rtol=1e-12
        )


def test_coverage_ignores_prompts_with_zero_weight():
    # a prompt with weight 0 and infinite 1/pi(y*) must not turn the average into NaN or inf
    log_mass = np.array([math.log(0.5), -np.inf])
    mu = np.array([1.0, 0.0])
    for p in (1.0, 2.0, np.inf):
        np.testing.assert_allclose(float(theory.coverage_from_log_mass(log_mass, mu, p)), 2.0)
    logp = np.array([[math.log(0.6), math.log(0.4)], [0.0, -np.inf]])
    np.testing.assert_allclose(float(theory.coverage(logp, np.array([0.0, 1.0]))), 1.0)
    np.testing.assert_allclose(float(theory.coverage(logp, np.array([1.0, 0.0]))), 1 / 0.6)


def test_large_moment_does_not_overflow():
    # pi(y*) = 1e-3 on half the prompts: the 300-th moment is 1e900/2 (overflows float64), its
    # 300-th root is finite.
    logp = np.full((2, 2000), math.log(0.999 / 1999))
    logp[0, 0] = math.log(1e-3)
    logp[1] = -np.inf
    logp[1, 0] = 0.0
    mu = np.array([0.5, 0.5])
    p = 300.0
    want_log = (math.log(0.5) + p * math.log(1000.0)) / p  # log(1 + 1e-900) dropped
    np.testing.assert_allclose(float(theory.log_coverage(logp, mu, p=p)), want_log, rtol=1e-12)
    np.testing.assert_allclose(
        float(theory.coverage(logp, mu, p=p)), math.exp(want_log), rtol=1e-12
    )


def _product_table(step_logp):
    """The joint law of H independent tokens, ``[V**H]`` log-probabilities."""
    out = np.zeros(1)
    for row in step_logp:
        out = (out[:, None] + row[None, :]).reshape(-1)
    return out


def test_markov_product_log_coverage(rng, ref):
    """A product (Markov-like) policy: the argmax set of the sequence is the product of per-step
    argmax sets, so log pi(y*) = sum_h log pi_h(y*_h). For small H this matches the enumerated
    table; for H = 3000 the coverage overflows float64 while its logarithm is finite."""
    num_prompts, vocab = 3, 3
    mu = ref.random_mu(rng, num_prompts, zeros=False)

    def steps(h):
        out = []
        for _ in range(num_prompts):
            tab = ref.random_table(rng, h, vocab, zeros=False, tiny=False)
            out.append(tab)
        return out

    small = steps(5)
    table = np.stack([_product_table(s) for s in small])
    per_step_mass = [sum(ref.mass(row, ref.argmax_set(row, 0.0)) for row in s) for s in small]
    got_table = float(theory.log_coverage(table, mu))
    got_mass = float(theory.log_coverage_from_log_mass(np.array(per_step_mass), mu))
    np.testing.assert_allclose(got_table, got_mass, rtol=1e-10)

    long = steps(3000)
    log_mass = np.array([sum(ref.mass(row, ref.argmax_set(row, 0.0)) for row in s) for s in long])
    assert log_mass.max() < -710  # 1/pi(y*) > 1e308 on every prompt
    log_cov = float(theory.log_coverage_from_log_mass(log_mass, mu))
    assert np.isfinite(log_cov)
    want = ref.logsumexp(np.log(mu) - log_mass)
    np.testing.assert_allclose(log_cov, want, rtol=1e-12)
    assert float(theory.coverage_from_log_mass(log_mass, mu)) == np.inf


def test_coverage_float32_tables():
    logp = jnp.log(jnp.array([[0.5, 0.3, 0.2], [0.25, 0.25, 0.5]], dtype=jnp.float32))
    mu = jnp.array([0.5, 0.5], dtype=jnp.float32)
    got = theory.coverage(logp, mu)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(float(got), 0.5 * 2 + 0.5 * 2, rtol=1e-6)
