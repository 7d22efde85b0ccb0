"""Settings of the power-sampling figure (issue 16; Eq. 3 at alpha = 1 + 1/beta).

A random autoregressive toy reasoning task (``paper_figs._toy_tasks``: V = 3 tokens with an
end-of-sequence, H = 4, the answer read from the last token, the truth the base model's own
answer-marginal mode) is small enough to enumerate, so each sampler's output law is exact
(temperature: :func:`simulators.tempered_policy`; best-of-N: :func:`theory.bon_law`; MH:
:func:`simulators.mh_law`) or Rao-Blackwellized (SMC: the mean normalized final weights) or a
Monte Carlo histogram (look-ahead). From the law: the exact TV to the power law, the base
log-likelihood E[log pi_base(y|x)] and the task accuracy; the compute is the tokens generated per
output, counted by the prefix oracle.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import simulators as sim
import theory
from bounds.claims.power import response_law, smc_output_law
from paper_figs._toy_tasks import policy_task


@dataclasses.dataclass(frozen=True)
class Setting:
    """One task and exponent.

    Attributes:
      alpha: the power (alpha = 1 + 1/beta).
      num_prompts: prompts of the random task.
      bon: best-of-N budgets N.
      mh_steps: MH steps per block K.
      particles: SMC particle counts M.
      rollouts: look-ahead rollouts per candidate R.
      runs: Monte Carlo runs (SMC, look-ahead, and the token counts of MH).
      seed: the task's seed.
    """

    alpha: float
    num_prompts: int = 6
    bon: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    mh_steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    particles: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    rollouts: tuple[int, ...] = (2, 4, 8)
    runs: int = 2000
    seed: int = 0


SWEEP: tuple[Setting, ...] = (Setting(alpha=2.0), Setting(alpha=4.0))
QUICK: tuple[Setting, ...] = (
    Setting(
        alpha=4.0, bon=(1, 4, 16), mh_steps=(1, 4, 16), particles=(2, 8), rollouts=(2,), runs=300
    ),
)


def task(setting: Setting):
    """The task's policy and its ``AnswerToy`` (correctness per enumerated response)."""
    k_pol, k_truth = jax.random.split(jax.random.key(setting.seed))
    policy = sim.random_autoregressive(k_pol, setting.num_prompts, 3, 4, eos=2, concentration=0.7)
    return policy, policy_task(k_truth, policy, "last_token", 0.0, "random tree").toy


def run(setting: Setting) -> pd.DataFrame:
    """Rows ``sampler, budget, tokens, metric, value`` (metrics ``tv``, ``loglik``, ``accuracy``;
    sampler ``power`` is the exact target, ``base`` pi_base itself)."""
    policy, toy = task(setting)
    alpha = setting.alpha
    X = setting.num_prompts
    x = jnp.arange(X)
    logp = np.asarray(sim.to_table(policy), np.float64)
    lengths = np.asarray(toy.lengths, np.float64)
    correct = np.asarray(toy.correct, np.float64)
    target = np.exp(np.asarray(sim.to_table(sim.power_policy(policy, alpha))))
    base = np.exp(logp)
    mean_len = float(np.mean(np.sum(base * lengths, axis=-1)))
    laws = [("base", 1, base, mean_len), ("power", 0, target, np.nan)]
    tempered = np.exp(np.asarray(sim.to_table(sim.tempered_policy(policy, 1.0 / alpha))))
    laws.append(("temperature", 1, tempered, float(np.mean(np.sum(tempered * lengths, -1)))))
    for N in setting.bon:
        laws.append(("best-of-N", N, np.exp(np.asarray(theory.bon_law(logp, N))), N * mean_len))
    for K in setting.mh_steps:
        law = np.exp(sim.mh_law(policy, alpha, num_steps=K))
        _, cost = sim.mh_sampler(jax.random.key(K), policy, x, setting.runs, alpha, num_steps=K)
        laws.append(("MH", K, law, cost.tokens / (X * setting.runs)))
    for M in setting.particles:
        law, cost = smc_output_law(policy, alpha, M, setting.runs, 50 + M)
        laws.append(("SMC", M, law, cost.tokens / (X * setting.runs)))
    for R in setting.rollouts:
        rollouts, cost = sim.lookahead_sampler(
            jax.random.key(R), policy, x, setting.runs, alpha, num_rollouts=R
        )
        laws.append(
            (
                "look-ahead",
                R,
                response_law(policy, rollouts.tokens),
                cost.tokens / (X * setting.runs),
            )
        )
    rows = []
    for sampler, budget, law, tokens in laws:
        metrics = {
            "tv": float(np.mean(0.5 * np.abs(law - target).sum(-1))),
            "loglik": float(np.mean(np.sum(law * np.where(law > 0, logp, 0.0), -1))),
            "accuracy": float(np.mean(np.sum(law * correct, -1))),
        }
        for metric, value in metrics.items():
            rows.append(
                {
                    "alpha": alpha,
                    "sampler": sampler,
                    "budget": budget,
                    "tokens": tokens,
                    "metric": metric,
                    "value": value,
                }
            )
    return pd.DataFrame(rows)


# Found by paper_figs' discovery: the figure's place in the report and its measured QUICK cost.
REPORT_ORDER = 13
QUICK_CPU_SECONDS = 20.0
