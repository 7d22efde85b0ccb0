"""Inference-time best-of-N sharpening (pseudo-code A, THEORY.md section 4; Proposition C.1)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._rewards import log_likelihood
from ._rollouts import Rollouts, check_rollouts


def reward_scores(rollouts: Rollouts, reward: Callable[[Rollouts], jax.Array] | jax.Array):
    """Evaluates ``reward`` (a function ``Rollouts -> [P, N]``, or the scores) on rollouts."""
    rollouts = check_rollouts(rollouts)
    shape = rollouts.logp_base.shape
    scores = reward(rollouts) if callable(reward) else reward
    try:
        scores = jnp.asarray(scores)
    except (TypeError, ValueError) as err:
        raise TypeError(
            "reward must be a function Rollouts -> [P, N] scores or a [P, N] array, "
            f"got {type(reward).__name__}"
        ) from err
    if scores.shape != shape:
        raise ValueError(f"reward scores must have shape [P, N] = {shape}, got {scores.shape}")
    return scores


def _priority_dtype(scores: jax.Array):
    """Tie-breaking priorities in the scores' float precision (52 random bits for float64), the
    default float dtype for integer scores."""
    if jnp.issubdtype(scores.dtype, jnp.floating):
        return scores.dtype
    return jnp.result_type(float)


@jax.jit
def argmax_random_tie(key: jax.Array, scores: jax.Array) -> jax.Array:
    """Index of a maximizer of ``scores[..., N]`` along the last axis, ties broken uniformly.

    Among the maximizers, the one with the largest independent uniform priority wins, so each
    maximizer is chosen with equal probability. NaN scores are never chosen unless all are NaN.
    """
    scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
    best = jnp.max(scores, axis=-1, keepdims=True)
    is_max = scores == best
    priority = jax.random.uniform(key, scores.shape, _priority_dtype(scores))
    return jnp.argmax(jnp.where(is_max, priority, -1.0), axis=-1)


def best_of_n(
    key: jax.Array,
    rollouts: Rollouts,
    reward: Callable[[Rollouts], jax.Array] | jax.Array = log_likelihood,
) -> jax.Array:
    """Best-of-N selection (pseudo-code A): ``i_hat in argmax_i r_self(y_i | x)`` per prompt.

    ::

        for each prompt x with samples y_1..y_N ~ pi_base(.|x):
            s_i = r_self(y_i | x)                    # default: log pi_base(y_i|x), Eq. 2
            return i_hat, i_hat uniform over argmax_i s_i

    Args:
      key: PRNG key for uniform tie-breaking (Assumption 4.1 breaks ties at random).
      rollouts: :class:`~simulators.Rollouts` with ``P`` prompts and ``N`` samples each.
      reward: a self-reward ``Rollouts -> [P, N]`` (see ``simulators._rewards``) or precomputed
        ``[P, N]`` scores. Higher is better.

    Returns:
      ``[P]`` int index in ``[N]`` of the chosen sample of each prompt.
    """
    scores = reward_scores(rollouts, reward)
    return argmax_random_tie(key, scores)
