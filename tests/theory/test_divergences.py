"""KL, squared Hellinger, concentrability (Eq. 9) and entropy against brute force."""

import decimal
import math

import numpy as np
import pytest

import theory


def _p(v):
    return math.exp(v) if v > -math.inf else 0.0


def _brute(logp_a, logp_b, mu, term):
    out = []
    for x in range(logp_a.shape[0]):
        if mu[x] == 0:
            continue
        vals = [term(_p(a), _p(b), a, b) for a, b in zip(logp_a[x], logp_b[x], strict=True)]
        if any(v == math.inf for v in vals):
            return math.inf
        out.append(mu[x] * math.fsum(vals))
    return math.fsum(out)


def _kl_term(p, q, lp, lq):
    if p == 0:
        return 0.0
    if q == 0:
        return math.inf
    return p * (lp - lq)


def _hel_term(p, q, lp, lq):
    return (math.sqrt(p) - math.sqrt(q)) ** 2


def _conc_term(beta):
    def term(p, q, lp, lq):
        if p == 0:
            return 0.0
        if q == 0:
            return math.inf
        return p * math.exp(beta * (lp - lq))

    return term


def _pair(rng, ref, same_support):
    a = ref.random_table(rng, 6, 7)
    b = ref.random_table(rng, 6, 7, zeros=not same_support)
    if same_support:
        b = np.where(np.isneginf(a), -np.inf, b)
        b = b - ref.logsumexp(b)[:, None]
    return a, b


@pytest.mark.parametrize("same_support", [True, False])
def test_divergences_match_brute_force(rng, ref, same_support):
    for _ in range(4):
        a, b = _pair(rng, ref, same_support)
        mu = ref.random_mu(rng, 6)
        checks = [
            (theory.kl(a, b, mu), _brute(a, b, mu, _kl_term)),
            (theory.hellinger_sq(a, b, mu), _brute(a, b, mu, _hel_term)),
            (theory.concentrability(a, b, mu), _brute(a, b, mu, _conc_term(1.0))),
            (theory.concentrability_ratio(a, b, mu, 0.3), _brute(a, b, mu, _conc_term(0.3))),
        ]
        for got, want in checks:
            if want == math.inf:
                assert float(got) == np.inf
            else:
                np.testing.assert_allclose(float(got), want, rtol=1e-10)


def test_concentrability_is_one_plus_chi_square(rng, ref):
    a, b = _pair(rng, ref, same_support=True)
    mu = ref.random_mu(rng, 6)
    pa, pb = np.exp(a), np.exp(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi2 = np.where(pb > 0, (pa - pb) ** 2 / pb, 0.0).sum(axis=1)
    np.testing.assert_allclose(float(theory.concentrability(a, b, mu)), 1 + mu @ chi2, rtol=1e-10)


def test_divergences_of_identical_policies(rng, ref):
    a = ref.random_table(rng, 6, 7)
    mu = ref.random_mu(rng, 6)
    assert float(theory.kl(a, a, mu)) == 0.0
    assert float(theory.hellinger_sq(a, a, mu)) == 0.0
    np.testing.assert_allclose(float(theory.concentrability(a, a, mu)), 1.0, rtol=1e-14)


def test_hellinger_of_nearly_equal_tiny_masses():
    # p and q differ by 1e-6: D_H^2 ~ 1e-12 must not be lost to cancellation (2 - 2 sum sqrt(pq)
    # would keep only ~4 digits).
    eps = 1e-6
    a = np.log(np.array([[0.5, 0.5]]))
    b = np.log(np.array([[0.5 + eps, 0.5 - eps]]))
    want = (math.sqrt(0.5) - math.sqrt(0.5 + eps)) ** 2 + (
        math.sqrt(0.5) - math.sqrt(0.5 - eps)
    ) ** 2
    np.testing.assert_allclose(float(theory.hellinger_sq(a, b, np.ones(1))), want, rtol=1e-8)
    # the exact value: sum_y q (sqrt(p/q) - 1)^2 computed by expm1
    exact = 0.5 * math.expm1(-0.5 * math.log1p(2 * eps)) ** 2 * (1 + 2 * eps)
    exact += 0.5 * math.expm1(-0.5 * math.log1p(-2 * eps)) ** 2 * (1 - 2 * eps)
    np.testing.assert_allclose(float(theory.hellinger_sq(a, b, np.ones(1))), exact, rtol=1e-12)


def _decimal_kl_of_renormalized(logp_a, logp_b):
    """KL between the two rows renormalized exactly, in 60-digit decimal arithmetic."""
    with decimal.localcontext(decimal.Context(prec=60)):
        pa = [decimal.Decimal(float(v)).exp() for v in logp_a]
        pb = [decimal.Decimal(float(v)).exp() for v in logp_b]
        za, zb = sum(pa), sum(pb)
        return float(
            sum((a / za) * ((a / za) / (b / zb)).ln() for a, b in zip(pa, pb, strict=True))
        )


def test_kl_of_nearly_equal_policies_keeps_its_relative_precision(rng):
    # Rows normalized in float64 are off by ~1e-16; summed as p log(p/q) that error stays in a
    # KL of order h^2 (negative in a quarter of such pairs). The terms p log(p/q) - p + q are
    # >= 0 and differ from the KL of the exactly renormalized rows at order 1e-16 h, so the
    # relative error is below 1e-6 for h >= 1e-10.
    for h in np.geomspace(1e-10, 1e-4, 25):
        logits = rng.normal(size=6)
        a = logits - np.logaddexp.reduce(logits)
        moved = logits + h * rng.normal(size=6)
        b = moved - np.logaddexp.reduce(moved)
        got = float(theory.kl(a[None], b[None], np.ones(1)))
        want = _decimal_kl_of_renormalized(a, b)
        assert got >= 0.0
        assert got == pytest.approx(want, rel=1e-6)


def test_kl_is_never_negative(rng):
    for _ in range(50):
        logits = rng.normal(size=(4, 5))
        a = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
        moved = logits + 1e-13 * rng.normal(size=(4, 5))
        b = moved - np.logaddexp.reduce(moved, axis=-1, keepdims=True)
        assert float(theory.kl(a, b, np.full(4, 0.25))) >= 0.0


def test_entropy_matches_brute_force(rng, ref):
    a = ref.random_table(rng, 6, 7)
    got = np.asarray(theory.entropy(a))
    for x in range(6):
        want = -math.fsum(_p(v) * v for v in a[x] if v > -math.inf)
        np.testing.assert_allclose(got[x], want, rtol=1e-12)
    np.testing.assert_allclose(float(theory.entropy(np.log(np.full(4, 0.25)))), math.log(4))
