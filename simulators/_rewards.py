"""Self-rewards: maps from :class:`~simulators.Rollouts` to ``[P, N]`` scores (THEORY.md 1.2).

Every self-reward here is "derived purely from the base model ... without external supervision"
(section 1.1): it reads only what the sample-and-evaluate oracle reveals (log-likelihoods, per-token
statistics, extracted answers), never ``correct``. Higher scores are better, so best-of-N
(:func:`simulators.best_of_n`) keeps the argmax.

Each is registered (:func:`register_reward`) with the properties the algorithms need (whether it
is per-draw, which optional fields it reads); a researcher's own self-reward is one function and
one ``@register_reward(...)`` line in their own file, and every algorithm, ``run_protocol`` and
``bounds.bon_accuracy`` then accept it by name or by function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._rollouts import Rollouts, check_rollouts


def _require(rollouts: Rollouts, field: str, reward: str) -> jax.Array:
    value = getattr(rollouts, field)
    if value is None:
        raise ValueError(
            f"the {reward} self-reward needs rollouts.{field}, which is None; sample with a policy "
            f"(or adapter) that records {field}"
        )
    return value


def _token_mean(values: jax.Array, rollouts: Rollouts) -> jax.Array:
    """Mean over real (non-padding) tokens of ``values[P, N, T]``; 0 for empty responses."""
    mask = rollouts.mask
    total = jnp.sum(jnp.where(mask, values, 0.0), axis=-1)
    count = jnp.sum(mask, axis=-1)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), 0.0)


def log_likelihood(rollouts: Rollouts) -> jax.Array:
    """Sequence log-likelihood ``r_self(y|x) = log pi_base(y|x)`` (Eq. 2, maximum-likelihood
    sharpening).

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``logp_base[P, N]``.

    Returns:
      ``[P, N]`` float scores (``-inf`` allowed for zero-probability responses).
    """
    rollouts = check_rollouts(rollouts)
    return jnp.asarray(rollouts.logp_base)


def length_normalized_log_likelihood(rollouts: Rollouts) -> jax.Array:
    """Length-normalized log-likelihood ``log pi_base(y|x) / |y|`` (App. A.2).

    ``|y|`` is ``rollouts.lengths`` (tokens, end-of-sequence included when present). Empty responses
    (length 0) score their unnormalized log-likelihood, which is 0 for a certain empty response.

    Returns:
      ``[P, N]`` float scores.
    """
    rollouts = check_rollouts(rollouts)
    logp = jnp.asarray(rollouts.logp_base)
    lengths = jnp.asarray(rollouts.lengths)
    return jnp.where(lengths > 0, logp / jnp.maximum(lengths, 1).astype(logp.dtype), logp)


def majority_vote(rollouts: Rollouts) -> jax.Array:
    """Majority / self-consistency self-reward (App. A.2).

    The score of sample ``i`` of prompt ``p`` is the number of samples of the same prompt whose
    extracted answer equals its own, i.e. ``N`` times the sample estimate of the answer marginal
    ``sum_{y': y'_ans = y_ans} pi_base(y'|x)``. Best-of-N under this reward returns a response whose
    answer is the most frequent. Samples with no extracted answer (``answers == -1``) score 0 and
    are not counted as votes.

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``answers[P, N]`` int.

    Returns:
      ``[P, N]`` float vote counts in ``{0, 1, ..., N}``.

    Raises:
      ValueError: when ``rollouts.answers`` is None.
    """
    rollouts = check_rollouts(rollouts)
    answers = jnp.asarray(_require(rollouts, "answers", "majority_vote"))
    valid = answers != -1
    same = (answers[:, :, None] == answers[:, None, :]) & valid[:, None, :]  # [P, N, N]
    votes = jnp.sum(same, axis=-1)
    dtype = jnp.result_type(float)
    return jnp.where(valid, votes, 0).astype(dtype)


def self_certainty(rollouts: Rollouts) -> jax.Array:
    """Self-certainty (Zhao et al. 2025): mean over real tokens of ``KL(uniform || p_t)``.

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``token_kl_uniform[P, N, T]``.

    Returns:
      ``[P, N]`` float scores (larger = more certain).

    Raises:
      ValueError: when ``rollouts.token_kl_uniform`` is None.
    """
    rollouts = check_rollouts(rollouts)
    kl = jnp.asarray(_require(rollouts, "token_kl_uniform", "self_certainty"))
    return _token_mean(kl, rollouts)


def negative_entropy(rollouts: Rollouts) -> jax.Array:
    """Negative mean token entropy ``-(1/|y|) sum_t H(p_t)`` (entropy minimization, App. B).

    Args:
      rollouts: :class:`~simulators.Rollouts` with ``token_entropy[P, N, T]``.

    Returns:
      ``[P, N]`` float scores (larger = lower entropy).

    Raises:
      ValueError: when ``rollouts.token_entropy`` is None.
    """
    rollouts = check_rollouts(rollouts)
    ent = jnp.asarray(_require(rollouts, "token_entropy", "negative_entropy"))
    return -_token_mean(ent, rollouts)


# --------------------------------------------------------------------------------------------
# The registry: a self-reward is one function plus its registration.


@dataclasses.dataclass(frozen=True)
class SelfReward:
    """A registered self-reward and the properties the algorithms rely on.

    Attributes:
      name: its name in tables, reports and the command line (``"log_likelihood"``, ...).
      fn: ``Rollouts -> [P, N]`` scores, higher is better.
      per_draw: the score of a draw depends on that draw only, not on the other draws of its
        prompt (true of log-likelihood, false of majority vote). Per-draw rewards may be scored
        once on ``N_max`` draws and masked to any budget ``N``; the others are scored on each
        subset of ``N`` draws (``sft_sharpening``'s ``N_used``, ``run_protocol``'s subsamples).
      needs: the optional :class:`~simulators.Rollouts` fields it reads (``"answers"``,
        ``"token_entropy"``, ...): ``run_protocol`` scores with it by default when they are present.
      log_base: the reward is ``r = log pi_base`` itself (Eq. 2, maximum-likelihood sharpening),
        so the closed forms of the theorems apply: ``pi^BoN_N`` of Assumption 4.1
        (``theory.bon_law``) and ``pi*_beta prop. to pi_base^(1 + 1/beta)`` of Eq. 3 / Assumption
        4.3 (``theory.kl_tilt``). The algorithms check realizability against these targets only
        for such a reward.
    """

    name: str
    fn: Callable[[Rollouts], jax.Array]
    per_draw: bool
    needs: tuple[str, ...] = ()
    log_base: bool = False

    def __call__(self, rollouts: Rollouts) -> jax.Array:
        return self.fn(rollouts)


REWARDS: dict[str, SelfReward] = {}


def register_reward(
    name: str, *, per_draw: bool, needs: tuple[str, ...] = (), log_base: bool = False
):
    """Decorator registering ``fn(rollouts) -> [P, N]`` as the self-reward ``name``.

    The function is returned unchanged; :func:`get_reward` finds its :class:`SelfReward` by name
    or by the function itself, so every algorithm and protocol that takes a ``reward`` learns
    whether it is per-draw from here.

    Raises:
      ValueError: the name or the function is registered already, ``per_draw`` is not a bool, or
        ``needs`` names a field :class:`~simulators.Rollouts` does not have.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not isinstance(per_draw, bool):
        raise ValueError(f"per_draw must be True or False, got {per_draw!r}")
    if not isinstance(log_base, bool):
        raise ValueError(f"log_base must be True or False, got {log_base!r}")
    fields = {f.name for f in dataclasses.fields(Rollouts)}
    unknown = [f for f in needs if f not in fields]
    if unknown:
        raise ValueError(f"needs must name Rollouts fields among {sorted(fields)}, got {unknown}")

    def register(fn: Callable[[Rollouts], jax.Array]) -> Callable[[Rollouts], jax.Array]:
        if not callable(fn):
            raise ValueError(f"reward {name!r} must be a callable Rollouts -> [P, N] scores")
        if name in REWARDS:
            raise ValueError(f"a self-reward named {name!r} is registered already")
        if any(r.fn is fn for r in REWARDS.values()):
            raise ValueError(f"{fn.__name__} is registered already (under another name)")
        REWARDS[name] = SelfReward(
            name=name, fn=fn, per_draw=per_draw, needs=tuple(needs), log_base=log_base
        )
        return fn

    return register


def get_reward(reward: str | Callable[[Rollouts], jax.Array] | SelfReward) -> SelfReward:
    """The :class:`SelfReward` of a registered name or function (or a :class:`SelfReward`).

    An unregistered callable is accepted as a reward that is *not* per-draw (the safe reading:
    it is scored on exactly the draws a budget pays for).

    Raises:
      ValueError: an unknown name (the message lists the registered ones).
    """
    if isinstance(reward, SelfReward):
        return reward
    if isinstance(reward, str):
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {sorted(REWARDS)}, got {reward!r}")
        return REWARDS[reward]
    if not callable(reward):
        raise ValueError(f"reward must be a registered name or a callable, got {reward!r}")
    for r in REWARDS.values():
        if r.fn is reward:
            return r
    return SelfReward(name=getattr(reward, "__name__", "reward"), fn=reward, per_draw=False)


def is_per_draw(reward: Any) -> bool:
    """Whether ``reward`` (a name, function or :class:`SelfReward`) is per-draw."""
    return get_reward(reward).per_draw


register_reward("log_likelihood", per_draw=True, log_base=True)(log_likelihood)
register_reward("length_normalized", per_draw=True)(length_normalized_log_likelihood)
register_reward("majority", per_draw=False, needs=("answers",))(majority_vote)
register_reward("self_certainty", per_draw=True, needs=("token_kl_uniform",))(self_certainty)
register_reward("negative_entropy", per_draw=True, needs=("token_entropy",))(negative_entropy)
