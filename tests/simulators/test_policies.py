"""Sampling, exact tables and jit/vmap behaviour of every toy policy type.

Monte Carlo frequencies are compared with the exact ``to_table`` law with a tolerance computed from
the standard errors; sampled ``logp_base`` must equal ``log_prob`` bit for bit.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import simulators as sim


def small_policies() -> dict[str, object]:
    """One small, enumerable policy of each type (two prompts each), from Gaussian logits."""
    k = jax.random.split(jax.random.key(20241201), 8)

    def logits(i, shape):
        return 1.5 * jax.random.normal(k[i], shape)

    return {
        "tabular": sim.TabularPolicy.from_logits(logits(0, (2, 6))),
        "autoregressive-eos": sim.AutoregressivePolicy.from_logits(logits(1, (2, 13, 3)), eos=2),
        "autoregressive": sim.AutoregressivePolicy.from_logits(logits(2, (2, 7, 2))),
        "markov": sim.MarkovPolicy.from_logits(logits(3, (2, 3)), logits(4, (2, 3, 3)), 4),
        "linear-softmax": sim.random_linear_softmax(k[5], 2, 8, 3, scale=2.0),
        "multilayer-softmax": sim.random_multilayer_softmax(k[6], 2, 2, 3, 3, scale=2.0),
    }


POLICIES = small_policies()
NAMES = sorted(POLICIES)
INDEXED = (sim.TabularPolicy, sim.LinearSoftmaxPolicy)  # responses are indices, tokens [..., 1]


def as_response(policy, tokens):
    """The ``y`` argument of ``log_prob`` for sampled ``tokens [..., T]``."""
    return tokens[..., 0] if isinstance(policy, INDEXED) else tokens


def column_index(enum_tokens, tokens) -> np.ndarray:
    """Column of each response ``tokens [..., T]`` in the enumeration ``enum_tokens [Y, T]``.

    The enumeration is lexicographic, so the base-b codes of its rows increase; every response must
    be found in it.
    """
    enum_tokens = np.asarray(enum_tokens, np.int64)
    tokens = np.asarray(tokens, np.int64)
    base = int(max(enum_tokens.max(), tokens.max())) + 1
    w = base ** np.arange(enum_tokens.shape[-1] - 1, -1, -1, dtype=np.int64)
    codes_enum = enum_tokens @ w
    assert np.all(np.diff(codes_enum) > 0), "enumeration is not in lexicographic order"
    codes = tokens @ w
    idx = np.minimum(np.searchsorted(codes_enum, codes), len(codes_enum) - 1)
    assert np.all(codes_enum[idx] == codes), "a response is not among the enumerated responses"
    return idx


def assert_frequencies_match(counts, n: int, logp, alpha: float = 1e-6) -> None:
    """Monte Carlo check of counts ``[X, Y]`` (``n`` draws per row) against ``exp(logp)``.

    Cells with ``n p (1 - p) >= 10`` get a z-test each; the other cells of a row are pooled into
    one. The threshold is the two-sided normal quantile at ``alpha``, Bonferroni-corrected for the
    number of tests, so a correct sampler fails with probability about ``alpha``. Cells of zero
    mass must never be drawn.
    """
    counts = np.asarray(counts, np.float64)
    p = np.exp(np.asarray(logp, np.float64))
    assert np.all(counts[p == 0] == 0), "a zero-probability response was drawn"
    var = n * p * (1 - p)
    big = var >= 10
    small_p = np.where(big, 0.0, p).sum(axis=1)
    small_c = np.where(big, 0.0, counts).sum(axis=1)
    small_var = n * small_p * (1 - small_p)
    keep = small_var > 0
    z = np.concatenate(
        [
            (counts - n * p)[big] / np.sqrt(var[big]),
            (small_c - n * small_p)[keep] / np.sqrt(small_var[keep]),
        ]
    )
    threshold = NormalDist().inv_cdf(1 - alpha / (2 * len(z)))
    worst = np.max(np.abs(z))
    assert worst < threshold, f"max |z| = {worst:.2f} over {len(z)} cells exceeds {threshold:.2f}"


@pytest.mark.parametrize("name", NAMES)
def test_monte_carlo_frequencies_match_exact_table(name):
    policy = POLICIES[name]
    table = np.asarray(sim.to_table(policy))
    enum_tokens, enum_lengths = sim.enumerate_responses(policy)
    X, Y = table.shape
    n = 20_000
    x = jnp.arange(X)
    r = sim.check_rollouts(sim.sample(jax.random.key(7), policy, x, n))
    assert r.tokens.shape == (X, n, enum_tokens.shape[1])
    col = column_index(enum_tokens, r.tokens)  # [X, n]
    counts = np.stack([np.bincount(col[i], minlength=Y) for i in range(X)])
    assert_frequencies_match(counts, n, table)
    # The oracle's "evaluate" half: logp_base is exactly log pi(y | x) of the sampled response.
    expected = sim.log_prob(policy, x[:, None], as_response(policy, r.tokens))
    np.testing.assert_array_equal(np.asarray(r.logp_base), np.asarray(expected))
    np.testing.assert_allclose(r.logp_base, table[np.arange(X)[:, None], col], rtol=1e-12)
    np.testing.assert_array_equal(r.lengths, np.asarray(enum_lengths)[col])
    np.testing.assert_allclose(r.token_logp.sum(-1), r.logp_base, rtol=1e-12, atol=1e-12)
    assert np.all(np.asarray(r.token_logp)[~np.asarray(r.mask)] == 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_table_log_prob_and_enumeration_agree(name):
    policy = POLICIES[name]
    table = np.asarray(sim.to_table(policy))
    toks, lengths = sim.enumerate_responses(policy)
    X, Y = table.shape
    assert toks.shape[0] == Y and lengths.shape == (Y,)
    assert np.all(np.isfinite(table))
    lse = np.log(np.exp(table).sum(axis=1))
    np.testing.assert_allclose(lse, 0.0, atol=1e-12)
    for x in range(X):
        lp = sim.log_prob(policy, jnp.full(Y, x), as_response(policy, toks))
        np.testing.assert_allclose(lp, table[x], rtol=1e-13)
    # Padding after the end of a response is the eos token and does not change log_prob.
    if getattr(policy, "eos", None) is not None:
        t = np.asarray(toks)
        assert np.all(t[np.arange(t.shape[1]) >= np.asarray(lengths)[:, None]] == policy.eos)
        short = np.asarray(lengths) < t.shape[1]
        garbage = np.where(np.arange(t.shape[1]) >= np.asarray(lengths)[:, None], 0, t)[short]
        np.testing.assert_array_equal(
            sim.log_prob(policy, 0, garbage), sim.log_prob(policy, 0, t[short])
        )


@pytest.mark.parametrize("name", ["tabular", "autoregressive-eos"])
def test_sample_is_jit_and_vmap_invariant(name):
    policy = POLICIES[name]
    x = jnp.arange(policy.num_prompts)
    keys = jax.random.split(jax.random.key(3), 3)
    eager = sim.sample(keys[0], policy, x, 32)
    jitted = jax.jit(sim.sample, static_argnums=3)(keys[0], policy, x, 32)
    for f in ("prompts", "tokens", "lengths", "logp_base"):
        np.testing.assert_array_equal(getattr(eager, f), getattr(jitted, f))
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)  # row statistics may differ in the last ulp
    batched = jax.vmap(lambda k: sim.sample(k, policy, x, 32).tokens)(keys)
    np.testing.assert_array_equal(batched[0], eager.tokens)
    np.testing.assert_array_equal(batched[1], sim.sample(keys[1], policy, x, 32).tokens)
    # A different key gives different draws (the key is actually used).
    assert not np.array_equal(batched[0], batched[2])


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_is_jit_and_vmap_invariant(name):
    policy = POLICIES[name]
    toks, _ = sim.enumerate_responses(policy)
    toks = as_response(policy, toks)
    x = jnp.zeros(toks.shape[0], jnp.int32)
    eager = sim.log_prob(policy, x, toks)
    np.testing.assert_allclose(jax.jit(sim.log_prob)(policy, x, toks), eager, rtol=1e-14)
    per_row = jax.vmap(lambda xi, yi: sim.log_prob(policy, xi, yi))(x, toks)
    np.testing.assert_allclose(per_row, eager, rtol=1e-14)


def test_policies_vmap_over_seeds():
    """Experiments build and sample random policies under vmap over seeds (DESIGN.md item 7)."""

    def run(key):
        k1, k2 = jax.random.split(key)
        policy = sim.AutoregressivePolicy.from_logits(jax.random.normal(k1, (2, 13, 3)), eos=2)
        r = sim.sample(k2, policy, jnp.arange(2), 8)
        return r.logp_base, sim.log_prob(policy, jnp.arange(2)[:, None], r.tokens)

    keys = jax.random.split(jax.random.key(0), 4)
    a, b = jax.jit(jax.vmap(run))(keys)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(a[1], run(keys[1])[0], rtol=1e-12)


@pytest.mark.parametrize("name", ["autoregressive-eos", "markov", "tabular"])
def test_token_statistics(name):
    """Per-token entropy and KL(uniform || p) match the next-token rows that were sampled from."""
    policy = POLICIES[name]
    r = sim.sample(jax.random.key(1), policy, jnp.arange(2), 32)
    mask = np.asarray(r.mask)
    ent = np.asarray(r.token_entropy)
    klu = np.asarray(r.token_kl_uniform)
    assert np.all(ent[~mask] == 0) and np.all(klu[~mask] == 0)
    if name == "tabular":
        p = np.exp(np.asarray(policy.logp))
        want = -(p * np.log(p)).sum(-1)
        np.testing.assert_allclose(ent[:, :, 0], np.broadcast_to(want[:, None], (2, 32)))
        return
    # The first token's row is the same for every response of a prompt.
    if name == "markov":
        row = np.asarray(policy.init_logp)
    else:
        row = np.asarray(policy.logp[:, 0, :])
    p = np.exp(row)
    want_ent = -(p * row).sum(-1)
    want_kl = -math.log(p.shape[-1]) - row.mean(-1)
    np.testing.assert_allclose(ent[:, :, 0], np.broadcast_to(want_ent[:, None], (2, 32)))
    np.testing.assert_allclose(klu[:, :, 0], np.broadcast_to(want_kl[:, None], (2, 32)))


def _max_intermediate_size(jaxpr) -> int:
    """Largest array any equation of ``jaxpr`` (and its sub-jaxprs) produces."""
    biggest = 0
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            biggest = max(biggest, math.prod(getattr(v.aval, "shape", ())))
        for p in eqn.params.values():
            for q in p if isinstance(p, (list, tuple)) else [p]:
                sub = getattr(q, "jaxpr", q)
                if hasattr(sub, "eqns"):
                    biggest = max(biggest, _max_intermediate_size(sub))
    return biggest


def test_million_draws_from_1000_way_policy_use_inverse_cdf_memory():
    """10^6 draws over 1000 classes: right shape, and no draws x classes intermediate (the
    Gumbel-max pitfall of DESIGN.md): memory stays O(n + Y)."""
    policy, _ = sim.dirichlet_tabular(jax.random.key(0), 1, 1000, 1.0)
    n = 10**6
    x = jnp.zeros(1, jnp.int32)
    jaxpr = jax.make_jaxpr(lambda k, p: sim.sample(k, p, x, n).tokens)(jax.random.key(1), policy)
    assert _max_intermediate_size(jaxpr.jaxpr) <= 2 * n
    r = sim.sample(jax.random.key(1), policy, x, n)
    assert r.tokens.shape == (1, n, 1) and r.logp_base.shape == (1, n)
    t = np.asarray(r.tokens)
    assert t.min() >= 0 and t.max() < 1000


@pytest.mark.parametrize(
    "policy",
    [
        sim.random_markov(jax.random.key(0), 3, 1000, 50),
        sim.random_autoregressive(jax.random.key(0), 3, 7, 4, eos=6),
    ],
    ids=["markov-V1000", "autoregressive"],
)
def test_sequence_sampling_memory_is_linear_in_draws(policy):
    """Per-step inverse CDF gathers one entry per draw and step, never a [draws, V] block."""
    n = 20_000
    x = jnp.arange(3)
    jaxpr = jax.make_jaxpr(lambda k, p: sim.sample(k, p, x, n))(jax.random.key(1), policy)
    table_size = 3 * (policy.V + 1) * policy.V if hasattr(policy, "init_logp") else policy.logp.size
    bound = max(3 * n * policy.H, 2 * table_size)  # the [T, draws] outputs, the CDF table
    assert _max_intermediate_size(jaxpr.jaxpr) <= bound
    assert 3 * n * policy.V > bound  # the bound does exclude a [draws, V] intermediate


def test_search_rows_matches_searchsorted():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(9, 0.5), size=5)
    p[1, 3] = 0.0  # zero-mass entries are never returned
    p[2, -1] = 0.0
    p /= p.sum(-1, keepdims=True)
    cdf = np.cumsum(p, axis=-1)
    rows = rng.integers(0, 5, size=2000)
    u = rng.random(2000) * cdf[rows, -1]
    got = np.asarray(sim._autoregressive.search_rows(jnp.asarray(cdf), jnp.asarray(rows), u))
    pairs = zip(rows, u, strict=True)
    want = np.array([np.searchsorted(cdf[r], ui, side="right") for r, ui in pairs])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "case", ["uniform", "peaked", "zero-mass runs", "tiny masses", "edges and total"]
)
def test_guided_search_is_bit_identical_to_searchsorted(case):
    """The guide-table search returns exactly ``searchsorted(cdf, u, side='right')``, also at bin
    edges, on flat runs of zero mass, for masses near float range and for ``u`` equal to the
    total (bins of Y classes each cover many entries when most of the mass sits in few)."""
    rng = np.random.default_rng(1)
    Y, n = 300, 5000
    if case == "uniform":
        p = np.full(Y, 1.0 / Y)
    elif case == "peaked":
        p = rng.dirichlet(np.full(Y, 0.05))
    elif case == "zero-mass runs":
        p = rng.dirichlet(np.ones(Y))
        p[10:200] = 0.0
        p[-20:] = 0.0
    elif case == "tiny masses":
        p = np.full(Y, 1e-300)
        p[::50] = 1.0
    else:
        p = rng.dirichlet(np.ones(Y))
    p /= p.sum()
    cdf = np.cumsum(p)
    u = rng.random(n) * cdf[-1]
    if case == "edges and total":
        K = 2 * Y  # the guide's bins
        u[: K + 1] = np.arange(K + 1) * (cdf[-1] / K)  # the guide's own bin edges
        u[K + 1 : K + 1 + Y] = cdf  # the CDF's own values (ties go right)
        u[-1] = cdf[-1]
        u = np.minimum(u, cdf[-1])
    search = jax.jit(sim._tabular._guided_search)
    got = np.asarray(search(jnp.asarray(cdf), jnp.asarray(u)))
    np.testing.assert_array_equal(got, np.searchsorted(cdf, u, side="right"))
    # blocked (n above the block size) and vmapped over rows give the same
    big = np.tile(u, 15)[: sim._tabular._SEARCH_BLOCK + 77]
    got_big = np.asarray(search(jnp.asarray(cdf), jnp.asarray(big)))
    np.testing.assert_array_equal(got_big, np.searchsorted(cdf, big, side="right"))
    rows = np.stack([cdf, np.cumsum(np.full(Y, 1.0 / Y))])
    got_rows = np.asarray(jax.vmap(search)(jnp.asarray(rows), jnp.asarray(np.stack([u, u]))))
    np.testing.assert_array_equal(got_rows[1], np.searchsorted(rows[1], u, side="right"))
    np.testing.assert_array_equal(got_rows[0], got)


def test_sample_indices_never_returns_trailing_zero_mass():
    """Trailing zero-mass entries are never drawn (the clamp goes to the last positive index)."""
    logp = jnp.log(jnp.array([0.5, 0.5, 0.0, 0.0]))
    y = sim.sample_indices(jax.random.key(0), logp, 100_000)
    assert int(y.max()) <= 1
    counts = np.bincount(np.asarray(y), minlength=4)
    with np.errstate(divide="ignore"):
        logp_table = np.log(np.array([[0.5, 0.5, 0.0, 0.0]]))
    assert_frequencies_match(counts[None], 100_000, logp_table)


@pytest.mark.parametrize("num_prompts", [3, 40])
def test_drawing_rows_per_table_row_or_per_prompt_gives_the_same_draws(num_prompts):
    """With more prompts than table rows the CDFs and row statistics are formed once per table
    row and gathered; with fewer, per drawn prompt. Both are the per-prompt ``sample_indices``
    with the same keys, and the row statistics agree to rounding."""
    X, Y, n = 8, 50, 30
    logp = jnp.log(jax.random.dirichlet(jax.random.key(0), jnp.full(Y, 0.3), (X,)))
    # a row with trailing zero mass (renormalized: policies refuse unnormalized rows)
    policy = sim.TabularPolicy.from_logits(logp.at[2, 40:].set(-jnp.inf))
    logp = policy.logp
    x = jax.random.randint(jax.random.key(1), (num_prompts,), 0, X)
    key = jax.random.key(2)
    got = sim.sample(key, policy, x, n)
    keys = jax.random.split(key, num_prompts)
    want = jax.vmap(sim.sample_indices, in_axes=(0, 0, None))(keys, logp[x], n)
    np.testing.assert_array_equal(np.asarray(got.tokens[..., 0]), np.asarray(want))
    entropy, kl = sim._tabular.row_stats(logp[x])
    np.testing.assert_allclose(got.token_entropy[:, 0, 0], entropy, rtol=1e-13)
    np.testing.assert_allclose(got.token_kl_uniform[:, 0, 0], kl, rtol=1e-13)
    assert not np.isin(np.asarray(got.tokens[x == 2]), np.arange(40, Y)).any()
