"""Settings of the heatmap figure (paper Fig. 1a analogue: BoN with N = 50, models x tasks).

Rows are toy model families (tabular, linear softmax, Markov, autoregressive, multi-layer softmax;
:mod:`paper_figs._toy_tasks`), columns are answer extractors (first token, last token, token sum
mod 3, count of the top token mod 3). Each cell is the exact % lift in accuracy of best-of-N with
the log-likelihood self-reward over token-wise greedy decoding, averaged over prompts.
"""

from __future__ import annotations

import dataclasses

import jax
import pandas as pd

from paper_figs import _toy_tasks as tasks


@dataclasses.dataclass(frozen=True)
class Setting:
    """One model family (every task is evaluated on the same policies).

    Attributes:
      family: one of ``_toy_tasks.FAMILIES``.
      num_prompts: X.
      noise: the truth's Gumbel tilt (``_toy_tasks.tilted_truth``).
      N: best-of-N's N (50 in the paper).
      seed: PRNG seed.
    """

    family: str
    num_prompts: int = 64
    noise: float = 1.0
    N: int = 50
    seed: int = 0


SWEEP: tuple[Setting, ...] = tuple(Setting(f, seed=s) for f in tasks.FAMILIES for s in (0, 1, 2))
QUICK: tuple[Setting, ...] = tuple(Setting(f) for f in tasks.FAMILIES)


def run(setting: Setting) -> pd.DataFrame:
    """Tidy rows ``family, task, seed, greedy_accuracy, bon_accuracy, naive_accuracy, lift_pct``."""
    k_pol, k_truth = jax.random.split(jax.random.PRNGKey(setting.seed))
    # The same policies for every task of a family; each task draws its own truth.
    policy = tasks.family_policy(k_pol, setting.family, setting.num_prompts)
    rows = []
    for i, task_name in enumerate(tasks.TASKS):
        task = tasks.policy_task(
            jax.random.fold_in(k_truth, i), policy, task_name, setting.noise, task_name
        )
        naive, bon = tasks.bon_accuracies(task, [1, setting.N], "log_likelihood")
        g = task.greedy_accuracy
        rows.append(
            {
                "family": setting.family,
                "task": task_name,
                "seed": setting.seed,
                "N": setting.N,
                "greedy_accuracy": g,
                "naive_accuracy": float(naive),
                "bon_accuracy": float(bon),
                "lift_pct": float(tasks.lift_percent(bon, g)),
            }
        )
    return pd.DataFrame(rows)


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 3
QUICK_CPU_SECONDS = 6.8
