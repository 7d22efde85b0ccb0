"""Model classes: exact fits against brute force, realizability, the squared loss's target."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim
import theory
from theory.checks import is_concrete


def _table(key, X, Y, scale=1.5):
    return jax.nn.log_softmax(jax.random.normal(key, (X, Y)) * scale, axis=-1)


def _data(key, X, Y, n):
    kx, ky, kw = jax.random.split(key, 3)
    x = jax.random.randint(kx, (n,), 0, X)
    y = jax.random.randint(ky, (n,), 0, Y)
    w = (jax.random.uniform(kw, (n,)) < 0.7).astype(float)
    return x, y, w


def test_tabular_mle_is_normalized_counts():
    X, Y = 4, 5
    x, y, w = _data(jax.random.key(0), X, Y, 40)
    x = jnp.where(x == 3, 0, x)  # prompt 3 never seen
    for smoothing in (0.0, 0.5):
        got = np.exp(np.asarray(sim.mle(sim.TabularClass(X, Y, smoothing), x, y, w).logp))
        counts = np.full((X, Y), smoothing)
        for xi, yi, wi in zip(np.asarray(x), np.asarray(y), np.asarray(w), strict=True):
            counts[xi, yi] += wi
        total = counts.sum(axis=1, keepdims=True)
        want = np.divide(counts, total, out=np.full((X, Y), 1 / Y), where=total > 0)
        # (an unseen prompt gets the uniform law, one of its maximizers)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("per_prompt", [False, True])
def test_finite_mle_and_pair_fits_brute_force(per_prompt):
    K, X, Y = 5, 3, 4
    keys = jax.random.split(jax.random.key(1), K)
    stack = jnp.stack([_table(k, X, Y) for k in keys])
    cls = sim.FiniteClass(stack, per_prompt=per_prompt)
    assert sim.log_class_size(cls) == pytest.approx((X if per_prompt else 1) * np.log(K))
    x, y, w = _data(jax.random.key(2), X, Y, 30)
    y2 = jax.random.randint(jax.random.key(3), (30,), 0, Y)
    lb = np.asarray(_table(jax.random.key(4), X, Y))
    xn, yn, y2n, wn, st = (np.asarray(a) for a in (x, y, y2, w, stack))
    beta, alpha = 0.3, 0.2

    def members():
        if per_prompt:
            return [
                np.stack([st[k[i], i] for i in range(X)])
                for k in itertools.product(range(K), repeat=X)
            ]
        return list(st)

    def nll(t):
        return -sum(wi * t[xi, yi] for xi, yi, wi in zip(xn, yn, wn, strict=True))

    def xpo(t, a):
        total = 0.0
        for xi, yi, y2i, wi in zip(xn, yn, y2n, wn, strict=True):
            r = beta * (t[xi, yi] - lb[xi, yi]) - beta * (t[xi, y2i] - lb[xi, y2i])
            r -= lb[xi, yi] - lb[xi, y2i]
            total += wi * (r**2 + a * t[xi, y2i])
        return total

    cands = members()
    got = np.asarray(sim.mle(cls, x, y, w).logp)
    np.testing.assert_array_equal(got, cands[int(np.argmin([nll(t) for t in cands]))])
    data = sim.make_pair_data(x, y, y2, lb[xn, yn], lb[xn, y2n], weights=w)
    got = np.asarray(sim.fit_squared_loss(cls, data, beta).logp)
    np.testing.assert_array_equal(got, cands[int(np.argmin([xpo(t, 0.0) for t in cands]))])
    params = sim._classes.pair_fit_params(cls, data, beta, alpha)
    got = np.asarray(sim._classes.class_table(cls, params))
    np.testing.assert_array_equal(got, cands[int(np.argmin([xpo(t, alpha) for t in cands]))])
    # The public loss functions agree with the brute-force sums.
    t = cands[0]
    val = sim.xpo_objective(t[xn, yn], t[xn, y2n], lb[xn, yn], lb[xn, y2n], beta, alpha, weights=wn)
    np.testing.assert_allclose(val, xpo(t, alpha), rtol=1e-12)
    np.testing.assert_allclose(sim.negative_log_likelihood(t[xn, yn], wn), nll(t), rtol=1e-12)


def test_markov_mle_is_transition_counts():
    X, V, H = 2, 3, 4
    y = jax.random.randint(jax.random.key(5), (25, H), 0, V)
    x = jax.random.randint(jax.random.key(6), (25,), 0, X)
    pol = sim.mle(sim.MarkovClass(X, V, H, smoothing=1.0), x, y)
    init = np.ones((X, V))
    trans = np.ones((X, V, V))
    for xi, yi in zip(np.asarray(x), np.asarray(y), strict=True):
        init[xi, yi[0]] += 1
        for a, b in itertools.pairwise(yi):
            trans[xi, a, b] += 1
    np.testing.assert_allclose(
        np.exp(pol.init_logp), init / init.sum(-1, keepdims=True), rtol=1e-12
    )
    np.testing.assert_allclose(
        np.exp(pol.trans_logp), trans / trans.sum(-1, keepdims=True), rtol=1e-12
    )
    assert isinstance(pol, sim.MarkovPolicy) and pol.H == H


def test_tabular_squared_loss_is_tilt_on_observed_support():
    """Zero-residual closed form: pi_hat is pi*_beta restricted to the observed responses."""
    X, Y, beta = 3, 6, 0.25
    lb = _table(jax.random.key(7), X, Y)
    x, y, _ = _data(jax.random.key(8), X, Y, 12)
    y2 = jax.random.randint(jax.random.key(9), (12,), 0, Y)
    data = sim.make_pair_data(x, y, y2, lb[x, y], lb[x, y2])
    got = np.asarray(sim.fit_squared_loss(sim.TabularClass(X, Y), data, beta).logp)
    tilt = np.asarray(theory.kl_tilt(lb, beta))
    seen = np.zeros((X, Y), bool)
    seen[np.asarray(x), np.asarray(y)] = True
    seen[np.asarray(x), np.asarray(y2)] = True
    for i in range(X):
        if seen[i].any():
            want = np.where(seen[i], tilt[i], -np.inf)
            want = want - np.logaddexp.reduce(want[seen[i]])
            np.testing.assert_allclose(got[i][seen[i]], want[seen[i]], rtol=1e-10)
            assert np.all(np.isneginf(got[i][~seen[i]]))
        else:
            np.testing.assert_allclose(got[i], -np.log(Y))
    # The zero-residual solution indeed has zero loss.
    res = sim.squared_loss(got[x, y], got[x, y2], lb[x, y], lb[x, y2], beta)
    assert float(res) < 1e-20


def test_tabular_squared_loss_converges_to_tilt():
    """Eq. 8 on the realizable tabular class: E_x H^2(pi_hat, pi*_beta) decreases with n."""
    X, Y, beta = 5, 30, 0.5
    pol = sim.TabularPolicy(_table(jax.random.key(10), X, Y, scale=1.0))
    oracle = sim.make_oracle(pol)
    tilt = theory.kl_tilt(pol.logp, beta)
    ns = np.array([8, 16, 32, 64, 128, 256, 512])
    err = []
    for n in ns:
        vals = [
            theory.hellinger_sq(
                sim.dpo_sharpening(
                    jax.random.key(s), oracle, sim.TabularClass(X, Y), 512, beta, n_used=int(n)
                ).policy.logp,
                tilt,
                oracle.mu,
            )
            for s in range(4)
        ]
        err.append(np.mean(vals))
    err = np.asarray(err)
    slope = np.polyfit(np.log(ns), np.log(err), 1)[0]
    print(
        f"E_x H^2(pi_hat, pi*_beta) vs n={ns.tolist()}: {np.round(err, 5).tolist()}, "
        f"slope {slope:.2f}"
    )
    assert slope < -0.5, (slope, err)
    assert err[-1] < 1e-2 * err[0], err


def test_linear_squared_loss_exact_least_squares():
    """Eq. 8 on Pi_{phi,B}: exact ball-constrained least squares (interior and boundary cases)."""
    X, Y, d, beta = 2, 9, 3, 0.5
    feats = jax.random.normal(jax.random.key(11), (X, Y, d)) / np.sqrt(d)
    theta_star = jnp.array([0.8, -0.5, 0.3])
    base = sim.linear_softmax_logp(feats, theta_star)
    x, y, _ = _data(jax.random.key(12), X, Y, 20)
    y2 = jax.random.randint(jax.random.key(13), (20,), 0, Y)
    data = sim.make_pair_data(x, y, y2, base[x, y], base[x, y2])
    target = (1 + 1 / beta) * theta_star  # pi*_beta = pi_{(1+1/beta) theta*}
    big = sim.LinearSoftmaxClass(feats, 10.0)
    fit = sim.fit_squared_loss(big, data, beta)
    np.testing.assert_allclose(fit.theta, target, rtol=1e-8)
    assert sim.contains(big, theory.kl_tilt(base, beta))
    # Boundary case: KKT (gradient anti-parallel to theta, norm = B) and no better feasible point.
    small = sim.LinearSoftmaxClass(feats, 1.0)
    assert not sim.contains(small, theory.kl_tilt(base, beta))
    theta = np.asarray(sim.fit_squared_loss(small, data, beta).theta)
    assert np.linalg.norm(theta) == pytest.approx(1.0, rel=1e-9)
    A, b = sim._classes._linear_design(small, data, beta)
    A, b = np.asarray(A), np.asarray(b)
    grad = 2 * A.T @ (A @ theta - b)
    cos = grad @ theta / (np.linalg.norm(grad) * np.linalg.norm(theta))
    assert cos == pytest.approx(-1.0, abs=1e-8)
    rng = np.random.default_rng(0)
    for _ in range(200):
        z = rng.normal(size=d)
        z *= rng.uniform() ** (1 / d) / np.linalg.norm(z)
        assert np.sum((A @ z - b) ** 2) >= np.sum((A @ theta - b) ** 2) - 1e-12


def test_linear_mle_projected_gradient():
    """MLE over Pi_{phi,B} (convex): the fit beats the truth and is stationary."""
    X, Y, d = 1, 12, 3
    feats = jax.random.normal(jax.random.key(14), (X, Y, d)) / np.sqrt(d)
    theta_star = jnp.array([1.0, -0.5, 0.2])
    pol = sim.LinearSoftmaxPolicy.create(feats, theta_star)
    r, _ = sim.draw(jax.random.key(15), sim.make_oracle(pol), 400, 1)
    y = r.tokens[:, 0, 0]
    cls = sim.LinearSoftmaxClass(feats, 10.0, steps=600, learning_rate=0.1)
    fit = sim.mle(cls, r.prompts, y)

    def nll(theta):
        return -jnp.mean(sim.linear_softmax_logp(feats, theta)[r.prompts, y])

    assert float(nll(fit.theta)) <= float(nll(theta_star))
    assert float(jnp.linalg.norm(jax.grad(nll)(fit.theta))) < 1e-5


def test_finite_realizability():
    lb = _table(jax.random.key(16), 3, 4)
    tilt = theory.kl_tilt(lb, 0.2)
    cls = sim.FiniteClass(jnp.stack([lb, tilt]))
    assert sim.contains(cls, tilt) and not sim.contains(cls, theory.kl_tilt(lb, 0.3))
    mixed = jnp.stack([lb.at[0].set(tilt[0]), tilt.at[0].set(lb[0])])
    assert not sim.contains(sim.FiniteClass(mixed), tilt)
    assert sim.contains(sim.FiniteClass(mixed, per_prompt=True), tilt)
    assert sim.contains(sim.TabularClass(3, 4), tilt)


def test_bad_inputs():
    cls = sim.TabularClass(3, 4)
    x = jnp.array([0, 1])
    y = jnp.array([1, 2])
    data = sim.make_pair_data(x, y, y, jnp.array([-1.0, -2.0]), jnp.array([-1.0, -2.0]))
    with pytest.raises(ValueError, match="beta"):
        sim.fit_squared_loss(cls, data, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        sim._classes.pair_fit_params(cls, data, 0.5, 0.1)
    with pytest.raises(ValueError, match="weights"):
        sim.mle(cls, x, y, jnp.array([1.0, -1.0]))
    with pytest.raises(TypeError, match="model_class"):
        sim.mle("tabular", x, y)
    with pytest.raises(TypeError, match="PairData"):
        sim.fit_squared_loss(cls, (x, y), 0.5)
    with pytest.raises(TypeError, match="squared-loss"):
        sim._classes.pair_fit_params(sim.MarkovClass(3, 2, 2), data, 0.5)


# ----------------------------------------------------------------------------------------------
# A fifth class written outside the library, through the ModelClass protocol alone


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SupportClass(sim.ColumnIndexedClass):
    """Every pi(.|x) supported on a fixed set ``support[x]`` of responses (a user's class)."""

    support: jax.Array  # [X, Y] bool

    @property
    def num_prompts(self):
        return self.support.shape[0]

    @property
    def num_responses(self):
        return self.support.shape[1]

    def _uniform(self, dtype):
        k = jnp.sum(self.support, axis=-1, keepdims=True)
        return jnp.where(self.support, -jnp.log(k.astype(dtype)), -jnp.inf)

    def _normalize(self, logits, dtype):
        logits = jnp.where(self.support, logits, -jnp.inf)
        seen = jnp.any(logits > -jnp.inf, axis=-1, keepdims=True)
        safe = jnp.where(seen, logits, 0.0)
        logp = safe - jax.nn.logsumexp(safe, axis=-1, keepdims=True)
        return jnp.where(seen, jnp.where(self.support, logp, -jnp.inf), self._uniform(dtype))

    def mle_params(self, x, y, weights=None):
        w = jnp.ones(x.shape) if weights is None else weights
        counts = jnp.zeros(self.support.shape, w.dtype).at[x, y].add(w)
        with np.errstate(divide="ignore"):
            return self._normalize(jnp.log(counts), w.dtype)

    def pair_fit_params(self, data, beta, alpha=0.0, init=None):
        # As TabularClass: log pi = log pi_base + r / beta + c(x) on the observed responses.
        pot = jnp.full(self.support.shape, -jnp.inf, data.logp_base_y.dtype)
        on = data.weights > 0
        pot = pot.at[data.x, data.y].max(
            jnp.where(on, data.logp_base_y + data.reward_y / beta, -jnp.inf)
        )
        pot = pot.at[data.x, data.y2].max(
            jnp.where(on, data.logp_base_y2 + data.reward_y2 / beta, -jnp.inf)
        )
        return self._normalize(pot, pot.dtype)

    def check_xpo(self, alpha):
        if not (is_concrete(alpha) and float(np.max(alpha)) == 0.0):
            raise ValueError("SupportClass fits XPO only with alpha = 0")

    def init_params(self, dtype):
        return self._uniform(dtype)

    def table(self, params):
        return params

    def contains(self, logp_target, atol=1e-6):
        if logp_target is None:
            return None
        return bool(jnp.all(self.support | ~jnp.isfinite(logp_target)))


def _support_instance():
    probs = np.array([[0.5, 0.3, 0.2, 0.0, 0.0], [0.0, 0.15, 0.0, 0.45, 0.4]])
    with np.errstate(divide="ignore"):
        oracle = sim.make_oracle(sim.TabularPolicy(jnp.asarray(np.log(probs))))
    return probs, oracle, SupportClass(jnp.asarray(probs > 0))


def test_user_class_implements_the_protocol():
    _, _, cls = _support_instance()
    assert isinstance(cls, sim.ModelClass)
    assert sim.log_class_size(cls) == np.inf
    assert sim.contains(cls, jnp.log(jnp.full((2, 5), 0.2))) is False
    with pytest.raises(TypeError, match=r"model_class must implement the simulators\.ModelClass"):
        sim.sft_sharpening(jax.random.key(0), _support_instance()[1], object(), 4, 4)
    with pytest.raises(TypeError, match="lacks .*pair_fit_params"):
        sim._classes.check_model_class(sim.TabularPolicy(jnp.zeros((1, 1))))


def test_user_class_sft_sharpening_is_exact():
    probs, oracle, cls = _support_instance()
    n, N = 30, 64
    res = sim.sft_sharpening(jax.random.key(3), oracle, cls, n, N)
    assert res.queries == n * N
    assert int(res.diagnostics["realizable"]) == 1  # pi^BoN_N is supported in the support
    # With N = 64 the best-of-N response is the argmax on every prompt (a miss has probability
    # < 0.6^64), so the MLE is the point mass on the argmax of each (drawn) prompt.
    want = np.eye(5)[np.argmax(probs, axis=1)]
    np.testing.assert_array_equal(np.exp(np.asarray(sim.to_table(res.policy))), want)
    # The same draws fitted by the library's TabularClass give the same table.
    tab = sim.sft_sharpening(jax.random.key(3), oracle, sim.TabularClass(2, 5), n, N)
    np.testing.assert_array_equal(sim.to_table(res.policy), sim.to_table(tab.policy))


def test_user_class_dpo_sharpening_is_exact():
    probs, oracle, cls = _support_instance()
    beta = 0.5
    res = sim.dpo_sharpening(jax.random.key(4), oracle, cls, 400, beta)
    assert res.queries == 800
    assert int(res.diagnostics["realizable"]) == 1
    # Every supported response is observed (400 pairs), so the zero-residual fit is pi*_beta
    # proportional to pi_base^(1 + 1/beta) (Eq. 3), exactly up to rounding.
    with np.errstate(divide="ignore"):
        want = np.exp(np.asarray(theory.kl_tilt(jnp.asarray(np.log(probs)), beta)))
    got = np.exp(np.asarray(sim.to_table(res.policy)))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert got[0, 0] > probs[0, 0]  # sharpened


def test_user_class_realizability_and_xpo_refusal():
    probs, oracle, _ = _support_instance()
    narrow = SupportClass(jnp.asarray(probs > 0.25))  # misses responses pi_base draws
    with pytest.raises(ValueError, match="SupportClass does not contain"):
        sim.sft_sharpening(jax.random.key(0), oracle, narrow, 4, 4)
    with pytest.raises(ValueError, match="alpha = 0"):
        sim.xpo_sharpening(jax.random.key(0), oracle, narrow, 4, 0.5, 0.1, realizability="skip")


def test_algorithms_dispatch_on_the_protocol_only():
    import inspect

    src = inspect.getsource(sim._algorithms) + inspect.getsource(sim._classes)
    assert "singledispatch" not in src
    assert "isinstance(model_class" not in src
    assert ".register(" not in src
