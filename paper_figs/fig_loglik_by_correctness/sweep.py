"""Settings of the log-likelihood-by-correctness figure (paper Figs. 1c and 6 analogues).

Temperature-1 samples from toy reasoning tasks (:mod:`paper_figs._toy_tasks`); for each sample its
sequence log-likelihood under the base model and whether its extracted answer is correct. The
protocol's ``likelihood_by_correctness`` gives the AUC: the probability that a random correct sample
is likelier than a random incorrect one (above 1/2 is the sharpening mechanism's premise).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pandas as pd

from paper_figs import _toy_tasks as tasks


@dataclasses.dataclass(frozen=True)
class Setting:
    """One toy task.

    Attributes:
      family: model family (``_toy_tasks.FAMILIES``), or "length_bias".
      task: answer extractor (``_toy_tasks.TASKS``; ignored for "length_bias").
      noise: the truth's Gumbel tilt.
      num_prompts: X.
      samples: temperature-1 samples per prompt.
      seed: PRNG seed.
    """

    family: str
    task: str = "last_token"
    noise: float = 0.5
    num_prompts: int = 64
    samples: int = 16
    seed: int = 0


SWEEP: tuple[Setting, ...] = (
    Setting("autoregressive", "last_token", 0.5, samples=64),
    Setting("markov", "sum_mod", 0.5, samples=64),
    Setting("autoregressive", "last_token", 20.0, samples=64),
    Setting("length_bias", samples=64),
)
QUICK: tuple[Setting, ...] = tuple(
    dataclasses.replace(s, samples=16) for s in SWEEP[::2] + SWEEP[3:]
)


def label(setting: Setting) -> str:
    if setting.family == "length_bias":
        return "length bias (short likely answers wrong)"
    kind = "weak base" if setting.noise > 5 else "aligned base"
    return f"{setting.family}, {setting.task.replace('_', ' ')} ({kind})"


def run(setting: Setting) -> pd.DataFrame:
    """One row per sample (``prompt, logp, length, correct``) plus the task's ``auc`` and
    ``auc_within_prompt`` (``simulators`` protocol's ``likelihood_by_correctness``)."""
    import simulators
    from simulators import likelihood_by_correctness, sample_table

    key = jax.random.PRNGKey(setting.seed)
    k_task, k_draw = jax.random.split(key)
    if setting.family == "length_bias":
        task = tasks.length_bias_task(k_task, setting.num_prompts)
    else:
        task = tasks.family_task(
            k_task, setting.family, setting.task, setting.num_prompts, setting.noise
        )
    rollouts = simulators.sample(k_draw, task.toy, np.arange(setting.num_prompts), setting.samples)
    df = sample_table(rollouts)[["prompt", "logp", "length", "correct"]]
    stats = likelihood_by_correctness(rollouts).set_index("metric")["value"]
    df.insert(0, "label", label(setting))
    df["auc"] = float(stats["auc"])
    df["auc_within_prompt"] = float(stats["auc_within_prompt"])
    return df


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 4
QUICK_CPU_SECONDS = 2.6
