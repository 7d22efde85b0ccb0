"""Settings of the label-free self-training figure (Eq. 3, section 2.1, App. B; EM-RL and EM-FT
arXiv 2505.15134, TTRL arXiv 2504.16084, Intuitor arXiv 2505.19590; THEORY.md 6.L1-L3).

The task is :func:`simulators.plurality_toy`: every prompt has a single likeliest response
``y*(x)`` (mass 0.3, the runner-up answer), the plurality answer spread over three responses
(0.45) and two other answers; the plurality is wrong on a fraction ``f`` of the prompts, where the
runner-up (``y*``'s answer) is correct. Each method is :func:`simulators.pg_sharpening` with a
weighted self-reward (one compiled program for all of them, :mod:`simulators.experiments.
label_free`), sampled (``G`` responses per prompt, means over seeds) and by its exact expected
update (the mean-field dynamics); every policy along a run is scored exactly. The iterated
methods are the exact laws of each round (``theory.bon_law`` of the previous round; the closed
form ``pi_0^((1 + 1/beta)^t)``), and in the full sweep their sampled iterates.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pandas as pd

import simulators as sim
import theory
from simulators.experiments import IteratedConfig, LabelFreeConfig, run_iterated, run_label_free

REWARDS = ("log_likelihood", "em_sequence", "ttrl", "self_certainty")
# method: (reward weights over REWARDS, beta, entropy weight)
METHODS = {
    "rlhf_pg": ((1.0, 0.0, 0.0, 0.0), 0.05, 0.0),
    "em_rl": ((0.0, 1.0, 0.0, 0.0), 0.0, 0.0),
    "em_ft": ((0.0, 0.0, 0.0, 0.0), 0.0, 1.0),
    "ttrl": ((0.0, 0.0, 1.0, 0.0), 0.0, 0.0),
    "self_certainty": ((0.0, 0.0, 0.0, 1.0), 0.0, 0.0),
}
LABELS = {
    "rlhf_pg": r"PG, $r=\log\pi_{base}$, $\beta$=0.05 (RLHF-Sharpening)",
    "em_rl": r"EM-RL (sequence), $r=\log\pi_\theta$",
    "em_ft": "EM-FT (token entropy)",
    "ttrl": "TTRL (majority-vote reward)",
    "self_certainty": "self-certainty (Intuitor)",
    "iterated_sft": "iterated SFT-Sharpening (N = 4)",
    "iterated_rlhf": r"iterated RLHF-Sharpening ($\beta$ = 1)",
}
ITERATED = {"iterated_sft": ("sft", 4, 1.0), "iterated_rlhf": ("rlhf", 2, 1.0)}


@dataclasses.dataclass(frozen=True)
class Setting:
    """One block of the figure.

    Attributes:
      kind: ``"trajectories"`` (the policy-gradient methods) or ``"iterated"``.
      update: ``"sampled"`` or ``"expected"`` (trajectories); ``"exact"`` or ``"sampled"``
        (iterated: the exact round laws, or the algorithm's iterates).
      wrong_fraction: ``f``, the fraction of prompts whose plurality answer is wrong.
      num_prompts: X.
      steps: policy-gradient steps (``num_prompts x G`` queries each).
      G: responses per prompt.
      learning_rate: SGD step.
      rounds: rounds of the iterated methods; n: prompts (SFT) / triples (RLHF) per round.
      num_seeds: seeds of the sampled runs.
      seed: first seed.
    """

    kind: str
    update: str
    wrong_fraction: float = 0.25
    num_prompts: int = 8
    steps: int = 800
    G: int = 8
    learning_rate: float = 2.0
    rounds: int = 6
    n: int = 1024
    num_seeds: int = 8
    seed: int = 0


SWEEP: tuple[Setting, ...] = (
    Setting("trajectories", "sampled", steps=2000, num_seeds=32),
    Setting("trajectories", "expected", steps=2000, num_seeds=1),
    Setting("iterated", "exact"),
    Setting("iterated", "sampled", num_seeds=16),
)
QUICK: tuple[Setting, ...] = (
    Setting("trajectories", "sampled"),
    Setting("trajectories", "expected", num_seeds=1),
    Setting("iterated", "exact"),
)


def _steps_grid(steps: int) -> np.ndarray:
    return np.unique(np.concatenate([[0], np.round(np.geomspace(1, steps, 40)).astype(int)]))


def _rows(df: pd.DataFrame, by: str, metrics, x_per_unit: int) -> pd.DataFrame:
    """Mean and standard error over seeds per (setting, budget, metric)."""
    sub = df[df.metric.isin(metrics)]
    g = sub.groupby(["setting", by, "metric"])["value"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["se"] = (out["std"] / np.sqrt(out["count"])).fillna(0.0)
    out = out.rename(columns={"setting": "method", by: "t"})
    out["queries"] = out["t"] * x_per_unit
    return out[["method", "t", "queries", "metric", "mean", "se"]]


def _exact_metrics(logp, logp_base, correct, answers, mu):
    """Exact mass on y*, accuracy, entropy and mass on the plurality answer of a table."""
    p = np.exp(np.asarray(logp, np.float64))
    star = np.asarray(theory.argmax_set(logp_base))
    mode = np.asarray(sim.answer_mode_mask(logp_base, answers))
    mu = np.asarray(mu, np.float64)
    return {
        "mass_on_argmax": float(mu @ (p * star).sum(-1)),
        "accuracy": float(mu @ (p * np.asarray(correct)).sum(-1)),
        "entropy": float(mu @ np.asarray(theory.entropy(logp))),
        "mass_on_answer_mode": float(mu @ (p * mode).sum(-1)),
    }


def limits(setting: Setting, toy) -> pd.DataFrame:
    """The exact limits: pi*_beta of the log-likelihood reward (``theory.kl_tilt``), EM's
    ``y*(x)`` (the argmax of the initial policy, kept by entropy minimization in the tabular
    class) and TTRL's answer-collapsed fixed point (``pi_base`` restricted to its plurality
    answer: the majority reward moves every response of an answer alike)."""
    X = toy.logp.shape[0]
    mu = jnp.full((X,), 1.0 / X)
    star = theory.argmax_set(toy.logp)
    mode = sim.answer_mode_mask(toy.logp, toy.answers)
    tables = {
        "rlhf_pg": theory.kl_tilt(toy.logp, METHODS["rlhf_pg"][1]),
        "em_rl": jnp.where(star, -jnp.log(jnp.sum(star, -1, keepdims=True)), -jnp.inf),
        "ttrl": jnp.where(mode, toy.logp, -jnp.inf),
    }
    tables["ttrl"] = tables["ttrl"] - jnp.log(jnp.sum(jnp.exp(tables["ttrl"]), -1, keepdims=True))
    tables["em_ft"] = tables["em_rl"]
    rows = [
        {"method": m, "metric": k, "mean": v}
        for m, t in tables.items()
        for k, v in _exact_metrics(t, toy.logp, toy.correct, toy.answers, mu).items()
    ]
    return pd.DataFrame(rows).assign(t=np.nan, queries=np.nan, se=0.0)


def run(setting: Setting) -> pd.DataFrame:
    """Tidy rows ``kind, update, method, t, queries, metric, mean, se`` (``t``: the step or the
    round; ``update = "limit"`` rows are the exact limits, ``t`` NaN)."""
    toy = sim.plurality_toy(setting.num_prompts, setting.wrong_fraction)
    X, Y = toy.logp.shape
    mu = jnp.full((X,), 1.0 / X)
    seeds = setting.seed * 1000 + np.arange(setting.num_seeds)
    metrics = ("mass_on_argmax", "accuracy", "entropy", "mass_on_answer_mode")
    if setting.kind == "trajectories":
        base = LabelFreeConfig(
            toy,
            sim.TabularClass(X, Y),
            mu,
            answers=toy.answers,
            correct=toy.correct,
            learning_rate=setting.learning_rate,
            steps=setting.steps,
            G=setting.G,
            num_prompts=X,
            rewards=REWARDS,
            update=setting.update,
            num_answers=int(np.asarray(toy.answers).max()) + 1,
        )
        configs = {
            m: dataclasses.replace(
                base,
                reward_weights=jnp.asarray(w),
                beta=jnp.asarray(beta),
                entropy_weight=jnp.asarray(lam),
            )
            for m, (w, beta, lam) in METHODS.items()
        }
        df = sim.sweep(
            run_label_free,
            configs,
            seeds,
            {"steps_used": _steps_grid(setting.steps)},
            progress=False,
        )
        out = _rows(df, "steps_used", metrics, X * setting.G).assign(update=setting.update)
        if setting.update == "expected":
            out = pd.concat([out, limits(setting, toy).assign(update="limit")])
    elif setting.kind == "iterated":
        if setting.update == "exact":
            rows = []
            for m, (method, N, beta) in ITERATED.items():
                laws = (
                    sim.iterated_bon_law(toy.logp, N, setting.rounds)
                    if method == "sft"
                    else sim.iterated_kl_tilt(toy.logp, beta, setting.rounds)
                )
                for t, table in enumerate([toy.logp, *laws]):
                    vals = _exact_metrics(table, toy.logp, toy.correct, toy.answers, mu)
                    rows += [{"method": m, "t": t, "metric": k, "mean": v} for k, v in vals.items()]
            out = pd.DataFrame(rows).assign(se=0.0)
            out["queries"] = np.nan
        else:
            configs = {
                m: IteratedConfig(
                    toy.logp, mu, beta=beta, method=method, rounds=setting.rounds, n=setting.n, N=N
                )
                for m, (method, N, beta) in ITERATED.items()
            }
            df = sim.sweep(
                run_iterated,
                configs,
                seeds,
                {"rounds_used": np.arange(1, setting.rounds + 1)},
                progress=False,
            )
            out = _rows(df, "rounds_used", ("mass_on_argmax", "entropy"), 0)
            out["queries"] = np.nan
    else:
        raise ValueError(f"kind must be 'trajectories' or 'iterated', got {setting.kind!r}")
    if "update" not in out:
        out["update"] = setting.update
    out.insert(0, "kind", setting.kind)
    out["wrong_fraction"] = setting.wrong_fraction
    return out.reset_index(drop=True)


# Found by paper_figs' discovery (no list to edit): the figure's place in the report, and the CPU
# seconds of its QUICK sweep on 2 cores (measured), which schedules the longest first and makes
# its smoke test slow above paper_figs.SLOW_QUICK_SECONDS.
REPORT_ORDER = 14
QUICK_CPU_SECONDS = 8.2
