"""Label-free self-training experiments: policy gradient with self-rewards, EM-RL, EM-FT, TTRL
and iterated sharpening on enumerable toys, evaluated exactly along the run.

* :class:`LabelFreeConfig` / :func:`run_label_free`: one run of :func:`simulators.pg_sharpening`
  with a weighted sum of self-rewards (``"log_likelihood"`` for RLHF-Sharpening,
  ``"em_sequence"``/``"em_token"`` for EM-RL, ``"ttrl"`` for TTRL, ``"self_certainty"``, ...) and
  EM-FT's entropy term, sampled or by its exact expected update (``update="expected"``). The
  method is the weights (array leaves), so every method of a sweep shares one compiled program;
  :class:`simulators.SharpeningMonitor` evaluates the policy exactly after every step. The
  budget leaf ``steps_used`` reads the trajectory at a step (every ``steps_used`` of a sweep
  reuses the one run of ``steps`` steps), so a sweep over it is the trajectory.
* :class:`IteratedConfig` / :func:`run_iterated`: ``rounds`` rounds of SFT- or
  RLHF-Sharpening (:func:`simulators.iterated_sft_sharpening`,
  :func:`simulators.iterated_rlhf_sharpening`) with the exact law of each round beside it
  (``theory.bon_law`` / ``theory.kl_tilt`` of the previous round's table) and the population
  iterate (:func:`simulators.iterated_bon_law`, :func:`simulators.iterated_kl_tilt`).

References: Eq. 3 and section 2.2 (RLHF-Sharpening), section 2.1 (SFT-Sharpening), Def. 3.1 and
3.2, App. B (entropy minimization) in THEORY.md; EM-RL/EM-FT arXiv 2505.15134, TTRL arXiv
2504.16084, Intuitor arXiv 2505.19590.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import theory
from theory.checks import check_count, check_logp, check_mu, check_scalar, is_concrete

from .._api import to_table
from .._classes import TabularClass
from .._evaluation import sharpening_metrics
from .._label_free import (
    iterated_bon_law,
    iterated_kl_tilt,
    iterated_rlhf_sharpening,
    iterated_sft_sharpening,
    pg_sharpening,
    sharpening_monitor,
)
from .._oracle import SampleEvaluateOracle
from .._tabular import TabularPolicy, unchecked
from .tabular import _static

_UPDATES = ("sampled", "expected")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LabelFreeConfig:
    """One label-free self-training run (for :func:`simulators.sweep`).

    Attributes:
      base: the base policy ``pi_base`` (a policy pytree with an exact table: ``TabularPolicy``,
        ``AnswerToy``, ``MarkovPolicy``, ``LinearSoftmaxPolicy``); the run starts from it.
      model_class: the class updated (``TabularClass``, ``MarkovClass``, ``LinearSoftmaxClass``).
      mu: ``[X]`` prompt distribution.
      beta: KL weight >= 0.
      reward_weights: ``[K]`` weights of ``rewards`` (the reward is ``sum_k w_k r_k``).
      entropy_weight: weight >= 0 of EM-FT's token-entropy term.
      learning_rate: step size > 0; decay: ``eta_t = learning_rate / (1 + decay t)``.
      delta, eps: the (eps, delta) of Def. 3.1 (``sharpened_step``: the first step with
        sharpening error <= eps).
      answers: optional ``[X, Y]`` int answers (TTRL's extractor; the answer-marginal metrics).
      correct: optional ``[X, Y]`` bool correctness (accuracy).
      steps, G, num_prompts: static: steps, group size, prompts per step.
      rewards: static tuple of self-reward names (``"log_likelihood"``, ``"em_sequence"``,
        ``"em_token"``, ``"ttrl"``, ``"self_certainty"``, ``"negative_entropy"``, ...).
      advantage, optimizer: static, as :func:`simulators.pg_sharpening`.
      update: static ``"sampled"`` or ``"expected"`` (the exact mean-field dynamics).
      num_answers: static number of answer ids, needed by ``update="expected"`` with TTRL.
      steps_used: int leaf in ``[0, steps]``: the step whose metrics are returned (a budget).
    """

    base: Any
    model_class: Any
    mu: jax.Array
    beta: Any = 0.1
    reward_weights: Any = None
    entropy_weight: Any = 0.0
    learning_rate: Any = 0.5
    decay: Any = 0.0
    delta: Any = 0.1
    eps: Any = 0.1
    answers: Any = None
    correct: Any = None
    steps: int = _static(default=100)
    G: int = _static(default=4)
    num_prompts: int = _static(default=1)
    rewards: tuple[str, ...] = _static(default=("log_likelihood",))
    advantage: str = _static(default="rloo")
    optimizer: str = _static(default="sgd")
    update: str = _static(default="sampled")
    num_answers: int | None = _static(default=None)
    steps_used: Any = None


def check_label_free_config(config: LabelFreeConfig, budgets=None) -> LabelFreeConfig:
    """Concrete checks of a :class:`LabelFreeConfig` (and its ``steps_used`` budgets) before a
    sweep traces it; the errors name the field."""
    if not isinstance(config, LabelFreeConfig):
        raise TypeError(f"config must be a LabelFreeConfig, got {type(config).__name__}")
    steps = check_count(config.steps, "config.steps")
    check_count(config.num_prompts, "config.num_prompts")
    if not isinstance(config.rewards, tuple):
        raise TypeError(f"config.rewards must be a tuple of reward names, got {config.rewards!r}")
    if config.update not in _UPDATES:
        raise ValueError(f"config.update must be one of {_UPDATES}, got {config.update!r}")
    check_count(config.G, "config.G", 2)
    logp = check_logp(to_table(config.base), "to_table(config.base)", min_ndim=2)
    check_mu(config.mu, logp.shape[0], "config.mu")
    for name in ("beta", "entropy_weight", "learning_rate", "decay", "delta", "eps"):
        check_scalar(getattr(config, name), f"config.{name}")
    for name in ("beta", "entropy_weight"):
        value = getattr(config, name)
        if is_concrete(value) and not float(value) >= 0:
            raise ValueError(f"config.{name} must be >= 0, got {value}")
    if config.reward_weights is not None and np.shape(config.reward_weights) != (
        len(config.rewards),
    ):
        raise ValueError(
            f"config.reward_weights must have shape ({len(config.rewards)},), one weight per "
            f"reward of config.rewards, got {np.shape(config.reward_weights)}"
        )
    if "ttrl" in config.rewards and config.answers is None:
        raise ValueError("config.answers is required for the 'ttrl' reward (majority vote)")
    if "ttrl" in config.rewards and config.update == "expected" and config.num_answers is None:
        raise ValueError(
            "config.num_answers (static) is required for update='expected' with the 'ttrl' reward"
        )
    values = [config.steps_used]
    if budgets is not None and "steps_used" in budgets:
        values = list(np.asarray(budgets["steps_used"]))
    for v in values:
        if v is not None and is_concrete(v) and not 0 <= int(v) <= steps:
            raise ValueError(f"config.steps_used must lie in [0, config.steps = {steps}], got {v}")
    return config


def _first(condition: jax.Array) -> jax.Array:
    """First index where ``condition [T]`` holds, ``T`` if never."""
    T = condition.shape[0]
    return jnp.where(jnp.any(condition), jnp.argmax(condition), T)


def run_label_free(key: jax.Array, config: LabelFreeConfig) -> dict[str, jax.Array]:
    """One run of :func:`simulators.pg_sharpening` from ``pi_base``, scored exactly.

    Metrics at step ``steps_used`` (the :class:`~simulators.SharpeningMonitor` values:
    ``mass_on_argmax``, ``sharpening_error``, ``entropy``, ``kl_to_target`` against
    ``pi*_beta = theory.kl_tilt(logp_base, beta)`` (the limit of the log-likelihood reward),
    ``accuracy``, ``mass_on_answer_mode``, ``min_answer_mode_mass``, ``mass_elsewhere``),
    ``queries`` (``steps_used P G``: the responses drawn and scored; the oracle evaluates
    ``log pi_base`` at each, which EM-FT alone would not need) and two whole-run metrics:
    ``sharpened_step``
    (first step with sharpening error <= eps, ``steps + 1`` if never) and ``collapse_step`` (first
    step where every prompt has >= 1 - delta of its mass on ``pi_base``'s plurality answer).
    """
    logp_base = to_table(config.base)
    beta = jnp.asarray(config.beta, logp_base.dtype)
    # pi*_beta, the limit of the log-likelihood reward (beta = 0: the argmax limit, for which
    # the smallest normal beta stands).
    target = theory.kl_tilt(logp_base, jnp.maximum(beta, jnp.finfo(logp_base.dtype).tiny))
    monitor = sharpening_monitor(
        logp_base,
        config.mu,
        config.delta,
        target=target,
        correct=config.correct,
        answers=config.answers,
    )
    oracle = SampleEvaluateOracle(config.base, config.mu)
    res = pg_sharpening(
        key,
        oracle,
        config.model_class,
        config.steps,
        config.G,
        config.beta,
        reward=config.rewards,
        reward_weights=config.reward_weights,
        entropy_weight=config.entropy_weight,
        num_prompts=config.num_prompts,
        learning_rate=config.learning_rate,
        decay=config.decay,
        optimizer=config.optimizer,
        advantage=config.advantage,
        answer_extractor=config.answers,
        monitor=monitor,
        update=config.update,
        logp_base=logp_base if config.update == "expected" else None,
        num_answers=config.num_answers,
    )
    trace = res.diagnostics["trace"]  # [steps + 1]
    i = config.steps if config.steps_used is None else config.steps_used
    per_step = config.num_prompts * config.G
    out = {name: values[i] for name, values in trace.items()}
    return out | {
        "queries": i * per_step,
        "sharpened_step": _first(trace["sharpening_error"] <= config.eps),
        "collapse_step": _first(trace["min_answer_mode_mass"] >= 1 - config.delta),
    }


run_label_free.validate_config = check_label_free_config


# ----------------------------------------------------------------------------------------------
# Iterated sharpening


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class IteratedConfig:
    """Iterated SFT- or RLHF-Sharpening on a tabular instance (for :func:`simulators.sweep`).

    Attributes:
      logp_base: ``[X, Y]`` base table; mu: ``[X]``.
      beta: the KL weight of RLHF-Sharpening (``method="rlhf"``).
      delta: the sharpening error's delta.
      method: static ``"sft"`` (:func:`simulators.iterated_sft_sharpening`) or ``"rlhf"``
        (:func:`simulators.iterated_rlhf_sharpening`, the squared loss of Eq. 8).
      rounds: static ``T >= 1``; n: static prompts (SFT) or triples (RLHF) per round; N: static
        responses per prompt (SFT).
      rounds_used: int leaf in ``[1, rounds]`` (a budget).
    """

    logp_base: jax.Array
    mu: jax.Array
    beta: Any = 1.0
    delta: Any = 0.1
    method: str = _static(default="rlhf")
    rounds: int = _static(default=1)
    n: int = _static(default=100)
    N: int = _static(default=2)
    rounds_used: Any = None


def check_iterated_config(config: IteratedConfig, budgets=None) -> IteratedConfig:
    """Concrete checks of an :class:`IteratedConfig` (errors name the field)."""
    if not isinstance(config, IteratedConfig):
        raise TypeError(f"config must be an IteratedConfig, got {type(config).__name__}")
    if config.method not in ("sft", "rlhf"):
        raise ValueError(f"config.method must be 'sft' or 'rlhf', got {config.method!r}")
    rounds = check_count(config.rounds, "config.rounds")
    check_count(config.n, "config.n")
    check_count(config.N, "config.N")
    logp = check_logp(config.logp_base, "config.logp_base", min_ndim=2)
    check_mu(config.mu, logp.shape[0], "config.mu")
    values = [config.rounds_used]
    if budgets is not None and "rounds_used" in budgets:
        values = list(np.asarray(budgets["rounds_used"]))
    for v in values:
        if v is not None and is_concrete(v) and not 1 <= int(v) <= rounds:
            raise ValueError(
                f"config.rounds_used must lie in [1, config.rounds = {rounds}], got {v}"
            )
    return config


def _tv(logp_p, logp_q, mu):
    """``E_x TV(p(.|x), q(.|x))``."""
    return (0.5 * jnp.sum(jnp.abs(jnp.exp(logp_p) - jnp.exp(logp_q)), axis=-1)) @ mu


def _support_tilt(prev: jax.Array, support: jax.Array, beta) -> jax.Array:
    """``pi_prev^(1 + 1/beta)`` normalized on ``support`` (a round's exact fit there)."""
    logits = jnp.where(support, (1.0 + 1.0 / beta) * jnp.where(support, prev, 0.0), -jnp.inf)
    return logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)


def run_iterated(key: jax.Array, config: IteratedConfig) -> dict[str, jax.Array]:
    """``rounds`` rounds of SFT- or RLHF-Sharpening, round ``rounds_used`` scored exactly.

    Metrics: ``mass_on_argmax``, ``sharpening_error`` (Def. 3.1 against ``pi_base``'s
    ``y*``), ``entropy``; ``tv_to_law`` (``E_x TV`` to the population iterate: ``bon_law``
    applied ``t`` times, or ``pi_0^((1 + 1/beta)^t)``), ``tv_to_round_law`` (to the exact law of
    the round given the previous round's output: ``bon_law(pi_{t-1}, N)`` or
    ``kl_tilt(pi_{t-1}, beta)``); for RLHF also ``round_fit_error`` (max over the round's
    support of ``|log pi_t - log pi_{t-1}^(1+1/beta)/Z|``: the fit is exact on the responses it
    observed), ``full_support`` (1 when every round kept all of ``pi_base``'s support, so the
    output must equal the closed form) and ``closed_form_error`` (max ``|log pi_t - log
    pi_0^((1+1/beta)^t)/Z|`` over ``pi_base``'s support); ``queries`` (all rounds so far).
    """
    logp_base = jnp.asarray(config.logp_base)
    X, Y = logp_base.shape
    mu = jnp.asarray(config.mu, logp_base.dtype)
    oracle = SampleEvaluateOracle(TabularPolicy(logp_base), mu)
    cls = TabularClass(X, Y)
    if config.method == "sft":
        res = iterated_sft_sharpening(key, oracle, cls, config.rounds, config.n, config.N)
        laws = iterated_bon_law(logp_base, config.N, config.rounds)
    else:
        res = iterated_rlhf_sharpening(key, oracle, cls, config.rounds, config.n, config.beta)
        laws = iterated_kl_tilt(logp_base, config.beta, config.rounds)
    tables = res.diagnostics["tables"]  # [R, X, Y]
    previous = jnp.concatenate([logp_base[None], tables[:-1]])
    if config.method == "sft":
        round_laws = jax.vmap(lambda t: theory.bon_law(t, config.N))(previous)
    else:
        round_laws = jax.vmap(lambda t: theory.kl_tilt(t, config.beta))(previous)
    i = (config.rounds if config.rounds_used is None else config.rounds_used) - 1
    table, law, round_law, prev = tables[i], laws[i], round_laws[i], previous[i]
    metrics = sharpening_metrics(unchecked(TabularPolicy, logp=table), logp_base, mu, config.delta)
    out = {
        **metrics,
        "entropy": theory.entropy(table) @ mu,
        "tv_to_law": _tv(table, law, mu),
        "tv_to_round_law": _tv(table, round_law, mu),
        "queries": jnp.cumsum(res.diagnostics["queries_per_round"])[i],
    }
    nan = jnp.asarray(jnp.nan, table.dtype)
    if config.method == "rlhf":
        support = jnp.isfinite(table)
        exact = _support_tilt(prev, support, config.beta)
        base_support = jnp.isfinite(logp_base)
        # Every round up to i kept pi_base's whole support (nothing unobserved was dropped).
        kept = jnp.all(jnp.isfinite(tables) == base_support, axis=(1, 2))  # [R]
        full = jnp.all(kept | (jnp.arange(config.rounds) > i))
        out["round_fit_error"] = jnp.max(jnp.where(support, jnp.abs(table - exact), 0.0))
        out["full_support"] = full.astype(table.dtype)
        out["closed_form_error"] = jnp.max(
            jnp.where(base_support & support, jnp.abs(table - law), 0.0)
        )
    else:
        out |= {"round_fit_error": nan, "full_support": nan, "closed_form_error": nan}
    return out


run_iterated.validate_config = check_iterated_config
