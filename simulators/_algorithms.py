"""The self-improvement (sharpening) algorithms under the sample-and-evaluate oracle.

Each algorithm is ``alg(key, oracle, model_class, ...) -> Result`` and reaches ``pi_base`` only
through :mod:`simulators._oracle` (``draw``, ``draw_adaptive``, ``evaluate``), counting every
query. They follow THEORY.md section 4's pseudo-code:

* :func:`sft_sharpening`: SFT-Sharpening, section 2.1 / pseudo-code B (Theorem 4.1);
* :func:`adaptive_sft_sharpening`: adaptive SFT-Sharpening, App. D / pseudo-code C (Theorem D.1);
* :func:`dpo_sharpening`: RLHF-Sharpening by the squared loss of Eq. 8 / pseudo-code D
  (Theorem 4.2);
* :func:`xpo_sharpening`: Algorithm 1 (reward-based XPO, Theorems 4.3, J.1-J.3); ``alpha = 0`` is
  the on-policy ablation without exploration.

Realizability (``pi^BoN_N in Pi``, Assumption 4.1; ``pi*_beta in Pi``, Assumptions 4.3 / J.3) is a
hypothesis of the theorems, not something the learner can test from queries. With
``realizability="error"`` (the default) the algorithm verifies it before learning, reading
``pi_base``'s exact table (a check of the experiment's setup that costs no query and does not
influence what is learned), and refuses a class that cannot represent the target;
``realizability="flag"`` records the answer in ``diagnostics["realizable"]`` and runs anyway;
``"skip"`` does neither (use it inside ``jit``/sweeps).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import theory
from theory.checks import (
    check_count,
    check_nonnegative,
    check_open_unit,
    check_positive,
    is_concrete,
    runtime_check,
)

from ._api import to_table
from ._best_of_n import _priority_dtype, argmax_random_tie, reward_scores
from ._classes import (
    _enumerated_tokens,
    check_class_matches,
    check_model_class,
    check_realizable,
    class_table,
    make_pair_data,
    mle_params,
    pair_fit_params,
    params_to_policy,
)
from ._oracle import (
    SampleEvaluateOracle,
    check_oracle,
    draw,
    draw_adaptive,
    draw_prompts,
    evaluate,
    likelihood_stopping_rule,
)
from ._rewards import REWARDS, get_reward, log_likelihood
from ._rollouts import Rollouts
from ._tabular import draw_rows


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Result:
    """What an algorithm returns.

    Attributes:
      policy: the learned policy ``pi_hat`` (a policy pytree; ``simulators.to_table`` gives its
        table).
      queries: the number ``m`` of sample-and-evaluate queries used (int, or an int array inside
        ``jit``/``vmap``; for the adaptive oracle the realized ``m``, whose mean is ``E[m]``).
      diagnostics: dict of extra arrays (documented per algorithm).
    """

    policy: Any
    queries: Any
    diagnostics: dict


# ----------------------------------------------------------------------------------------------
# Helpers


def _base_table(oracle: SampleEvaluateOracle) -> jax.Array | None:
    """``pi_base``'s exact table for realizability checks and exact selection (None if too big)."""
    try:
        return to_table(oracle.policy)
    except (TypeError, ValueError):
        return None


def _num_responses(oracle: SampleEvaluateOracle) -> int | None:
    return getattr(oracle.policy, "num_responses", None)


def _per_draw_names() -> list[str]:
    return [name for name, r in REWARDS.items() if r.per_draw]


def _check_used(value: Any, maximum: int, name: str, max_name: str) -> Any:
    """Validates an optional budget mask ``1 <= value <= maximum`` (an int or int array leaf)."""
    if value is None:
        return maximum
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = check_count(value, name)
        if value > maximum:
            raise ValueError(f"{name} must be <= {max_name} = {maximum}, got {value}")
        return value
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer (or integer array leaf), got dtype {arr.dtype}")
    if is_concrete(arr):
        a = np.asarray(arr)
        if (a < 1).any():
            raise ValueError(
                f"{name} must be >= 1 (at least one query per prompt and one prompt), got {value}"
            )
        if (a > maximum).any():
            raise ValueError(f"{name} must be <= {max_name} = {maximum}, got {value}")
        return arr
    # Traced (a sweep's budget leaf): checked where it becomes concrete, when the program runs.
    return runtime_check(
        arr,
        lambda v, xp: ~((v >= 1) & (v <= maximum)),
        f"{name} must satisfy 1 <= {name} <= {max_name} = {maximum}, got {{}}",
    )


@jax.jit
def prefix_best_of_n(key: jax.Array, scores: jax.Array) -> jax.Array:
    """Best-of-k index for every prefix length k at once, ties broken uniformly.

    ``out[p, k-1]`` is the index in ``[k]`` of the maximizer of ``scores[p, :k]``. Each sample gets
    an independent uniform priority; the winner of a prefix is the lexicographic maximum of
    ``(score, priority)``, so among tied maximizers each is equally likely, and all prefixes share
    one draw (what lets a sweep evaluate every ``N <= N_max`` from one set of samples).

    Args:
      key: PRNG key for the tie-breaking priorities.
      scores: ``[P, N]`` self-reward scores (NaN is treated as ``-inf``).

    Returns:
      ``[P, N]`` int indices.
    """
    scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
    priority = jax.random.uniform(key, scores.shape, _priority_dtype(scores))

    # A sequential scan over N (vectorized over P) compiles much faster than associative_scan.
    def step(best, inputs):
        s_best, u_best, i_best = best
        s, u, i = inputs
        take = (s > s_best) | ((s == s_best) & (u > u_best))
        best = (
            jnp.where(take, s, s_best),
            jnp.where(take, u, u_best),
            jnp.where(take, i, i_best),
        )
        return best, best[2]

    P, N = scores.shape
    init = (
        jnp.full((P,), -jnp.inf, scores.dtype),
        jnp.full((P,), -1.0, priority.dtype),
        jnp.zeros((P,), jnp.int32),
    )
    index = jnp.broadcast_to(jnp.arange(N, dtype=jnp.int32)[:, None], (N, P))
    _, best = jax.lax.scan(step, init, (scores.T, priority.T, index))
    return best.T


def _chosen_responses(rollouts: Rollouts, index: jax.Array) -> jax.Array:
    """``[P, T]`` tokens of the chosen sample of each prompt."""
    return jnp.take_along_axis(rollouts.tokens, index[:, None, None], axis=1)[:, 0]


def _class_responses(model_class: Any, tokens: jax.Array, policy: Any) -> jax.Array:
    """Responses ``tokens [P, T]`` in the class's encoding (:meth:`ModelClass.responses`).

    Markov classes take the ``[P, T]`` tokens. The tabular-type classes index responses by the
    columns of ``to_table(pi_base)``: a single-token response is its own index, and a
    multi-token response (an autoregressive ``pi_base``) is mapped to its column in
    ``to_table``'s enumeration order (:func:`simulators.response_columns`).
    """
    return model_class.responses(tokens, policy)


def _response_tokens(policy: Any, index: jax.Array, T: int) -> jax.Array:
    """Inverse of :func:`_class_responses` for tabular-type classes: ``[...]`` column indices to
    the responses the oracle evaluates (``[...]`` ints when ``T = 1``, else ``[..., T]`` tokens)."""
    if T == 1:
        return index
    return jnp.asarray(_enumerated_tokens(policy), jnp.int32)[index]


def _setup(oracle, model_class):
    oracle = check_oracle(oracle)
    check_model_class(model_class)
    check_class_matches(model_class, oracle.num_prompts, _num_responses(oracle))
    return oracle


def _realizability(model_class, oracle, target_fn: Callable[[jax.Array], jax.Array], what, mode):
    """Realizability flag for the target ``target_fn(logp_base)`` (see the module docstring)."""
    if mode not in ("error", "flag", "skip"):
        raise ValueError(f"realizability must be 'error', 'flag' or 'skip', got {mode!r}")
    if mode == "skip":
        return None
    # The class answers (ModelClass.contains); without pi_base's exact table the target is None,
    # and a class may still answer (the unrestricted TabularClass contains every table).
    table = _base_table(oracle)
    target = target_fn(table) if table is not None and is_concrete(table) else None
    return check_realizable(model_class, target, what, mode)


def _diag_flag(flag):
    return jnp.asarray(-1 if flag is None else int(bool(flag))) if is_concrete(flag) else flag


# ----------------------------------------------------------------------------------------------
# SFT-Sharpening


def sft_sharpening(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    n: int,
    N: int,
    *,
    reward: Callable[[Rollouts], jax.Array] = log_likelihood,
    n_used: Any = None,
    N_used: Any = None,
    realizability: str = "error",
) -> Result:
    """SFT-Sharpening (section 2.1, pseudo-code B; Theorem 4.1): MLE on best-of-N responses.

    ::

        for i in 1..n:
            x_i ~ mu; y_{i,1..N} ~ pi_base(.|x_i), observe pi_base(y_{i,j}|x_i)
            y_i^BoN in argmax_j r_self(y_{i,j}|x_i)        # ties uniformly at random
        pi_hat^BoN = argmax_{pi in Pi} sum_i log pi(y_i^BoN|x_i)
        m = n N

    Theorem 4.1 takes ``n = c log(|Pi|/rho)/(delta eps)`` and ``N = c C_cov log(2/delta)/eps`` (see
    ``bounds.sft_budget``) and assumes ``pi^BoN_N in Pi`` (Assumption 4.1).

    Args:
      key: PRNG key.
      oracle: the sample-and-evaluate oracle.
      model_class: the class Pi.
      n: static int, number of prompts drawn.
      N: static int, responses per prompt.
      reward: self-reward ``Rollouts -> [P, N]`` (default: log-likelihood, Eq. 2): a function,
        a registered name or a :class:`~simulators.SelfReward` (``simulators.REWARDS``); its
        registered ``per_draw`` and ``log_base`` properties decide the masking and the
        realizability check below (an unregistered function counts as neither).
      n_used, N_used: optional int (array) budgets ``<= n``, ``<= N``: only the first ``n_used``
        prompts and the first ``N_used`` responses of each are used and counted. Sweeps pass them
        as array leaves, so every budget reuses one draw of ``n x N`` samples. A reward that is
        not per-draw (e.g. majority vote, whose score of a draw counts the other draws) is scored
        on the first ``N_used`` draws only, which needs ``N_used`` static (a Python int or a
        concrete scalar); a traced ``N_used`` is accepted only with the per-draw rewards
        (log-likelihood, length-normalized log-likelihood, self-certainty, negative entropy).
      realizability: ``"error"``, ``"flag"`` or ``"skip"`` for Assumption 4.1 (module docstring);
        checked for the log-likelihood reward only (Assumption 4.1's ``pi^BoN_N``).

    Responses: a :class:`MarkovClass` is fitted on the token sequences; every other class indexes
    responses by the columns of ``to_table(pi_base)``, so an autoregressive ``pi_base`` with a
    ``TabularClass(X, Y)`` is fitted on each response's column in that enumeration order.

    Returns:
      :class:`Result` with ``queries = n_used N_used`` and diagnostics ``realizable`` (1, 0, or -1
      when not checked: another reward, a traced ``N_used`` or an unchecked class) and
      ``bon_logp_base`` (``[n]`` base log-likelihood of each BoN response).
    """
    oracle = _setup(oracle, model_class)
    n = check_count(n, "n")
    N = check_count(N, "N")
    n_used = _check_used(n_used, n, "n_used", "n")
    N_used = _check_used(N_used, N, "N_used", "N")
    spec = get_reward(reward)  # the registry's properties (a name is accepted too)
    reward, per_draw = spec.fn, spec.per_draw
    if not per_draw and not isinstance(N_used, int):
        # A reward that compares a draw with the other draws of its prompt (majority vote,
        # self-consistency) must see only the N_used paid-for draws, which needs a static N_used.
        if is_concrete(N_used) and N_used.ndim == 0:
            N_used = int(N_used)
        else:
            raise ValueError(
                "N_used must be a static int (or a concrete integer scalar) with a self-reward "
                "that is not a per-draw function (a draw's score may depend on the other draws "
                "of its prompt, e.g. majority vote, so all N draws would leak into the N_used "
                f"budget); got {spec.name!r}. The per-draw rewards of simulators.REWARDS, which "
                f"a traced N_used may mask, are {', '.join(_per_draw_names())}. Run one "
                "N = N_used per budget instead."
            )
    if realizability not in ("skip", "flag", "error"):
        raise ValueError(f"realizability must be 'error', 'flag' or 'skip', got {realizability!r}")
    flag = None
    # Assumption 4.1's pi^BoN_N is the best-of-N law under the log-likelihood self-reward; for
    # another reward the target differs and is not checked (flag -1, as dpo_sharpening).
    if isinstance(N_used, int) and spec.log_base:
        flag = _realizability(
            model_class,
            oracle,
            lambda t: theory.bon_law(t, N_used),
            f"the best-of-{N_used} law pi^BoN_N (Assumption 4.1)",
            realizability,
        )

    use_prefix = not (isinstance(N_used, int) and N_used == N)
    # Non-per-draw rewards are scored on the first N_used draws only (a static slice, after which
    # best-of-N runs over all of the sliced draws).
    num_scored = N_used if (use_prefix and not per_draw) else None
    use_prefix = use_prefix and num_scored is None
    policy, bon_logp = _sft_core(
        key,
        oracle,
        model_class,
        n_used,
        N_used,
        n=n,
        N=N,
        reward=reward,
        use_prefix=use_prefix,
        num_scored=num_scored,
    )
    return Result(
        policy=policy,
        queries=n_used * N_used,
        diagnostics={"realizable": _diag_flag(flag), "bon_logp_base": bon_logp},
    )


@functools.partial(jax.jit, static_argnames=("n", "N", "reward", "use_prefix", "num_scored"))
def _sft_core(key, oracle, model_class, n_used, N_used, *, n, N, reward, use_prefix, num_scored):
    k_draw, k_bon = jax.random.split(key)
    rollouts, _ = draw(k_draw, oracle, n, N)  # x_i ~ mu, y_ij ~ pi_base(.|x_i)
    if num_scored is not None:  # only the N_used paid-for draws exist for the reward
        rollouts = rollouts.take(np.arange(num_scored))
    scores = reward_scores(rollouts, reward)  # r_self(y_ij | x_i)
    if use_prefix:
        j_bon = prefix_best_of_n(k_bon, scores)[:, N_used - 1]  # BoN among the first N_used
    else:
        j_bon = argmax_random_tie(k_bon, scores)  # y_i^BoN
    y_bon = _chosen_responses(rollouts, j_bon)
    weights = (jnp.arange(n) < n_used).astype(rollouts.logp_base.dtype)
    params = mle_params(
        model_class, rollouts.prompts, _class_responses(model_class, y_bon, oracle.policy), weights
    )  # argmax_pi sum_i log pi(y_i^BoN | x_i)
    bon_logp = jnp.take_along_axis(rollouts.logp_base, j_bon[:, None], axis=1)[:, 0]
    return params_to_policy(model_class, params), bon_logp


def adaptive_sft_sharpening(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    n: int,
    *,
    cap: int,
    delta: Any = None,
    mu_stop: Any = None,
    n_used: Any = None,
    on_cap: str = "raise",
) -> Result:
    """Adaptive SFT-Sharpening (App. D, pseudo-code C; Theorem D.1), stopping rule of Eq. 10.

    ::

        for i in 1..n:
            x_i ~ mu; k = 0
            repeat: k += 1; y_{i,k} ~ pi_base(.|x_i); observe p_k = pi_base(y_{i,k}|x_i)
            until k * max_{j<=k} p_j >= mu_stop                  # Eq. 10, N_mu(x_i) = k
            y_i^AdaBoN in argmax_{j<=k} log p_j                   # ties uniformly at random
        pi_hat^AdaBoN = argmax_{pi in Pi} sum_i log pi(y_i^AdaBoN|x_i)
        m = sum_i N_mu(x_i)                      # random; E[m] <= n (1 + mu) C_bar_cov

    Args:
      key: PRNG key.
      oracle: the (adaptive) sample-and-evaluate oracle.
      model_class: the class Pi (Assumption D.1 asks ``pi^AdaBoN_mu in Pi``; it is not checked
        here except trivially for the tabular class).
      n: static int, number of prompts.
      cap: static int, most responses drawn per prompt (see :func:`simulators.draw_adaptive`).
      delta: target ``delta`` in (0, 1); the default stopping parameter is ``mu_stop = ln(2/delta)``
        (Theorem D.1).
      mu_stop: the stopping parameter ``mu > 0`` (overrides ``delta``).
      n_used: optional int (array) budget ``<= n``: only the first ``n_used`` prompts are fitted
        and counted (masking, as in :func:`sft_sharpening`). Prompts are i.i.d. and every draw is
        indexed by position, so this is exactly the run with ``n_used`` prompts and the same key,
        and a sweep over ``n_used`` reuses one draw.
      on_cap: ``"raise"`` (refuse a truncated run when concrete) or ``"flag"``.

    Returns:
      :class:`Result`; ``queries`` is the realized ``m`` over the used prompts; diagnostics
      ``num_draws [n]`` (every drawn prompt), ``cap_hit`` (bool: a used prompt reached the cap
      without stopping), ``mu_stop``.
    """
    oracle = _setup(oracle, model_class)
    n = check_count(n, "n")
    if mu_stop is None:
        if delta is None:
            raise ValueError("pass delta (mu_stop = ln(2/delta), Theorem D.1) or mu_stop")
        check_open_unit(delta, "delta")
        mu_stop = jnp.log(2.0 / jnp.asarray(delta, dtype=jnp.result_type(float)))
    check_positive(mu_stop, "mu_stop")
    cap = check_count(cap, "cap")
    n_used = _check_used(n_used, n, "n_used", "n")
    if on_cap not in ("raise", "flag"):
        raise ValueError(f"on_cap must be 'raise' or 'flag', got {on_cap!r}")
    policy, m, num_draws, cap_hit = _adaptive_core(
        key, oracle, model_class, mu_stop, n_used, n=n, cap=cap
    )
    if on_cap == "raise" and is_concrete(cap_hit) and bool(cap_hit):
        raise ValueError(
            f"the stopping rule of Eq. 10 did not stop within cap={cap} draws for "
            f"{int(jnp.sum(num_draws >= cap))} of {n} prompts, so the run would be truncated. "
            "Increase cap (Lemma I.1: E[N_mu] <= (mu + 1)/max_y pi_base(y|x)) or pass "
            "on_cap='flag' and discard runs with diagnostics['cap_hit']."
        )
    return Result(
        policy=policy,
        queries=m,
        diagnostics={"num_draws": num_draws, "cap_hit": cap_hit, "mu_stop": mu_stop},
    )


@functools.partial(jax.jit, static_argnames=("n", "cap"))
def _adaptive_core(key, oracle, model_class, mu_stop, n_used, *, n, cap):
    k_draw, k_bon = jax.random.split(key)
    ada = draw_adaptive(k_draw, oracle, n, likelihood_stopping_rule(mu_stop), cap, on_cap="flag")
    scores = jnp.where(ada.used, ada.rollouts.logp_base, -jnp.inf)
    j_bon = argmax_random_tie(k_bon, scores)  # y_i^AdaBoN among the first N_mu(x_i) draws
    y_bon = _chosen_responses(ada.rollouts, j_bon)
    used = jnp.arange(n) < n_used
    params = mle_params(
        model_class,
        ada.rollouts.prompts,
        _class_responses(model_class, y_bon, oracle.policy),
        used.astype(ada.rollouts.logp_base.dtype),
    )
    m = jnp.sum(jnp.where(used, ada.num_draws, 0))
    cap_hit = jnp.any(used & ~ada.stopped)
    return params_to_policy(model_class, params), m, ada.num_draws, cap_hit


# ----------------------------------------------------------------------------------------------
# RLHF-Sharpening: DPO-style squared loss (offline)


def dpo_sharpening(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    n: int,
    beta: Any,
    *,
    reward: Callable[[Rollouts], jax.Array] = log_likelihood,
    n_used: Any = None,
    realizability: str = "error",
) -> Result:
    """RLHF-Sharpening by the DPO/REBEL-style squared loss (Eq. 8, pseudo-code D; Theorem 4.2).

    ::

        D = {(x_i, y_i, y'_i)}: x_i ~ mu; y_i, y'_i ~ pi_base(.|x_i); observe log pi_base of both
        pi_hat in argmin_{pi in Pi} sum_D ( beta log pi(y|x)/pi_base(y|x)
                                          - beta log pi(y'|x)/pi_base(y'|x) - [r(x,y) - r(x,y')] )^2
        m = 2 n

    Theorem 4.2 takes ``beta <~ gamma_margin delta eps`` and assumes ``pi*_beta in Pi`` (Assumption
    4.3), with ``pi*_beta prop. to pi_base^(1 + 1/beta)`` for ``r = log pi_base``.

    Args:
      key: PRNG key.
      oracle: the sample-and-evaluate oracle.
      model_class: the class Pi (see :func:`simulators.fit_squared_loss` for how each is fitted).
      n: static int, number of triples.
      beta: KL weight > 0 (array leaf).
      reward: self-reward ``Rollouts -> [P, 2]`` (default log-likelihood), as in
        :func:`sft_sharpening`; Assumption 4.3 is checked for a ``log_base`` reward only.
      n_used: optional int (array) budget ``<= n`` (masking, as in :func:`sft_sharpening`).
      realizability: ``"error"``, ``"flag"`` or ``"skip"`` for Assumption 4.3.

    Returns:
      :class:`Result` with ``queries = 2 n_used``; diagnostics ``realizable``.
    """
    oracle = _setup(oracle, model_class)
    n = check_count(n, "n")
    check_positive(beta, "beta")
    n_used = _check_used(n_used, n, "n_used", "n")
    flag = None
    spec = get_reward(reward)
    reward = spec.fn
    if spec.log_base and is_concrete(beta):
        flag = _realizability(
            model_class,
            oracle,
            lambda t: theory.kl_tilt(t, beta),
            f"pi*_beta prop. to pi_base^(1+1/beta) at beta = {float(beta):g} (Assumption 4.3)",
            realizability,
        )
    policy = _dpo_core(key, oracle, model_class, beta, n_used, n=n, reward=reward)
    return Result(policy=policy, queries=2 * n_used, diagnostics={"realizable": _diag_flag(flag)})


@functools.partial(jax.jit, static_argnames=("n", "reward"))
def _dpo_core(key, oracle, model_class, beta, n_used, *, n, reward):
    rollouts, _ = draw(key, oracle, n, 2)  # (x, y, y'), y, y' ~ pi_base(.|x)
    r = reward_scores(rollouts, reward)
    y = _class_responses(model_class, rollouts.tokens[:, 0], oracle.policy)
    y2 = _class_responses(model_class, rollouts.tokens[:, 1], oracle.policy)
    weights = (jnp.arange(n) < n_used).astype(rollouts.logp_base.dtype)
    data = make_pair_data(
        rollouts.prompts,
        y,
        y2,
        rollouts.logp_base[:, 0],
        rollouts.logp_base[:, 1],
        r[:, 0],
        r[:, 1],
        weights,
    )
    params = pair_fit_params(model_class, data, beta, 0.0)  # argmin of the squared loss (Eq. 8)
    return params_to_policy(model_class, params)


# ----------------------------------------------------------------------------------------------
# Algorithm 1: reward-based XPO


def _sample_from_params(key, model_class, params, x):
    """One response ``y ~ pi_params(.|x)`` per prompt (the learner's own model: no query)."""
    return draw_rows(key, class_table(model_class, params), x, 1)[:, 0]


def xpo_sharpening(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    T: int,
    beta: Any,
    alpha: Any,
    *,
    selection: str = "validation",
    num_candidates: int = 8,
    num_validation: int = 64,
    realizability: str = "error",
    return_history: bool = False,
) -> Result:
    """Algorithm 1: reward-based Exploratory Preference Optimization (XPO), ``r = log pi_base``.

    ::

        pi^(1) <- pi_base; D^(0) <- {}
        for t = 1..T:
            x^(t) ~ mu; y^(t) ~ pi^(t)(.|x^(t)); y~^(t) ~ pi_base(.|x^(t))
            observe log pi_base(y~^(t)|x^(t)) (sample-and-evaluate) and
                    log pi_base(y^(t)|x^(t)) (generalized oracle, footnote 7)
            D^(t) <- D^(t-1) + {(x^(t), y^(t), y~^(t))}
            pi^(t+1) <- argmin_{pi in Pi} alpha sum_{D^(t)} log pi(y'|x)
                        + sum_{D^(t)} ( beta log pi(y|x)/pi_base(y|x)
                                        - beta log pi(y'|x)/pi_base(y'|x)
                                        - (r(x,y) - r(x,y')) )^2
        return argmax_t J_beta(pi^(t))
        m = 2 T  (+ validation queries)

    The squared term enters with a PLUS (the printed minus is a typo, THEORY.md section 4).
    ``alpha = 0`` is the ablation without the optimism (exploration) bonus. Round 1 samples
    ``y^(1)`` from ``pi_base`` through the oracle (``pi^(1) = pi_base`` is not available to the
    learner otherwise), so the candidates for the output are ``pi^(2..T+1)``.

    Fits per round: FiniteClass: exact ERM. LinearSoftmaxClass: with ``alpha = 0`` the exact
    ball-constrained least squares; with ``alpha > 0`` the objective is not convex (the optimism
    term is concave), so projected Adam started from the least-squares solution is used (a local
    minimizer). TabularClass: only ``alpha = 0`` (the objective is unbounded below otherwise).

    Output selection (``argmax_t J_beta(pi^(t))``, ``J_beta(pi) = E_pi[r] - beta KL(pi||pi_base)
    = E_{x~mu, y~pi}[(1+beta) log pi_base(y|x) - beta log pi(y|x)]``):

    * ``"validation"`` (default; the paper's "validation data"): ``num_candidates`` iterates
      evenly spaced over ``t = 2..T+1`` (the last included) are each scored on
      ``num_validation`` fresh pairs ``x ~ mu, y ~ pi^(t)`` evaluated through the generalized
      oracle; those queries are counted in ``queries`` and in
      ``diagnostics["validation_queries"]``.
    * ``"exact"``: ``J_beta`` of every iterate computed exactly from ``pi_base``'s table. This reads
      ``pi_base`` outside the oracle, costs no query and is meant for experiments only.
    * ``"last"``: return ``pi^(T+1)``.

    Args:
      key: PRNG key.
      oracle: the (generalized) sample-and-evaluate oracle.
      model_class: the class Pi (Assumption J.3: ``pi*_beta in Pi``).
      T: static int, number of rounds.
      beta: KL weight > 0 (Theorem J.2: ``beta = gamma_margin / (2 log(2|Y|/delta))``).
      alpha: optimism weight >= 0.
      selection: ``"validation"``, ``"exact"`` or ``"last"``.
      num_candidates: static int, iterates scored under ``"validation"``.
      num_validation: static int, validation pairs per scored iterate.
      realizability: ``"error"``, ``"flag"`` or ``"skip"`` for Assumption J.3.
      return_history: also return every iterate's parameters in ``diagnostics["history"]``.

    Returns:
      :class:`Result`; diagnostics ``train_queries`` (2T), ``validation_queries``,
      ``selected_round`` (t of the returned iterate, in 2..T+1), ``J_estimates`` (scored values),
      ``realizable``; ``history`` when asked.
    """
    oracle = _setup(oracle, model_class)
    T = check_count(T, "T")
    check_positive(beta, "beta")
    check_nonnegative(alpha, "alpha")
    if selection not in ("validation", "exact", "last"):
        raise ValueError(f"selection must be 'validation', 'exact' or 'last', got {selection!r}")
    num_candidates = min(check_count(num_candidates, "num_candidates"), T)
    num_validation = check_count(num_validation, "num_validation")
    model_class.check_xpo(alpha)  # e.g. TabularClass: alpha = 0 only (alpha > 0 is unbounded)
    flag = None
    if is_concrete(beta):
        flag = _realizability(
            model_class,
            oracle,
            lambda t: theory.kl_tilt(t, beta),
            f"pi*_beta prop. to pi_base^(1+1/beta) at beta = {float(beta):g} (Assumption J.3)",
            realizability,
        )
    logp_base = None
    if selection == "exact":
        logp_base = _base_table(oracle)
        if logp_base is None:
            raise ValueError("selection='exact' needs pi_base's table; use 'validation'")
    policy, queries, diagnostics = _xpo_core(
        key,
        oracle,
        model_class,
        beta,
        alpha,
        logp_base,
        T=T,
        selection=selection,
        num_candidates=num_candidates,
        num_validation=num_validation,
        return_history=return_history,
    )
    diagnostics["realizable"] = _diag_flag(flag)
    return Result(policy=policy, queries=queries, diagnostics=diagnostics)


@functools.partial(
    jax.jit,
    static_argnames=("T", "selection", "num_candidates", "num_validation", "return_history"),
)
def _xpo_core(
    key,
    oracle,
    model_class,
    beta,
    alpha,
    logp_base,
    *,
    T,
    selection,
    num_candidates,
    num_validation,
    return_history,
):
    k_base, k_rounds, k_val = jax.random.split(key, 3)
    base, _ = draw(k_base, oracle, T, 2)  # x^(t), y~^(t) and (round 1 only) y^(1) ~ pi_base
    x_all = base.prompts
    num_tokens = base.tokens.shape[-1]
    # Responses as the class's column indices (to_table's enumeration order when multi-token).
    y_base = _class_responses(model_class, base.tokens[:, 0], oracle.policy)
    y_first = _class_responses(model_class, base.tokens[:, 1], oracle.policy)
    lb_base = base.logp_base[:, 0]
    dtype = lb_base.dtype
    params0 = model_class.init_params(dtype)  # overwritten before any use
    empty = make_pair_data(
        x_all,
        jnp.zeros_like(y_base),
        y_base,
        jnp.zeros_like(lb_base),
        jnp.where(jnp.isfinite(lb_base), lb_base, 0.0),
        weights=jnp.zeros_like(lb_base),
    )

    def round_(carry, inputs):
        params, data = carry
        t, key_t = inputs
        x = x_all[t]
        y_own = _sample_from_params(key_t, model_class, params, x[None])[0]
        # Generalized oracle: one query.
        lb_own, _ = evaluate(oracle, x, _response_tokens(oracle.policy, y_own, num_tokens))
        first = t == 0
        y = jnp.where(first, y_first[t], y_own)  # y^(1) ~ pi^(1) = pi_base
        lb_y = jnp.where(first, base.logp_base[t, 1], lb_own)
        data = dataclasses.replace(
            data,
            y=data.y.at[t].set(y),
            logp_base_y=data.logp_base_y.at[t].set(lb_y),
            reward_y=data.reward_y.at[t].set(lb_y),
            weights=data.weights.at[t].set(1.0),
        )
        params = pair_fit_params(model_class, data, beta, alpha, init=params)
        return (params, data), params

    keys = jax.random.split(k_rounds, T)
    (_, data), history = jax.lax.scan(round_, (params0, empty), (jnp.arange(T), keys))
    # history[t] = pi^(t+2), t = 0..T-1

    diagnostics = {
        "train_queries": jnp.asarray(2 * T),
        "alpha": alpha,
        "beta": beta,
    }
    validation_queries = 0
    if selection == "last":
        chosen = T - 1
        diagnostics["J_estimates"] = jnp.zeros((0,), dtype)
    elif selection == "exact":
        tables = jax.vmap(lambda p: class_table(model_class, p))(history)
        J = jax.vmap(lambda tab: theory.kl_regularized_objective(tab, logp_base, oracle.mu, beta))(
            tables
        )
        chosen = jnp.argmax(J)
        diagnostics["J_estimates"] = J
    else:
        cand = jnp.asarray(np.linspace(0, T - 1, num_candidates).round().astype(np.int32))
        cand_params = jax.tree_util.tree_map(lambda h: h[cand], history)
        val_keys = jax.random.split(k_val, num_candidates)

        def score(k, p):
            k_x, k_y = jax.random.split(k)
            x = draw_prompts(k_x, oracle, num_validation)
            y = _sample_from_params(k_y, model_class, p, x)
            lb, _ = evaluate(oracle, x, _response_tokens(oracle.policy, y, num_tokens))
            lp = class_table(model_class, p)[x, y]
            return jnp.mean((1 + beta) * lb - beta * lp)

        J = jax.vmap(score)(val_keys, cand_params)
        chosen = cand[jnp.argmax(J)]
        validation_queries = num_candidates * num_validation
        diagnostics["J_estimates"] = J
    params = jax.tree_util.tree_map(lambda h: h[chosen], history)
    diagnostics["selected_round"] = jnp.asarray(chosen) + 2
    diagnostics["validation_queries"] = jnp.asarray(validation_queries)
    if return_history:
        diagnostics["history"] = history
    return params_to_policy(model_class, params), 2 * T + validation_queries, diagnostics
