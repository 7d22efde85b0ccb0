"""KL-regularized sharpening: closed form (Eq. 3), Lemma 4.1, margin bound (Sec. 6 item 7)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import theory


@pytest.mark.parametrize("beta", [0.05, 0.5, 2.0])
def test_kl_tilt_default_reward_is_power_of_base(rng, ref, beta):
    logp = ref.random_table(rng, 6, 7)
    got = np.asarray(theory.kl_tilt(logp, beta))
    for x in range(6):
        p = np.exp(logp[x])
        w = p ** (1 + 1 / beta)  # masses near 1e-300 underflow here; compare where finite
        want = w / w.sum()
        np.testing.assert_allclose(np.exp(got[x]), want, rtol=1e-10, atol=1e-300)
        # -inf stays -inf, and in log space the tiny masses are exact
        np.testing.assert_array_equal(np.isneginf(got[x]), np.isneginf(logp[x]))
        finite = np.isfinite(logp[x])
        want_log = ref.log_normalize((1 + 1 / beta) * logp[x])
        np.testing.assert_allclose(got[x][finite], want_log[finite], rtol=1e-12)


@pytest.mark.parametrize(
    "dtype, beta", [(np.float64, 1e-308), (np.float64, 5e-324), (np.float32, 1e-39)]
)
def test_kl_tilt_at_a_subnormal_beta_is_the_limit_law(dtype, beta):
    # beta -> 0 tends to the uniform law on y* (Sec. 3.1); a subnormal beta (which XLA flushes to
    # zero) and rewards far from 0 must give it, not NaN.
    logp = np.log(np.array([0.3, 0.15, 0.3, 0.25], dtype=dtype))
    want = np.array([0.5, 0.0, 0.5, 0.0])
    got = np.exp(np.asarray(theory.kl_tilt(logp, dtype(beta))))
    np.testing.assert_allclose(got, want, atol=1e-6)
    reward = np.array([1000.0, 999.0, 1000.0, 0.0], dtype=dtype)
    got = np.exp(np.asarray(theory.kl_tilt(logp, dtype(beta), reward=reward)))
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_kl_tilt_custom_reward(rng, ref):
    logp = ref.random_table(rng, 6, 7)
    reward = rng.normal(size=(6, 7))
    reward[np.isneginf(logp)] = np.nan  # ignored where pi_base has no mass
    got = np.asarray(theory.kl_tilt(logp, 0.7, reward))
    logits = np.where(np.isneginf(logp), -np.inf, logp + np.nan_to_num(reward) / 0.7)
    want = logits - ref.logsumexp(logits)[:, None]
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-12)


def test_kl_tilt_tends_to_uniform_on_argmax_set(rng, ref):
    logp = ref.random_table(rng, 6, 7, tiny=False)
    mask = np.asarray(theory.argmax_set(logp))
    tilt = np.exp(np.asarray(theory.kl_tilt(logp, 1e-4)))
    want = mask / mask.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(tilt, want, atol=1e-6)


def _brute_objective(logp_pi, logp_base, mu, beta, reward):
    total = []
    for x in range(logp_pi.shape[0]):
        if mu[x] == 0:
            continue
        terms = []
        for y in range(logp_pi.shape[1]):
            if logp_pi[x, y] == -np.inf:
                continue  # 0 log 0 = 0
            if logp_base[x, y] == -np.inf:
                return -np.inf
            pi = math.exp(logp_pi[x, y])
            terms.append(pi * (reward[x, y] - beta * (logp_pi[x, y] - logp_base[x, y])))
        total.append(mu[x] * math.fsum(terms))
    return math.fsum(total)


def test_kl_regularized_objective_matches_brute_force(rng, ref):
    base = ref.random_table(rng, 6, 7)
    mu = ref.random_mu(rng, 6)
    for beta in (0.1, 1.0):
        for pi in (theory.kl_tilt(base, 0.3), ref.random_table(rng, 6, 7)):
            pi = np.asarray(pi)
            got = float(theory.kl_regularized_objective(pi, base, mu, beta))
            want = _brute_objective(pi, base, mu, beta, base)
            np.testing.assert_allclose(got, want, rtol=1e-10)


def test_objective_at_tilt_is_beta_log_partition(rng, ref):
    """J_beta(pi*_beta) = beta E_x[log Z_beta(x)] with Z = sum_y pi_base^(1 + 1/beta), and pi*_beta
    beats every other policy (Eq. 3)."""
    base = ref.random_table(rng, 6, 7)
    mu = ref.random_mu(rng, 6)
    beta = 0.4
    tilt = theory.kl_tilt(base, beta)
    log_z = ref.logsumexp((1 + 1 / beta) * base)
    want = math.fsum(mu * beta * log_z)
    got = float(theory.kl_regularized_objective(tilt, base, mu, beta))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    for _ in range(5):
        other = ref.random_table(rng, 6, 7)
        other = np.where(np.isneginf(base), -np.inf, other)
        other = other - ref.logsumexp(other)[:, None]
        assert float(theory.kl_regularized_objective(other, base, mu, beta)) < got


def test_objective_is_minus_inf_off_support():
    base = np.array([[0.0, -np.inf]])
    pi = np.log(np.array([[0.5, 0.5]]))
    assert float(theory.kl_regularized_objective(pi, base, np.ones(1), 1.0)) == -np.inf


_LBFGS = optax.lbfgs()


def _negative_objective(theta, base, reward, beta):
    logp_pi = jax.nn.log_softmax(theta)[None]
    return -jnp.sum(jnp.exp(logp_pi) * (reward - beta * (logp_pi - base)))


@jax.jit
def _maximize_on_simplex(base, reward, beta):
    """L-BFGS on unconstrained logits; one compilation serves every (beta, reward)."""

    def f(theta):
        return _negative_objective(theta, base, reward, beta)

    def step(carry, _):
        theta, state = carry
        value, grad = jax.value_and_grad(f)(theta)
        updates, state = _LBFGS.update(grad, state, theta, value=value, grad=grad, value_fn=f)
        return (optax.apply_updates(theta, updates), state), None

    theta = jnp.zeros(base.shape[-1])
    (theta, _), _ = jax.lax.scan(step, (theta, _LBFGS.init(theta)), None, length=100)
    return jax.nn.log_softmax(theta)[None]


@pytest.mark.parametrize(
    "beta, custom_reward", [(0.1, False), (0.3, False), (1.0, True), (0.05, True)]
)
def test_kl_tilt_matches_numerical_maximization(rng, beta, custom_reward):
    """Numerical maximization of J_beta over the simplex (L-BFGS on logits) recovers the closed
    form pi*_beta (Eq. 3, Sec. 6 item 7)."""
    base = jnp.asarray(np.log(rng.dirichlet(np.ones(5))))[None]
    reward = jnp.asarray(rng.normal(size=(1, 5))) if custom_reward else base
    mu = np.ones(1)
    found = np.asarray(_maximize_on_simplex(base, reward, beta))
    exact = np.asarray(theory.kl_tilt(base, beta, reward if custom_reward else None))
    np.testing.assert_allclose(np.exp(found), np.exp(exact), atol=1e-6)
    j_found = float(theory.kl_regularized_objective(found, base, mu, beta, reward))
    j_exact = float(theory.kl_regularized_objective(exact, base, mu, beta, reward))
    assert j_found <= j_exact + 1e-12
    np.testing.assert_allclose(j_found, j_exact, atol=1e-10)


@pytest.mark.parametrize("beta", [0.01, 0.2, 1.0, 5.0])
def test_lemma_4_1(rng, ref, beta):
    """C_{pi*_beta} <= C_cov and C_{pi_base/pi*_beta;beta} <= |Y| (Lemma 4.1)."""
    for _ in range(5):
        base = ref.random_table(rng, 6, 7)
        mu = ref.random_mu(rng, 6)
        tilt = theory.kl_tilt(base, beta)
        c_tilt = float(theory.concentrability(tilt, base, mu))
        assert c_tilt <= float(theory.coverage(base, mu)) * (1 + 1e-12)
        c_loss = float(theory.concentrability_ratio(base, tilt, mu, beta))
        assert c_loss <= 7 * (1 + 1e-12)


@pytest.mark.parametrize("beta", [0.02, 0.1, 0.5])
def test_tilt_mass_on_argmax_under_margin(rng, ref, beta):
    """pi*_beta(y*) >= 1 - (|Y| - 1)(1 + gamma_m)^-(1 + 1/beta) (Sec. 6 item 7), and with
    beta = gamma_m / (2 log(2|Y|/delta)) the mass is >= 1 - delta/2 (Thm. J.2 proof)."""
    num = 7
    for _ in range(5):
        base = ref.random_table(rng, 6, num, tiny=False)
        gamma_m = np.asarray(theory.margin(base))
        log_mass = np.asarray(theory.log_mass_on_argmax(theory.kl_tilt(base, beta), base))
        bound = 1 - (num - 1) * (1 + gamma_m) ** -(1 + 1 / beta)
        assert np.all(np.exp(log_mass) >= bound - 1e-12)
        delta = 0.1
        for x in range(6):
            if not np.isfinite(gamma_m[x]):
                continue
            beta_x = gamma_m[x] / (2 * math.log(2 * num / delta))
            tilt_x = theory.kl_tilt(base[x : x + 1], beta_x)
            mass = math.exp(float(theory.log_mass_on_argmax(tilt_x, base[x : x + 1])[0]))
            assert mass >= 1 - delta / 2


def test_margin_matches_definition(rng, ref):
    base = ref.random_table(rng, 6, 7)
    got = np.asarray(theory.margin(base))
    for x in range(6):
        mask = ref.argmax_set(base[x], 0.0)
        top = np.max(base[x])
        rest = base[x][~mask]
        if rest.size == 0 or np.all(np.isneginf(rest)):
            assert got[x] == np.inf
        else:
            want = math.exp(top) / math.exp(rest.max()) - 1
            np.testing.assert_allclose(got[x], want, rtol=1e-12)
    assert float(theory.margin(np.log(np.full((1, 3), 1 / 3)))[0]) == np.inf
    # gamma > 0: the runner-up is the best response outside y*_gamma
    got = np.asarray(theory.margin(base, 0.3))
    for x in range(6):
        outside = base[x][~ref.argmax_set(base[x], 0.3)]
        if outside.size == 0 or np.all(np.isneginf(outside)):
            assert got[x] == np.inf
        else:
            want = math.exp(np.max(base[x]) - outside.max()) - 1
            np.testing.assert_allclose(got[x], want, rtol=1e-12)


@pytest.mark.parametrize("beta", [0.05, 0.5, 2.0])
def test_reverse_kl_tilt_maximizes_the_reverse_kl_objective(rng, ref, beta):
    # E_pi[r] - beta KL(pi_base || pi) over softmax(theta): its gradient in theta,
    # pi (r - E_pi r) + beta (pi_base - pi), vanishes at the law, and gradient ascent from
    # pi_base (optax) ends there; pi*_beta (the forward KL's maximizer) is another point
    logp = ref.random_table(rng, 4, 6)
    reward = rng.normal(size=logp.shape)
    got = np.asarray(theory.reverse_kl_tilt(logp, beta, reward))
    p, base = np.exp(got), np.exp(logp)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-13)
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(logp))
    r = np.where(base > 0, reward, 0.0)

    def stationarity(q):
        return q * (r - (q * r).sum(-1, keepdims=True)) + beta * (base - q)

    assert np.abs(stationarity(p)).max() < 1e-12
    star = np.exp(np.asarray(theory.kl_tilt(logp, beta, reward)))
    assert np.abs(stationarity(star)).max() > 1e-3

    mask = jnp.where(base > 0, 0.0, -1e9)  # zero-mass responses stay (numerically) at zero

    def objective(theta):
        logq = jax.nn.log_softmax(theta + mask, axis=-1)
        return jnp.sum(jnp.exp(logq) * r) + beta * jnp.sum(base * logq)

    opt = optax.adam(optax.exponential_decay(0.05, 1000, 0.5))  # decayed: no Adam jitter

    def step(carry, _):
        theta, state = carry
        updates, state = opt.update(jax.grad(lambda t: -objective(t))(theta), state)
        return (optax.apply_updates(theta, updates), state), None

    theta = jnp.where(base > 0, logp, 0.0)
    (theta, _), _ = jax.lax.scan(step, (theta, opt.init(theta)), None, length=20000)
    ascent = np.asarray(jax.nn.softmax(theta + mask, axis=-1))
    np.testing.assert_allclose(ascent, p, atol=1e-6)


def test_reverse_kl_tilt_keeps_every_response_and_tends_to_pi_base():
    logp = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    sharp = np.exp(np.asarray(theory.reverse_kl_tilt(logp, 0.01)))
    # unlike pi*_beta -> 1{y*}, each response keeps mass of order beta pi_base / (max r - r)
    gaps = logp.max() - logp
    np.testing.assert_allclose(sharp[1:], 0.01 * np.exp(logp[1:]) / gaps[1:], rtol=0.05)
    flat = np.exp(np.asarray(theory.reverse_kl_tilt(logp, 1e6)))
    np.testing.assert_allclose(flat, np.exp(logp), rtol=1e-5)
    with pytest.raises(ValueError, match="beta"):
        theory.reverse_kl_tilt(logp, 0.0)
