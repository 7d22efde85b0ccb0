"""Settings of the best-of-N figure (Prop. C.1, the exact BoN law; claims 1-2; paper Fig. 4).

For tabular base policies with a known coverage coefficient, the probability that inference-time
best-of-N with the log-likelihood self-reward returns y*(x), and the mean log-likelihood of its
output, as functions of N: exactly (``theory.bon_law``, ``1 - (1 - p*)^N``) and by Monte Carlo
(``simulators.sample`` + ``simulators.best_of_n``, smaller N by taking the first N of N_max draws,
as the paper subsamples its 50 generations).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import theory

_N_VALUES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One tabular base policy and a grid of N.

    Attributes:
      c_cov: the coverage coefficient (``simulators.coverage_tabular``: pi(y*|x) = 1/c_cov for every
        prompt, the other masses equal); 0 selects a random table instead.
      logit_scale: when ``c_cov == 0``, rows are softmax(logit_scale * z), z i.i.d. standard normal
        (prompts then differ in pi(y*|x)).
      num_prompts: X (uniform mu).
      num_responses: Y.
      N_values: the numbers of samples N.
      reps: independent best-of-N draws per prompt and N (Monte Carlo).
      seed: PRNG seed (table and sampling).
    """

    c_cov: float
    logit_scale: float = 0.0
    num_prompts: int = 16
    num_responses: int = 100
    N_values: tuple[int, ...] = _N_VALUES
    reps: int = 64
    seed: int = 0


SWEEP: tuple[Setting, ...] = (
    *(Setting(c, seed=s) for c in (3.0, 30.0) for s in (0, 1, 2)),
    *(Setting(0.0, logit_scale=2.5, seed=s) for s in (0, 1, 2)),
)
QUICK: tuple[Setting, ...] = (
    Setting(3.0, reps=32),
    Setting(30.0, reps=32),
    Setting(0.0, 2.5, reps=32),
)


def base_policy(setting: Setting):
    """``(policy, mu)`` of ``setting``."""
    from simulators import TabularPolicy, coverage_tabular

    if setting.c_cov > 0:
        return coverage_tabular(setting.num_prompts, setting.num_responses, setting.c_cov)
    X, Y = setting.num_prompts, setting.num_responses
    z = jax.random.normal(jax.random.PRNGKey(setting.seed), (X, Y))
    return TabularPolicy.from_logits(setting.logit_scale * z), jnp.full((X,), 1.0 / X)


@jax.jit
def _exact(logp, n):
    """Exact P[BoN_n in y*] and E[log pi_base(BoN_n)] per prompt, for a traced n."""
    law = theory.bon_law(logp, n)
    hit = -jnp.expm1(theory.log_bon_miss_probability(logp, n))
    # 0 * log 0 = 0: responses the law never returns contribute nothing.
    loglik = jnp.sum(jnp.where(law > -jnp.inf, jnp.exp(law) * logp, 0.0), axis=-1)
    return hit, loglik


@functools.partial(jax.jit, static_argnames=("N_max", "reps"))
def _monte_carlo(key, policy, N_values, N_max, reps):
    """Best-of-N draws: ``hit [len(N_values), X * reps]`` and the chosen ``loglik``, same shape.

    N_max responses are drawn per prompt once; best-of-N for N <= N_max selects among the first N
    by masking the others' scores to -inf, so every N shares one compiled program.
    """
    from simulators import best_of_n, sample

    X = policy.logp.shape[0]
    x = jnp.repeat(jnp.arange(X), reps)
    k_sample, k_ties = jax.random.split(key)
    rollouts = sample(k_sample, policy, x, N_max)
    in_star = theory.argmax_set(policy.logp)[x[:, None], rollouts.tokens[..., 0]]  # [P, N_max]

    def one(N, k):
        scores = jnp.where(jnp.arange(N_max) < N, rollouts.logp_base, -jnp.inf)
        idx = best_of_n(k, rollouts, scores)[:, None]
        hit = jnp.take_along_axis(in_star, idx, axis=1)[:, 0]
        return hit, jnp.take_along_axis(rollouts.logp_base, idx, axis=1)[:, 0]

    return jax.vmap(one)(N_values, jax.random.split(k_ties, N_values.shape[0]))


def run(setting: Setting) -> pd.DataFrame:
    """Tidy rows ``N, estimator (exact | monte_carlo | prop_c1), metric (hit | loglik), value, se``.

    ``prop_c1`` is Proposition C.1's lower bound 1 - E_x exp(-N pi_base(y*|x)) on the hit rate.
    Also carries the instance's ``c_cov`` (exact, Eq. 6) and ``max_loglik`` = E_x max_y log pi_base.
    """
    policy, mu = base_policy(setting)
    logp = policy.logp
    mu_np = np.asarray(mu, dtype=float)
    p_star = np.exp(np.asarray(theory.log_mass_on_argmax(logp), dtype=float))
    rows = []
    for N in setting.N_values:
        hit, loglik = (np.asarray(a, dtype=float) for a in _exact(logp, N))
        rows.append(("exact", N, "hit", float(mu_np @ hit), 0.0))
        rows.append(("exact", N, "loglik", float(mu_np @ loglik), 0.0))
        rows.append(("prop_c1", N, "hit", float(1.0 - mu_np @ np.exp(-N * p_star)), 0.0))
    hits, logliks = _monte_carlo(
        jax.random.PRNGKey(1000 + setting.seed),
        policy,
        jnp.asarray(setting.N_values),
        max(setting.N_values),
        setting.reps,
    )
    for i, N in enumerate(setting.N_values):
        # Prompts are uniform and equally replicated, so the plain mean estimates the mu-average.
        for metric, a in (("hit", hits[i]), ("loglik", logliks[i])):
            a = np.asarray(a, dtype=float)
            rows.append(
                ("monte_carlo", N, metric, float(a.mean()), float(a.std(ddof=1) / np.sqrt(a.size)))
            )
    df = pd.DataFrame(rows, columns=["estimator", "N", "metric", "value", "se"])
    c_cov = float(theory.coverage(logp, mu))
    label = (
        f"C_cov = {c_cov:.3g}"
        if setting.c_cov > 0
        else f"random softmax table, C_cov = {c_cov:.3g}"
    )
    df.insert(0, "label", label)
    df.insert(1, "c_cov", c_cov)
    df.insert(2, "seed", setting.seed)
    df["max_loglik"] = float(mu_np @ np.asarray(jnp.max(logp, axis=-1), dtype=float))
    return df


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 1
QUICK_CPU_SECONDS = 5.1
