"""Label-free self-training beyond SFT and DPO: online RL with self-rewards, entropy
minimization, TTRL and iterated sharpening, under the sample-and-evaluate oracle.

Each method is a choice of self-reward and optimizer that the sharpening framework of Huang et al.
(arXiv 2412.01951) measures exactly on enumerable toys (THEORY.md sections 1.2, 3.1, 7):

* :func:`pg_sharpening`: on-policy policy-gradient sharpening (GRPO/RLOO-style). Each step draws
  prompts ``x ~ mu``, a group of ``G`` responses per prompt from the current policy ``pi_theta``
  (the learner's own model: no query), has the oracle evaluate ``log pi_base`` at each (the
  generalized oracle of footnote 7: one query per response, as XPO), and ascends the KL-shaped
  reward ``r(x, y) - beta log(pi_theta(y|x) / pi_base(y|x))`` with group-mean or leave-one-out
  (RLOO) advantages. Its expected update is the gradient of Eq. 3's objective
  ``E_pi[r] - beta KL(pi || pi_base)`` (RLOO: exactly; group mean: times ``(G-1)/G``), so with
  ``r = log pi_base`` its limit is ``pi*_beta = theory.kl_tilt(logp_base, beta)``
  (RLHF-Sharpening, section 2.2).
* :func:`em_rl`: EM-RL (Agarwal et al., arXiv 2505.15134): the reward is the current policy's own
  log-likelihood, sequence form ``sum_t log pi_theta(y_t|y_<t, x)`` (:func:`em_sequence_reward`) or
  token form ``-sum_t H(pi_theta(.|y_<t, x))`` (:func:`em_token_reward`). App. B calls it "closely
  related" to maximum-likelihood sharpening; :mod:`simulators.experiments.label_free` measures
  the two head to head.
* :func:`em_ft`: EM-FT (same paper): gradient descent on the mean token entropy of the current
  policy at its own samples' prefixes.
* :func:`ttrl`: TTRL (Zuo et al., arXiv 2504.16084): reward 1 when a response's extracted answer is
  the majority answer of its group (:func:`ttrl_reward`, built on the majority-vote self-reward of
  App. A.2, :func:`simulators.majority_vote`). The self-certainty reward of Intuitor (Zhao et al.,
  arXiv 2505.19590) and RENT's negative entropy are the registered ``"self_certainty"`` and
  ``"negative_entropy"`` rewards, read here off the *current* policy's token statistics.
* :func:`iterated_sft_sharpening`, :func:`iterated_rlhf_sharpening`: ``T`` rounds, each round's
  output the next round's base; the exact law of each round is :func:`iterated_bon_law`
  (``theory.bon_law`` of the previous table) and :func:`iterated_kl_tilt`
  (``pi_0^((1 + 1/beta)^T)``, normalized).

Every update has an exact counterpart, :func:`expected_update`, the expectation of the sampled
update over the oracle's prompts and the policy's groups (enumerated; for TTRL over the
multinomial law of the other ``G - 1`` answers), which the tests compare with brute force.

Model classes: a class takes part through its :func:`softmax_parametrization`, a differentiable
view of its members (:class:`SoftmaxParametrization`): the unrestricted tabular class
(:class:`~simulators.TabularClass`, softmax logits ``[X, Y]``), linear softmax
(:class:`~simulators.LinearSoftmaxClass`, ``theta`` projected on ``||theta|| <= B`` after each
step) and Markov chains (:class:`~simulators.MarkovClass`, first-token and transition logits;
the token form of EM-RL, EM-FT, self-certainty and negative entropy differ from the sequence form
only there). Members are enumerated (the toys are small), so sampling and exact evaluation read
one ``[X, Y]`` table per step. A class of one's own registers its parametrization with
``@softmax_parametrization.register(MyClass)``.

Starting point: on-policy RL starts from the model it sharpens (GRPO, TTRL and EM all fine-tune
the base model's weights), so the learner holds a copy of ``pi_base``'s parameters (``init``,
default: ``oracle.policy`` viewed in the class). This is outside Definition 3.2, which gives the
learner sample-and-evaluate access only; everything else goes through the oracle and is counted.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
import optax

import theory
from theory.checks import (
    check_count,
    check_logp,
    check_mu,
    check_nonnegative,
    check_positive,
    is_concrete,
)

from ._algorithms import Result, _setup, dpo_sharpening, sft_sharpening
from ._api import to_table
from ._autoregressive import enumerate_sequences
from ._classes import LinearSoftmaxClass, MarkovClass, TabularClass, _project_ball
from ._evaluation import sharpening_metrics
from ._linear_softmax import LinearSoftmaxPolicy, linear_softmax_logp
from ._markov import MarkovPolicy
from ._oracle import SampleEvaluateOracle, check_oracle, draw_prompts, evaluate
from ._rewards import SelfReward, get_reward, majority_vote
from ._rollouts import Rollouts
from ._tabular import TabularPolicy, row_stats, unchecked

ADVANTAGES = ("rloo", "group_mean")
OPTIMIZERS = ("sgd", "adam")

# ----------------------------------------------------------------------------------------------
# Rewards of the learner's own samples


def _token_sum(values: jax.Array, rollouts: Rollouts) -> jax.Array:
    return jnp.sum(jnp.where(rollouts.mask, values, 0.0), axis=-1)


def em_sequence_reward(rollouts: Rollouts) -> jax.Array:
    """EM-RL's sequence-level reward (arXiv 2505.15134): ``sum_t log pi(y_t | y_<t, x)``.

    The log-likelihood of each response under the policy that sampled it (``token_logp``): for
    the learner's own samples, ``log pi_theta(y|x)``, the negative trajectory-level entropy
    estimate. Its expected policy gradient is ``grad (-H(pi_theta))`` (App. B's entropy
    minimization).

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``token_logp [P, N, T]``.

    Returns:
      ``[P, N]`` scores.
    """
    if rollouts.token_logp is None:
        raise ValueError("em_sequence_reward needs rollouts.token_logp, which is None")
    return _token_sum(rollouts.token_logp, rollouts)


def em_token_reward(rollouts: Rollouts) -> jax.Array:
    """EM-RL's token-level reward (arXiv 2505.15134): ``-sum_t H(pi(. | y_<t, x))``.

    Minus the summed entropies of the sampling policy's next-token distributions along each
    response (``token_entropy``). For single-token (tabular) responses it is ``-H(pi(.|x))``, the
    same for every response of a prompt, so its group advantages vanish: only sequence models
    (Markov chains) see a difference from the sequence form.

    Returns:
      ``[P, N]`` scores.
    """
    if rollouts.token_entropy is None:
        raise ValueError("em_token_reward needs rollouts.token_entropy, which is None")
    return -_token_sum(rollouts.token_entropy, rollouts)


def ttrl_reward(rollouts: Rollouts) -> jax.Array:
    """TTRL's majority-vote pseudo-label reward (arXiv 2504.16084): 1 when a response's answer is
    the majority answer of its group.

    Built on :func:`simulators.majority_vote` (each response's vote count, App. A.2). A tie for
    the most votes is broken uniformly among the tied answers in expectation: each tied answer's
    responses score ``1 / (number of tied answers)`` (TTRL takes the first-seen of the tied
    answers, which is uniform over them for exchangeable samples; this is its conditional
    expectation, a lower-variance reward with the same expected update). Responses without an
    answer (``-1``) score 0 and never win.

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``answers [P, N]``.

    Returns:
      ``[P, N]`` rewards in ``[0, 1]``.
    """
    votes = majority_vote(rollouts)  # [P, N] vote counts, 0 for no answer
    top = jnp.max(votes, axis=-1, keepdims=True)
    tied = (votes == top) & (top > 0)
    # Responses of the tied answers number (#tied answers) * top: their count over top.
    num_tied_answers = jnp.sum(tied, axis=-1, keepdims=True) / jnp.maximum(top, 1.0)
    return jnp.where(tied, 1.0 / jnp.maximum(num_tied_answers, 1.0), 0.0)


# Rewards of this module, accepted by name by the algorithms below (not added to
# simulators.REWARDS: run_protocol scores with every registered reward whose fields are present,
# and these are rewards of the policy being trained, not of pi_base).
LABEL_FREE_REWARDS: dict[str, SelfReward] = {
    "em_sequence": SelfReward("em_sequence", em_sequence_reward, True, ("token_logp",)),
    "em_token": SelfReward("em_token", em_token_reward, True, ("token_entropy",)),
    "ttrl": SelfReward("ttrl", ttrl_reward, False, ("answers",)),
}


def _resolve_reward(reward: Any) -> SelfReward:
    if isinstance(reward, str) and reward in LABEL_FREE_REWARDS:
        return LABEL_FREE_REWARDS[reward]
    for r in LABEL_FREE_REWARDS.values():
        if reward is r.fn:
            return r
    try:
        return get_reward(reward)
    except ValueError as err:
        raise ValueError(f"{err}; or one of {sorted(LABEL_FREE_REWARDS)}") from None


def group_advantages(rewards: jax.Array, advantage: str = "rloo") -> jax.Array:
    """Group-relative advantages of ``rewards [..., G]`` (GRPO without the std, RLOO).

    ``"group_mean"``: ``r_i - (1/G) sum_j r_j``; ``"rloo"``: ``r_i - (1/(G-1)) sum_{j != i} r_j
    = G/(G-1) (r_i - mean)``. With a per-draw reward the RLOO estimator is unbiased for the policy
    gradient, the group-mean one for ``(G-1)/G`` of it (the baseline includes the sample itself).

    Raises:
      ValueError: an unknown ``advantage`` or a group of fewer than 2.
    """
    if advantage not in ADVANTAGES:
        raise ValueError(f"advantage must be one of {ADVANTAGES}, got {advantage!r}")
    G = rewards.shape[-1]
    if G < 2:
        raise ValueError(f"G (the group size) must be >= 2 for a group baseline, got {G}")
    centred = rewards - jnp.mean(rewards, axis=-1, keepdims=True)
    return centred * (G / (G - 1)) if advantage == "rloo" else centred


def _advantage_factor(advantage: str, G: int) -> float:
    """E[A_1 | y_1] / (r(y_1) - E r) for a per-draw reward."""
    return 1.0 if advantage == "rloo" else (G - 1) / G


# ----------------------------------------------------------------------------------------------
# Softmax parametrizations of the model classes


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PolicyStats:
    """Every enumerated response of a member, with what the rewards read.

    Attributes:
      logp: ``[X, Y]`` normalized log-probabilities (differentiable in the parameters).
      token_logp: ``[X, Y, T]`` per-token ``log pi(y_t | y_<t, x)``.
      token_entropy: ``[X, Y, T]`` entropy of each next-token distribution along the response.
      token_kl_uniform: ``[X, Y, T]`` ``KL(uniform || pi(. | y_<t, x))`` along the response.
      lengths: ``[Y]`` response lengths in tokens.
    """

    logp: jax.Array
    token_logp: jax.Array
    token_entropy: jax.Array
    token_kl_uniform: jax.Array
    lengths: jax.Array


@runtime_checkable
class SoftmaxParametrization(Protocol):
    """A differentiable view of a model class's members, what the label-free learners need.

    * ``num_prompts``, ``num_responses``: X and Y (responses enumerated, ``to_table``'s order).
    * ``tokens() -> np.ndarray [Y, T]``: every response's tokens (static).
    * ``oracle_responses(cols [...]) -> y``: responses as the base policy's ``evaluate`` takes
      them (column indices for tabular-type classes, ``[..., T]`` tokens for sequence classes).
    * ``init_params(policy) -> params``: the member equal to ``policy`` (the starting copy).
    * ``stats(params) -> PolicyStats``: differentiable in ``params``.
    * ``project(params) -> params``: back into the class after a step (identity if unconstrained).
    * ``to_policy(params)``: the member as a policy pytree.
    """

    num_prompts: int
    num_responses: int

    def tokens(self) -> np.ndarray: ...

    def oracle_responses(self, cols: jax.Array) -> jax.Array: ...

    def init_params(self, policy: Any) -> Any: ...

    def stats(self, params: Any) -> PolicyStats: ...

    def project(self, params: Any) -> Any: ...

    def to_policy(self, params: Any) -> Any: ...


def _static(**kw):
    return dataclasses.field(metadata=dict(static=True), **kw)


def _single_token_stats(logp: jax.Array) -> PolicyStats:
    """A response is one token: its "next-token" law is the whole row."""
    X, Y = logp.shape
    entropy, kl_uniform = row_stats(logp)  # [X]
    shape = (X, Y, 1)
    return PolicyStats(
        logp=logp,
        token_logp=logp[..., None],
        token_entropy=jnp.broadcast_to(entropy[:, None, None], shape),
        token_kl_uniform=jnp.broadcast_to(kl_uniform[:, None, None], shape),
        lengths=jnp.ones((Y,), jnp.int32),
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TabularSoftmax:
    """The unrestricted tabular class as softmax logits ``theta [X, Y]``:
    ``pi_theta(y|x) = softmax(theta[x])_y``."""

    num_prompts: int = _static()
    num_responses: int = _static()

    def tokens(self) -> np.ndarray:
        return np.arange(self.num_responses, dtype=np.int32)[:, None]

    def oracle_responses(self, cols):
        return cols

    def init_params(self, policy):
        return jnp.asarray(to_table(policy))

    def stats(self, params):
        return _single_token_stats(jax.nn.log_softmax(params, axis=-1))

    def project(self, params):
        return params

    def to_policy(self, params):
        return unchecked(TabularPolicy, logp=jax.nn.log_softmax(params, axis=-1))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LinearSoftmax:
    """Linear softmax ``pi_theta(y|x) prop. to pi_0(y|x) exp(<phi(x, y), theta>)``, ``theta``
    projected onto ``||theta|| <= B`` after each step (Theorem J.3's class)."""

    features: jax.Array
    radius: Any
    logp0: jax.Array

    @property
    def num_prompts(self) -> int:
        return self.features.shape[0]

    @property
    def num_responses(self) -> int:
        return self.features.shape[1]

    def tokens(self) -> np.ndarray:
        return np.arange(self.num_responses, dtype=np.int32)[:, None]

    def oracle_responses(self, cols):
        return cols

    def init_params(self, policy):
        if not isinstance(policy, LinearSoftmaxPolicy):
            raise TypeError(
                "init must be a LinearSoftmaxPolicy (or a parameter vector theta) to start a "
                f"LinearSoftmaxClass run, got {type(policy).__name__}"
            )
        return jnp.asarray(policy.theta)

    def stats(self, params):
        return _single_token_stats(linear_softmax_logp(self.features, params, self.logp0))

    def project(self, params):
        return _project_ball(params, jnp.asarray(self.radius, params.dtype))

    def to_policy(self, params):
        return unchecked(
            LinearSoftmaxPolicy, features=self.features, theta=params, logp0=self.logp0
        )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MarkovSoftmax:
    """Markov chains as first-token logits ``[X, V]`` and transition logits ``[X, V, V]``."""

    num_prompts: int = _static()
    V: int = _static()
    H: int = _static()

    @property
    def num_responses(self) -> int:
        return self.V**self.H

    def tokens(self) -> np.ndarray:
        return enumerate_sequences(self.V, self.H)[0]

    def oracle_responses(self, cols):
        return jnp.asarray(self.tokens())[cols]

    def init_params(self, policy):
        if not isinstance(policy, MarkovPolicy):
            raise TypeError(
                "init must be a MarkovPolicy (or (init_logits, trans_logits)) to start a "
                f"MarkovClass run, got {type(policy).__name__}"
            )
        return (jnp.asarray(policy.init_logp), jnp.asarray(policy.trans_logp))

    def stats(self, params):
        init = jax.nn.log_softmax(params[0], axis=-1)  # [X, V]
        trans = jax.nn.log_softmax(params[1], axis=-1)  # [X, V, V]
        tok = jnp.asarray(self.tokens())  # [Y, H]
        ent0, klu0 = row_stats(init)  # [X]
        ent, klu = row_stats(trans)  # [X, V]
        first = init[:, tok[:, 0]][..., None]  # [X, Y, 1]
        rest = trans[:, tok[:, :-1], tok[:, 1:]]  # [X, Y, H-1]
        return PolicyStats(
            logp=jnp.sum(jnp.concatenate([first, rest], axis=-1), axis=-1),
            token_logp=jnp.concatenate([first, rest], axis=-1),
            token_entropy=jnp.concatenate(
                [jnp.broadcast_to(ent0[:, None, None], first.shape), ent[:, tok[:, :-1]]], -1
            ),
            token_kl_uniform=jnp.concatenate(
                [jnp.broadcast_to(klu0[:, None, None], first.shape), klu[:, tok[:, :-1]]], -1
            ),
            lengths=jnp.full((tok.shape[0],), self.H, jnp.int32),
        )

    def project(self, params):
        return params

    def to_policy(self, params):
        return unchecked(
            MarkovPolicy,
            init_logp=jax.nn.log_softmax(params[0], axis=-1),
            trans_logp=jax.nn.log_softmax(params[1], axis=-1),
            H=self.H,
        )


@functools.singledispatch
def softmax_parametrization(model_class: Any) -> SoftmaxParametrization:
    """The differentiable view of ``model_class`` the label-free learners update.

    Registered: :class:`~simulators.TabularClass` (softmax logits), :class:`~simulators.
    LinearSoftmaxClass` (``theta`` in the ball) and :class:`~simulators.MarkovClass` (first-token
    and transition logits). Register a class of your own with
    ``@softmax_parametrization.register(MyClass)`` returning a :class:`SoftmaxParametrization`.

    Raises:
      TypeError: the class has no registered parametrization.
    """
    raise TypeError(
        f"model_class {type(model_class).__name__} has no softmax parametrization for the "
        "policy-gradient learners (registered: TabularClass, LinearSoftmaxClass, MarkovClass; "
        "add one with @simulators.softmax_parametrization.register)"
    )


@softmax_parametrization.register(TabularClass)
def _(model_class):
    return TabularSoftmax(model_class.num_prompts, model_class.num_responses)


@softmax_parametrization.register(LinearSoftmaxClass)
def _(model_class):
    X, Y = model_class.num_prompts, model_class.num_responses
    logp0 = model_class.logp0
    if logp0 is None:
        logp0 = jnp.full((X, Y), -math.log(Y), dtype=model_class.features.dtype)
    return LinearSoftmax(model_class.features, model_class.radius, logp0)


@softmax_parametrization.register(MarkovClass)
def _(model_class):
    return MarkovSoftmax(model_class.num_prompts, model_class.V, model_class.H)


# ----------------------------------------------------------------------------------------------
# Rollouts, the sampled update and its exact expectation


def _rollouts_at(stats, tokens, x, cols, logp_base, answers):
    """Rollouts of responses ``cols [P, G]`` of prompts ``x [P]`` from the enumerated stats:
    ``logp_base`` as the oracle revealed it, the token fields those of the sampling policy."""
    xb = jnp.broadcast_to(x[:, None], cols.shape)
    return Rollouts(
        prompts=x,
        tokens=jnp.asarray(tokens)[cols],
        lengths=stats.lengths[cols],
        logp_base=logp_base,
        answers=None if answers is None else answers[xb, cols],
        token_logp=stats.token_logp[xb, cols],
        token_entropy=stats.token_entropy[xb, cols],
        token_kl_uniform=stats.token_kl_uniform[xb, cols],
    )


def _mean_token_entropy(stats: PolicyStats) -> jax.Array:
    """``[X, Y]`` mean entropy of the next-token laws along each response (EM-FT's loss)."""
    T = stats.token_entropy.shape[-1]
    mask = jnp.arange(T) < stats.lengths[:, None]  # [Y, T]
    total = jnp.sum(jnp.where(mask, stats.token_entropy, 0.0), axis=-1)
    return total / jnp.maximum(stats.lengths, 1).astype(total.dtype)


def _draw_small(key: jax.Array, logp: jax.Array, G: int) -> jax.Array:
    """``[P, G]`` draws from each row of ``logp [P, Y]`` by inverse CDF.

    The enumerable toys have small ``Y``: one ``[P, G, Y]`` comparison against each row's CDF
    compiles in a fraction of the time of :func:`simulators.sample_indices`'s guided search (built
    for 10^4-wide tables) and gives the same law (the first index whose CDF exceeds ``u``;
    zero-mass responses are never drawn).
    """
    p = jnp.exp(logp - jnp.max(logp, axis=-1, keepdims=True))
    cdf = jnp.cumsum(p, axis=-1)
    u = jax.random.uniform(key, (logp.shape[0], G), cdf.dtype) * cdf[:, -1:]
    y = jnp.sum(cdf[:, None, :] <= u[..., None], axis=-1)
    last = logp.shape[-1] - 1 - jnp.argmax((p > 0)[:, ::-1], axis=-1)  # if u rounds up to total
    return jnp.minimum(y, last[:, None]).astype(jnp.int32)


def _sample_group(key, oracle, param, params, P, G, answers):
    """Prompts ``x ~ mu`` (no query), ``G`` responses each from ``pi_theta`` (the learner's own
    model, no query) and ``log pi_base`` of each through the oracle (``P G`` queries)."""
    k_x, k_y = jax.random.split(key)
    x = draw_prompts(k_x, oracle, P)
    stats = param.stats(params)
    cols = _draw_small(k_y, stats.logp[x], G)  # [P, G]
    xb = jnp.broadcast_to(x[:, None], cols.shape)
    logp_base, _ = evaluate(oracle, xb, param.oracle_responses(cols))
    return x, cols, stats, _rollouts_at(stats, param.tokens(), x, cols, logp_base, answers)


def _shaped(rewards, logp_theta, logp_base, beta):
    """``r - beta log(pi_theta / pi_base)``: Eq. 3's KL penalty inside the reward."""
    return rewards - beta * (logp_theta - logp_base)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _Coefficients:
    """The traced weights of one update: ``beta``, ``reward_weights [K]``, ``entropy_weight``."""

    beta: Any
    reward_weights: jax.Array
    entropy_weight: Any


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The static structure of one update: the rewards, and which parts are computed."""

    rewards: tuple[SelfReward, ...]
    use_pg: bool
    use_em: bool
    advantage: str


def _is_zero(v) -> bool:
    return is_concrete(v) and np.all(np.asarray(v) == 0)


def _plan(reward, reward_weights, beta, entropy_weight, advantage, dtype=None):
    """Resolves the rewards and their weights (``r = sum_k w_k r_k``) and the static parts."""
    if advantage not in ADVANTAGES:
        raise ValueError(f"advantage must be one of {ADVANTAGES}, got {advantage!r}")
    many = isinstance(reward, (tuple, list))
    rewards = tuple(_resolve_reward(r) for r in (reward if many else (reward,)))
    dtype = jnp.result_type(float) if dtype is None else dtype
    if reward_weights is None:
        weights = jnp.ones((len(rewards),), dtype)
    else:
        weights = jnp.asarray(reward_weights, dtype)
        if weights.shape != (len(rewards),):
            raise ValueError(
                f"reward_weights must have shape [K] = ({len(rewards)},), one weight per reward, "
                f"got {weights.shape}"
            )
    beta = check_nonnegative(beta, "beta (the KL weight)")
    entropy_weight = check_nonnegative(entropy_weight, "entropy_weight")
    use_pg = bool(rewards) or not _is_zero(beta)
    use_em = not _is_zero(entropy_weight)
    coef = _Coefficients(jnp.asarray(beta, dtype), weights, jnp.asarray(entropy_weight, dtype))
    return _Plan(rewards, use_pg, use_em, advantage), coef


def _check_group(G, plan):
    if plan.use_pg:
        if isinstance(G, (int, np.integer)) and not isinstance(G, bool) and G < 2:
            raise ValueError(
                "G (the group size) must be an integer >= 2: the group baseline needs another "
                f"sample of the same prompt, got {G}"
            )
        return check_count(G, "G", 2)
    return check_count(G, "G")


def _check_answers(answer_extractor, plan, param):
    answers = None
    if answer_extractor is not None:
        answers = jnp.asarray(answer_extractor)
        shape = (param.num_prompts, param.num_responses)
        if answers.shape != shape or not jnp.issubdtype(answers.dtype, jnp.integer):
            raise ValueError(
                f"answer_extractor must be an [X, Y] = {shape} int array (the answer of every "
                f"response, -1 for none), got {answers.dtype} {answers.shape}"
            )
    needing = [r.name for r in plan.rewards if "answers" in r.needs]
    if needing and answers is None:
        raise ValueError(
            f"answer_extractor is required for the {needing[0]!r} reward (a majority vote over "
            "the group's extracted answers): pass the [X, Y] int answers of every response"
        )
    return answers


def _reward_sum(plan, coef, rollouts):
    """``sum_k w_k r_k(rollouts)``, ``[P, N]``."""
    total = jnp.zeros(rollouts.logp_base.shape, rollouts.logp_base.dtype)
    for k, r in enumerate(plan.rewards):
        total = total + coef.reward_weights[k] * jnp.asarray(r.fn(rollouts), total.dtype)
    return total


def _zeros_like(tree):
    return jax.tree_util.tree_map(jnp.zeros_like, tree)


def _add(a, b, scale=1.0):
    return jax.tree_util.tree_map(lambda u, v: u + scale * v, a, b)


def sampled_update(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    params: Any,
    G: int,
    beta: Any,
    *,
    reward: Any = "log_likelihood",
    reward_weights: Any = None,
    entropy_weight: Any = 0.0,
    num_prompts: int = 1,
    advantage: str = "rloo",
    answer_extractor: Any = None,
) -> tuple[Any, jax.Array]:
    """One sampled update direction (an ascent direction of the objective) and its queries.

    ::

        x_1..x_P ~ mu;  y_p1..y_pG ~ pi_theta(.|x_p);  observe log pi_base(y_pi|x_p)
        r~_pi = sum_k w_k r_k(x_p, y_pi) - beta log(pi_theta(y_pi|x_p) / pi_base(y_pi|x_p))
        A_p = group_advantages(r~_p)                  # group mean or RLOO
        g = (1/(P G)) sum_pi A_pi grad log pi_theta(y_pi|x_p)
            - entropy_weight (1/(P G)) sum_pi grad L_theta(x_p, y_pi)

    where ``L`` is the mean token entropy of ``pi_theta`` along the sampled response (EM-FT's
    loss, arXiv 2505.15134; the responses are held fixed, no gradient through the sampling).

    Args:
      key: PRNG key.
      oracle: the sample-and-evaluate oracle.
      model_class: the class (through :func:`softmax_parametrization`).
      params: the current parameters.
      G: static int, group size (``>= 2`` unless the update is EM-FT's alone).
      beta: KL weight >= 0.
      reward: a self-reward (a name or function of :func:`simulators.get_reward`, or
        ``"ttrl"``, ``"em_sequence"``, ``"em_token"``) or a sequence of them.
      reward_weights: ``[K]`` weights of the rewards (default ones).
      entropy_weight: weight ``>= 0`` of EM-FT's entropy term (0: none).
      num_prompts: static int, prompts per step ``P``.
      advantage: ``"rloo"`` or ``"group_mean"``.
      answer_extractor: ``[X, Y]`` int answers of every response (needed by answer rewards).

    Returns:
      ``(g, queries)``: the direction (a pytree like ``params``) and the oracle queries
      (``P G``; 0 when only EM-FT's term is computed).
    """
    oracle = _setup(oracle, model_class)
    param = softmax_parametrization(model_class)
    plan, coef = _plan(reward, reward_weights, beta, entropy_weight, advantage)
    G = _check_group(G, plan)
    P = check_count(num_prompts, "num_prompts")
    answers = _check_answers(answer_extractor, plan, param)
    g = _sampled_update(key, oracle, param, params, coef, answers, P=P, G=G, plan=plan)
    return g, (P * G if plan.use_pg else 0)


@functools.partial(jax.jit, static_argnames=("P", "G", "plan"))
def _sampled_update(key, oracle, param, params, coef, answers, *, P, G, plan):
    x, cols, _, rollouts = _sample_group(key, oracle, param, params, P, G, answers)
    xb = jnp.broadcast_to(x[:, None], cols.shape)
    g = _zeros_like(params)
    if plan.use_pg:
        logp_theta = _token_sum(rollouts.token_logp, rollouts)
        shaped = _shaped(
            _reward_sum(plan, coef, rollouts), logp_theta, rollouts.logp_base, coef.beta
        )
        adv = jax.lax.stop_gradient(group_advantages(shaped, plan.advantage))

        def surrogate(p):
            return jnp.mean(adv * param.stats(p).logp[xb, cols])

        g = _add(g, jax.grad(surrogate)(params))
    if plan.use_em:

        def entropy_loss(p):
            return jnp.mean(_mean_token_entropy(param.stats(p))[xb, cols])

        g = _add(g, jax.grad(entropy_loss)(params), -coef.entropy_weight)
    return g


def _compositions(n: int, K: int) -> np.ndarray:
    """All ``[M, K]`` nonnegative integer vectors summing to ``n`` (stars and bars)."""
    out = []
    for bars in itertools.combinations(range(n + K - 1), K - 1):
        edges = (-1, *bars, n + K - 1)
        out.append([edges[i + 1] - edges[i] - 1 for i in range(K)])
    return np.asarray(out, dtype=np.int64).reshape(-1, K)


def ttrl_expected_advantage(log_q: jax.Array, G: int, advantage: str = "rloo") -> jax.Array:
    """``E[A_1 | answer of y_1 = a]`` of TTRL's reward, exactly, for every answer ``a``.

    The other ``G - 1`` answers of the group are multinomial with the answer marginal ``q``
    (``q_a = sum_{y: ans(y) = a} pi(y|x)``); for each count vector ``c`` of theirs the group's
    counts are ``c + e_a``, the answers tied for the most votes score ``1 / #tied`` each
    (:func:`ttrl_reward`), and ``A_1`` is the RLOO or group-mean advantage of response 1. The sum
    runs over the ``C(G + K - 2, K - 1)`` count vectors, in log space.

    Args:
      log_q: ``[..., K]`` log answer marginals.
      G: static int >= 2.
      advantage: ``"rloo"`` or ``"group_mean"``.

    Returns:
      ``[..., K]`` expected advantages.
    """
    G = check_count(G, "G", 2)
    if advantage not in ADVANTAGES:
        raise ValueError(f"advantage must be one of {ADVANTAGES}, got {advantage!r}")
    K = log_q.shape[-1]
    if math.comb(G + K - 2, K - 1) * K > 2**22:
        raise ValueError(
            f"the exact TTRL update enumerates C(G + K - 2, K - 1) = {math.comb(G + K - 2, K - 1)}"
            f" count vectors of the other G - 1 = {G - 1} answers over K = {K} answers: too "
            "many; lower G or the number of answers"
        )
    c = jnp.asarray(_compositions(G - 1, K), log_q.dtype)  # [M, K]
    log_coef = math.lgamma(G) - jnp.sum(jax.scipy.special.gammaln(c + 1.0), axis=-1)  # [M]
    finite = jnp.isfinite(log_q)[..., None, :]
    terms = jnp.where(c > 0, c * jnp.where(finite, log_q[..., None, :], 0.0), 0.0)
    impossible = jnp.any((c > 0) & ~finite, axis=-1)
    pmf = jnp.exp(jnp.where(impossible, -jnp.inf, log_coef + jnp.sum(terms, axis=-1)))
    eye = jnp.eye(K, dtype=c.dtype)
    total = c[None, :, :] + eye[:, None, :]  # [a, M, K]: the group's counts with y_1's answer a
    tied = total == jnp.max(total, axis=-1, keepdims=True)
    R = tied / jnp.sum(tied, axis=-1, keepdims=True)  # the reward of each answer's responses
    own = jnp.sum(R * eye[:, None, :], axis=-1)  # [a, M]
    if advantage == "rloo":
        baseline = jnp.sum(c[None] * R, axis=-1) / (G - 1)
    else:
        baseline = jnp.sum(total * R, axis=-1) / G
    return jnp.einsum("...m,am->...a", pmf, own - baseline)


def _answer_onehot(answers, K):
    return (answers[..., None] == jnp.arange(K)).astype(jnp.result_type(float))


def expected_update(
    model_class: Any,
    params: Any,
    logp_base: Any,
    mu: Any,
    G: int,
    beta: Any,
    *,
    reward: Any = "log_likelihood",
    reward_weights: Any = None,
    entropy_weight: Any = 0.0,
    advantage: str = "rloo",
    answer_extractor: Any = None,
    num_answers: int | None = None,
) -> Any:
    """The exact expectation of :func:`sampled_update`'s direction (its "mean field").

    For per-draw rewards (log-likelihood, self-certainty, EM's rewards, ...) with
    ``r~ = sum_k w_k r_k - beta log(pi_theta / pi_base)``, by exchangeability of the group::

        E g = c_G sum_x mu(x) sum_y pi_theta(y|x) (r~(x,y) - E_{pi_theta} r~) grad log pi_theta(y|x)
            = c_G grad_theta' [ E_{x~mu, y~pi_theta'} r~ ]  (r~ held fixed at theta)

    with ``c_G = 1`` for RLOO and ``(G-1)/G`` for the group mean; for ``r = log pi_base`` this is
    ``c_G`` times the gradient of Eq. 3's objective ``J_beta``. TTRL's reward enters through
    :func:`ttrl_expected_advantage` (the advantage's expectation given the response's answer).
    EM-FT's term is ``-entropy_weight grad sum_x mu(x) sum_y pi_theta(y|x) L_theta'(x, y)``.
    Exact on enumerable classes; reads ``pi_base``'s table (a theory curve, not a learner).

    Args:
      model_class: the class.
      params: parameters of the current member.
      logp_base: ``[X, Y]`` base table.
      mu: ``[X]`` prompt distribution.
      G, beta, reward, reward_weights, entropy_weight, advantage, answer_extractor: as in
        :func:`sampled_update`.
      num_answers: static number of answer ids ``K`` for TTRL (default: ``max + 1`` of the
        concrete ``answer_extractor``).

    Returns:
      The direction, a pytree like ``params``.

    Raises:
      ValueError: a reward that is neither per-draw nor TTRL's (its expectation is not
        implemented), or the checks of :func:`sampled_update`.
    """
    param = softmax_parametrization(model_class)
    logp_base = check_logp(logp_base, "logp_base", min_ndim=2)
    mu = check_mu(mu, logp_base.shape[0], "mu")
    plan, coef = _plan(reward, reward_weights, beta, entropy_weight, advantage, logp_base.dtype)
    G = _check_group(G, plan)
    answers = _check_answers(answer_extractor, plan, param)
    num_answers = _check_expected(plan, answers, num_answers)
    return _expected_update(
        param, params, logp_base, mu, coef, answers, G=G, plan=plan, num_answers=num_answers
    )


def _check_expected(plan, answers, num_answers):
    others = [r.name for r in plan.rewards if not r.per_draw and r.name != "ttrl"]
    if others:
        raise ValueError(
            f"reward {others[0]!r} is not per-draw: the exact expected update is implemented for "
            "per-draw rewards and TTRL's majority reward only"
        )
    if not any(r.name == "ttrl" for r in plan.rewards):
        return None
    if num_answers is not None:
        return check_count(num_answers, "num_answers")
    if not is_concrete(answers):
        raise ValueError("num_answers must be given (a static int) when the answers are traced")
    a = np.asarray(answers)
    if (a < 0).any():
        raise ValueError(
            "answer_extractor must give every response an answer >= 0 for the exact TTRL update"
        )
    return int(a.max()) + 1


@functools.partial(jax.jit, static_argnames=("G", "plan", "num_answers"))
def _expected_update(param, params, logp_base, mu, coef, answers, *, G, plan, num_answers):
    stats = param.stats(params)
    p = jax.lax.stop_gradient(jnp.exp(stats.logp))  # [X, Y]
    mu = jnp.asarray(mu, p.dtype)
    g = _zeros_like(params)
    if plan.use_pg:
        X, Y = p.shape
        cols = jnp.broadcast_to(jnp.arange(Y), (X, Y))
        rollouts = _rollouts_at(stats, param.tokens(), jnp.arange(X), cols, logp_base, answers)
        c_G = _advantage_factor(plan.advantage, G)

        def centred(v):  # v - E_pi v, 0 where pi = 0 (v may be -inf there)
            v = jnp.where(p > 0, v, 0.0)
            return v - jnp.sum(p * v, axis=-1, keepdims=True)

        per_draw = _shaped(0.0, stats.logp, logp_base, coef.beta)  # the KL term
        h = jnp.zeros_like(p)
        for k, r in enumerate(plan.rewards):
            w = coef.reward_weights[k]
            if r.name == "ttrl":
                onehot = _answer_onehot(answers, num_answers)  # [X, Y, K]
                with np.errstate(divide="ignore"):
                    log_q = jnp.log(jnp.einsum("xy,xyk->xk", p, onehot))
                h_answer = ttrl_expected_advantage(log_q, G, plan.advantage)  # [X, K]
                h = h + w * jnp.einsum("xyk,xk->xy", onehot, h_answer)
            else:
                per_draw = per_draw + w * jnp.asarray(r.fn(rollouts), p.dtype)
        h = h + c_G * centred(per_draw)
        weight = jax.lax.stop_gradient(jnp.where(p > 0, mu[:, None] * p * h, 0.0))

        def surrogate(q):
            return jnp.sum(jnp.where(p > 0, weight * param.stats(q).logp, 0.0))

        g = _add(g, jax.grad(surrogate)(params))
    if plan.use_em:

        def weighted_entropy(q):
            return jnp.sum(mu[:, None] * p * _mean_token_entropy(param.stats(q)))

        g = _add(g, jax.grad(weighted_entropy)(params), -coef.entropy_weight)
    return g


# ----------------------------------------------------------------------------------------------
# The algorithms


def pg_sharpening(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    steps: int,
    G: int,
    beta: Any,
    *,
    reward: Any = "log_likelihood",
    reward_weights: Any = None,
    entropy_weight: Any = 0.0,
    num_prompts: int = 1,
    learning_rate: Any = 0.5,
    decay: Any = 0.0,
    optimizer: str = "sgd",
    advantage: str = "rloo",
    answer_extractor: Any = None,
    init: Any = None,
    monitor: Any = None,
    update: str = "sampled",
    logp_base: Any = None,
    num_answers: int | None = None,
) -> Result:
    """On-policy policy-gradient sharpening with a self-reward and a KL penalty (Eq. 3 online).

    ::

        theta_0 <- pi_base's parameters (init)
        for t = 1..steps:
            x_p ~ mu (p = 1..P);  y_p1..y_pG ~ pi_theta(.|x_p);  observe log pi_base(y_pi|x_p)
            r~_pi = r_self(y_pi|x_p) - beta log(pi_theta(y_pi|x_p) / pi_base(y_pi|x_p))
            A_p = r~_p - baseline (group mean, or leave-one-out: RLOO)
            theta <- theta + eta_t (1/(P G)) sum_pi A_pi grad log pi_theta(y_pi|x_p)
        m = steps P G

    ``eta_t = learning_rate / (1 + decay t)`` with plain SGD (``optimizer="sgd"``) or as Adam's
    step (``"adam"``), through optax; the step direction is :func:`sampled_update`'s. With
    ``r_self = log pi_base`` (Eq. 2) the expected step is the gradient of
    ``J_beta(pi) = E_pi[log pi_base] - beta KL(pi || pi_base) = beta log Z - beta KL(pi ||
    pi*_beta)``, whose maximizer over the unrestricted class is ``pi*_beta prop. to
    pi_base^(1 + 1/beta)`` (``theory.kl_tilt``; inside a linear softmax class when
    ``(1 + 1/beta) theta*`` is in the ball, Theorem J.3's proof), so the exact
    ``KL(pi_theta || pi*_beta)`` measures progress. Any self-reward works, or a weighted sum of
    several (``reward_weights``): the registered ones (``"self_certainty"`` is Intuitor's, arXiv
    2505.19590; ``"negative_entropy"`` RENT's; both read the current policy's token statistics),
    ``"em_sequence"`` / ``"em_token"`` (:func:`em_rl`), ``"ttrl"`` (:func:`ttrl`) or a function
    ``Rollouts -> [P, G]``; ``entropy_weight`` adds EM-FT's entropy term (:func:`em_ft`).

    Args:
      key: PRNG key.
      oracle: the (generalized) sample-and-evaluate oracle.
      model_class: the class (:func:`softmax_parametrization`).
      steps: static int >= 1.
      G: static int >= 2, responses per prompt (the group; 1 is allowed for EM-FT alone).
      beta: KL weight >= 0 (0: no penalty).
      reward: the self-reward, or a sequence of them (see above); ``()`` for none.
      reward_weights: ``[K]`` weights of the rewards (default ones; an array leaf).
      entropy_weight: weight >= 0 of EM-FT's token-entropy term.
      num_prompts: static int, prompts per step ``P``.
      learning_rate: step size > 0 (array leaf).
      decay: ``>= 0``; ``eta_t = learning_rate / (1 + decay t)`` (0: constant).
      optimizer: ``"sgd"`` or ``"adam"`` (optax).
      advantage: ``"rloo"`` (default) or ``"group_mean"``.
      answer_extractor: ``[X, Y]`` int answers of every response in the class's column order
        (``-1`` for none); required by answer rewards (TTRL, majority vote).
      init: starting parameters, or a policy of the class's kind (default ``oracle.policy``,
        module docstring).
      monitor: optional pytree callable ``monitor(policy) -> {name: scalar}``, evaluated exactly
        on the policy before the first step and after every step (e.g.
        :class:`SharpeningMonitor`); its values are in ``diagnostics["trace"]`` (``[steps + 1]``).
      update: ``"sampled"`` (the algorithm) or ``"expected"``: every step takes
        :func:`expected_update` instead (the deterministic mean-field dynamics, reading
        ``logp_base``; a theory curve, not a learner; it reports the queries the sampled run
        makes).
      logp_base: ``[X, Y]`` base table for ``update="expected"``.
      num_answers: static number of answer ids for ``update="expected"`` with TTRL (default:
        from the concrete ``answer_extractor``).

    Returns:
      :class:`Result` with the final policy, ``queries = steps P G`` (0 for EM-FT alone) and
      diagnostics ``samples`` (responses drawn, ``steps P G``), ``params`` (the final
      parameters) and ``trace`` (when a monitor is given).
    """
    oracle = _setup(oracle, model_class)
    param = softmax_parametrization(model_class)
    steps = check_count(steps, "steps")
    plan, coef = _plan(reward, reward_weights, beta, entropy_weight, advantage)
    G = _check_group(G, plan)
    P = check_count(num_prompts, "num_prompts")
    answers = _check_answers(answer_extractor, plan, param)
    learning_rate = check_positive(learning_rate, "learning_rate")
    decay = check_nonnegative(decay, "decay")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if update not in ("sampled", "expected"):
        raise ValueError(f"update must be 'sampled' or 'expected', got {update!r}")
    if update == "expected":
        if logp_base is None:
            raise ValueError("update='expected' needs logp_base, pi_base's [X, Y] table")
        logp_base = check_logp(logp_base, "logp_base", min_ndim=2)
        num_answers = _check_expected(plan, answers, num_answers)
    else:
        logp_base, num_answers = None, None
    if init is None:
        init = oracle.policy
    params = init if _is_params(init) else param.init_params(init)
    params, trace = _pg_core(
        key,
        oracle,
        param,
        params,
        coef,
        learning_rate,
        decay,
        answers,
        monitor,
        logp_base,
        steps=steps,
        P=P,
        G=G,
        plan=plan,
        optimizer=optimizer,
        update=update,
        num_answers=num_answers,
    )
    samples = steps * P * G
    diagnostics = {"samples": samples, "params": params}
    if trace is not None:
        diagnostics["trace"] = trace
    queries = samples if plan.use_pg else 0
    return Result(policy=param.to_policy(params), queries=queries, diagnostics=diagnostics)


def _is_params(init) -> bool:
    leaves = jax.tree_util.tree_leaves(init)
    return isinstance(init, (jax.Array, np.ndarray, tuple)) and all(
        isinstance(v, (jax.Array, np.ndarray)) for v in leaves
    )


def _optimizer(name, learning_rate, decay):
    def schedule(t):
        return learning_rate / (1.0 + decay * t)

    return optax.sgd(schedule) if name == "sgd" else optax.adam(schedule)


@functools.partial(
    jax.jit, static_argnames=("steps", "P", "G", "plan", "optimizer", "update", "num_answers")
)
def _pg_core(
    key,
    oracle,
    param,
    params,
    coef,
    learning_rate,
    decay,
    answers,
    monitor,
    logp_base,
    *,
    steps,
    P,
    G,
    plan,
    optimizer,
    update,
    num_answers,
):
    opt = _optimizer(optimizer, learning_rate, decay)

    def direction(k, theta):
        if update == "expected":
            return _expected_update(
                param,
                theta,
                logp_base,
                oracle.mu,
                coef,
                answers,
                G=G,
                plan=plan,
                num_answers=num_answers,
            )
        return _sampled_update(k, oracle, param, theta, coef, answers, P=P, G=G, plan=plan)

    def step(carry, k):
        theta, state = carry
        descent = jax.tree_util.tree_map(jnp.negative, direction(k, theta))  # optax minimizes
        updates, state = opt.update(descent, state, theta)
        theta = param.project(optax.apply_updates(theta, updates))
        out = None if monitor is None else monitor(param.to_policy(theta))
        return (theta, state), out

    keys = jax.random.split(key, steps)
    start = None if monitor is None else monitor(param.to_policy(params))
    (params, _), trace = jax.lax.scan(step, (params, opt.init(params)), keys)
    if monitor is not None:  # [steps + 1]: before the first step, then after each
        trace = jax.tree_util.tree_map(
            lambda a, b: jnp.concatenate([jnp.asarray(a, b.dtype)[None], b]), start, trace
        )
    return params, trace


def em_rl(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    steps: int,
    G: int,
    beta: Any = 0.0,
    *,
    form: str = "sequence",
    **kwargs: Any,
) -> Result:
    """EM-RL (Agarwal et al., arXiv 2505.15134): policy gradient with the current policy's own
    log-likelihood as the reward.

    ``form="sequence"``: ``r = log pi_theta(y|x)`` (:func:`em_sequence_reward`), whose expected
    update is ``grad -H(pi_theta)`` (plus ``-beta grad KL(pi_theta || pi_base)``): entropy
    minimization, App. B's relative of maximum-likelihood sharpening ``E_pi[log pi_base]``.
    ``form="token"``: ``r = -sum_t H(pi_theta(.|y_<t, x))`` (:func:`em_token_reward`). Everything
    else is :func:`pg_sharpening` (its keyword arguments pass through); ``beta = 0`` is EM-RL
    without a KL term.
    """
    if form not in ("sequence", "token"):
        raise ValueError(f"form must be 'sequence' or 'token', got {form!r}")
    if "reward" in kwargs or "reward_weights" in kwargs:
        raise ValueError("em_rl sets the reward itself (form='sequence' or 'token')")
    return pg_sharpening(key, oracle, model_class, steps, G, beta, reward=f"em_{form}", **kwargs)


def em_ft(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    steps: int,
    G: int = 1,
    **kwargs: Any,
) -> Result:
    """EM-FT (Agarwal et al., arXiv 2505.15134): minimize the mean token entropy of the current
    policy on its own samples.

    ::

        x_p ~ mu;  y_p1..y_pG ~ pi_theta(.|x_p)  (held fixed: no gradient through sampling)
        theta <- theta - eta_t grad (1/(P G)) sum_pi (1/|y|) sum_t H(pi_theta(.|y_pi,<t, x_p))

    No reward, no base query (``queries = 0``: only prompts are drawn). For single-token
    (tabular) responses the loss is ``H(pi_theta(.|x))`` itself. Keyword arguments are those of
    :func:`pg_sharpening` (``learning_rate``, ``decay``, ``optimizer``, ``num_prompts``, ``init``,
    ``monitor``, ``update``, ``logp_base``); it is ``pg_sharpening`` with no reward, ``beta = 0``
    and ``entropy_weight = 1``.
    """
    for name in ("reward", "reward_weights", "beta", "advantage", "entropy_weight"):
        if name in kwargs:
            raise ValueError(f"em_ft takes no {name} (it minimizes token entropy only)")
    return pg_sharpening(
        key, oracle, model_class, steps, G, 0.0, reward=(), entropy_weight=1.0, **kwargs
    )


def ttrl(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    steps: int,
    G: int,
    beta: Any = 0.0,
    *,
    answer_extractor: Any = None,
    **kwargs: Any,
) -> Result:
    """TTRL (Zuo et al., arXiv 2504.16084): policy gradient with the majority-vote pseudo-label
    reward, 1 for responses whose answer is the group's majority answer (:func:`ttrl_reward`).

    Its expected update moves each prompt's answer marginal toward the group's plurality: the
    fixed points are the answer-collapsed policies, and from ``pi_base`` the mean-field dynamics
    reach the plurality answer of ``pi_base``'s answer marginal (right or wrong: the collapse
    onto a consistent wrong answer reported after TTRL). Keyword arguments are those of
    :func:`pg_sharpening`.

    Raises:
      ValueError: ``answer_extractor`` missing (the majority vote needs every response's answer).
    """
    if answer_extractor is None:
        raise ValueError(
            "answer_extractor is required for TTRL (its reward is a majority vote over the "
            "group's extracted answers): pass the [X, Y] int answers of every response"
        )
    if "reward" in kwargs or "reward_weights" in kwargs:
        raise ValueError("ttrl sets the reward itself (the majority-vote pseudo-label)")
    return pg_sharpening(
        key,
        oracle,
        model_class,
        steps,
        G,
        beta,
        reward="ttrl",
        answer_extractor=answer_extractor,
        **kwargs,
    )


# ----------------------------------------------------------------------------------------------
# Exact evaluation along a run


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SharpeningMonitor:
    """Exact metrics of a policy against ``pi_base`` (a pytree callable for ``monitor=``).

    Calling it on a policy gives, from its ``[X, Y]`` table (NaN where the input is absent):

    * ``mass_on_argmax`` ``E_x pi(y*(x)|x)`` and ``sharpening_error``
      ``P_x[pi(y*(x)|x) < 1 - delta]`` (Def. 3.1, :func:`simulators.sharpening_metrics`);
    * ``entropy`` ``E_x H(pi(.|x))`` (``theory.entropy``);
    * ``kl_to_target`` ``E_x KL(pi || target)`` (e.g. ``pi*_beta``);
    * ``accuracy`` ``E_x pi(correct|x)``;
    * ``mass_on_answer_mode`` ``E_x pi(ans = a*(x)|x)`` for ``a*(x)`` the mode of ``pi_base``'s
      answer marginal, ``min_answer_mode_mass`` its minimum over prompts with ``mu > 0``,
      ``mass_elsewhere`` the mass neither on ``y*(x)`` nor on answer ``a*(x)``, and
      ``answer_mode_kept`` the fraction of prompts (under ``mu``) on which ``a*(x)`` is still
      the policy's own modal answer.

    Build it with :func:`sharpening_monitor`.
    """

    logp_base: jax.Array
    mu: jax.Array
    delta: Any
    target: jax.Array | None
    correct: jax.Array | None
    answer_mode: jax.Array | None
    answers: jax.Array | None

    def __call__(self, policy: Any) -> dict[str, jax.Array]:
        table = to_table(policy)
        dtype = table.dtype
        mu = jnp.asarray(self.mu, dtype)
        p = jnp.exp(table)
        nan = jnp.asarray(jnp.nan, dtype)
        out = sharpening_metrics(
            unchecked(TabularPolicy, logp=table), self.logp_base, mu, self.delta
        )
        out = {k: jnp.asarray(v, dtype) for k, v in out.items()}
        out["entropy"] = theory.entropy(table) @ mu
        out["kl_to_target"] = nan if self.target is None else theory.kl(table, self.target, mu)
        out["accuracy"] = nan if self.correct is None else jnp.sum(p * self.correct, -1) @ mu
        if self.answer_mode is None:
            out |= {
                "mass_on_answer_mode": nan,
                "min_answer_mode_mass": nan,
                "mass_elsewhere": nan,
                "answer_mode_kept": nan,
            }
        else:
            mode = jnp.sum(p * self.answer_mode, axis=-1)
            star = theory.argmax_set(self.logp_base)
            out["mass_on_answer_mode"] = mode @ mu
            out["min_answer_mode_mass"] = jnp.min(jnp.where(mu > 0, mode, jnp.inf))
            out["mass_elsewhere"] = jnp.sum(p * ~(star | self.answer_mode), axis=-1) @ mu
            # The largest mass of another answer (q(ans(y)|x) over responses y of other answers).
            other = (self.answers >= 0) & ~self.answer_mode
            q = jnp.where(other, _answer_mass(p, self.answers), -1.0)
            out["answer_mode_kept"] = (mode >= jnp.max(q, axis=-1)).astype(dtype) @ mu
        return out


def _answer_mass(p: jax.Array, answers: jax.Array) -> jax.Array:
    """``[X, Y]``: ``q(ans(y)|x) = sum_{y': ans(y') = ans(y)} p(y'|x)`` (no-answer responses,
    ``-1``, form no answer: their ``q`` is their own mass only when counted, here 0)."""
    valid = answers >= 0
    same = (answers[:, :, None] == answers[:, None, :]) & valid[:, None, :]  # [X, Y, Y]
    return jnp.einsum("xz,xyz->xy", p, same.astype(p.dtype))


def answer_mode_mask(logp_base: Any, answers: Any) -> jax.Array:
    """``[X, Y]`` bool: responses whose answer is the mode of ``pi_base``'s answer marginal
    ``q(a|x) = sum_{y: ans(y) = a} pi_base(y|x)`` (ties: the smallest answer id; no-answer
    responses, ``-1``, are never the mode). ``O(X Y^2)``; works on traced arrays."""
    answers = jnp.asarray(answers)
    valid = answers >= 0
    q = jnp.where(valid, _answer_mass(jnp.exp(jnp.asarray(logp_base)), answers), -1.0)
    top = jnp.max(q, axis=-1, keepdims=True)
    big = jnp.iinfo(jnp.int32).max
    mode = jnp.min(jnp.where(valid & (q == top), answers, big), axis=-1, keepdims=True)
    return valid & (answers == mode)


def sharpening_monitor(
    logp_base: Any,
    mu: Any,
    delta: Any = 0.1,
    *,
    target: Any = None,
    correct: Any = None,
    answers: Any = None,
) -> SharpeningMonitor:
    """A validated :class:`SharpeningMonitor` (``answers``: ``[X, Y]`` int, for the
    answer-marginal mode; ``correct``: ``[X, Y]`` bool; ``target``: ``[X, Y]`` log table)."""
    logp_base = check_logp(logp_base, "logp_base", min_ndim=2)
    mu = check_mu(mu, logp_base.shape[0], "mu")
    mode = None if answers is None else answer_mode_mask(logp_base, answers)
    return SharpeningMonitor(
        logp_base=logp_base,
        mu=mu,
        delta=delta,
        target=None if target is None else check_logp(target, "target", min_ndim=2),
        correct=None if correct is None else jnp.asarray(correct, bool),
        answer_mode=mode,
        answers=None if answers is None else jnp.asarray(answers),
    )


# ----------------------------------------------------------------------------------------------
# Iterated sharpening


def _iterate(key, oracle, rounds, fit):
    """``rounds`` applications of ``fit(key, oracle) -> Result``, each on the previous output.

    Rounds 2.. share one ``lax.scan`` body (their base is the previous round's fit, of one
    type), so a run of ``T`` rounds compiles two rounds' code, not ``T``.
    """
    oracle = check_oracle(oracle)
    rounds = check_count(rounds, "rounds")
    keys = jax.random.split(key, rounds)
    first = fit(keys[0], oracle)

    def later(policy, k):
        # The learner's own output is the next round's base: sampled and evaluated like pi_base.
        res = fit(k, SampleEvaluateOracle(policy, oracle.mu))
        return res.policy, (to_table(res.policy), jnp.asarray(res.queries))

    table0, q0 = to_table(first.policy), jnp.asarray(first.queries)
    if rounds == 1:
        policy, tables, queries = first.policy, table0[None], q0[None]
    else:
        policy, (tables, queries) = jax.lax.scan(later, first.policy, keys[1:])
        tables = jnp.concatenate([table0[None], tables])
        queries = jnp.concatenate([q0[None], queries])
    return Result(
        policy=policy,
        queries=jnp.sum(queries),
        diagnostics={"tables": tables, "queries_per_round": queries, "base_queries": q0},
    )


def iterated_sft_sharpening(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    rounds: int,
    n: int,
    N: int,
    **kwargs: Any,
) -> Result:
    """Iterated SFT-Sharpening: ``rounds`` rounds of :func:`simulators.sft_sharpening`, each on
    the previous round's output as the base (section 2.1, pseudo-code B, repeated).

    ::

        pi_0 = pi_base
        for t = 1..T:  pi_t = SFT-Sharpening(n, N) with pi_{t-1} as the base (sampled and scored)

    With infinite data each round is the best-of-N law of the previous one, so the population
    iterate is :func:`iterated_bon_law` (``theory.bon_law`` applied ``T`` times); round ``t``'s
    fit is, given ``pi_{t-1}``, the count MLE of ``n`` draws of ``bon_law(pi_{t-1}, N)``.

    Args:
      key, oracle, model_class, n, N: as :func:`simulators.sft_sharpening` (``**kwargs`` too;
        realizability is not checked on later rounds' bases).
      rounds: static int >= 1, ``T``.

    Returns:
      :class:`Result` with ``pi_T``; ``queries`` sums every round's ``n N`` (round 1 queries
      ``pi_base``, later rounds the learner's own ``pi_{t-1}``: ``diagnostics["base_queries"]``
      and ``["queries_per_round"]``); ``diagnostics["tables"]`` holds every round's ``[X, Y]``
      table (``[T, X, Y]``: the toys are enumerable).
    """
    kwargs.setdefault("realizability", "skip")
    return _iterate(
        key, oracle, rounds, lambda k, o: sft_sharpening(k, o, model_class, n, N, **kwargs)
    )


def iterated_rlhf_sharpening(
    key: jax.Array,
    oracle: SampleEvaluateOracle,
    model_class: Any,
    rounds: int,
    n: int,
    beta: Any,
    **kwargs: Any,
) -> Result:
    """Iterated RLHF-Sharpening: ``rounds`` rounds of the squared loss of Eq. 8
    (:func:`simulators.dpo_sharpening`), each on the previous round's output as the base.

    With ``r = log pi_{t-1}`` each round's population optimum is
    ``pi_t prop. to pi_{t-1}^(1 + 1/beta)`` (Eq. 3), so ``pi_T prop. to pi_0^((1 + 1/beta)^T)``:
    :func:`iterated_kl_tilt`. The tabular fit is exact on the responses a round observes (zero
    residual, the rest get no mass), so a round that observes every response of the previous
    round's support reproduces the closed form to rounding.

    Args:
      key, oracle, model_class, n, beta: as :func:`simulators.dpo_sharpening` (``**kwargs``
        too).
      rounds: static int >= 1.

    Returns:
      :class:`Result` as :func:`iterated_sft_sharpening` (``2 n`` queries per round).
    """
    kwargs.setdefault("realizability", "skip")
    return _iterate(
        key, oracle, rounds, lambda k, o: dpo_sharpening(k, o, model_class, n, beta, **kwargs)
    )


def iterated_bon_law(logp: Any, N: int, rounds: int) -> jax.Array:
    """``[rounds, ..., X, Y]``: ``theory.bon_law`` applied ``t = 1..rounds`` times (the
    population iterate of SFT-Sharpening with ``N`` responses per prompt)."""
    rounds = check_count(rounds, "rounds")
    logp = check_logp(logp, "logp")
    out = []
    for _ in range(rounds):
        logp = theory.bon_law(logp, N)
        out.append(logp)
    return jnp.stack(out)


def iterated_kl_tilt(logp: Any, beta: Any, rounds: int) -> jax.Array:
    """``[rounds, ..., X, Y]``: the closed form of ``t = 1..rounds`` rounds of RLHF-Sharpening,
    ``pi_t prop. to pi_0^((1 + 1/beta)^t)``.

    It is ``theory.kl_tilt(logp, beta_t)`` with ``1 + 1/beta_t = (1 + 1/beta)^t``, i.e.
    ``beta_t = 1 / expm1(t log1p(1/beta))`` (computed in log space; a ``beta_t`` below the
    smallest normal number acts as it, the argmax limit).
    """
    rounds = check_count(rounds, "rounds")
    logp = check_logp(logp, "logp")
    beta = check_positive(beta, "beta")
    t = jnp.arange(1, rounds + 1, dtype=logp.dtype)
    beta_t = 1.0 / jnp.expm1(t * jnp.log1p(1.0 / jnp.asarray(beta, logp.dtype)))
    beta_t = jnp.maximum(beta_t, jnp.finfo(logp.dtype).tiny)
    return jax.vmap(lambda b: theory.kl_tilt(logp, b))(beta_t)


# ----------------------------------------------------------------------------------------------
# TTRL's answer toys


def plurality_toy(
    num_prompts: int = 8,
    wrong_fraction: float = 0.25,
    *,
    plurality_mass: Any = 0.45,
    runner_up_mass: float = 0.3,
    num_plurality_paths: int = 3,
    num_other_answers: int = 2,
    paths_per_other_answer: int = 2,
):
    """Answer toy with three destinations per prompt: ``y*(x)``, the answer-marginal mode and
    elsewhere; the plurality answer is wrong on a fraction ``wrong_fraction`` of the prompts.

    Every prompt has the plurality answer 0 spread over ``num_plurality_paths`` responses (total
    ``plurality_mass``), the runner-up answer 1 on a single response (``runner_up_mass``, the
    sequence argmax ``y*(x)`` when ``runner_up_mass > plurality_mass / num_plurality_paths``)
    and ``num_other_answers`` further answers sharing the rest over ``paths_per_other_answer``
    responses each. On the first ``round(wrong_fraction X)`` prompts the correct answer is the
    runner-up (the plurality is wrong there), elsewhere the plurality. So likelihood sharpening
    (``y*``) is right exactly where majority vote is wrong, and TTRL's fixed point (the plurality
    answer) has accuracy ``1 - f`` with ``f`` the realized fraction of wrong prompts.

    Args:
      num_prompts: X.
      wrong_fraction: ``f`` in [0, 1].
      plurality_mass: scalar or ``[X]`` mass of the plurality answer (``> runner_up_mass``).
      runner_up_mass: mass of the runner-up answer's single response.
      num_plurality_paths, num_other_answers, paths_per_other_answer: counts >= 1.

    Returns:
      :class:`~simulators.AnswerToy` with ``Y = 1 + num_plurality_paths + num_other_answers *
      paths_per_other_answer``.
    """
    from ._answer_toy import AnswerToy

    X = check_count(num_prompts, "num_prompts")
    k = check_count(num_plurality_paths, "num_plurality_paths")
    A = check_count(num_other_answers, "num_other_answers")
    m = check_count(paths_per_other_answer, "paths_per_other_answer")
    f = float(wrong_fraction)
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"wrong_fraction must lie in [0, 1], got {wrong_fraction}")
    plur = np.broadcast_to(np.asarray(plurality_mass, np.float64), (X,))
    run = float(runner_up_mass)
    rest = 1.0 - plur - run
    if not (run > 0 and (plur > run).all() and (rest > 0).all()):
        raise ValueError(
            "need 0 < runner_up_mass < plurality_mass and plurality_mass + runner_up_mass < 1, "
            f"got plurality_mass={plurality_mass}, runner_up_mass={runner_up_mass}"
        )
    probs = np.concatenate(
        [
            np.full((X, 1), run),
            np.repeat(plur[:, None] / k, k, axis=1),
            np.repeat(rest[:, None] / (A * m), A * m, axis=1),
        ],
        axis=1,
    )
    answers = np.concatenate([[1], [0] * k, 2 + np.repeat(np.arange(A), m)])
    num_wrong = int(round(f * X))
    correct_answer = np.where(np.arange(X) < num_wrong, 1, 0)
    return AnswerToy.create(
        probs,
        np.ones(probs.shape, np.int64),
        np.broadcast_to(answers, probs.shape).astype(np.int64),
        correct_answer,
    )
