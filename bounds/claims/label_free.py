"""Label-free self-training beyond SFT and DPO (issue 17): claims L1-L3.

* L1: on-policy policy-gradient sharpening with ``r = log pi_base`` and a KL penalty converges to
  ``pi*_beta = theory.kl_tilt(logp_base, beta)`` (Eq. 3), the exact KL falling at the rate the
  linearized dynamics predict;
* L2: iterated RLHF-Sharpening matches its closed form ``pi_0^((1 + 1/beta)^T)`` to 1e-9;
* L3: TTRL's fixed point (arXiv 2504.16084) is ``pi_base``'s plurality answer on every prompt of
  the constructed toy, right or wrong, so its accuracy is ``1 - f``.

Every run goes through :mod:`simulators.experiments.label_free` (``run_label_free``,
``run_iterated``) and :func:`simulators.sweep`; the pass rules below follow from the maths and were
written before the measurements (THEORY.md section 6, claims L1-L3).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

import simulators as sim
import theory
from simulators.experiments import IteratedConfig, LabelFreeConfig, run_iterated, run_label_free

from ._registry import Outcome, claim

# ----------------------------------------------------------------------------------------------
# L1. Policy-gradient sharpening converges to pi*_beta.


@dataclasses.dataclass(frozen=True)
class PGSettings:
    """L1: steps, seeds, the group size and the (constant) SGD step."""

    steps: int
    num_seeds: int
    G: int = 4
    learning_rate: float = 1.0
    every: int = 25


L1_QUICK = PGSettings(steps=1000, num_seeds=16)
L1_FULL = PGSettings(steps=1200, num_seeds=128)

# The instance: two prompts, four responses, beta = 1 (pi*_beta prop. to pi_base^2).
_L1_PROBS = ((0.4, 0.3, 0.2, 0.1), (0.5, 0.25, 0.15, 0.10))
_L1_BETA = 1.0
# The fit window of log KL: above the float64 floor, below the transient.
_L1_WINDOW = (1e-20, 1e-4)
_L1_MEAN_FIELD_BAND = 0.05
_L1_SAMPLED_BAND = (0.5, 2.0)


def linearized_kl_rate(logp_base, mu, beta: float, learning_rate: float, factor: float = 1.0):
    """Predicted ``d log KL(pi_t || pi*_beta) / dt`` of the expected-update dynamics.

    ``J_beta(pi) = beta log Z - beta KL(pi || pi*_beta)`` (Eq. 3), so in softmax logits the
    expected step of :func:`simulators.pg_sharpening` is ``-eta factor mu(x) beta grad KL``, whose
    Hessian at the optimum is ``mu(x) beta F(x)`` with ``F = diag(pi*) - pi* pi*^T`` (the Fisher
    matrix; ``factor = 1`` for RLOO). Near ``pi*`` the logit error decays mode by mode as
    ``(1 - eta factor mu beta lambda)^t`` and ``KL ~ delta^T F delta / 2``, so the slowest
    non-constant mode sets ``2 log(1 - eta factor min_x mu(x) beta lambda_1(F(x)))``.
    """
    tilt = np.exp(np.asarray(theory.kl_tilt(logp_base, beta), np.float64))
    lam = [np.linalg.eigvalsh(np.diag(p) - np.outer(p, p))[1] for p in tilt]
    slowest = float(np.min(np.asarray(mu, np.float64) * beta * np.asarray(lam)))
    return 2.0 * math.log1p(-learning_rate * factor * slowest)


def _loglinear_slope(t: np.ndarray, log_kl: np.ndarray) -> tuple[float, int]:
    lo, hi = (math.log(v) for v in _L1_WINDOW)
    ok = np.isfinite(log_kl) & (log_kl > lo) & (log_kl < hi)
    if ok.sum() < 3:
        return math.nan, int(ok.sum())
    return float(np.polyfit(t[ok], log_kl[ok], 1)[0]), int(ok.sum())


@claim(
    "L1",
    "policy-gradient sharpening (r = log pi_base, KL to pi_base) converges to pi*_beta",
    "Eq. 3 optimized online (GRPO/RLOO-style, THEORY.md 6.L1)",
    quick=L1_QUICK,
    full=L1_FULL,
    timeout_s=(120.0, 900.0),
)
def _l1(s: PGSettings) -> Outcome:
    policy = sim.TabularPolicy.from_probs(jnp.asarray(_L1_PROBS))
    X, Y = policy.logp.shape
    mu = jnp.full((X,), 1.0 / X)
    predicted = linearized_kl_rate(policy.logp, mu, _L1_BETA, s.learning_rate)
    config = LabelFreeConfig(
        policy,
        sim.TabularClass(X, Y),
        mu,
        beta=_L1_BETA,
        learning_rate=s.learning_rate,
        steps=s.steps,
        G=s.G,
    )
    ts = np.arange(0, s.steps + 1, s.every)
    settings = {"sampled": config, "expected": dataclasses.replace(config, update="expected")}
    df = sim.sweep(run_label_free, settings, s.num_seeds, {"steps_used": ts}, progress=False)
    kl = df[df.metric == "kl_to_target"]
    log_kl = {
        name: np.log(
            g.pivot(index="steps_used", columns="seed", values="value").to_numpy(np.float64)
        )
        for name, g in kl.groupby("setting")
    }  # [steps, seeds]
    mean_field, n_mf = _loglinear_slope(ts, log_kl["expected"][:, 0])
    sampled, n_s = _loglinear_slope(ts, log_kl["sampled"].mean(axis=1))
    kl0 = float(np.exp(log_kl["expected"][0, 0]))
    worst_final = float(np.exp(log_kl["sampled"][-1].max()))
    # The slow end of the sampled band, extrapolated from KL_0: every seed must be below it.
    bound_final = kl0 * math.exp(_L1_SAMPLED_BAND[0] * predicted * s.steps)
    r_mf, r_s = mean_field / predicted, sampled / predicted
    holds = bool(
        abs(r_mf - 1.0) <= _L1_MEAN_FIELD_BAND
        and _L1_SAMPLED_BAND[0] <= r_s <= _L1_SAMPLED_BAND[1]
        and worst_final <= bound_final
    )
    return Outcome(
        holds=holds,
        measured=f"d log KL/dt: expected update {mean_field:.4f} ({r_mf:.3f}x), sampled "
        f"(G={s.G}, mean of log KL over {s.num_seeds} seeds) {sampled:.4f} ({r_s:.2f}x); "
        f"worst final KL {worst_final:.1e} (KL_0 = {kl0:.3f})",
        predicted=f"linearized rate 2 log(1 - eta beta min_x mu lambda_1(F)) = {predicted:.4f}; "
        f"expected update within {_L1_MEAN_FIELD_BAND:.0%}, sampled within "
        f"[{_L1_SAMPLED_BAND[0]:g}, {_L1_SAMPLED_BAND[1]:g}]x, every seed's final KL <= "
        f"{bound_final:.1e}",
        details={
            "predicted_rate": predicted,
            "mean_field_rate": mean_field,
            "sampled_rate": sampled,
            "fit_points": [n_mf, n_s],
            "kl0": kl0,
            "worst_final_kl": worst_final,
        },
    )


# ----------------------------------------------------------------------------------------------
# L2. Iterated RLHF-Sharpening in closed form.


@dataclasses.dataclass(frozen=True)
class IteratedSettings:
    """L2: rounds, triples per round and seeds of the sampled iterate."""

    rounds: int
    n: int
    num_seeds: int
    betas: tuple[float, ...] = (0.25, 1.0, 4.0)


L2_QUICK = IteratedSettings(rounds=4, n=400, num_seeds=8)
L2_FULL = IteratedSettings(rounds=6, n=2000, num_seeds=64)
_L2_TOL = 1e-9


@claim(
    "L2",
    "iterated RLHF-Sharpening: T rounds give pi_0^((1+1/beta)^T)/Z, each round exact on its data",
    "Eq. 3 iterated, Eq. 8 (THEORY.md 6.L2)",
    quick=L2_QUICK,
    full=L2_FULL,
    timeout_s=(120.0, 900.0),
)
def _l2(s: IteratedSettings) -> Outcome:
    policy, mu = sim.dirichlet_tabular(jax.random.PRNGKey(17), 3, 5, concentration=2.0)
    logp = policy.logp
    # (a) The T-fold exact iterate (kl_tilt of the previous round's table, T times) against the
    # closed form, on the support (all of it: Dirichlet rows have full support).
    exact_gap = 0.0
    for beta in s.betas:
        closed = sim.iterated_kl_tilt(logp, beta, s.rounds)
        table = logp
        for t in range(s.rounds):
            table = theory.kl_tilt(table, beta)
            exact_gap = max(exact_gap, float(jnp.max(jnp.abs(table - closed[t]))))
    # (b), (c) The sampled algorithm (the squared loss of Eq. 8, tabular class) round by round.
    configs = {
        beta: IteratedConfig(logp, mu, beta=beta, rounds=s.rounds, n=s.n, method="rlhf")
        for beta in s.betas
    }
    df = sim.sweep(
        run_iterated,
        configs,
        s.num_seeds,
        {"rounds_used": np.arange(1, s.rounds + 1)},
        progress=False,
    )
    wide = df.pivot_table(
        index=["setting", "seed", "rounds_used"], columns="metric", values="value"
    )
    fit_gap = float(wide["round_fit_error"].max())
    full = wide[wide["full_support"] == 1.0]
    closed_gap = float(full["closed_form_error"].max()) if len(full) else math.nan
    num_full = len(full)
    holds = bool(exact_gap <= _L2_TOL and fit_gap <= _L2_TOL and num_full and closed_gap <= _L2_TOL)
    return Outcome(
        holds=holds,
        measured=f"max |log| gap: T-fold exact iterate vs closed form {exact_gap:.1e}; each "
        f"sampled round's fit vs kl_tilt of the previous round on its support {fit_gap:.1e}; "
        f"sampled output vs closed form on the {num_full} of {len(wide)} (seed, round) runs "
        f"that kept the full support {closed_gap:.1e}",
        predicted=f"all three <= {_L2_TOL:g} (exact identities: rounding only), beta in "
        f"{list(s.betas)}, T <= {s.rounds}",
        details={
            "exact_gap": exact_gap,
            "round_fit_gap": fit_gap,
            "closed_form_gap": closed_gap,
            "full_support_runs": num_full,
            "runs": len(wide),
        },
    )


# ----------------------------------------------------------------------------------------------
# L3. TTRL's fixed point is the plurality answer.


@dataclasses.dataclass(frozen=True)
class TTRLSettings:
    """L3: steps and seeds; the fractions ``f`` of prompts whose plurality answer is wrong."""

    steps: int
    num_seeds: int
    fs: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    num_prompts: int = 8
    G: int = 8
    learning_rate: float = 0.5
    mean_field_learning_rate: float = 8.0


L3_QUICK = TTRLSettings(steps=800, num_seeds=8)
L3_FULL = TTRLSettings(steps=2000, num_seeds=32)
_L3_DELTA = 1e-2


def ttrl_configs(s: TTRLSettings) -> dict:
    """The L3 settings: ``(f, update) -> LabelFreeConfig`` on :func:`simulators.plurality_toy`."""
    out = {}
    for f in s.fs:
        toy = sim.plurality_toy(s.num_prompts, f)
        X, Y = toy.logp.shape
        base = LabelFreeConfig(
            toy,
            sim.TabularClass(X, Y),
            jnp.full((X,), 1.0 / X),
            beta=0.0,
            rewards=("ttrl",),
            answers=toy.answers,
            correct=toy.correct,
            steps=s.steps,
            G=s.G,
            num_prompts=X,
            delta=_L3_DELTA,
            num_answers=int(np.asarray(toy.answers).max()) + 1,
        )
        out[(f, "sampled")] = dataclasses.replace(base, learning_rate=s.learning_rate)
        out[(f, "expected")] = dataclasses.replace(
            base, learning_rate=s.mean_field_learning_rate, update="expected"
        )
    return out


@claim(
    "L3",
    "TTRL's fixed point is pi_base's plurality answer on every prompt: accuracy 1 - f",
    "TTRL (arXiv 2504.16084) as sharpening of the answer marginal (THEORY.md 6.L3)",
    quick=L3_QUICK,
    full=L3_FULL,
    timeout_s=(120.0, 900.0),
)
def _l3(s: TTRLSettings) -> Outcome:
    configs = ttrl_configs(s)
    df = sim.sweep(run_label_free, configs, s.num_seeds, {"steps_used": [s.steps]}, progress=False)
    df["f"] = [k[0] for k in df["setting"]]
    df["update"] = [k[1] for k in df["setting"]]
    wanted = ["accuracy", "min_answer_mode_mass", "answer_mode_kept", "collapse_step"]
    df = df[df.metric.isin(wanted)]
    wide = df.pivot_table(index=["update", "f", "seed"], columns="metric", values="value")
    exact = wide.loc["expected"].groupby("f").mean()
    sampled = wide.loc["sampled"]
    realized = {f: round(f * s.num_prompts) / s.num_prompts for f in s.fs}
    acc_gap = max(abs(exact.loc[f, "accuracy"] - (1.0 - realized[f])) for f in s.fs)
    min_mass = float(exact["min_answer_mode_mass"].min())
    flips = (1.0 - sampled["answer_mode_kept"]).groupby("f").mean()
    collapse = exact["collapse_step"]
    holds = bool(min_mass >= 1.0 - _L3_DELTA and acc_gap <= _L3_DELTA and flips.max() < 0.5)
    return Outcome(
        holds=holds,
        measured=f"expected update after {s.steps} steps: min over prompts of the mass on the "
        f"plurality answer {min_mass:.4f}, max |accuracy - (1 - f)| {acc_gap:.1e} over f in "
        f"{list(s.fs)}, collapse (every prompt >= {1 - _L3_DELTA:g}) at step "
        f"{int(collapse.max())}; sampled (eta {s.learning_rate:g}, {s.num_seeds} seeds): "
        f"fraction of prompts whose modal answer left the plurality {float(flips.max()):.3f}",
        predicted=f"mass >= {1 - _L3_DELTA:g} on the plurality answer of every prompt and "
        f"accuracy 1 - f within {_L3_DELTA:g} (the answer-collapsed fixed point reached from "
        "pi_base); sampled runs: the plurality is the modal fixed point (fraction < 0.5)",
        details={
            "accuracy": {float(f): float(exact.loc[f, "accuracy"]) for f in s.fs},
            "sampled_accuracy": {
                float(f): float(v) for f, v in sampled["accuracy"].groupby("f").mean().items()
            },
            "collapse_step": {float(f): float(v) for f, v in collapse.items()},
            "sampled_flip_fraction": {float(f): float(v) for f, v in flips.items()},
        },
    )
