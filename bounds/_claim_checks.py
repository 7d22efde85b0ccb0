"""The checks behind THEORY.md section 6's claims, registered with :func:`bounds._claims.claim`.

Conventions: every Monte Carlo comparison uses a z-score against the exact value, with the critical
value Bonferroni-corrected for the number of comparisons at family-wise level 1e-3, so a claim fails
by chance with probability below 0.1%; every rate is a least-squares log-log slope compared with the
theorem's exponent inside a band stated in the claim. Quick mode shrinks sample sizes and grids, not
the pass rules.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

import simulators as sim
import theory

from ._claims import Outcome, claim

FAMILYWISE_LEVEL = 1e-3


def z_critical(num_tests: int, level: float = FAMILYWISE_LEVEL) -> float:
    """Two-sided normal critical value for ``num_tests`` comparisons at family-wise ``level``."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1.0 - level / (2.0 * num_tests))


def binomial_z(hits: np.ndarray, trials: int, p: np.ndarray) -> np.ndarray:
    """z-scores of observed frequencies ``hits/trials`` against exact probabilities ``p``."""
    p = np.asarray(p, dtype=np.float64)
    se = np.sqrt(np.maximum(p * (1.0 - p), 1e-300) / trials)
    return (np.asarray(hits) / trials - p) / se


def bon_choices_prefixes(key: jax.Array, rollouts, ns: jax.Array, reward=None) -> jax.Array:
    """``[len(ns), P]`` responses chosen by best-of-N using only the first N of N_max samples.

    Scores past the first N are masked to ``-inf``; the N-prefix of i.i.d. draws is a valid sample of
    size N, so one compiled call gives BoN_N for every N (the paper's subsampling, App. A.1).
    """
    scores = sim.log_likelihood(rollouts) if reward is None else reward(rollouts)
    keys = jax.random.split(key, ns.shape[0])

    @jax.jit
    @jax.vmap
    def choose(k, n):
        masked = jnp.where(jnp.arange(scores.shape[-1]) < n, scores, -jnp.inf)
        idx = sim.best_of_n(k, rollouts, masked)
        return jnp.take_along_axis(rollouts.tokens[..., 0], idx[:, None], 1)[:, 0]

    return choose(keys, ns)


def _bon_hits_prefixes(key, rollouts, in_set, ns):
    return in_set[bon_choices_prefixes(key, rollouts, ns)].sum(axis=-1)


# -------------------------------------------------------------------------------------------------
# C1. Inference-time BoN hit probability.


@claim(
    "C1",
    "BoN returns an element of y*_gamma with probability exactly 1-(1-p*)^N",
    "Prop. C.1",
)
def _c1(quick: bool) -> Outcome:
    trials = 4_000 if quick else 40_000
    ns = (1, 2, 5, 10, 20, 50, 100)
    gamma, rho = 0.5, 0.05
    # One prompt, 80 responses: y*_gamma = the top 3 (within factor 1/2 of the max), p* = 0.095.
    probs = np.r_[0.04, 0.03, 0.025, np.full(77, 0.905 / 77)]
    policy = sim.TabularPolicy.from_table(jnp.log(jnp.asarray(probs))[None])
    logp = policy.logp
    in_set = np.asarray(theory.argmax_set(logp, gamma))[0]
    p_star = float(probs[in_set].sum())
    # N_max draws per trial; BoN over the first N of them (masking the rest) is BoN_N, so every N
    # shares one compiled computation.
    k_draw, k_tie = jax.random.split(jax.random.PRNGKey(0))
    rollouts = sim.sample(k_draw, policy, jnp.zeros(trials, jnp.int32), max(ns))
    hits = np.asarray(_bon_hits_prefixes(k_tie, rollouts, jnp.asarray(in_set), jnp.asarray(ns)))
    z, rates = [], []
    for n, h in zip(ns, hits, strict=True):
        exact = 1.0 - float(np.asarray(theory.bon_miss_probability(logp, n, gamma))[0])
        assert math.isclose(exact, 1.0 - (1.0 - p_star) ** n, rel_tol=1e-12)
        rates.append(int(h) / trials)
        z.append(float(binomial_z(int(h), trials, exact)))
    crit = z_critical(len(ns))
    n_rho = math.ceil(math.log(1.0 / rho) / p_star)
    miss_at_n_rho = float(np.asarray(theory.bon_miss_probability(logp, n_rho, gamma))[0])
    holds = max(abs(v) for v in z) <= crit and miss_at_n_rho <= rho
    return Outcome(
        holds=holds,
        measured=f"max |z| = {max(abs(v) for v in z):.2f} over N in {list(ns)}; "
        f"miss at N = ceil(log(1/rho)/p*) = {n_rho}: {miss_at_n_rho:.4f}",
        predicted=f"|z| <= {crit:.2f} (Bonferroni, level 1e-3); miss <= rho = {rho}",
        details={"N": list(ns), "mc_hit_rate": rates, "z": z, "p_star": p_star},
    )


# -------------------------------------------------------------------------------------------------
# C2. The exact law of the BoN output with ties.


@claim(
    "C2",
    "theory.bon_law is the exact law of BoN with ties; E[log pi(BoN)] increases with N",
    "Assumption 4.1 (pi^BoN_N), THEORY.md 6.2",
)
def _c2(quick: bool) -> Outcome:
    trials = 5_000 if quick else 50_000
    # Groups of tied likelihood: {0,1} at .2, {2,3,4} at .1, {5..9} at .06, plus a zero-mass response.
    probs = np.r_[0.2, 0.2, 0.1, 0.1, 0.1, np.full(5, 0.06), 0.0]
    with np.errstate(divide="ignore"):
        logp = jnp.log(jnp.asarray(probs))[None]
    policy = sim.TabularPolicy.from_table(logp)
    ns = (1, 3, 10)
    k_draw, k_tie = jax.random.split(jax.random.PRNGKey(1))
    rollouts = sim.sample(k_draw, policy, jnp.zeros(trials, jnp.int32), max(ns))
    choices = np.asarray(bon_choices_prefixes(k_tie, rollouts, jnp.asarray(ns)))
    zs = []
    for n, y in zip(ns, choices, strict=True):
        freq = np.bincount(y, minlength=probs.size)
        law = np.exp(np.asarray(theory.bon_law(logp, n))[0])
        support = law > 0
        zs.append(np.abs(binomial_z(freq[support], trials, law[support])))
        if freq[~support].any():
            zs.append(np.array([np.inf]))
    z_max = float(max(z.max() for z in zs))
    crit = z_critical(sum(z.size for z in zs))
    grid = jnp.arange(1, 201)
    lp = jnp.where(jnp.isfinite(logp[0]), logp[0], 0.0)
    laws = jax.vmap(lambda n: jnp.exp(theory.bon_law(logp, n))[0])(grid)
    mean_loglik = np.asarray(laws @ lp)
    steps = np.diff(mean_loglik)
    monotone = bool((steps >= -1e-12).all())
    return Outcome(
        holds=z_max <= crit and monotone,
        measured=f"max |z| = {z_max:.2f}; min step of E[log pi(BoN_N)] over N=1..200: "
        f"{steps.min():.2e}",
        predicted=f"|z| <= {crit:.2f} (Bonferroni, level 1e-3); steps >= 0",
        details={"mean_loglik": mean_loglik[:20].tolist()},
    )


# -------------------------------------------------------------------------------------------------
# C6. Greedy decoding succeeds for sharpened policies.


@claim(
    "C6",
    "greedy decoding returns y* whenever pi(y*|x) > 1/2, and can fail at or below 1/2",
    "Prop. 3.1",
)
def _c6(quick: bool) -> Outcome:
    num_policies = 20 if quick else 200
    key = jax.random.PRNGKey(6)
    above = fail_above = below = fail_below = 0
    for conc in (0.1, 0.3, 1.0):
        key, k = jax.random.split(key)
        policy = sim.random_autoregressive(k, num_policies, 3, 4, eos=2, concentration=conc)
        x = jnp.arange(num_policies)
        y_star, logp_star = sim.autoregressive_argmax(policy, x)
        y_greedy = sim.greedy(policy, x)
        ok = np.all(np.asarray(y_star) == np.asarray(y_greedy), axis=-1)
        sharp = np.asarray(logp_star) > math.log(0.5)
        above += int(sharp.sum())
        fail_above += int((~ok & sharp).sum())
        below += int((~sharp).sum())
        fail_below += int((~ok & ~sharp).sum())
    cex, _ = sim.greedy_counterexample()
    x0 = jnp.zeros(1, jnp.int32)
    cex_star, cex_logp = sim.autoregressive_argmax(cex, x0)
    cex_fails = bool(np.any(np.asarray(sim.greedy(cex, x0)) != np.asarray(cex_star)))
    holds = above > 0 and fail_above == 0 and cex_fails
    return Outcome(
        holds=holds,
        measured=f"greedy failures: {fail_above}/{above} prompts with pi(y*)>1/2, "
        f"{fail_below}/{below} with pi(y*)<=1/2; counterexample (pi(y*)="
        f"{math.exp(float(cex_logp[0])):.2f}) fails: {cex_fails}",
        predicted="0 failures above 1/2; the two-token counterexample fails",
    )


# -------------------------------------------------------------------------------------------------
# C7. The KL-regularized optimum and Lemma 4.1.


def _maximize_j_beta(logp_base: jax.Array, beta: float, steps: int) -> jax.Array:
    """Numerically maximizes J_beta over the simplex (softmax parametrization, Adam)."""
    import optax

    mu = jnp.ones(logp_base.shape[0]) / logp_base.shape[0]

    def loss(logits):
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -theory.kl_regularized_objective(logp, logp_base, mu, beta)

    opt = optax.adam(0.05)

    @jax.jit
    def run(logits):
        def body(carry, _):
            params, state = carry
            g = jax.grad(loss)(params)
            updates, state = opt.update(g, state)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(body, (logits, opt.init(logits)), None, length=steps)
        return jax.nn.log_softmax(params, axis=-1)

    return run(logp_base)


@claim(
    "C7",
    "argmax of E_pi[log pi_base] - beta KL is pi_base^(1+1/beta)/Z; Lemma 4.1's bounds",
    "Eq. 3, Lemma 4.1",
)
def _c7(quick: bool) -> Outcome:
    key = jax.random.PRNGKey(7)
    policy, mu = sim.dirichlet_tabular(key, 4, 12, concentration=0.7)
    logp_base = policy.logp
    worst_tv = 0.0
    for beta in (2.0, 0.5):
        numeric = _maximize_j_beta(logp_base, beta, steps=1500 if quick else 6000)
        closed = theory.kl_tilt(logp_base, beta)
        worst_tv = max(
            worst_tv, float(0.5 * jnp.abs(jnp.exp(numeric) - jnp.exp(closed)).sum(-1).max())
        )
    # Lemma 4.1 on many random instances, and the margin bound (THEORY.md 6.7).
    violations = 0
    checked = 0
    margin_bound_ok = True
    for i, conc in enumerate((0.2, 1.0, 5.0)):
        p, m = sim.dirichlet_tabular(jax.random.PRNGKey(70 + i), 16, 30, concentration=conc)
        lb = p.logp
        c_cov = float(theory.coverage(lb, m))
        Y = lb.shape[-1]
        gm = np.asarray(theory.margin(lb))
        for beta in (10.0, 1.0, 0.1, 0.01):
            tilt = theory.kl_tilt(lb, beta)
            c_pi = float(theory.concentrability(tilt, lb, m))
            c_loss = float(theory.concentrability_ratio(lb, tilt, m, beta))
            violations += (c_pi > c_cov * (1 + 1e-10)) + (c_loss > Y * (1 + 1e-10))
            checked += 2
            mass = np.exp(np.asarray(theory.log_mass_on_argmax(tilt, lb)))
            bound = 1.0 - (Y - 1) * (1.0 + gm) ** (-(1.0 + 1.0 / beta))
            margin_bound_ok &= bool((mass >= bound - 1e-12).all())
    mass_small_beta = float(
        np.exp(
            np.asarray(theory.log_mass_on_argmax(theory.kl_tilt(logp_base, 1e-3), logp_base))
        ).min()
    )
    holds = worst_tv < 1e-4 and violations == 0 and margin_bound_ok and mass_small_beta > 0.999
    return Outcome(
        holds=holds,
        measured=f"TV(numerical argmax, closed form) = {worst_tv:.1e}; Lemma 4.1 violations "
        f"{violations}/{checked}; margin bound holds: {margin_bound_ok}; "
        f"min_x pi*_0.001(y*) = {mass_small_beta:.6f}",
        predicted="TV < 1e-4; 0 violations; bound holds; pi*_beta(y*) -> 1 as beta -> 0",
    )
