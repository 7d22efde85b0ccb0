"""Exact best-of-n law (Assumption 4.1, Sec. 6 items 1-2) and miss probability (Prop. C.1)."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import theory


def _log(a):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(a, dtype=np.float64))


def _brute_bon(logp_row, n, reward_row):
    """Enumerates all Y^n sample tuples; the winner is a uniformly chosen index of max reward.

    Accumulates log-probabilities so that tuples of tiny masses (1e-300)^n stay exact."""
    num = len(logp_row)
    support = [y for y in range(num) if logp_row[y] > -math.inf]
    terms = [[] for _ in range(num)]
    for tup in itertools.product(support, repeat=n):
        log_prob = math.fsum(logp_row[y] for y in tup)
        best = max(reward_row[y] for y in tup)
        winners = [y for y in tup if reward_row[y] == best]
        for y in winners:
            terms[y].append(log_prob - math.log(len(winners)))
    out = np.full(num, -np.inf)
    for y in range(num):
        if terms[y]:
            m = max(terms[y])
            out[y] = m + math.log(math.fsum(math.exp(t - m) for t in terms[y]))
    return out


def _assert_log_close(got, want, atol=1e-10):
    got = np.asarray(got)
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=atol)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_bon_law_matches_enumeration_with_likelihood_ties(n):
    # ties in likelihood (0.25, 0.25), a zero mass, and a mass of 1e-300 (log-prob ~ -690.8)
    p = np.array([0.25, 0.25, 0.3, 0.0, 1e-300])
    p[2] = 1 - 0.5 - 1e-300
    logp = _log(p)
    got = theory.bon_law(logp, n)
    _assert_log_close(got, _brute_bon(logp, n, logp))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_bon_law_matches_enumeration_with_reward_ties(n):
    # a custom reward with ties between responses of different probability: within a tied
    # group the winner is split in proportion to pi_base
    logp = _log([0.1, 0.35, 0.05, 0.3, 0.2, 0.0])
    reward = np.array([1.0, 1.0, 2.0, 0.5, 2.0, 7.0])
    got = theory.bon_law(logp, n, reward)
    _assert_log_close(got, _brute_bon(logp, n, reward))


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize(
    "tiny", [1e-300, 1e-250], ids=["log-space prefix sums", "linear prefix sums"]
)
def test_bon_law_matches_enumeration_tiny_masses_in_the_middle(n, tiny):
    # a reward that puts masses `tiny`, 1e-20 and 1e-15 between ordinary ones: their winning
    # probabilities are L^n ((1 + Q/L)^n - 1) with Q/L far below float64's epsilon. 1e-300 is
    # below the floor of the linear prefix sums (1e-276 in float64) and takes the log-space
    # branch; with 1e-250 every positive mass is above it: the fast branch, still exact
    p = np.array([0.3, tiny, 0.2, 1e-20, 0.25, 1e-15, 0.0])
    p[0] = 1 - p[1:].sum()
    logp = _log(p)
    reward = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    got = theory.bon_law(logp, n, reward)
    _assert_log_close(got, _brute_bon(logp, n, reward))


def test_bon_law_linear_and_log_space_prefix_sums_agree(rng):
    """The two branches of the group prefix sums give the same law on tables whose masses span
    1 down to 1e-270, with reward ties, for n from 1 to 10^6."""
    from theory._bon import _bon_law_row

    logp = rng.uniform(-600.0, 0.0, size=(6, 40))
    logp[:, ::7] = logp[:, 3:4]  # likelihood ties
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    assert logp.min() > -610.0  # inside the linear branch's range (above -636 in float64)
    reward = np.round(logp / 50.0)  # coarse reward: large tie groups of unequal masses
    for key in (logp, reward):
        for n in (1, 3, 100, 10**6):
            branch = jax.vmap(_bon_law_row, in_axes=(0, 0, None, None, None))
            args = (jnp.asarray(logp), jnp.asarray(key), float(n), math.log(n))
            fast = np.asarray(branch(*args, True))
            exact = np.asarray(branch(*args, False))
            # log-probabilities reach -1e8 at n = 10^6: relative agreement there
            np.testing.assert_array_equal(np.isneginf(fast), np.isneginf(exact))
            finite = np.isfinite(exact)
            np.testing.assert_allclose(fast[finite], exact[finite], rtol=1e-13, atol=1e-11)


def test_bon_law_masses_far_below_float_range():
    """Masses of exp(-1000) and exp(-5000) underflow in linear space: the log-space branch
    carries them, and the lowest group's law is exactly pi(y)^n."""
    logp = np.array([-5000.0, -1000.0, -999.0, 0.0])
    got = np.asarray(theory.bon_law(logp, 3))
    _assert_log_close(got, _brute_bon(logp, 3, logp))
    np.testing.assert_allclose(got[0], 3 * -5000.0, rtol=1e-15)
    # P[max is y=1] = (pi_0 + pi_1)^3 - pi_0^3, dominated by pi_1^3: log = 3 * -1000 (+ 1e-1737)
    np.testing.assert_allclose(got[1], 3 * -1000.0, rtol=1e-15)


def test_bon_law_matches_enumeration_on_random_tables(rng, ref):
    logp = ref.random_table(rng, 4, 5)
    got = np.asarray(theory.bon_law(logp, 3))
    for x in range(4):
        _assert_log_close(got[x], _brute_bon(logp[x], 3, logp[x]))


def test_bon_law_near_minus_700():
    # every mass below 1e-300 except one; the bottom group's law is exactly pi(y)^n
    logp = np.array([-700.0, -701.0, -702.0, 0.0])
    logp[3] = math.log1p(-float(np.exp(logp[:3]).sum()))
    got = np.asarray(theory.bon_law(logp, 3))
    want = _brute_bon(logp, 3, logp)
    _assert_log_close(got, want)
    np.testing.assert_allclose(got[2], 3 * -702.0, rtol=1e-15)


def test_bon_law_rows_are_normalized(rng, ref):
    logp = ref.random_table(rng, 8, 9)
    for n in (1, 2, 7, 100, 10**6):
        got = np.asarray(theory.bon_law(logp, n))
        np.testing.assert_allclose(ref.logsumexp(got), 0.0, atol=1e-13)


def test_bon_hit_probability_is_one_minus_miss(rng, ref):
    """P[BoN in y*] = 1 - (1 - pi(y*))^n (Prop. C.1, Sec. 6 item 1), including large n."""
    logp = ref.random_table(rng, 8, 9)
    mask = np.asarray(theory.argmax_set(logp))
    for n in (1, 3, 50, 10**5):
        law = np.asarray(theory.bon_law(logp, n))
        for x in range(8):
            p_star = math.fsum(math.exp(v) for v, m in zip(logp[x], mask[x], strict=True) if m)
            out = math.fsum(math.exp(v) for v, m in zip(logp[x], mask[x], strict=True) if not m)
            hit = math.fsum(math.exp(v) for v, m in zip(law[x], mask[x], strict=True) if m)
            np.testing.assert_allclose(hit, -math.expm1(n * math.log1p(-p_star)), rtol=1e-12)
            # the miss probability itself, in log space, from both functions
            if out > 0:
                law_miss = ref.logsumexp(np.where(mask[x], -np.inf, law[x]))
                want = n * math.log(out)
                np.testing.assert_allclose(law_miss, want, rtol=1e-10)
                got = float(theory.log_bon_miss_probability(logp[x], n))
                np.testing.assert_allclose(got, want, rtol=1e-12)


def test_bon_miss_probability_exact_values():
    logp = np.log(np.array([0.6, 0.3, 0.1]))
    for n in (1, 10, 10**3):
        np.testing.assert_allclose(float(theory.bon_miss_probability(logp, n)), 0.4**n, rtol=1e-12)
    # the gamma-approximate set {0.6, 0.3} for gamma = 0.6 is missed with probability 0.1^n
    np.testing.assert_allclose(
        float(theory.log_bon_miss_probability(logp, 500, 0.6)), 500 * math.log(0.1), rtol=1e-14
    )
    # complement mass 1e-300: (1e-300)^7 underflows, its logarithm does not, and pi(y*) = 1 -
    # 1e-300 rounds to one, so the complement must be summed directly
    logp = np.array([0.0, math.log(1e-300)])
    np.testing.assert_allclose(
        float(theory.log_bon_miss_probability(logp, 7)), 7 * math.log(1e-300), rtol=1e-14
    )
    # p* = 1e-6 and n = 10^6: (1 - 1e-6)^(10^6), not exp(-1)
    logp = np.full(1_000_001, math.log((1 - 1e-6) / 1_000_000))
    logp[0] = math.log(1e-6)
    want = 1e6 * math.log1p(-1e-6)
    np.testing.assert_allclose(
        float(theory.log_bon_miss_probability(logp, 10**6)), want, rtol=1e-10
    )


def test_bon_law_tiny_top_group_among_large_n():
    # y* has mass 1e-300 above everything else: P[BoN = y*] = 1 - (1 - 1e-300)^n = n * 1e-300
    # (to relative precision 1e-290), which must come out exactly in log space.
    logp = np.array([math.log(0.5), math.log(0.5), -690.0])
    reward = np.array([0.0, 0.0, 1.0])
    got = np.asarray(theory.bon_law(logp, 1000, reward))
    np.testing.assert_allclose(got[2], math.log(1000.0) - 690.0, rtol=1e-14)
    np.testing.assert_allclose(got[0], math.log(0.5), rtol=1e-13)


def test_bon_law_monte_carlo(rng):
    """Simulated best-of-n with uniform tie-breaking over sample indices, within 5 standard
    errors of the exact law (likelihood ties and cross-probability reward ties)."""
    p = np.array([0.3, 0.15, 0.15, 0.25, 0.15])
    logp = np.log(p)
    reward = np.array([0.0, 1.0, 3.0, 3.0, 1.0])
    trials, n = 200_000, 3
    for r in (None, reward):
        rr = logp if r is None else r
        exact = np.exp(np.asarray(theory.bon_law(logp, n, r)))
        idx = rng.choice(len(p), size=(trials, n), p=p)
        vals = rr[idx]
        best = vals.max(axis=1, keepdims=True)
        # uniform choice among maximizing indices: random keys on the maximizers only
        keys = np.where(vals == best, rng.random((trials, n)), -1.0)
        winner = idx[np.arange(trials), keys.argmax(axis=1)]
        freq = np.bincount(winner, minlength=len(p)) / trials
        se = np.sqrt(exact * (1 - exact) / trials)
        assert np.all(np.abs(freq - exact) <= 5 * se), (freq, exact, se)


def test_bon_expected_log_likelihood_is_monotone_in_n(rng, ref):
    """E[log pi_base(BoN_n)] increases with n (Sec. 6 item 2, Fig. 4 analogue)."""
    logp = ref.random_table(rng, 4, 6, zeros=False)
    values = []
    for n in range(1, 40):
        law = np.exp(np.asarray(theory.bon_law(logp, n)))
        values.append((law * logp).sum(axis=1))
    values = np.array(values)
    assert np.all(np.diff(values, axis=0) >= -1e-12)
    # and it tends to the log of the maximum
    np.testing.assert_array_less(values[-1], logp.max(axis=1) + 1e-12)


def test_bon_law_one_sample_is_base(rng, ref):
    logp = ref.random_table(rng, 5, 6)
    got = np.asarray(theory.bon_law(logp, 1))
    _assert_log_close(got, logp, atol=1e-13)


def test_bon_law_traced_n_matches_static(rng, ref):
    logp = jnp.asarray(ref.random_table(rng, 3, 6))
    ns = jnp.arange(1, 6)
    stacked = jax.vmap(theory.bon_law, in_axes=(None, 0))(logp, ns)
    for i, n in enumerate(range(1, 6)):
        np.testing.assert_allclose(stacked[i], theory.bon_law(logp, n), rtol=1e-13)


@pytest.mark.parametrize("ties", ["none", "likelihood", "reward"])
def test_bon_law_host_and_device_sorts_agree_bit_for_bit(monkeypatch, ties):
    """Large CPU tables are sorted by numpy in a host callback, small ones by XLA: the two
    paths give the same stable order, hence the same law, bit for bit."""
    import theory._bon as bon

    rng = np.random.default_rng(11)
    X, Y = 6, 40
    p = rng.dirichlet(np.full(Y, 0.5), size=X)
    if ties == "likelihood":
        p[:, :10] = p[:, :1]  # ten responses share the first one's mass
        p /= p.sum(axis=1, keepdims=True)
    logp = jnp.asarray(np.log(p))
    reward = jnp.asarray(rng.integers(0, 4, (X, Y)).astype(float)) if ties == "reward" else None
    laws = {}
    for path, threshold in (("device", 1 << 30), ("host", 0)):
        monkeypatch.setattr(bon, "_HOST_SORT_MIN_ENTRIES", threshold)
        jax.clear_caches()  # the threshold is read when the program is traced
        laws[path] = np.asarray(theory.bon_law(logp, 7, reward))
    jax.clear_caches()
    np.testing.assert_array_equal(laws["host"], laws["device"])
    np.testing.assert_allclose(np.exp(laws["host"]).sum(axis=1), 1.0, atol=1e-12)  # log-law
