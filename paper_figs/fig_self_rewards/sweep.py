"""Settings of the self-rewards figure (App. A.2, section 5.2; paper Figs. 1b, 2, 3; THEORY.md
claims 12-13).

Best-of-N accuracy vs N on toy reasoning tasks (:mod:`paper_figs._toy_tasks`) under three
self-rewards: sequence log-likelihood (Eq. 2) and length-normalized log-likelihood, exactly
(``bounds.bon_accuracy``), and majority vote over extracted answers, by Monte Carlo. Lifts are
relative to the policy's token-wise greedy decoding, as in the paper (section 5.1).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pandas as pd

from paper_figs import _toy_tasks as tasks

_NS = (1, 2, 4, 8, 16, 32, 50)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One toy task.

    Attributes:
      task: "aligned" (random autoregressive policy, last-token answers, truth = the base model's
        mildly perturbed answer-marginal mode), "length_bias" (short likely wrong answers vs long
        chains of thought) or "weak" (truth unrelated to likelihood: a weak base model).
      num_prompts: X.
      noise: the truth's Gumbel tilt (``_toy_tasks.tilted_truth``) for "aligned" and "weak".
      ns: the N values.
      reps: Monte Carlo draws per prompt for majority vote.
      seed: PRNG seed.
    """

    task: str
    num_prompts: int = 64
    noise: float = 0.0
    ns: tuple[int, ...] = _NS
    reps: int = 32
    seed: int = 0


SWEEP: tuple[Setting, ...] = tuple(
    Setting(t, noise=n, seed=s)
    for t, n in (("aligned", 0.5), ("length_bias", 0.0), ("weak", 20.0))
    for s in (0, 1, 2)
)
QUICK: tuple[Setting, ...] = tuple(
    Setting(t, noise=n, reps=16)
    for t, n in (("aligned", 0.5), ("length_bias", 0.0), ("weak", 20.0))
)

LABELS = {
    "aligned": "aligned base (truth = its likeliest answer, perturbed)",
    "length_bias": "length bias (short likely answers are wrong)",
    "weak": "weak base (truth unrelated to likelihood)",
}


def build_task(setting: Setting) -> tasks.TaskData:
    """The :class:`~paper_figs._toy_tasks.TaskData` of ``setting``."""
    key = jax.random.PRNGKey(setting.seed)
    if setting.task == "length_bias":
        return tasks.length_bias_task(key, setting.num_prompts)
    if setting.task in ("aligned", "weak"):
        return tasks.family_task(
            key, "autoregressive", "last_token", setting.num_prompts, setting.noise
        )
    raise ValueError(f"task must be one of {tuple(LABELS)}, got {setting.task!r}")


def run(setting: Setting) -> pd.DataFrame:
    """Tidy rows ``task, seed, reward, N, accuracy, se, greedy_accuracy, lift_pct``."""
    task = build_task(setting)
    ns = np.asarray(setting.ns)
    acc = {
        r: (tasks.bon_accuracies(task, ns, r), np.zeros(len(ns)))
        for r in ("log_likelihood", "length_normalized")
    }
    acc["majority"] = tasks.majority_accuracies(
        jax.random.PRNGKey(1000 + setting.seed), task, ns, setting.reps
    )
    g = task.greedy_accuracy
    rows = [
        {
            "reward": r,
            "N": int(n),
            "accuracy": float(a[i]),
            "se": float(se[i]),
            "greedy_accuracy": g,
            "lift_pct": float(tasks.lift_percent(a[i], g)),
        }
        for r, (a, se) in acc.items()
        for i, n in enumerate(ns)
    ]
    df = pd.DataFrame(rows)
    df.insert(0, "task", setting.task)
    df.insert(1, "seed", setting.seed)
    return df


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 2
QUICK_CPU_SECONDS = 10.3
