"""The exact-law path of SFT-Sharpening (``method="exact_law"``): same law as the per-sample path.

Monte Carlo tolerances are 5 standard errors computed from the draws; exact results are compared
with a brute-force evaluation of the count MLE's table by ``theory``.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim
import theory
from simulators.experiments.tabular import _count_mle_metrics, _exact_law_stats

Z = 5.0  # Monte Carlo tolerance in standard errors
# A delta with no exact ties pi_hat(y*) = 1 - delta for visit counts <= 12: the per-sample path
# decides such ties on log-tables by rounding, the exact law on counts (Def. 3.1 is strict).
DELTA = math.exp(-1.0)
METHODS = ("per_sample", "exact_law")


def _one_prompt():
    """One prompt whose argmax set has two tied responses: pi_base(y*) = 0.4."""
    probs = np.array([[0.2, 0.2, 0.15, 0.15, 0.15, 0.15]])
    return jnp.asarray(np.log(probs)), jnp.ones(1), 0.4


def _three_prompts():
    probs = np.array(
        [[0.5, 0.3, 0.1, 0.05, 0.05], [0.22, 0.2, 0.2, 0.19, 0.19], [0.3, 0.3, 0.2, 0.1, 0.1]]
    )
    return jnp.asarray(np.log(probs)), jnp.asarray([0.5, 0.3, 0.2])


def _sweep_cube(cfg, seeds, budgets, metric):
    """``[S, B]`` values of ``metric`` from ``sim.sweep``."""
    df = sim.sweep(sim.run_tabular_sft, cfg, seeds, budgets, progress=False)
    df = df[df.metric == metric].sort_values(["seed", "budget"])
    return df.value.to_numpy().reshape(seeds, len(budgets))


@pytest.fixture(scope="module")
def one_prompt_hits():
    """Best-of-N hit counts k (of n = 10 prompts) at N = 1 and N = 3, both paths, 4000 seeds."""
    logp, mu, _ = _one_prompt()
    budgets = [{"n_used": 10, "N_used": 1}, {"n_used": 10, "N_used": 3}]
    out = {}
    for method in METHODS:
        cfg = sim.TabularSFTConfig(logp, mu, n=10, N=3, delta=DELTA, method=method)
        mass = _sweep_cube(cfg, 4000, budgets, "mass_on_argmax")
        k = np.rint(10 * mass)
        np.testing.assert_allclose(10 * mass, k, atol=1e-9)  # the count MLE's mass is k / n
        out[method] = k.astype(int)
    return out


@pytest.mark.parametrize("method", ["per_sample", "exact_law"])
def test_hit_counts_are_binomial(one_prompt_hits, method):
    """With one prompt, k ~ Binomial(n, 1 - (1 - pi_base(y*))^N) (Prop. C.1), cell by cell."""
    k = one_prompt_hits[method]
    q = _one_prompt()[2]
    S = k.shape[0]
    for b, N in enumerate((1, 3)):
        p = 1 - (1 - q) ** N
        pmf = np.array([math.comb(10, j) * p**j * (1 - p) ** (10 - j) for j in range(11)])
        freq = np.bincount(k[:, b], minlength=11) / S
        # Cells expected fewer than 20 times are pooled, so every cell's normal SE is valid.
        big = S * pmf >= 20
        cells = np.append(pmf[big], pmf[~big].sum())
        observed = np.append(freq[big], freq[~big].sum())
        se = np.sqrt(cells * (1 - cells) / S)
        assert np.all(np.abs(observed - cells) <= Z * se), (method, N, observed, cells)


@pytest.mark.parametrize("method", ["per_sample", "exact_law"])
def test_budgets_are_coupled_by_prefixes(one_prompt_hits, method):
    """Budgets N1 < N2 share one draw: hits are nested (k2 >= k1 in every seed), and the joint
    law is the prefix-sharing one: given a miss at N1, a prompt hits at N2 with probability
    (p2 - p1) / (1 - p1), so E[k1 k2] = E[k1^2] + r E[k1 (n - k1)]."""
    k = one_prompt_hits[method]
    assert np.all(k[:, 1] >= k[:, 0])  # independent draws per budget would break this often
    q, n = _one_prompt()[2], 10
    p1, p2 = q, 1 - (1 - q) ** 3
    r = (p2 - p1) / (1 - p1)
    ek1_sq = n * p1 * (1 - p1) + (n * p1) ** 2
    expected = ek1_sq + r * (n * n * p1 - ek1_sq)
    prod = k[:, 0] * k[:, 1]
    se = prod.std(ddof=1) / np.sqrt(prod.size)
    assert abs(prod.mean() - expected) <= Z * se, (prod.mean(), expected)


THREE_BUDGETS = [
    {"n_used": 4, "N_used": 1},
    {"n_used": 12, "N_used": 2},
    {"n_used": 12, "N_used": 6},
]


def _three_prompt_config(method, smoothing=0.0):
    logp, mu = _three_prompts()
    return sim.TabularSFTConfig(
        logp, mu, n=12, N=6, delta=DELTA, smoothing=smoothing, method=method
    )


@pytest.fixture(scope="module")
def three_prompt_frames():
    """Sweeps of both paths on three prompts, 3000 seeds, without and with smoothing."""
    return {
        (method, smoothing): sim.sweep(
            sim.run_tabular_sft,
            _three_prompt_config(method, smoothing),
            3000,
            THREE_BUDGETS,
            progress=False,
        )
        for method in METHODS
        for smoothing in (0.0, 0.5)
    }


@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_exact_law_matches_per_sample_in_distribution(three_prompt_frames, smoothing):
    """Several prompts, budgets in n and N: the means of both metrics agree."""
    a, b = (
        three_prompt_frames[(m, smoothing)].groupby(["metric", "budget"]).value.agg(["mean", "var"])
        for m in METHODS
    )
    S = 3000
    se = np.sqrt((a["var"] + b["var"]) / S)
    gap = (a["mean"] - b["mean"]).abs()
    assert np.all(gap <= Z * se + 1e-12), gap / se
    queries = a.loc["queries"]["mean"].to_numpy()
    np.testing.assert_array_equal(queries, b.loc["queries"]["mean"].to_numpy())
    np.testing.assert_array_equal(queries, [4, 24, 72])


def test_exact_law_stats_nested_and_same_prompts():
    """Per seed: the per-sample path's prompts, visit counts nested in n_used, hits nested in
    both n_used and N_used (one uniform per prompt serves every N)."""
    logp, mu = _three_prompts()
    cfg = _three_prompt_config("exact_law")
    n_used = jnp.asarray([4, 12, 12, 12])
    N_used = jnp.asarray([6, 1, 2, 6])

    def stats(key):
        def one(a, b):
            return _exact_law_stats(key, dataclasses.replace(cfg, n_used=a, N_used=b))[:4]

        return jax.vmap(one)(n_used, N_used)

    keys = jax.vmap(jax.random.key)(jnp.arange(200))
    x, hit, n_x, k_x = jax.jit(jax.vmap(stats))(keys)
    # The draw does not depend on the budget.
    assert np.all(x == x[:, :1]) and np.all(hit[:, 1:] >= hit[:, 1:2])
    assert np.all(n_x[:, 0] <= n_x[:, 1]) and np.all(n_x[:, 1:] == n_x[:, 1:2])
    assert np.all(k_x[:, 0] <= k_x[:, 3])
    assert np.all(np.diff(k_x[:, 1:], axis=1) >= 0)
    assert np.all(k_x <= n_x) and np.all(n_x.sum(-1) == n_used)
    oracle = sim.SampleEvaluateOracle(sim.TabularPolicy(logp), mu)
    for s in (0, 7):
        rollouts, _ = sim.draw(jax.random.split(keys[s])[0], oracle, 12, 6)
        np.testing.assert_array_equal(rollouts.prompts, x[s, 0])


@pytest.mark.parametrize("smoothing", [0.0, 0.7])
def test_metrics_from_counts_match_theory_on_the_table(smoothing):
    """The count formula equals theory's evaluation of the MLE table (unseen prompts, ties in
    y*, smoothing), and decides an exact tie as Def. 3.1 does."""
    probs = np.array([[0.4, 0.4, 0.2], [0.5, 0.3, 0.2], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    logp = jnp.asarray(np.log(probs))
    mu = jnp.asarray([0.1, 0.2, 0.3, 0.4])
    star = np.asarray(theory.argmax_set(logp))
    n_x = np.array([5.0, 0.0, 7.0, 3.0])
    k_x = np.array([4.0, 0.0, 2.0, 3.0])
    # One table with these counts: hits spread over y*, misses on the first y outside it.
    counts = np.zeros_like(probs)
    for x in range(4):
        inside = np.flatnonzero(star[x])
        counts[x, inside] += k_x[x] / inside.size
        counts[x, np.flatnonzero(~star[x])[0]] += n_x[x] - k_x[x]
    counts += smoothing
    total = counts.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        table = np.where(total > 0, np.log(counts) - np.log(total), -np.log(3.0))
    cfg = sim.TabularSFTConfig(logp, mu, n=8, N=1, delta=DELTA, smoothing=smoothing)
    got = _count_mle_metrics(jnp.asarray(n_x), jnp.asarray(k_x), cfg)
    want_err = theory.sharpening_error(table, logp, mu, DELTA)
    want_mass = jnp.sum(mu * jnp.exp(theory.log_mass_on_argmax(table, logp)))
    np.testing.assert_allclose(got["sharpening_error"], want_err, rtol=1e-12)
    np.testing.assert_allclose(got["mass_on_argmax"], want_mass, rtol=1e-12)
    # Exact tie: pi_hat(y*) = 3/4 at delta = 1/4 is not a failure; at delta just below, it is.
    tie = dataclasses.replace(cfg, delta=0.25, smoothing=0.0)
    one = jnp.asarray([4.0, 0.0, 0.0, 0.0])
    hits = jnp.asarray([3.0, 0.0, 0.0, 0.0])
    unseen_fail = float(jnp.sum(mu[1:]))  # uniform rows put < 3/4 on y*
    assert float(_count_mle_metrics(one, hits, tie)["sharpening_error"]) == unseen_fail
    above = dataclasses.replace(tie, delta=0.25 - 1e-12)
    assert float(_count_mle_metrics(one, hits, above)["sharpening_error"]) == 1.0


def test_exact_law_jit_vmap_invariance_and_float32(three_prompt_frames):
    """The sweep (vmap over seeds and budgets) gives the values of one jitted run."""
    df = three_prompt_frames[("exact_law", 0.0)]
    cfg = dataclasses.replace(_three_prompt_config("exact_law"), n_used=12, N_used=2)
    run = jax.jit(sim.run_tabular_sft)
    for seed in (0, 5):
        out = run(jax.random.key(seed), cfg)
        row = df[(df.seed == seed) & (df.budget == 1)].set_index("metric").value
        for metric, value in out.items():
            assert row[metric] == pytest.approx(float(value), rel=1e-12)
    logp, mu = _three_prompts()
    cfg32 = dataclasses.replace(
        cfg, logp_base=logp.astype(jnp.float32), mu=mu.astype(jnp.float32), delta=np.float32(0.3)
    )
    out = jax.jit(sim.tabular_sft_exact_law)(jax.random.key(0), cfg32)
    assert out["sharpening_error"].dtype == jnp.float32
    assert 0.0 <= float(out["sharpening_error"]) <= 1.0
    assert 0.0 <= float(out["mass_on_argmax"]) <= 1.0


def test_exact_law_bad_inputs():
    logp, mu = _three_prompts()
    cfg = sim.TabularSFTConfig(logp, mu, n=8, N=4, method="exact_law")
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="method"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, method="bogus"))
    with pytest.raises(ValueError, match="n_used"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, n_used=9))
    with pytest.raises(ValueError, match="N_used"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, N_used=0))
    with pytest.raises(TypeError, match="n_used"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, n_used=jnp.asarray(2.0)))
    with pytest.raises(ValueError, match="delta"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, delta=1.5))
    with pytest.raises(ValueError, match="smoothing"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, smoothing=-1.0))
    with pytest.raises(ValueError, match="mu"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, mu=jnp.ones(2) / 2))
    with pytest.raises(ValueError, match="logp_base"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, logp_base=logp[0]))
    with pytest.raises(ValueError, match="logp_base"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, logp_base=logp + 1.0))
    with pytest.raises(TypeError, match="config.n"):
        sim.run_tabular_sft(key, dataclasses.replace(cfg, n=8.0))
