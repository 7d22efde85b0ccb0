"""Sharpening error and the (eps, delta, gamma)-sharpened predicate (Def. 3.1, Def. F.1)."""

import math

import numpy as np
import pytest

import theory


def _brute_error(logp_hat, logp_base, mu, delta, gamma, ref):
    total = []
    for x in range(logp_base.shape[0]):
        mask = ref.argmax_set(logp_base[x], gamma)
        mass = math.fsum(math.exp(v) for v, m in zip(logp_hat[x], mask, strict=True) if m)
        if mass < 1 - delta:
            total.append(mu[x])
    return math.fsum(total)


@pytest.mark.parametrize("gamma", [0.0, 0.3])
@pytest.mark.parametrize("delta", [0.1, 0.5, 0.9])
def test_sharpening_error_matches_brute_force(rng, ref, gamma, delta):
    for _ in range(4):
        base = ref.random_table(rng, 6, 7)
        mu = ref.random_mu(rng, 6)
        for beta in (0.05, 0.3, 3.0):
            hat = np.asarray(theory.kl_tilt(base, beta))
            got = float(theory.sharpening_error(hat, base, mu, delta, gamma))
            want = _brute_error(hat, base, mu, delta, gamma, ref)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
            for eps in (0.05, 0.5):
                assert bool(theory.is_sharpened(hat, base, mu, eps, delta, gamma)) == (want <= eps)


def test_sharpening_error_of_base_and_of_argmax_policy(rng, ref):
    base = ref.random_table(rng, 6, 7)
    mu = ref.random_mu(rng, 6)
    mask = np.asarray(theory.argmax_set(base))
    with np.errstate(divide="ignore"):
        sharp = np.log(mask / mask.sum(axis=1, keepdims=True))
    assert float(theory.sharpening_error(sharp, base, mu, 1e-12)) == 0.0
    # pi_base fails on every prompt where its own argmax mass is below 1 - delta
    mass = np.exp(np.asarray(theory.log_mass_on_argmax(base)))
    np.testing.assert_allclose(
        float(theory.sharpening_error(base, base, mu, 0.5)), mu[mass < 0.5].sum(), rtol=1e-14
    )


def test_sharpening_error_with_tiny_delta():
    # pi_hat(y*) = 1 - 1e-20 is sharpened for delta = 1e-19 but not for delta = 1e-21; both
    # thresholds round to 1 in probability space.
    base = np.log(np.array([[0.6, 0.4]]))
    hat = np.array([[math.log1p(-1e-20), math.log(1e-20)]])
    mu = np.ones(1)
    assert float(theory.sharpening_error(hat, base, mu, 1e-19)) == 0.0
    assert float(theory.sharpening_error(hat, base, mu, 1e-21)) == 1.0


def test_sharpening_error_counts_ties_as_one_set():
    # y* = {0, 1} (a tie); pi_hat split between them is sharpened
    base = np.log(np.array([[0.4, 0.4, 0.2]]))
    hat = np.log(np.array([[0.5, 0.49, 0.01]]))
    assert float(theory.sharpening_error(hat, base, np.ones(1), 0.02)) == 0.0
    assert float(theory.sharpening_error(hat, base, np.ones(1), 0.005)) == 1.0


@pytest.mark.parametrize("delta, share", [(0.25, 0.75), (0.75, 0.25), (0.5, 0.5)])
def test_sharpening_error_exact_ties_of_count_mle_are_met(rng, delta, share):
    """A count MLE whose mass on y* is exactly 1 - delta is sharpened (Def. 3.1 is strict), for
    every visit count n, although log(k/n) summed in log space rounds to either side of the tie;
    one visit fewer on y* fails."""
    base = np.log(np.array([0.3, 0.3, 0.2, 0.1, 0.1]))  # y* = {0, 1}, a tie
    rows_tie, rows_below = [], []
    for n in range(4, 257, 4):
        k = round(share * n)  # visits to y*, split over its two members
        rest = rng.multinomial(n - k, np.ones(3) / 3)
        split = rng.integers(0, k + 1)
        counts = np.array([split, k - split, *rest])
        below = counts.copy()
        below[0 if split else 1] -= 1
        below[2] += 1
        with np.errstate(divide="ignore"):
            rows_tie.append(np.log(counts / n))
            rows_below.append(np.log(below / n))
    hat, hat_below = np.array(rows_tie), np.array(rows_below)
    base_t = np.broadcast_to(base, hat.shape)
    mu = np.ones(len(hat)) / len(hat)
    assert float(theory.sharpening_error(hat, base_t, mu, delta)) == 0.0
    assert float(theory.sharpening_error(hat_below, base_t, mu, delta)) == 1.0


@pytest.mark.parametrize("failing", range(1, 10))
def test_is_sharpened_counts_an_error_equal_to_eps(failing):
    # Uniform weight on 10 prompts, `failing` of them below 1 - delta: the error is failing/10
    # (0.30000000000000004 when summed for 3) and eps = failing/10 meets Def. 3.1.
    base = np.log(np.tile([[0.7, 0.3]], (10, 1)))
    hat = np.log(np.array([[0.5, 0.5]] * failing + [[0.99, 0.01]] * (10 - failing)))
    mu = np.full(10, 0.1)
    assert bool(theory.is_sharpened(hat, base, mu, eps=failing / 10, delta=0.1))
    assert not bool(theory.is_sharpened(hat, base, mu, eps=failing / 10 - 1e-9, delta=0.1))
    assert bool(theory.error_at_most(np.float64(0.30000000000000004), 0.3))
    assert not bool(theory.error_at_most(np.float64(0.3000001), 0.3))
