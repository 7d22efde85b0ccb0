"""Inference-time best-of-N (Sec. 3, Prop. C.1, Assumption 4.1): claims C1 and C2.

Best-of-N over the first N of N_max i.i.d. draws is BoN_N, so every N shares one compiled
computation (the paper's subsampling, App. A.1).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

import simulators as sim
import theory

from ._registry import Outcome, claim
from ._stats import binomial_z, z_critical


@dataclasses.dataclass(frozen=True)
class C1Settings:
    """C1: Monte Carlo trials of BoN_N for every N of ``ns``."""

    trials: int
    ns: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)
    gamma: float = 0.5
    rho: float = 0.05


C1_QUICK = C1Settings(trials=4_000)
C1_FULL = C1Settings(trials=40_000)


@dataclasses.dataclass(frozen=True)
class C2Settings:
    """C2: Monte Carlo trials of BoN_N for every N of ``ns`` (the law is compared per response)."""

    trials: int
    ns: tuple[int, ...] = (1, 3, 10)


C2_QUICK = C2Settings(trials=5_000)
C2_FULL = C2Settings(trials=50_000)


def bon_choices_prefixes(key: jax.Array, rollouts, ns: jax.Array, reward=None) -> jax.Array:
    """``[len(ns), P]`` responses chosen by best-of-N using only the first N of N_max samples.

    Scores past the first N are masked to ``-inf``; the N-prefix of i.i.d. draws is a valid sample
    of size N, so one compiled call gives BoN_N for every N (the paper's subsampling, App. A.1).
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
    quick=C1_QUICK,
    full=C1_FULL,
    timeout_s=(60.0, 300.0),
)
def _c1(s: C1Settings) -> Outcome:
    trials, ns, gamma, rho = s.trials, s.ns, s.gamma, s.rho
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
    quick=C2_QUICK,
    full=C2_FULL,
    timeout_s=(60.0, 300.0),
)
def _c2(s: C2Settings) -> Outcome:
    trials = s.trials
    # Tied likelihood groups: {0,1} at .2, {2,3,4} at .1, {5..9} at .06, and a zero-mass response.
    probs = np.r_[0.2, 0.2, 0.1, 0.1, 0.1, np.full(5, 0.06), 0.0]
    with np.errstate(divide="ignore"):
        logp = jnp.log(jnp.asarray(probs))[None]
    policy = sim.TabularPolicy.from_table(logp)
    ns = s.ns
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
