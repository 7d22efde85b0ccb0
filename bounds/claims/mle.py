"""The MLE guarantee behind SFT-Sharpening's analysis (Sec. 4.1, App. F): claim C11 (Lemma F.1)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

import simulators as sim
import theory

from ._registry import Outcome, claim
from ._stats import FAMILYWISE_LEVEL, fmt_band, in_band, slope


@dataclasses.dataclass(frozen=True)
class C11Settings:
    """C11: seeds, and the sample sizes ``n`` at which the MLE is scored."""

    seeds: int
    ns: tuple[int, ...]


C11_QUICK = C11Settings(seeds=64, ns=(32, 64, 128, 256, 512, 1024))
C11_FULL = C11Settings(seeds=300, ns=(32, 64, 128, 256, 512, 1024, 2048, 4096))


# -------------------------------------------------------------------------------------------------
# C11. The MLE guarantee in squared Hellinger distance.


def _mixture_class(key: jax.Array, X: int, Y: int, K: int) -> tuple[jax.Array, jax.Array]:
    """A finite class on a fine grid of a one-parameter family, ``(1 - t) P + t Q``.

    A class whose members are well separated makes the MLE exact after a few samples (the error
    then decays exponentially, not like 1/n); a fine grid of a smooth family gives the parametric
    regime, ``E D_H^2 ~ 1/n``, where Lemma F.1's rate is attained up to its constant.
    """
    kp, kq = jax.random.split(key)
    p, _ = sim.dirichlet_tabular(kp, X, Y, concentration=1.0)
    q, mu = sim.dirichlet_tabular(kq, X, Y, concentration=1.0)
    t = jnp.linspace(0.0, 1.0, K)[:, None, None]
    return jnp.log((1 - t) * jnp.exp(p.logp) + t * jnp.exp(q.logp)), mu


@claim(
    "C11",
    "MLE over a finite class: E_x D_H^2(pi_hat, pi*) <= 2 log(|Pi|/rho)/n w.p. >= 1-rho, rate 1/n",
    "Lemma F.1",
    quick=C11_QUICK,
    full=C11_FULL,
    timeout_s=(60.0, 600.0),
)
def _c11(s: C11Settings) -> Outcome:
    from scipy import stats

    from .._rates import mle_hellinger_bound

    X, Y, K, rho = 4, 12, 401, 0.1
    seeds = s.seeds
    ns = np.array(list(s.ns))
    tables, mu = _mixture_class(jax.random.PRNGKey(11), X, Y, K)
    star = K * 3 // 10  # pi* = the member t = 0.3
    model_class = sim.FiniteClass(tables)
    oracle = sim.make_oracle(sim.TabularPolicy(tables[star]), mu)
    n_max = int(ns.max())

    @jax.jit
    def hellinger(keys):
        # Seeds in sequential batches: each holds [len(ns), K, n_max] log-likelihoods.
        def per_seed(key):
            rollouts, _ = sim.draw(key, oracle, n_max, 1)  # (x_i, y_i) ~ mu x pi*
            x, y = rollouts.prompts, rollouts.tokens[:, 0, 0]

            def at(n):  # the MLE on the first n pairs (one draw serves every n)
                w = (jnp.arange(n_max) < n).astype(tables.dtype)
                fit = sim.mle(model_class, x, y, w)
                return theory.hellinger_sq(fit.logp, tables[star], mu)

            return jax.vmap(at)(jnp.asarray(ns))

        return jax.lax.map(per_seed, keys, batch_size=8)

    h2 = np.asarray(hellinger(jax.random.split(jax.random.PRNGKey(111), seeds)))  # [S, n]
    bound = np.asarray(mle_hellinger_bound(math.log(K), ns, rho))
    violations = (h2 > bound[None, :]).sum(axis=0)
    # Lemma F.1: P[violation] <= rho at each n; a count this large has binomial tail probability
    # below the Bonferroni level only if the lemma fails.
    p_values = stats.binom.sf(violations - 1, seeds, rho)
    level = FAMILYWISE_LEVEL / ns.size
    mean = h2.mean(axis=0)
    rate = slope(ns, mean)
    band = (-1.2, -0.8)
    holds = bool((p_values >= level).all()) and in_band(rate, band)
    return Outcome(
        holds=holds,
        measured=f"violations of the bound: {int(violations.max())}/{seeds} seeds at worst "
        f"(rho = {rho}); E D_H^2 from {mean[0]:.2e} (n={ns[0]}) to {mean[-1]:.2e} "
        f"(n={ns[-1]}), slope {rate:.2f}; max E D_H^2 / bound = {(mean / bound).max():.3f}",
        predicted=f"violation rate <= rho (binomial tail >= {level:.1e}); log-log slope in "
        f"{fmt_band(band)}",
        details={
            "n": ns.tolist(),
            "mean_hellinger_sq": mean.tolist(),
            "bound": bound.tolist(),
            "violations": violations.tolist(),
            "log_class_size": math.log(K),
        },
    )


# -------------------------------------------------------------------------------------------------
